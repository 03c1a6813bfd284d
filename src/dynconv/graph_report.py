"""What a :class:`~dynconv.graph.Graph` computes, without running it: shapes, MACs and a table.

Each function walks the nodes in topological order and asks every layer for its
``output_shape(*input shapes)`` and ``macs(*input shapes)`` (see :mod:`dynconv.layers.base`), so a
graph can be sized for any input before a single array is allocated::

    from dynconv import graph_report
    graph_report.output_shapes(g, {"x": (1, 1, 33, 33)})   # {"conv1": (1, 64, 25, 25), ...}
    graph_report.macs(g, {"x": (1, 1, 33, 33)})            # multiply–accumulates of one forward
    graph_report.summary(g, {"x": (1, 1, 33, 33)})         # node, layer, output shape, params, MACs
"""
from __future__ import annotations

import sys

from dynconv.graph import GraphError, fmt_shape, call


def walk(graph, shapes):
    """Yield ``(name, layer, output shape, MACs)`` in topological order.

    Parameters
    ----------
    graph : Graph
    shapes : dict str -> tuple
        The shape of every graph input, e.g. ``{"x": (1, 1, 33, 33)}``.
    """
    shapes = {k: tuple(v) for k, v in shapes.items()}
    missing = [n for n in graph.inputs if n not in shapes]
    if missing:
        raise GraphError(f"missing shape for graph input {missing[0]!r}")
    for name in graph.order():
        node = graph.nodes[name]
        ins = [shapes[i] for i in node.inputs]
        shapes[name] = tuple(call(node, node.layer.output_shape, *ins))
        yield name, node.layer, shapes[name], int(node.layer.macs(*ins))


def macs(graph, shapes) -> int:
    """Total multiply–accumulates of one forward pass for the given input shapes."""
    return sum(m for *_, m in walk(graph, shapes))


def output_shapes(graph, shapes) -> dict:
    """``{node name: output shape}`` for the given input shapes, without running anything."""
    return {name: out for name, _, out, _ in walk(graph, shapes)}


def summary(graph, shapes=None, out=sys.stdout) -> str:
    """Print and return a table: node, layer, output shape, parameter count and MACs.

    Parameters
    ----------
    graph : Graph
    shapes : dict str -> tuple, optional
        Shape of every graph input; default: the shapes of the last forward.
    out : file-like or None
        Where to print (None: only return the string).
    """
    if shapes is None:
        last = graph.last_shapes()
        if not last:
            raise GraphError("summary() needs the input shapes: pass shapes= or run forward() first")
        shapes = {n: last[n] for n in graph.inputs}
    rows, total_p, total_m = [], 0, 0
    for name, layer, out_shape, n_macs in walk(graph, shapes):
        n_p = layer.num_params()
        total_p, total_m = total_p + n_p, total_m + n_macs
        rows.append((name, repr(layer), fmt_shape(out_shape), f"{n_p:,}", f"{n_macs:,}"))
    rows.append(("total", "", "", f"{total_p:,}", f"{total_m:,}"))
    head = ("node", "layer", "output shape", "params", "MACs")
    widths = [max(len(r[c]) for r in rows + [head]) for c in range(5)]

    def line(r):
        return "  ".join(v.ljust(w) if c < 3 else v.rjust(w) for c, (v, w) in enumerate(zip(r, widths)))

    rule = "-" * len(line(head))
    text = "\n".join([line(head), rule, *map(line, rows[:-1]), rule, line(rows[-1])]) + "\n"
    if out is not None:
        out.write(text)
    return text

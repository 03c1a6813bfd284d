"""What a :class:`~dynconv.graph.Graph` computes, without running it: shapes, MACs, a table, a picture.

Each function walks the nodes in topological order and asks every layer for its
``output_shape(*input shapes)`` and ``macs(*input shapes)`` (see :mod:`dynconv.layers.base`), so a
graph can be sized for any input before a single array is allocated::

    from dynconv import graph_report
    graph_report.output_shapes(g, {"x": (1, 1, 33, 33)})   # {"conv1": (1, 64, 25, 25), ...}
    graph_report.macs(g, {"x": (1, 1, 33, 33)})            # multiply–accumulates of one forward
    graph_report.summary(g, {"x": (1, 1, 33, 33)})         # node, layer, output shape, params, MACs
    graph_report.draw(g, {"x": (1, 1, 33, 33)})            # boxes and arrows (matplotlib)

:func:`draw` puts one box per value (its name, the kind of layer that computes it, ``input`` for
a graph input, and its shape) and one arrow per edge. Boxes are layered top to bottom by depth
(the longest path from a graph input); a node continues the column of its first input unless
another node already did, so the branches of a DCNN (network A, network B) stand side by side.
Arrows enter a node's top edge side by side, in the order of its inputs, and each input slot
has its colour (the first grey, the second orange): the dynamic layer's two arrows are its
feature map (grey) and its kernels from network B (orange). An arrow longer than one row runs
down an empty column or between two, never through a box (:func:`route`). Nothing touches
pyplot's state; every box's text has the value's name as its ``gid``, every arrow
``"source->node"``, so a test can find them.
"""
from __future__ import annotations

import sys

from dynconv.graph import Graph
from dynconv.graph_checks import GraphError, call, fmt_shape


def _input_shapes(graph, shapes, what):
    """``shapes``, or the input shapes of the last forward when it is None."""
    if shapes is not None:
        return shapes
    last = graph.last_shapes()
    if not last:
        raise GraphError(f"{what}() needs the input shapes: pass shapes= or run forward() first")
    return {n: last[n] for n in graph.inputs}


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
    shapes = _input_shapes(graph, shapes, "summary")
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


# --------------------------------------------------------------------------- the picture
BOX_W, BOX_H = 0.86, 0.6  # in column and row units
INPUT_COLOURS = ("0.25", "tab:orange", "tab:green", "tab:purple")  # an arrow's colour: which input it feeds


def _check(graph, shapes, ax):
    """Clear errors for the arguments people get wrong; returns the input shapes as tuples."""
    if not isinstance(graph, Graph):
        hint = " (for a Model, draw model.graph)" if hasattr(graph, "graph") else ""
        raise TypeError(f"draw() needs a dynconv Graph, got {type(graph).__name__}{hint}")
    if not isinstance(shapes, dict):
        example = {n: (1, 1, 33, 33) for n in graph.inputs}
        raise TypeError(f"shapes must be a dict {{graph input: shape}}, e.g. {example}, "
                        f"got {type(shapes).__name__} {shapes!r}")
    if ax is not None and not hasattr(ax, "add_patch"):
        raise TypeError(f"ax must be a matplotlib Axes, got {type(ax).__name__}")
    return {k: tuple(v) for k, v in shapes.items()}


def layout(graph, names):
    """``{value: (column, row)}`` for the graph inputs and ``names`` (the nodes, topologically ordered).

    The row is the depth (inputs at 0, a node one below its deepest input). A node takes its first
    input's column if that input has no child there yet and the cell is free, else the first free
    column to the right of it.
    """
    pos, claimed = {}, set()
    for name in graph.inputs:
        pos[name] = (len(pos), 0)
    taken = set(pos.values())
    for name in names:
        ins = graph.nodes[name].inputs
        row = 1 + max((pos[i][1] for i in ins), default=-1)
        first = ins[0] if ins else None
        col = pos[first][0] if first is not None else 0
        if first is None or first in claimed or (col, row) in taken:
            col += 1
            while (col, row) in taken:
                col += 1
        else:
            claimed.add(first)
        pos[name] = (col, row)
        taken.add((col, row))
    return pos


def _box(ax, name, kind, shape, xy, role):
    """One value's box: a rounded rectangle and a centred two-line label."""
    from matplotlib.patches import FancyBboxPatch

    x, y = xy
    face = {"input": "0.93", "output": "#dbe9f6"}.get(role, "white")
    ax.add_patch(FancyBboxPatch((x - BOX_W / 2, y - BOX_H / 2), BOX_W, BOX_H,
                                boxstyle="round,pad=0,rounding_size=0.08", fc=face, ec="0.2",
                                lw=1.6 if role == "output" else 0.8, ls="--" if role == "input" else "-",
                                zorder=2))
    ax.text(x, y, f"{name} \u00b7 {kind}\n{shape}", ha="center", va="center", fontsize=7, zorder=3, gid=name)


def route(src, dst, slot, n_slots, taken):
    """The vertices of the arrow from cell ``src`` to input ``slot`` of cell ``dst`` (data coordinates).

    Boxes sit at (column, -row). An arrow between neighbouring rows is straight; a longer one runs
    down a column with no box in the rows between (the source's, else the target's), else down the
    lane between two columns, and crosses over in the gaps between rows.
    """
    (c0, r0), (c1, r1) = src, dst
    start = (float(c0), -r0 - BOX_H / 2)
    x_end = c1 + (slot - (n_slots - 1) / 2) * BOX_W / (n_slots + 1)
    end = (x_end, -r1 + BOX_H / 2)
    between = range(r0 + 1, r1)
    if r1 == r0 + 1:
        return [start, end]
    if all((c0, r) not in taken for r in between):
        return [start, (float(c0), -(r1 - 0.5)), end]
    if all((c1, r) not in taken for r in between):
        return [start, (x_end, -(r0 + 0.5)), end]
    lane = c0 + (0.5 if c1 >= c0 else -0.5)
    return [start, (lane, -(r0 + 0.5)), (lane, -(r1 - 0.5)), end]


def _arrow(ax, src, dst, verts, slot):
    """The arrow ``src -> dst`` along the vertices ``verts``, coloured by its input ``slot``."""
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path

    ax.add_patch(FancyArrowPatch(path=Path(verts), arrowstyle="-|>", mutation_scale=9, lw=0.9, zorder=1,
                                 color=INPUT_COLOURS[slot % len(INPUT_COLOURS)], gid=f"{src}->{dst}"))


def draw(graph, shapes=None, ax=None):
    """Draw ``graph`` for the input shapes ``shapes``; returns the matplotlib Axes.

    Parameters
    ----------
    graph : Graph
        The graph to draw (e.g. ``model.graph``).
    shapes : dict str -> tuple, optional
        The shape of every graph input, e.g. ``{"x": (1, 1, 33, 33)}``; every other shape is
        computed from them (:func:`output_shapes`). Default: the shapes of the last forward.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default: a new bare Figure sized to the graph.

    Returns
    -------
    matplotlib.axes.Axes
        One text per value (graph inputs and nodes), with the value's name as ``gid``; one
        arrow (a ``FancyArrowPatch``, ``gid`` ``"source->node"``) per edge.
    """
    shapes = _check(graph, _input_shapes(graph, shapes, "draw"), ax)
    out_shapes = output_shapes(graph, shapes)  # GraphError for a missing or wrong input shape
    pos = layout(graph, list(out_shapes))
    n_cols, n_rows = 1 + max(c for c, _ in pos.values()), 1 + max(r for _, r in pos.values())
    if ax is None:
        from matplotlib.figure import Figure  # a bare figure: pyplot's state stays untouched

        fig = Figure(figsize=(0.2 + 1.7 * n_cols, 0.2 + 0.55 * n_rows))
        ax = fig.subplots()
        fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.99)
    xy = {name: (float(c), -float(r)) for name, (c, r) in pos.items()}
    taken = set(pos.values())
    for name in graph.inputs:
        _box(ax, name, "input", fmt_shape(shapes[name]), xy[name], "input")
    for name, shape in out_shapes.items():
        role = "output" if name in graph.outputs else "node"
        _box(ax, name, type(graph.nodes[name].layer).__name__, fmt_shape(shape), xy[name], role)
        ins = graph.nodes[name].inputs
        for slot, src in enumerate(ins):
            _arrow(ax, src, name, route(pos[src], pos[name], slot, len(ins), taken), slot)
    ax.set_xlim(-0.5, n_cols - 0.5)
    ax.set_ylim(-n_rows + 0.5, 0.5)
    ax.set_aspect("auto")
    ax.axis("off")
    return ax

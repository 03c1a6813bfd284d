"""The checks behind :class:`~dynconv.graph.Graph`'s error messages, kept out of the executor.

Each function raises :class:`GraphError` (a ``ValueError``) naming the node, input or output
concerned, or returns what it checked; :func:`call` makes a layer's own error name its node.
The executor (:mod:`dynconv.graph`) calls them at the one place each applies: building a node,
compiling, feeding a forward, seeding and running a backward.
"""
from __future__ import annotations

import numpy as np


class GraphError(ValueError):
    """A wiring, feed or shape error, naming the node or input concerned."""


def fmt_shape(shape):
    """``(2, *, 33)``: a shape with ``None`` (any size) shown as ``*``."""
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"


def call(node, fn, *args):
    """Call a layer method of ``node``, making sure an error names the node."""
    try:
        return fn(*args)
    except (ValueError, TypeError, RuntimeError) as exc:
        msg = str(exc)
        if not msg.startswith(node.layer.name):
            msg = f"{node.layer.name}: {msg}"
        if isinstance(exc, TypeError):  # keep the kind: a wrong type stays a TypeError
            raise TypeError(msg) from exc
        raise GraphError(msg) from exc


def check_input_names(names):
    """Graph input names without duplicates; returns them as a tuple."""
    names = tuple(names)
    if len(set(names)) != len(names):
        raise GraphError(f"duplicate graph input name in {list(names)}")
    return names


def check_requires_grad(graph, names):
    """``requires_grad`` names graph inputs only; returns them as a frozenset."""
    names = frozenset(names)
    unknown = names - set(graph.inputs)
    if unknown:
        raise GraphError(f"requires_grad names unknown graph input(s) {sorted(unknown)}; "
                         f"inputs are {list(graph.inputs)}")
    return names


def check_node(graph, name, layer, inputs):
    """A new node: a fresh name, a list of input names, a layer not already in the graph."""
    if not isinstance(name, str) or not name or "." in name:
        raise GraphError(f"node name must be a non-empty str without '.', got {name!r}")
    if name in graph.nodes or name in graph.input_shapes:
        raise GraphError(f"duplicate name {name!r}: already a "
                         f"{'node' if name in graph.nodes else 'graph input'}")
    if isinstance(inputs, str):
        raise GraphError(f"node {name!r}: inputs must be a list of names, got the str {inputs!r}")
    for other in graph.nodes.values():
        if other.layer is layer:
            raise GraphError(f"node {name!r}: this layer object is already node {other.name!r} "
                             "(a layer keeps one cache; create a second layer)")


def check_wiring(graph):
    """Every node input and declared output names a node or a graph input."""
    for node in graph.nodes.values():
        for i in node.inputs:
            if i not in graph.nodes and i not in graph.input_shapes:
                raise GraphError(f"node {node.name!r}: unknown input {i!r}")
    for o in graph.outputs:
        if o not in graph.nodes and o not in graph.input_shapes:
            raise GraphError(f"unknown output {o!r}")


def check_feed_names(graph, feeds, outputs, keep_cache):
    """Feeds name graph inputs (or, without a cache, intermediate values); outputs name values."""
    for n in feeds:
        if n not in graph.input_shapes and not (n in graph.nodes and not keep_cache):
            hint = " (intermediate values are fed only with keep_cache=False)" if n in graph.nodes else ""
            raise GraphError(f"feed {n!r} is not a graph input{hint}; inputs are {list(graph.inputs)}")
    for o in outputs:
        if o not in graph.nodes and o not in graph.input_shapes:
            raise GraphError(f"forward(outputs=...): unknown value {o!r}")


def check_feed_shapes(graph, feeds, run, keep_cache):
    """Every graph input that a node in ``run`` reads is fed, with its declared shape."""
    for n, want in graph.input_shapes.items():
        if n not in feeds:
            if keep_cache or any(n in graph.nodes[m].inputs for m in run):
                raise GraphError(f"missing feed for graph input {n!r}")
            continue
        got = np.shape(feeds[n])
        if want is not None and (len(got) != len(want) or
                                 any(w is not None and w != g for w, g in zip(want, got))):
            raise GraphError(f"graph input {n!r}: expected shape {fmt_shape(want)}, got {fmt_shape(got)}")


def check_cache(pending, order):
    """A backward needs a forward that kept its caches and has not been used yet."""
    if not pending:
        last = order[-1] if order else None
        raise GraphError(f"backward() called before forward() (or twice after one forward): "
                         f"node {last!r} has no cache")


def check_seeds(seeds, outputs, shapes, dtypes):
    """The seeds of a backward as ``{output: array}``; None seeds every (scalar) output with 1.

    ``shapes`` and ``dtypes`` are those of the last forward's values.
    """
    if seeds is None:
        nonscalar = [o for o in outputs if shapes[o] != ()]
        if nonscalar:
            raise GraphError(f"backward() without seeds needs scalar outputs; output "
                             f"{nonscalar[0]!r} has shape {fmt_shape(shapes[nonscalar[0]])}")
        seeds = {o: 1.0 for o in outputs}
    checked = {}
    for o, s in seeds.items():
        if o not in outputs:
            raise GraphError(f"seed {o!r} is not a graph output; outputs are {list(outputs)}")
        checked[o] = check_grad(np.asarray(s, dtype=dtypes[o]), o, shapes[o], f"seed {o!r}")
    return checked


def check_grad(grad, name, shape, source):
    """A gradient for value ``name`` has that value's ``shape``; returns it."""
    if np.shape(grad) != shape:
        raise GraphError(f"{source}: gradient for {name!r} has shape {fmt_shape(np.shape(grad))}, "
                         f"expected {fmt_shape(shape)}")
    return grad


def check_grad_count(node, dxs):
    """A layer's backward returns one gradient per input; returns them."""
    if len(dxs) != len(node.inputs):
        raise GraphError(f"{node.layer.name}: backward returned {len(dxs)} gradients "
                         f"for {len(node.inputs)} inputs")
    return dxs

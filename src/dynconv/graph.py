"""A named-node DAG of layers: forward in topological order, backward in reverse.

No autograd: every layer knows its own backward (see :mod:`dynconv.layers.base`), and the graph
only wires them together::

    g = Graph(inputs=["x", "target"], outputs=["loss"])
    g.add("conv1", Conv2D(1, 64, 9), inputs=["x"])
    g.add("relu1", ReLU(), inputs=["conv1"])
    g.add("conv2", Conv2D(64, 1, 5), inputs=["relu1"])
    g.add("crop", CenterCrop(), inputs=["target", "conv2"])
    g.add("loss", EuclideanLoss(), inputs=["conv2", "crop"])
    out = g.forward({"x": x, "target": t})      # {"loss": array(...)}
    g.backward()                                # seeds a scalar output with 1
    for name, p, dp in g.parameters(): ...      # ("conv1.w", w, dw), ...

Rules:

* A value is named by the graph input or the node that produces it; a node's inputs may be
  added in any order, the topological order is computed once, at the first forward.
* **Which gradients are computed.** A value needs a gradient if it is a graph input listed in
  ``requires_grad`` (default: none — inputs are images and targets), or a node output whose
  layer has parameters or one of whose inputs needs a gradient. Each layer's
  ``need_input_grad`` is set from that, automatically: a first convolution fed by the image
  therefore runs with ``need_input_grad=False``.
* ``backward`` accumulates (``+=``) the gradients of a value consumed by several nodes, then
  releases every cache. Parameter gradients land in each layer's ``grads``; a layer that
  received no gradient gets zeros.
* Errors are :class:`GraphError` (a ``ValueError``) naming the node.
"""
from __future__ import annotations

import sys

import numpy as np


class GraphError(ValueError):
    """A wiring, feed or shape error, naming the node or input concerned."""


def _fmt(shape):
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"


class _Node:
    __slots__ = ("name", "layer", "inputs")

    def __init__(self, name, layer, inputs):
        self.name, self.layer, self.inputs = name, layer, inputs


class Graph:
    """A DAG of named layers with declared inputs and outputs.

    Parameters
    ----------
    inputs : sequence of str, or dict str -> shape
        Graph input names; with a dict, each feed is checked against its shape, where ``None``
        matches any size, e.g. ``{"x": (None, 1, None, None)}``.
    outputs : sequence of str
        Names of the values ``forward`` returns (usually a loss, or the prediction).
    requires_grad : iterable of str
        Graph inputs whose gradient ``backward`` must return.
    """

    def __init__(self, inputs, outputs, *, requires_grad=()):
        self.input_shapes = dict(inputs) if isinstance(inputs, dict) else {n: None for n in inputs}
        self.inputs = tuple(self.input_shapes)
        self.outputs = tuple(outputs)
        if len(set(self.inputs)) != len(self.inputs):
            raise GraphError(f"duplicate graph input name in {list(inputs)}")
        self.nodes: dict[str, _Node] = {}
        self.requires_grad = requires_grad
        self._order = None        # topological order of node names, computed once
        self._needs_grad = None   # value name -> bool
        self._shapes = {}         # value name -> shape of the last forward
        self._dtypes = {}
        self._pending = False     # a forward kept caches that backward has not used yet

    # ----------------------------------------------------------------------- building
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, names):
        names = frozenset(names)
        unknown = names - set(self.inputs)
        if unknown:
            raise GraphError(f"requires_grad names unknown graph input(s) {sorted(unknown)}; "
                             f"inputs are {list(self.inputs)}")
        self._requires_grad = names
        self._order = None

    def add(self, name, layer, inputs):
        """Add node ``name`` computing ``layer.forward(*inputs)``; returns the layer."""
        if not isinstance(name, str) or not name or "." in name:
            raise GraphError(f"node name must be a non-empty str without '.', got {name!r}")
        if name in self.nodes or name in self.input_shapes:
            raise GraphError(f"duplicate name {name!r}: already a "
                             f"{'node' if name in self.nodes else 'graph input'}")
        if isinstance(inputs, str):
            raise GraphError(f"node {name!r}: inputs must be a list of names, got the str {inputs!r}")
        for other in self.nodes.values():
            if other.layer is layer:
                raise GraphError(f"node {name!r}: this layer object is already node {other.name!r} "
                                 "(a layer keeps one cache; create a second layer)")
        layer.name = f"node {name!r} ({type(layer).__name__})"
        self.nodes[name] = _Node(name, layer, tuple(inputs))
        self._order = None
        return layer

    def __getitem__(self, name):
        """The layer of node ``name``."""
        try:
            return self.nodes[name].layer
        except KeyError:
            raise GraphError(f"unknown node {name!r}; nodes are {list(self.nodes)}") from None

    def _compile(self):
        """Resolve names, order the nodes topologically (depth-first) and set need_input_grad."""
        if self._order is not None:
            return
        for node in self.nodes.values():
            for i in node.inputs:
                if i not in self.nodes and i not in self.input_shapes:
                    raise GraphError(f"node {node.name!r}: unknown input {i!r}")
        for o in self.outputs:
            if o not in self.nodes and o not in self.input_shapes:
                raise GraphError(f"unknown output {o!r}")
        order, state = [], {}  # state: 1 = on the current path, 2 = done

        def visit(name, path):
            if state.get(name) == 2 or name in self.input_shapes:
                return
            if state.get(name) == 1:
                cycle = path[path.index(name):] + [name]
                raise GraphError(f"cycle through node {name!r}: {' -> '.join(cycle)}")
            state[name] = 1
            for i in self.nodes[name].inputs:
                visit(i, path + [name])
            state[name] = 2
            order.append(name)

        for name in self.nodes:
            visit(name, [])
        needs = {n: n in self._requires_grad for n in self.inputs}
        for name in order:
            node = self.nodes[name]
            node.layer.need_input_grad = tuple(needs[i] for i in node.inputs)
            n = len(node.inputs)
            needs[name] = bool(node.layer.params) or any(
                needs[i] and node.layer.differentiable(k, n) for k, i in enumerate(node.inputs))
        self._order, self._needs_grad = order, needs

    # ----------------------------------------------------------------------- running
    def forward(self, feeds, *, keep_cache=True, outputs=None):
        """Run every node; returns ``{output name: array}``.

        ``keep_cache=False`` (inference) releases each cache at once; backward is then refused.
        ``outputs`` names other values to return instead of the declared outputs (e.g. feature
        maps to inspect); backward still seeds the declared outputs.
        """
        self._compile()
        for n in self.inputs:
            if n not in feeds:
                raise GraphError(f"missing feed for graph input {n!r}")
        for n in feeds:
            if n not in self.input_shapes:
                raise GraphError(f"feed {n!r} is not a graph input; inputs are {list(self.inputs)}")
        for n, want in self.input_shapes.items():
            got = np.shape(feeds[n])
            if want is not None and (len(got) != len(want) or
                                     any(w is not None and w != g for w, g in zip(want, got))):
                raise GraphError(f"graph input {n!r}: expected shape {_fmt(want)}, got {_fmt(got)}")
        self._pending = False
        values = dict(feeds)
        for name in self._order:
            node = self.nodes[name]
            node.layer.training = bool(keep_cache)
            values[name] = self._call(node, node.layer.forward, *(values[i] for i in node.inputs))
            if not keep_cache:
                node.layer.clear_cache()
        self._shapes = {k: np.shape(v) for k, v in values.items()}
        self._dtypes = {k: np.asarray(v).dtype for k, v in values.items()}
        self._pending = keep_cache
        for o in outputs or ():
            if o not in values:
                raise GraphError(f"forward(outputs=...): unknown value {o!r}")
        return {o: values[o] for o in (self.outputs if outputs is None else outputs)}

    def evaluate(self, values, outputs):
        """Inference on part of the graph: compute ``outputs`` from ``values``.

        ``values`` may name graph inputs *or* intermediate nodes; only the nodes the outputs
        depend on, and that are not given, run. No cache is kept (backward is not possible).
        E.g. a dynamic network's kernel generator can be run on pooled features directly.
        """
        self._compile()
        for n in values:
            if n not in self.nodes and n not in self.input_shapes:
                raise GraphError(f"evaluate: unknown value {n!r}")
        needed = set()

        def need(name):
            if name in values or name in needed:
                return
            if name in self.input_shapes:
                raise GraphError(f"evaluate: {list(outputs)} need graph input {name!r}, which was not given")
            if name not in self.nodes:
                raise GraphError(f"evaluate: unknown value {name!r}")
            needed.add(name)
            for i in self.nodes[name].inputs:
                need(i)

        for o in outputs:
            need(o)
        del need  # the recursive closure is a reference cycle holding `values` until the next GC
        vals = dict(values)
        for name in self._order:
            if name in needed:
                node = self.nodes[name]
                node.layer.training = False
                vals[name] = self._call(node, node.layer.forward, *(vals[i] for i in node.inputs))
                node.layer.clear_cache()
        return {o: vals[o] for o in outputs}

    @staticmethod
    def _call(node, fn, *args):
        """Call a layer method, making sure an error names the node."""
        try:
            return fn(*args)
        except (ValueError, TypeError, RuntimeError) as exc:
            msg = str(exc)
            if not msg.startswith(node.layer.name):
                msg = f"{node.layer.name}: {msg}"
            if isinstance(exc, TypeError):  # keep the kind: a wrong type stays a TypeError
                raise TypeError(msg) from exc
            raise GraphError(msg) from exc

    def backward(self, seeds=None):
        r"""Backpropagate from the outputs; returns ``{input name: gradient}`` for ``requires_grad``.

        Parameters
        ----------
        seeds : dict str -> array, optional
            :math:`\partial L/\partial o` for outputs ``o`` (shape of ``o``). Default: 1 for
            every output, which must then all be scalars (losses).
        """
        if not self._pending:
            last = self._order[-1] if self._order else None
            raise GraphError(f"backward() called before forward() (or twice after one forward): "
                             f"node {last!r} has no cache")
        if seeds is None:
            nonscalar = [o for o in self.outputs if self._shapes[o] != ()]
            if nonscalar:
                raise GraphError(f"backward() without seeds needs scalar outputs; output "
                                 f"{nonscalar[0]!r} has shape {_fmt(self._shapes[nonscalar[0]])}")
            seeds = {o: 1.0 for o in self.outputs}
        grads, owned = {}, set()

        def accumulate(name, g, source):
            if np.shape(g) != self._shapes[name]:
                raise GraphError(f"{source}: gradient for {name!r} has shape {_fmt(np.shape(g))}, "
                                 f"expected {_fmt(self._shapes[name])}")
            if name not in grads:
                grads[name] = g
            else:  # fan-out: copy once, since layers may return aliases (Add hands dy to all)
                if name not in owned:
                    grads[name] = grads[name].copy()
                    owned.add(name)
                grads[name] += g

        for o, s in seeds.items():
            if o not in self.outputs:
                raise GraphError(f"seed {o!r} is not a graph output; outputs are {list(self.outputs)}")
            accumulate(o, np.asarray(s, dtype=self._dtypes[o]), f"seed {o!r}")
        for name in reversed(self._order):
            node = self.nodes[name]
            dy = grads.pop(name, None)
            if dy is None or not self._needs_grad[name]:
                node.layer.clear_cache()
                node.layer.zero_grad()
                continue
            dxs = self._call(node, node.layer.backward, dy)
            if len(dxs) != len(node.inputs):
                raise GraphError(f"{node.layer.name}: backward returned {len(dxs)} gradients "
                                 f"for {len(node.inputs)} inputs")
            for i, dx in zip(node.inputs, dxs):
                if dx is not None and self._needs_grad[i]:
                    accumulate(i, dx, node.layer.name)
        self._pending = False
        return {n: grads.get(n, np.zeros(self._shapes[n], self._dtypes[n]))
                for n in self.inputs if n in self._requires_grad}

    # ----------------------------------------------------------------------- parameters
    def parameters(self):
        """Yield ``(qualified_name, param, grad)``, e.g. ``("conv1.w", w, dw)``, in node order."""
        for node in self.nodes.values():
            for k, p in node.layer.params.items():
                yield f"{node.name}.{k}", p, node.layer.grads[k]

    def num_params(self):
        return sum(p.size for _, p, _ in self.parameters())

    def zero_grad(self):
        for node in self.nodes.values():
            node.layer.zero_grad()

    def astype(self, dtype):
        """Convert every layer's parameters and gradients to ``dtype``; returns self."""
        for node in self.nodes.values():
            node.layer.astype(dtype)
        return self

    @property
    def dtype(self):
        """The parameters' dtype (None for a graph without parameters)."""
        for _, p, _ in self.parameters():
            return p.dtype
        return None

    def _walk(self, shapes):
        """Yield ``(name, node, output shape, MACs)`` in topological order, from input shapes."""
        self._compile()
        shapes = {k: tuple(v) for k, v in shapes.items()}
        missing = [n for n in self.inputs if n not in shapes]
        if missing:
            raise GraphError(f"missing shape for graph input {missing[0]!r}")
        for name in self._order:
            node = self.nodes[name]
            ins = [shapes[i] for i in node.inputs]
            shapes[name] = tuple(self._call(node, node.layer.output_shape, *ins))
            yield name, node, shapes[name], int(node.layer.macs(*ins))

    def macs(self, shapes):
        """Total multiply–accumulates of one forward pass for the given input shapes."""
        return sum(m for *_, m in self._walk(shapes))

    def output_shapes(self, shapes):
        """Shape of every value for the given input shapes, without running anything."""
        return {name: out for name, _, out, _ in self._walk(shapes)}

    def _report_shapes(self, shapes, who):
        """The input shapes a report is for: ``shapes``, or by default those of the last forward."""
        self._compile()
        if shapes is None:
            if not self._shapes:
                raise GraphError(f"{who}() needs the input shapes: pass shapes= or run forward() first")
            shapes = {n: self._shapes[n] for n in self.inputs}
        return shapes if not isinstance(shapes, dict) else {k: tuple(v) for k, v in shapes.items()}

    def draw(self, shapes=None, ax=None):
        """Draw the graph (:func:`dynconv.graph_draw.draw`): boxes with each value's layer and shape.

        ``shapes`` as :meth:`summary`; ``ax`` a matplotlib Axes (default: a new figure's).
        Returns the Axes. Matplotlib is imported only here.
        """
        from dynconv import graph_draw

        return graph_draw.draw(self, self._report_shapes(shapes, "draw"), ax=ax)

    def summary(self, shapes=None, out=sys.stdout):
        """Print and return a table: node, layer, output shape, parameter count and MACs.

        Parameters
        ----------
        shapes : dict str -> tuple, optional
            Shape of every graph input; default: the shapes of the last forward.
        out : file-like or None
            Where to print (None: only return the string).
        """
        shapes = self._report_shapes(shapes, "summary")
        rows, total_p, total_m = [], 0, 0
        for name, node, out_shape, macs in self._walk(shapes):
            n_p = node.layer.num_params()
            total_p, total_m = total_p + n_p, total_m + macs
            rows.append((name, repr(node.layer), _fmt(out_shape), f"{n_p:,}", f"{macs:,}"))
        rows.append(("total", "", "", f"{total_p:,}", f"{total_m:,}"))
        head = ("node", "layer", "output shape", "params", "MACs")
        widths = [max(len(r[c]) for r in rows + [head]) for c in range(5)]
        line = lambda r: "  ".join(v.ljust(w) if c < 3 else v.rjust(w)  # noqa: E731
                                   for c, (v, w) in enumerate(zip(r, widths)))
        rule = "-" * len(line(head))
        text = "\n".join([line(head), rule, *map(line, rows[:-1]), rule, line(rows[-1])]) + "\n"
        if out is not None:
            out.write(text)
        return text

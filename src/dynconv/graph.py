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

The executor is :meth:`Graph._compile`, :meth:`Graph.forward` and :meth:`Graph.backward`. The
checks behind its error messages live in :mod:`dynconv.graph_checks`; shapes, MACs, the summary
table and the drawing, all without running, in :mod:`dynconv.graph_report`.
"""
from __future__ import annotations

import numpy as np

from dynconv.graph_checks import (GraphError, call, check_cache, check_feed_names, check_feed_shapes, check_grad,
                                  check_grad_count, check_input_names, check_node, check_requires_grad, check_seeds,
                                  check_wiring)

__all__ = ["Graph", "GraphError"]


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
        self.inputs = check_input_names(inputs)  # a dict's keys, or the names
        self.input_shapes = dict(inputs) if isinstance(inputs, dict) else dict.fromkeys(self.inputs)
        self.outputs = tuple(outputs)
        self.nodes: dict[str, _Node] = {}
        self.requires_grad = requires_grad
        self._order = None        # topological order of node names, computed once
        self._needs_grad = None   # value name -> bool
        self._shapes = {}         # value name -> shape of the last forward
        self._dtypes = {}
        self._pending = False     # a forward kept caches that backward has not used yet

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, names):
        self._requires_grad = check_requires_grad(self, names)
        self._order = None

    def add(self, name, layer, inputs):
        """Add node ``name`` computing ``layer.forward(*inputs)``; returns the layer."""
        check_node(self, name, layer, inputs)
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

    def order(self):
        """The node names in topological order (computed once, after the last change)."""
        self._compile()
        return list(self._order)

    # ----------------------------------------------------------------------- the executor
    def _compile(self):
        """Order the nodes topologically (depth-first) and set each layer's need_input_grad."""
        if self._order is not None:
            return
        check_wiring(self)
        order = []

        def visit(name, path):
            if name in path:
                cycle = path[path.index(name):] + [name]
                raise GraphError(f"cycle through node {name!r}: {' -> '.join(cycle)}")
            if name in self.input_shapes or name in order:
                return
            for i in self.nodes[name].inputs:
                visit(i, path + [name])
            order.append(name)

        for name in self.nodes:
            visit(name, [])
        needs = {n: n in self._requires_grad for n in self.inputs}
        for name in order:
            layer, ins = self.nodes[name].layer, self.nodes[name].inputs
            layer.need_input_grad = tuple(needs[i] for i in ins)
            needs[name] = bool(layer.params) or any(
                needs[i] and layer.differentiable(k, len(ins)) for k, i in enumerate(ins))
        self._order, self._needs_grad = order, needs

    def forward(self, feeds, *, keep_cache=True, outputs=None):
        """Run the graph; returns ``{name: array}`` for ``outputs`` (default: the declared outputs).

        Parameters
        ----------
        feeds : dict str -> array
            Every graph input, for a training run. With ``keep_cache=False`` (inference) the
            feeds may also name intermediate values, and only the nodes that the outputs depend
            on and that are not fed run: a partial run, e.g. a dynamic network's kernel
            generator on pooled features.
        keep_cache : bool
            False releases each cache at once; backward is then refused.
        outputs : sequence of str, optional
            Values to return instead of the declared outputs (e.g. feature maps to inspect);
            backward still seeds the declared outputs.
        """
        self._compile()
        outputs = self.outputs if outputs is None else tuple(outputs)
        check_feed_names(self, feeds, outputs, keep_cache)
        run = set(self._order) if keep_cache else self._needed(feeds, outputs)
        check_feed_shapes(self, feeds, run, keep_cache)
        self._pending = False
        values = dict(feeds)
        for name in self._order:
            if name in run:
                node = self.nodes[name]
                node.layer.training = bool(keep_cache)
                values[name] = call(node, node.layer.forward, *(values[i] for i in node.inputs))
                if not keep_cache:
                    node.layer.clear_cache()
        self._shapes = {k: np.shape(v) for k, v in values.items()}
        self._dtypes = {k: np.asarray(v).dtype for k, v in values.items()}
        self._pending = keep_cache
        return {o: values[o] for o in outputs}

    def _needed(self, feeds, outputs):
        """The nodes that ``outputs`` depend on, stopping at fed values."""
        needed, stack = set(), [o for o in outputs if o not in feeds]
        while stack:
            name = stack.pop()
            if name in needed or name in self.input_shapes:
                continue
            needed.add(name)
            stack.extend(i for i in self.nodes[name].inputs if i not in feeds)
        return needed

    def backward(self, seeds=None):
        r"""Backpropagate from the outputs; returns ``{input name: gradient}`` for ``requires_grad``.

        Parameters
        ----------
        seeds : dict str -> array, optional
            :math:`\partial L/\partial o` for outputs ``o`` (shape of ``o``). Default: 1 for
            every output, which must then all be scalars (losses).
        """
        check_cache(self._pending, self._order)
        grads, owned = check_seeds(seeds, self.outputs, self._shapes, self._dtypes), set()
        for name in reversed(self._order):
            node = self.nodes[name]
            dy = grads.pop(name, None)
            if dy is None or not self._needs_grad[name]:
                node.layer.clear_cache()
                node.layer.zero_grad()
                continue
            dxs = check_grad_count(node, call(node, node.layer.backward, dy))
            for i, dx in zip(node.inputs, dxs):
                if dx is None or not self._needs_grad[i]:
                    continue
                check_grad(dx, i, self._shapes[i], node.layer.name)
                if i not in grads:
                    grads[i] = dx
                else:  # fan-out: copy once, since layers may return aliases (Add hands dy to all)
                    if i not in owned:
                        grads[i] = grads[i].copy()
                        owned.add(i)
                    grads[i] += dx
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
        return next((p.dtype for _, p, _ in self.parameters()), None)

    def last_shapes(self):
        """``{value name: shape}`` of the last forward (empty before the first)."""
        return dict(self._shapes)

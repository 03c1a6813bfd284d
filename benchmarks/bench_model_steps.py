"""A model's training step, three ways, for ``bench_train.py`` and ``bench_profile.py``.

* :func:`framework_step` — what ``dynconv train`` runs: ``Graph`` forward, MSE loss, backward, Adam.
* :func:`bare_kernel_step` — only the model's convolution kernels (every ``Conv2D`` and
  ``DynamicConv2D`` node, with the shapes, parameters and algorithms the graph uses), called
  directly from :mod:`dynconv.kernels` on inputs captured from one graph forward: forward in
  topological order, then backward in reverse (``need_input_grad`` as the graph sets it). No graph,
  layers, ReLU, pooling, ``Linear``, loss or Adam.
* :func:`step_flops` — the FLOPs of one step, counted analytically per product layer and
  direction (issue 22): forward ``2·B·F·C·kh·kw·Ho·Wo``, dw (or dk) the same, dx the same
  except where the graph needs no input gradient (a first layer fed by the image). ``Linear``
  counts ``2·B·in·out`` the same way; ReLU, crop, pooling, loss and Adam are not counted.
"""
from __future__ import annotations

import numpy as np

from dynconv import graph_report
from dynconv import kernels as K
from dynconv.layers import Conv2D, DynamicConv2D, Linear, MSELoss
from dynconv.optim import Adam
from dynconv.sr import models, shipped

SIZE = 33  #: side of a training sub-image
PRODUCTS = (Conv2D, DynamicConv2D, Linear)  #: the layers whose FLOPs are counted

#: The benchmarked architectures (``bench_train.py`` documents the first four; ``dcnn-default`` is
#: the shipped default ``dcnn``, issue 23's, which has no PyTorch peer).
ARCHITECTURES = {
    "srcnn": lambda: models.srcnn(residual=True),
    "srcnn-955": lambda: models.srcnn(f2=5, residual=True),
    "dcnn": lambda: models.build(shipped.SHIPPED["dcnn-x234"].architecture),
    "dcnn-paper-b": lambda: models.dcnn(residual=True),
    "dcnn-default": lambda: models.build(shipped.SHIPPED["dcnn"].architecture),
}


def batch_data(model, batch, rng):
    """(x, y): ``batch`` random 33x33 sub-images and targets of the valid output size."""
    x = rng.random((batch, 1, SIZE, SIZE), dtype=np.float32)
    n = SIZE - 2 * model.radius  # valid convolutions: the output of a 33x33 sub-image
    y = rng.random((batch, 1, n, n), dtype=np.float32)
    return x, y


def framework_step(model, x, y, lr=1e-4):
    """A zero-argument training step through ``model.graph`` (forward, loss, backward, Adam)."""
    loss, opt = MSELoss(), Adam(model.graph, lr=lr)

    def step():
        pred = model.graph.forward({"x": x})[model.output]
        loss.forward(pred, y)
        model.graph.backward({model.output: loss.backward()[0]})
        opt.step()

    step.loss, step.opt = loss, opt  # bench_profile.py times them
    return step


def node_inputs(model, x):
    """{node: (layer, [input arrays], output array)} in topological order, from one forward."""
    g = model.graph
    order = list(graph_report.output_shapes(g, {"x": x.shape}))
    values = dict(g.forward({"x": x}, outputs=order))
    g.backward({model.output: np.zeros_like(values[model.output])})  # releases the caches
    values["x"] = x
    return {name: (g.nodes[name].layer, [values[i] for i in g.nodes[name].inputs], values[name])
            for name in order}


def _dynamic_kernels(layer, ins):
    """(x, k (N, F, C, kh, kw), b or None) as ``DynamicConv2D.forward`` hands them to the kernel."""
    x, k = ins[0], ins[1]
    if k.ndim == 2:
        nk = int(np.prod(layer.kernel_shape))
        b = k[:, nk:] if layer.bias else None
        return x, k[:, :nk].reshape(k.shape[0], *layer.kernel_shape), b
    return x, k, (ins[2] if layer.bias else None)


def bare_kernel_step(model, x, rng):
    """A zero-argument step running only the model's convolution kernels (see the module doc)."""
    convs, names = [], []
    for name, (layer, ins, out) in node_inputs(model, x).items():
        dy = rng.standard_normal(out.shape).astype(out.dtype)
        if isinstance(layer, Conv2D):
            w = layer.params["w"]
            algo = K.choose_algorithm(*w.shape, training=True)
            fwd = (lambda ins=ins, w=w, b=layer.params.get("b"), pad=layer.pad, algo=algo:
                   K.conv2d_forward(ins[0], w, b, pad=pad, algorithm=algo))
            convs.append((fwd, K.conv2d_backward, dy, layer.needs_grad(0)))
            names.append(name)
        elif isinstance(layer, DynamicConv2D):
            args = _dynamic_kernels(layer, ins)
            algo = K.choose_dynamic_algorithm(*layer.kernel_shape, training=True)
            fwd = (lambda args=args, pad=layer.pad, algo=algo:
                   K.dynamic_conv2d_forward(*args, pad=pad, algorithm=algo))
            convs.append((fwd, K.dynamic_conv2d_backward, dy, layer.needs_grad(0)))
            names.append(name)

    def step():
        caches = [fwd()[1] for fwd, *_ in convs]
        for (_, bwd, dy, need_input_grad), cache in zip(reversed(convs), reversed(caches)):
            bwd(dy, cache, need_input_grad=need_input_grad)
        step.algorithms = {n: c.algorithm for n, c in zip(names, caches)}  # what the step ran

    return step


def step_flops(model, batch):
    """FLOPs of one training step: ``{node: {"fwd": f, "dw": f, "dx": f}}`` and their total.

    Only product layers (:data:`PRODUCTS`) are listed; ``dx`` is 0 where the graph does not
    need the input gradient. Call after one forward of the graph (which sets ``need_input_grad``).
    """
    g = model.graph
    shapes = {"x": (batch, 1, SIZE, SIZE)}
    shapes.update(graph_report.output_shapes(g, shapes))
    per_node = {}
    for name, out in list(shapes.items())[1:]:
        layer = g.nodes[name].layer
        if not isinstance(layer, PRODUCTS):
            continue
        flop = 2 * int(layer.macs(*(shapes[i] for i in g.nodes[name].inputs)))
        per_node[name] = {"fwd": flop, "dw": flop, "dx": flop if layer.needs_grad(0) else 0}
    total = sum(sum(d.values()) for d in per_node.values())
    return per_node, total

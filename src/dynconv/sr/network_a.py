"""Network A of SRCNN and DCNN: patch extraction (eq 8), non-linear mapping (eq 9), the optional
extra mapping layers, the reconstruction layer's initialisation and the residual skip (see
:mod:`dynconv.sr.models`)."""
from __future__ import annotations

import numpy as np

from dynconv.layers import Add, CenterCrop, Conv2D, ReLU

__all__ = ["network_a", "mapping_layers", "identity_started", "init3", "add_skip", "A_RELU1", "A_RELU2"]

A_RELU1, A_RELU2 = "relu1", "relu2"  # A's feature maps after layer 1 and layer 2


def _pad(padding, f):
    return (f - 1) // 2 if padding == "same" else 0


def network_a(g, cfg, rng, dynamic_conv2=False):
    """SRCNN's layers 1–2, shaped by ``cfg`` (an :class:`~dynconv.sr.model_config.SrcnnConfig` or
    :class:`~dynconv.sr.model_config.DcnnConfig`). Returns the node that feeds what follows and,
    with ``dynamic_conv2``, conv2's initial kernel instead of a conv2 node (network B will
    generate that layer's kernels, starting from this one)."""
    init = dict(init=cfg.init, std=cfg.std, rng=rng, dtype=cfg.dtype)
    g.add("conv1", Conv2D(1, cfg.n1, cfg.f1, pad=_pad(cfg.padding, cfg.f1), **init), ["x"])
    g.add(A_RELU1, ReLU(), ["conv1"])
    conv2 = Conv2D(cfg.n1, cfg.n2, cfg.f2, pad=_pad(cfg.padding, cfg.f2), **init)
    if dynamic_conv2:
        return A_RELU1, conv2.params["w"]
    g.add("conv2", conv2, [A_RELU1])
    g.add(A_RELU2, ReLU(), ["conv2"])
    return A_RELU2, None


def mapping_layers(g, feat, sizes, n2, padding, dtype):
    """Extra mapping layers after A's layer 2: conv k×k (n2→n2) · ReLU for each k in ``sizes``.

    Each starts as the identity (centre tap 1 on the diagonal, bias 0). Its input is a ReLU output,
    so ReLU(identity) passes it unchanged and the network computes what it did without the layer:
    a model warm-started from one without them (``train.init``) begins exactly where that one was.
    Returns the last node.
    """
    for i, k in enumerate(sizes, start=1):
        conv = Conv2D(n2, n2, k, pad=_pad(padding, k), init="gaussian", std=0.0, dtype=dtype)
        conv.params["w"][...] = 0  # +0 everywhere (a zero-std draw gives zeros of random sign)
        conv.params["w"][np.arange(n2), np.arange(n2), k // 2, k // 2] = 1
        g.add(f"map{i}", conv, [feat])
        g.add(f"map_relu{i}", ReLU(), [f"map{i}"])
        feat = f"map_relu{i}"
    return feat


def identity_started(config) -> set:
    """The parameters of a model built from ``config`` that start as the identity (see
    :func:`mapping_layers`): those a warm start may find missing in its source."""
    n = len(config.get("mapping") or ())
    return {f"map{i}.{p}" for i in range(1, n + 1) for p in ("w", "b")}


def init3(init, std, residual_net):
    """The reconstruction layer's initialisation. A residual network starts with a zero
    kernel: a fresh network then *is* bicubic interpolation, and the first steps move only
    the last layer until it passes gradients back."""
    return dict(init="gaussian", std=0.0) if residual_net else dict(init=init, std=std)


def add_skip(g, out, radius, padding):
    """y = out + x (cropped to out's size): the network predicts HR − bicubic."""
    if padding == "valid":
        g.add("skip", CenterCrop(radius), ["x"])
        g.add("y", Add(), [out, "skip"])
    else:
        g.add("y", Add(), [out, "x"])

"""Fast numba kernels: the paper's equations 1–7 for float32 and float64.

Same function names and signatures as :mod:`dynconv.reference` (the literal loops they are
tested against):

* :func:`conv2d_forward` / :func:`conv2d_backward` — eqs 1–3 (im2col + BLAS GEMM);
* :func:`dynamic_conv2d_forward` / :func:`dynamic_conv2d_backward` — eqs 5–7 (direct loops);
* :func:`sgd_update` — eq 4, in place.

Every function validates its arguments (rank, shapes, a shared float dtype, the padding, the
kernel fitting the padded input) and raises ``ValueError`` naming the argument before any
numba code runs: a bad call never reaches a loop that does not bounds-check.
"""
from __future__ import annotations

import numpy as np

from dynconv.kernels.conv2d import Conv2DCache, conv2d_backward, conv2d_forward
from dynconv.kernels.dynamic import DynamicConv2DCache, dynamic_conv2d_backward, dynamic_conv2d_forward

__all__ = [
    "Conv2DCache",
    "DynamicConv2DCache",
    "conv2d_forward",
    "conv2d_backward",
    "dynamic_conv2d_forward",
    "dynamic_conv2d_backward",
    "sgd_update",
]


def sgd_update(w, dw, lr):
    r"""Equation 4 in place: :math:`k_{ij} \leftarrow k_{ij} - \alpha\,\partial l/\partial k_{ij}`.

    ``w`` is modified and returned (training updates parameters where they live).
    """
    if not isinstance(w, np.ndarray) or not isinstance(dw, np.ndarray):
        raise ValueError("w and dw must be numpy arrays")
    if w.shape != dw.shape:
        raise ValueError(f"dw must have the shape of w {w.shape}, got {dw.shape}")
    if w.dtype.kind != "f":
        raise ValueError(f"w must be a float array, got dtype {w.dtype}")
    w -= np.asarray(lr, dtype=w.dtype) * dw
    return w

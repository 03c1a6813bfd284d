r"""Fast static convolution: equations 1–3 (numba im2col/col2im + BLAS GEMM).

Same names, signatures and results as :mod:`dynconv.reference` (see it for the equations and
for how the paper's ``*`` maps onto cross-correlation), for float32 and float64.

Algorithm
---------
``x`` is unfolded by a parallel numba ``im2col`` into ``cols`` of shape
``(C*kh*kw, N*Ho*Wo)``; then

* eq 1: ``y = W @ cols`` with ``W = w.reshape(F, C*kh*kw)`` — one GEMM for the whole batch;
* eq 3: ``dw = dY @ cols.T`` — one GEMM, the batch sum falls out of the matrix product;
* eq 2: ``dcols = W.T @ dY``, folded back by a parallel numba ``col2im`` (the full
  convolution with the kernel is exactly this scatter of ``W.T @ dY``).

``cols`` is kept in the cache so the backward pass does not unfold ``x`` again.

Why this algorithm (measured on this 2-core AMD EPYC, float32, B = 128 patches of 33×33,
numba 0.68, OpenBLAS 0.3.31; ``python benchmarks/bench_kernels.py --algorithms``):
see the table in ``_ALGORITHM_NOTES`` below, reproduced in the README. GEMM through
``np.dot`` runs at 135–150 GFLOP/s on these shapes, while the direct numba loops
(vectorised over the output row) reach a few GFLOP/s per core, so im2col + GEMM wins for every
SRCNN layer, including the 32→1 5×5 reconstruction where the GEMM degenerates to a
matrix–vector product (memory bound, but still ahead). The direct loops are kept for the
dynamic layer (:mod:`dynconv.kernels.dynamic`), where every sample has its own kernel and
there is no shared matrix to hand to BLAS.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dynconv.kernels import _loops
from dynconv.kernels._validate import as_float_array, check_dy, check_pad, output_size

__all__ = ["Conv2DCache", "conv2d_forward", "conv2d_backward"]


class Conv2DCache(NamedTuple):
    """What :func:`conv2d_backward` needs from the forward pass."""

    x_shape: tuple  # (N, C, H, W)
    w: np.ndarray  # (F, C, kh, kw), C-contiguous
    has_bias: bool
    pad: int
    algorithm: str  # "gemm" or "direct" (see choose_algorithm)
    unfolded: np.ndarray  # gemm: cols (C*kh*kw, N*Ho*Wo); direct: the zero-padded input


#: Up to this many output channels, direct loops beat im2col + GEMM (see the module docstring).
DIRECT_MAX_F = 4


def choose_algorithm(F, C, kh, kw):
    """``"direct"`` for few output channels (GEMM degenerates to a memory-bound GEMV), else ``"gemm"``."""
    return "direct" if F <= DIRECT_MAX_F else "gemm"


def pad_input(x, pad):
    """Zero-pad the two spatial axes of ``x`` (N, C, H, W) by ``pad`` (a C-contiguous copy)."""
    if pad == 0:
        return x
    N, C, H, W = x.shape
    xp = np.zeros((N, C, H + 2 * pad, W + 2 * pad), dtype=x.dtype)
    xp[:, :, pad:pad + H, pad:pad + W] = x
    return xp


def unfold(x, kh, kw, pad):
    """im2col: ``x`` (N, C, H, W), validated and C-contiguous → ``cols`` (N, C*kh*kw, Ho*Wo).

    A 1×1 kernel without padding needs no copy: ``cols`` is a view of ``x``.
    """
    N, C, H, W = x.shape
    if kh == kw == 1 and pad == 0:
        return x.reshape(N, C, H * W)
    Ho, Wo = output_size(x, kh, kw, pad)
    cols = np.empty((N, C * kh * kw, Ho * Wo), dtype=x.dtype)
    _loops.im2col(x, kh, kw, pad, Ho, Wo, cols)
    return cols


def conv2d_forward(x, w, b=None, *, pad=0):
    r"""Equation 1, fast: :math:`y^t_j = \sum_i k_{ij} * x^t_i + b_j` (cross-correlation).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64
    w : ndarray, shape (F, C, kh, kw), same dtype as ``x``
    b : ndarray, shape (F,), optional, same dtype
    pad : int, ``0 <= pad < min(kh, kw)``

    Returns
    -------
    y : ndarray, shape (N, F, H + 2 pad - kh + 1, W + 2 pad - kw + 1), dtype of ``x``
    cache : Conv2DCache

    See :func:`dynconv.reference.conv2d_forward` for the loop form and the notebook
    ``01_convolution_forward_backward`` for the derivation.
    """
    x = as_float_array(x, "x", 4, "(N, C, H, W)")
    w = as_float_array(w, "w", 4, "(F, C, kh, kw)", x.dtype)
    F, C, kh, kw = w.shape
    if x.shape[1] != C:
        raise ValueError(f"x has {x.shape[1]} channels but w {w.shape} expects C={C}")
    pad = check_pad(pad, kh, kw)
    if b is not None:
        b = as_float_array(b, "b", 1, f"({F},)", x.dtype)
        if b.shape != (F,):
            raise ValueError(f"b must have shape ({F},), got {b.shape}")
    N = x.shape[0]
    Ho, Wo = output_size(x, kh, kw, pad)
    algorithm = choose_algorithm(F, C, kh, kw)
    if algorithm == "direct":
        xp = pad_input(x, pad)
        y = np.empty((N, F, Ho, Wo), dtype=x.dtype)
        bias = np.zeros((1, F), x.dtype) if b is None else b.reshape(1, F)
        _loops.direct_forward(xp, w.reshape(1, *w.shape), bias, y)
        return y, Conv2DCache(x.shape, w, b is not None, pad, algorithm, xp)
    cols = unfold(x, kh, kw, pad)
    y = np.matmul(w.reshape(F, -1), cols)  # (N, F, Ho*Wo): one GEMM per sample, NCHW directly
    if b is not None:
        y += b[:, None]
    return y.reshape(N, F, Ho, Wo), Conv2DCache(x.shape, w, b is not None, pad, algorithm, cols)


def conv2d_backward(dy, cache, *, need_dx=True):
    r"""Equations 2 and 3, fast: ``(dx, dw, db)`` for :func:`conv2d_forward`.

    .. math::

        \frac{\partial l}{\partial x^t_i} = \sum_j \frac{\partial l}{\partial y^t_j} * k_{ij},
        \qquad
        \frac{\partial l}{\partial k_{ij}} = \sum_t \frac{\partial l}{\partial y^t_j} \star x^t_i

    (the batch sum without the paper's 1/T: the loss owns the average; see
    :func:`dynconv.reference.conv2d_backward`).

    Parameters
    ----------
    dy : ndarray, shape (N, F, Ho, Wo), dtype of the forward pass
    cache : Conv2DCache
    need_dx : bool
        False skips eq 2 (e.g. for a first layer fed by the image) and returns ``dx = None``.

    Returns
    -------
    dx : ndarray (N, C, H, W) or None
    dw : ndarray (F, C, kh, kw)
    db : ndarray (F,) or None
    """
    if not isinstance(cache, Conv2DCache):
        raise ValueError("cache must be the Conv2DCache returned by dynconv.kernels.conv2d_forward")
    x_shape, w, has_bias, pad, algorithm, unfolded = cache
    N, C, H, W = x_shape
    F, _, kh, kw = w.shape
    Ho, Wo = H + 2 * pad - kh + 1, W + 2 * pad - kw + 1
    dy = check_dy(dy, (N, F, Ho, Wo), w.dtype)
    if algorithm == "direct":
        return _direct_backward(dy, cache, need_dx)
    cols = unfolded
    dy3 = dy.reshape(N, F, Ho * Wo)
    # eq 3: per-sample products dY_n cols_n^T, summed over the batch.
    dw = np.matmul(dy3, cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
    db = dy3.sum(axis=(0, 2)) if has_bias else None
    dx = None
    if need_dx:
        dcols = np.matmul(w.reshape(F, -1).T, dy3)  # (N, C*kh*kw, Ho*Wo)
        if kh == kw == 1 and pad == 0:
            dx = dcols.reshape(x_shape)
        else:
            dx = np.empty(x_shape, dtype=w.dtype)
            _loops.col2im(dcols, kh, kw, pad, Ho, Wo, dx)
    return dx, dw, db

def _direct_backward(dy, cache, need_dx):
    x_shape, w, has_bias, pad, _, xp = cache
    N, C, H, W = x_shape
    # Per-sample kernel gradients (eq 7's form), then the batch sum of eq 3: no two threads
    # ever add into the same dw element.
    dk = np.empty((N,) + w.shape, dtype=w.dtype)
    _loops.direct_backward_dk(dy, xp, dk)
    dw = dk.sum(axis=0)
    db = dy.sum(axis=(0, 2, 3)) if has_bias else None
    dx = None
    if need_dx:
        dxp = np.empty_like(xp)
        _loops.direct_backward_dx(dy, w.reshape(1, *w.shape), dxp)
        dx = np.ascontiguousarray(dxp[:, :, pad:pad + H, pad:pad + W]) if pad else dxp
    return dx, dw, db

r"""Fast static convolution: equations 1–3 (numba im2col/col2im + BLAS GEMM, or direct loops).

Same names, signatures and results as :mod:`dynconv.reference` (see it for the equations and
for how the paper's ``*`` maps onto cross-correlation), for float32 and float64.

Algorithms
----------
**im2col + GEMM** (``F > 4`` output channels). The batch is processed a chunk of samples at a
time (:data:`CHUNK_BYTES`); a numba ``im2col`` unfolds the chunk into ``cols`` of shape
``(C*kh*kw, n*Ho*Wo)`` and then

* eq 1: ``y = W @ cols`` with ``W = w.reshape(F, C*kh*kw)``;
* eq 3: ``dw += dY @ cols.T`` — the batch sum falls out of the matrix products;
* eq 2, by whichever of two equal forms moves less memory: ``W.T @ dY`` folded back by
  ``col2im`` (``C <= F``), or — eq 2 read literally — the full convolution of ``dy`` with the
  kernel: ``dy`` unfolded with padding ``k - 1 - pad`` times the flipped kernel (``C > F``).

The forward pass keeps only ``x``; the backward pass unfolds it again chunk by chunk, so no
batch-sized column matrix is ever stored (for 9-5-5's 64→32 5×5 layer at B = 128 it would be
361 MB, and writing it costs more than the GEMM reading it).

**Direct loops** (``F <= 4``): numba loops on the padded input, parallel over samples; the
innermost loop runs along an output row so numba vectorises it. With one output channel the
GEMM degenerates to a memory-bound matrix–vector product over a 32·25-row ``cols``.

Why (float32, B = 128 patches of 33×33, this 2-core AMD EPYC, numba 0.68, OpenBLAS 0.3.31;
measured at low machine load, single runs): for SRCNN's 32→1 5×5 reconstruction, im2col +
GEMM took 70 ms forward and 122 ms backward against 3 ms and 6.5 ms for the direct loops; the
direct loops lose by far on layers with many output channels (64→32 5×5 forward: 186 ms
direct vs ~40 ms of GEMM at 135–150 GFLOP/s). ``benchmarks/bench_kernels.py --algorithms``
times both algorithms on every SRCNN shape; its latest table is in ``benchmarks/README.md``.
Under heavy machine load, two thread pools (numba's and OpenBLAS's) handing work back and forth
lose time at every hand-over; larger chunks mean fewer hand-overs, and ``--threads 1``
(``dynconv train``) avoids them altogether.
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
    unfolded: np.ndarray  # gemm: the input x; direct: the zero-padded input


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


#: Target size of one chunk of unfolded columns. The batch is processed a few samples at a
#: time so that the columns ``im2col`` writes are still in cache when the GEMM reads them,
#: and no batch-sized column matrix is ever allocated or kept (see the module docstring).
CHUNK_BYTES = 16 << 20


def chunk_size(N, floats_per_sample, itemsize):
    """Samples per chunk so that one chunk's work arrays hold about :data:`CHUNK_BYTES`."""
    return int(max(1, min(N, CHUNK_BYTES // max(1, floats_per_sample * itemsize))))


def unfold(x, kh, kw, ph, pw, buf=None):
    """im2col: ``x`` (n, C, H, W), C-contiguous → ``cols`` (C*kh*kw, n*Ho*Wo).

    Row ``(c*kh + u)*kw + v`` holds, for every sample and output pixel, the input value under
    kernel tap ``(c, u, v)``, with zero padding ``ph`` (rows) and ``pw`` (columns). ``buf``, a
    flat array of at least that many elements, is reused when given.
    """
    n, C, H, W = x.shape
    Ho, Wo = H + 2 * ph - kh + 1, W + 2 * pw - kw + 1
    size = C * kh * kw * n * Ho * Wo
    out = np.empty(size, dtype=x.dtype) if buf is None else buf[:size]
    cols = out.reshape(C * kh * kw, n, Ho * Wo)
    if kh == kw == 1 and ph == pw == 0:
        np.copyto(cols, x.reshape(n, C, H * W).transpose(1, 0, 2))
    else:
        _loops.im2col(x, kh, kw, ph, pw, Ho, Wo, cols)
    return cols.reshape(C * kh * kw, n * Ho * Wo)


def _batch_major(a2, n, out):
    """Write (F, n*P) as (n, F, P) into ``out``."""
    np.copyto(out, a2.reshape(a2.shape[0], n, -1).transpose(1, 0, 2))


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
    y = _gemm_forward(x, w, pad, Ho, Wo)
    if b is not None:
        y += b[:, None, None]
    return y, Conv2DCache(x.shape, w, b is not None, pad, algorithm, x)


def _gemm_forward(x, w, pad, Ho, Wo):
    """Eq 1 chunk by chunk: ``y[chunk] = W @ im2col(x[chunk])``, W = w as (F, C*kh*kw)."""
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    P = Ho * Wo
    w2 = w.reshape(F, -1)
    y = np.empty((N, F, Ho, Wo), dtype=x.dtype)
    nb = chunk_size(N, (C * kh * kw + F) * P, x.itemsize)
    cols_buf = np.empty(C * kh * kw * nb * P, dtype=x.dtype)
    y_buf = np.empty(F * nb * P, dtype=x.dtype)
    for n0 in range(0, N, nb):
        n1 = min(N, n0 + nb)
        cols = unfold(x[n0:n1], kh, kw, pad, pad, cols_buf)
        y2 = np.matmul(w2, cols, out=y_buf[:F * (n1 - n0) * P].reshape(F, -1))
        _batch_major(y2, n1 - n0, y[n0:n1].reshape(n1 - n0, F, P))
    return y


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
    dw, dx = _gemm_backward(dy, unfolded, w, pad, need_dx)
    db = dy.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, dw, db


def _gemm_backward(dy, x, w, pad, need_dx):
    """Eqs 3 and 2 chunk by chunk; ``x`` is unfolded again, in cache, rather than stored.

    * eq 3: ``dw += dY[chunk] @ im2col(x[chunk]).T`` (the batch sum accumulates over chunks);
    * eq 2 by whichever of two equal formulations moves less memory:
      ``C <= F``: scatter — ``dcols = W.T @ dY`` (C*kh*kw rows), folded by ``col2im``;
      ``C > F``: gather — eq 2 read literally, the full convolution of ``dy`` with the kernel:
      unfold ``dy`` with padding ``k - 1 - pad`` (F*kh*kw rows) and multiply by the kernel
      flipped in both axes with its channel axes swapped.
    """
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    Ho, Wo = dy.shape[2], dy.shape[3]
    P, CKK = Ho * Wo, C * kh * kw
    w2 = w.reshape(F, CKK)
    pointwise = kh == kw == 1 and pad == 0
    gather = need_dx and C > F and not pointwise
    per_sample = (CKK + F) * P + (F * kh * kw + C) * H * W
    nb = chunk_size(N, per_sample, x.itemsize)
    cols_buf = np.empty(CKK * nb * P, dtype=x.dtype)
    dy_buf = np.empty(F * nb * P, dtype=x.dtype)
    dw2 = np.zeros((F, CKK), dtype=x.dtype)
    dx = np.empty(x.shape, dtype=x.dtype) if need_dx else None
    if gather:
        w_flip = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)).reshape(C, -1)
        dycols_buf = np.empty(F * kh * kw * nb * H * W, dtype=x.dtype)
    for n0 in range(0, N, nb):
        n1 = min(N, n0 + nb)
        m = n1 - n0
        cols = unfold(x[n0:n1], kh, kw, pad, pad, cols_buf)
        dy2 = dy_buf[:F * m * P].reshape(F, m, P)
        np.copyto(dy2, dy[n0:n1].reshape(m, F, P).transpose(1, 0, 2))
        dy2 = dy2.reshape(F, m * P)
        dw2 += dy2 @ cols.T
        if not need_dx:
            continue
        if pointwise:
            _batch_major(w2.T @ dy2, m, dx[n0:n1].reshape(m, C, H * W))
        elif gather:
            dycols = unfold(dy[n0:n1], kh, kw, kh - 1 - pad, kw - 1 - pad, dycols_buf)
            _batch_major(w_flip @ dycols, m, dx[n0:n1].reshape(m, C, H * W))
        else:
            dcols = w2.T @ dy2
            _loops.col2im(dcols.reshape(CKK, m, P), kh, kw, pad, pad, Ho, Wo, dx[n0:n1])
    return dw2.reshape(w.shape), dx

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

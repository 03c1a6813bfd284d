r"""The im2col + GEMM algorithm for the static convolution, chunk by chunk.

A chunk of samples at a time (:data:`CHUNK_BYTES`), a numba ``im2col`` unfolds the zero-padded
input into ``cols`` of shape ``(C*kh*kw, n*Ho*Wo)``, and then

* eq 1: ``y = W @ cols`` with ``W = w.reshape(F, C*kh*kw)``;
* eq 3: ``dw += dY @ cols.T`` — the batch sum falls out of the matrix products;
* eq 2, by whichever of two equal forms moves less memory: ``W.T @ dY`` folded back by
  ``col2im`` (``C <= F``), or — eq 2 read literally — the full convolution of ``dy`` with the
  kernel: ``dy`` unfolded with padding ``k - 1 - pad`` times the flipped kernel (``C > F``).

The unfolded matrix is ``kh kw`` times the input: writing it costs about as much memory traffic
as the GEMM reading it, which is why :mod:`dynconv.kernels.kn2row` exists. Kept as the textbook
baseline and for the notebook's comparison. The products run through NumPy's BLAS.
"""
from __future__ import annotations

import numpy as np

from dynconv.kernels import _loops

#: Target size of one chunk of unfolded columns: the batch is processed a few samples at a time
#: so that no batch-sized column matrix is ever allocated.
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


def forward(xp, w, Ho, Wo):
    """Eq 1 on the padded input ``xp``: ``y[chunk] = W @ im2col(xp[chunk])`` (no bias)."""
    N, C = xp.shape[:2]
    F, _, kh, kw = w.shape
    P = Ho * Wo
    w2 = w.reshape(F, -1)
    y = np.empty((N, F, Ho, Wo), dtype=xp.dtype)
    nb = chunk_size(N, (C * kh * kw + F) * P, xp.itemsize)
    cols_buf = np.empty(C * kh * kw * nb * P, dtype=xp.dtype)
    y_buf = np.empty(F * nb * P, dtype=xp.dtype)
    for n0 in range(0, N, nb):
        n1 = min(N, n0 + nb)
        cols = unfold(xp[n0:n1], kh, kw, 0, 0, cols_buf)
        y2 = np.matmul(w2, cols, out=y_buf[:F * (n1 - n0) * P].reshape(F, -1))
        _batch_major(y2, n1 - n0, y[n0:n1].reshape(n1 - n0, F, P))
    return y


def backward(dy, xp, w, pad, need_input_grad):
    """Eqs 3 and 2 chunk by chunk; ``xp`` (padded by ``pad``) is unfolded again, in cache.

    Returns ``(dw, dx)``, ``dx = None`` unless ``need_input_grad``.
    """
    N, C, Hp, Wp = xp.shape
    H, W = Hp - 2 * pad, Wp - 2 * pad
    F, _, kh, kw = w.shape
    Ho, Wo = dy.shape[2], dy.shape[3]
    P, CKK = Ho * Wo, C * kh * kw
    w2 = w.reshape(F, CKK)
    pointwise = kh == kw == 1 and pad == 0
    gather = need_input_grad and C > F and not pointwise
    per_sample = (CKK + F) * P + (F * kh * kw + C) * H * W
    nb = chunk_size(N, per_sample, xp.itemsize)
    cols_buf = np.empty(CKK * nb * P, dtype=xp.dtype)
    dy_buf = np.empty(F * nb * P, dtype=xp.dtype)
    dw2 = np.zeros((F, CKK), dtype=xp.dtype)
    dx = np.empty((N, C, H, W), dtype=xp.dtype) if need_input_grad else None
    if gather:
        w_flip = np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)).reshape(C, -1)
        dycols_buf = np.empty(F * kh * kw * nb * H * W, dtype=xp.dtype)
    for n0 in range(0, N, nb):
        n1 = min(N, n0 + nb)
        m = n1 - n0
        cols = unfold(xp[n0:n1], kh, kw, 0, 0, cols_buf)
        dy2 = dy_buf[:F * m * P].reshape(F, m, P)
        np.copyto(dy2, dy[n0:n1].reshape(m, F, P).transpose(1, 0, 2))
        dy2 = dy2.reshape(F, m * P)
        dw2 += dy2 @ cols.T
        if not need_input_grad:
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

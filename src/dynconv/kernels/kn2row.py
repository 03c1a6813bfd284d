r"""The shift-and-accumulate ("kn2row") algorithm, for static and per-sample kernels alike.

A :math:`k_h\times k_w` convolution is the sum of :math:`k_h k_w` 1×1 convolutions of shifted
inputs (derivation in :mod:`dynconv.kernels._kn2row` and notebook ``06_fast_convolution``). On
a flattened, zero-padded input each shifted input is a strided matrix BLAS reads in place, so
no unfolded (im2col) matrix is ever built. These helpers take arrays the wrappers in
``conv2d.py`` / ``dynamic.py`` have already validated, lay out the kernels, pick the blocking,
and call the numba loops with the kernels' BLAS serial (:func:`~dynconv.kernels._blas.serial_blas`).

Kernels are given 5-D, ``k`` (Nk, F, C, kh, kw): ``Nk = 1`` for a static layer (one kernel
shared by all samples), ``Nk = N`` for eq 5's per-sample kernels.
"""
from __future__ import annotations

import numpy as np

from dynconv.kernels import _kn2row, _loops
from dynconv.kernels._blas import get_threads, parallel, ranges, serial_blas

#: Smallest GEMM depth worth one BLAS call: with fewer input channels, this many channel-offset
#: pairs are stacked into one product (``g`` shifted copies; see ``_kn2row``).
MIN_DEPTH = 64
#: Bytes of per-block scratch (the wide output and the stacked input rows) a work item may use;
#: large images are cut into blocks of output rows that fit, so the GEMM operands stay in cache.
BLOCK_BYTES = 384 << 10


def group_size(C, kh, kw):
    """Kernel offsets per GEMM: 1 (no copy) once ``C >= MIN_DEPTH``, else enough to reach it."""
    return int(min(kh * kw, max(1, -(-MIN_DEPTH // C))))


def plan(N, C, F, Hp, Wp, Ho, Wo, kh, kw, itemsize, threads=None):
    """``(g, rows, items)``: offsets per GEMM, output rows per work item, work items."""
    threads = get_threads() if threads is None else threads
    g = group_size(C, kh, kw)
    per_row = (F + (g * C if g > 1 else 0)) * Wp * itemsize
    rows = int(max(1, min(Ho, BLOCK_BYTES // max(1, per_row))))
    if N < threads:  # split samples into row blocks so every thread has work
        rows = min(rows, max(1, -(-Ho * N // threads)))
    return g, rows, N * -(-Ho // rows)


def correlate(xp, k, bias, Ho, Wo):
    """``y[n, f] = bias[t, f] + sum_c k[t, f, c] ⋆ xp[n, c]`` (valid correlation, t = n % Nk).

    xp (N, C, Hp, Wp) C-contiguous; k (Nk, F, C, kh, kw); bias (Nk, F) or None.
    Returns y (N, F, Ho, Wo), every element written.
    """
    Nn, C, Hp, Wp = xp.shape
    nk, F, _, kh, kw = k.shape
    wt = np.ascontiguousarray(k.transpose(0, 1, 3, 4, 2)).reshape(nk, F, kh * kw * C)
    b = np.zeros((nk, F), xp.dtype) if bias is None else np.ascontiguousarray(bias, xp.dtype)
    g, rows, items = plan(Nn, C, F, Hp, Wp, Ho, Wo, kh, kw, xp.itemsize)
    y = np.empty((Nn, F, Ho, Wo), dtype=xp.dtype)
    with serial_blas():
        parallel(_kn2row.forward, items, xp, wt, b, kh, kw, g, rows, y)
    return y


#: With at most this many output channels a GEMM is a memory-bound matrix–vector product; the
#: input gradient of such a layer (few input channels, e.g. the 1-channel first layer) then runs
#: as the direct loops.
DIRECT_MAX_OUT = 4


def input_grad(dy, k, pad):
    """Eq 2 / eq 6: ``dx[n, c] = sum_f dy[n, f] * k[t, f, c]`` (full convolution), cropped by ``pad``.

    Computed as the valid correlation of ``dy`` zero-padded by ``k - 1 - pad`` with the kernel
    flipped in both axes and its channel axes swapped — the same loop as :func:`correlate`.
    For ``C <= DIRECT_MAX_OUT`` input channels, by the direct loops instead.
    """
    Nn, F, Ho, Wo = dy.shape
    C, kh, kw = k.shape[2], k.shape[3], k.shape[4]
    if C <= DIRECT_MAX_OUT:
        dxp = np.empty((Nn, C, Ho + kh - 1, Wo + kw - 1), dtype=dy.dtype)
        parallel(_loops.direct_backward_dx, Nn, dy, np.ascontiguousarray(k), dxp)
        H, W = Ho + kh - 1 - 2 * pad, Wo + kw - 1 - 2 * pad
        return np.ascontiguousarray(dxp[:, :, pad:pad + H, pad:pad + W])
    qh, qw = kh - 1 - pad, kw - 1 - pad
    dyp = np.zeros((Nn, F, Ho + 2 * qh, Wo + 2 * qw), dtype=dy.dtype)
    dyp[:, :, qh:qh + Ho, qw:qw + Wo] = dy
    flipped = k[:, :, :, ::-1, ::-1].transpose(0, 2, 1, 3, 4)  # (Nk, C, F, kh, kw)
    return correlate(dyp, flipped, None, Ho + 2 * qh - kh + 1, Wo + 2 * qw - kw + 1)


def weight_grad(dy, xp, kh, kw, per_sample):
    """Eq 3 (``per_sample=False``: dw (F, C, kh, kw), the batch sum) or eq 7 (dk (N, F, C, kh, kw)).

    ``dw[f, c, u, v] = sum_{n, r, s} dy[n, f, r, s] xp[n, c, r + u, s + v]``; the batch sum is
    split into one partial sum per parallel block, added at the end (no shared accumulator).
    """
    Nn, C, Hp, Wp = xp.shape
    F = dy.shape[1]
    g = group_size(C, kh, kw)
    q = Nn if per_sample else len(ranges(Nn))
    dwt = np.zeros((q, kh * kw * C, F), dtype=xp.dtype)
    with serial_blas():
        parallel(_kn2row.weight_grad, Nn, dy, xp, kh, kw, g, per_sample, dwt, index=True)
    dk = dwt.reshape(q, kh, kw, C, F).transpose(0, 4, 3, 1, 2)
    return np.ascontiguousarray(dk) if per_sample else dk.sum(axis=0)

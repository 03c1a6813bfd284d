"""The numba loops behind :mod:`dynconv.kernels`; never call these directly.

They trust their arguments completely (numba does not bounds-check): the wrappers in
``conv2d.py`` and ``dynamic.py`` validate shapes, dtypes and contiguity first.

Parallelism follows one rule: a work item owns what it writes. The direct loops take a range
of samples ``[n0, n1)``; :func:`dynconv.kernels._blas.parallel` runs disjoint ranges on its
threads (the loops release the GIL), and sample ``n`` owns ``y[n]``, ``dx[n]`` and ``dk[n]``, so
no two threads ever write the same element. ``im2col`` / ``col2im`` run serially on one chunk.
"""
from __future__ import annotations

import numba
import numpy as np


def _im2col(x, kh, kw, ph, pw, Ho, Wo, cols):
    """Unfold ``x`` (N, C, H, W) into ``cols`` (C*kh*kw, N, Ho*Wo), zero padding included.

    ``cols[(c*kh + u)*kw + v, n, r*Wo + s] = x_pad[n, c, r + u, s + v]`` where ``x_pad`` is
    ``x`` padded by ``ph`` rows and ``pw`` columns on each side.
    """
    N, C, H, W = x.shape
    for n in range(N):
        for c in range(C):
            for u in range(kh):
                for v in range(kw):
                    row = (c * kh + u) * kw + v
                    # Output columns s whose input column s + v - pw lies inside the image.
                    s0 = min(Wo, max(0, pw - v))
                    s1 = max(s0, min(Wo, W + pw - v))
                    for r in range(Ho):
                        i = r + u - ph
                        base = r * Wo
                        if i < 0 or i >= H:
                            for s in range(Wo):
                                cols[row, n, base + s] = 0
                        else:
                            for s in range(s0):
                                cols[row, n, base + s] = 0
                            for s in range(s0, s1):
                                cols[row, n, base + s] = x[n, c, i, s + v - pw]
                            for s in range(s1, Wo):
                                cols[row, n, base + s] = 0


def _col2im(dcols, kh, kw, ph, pw, Ho, Wo, dx):
    """Fold ``dcols`` (C*kh*kw, N, Ho*Wo) back into ``dx`` (N, C, H, W), summing overlaps.

    The adjoint of :func:`_im2col`: entries that fell on the zero padding are dropped.
    """
    N, C, H, W = dx.shape
    for n in range(N):
        for c in range(C):
            for i in range(H):
                for j in range(W):
                    dx[n, c, i, j] = 0
            for u in range(kh):
                for v in range(kw):
                    row = (c * kh + u) * kw + v
                    s0 = min(Wo, max(0, pw - v))
                    s1 = max(s0, min(Wo, W + pw - v))
                    for r in range(Ho):
                        i = r + u - ph
                        if i < 0 or i >= H:
                            continue
                        base = r * Wo
                        for s in range(s0, s1):
                            dx[n, c, i, s + v - pw] += dcols[row, n, base + s]


def _direct_forward(xp, k, b, y, n0, n1):
    """``y[n, f] = b[n, f] + sum_c corr(xp[n, c], k[n, f, c])`` on a pre-padded input, n0 <= n < n1.

    xp (N, C, Hp, Wp); k (Nk, F, C, kh, kw) and b (Nk, F) with Nk = N (per-sample kernels) or
    Nk = 1 (one static kernel shared by all samples); y (N, F, Ho, Wo).
    """
    C = xp.shape[1]
    F, kh, kw = k.shape[1], k.shape[3], k.shape[4]
    Ho, Wo = y.shape[2], y.shape[3]
    nk = k.shape[0]
    for n in range(n0, n1):
        t = n % nk
        for f in range(F):
            for r in range(Ho):
                for s in range(Wo):
                    y[n, f, r, s] = b[t, f]
            for c in range(C):
                for u in range(kh):
                    for v in range(kw):
                        kv = k[t, f, c, u, v]
                        for r in range(Ho):
                            for s in range(Wo):
                                y[n, f, r, s] += kv * xp[n, c, r + u, s + v]


def _direct_backward_dx(dy, k, dxp, n0, n1):
    """Eq 2/6: ``dxp[n, c] = sum_f full_conv(dy[n, f], k[n, f, c])`` on the padded grid, n0 <= n < n1.

    k (Nk, F, C, kh, kw) with Nk = N or 1, as in :func:`_direct_forward`.
    """
    C, Hp, Wp = dxp.shape[1], dxp.shape[2], dxp.shape[3]
    F, kh, kw = k.shape[1], k.shape[3], k.shape[4]
    Ho, Wo = dy.shape[2], dy.shape[3]
    nk = k.shape[0]
    for n in range(n0, n1):
        t = n % nk
        for c in range(C):
            for i in range(Hp):
                for j in range(Wp):
                    dxp[n, c, i, j] = 0
            for f in range(F):
                for u in range(kh):
                    for v in range(kw):
                        kv = k[t, f, c, u, v]
                        for r in range(Ho):
                            for s in range(Wo):
                                dxp[n, c, r + u, s + v] += kv * dy[n, f, r, s]


def _direct_backward_dk(dy, xp, dk, n0, n1):
    """Eq 7, per sample: ``dk[n, f, c, u, v] = sum_{r,s} dy[n, f, r, s] * xp[n, c, r+u, s+v]``.

    For n0 <= n < n1. The sum over ``s`` is kept as a row of partial sums so that the innermost
    loop is an element-wise multiply-add numba can vectorise (a scalar reduction would need
    fastmath).
    """
    C = xp.shape[1]
    F, kh, kw = dk.shape[1], dk.shape[3], dk.shape[4]
    Ho, Wo = dy.shape[2], dy.shape[3]
    for n in range(n0, n1):
        acc = np.empty((kh, kw, Wo), dtype=dy.dtype)
        for f in range(F):
            for c in range(C):
                acc[:] = 0
                for r in range(Ho):
                    for u in range(kh):
                        for v in range(kw):
                            for s in range(Wo):
                                acc[u, v, s] += dy[n, f, r, s] * xp[n, c, r + u, s + v]
                for u in range(kh):
                    for v in range(kw):
                        total = 0.0
                        for s in range(Wo):
                            total += acc[u, v, s]
                        dk[n, f, c, u, v] = total


def _pad_copy(x, pad, xp, n0, n1):
    """``xp[n] = x[n]`` zero-padded by ``pad`` on each spatial side, for samples ``[n0, n1)``.

    x (N, C, H, W) in any layout, xp (N, C, H + 2 pad, W + 2 pad) C-contiguous; every element of
    ``xp[n0:n1]`` is written once (the border rows and columns with 0).
    """
    C, H, W = x.shape[1], x.shape[2], x.shape[3]
    Wp = W + 2 * pad
    for n in range(n0, n1):
        for c in range(C):
            for i in range(pad):
                for j in range(Wp):
                    xp[n, c, i, j] = 0
                    xp[n, c, pad + H + i, j] = 0
            for i in range(H):
                for j in range(pad):
                    xp[n, c, pad + i, j] = 0
                    xp[n, c, pad + i, pad + W + j] = 0
                for j in range(W):
                    xp[n, c, pad + i, pad + j] = x[n, c, i, j]


_jit = numba.njit(cache=True, nogil=True)
# im2col/col2im run on small chunks between two multi-threaded BLAS calls, serially.
im2col = numba.njit(cache=True, nogil=True)(_im2col)
col2im = numba.njit(cache=True, nogil=True)(_col2im)
direct_forward = _jit(_direct_forward)
direct_backward_dx = _jit(_direct_backward_dx)
direct_backward_dk = _jit(_direct_backward_dk)
pad_copy = _jit(_pad_copy)

r"""Per-sample patch-matrix GEMM loops behind :mod:`dynconv.kernels.patch`; never call directly.

For one sample ``n`` of the zero-padded input ``xp`` (C, Hp, Wp), the patch matrix is

    P[(c kh + u) kw + v, r Wo + s] = xp[c, r + u, s + v]          (K x HW, K = C kh kw)

and eq 1 is one GEMM that writes the sample's output in place, already in (F, Ho Wo) order:

    y[n] = W2 @ P + b,      W2 = w.reshape(F, K)

For a 1×1 kernel without padding, ``P`` *is* ``xp[n]`` reshaped (C, HW): BLAS reads the input in
place and nothing is copied. Eq 3 is ``dw += dY[n] @ P^T`` and eq 2 is ``dP = W2^T @ dY[n]``,
folded back onto the padded grid (the adjoint of the unfold; again nothing for 1×1).

BLAS is column-major (see :mod:`dynconv.kernels._blas`): the row-major (F, HW) ``y[n]`` is the
column-major (HW x F) matrix ``Y^T = P^T W2^T``, so the calls below pass ``P`` (row-major K x HW
= column-major HW x K, ld HW) and ``W2`` (row-major F x K = column-major K x F, ld K) unmodified.

Parallelism: each call handles a range of samples ``[n0, n1)`` and owns what it writes: ``y[n]``,
``dxp[n]``, its own scratch and its own partial sum ``dwt[blk]`` of eq 3 (no shared accumulator).
"""
from __future__ import annotations

import numba
import numpy as np

from dynconv.kernels._blas import N, T, gemm


def _unfold(xf, base, C, Hp, Wp, kh, kw, Ho, Wo, buf):
    """Write sample ``xf[base:]`` (C, Hp, Wp) as its patch matrix into ``buf`` (C kh kw, Ho Wo)."""
    P = Ho * Wo
    for c in range(C):
        for u in range(kh):
            for v in range(kw):
                dst = ((c * kh + u) * kw + v) * P
                for r in range(Ho):
                    src = base + (c * Hp + r + u) * Wp + v
                    for s in range(Wo):
                        buf[dst + r * Wo + s] = xf[src + s]


def _fold(buf, C, Hp, Wp, kh, kw, Ho, Wo, dxf, base):
    """Adjoint of :func:`_unfold`: sum ``buf`` (C kh kw, Ho Wo) onto the zeroed ``dxf[base:]``."""
    P = Ho * Wo
    for i in range(C * Hp * Wp):
        dxf[base + i] = 0
    for c in range(C):
        for u in range(kh):
            for v in range(kw):
                src = ((c * kh + u) * kw + v) * P
                for r in range(Ho):
                    dst = base + (c * Hp + r + u) * Wp + v
                    for s in range(Wo):
                        dxf[dst + s] += buf[src + r * Wo + s]


def _forward(xp, w2, bias, kh, kw, y, n0, n1):
    """Eq 1 for samples ``[n0, n1)``: ``y[n] = w2 @ P_n + bias`` (y (N, F, Ho, Wo), bias (F,))."""
    C, Hp, Wp = xp.shape[1], xp.shape[2], xp.shape[3]
    F, K = w2.shape
    Ho, Wo = y.shape[2], y.shape[3]
    P = Ho * Wo
    xf, wf, yf = xp.reshape(-1), w2.reshape(-1), y.reshape(-1)
    direct = kh == 1 and kw == 1 and Hp == Ho and Wp == Wo
    if n1 > n0:
        buf = np.empty(1 if direct else K * P, dtype=xp.dtype)
        scr = np.empty(8, dtype=np.int32)
        ab = np.empty(2, dtype=xp.dtype)
        for n in range(n0, n1):
            for f in range(F):
                for p in range(P):
                    yf[(n * F + f) * P + p] = bias[f]
            if direct:
                gemm(N, N, P, F, K, xf, n * C * P, P, wf, 0, K, yf, n * F * P, P, 1.0, scr, ab)
            else:
                _unfold(xf, n * C * Hp * Wp, C, Hp, Wp, kh, kw, Ho, Wo, buf)
                gemm(N, N, P, F, K, buf, 0, P, wf, 0, K, yf, n * F * P, P, 1.0, scr, ab)


def _weight_grad(dy, xp, kh, kw, dwt, blk, n0, n1):
    """Eq 3, this range's partial sum: ``dwt[blk] = sum_{n0 <= n < n1} dy[n] @ P_n^T`` (F, K)."""
    C, Hp, Wp = xp.shape[1], xp.shape[2], xp.shape[3]
    F, Ho, Wo = dy.shape[1], dy.shape[2], dy.shape[3]
    K = dwt.shape[2]
    P = Ho * Wo
    xf, df, dwf = xp.reshape(-1), dy.reshape(-1), dwt.reshape(-1)
    direct = kh == 1 and kw == 1 and Hp == Ho and Wp == Wo
    if n1 > n0:
        buf = np.empty(1 if direct else K * P, dtype=xp.dtype)
        scr = np.empty(8, dtype=np.int32)
        ab = np.empty(2, dtype=xp.dtype)
        for n in range(n0, n1):
            beta = 0.0 if n == n0 else 1.0
            if direct:
                gemm(T, N, K, F, P, xf, n * C * P, P, df, n * F * P, P, dwf, blk * F * K, K,
                     beta, scr, ab)
            else:
                _unfold(xf, n * C * Hp * Wp, C, Hp, Wp, kh, kw, Ho, Wo, buf)
                gemm(T, N, K, F, P, buf, 0, P, df, n * F * P, P, dwf, blk * F * K, K,
                     beta, scr, ab)


def _input_grad(dy, w2, kh, kw, dxp, n0, n1):
    """Eq 2 on the padded grid for samples ``[n0, n1)``: ``dxp[n] = fold(w2^T @ dy[n])``."""
    C, Hp, Wp = dxp.shape[1], dxp.shape[2], dxp.shape[3]
    F, Ho, Wo = dy.shape[1], dy.shape[2], dy.shape[3]
    K = w2.shape[1]
    P = Ho * Wo
    df, wf, dxf = dy.reshape(-1), w2.reshape(-1), dxp.reshape(-1)
    direct = kh == 1 and kw == 1 and Hp == Ho and Wp == Wo
    if n1 > n0:
        buf = np.empty(1 if direct else K * P, dtype=dy.dtype)
        scr = np.empty(8, dtype=np.int32)
        ab = np.empty(2, dtype=dy.dtype)
        for n in range(n0, n1):
            if direct:
                gemm(N, T, P, K, F, df, n * F * P, P, wf, 0, K, dxf, n * C * P, P, 0.0, scr, ab)
            else:
                gemm(N, T, P, K, F, df, n * F * P, P, wf, 0, K, buf, 0, P, 0.0, scr, ab)
                _fold(buf, C, Hp, Wp, kh, kw, Ho, Wo, dxf, n * C * Hp * Wp)


_jit = numba.njit(cache=True, nogil=True)
if not numba.config.DISABLE_JIT:
    _unfold = numba.njit(cache=True, nogil=True, inline="always")(_unfold)
    _fold = numba.njit(cache=True, nogil=True, inline="always")(_fold)
forward = _jit(_forward)
weight_grad = _jit(_weight_grad)
input_grad = _jit(_input_grad)

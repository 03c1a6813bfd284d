r"""Shift-and-accumulate GEMM ("kn2row") loops behind :mod:`dynconv.kernels`; never call directly.

Index algebra (eq 1, one sample, zero-padded input ``xp`` of width ``Wp``)::

    y[f, r, s] = sum_{u, v} sum_c w[f, c, u, v] * xp[c, r + u, s + v]

Flatten each padded channel: ``xp[c, i, j] = X[c, i * Wp + j]``, and put output pixel
``(r, s)`` at the *wide* position ``p = r * Wp + s``. Then ``xp[c, r + u, s + v] = X[c, p + o]``
with ``o = u * Wp + v``, so for each kernel offset ``(u, v)``::

    Y[f, p] += sum_c W_uv[f, c] * X[c, p + o]        for p in [0, L),  L = (Ho - 1) Wp + Wo

a 1×1 convolution — one GEMM of ``W_uv`` (F, C) with the *shifted* matrix ``X[:, o : o + L]``,
which is a plain strided view of the input: BLAS reads it in place, nothing is unfolded.
Wide positions with ``s >= Wo`` wrap into the next row and are cropped at the end (the price:
``Wp / Wo`` more multiply-adds). When C is small (the 1-channel first layer) ``g`` offsets are
stacked into one GEMM of depth ``g C`` by copying ``g`` shifted rows into a small buffer — at
``g = kh kw`` that is im2col of one row block, sized to stay in cache.

The same loop gives eq 2 (the full correlation of the padded ``dy`` with the flipped, transposed
kernel) and, with the roles of the operands exchanged, eq 3 / eq 7::

    dW_uv[f, c] = sum_p dY[f, p] * X[c, p + o]         (dY zero at the wrapped positions)

Parallelism: each call handles a contiguous range of work items (a sample, or a block of output
rows of one sample) and releases the GIL; :func:`dynconv.kernels._blas.parallel` runs disjoint
ranges on its threads. A range owns its outputs and its scratch; BLAS inside runs serial.
"""
from __future__ import annotations

import numba
import numpy as np

from dynconv.kernels._blas import N, T, gemm


def _forward(xp, wt, bias, kh, kw, g, rows, y, i0, i1):
    """``y[n, f, r, s] = bias[t, f] + sum_{u,v,c} wt[t, f, (u kw + v) C + c] xp[n, c, r+u, s+v]``.

    xp (N, C, Hp, Wp) and wt (Nk, F, kh*kw*C) C-contiguous, ``t = n % Nk`` (Nk = 1: one static
    kernel; Nk = N: per-sample kernels); bias (Nk, F); y (N, F, Ho, Wo). Work items ``[i0, i1)``,
    item = (sample, block of ``rows`` output rows); ``g`` offsets per GEMM.
    """
    C, Hp, Wp = xp.shape[1], xp.shape[2], xp.shape[3]
    nk, F, KK = wt.shape
    Ho, Wo = y.shape[2], y.shape[3]
    nrb = (Ho + rows - 1) // rows
    Lmax = (rows - 1) * Wp + Wo
    xf = xp.reshape(-1)
    wf = wt.reshape(-1)
    noff = kh * kw
    if i1 > i0:
        yw = np.empty(F * Lmax, dtype=xp.dtype)
        buf = np.empty(g * C * Lmax if g > 1 else 1, dtype=xp.dtype)
        scr = np.empty(8, dtype=np.int32)
        ab = np.empty(2, dtype=xp.dtype)
        for item in range(i0, i1):
            n = item // nrb
            r0 = (item - n * nrb) * rows
            r1 = min(Ho, r0 + rows)
            L = (r1 - r0 - 1) * Wp + Wo
            xbase = n * C * Hp * Wp + r0 * Wp
            t = n % nk
            for o0 in range(0, noff, g):
                o1 = min(noff, o0 + g)
                beta = 0.0 if o0 == 0 else 1.0
                if g == 1:
                    u = o0 // kw
                    gemm(T, T, F, L, C, wf, t * F * KK + o0 * C, KK,
                         xf, xbase + u * Wp + (o0 - u * kw), Hp * Wp, yw, 0, F, beta, scr, ab)
                else:
                    for j in range(o1 - o0):
                        u = (o0 + j) // kw
                        src = xbase + u * Wp + (o0 + j - u * kw)
                        for c in range(C):
                            dst = (j * C + c) * L
                            s0 = src + c * Hp * Wp
                            for p in range(L):
                                buf[dst + p] = xf[s0 + p]
                    gemm(T, T, F, L, (o1 - o0) * C, wf, t * F * KK + o0 * C, KK,
                         buf, 0, L, yw, 0, F, beta, scr, ab)
            for f in range(F):
                bf = bias[t, f]
                for r in range(r1 - r0):
                    for s in range(Wo):
                        y[n, f, r0 + r, s] = yw[(r * Wp + s) * F + f] + bf


def _weight_grad(dy, xp, kh, kw, g, per_sample, dwt, blk, n0, n1):
    """``dwt[q, (u kw + v) C + c, f] = sum_{n, r, s} dy[n, f, r, s] xp[n, c, r+u, s+v]``, n0 <= n < n1.

    per_sample: ``q = n`` (eq 7, one gradient per sample, dwt (N, KK, F)); else ``q = blk``, this
    range's partial sum of eq 3's batch sum (dwt (blocks, KK, F)). dy (N, F, Ho, Wo), xp
    (N, C, Hp, Wp), both C-contiguous.
    """
    C, Hp, Wp = xp.shape[1], xp.shape[2], xp.shape[3]
    F, Ho, Wo = dy.shape[1], dy.shape[2], dy.shape[3]
    KK = kh * kw * C
    L = (Ho - 1) * Wp + Wo
    xf = xp.reshape(-1)
    df = dwt.reshape(-1)
    noff = kh * kw
    if n1 > n0:
        dyw = np.zeros(F * L, dtype=xp.dtype)
        buf = np.empty(g * C * L if g > 1 else 1, dtype=xp.dtype)
        scr = np.empty(8, dtype=np.int32)
        ab = np.empty(2, dtype=xp.dtype)
        for n in range(n0, n1):
            for f in range(F):  # dY on the wide grid; the wrapped positions stay zero
                for r in range(Ho):
                    for s in range(Wo):
                        dyw[f * L + r * Wp + s] = dy[n, f, r, s]
            q = n if per_sample else blk
            first = per_sample or n == n0
            xbase = n * C * Hp * Wp
            for o0 in range(0, noff, g):
                o1 = min(noff, o0 + g)
                beta = 0.0 if first else 1.0
                if g == 1:
                    u = o0 // kw
                    gemm(T, N, F, C, L, dyw, 0, L, xf, xbase + u * Wp + (o0 - u * kw), Hp * Wp,
                         df, (q * KK + o0 * C) * F, F, beta, scr, ab)
                else:
                    for j in range(o1 - o0):
                        u = (o0 + j) // kw
                        src = xbase + u * Wp + (o0 + j - u * kw)
                        for c in range(C):
                            dst = (j * C + c) * L
                            s0 = src + c * Hp * Wp
                            for p in range(L):
                                buf[dst + p] = xf[s0 + p]
                    gemm(T, N, F, (o1 - o0) * C, L, dyw, 0, L, buf, 0, L,
                         df, (q * KK + o0 * C) * F, F, beta, scr, ab)


_jit = numba.njit(cache=True, nogil=True)
forward = _jit(_forward)
weight_grad = _jit(_weight_grad)

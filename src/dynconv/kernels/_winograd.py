r"""Winograd F(2×2, r×r) loops behind :mod:`dynconv.kernels.winograd`; never call directly.

A block of ``S`` samples has ``T = S th tw`` tiles, tile ``t = (n - s0) th tw + i tw + j`` covering
output rows ``2i, 2i + 1`` and columns ``2j, 2j + 1``. The block's transformed arrays are flat
scratch laid out ``(α_h α_w, channels, T)`` — point ``ξ = a α_w + b`` outermost, so ``X[ξ]`` is a
row-major (channels, T) matrix and one GEMM per point covers the block:

* ``V[ξ, c, t]`` = ``(B^T d B)[a, b]`` of the input tile (channels C);
* ``M[ξ, f, t]`` = ``Σ_c U[ξ, f, c] V[ξ, c, t]`` and ``dM[ξ, f, t]`` = ``(A dy A^T)[a, b]`` (F);
* ``E[ξ, c, t]`` = ``Σ_f U[ξ, f, c] dM[ξ, f, t]`` (C).

Each transform is two passes of a 1-D transform (over the tile rows, then the tile columns) with
the innermost loop running along the tiles of a row — contiguous in the scratch, so it vectorises
— and the zero coefficients of the matrices skipped. The loops take validated, C-contiguous
arrays; a range ``[n0, n1)`` of samples owns its scratch, its outputs and (backward) its slice
``du[blk]`` of the kernel-gradient partial sums. BLAS inside runs serial.
"""
from __future__ import annotations

import numba
import numpy as np

from dynconv.kernels._blas import N, T, gemm

_jit = numba.njit(cache=True, nogil=True)


@_jit
def input_transform(xp, n, c, bth, btw, th, tw, z, v, vo, ld):
    """``v[vo + ξ ld + i tw + j] = (B^T d B)[a, b]`` for every tile of ``xp[n, c]`` (zero beyond it).

    z: scratch (α_h, 2 tw + α_w - 2), the row-transformed strip of one tile row.
    """
    Hp, Wp = xp.shape[2], xp.shape[3]
    ah, aw = bth.shape[0], btw.shape[0]
    for i in range(th):
        for a in range(ah):
            z[a, :] = 0.0
            for k in range(ah):
                coef = bth[a, k]
                if coef != 0.0 and 2 * i + k < Hp:
                    for col in range(Wp):
                        z[a, col] += coef * xp[n, c, 2 * i + k, col]
        for a in range(ah):
            for b in range(aw):
                o = vo + (a * aw + b) * ld + i * tw
                for j in range(tw):
                    v[o + j] = 0.0
                for l in range(aw):
                    coef = btw[b, l]
                    if coef != 0.0:
                        for j in range(tw):
                            v[o + j] += coef * z[a, 2 * j + l]


@_jit
def output_transform(m, mo, ld, ath, atw, th, tw, bias, y, n, f, p, q):
    """``y[n, f, 2i + a', 2j + b'] = bias + (A^T M A)[a', b']``, the tiles' rows and columns
    beyond the output dropped. p: scratch (α_h, 2, tw); q: (tw,)."""
    Ho, Wo = y.shape[2], y.shape[3]
    ah, aw = ath.shape[1], atw.shape[1]
    for i in range(th):
        for a in range(ah):
            for bb in range(2):
                p[a, bb, :] = 0.0
                for b in range(aw):
                    coef = atw[bb, b]
                    if coef != 0.0:
                        o = mo + (a * aw + b) * ld + i * tw
                        for j in range(tw):
                            p[a, bb, j] += coef * m[o + j]
        for aa in range(2):
            r = 2 * i + aa
            if r < Ho:
                for bb in range(2):
                    q[:] = bias
                    for a in range(ah):
                        coef = ath[aa, a]
                        if coef != 0.0:
                            for j in range(tw):
                                q[j] += coef * p[a, bb, j]
                    for j in range(tw):
                        if 2 * j + bb < Wo:
                            y[n, f, r, 2 * j + bb] = q[j]


@_jit
def dy_transform(dy, n, f, ath, atw, th, tw, p, q, dm, mo, ld):
    """``dm[mo + ξ ld + i tw + j] = (A dy A^T)[a, b]`` of each 2×2 tile of ``dy[n, f]`` (the adjoint
    of :func:`output_transform`; positions beyond the output count as zero)."""
    Ho, Wo = dy.shape[2], dy.shape[3]
    ah, aw = ath.shape[1], atw.shape[1]
    for i in range(th):
        p[:, :, :] = 0.0
        for aa in range(2):
            r = 2 * i + aa
            if r < Ho:
                for bb in range(2):
                    for j in range(tw):
                        q[j] = dy[n, f, r, 2 * j + bb] if 2 * j + bb < Wo else 0.0
                    for a in range(ah):
                        coef = ath[aa, a]
                        if coef != 0.0:
                            for j in range(tw):
                                p[a, bb, j] += coef * q[j]
        for a in range(ah):
            for b in range(aw):
                o = mo + (a * aw + b) * ld + i * tw
                for j in range(tw):
                    dm[o + j] = 0.0
                for bb in range(2):
                    coef = atw[bb, b]
                    if coef != 0.0:
                        for j in range(tw):
                            dm[o + j] += coef * p[a, bb, j]


@_jit
def input_scatter(e, eo, ld, bth, btw, th, tw, s, plane):
    """``plane = Σ_tiles B E B^T`` placed at each tile's input rows and columns (the adjoint of
    :func:`input_transform`). The overlapping adds are serial: one plane per call.

    s: scratch (α_h, 2 tw + α_w - 2); plane: (2 th + α_h - 2, 2 tw + α_w - 2), overwritten.
    """
    ah, aw = bth.shape[0], btw.shape[0]
    plane[:, :] = 0.0
    for i in range(th):
        for a in range(ah):
            s[a, :] = 0.0
            for b in range(aw):
                o = eo + (a * aw + b) * ld + i * tw
                for l in range(aw):
                    coef = btw[b, l]
                    if coef != 0.0:
                        for j in range(tw):
                            s[a, 2 * j + l] += coef * e[o + j]
        for k in range(ah):
            for a in range(ah):
                coef = bth[a, k]
                if coef != 0.0:
                    for col in range(plane.shape[1]):
                        plane[2 * i + k, col] += coef * s[a, col]


def _forward(xp, u, bias, bth, btw, ath, atw, nb, y, n0, n1):
    """Eq 1 for samples ``[n0, n1)``, ``nb`` samples per block: V, 36 GEMMs, output transform.

    xp (N, C, Hp, Wp); u (α_h α_w, F, C); bias (F,); y (N, F, Ho, Wo), every element written.
    """
    C = xp.shape[1]
    nxi, F = u.shape[0], u.shape[1]
    Ho, Wo = y.shape[2], y.shape[3]
    th, tw = (Ho + 1) // 2, (Wo + 1) // 2
    tps = th * tw
    ah, aw = bth.shape[0], btw.shape[0]
    uf = u.reshape(-1)
    if n1 > n0:
        v = np.empty(nxi * C * nb * tps, dtype=xp.dtype)
        m = np.empty(nxi * F * nb * tps, dtype=xp.dtype)
        z = np.empty((ah, 2 * tw + aw - 2), dtype=xp.dtype)
        p = np.empty((ah, 2, tw), dtype=xp.dtype)
        q = np.empty(tw, dtype=xp.dtype)
        scr = np.empty(8, dtype=np.int32)
        ab = np.empty(2, dtype=xp.dtype)
        for s0 in range(n0, n1, nb):
            s1 = min(n1, s0 + nb)
            tc = (s1 - s0) * tps
            for n in range(s0, s1):
                for c in range(C):
                    input_transform(xp, n, c, bth, btw, th, tw, z, v, c * tc + (n - s0) * tps, C * tc)
            for xi in range(nxi):  # M[xi] (F, tc) = U[xi] (F, C) @ V[xi] (C, tc)
                gemm(N, N, tc, F, C, v, xi * C * tc, tc, uf, xi * F * C, C, m, xi * F * tc, tc,
                     0.0, scr, ab)
            for n in range(s0, s1):
                for f in range(F):
                    output_transform(m, f * tc + (n - s0) * tps, F * tc, ath, atw, th, tw,
                                     bias[f], y, n, f, p, q)


def _backward(dy, xp, u, bth, btw, ath, atw, nb, need_dx, pad, du, dx, blk, n0, n1):
    """Eqs 3 and 2 for samples ``[n0, n1)``: ``du[blk, ξ] = Σ dM[ξ] V[ξ]^T`` and, with ``need_dx``,
    ``dx[n]`` from ``E[ξ] = U[ξ]^T dM[ξ]`` scattered back and cropped by ``pad``.

    dy (N, F, Ho, Wo); xp (N, C, Hp, Wp); u (α_h α_w, F, C); du (ranges, α_h α_w, F, C);
    dx (N, C, Hp - 2 pad, Wp - 2 pad), fully written (ignored without ``need_dx``).
    """
    C = xp.shape[1]
    nxi, F = u.shape[0], u.shape[1]
    Ho, Wo = dy.shape[2], dy.shape[3]
    th, tw = (Ho + 1) // 2, (Wo + 1) // 2
    tps = th * tw
    ah, aw = bth.shape[0], btw.shape[0]
    uf, duf = u.reshape(-1), du.reshape(-1)
    if n1 > n0:
        v = np.empty(nxi * C * nb * tps, dtype=xp.dtype)
        dm = np.empty(nxi * F * nb * tps, dtype=xp.dtype)
        e = np.empty(nxi * C * nb * tps if need_dx else 1, dtype=xp.dtype)
        z = np.empty((ah, 2 * tw + aw - 2), dtype=xp.dtype)
        p = np.empty((ah, 2, tw), dtype=xp.dtype)
        q = np.empty(tw, dtype=xp.dtype)
        plane = np.empty((2 * th + ah - 2, 2 * tw + aw - 2), dtype=xp.dtype)
        scr = np.empty(8, dtype=np.int32)
        ab = np.empty(2, dtype=xp.dtype)
        for s0 in range(n0, n1, nb):
            s1 = min(n1, s0 + nb)
            tc = (s1 - s0) * tps
            for n in range(s0, s1):
                for f in range(F):
                    dy_transform(dy, n, f, ath, atw, th, tw, p, q, dm, f * tc + (n - s0) * tps, F * tc)
                for c in range(C):
                    input_transform(xp, n, c, bth, btw, th, tw, z, v, c * tc + (n - s0) * tps, C * tc)
            beta = 0.0 if s0 == n0 else 1.0
            for xi in range(nxi):  # dU[xi] (F, C) += dM[xi] (F, tc) @ V[xi]^T (tc, C)
                gemm(T, N, C, F, tc, v, xi * C * tc, tc, dm, xi * F * tc, tc,
                     duf, (blk * nxi + xi) * F * C, C, beta, scr, ab)
            if need_dx:
                for xi in range(nxi):  # E[xi] (C, tc) = U[xi]^T (C, F) @ dM[xi] (F, tc)
                    gemm(N, T, tc, C, F, dm, xi * F * tc, tc, uf, xi * F * C, C, e, xi * C * tc, tc,
                         0.0, scr, ab)
                for n in range(s0, s1):
                    for c in range(C):
                        input_scatter(e, c * tc + (n - s0) * tps, C * tc, bth, btw, th, tw, z, plane)
                        dx[n, c, :, :] = plane[pad:pad + dx.shape[2], pad:pad + dx.shape[3]]


forward = _jit(_forward)
backward = _jit(_backward)

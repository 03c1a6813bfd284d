r"""Winograd F(2×2, r×r) loops behind :mod:`dynconv.kernels.winograd`; never call directly.

Layout: samples innermost
-------------------------
A block of ``S`` samples (``S <= nb``) is first copied by :func:`gather` with the even and the
odd columns apart and the samples innermost, ``xb[c, r, (col % 2) half S + (col // 2) S + s] =
xp[s0 + s, c, r, col]`` (zero beyond the input, up to the tiles' extent). Then column ``2j + l``
of tile column ``j`` is, over all ``(j, s)``, one contiguous run of ``tw S`` values, and every
loop of the transforms runs over such a run and vectorises — the 2×2 tiles of one image row
alone are too few (11 for a 21-wide output) to fill vector registers.
Tile ``(i, j)`` of sample ``s`` is column ``t = (i tw + j) S + s`` of the block's ``T = th tw S``
tiles. The block's transformed arrays are flat scratch laid out ``(α_h α_w, channels, T)`` —
point ``ξ = a α_w + b`` outermost, so ``X[ξ]`` is a row-major (channels, T) matrix and one GEMM
per point covers the block:

* ``V[ξ, c, t]`` = ``(B^T d B)[a, b]`` of the input tile (channels C);
* ``M[ξ, f, t]`` = ``Σ_c U[ξ, f, c] V[ξ, c, t]`` and ``dM[ξ, f, t]`` = ``(A dy A^T)[a, b]`` (F);
* ``E[ξ, c, t]`` = ``Σ_f U[ξ, f, c] dM[ξ, f, t]`` (C).

Each transform is two passes of a 1-D transform (over the tile rows, then the tile columns),
the zero coefficients of the matrices skipped. The loops take validated, C-contiguous arrays; a
range ``[n0, n1)`` of samples owns its scratch, its outputs and (backward) its slice ``du[blk]``
of the kernel-gradient partial sums. BLAS inside runs serial.
"""
from __future__ import annotations

import numba
import numpy as np

from dynconv.kernels._blas import N, T, gemm

_jit = numba.njit(cache=True, nogil=True)


@_jit
def gather(a, s0, S, half, out):
    """``out[c, r, (col % 2) half S + (col // 2) S + s] = a[s0 + s, c, r, col]`` (even and odd
    columns apart, samples innermost) for ``col < 2 half``, zero beyond ``a``.

    a (N, C, H, W); out (C, R, >= 2 half S) with R >= H, 2 half >= W.
    """
    H, W = a.shape[2], a.shape[3]
    for c in range(a.shape[1]):
        for r in range(out.shape[1]):
            out[c, r, :2 * half * S] = 0.0
            if r < H:
                for col in range(W):
                    o = (col % 2) * half * S + (col // 2) * S
                    for s in range(S):
                        out[c, r, o + s] = a[s0 + s, c, r, col]


@_jit
def input_transform(xb, c, bth, btw, th, tw, S, z, acc, v, vo, ld):
    """``v[vo + ξ ld + (i tw + j) S + s] = (B^T d B)[a, b]`` for every tile of channel ``c``.

    xb (C, 2 th + α_h - 2, >= 2 half S): the block as :func:`gather` lays it out, ``half =
    ceil((2 tw + α_w - 2) / 2)``; z: scratch (α_h, >= 2 half S), the rows of one tile row transformed; acc: scratch (>= tw S,).
    """
    ah, aw = bth.shape[0], btw.shape[0]
    half = (2 * tw + aw - 1) // 2
    width = 2 * half * S
    for i in range(th):
        for a in range(ah):
            z[a, :width] = 0.0
            for k in range(ah):
                coef = bth[a, k]
                if coef != 0.0:
                    zr, xr = z[a], xb[c, 2 * i + k]
                    for q in range(width):
                        zr[q] += coef * xr[q]
        for a in range(ah):
            for b in range(aw):
                acc[:tw * S] = 0.0  # in L1: v, far larger than the caches, is written once
                for l in range(aw):
                    coef = btw[b, l]
                    if coef != 0.0:
                        o = (l % 2) * half * S + (l // 2) * S  # column 2j + l, contiguous in (j, s)
                        zr = z[a, o:o + tw * S]  # views: numba vectorises only plain indices
                        for js in range(tw * S):
                            acc[js] += coef * zr[js]
                o = vo + (a * aw + b) * ld + i * tw * S
                vr = v[o:o + tw * S]
                for js in range(tw * S):  # a loop, not a slice copy (numba would allocate)
                    vr[js] = acc[js]


@_jit
def output_transform(m, mo, ld, ath, atw, th, tw, S, bias, y, s0, f, p, q):
    """``y[s0 + s, f, 2i + a', 2j + b'] = bias + (A^T M A)[a', b']``, the tiles' rows and columns
    beyond the output dropped. p: scratch (α_h, 2, >= tw S); q: (>= tw S,)."""
    Ho, Wo = y.shape[2], y.shape[3]
    ah, aw = ath.shape[1], atw.shape[1]
    L = tw * S
    for i in range(th):
        for a in range(ah):
            for bb in range(2):
                p[a, bb, :L] = 0.0
                for b in range(aw):
                    coef = atw[bb, b]
                    if coef != 0.0:
                        o = mo + (a * aw + b) * ld + i * L
                        pr, mr = p[a, bb], m[o:o + L]
                        for js in range(L):
                            pr[js] += coef * mr[js]
        for aa in range(2):
            if 2 * i + aa < Ho:
                for bb in range(2):
                    q[:L] = bias
                    for a in range(ah):
                        coef = ath[aa, a]
                        if coef != 0.0:
                            pr = p[a, bb]
                            for js in range(L):
                                q[js] += coef * pr[js]
                    for j in range(tw):
                        if 2 * j + bb < Wo:
                            for s in range(S):
                                y[s0 + s, f, 2 * i + aa, 2 * j + bb] = q[j * S + s]


@_jit
def dy_transform(dyb, f, ath, atw, th, tw, S, p, acc, dm, mo, ld):
    """``dm[mo + ξ ld + (i tw + j) S + s] = (A dy A^T)[a, b]`` of each 2×2 tile of ``dy[., f]``
    (the adjoint of :func:`output_transform`). dyb (F, 2 th, >= 2 tw S): ``dy`` gathered by
    :func:`gather` with ``half = tw``, zero beyond the output; p: scratch (α_h, 2, >= tw S); acc: (>= tw S,)."""
    ah, aw = ath.shape[1], atw.shape[1]
    L = tw * S
    for i in range(th):
        p[:, :, :L] = 0.0
        for aa in range(2):
            for bb in range(2):
                for a in range(ah):
                    coef = ath[aa, a]
                    if coef != 0.0:
                        pr, dr = p[a, bb], dyb[f, 2 * i + aa, bb * L:(bb + 1) * L]
                        for js in range(L):
                            pr[js] += coef * dr[js]
        for a in range(ah):
            for b in range(aw):
                acc[:L] = 0.0  # in L1: dm is written once
                for bb in range(2):
                    coef = atw[bb, b]
                    if coef != 0.0:
                        pr = p[a, bb]
                        for js in range(L):
                            acc[js] += coef * pr[js]
                o = mo + (a * aw + b) * ld + i * L
                dr = dm[o:o + L]
                for js in range(L):
                    dr[js] = acc[js]


@_jit
def input_scatter(e, eo, ld, bth, btw, th, tw, S, z, plane):
    """``plane = Σ_tiles B E B^T``, each tile added at its input rows and columns (the adjoint of
    :func:`input_transform`), samples innermost. The overlapping adds are serial.

    z: scratch (α_h, >= 2 half S); plane (2 th + α_h - 2, >= 2 half S), columns laid out as
    :func:`gather` does, ``half = ceil((2 tw + α_w - 2) / 2)``.
    """
    ah, aw = bth.shape[0], btw.shape[0]
    half = (2 * tw + aw - 1) // 2
    width = 2 * half * S
    plane[:, :width] = 0.0
    for i in range(th):
        for a in range(ah):
            z[a, :width] = 0.0
            for b in range(aw):
                o = eo + (a * aw + b) * ld + i * tw * S
                for l in range(aw):
                    coef = btw[b, l]
                    if coef != 0.0:
                        oz = (l % 2) * half * S + (l // 2) * S
                        zr, er = z[a, oz:oz + tw * S], e[o:o + tw * S]
                        for js in range(tw * S):
                            zr[js] += coef * er[js]
        for k in range(ah):
            for a in range(ah):
                coef = bth[a, k]
                if coef != 0.0:
                    pr, zr = plane[2 * i + k], z[a]
                    for q in range(width):
                        pr[q] += coef * zr[q]


def _forward(xp, u, bias, bth, btw, ath, atw, nb, y, n0, n1):
    """Eq 1 for samples ``[n0, n1)``, ``nb`` samples per block: V, one GEMM per point, A^T M A.

    xp (N, C, Hp, Wp); u (α_h α_w, F, C); bias (F,); y (N, F, Ho, Wo), every element written.
    """
    C = xp.shape[1]
    nxi, F = u.shape[0], u.shape[1]
    th, tw = (y.shape[2] + 1) // 2, (y.shape[3] + 1) // 2
    ah, aw = bth.shape[0], btw.shape[0]
    half = (2 * tw + aw - 1) // 2
    uf = u.reshape(-1)
    if n1 > n0:
        xb = np.empty((C, 2 * th + ah - 2, 2 * half * nb), dtype=xp.dtype)
        v = np.empty(nxi * C * th * tw * nb, dtype=xp.dtype)
        m = np.empty(nxi * F * th * tw * nb, dtype=xp.dtype)
        z = np.empty((ah, 2 * half * nb), dtype=xp.dtype)
        p = np.empty((ah, 2, tw * nb), dtype=xp.dtype)
        q = np.empty(tw * nb, dtype=xp.dtype)
        scr = np.empty(8, dtype=np.int32)
        ab = np.empty(2, dtype=xp.dtype)
        for s0 in range(n0, n1, nb):
            S = min(n1, s0 + nb) - s0
            tc = th * tw * S
            gather(xp, s0, S, half, xb)
            for c in range(C):
                input_transform(xb, c, bth, btw, th, tw, S, z, q, v, c * tc, C * tc)
            for xi in range(nxi):  # M[xi] (F, tc) = U[xi] (F, C) @ V[xi] (C, tc)
                gemm(N, N, tc, F, C, v, xi * C * tc, tc, uf, xi * F * C, C, m, xi * F * tc, tc,
                     0.0, scr, ab)
            for f in range(F):
                output_transform(m, f * tc, F * tc, ath, atw, th, tw, S, bias[f], y, s0, f, p, q)


def _backward(dy, xp, u, bth, btw, ath, atw, nb, need_input_grad, pad, du, dx, blk, n0, n1):
    """Eqs 3 and 2 for samples ``[n0, n1)``: ``du[blk, ξ] = Σ dM[ξ] V[ξ]^T`` and, with
    ``need_input_grad``, ``dx[n]`` from ``E[ξ] = U[ξ]^T dM[ξ]`` scattered back and cropped by ``pad``.

    dy (N, F, Ho, Wo); xp (N, C, Hp, Wp); u (α_h α_w, F, C); du (ranges, α_h α_w, F, C);
    dx (N, C, Hp - 2 pad, Wp - 2 pad), fully written (ignored without ``need_input_grad``).
    """
    C = xp.shape[1]
    nxi, F = u.shape[0], u.shape[1]
    th, tw = (dy.shape[2] + 1) // 2, (dy.shape[3] + 1) // 2
    ah, aw = bth.shape[0], btw.shape[0]
    Hq, half = 2 * th + ah - 2, (2 * tw + aw - 1) // 2
    uf, duf = u.reshape(-1), du.reshape(-1)
    if n1 > n0:
        xb = np.empty((C, Hq, 2 * half * nb), dtype=xp.dtype)
        dyb = np.empty((F, 2 * th, 2 * tw * nb), dtype=xp.dtype)
        v = np.empty(nxi * C * th * tw * nb, dtype=xp.dtype)
        dm = np.empty(nxi * F * th * tw * nb, dtype=xp.dtype)
        e = np.empty(nxi * C * th * tw * nb if need_input_grad else 1, dtype=xp.dtype)
        z = np.empty((ah, 2 * half * nb), dtype=xp.dtype)
        p = np.empty((ah, 2, tw * nb), dtype=xp.dtype)
        q = np.empty(tw * nb, dtype=xp.dtype)
        plane = np.empty((Hq, 2 * half * nb), dtype=xp.dtype)
        scr = np.empty(8, dtype=np.int32)
        ab = np.empty(2, dtype=xp.dtype)
        for s0 in range(n0, n1, nb):
            S = min(n1, s0 + nb) - s0
            tc = th * tw * S
            gather(dy, s0, S, tw, dyb)
            gather(xp, s0, S, half, xb)
            for f in range(F):
                dy_transform(dyb, f, ath, atw, th, tw, S, p, q, dm, f * tc, F * tc)
            for c in range(C):
                input_transform(xb, c, bth, btw, th, tw, S, z, q, v, c * tc, C * tc)
            beta = 0.0 if s0 == n0 else 1.0
            for xi in range(nxi):  # dU[xi] (F, C) += dM[xi] (F, tc) @ V[xi]^T (tc, C)
                gemm(T, N, C, F, tc, v, xi * C * tc, tc, dm, xi * F * tc, tc,
                     duf, (blk * nxi + xi) * F * C, C, beta, scr, ab)
            if need_input_grad:
                for xi in range(nxi):  # E[xi] (C, tc) = U[xi]^T (C, F) @ dM[xi] (F, tc)
                    gemm(N, T, tc, C, F, dm, xi * F * tc, tc, uf, xi * F * C, C, e, xi * C * tc, tc,
                         0.0, scr, ab)
                for c in range(C):
                    input_scatter(e, c * tc, C * tc, bth, btw, th, tw, S, z, plane)
                    for s in range(S):
                        for r in range(dx.shape[2]):
                            for col in range(dx.shape[3]):
                                cp = col + pad
                                dx[s0 + s, c, r, col] = plane[r + pad, (cp % 2) * half * S + (cp // 2) * S + s]


forward = _jit(_forward)
backward = _jit(_backward)

r"""Winograd F(2×2, r×r) convolution: eqs 1–3 with fewer multiplications per output.

Why
---
A 5×5 correlation costs 25 multiply-adds per output pixel and input channel. Winograd's minimal
filtering algorithm F(m, r) computes ``m`` outputs of an ``r``-tap correlation from ``α = m + r - 1``
inputs with ``α`` products. Nested in 2-D, F(2×2, 5×5) produces a 2×2 output tile from a 6×6
input tile with 36 products instead of 100 — and, summed over the input channels, the 36 products
of all tiles are 36 GEMMs with the batch's tiles as one long dimension (Lavin & Gray 2016).

The 1-D transforms (Toom–Cook)
------------------------------
For the points ``0, 1, -1, 2, -2`` (as many as needed) and ``∞``, with ``g`` the ``r`` taps and
``d`` the ``α`` inputs, the two correlation outputs ``y_i = Σ_k g_k d_{i+k}`` are

.. math::  y = A^T \big[(G g) \odot (B^T d)\big]

with ``G`` (α×r) evaluating the kernel polynomial at the points, ``B^T`` (α×α) the transposed
inverse of the Vandermonde matrix of the points and ``A^T`` (2×α) the transposed evaluation of a
degree-1 polynomial (:func:`transforms` builds them in exact rational arithmetic; each row of
``B^T`` is scaled to integers, the scale moved into ``G``). For r = 5::

    B^T = [[4, 0, -5, 0, 1, 0], [0, 4, 4, -1, -1, 0], [0, -4, 4, 1, -1, 0],
           [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]

2-D, per output tile (tiles step by 2 and overlap by ``r - 1``; the output is padded to even size
and cropped), with ``ξ = (a, b)`` one of the ``α_h α_w`` points of the product grid:

* eq 1: ``U = G w G^T`` (per f, c), ``V = B^T d B`` (per c, tile),
  ``M[ξ] = U[ξ] @ V[ξ]`` (F×C @ C×T, T the tiles of a block of samples), ``y = A^T M A``;
* eq 3 (the adjoint of eq 1 in ``U``): ``dM = A dy A^T``, ``dU[ξ] = Σ_T dM[ξ] @ V[ξ]^T``,
  ``dw = G^T dU G``;
* eq 2 (the adjoint in ``V``): ``E[ξ] = U[ξ]^T @ dM[ξ]``, ``dx_tile = B E B^T``, the overlapping
  tiles added back into the padded input.

All three are exact identities; only the rounding differs from the direct sum (the points ±2
amplify it: see ``tests/kernels/test_winograd.py`` for the measured float32 error).

Layout and parallelism
----------------------
Work items are samples, cut into blocks of :data:`BLOCK_SAMPLES`; a block's ``V`` and ``M`` are
scratch of the range that owns the block (they stay in cache between the transform and the
GEMMs). ``V`` is recomputed from the cached padded input in backward (it is one transform, and
caching it would cost ``α² / 4`` times the input's memory). dw is one partial sum per parallel
range, added at the end; dx tiles overlap only within a sample, and a sample belongs to one range.
Kernels up to 5×5 (``α <= 6``) are supported: beyond, the points grow and float32 loses digits.
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache
from math import lcm

import numpy as np

from dynconv.kernels import _winograd
from dynconv.kernels._blas import parallel, ranges, serial_blas

#: Largest kernel side: F(2, 5) needs α = 6 points (0, ±1, ±2, ∞).
MAX_TAPS = 5
#: Samples per block: the block's V (α² C T floats) and M (α² F T) stay in L2/L3 between the
#: transforms and the GEMMs, while each GEMM is still wide (T = 8 × 121 tiles for 25×25 → 21×21).
BLOCK_SAMPLES = 8
_POINTS = (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2))


def supports(kh, kw):
    """Whether a ``kh`` × ``kw`` kernel can run as Winograd here (both sides <= :data:`MAX_TAPS`)."""
    return 1 <= kh <= MAX_TAPS and 1 <= kw <= MAX_TAPS


def _inverse(a):
    """The exact inverse of a square matrix of Fractions (Gauss–Jordan)."""
    n = len(a)
    m = [list(row) + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(a)]
    for col in range(n):
        piv = next(i for i in range(col, n) if m[i][col] != 0)
        m[col], m[piv] = m[piv], m[col]
        m[col] = [v / m[col][col] for v in m[col]]
        for i in range(n):
            if i != col and m[i][col] != 0:
                f = m[i][col]
                m[i] = [v - f * p for v, p in zip(m[i], m[col])]
    return [row[n:] for row in m]


@lru_cache(maxsize=None)
def transforms(r):
    """``(AT, G, BT)`` of F(2, r), float64: shapes (2, α), (α, r), (α, α) with α = r + 1.

    ``y = AT @ ((G @ g) * (BT @ d))`` is the correlation ``y_i = Σ_k g_k d_{i+k}``, i = 0, 1,
    exactly (in rational arithmetic; float64 rounds the fractions of ``G`` only).
    """
    if not 1 <= r <= MAX_TAPS:
        raise ValueError(f"Winograd F(2, r) is built for 1 <= r <= {MAX_TAPS}, got r={r}")
    n = r + 1
    pts = _POINTS[:n - 1]

    def evaluation(cols):  # rows: the polynomial's value at each point; ∞ picks the top coefficient
        return [[p ** k for k in range(cols)] for p in pts] + [[Fraction(0)] * (cols - 1) + [Fraction(1)]]

    bt = [list(col) for col in zip(*_inverse(evaluation(n)))]  # (V^{-1})^T
    g = evaluation(r)
    for j in range(n):  # integer rows of BT, the scale moved into G
        s = lcm(*(v.denominator for v in bt[j]))
        bt[j] = [v * s for v in bt[j]]
        g[j] = [v / s for v in g[j]]
    at = [list(col) for col in zip(*evaluation(2))]
    return tuple(np.array([[float(v) for v in row] for row in mat]) for mat in (at, g, bt))


def tiles(Ho, Wo):
    """``(th, tw)``: 2×2 output tiles per column and per row (the output padded to even size)."""
    return (Ho + 1) // 2, (Wo + 1) // 2


def _matrices(kh, kw, dtype):
    """The six transform matrices in ``dtype``, C-contiguous: ATh, ATw, BTh, BTw (and Gh, Gw f64)."""
    ath, gh, bth = transforms(kh)
    atw, gw, btw = transforms(kw)
    cast = lambda a: np.ascontiguousarray(a, dtype=dtype)  # noqa: E731
    return cast(ath), cast(atw), cast(bth), cast(btw), gh, gw


def kernel_transform(w, gh, gw):
    """``U[(a, b), f, c] = Σ_{u, v} Gh[a, u] w[f, c, u, v] Gw[b, v]``: (α_h α_w, F, C), dtype of w.

    Computed in float64 (the fractions of G are not exact in float32), then rounded once.
    """
    F, C = w.shape[:2]
    u = np.einsum("au,fcuv,bv->abfc", gh, w.astype(np.float64), gw, optimize=True)
    return np.ascontiguousarray(u.reshape(gh.shape[0] * gw.shape[0], F, C), dtype=w.dtype)


def _block(N):
    """Samples per block: :data:`BLOCK_SAMPLES`, fewer when the ranges are shorter."""
    return int(max(1, min(BLOCK_SAMPLES, max(i1 - i0 for i0, i1 in ranges(N)))))


def correlate(xp, w, bias, Ho, Wo):
    """Eq 1: ``y`` (N, F, Ho, Wo) of the padded input ``xp`` (N, C, Hp, Wp) and ``w`` (F, C, kh, kw).

    ``bias`` (1, F) or None. Both sides of ``w`` must satisfy :func:`supports`.
    """
    N = xp.shape[0]
    F, _, kh, kw = w.shape
    ath, atw, bth, btw, gh, gw = _matrices(kh, kw, xp.dtype)
    u = kernel_transform(w, gh, gw)
    b = np.zeros(F, xp.dtype) if bias is None else np.ascontiguousarray(bias.reshape(F), xp.dtype)
    y = np.empty((N, F, Ho, Wo), dtype=xp.dtype)
    with serial_blas():
        parallel(_winograd.forward, N, xp, u, b, bth, btw, ath, atw, _block(N), y)
    return y


def backward(dy, xp, w, pad, need_input_grad):
    """Eqs 3 and 2: ``(dw, dx)`` for ``dy`` (N, F, Ho, Wo), ``xp`` (N, C, Hp, Wp), ``w`` (F, C, kh, kw).

    ``dw`` (F, C, kh, kw) is the batch sum; ``dx`` (N, C, Hp - 2 pad, Wp - 2 pad), or None
    without ``need_input_grad``.
    """
    N, C, Hp, Wp = xp.shape
    F, _, kh, kw = w.shape
    ath, atw, bth, btw, gh, gw = _matrices(kh, kw, xp.dtype)
    u = kernel_transform(w, gh, gw)
    du = np.zeros((len(ranges(N)), u.shape[0], F, C), dtype=xp.dtype)
    H, W = Hp - 2 * pad, Wp - 2 * pad
    dx = np.empty((N, C, H, W) if need_input_grad else (1, 1, 1, 1), dtype=xp.dtype)
    with serial_blas():
        parallel(_winograd.backward, N, dy, xp, u, bth, btw, ath, atw, _block(N), need_input_grad, pad,
                 du, dx, index=True)
    ah, aw = gh.shape[0], gw.shape[0]
    dus = du.sum(axis=0, dtype=np.float64).reshape(ah, aw, F, C)
    dw = np.einsum("au,abfc,bv->fcuv", gh, dus, gw, optimize=True)
    return np.ascontiguousarray(dw, dtype=xp.dtype), (dx if need_input_grad else None)

r"""The register-blocked direct loops ("blocked") behind :mod:`dynconv.kernels`; never call directly.

Index algebra (eq 1, one sample, zero-padded input ``xp`` of width ``Wp``), as in
:mod:`dynconv.kernels._kn2row`: flatten each padded channel, put output pixel ``(r, s)`` at the
*wide* position ``p = r Wp + s``, and number the taps ``k = (c kh + u) kw + v`` with the flat
offset ``o_k = c Hp Wp + u Wp + v``. Then::

    Y[f, p] = b_f + sum_k w[f, k] X[p + o_k]            for p in [0, L),  L = (Ho - 1) Wp + Wo

Why this loop order
-------------------
The innermost loop runs over ``p``: consecutive output pixels fill one SIMD vector (8 float32
with AVX2, 16 with AVX-512; numba compiles for the host CPU), read from as many consecutive
input pixels. One pass of it updates **2 output channels with** :data:`TAPS` **taps**. With 8 taps,
that is 16 FMAs per vector of pixels for 8 vector loads of the input (shared by both channels)
and 2 loads and 2 stores of the accumulators, the 16 weights staying in registers as broadcast
scalars (checked in the assembly on an EPYC of family 25 model 17: an AVX-512 loop of 10 loads,
16 FMAs, 2 stores, no spill). AVX2 has 16 vector registers, not 32: 16 broadcast weights do not
fit beside the accumulators and inputs, so there a pass takes 4 taps (8 weights). Measured on a
Zen 3 EPYC (AVX2, 2 threads, B = 64, float32), 4 taps ran the SRCNN and DCNN layers 1.23–1.31×
faster than 8. :func:`taps_per_pass` picks by the host's vector registers. The
accumulator rows (2 L values) stay in L1 while all taps run. ``fastmath`` is limited to
``contract`` (a * b + c fused into one FMA): the sum over ``k`` is still evaluated in the order
written, no reassociation.

Keeping a tile of output channels × pixels in registers for the whole reduction (the textbook
micro-kernel) does not compile to vector code in numba: its fixed-size local arrays live on the
heap, which LLVM cannot prove disjoint from the inputs, and numba turns LLVM's SLP vectoriser
off, so a hand-unrolled tile stays scalar: measured on the SRCNN layers (one thread, same
process), it ran at 0.1–0.2× kn2row's speed, this loop at 1.1–1.3×.

Eq 3 on the same grid is ``dW[f, k] = sum_p dY[f, p] X[p + o_k]`` (``dY`` zero at the wrapped
positions): a reduction over ``p``. :func:`_quad` keeps 16 running sums (4 output channels × 4
taps) for 8 loads per vector of positions, :func:`_duo` 8 sums (2 × 4) for 6 loads: the block
for 16 vector registers, 1.2–1.4× faster than :func:`_quad` on AVX2 (same measurement).
Vectorising a reduction needs ``reassoc`` as well (each sum becomes one partial sum per SIMD
lane, added at the end).

The price of the wide grid: positions with ``s >= Wo`` wrap into the next row and are computed
and dropped (``Wp / Wo`` more multiply-adds; 1.19 for a 5×5 kernel on 25×25, 1 for 1×1).

Parallelism: each call handles a contiguous range of work items (a sample, or a block of output
rows of one sample), owns their output rows and its scratch, and releases the GIL.
"""
from __future__ import annotations

import numba
import numpy as np

def taps_per_pass(features=None):
    """Forward taps per pass for a CPU with ``features`` (llvmlite's host features by default):
    8 with AVX-512's 32 vector registers, 4 with AVX2's 16 (where 8 would spill weights)."""
    if features is None:
        import llvmlite.binding as llvm
        features = llvm.get_host_cpu_features()
    return 8 if features.get("avx512f", False) else 4


#: Forward taps per pass on this machine (the tap count is padded with zero weights to a multiple
#: of it); the wrappers pass it to the loops, so cached machine code never depends on it.
TAPS = taps_per_pass()
#: Output channels per pass of the weight gradient: 4 (:func:`_quad`) with 32 vector registers,
#: 2 (:func:`_duo`) with 16. Taps per pass of the weight gradient: always :data:`DW_TAPS`.
DW_BLOCK = 4 if TAPS == 8 else 2
DW_TAPS = 4

_jit = numba.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy",
                  fastmath={"contract"})


@_jit
def _offsets(C, kh, kw, S, Wp, K):
    """``offs[k] = c S + u Wp + v`` for tap ``k = (c kh + u) kw + v``; 0 beyond ``C kh kw``.

    ``S`` is the stride of a channel in the flat input (``Hp Wp``, or more for the
    :func:`_wide_dy` grid) and ``Wp`` that of a row; ``K`` (>= C kh kw) is the padded tap count,
    and a padding tap's offset 0 reads in bounds.
    """
    offs = np.zeros(K, dtype=np.int64)
    for c in range(C):
        for u in range(kh):
            for v in range(kw):
                offs[(c * kh + u) * kw + v] = c * S + u * Wp + v
    return offs


@_jit
def _taps(w, S, Wp, taps):
    """``(wt, offs)``: ``wt[f, k] = w[f, c, u, v]`` and the offsets of :func:`_offsets`.

    ``wt`` (F rounded up to even, K rounded up to a multiple of ``taps``); the padding taps
    and the padding channel have zero weights, so they add 0.
    """
    F, C, kh, kw = w.shape
    K = C * kh * kw
    wt = np.zeros((F + F % 2, (K + taps - 1) // taps * taps), dtype=w.dtype)
    wt[:F, :K] = w.reshape(F, K)
    return wt, _offsets(C, kh, kw, S, Wp, wt.shape[1])


@_jit
def _pair4(a0, a1, xf, base, offs, wt, f, L):
    """:func:`_pair` with 4 taps per pass (``wt.shape[1]`` a multiple of 4): for 16 registers."""
    for k in range(0, wt.shape[1], 4):
        w00, w01, w02, w03 = wt[f, k], wt[f, k + 1], wt[f, k + 2], wt[f, k + 3]
        w10, w11, w12, w13 = wt[f + 1, k], wt[f + 1, k + 1], wt[f + 1, k + 2], wt[f + 1, k + 3]
        x0, x1 = xf[base + offs[k]:], xf[base + offs[k + 1]:]
        x2, x3 = xf[base + offs[k + 2]:], xf[base + offs[k + 3]:]
        for p in range(L):
            v0, v1, v2, v3 = x0[p], x1[p], x2[p], x3[p]
            a0[p] = a0[p] + w00 * v0 + w01 * v1 + w02 * v2 + w03 * v3
            a1[p] = a1[p] + w10 * v0 + w11 * v1 + w12 * v2 + w13 * v3


@_jit
def _pair(a0, a1, xf, base, offs, wt, f, L):
    """``a0[p] += sum_k wt[f, k] xf[base + offs[k] + p]`` and the same for ``a1`` with ``f + 1``.

    For ``p < L``, 8 taps per pass over ``p``; the caller guarantees every read is in bounds.
    """
    for k in range(0, wt.shape[1], 8):
        w00, w01, w02, w03 = wt[f, k], wt[f, k + 1], wt[f, k + 2], wt[f, k + 3]
        w04, w05, w06, w07 = wt[f, k + 4], wt[f, k + 5], wt[f, k + 6], wt[f, k + 7]
        w10, w11, w12, w13 = wt[f + 1, k], wt[f + 1, k + 1], wt[f + 1, k + 2], wt[f + 1, k + 3]
        w14, w15, w16, w17 = wt[f + 1, k + 4], wt[f + 1, k + 5], wt[f + 1, k + 6], wt[f + 1, k + 7]
        x0, x1 = xf[base + offs[k]:], xf[base + offs[k + 1]:]
        x2, x3 = xf[base + offs[k + 2]:], xf[base + offs[k + 3]:]
        x4, x5 = xf[base + offs[k + 4]:], xf[base + offs[k + 5]:]
        x6, x7 = xf[base + offs[k + 6]:], xf[base + offs[k + 7]:]
        for p in range(L):
            v0, v1, v2, v3, v4, v5, v6, v7 = x0[p], x1[p], x2[p], x3[p], x4[p], x5[p], x6[p], x7[p]
            a0[p] = (a0[p] + w00 * v0 + w01 * v1 + w02 * v2 + w03 * v3
                     + w04 * v4 + w05 * v5 + w06 * v6 + w07 * v7)
            a1[p] = (a1[p] + w10 * v0 + w11 * v1 + w12 * v2 + w13 * v3
                     + w14 * v4 + w15 * v5 + w16 * v6 + w17 * v7)


def _items(xf, C, S, Wp, wt, offs, bias, rows, taps, y, i0, i1):
    """Work items ``[i0, i1)`` of :func:`_forward` (C input channels), all with the kernel
    ``(wt, offs)`` of :func:`_taps` and ``bias`` (F,). Kept apart so that ``wt`` never changes
    inside the loop: with the kernel reloaded in it, the static forward ran 7–12 % slower."""
    F, Ho, Wo = y.shape[1], y.shape[2], y.shape[3]
    nrb = (Ho + rows - 1) // rows
    acc = np.empty((wt.shape[0], (rows - 1) * Wp + Wo), dtype=y.dtype)
    for item in range(i0, i1):
        n = item // nrb
        r0 = (item - n * nrb) * rows
        r1 = min(Ho, r0 + rows)
        L = (r1 - r0 - 1) * Wp + Wo
        base = n * C * S + r0 * Wp
        for f in range(wt.shape[0]):
            bf = bias[f] if f < F else 0.0
            for p in range(L):
                acc[f, p] = bf
        for f in range(0, wt.shape[0], 2):
            if taps == 8:
                _pair(acc[f], acc[f + 1], xf, base, offs, wt, f, L)
            else:
                _pair4(acc[f], acc[f + 1], xf, base, offs, wt, f, L)
        for f in range(F):
            for r in range(r1 - r0):
                for s in range(Wo):
                    y[n, f, r0 + r, s] = acc[f, r * Wp + s]


def _forward(xf, S, Wp, k, bias, rows, taps, y, i0, i1):
    """``y[n, f, r, s] = bias[t, f] + sum_{c,u,v} k[t, f, c, u, v] xf[(n C + c) S + (r + u) Wp + s + v]``.

    xf: the flat input, N C channels of stride ``S``, rows of stride ``Wp``; k (Nk, F, C, kh, kw)
    with ``t = n % Nk`` (Nk = 1: one kernel for the batch; Nk = N: eq 5's kernel per sample),
    bias (Nk, F), y (N, F, Ho, Wo), all C-contiguous, ``Wo <= Wp``. For a padded input xp (N, C,
    Hp, Wp) with ``Hp = Ho + kh - 1`` and ``Wp = Wo + kw - 1``, ``S = Hp Wp``; the caller
    guarantees every read is in bounds. Work items ``[i0, i1)``, item = (sample, block of ``rows``
    output rows); ``taps`` per pass, 4 or 8 (:data:`TAPS`).
    """
    nrb = (y.shape[2] + rows - 1) // rows
    nk = k.shape[0]
    j0 = i0
    while j0 < i1:  # runs of items with one kernel: all of them, or one sample's
        j1 = i1 if nk == 1 else min(i1, (j0 // nrb + 1) * nrb)
        t = j0 // nrb % nk
        wt, offs = _taps(k[t], S, Wp, taps)
        _items(xf, k.shape[2], S, Wp, wt, offs, bias[t], rows, taps, y, j0, j1)
        j0 = j1


def _wide_dy(dy, qh, qw, Wd, out, n0, n1):
    """``out[n, f]``: ``dy[n, f]`` on the grid of eq 2's full correlation, samples ``[n0, n1)``.

    dy (N, F, Ho, Wo) in any layout; out (N, F, qw + (Ho + 2 qh) Wd) C-contiguous. Per channel:
    ``qw`` zeros, ``qh`` zero rows of width ``Wd``, the rows of dy each followed by ``Wd - Wo``
    zeros, ``qh`` zero rows. Every element is written once. A read ``qw`` to the left of a row
    wraps into the zeros closing the row above (``Wd - Wo >= qw``), so no left padding is stored.
    """
    F, Ho, Wo = dy.shape[1], dy.shape[2], dy.shape[3]
    head = qw + qh * Wd
    for n in range(n0, n1):
        for f in range(F):
            o = out[n, f]
            for t in range(head):
                o[t] = 0
            for r in range(Ho):
                t = head + r * Wd
                for s in range(Wo):
                    o[t + s] = dy[n, f, r, s]
                for s in range(Wo, Wd):
                    o[t + s] = 0
            for t in range(head + Ho * Wd, o.shape[0]):
                o[t] = 0


# The weight gradient's sums over output positions are reductions: vectorising them (8 partial
# sums per lane) needs reassociation as well as contraction.
_jit_sum = numba.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy",
                      fastmath={"contract", "reassoc"})


@_jit_sum
def _quad(dyw, f, xf, base, offs, dwt, q, L, zero):
    """``dwt[q, f + i, k + t] += sum_{p < L} dyw[f + i, p] xf[base + offs[k + t] + p]``.

    For ``i, t < DW_BLOCK = 4`` and every ``k`` a multiple of 4 below ``dwt.shape[2]``;
    ``zero`` is 0 of the arrays' dtype, so float32 sums stay float32.
    """
    d0, d1, d2, d3 = dyw[f], dyw[f + 1], dyw[f + 2], dyw[f + 3]
    for k in range(0, dwt.shape[2], 4):
        x0, x1 = xf[base + offs[k]:], xf[base + offs[k + 1]:]
        x2, x3 = xf[base + offs[k + 2]:], xf[base + offs[k + 3]:]
        s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = zero
        s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = zero
        for p in range(L):
            v0, v1, v2, v3 = x0[p], x1[p], x2[p], x3[p]
            e0, e1, e2, e3 = d0[p], d1[p], d2[p], d3[p]
            s00 += e0 * v0
            s01 += e0 * v1
            s02 += e0 * v2
            s03 += e0 * v3
            s10 += e1 * v0
            s11 += e1 * v1
            s12 += e1 * v2
            s13 += e1 * v3
            s20 += e2 * v0
            s21 += e2 * v1
            s22 += e2 * v2
            s23 += e2 * v3
            s30 += e3 * v0
            s31 += e3 * v1
            s32 += e3 * v2
            s33 += e3 * v3
        for i, (a, b, c, d) in enumerate(((s00, s01, s02, s03), (s10, s11, s12, s13),
                                          (s20, s21, s22, s23), (s30, s31, s32, s33))):
            dwt[q, f + i, k] += a
            dwt[q, f + i, k + 1] += b
            dwt[q, f + i, k + 2] += c
            dwt[q, f + i, k + 3] += d


@_jit_sum
def _duo(dyw, f, xf, base, offs, dwt, q, L, zero):
    """:func:`_quad` for output channels ``f, f + 1`` only (8 running sums: for 16 registers)."""
    d0, d1 = dyw[f], dyw[f + 1]
    for k in range(0, dwt.shape[2], 4):
        x0, x1 = xf[base + offs[k]:], xf[base + offs[k + 1]:]
        x2, x3 = xf[base + offs[k + 2]:], xf[base + offs[k + 3]:]
        s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = zero
        for p in range(L):
            v0, v1, v2, v3 = x0[p], x1[p], x2[p], x3[p]
            e0, e1 = d0[p], d1[p]
            s00 += e0 * v0
            s01 += e0 * v1
            s02 += e0 * v2
            s03 += e0 * v3
            s10 += e1 * v0
            s11 += e1 * v1
            s12 += e1 * v2
            s13 += e1 * v3
        for i, (a, b, c, d) in enumerate(((s00, s01, s02, s03), (s10, s11, s12, s13))):
            dwt[q, f + i, k] += a
            dwt[q, f + i, k + 1] += b
            dwt[q, f + i, k + 2] += c
            dwt[q, f + i, k + 3] += d


def _weight_grad(dy, xp, dwt, block, per_sample, q, n0, n1):
    """``dwt[q, f, k] += sum_{n0 <= n < n1} sum_{r, s} dy[n, f, r, s] xp[n, c, r + u, s + v]``.

    Tap ``k = (c kh + u) kw + v``; dy (N, F, Ho, Wo), xp (N, C, Hp, Wp) C-contiguous, dwt
    (ranges, F rounded up to a multiple of ``block``, C kh kw rounded up to a multiple of
    :data:`DW_TAPS`), zeroed by the caller; ``block`` output channels per pass, 2 or 4
    (:data:`DW_BLOCK`); this range owns ``dwt[q]``. With ``per_sample`` (eq 7), dwt has N rows
    and sample n's sum goes to ``dwt[n]`` alone. The padding rows and columns of ``dwt`` receive
    values that mean nothing (the caller drops them).
    """
    C, Hp, Wp = xp.shape[1], xp.shape[2], xp.shape[3]
    F, Ho, Wo = dy.shape[1], dy.shape[2], dy.shape[3]
    if n1 <= n0:
        return
    kh, kw = Hp - Ho + 1, Wp - Wo + 1
    L = (Ho - 1) * Wp + Wo
    offs = _offsets(C, kh, kw, Hp * Wp, Wp, dwt.shape[2])
    xf = xp.reshape(-1)
    dyw = np.zeros((dwt.shape[1], L), dtype=dy.dtype)  # dY on the wide grid; wrapped columns 0
    zero = np.zeros(1, dtype=dy.dtype)[0]
    for n in range(n0, n1):
        for f in range(F):
            for r in range(Ho):
                for s in range(Wo):
                    dyw[f, r * Wp + s] = dy[n, f, r, s]
        qn = n if per_sample else q
        for f in range(0, dwt.shape[1], block):
            if block == 4:
                _quad(dyw, f, xf, n * C * Hp * Wp, offs, dwt, qn, L, zero)
            else:
                _duo(dyw, f, xf, n * C * Hp * Wp, offs, dwt, qn, L, zero)


_items = _jit(_items)
forward = _jit(_forward)
wide_dy = _jit(_wide_dy)
weight_grad = _jit(_weight_grad)

r"""kn2row with several samples per GEMM: the batch tiled side by side into wider images.

Why
---
:mod:`dynconv.kernels.kn2row` calls BLAS once per sample, kernel offset (and row block): for
the 64→32 5×5 SRCNN layer at B = 128 that is 3,200 small products (m = 32, k = 64, n ≈ 520),
and BLAS repacks its strided operand on every call. Here ``nb`` samples are laid side by side
along the width, so one call covers ``nb`` samples.

Index algebra
-------------
Tile the padded samples of a group side by side: ``xt[g, c, i, j Wp + s] = xp[g nb + j, c, i, s]``
(width ``nb Wp``). A valid correlation of ``xt`` has width ``nb Wp - kw + 1``, and its column
``j Wp + s`` for ``s < Wo`` only reads columns ``j Wp + s + v < (j + 1) Wp`` — sample ``j``
alone. So sample ``j``'s output (eq 1) is the slice ``[j Wp, j Wp + Wo)`` of the tiled output;
the ``Wp - Wo`` columns between two samples straddle both and are dropped. That is the wide-grid
price kn2row already pays (``Wp / Wo`` more multiply-adds), nothing more.

* eq 1: correlate the tiled input, keep each sample's slice;
* eq 3: ``dw = sum_p dY[f, p] X[c, p + o]`` over the tiled grid, with ``dy`` tiled and zero on the
  dropped columns, which therefore add nothing — the batch sum comes out of the products;
* eq 2: pad each sample's ``dy`` by ``k - 1 - pad`` first, then tile: the full correlations of
  the samples are again disjoint slices of one tiled correlation.

A batch that ``nb`` does not divide is completed with zero samples (their outputs are dropped,
their gradients are zero). The loops are :mod:`dynconv.kernels._kn2row`'s, unchanged.
"""
from __future__ import annotations

import numpy as np

from dynconv.kernels import kn2row

#: Target width (in elements) of one tiled row: wide enough that one GEMM covers several
#: samples, narrow enough that kn2row's row blocks (``kn2row.BLOCK_BYTES``) keep whole rows.
TILE_WIDTH = 128


def tile_count(N, Wp):
    """Samples per tiled image: about :data:`TILE_WIDTH` / ``Wp``, at least 1, at most ``N``."""
    return int(max(1, min(N, TILE_WIDTH // max(1, Wp))))


def tile(a, nb):
    """``a`` (N, C, H, W) → (ceil(N / nb), C, H, nb W): ``nb`` samples side by side, C-contiguous.

    The last tile is completed with zero samples.
    """
    N, C, H, W = a.shape
    groups = -(-N // nb)
    out = np.empty((groups, nb, C, H, W), dtype=a.dtype)
    out.reshape(groups * nb, C, H, W)[:N] = a
    out.reshape(groups * nb, C, H, W)[N:] = 0
    t = np.empty((groups, C, H, nb, W), dtype=a.dtype)
    np.copyto(t, out.transpose(0, 2, 3, 1, 4))
    return t.reshape(groups, C, H, nb * W)


def untile(t, nb, N, Wp, Wo):
    """The inverse of :func:`tile` for an output: ``t`` (groups, F, Ho, Wt) → (N, F, Ho, Wo).

    Sample ``j`` of a tile sits at columns ``[j Wp, j Wp + Wo)``; the columns between are dropped.
    ``Wt`` may be shorter than ``nb Wp`` (the last sample's trailing columns do not exist).
    """
    groups, F, Ho, Wt = t.shape
    full = np.zeros((groups, F, Ho, nb * Wp), dtype=t.dtype) if Wt < nb * Wp else t
    if Wt < nb * Wp:
        full[..., :Wt] = t
    view = full.reshape(groups, F, Ho, nb, Wp)[..., :Wo].transpose(0, 3, 1, 2, 4)
    return np.ascontiguousarray(view.reshape(groups * nb, F, Ho, Wo)[:N])


def correlate(xp, w, bias, Ho, Wo):
    """Eq 1 on the padded input ``xp`` (N, C, Hp, Wp) with ``w`` (F, C, kh, kw), bias (1, F) or None."""
    N, Wp = xp.shape[0], xp.shape[3]
    nb = tile_count(N, Wp)
    kw = w.shape[3]
    yt = kn2row.correlate(tile(xp, nb), w[None], bias, Ho, nb * Wp - kw + 1)
    return untile(yt, nb, N, Wp, Wo)


def weight_grad(dy, xp, kh, kw):
    """Eq 3: dw (F, C, kh, kw), the batch sum, from ``dy`` (N, F, Ho, Wo) and ``xp`` (N, C, Hp, Wp)."""
    N, F, Ho, Wo = dy.shape
    Wp = xp.shape[3]
    nb = tile_count(N, Wp)
    # dy on the tiled output grid: each sample's Wo columns, zeros on the Wp - Wo between.
    dyp = np.zeros((N, F, Ho, Wp), dtype=dy.dtype)
    dyp[..., :Wo] = dy
    dyt = np.ascontiguousarray(tile(dyp, nb)[..., :nb * Wp - kw + 1])
    return kn2row.weight_grad(dyt, tile(xp, nb), kh, kw, per_sample=False)


def input_grad(dy, w, pad, H, W):
    """Eq 2: dx (N, C, H, W), the full correlation of ``dy`` with ``w`` (F, C, kh, kw), cropped by ``pad``.

    Each sample's ``dy`` is zero-padded by ``k - 1 - pad`` and the padded samples are tiled, so
    their full correlations are disjoint slices of one valid correlation with the flipped kernel.
    """
    N, F, Ho, Wo = dy.shape
    C, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    qh, qw = kh - 1 - pad, kw - 1 - pad
    dyp = np.zeros((N, F, Ho + 2 * qh, Wo + 2 * qw), dtype=dy.dtype)
    dyp[:, :, qh:qh + Ho, qw:qw + Wo] = dy
    Wq = Wo + 2 * qw
    nb = tile_count(N, Wq)
    flipped = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, F, kh, kw)
    dxt = kn2row.correlate(tile(dyp, nb), flipped[None], None, H, nb * Wq - kw + 1)
    return untile(dxt, nb, N, Wq, W)

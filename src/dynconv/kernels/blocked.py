r"""The register-blocked direct convolution ("blocked"): no BLAS, no unfolded matrix.

Eq 1 as numba loops on the zero-padded input (index algebra and loop order in
:mod:`dynconv.kernels._blocked`): one pass over a row of output pixels updates 2 output channels
with 8 kernel taps (4 on a CPU with 16 vector registers, AVX2), the pixels in SIMD vectors and the
weights in registers.

* eq 1: :func:`forward`;
* eq 2: :func:`input_grad`, the same loop on ``dy`` zero-padded by ``k - 1 - pad`` with the
  kernel flipped in both axes and its channel axes swapped (as :func:`kn2row.input_grad`), the
  padding on the left of each row shared with the zeros on the right of the row above;
* eq 3: :func:`weight_grad`, 4 output channels × 4 taps per pass (2 × 4 with 16 registers), each
  a sum over the output positions of one sample (16 or 8 running sums in registers), one partial
  sum per parallel range.
* eqs 5–7: the same three with one kernel per sample (``w`` of shape (N, F, C, kh, kw), and
  ``per_sample=True`` for eq 7's ``dk``), for :mod:`dynconv.kernels.dynamic`.

Why it exists: kn2row calls BLAS once per sample and kernel offset on small, strided operands
(for the 64→32 5×5 SRCNN layer at B = 128, 3,200 calls with m = 32, k = 64) and copies its
transposed wide output back; here the output is accumulated in place, in cache.
"""
from __future__ import annotations

import numba
import numpy as np

from dynconv.kernels import _blocked
from dynconv.kernels._blas import get_threads, parallel, ranges

#: Bytes of accumulator rows (output channels × wide row block) per work item; larger images are
#: cut into blocks of output rows (an SRCNN 33×33 sample is one block).
BLOCK_BYTES = 384 << 10


def _budget():
    """``(taps, dw_block)`` of :mod:`._blocked`, checked: the loops are written for these only."""
    taps, block = _blocked.TAPS, _blocked.DW_BLOCK
    if (taps, block) not in ((8, 4), (4, 2), (8, 2), (4, 4)):
        raise ValueError(f"_blocked.TAPS must be 4 or 8 and DW_BLOCK 2 or 4, got {taps} and {block}")
    return taps, block


def plan(N, F, Wp, Ho, itemsize, threads=None):
    """``(rows, items)``: output rows per work item and the number of work items."""
    threads = get_threads() if threads is None else threads
    rows = int(max(1, min(Ho, BLOCK_BYTES // max(1, (F + F % 2) * Wp * itemsize))))
    if N < threads:  # split samples into row blocks so every thread has work
        rows = min(rows, max(1, -(-Ho * N // threads)))
    return rows, N * -(-Ho // rows)


def _as_5d(w, N, name):
    """``w`` (F, C, kh, kw), one kernel for the batch, or (N, F, C, kh, kw), eq 5's kernel per
    sample, as a C-contiguous 5-D array (Nk, F, C, kh, kw) with Nk 1 or N."""
    if w.ndim == 4:
        w = w[None]
    if w.ndim != 5 or w.shape[0] not in (1, N):
        raise ValueError(f"blocked.{name}: kernels must be (F, C, kh, kw) or ({N}, F, C, kh, kw), "
                         f"got {w.shape}")
    return np.ascontiguousarray(w)


def forward(xp, w, bias, Ho, Wo):
    """Eq 1 (eq 5 with per-sample kernels): ``y`` (N, F, Ho, Wo) from ``xp`` (N, C, Hp, Wp).

    ``w`` (F, C, kh, kw), or (N, F, C, kh, kw) for one kernel per sample; ``Hp = Ho + kh - 1``,
    ``Wp = Wo + kw - 1``; ``bias`` of F values (any shape), (N, F) with per-sample kernels, or
    None. Every element of ``y`` is written.
    """
    N, _, Hp, Wp = xp.shape
    k = _as_5d(w, N, "forward")
    F, C, kh, kw = k.shape[1:]
    if Hp != Ho + kh - 1 or Wp != Wo + kw - 1 or C != xp.shape[1]:
        raise ValueError(f"blocked.forward: xp {xp.shape}, w {w.shape} and output {Ho}x{Wo} "
                         "are inconsistent")
    nk = k.shape[0]
    b = np.zeros((nk, F), xp.dtype) if bias is None else \
        np.ascontiguousarray(bias, xp.dtype).reshape(nk, F)
    y = np.empty((N, F, Ho, Wo), dtype=xp.dtype)
    rows, items = plan(N, F, Wp, Ho, xp.itemsize)
    parallel(_blocked.forward, items, np.ascontiguousarray(xp).reshape(-1), Hp * Wp, Wp, k, b,
             rows, _budget()[0], y)
    return y


def input_grad(dy, w, pad, H, W):
    """Eq 2 (eq 6 with per-sample kernels): dx (N, C, H, W) from ``dy`` (N, F, Ho, Wo) and ``w``.

    ``w`` (F, C, kh, kw) or (N, F, C, kh, kw); dx is cropped by ``pad``. The full correlation of
    ``dy`` with ``w`` is the valid correlation of ``dy`` zero-padded by ``q = k - 1 - pad`` with
    the flipped, transposed kernel; its output is already the cropped dx. The padding is not
    stored on all four sides: on the grid of :func:`_blocked._wide_dy`, rows of ``Wd = W + pad``
    (dy's row and ``q`` zeros), a read left of a row wraps into the zeros of the row above, and
    the forward loop's wide rows are ``Wd`` long. For the 64→32 5×5 SRCNN layer (pad 0) that
    computes 25 × 25 positions per channel, not the 24 × 29 + 25 of dy padded by 4.
    """
    N, F, Ho, Wo = dy.shape
    k = _as_5d(w, N, "input_grad")
    C, kh, kw = k.shape[2], k.shape[3], k.shape[4]
    qh, qw, Wd = kh - 1 - pad, kw - 1 - pad, W + pad
    if qh < 0 or qw < 0 or k.shape[1] != F or Ho + 2 * qh != H + kh - 1 or Wo + qw != Wd:
        raise ValueError(f"blocked.input_grad: dy {dy.shape}, w {w.shape}, pad {pad} and input "
                         f"{H}x{W} are inconsistent")
    S = qw + (Ho + 2 * qh) * Wd
    dyw = np.empty((N, F, S), dtype=dy.dtype)
    if numba.config.DISABLE_JIT:  # NumPy's assignment, not the loop in Python
        dyw[:] = 0
        grid = dyw[:, :, qw:].reshape(N, F, Ho + 2 * qh, Wd)
        grid[:, :, qh:qh + Ho, :Wo] = dy
    else:
        parallel(_blocked.wide_dy, N, dy, qh, qw, Wd, dyw)
    flipped = np.ascontiguousarray(k[:, :, :, ::-1, ::-1].transpose(0, 2, 1, 3, 4))  # (Nk, C, F, ..)
    dx = np.empty((N, C, H, W), dtype=dy.dtype)
    rows, items = plan(N, C, Wd, H, dy.itemsize)
    parallel(_blocked.forward, items, dyw.reshape(-1), S, Wd, flipped,
             np.zeros((k.shape[0], C), dy.dtype), rows, _budget()[0], dx)
    return dx


def weight_grad(dy, xp, kh, kw, per_sample=False):
    """Eq 3: dw (F, C, kh, kw), the batch sum; with ``per_sample`` eq 7: dk (N, F, C, kh, kw).

    ``dy`` (N, F, Ho, Wo), ``xp`` (N, C, Hp, Wp), ``Hp = Ho + kh - 1``, ``Wp = Wo + kw - 1``.
    """
    N, F, Ho, Wo = dy.shape
    C, Hp, Wp = xp.shape[1], xp.shape[2], xp.shape[3]
    if Hp != Ho + kh - 1 or Wp != Wo + kw - 1 or xp.shape[0] != N:
        raise ValueError(f"blocked.weight_grad: dy {dy.shape}, xp {xp.shape} and kernel {kh}x{kw} "
                         "are inconsistent")
    K, fb, kb = C * kh * kw, _budget()[1], _blocked.DW_TAPS
    q = N if per_sample else len(ranges(N))
    dwt = np.zeros((q, -(-F // fb) * fb, -(-K // kb) * kb), dtype=xp.dtype)
    parallel(_blocked.weight_grad, N, np.ascontiguousarray(dy), np.ascontiguousarray(xp), dwt,
             fb, bool(per_sample), index=True)
    if per_sample:
        return np.ascontiguousarray(dwt[:, :F, :K]).reshape(N, F, C, kh, kw)
    return dwt.sum(axis=0)[:F, :K].reshape(F, C, kh, kw)

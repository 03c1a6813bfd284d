r"""The per-sample patch-matrix GEMM ("patch") algorithm for the static convolution.

One BLAS call per sample and direction, writing the output in its final (N, F, Ho, Wo) layout
(loops and index algebra in :mod:`dynconv.kernels._patch`):

* eq 1: ``y[n] = W2 @ P_n + b`` with ``P_n`` the sample's patch matrix (C kh kw, Ho Wo);
* eq 3: ``dw = sum_n dY[n] @ P_n^T``, one partial sum per parallel range, added at the end;
* eq 2: ``dx[n] = fold(W2^T @ dY[n])`` on the padded grid, cropped by ``pad``.

Why it exists: kn2row computes on the *wide* grid (``Wp / Wo`` more multiply-adds) in a
transposed layout it then copies out, and for a 1×1 layer that copy is the whole cost of the
layer beyond its one GEMM. Here a 1×1 layer without padding is a plain GEMM per sample reading
the input and writing the output in place — no unfold, no transpose, no crop. For the
1-channel 9×9 first layer the patch matrix of one sample (81 x 625 floats at 33×33) stays in
cache, so unfolding it is cheap, and the same matrix serves eq 3. Unlike :mod:`im2col`, no
batch-wide matrix is built and nothing is transposed between layouts.
"""
from __future__ import annotations

import numpy as np

from dynconv.kernels import _patch
from dynconv.kernels._blas import parallel, ranges, serial_blas


def forward(xp, w, bias, Ho, Wo):
    """Eq 1: ``y`` (N, F, Ho, Wo) from the padded input ``xp`` (N, C, Hp, Wp), C-contiguous.

    ``w`` (F, C, kh, kw) C-contiguous; ``bias`` (1, F) or None.
    """
    N = xp.shape[0]
    F, C, kh, kw = w.shape
    b = np.zeros(F, xp.dtype) if bias is None else np.ascontiguousarray(bias, xp.dtype).reshape(F)
    y = np.empty((N, F, Ho, Wo), dtype=xp.dtype)
    with serial_blas():
        parallel(_patch.forward, N, xp, w.reshape(F, C * kh * kw), b, kh, kw, y)
    return y


def weight_grad(dy, xp, kh, kw):
    """Eq 3: dw (F, C, kh, kw), the batch sum, from ``dy`` (N, F, Ho, Wo) and ``xp`` (N, C, Hp, Wp)."""
    N, F = dy.shape[:2]
    C = xp.shape[1]
    dwt = np.zeros((len(ranges(N)), F, C * kh * kw), dtype=xp.dtype)
    with serial_blas():
        parallel(_patch.weight_grad, N, dy, xp, kh, kw, dwt, index=True)
    return dwt.sum(axis=0).reshape(F, C, kh, kw)


def input_grad(dy, w, pad, H, W):
    """Eq 2: dx (N, C, H, W) from ``dy`` (N, F, Ho, Wo) and ``w`` (F, C, kh, kw), cropped by ``pad``."""
    N = dy.shape[0]
    F, C, kh, kw = w.shape
    dxp = np.empty((N, C, H + 2 * pad, W + 2 * pad), dtype=dy.dtype)
    with serial_blas():
        parallel(_patch.input_grad, N, dy, w.reshape(F, C * kh * kw), kh, kw, dxp)
    if pad == 0:
        return dxp
    return np.ascontiguousarray(dxp[:, :, pad:pad + H, pad:pad + W])

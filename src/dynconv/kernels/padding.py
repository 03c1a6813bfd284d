"""The zero-padded copy of an input that every convolution kernel starts from (and caches)."""
from __future__ import annotations

import numba
import numpy as np

from dynconv.kernels import _loops
from dynconv.kernels._blas import parallel

__all__ = ["pad_input"]


def pad_input(x, pad):
    """A zero-padded C-contiguous copy of ``x`` (N, C, H, W), ``pad`` on each spatial side.

    One pass over ``x``: the interior is copied, only the border is zeroed. With ``pad > 0`` the
    samples are split over the kernels' threads: NumPy's strided assignment into the padded
    interior took 6.1 ms for a (64, 64, 25, 25) float32 input padded by 2, the numba loop 3.0 ms on
    2 threads. Without padding NumPy's contiguous copy (1.4 ms) beat the loop (2.3 ms).
    """
    N, C, H, W = x.shape
    if pad == 0:
        return np.array(x, order="C", copy=True)
    xp = np.empty((N, C, H + 2 * pad, W + 2 * pad), dtype=x.dtype)
    if numba.config.DISABLE_JIT:
        xp[:, :, :pad] = 0
        xp[:, :, H + pad:] = 0
        xp[:, :, pad:H + pad, :pad] = 0
        xp[:, :, pad:H + pad, W + pad:] = 0
        xp[:, :, pad:pad + H, pad:pad + W] = x
    else:
        parallel(_loops.pad_copy, N, x, pad, xp)
    return xp

"""Fast numba kernels: the paper's equations 1–7 for float32 and float64.

Same function names and signatures as :mod:`dynconv.reference` (the literal loops they are
tested against), plus an ``algorithm=`` keyword:

* :func:`conv2d_forward` / :func:`conv2d_backward` — eqs 1–3, by one of :data:`ALGORITHMS`
  (shift-and-accumulate GEMM, im2col + GEMM, per-sample patch GEMM, direct loops), picked by :func:`choose_algorithm`;
* :func:`dynamic_conv2d_forward` / :func:`dynamic_conv2d_backward` — eqs 5–7, one kernel per
  sample, by one of :data:`DYNAMIC_ALGORITHMS`;
* :func:`sgd_update` — eq 4, in place;
* :func:`set_threads` / :func:`get_threads` — the one thread count of the kernels (numba's
  pool and NumPy's BLAS; the kernels' own BLAS calls run serial inside their parallel loops).

The contract
------------
Every function checks its arguments (types, ranks, shapes, one shared float dtype, the padding,
the kernel fitting the padded input) on the arrays as given, before copying anything, and raises
``TypeError`` (wrong type) or ``ValueError`` (wrong shape, dtype or value) naming the argument:
a bad call never reaches a loop that does not bounds-check. Any memory layout is accepted. The
forward caches own private copies of what backward needs, so backward uses the values of the
forward pass whatever happens to the caller's arrays, and it re-checks every cache field before
any loop runs. Outputs are fully written (no uninitialised memory is ever returned).
"""
from __future__ import annotations

import numpy as np

from dynconv.kernels._blas import get_threads, parallel, serial_blas, set_threads
from dynconv.kernels.memory import reuse_freed_memory
from dynconv.kernels.conv2d import (ALGORITHMS, Conv2DCache, choose_algorithm, conv2d_backward,
                                    conv2d_forward)
from dynconv.kernels.dynamic import (DYNAMIC_ALGORITHMS, DynamicConv2DCache,
                                     choose_dynamic_algorithm, dynamic_conv2d_backward,
                                     dynamic_conv2d_forward)

__all__ = [
    "ALGORITHMS",
    "DYNAMIC_ALGORITHMS",
    "Conv2DCache",
    "DynamicConv2DCache",
    "choose_algorithm",
    "choose_dynamic_algorithm",
    "conv2d_forward",
    "conv2d_backward",
    "dynamic_conv2d_forward",
    "dynamic_conv2d_backward",
    "sgd_update",
    "set_threads",
    "get_threads",
    "parallel",
    "serial_blas",
    "reuse_freed_memory",
]


def sgd_update(w, dw, lr):
    r"""Equation 4 in place: :math:`k_{ij} \leftarrow k_{ij} - \alpha\,\partial l/\partial k_{ij}`.

    Parameters
    ----------
    w : ndarray, float32 or float64, writeable
        Modified in place and returned (training updates parameters where they live).
    dw : ndarray, same shape and dtype as ``w``
    lr : real number (int or float, finite; not bool)

    Raises
    ------
    TypeError
        ``w``/``dw`` not arrays, ``lr`` not a real number.
    ValueError
        Shape or dtype mismatch, non-float ``w``, read-only ``w``, non-finite ``lr``.
    """
    if not isinstance(w, np.ndarray):
        raise TypeError(f"w must be a numpy array, got {type(w).__name__}")
    if not isinstance(dw, np.ndarray):
        raise TypeError(f"dw must be a numpy array, got {type(dw).__name__}")
    if isinstance(lr, (bool, np.bool_)) or not isinstance(lr, (int, float, np.integer, np.floating)):
        raise TypeError(f"lr must be a real number, got {lr!r}")
    if not np.isfinite(lr):
        raise ValueError(f"lr must be finite, got {lr!r}")
    if w.dtype.kind != "f" or w.dtype not in (np.float32, np.float64):
        raise ValueError(f"w must be float32 or float64, got dtype {w.dtype}")
    if dw.dtype != w.dtype:
        raise ValueError(f"dw has dtype {dw.dtype} but w is {w.dtype}; convert with .astype(np.{w.dtype})")
    if w.shape != dw.shape:
        raise ValueError(f"dw must have the shape of w {w.shape}, got {dw.shape}")
    if not w.flags.writeable:
        raise ValueError("w must be writeable (it is updated in place)")
    w -= w.dtype.type(lr) * dw
    return w

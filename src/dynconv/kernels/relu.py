r"""The rectified linear unit as a kernel pair: :func:`relu_forward` and :func:`relu_backward`.

.. math::

    y = \max(x, 0), \qquad \frac{\partial l}{\partial x} = \frac{\partial l}{\partial y}\,[x > 0]

element-wise, on an array of any shape (the gradient at exactly 0 is taken as 0). Special
values: ``ReLU(-inf) = 0``, ``ReLU(nan) = nan`` (with gradient 0), and the gradient is a
*select*, never a product, so an infinite ``dy`` where ``x <= 0`` gives 0 rather than NaN.
:func:`dynconv.reference.relu_forward` / :func:`~dynconv.reference.relu_backward` are the same
definitions as literal loops, which the tests compare these with.

Why a kernel: in an SRCNN training step the two ReLUs touch 2 × 64 + 2 × 32 channels of every
sub-image twice, and NumPy's ``x > 0``, ``np.maximum`` and ``dy * mask`` are three passes, on one
thread. Here forward is one pass writing ``y`` and the mask, and backward one pass, both split
into slices over the kernels' threads (:func:`dynconv.kernels._blas.parallel`). Arrays below
:data:`MIN_SLICE` elements per thread run on the calling thread: waking the pool would cost more.
Under ``NUMBA_DISABLE_JIT=1`` the same definitions run as NumPy expressions (an element loop in
Python would take seconds per layer).
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from dynconv.kernels import _relu
from dynconv.kernels._blas import get_threads, parallel
from dynconv.kernels.validate import FLOAT_DTYPES

__all__ = ["ReLUCache", "relu_forward", "relu_backward", "MIN_SLICE"]

#: Fewest elements a thread is given: smaller arrays run on the calling thread alone.
MIN_SLICE = 1 << 16


class ReLUCache(NamedTuple):
    """What :func:`relu_backward` needs: ``mask`` (the shape of ``x``, bool, ``x > 0``; a private
    C-contiguous array) and ``dtype``, the dtype of ``x`` (and of the ``dy`` it takes)."""

    mask: np.ndarray
    dtype: np.dtype


def _check(a, name, dtype=None):
    """``a`` as a C-contiguous float32/float64 array (of ``dtype`` when given), else an error."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array (float32 or float64, any shape), "
                        f"got {type(a).__name__}")
    if a.dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got dtype {a.dtype}")
    if dtype is not None and a.dtype != dtype:
        raise ValueError(f"{name} has dtype {a.dtype} but the forward input was {dtype}; "
                         f"convert with .astype(np.{dtype})")
    return np.asarray(a, order="C")  # not ascontiguousarray: that makes a 0-d array 1-d


def _parts(size):
    return int(max(1, min(get_threads(), size // MIN_SLICE)))


def relu_forward(x):
    """``(y, cache)``: ``y = max(x, 0)`` (NaN kept), for ``x`` of any shape, float32 or float64.

    Parameters
    ----------
    x : ndarray, any shape, float32 or float64, any memory layout

    Returns
    -------
    y : ndarray, ``x.shape``, ``x.dtype``, C-contiguous (a new array)
    cache : ReLUCache
    """
    x = _check(x, "x")
    y = np.empty(x.shape, dtype=x.dtype)
    mask = np.empty(x.shape, dtype=np.bool_)
    if numba.config.DISABLE_JIT:
        np.greater(x, 0, out=mask)
        np.maximum(x, x.dtype.type(0), out=y)  # -inf -> 0; NaN stays NaN
    else:
        parts = _parts(x.size)
        parallel(_relu.forward, parts, x.reshape(-1), y.reshape(-1), mask.reshape(-1), parts)
    return y, ReLUCache(mask, x.dtype)


def relu_backward(dy, cache):
    r"""``dx = dy`` where the forward input was > 0, else 0.

    Parameters
    ----------
    dy : ndarray, the forward output's shape and dtype, any memory layout
    cache : ReLUCache from :func:`relu_forward`

    Returns
    -------
    dx : ndarray, ``dy.shape``, ``dy.dtype``, C-contiguous (a new array)
    """
    if not isinstance(cache, ReLUCache):
        raise TypeError(f"cache must be the ReLUCache returned by relu_forward, got {type(cache).__name__}")
    mask = cache.mask
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or not mask.flags.c_contiguous:
        raise ValueError("ReLUCache.mask must be the C-contiguous bool array relu_forward returned; "
                         "pass the cache unchanged")
    dy = _check(dy, "dy", np.dtype(cache.dtype))
    if dy.shape != mask.shape:
        raise ValueError(f"dy must have shape {mask.shape} (the forward output's), got {dy.shape}")
    dx = np.empty(dy.shape, dtype=dy.dtype)
    if numba.config.DISABLE_JIT:
        np.copyto(dx, 0)
        np.copyto(dx, dy, where=mask)  # a select: inf * 0 would be NaN
    else:
        parts = _parts(dy.size)
        parallel(_relu.backward, parts, dy.reshape(-1), mask.reshape(-1), dx.reshape(-1), parts)
    return dx

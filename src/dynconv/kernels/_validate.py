"""Input validation for the numba kernels.

numba does not bounds-check: a wrong shape reaching a jitted loop reads or writes outside an
array. Every public kernel therefore goes through these checks first, and every error names the
argument and the shape it should have.
"""
from __future__ import annotations

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_float_array(a, name, ndim, shape_doc, dtype=None):
    """Return ``a`` as a C-contiguous float32/float64 array of rank ``ndim``.

    ``dtype``, when given, is the dtype the other operands already have: mixing float32 and
    float64 is an error rather than a silent up-cast (it usually means a forgotten ``astype``).
    """
    if not isinstance(a, np.ndarray):
        raise ValueError(f"{name} must be a numpy array of shape {shape_doc}, got {type(a).__name__}")
    if a.dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got dtype {a.dtype}")
    if dtype is not None and a.dtype != dtype:
        raise ValueError(f"{name} has dtype {a.dtype} but the other operands are {dtype}; "
                         f"convert with .astype(np.{dtype})")
    if a.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape_doc}, got {a.shape}")
    if 0 in a.shape:
        raise ValueError(f"{name} must not be empty, got shape {a.shape}")
    return np.ascontiguousarray(a)


def check_pad(pad, kh, kw):
    if isinstance(pad, (bool, np.bool_)) or not isinstance(pad, (int, np.integer)):
        raise ValueError(f"pad must be an int, got {pad!r}")
    if not 0 <= pad < min(kh, kw):
        raise ValueError(f"pad must be in [0, {min(kh, kw) - 1}] for a {kh}x{kw} kernel, got {pad}")
    return int(pad)


def output_size(x, kh, kw, pad, xname="x"):
    """(Ho, Wo) of a stride-1 layer, or a ValueError when the kernel does not fit."""
    H, W = x.shape[2] + 2 * pad, x.shape[3] + 2 * pad
    if kh > H or kw > W:
        raise ValueError(f"kernel {kh}x{kw} is larger than the padded input {H}x{W} "
                         f"({xname} has shape {x.shape}, pad={pad})")
    return H - kh + 1, W - kw + 1


def check_dy(dy, expected, dtype):
    dy = as_float_array(dy, "dy", 4, "(N, F, Ho, Wo)", dtype)
    if dy.shape != expected:
        raise ValueError(f"dy must have shape {expected} (the forward output's), got {dy.shape}")
    return dy

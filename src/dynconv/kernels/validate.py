"""Argument checks for the numba kernels.

numba does not bounds-check: a wrong shape reaching a jitted loop reads or writes outside an
array. Every public kernel therefore goes through these checks first — on the caller's arrays
as they are (views included), before anything is copied — and every error names the argument,
what it should be and what it is. Wrong Python types raise ``TypeError``; wrong shapes, dtypes
and values raise ``ValueError``.
"""
from __future__ import annotations

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_array(a, name, ndim, shape_doc, dtype=None):
    """Check ``a`` is a non-empty float32/float64 ndarray of rank ``ndim``; return it unchanged.

    ``dtype``, when given, is the dtype the other operands already have: mixing float32 and
    float64 is an error rather than a silent up-cast (it usually means a forgotten ``astype``).
    Nothing is copied: a broadcast view of any virtual size is checked for free.
    """
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of shape {shape_doc}, got {type(a).__name__}")
    if a.dtype not in FLOAT_DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got dtype {a.dtype}")
    if dtype is not None and a.dtype != dtype:
        raise ValueError(f"{name} has dtype {a.dtype} but the other operands are {dtype}; "
                         f"convert with .astype(np.{dtype})")
    if a.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape_doc}, got {a.shape}")
    if 0 in a.shape:
        raise ValueError(f"{name} must not be empty, got shape {a.shape}")
    return a


def as_float_array(a, name, ndim, shape_doc, dtype=None):
    """:func:`check_array`, then a C-contiguous version (a copy only when needed)."""
    return np.ascontiguousarray(check_array(a, name, ndim, shape_doc, dtype))


def owned_copy(a):
    """A private C-contiguous copy of ``a`` (what a cache may hold: no caller shares it)."""
    return np.array(a, order="C", copy=True)


def check_int(value, name, low, high=None, *, integral_float=False):
    """An int (not bool) in ``[low, high]``; TypeError for another type, ValueError out of range.

    ``integral_float=True`` also takes an integral finite float such as ``64.0`` (a count read
    from JSON or TOML), and names a fractional or infinite one in a ValueError.
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if integral_float and isinstance(value, (float, np.floating)):
        if not np.isfinite(value) or value != int(value):
            raise ValueError(f"{name} must be an integral number >= {low}, got {value!r}")
        value = int(value)
    if not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < low or (high is not None and value > high):
        rng = f"in [{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {rng}, got {value}")
    return int(value)


def check_bool(value, name):
    """A real boolean (Python or NumPy bool); anything else is a TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, got {value!r}")
    return bool(value)


def check_pad(pad, kh, kw):
    if isinstance(pad, (bool, np.bool_)) or not isinstance(pad, (int, np.integer)):
        raise TypeError(f"pad must be an int, got {pad!r}")
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
    """``dy`` checked against the forward output's shape and dtype, then made C-contiguous."""
    dy = check_array(dy, "dy", len(expected), "(N, F, Ho, Wo)", dtype)
    if dy.shape != tuple(expected):
        raise ValueError(f"dy must have shape {tuple(expected)} (the forward output's), got {dy.shape}")
    return np.ascontiguousarray(dy)


def check_cache_array(a, name, shape, dtype, cache_name):
    """A cache field: an ndarray of exactly ``shape`` and ``dtype``, C-contiguous."""
    if not isinstance(a, np.ndarray) or a.dtype != dtype or a.shape != tuple(shape) \
            or not a.flags.c_contiguous:
        got = (f"{type(a).__name__}" if not isinstance(a, np.ndarray) else
               f"shape {a.shape}, dtype {a.dtype}, C-contiguous {a.flags.c_contiguous}")
        raise ValueError(f"{cache_name}.{name} is inconsistent with the rest of the cache: expected "
                         f"a C-contiguous {np.dtype(dtype)} array of shape {tuple(shape)}, got {got}; "
                         f"pass the cache returned by the forward pass unchanged")
    return a


def check_zero_border(xp, pad, cache_name):
    """The padded copy's border must be zero (else backward would silently differ from eq 2–3)."""
    if pad and (xp[:, :, :pad].any() or xp[:, :, -pad:].any()
                or xp[:, :, :, :pad].any() or xp[:, :, :, -pad:].any()):
        raise ValueError(f"{cache_name}.xp has non-zero values in its zero-padding border "
                         f"(pad={pad}); pass the cache returned by the forward pass unchanged")

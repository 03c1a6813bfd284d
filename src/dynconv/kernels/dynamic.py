r"""Fast dynamic convolution: equations 5–7, one kernel per sample.

Same names, signatures and results as :mod:`dynconv.reference`. Every sample ``t`` brings its
own kernel :math:`k^t`, so there is no weight matrix shared by the batch — but within a sample
eq 5 is an ordinary convolution, so both algorithms of :data:`ALGORITHMS` run per sample:

``"kn2row"``
    The shift-and-accumulate GEMM of :mod:`dynconv.kernels.kn2row` with the kernel of sample
    ``t`` (samples in parallel, BLAS per sample); eq 7's ``dk^t`` is one GEMM per sample and
    kernel offset, never summed over the batch.
``"direct"``
    numba loops on the zero-padded input, samples in parallel (sample ``t`` owns ``y[t]``,
    ``dx[t]`` and ``dk[t]``); the innermost loop runs along an output row so numba vectorises it.
    Fastest for very few output channels (the reconstruction layer, F = 1) in inference.
``"blocked"``
    The register-blocked loops of :mod:`dynconv.kernels.blocked`, which load sample ``t``'s
    kernel when its first work item starts; eq 7's ``dk^t`` is that sample's own sum. No BLAS:
    the training algorithm (see :func:`choose_dynamic_algorithm`).

The cache owns copies of the padded ``x`` and of ``k``: backward uses the values they
had at the forward pass, and re-checks every field before any loop runs.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dynconv.kernels import _loops, blocked, kn2row
from dynconv.kernels._blas import parallel
from dynconv.kernels.validate import (check_array, check_bool, check_cache_array, check_dy,
                                       check_pad, check_zero_border, output_size,
                                       owned_copy)
from dynconv.kernels.conv2d import DIRECT_MAX_F, check_algorithm
from dynconv.kernels.padding import pad_input

__all__ = ["DYNAMIC_ALGORITHMS", "DynamicConv2DCache", "choose_dynamic_algorithm",
           "dynamic_conv2d_forward", "dynamic_conv2d_backward"]

#: Every algorithm of the dynamic convolution.
DYNAMIC_ALGORITHMS = ("kn2row", "direct", "blocked")


class DynamicConv2DCache(NamedTuple):
    """What :func:`dynamic_conv2d_backward` needs from the forward pass (arrays owned)."""

    xp: np.ndarray  # (N, C, H + 2 pad, W + 2 pad): the zero-padded input
    k: np.ndarray  # (N, F, C, kh, kw)
    has_bias: bool
    pad: int
    algorithm: str = "direct"  # one of DYNAMIC_ALGORITHMS


def choose_dynamic_algorithm(F, C, kh, kw, *, training=False):
    """``"direct"`` for ``F <= DIRECT_MAX_F`` output channels, else ``"kn2row"`` (per sample);
    ``"blocked"`` with ``training=True``.

    Measured in one process on the shipped DCNN's two dynamic layers (B = 64, 25×25 inputs,
    float32, a 2-core AVX2 EPYC at load 0.4, medians of 7; forward / backward ms, 2 threads):
    64→32 1×1, kn2row 7.5 / 11.7 and blocked 6.6 / 10.9; 32→1 5×5, direct 5.9 / 12.7 and
    blocked 3.1 / 4.7. Inference keeps kn2row / direct, whose rounding the shipped models'
    outputs were produced with.
    """
    training = check_bool(training, "training")
    if training:
        return "blocked"
    return "direct" if F <= DIRECT_MAX_F else "kn2row"


def dynamic_conv2d_forward(x, k, b=None, *, pad=0, algorithm=None):
    r"""Equation 5, fast: :math:`y^t_j = \sum_i k^t_{ij} * x^t_i + b^t_j`.

    .. math::

        y[t, j, r, s] = b[t, j] + \sum_i \sum_{u, v} k[t, j, i, u, v]\; x_p[t, i, r + u, s + v]

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64
        Feature maps from network A.
    k : ndarray, shape (N, F, C, kh, kw), same dtype
        One kernel per sample, from the filter-generating network B.
    b : ndarray, shape (N, F), optional
        Per-sample bias.
    pad : int, ``0 <= pad < min(kh, kw)``
    algorithm : str, optional
        One of :data:`DYNAMIC_ALGORITHMS`; None picks by :func:`choose_dynamic_algorithm`.

    Returns
    -------
    y : ndarray, shape (N, F, Ho, Wo)
    cache : DynamicConv2DCache

    Raises
    ------
    TypeError, ValueError
        As :func:`dynconv.kernels.conv2d_forward`, naming the argument.
    """
    x = check_array(x, "x", 4, "(N, C, H, W)")
    k = check_array(k, "k", 5, "(N, F, C, kh, kw)", x.dtype)
    N, F, C, kh, kw = k.shape
    if x.shape[:2] != (N, C):
        raise ValueError(f"x must have shape ({N}, {C}, H, W) to match k {k.shape}, got {x.shape}")
    pad = check_pad(pad, kh, kw)
    Ho, Wo = output_size(x, kh, kw, pad)
    if b is not None:
        b = check_array(b, "b", 2, f"({N}, {F})", x.dtype)
        if b.shape != (N, F):
            raise ValueError(f"b must have shape ({N}, {F}), got {b.shape}")
    algorithm = check_algorithm(algorithm, choose_dynamic_algorithm(F, C, kh, kw),
                                DYNAMIC_ALGORITHMS)
    xp, k = pad_input(x, pad), owned_copy(k)
    bias = np.zeros((N, F), x.dtype) if b is None else np.array(b, order="C")
    if algorithm == "kn2row":
        y = kn2row.correlate(xp, k, bias, Ho, Wo)
    elif algorithm == "blocked":
        y = blocked.forward(xp, k, bias, Ho, Wo)
    else:
        y = np.empty((N, F, Ho, Wo), dtype=x.dtype)
        parallel(_loops.direct_forward, N, xp, k, bias, y)
    return y, DynamicConv2DCache(xp, k, b is not None, pad, algorithm)


def check_cache(cache):
    """Re-check every field of a :class:`DynamicConv2DCache` against the others."""
    if not isinstance(cache, DynamicConv2DCache):
        raise TypeError("cache must be the DynamicConv2DCache returned by "
                        f"dynconv.kernels.dynamic_conv2d_forward, got {type(cache).__name__}")
    xp, k, has_bias, pad, algorithm = cache
    name = "DynamicConv2DCache"
    if not isinstance(k, np.ndarray) or k.ndim != 5 or k.dtype not in (np.float32, np.float64) \
            or 0 in k.shape:
        raise ValueError(f"{name}.k must be a non-empty float32/float64 array (N, F, C, kh, kw)")
    N, F, C, kh, kw = k.shape
    check_cache_array(k, "k", k.shape, k.dtype, name)
    if not isinstance(has_bias, (bool, np.bool_)):
        raise ValueError(f"{name}.has_bias must be a bool, got {has_bias!r}")
    try:
        pad = check_pad(pad, kh, kw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}.pad is inconsistent with k: {exc}") from None
    algorithm = check_algorithm(algorithm, None, DYNAMIC_ALGORITHMS)
    if algorithm is None:
        raise ValueError(f"{name}.algorithm must be one of {DYNAMIC_ALGORITHMS}, got None")
    if not isinstance(xp, np.ndarray) or xp.ndim != 4:
        raise ValueError(f"{name}.xp must be a 4-D array (N, C, Hp, Wp), got {type(xp).__name__}")
    Hp, Wp = xp.shape[2], xp.shape[3]
    check_cache_array(xp, "xp", (N, C, Hp, Wp), k.dtype, name)
    if Hp - 2 * pad < 1 or Wp - 2 * pad < 1 or Hp < kh or Wp < kw:
        raise ValueError(f"{name}.xp {xp.shape} does not fit the {kh}x{kw} kernel with pad={pad}")
    check_zero_border(xp, pad, name)
    return xp, k, bool(has_bias), pad, algorithm


def dynamic_conv2d_backward(dy, cache, *, need_input_grad=True):
    r"""Equations 6 and 7, fast: ``(dx, dk, db)`` for :func:`dynamic_conv2d_forward`.

    .. math::

        \frac{\partial l}{\partial x^t_i} = \sum_j \frac{\partial l}{\partial y^t_j} * k^t_{ij},
        \qquad
        \frac{\partial l}{\partial k^t_{ij}} = \frac{\partial l}{\partial y^t_j} \star x^t_i

    ``dk`` keeps one kernel gradient per sample, shape (N, F, C, kh, kw): it flows back into
    network B (see :func:`dynconv.reference.dynamic_conv2d_backward` on the paper's
    :math:`\frac1T\sum_t`). Uses the values ``x`` and ``k`` had at the forward pass.

    Returns
    -------
    dx : ndarray (N, C, H, W) or None (when ``need_input_grad`` is False)
    dk : ndarray (N, F, C, kh, kw)
    db : ndarray (N, F) or None
    """
    need_input_grad = check_bool(need_input_grad, "need_input_grad")
    xp, k, has_bias, pad, algorithm = check_cache(cache)
    N, F, C, kh, kw = k.shape
    Hp, Wp = xp.shape[2], xp.shape[3]
    dy = check_dy(dy, (N, F, Hp - kh + 1, Wp - kw + 1), k.dtype)
    db = dy.sum(axis=(2, 3)) if has_bias else None
    if algorithm == "kn2row":
        dk = kn2row.weight_grad(dy, xp, kh, kw, per_sample=True)
        dx = kn2row.input_grad(dy, k, pad) if need_input_grad else None
        return dx, dk, db
    if algorithm == "blocked":
        dk = blocked.weight_grad(dy, xp, kh, kw, per_sample=True)
        H, W = Hp - 2 * pad, Wp - 2 * pad
        dx = blocked.input_grad(dy, k, pad, H, W) if need_input_grad else None
        return dx, dk, db
    dk = np.empty(k.shape, dtype=k.dtype)
    parallel(_loops.direct_backward_dk, N, dy, xp, dk)
    dx = None
    if need_input_grad:
        dxp = np.empty(xp.shape, dtype=xp.dtype)
        parallel(_loops.direct_backward_dx, N, dy, k, dxp)
        dx = np.ascontiguousarray(dxp[:, :, pad:Hp - pad, pad:Wp - pad])
    return dx, dk, db

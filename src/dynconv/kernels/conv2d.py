r"""Fast static convolution: equations 1–3, by one of seven algorithms.

Same names and results as :mod:`dynconv.reference` (see it for the equations and for how the
paper's ``*`` maps onto cross-correlation), for float32 and float64.

Algorithms (:data:`ALGORITHMS`)
-------------------------------
``"kn2row"``
    Shift-and-accumulate GEMM (:mod:`dynconv.kernels.kn2row`): a k×k convolution is the sum of
    k² 1×1 convolutions of shifted inputs, each one BLAS call on a strided view of the padded
    input; nothing is unfolded. dx is the same loop on the padded ``dy`` with the flipped kernel.
``"tiled"``
    kn2row with several samples per GEMM (:mod:`dynconv.kernels.tiled`): the batch is laid side
    by side into wider images, so one BLAS call covers several samples.
``"im2col"``
    The textbook unfold + one GEMM per chunk of samples (:mod:`dynconv.kernels.im2col`).
``"winograd"``
    Winograd F(2×2, r×r) for kernels up to 5×5 (:mod:`dynconv.kernels.winograd`): per 2×2
    output tile, 36 products instead of 100 for 5×5, as one GEMM per transform point over all
    the tiles of a block of samples; its float32 rounding error is larger than the direct sum's.
``"patch"``
    One GEMM per sample on its patch matrix, written in the output's layout
    (:mod:`dynconv.kernels.patch`); a 1×1 layer is a plain GEMM reading the input in place.
``"direct"``
    numba loops on the padded input (``_loops.direct_*``), parallel over samples: for very few
    output channels the GEMM degenerates to a memory-bound matrix–vector product.
``"blocked"``
    Register-blocked direct loops without BLAS (:mod:`dynconv.kernels.blocked`): rows of output
    pixels in SIMD vectors, 2 output channels × 8 taps per pass, accumulated in cache; dx is
    the same loop on the padded ``dy``; dw sums 4 channels × 4 taps per pass in registers.

:func:`choose_algorithm` picks one per layer shape; ``algorithm=`` overrides it. The choice is
cited against ``benchmarks/bench_kernels.py``, whose measured tables are in
``benchmarks/README.md``.

What the cache holds
--------------------
Only arrays it owns: a zero-padded copy of ``x`` and a copy of ``w``. The
backward pass therefore always uses the values ``x`` and ``w`` had at the forward pass, on every
algorithm, whatever the caller does to its arrays in between; and it re-checks every field of the
cache against the others before any numba loop runs.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dynconv.kernels import _loops, blocked, im2col, kn2row, patch, tiled, winograd
from dynconv.kernels._blas import parallel
from dynconv.kernels.padding import pad_input
from dynconv.kernels.validate import (check_array, check_bool, check_cache_array, check_dy,
                                       check_pad, check_zero_border, output_size,
                                       owned_copy)

__all__ = ["ALGORITHMS", "Conv2DCache", "choose_algorithm", "conv2d_forward", "conv2d_backward"]

#: Every algorithm of the static convolution, in the order the benchmark and notebook list them.
ALGORITHMS = ("kn2row", "tiled", "im2col", "winograd", "patch", "direct", "blocked")

#: Up to this many output channels, the direct loops beat the GEMM-based algorithms.
DIRECT_MAX_F = 4


class Conv2DCache(NamedTuple):
    """What :func:`conv2d_backward` needs from the forward pass (all arrays owned)."""

    x_shape: tuple  # (N, C, H, W)
    w: np.ndarray  # (F, C, kh, kw), C-contiguous copy
    has_bias: bool
    pad: int
    algorithm: str  # one of ALGORITHMS
    xp: np.ndarray  # (N, C, H + 2 pad, W + 2 pad): zero-padded copy of x


def choose_algorithm(F, C, kh, kw, *, training=False):
    """The algorithm :func:`conv2d_forward` uses for a layer ``w`` of shape (F, C, kh, kw).

    ``"direct"`` for ``F <= DIRECT_MAX_F`` output channels (a GEMM with so few columns is a
    memory-bound matrix–vector product, and the loops win), else ``"kn2row"``, which beats
    ``"im2col"`` on every SRCNN shape because it never writes the unfolded matrix. ``"winograd"``
    is never picked: on the 64→32 5×5 layer (B = 128, 25×25, one thread) its forward took 177 ms
    against kn2row's 129 and its backward 313 against 306, with a float32 error 20–40× kn2row's.

    With ``training=True``: ``"patch"`` for a 1×1 kernel with more than ``DIRECT_MAX_F`` outputs
    (the 64→32 1×1 SRCNN layer: a plain GEMM per sample, no wide grid, no transposed copy), and
    ``"blocked"`` for every other kernel larger than 1×1, whatever F and C. Measured at B = 64
    on 33×33 sub-images, one thread, forward + backward, CPU time (busy machine, load 8–9):
    ``"blocked"`` took 0.72× the time of ``"patch"`` on 1→64 9×9, 0.78× of kn2row on 64→32 5×5,
    0.55–0.67× of ``"direct"`` on 32→1 5×5, 0.71× of kn2row on 3→64 3×3; ``"patch"`` took 0.77×
    of ``"blocked"`` on 64→32 1×1. Again on a quiet AVX2 EPYC (2026-12-07, whole 9-1-5 / 9-5-5
    steps, B = 64, interleaved), with ``"blocked"`` at 4 taps per pass for AVX2's 16 registers:
    ``"patch"`` took 1.00–1.07× its time on 1→64 9×9, ``"kn2row"`` 1.27× on 64→32 5×5.
    Inference keeps ``"kn2row"`` / ``"direct"`` (the default, ``training=False``), whose rounding
    the shipped models' outputs were produced with: their upscales stay bit-identical.

    Parameters
    ----------
    F, C, kh, kw : int
        Output channels, input channels, kernel height and width.
    training : bool
        Pick for a training step (forward and backward) rather than for inference.

    Returns
    -------
    str
        One of :data:`ALGORITHMS`.
    """
    training = check_bool(training, "training")
    if training and (kh > 1 or kw > 1):
        return "blocked"
    if F <= DIRECT_MAX_F:
        return "direct"
    return "patch" if training else "kn2row"


def check_algorithm(algorithm, default, choices=ALGORITHMS):
    if algorithm is None:
        return default
    if not isinstance(algorithm, str):
        raise TypeError(f"algorithm must be None or a str, got {algorithm!r}")
    if algorithm not in choices:
        raise ValueError(f"algorithm must be one of {choices}, got {algorithm!r}")
    return algorithm


def check_supported(algorithm, kh, kw, name):
    """``"winograd"`` is built for kernels up to ``winograd.MAX_TAPS`` on each side."""
    if algorithm == "winograd" and not winograd.supports(kh, kw):
        raise ValueError(f"{name}='winograd' supports kernels up to {winograd.MAX_TAPS}x"
                         f"{winograd.MAX_TAPS}, got {kh}x{kw}; use another of {ALGORITHMS}")


def conv2d_forward(x, w, b=None, *, pad=0, algorithm=None):
    r"""Equation 1, fast: :math:`y^t_j = \sum_i k_{ij} * x^t_i + b_j` (cross-correlation).

    .. math::

        y[t, j, r, s] = b_j + \sum_i \sum_{u, v} w[j, i, u, v]\; x_p[t, i, r + u, s + v]

    with :math:`x_p` the input zero-padded by ``pad``.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W), float32 or float64
        Any memory layout; it is copied (padded) into the cache, never kept.
    w : ndarray, shape (F, C, kh, kw), same dtype as ``x``
    b : ndarray, shape (F,), optional, same dtype
    pad : int, ``0 <= pad < min(kh, kw)``
    algorithm : str, optional
        One of :data:`ALGORITHMS`; None lets :func:`choose_algorithm` pick.

    Returns
    -------
    y : ndarray, shape (N, F, H + 2 pad - kh + 1, W + 2 pad - kw + 1), dtype of ``x``
    cache : Conv2DCache

    Raises
    ------
    TypeError
        An argument of the wrong type (not an ndarray, ``pad`` not an int, ...).
    ValueError
        Wrong shapes, dtypes or values; the message names the argument.
    """
    x = check_array(x, "x", 4, "(N, C, H, W)")
    w = check_array(w, "w", 4, "(F, C, kh, kw)", x.dtype)
    F, C, kh, kw = w.shape
    if x.shape[1] != C:
        raise ValueError(f"x has {x.shape[1]} channels but w {w.shape} expects C={C}")
    pad = check_pad(pad, kh, kw)
    if b is not None:
        b = check_array(b, "b", 1, f"({F},)", x.dtype)
        if b.shape != (F,):
            raise ValueError(f"b must have shape ({F},), got {b.shape}")
    Ho, Wo = output_size(x, kh, kw, pad)
    algorithm = check_algorithm(algorithm, choose_algorithm(F, C, kh, kw))
    check_supported(algorithm, kh, kw, "algorithm")
    # Everything is checked: only now copy (the padded input and the kernel the cache owns).
    xp, w = pad_input(x, pad), owned_copy(w)
    bias = None if b is None else np.array(b, order="C").reshape(1, F)
    if algorithm == "kn2row":
        y = kn2row.correlate(xp, w[None], bias, Ho, Wo)
    elif algorithm == "tiled":
        y = tiled.correlate(xp, w, bias, Ho, Wo)
    elif algorithm == "winograd":
        y = winograd.correlate(xp, w, bias, Ho, Wo)
    elif algorithm == "patch":
        y = patch.forward(xp, w, bias, Ho, Wo)
    elif algorithm == "blocked":
        y = blocked.forward(xp, w, bias, Ho, Wo)
    elif algorithm == "im2col":
        y = im2col.forward(xp, w, Ho, Wo)
        if bias is not None:
            y += bias.reshape(F, 1, 1)
    else:
        y = np.empty((x.shape[0], F, Ho, Wo), dtype=x.dtype)
        parallel(_loops.direct_forward, x.shape[0], xp, w[None],
                 np.zeros((1, F), x.dtype) if bias is None else bias, y)
    return y, Conv2DCache(tuple(int(s) for s in x.shape), w, b is not None, pad, algorithm, xp)


def check_cache(cache):
    """Re-check every field of a :class:`Conv2DCache` against the others; return the fields."""
    if not isinstance(cache, Conv2DCache):
        raise TypeError("cache must be the Conv2DCache returned by dynconv.kernels.conv2d_forward, "
                        f"got {type(cache).__name__}")
    x_shape, w, has_bias, pad, algorithm, xp = cache
    name = "Conv2DCache"
    if not (isinstance(x_shape, tuple) and len(x_shape) == 4
            and all(isinstance(s, (int, np.integer)) and not isinstance(s, (bool, np.bool_))
                    and s >= 1 for s in x_shape)):
        raise ValueError(f"{name}.x_shape must be 4 positive ints (N, C, H, W), got {x_shape!r}")
    if not isinstance(w, np.ndarray) or w.ndim != 4 or w.dtype not in (np.float32, np.float64):
        raise ValueError(f"{name}.w must be a float32/float64 array (F, C, kh, kw), got {w!r:.80}")
    N, C, H, W = (int(s) for s in x_shape)
    F, _, kh, kw = w.shape
    check_cache_array(w, "w", (F, C, kh, kw), w.dtype, name)
    if not isinstance(has_bias, (bool, np.bool_)):
        raise ValueError(f"{name}.has_bias must be a bool, got {has_bias!r}")
    try:
        pad = check_pad(pad, kh, kw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}.pad is inconsistent with w: {exc}") from None
    algorithm = check_algorithm(algorithm, None)
    if algorithm is None:
        raise ValueError(f"{name}.algorithm must be one of {ALGORITHMS}, got None")
    check_supported(algorithm, kh, kw, f"{name}.algorithm")
    check_cache_array(xp, "xp", (N, C, H + 2 * pad, W + 2 * pad), w.dtype, name)
    if H + 2 * pad < kh or W + 2 * pad < kw:
        raise ValueError(f"{name}: kernel {kh}x{kw} is larger than the padded input")
    check_zero_border(xp, pad, name)
    return (N, C, H, W), w, bool(has_bias), pad, algorithm, xp


def conv2d_backward(dy, cache, *, need_input_grad=True):
    r"""Equations 2 and 3, fast: ``(dx, dw, db)`` for :func:`conv2d_forward`.

    .. math::

        \frac{\partial l}{\partial x^t_i} = \sum_j \frac{\partial l}{\partial y^t_j} * k_{ij},
        \qquad
        \frac{\partial l}{\partial k_{ij}} = \sum_t \frac{\partial l}{\partial y^t_j} \star x^t_i

    (the batch sum without the paper's 1/T: the loss owns the average; see
    :func:`dynconv.reference.conv2d_backward`). Uses the values ``x`` and ``w`` had at the
    forward pass (the cache holds copies).

    Parameters
    ----------
    dy : ndarray, shape (N, F, Ho, Wo), dtype of the forward pass
    cache : Conv2DCache
        As returned by :func:`conv2d_forward`; every field is re-checked.
    need_input_grad : bool
        False skips eq 2 (e.g. for a first layer fed by the image) and returns ``dx = None``.

    Returns
    -------
    dx : ndarray (N, C, H, W) or None
    dw : ndarray (F, C, kh, kw)
    db : ndarray (F,) or None
    """
    need_input_grad = check_bool(need_input_grad, "need_input_grad")
    (N, C, H, W), w, has_bias, pad, algorithm, xp = check_cache(cache)
    F, _, kh, kw = w.shape
    dy = check_dy(dy, (N, F, H + 2 * pad - kh + 1, W + 2 * pad - kw + 1), w.dtype)
    db = dy.sum(axis=(0, 2, 3)) if has_bias else None
    if algorithm == "kn2row":
        dw = kn2row.weight_grad(dy, xp, kh, kw, per_sample=False)
        dx = kn2row.input_grad(dy, w[None], pad) if need_input_grad else None
        return dx, dw, db
    if algorithm == "tiled":
        dw = tiled.weight_grad(dy, xp, kh, kw)
        dx = tiled.input_grad(dy, w, pad, H, W) if need_input_grad else None
        return dx, dw, db
    if algorithm == "winograd":
        dw, dx = winograd.backward(dy, xp, w, pad, need_input_grad)
        return dx, dw, db
    if algorithm == "patch":
        dw = patch.weight_grad(dy, xp, kh, kw)
        dx = patch.input_grad(dy, w, pad, H, W) if need_input_grad else None
        return dx, dw, db
    if algorithm == "blocked":
        dw = blocked.weight_grad(dy, xp, kh, kw)
        dx = blocked.input_grad(dy, w, pad, H, W) if need_input_grad else None
        return dx, dw, db
    if algorithm == "im2col":
        dw, dx = im2col.backward(dy, xp, w, pad, need_input_grad)
        return dx, dw, db
    # Direct loops: per-sample kernel gradients (eq 7's form), then eq 3's batch sum, so no two
    # threads ever add into the same dw element.
    dk = np.empty((N,) + w.shape, dtype=w.dtype)
    parallel(_loops.direct_backward_dk, N, dy, xp, dk)
    dx = None
    if need_input_grad:
        dxp = np.empty(xp.shape, dtype=xp.dtype)
        parallel(_loops.direct_backward_dx, N, dy, w[None], dxp)
        dx = np.ascontiguousarray(dxp[:, :, pad:pad + H, pad:pad + W])
    return dx, dk.sum(axis=0), db

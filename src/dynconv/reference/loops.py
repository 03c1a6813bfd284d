r"""Eqs 1–7 as float64 loops: the static layer (eqs 1–4) and the dynamic layer (eqs 5–7).

See :mod:`dynconv.reference` for the conventions; every name here is importable from there.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = [
    "Conv2DCache",
    "DynamicConv2DCache",
    "conv2d_forward",
    "conv2d_backward",
    "sgd_update",
    "dynamic_conv2d_forward",
    "dynamic_conv2d_backward",
    "as_float64",
    "zero_pad",
]


class Conv2DCache(NamedTuple):
    """What :func:`conv2d_backward` needs from the forward pass."""

    x: np.ndarray  # (N, C, H, W) input
    w: np.ndarray  # (F, C, kh, kw) kernel
    has_bias: bool
    pad: int


class DynamicConv2DCache(NamedTuple):
    """What :func:`dynamic_conv2d_backward` needs from the forward pass."""

    x: np.ndarray  # (N, C, H, W) input
    k: np.ndarray  # (N, F, C, kh, kw) per-sample kernels
    has_bias: bool
    pad: int


def as_float64(a, name):
    """``a`` as a float64 array; a ValueError naming ``name`` for a non-numeric one."""
    a = np.asarray(a)
    if a.dtype.kind not in "fiu":
        raise ValueError(f"{name} must be a real numeric array, got dtype {a.dtype}")
    return a.astype(np.float64)


def zero_pad(x, pad):
    """``x`` (N, C, H, W) with ``pad`` zeros on each spatial side."""
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def _check_geometry(x, kh, kw, pad, xname):
    if x.ndim != 4:
        raise ValueError(f"{xname} must have shape (N, C, H, W), got {x.shape}")
    if not 0 <= pad < min(kh, kw):
        raise ValueError(f"pad must be in [0, {min(kh, kw) - 1}] for a {kh}x{kw} kernel, got {pad}")
    H, W = x.shape[2] + 2 * pad, x.shape[3] + 2 * pad
    if kh > H or kw > W:
        raise ValueError(
            f"kernel {kh}x{kw} is larger than the padded input {H}x{W} ({xname} {x.shape}, pad={pad})"
        )
    return H - kh + 1, W - kw + 1


# --------------------------------------------------------------------------- static layer
def conv2d_forward(x, w, b=None, *, pad=0):
    r"""Equation 1: :math:`y^t_j = \sum_i k_{ij} * x^t_i` (+ bias), as a cross-correlation.

    .. math::

        y_{t,j}[r, c] = b_j + \sum_i \sum_{u,v} w_{j,i}[u, v]\; x^{\mathrm{pad}}_{t,i}[r+u, c+v]

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
        Input feature maps :math:`x^t_i`.
    w : ndarray, shape (F, C, kh, kw)
        Kernels :math:`k_{ij}` (index order ``[j, i]``).
    b : ndarray, shape (F,), optional
        Bias, one per output map.
    pad : int
        Zero padding on every side, ``0 <= pad < min(kh, kw)``.

    Returns
    -------
    y : ndarray, shape (N, F, H + 2 pad - kh + 1, W + 2 pad - kw + 1), float64
    cache : Conv2DCache
    """
    x = as_float64(x, "x")
    w = as_float64(w, "w")
    if w.ndim != 4:
        raise ValueError(f"w must have shape (F, C, kh, kw), got {w.shape}")
    F, C, kh, kw = w.shape
    Ho, Wo = _check_geometry(x, kh, kw, pad, "x")
    N = x.shape[0]
    if x.shape[1] != C:
        raise ValueError(f"x has {x.shape[1]} channels but w expects C={C}: w {w.shape}")
    if b is not None:
        b = as_float64(b, "b")
        if b.shape != (F,):
            raise ValueError(f"b must have shape ({F},), got {b.shape}")
    xp = zero_pad(x, pad)
    y = np.zeros((N, F, Ho, Wo))
    for t in range(N):
        for j in range(F):
            for i in range(C):
                for u in range(kh):
                    for v in range(kw):
                        y[t, j] += w[j, i, u, v] * xp[t, i, u:u + Ho, v:v + Wo]
            if b is not None:
                y[t, j] += b[j]
    return y, Conv2DCache(x, w, b is not None, pad)


def _full_convolution(g, k):
    """Full 2-D convolution of map ``g`` (Ho, Wo) with kernel ``k`` (kh, kw) → (Ho+kh-1, Wo+kw-1)."""
    Ho, Wo = g.shape
    kh, kw = k.shape
    out = np.zeros((Ho + kh - 1, Wo + kw - 1))
    # Convolution: each dy value scatters the (unflipped) kernel onto the output.
    for r in range(Ho):
        for c in range(Wo):
            out[r:r + kh, c:c + kw] += g[r, c] * k
    return out


def _correlate_valid(a, g):
    """Valid 2-D correlation of map ``a`` (Hp, Wp) with ``g`` (Ho, Wo) → (Hp-Ho+1, Wp-Wo+1)."""
    kh, kw = a.shape[0] - g.shape[0] + 1, a.shape[1] - g.shape[1] + 1
    out = np.zeros((kh, kw))
    for u in range(kh):
        for v in range(kw):
            out[u, v] = np.sum(a[u:u + g.shape[0], v:v + g.shape[1]] * g)
    return out


def conv2d_backward(dy, cache, *, need_input_grad=True):
    r"""Equations 2 and 3: input, kernel and bias gradients of :func:`conv2d_forward`.

    Equation 2, the input gradient, is the full convolution of :math:`\partial l/\partial y`
    with the kernel, cropped by ``pad`` on every side (the padding added in the forward pass):

    .. math::

        \frac{\partial l}{\partial x^t_i} = \sum_j \frac{\partial l}{\partial y^t_j} * k_{ij}

    Equation 3, the kernel gradient, correlates the padded input with the output gradient,
    summed over the batch:

    .. math::

        \frac{\partial l}{\partial k_{ij}}[u, v] = \sum_t \sum_{r,c}
            \frac{\partial l}{\partial y^t_j}[r, c]\; x^{\mathrm{pad}}_{t,i}[r+u, c+v]

    (The paper's eq 3 read literally, a convolution with the flipped input, gives this ``dw``
    rotated by 180°: see :func:`eq3_kernel_gradient`.) The paper's eq 3 carries a factor
    :math:`1/T` (a mean over the batch). Here the batch
    average belongs to the loss (e.g. ``MSELoss`` divides by N), so the layer returns the plain
    sum, which is the true derivative of whatever loss produced ``dy``. The bias gradient is
    :math:`\partial l/\partial b_j = \sum_t \sum_{r,c} \partial l/\partial y^t_j[r,c]`.

    Parameters
    ----------
    dy : ndarray, shape (N, F, Ho, Wo)
    cache : Conv2DCache
    need_input_grad : bool
        When False, ``dx`` is not computed and ``None`` is returned in its place.

    Returns
    -------
    dx : ndarray (N, C, H, W) or None
    dw : ndarray (F, C, kh, kw)
    db : ndarray (F,) or None (when the forward pass had no bias)
    """
    x, w, has_bias, pad = cache
    dy = as_float64(dy, "dy")
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    expected = (N, F, H + 2 * pad - kh + 1, W + 2 * pad - kw + 1)
    if dy.shape != expected:
        raise ValueError(f"dy must have shape {expected}, got {dy.shape}")
    xp = zero_pad(x, pad)
    dx = None
    if need_input_grad:
        dxp = np.zeros_like(xp)
        for t in range(N):
            for i in range(C):
                for j in range(F):
                    dxp[t, i] += _full_convolution(dy[t, j], w[j, i])
        dx = dxp[:, :, pad:pad + H, pad:pad + W]
    dw = np.zeros_like(w)
    for j in range(F):
        for i in range(C):
            for t in range(N):
                dw[j, i] += _correlate_valid(xp[t, i], dy[t, j])
    db = dy.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, dw, db


def sgd_update(w, dw, lr):
    r"""Equation 4: one gradient-descent step, :math:`k_{ij} \leftarrow k_{ij} - \alpha\, \partial l/\partial k_{ij}`.

    Returns a new array; ``w`` is not modified.
    """
    w = np.asarray(w)
    dw = np.asarray(dw)
    if w.shape != dw.shape:
        raise ValueError(f"dw must have the shape of w {w.shape}, got {dw.shape}")
    return w - lr * dw


# --------------------------------------------------------------------------- dynamic layer
def dynamic_conv2d_forward(x, k, b=None, *, pad=0):
    r"""Equation 5: :math:`y^t_j = \sum_i k^t_{ij} * x^t_i` — every sample ``t`` has its own kernel.

    .. math::

        y_{t,j}[r, c] = b_{t,j} + \sum_i \sum_{u,v} k_{t,j,i}[u, v]\;
                        x^{\mathrm{pad}}_{t,i}[r+u, c+v]

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
        Feature maps from network A.
    k : ndarray, shape (N, F, C, kh, kw)
        Per-sample kernels :math:`k^t_{ij}` from the filter-generating network B.
    b : ndarray, shape (N, F), optional
        Per-sample bias.
    pad : int

    Returns
    -------
    y : ndarray, shape (N, F, Ho, Wo), float64
    cache : DynamicConv2DCache
    """
    x = as_float64(x, "x")
    k = as_float64(k, "k")
    if k.ndim != 5:
        raise ValueError(f"k must have shape (N, F, C, kh, kw), got {k.shape}")
    N, F, C, kh, kw = k.shape
    Ho, Wo = _check_geometry(x, kh, kw, pad, "x")
    if x.shape[:2] != (N, C):
        raise ValueError(f"x must have shape ({N}, {C}, H, W) to match k {k.shape}, got {x.shape}")
    if b is not None:
        b = as_float64(b, "b")
        if b.shape != (N, F):
            raise ValueError(f"b must have shape ({N}, {F}), got {b.shape}")
    xp = zero_pad(x, pad)
    y = np.zeros((N, F, Ho, Wo))
    for t in range(N):
        for j in range(F):
            for i in range(C):
                for u in range(kh):
                    for v in range(kw):
                        y[t, j] += k[t, j, i, u, v] * xp[t, i, u:u + Ho, v:v + Wo]
            if b is not None:
                y[t, j] += b[t, j]
    return y, DynamicConv2DCache(x, k, b is not None, pad)


def dynamic_conv2d_backward(dy, cache, *, need_input_grad=True):
    r"""Equations 6 and 7: gradients of :func:`dynamic_conv2d_forward`.

    Equation 6 (to network A) is eq 2 with the sample's own kernel:

    .. math::

        \frac{\partial l}{\partial x^t_i} = \sum_j \frac{\partial l}{\partial y^t_j} * k^t_{ij}

    Equation 7 (to network B) is the kernel gradient **of each sample**:

    .. math::

        \frac{\partial l}{\partial k^t_{ij}}[u, v] = \sum_{r,c}
            \frac{\partial l}{\partial y^t_j}[r, c]\; x^{\mathrm{pad}}_{t,i}[r+u, c+v]

    The paper writes eq 7 with :math:`\frac{1}{T}\sum_t`, copied from eq 3. But :math:`k^t`
    differs per sample, so :math:`\partial l/\partial k^t` only receives sample ``t``'s term:
    the sum over ``t`` has exactly one non-zero summand. The batch sum happens later, inside
    network B, when each of B's shared parameters collects the gradients of all samples'
    kernels. Summing here (as eq 3 does) would hand every sample the same, wrong gradient.

    Returns
    -------
    dx : ndarray (N, C, H, W) or None
    dk : ndarray (N, F, C, kh, kw) — one kernel gradient per sample
    db : ndarray (N, F) or None
    """
    x, k, has_bias, pad = cache
    dy = as_float64(dy, "dy")
    N, C, H, W = x.shape
    _, F, _, kh, kw = k.shape
    expected = (N, F, H + 2 * pad - kh + 1, W + 2 * pad - kw + 1)
    if dy.shape != expected:
        raise ValueError(f"dy must have shape {expected}, got {dy.shape}")
    xp = zero_pad(x, pad)
    dx = None
    if need_input_grad:
        dxp = np.zeros_like(xp)
        for t in range(N):
            for i in range(C):
                for j in range(F):
                    dxp[t, i] += _full_convolution(dy[t, j], k[t, j, i])
        dx = dxp[:, :, pad:pad + H, pad:pad + W]
    dk = np.zeros_like(k)
    for t in range(N):
        for j in range(F):
            for i in range(C):
                dk[t, j, i] = _correlate_valid(xp[t, i], dy[t, j])
    db = dy.sum(axis=(2, 3)) if has_bias else None
    return dx, dk, db

r"""Eqs 2, 3, 6 and 7 as the paper prints them, with a true convolution for its ``*``.

:mod:`dynconv.reference` says how they relate to the gradients of :mod:`~dynconv.reference.loops`;
every name here is importable from there.
"""
from __future__ import annotations

import numpy as np

from dynconv.reference.loops import as_float64, zero_pad

__all__ = [
    "convolve2d",
    "flip",
    "eq2_input_gradient",
    "eq3_kernel_gradient",
    "eq6_input_gradient",
    "eq7_kernel_gradient",
]


# --------------------------------------------------------------------------- eqs 2, 3, 6, 7 as written
def flip(a):
    r"""The paper's :math:`\tilde a`: ``a`` rotated by 180° (flipped in both spatial axes)."""
    return np.asarray(a)[..., ::-1, ::-1]


def convolve2d(a, g, mode="full"):
    r"""True 2-D convolution, the paper's ``*``: :math:`(a * g)[m, n] = \sum_{p,q} a[p, q]\, g[m-p, n-q]`.

    ``mode="full"`` keeps every :math:`(m, n)` where the sum has a term, shape
    ``(Ha + Hg - 1, Wa + Wg - 1)``; ``"valid"`` keeps the positions where ``g`` lies inside
    ``a`` (``a`` the larger), shape ``(Ha - Hg + 1, Wa - Wg + 1)``.
    """
    a, g = as_float64(a, "a"), as_float64(g, "g")
    if a.ndim != 2 or g.ndim != 2:
        raise ValueError(f"a and g must be 2-D, got shapes {a.shape} and {g.shape}")
    if mode not in ("full", "valid"):
        raise ValueError(f"mode must be 'full' or 'valid', got {mode!r}")
    (Ha, Wa), (Hg, Wg) = a.shape, g.shape
    full = np.zeros((Ha + Hg - 1, Wa + Wg - 1))
    for m in range(full.shape[0]):
        for n in range(full.shape[1]):
            for p in range(max(0, m - Hg + 1), min(Ha, m + 1)):
                for q in range(max(0, n - Wg + 1), min(Wa, n + 1)):
                    full[m, n] += a[p, q] * g[m - p, n - q]
    if mode == "full":
        return full
    if Hg > Ha or Wg > Wa:
        raise ValueError(f"valid convolution needs g {g.shape} no larger than a {a.shape}")
    return full[Hg - 1:Ha, Wg - 1:Wa]


def eq2_input_gradient(dy, w, pad=0):
    r"""Eq 2 as written: :math:`\partial l/\partial x_i = \sum_j \partial l/\partial y_j * k_{ij}`
    (full convolution), cropped by ``pad``. Equals ``dx`` of :func:`conv2d_backward`.

    ``dy`` (N, F, Ho, Wo), ``w`` (F, C, kh, kw) → (N, C, Ho + kh - 1 - 2 pad, Wo + kw - 1 - 2 pad).
    """
    dy, w = as_float64(dy, "dy"), as_float64(w, "w")
    (N, F, Ho, Wo), (_, C, kh, kw) = dy.shape, w.shape
    out = np.zeros((N, C, Ho + kh - 1, Wo + kw - 1))
    for t in range(N):
        for i in range(C):
            for j in range(F):
                out[t, i] += convolve2d(dy[t, j], w[j, i])
    return out[:, :, pad:out.shape[2] - pad, pad:out.shape[3] - pad]


def eq3_kernel_gradient(dy, x, pad=0):
    r"""Eq 3 as written (without the 1/T): :math:`\sum_t \partial l/\partial y^t_j * \tilde x^t_i`,
    the valid convolution of the flipped padded input with ``dy``.

    For our correlation forward pass this is **rot180 of** ``dw``: ``flip(eq3_kernel_gradient(dy,
    x, pad)) == conv2d_backward(dy, cache)[1]``. It is the exact gradient of ``k`` for the
    convolution forward pass ``y = x * k`` (``k = flip(w)``).

    ``dy`` (N, F, Ho, Wo), ``x`` (N, C, H, W) → (F, C, H + 2 pad - Ho + 1, W + 2 pad - Wo + 1).
    """
    dy, xp = as_float64(dy, "dy"), zero_pad(as_float64(x, "x"), pad)
    (N, F, Ho, Wo), C = dy.shape, xp.shape[1]
    out = np.zeros((F, C, xp.shape[2] - Ho + 1, xp.shape[3] - Wo + 1))
    for j in range(F):
        for i in range(C):
            for t in range(N):
                out[j, i] += convolve2d(flip(xp[t, i]), dy[t, j], mode="valid")
    return out


def eq6_input_gradient(dy, k, pad=0):
    r"""Eq 6 as written: :math:`\partial l/\partial x^t_i = \sum_j \partial l/\partial y^t_j * k^t_{ij}`,
    eq 2 with each sample's own kernel. Equals ``dx`` of :func:`dynamic_conv2d_backward`.

    ``dy`` (N, F, Ho, Wo), ``k`` (N, F, C, kh, kw).
    """
    dy, k = as_float64(dy, "dy"), as_float64(k, "k")
    return np.concatenate([eq2_input_gradient(dy[t:t + 1], k[t], pad) for t in range(len(dy))])


def eq7_kernel_gradient(dy, x, pad=0):
    r"""Eq 7 per sample, as written: :math:`\partial l/\partial y^t_j * \tilde x^t_i` for each ``t``
    (no sum over the batch). ``flip`` of it is ``dk`` of :func:`dynamic_conv2d_backward`.

    ``dy`` (N, F, Ho, Wo), ``x`` (N, C, H, W) → (N, F, C, kh, kw).
    """
    dy, x = as_float64(dy, "dy"), as_float64(x, "x")
    return np.stack([eq3_kernel_gradient(dy[t:t + 1], x[t:t + 1], pad) for t in range(len(dy))])

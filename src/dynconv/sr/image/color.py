r"""Colour spaces as MATLAB computes them: ``rgb2ycbcr`` (BT.601, Y in 16–235) and ``rgb2hsv``.

Conversions take and return values on the 0–255 scale (H and S of HSV are in [0, 1]).
"""
from __future__ import annotations

import numpy as np

from .io import to_uint8

__all__ = ["rgb_to_ycbcr", "ycbcr_to_rgb", "rgb_to_y", "rgb_to_hsv", "hsv_to_rgb"]


#: MATLAB ``rgb2ycbcr``: ``ycbcr = _YCBCR @ rgb / 255 + _YCBCR_OFFSET`` for rgb in 0–255.
_YCBCR = np.array(
    [[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]
)
_YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])


def _check_rgb(rgb, name="rgb") -> np.ndarray:
    x = np.asarray(rgb, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"{name} must have shape (H, W, 3), got {x.shape}")
    return x


def rgb_to_ycbcr(rgb) -> np.ndarray:
    r"""BT.601 RGB → YCbCr as MATLAB ``rgb2ycbcr`` (studio range), on the 0–255 scale.

    .. math::

        \begin{pmatrix} Y \\ C_b \\ C_r \end{pmatrix} =
        \begin{pmatrix} 16 \\ 128 \\ 128 \end{pmatrix} + \frac{1}{255}
        \begin{pmatrix} 65.481 & 128.553 & 24.966 \\ -37.797 & -74.203 & 112 \\
                        112 & -93.786 & -18.214 \end{pmatrix}
        \begin{pmatrix} R \\ G \\ B \end{pmatrix}

    Y lies in 16–235, Cb and Cr in 16–240. Input ``(H, W, 3)`` in 0–255, output float64 of the
    same shape, unrounded (MATLAB rounds for uint8 input: use :func:`to_uint8`).
    """
    x = _check_rgb(rgb)
    return x @ (_YCBCR.T / 255.0) + _YCBCR_OFFSET


def ycbcr_to_rgb(ycbcr) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr` (MATLAB ``ycbcr2rgb``); float64 on 0–255, unclipped."""
    x = _check_rgb(ycbcr, "ycbcr")
    return (x - _YCBCR_OFFSET) @ np.linalg.inv(_YCBCR / 255.0).T


def rgb_to_y(img) -> np.ndarray:
    """The protocol's luminance: Y of :func:`rgb_to_ycbcr` rounded to ``uint8``; grey passes through.

    Parameters
    ----------
    img : array_like, ``(H, W)`` or ``(H, W, 3)``, uint8

    Returns
    -------
    ndarray of uint8, shape ``(H, W)``
    """
    x = np.asarray(img)
    if x.ndim == 2:
        return to_uint8(x)
    x = _check_rgb(x, "img")
    return to_uint8(16.0 + x @ (_YCBCR[0] / 255.0))


def rgb_to_hsv(rgb) -> np.ndarray:
    r"""RGB → HSV as MATLAB ``rgb2hsv``; H and S in [0, 1], V = max(R, G, B) on the input's scale.

    With :math:`M = \max(R,G,B)`, :math:`m = \min(R,G,B)`, :math:`\Delta = M - m`:
    :math:`V = M`, :math:`S = \Delta / M` (0 where :math:`M = 0`), and

    .. math::

        H = \frac16 \begin{cases}
            (G - B)/\Delta \bmod 6 & M = R \\
            (B - R)/\Delta + 2 & M = G \\
            (R - G)/\Delta + 4 & M = B
        \end{cases}

    with :math:`H = 0` where :math:`\Delta = 0`. Keeping V on the 0–255 scale lets a network
    trained on Y run on V unchanged (the paper's Table 2).
    """
    x = _check_rgb(rgb)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    v = x.max(axis=2)
    d = v - x.min(axis=2)
    safe = np.where(d > 0, d, 1.0)
    h = np.where(v == r, np.mod((g - b) / safe, 6.0), np.where(v == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
    h = np.where(d > 0, h / 6.0, 0.0)
    s = np.where(v > 0, d / np.where(v > 0, v, 1.0), 0.0)
    return np.stack([h, s, v], axis=2)


def hsv_to_rgb(hsv) -> np.ndarray:
    r"""Inverse of :func:`rgb_to_hsv` (MATLAB ``hsv2rgb``); V's scale carries over to RGB.

    With :math:`h = 6H`, :math:`i = \lfloor h \rfloor \bmod 6`, :math:`f = h - \lfloor h\rfloor`:
    :math:`p = V(1-S)`, :math:`q = V(1-Sf)`, :math:`t = V(1-S(1-f))`, and (R, G, B) is
    (V,t,p), (q,V,p), (p,V,t), (p,q,V), (t,p,V), (V,p,q) for :math:`i = 0 \dots 5`.
    """
    x = _check_rgb(hsv, "hsv")
    h, s, v = x[..., 0], x[..., 1], x[..., 2]
    h6 = np.mod(h, 1.0) * 6.0
    i = np.floor(h6).astype(np.int64) % 6
    f = h6 - np.floor(h6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    table = np.stack(
        [
            np.stack([v, t, p], -1),
            np.stack([q, v, p], -1),
            np.stack([p, v, t], -1),
            np.stack([p, q, v], -1),
            np.stack([t, p, v], -1),
            np.stack([v, p, q], -1),
        ],
        0,
    )
    return np.take_along_axis(table, i[None, ..., None], axis=0)[0]

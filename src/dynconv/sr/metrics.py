r"""The paper's four quality metrics: PSNR, WPSNR, SSIM and MS-SSIM — the formulas only.

All metrics take two images on the 0–255 scale, ``(H, W)`` or ``(H, W, C)``, compute in
float64, and first remove ``shave`` pixels from every side (the SR protocol shaves ``scale``).
Colour images: PSNR and WPSNR pool the squared error over all channels; SSIM and MS-SSIM
average the per-channel indices.

The SR protocol that produces the pairs these metrics compare — degrade, super-resolve, shave —
is :mod:`dynconv.sr`.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable

import numpy as np
from scipy import ndimage, signal

from dynconv.sr import image as _im

__all__ = [
    "psnr",
    "ssim",
    "msssim",
    "wpsnr",
    "csf_filter",
    "METRICS",
]

_L = 255.0


def _prepare(a, b, shave: int, fn: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"{fn}: images differ in shape, {x.shape} vs {y.shape}")
    if x.ndim not in (2, 3) or x.size == 0:
        raise ValueError(f"{fn}: expected non-empty (H, W) or (H, W, C) images, got shape {x.shape}")
    return _im.shave(x, shave), _im.shave(y, shave)


def _channels(x: np.ndarray) -> list[np.ndarray]:
    return [x] if x.ndim == 2 else [x[:, :, c] for c in range(x.shape[2])]


# --------------------------------------------------------------------------- PSNR


def psnr(a, b, shave: int = 0) -> float:
    r"""Peak signal-to-noise ratio in dB for 8-bit data.

    .. math:: \mathrm{PSNR} = 10 \log_{10} \frac{255^2}{\frac1N \sum (a - b)^2}

    Parameters
    ----------
    a, b : array_like, ``(H, W)`` or ``(H, W, C)``, 0–255
    shave : int
        Pixels removed from every side first.

    Returns
    -------
    float
        ``inf`` for identical images.
    """
    x, y = _prepare(a, b, shave, "psnr")
    mse = np.mean((x - y) ** 2)
    return math.inf if mse == 0 else float(10.0 * np.log10(_L * _L / mse))


# --------------------------------------------------------------------------- SSIM

_K1, _K2 = 0.01, 0.03
_C1, _C2 = (_K1 * _L) ** 2, (_K2 * _L) ** 2


@lru_cache(maxsize=1)
def _gauss1d() -> np.ndarray:
    # fspecial('gaussian', 11, 1.5) is separable: the outer product of this normalised 1-D window.
    t = np.arange(-5, 6, dtype=np.float64)
    g = np.exp(-(t * t) / (2 * 1.5**2))
    return g / g.sum()


def _filter_valid(x: np.ndarray) -> np.ndarray:
    """``filter2(window, x, 'valid')`` for the 11×11 Gaussian window (separable)."""
    g = _gauss1d()
    y = ndimage.correlate1d(x, g, axis=0, mode="constant")
    y = ndimage.correlate1d(y, g, axis=1, mode="constant")
    return y[5:-5, 5:-5]


def _ssim_maps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SSIM map and contrast-structure map, MATLAB ``ssim_index`` with 'valid' filtering."""
    if min(x.shape) < 11:
        raise ValueError(f"ssim: images of size {x.shape[0]}x{x.shape[1]} are smaller than the 11x11 window")
    mu_x, mu_y = _filter_valid(x), _filter_valid(y)
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    s_xx = _filter_valid(x * x) - mu_xx
    s_yy = _filter_valid(y * y) - mu_yy
    s_xy = _filter_valid(x * y) - mu_xy
    cs = (2 * s_xy + _C2) / (s_xx + s_yy + _C2)
    lum = (2 * mu_xy + _C1) / (mu_xx + mu_yy + _C1)
    return lum * cs, cs


def ssim(a, b, shave: int = 0) -> float:
    r"""Structural similarity (Wang et al. 2004, MATLAB ``ssim_index``), mean of the SSIM map.

    With local statistics from an 11×11 Gaussian window (σ = 1.5) in 'valid' mode,

    .. math::

        \mathrm{SSIM} = \operatorname{mean}
        \frac{(2\mu_a\mu_b + C_1)(2\sigma_{ab} + C_2)}{(\mu_a^2 + \mu_b^2 + C_1)(\sigma_a^2 + \sigma_b^2 + C_2)},
        \quad C_1 = (0.01 \cdot 255)^2,\ C_2 = (0.03 \cdot 255)^2.

    No automatic downsampling. ``a``, ``b``: ``(H, W)`` or ``(H, W, C)``, sides ≥ 11 after
    shaving; colour images average the per-channel values.
    """
    x, y = _prepare(a, b, shave, "ssim")
    return float(np.mean([np.mean(_ssim_maps(u, v)[0]) for u, v in zip(_channels(x), _channels(y))]))


# --------------------------------------------------------------------------- MS-SSIM

_MS_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])


def _halve(x: np.ndarray) -> np.ndarray:
    # imfilter(x, ones(2)/4, 'symmetric', 'same'): window [i, i+1], last row/column repeated;
    # then keep every second pixel starting at the first.
    p = np.pad(x, ((0, 1), (0, 1)), mode="symmetric")
    f = 0.25 * (p[:-1, :-1] + p[1:, :-1] + p[:-1, 1:] + p[1:, 1:])
    return f[::2, ::2]


def msssim(a, b, shave: int = 0) -> float:
    r"""Multi-scale SSIM (Wang, Simoncelli, Bovik 2003; MATLAB ``msssim.m``, 'product').

    .. math::

        \mathrm{MS\text{-}SSIM} = \prod_{j=1}^{4} \overline{cs}_j^{\,\beta_j}\;
        \overline{\mathrm{SSIM}}_5^{\,\beta_5},
        \quad \beta = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

    where :math:`\overline{cs}_j` is the mean contrast-structure term
    :math:`(2\sigma_{ab} + C_2)/(\sigma_a^2 + \sigma_b^2 + C_2)` at scale :math:`j`, and each next
    scale is a 2×2 mean (window ``[i, i+1]``, symmetric border) keeping every second pixel.
    The images (after shaving) need both sides ≥ 11·2⁴ = 176; smaller images raise
    ``ValueError``. As in MATLAB, a negative mean cs term gives NaN.
    """
    x, y = _prepare(a, b, shave, "msssim")
    n = len(_MS_WEIGHTS)
    need = 11 * 2 ** (n - 1)
    if min(x.shape[:2]) < need:
        raise ValueError(
            f"msssim: images of size {x.shape[0]}x{x.shape[1]} are too small for {n} scales "
            f"(each side must be at least {need})"
        )
    vals = []
    for u, v in zip(_channels(x), _channels(y)):
        terms = []
        for j in range(n):
            s_map, cs_map = _ssim_maps(u, v)
            terms.append(np.mean(s_map) if j == n - 1 else np.mean(cs_map))
            if j < n - 1:
                u, v = _halve(u), _halve(v)
        with np.errstate(invalid="ignore"):
            vals.append(np.prod(np.power(np.array(terms), _MS_WEIGHTS)))
    return float(np.mean(vals))


# --------------------------------------------------------------------------- WPSNR


@lru_cache(maxsize=1)
def csf_filter() -> np.ndarray:
    r"""The 41×41 contrast-sensitivity filter of ``WPSNR.m`` (CSF after Miyahara), via ``fsamp2``.

    On the grid :math:`u, v \in \{-20, \dots, 20\}`:

    .. math::

        f = \sqrt{u^2 + v^2}, \quad w = \frac{2\pi f}{60}, \quad
        S_w = 1.5\, e^{-\sigma^2 w^2 / 2} - e^{-2 \sigma^2 w^2 / 2}, \ \sigma = 2,

        \theta = \arctan\frac{v}{u + \epsilon}, \quad
        O_w = \frac{1 + e^{\beta (w - w_0)} \cos^4 2\theta}{1 + e^{\beta (w - w_0)}},
        \ \beta = 8,\ w_0 = \frac{2\pi \cdot 11.13}{60},

    :math:`Z = S_w O_w` (``Z[i, j]`` at :math:`u_i, v_j`). MATLAB's ``fsamp2(Z)`` turns the
    frequency samples into the spatial filter
    ``rot90(fftshift(ifft2(rot90(fftshift(rot90(Z, 2)), 2))), 2)``, of which the real part is
    kept. Its DC gain (sum) equals :math:`Z(0, 0) = 0.5`.

    Returns
    -------
    ndarray of float64, shape ``(41, 41)``
    """
    g = np.arange(-20, 21, dtype=np.float64)
    u, v = np.meshgrid(g, g, indexing="ij")
    f = np.sqrt(u * u + v * v)
    w = 2 * np.pi * f / 60.0
    sigma = 2.0
    sw = 1.5 * np.exp(-(sigma**2) * w**2 / 2) - np.exp(-2 * sigma**2 * w**2 / 2)
    theta = np.arctan(v / (u + np.finfo(float).eps))
    beta, w0 = 8.0, 2 * np.pi * 11.13 / 60.0
    e = np.exp(beta * (w - w0))
    ow = (1 + e * np.cos(2 * theta) ** 4) / (1 + e)
    z = sw * ow
    hd = np.rot90(np.fft.fftshift(np.rot90(z, 2)), 2)  # inverse fftshift
    h = np.rot90(np.fft.fftshift(np.fft.ifft2(hd)), 2)  # rotated for use with filter2
    return np.ascontiguousarray(np.real(h))


def wpsnr(a, b, shave: int = 0) -> float:
    r"""Contrast-sensitivity weighted PSNR (Ruizhen Liu's ``WPSNR.m``), in dB.

    With :math:`e = (a - b)/255` and :math:`h` = :func:`csf_filter`, filtered by zero-padded
    'same' correlation (MATLAB ``filter2(h, e)``),

    .. math:: \mathrm{WPSNR} = 20 \log_{10} \frac{1}{\sqrt{\operatorname{mean}\,(h \star e)^2}}

    ``a``, ``b``: ``(H, W)`` or ``(H, W, C)``, 0–255; colour pools over channels. ``inf`` for
    identical images.
    """
    x, y = _prepare(a, b, shave, "wpsnr")
    err = (x - y) / _L
    if not np.any(err):
        return math.inf
    # correlation = convolution with the kernel flipped in both axes
    k = csf_filter()[::-1, ::-1]
    m = float(np.mean([signal.fftconvolve(c, k, mode="same") ** 2 for c in _channels(err)]))
    return float(20.0 * np.log10(1.0 / np.sqrt(m)))


#: The metrics :func:`dynconv.sr.evaluate` knows, by name, in the order records list them.
METRICS: dict[str, Callable] = {"psnr": psnr, "wpsnr": wpsnr, "ssim": ssim, "msssim": msssim}

r"""Cropping to the scale (``modcrop``, ``shave``) and the degradations that make a
low-resolution input from a high-resolution image: bicubic (the test protocol) and Gaussian."""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy import ndimage

from .resize import imresize

__all__ = ["scale_multiple", "modcrop", "shave", "check_size", "bicubic", "gaussian", "degrade", "DEGRADATIONS"]


def scale_multiple(scale) -> int:
    """The size quantum for ``scale``: sizes that are multiples of it divide exactly by ``scale``.

    An integer scale is its own quantum; ``2.5 = 5/2`` gives 5 (a 5k-pixel side has 2k
    low-resolution pixels).
    """
    s = float(scale)
    if not (math.isfinite(s) and s >= 1):
        raise ValueError(f"scale must be a number >= 1, got {scale!r}")
    frac = Fraction(s).limit_denominator(1000)
    if abs(float(frac) - s) > 1e-9:
        raise ValueError(f"scale {scale!r} is not a simple fraction")
    return frac.numerator


def modcrop(img, scale) -> np.ndarray:
    """Crop the bottom/right so height and width are multiples of :func:`scale_multiple` (``scale``).

    Raises ``ValueError`` when the image is smaller than that multiple.
    """
    x = np.asarray(img)
    m = scale_multiple(scale)
    h, w = x.shape[:2]
    if h < m or w < m:
        raise ValueError(f"image of size {h}x{w} is smaller than the scale {scale}")
    return x[: h - h % m, : w - w % m]


def shave(img, border: int) -> np.ndarray:
    """Remove ``border`` pixels from every side of ``(H, W[, C])``; ``border = 0`` is a no-op."""
    x = np.asarray(img)
    b = int(border)
    if b < 0:
        raise ValueError(f"shave: border must be >= 0, got {border}")
    if b == 0:
        return x
    if x.shape[0] <= 2 * b or x.shape[1] <= 2 * b:
        raise ValueError(f"shave: image of size {x.shape[0]}x{x.shape[1]} has nothing left after shaving {b}")
    return x[b:-b, b:-b]


def check_size(img, min_size: int, what: str = "image") -> None:
    """Raise ``ValueError`` naming ``what`` if either side of ``img`` is below ``min_size``."""
    h, w = np.shape(img)[:2]
    if h < min_size or w < min_size:
        raise ValueError(f"{what}: size {h}x{w} is smaller than the required {min_size}x{min_size}")


def _check_degrade_input(hr, scale) -> tuple[np.ndarray, float]:
    x = np.asarray(hr, dtype=np.float64)
    if x.ndim not in (2, 3):
        raise ValueError(f"hr must be (H, W) or (H, W, C), got shape {x.shape}")
    s = float(scale)
    m = scale_multiple(s)
    h, w = x.shape[:2]
    if h < m or w < m:
        raise ValueError(f"image of size {h}x{w} is smaller than the scale {scale}")
    if h % m or w % m:
        raise ValueError(f"image of size {h}x{w} is not a multiple of {m} for scale {scale}; modcrop it first")
    return x, s


def bicubic(hr, scale, return_lr: bool = False):
    r"""The test protocol's degradation: bicubic down by ``scale``, then bicubic back up.

    .. math:: \hat x = \operatorname{imresize}(\operatorname{imresize}(x, 1/s), s)

    Parameters
    ----------
    hr : array_like, ``(H, W)`` or ``(H, W, C)``
        High-resolution image whose sides are multiples of the scale (see :func:`modcrop`).
    scale : float
        ``s >= 1``; non-integer scales use exact output shapes ``(H/s, W/s)``.
    return_lr : bool
        Also return the low-resolution image.

    Returns
    -------
    up : ndarray of float64, same shape as ``hr``
    lr : ndarray of float64, shape ``(H/s, W/s[, C])`` (only with ``return_lr``)
    """
    x, s = _check_degrade_input(hr, scale)
    h, w = x.shape[:2]
    if s == int(s):
        lr = imresize(x, 1.0 / s)
    else:
        lr = imresize(x, output_shape=(round(h / s), round(w / s)))
    up = imresize(lr, output_shape=(h, w))
    return (up, lr) if return_lr else up


def gaussian(hr, scale, sigma: float = 1.0, return_lr: bool = False):
    r"""The paper's training synthesis: Gaussian blur, subsample by ``scale``, bicubic back up.

    .. math::

        b = G_\sigma \star x, \qquad \ell = b\downarrow_s, \qquad
        \hat x = \operatorname{imresize}(\ell, s)

    :math:`G_\sigma` is a Gaussian truncated at :math:`4\sigma` with symmetric borders
    (MATLAB ``imfilter(..., 'symmetric')``). Subsampling takes the pixel at the centre of each
    :math:`s \times s` block, so the result is aligned with ``imresize``'s grid: for odd
    :math:`s` this is exact decimation, for even :math:`s` (no centre pixel) MATLAB's cubic
    interpolation without antialiasing at the block centre. The paper does not state σ.

    Parameters
    ----------
    hr : array_like, ``(H, W)`` or ``(H, W, C)``, sides multiples of the scale
    scale : float
    sigma : float
        Standard deviation of the blur in high-resolution pixels; 0 disables it.
    return_lr : bool

    Returns
    -------
    up : ndarray of float64, same shape as ``hr`` (and ``lr`` with ``return_lr``)
    """
    x, s = _check_degrade_input(hr, scale)
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    h, w = x.shape[:2]
    sig = (sigma, sigma) + (0,) * (x.ndim - 2)
    b = ndimage.gaussian_filter(x, sig, mode="reflect", truncate=4.0) if sigma > 0 else x
    lr_shape = (round(h / s), round(w / s))
    lr = imresize(b, output_shape=lr_shape, antialiasing=False)
    up = imresize(lr, output_shape=(h, w))
    return (up, lr) if return_lr else up


#: Degradations by name, for configuration files and the command line.
DEGRADATIONS = {"bicubic": bicubic, "gaussian": gaussian}


def degrade(hr, scale, kind: str = "bicubic", **kwargs) -> np.ndarray:
    """Apply the degradation named ``kind`` (``"bicubic"`` or ``"gaussian"``)."""
    try:
        fn = DEGRADATIONS[kind]
    except KeyError:
        raise ValueError(f"unknown degradation {kind!r}; choose from {', '.join(DEGRADATIONS)}") from None
    return fn(hr, scale, **kwargs)

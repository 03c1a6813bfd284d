r"""Images for super-resolution: I/O, MATLAB-compatible bicubic resizing, colour spaces, degradations.

Published SR numbers come from MATLAB code, so every step here reproduces MATLAB's behaviour:
``imresize`` (bicubic, antialiased when shrinking, symmetric borders), ``rgb2ycbcr`` (BT.601, Y in
16–235), ``rgb2hsv``, and ``uint8()`` rounding (half away from zero).

Conventions
-----------
* Pixel arrays are ``(H, W)`` (grey) or ``(H, W, C)`` (colour, C = 3), values on the 0–255 scale.
  :func:`read_image` returns ``uint8``; every computation returns ``float64``.
* Colour conversions take and return values on the 0–255 scale (H and S of HSV are in [0, 1]).
"""
from __future__ import annotations

import math
import warnings
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy import ndimage

__all__ = [
    "read_image",
    "write_image",
    "to_uint8",
    "cubic",
    "resize_weights",
    "output_size",
    "imresize",
    "rgb_to_ycbcr",
    "ycbcr_to_rgb",
    "rgb_to_y",
    "rgb_to_hsv",
    "hsv_to_rgb",
    "scale_multiple",
    "modcrop",
    "shave",
    "check_size",
    "bicubic",
    "gaussian",
    "degrade",
    "DEGRADATIONS",
]

# --------------------------------------------------------------------------- I/O


def read_image(path) -> np.ndarray:
    """Read an image file as ``uint8``, honouring its EXIF orientation.

    Parameters
    ----------
    path : str or Path
        Any format Pillow reads (PNG, BMP, JPEG, TIFF, ...).

    Returns
    -------
    ndarray of uint8, shape ``(H, W)`` or ``(H, W, 3)``
        What each Pillow mode becomes:

        * ``L``, ``1`` → ``(H, W)`` grey; ``LA`` → grey, alpha dropped with a warning.
        * ``RGB`` → ``(H, W, 3)``; ``RGBA`` → RGB, alpha dropped with a warning;
          ``P`` (palette) → RGB (alpha of a transparent palette dropped with a warning);
          ``CMYK``, ``YCbCr``, ``LAB``, ``HSV`` → RGB through Pillow's conversion.
        * 16-bit grey (``I;16*``, or ``I`` with values in 0–65535) → ``(H, W)`` ``uint8`` as
          ``round(v / 257)``, which maps 0 → 0 and 65535 → 255 exactly. (Pillow already reduces
          16-bit RGB PNGs to 8-bit ``RGB``.)

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        Not an image, truncated or corrupt, zero-sized, or an unsupported mode (e.g. float ``F``).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    try:
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
    except UnidentifiedImageError:
        head = path.read_bytes()[:24]
        # Pillow refuses a PNG whose header declares 0 pixels; say so rather than "not an image"
        is_png = head[:8] == b"\x89PNG\r\n\x1a\n" and len(head) == 24
        if is_png and bytes(4) in (head[16:20], head[20:24]):
            raise ValueError(f"{path}: zero-sized image") from None
        raise ValueError(f"{path}: not an image file (Pillow cannot identify its format)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ValueError(f"{path}: truncated or corrupt image ({exc})") from None
    if im.width == 0 or im.height == 0:
        raise ValueError(f"{path}: zero-sized image ({im.width}x{im.height})")

    mode = im.mode
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        warnings.warn(f"{path}: alpha channel dropped", stacklevel=2)
    if mode in ("L", "1", "LA"):
        arr = np.asarray(im.convert("L"))
    elif mode in ("RGB", "RGBA", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        arr = np.asarray(im.convert("RGBA" if mode in ("P", "PA") else im.mode).convert("RGB"))
    elif mode.startswith("I;16") or mode == "I":
        v = np.asarray(im).astype(np.int64)
        if v.min() < 0 or v.max() > 65535:
            raise ValueError(f"{path}: 32-bit integer image with values outside 0–65535")
        arr = np.floor(v / 257.0 + 0.5).astype(np.uint8)
    else:
        raise ValueError(f"{path}: unsupported image mode {mode!r}")
    if arr.size == 0:
        raise ValueError(f"{path}: zero-sized image")
    return np.ascontiguousarray(arr)


def to_uint8(x) -> np.ndarray:
    """Clip to [0, 255] and round half away from zero, like MATLAB's ``uint8()``.

    NumPy's ``round`` rounds half to even; MATLAB rounds ``x.5`` up, and that is what published
    numbers use.
    """
    x = np.asarray(x, dtype=np.float64)
    return np.floor(np.clip(x, 0.0, 255.0) + 0.5).astype(np.uint8)


def write_image(path, img) -> None:
    """Write ``(H, W)`` or ``(H, W, 3)`` pixels (0–255; floats are clipped and rounded) with Pillow.

    The format follows the file extension; the file is written to a temporary name and then
    renamed, so a reader never sees a half-written image.
    """
    import os

    from PIL import Image

    path = Path(path)
    arr = np.asarray(img)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3)) or arr.size == 0:
        raise ValueError(f"{path}: cannot write an image of shape {arr.shape}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.dtype != np.uint8:
        arr = to_uint8(arr)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}{path.suffix}")
    try:
        Image.fromarray(arr).save(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# --------------------------------------------------------------------------- imresize


def cubic(x) -> np.ndarray:
    r"""Keys' cubic convolution kernel with :math:`a = -1/2` (MATLAB's ``imresize`` 'bicubic').

    .. math::

        k(x) = \begin{cases}
            \tfrac32 |x|^3 - \tfrac52 |x|^2 + 1 & |x| \le 1 \\
            -\tfrac12 |x|^3 + \tfrac52 |x|^2 - 4|x| + 2 & 1 < |x| \le 2 \\
            0 & \text{otherwise}
        \end{cases}
    """
    ax = np.abs(np.asarray(x, dtype=np.float64))
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


@lru_cache(maxsize=64)
def _resize_matrix(in_len: int, out_len: int, scale: float, antialiasing: bool) -> sp.csr_matrix:
    rows, cols, vals = resize_weights(in_len, out_len, scale, antialiasing)
    m = sp.csr_matrix((vals, (rows, cols)), shape=(out_len, in_len))
    m.sum_duplicates()
    m.eliminate_zeros()
    return m


def resize_weights(in_len: int, out_len: int, scale: float, antialiasing: bool = True):
    r"""MATLAB ``imresize``'s ``contributions()`` for one axis, as COO triplets.

    Output pixel :math:`x = 1 \dots n_{out}` (1-based, as in MATLAB) sits at input coordinate

    .. math::

        u = x / s + \tfrac12 (1 - 1/s),

    and takes :math:`P = \lceil w \rceil + 2` taps at :math:`\lfloor u - w/2 \rfloor + p`,
    :math:`p = 0 \dots P-1`, weighted by :math:`h(u - j)` and normalised to sum to 1. When
    shrinking with antialiasing, :math:`h(x) = s\,k(s x)` and the width becomes :math:`w = 4/s`
    (else :math:`h = k`, :math:`w = 4`). Indices outside :math:`1 \dots n_{in}` are mirrored
    symmetrically (``[1..n, n..1]`` repeated).

    Parameters
    ----------
    in_len, out_len : int
        Axis lengths.
    scale : float
        The scale factor :math:`s` as MATLAB sees it (``out/in`` when an output size was given).
    antialiasing : bool
        Widen the kernel when :math:`s < 1`.

    Returns
    -------
    rows, cols, vals : ndarray, each of shape ``(out_len * P,)``
        0-based output row, 0-based input column and weight; duplicates are to be summed.
    """
    kernel_width = 4.0
    if scale < 1 and antialiasing:
        h = lambda t: scale * cubic(scale * t)  # noqa: E731
        kernel_width = kernel_width / scale
    else:
        h = cubic
    x = np.arange(1, out_len + 1, dtype=np.float64)[:, None]
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    taps = int(math.ceil(kernel_width)) + 2
    idx = left + np.arange(taps)[None, :]
    w = h(u - idx)
    w = w / w.sum(axis=1, keepdims=True)
    aux = np.concatenate([np.arange(in_len), np.arange(in_len)[::-1]])
    idx = aux[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    rows = np.repeat(np.arange(out_len), taps)
    return rows, idx.ravel(), w.ravel()


def output_size(in_len: int, scale: float) -> int:
    """MATLAB's output length for a scale factor: ``ceil(scale * in_len)``."""
    return int(math.ceil(scale * in_len))


def imresize(img, scale=None, output_shape=None, antialiasing: bool = True) -> np.ndarray:
    r"""Bicubic resize, bit-for-bit MATLAB's ``imresize(img, scale, 'bicubic')`` on double input.

    Each axis is a sparse ``(out, in)`` weight matrix from :func:`resize_weights`;
    the result is :math:`R_h \, X \, R_w^{\mathsf T}` per channel (linear in the pixels, so a
    constant image stays constant). No clipping or rounding is done.

    Parameters
    ----------
    img : array_like, shape ``(H, W)`` or ``(H, W, C)``
        Any real dtype; converted to float64.
    scale : float, optional
        Scale factor; the output is ``(ceil(scale*H), ceil(scale*W))``, MATLAB's rule.
    output_shape : tuple of int, optional
        ``(H_out, W_out)`` instead of ``scale``; each axis then uses ``scale = out / in``.
    antialiasing : bool
        Widen the kernel by ``1/scale`` when shrinking (MATLAB's default, ``True``).

    Returns
    -------
    ndarray of float64, shape ``(H_out, W_out)`` or ``(H_out, W_out, C)``
    """
    x = np.asarray(img, dtype=np.float64)
    if x.ndim not in (2, 3) or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"imresize: img must be a non-empty (H, W) or (H, W, C) array, got {x.shape}")
    h, w = x.shape[:2]
    if (scale is None) == (output_shape is None):
        raise ValueError("imresize: give exactly one of scale and output_shape")
    if scale is not None:
        scale = float(scale)
        if not (math.isfinite(scale) and scale > 0):
            raise ValueError(f"imresize: scale must be a positive number, got {scale}")
        out_h, out_w = output_size(h, scale), output_size(w, scale)
        sh = sw = scale
    else:
        out_h, out_w = (int(v) for v in output_shape)
        if out_h <= 0 or out_w <= 0:
            raise ValueError(f"imresize: output_shape must be positive, got {output_shape}")
        sh, sw = out_h / h, out_w / w
    if x.ndim == 3:
        # Channel by channel: the 2-D path below keeps both products in fast memory order.
        chans = [_resize2d(x[:, :, c], out_h, out_w, sh, sw, antialiasing) for c in range(x.shape[2])]
        return np.stack(chans, axis=2)
    return _resize2d(x, out_h, out_w, sh, sw, antialiasing)


def _resize2d(x, out_h, out_w, sh, sw, antialiasing) -> np.ndarray:
    h, w = x.shape
    y = x
    if (out_h, sh) != (h, 1.0):
        y = _resize_matrix(h, out_h, sh, antialiasing) @ y
    if (out_w, sw) != (w, 1.0):
        # dense @ sparse.T: scipy runs it as a CSR product on the transposed view, ~3x faster
        # than transposing the dense array for large outputs.
        y = y @ _resize_matrix(w, out_w, sw, antialiasing).T
    return np.ascontiguousarray(y)


# --------------------------------------------------------------------------- colour

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


# --------------------------------------------------------------------------- cropping


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


# --------------------------------------------------------------------------- degradations


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

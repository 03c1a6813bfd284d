r"""The paper's four quality metrics and the one evaluation path every method goes through.

All metrics take two images on the 0–255 scale, ``(H, W)`` or ``(H, W, C)``, compute in
float64, and first remove ``shave`` pixels from every side (the SR protocol shaves ``scale``).
Colour images: PSNR and WPSNR pool the squared error over all channels; SSIM and MS-SSIM
average the per-channel indices.

:func:`evaluate` runs the standard SR protocol (see the data README) over data sets, scales
and methods. A *method* is a name (``"bicubic"``, or anything added with
:func:`register_method`) or a callable ``f(up, scale) -> sr`` where ``up`` is the bicubic
up-sampled low-resolution channel, float64 ``(H, W)`` in [0, 255], and ``sr`` is the
super-resolved channel of the same shape.
"""
from __future__ import annotations

import math
import time
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from scipy import ndimage, signal

from dynconv import image as _im

__all__ = [
    "psnr",
    "ssim",
    "msssim",
    "wpsnr",
    "csf_filter",
    "METRICS",
    "register_method",
    "resolve_method",
    "method_names",
    "super_resolve",
    "evaluate",
    "mean_records",
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


#: The metrics :func:`evaluate` knows, by name, in the order records list them.
METRICS: dict[str, Callable] = {"psnr": psnr, "wpsnr": wpsnr, "ssim": ssim, "msssim": msssim}


# --------------------------------------------------------------------------- methods


def _bicubic_method(up: np.ndarray, scale) -> np.ndarray:
    """Bicubic interpolation: the protocol's input already is the bicubic estimate."""
    return up


_METHODS: dict[str, Callable[[], Callable]] = {"bicubic": lambda: _bicubic_method}


def register_method(name: str, factory: Callable[[], Callable]) -> None:
    """Make ``name`` usable as a method; ``factory()`` returns the ``f(up, scale) -> sr`` callable.

    The factory runs only when the name is used, so registering a model costs nothing until it
    is evaluated (weights load lazily).
    """
    _METHODS[str(name)] = factory


def method_names() -> list[str]:
    """The registered method names (``bicubic`` first)."""
    return list(_METHODS)


def _is_named_pair(m) -> bool:
    return isinstance(m, tuple) and len(m) == 2 and isinstance(m[0], str) and callable(m[1])


def resolve_method(method) -> tuple[str, Callable]:
    """Turn a method spec into ``(name, f)``.

    Parameters
    ----------
    method : str, callable, or (str, callable)
        A registered name, a callable ``f(up, scale) -> sr`` (named by its ``__name__``), or an
        explicit ``(name, callable)`` pair.

    Raises
    ------
    ValueError
        An unknown name (the message lists the known ones).
    """
    if _is_named_pair(method):
        return str(method[0]), method[1]
    if callable(method):
        return getattr(method, "__name__", type(method).__name__), method
    if isinstance(method, str):
        if method not in _METHODS:
            raise ValueError(f"unknown method {method!r}; choose from {', '.join(_METHODS)}")
        return method, _METHODS[method]()
    raise ValueError(f"method must be a name or a callable, got {type(method).__name__}")


# --------------------------------------------------------------------------- protocol

COLORS = ("y", "ycbcr", "hsv", "rgb")


def _run(fn: Callable, up: np.ndarray, scale, what: str) -> np.ndarray:
    sr = np.asarray(fn(up, scale), dtype=np.float64)
    if sr.shape != up.shape:
        raise ValueError(f"{what}: method returned shape {sr.shape}, expected {up.shape}")
    return sr


def super_resolve(hr, scale, method="bicubic", color: str = "y", name: str = "image"):
    r"""The standard SR protocol on one image, with the paper's colour variants (Table 2).

    Steps: crop to a multiple of the scale (:func:`~dynconv.image.modcrop`); degrade each
    processed channel with :func:`~dynconv.image.bicubic` on :math:`[0, 1]` data (as the MATLAB
    code does) and hand ``up * 255`` to the method; clip and round its output to ``uint8``.

    ``color`` selects what the method sees and what is scored:

    * ``"y"`` / ``"ycbcr"``: Y of MATLAB ``rgb2ycbcr`` rounded to ``uint8`` (grey images are their
      own Y); scored on Y. ``"ycbcr"`` also builds the colour output with bicubic Cb/Cr.
    * ``"hsv"``: V = max(R, G, B); H and S bicubic; scored on V.
    * ``"rgb"``: the method runs on each of R, G, B; scored on the RGB image.

    Parameters
    ----------
    hr : array_like, uint8, ``(H, W)`` or ``(H, W, 3)``
    scale : float
    method : str or callable
        See :func:`resolve_method`.
    color : {"y", "ycbcr", "hsv", "rgb"}
    name : str
        Used in error messages (e.g. the file name).

    Returns
    -------
    ref, sr : ndarray of uint8
        The cropped reference and the estimate, both ``(H', W')`` (or ``(H', W', 3)`` for
        ``"rgb"``): the pair the metrics compare.
    rgb_out : ndarray of uint8 or None
        The full-colour estimate ``(H', W', 3)`` for ``"ycbcr"``, ``"hsv"``, ``"rgb"`` on
        colour input; otherwise ``None``.
    """
    if color not in COLORS:
        raise ValueError(f"color must be one of {', '.join(COLORS)}, got {color!r}")
    _, fn = resolve_method(method)
    x = np.asarray(hr)
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[2] != 3):
        raise ValueError(f"{name}: expected an (H, W) or (H, W, 3) image, got shape {x.shape}")
    m = _im.scale_multiple(scale)
    if x.shape[0] < m or x.shape[1] < m:
        raise ValueError(f"{name}: image of size {x.shape[0]}x{x.shape[1]} is smaller than the scale {scale}")
    x = _im.modcrop(x, scale)

    def channel_sr(c: np.ndarray) -> np.ndarray:
        up = _im.bicubic(np.asarray(c, dtype=np.float64) / 255.0, scale) * 255.0
        return _im.to_uint8(_run(fn, up, scale, name))

    if x.ndim == 2 or color in ("y", "ycbcr"):
        y = _im.rgb_to_y(x)
        sr = channel_sr(y)
        rgb_out = None
        if x.ndim == 3 and color == "ycbcr":
            ycc = _im.rgb_to_ycbcr(x)
            cbcr = _im.bicubic(ycc[:, :, 1:] / 255.0, scale) * 255.0
            rgb_out = _im.to_uint8(_im.ycbcr_to_rgb(np.dstack([sr, cbcr])))
        return y, sr, rgb_out
    if color == "hsv":
        hsv = _im.rgb_to_hsv(x)
        v = _im.to_uint8(hsv[:, :, 2])
        sr = channel_sr(v)
        hs = np.clip(_im.bicubic(hsv[:, :, :2], scale), 0.0, 1.0)
        rgb_out = _im.to_uint8(_im.hsv_to_rgb(np.dstack([hs, sr.astype(np.float64)])))
        return v, sr, rgb_out
    sr = np.dstack([channel_sr(x[:, :, c]) for c in range(3)])
    return x.astype(np.uint8), sr, sr


def upscale(lr, scale, method="bicubic", color: str = "ycbcr", name: str = "image"):
    """Super-resolve a low-resolution image by ``scale``: what ``dynconv upscale`` does.

    The same colour handling as :func:`super_resolve`, applied to a real low-resolution input
    instead of a degraded reference: each processed channel is bicubic-upsampled
    (:func:`~dynconv.image.imresize`) and handed to the method on the 0–255 scale.

    Parameters
    ----------
    lr : array_like, uint8, ``(h, w)`` or ``(h, w, 3)``
    scale : float
    method : str or callable
        See :func:`resolve_method`.
    color : {"y", "ycbcr", "hsv", "rgb"}
        ``"y"``/``"ycbcr"``: the method runs on Y, Cb/Cr are bicubic; ``"hsv"``: on V, H/S
        bicubic; ``"rgb"``: on each channel. Grey images are processed as they are.

    Returns
    -------
    ndarray of uint8, ``(H, W)`` or ``(H, W, 3)`` with ``H = ceil(h * scale)`` (MATLAB's size).
    """
    if color not in COLORS:
        raise ValueError(f"color must be one of {', '.join(COLORS)}, got {color!r}")
    _, fn = resolve_method(method)
    x = np.asarray(lr)
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[2] != 3) or 0 in x.shape:
        raise ValueError(f"{name}: expected a non-empty (H, W) or (H, W, 3) image, got shape {x.shape}")

    def up(c):
        return _im.imresize(np.asarray(c, dtype=np.float64) / 255.0, scale) * 255.0

    def channel_sr(c):
        u = up(c)
        return np.clip(_run(fn, u, scale, name), 0.0, 255.0)

    if x.ndim == 2:
        return _im.to_uint8(channel_sr(x))
    if color in ("y", "ycbcr"):
        ycc = _im.rgb_to_ycbcr(x)
        y = channel_sr(ycc[:, :, 0])
        cbcr = np.dstack([up(ycc[:, :, 1]), up(ycc[:, :, 2])])
        return _im.to_uint8(_im.ycbcr_to_rgb(np.dstack([y, cbcr])))
    if color == "hsv":
        hsv = _im.rgb_to_hsv(x)
        v = channel_sr(hsv[:, :, 2])
        hs = np.clip(np.dstack([up(hsv[:, :, 0] * 255.0), up(hsv[:, :, 1] * 255.0)]) / 255.0, 0.0, 1.0)
        return _im.to_uint8(_im.hsv_to_rgb(np.dstack([hs, v])))
    return np.dstack([_im.to_uint8(channel_sr(x[:, :, c])) for c in range(3)])


def _shave_for(scale) -> int:
    return int(math.ceil(float(scale)))


def _norm_scale(s):
    f = float(s)
    return int(f) if f == int(f) else f


def mean_records(records: list[dict], metrics: Iterable[str]) -> list[dict]:
    """One ``"image": "mean"`` record per (dataset, scale, method) group, in first-seen order."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        if r["image"] != "mean":
            groups.setdefault((r["dataset"], r["scale"], r["method"]), []).append(r)
    out = []
    for (ds, sc, me), rs in groups.items():
        rec = {"dataset": ds, "scale": sc, "method": me, "image": "mean"}
        for k in METRICS:
            rec[k] = float(np.mean([r[k] for r in rs])) if k in metrics else None
        out.append(rec)
    return out


def evaluate(
    datasets=("Set5",),
    scales=(2, 3, 4),
    methods=("bicubic",),
    metrics=("psnr", "wpsnr", "ssim", "msssim"),
    data_dir=None,
    color: str = "y",
    progress=None,
) -> list[dict]:
    r"""Evaluate methods over data sets and scales with the standard SR protocol.

    For every data set, scale and method (in that nesting order), each image goes through
    :func:`super_resolve`; the metrics compare its reference and estimate after shaving
    ``ceil(scale)`` pixels. The mean over a group's images follows its per-image records.

    Parameters
    ----------
    datasets : str or Path, or a sequence of them
        Names under the data folder (``"Set5"``, ``"Set14"``, ``"T91"``) or paths to any folder
        of images (see :func:`dynconv.data.list_images`).
    scales : float or sequence of float
    methods : method spec or a sequence of them
        Each a name (``"bicubic"``, or registered by :func:`register_method`), a callable
        ``f(up, scale) -> sr`` with ``up`` the bicubic-upsampled channel (float64 ``(H, W)`` in
        [0, 255]), or a ``(name, callable)`` pair. A model plugs in as
        ``evaluate(methods=[("dcnn", lambda up, s: net(up / 255) * 255)])``.
    metrics : sequence of str
        Subset of ``psnr``, ``wpsnr``, ``ssim``, ``msssim``.
    data_dir : str or Path, optional
        See :func:`dynconv.data.resolve_data_dir`.
    color : {"y", "ycbcr", "hsv", "rgb"}
        What the method sees and what is scored (:func:`super_resolve`); ``"y"`` is the standard.
    progress : callable, optional
        Called with a one-line message after each image (e.g. ``print``).

    Returns
    -------
    list of dict
        Records ``{"dataset", "scale", "method", "image", "psnr", "wpsnr", "ssim", "msssim"}``
        (metrics not requested are ``None``); ``"image": "mean"`` marks a group's average.
    """
    from dynconv import data as _data

    if isinstance(datasets, (str, Path)):
        datasets = [datasets]
    if isinstance(scales, (int, float)):
        scales = [scales]
    if isinstance(methods, str) or callable(methods) or _is_named_pair(methods):
        methods = [methods]
    metrics = [m.strip().lower() for m in metrics]
    bad = [m for m in metrics if m not in METRICS]
    if bad or not metrics:
        raise ValueError(f"unknown metric(s) {', '.join(bad) or '(none given)'}; choose from {', '.join(METRICS)}")
    resolved = [resolve_method(m) for m in methods]
    for s in scales:
        _im.scale_multiple(s)  # validates before any work

    out: list[dict] = []
    for ds in datasets:
        label = str(ds)
        images = _data.load_dataset(ds, data_dir=data_dir)
        for s in scales:
            sc = _norm_scale(s)
            for mname, fn in resolved:
                group = []
                for iname, hr in images:
                    t0 = time.perf_counter()
                    ref, sr, _ = super_resolve(hr, sc, (mname, fn), color=color, name=f"{label}/{iname}")
                    rec = {"dataset": label, "scale": sc, "method": mname, "image": iname}
                    for k, f in METRICS.items():
                        rec[k] = f(ref, sr, shave=_shave_for(sc)) if k in metrics else None
                    group.append(rec)
                    if progress is not None:
                        progress(f"{label} x{sc} {mname} {iname}: {time.perf_counter() - t0:.2f} s")
                out.extend(group)
                out.extend(mean_records(group, metrics))
    return out

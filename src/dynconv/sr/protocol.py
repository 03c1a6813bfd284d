r"""The protocol every command scores methods with: degrade, super-resolve, score.

:func:`super_resolve` (a reference: degrade → super-resolve → the pair to score), :func:`evaluate`
(over data sets, scales and methods, with :mod:`dynconv.sr.metrics`) and :func:`super_resolve_lr`
(a real low-resolution input, the whole image at once: the reference the photo tool's strip engine
equals bit for bit) share the colour handling of the paper's Table 2. Methods are named as in
:mod:`dynconv.sr.registry`.
"""
from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from dynconv.sr import datasets as _data
from dynconv.sr import image as _im
from dynconv.sr import inference as _inference
from dynconv.sr import metrics as _metrics
from dynconv.sr.models import Model
from dynconv.sr.registry import resolve

__all__ = ["COLORS", "super_resolve", "super_resolve_lr", "evaluate", "mean_records", "shave_for"]


# --------------------------------------------------------------------------- the protocol
COLORS = ("y", "ycbcr", "hsv", "rgb")


def _run(fn: Callable, up: np.ndarray, scale, what: str) -> np.ndarray:
    try:
        return _inference.check_output(fn(up, scale), _inference.method_name(fn), up.shape)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None


def _check_color(color):
    if color not in COLORS:
        raise ValueError(f"color must be one of {', '.join(COLORS)}, got {color!r}")


def super_resolve(hr, scale, method="bicubic", color: str = "y", name: str = "image"):
    r"""The standard SR protocol on one image, with the paper's colour variants (Table 2).

    Steps: crop to a multiple of the scale (:func:`~dynconv.sr.image.modcrop`); degrade each
    processed channel with :func:`~dynconv.sr.image.bicubic` on :math:`[0, 1]` data (as the MATLAB
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
    method : method spec
        See :func:`resolve`.
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
    _check_color(color)
    _, fn = resolve(method)
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


def super_resolve_lr(lr, scale, method="bicubic", color: str = "ycbcr", name: str = "image"):
    """Super-resolve a low-resolution image by ``scale``, the whole image at once.

    The same colour handling as :func:`super_resolve`, applied to a real low-resolution input
    instead of a degraded reference: each processed channel is bicubic-upsampled
    (:func:`~dynconv.sr.image.imresize`) and handed to the method on the 0–255 scale. ``dynconv
    upscale`` and :func:`dynconv.upscale` compute the same pixels strip by strip
    (:func:`dynconv.photo.strips.run`).

    Parameters
    ----------
    lr : array_like, uint8, ``(h, w)`` or ``(h, w, 3)``
    scale : float
    method : method spec
        See :func:`resolve`.
    color : {"y", "ycbcr", "hsv", "rgb"}
        ``"y"``/``"ycbcr"``: the method runs on Y, Cb/Cr are bicubic; ``"hsv"``: on V, H/S
        bicubic; ``"rgb"``: on each channel. Grey images are processed as they are.

    Returns
    -------
    ndarray of uint8, ``(H, W)`` or ``(H, W, 3)`` with ``H = ceil(h * scale)`` (MATLAB's size).
    """
    _check_color(color)
    _, fn = resolve(method)
    x = np.asarray(lr)
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[2] != 3) or 0 in x.shape:
        raise ValueError(f"{name}: expected a non-empty (H, W) or (H, W, 3) image, got shape {x.shape}")

    def up(c):
        return _im.imresize(np.asarray(c, dtype=np.float64) / 255.0, scale) * 255.0

    def channel_sr(c):
        return np.clip(_run(fn, up(c), scale, name), 0.0, 255.0)

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


def shave_for(scale) -> int:
    """Pixels the protocol removes from every side before scoring: ``ceil(scale)``."""
    return int(math.ceil(float(scale)))


def mean_records(records: list[dict], metrics: Iterable[str]) -> list[dict]:
    """One ``"image": "mean"`` record per (dataset, scale, method) group, in first-seen order."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        if r["image"] != "mean":
            groups.setdefault((r["dataset"], r["scale"], r["method"]), []).append(r)
    out = []
    for (ds, sc, me), rs in groups.items():
        rec = {"dataset": ds, "scale": sc, "method": me, "image": "mean"}
        for k in _metrics.METRICS:
            rec[k] = float(np.mean([r[k] for r in rs])) if k in metrics else None
        out.append(rec)
    return out


def evaluate(datasets=("Set5",), scales=(2, 3, 4), methods=("bicubic",), metrics=tuple(_metrics.METRICS),
             data_dir=None, color: str = "y", progress=None) -> list[dict]:
    r"""Evaluate methods over data sets and scales with the standard SR protocol.

    For every data set, scale and method (in that nesting order), each image goes through
    :func:`super_resolve`; the metrics compare its reference and estimate after shaving
    ``ceil(scale)`` pixels. The mean over a group's images follows its per-image records.

    Parameters
    ----------
    datasets : str or Path, or a sequence of them
        Names under the data folder (``"Set5"``, ``"Set14"``, ``"T91"``) or paths to any folder
        of images (see :func:`dynconv.sr.datasets.list_images`).
    scales : float or sequence of float
    methods : method spec or a sequence of them
        See :func:`resolve`: ``"bicubic"``, ``"dcnn"``, a ``.npz`` path, a model, a callable
        ``f(up, scale) -> sr`` or a ``(name, f)`` pair, e.g.
        ``evaluate(methods=[("mine", lambda up, s: net(up / 255) * 255)])``.
    metrics : sequence of str
        Subset of ``psnr``, ``wpsnr``, ``ssim``, ``msssim``.
    data_dir : str or Path, optional
        See :func:`dynconv.sr.datasets.resolve_data_dir`.
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

    if isinstance(datasets, (str, Path)):
        datasets = [datasets]
    if isinstance(scales, (int, float)):
        scales = [scales]
    if isinstance(methods, (str, Path, Model)) or callable(methods) or (
            isinstance(methods, tuple) and len(methods) == 2 and isinstance(methods[0], str)):
        methods = [methods]
    metrics = [m.strip().lower() for m in metrics]
    bad = [m for m in metrics if m not in _metrics.METRICS]
    if bad or not metrics:
        raise ValueError(f"unknown metric(s) {', '.join(bad) or '(none given)'}; "
                         f"choose from {', '.join(_metrics.METRICS)}")
    resolved = [resolve(m) for m in methods]
    for s in scales:
        _im.scale_multiple(s)  # validates before any work

    out: list[dict] = []
    for ds in datasets:
        label = str(ds)
        images = _data.load_dataset(ds, data_dir=data_dir)
        for s in scales:
            sc = int(s) if float(s) == int(s) else float(s)
            for mname, fn in resolved:
                group = []
                for iname, hr in images:
                    t0 = time.perf_counter()
                    ref, sr, _ = super_resolve(hr, sc, (mname, fn), color=color, name=f"{label}/{iname}")
                    rec = {"dataset": label, "scale": sc, "method": mname, "image": iname}
                    for k, f in _metrics.METRICS.items():
                        try:
                            rec[k] = f(ref, sr, shave=shave_for(sc)) if k in metrics else None
                        except ValueError as exc:  # e.g. an image too small for MS-SSIM's scales
                            raise ValueError(f"{label}/{iname} at x{sc:g}: {k}: {exc} (choose the metrics "
                                             "with `metrics`, e.g. psnr,ssim)") from None
                    group.append(rec)
                    if progress is not None:
                        progress(f"{label} x{sc} {mname} {iname}: {time.perf_counter() - t0:.2f} s")
                out.extend(group)
                out.extend(mean_records(group, metrics))
    return out

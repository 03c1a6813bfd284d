"""``dynconv.upscale``: super-resolve a photo file, a PIL image or an array.

One function for scripts and notebooks, and the one path behind ``dynconv upscale`` and
``dynconv demo``::

    import dynconv
    big = dynconv.upscale("photo.jpg", 2, out="photo_x2.png")   # a file -> the written path
    arr = dynconv.upscale(pixels, 3, model="srcnn-x3")           # uint8/uint16/float array -> same dtype
    im = dynconv.upscale(pil_image, 2)                           # PIL image -> PIL image

The work runs strip by strip (:func:`dynconv.photo.strips.run`): memory stays bounded by the decoded
input and the integer output, and the pixels equal :func:`dynconv.sr.super_resolve_lr`'s. Files keep what the
output format can hold: 16 bits (PNG, TIFF), alpha (upscaled with bicubic), the ICC profile and
the density (dpi multiplied by the scale); the model runs on the full-precision Y.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from dynconv import sr
from dynconv.photo import io as _photo
from dynconv.photo import strips

__all__ = ["upscale", "upscale_photo", "upscale_file", "resolve_method", "Done"]

COLORS = ("ycbcr", "rgb", "hsv")


class Done(NamedTuple):
    """What :func:`upscale_file` did: sizes are (width, height); ``notes`` are the warnings."""

    src: Path
    dst: Path
    in_size: tuple
    out_size: tuple
    model: str
    notes: list


def check_scale(scale) -> float:
    try:
        s = float(scale)
    except (TypeError, ValueError):
        raise ValueError(f"scale must be a number, got {scale!r}") from None
    if not (math.isfinite(s) and 1 <= s <= 16):
        raise ValueError(f"scale must be between 1 and 16, got {scale!r}")
    return s


def resolve_method(spec, scale):
    """``(name, method)`` for :func:`dynconv.photo.strips.run`: ``None`` for bicubic, a
    :class:`~dynconv.sr.models.Model` (run tile by tile), or a callable ``f(up, scale)``.

    ``spec`` is any method spec :func:`dynconv.sr.resolve` accepts, or ``"auto"``: the shipped
    model measured best on Set14 at that factor (:func:`dynconv.photo.auto.best_model`). (The
    public functions below call it ``model``, as the command's ``--model`` does.)
    """
    from dynconv.sr.models import Model

    if isinstance(spec, str) and spec == "auto":
        from dynconv.photo.auto import best_model

        spec = best_model(scale)
    if isinstance(spec, str) and spec == "bicubic":
        return "bicubic", None
    if isinstance(spec, Model):
        return spec.name, spec
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], Model):
        return str(spec[0]), spec[1]
    if sr.is_model(spec):
        return str(spec), sr.load_model(str(spec))
    name, fn = sr.resolve(spec)
    return name, (None if fn is sr.bicubic_method else fn)


def upscale_photo(photo: _photo.Photo, scale, method=None, color="ycbcr", *, progress=None) -> _photo.Photo:
    """A :class:`~dynconv.photo.io.Photo` upscaled: its pixels by ``method`` (see :func:`resolve_method`)
    in colour mode ``color``, alpha by bicubic; ICC profile copied, dpi multiplied by ``scale``."""
    if color not in COLORS:
        raise ValueError(f"color must be one of {', '.join(COLORS)}, got {color!r}")
    p, a = strips.run(photo.pixels, photo.alpha, check_scale(scale), method, color, progress=progress)
    dpi = None if photo.dpi is None else tuple(d * float(scale) for d in photo.dpi)
    return _photo.Photo(p, a, photo.icc, dpi)


def upscale_file(src, dst, scale, model="dcnn", *, color="ycbcr", quality=None, max_pixels=None,
                 force=False, method=None, progress=None) -> Done:
    """Read ``src``, upscale, write ``dst`` (format from its extension, atomically).

    ``method`` is a pre-resolved ``(name, method)`` from :func:`resolve_method` (to load a model
    once for many files). Raises ``ValueError``/``OSError`` naming the file.
    """
    src, dst = Path(src), Path(dst)
    _photo.output_format(dst)
    if not dst.parent.is_dir():
        raise FileNotFoundError(f"{dst}: the folder {dst.parent} does not exist")
    if not force and dst.exists() and src.exists() and dst.resolve() == src.resolve():
        raise ValueError(f"{dst}: the output would overwrite the input (`force` allows it)")
    if quality is not None and _photo.output_format(dst)[0] not in ("JPEG", "WEBP"):
        raise ValueError(f"{dst}: `quality` is for JPEG and WebP outputs only")
    scale = check_scale(scale)
    ph = _photo.read_photo(src, max_pixels=max_pixels)
    name, meth = method if method is not None else resolve_method(model, scale)
    try:
        big = upscale_photo(ph, scale, meth, color, progress=progress)
    except MemoryError:
        raise MemoryError(f"{src}: not enough memory to upscale {ph.size[0]}x{ph.size[1]} by {scale:g}") from None
    try:
        notes = _photo.write_photo(dst, big, quality=quality)
    except OSError as exc:
        raise OSError(f"{dst}: cannot write the image ({exc.strerror or exc})") from None
    return Done(src, dst, ph.size, big.size, name, notes)


# --------------------------------------------------------------------------- arrays and PIL images
def _split_array(x):
    if x.ndim == 2 or (x.ndim == 3 and x.shape[2] == 3):
        return x, None
    if x.ndim == 3 and x.shape[2] in (1, 2, 4):
        pixels = x[..., 0] if x.shape[2] in (1, 2) else x[..., :3]
        return np.ascontiguousarray(pixels), (np.ascontiguousarray(x[..., -1]) if x.shape[2] in (2, 4) else None)
    raise ValueError(f"image must be (H, W) or (H, W, C) with C in 1-4, got shape {x.shape}")


def _upscale_array(x, scale, method, color, progress):
    x = np.asarray(x)
    if x.size == 0:
        raise ValueError(f"image is empty (shape {x.shape})")
    if x.dtype not in (np.uint8, np.uint16):
        if x.dtype.kind not in "fiub":
            raise ValueError(f"image must be uint8, uint16 or float, got {x.dtype}")
        if x.dtype.kind != "f":
            raise ValueError(f"integer images must be uint8 or uint16, got {x.dtype}")
        if not np.isfinite(x).all():
            raise ValueError("image has NaN or infinite values")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:  # clipping would turn it silently into black or white
            raise ValueError(f"image: a float image must lie in [0, 1], found values in [{lo:g}, {hi:g}]")
    p, a = _split_array(x)
    big = upscale_photo(_photo.Photo(p, a), scale, method, color, progress=progress)
    if x.ndim == 2:
        return big.pixels
    parts = [big.pixels[..., None] if big.pixels.ndim == 2 else big.pixels]
    if big.alpha is not None:
        parts.append(big.alpha[..., None])
    return np.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]


def _upscale_pil(im, scale, method, color, progress):
    from PIL import Image

    p, a = _photo.from_pillow("image", im)
    icc, dpi = _photo.kept_icc(im), im.info.get("dpi")
    dpi = tuple(float(d) for d in dpi) if dpi and all(d and d > 0 for d in dpi) else None
    big = upscale_photo(_photo.Photo(np.ascontiguousarray(p), a, icc, dpi), scale, method, color,
                        progress=progress)
    planes = big.pixels[..., None] if big.pixels.ndim == 2 else big.pixels
    if big.alpha is not None:
        planes = np.concatenate([planes, big.alpha[..., None]], axis=-1)
    if planes.dtype == np.uint16:
        if planes.shape[-1] != 1:
            raise ValueError("16-bit PIL images with colour or alpha do not exist; pass an array")
        out = Image.fromarray(planes[..., 0])
    elif planes.shape[-1] == 1:
        out = Image.fromarray(planes[..., 0], "L")
    else:
        out = Image.fromarray(np.ascontiguousarray(planes), {2: "LA", 3: "RGB", 4: "RGBA"}[planes.shape[-1]])
    if big.icc:
        out.info["icc_profile"] = big.icc
    if big.dpi:
        out.info["dpi"] = big.dpi
    return out


def upscale(image, scale, model="dcnn", *, color="ycbcr", out=None, quality=None, max_pixels=None,
            force=False, progress=None):
    """Super-resolve ``image`` by ``scale``; the result is of the same kind as ``image``.

    Parameters
    ----------
    image : str, Path, PIL.Image.Image or ndarray
        * a path: the photo is read (16-bit PNG/TIFF at full depth, alpha, ICC profile, dpi,
          EXIF orientation applied), upscaled and written to ``out``; returns ``Path(out)``;
        * a PIL image: returns a PIL image (palette images come back RGB or RGBA; ``info``
          carries the ICC profile and the scaled dpi);
        * an ndarray ``(H, W)``, ``(H, W, 3)``, or with alpha ``(H, W, 2)``/``(H, W, 4)``, of
          uint8, uint16, or float in [0, 1]: returns an array of the same dtype and channels
          (a float image with values outside [0, 1] is refused with a ``ValueError`` naming
          ``image`` and the range found, not clipped).
    scale : float
        Between 1 and 16; the output is ``ceil(H * scale) x ceil(W * scale)`` (MATLAB's rule).
    model : str, Path, Model or callable
        ``"auto"`` (the best shipped model for the factor on Set14), ``"bicubic"``, a shipped
        model name (``dynconv models``), a ``.npz`` path, a model, or ``f(up, scale)``.
    color : {"ycbcr", "rgb", "hsv"}
        The model runs on Y (Cb, Cr bicubic), on each of R, G, B, or on V (H, S bicubic).
    out : str or Path
        The output file, for a path input (format from the extension).
    quality : int, optional
        JPEG/WebP quality 1-95 (default 95).
    max_pixels : int, optional
        Refuse larger inputs (default: Pillow's limit), checked from the header.
    force : bool
        Allow ``out`` to be the input file.
    progress : callable, optional
        ``progress(rows_done, rows_total)`` after each strip.

    Raises
    ------
    ValueError
        Bad input (named), or a model whose output is NaN or infinite (named: diverged or
        damaged weights are an error, never black or white pixels).
    """
    scale = check_scale(scale)
    if isinstance(image, (str, Path)):
        if out is None:
            raise ValueError(f"{image}: give out= the output path for a file input")
        upscale_file(image, out, scale, model, color=color, quality=quality, max_pixels=max_pixels,
                     force=force, progress=progress)
        return Path(out)
    _, method = resolve_method(model, scale)
    if isinstance(image, np.ndarray):
        return _upscale_array(image, scale, method, color, progress)
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow is a dependency
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        return _upscale_pil(image, scale, method, color, progress)
    raise ValueError(f"image must be a path, a PIL image or an ndarray, got {type(image).__name__}")

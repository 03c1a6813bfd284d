"""Photos in and out, faithfully: bit depth, alpha, colour profile, density and orientation.

:func:`dynconv.sr.image.read_image` reads data-set images for the evaluation protocol (8-bit Y or
RGB). A user's photo needs more: ``dynconv upscale`` must give back what came in, only larger.
A :class:`Photo` keeps

* the colour channels at their own depth: ``uint8``, or ``uint16`` for 16-bit PNG and TIFF
  (Pillow reduces 16-bit colour to 8 bits, so :mod:`dynconv.photo.png16` and :mod:`dynconv.photo.tiff16`
  decode those);
* the alpha channel, if any (RGBA, LA, transparent palettes);
* the ICC profile and the density (dpi), to be copied to the output;
* the pixels turned upright by the EXIF orientation (the output carries no orientation tag).

Inputs with several frames (animated GIF/PNG/WebP, multi-page TIFF) are refused with a clear
error rather than reduced to their first frame. Sizes are checked from the header, before any
pixel is decoded, against ``max_pixels`` (default: Pillow's limit).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np

from dynconv.photo import png16, tiff16

__all__ = ["Photo", "FORMATS", "output_format", "read_photo", "write_photo", "pixel_limit"]

#: Output extension → (Pillow format, holds 16 bits, holds alpha).
FORMATS = {
    ".png": ("PNG", True, True), ".tif": ("TIFF", True, True), ".tiff": ("TIFF", True, True),
    ".jpg": ("JPEG", False, False), ".jpeg": ("JPEG", False, False), ".webp": ("WEBP", False, True),
    ".bmp": ("BMP", False, False), ".ppm": ("PPM", False, False), ".pgm": ("PPM", False, False),
}


class Photo(NamedTuple):
    """A decoded photo. ``pixels`` is (H, W) grey or (H, W, 3) RGB; ``alpha`` (H, W) or None;
    both ``uint8`` or both ``uint16``."""

    pixels: np.ndarray
    alpha: np.ndarray | None = None
    icc: bytes | None = None
    dpi: tuple[float, float] | None = None

    @property
    def bits(self) -> int:
        return self.pixels.dtype.itemsize * 8

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.pixels.shape[1], self.pixels.shape[0]


def pixel_limit(max_pixels=None) -> int:
    """The largest image accepted: ``max_pixels``, else Pillow's ``Image.MAX_IMAGE_PIXELS``."""
    from PIL import Image

    if max_pixels is not None:
        if not isinstance(max_pixels, int) or isinstance(max_pixels, bool) or max_pixels < 1:
            raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}")
        return max_pixels
    return Image.MAX_IMAGE_PIXELS or 2**62


def output_format(path) -> tuple[str, bool, bool]:
    """``(format, holds 16 bits, holds alpha)`` for an output path; ``ValueError`` for an unknown
    extension (checked before any work)."""
    ext = Path(path).suffix.lower()
    if ext not in FORMATS:
        raise ValueError(f"{path}: unknown output image format {ext or '(no extension)'!r}; use one of "
                         + ", ".join(sorted(FORMATS)))
    return FORMATS[ext]


# EXIF orientation → the numpy operations that make the image upright (as Pillow's exif_transpose).
_ORIENT = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
           5: lambda a: np.swapaxes(a, 0, 1), 6: lambda a: np.swapaxes(a, 0, 1)[:, ::-1],
           7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1], 8: lambda a: np.swapaxes(a, 0, 1)[::-1]}


def _split(arr, alpha_last):
    if alpha_last:
        return arr[..., :-1].squeeze(-1) if arr.shape[-1] == 2 else arr[..., :3], arr[..., -1]
    return (arr[..., 0] if arr.ndim == 3 and arr.shape[-1] == 1 else arr), None


def _full_depth(path, fmt, im):
    """(H, W, C) uint16 for 16-bit colour PNG/TIFF that Pillow would reduce, else None."""
    if fmt == "PNG":
        info = png16.png_info(path)
        if info.bit_depth == 16 and info.color_type in (2, 4, 6):
            return png16.read_png(path)[0]
    elif fmt == "TIFF" and set(im.tag_v2.get(258, ())) == {16} and im.tag_v2.get(284, 1) == 2:
        # the 8-bit fallback decodes planes as interleaved samples: refuse rather than garble
        raise ValueError(f"{path}: 16-bit planar TIFF (PlanarConfiguration 2) is not decoded by dynconv; "
                         "save it as contiguous (chunky) TIFF or PNG")
    elif fmt == "TIFF" and im.mode in ("RGB", "RGBA", "LA") and set(im.tag_v2.get(258, ())) == {16}:
        try:
            return tiff16.read_tiff(path)[0]
        except tiff16.UnsupportedTIFF:  # a damaged file is refused, only a layout falls back
            warnings.warn(f"{path}: this 16-bit TIFF's compression is read at 8 bits only; "
                          "save it as PNG or deflate TIFF to keep 16 bits", stacklevel=3)
    return None


def kept_icc(im) -> bytes | None:
    """The ICC profile of a Pillow image that still fits its pixels once read: a CMYK profile
    does not describe the RGB pixels we keep, so it is dropped."""
    return None if im.mode == "CMYK" else (im.info.get("icc_profile") or None)


def from_pillow(path, im):
    """``(pixels, alpha)`` arrays of an open Pillow image (alpha None when it has none); 16-bit
    greys stay ``uint16``. ``path`` names the file in errors."""
    mode = im.mode
    if mode in ("1", "L"):
        return np.asarray(im.convert("L")), None
    if mode in ("LA", "La", "PA") or (mode == "P" and "transparency" in im.info):
        if mode == "LA":
            rgba = np.asarray(im.convert("RGBA"))
            return rgba[..., 0], rgba[..., 3]
        rgba = np.asarray(im.convert("RGBA"))
        return rgba[..., :3], rgba[..., 3]
    if mode in ("RGBA", "RGBa"):
        rgba = np.asarray(im.convert("RGBA"))
        return rgba[..., :3], rgba[..., 3]
    if mode in ("RGB", "P", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        return np.asarray(im.convert("RGB")), None
    if mode.startswith("I;16") or mode == "I":
        v = np.asarray(im)
        if v.min() < 0 or v.max() > 65535:
            raise ValueError(f"{path}: 32-bit integer image with values outside 0-65535")
        return v.astype(np.uint16), None
    raise ValueError(f"{path}: unsupported image mode {mode!r}")


def read_photo(path, *, max_pixels=None) -> Photo:
    """Read a photo with its depth, alpha, ICC profile and dpi, upright.

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        Not an image, corrupt, more pixels than ``max_pixels`` (checked from the header), or
        several frames — each naming the file.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such image file")
    limit = pixel_limit(max_pixels)
    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None  # our own check below names the file and the option
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > limit:
                raise ValueError(f"{path}: {w}x{h} = {w * h:,} pixels, over the limit of {limit:,} "
                                 "(raise it with `max_pixels`)")
            if w == 0 or h == 0:
                raise ValueError(f"{path}: zero-sized image")
            frames = getattr(im, "n_frames", 1)
            if frames > 1:
                raise ValueError(f"{path}: {frames} frames (animated or multi-page); dynconv "
                                 "upscales single images: extract the frames first")
            fmt = im.format
            orientation = im.getexif().get(0x0112, 1)
            icc = im.info.get("icc_profile") or None
            dpi = im.info.get("dpi")
            full = _full_depth(path, fmt, im)
            if full is not None:
                pixels, alpha = _split(full, full.shape[-1] in (2, 4))
                if orientation in _ORIENT:
                    pixels, alpha = _ORIENT[orientation](pixels), None if alpha is None else _ORIENT[orientation](alpha)
            else:
                im.load()
                icc = kept_icc(im)
                pixels, alpha = from_pillow(path, ImageOps.exif_transpose(im))
    except UnidentifiedImageError:
        raise ValueError(f"{path}: not an image file (Pillow cannot identify its format)") from None
    except (OSError, SyntaxError, EOFError) as exc:
        raise ValueError(f"{path}: truncated or corrupt image ({exc})") from None
    finally:
        Image.MAX_IMAGE_PIXELS = saved
    dpi = tuple(float(d) for d in dpi) if dpi and all(d and d > 0 for d in dpi) else None
    return Photo(np.ascontiguousarray(pixels), None if alpha is None else np.ascontiguousarray(alpha),
                 icc, dpi)


def write_photo(path, photo: Photo, *, quality=None) -> list[str]:
    """Write ``photo`` in the format its extension names; returns notes on what the format
    could not hold (16 bits, alpha), for the caller to print.

    ``quality`` (1–95) is for JPEG and WebP only. The file is written to a temporary name and
    renamed into place, so ``path`` is never partial.
    """
    from PIL import Image

    from dynconv.fileio import atomic_path

    fmt, deep, has_alpha = output_format(path)
    notes = []
    if quality is not None:
        if fmt not in ("JPEG", "WEBP"):
            raise ValueError(f"{path}: quality is for JPEG and WebP outputs only")
        if not isinstance(quality, int) or not 1 <= quality <= 95:
            raise ValueError(f"quality must be an integer in 1-95, got {quality!r}")
    pixels, alpha = photo.pixels, photo.alpha
    if alpha is not None and not has_alpha:
        notes.append(f"{fmt} has no alpha channel: transparency dropped")
        alpha = None
    if photo.bits == 16 and not deep:
        notes.append(f"{fmt} holds 8 bits: the 16-bit result was rounded to 8 bits")
        pixels = _to8(pixels)
        alpha = None if alpha is None else _to8(alpha)
    planes = pixels[..., None] if pixels.ndim == 2 else pixels
    if alpha is not None:
        planes = np.concatenate([planes, alpha[..., None]], axis=-1)
    planes = np.ascontiguousarray(planes)
    with atomic_path(path) as tmp:
        if planes.dtype == np.uint16 and (planes.shape[-1] > 1 or fmt == "PNG"):
            if fmt == "PNG":
                png16.write_png(tmp, planes, icc=photo.icc, dpi=photo.dpi)
            else:
                tiff16.write_tiff(tmp, planes, icc=photo.icc, dpi=photo.dpi)
        else:
            if planes.shape[-1] == 1:  # L, or I;16 for 16-bit grey (a TIFF here)
                im = Image.fromarray(planes[..., 0])
            else:
                im = Image.fromarray(planes, {2: "LA", 3: "RGB", 4: "RGBA"}[planes.shape[-1]])
            opts = {}
            if photo.icc and fmt in ("PNG", "TIFF", "JPEG", "WEBP"):
                opts["icc_profile"] = photo.icc
            if photo.dpi and fmt in ("PNG", "TIFF", "JPEG", "BMP"):
                opts["dpi"] = photo.dpi
            if fmt in ("JPEG", "WEBP"):
                opts["quality"] = 95 if quality is None else quality
            if fmt == "TIFF":
                opts["compression"] = "tiff_deflate"
            im.save(tmp, format=fmt, **opts)
    return notes


def _to8(a):
    return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)

"""Reading and writing images with Pillow, and MATLAB's ``uint8()`` rounding."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

__all__ = ["read_image", "write_image", "output_format", "to_uint8"]


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
    except Image.DecompressionBombError as exc:
        raise ValueError(f"{path}: too many pixels for Pillow's limit ({exc})") from None
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


def output_format(path) -> str:
    """Pillow's format name for an output path, checked before any work: the extension must be
    one Pillow writes and the folder must exist."""
    from PIL import Image

    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise ValueError(f"{path}: unknown output image format {path.suffix or '(no extension)'!r}")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: the folder {path.parent} does not exist")
    return fmt


def write_image(path, img) -> None:
    """Write ``(H, W)`` or ``(H, W, 3)`` pixels (0–255; floats are clipped and rounded) with Pillow.

    The format follows the file extension; the file is written to a temporary name and then
    renamed, so a reader never sees a half-written image.
    """
    from PIL import Image

    from dynconv.fileio import atomic_path

    path = Path(path)
    arr = np.asarray(img)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3)) or arr.size == 0:
        raise ValueError(f"{path}: cannot write an image of shape {arr.shape}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.dtype != np.uint8:
        arr = to_uint8(arr)
    fmt = output_format(path)
    try:
        with atomic_path(path) as tmp:
            Image.fromarray(arr).save(tmp, format=fmt)
    except OSError as exc:  # name the file the user asked for, not the temporary one
        raise OSError(f"{path}: cannot write the image ({exc.strerror or exc})") from None

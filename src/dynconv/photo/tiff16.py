"""A baseline TIFF writer for 16-bit colour, which Pillow cannot write.

Pillow holds 16-bit greyscale (mode ``I;16``) but has no mode for 16-bit RGB or RGBA. This writes
them as a little-endian baseline TIFF (TIFF 6.0): one IFD, Adobe-deflate compressed strips of
about 256 KiB each, with the horizontal differencing predictor, plus the ICC profile (tag 34675)
and the resolution in pixels per inch. libtiff, Pillow (which decodes such files to 8 bits) and
every photo editor read it.
"""
from __future__ import annotations

import struct
import zlib
from itertools import accumulate

import numpy as np

from dynconv.bounded import inflate

__all__ = ["write_tiff"]

_SHORT, _LONG, _RATIONAL, _UNDEFINED = 3, 4, 5, 7
_SIZES = {_SHORT: 2, _LONG: 4, _RATIONAL: 8, _UNDEFINED: 1}
STRIP_BYTES = 1 << 18


def _rational(v: float) -> tuple[int, int]:
    den = 10_000
    return max(0, round(float(v) * den)), den


def write_tiff(path, pixels, *, icc: bytes | None = None, dpi=None, level: int = 6) -> None:
    """Write ``uint8``/``uint16`` ``(H, W, C)``, C = 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA."""
    a = _checked(pixels)
    strips, per_strip = _strips(a, level)
    tags = _tags(a, per_strip, strips, icc, dpi)
    with open(path, "wb") as f:
        f.write(_header_and_ifd(tags, strips) + b"".join(strips))


def _checked(pixels) -> np.ndarray:
    """``pixels`` as ``(H, W, C)``; raises on another dtype, rank or channel count."""
    a = np.asarray(pixels)
    if a.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"pixels must be uint8 or uint16, got {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4) or 0 in a.shape:
        raise ValueError(f"pixels must have shape (H, W) or (H, W, C) with C in 1-4, got {a.shape}")
    return a


def _strips(a: np.ndarray, level: int) -> tuple[list[bytes], int]:
    """The compressed strips of ``a`` (H, W, C) and the rows per strip."""
    h = a.shape[0]
    # Horizontal differencing (predictor 2) per sample, modulo 2^bits, then deflate per strip.
    diff = a.astype(a.dtype, copy=True)
    diff[:, 1:] = a[:, 1:] - a[:, :-1]
    rows = np.ascontiguousarray(diff.astype("<u2") if a.dtype.itemsize == 2 else diff).view(np.uint8).reshape(h, -1)
    per_strip = max(1, STRIP_BYTES // rows.shape[1])
    return [zlib.compress(rows[r:r + per_strip].tobytes(), level) for r in range(0, h, per_strip)], per_strip


def _tags(a: np.ndarray, per_strip: int, strips: list[bytes], icc, dpi) -> list[tuple]:
    """The IFD entries ``(tag, type, values)`` sorted by tag; the strip offsets (273) are ``None``."""
    h, w, c = a.shape
    bits = a.dtype.itemsize * 8
    photometric = 2 if c >= 3 else 1  # RGB, or BlackIsZero grey
    tags = [
        (256, _LONG, [w]), (257, _LONG, [h]), (258, _SHORT, [bits] * c),
        (259, _SHORT, [8]),  # Adobe deflate
        (262, _SHORT, [photometric]),
        (273, _LONG, None),  # strip offsets: filled by _header_and_ifd
        (277, _SHORT, [c]), (278, _LONG, [per_strip]),
        (279, _LONG, [len(s) for s in strips]),
        (284, _SHORT, [1]),  # chunky
        (317, _SHORT, [2]),  # horizontal predictor
    ]
    if dpi:
        tags += [(282, _RATIONAL, [_rational(dpi[0])]), (283, _RATIONAL, [_rational(dpi[1])]),
                 (296, _SHORT, [2])]  # inches
    if c in (2, 4):
        tags.append((338, _SHORT, [2]))  # extra sample: unassociated alpha
    if icc:
        tags.append((34675, _UNDEFINED, icc))
    return sorted(tags, key=lambda t: t[0])


def _pack(kind, values) -> bytes:
    if kind == _UNDEFINED:
        return bytes(values)
    if kind == _RATIONAL:
        return b"".join(struct.pack("<II", *v) for v in values)
    return struct.pack("<" + ("H" if kind == _SHORT else "I") * len(values), *values)


def _padded(b: bytes) -> bytes:
    return b + (b"\0" if len(b) % 2 else b"")  # out-of-line values start on a word boundary


def _header_and_ifd(tags, strips) -> bytes:
    """The file up to the strips: header, IFD, then the values too long for the IFD."""
    ifd_size = 2 + 12 * len(tags) + 4
    extra_at = 8 + ifd_size  # out-of-line values follow the IFD, then the strips
    values = {t: _pack(k, v) if v is not None else None for t, k, v in tags}
    values[273] = bytes(4 * len(strips))  # placeholder of the right size
    offsets, pos = {}, extra_at
    for t, _, _ in tags:
        if len(values[t]) > 4:
            offsets[t], pos = pos, pos + len(_padded(values[t]))
    values[273] = _pack(_LONG, list(accumulate((len(s) for s in strips[:-1]), initial=pos)))  # the strips follow
    extra = b"".join(_padded(values[t]) for t, _, _ in tags if t in offsets)
    ifd = [struct.pack("<H", len(tags))]
    for t, k, _ in tags:
        count = len(values[t]) // _SIZES[k]
        inline = values[t] if t not in offsets else struct.pack("<I", offsets[t])
        ifd.append(struct.pack("<HHI", t, k, count) + inline.ljust(4, b"\0"))
    ifd.append(struct.pack("<I", 0))
    return b"II*\0" + struct.pack("<I", 8) + b"".join(ifd) + extra


class UnsupportedTIFF(ValueError):
    """A valid TIFF whose layout this reader leaves to Pillow (not a damaged file)."""


_TYPES = {1: "B", 2: "B", 3: "H", 4: "I", 5: "II", 7: "B", 16: "Q"}


def _ifd(data: bytes, path) -> tuple[str, dict]:
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or struct.unpack(order + "H", data[2:4])[0] != 42:
        raise ValueError(f"{path}: not a baseline TIFF")
    (at,) = struct.unpack(order + "I", data[4:8])
    (n,) = struct.unpack(order + "H", data[at:at + 2])
    tags = {}
    for i in range(n):
        tag, kind, count = struct.unpack(order + "HHI", data[at + 2 + 12 * i:at + 10 + 12 * i])
        if kind not in _TYPES:
            continue
        fmt = _TYPES[kind]
        size = struct.calcsize(order + fmt) * count
        if size <= 4:
            raw = data[at + 10 + 12 * i:at + 10 + 12 * i + size]
        else:
            (off,) = struct.unpack(order + "I", data[at + 10 + 12 * i:at + 14 + 12 * i])
            raw = data[off:off + size]
        if len(raw) != size:
            raise ValueError(f"{path}: truncated TIFF (tag {tag})")
        tags[tag] = raw if kind in (1, 2, 7) else struct.unpack(order + fmt * count, raw)
    return order, tags


def read_tiff(path) -> tuple[np.ndarray, dict]:
    """Decode a single-image baseline TIFF with 16-bit samples, uncompressed or deflate (with or
    without the horizontal predictor), chunky, in strips — what :func:`write_tiff` writes and
    most 16-bit exports are.

    Returns ``(uint16 (H, W, C), {"icc": bytes or None, "dpi": (x, y) or None})``.

    Raises
    ------
    ValueError
        Naming the file: :class:`UnsupportedTIFF` for anything else (LZW or JPEG compression,
        tiles, planar layout, other depths), where callers fall back to Pillow's 8-bit decoding;
        a plain ``ValueError`` for a damaged file (corrupt, truncated or over-long deflate data),
        which callers must not decode another way.
    """
    with open(path, "rb") as f:
        data = f.read()
    order, t = _ifd(data, path)
    w, h = t.get(256, (0,))[0], t.get(257, (0,))[0]
    c = t.get(277, (1,))[0]
    bits = set(t.get(258, (1,)))
    compression, predictor = t.get(259, (1,))[0], t.get(317, (1,))[0]
    if bits != {16} or compression not in (1, 8, 32946) or t.get(284, (1,))[0] != 1 \
            or predictor not in (1, 2) or 273 not in t or 322 in t or not (w and h and 1 <= c <= 4):
        raise UnsupportedTIFF(f"{path}: not a 16-bit strip TIFF this reader decodes "
                         f"(compression {compression}, bits {sorted(bits)})")
    row_bytes = w * c * 2
    per_strip = max(1, min(t.get(278, (h,))[0], h))
    chunks = []
    for i, (off, n) in enumerate(zip(t[273], t.get(279, ()))):
        raw = data[off:off + n]
        # each strip inflates to exactly its rows (the last may be shorter), never more
        size = max(0, min(per_strip, h - i * per_strip)) * row_bytes
        chunks.append(inflate(raw, size, path, f"TIFF strip {i}") if compression != 1 else raw)
    buf = b"".join(chunks)
    if len(buf) < h * row_bytes:
        raise ValueError(f"{path}: truncated TIFF image data")
    a = np.frombuffer(buf[:h * row_bytes], order + "u2").reshape(h, w, c).astype(np.uint16)
    if predictor == 2:
        a = np.cumsum(a, axis=1, dtype=np.uint16)  # wraps modulo 2^16, undoing the differences
    dpi = None
    if 282 in t and 283 in t and t.get(296, (2,))[0] in (2, 3):
        per = 2.54 if t.get(296, (2,))[0] == 3 else 1.0
        xr, yr = t[282], t[283]
        if xr[1] and yr[1]:
            dpi = (xr[0] / xr[1] * per, yr[0] / yr[1] * per)
    return a, {"icc": bytes(t[34675]) if 34675 in t else None, "dpi": dpi}

"""PNG at full bit depth: a small reader and writer for what Pillow reduces to 8 bits.

Pillow keeps 16-bit greyscale PNGs (mode ``I;16``) but decodes 16-bit RGB, RGBA and grey+alpha
PNGs to 8 bits, and cannot write them at all. ``dynconv upscale`` promises a 16-bit output for
a 16-bit input, so this module reads and writes those PNGs itself, following the PNG
specification (ISO/IEC 15948): zlib-compressed scanlines, each with one of five filters, and
optionally Adam7 interlacing.

* :func:`png_info` reads only the header: size, bit depth, colour type, and the ``iCCP`` and
  ``pHYs`` chunks (colour profile and pixel density).
* :func:`read_png` decodes a PNG of bit depth 8 or 16 and colour type grey, grey+alpha, RGB or
  RGBA into ``uint8`` / ``uint16`` ``(H, W, C)``; palette and sub-byte images are Pillow's job.
* :func:`write_png` encodes ``uint8`` or ``uint16`` ``(H, W)`` / ``(H, W, C)``, C in 1–4.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import NamedTuple

import numba
import numpy as np

from dynconv.bounded import inflate

__all__ = ["PNGInfo", "png_info", "read_png", "write_png"]

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: colour type → channels (grey, RGB, grey+alpha, RGBA); 3 (palette) is not handled here.
CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}
_TYPE_OF = {c: t for t, c in CHANNELS.items()}
# Adam7 passes: (row start, col start, row step, col step).
ADAM7 = ((0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1))


#: The largest ICC profile inflated (real profiles are well under 1 MB).
MAX_ICC = 16 * 2**20


class PNGInfo(NamedTuple):
    width: int
    height: int
    bit_depth: int
    color_type: int
    interlace: int
    icc: bytes | None  # the uncompressed ICC profile
    icc_name: bytes
    dpi: tuple[float, float] | None

    @property
    def channels(self) -> int:
        return CHANNELS.get(self.color_type, 0)


def _chunks(data: bytes, path):
    if data[:8] != SIGNATURE:
        raise ValueError(f"{path}: not a PNG file")
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length or pos + 12 + length > len(data):
            raise ValueError(f"{path}: truncated PNG (chunk {kind.decode('latin-1')!r})")
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ValueError(f"{path}: corrupt PNG (bad CRC in chunk {kind.decode('latin-1')!r})")
        yield kind, body
        if kind == b"IEND":
            return
        pos += 12 + length
    raise ValueError(f"{path}: truncated PNG (no IEND chunk)")


def _header(chunks, path) -> tuple[PNGInfo, bytes]:
    ihdr, icc, icc_name, dpi, idat = None, None, b"", None, []
    for kind, body in chunks:
        if kind == b"IHDR":
            if len(body) != 13:
                raise ValueError(f"{path}: corrupt PNG header")
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"iCCP":
            name, _, rest = body.partition(b"\0")
            try:
                icc, icc_name = inflate(rest[1:], MAX_ICC, path, "ICC profile", exact=False), name
            except ValueError:
                icc = None  # a damaged profile is dropped, not fatal
        elif kind == b"pHYs" and len(body) == 9:
            px, py, unit = struct.unpack(">IIB", body)
            if unit == 1 and px and py:
                dpi = (px * 0.0254, py * 0.0254)
        elif kind == b"IDAT":
            idat.append(body)
    if ihdr is None:
        raise ValueError(f"{path}: corrupt PNG (no IHDR)")
    w, h, depth, ctype, _, _, interlace = ihdr
    return PNGInfo(w, h, depth, ctype, interlace, icc, icc_name, dpi), b"".join(idat)


def png_info(path) -> PNGInfo:
    """The header of a PNG file, without decoding its pixels."""
    path = Path(path)
    with open(path, "rb") as f:
        data = f.read()
    info, _ = _header(_until_idat(_chunks(data, path)), path)
    return info


def _until_idat(chunks):
    """The chunks before the first IDAT: metadata precede the pixels (walked, not searched)."""
    for kind, body in chunks:
        if kind == b"IDAT":
            return
        yield kind, body


def _unfilter_rows(lines, bpp, out):
    """Undo the per-scanline filters in place (PNG spec §9); returns the first row with an
    unknown filter type, or -1. ``lines`` (rows, 1 + stride) uint8; ``out`` (rows, stride) uint8."""
    rows, stride = out.shape
    for r in range(rows):
        kind = lines[r, 0]
        if kind > 4:
            return r
        for i in range(stride):
            x = np.int32(lines[r, 1 + i])
            a = np.int32(out[r, i - bpp]) if i >= bpp else np.int32(0)
            b = np.int32(out[r - 1, i]) if r > 0 else np.int32(0)
            c = np.int32(out[r - 1, i - bpp]) if (r > 0 and i >= bpp) else np.int32(0)
            if kind == 1:
                x += a
            elif kind == 2:
                x += b
            elif kind == 3:
                x += (a + b) >> 1
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                x += a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
            out[r, i] = x & 0xFF
    return -1


_unfilter_rows_jit = numba.njit(cache=True)(_unfilter_rows)


def _unfilter(raw: np.ndarray, rows: int, stride: int, bpp: int, path) -> np.ndarray:
    """Check the sizes, then undo the filters of ``rows`` scanlines of ``stride`` bytes each."""
    if raw.size != rows * (stride + 1):
        raise ValueError(f"{path}: corrupt PNG (image data has {raw.size} bytes, expected {rows * (stride + 1)})")
    if not (1 <= bpp <= 8 and stride % bpp == 0):
        raise ValueError(f"{path}: corrupt PNG (row of {stride} bytes for {bpp}-byte pixels)")
    lines = np.ascontiguousarray(raw, np.uint8).reshape(rows, stride + 1)
    out = np.zeros((rows, stride), np.uint8)  # every byte is written; zeros keep a bug visible
    bad = _unfilter_rows_jit(lines, bpp, out)
    if bad >= 0:
        raise ValueError(f"{path}: corrupt PNG (unknown filter type {lines[bad, 0]} in row {bad})")
    return out


def read_png(path) -> tuple[np.ndarray, PNGInfo]:
    """Decode an 8- or 16-bit grey / grey+alpha / RGB / RGBA PNG.

    Returns
    -------
    pixels : ndarray, uint8 or uint16, shape (H, W, C)
    info : PNGInfo

    Raises
    ------
    ValueError
        Not a PNG, corrupt or truncated, or a kind this reader leaves to Pillow (palette or
        1/2/4-bit images), naming the file.
    """
    path = Path(path)
    with open(path, "rb") as f:
        data = f.read()
    info, idat = _header(_chunks(data, path), path)
    if info.channels == 0 or info.bit_depth not in (8, 16):
        raise ValueError(f"{path}: PNG colour type {info.color_type} at {info.bit_depth} bits is "
                         "not decoded here (palette or sub-byte images: use Pillow)")
    if info.width == 0 or info.height == 0:
        raise ValueError(f"{path}: zero-sized image")
    nbytes = info.bit_depth // 8
    bpp = info.channels * nbytes
    passes = ADAM7 if info.interlace else ((0, 0, 1, 1),)
    size = sum(len(range(r0, info.height, dr)) * (len(range(c0, info.width, dc)) * bpp + 1)
               for r0, c0, dr, dc in passes if r0 < info.height and c0 < info.width)
    raw = np.frombuffer(inflate(idat, size, path, "PNG image data"), np.uint8)  # capped at the header's size
    dtype = np.dtype(">u2") if nbytes == 2 else np.dtype(np.uint8)
    out = np.empty((info.height, info.width, info.channels), np.uint16 if nbytes == 2 else np.uint8)
    pos = 0
    for r0, c0, dr, dc in passes:
        rows = len(range(r0, info.height, dr))
        cols = len(range(c0, info.width, dc))
        if rows == 0 or cols == 0:
            continue
        size = rows * (cols * bpp + 1)
        if pos + size > raw.size:
            raise ValueError(f"{path}: corrupt PNG (image data ends early)")
        block = _unfilter(raw[pos:pos + size], rows, cols * bpp, bpp, path)
        pos += size
        out[r0::dr, c0::dc] = block.view(dtype).reshape(rows, cols, info.channels)
    if pos != raw.size:
        raise ValueError(f"{path}: corrupt PNG ({raw.size - pos} bytes of image data left over)")
    return out, info


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def write_png(path, pixels, *, icc: bytes | None = None, dpi=None, level: int = 6) -> None:
    """Encode ``uint8``/``uint16`` ``(H, W)`` or ``(H, W, C)`` (C = 1 grey, 2 grey+alpha, 3 RGB,
    4 RGBA) as a non-interlaced PNG, with an optional ICC profile and pixel density (dpi).

    Every scanline uses the Up filter (good for photos, one vectorised pass).
    """
    a = np.asarray(pixels)
    if a.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"pixels must be uint8 or uint16, got {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in _TYPE_OF or 0 in a.shape:
        raise ValueError(f"pixels must have shape (H, W) or (H, W, C) with C in 1-4, got {a.shape}")
    h, w, c = a.shape
    depth = 16 if a.dtype == np.uint16 else 8
    rows = np.ascontiguousarray(a.astype(">u2") if depth == 16 else a).view(np.uint8).reshape(h, -1)
    up = rows.copy()
    up[1:] = rows[1:] - rows[:-1]  # uint8 arithmetic wraps modulo 256, as the Up filter does
    lines = np.concatenate([np.full((h, 1), 2, np.uint8), up], axis=1)
    body = [_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, _TYPE_OF[c], 0, 0, 0))]
    if icc:
        body.append(_chunk(b"iCCP", b"ICC profile\0\0" + zlib.compress(icc)))
    if dpi:
        px, py = (max(1, round(float(d) / 0.0254)) for d in dpi)
        body.append(_chunk(b"pHYs", struct.pack(">IIB", px, py, 1)))
    body.append(_chunk(b"IDAT", zlib.compress(lines.tobytes(), level)))
    body.append(_chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(SIGNATURE + b"".join(body))

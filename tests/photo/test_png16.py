"""dynconv.photo.png16: full-depth PNG decoding and encoding, checked against Pillow and hand-made files."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from dynconv.photo import png16

MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}


def chunk(kind, body):
    return png16._chunk(kind, body)


def encode(a, *, filters=(0,), interlace=False):
    """A reference encoder: every filter type, cycled row by row; optional Adam7."""
    h, w, c = a.shape
    depth = 16 if a.dtype == np.uint16 else 8
    bpp = c * depth // 8

    def filt(rows):
        out, prev = [], np.zeros(rows.shape[1], np.int32)
        for r, line in enumerate(rows.astype(np.int32)):
            kind = filters[r % len(filters)]
            left = np.concatenate([np.zeros(bpp, np.int32), line[:-bpp]])
            upleft = np.concatenate([np.zeros(bpp, np.int32), prev[:-bpp]])
            pred = {0: 0, 1: left, 2: prev, 3: (left + prev) >> 1,
                    4: np.asarray(png16_paeth(left, prev, upleft))}[kind]
            out.append(bytes([kind]) + ((line - pred) & 0xFF).astype(np.uint8).tobytes())
            prev = line
        return b"".join(out)

    def rows_of(block):
        b = block.astype(">u2") if depth == 16 else block
        return np.ascontiguousarray(b).view(np.uint8).reshape(block.shape[0], -1)

    passes = png16.ADAM7 if interlace else ((0, 0, 1, 1),)
    raw = b"".join(filt(rows_of(a[r0::dr, c0::dc])) for r0, c0, dr, dc in passes
                   if a[r0::dr, c0::dc].size)
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    return (png16.SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, int(interlace)))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def png16_paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def planes(im):
    """(H, W, C) from a Pillow image, band by band (Pillow stores LA with padding)."""
    return np.stack([np.asarray(b) for b in im.split()], axis=-1)


@pytest.fixture
def image(rng):
    def make(c, dtype, h=23, w=31):
        top = np.iinfo(dtype).max
        smooth = np.cumsum(rng.integers(0, top // 64, (h, w, c)), axis=1) % (top + 1)
        return smooth.astype(dtype)
    return make


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("c", [1, 2, 3, 4])
def test_round_trip(tmp_path, image, c, dtype):
    a = image(c, dtype)
    png16.write_png(tmp_path / "a.png", a, icc=b"profile bytes", dpi=(300, 150))
    b, info = png16.read_png(tmp_path / "a.png")
    assert b.dtype == dtype and np.array_equal(a, b)
    assert (info.channels, info.bit_depth, info.icc) == (c, np.dtype(dtype).itemsize * 8, b"profile bytes")
    assert info.dpi == pytest.approx((300, 150), abs=0.02)  # stored as pixels per metre
    assert png16.png_info(tmp_path / "a.png") == info


@pytest.mark.parametrize("c", [1, 2, 3, 4])
def test_pillow_reads_what_we_write(tmp_path, image, c):
    a8 = image(c, np.uint8)
    png16.write_png(tmp_path / "a.png", a8)
    with Image.open(tmp_path / "a.png") as im:
        assert im.mode == MODES[c]
        assert np.array_equal(planes(im), a8)
    a16 = image(c, np.uint16)
    png16.write_png(tmp_path / "b.png", a16)
    with Image.open(tmp_path / "b.png") as im:
        got = planes(im)
    if c == 2:  # Pillow opens 16-bit grey+alpha as RGBA with the grey repeated
        assert im.mode == "RGBA" and np.array_equal(got[:, :, 0], got[:, :, 2])
        got = got[:, :, [0, 3]]
    # Pillow keeps 16-bit grey, and reduces the other 16-bit types to their high byte.
    assert np.array_equal(got, a16 if c == 1 else a16 >> 8)


@pytest.mark.parametrize("c", [1, 4])
def test_we_read_what_pillow_writes(tmp_path, image, c):
    a = image(c, np.uint8)
    Image.fromarray(a[:, :, 0] if c == 1 else a, MODES[c]).save(tmp_path / "p.png", optimize=True)
    assert np.array_equal(png16.read_png(tmp_path / "p.png")[0], a)


@pytest.mark.parametrize("interlace", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_every_filter_type_and_adam7(tmp_path, image, dtype, interlace):
    a = image(3, dtype, h=13, w=11)  # 13 x 11: some Adam7 passes are partial
    (tmp_path / "f.png").write_bytes(encode(a, filters=(0, 1, 2, 3, 4), interlace=interlace))
    b, info = png16.read_png(tmp_path / "f.png")
    assert info.interlace == int(interlace) and np.array_equal(a, b)


def test_tiny_interlaced_image_with_empty_passes(tmp_path):
    a = np.arange(3, dtype=np.uint16).reshape(1, 3, 1) * 20000
    (tmp_path / "t.png").write_bytes(encode(a, interlace=True))
    assert np.array_equal(png16.read_png(tmp_path / "t.png")[0], a)


def test_corrupt_files_name_the_file(tmp_path, image):
    good = encode(image(3, np.uint16))
    cases = {
        "sig.png": b"GIF89a" + good[6:],
        "crc.png": good[:30] + bytes([good[30] ^ 1]) + good[31:],
        "trunc.png": good[: len(good) // 2],
        "filter.png": None,
    }
    raw = image(1, np.uint8, 2, 2)
    cases["filter.png"] = (png16.SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0))
                           + chunk(b"IDAT", zlib.compress(b"\x00" + raw[0].tobytes() + b"\x07" + raw[1].tobytes()))
                           + chunk(b"IEND", b""))
    expected = {"sig.png": "not a PNG", "crc.png": "bad CRC", "trunc.png": "truncated PNG",
                "filter.png": "unknown filter type 7 in row 1"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=rf"{name}: .*{expected[name]}"):
            png16.read_png(tmp_path / name)


def test_short_image_data_is_an_error_not_garbage(tmp_path):
    body = zlib.compress(b"\x00" + bytes(6))  # one row of a 2-row RGB image
    data = (png16.SIGNATURE + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    (tmp_path / "s.png").write_bytes(data)
    with pytest.raises(ValueError, match="s.png: corrupt PNG"):
        png16.read_png(tmp_path / "s.png")


def test_palette_is_left_to_pillow(tmp_path):
    Image.new("P", (4, 4)).save(tmp_path / "p.png")
    with pytest.raises(ValueError, match="colour type 3 at .* bits is not decoded here"):
        png16.read_png(tmp_path / "p.png")


@pytest.mark.parametrize("bad, err", [(np.zeros((2, 2), np.float32), TypeError),
                                      (np.zeros((2, 2, 5), np.uint8), ValueError),
                                      (np.zeros((0, 2), np.uint8), ValueError)])
def test_write_refuses_what_png_cannot_hold(tmp_path, bad, err):
    with pytest.raises(err):
        png16.write_png(tmp_path / "x.png", bad)

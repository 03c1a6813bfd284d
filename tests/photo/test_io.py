"""dynconv.photo.io: photos read and written with their depth, alpha, profile, density and orientation."""
from __future__ import annotations

import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms

from dynconv.photo import png16, tiff16
from dynconv.photo.io import Photo, output_format, read_photo, write_photo


@pytest.fixture(scope="module")
def srgb():
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture
def rgb(rng):
    return rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)


def test_rgba_keeps_alpha_profile_and_dpi(tmp_path, rgb, srgb):
    rgba = np.dstack([rgb, rgb[..., 1]])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png", icc_profile=srgb, dpi=(200, 200))
    p = read_photo(tmp_path / "a.png")
    assert np.array_equal(p.pixels, rgb) and np.array_equal(p.alpha, rgb[..., 1])
    assert p.icc == srgb and p.dpi == pytest.approx((200, 200), abs=0.01) and p.bits == 8


def test_grey_and_grey_alpha(tmp_path, rgb):
    Image.fromarray(rgb[..., 0]).save(tmp_path / "g.png")
    Image.fromarray(np.dstack([rgb[..., 0], rgb[..., 2]]), "LA").save(tmp_path / "ga.png")
    g, ga = read_photo(tmp_path / "g.png"), read_photo(tmp_path / "ga.png")
    assert g.pixels.shape == (30, 40) and g.alpha is None
    assert np.array_equal(ga.pixels, rgb[..., 0]) and np.array_equal(ga.alpha, rgb[..., 2])


def test_palette_with_transparency_gets_alpha(tmp_path, rgb):
    Image.fromarray(rgb).convert("P").save(tmp_path / "p.png", transparency=0)
    p = read_photo(tmp_path / "p.png")
    assert p.pixels.shape == (30, 40, 3) and p.alpha is not None and 0 in p.alpha


def test_cmyk_becomes_rgb_without_its_profile(tmp_path, rgb):
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.jpg")
    p = read_photo(tmp_path / "c.jpg")
    assert p.pixels.shape == (30, 40, 3) and p.icc is None


@pytest.mark.parametrize("orientation, shape", [(1, (30, 40)), (3, (30, 40)), (6, (40, 30)), (8, (40, 30))])
def test_exif_orientation_is_applied(tmp_path, rgb, orientation, shape):
    im = Image.fromarray(rgb)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(tmp_path / "r.png", exif=exif)
    p = read_photo(tmp_path / "r.png")
    with Image.open(tmp_path / "r.png") as ref:
        from PIL import ImageOps
        expected = np.asarray(ImageOps.exif_transpose(ref).convert("RGB"))
    assert p.pixels.shape[:2] == shape and np.array_equal(p.pixels, expected)


@pytest.mark.parametrize("c", [1, 2, 3, 4])
def test_16_bit_png_is_read_at_full_depth(tmp_path, rng, c, srgb):
    a = rng.integers(0, 65536, (12, 9, c)).astype(np.uint16)
    png16.write_png(tmp_path / "d.png", a, icc=srgb, dpi=(300, 300))
    p = read_photo(tmp_path / "d.png")
    assert p.bits == 16 and p.icc == srgb
    colour = a[..., :1] if c in (1, 2) else a[..., :3]
    assert np.array_equal(p.pixels, colour.squeeze(-1) if colour.shape[-1] == 1 else colour)
    assert (p.alpha is not None) == (c in (2, 4))


def test_16_bit_colour_tiff_round_trip(tmp_path, rng):
    a = rng.integers(0, 65536, (12, 9, 3)).astype(np.uint16)
    tiff16.write_tiff(tmp_path / "d.tif", a, dpi=(240, 240))
    p = read_photo(tmp_path / "d.tif")
    assert p.bits == 16 and np.array_equal(p.pixels, a) and p.dpi == pytest.approx((240, 240))


@pytest.mark.parametrize("ext, bits, keeps_alpha, note", [
    (".png", 16, True, None), (".tif", 16, True, None), (".tiff", 16, True, None),
    (".jpg", 8, False, "JPEG holds 8 bits"), (".webp", 8, True, "WEBP holds 8 bits"),
    (".bmp", 8, False, "BMP holds 8 bits"),
])
def test_write_keeps_what_the_format_holds(tmp_path, rng, srgb, ext, bits, keeps_alpha, note):
    colour = rng.integers(0, 65536, (10, 14, 3)).astype(np.uint16)
    alpha = rng.integers(0, 65536, (10, 14)).astype(np.uint16)
    notes = write_photo(tmp_path / f"o{ext}", Photo(colour, alpha, srgb, (300.0, 300.0)))
    back = read_photo(tmp_path / f"o{ext}")
    assert back.bits == bits and (back.alpha is not None) == keeps_alpha
    if bits == 16:
        assert np.array_equal(back.pixels, colour) and np.array_equal(back.alpha, alpha) and notes == []
    else:
        assert any(note in n for n in notes)
        assert any("transparency dropped" in n for n in notes) == (not keeps_alpha)
    if ext != ".bmp":
        assert back.icc == srgb
    if ext in (".png", ".tif", ".tiff", ".jpg"):
        assert back.dpi == pytest.approx((300, 300), abs=0.01)


def test_16_bit_grey_png_and_tiff(tmp_path, rng):
    g = rng.integers(0, 65536, (10, 14)).astype(np.uint16)
    for ext in (".png", ".tif"):
        write_photo(tmp_path / f"g{ext}", Photo(g))
        back = read_photo(tmp_path / f"g{ext}")
        assert back.bits == 16 and np.array_equal(back.pixels, g)


def test_multi_frame_input_is_refused(tmp_path, rgb):
    frames = [Image.fromarray(rgb), Image.fromarray(255 - rgb)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(ValueError, match=r"anim.gif: 2 frames \(animated or multi-page\)"):
        read_photo(tmp_path / "anim.gif")


def test_oversized_header_is_refused_before_decoding(tmp_path):
    """A PNG claiming 40 000 x 40 000 pixels, with (almost) no data: refused from the header."""
    ihdr = struct.pack(">IIBBBBB", 40_000, 40_000, 8, 2, 0, 0, 0)
    data = (png16.SIGNATURE + png16._chunk(b"IHDR", ihdr) + png16._chunk(b"IDAT", zlib.compress(b"\0" * 10))
            + png16._chunk(b"IEND", b""))
    (tmp_path / "bomb.png").write_bytes(data)
    with pytest.raises(ValueError, match=r"bomb.png: 40000x40000 = 1,600,000,000 pixels, over the limit of "):
        read_photo(tmp_path / "bomb.png")
    with pytest.raises(ValueError, match="over the limit of 1,000"):
        read_photo(tmp_path / "bomb.png", max_pixels=1000)


def test_not_an_image_and_missing_file(tmp_path):
    (tmp_path / "t.png").write_text("hello")
    with pytest.raises(ValueError, match="t.png: not an image file"):
        read_photo(tmp_path / "t.png")
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_photo(tmp_path / "nope.png")


def test_unknown_extension_and_bad_quality(tmp_path, rgb):
    with pytest.raises(ValueError, match=r"unknown output (image )?format '.xyz'"):
        output_format(tmp_path / "o.xyz")
    with pytest.raises(ValueError, match="quality is for JPEG and WebP"):
        write_photo(tmp_path / "o.png", Photo(rgb), quality=80)
    with pytest.raises(ValueError, match="quality must be an integer in 1-95"):
        write_photo(tmp_path / "o.jpg", Photo(rgb), quality=0)
    assert os.listdir(tmp_path) == []


def test_failed_write_leaves_no_file(tmp_path, rgb, monkeypatch):
    def broken(self, fp, *a, **k):
        with open(fp, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        write_photo(tmp_path / "o.jpg", Photo(rgb))
    assert os.listdir(tmp_path) == []

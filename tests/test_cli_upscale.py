"""`dynconv upscale` on real-world inputs: every case checks the exit status, the output's mode,
size and depth, and that no partial file is left behind."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from dynconv.cli import main
from dynconv.photo import png16


def upscale(capsys, *args):
    code = main(["upscale", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def files(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def rgb(rng):
    base = rng.integers(0, 256, (12, 15, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(base).resize((50, 40), Image.BICUBIC))


def test_rgba_keeps_its_alpha(tmp_path, capsys, rgb):
    alpha = np.full(rgb.shape[:2], 200, np.uint8)
    alpha[:, :10] = 0
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(tmp_path / "in.png")
    code, out, err = upscale(capsys, tmp_path / "in.png", tmp_path / "out.png", "--scale", 2, "--model", "bicubic")
    assert code == 0 and err == "", err
    im = Image.open(tmp_path / "out.png")
    assert im.mode == "RGBA" and im.size == (100, 80)
    a = np.asarray(im)[..., 3]
    assert (a[:, 24:] == 200).all() and (a[:, :18] == 0).all()
    assert files(tmp_path) == ["in.png", "out.png"]


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_sixteen_bit_stays_sixteen_bit(tmp_path, capsys, rng, ext):
    x = (rng.random((30, 20, 3)) * 65535).astype(np.uint16)
    png16.write_png(tmp_path / "in.png", x)
    code, out, err = upscale(capsys, tmp_path / "in.png", tmp_path / f"out{ext}", "--scale", 2, "--model", "srcnn-x2")
    assert code == 0 and err == "", err
    from dynconv.photo.io import read_photo

    big = read_photo(tmp_path / f"out{ext}")
    assert big.pixels.dtype == np.uint16 and big.pixels.shape == (60, 40, 3)
    assert len(np.unique(big.pixels)) > 1000  # not 256 levels
    assert files(tmp_path) == sorted(["in.png", f"out{ext}"])


def test_sixteen_bit_to_jpeg_says_so_in_one_warning_line(tmp_path, capsys, rng):
    png16.write_png(tmp_path / "in.png", (rng.random((30, 20, 3)) * 65535).astype(np.uint16))
    code, out, err = upscale(capsys, tmp_path / "in.png", tmp_path / "o.jpg", "--scale", 2, "--model", "bicubic",
                             "--quality", 80)
    assert code == 0
    assert err.strip().splitlines() == [f"warning: {tmp_path / 'o.jpg'}: JPEG holds 8 bits: the 16-bit result "
                                        "was rounded to 8 bits"]
    im = Image.open(tmp_path / "o.jpg")
    assert im.mode == "RGB" and im.size == (40, 60)


@pytest.mark.parametrize("mode, want", [("CMYK", "RGB"), ("P", "RGB"), ("L", "L"), ("PA", "RGBA")])
def test_other_modes(tmp_path, capsys, rgb, mode, want):
    ext = ".jpg" if mode == "CMYK" else ".png"
    src = Image.fromarray(rgb)
    if mode == "PA":
        src = src.convert("P")
        src.save(tmp_path / f"in{ext}", transparency=0)
    else:
        src.convert(mode).save(tmp_path / f"in{ext}")
    code, out, err = upscale(capsys, tmp_path / f"in{ext}", tmp_path / "out.png", "--scale", 1.5, "--model", "bicubic")
    assert code == 0, err
    im = Image.open(tmp_path / "out.png")
    assert im.mode == want and im.size == (75, 60)
    assert files(tmp_path) == sorted([f"in{ext}", "out.png"])


def test_exif_rotation_icc_and_dpi(tmp_path, capsys, rgb):
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    Image.fromarray(rgb).save(tmp_path / "in.jpg", exif=exif, icc_profile=icc, dpi=(150, 150))
    code, out, err = upscale(capsys, tmp_path / "in.jpg", tmp_path / "out.png", "--scale", 2, "--model", "bicubic")
    assert code == 0, err
    im = Image.open(tmp_path / "out.png")
    assert im.mode == "RGB" and im.size == (80, 100)  # upright: 40 wide, 50 high, x2
    assert im.info.get("icc_profile") == icc
    assert tuple(round(d) for d in im.info["dpi"]) == (300, 300)


def test_many_files_one_bad(tmp_path, capsys, rgb):
    Image.fromarray(rgb).save(tmp_path / "a.png")
    Image.fromarray(rgb).convert("L").save(tmp_path / "b.jpg")
    (tmp_path / "c.png").write_bytes(b"not an image")
    out_dir = tmp_path / "out"
    code, out, err = upscale(capsys, tmp_path / "a.png", tmp_path / "c.png", tmp_path / "b.jpg",
                             "--out-dir", out_dir, "--scale", 2, "--model", "bicubic")
    assert code == 1
    assert "2 of 3 files upscaled" in out and "c.png" in out
    assert f"dynconv: error: {tmp_path / 'c.png'}: not an image file" in err and "Traceback" not in err
    assert files(out_dir) == ["a.png", "b.jpg"]
    assert Image.open(out_dir / "a.png").size == (100, 80) and Image.open(out_dir / "b.jpg").mode == "L"
    code, out, err = upscale(capsys, tmp_path / "a.png", tmp_path / "b.jpg", "--out-dir", out_dir, "--ext", "tif",
                             "--scale", 2, "--model", "bicubic")
    assert code == 0 and "2 of 2 files" in out
    assert files(out_dir) == ["a.png", "a.tif", "b.jpg", "b.tif"]


def test_oversized_header_is_refused_before_decoding(tmp_path, capsys):
    ihdr = struct.pack(">IIBBBBB", 30_000, 30_000, 8, 2, 0, 0, 0)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    (tmp_path / "big.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                                       + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b""))
    code, out, err = upscale(capsys, tmp_path / "big.png", tmp_path / "o.png", "--scale", 2, "--model", "bicubic",
                             "--max-pixels", 1_000_000)
    assert code == 1 and err.count("\n") == 1 and "big.png" in err and "--max-pixels" in err
    assert files(tmp_path) == ["big.png"]


def test_output_equal_to_input(tmp_path, capsys, rgb):
    Image.fromarray(rgb).save(tmp_path / "a.png")
    code, out, err = upscale(capsys, tmp_path / "a.png", tmp_path / "a.png", "--scale", 2, "--model", "bicubic")
    assert code == 1 and "would overwrite the input" in err and Image.open(tmp_path / "a.png").size == (50, 40)
    code, out, err = upscale(capsys, tmp_path / "a.png", "--out-dir", tmp_path, "--scale", 2, "--model", "bicubic")
    assert code == 1 and "would overwrite the input" in err and Image.open(tmp_path / "a.png").size == (50, 40)
    code, out, err = upscale(capsys, tmp_path / "a.png", tmp_path / "a.png", "--scale", 2, "--model", "bicubic",
                             "--force")
    assert code == 0 and Image.open(tmp_path / "a.png").size == (100, 80)
    assert files(tmp_path) == ["a.png"]


@pytest.mark.parametrize("args", [["OUT.xyz"], ["--out-dir", "D", "--ext", ".xyz"]])
def test_unknown_extension_is_refused_before_any_work(tmp_path, capsys, rgb, args):
    Image.fromarray(rgb).save(tmp_path / "a.png")
    args = [str(tmp_path / a) if a in ("OUT.xyz", "D") else a for a in args]
    code, out, err = upscale(capsys, tmp_path / "a.png", *args, "--scale", 2, "--model", "dcnn")
    assert code == 1 and "unknown output image format '.xyz'" in err and err.count("\n") == 1
    assert files(tmp_path) == ["a.png"]


def test_quality_is_for_jpeg_and_webp(tmp_path, capsys, rgb):
    Image.fromarray(rgb).save(tmp_path / "a.png")
    code, out, err = upscale(capsys, tmp_path / "a.png", tmp_path / "o.png", "--scale", 2, "--quality", 50)
    assert code == 1 and "--quality is for JPEG and WebP" in err
    assert files(tmp_path) == ["a.png"]


def test_auto_says_which_model(tmp_path, capsys, rgb):
    from dynconv.photo.auto import best_model

    Image.fromarray(rgb).save(tmp_path / "a.png")
    code, out, err = upscale(capsys, tmp_path / "a.png", tmp_path / "o.png", "--scale", 3)
    assert code == 0, err
    assert f"model: {best_model(3)} (the best shipped model at x3 on Set14)" in out
    assert Image.open(tmp_path / "o.png").size == (150, 120)

"""dynconv.upscale: paths, PIL images and arrays in, the same kind out; --model auto's choice."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import dynconv
from dynconv import sr
from dynconv.photo import auto as choose


@pytest.fixture
def rgb(rng):
    base = rng.integers(0, 256, (8, 10, 3)).astype(np.uint8)
    return np.asarray(Image.fromarray(base).resize((31, 23), Image.BICUBIC))


def test_arrays_keep_their_dtype_and_channels(rgb):
    out = dynconv.upscale(rgb, 2, model="bicubic")
    assert out.dtype == np.uint8 and out.shape == (46, 62, 3)
    assert np.array_equal(out, sr.super_resolve_lr(rgb, 2, "bicubic"))
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    out = dynconv.upscale(rgba, 1.5, model="bicubic")
    assert out.shape == (35, 47, 4) and (out[..., 3] == 255).all()
    grey16 = (rgb[..., 0].astype(np.uint16) * 257)
    out = dynconv.upscale(grey16, 2, model="bicubic")
    assert out.dtype == np.uint16 and out.shape == (46, 62)
    f = dynconv.upscale(rgb.astype(np.float64) / 255, 2, model="bicubic")
    assert f.dtype == np.float64 and f.shape == (46, 62, 3) and 0 <= f.min() and f.max() <= 1


def test_a_model_runs_on_arrays(rgb):
    m = sr.load_model("srcnn-x2")
    out = dynconv.upscale(rgb, 2, model=m)
    assert np.array_equal(out, sr.super_resolve_lr(rgb, 2, "srcnn-x2"))


def test_pil_in_pil_out(rgb):
    im = Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 9, np.uint8)]), "RGBA")
    im.info["dpi"] = (72, 72)
    out = dynconv.upscale(im, 2, model="bicubic")
    assert isinstance(out, Image.Image) and out.mode == "RGBA" and out.size == (62, 46)
    assert out.info["dpi"] == (144.0, 144.0)
    pal = dynconv.upscale(Image.fromarray(rgb).convert("P"), 2, model="bicubic")
    assert pal.mode == "RGB" and pal.size == (62, 46)
    assert dynconv.upscale(Image.fromarray(rgb[..., 0]), 3, model="bicubic").mode == "L"


def test_path_in_path_out(tmp_path, rgb):
    Image.fromarray(rgb).save(tmp_path / "a.png")
    got = dynconv.upscale(tmp_path / "a.png", 2, model="bicubic", out=tmp_path / "b.png")
    assert got == tmp_path / "b.png" and Image.open(got).size == (62, 46)
    with pytest.raises(ValueError, match="out="):
        dynconv.upscale(tmp_path / "a.png", 2)
    with pytest.raises(ValueError, match="would overwrite the input"):
        dynconv.upscale(tmp_path / "a.png", 2, out=tmp_path / "a.png", model="bicubic")


@pytest.mark.parametrize("bad, message", [
    ("not a list", "path"), (np.zeros((3, 3), np.int32), "uint8 or uint16"),
    (np.full((3, 3), np.nan), "NaN"), (np.zeros((3, 3, 5), np.uint8), "C in 1-4"), ([1, 2], "ndarray")])
def test_bad_inputs_are_one_line_errors(bad, message):
    if isinstance(bad, str):
        with pytest.raises((ValueError, FileNotFoundError)):
            dynconv.upscale(bad, 2, out="x.png")
        return
    with pytest.raises(ValueError, match=message):
        dynconv.upscale(bad, 2, model="bicubic")


def test_scale_is_checked():
    with pytest.raises(ValueError, match="between 1 and 16"):
        dynconv.upscale(np.zeros((4, 4), np.uint8), 0.5)


def test_auto_takes_the_best_measured_model_and_dcnn_between_measured_factors(tmp_path):
    table = {1.5: {"bicubic": 33.0, "dcnn": 32.0, "srcnn-x234": 32.5}, 2.0: {"bicubic": 30.0, "dcnn": 32.3},
             4.0: {"dcnn": 27.0, "srcnn-x4": 27.2}}
    assert choose.best_model(1.5, table) == "bicubic" and choose.best_model(2, table) == "dcnn"
    assert choose.best_model(1.6, table) == "dcnn"  # not measured, inside dcnn's range
    assert choose.best_model(4, table) == "srcnn-x4" and choose.best_model(3.9, table) == "dcnn"
    assert choose.best_model(6, table) == "srcnn-x4"  # outside the range: the nearest measured row
    assert choose.best_model(1.1, table) == "bicubic"
    assert choose.best_model(3, {}) == "dcnn"
    assert choose.best_model(2, {2.0: {"bicubic": 30.0, "srcnn-x2": 32.3}}) == "dcnn"  # dcnn not measured yet


def test_the_shipped_table_is_generated_and_covers_every_factor():
    data = json.loads(choose.TABLE.read_text())
    assert data["dataset"] == "Set14" and data["generated_by"] == "python -m dynconv.photo.auto"
    assert {float(k) for k in data["scores"]} <= {float(f) for f in choose.FACTORS}
    assert all("bicubic" in row for row in data["scores"].values())
    assert all(set(row) <= set(choose.CANDIDATES) for row in data["scores"].values())


def test_the_choice_table_can_reuse_what_reproduce_measured(tmp_path):
    from dynconv.photo import auto as choose

    csv = tmp_path / "beyond.csv"
    csv.write_text("dataset,scale,metric,bicubic,dcnn,srcnn-any,dcnn_gain\n"
                   "Set5,2,psnr,33.6,36.0,35.0,2.4\nSet14,2,psnr,30.2,31.9,31.5,1.7\n"
                   "Set14,2,ssim,0.86,0.89,0.88,0.03\nSet14,1.5,psnr,33.0,34.7,34.7,1.7\n")
    assert choose.scores_from_csv(csv) == {"2": {"bicubic": 30.2, "dcnn": 31.9, "srcnn-any": 31.5},
                                           "1.5": {"bicubic": 33.0, "dcnn": 34.7, "srcnn-any": 34.7}}
    csv.write_text("dataset,scale,metric,bicubic\nSet5,2,psnr,33.6\n")
    with pytest.raises(ValueError, match="no Set14 PSNR rows"):
        choose.scores_from_csv(csv)

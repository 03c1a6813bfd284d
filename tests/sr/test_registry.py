"""dynconv.sr: the registry of methods (name, .npz path, model or callable → method) and the
SR protocol every command scores them with (degrade → super-resolve → score)."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dynconv import sr
from dynconv.sr import metrics as M
from dynconv.sr import models
from _models import SMALL, randomise_b as _randomise_b


# --------------------------------------------------------------------------- models as methods
def test_save_load_round_trip_and_method(tmp_path, rng):
    m = models.dcnn(**SMALL, residual=True, seed=8, name="tiny-dcnn")
    _randomise_b(m, rng)
    path = tmp_path / "m.npz"
    m.save(path, step=12, meta={"scores": {"Set5": {"x2": {"psnr": 1.0}}}})
    back = models.Model.load(path)
    assert back.config == m.config and back.step == 12 and back.meta["scores"]["Set5"]["x2"]["psnr"] == 1.0
    img = rng.random((30, 26))
    np.testing.assert_array_equal(back.predict(img), m.predict(img))
    name, fn = sr.resolve(back)
    assert name == "tiny-dcnn"
    np.testing.assert_allclose(fn(img * 255, 3), m.predict(img) * 255, rtol=1e-6)
    # A path is a model spec too, labelled by the path as given (two files never share a label),
    # whatever its extension's case; a weights file without an extension is one too.
    assert sr.is_model(str(path)) and sr.resolve(str(path))[0] == str(path)
    upper, bare = tmp_path / "M.NPZ", tmp_path / "weights"
    upper.write_bytes(path.read_bytes()), bare.write_bytes(path.read_bytes())
    assert [sr.resolve(str(f))[0] for f in (upper, bare)] == [str(upper), str(bare)]


def test_missing_weights_and_files_are_clear(tmp_path, monkeypatch):
    monkeypatch.setattr(sr.registry, "WEIGHTS_DIR", tmp_path)
    sr.load_model.cache_clear()
    with pytest.raises(FileNotFoundError, match="not shipped in this build"):
        sr.load_model("srcnn-x3")
    with pytest.raises(FileNotFoundError, match="model file not found"):
        sr.load_model(str(tmp_path / "nope.npz"))
    sr.load_model.cache_clear()


# --------------------------------------------------------------------------- resolve and evaluate


def test_unknown_method_lists_known_ones():
    with pytest.raises(ValueError, match="unknown method 'nope'; choose from bicubic"):
        sr.resolve("nope")


def test_resolve_method_forms():
    def mine(up, s):
        return up

    assert sr.resolve(mine) == ("mine", mine)
    assert sr.resolve(("net", mine)) == ("net", mine)
    name, fn = sr.resolve("bicubic")
    assert name == "bicubic" and callable(fn)


@pytest.fixture
def small_set(tmp_path, rng):
    """A folder with one colour and one grey image (no shared data needed)."""
    d = tmp_path / "mini"
    d.mkdir()
    Image.fromarray(rng.integers(0, 256, (190, 200, 3)).astype(np.uint8)).save(d / "c.png")
    Image.fromarray(rng.integers(0, 256, (199, 185)).astype(np.uint8)).save(d / "g.png")
    return d


def test_evaluate_records_and_means(small_set):
    recs = sr.evaluate([small_set], [2, 3], ["bicubic"])
    assert [(r["scale"], r["image"]) for r in recs] == [(2, "c"), (2, "g"), (2, "mean"), (3, "c"), (3, "g"), (3, "mean")]
    for r in recs:
        assert list(r) == ["dataset", "scale", "method", "image", "psnr", "wpsnr", "ssim", "msssim"]
    for k in ("psnr", "wpsnr", "ssim", "msssim"):
        assert recs[2][k] == pytest.approx((recs[0][k] + recs[1][k]) / 2)


def test_model_callable_plugs_into_the_same_path(small_set):
    calls = []

    def identity(up, scale):
        calls.append((up.dtype, up.shape, scale, float(up.min()), float(up.max())))
        return up

    a = sr.evaluate([small_set], [3], ["bicubic"], metrics=["psnr", "ssim"])
    b = sr.evaluate([small_set], [3], [("ident", identity)], metrics=["psnr", "ssim"])
    assert [r["psnr"] for r in a] == [r["psnr"] for r in b]
    assert b[0]["method"] == "ident" and b[0]["wpsnr"] is None
    assert calls[0][0] == np.float64 and calls[0][1] == (189, 198) and calls[0][2] == 3


def test_method_output_is_clipped_and_rounded(small_set):
    recs = sr.evaluate([small_set], [2], [("big", lambda up, s: up + 1000.0)], metrics=["psnr"])
    hr = np.asarray(Image.open(small_set / "g.png"), dtype=np.float64)[:198, :184]  # modcrop 2
    expected = 10 * np.log10(255**2 / np.mean((hr[2:-2, 2:-2] - 255) ** 2))  # shave 2
    assert recs[1]["psnr"] == pytest.approx(expected, rel=1e-12)


def test_method_returning_wrong_shape_is_an_error(small_set):
    with pytest.raises(ValueError, match=r"mini/c: method returned shape \(189, 200\), expected \(190, 200\)"):
        sr.evaluate([small_set], [2], [("bad", lambda up, s: up[:-1])], metrics=["psnr"])


def test_evaluate_rejects_unknown_metric(small_set):
    with pytest.raises(ValueError, match="unknown metric"):
        sr.evaluate([small_set], [2], metrics=["psnr", "lpips"])


def test_evaluate_rejects_image_smaller_than_scale(tmp_path):
    d = tmp_path / "tiny"
    d.mkdir()
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(d / "t.png")
    with pytest.raises(ValueError, match="t: image of size 3x3 is smaller than the scale 4"):
        sr.evaluate([d], [4], metrics=["psnr"])


@pytest.mark.parametrize("color, ref_shape", [("y", (189, 198)), ("ycbcr", (189, 198)), ("hsv", (189, 198)), ("rgb", (189, 198, 3))])
def test_super_resolve_colour_variants(rng, color, ref_shape):
    hr = rng.integers(0, 256, (190, 200, 3)).astype(np.uint8)
    ref, est, rgb = sr.super_resolve(hr, 3, "bicubic", color=color)
    assert ref.shape == est.shape == ref_shape and est.dtype == np.uint8
    assert (rgb is None) == (color == "y")
    if rgb is not None:
        assert rgb.shape == (189, 198, 3)


def test_super_resolve_rgb_identity_method_returns_rgb(rng):
    hr = rng.integers(0, 256, (60, 60, 3)).astype(np.uint8)
    ref, est, rgb = sr.super_resolve(hr, 2, lambda up, s: up * 0 + 7, color="rgb")
    np.testing.assert_array_equal(ref, hr)
    assert (est == 7).all() and rgb is est


# --------------------------------------------------------------------------- the paper's numbers

# Table 1, bicubic column (Set5), and the data README for Set14.
PAPER_SET5_X2 = {"baby": 37.066, "bird": 36.808, "butterfly": 27.434, "head": 34.858, "woman": 32.145}
PAPER_MEANS = {
    # scale: (Set5 PSNR, Set5 SSIM, Set5 MS-SSIM, Set5 WPSNR, Set14 PSNR)
    2: (33.662, 0.9299, 0.9942, 50.125, 30.23),
    3: (30.394, 0.8682, 0.9784, 41.652, 27.54),
    4: (28.422, 0.8104, 0.9618, 37.221, 26.00),
}


@pytest.fixture(scope="module")
def set5_records(data_dir):
    return sr.evaluate(["Set5"], [2, 3, 4], ["bicubic"], data_dir=data_dir)


def _mean(records, scale):
    (r,) = [r for r in records if r["scale"] == scale and r["image"] == "mean"]
    return r


@pytest.mark.data
@pytest.mark.parametrize("image", sorted(PAPER_SET5_X2))
def test_set5_x2_psnr_per_image_matches_table1(set5_records, image):
    (r,) = [r for r in set5_records if r["scale"] == 2 and r["image"] == image]
    assert abs(r["psnr"] - PAPER_SET5_X2[image]) <= 0.005


@pytest.mark.data
@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("metric, index, tol", [("psnr", 0, 0.005), ("ssim", 1, 0.0005), ("msssim", 2, 0.0005), ("wpsnr", 3, 0.15)])
def test_set5_means_match_table1(set5_records, scale, metric, index, tol):
    assert abs(_mean(set5_records, scale)[metric] - PAPER_MEANS[scale][index]) <= tol


@pytest.mark.data
def test_set14_psnr_means(data_dir):
    recs = sr.evaluate(["Set14"], [2, 3, 4], ["bicubic"], metrics=["psnr"], data_dir=data_dir)
    for s in (2, 3, 4):
        assert abs(_mean(recs, s)["psnr"] - PAPER_MEANS[s][4]) <= 0.01, s


@pytest.mark.data
def test_ssim_matches_scikit_image_on_real_images(data_dir):
    metrics = pytest.importorskip("skimage.metrics")
    from dynconv.sr.datasets import load_dataset

    for name, hr in load_dataset("Set5", data_dir)[:2]:
        ref, est, _ = sr.super_resolve(hr, 3)
        a, b = ref[3:-3, 3:-3].astype(float), est[3:-3, 3:-3].astype(float)
        expected = metrics.structural_similarity(
            a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
        )
        assert abs(M.ssim(ref, est, shave=3) - expected) < 1e-9, name


@pytest.mark.data
@pytest.mark.parametrize("image, psnr, msssim", [("butterfly", 22.768, 0.9741), ("woman", 27.216, 0.9765)])
def test_hsv_variant_matches_table2_bicubic(data_dir, image, psnr, msssim):
    # Table 2, HSV column: bicubic on V, metrics on V.
    from dynconv.sr.datasets import dataset_dir
    from dynconv.sr.image import read_image

    ref, est, _ = sr.super_resolve(read_image(dataset_dir("Set5", data_dir) / f"{image}.png"), 3, color="hsv")
    assert abs(M.psnr(ref, est, shave=3) - psnr) <= 0.005
    assert abs(M.msssim(ref, est, shave=3) - msssim) <= 0.0005


# --------------------------------------------------------------------------- the registry
def test_every_shipped_name_and_bicubic_are_registered_and_the_cli_help_lists_them(monkeypatch):
    from dynconv.cli import build_parser

    monkeypatch.setenv("COLUMNS", "1000")  # no line wrapping (which may break names at hyphens)
    assert sr.names()[0] == "bicubic" and set(sr.SHIPPED) <= set(sr.names())
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    squeeze = {cmd: " ".join(p.format_help().split()) for cmd, p in sub.choices.items()}
    for cmd in ("upscale", "evaluate", "demo"):
        for name in sr.names():
            assert f" {name} " in squeeze[cmd] or f"{name} |" in squeeze[cmd], (cmd, name)


def test_register_makes_a_name_usable_everywhere(small_set):
    calls = []

    def factory():
        calls.append(1)
        return lambda up, s: up

    sr.register("identity-test", factory, "the input itself")
    try:
        assert not calls  # nothing built until the name is used
        assert "identity-test" in sr.names() and sr.entries()[-1].summary == "the input itself"
        a = sr.evaluate([small_set], [2], ["bicubic"], metrics=["psnr"])
        b = sr.evaluate([small_set], [2], ["identity-test"], metrics=["psnr"])
        assert [r["psnr"] for r in a] == [r["psnr"] for r in b] and b[0]["method"] == "identity-test"
        assert calls == [1]
    finally:
        sr.unregister("identity-test")
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        sr.register("mine.npz", factory)
    with pytest.raises(ValueError, match="unknown method 'identity-test'; choose from bicubic, dcnn"):
        sr.resolve("identity-test")


def test_a_model_and_a_named_model_resolve_to_its_predict(rng):
    m = models.srcnn(**SMALL, residual=True, name="tiny")
    img = rng.random((20, 24))
    for spec, name in ((m, "tiny"), (("other", m), "other")):
        got_name, fn = sr.resolve(spec)
        assert got_name == name
        np.testing.assert_allclose(fn(img * 255, 2), m.predict(img) * 255, rtol=1e-6)
    with pytest.raises(ValueError, match="method must be a name, a .npz path, a model or a callable, got int"):
        sr.resolve(3)


def test_weights_dir_loads_the_shipped_file_name_from_another_folder(tmp_path):
    m = models.srcnn(**SMALL, residual=True, name="not-the-shipped-one")
    m.save(tmp_path / "srcnn-x3.npz", step=5)
    sr.load_model.cache_clear()
    name, fn = sr.resolve("srcnn-x3", weights_dir=tmp_path)
    assert name == "srcnn-x3" and sr.load_model("srcnn-x3", tmp_path).step == 5
    sr.require_weights(["bicubic", "srcnn-x3"], tmp_path)  # present: no error
    with pytest.raises(FileNotFoundError, match=r"srcnn-x2.npz: train them with `dynconv train --config "
                                                r"configs/srcnn-x2.toml`.*also missing: dcnn-any"):
        sr.require_weights(["srcnn-x2", "srcnn-x3", "dcnn"], tmp_path)
    sr.load_model.cache_clear()


def test_the_upscale_warning_quotes_scores_from_the_weights_header(tmp_path):
    m = models.dcnn(**SMALL, b_periods=[2, 3], residual=True, name="p")
    path = tmp_path / "p.npz"
    m.save(path, meta={"scores": {"Set5": {"x2": {"psnr": 30.0}, "x1.5": {"psnr": 27.25}}}})
    warning = sr.factor_warning(str(path), 2.5)
    assert "recognises the factors x2, x3 from the image; at x2.5" in warning
    assert "Set5 x1.5: 27.25 dB" in warning and "x2: 30.00" not in warning
    assert sr.factor_warning(str(path), 3) is None
    m.save(path, meta={"scores": {"Set5": {"x2": {"psnr": 30.0}}}})
    sr.load_model.cache_clear()
    assert "dB" not in sr.factor_warning(str(path), 2.5)  # nothing measured: no number
    sr.load_model.cache_clear()


def test_a_model_trained_on_a_range_of_factors_warns_only_outside_it(tmp_path):
    m = models.dcnn(**SMALL, b_periods=[2, 3], residual=True, name="r")
    path = tmp_path / "r.npz"
    m.save(path, meta={"train_config": {"data": {"scales": [2, 3], "scale_range": [1.2, 4.0]}}})
    sr.load_model.cache_clear()
    assert all(sr.factor_warning(str(path), s) is None for s in (1.2, 1.5, 2.5, 3.7, 4))
    assert "trained for factors x1.2 to x4; x4.5 is outside" in sr.factor_warning(str(path), 4.5)
    assert "x1.1 is outside" in sr.factor_warning(str(path), 1.1)
    sr.load_model.cache_clear()

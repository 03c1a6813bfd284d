"""dynconv.metrics: PSNR, SSIM, MS-SSIM, WPSNR, the evaluation path, and the paper's Table 1."""
from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from scipy import signal

from dynconv import metrics as M

METRIC_FNS = [M.psnr, M.wpsnr, M.ssim, M.msssim]


def _pair(rng, shape=(200, 190), noise=12.0):
    a = rng.integers(0, 256, shape).astype(np.float64)
    b = np.clip(a + rng.normal(0, noise, shape), 0, 255).round()
    return a, b


# --------------------------------------------------------------------------- properties


@pytest.mark.parametrize("fn, perfect", [(M.psnr, math.inf), (M.wpsnr, math.inf), (M.ssim, 1.0), (M.msssim, 1.0)])
@pytest.mark.parametrize("shape", [(180, 200), (180, 200, 3)])
def test_identical_images_score_perfectly(rng, fn, perfect, shape):
    a = rng.integers(0, 256, shape).astype(np.float64)
    assert fn(a, a.copy(), shave=2) == pytest.approx(perfect, abs=1e-12)


@pytest.mark.parametrize("fn", METRIC_FNS)
def test_metrics_are_symmetric(rng, fn):
    a, b = _pair(rng)
    assert fn(a, b, shave=3) == pytest.approx(fn(b, a, shave=3), rel=1e-12)


@pytest.mark.parametrize("fn", METRIC_FNS)
def test_more_noise_scores_worse(rng, fn):
    a = rng.integers(0, 256, (190, 200)).astype(np.float64)
    noise = rng.normal(0, 1, a.shape)
    assert fn(a, a + 4 * noise) > fn(a, a + 16 * noise)


@pytest.mark.parametrize("fn", METRIC_FNS)
def test_shave_is_applied(rng, fn):
    a, b = _pair(rng, (220, 210))
    assert fn(a, b, shave=4) == fn(a[4:-4, 4:-4], b[4:-4, 4:-4])


@pytest.mark.parametrize("fn", METRIC_FNS)
def test_shape_mismatch_is_an_error(fn):
    with pytest.raises(ValueError, match="differ in shape"):
        fn(np.zeros((200, 200)), np.zeros((200, 201)))


@pytest.mark.parametrize("offset", [1.0, 5.0, 17.0])
def test_psnr_formula(rng, offset):
    a = rng.uniform(20, 200, (30, 40))
    assert M.psnr(a, a + offset) == pytest.approx(10 * np.log10(255**2 / offset**2), rel=1e-12)


@pytest.mark.parametrize("shape, noise", [((64, 80), 10.0), ((200, 190), 30.0), ((31, 45), 2.0)])
def test_ssim_matches_scikit_image(rng, shape, noise):
    metrics = pytest.importorskip("skimage.metrics")
    a, b = _pair(rng, shape, noise)
    ref = metrics.structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
    )
    assert abs(M.ssim(a, b) - ref) < 1e-9


def test_ssim_rejects_images_below_window():
    with pytest.raises(ValueError, match="smaller than the 11x11 window"):
        M.ssim(np.zeros((10, 30)), np.zeros((10, 30)))


def test_msssim_rejects_images_too_small_for_five_scales(rng):
    a, b = _pair(rng, (175, 300))
    with pytest.raises(ValueError, match="too small for 5 scales"):
        M.msssim(a, b)


def test_msssim_product_form(rng):
    # The product form of msssim.m: cs means at scales 1-4, the SSIM mean at scale 5.
    a, b = _pair(rng, (176, 176))
    x, y = a, b
    parts = []
    assert M._ssim_maps(x, y)[0].mean() == pytest.approx(M.ssim(a, b), rel=1e-12)
    for j in range(5):
        s_map, cs_map = M._ssim_maps(x, y)
        parts.append(s_map.mean() if j == 4 else cs_map.mean())
        x, y = M._halve(x), M._halve(y)
    assert M.msssim(a, b) == pytest.approx(np.prod(np.array(parts) ** M._MS_WEIGHTS), rel=1e-12)


def test_halve_is_two_by_two_mean_with_symmetric_border():
    x = np.arange(15, dtype=float).reshape(3, 5)
    out = M._halve(x)
    assert out.shape == (2, 3)
    assert out[0, 0] == pytest.approx((0 + 1 + 5 + 6) / 4)
    assert out[1, 2] == pytest.approx((14 + 14 + 14 + 14) / 4)  # last row/column repeated


def test_csf_filter_dc_gain_and_symmetry():
    h = M.csf_filter()
    assert h.shape == (41, 41) and h.dtype == np.float64
    assert h.sum() == pytest.approx(0.5, abs=1e-12)
    np.testing.assert_allclose(h, h[::-1, ::-1], atol=1e-15)
    np.testing.assert_allclose(h, h.T, atol=1e-15)


def test_csf_filter_samples_the_csf_at_grid_frequencies():
    # fsamp2 is exact on the sampling grid: the 41-point DFT of the filter returns Z.
    h = M.csf_filter()
    z = np.real(np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(h[::-1, ::-1]))))
    g = np.arange(-20, 21)
    u, v = np.meshgrid(g, g, indexing="ij")
    w = 2 * np.pi * np.hypot(u, v) / 60
    sw = 1.5 * np.exp(-4 * w**2 / 2) - np.exp(-2 * 4 * w**2 / 2)
    e = np.exp(8 * (w - 2 * np.pi * 11.13 / 60))
    ow = (1 + e * np.cos(2 * np.arctan(v / (u + np.finfo(float).eps))) ** 4) / (1 + e)
    np.testing.assert_allclose(z, sw * ow, atol=1e-12)


def test_wpsnr_is_filtered_error_with_zero_padding(rng):
    a, b = _pair(rng, (50, 60))
    fe = signal.correlate2d((a - b) / 255, M.csf_filter(), mode="same", boundary="fill")
    assert M.wpsnr(a, b) == pytest.approx(20 * np.log10(1 / np.sqrt(np.mean(fe**2))), rel=1e-10)


# --------------------------------------------------------------------------- methods and evaluate


def test_unknown_method_lists_known_ones():
    with pytest.raises(ValueError, match="unknown method 'nope'; choose from bicubic"):
        M.resolve_method("nope")


def test_resolve_method_forms():
    def mine(up, s):
        return up

    assert M.resolve_method(mine) == ("mine", mine)
    assert M.resolve_method(("net", mine)) == ("net", mine)
    name, fn = M.resolve_method("bicubic")
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
    recs = M.evaluate([small_set], [2, 3], ["bicubic"])
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

    a = M.evaluate([small_set], [3], ["bicubic"], metrics=["psnr", "ssim"])
    b = M.evaluate([small_set], [3], [("ident", identity)], metrics=["psnr", "ssim"])
    assert [r["psnr"] for r in a] == [r["psnr"] for r in b]
    assert b[0]["method"] == "ident" and b[0]["wpsnr"] is None
    assert calls[0][0] == np.float64 and calls[0][1] == (189, 198) and calls[0][2] == 3


def test_method_output_is_clipped_and_rounded(small_set):
    recs = M.evaluate([small_set], [2], [("big", lambda up, s: up + 1000.0)], metrics=["psnr"])
    hr = np.asarray(Image.open(small_set / "g.png"), dtype=np.float64)[:198, :184]  # modcrop 2
    expected = 10 * np.log10(255**2 / np.mean((hr[2:-2, 2:-2] - 255) ** 2))  # shave 2
    assert recs[1]["psnr"] == pytest.approx(expected, rel=1e-12)


def test_method_returning_wrong_shape_is_an_error(small_set):
    with pytest.raises(ValueError, match=r"mini/c: method returned shape \(189, 200\), expected \(190, 200\)"):
        M.evaluate([small_set], [2], [("bad", lambda up, s: up[:-1])], metrics=["psnr"])


def test_evaluate_rejects_unknown_metric(small_set):
    with pytest.raises(ValueError, match="unknown metric"):
        M.evaluate([small_set], [2], metrics=["psnr", "lpips"])


def test_evaluate_rejects_image_smaller_than_scale(tmp_path):
    d = tmp_path / "tiny"
    d.mkdir()
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(d / "t.png")
    with pytest.raises(ValueError, match="t: image of size 3x3 is smaller than the scale 4"):
        M.evaluate([d], [4], metrics=["psnr"])


@pytest.mark.parametrize("color, ref_shape", [("y", (189, 198)), ("ycbcr", (189, 198)), ("hsv", (189, 198)), ("rgb", (189, 198, 3))])
def test_super_resolve_colour_variants(rng, color, ref_shape):
    hr = rng.integers(0, 256, (190, 200, 3)).astype(np.uint8)
    ref, sr, rgb = M.super_resolve(hr, 3, "bicubic", color=color)
    assert ref.shape == sr.shape == ref_shape and sr.dtype == np.uint8
    assert (rgb is None) == (color == "y")
    if rgb is not None:
        assert rgb.shape == (189, 198, 3)


def test_super_resolve_rgb_identity_method_returns_rgb(rng):
    hr = rng.integers(0, 256, (60, 60, 3)).astype(np.uint8)
    ref, sr, rgb = M.super_resolve(hr, 2, lambda up, s: up * 0 + 7, color="rgb")
    np.testing.assert_array_equal(ref, hr)
    assert (sr == 7).all() and rgb is sr


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
    return M.evaluate(["Set5"], [2, 3, 4], ["bicubic"], data_dir=data_dir)


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
    recs = M.evaluate(["Set14"], [2, 3, 4], ["bicubic"], metrics=["psnr"], data_dir=data_dir)
    for s in (2, 3, 4):
        assert abs(_mean(recs, s)["psnr"] - PAPER_MEANS[s][4]) <= 0.01, s


@pytest.mark.data
def test_ssim_matches_scikit_image_on_real_images(data_dir):
    metrics = pytest.importorskip("skimage.metrics")
    from dynconv.data import load_dataset

    for name, hr in load_dataset("Set5", data_dir)[:2]:
        ref, sr, _ = M.super_resolve(hr, 3)
        a, b = ref[3:-3, 3:-3].astype(float), sr[3:-3, 3:-3].astype(float)
        expected = metrics.structural_similarity(
            a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
        )
        assert abs(M.ssim(ref, sr, shave=3) - expected) < 1e-9, name


@pytest.mark.data
@pytest.mark.parametrize("image, psnr, msssim", [("butterfly", 22.768, 0.9741), ("woman", 27.216, 0.9765)])
def test_hsv_variant_matches_table2_bicubic(data_dir, image, psnr, msssim):
    # Table 2, HSV column: bicubic on V, metrics on V.
    from dynconv.data import dataset_dir
    from dynconv.image import read_image

    ref, sr, _ = M.super_resolve(read_image(dataset_dir("Set5", data_dir) / f"{image}.png"), 3, color="hsv")
    assert abs(M.psnr(ref, sr, shave=3) - psnr) <= 0.005
    assert abs(M.msssim(ref, sr, shave=3) - msssim) <= 0.0005

"""dynconv.sr.metrics: PSNR, SSIM, MS-SSIM and WPSNR, the formulas."""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import signal

from dynconv.sr import metrics as M

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

"""FilteredMSELoss: the value WPSNR filters, and a backward that is the gradient."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import signal

from dynconv.gradcheck import gradcheck
from dynconv.layers import FilteredMSELoss
from dynconv.sr.metrics import csf_filter


def _kernel(rng):
    return rng.standard_normal((5, 3))  # odd and not symmetric: catches a flipped adjoint


def test_value_is_the_mean_of_the_correlated_error(rng):
    k = _kernel(rng)
    a, b = rng.standard_normal((2, 2, 9, 7)), rng.standard_normal((2, 2, 9, 7))
    expect = np.mean([signal.correlate2d(a[n, c] - b[n, c], k, mode="same") ** 2
                      for n in range(2) for c in range(2)])
    assert float(FilteredMSELoss(k).forward(a, b)) == pytest.approx(expect, rel=1e-12)


def test_per_sample_matches_wpsnr_on_one_image(rng):
    a, b = 255 * rng.random((1, 1, 48, 40)), 255 * rng.random((1, 1, 48, 40))
    from dynconv.sr.metrics import wpsnr

    term = FilteredMSELoss(csf_filter()).per_sample(a / 255, b / 255)
    assert 20 * np.log10(1 / np.sqrt(term[0])) == pytest.approx(wpsnr(a[0, 0], b[0, 0]), abs=1e-9)


@pytest.mark.parametrize("k_shape", [(5, 3), (1, 1), (7, 7)])
def test_backward_passes_gradcheck(k_shape, rng):
    layer = FilteredMSELoss(rng.standard_normal(k_shape))
    report = gradcheck(layer, [rng.standard_normal((2, 1, 6, 5)), rng.standard_normal((2, 1, 6, 5))], rng=rng)
    assert report.ok, str(report)


def test_a_flipped_adjoint_is_rejected(rng):
    class Flipped(FilteredMSELoss):
        def _filter(self, a, kernel):  # correlation in both directions: wrong for an asymmetric kernel
            return super()._filter(a, self.kernel[::-1, ::-1])

    report = gradcheck(Flipped(_kernel(rng)), [rng.standard_normal((2, 1, 6, 5)), rng.standard_normal((2, 1, 6, 5))],
                       rng=rng)
    assert not report.ok


def test_float32_stays_float32(rng):
    a = rng.standard_normal((2, 1, 8, 8)).astype(np.float32)
    layer = FilteredMSELoss(csf_filter())
    assert layer.forward(a, np.zeros_like(a)).dtype == np.float32
    assert layer.backward()[0].dtype == np.float32


@pytest.mark.parametrize("kernel, match", [(np.ones((2, 3)), "odd sizes"), (np.ones(3), "odd sizes"),
                                           (np.full((3, 3), np.nan), "finite")])
def test_bad_kernels_are_refused(kernel, match):
    with pytest.raises(ValueError, match=match):
        FilteredMSELoss(kernel)


def test_bad_shapes_name_the_input():
    with pytest.raises(ValueError, match=r"input pred: expected .*\(N, C, H, W\)"):
        FilteredMSELoss(np.ones((3, 3))).forward(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="input target: expected shape"):
        FilteredMSELoss(np.ones((3, 3))).forward(np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 4, 5)))

"""Training crops at any factor (dynconv.training.crops): the factor grid, deterministic batches whose
inputs and labels come from the same place, the sampling shares and the loss weights."""
from __future__ import annotations

import math

import numpy as np
import pytest

from dynconv.sr import image as im
from dynconv.training.crops import CropBatches, scale_grid


def test_scale_grid_holds_the_simple_factors_and_is_evenly_spaced():
    grid = scale_grid(1.2, 4.0)
    for s in (1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4):
        assert s in grid
    ratios = np.diff(np.log(grid))
    assert ratios.min() >= math.log(1.03) - 1e-12
    assert ratios.max() < math.log(1.2)  # no wide hole
    assert all(im.scale_multiple(s) <= 20 for s in grid)
    assert grid == sorted(grid) and grid[0] >= 1.2 and grid[-1] <= 4.0


@pytest.mark.parametrize("bad", [(1.0, 2.0), (3.0, 2.0)])
def test_scale_grid_rejects_a_bad_range(bad):
    with pytest.raises(ValueError, match="scale range"):
        scale_grid(*bad)


@pytest.fixture(scope="module")
def crops(small_set):
    return CropBatches(small_set, [2, 3], [1.5, 2.5], 0.5, 16, 33, 21, seed=3, augment=False)


def test_batches_are_deterministic_per_step(crops):
    a, b, c = crops(7), crops(7), crops(8)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])
    x, y, s = a
    assert x.shape == (16, 1, 33, 33) and y.shape == (16, 1, 21, 21) and s.shape == (16,)
    assert x.dtype == y.dtype == s.dtype == np.float32 and set(s) <= {1.5, 2, 2.5, 3}


def test_each_label_is_the_centre_of_its_input_window_in_the_ground_truth(crops):
    """Find every input crop in its factor's degraded images; the label must be the HR pixels
    under the crop's centre 21×21, and the input the degraded pixels of the same window."""
    x, y, s = crops(11)
    for n in range(len(x)):
        found = False
        for up, hr in crops.images[float(s[n])]:
            win = np.lib.stride_tricks.sliding_window_view(up, (33, 33))
            hits = np.argwhere((win == x[n, 0]).all(axis=(2, 3)))
            for i, j in hits:
                found = found or np.array_equal(hr[i + 6:i + 27, j + 6:j + 27], y[n, 0])
        assert found, f"sample {n} (x{s[n]:g}) has no matching window"


def test_the_fixed_share_of_samples_comes_from_the_fixed_scales(crops):
    s = np.concatenate([crops(t)[2] for t in range(100)])
    share = np.isin(s, [2, 3]).mean()
    assert abs(share - 0.5) < 0.06, share  # 1600 draws: 4 standard deviations
    assert sum(crops.probabilities().values()) == pytest.approx(1)


def test_scale_weights_average_one_and_fall_with_the_factor(crops):
    w = crops.scale_weights()
    p = crops.probabilities()
    assert sum(p[s] * w[float(np.float32(s))] for s in p) == pytest.approx(1)
    assert w[1.5] > w[2.0] > w[2.5] > w[3.0]  # bicubic's error grows with the factor


def test_augmented_batches_are_flips_and_rotations_of_the_plain_ones(small_set):
    plain = CropBatches(small_set, [2], [], 0.5, 8, 33, 21, seed=1, augment=False)
    aug = CropBatches(small_set, [2], [], 0.5, 8, 33, 21, seed=1, augment=True)
    (x0, y0, _), (x1, y1, _) = plain(4), aug(4)
    for n in range(8):
        assert any(np.array_equal(np.rot90(v, k), x1[n, 0]) and np.array_equal(np.rot90(w, k), y1[n, 0])
                   for k in range(4) for v, w in ((x0[n, 0], y0[n, 0]), (x0[n, 0, :, ::-1], y0[n, 0, :, ::-1])))


def test_a_set_too_small_for_the_patch_is_an_error(small_set):
    with pytest.raises(ValueError, match="no image is at least"):
        CropBatches(small_set, [2], [], 1.0, 8, 4000, 4000, seed=0, augment=False)

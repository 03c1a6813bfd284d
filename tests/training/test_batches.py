"""dynconv.training.batches: the one batch source. Both options (strided: a fixed set of sub-images;
random: sub-images at random positions at any factor) give batches that are a function of the step,
inputs and labels from the same place, and loss weights of mean 1; the factor grid and the sampling
shares of the random option; the config picks the option."""
from __future__ import annotations

import io
import math

import numpy as np
import pytest

from dynconv.sr import image as im
from dynconv.training import train
from dynconv.training.batches import Batches, scale_grid
from dynconv.training.subimages import SubImages


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
def randomly(small_set):
    """Batches of sub-images at random positions of ``small_set``, at 2 fixed and 2 grid factors."""
    return Batches.random(small_set, [2, 3], [1.5, 2.5], 0.5, 16, 33, 21, seed=3, augment=False)


def test_random_batches_are_deterministic_per_step(randomly):
    a, b, c = randomly(7), randomly(7), randomly(8)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a[0], c[0])
    x, y, s = a
    assert x.shape == (16, 1, 33, 33) and y.shape == (16, 1, 21, 21) and s.shape == (16,)
    assert x.dtype == y.dtype == s.dtype == np.float32 and set(s) <= {1.5, 2, 2.5, 3}


def test_each_label_is_the_centre_of_its_input_window_in_the_ground_truth(randomly):
    """Find every input sub-image in its factor's degraded images; the label must be the HR pixels
    under the window's centre 21×21, and the input the degraded pixels of the same window."""
    x, y, s = randomly(11)
    for n in range(len(x)):
        found = False
        for up, hr in randomly.option.images[float(s[n])]:
            win = np.lib.stride_tricks.sliding_window_view(up, (33, 33))
            hits = np.argwhere((win == x[n, 0]).all(axis=(2, 3)))
            for i, j in hits:
                found = found or np.array_equal(hr[i + 6:i + 27, j + 6:j + 27], y[n, 0])
        assert found, f"sample {n} (x{s[n]:g}) has no matching window"


def test_the_fixed_share_of_samples_comes_from_the_fixed_scales(randomly):
    s = np.concatenate([randomly(t)[2] for t in range(100)])
    share = np.isin(s, [2, 3]).mean()
    assert abs(share - 0.5) < 0.06, share  # 1600 draws: 4 standard deviations
    assert sum(randomly.option.probabilities().values()) == pytest.approx(1)


def test_random_scale_weights_average_one_and_fall_with_the_factor(randomly):
    w = randomly.scale_weights()
    p = randomly.option.probabilities()
    assert sum(p[s] * w[float(np.float32(s))] for s in p) == pytest.approx(1)
    assert w[1.5] > w[2.0] > w[2.5] > w[3.0]  # bicubic's error grows with the factor


def test_augmented_batches_are_flips_and_rotations_of_the_plain_ones(small_set):
    plain = Batches.random(small_set, [2], [], 0.5, 8, 33, 21, seed=1, augment=False)
    aug = Batches.random(small_set, [2], [], 0.5, 8, 33, 21, seed=1, augment=True)
    (x0, y0, _), (x1, y1, _) = plain(4), aug(4)
    for n in range(8):
        assert any(np.array_equal(np.rot90(v, k), x1[n, 0]) and np.array_equal(np.rot90(w, k), y1[n, 0])
                   for k in range(4) for v, w in ((x0[n, 0], y0[n, 0]), (x0[n, 0, :, ::-1], y0[n, 0, :, ::-1])))


def test_a_set_too_small_for_the_sub_image_is_an_error(small_set):
    with pytest.raises(ValueError, match="no image is at least"):
        Batches.random(small_set, [2], [], 1.0, 8, 4000, 4000, seed=0, augment=False)


# --------------------------------------------------------------------------- strided (a fixed set)


def test_strided_batches_are_a_function_of_the_step(rng):
    p = SubImages(rng.random((50, 1, 9, 9), dtype=np.float32), rng.random((50, 1, 5, 5), dtype=np.float32),
                  np.full(50, 2, np.float32))
    a, b = Batches.strided(p, 8, seed=1, augment=True), Batches.strided(p, 8, seed=1, augment=True)
    for t in (0, 5, 6, 13):  # 6 batches per epoch: 13 is in epoch 2
        for u, v in zip(a(t), b(t)):
            np.testing.assert_array_equal(u, v)
    assert not np.array_equal(a(0)[0], a(1)[0])
    assert not np.array_equal(a(0)[0], Batches.strided(p, 8, seed=2, augment=True)(0)[0])


def test_strided_batches_need_a_batch_of_sub_images(rng):
    p = SubImages(np.zeros((5, 1, 9, 9), np.float32), np.zeros((5, 1, 5, 5), np.float32), np.full(5, 2, np.float32))
    with pytest.raises(ValueError, match="only 5 training sub-images for batch_size 8"):
        Batches.strided(p, 8, seed=0, augment=False)


def test_strided_scale_weights_equalise_each_scales_relative_error(rng):
    """Weights ∝ 1 / (bicubic MSE per scale), mean 1 over the samples."""
    n = {2: 30, 3: 20, 4: 10}
    sd = {2: 0.01, 3: 0.02, 4: 0.04}  # each scale's bicubic error
    inputs, labels, scales = [], [], []
    for s, k in n.items():
        y = rng.random((k, 1, 5, 5)).astype(np.float32)
        x = np.pad(y, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="edge")
        x[:, :, 2:-2, 2:-2] += rng.choice([-sd[s], sd[s]], size=y.shape).astype(np.float32)
        inputs.append(x), labels.append(y), scales.append(np.full(k, s, np.float32))
    subimages = SubImages(np.concatenate(inputs), np.concatenate(labels), np.concatenate(scales))
    batches = Batches.strided(subimages, 1, seed=0, augment=False)
    w = batches.scale_weights()
    assert set(w) == {2.0, 3.0, 4.0} == set(batches.factors())
    np.testing.assert_allclose(sum(w[s] * k for s, k in n.items()) / 60, 1.0, rtol=1e-6)
    np.testing.assert_allclose([w[2.0] / w[3.0], w[3.0] / w[4.0]], [4.0, 4.0], rtol=1e-4)
    one = SubImages(inputs[0], labels[0], scales[0])  # a single scale: weight 1, no change
    assert Batches.strided(one, 1, seed=0, augment=False).scale_weights() == pytest.approx({2.0: 1.0})


# --------------------------------------------------------------------------- the config picks the option


def _config(small_set, **data):
    return train.merge(train.DEFAULTS, {"data": {"dataset": str(small_set), "scales": [3], **data},
                                        "train": {"batch_size": 8, "seed": 4}})


def test_the_config_picks_strided_sub_images_without_a_scale_range(small_set, tmp_path, monkeypatch):
    monkeypatch.setenv("DYNCONV_CACHE", str(tmp_path / "cache"))
    out = io.StringIO()
    batches = Batches.from_config(_config(small_set, stride=20), label_size=21, out=out)
    assert "sub-images every 20 px (x3, 33x33 -> 21x21" in out.getvalue()
    assert batches.factors() == [3.0] and (batches.bs, batches.seed, batches.augment) == (8, 4, True)
    x, y, s = batches(0)
    assert x.shape == (8, 1, 33, 33) and y.shape == (8, 1, 21, 21) and set(s) == {3.0}


def test_the_config_picks_random_positions_with_a_scale_range(small_set):
    out = io.StringIO()
    batches = Batches.from_config(_config(small_set, scale_range=[1.5, 2.5], downscales=[1.0, 0.8]), out=out)
    line = out.getvalue()
    assert "33x33 -> 33x33 sub-images at random positions" in line and "images at 1x, 0.8x their size" in line
    assert 3.0 in batches.factors() and 1.5 in batches.factors()
    x, y, s = batches(2)
    assert x.shape == y.shape == (8, 1, 33, 33)  # no label size: the whole sub-image (a padded network)
    w = batches.scale_weights()
    p = batches.option.probabilities()
    assert set(w) == set(batches.factors()) and sum(p[s] * w[float(np.float32(s))] for s in p) == pytest.approx(1)

"""dynconv.training.subimages: training sub-images and their cache."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dynconv.sr import image as im
from dynconv.sr.datasets import list_images
from dynconv.training import subimages as D


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache folder, so tests never see (or leave) each other's sub-images."""
    d = tmp_path / "cache"
    monkeypatch.setenv("DYNCONV_CACHE", str(d))
    return d


# --------------------------------------------------------------------------- training sub-images


@pytest.mark.parametrize("kernels, size", [((9, 1, 5), 21), ((9, 5, 5), 17), ((1, 1, 1), 33)])
def test_valid_label_size(kernels, size):
    assert D.valid_label_size(33, kernels) == size


def _count(shape, scale, size=33, stride=14):
    h, w = (n - n % scale for n in shape[:2])
    return max(0, (h - size) // stride + 1) * max(0, (w - size) // stride + 1)


@pytest.mark.parametrize("scales", [(3,), (2, 3, 4)])
def test_subimage_counts_shapes_and_dtypes(img_dir, cache, scales):
    p = D.training_subimages(img_dir, scales=scales, verbose=False)
    shapes = [(64, 45), (47, 40), (50, 61)]
    n = sum(_count(s, sc) for sc in scales for s in shapes)
    assert p.inputs.shape == (n, 1, 33, 33) and p.labels.shape == (n, 1, 21, 21) and p.scales.shape == (n,)
    assert p.inputs.dtype == p.labels.dtype == p.scales.dtype == np.float32
    assert sorted(set(p.scales.tolist())) == sorted(float(s) for s in scales)
    assert 0 <= p.labels.min() and p.labels.max() <= 1


def test_subimages_are_protocol_windows(img_dir, cache):
    p = D.training_subimages(img_dir, scales=(3,), stride=14, verbose=False)
    # first sample: image t1, top-left window; input = bicubic(Y), label = centre 21x21 of Y
    y = im.modcrop(im.rgb_to_y(im.read_image(img_dir / "t1.png")) / 255.0, 3)
    up = im.bicubic(y, 3)
    np.testing.assert_allclose(p.inputs[0, 0], up[:33, :33], atol=1e-6)
    np.testing.assert_allclose(p.labels[0, 0], y[6:27, 6:27], atol=1e-6)
    # t1 (63x45 after modcrop) has one window per row: the second sample is one stride down
    np.testing.assert_allclose(p.labels[1, 0], y[20:41, 6:27], atol=1e-6)


def test_padded_networks_get_full_labels(img_dir, cache):
    p = D.training_subimages(img_dir, scales=(2,), label_size=None, verbose=False)
    assert p.labels.shape[1:] == (1, 33, 33)


def test_gaussian_degradation_differs_from_bicubic(img_dir, cache):
    a = D.training_subimages(img_dir, scales=(3,), verbose=False)
    b = D.training_subimages(img_dir, scales=(3,), degradation="gaussian", sigma=1.5, verbose=False)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert np.abs(a.inputs - b.inputs).max() > 0.01


def test_random_augmentation_is_deterministic_given_seed(img_dir, cache):
    kw = dict(scales=(2,), augment="random", verbose=False)
    a = D.training_subimages(img_dir, seed=1, cache=False, **kw)
    b = D.training_subimages(img_dir, seed=1, cache=False, **kw)
    c = D.training_subimages(img_dir, seed=2, cache=False, **kw)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    assert not np.array_equal(a.inputs, c.inputs)


def test_augment_all_contains_every_dihedral_variant(img_dir, cache):
    base = D.training_subimages(img_dir, scales=(2,), verbose=False)
    allv = D.training_subimages(img_dir, scales=(2,), augment="all", verbose=False)
    n = len(base.inputs)
    assert len(allv.inputs) == 8 * n
    np.testing.assert_array_equal(allv.inputs[n:2 * n], np.rot90(base.inputs, 1, axes=(2, 3)))
    np.testing.assert_array_equal(allv.labels[4 * n:5 * n], base.labels[..., ::-1])


def test_random_dihedral_transforms_inputs_and_labels_alike(rng):
    x = rng.uniform(0, 1, (64, 1, 9, 9)).astype(np.float32)
    lab = x[:, :, 2:7, 2:7].copy()  # centre crops commute with every symmetry of the square
    xa, la = D.random_dihedral(x, lab, rng)
    np.testing.assert_array_equal(xa[:, :, 2:7, 2:7], la)
    assert not np.array_equal(xa, x)


def test_cache_is_reused_keyed_and_written_atomically(img_dir, cache):
    out = io.StringIO()
    a = D.training_subimages(img_dir, scales=(3,), out=out)
    b = D.training_subimages(img_dir, scales=(3,), out=out)
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("prepared") and lines[1].endswith("cached")
    assert "sub-images every 14 px" in lines[0] and "MiB" in lines[0]
    np.testing.assert_array_equal(a.inputs, b.inputs)
    files = sorted(p.name for p in (cache / "patches").iterdir())
    assert len(files) == 3 and all(f.endswith(".npy") for f in files)  # no temporary left
    for f in files:
        np.load(cache / "patches" / f, allow_pickle=False)
    # another parameter, or changed image contents, is another key
    D.training_subimages(img_dir, scales=(3,), stride=20, verbose=False)
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(img_dir / "t2.png")
    c = D.training_subimages(img_dir, scales=(3,), out=out)
    assert out.getvalue().splitlines()[-1].endswith("prepared")
    assert len(list((cache / "patches").iterdir())) == 9
    assert not np.array_equal(c.inputs, a.inputs)


def test_no_subimages_is_an_error(tmp_path, cache):
    d = tmp_path / "small"
    d.mkdir()
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(d / "a.png")
    with pytest.raises(ValueError, match="no image is at least 33x33"):
        D.training_subimages(d, scales=(2,), verbose=False)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"label_size": 22}, "even margin"), ({"augment": "mixup"}, "augment"), ({"degradation": "jpeg"}, "degradation"),
     ({"scales": (0.5,)}, "scale"), ({"stride": 0}, "stride")],
)
def test_bad_subimage_arguments(img_dir, cache, kwargs, match):
    with pytest.raises(ValueError, match=match):
        D.training_subimages(img_dir, verbose=False, **kwargs)


@pytest.mark.data
def test_t91_x3_gives_about_22_thousand_subimages(data_dir, cache):
    p = D.training_subimages("T91", scales=(3,), data_dir=data_dir, cache=False, verbose=False)
    shapes = [im.read_image(f).shape for f in list_images("T91", data_dir)]
    assert len(p.inputs) == sum(_count(s, 3) for s in shapes)
    assert 21_000 <= len(p.inputs) <= 23_000





@pytest.mark.parametrize("name, damage", [
    ("inputs", lambda a: a[:, :, :-1]),                       # the right key, the wrong shape
    ("labels", lambda a: a.astype(np.float64)),               # the wrong dtype
    ("scales", lambda a: a[:-1]),                             # fewer samples than inputs
    ("scales", lambda a: np.full_like(a, 7.0)),               # scales that were not asked for
    ("inputs", lambda a: a.reshape(len(a), -1)),              # 2-D instead of (N, 1, P, P)
    ("labels", lambda a: np.array([object()] * 3, dtype=object)),  # a pickled payload
])
def test_a_damaged_cache_is_reported_and_rebuilt(img_dir, cache, name, damage):
    fresh = D.training_subimages(img_dir, scales=(2, 3), verbose=False)
    (path,) = (cache / "patches").glob(f"*-{name}.npy")
    bad = damage(np.load(path, allow_pickle=False))
    np.save(path, bad, allow_pickle=bad.dtype == object)
    out = io.StringIO()
    again = D.training_subimages(img_dir, scales=(2, 3), out=out)
    lines = out.getvalue().splitlines()
    assert "damaged" in lines[0] and "rebuilding" in lines[0] and str(cache / "patches") in lines[0]
    assert lines[-1].endswith("prepared")
    for f in D.SubImages._fields:
        np.testing.assert_array_equal(getattr(again, f), getattr(fresh, f))
    out = io.StringIO()
    D.training_subimages(img_dir, scales=(2, 3), out=out)  # the rebuilt cache is trusted again
    assert out.getvalue().splitlines()[-1].endswith("cached")


def test_a_truncated_cache_file_is_rebuilt(img_dir, cache):
    fresh = D.training_subimages(img_dir, scales=(3,), verbose=False)
    (path,) = (cache / "patches").glob("*-inputs.npy")
    path.write_bytes(path.read_bytes()[:200])
    out = io.StringIO()
    again = D.training_subimages(img_dir, scales=(3,), out=out)
    assert "damaged" in out.getvalue() and out.getvalue().splitlines()[-1].endswith("prepared")
    np.testing.assert_array_equal(again.inputs, fresh.inputs)

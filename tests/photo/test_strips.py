"""The strip-by-strip upscale equals the whole-image one bit for bit (dynconv.photo.strips)."""
from __future__ import annotations

import numpy as np
import pytest

from dynconv import sr
from dynconv.photo import strips
from dynconv.sr import image, models


def photo(rng, h, w, channels=3):
    """A smooth image with noise: realistic enough that rounding ties are rare but possible."""
    base = rng.integers(0, 256, (h // 4 + 2, w // 4 + 2) + ((channels,) if channels else ()))
    smooth = image.imresize(base.astype(float), output_shape=(h, w))
    return np.clip(smooth + rng.normal(0, 8, smooth.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("h, w, scale", [(37, 53, 2), (61, 45, 3), (29, 150, 2.5), (131, 9, 1.5), (5, 4, 4)])
def test_resize_strip_is_imresize_bit_for_bit(rng, h, w, scale):
    x = rng.random((h, w))
    want = image.imresize(x, scale)
    taps = strips.resize_taps((h, w), want.shape, scale)
    H = want.shape[0]
    for a, b in [(0, H), (0, 1), (H // 3, H // 2 + 1), (H - 2, H)]:
        lo, hi = strips.source_rows(taps[0], a, b)
        assert np.array_equal(strips.resize_strip(x[lo:hi], lo, taps, a, b), want[a:b])


@pytest.mark.parametrize("h, w, scale, color, channels", [
    (37, 53, 2, "ycbcr", 3), (61, 45, 3, "ycbcr", 0), (150, 101, 2.5, "ycbcr", 3),
    (140, 71, 2, "rgb", 3), (50, 77, 1.5, "hsv", 3), (3, 2, 3, "ycbcr", 3)])
def test_bicubic_equals_the_whole_image_path(rng, h, w, scale, color, channels):
    x = photo(rng, h, w, channels)
    got, alpha = strips.run(x, None, scale, None, color)
    assert alpha is None and np.array_equal(got, sr.super_resolve_lr(x, scale, "bicubic", color=color))


def tiny_models():
    mapped = models.dcnn(n1=8, n2=4, f1=5, f3=3, b_channels=4, b_hidden=8, window=21, mapping=[3],
                         residual=True, init="he", seed=3, name="dm")
    for name, p, _ in mapped.graph.parameters():  # off the identity, so that a wrong crop shows
        if name.startswith("map"):
            p += 0.1 * np.random.default_rng(3).standard_normal(p.shape).astype(p.dtype)
    return [models.srcnn(n1=8, n2=4, f1=5, f3=3, residual=True, init="he", seed=1, name="s"),
            models.dcnn(n1=8, n2=4, f1=5, f3=3, b_channels=4, b_hidden=8, window=21, residual=True,
                        init="he", seed=2, name="d"), mapped]


@pytest.mark.parametrize("which", [0, 1, 2], ids=["static", "dynamic", "dynamic+mapping"])
@pytest.mark.parametrize("h, w, scale, color", [(140, 69, 2, "ycbcr"), (117, 41, 2.5, "ycbcr"),
                                                (9, 13, 1.5, "y"), (60, 100, 3, "hsv")])
def test_models_equal_the_whole_image_path_across_strips(rng, which, h, w, scale, color):
    """Outputs taller than one strip (256 rows), odd sizes, non-integer factors."""
    model = tiny_models()[which]
    x = photo(rng, h, w, 3)
    got, _ = strips.run(x, None, scale, model, color)
    want = sr.super_resolve_lr(x, scale, ("m", model), color=color)
    assert np.array_equal(got, want)


def test_a_callable_sees_the_whole_channel(rng):
    x = photo(rng, 40, 30, 3)
    seen = []

    def sharpen(up, scale):
        seen.append(up.shape)
        return up * 1.1 - 10

    got, _ = strips.run(x, None, 2, sharpen, "ycbcr")
    assert seen == [(80, 60)] and np.array_equal(got, sr.super_resolve_lr(x, 2, ("f", sharpen)))


def test_sixteen_bits_keep_their_precision(rng):
    x8 = photo(rng, 40, 30, 3)
    x16 = np.minimum(x8.astype(np.int64) * 257 + rng.integers(0, 200, x8.shape), 65535).astype(np.uint16)
    out16, _ = strips.run(x16, None, 2, None, "ycbcr")
    out8, _ = strips.run(x8, None, 2, None, "ycbcr")
    assert out16.dtype == np.uint16 and out16.shape == (80, 60, 3)
    assert np.abs(out16 / 257.0 - out8).max() < 2.5
    assert len(np.unique(out16)) > 4 * len(np.unique(out8))  # not 256 levels in disguise


def test_alpha_and_floats(rng):
    x = photo(rng, 20, 30, 3)
    a = np.full((20, 30), 200, np.uint8)
    out, alpha = strips.run(x, a, 3, None)
    assert alpha.dtype == np.uint8 and alpha.shape == (60, 90) and (alpha == 200).all()
    f, _ = strips.run(x.astype(np.float32) / 255, None, 3, None)
    assert f.dtype == np.float32 and 0 <= f.min() and f.max() <= 1
    assert np.abs(f * 255 - out).max() <= 0.5 + 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("name", ["srcnn-x2", "dcnn"])
def test_shipped_models_equal_the_whole_image_path(rng, name):
    x = photo(rng, 133, 41, 3)
    got, _ = strips.run(x, None, 2, sr.load_model(name), "ycbcr")
    assert np.array_equal(got, sr.super_resolve_lr(x, 2, name))


def test_the_resize_loops_refuse_what_they_would_read_out_of_bounds(rng):
    taps = strips.resize_taps((20, 30), (40, 60), 2.0)
    x = rng.random((20, 30))
    with pytest.raises(ValueError, match="outside"):
        strips.resize_strip(x[5:], 0, taps, 0, 40)  # the taps of rows 0.. read rows the strip lacks
    with pytest.raises(ValueError, match="2-D"):
        strips.resize_strip(x[None], 0, taps, 0, 40)
    with pytest.raises(ValueError, match="out must have shape"):
        strips._check_pass(x, taps[1].idx, taps[1].w, np.empty((20, 59)), 1)


def test_the_resize_loops_run_without_jit():
    """NUMBA_DISABLE_JIT=1: the loops run as Python through the same thread ranges."""
    import os
    import subprocess
    import sys
    code = ("import numpy as np, numba\nfrom dynconv.sr import image\nfrom dynconv.photo import strips\n"
            "x = np.random.default_rng(0).random((9, 7))\n"
            "got = strips.resize_strip(x, 0, strips.resize_taps((9, 7), (18, 14), 2.0), 0, 18)\n"
            "assert numba.config.DISABLE_JIT and np.array_equal(got, image.imresize(x, 2.0))\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, NUMBA_DISABLE_JIT="1"),
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]

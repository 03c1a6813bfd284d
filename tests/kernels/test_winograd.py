"""The "winograd" algorithm: its 1-D transforms, then eqs 1-3 against the reference in float64
and float32, and its float32 rounding error on the real SRCNN 9-5-5 layer sizes.

Measured (kn2row float64 as the reference, B = 8, normwise max relative error, He-init weights
on ReLU inputs): 64->32 5x5 25->21: y 3.6e-6, dx 3.5e-6, dw 9.7e-6 (kn2row float32: 2-3e-7);
32->1 5x5: y 2.6e-6, dx 2.1e-6, dw 1.1e-5. WINOGRAD_FLOAT32 leaves a factor ~5 above that.
"""
import numpy as np
import pytest

import dynconv.kernels as K
from dynconv import reference as R
from dynconv.kernels import winograd
from _checks import FAST_VS_REFERENCE, assert_close

#: Winograd's float32 tolerance (normwise max relative error against float64): the transforms'
#: points +-2 and the fractions of G amplify rounding ~20-40x over the direct sum.
WINOGRAD_FLOAT32 = 5e-5


@pytest.mark.parametrize("r", range(1, winograd.MAX_TAPS + 1))
def test_one_dimensional_identity(rng, r):
    at, g, bt = winograd.transforms(r)
    assert at.shape == (2, r + 1) and g.shape == (r + 1, r) and bt.shape == (r + 1, r + 1)
    assert np.array_equal(bt, np.round(bt))  # integer rows, the scale moved into G
    for _ in range(5):
        taps, d = rng.standard_normal(r), rng.standard_normal(r + 1)
        want = np.array([taps @ d[i:i + r] for i in range(2)])
        np.testing.assert_allclose(at @ ((g @ taps) * (bt @ d)), want, rtol=0, atol=1e-13)


def test_f25_matrices_are_the_textbook_ones():
    _, _, bt = winograd.transforms(5)
    assert bt.tolist() == [[4, 0, -5, 0, 1, 0], [0, 4, 4, -1, -1, 0], [0, -4, 4, 1, -1, 0],
                           [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]


def _check(rng, geom, dtype, tol, non_contiguous=False):
    N, C, H, W, F, kh, kw, pad = geom
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, kh, kw)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    if non_contiguous:
        x, w = np.asfortranarray(x), np.asfortranarray(w)
        assert not (x.flags.c_contiguous or w.flags.c_contiguous) or min(x.shape) == 1
    y, cache = K.conv2d_forward(x, w, b, pad=pad, algorithm="winograd")
    ry, rc = R.conv2d_forward(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), pad=pad)
    dy = rng.standard_normal(y.shape).astype(dtype)
    if non_contiguous:
        dy = np.asfortranarray(dy)
    dx, dw, db = K.conv2d_backward(dy, cache)
    rdx, rdw, rdb = R.conv2d_backward(np.asarray(dy, np.float64), rc)
    assert y.dtype == dx.dtype == dw.dtype == dtype and dx.flags.c_contiguous
    assert_close(y, ry, tol, "eq 1 y")
    assert_close(dx, rdx, tol, "eq 2 dx")
    assert_close(dw, rdw, tol, "eq 3 dw")
    assert_close(db, rdb, tol, "db")


GEOMS = [(3, 4, 9, 8, 5, 5, 5, 0), (2, 3, 7, 6, 4, 3, 3, 1), (5, 2, 8, 9, 3, 5, 3, 2),
         (2, 2, 6, 7, 5, 2, 4, 1), (1, 1, 5, 5, 1, 1, 1, 0), (2, 3, 6, 6, 2, 5, 5, 4)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("geom", GEOMS, ids=str)
def test_matches_reference(rng, monkeypatch, geom, dtype):
    # Blocks of 2 samples: N = 3 and 5 leave a partial last block.
    monkeypatch.setattr(winograd, "BLOCK_SAMPLES", 2)
    tol = FAST_VS_REFERENCE[np.dtype(np.float64)] if dtype == np.float64 else WINOGRAD_FLOAT32
    _check(rng, geom, dtype, tol)
    _check(rng, geom, dtype, tol, non_contiguous=True)


def test_float32_error_on_the_srcnn_layer(rng):
    """64->32 5x5 on 25x25 (SRCNN 9-5-5's second layer), He init, B = 4: float32 against float64."""
    x = np.maximum(rng.standard_normal((4, 64, 25, 25)), 0)
    w = rng.standard_normal((32, 64, 5, 5)) * np.sqrt(2 / (64 * 25))
    dy = rng.standard_normal((4, 32, 21, 21))
    want = K.conv2d_forward(x, w, algorithm="kn2row")
    want = (want[0], *K.conv2d_backward(dy, want[1])[:2])
    f32 = lambda a: a.astype(np.float32)  # noqa: E731
    y, cache = K.conv2d_forward(f32(x), f32(w), algorithm="winograd")
    for got, ref, what in zip((y, *K.conv2d_backward(f32(dy), cache)[:2]), want, "y dx dw".split()):
        assert_close(got, ref, WINOGRAD_FLOAT32, what)


def test_larger_kernels_are_refused(rng):
    x, w = rng.standard_normal((1, 1, 9, 9)), rng.standard_normal((1, 1, 6, 3))
    with pytest.raises(ValueError, match="algorithm='winograd' supports kernels up to 5x5, got 6x3"):
        K.conv2d_forward(x, w, algorithm="winograd")
    with pytest.raises(ValueError, match="1 <= r <= 5"):
        winograd.transforms(6)

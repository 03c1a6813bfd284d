"""The "tiled" algorithm (kn2row, several samples per GEMM) on batches its tile width does not
divide, with non-contiguous inputs, in float32 and float64, against the reference."""
import numpy as np
import pytest

import dynconv.kernels as K
from dynconv import reference as R
from dynconv.kernels import tiled
from _checks import FAST_VS_REFERENCE, assert_close


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pad", [0, 1, 2])
def test_tiled_with_a_partial_last_tile(rng, monkeypatch, dtype, pad):
    # Tile width 2 * (padded width): 2 samples per tile, so N = 5 leaves a last tile of one
    # real sample and one zero sample.
    N, C, H, W, F, kh, kw = 5, 3, 7, 8, 4, 3, 5
    monkeypatch.setattr(tiled, "TILE_WIDTH", 2 * (W + 2 * pad))
    x = rng.standard_normal((N, C, W, H)).astype(dtype).transpose(0, 1, 3, 2)  # not contiguous
    w = rng.standard_normal((F, C, kw, kh)).astype(dtype).transpose(0, 1, 3, 2)
    b = rng.standard_normal(F).astype(dtype)
    assert tiled.tile_count(N, W + 2 * pad) == 2 and not x.flags.c_contiguous
    y, cache = K.conv2d_forward(x, w, b, pad=pad, algorithm="tiled")
    ry, rcache = R.conv2d_forward(x, w, b, pad=pad)
    tol = FAST_VS_REFERENCE[np.dtype(dtype)]
    assert_close(y, ry, tol, "eq 1 y")
    dy = rng.standard_normal(y.shape).astype(dtype)[:, :, ::-1]  # not contiguous either
    dx, dw, db = K.conv2d_backward(dy, cache)
    rdx, rdw, rdb = R.conv2d_backward(np.ascontiguousarray(dy), rcache)
    assert dx.flags.c_contiguous and dx.dtype == dtype and dw.dtype == dtype
    assert_close(dx, rdx, tol, "eq 2 dx")
    assert_close(dw, rdw, tol, "eq 3 dw")
    assert_close(db, rdb, tol, "db")


def test_tile_and_untile_are_inverse(rng):
    a = rng.standard_normal((5, 2, 3, 4))
    t = tiled.tile(a, 2)
    assert t.shape == (3, 2, 3, 8)
    assert np.array_equal(t[2, :, :, 4:], np.zeros((2, 3, 4)))  # the zero sample
    assert np.array_equal(tiled.untile(t, 2, 5, 4, 4), a)
    assert np.array_equal(tiled.untile(t[..., :7], 2, 5, 4, 3), a[..., :3])

"""The ReLU kernel pair against the reference loops: values, special values, layouts, threads
and bad input."""
from __future__ import annotations

import numpy as np
import pytest

from dynconv import reference as R
from dynconv.kernels import _blas, relu
from dynconv.kernels.relu import ReLUCache, relu_backward, relu_forward

SPECIAL = np.array([np.nan, -np.inf, np.inf, -0.0, 0.0, 1e-30, -1e-30, -1.5, 2.5])


def _same(got, want):
    """Equal element by element, NaN where the other has NaN (ReLU is exact: no tolerance)."""
    np.testing.assert_array_equal(np.asarray(got, np.float64), want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5), (2, 3, 6, 7), (1,), (0, 4), ()])
def test_matches_the_reference(rng, dtype, shape):
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    y, cache = relu_forward(x)
    ry, rcache = R.relu_forward(x)
    assert y.dtype == dtype and y.shape == x.shape and y.flags.c_contiguous
    _same(y, ry)
    dx = relu_backward(dy, cache)
    assert dx.dtype == dtype and dx.shape == x.shape
    _same(dx, R.relu_backward(dy, rcache))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_special_values(dtype):
    x = SPECIAL.astype(dtype)
    y, cache = relu_forward(x)
    assert np.isnan(y[0]) and y[1] == 0 and y[2] == np.inf
    assert not np.signbit(y[3]), "-0.0 becomes +0"
    _same(y, R.relu_forward(x)[0])
    # An infinite dy where x <= 0 (or NaN) gives 0, never inf * 0 = NaN; the gradient at 0 is 0.
    dx = relu_backward(np.full(x.shape, np.inf, dtype), cache)
    _same(dx, np.where(SPECIAL > 0, np.inf, 0.0))
    dx = relu_backward(np.full(x.shape, np.nan, dtype), cache)
    assert np.isnan(dx[SPECIAL > 0]).all() and (dx[~(SPECIAL > 0)] == 0).all()


def test_any_layout_and_private_cache(rng):
    base = rng.standard_normal((4, 6, 5, 8))
    x = base[:, ::2, :, 1::2].transpose(0, 2, 1, 3)  # strided and transposed
    dy = rng.standard_normal(x.shape)
    y, cache = relu_forward(x)
    want_dx = np.where(x > 0, dy, 0.0)
    _same(y, np.maximum(x, 0))
    base[...] = -1.0  # the caller changes its array: backward still uses the forward's mask
    _same(relu_backward(dy[:, ::-1][:, ::-1], cache), want_dx)
    _same(relu_backward(np.asfortranarray(dy), cache), want_dx)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_threads_cut_large_arrays_without_changing_them(rng, threads):
    n = relu.MIN_SLICE * 3 + 17  # three slices and a ragged tail
    x = rng.standard_normal(n).astype(np.float32)
    x[::1001] = np.nan
    dy = rng.standard_normal(n).astype(np.float32)
    before = _blas.set_threads(threads)
    try:
        y, cache = relu_forward(x)
        dx = relu_backward(dy, cache)
    finally:
        _blas.set_threads(before)
    _same(y, np.where(np.isnan(x) | (x > 0), x, 0.0))
    _same(cache.mask, x > 0)
    _same(dx, np.where(x > 0, dy, 0.0))


def test_reference_gradient_matches_finite_differences(rng):
    x = rng.standard_normal((3, 4, 5))
    x[np.abs(x) < 0.05] = 0.5  # no kink within the step
    dy = rng.standard_normal(x.shape)
    _, cache = R.relu_forward(x)
    from _checks import FINITE_DIFFERENCE, assert_close, fd_vjp
    assert_close(R.relu_backward(dy, cache), fd_vjp(lambda a: R.relu_forward(a)[0], [x], 0, dy),
                 FINITE_DIFFERENCE, "ReLU dx")


@pytest.mark.parametrize("x, err, match", [
    ([1.0, -1.0], TypeError, "x must be a numpy array"),
    (np.arange(3), ValueError, "x must be float32 or float64, got dtype int64"),
    (np.ones(3, np.float16), ValueError, "float16"),
])
def test_forward_rejects_bad_input(x, err, match):
    with pytest.raises(err, match=match):
        relu_forward(x)


def test_backward_rejects_bad_input(rng):
    x = rng.standard_normal((2, 3)).astype(np.float32)
    _, cache = relu_forward(x)
    with pytest.raises(ValueError, match=r"dy must have shape \(2, 3\) .*got \(3, 2\)"):
        relu_backward(np.ones((3, 2), np.float32), cache)
    with pytest.raises(ValueError, match="dy has dtype float64 but the forward input was float32"):
        relu_backward(np.ones((2, 3)), cache)
    with pytest.raises(TypeError, match="dy must be a numpy array"):
        relu_backward([[1.0] * 3] * 2, cache)
    with pytest.raises(TypeError, match="cache must be the ReLUCache"):
        relu_backward(np.ones((2, 3), np.float32), (cache.mask, cache.dtype))
    with pytest.raises(ValueError, match="ReLUCache.mask must be"):
        relu_backward(np.ones((2, 3), np.float32), ReLUCache(cache.mask.astype(np.uint8), cache.dtype))
    with pytest.raises(ValueError, match="ReLUCache.mask must be"):
        relu_backward(np.ones((3, 2), np.float32), ReLUCache(cache.mask.T, cache.dtype))
    # Nothing was consumed: the right dy still works with the same cache.
    _same(relu_backward(np.ones((2, 3), np.float32), cache), (x > 0).astype(np.float64))

"""dynconv.reference — the equations — against finite differences and scipy.signal."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from dynconv import reference as R
from _checks import FINITE_DIFFERENCE, assert_close, fd_vjp, rel_error

# (N, C, H, W, F, kh, kw, pad): odd/even/non-square kernels, 1x1, padding 0..k-1.
GEOMETRIES = [
    (1, 1, 5, 5, 1, 3, 3, 0),
    (2, 3, 6, 5, 2, 3, 3, 1),
    (2, 2, 5, 6, 3, 2, 2, 1),
    (1, 2, 4, 7, 2, 1, 1, 0),
    (2, 1, 6, 6, 2, 4, 3, 2),
    (1, 2, 4, 4, 1, 5, 5, 4),
]


def _data(rng, N, C, H, W, F, kh, kw, pad, bias=True):
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((F, C, kh, kw))
    k = rng.standard_normal((N, F, C, kh, kw))
    b = rng.standard_normal(F) if bias else None
    bk = rng.standard_normal((N, F)) if bias else None
    Ho, Wo = H + 2 * pad - kh + 1, W + 2 * pad - kw + 1
    dy = rng.standard_normal((N, F, Ho, Wo))
    return x, w, k, b, bk, dy


# --------------------------------------------------------------------------- eq 1-3
@pytest.mark.parametrize("geom", GEOMETRIES, ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_gradients_match_finite_differences(rng, geom, bias):
    pad = geom[-1]
    x, w, _, b, _, dy = _data(rng, *geom, bias=bias)
    _, cache = R.conv2d_forward(x, w, b, pad=pad)
    dx, dw, db = R.conv2d_backward(dy, cache)

    def f(x_, w_, b_):
        return R.conv2d_forward(x_, w_, b_, pad=pad)[0]

    assert_close(dx, fd_vjp(f, [x, w, b], 0, dy), FINITE_DIFFERENCE, "eq 2 dx")
    assert_close(dw, fd_vjp(f, [x, w, b], 1, dy), FINITE_DIFFERENCE, "eq 3 dw")
    if bias:
        assert_close(db, fd_vjp(f, [x, w, b], 2, dy), FINITE_DIFFERENCE, "db")
    else:
        assert db is None


@pytest.mark.parametrize("geom", GEOMETRIES, ids=str)
def test_eq1_is_scipy_correlate(rng, geom):
    N, C, H, W, F, kh, kw, pad = geom
    x, w, _, b, _, _ = _data(rng, *geom)
    y, _ = R.conv2d_forward(x, w, b, pad=pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    for t in range(N):
        for j in range(F):
            want = b[j] + sum(scipy.signal.correlate(xp[t, i], w[j, i], mode="valid") for i in range(C))
            assert_close(y[t, j], want, 1e-12, f"y[{t},{j}]")


@pytest.mark.parametrize("geom", GEOMETRIES, ids=str)
def test_eq2_is_full_convolution_with_the_kernel(rng, geom):
    """dL/dx = sum_j dL/dy_j (*full*) k_ij, cropped by the forward padding."""
    N, C, H, W, F, kh, kw, pad = geom
    x, w, _, b, _, dy = _data(rng, *geom)
    _, cache = R.conv2d_forward(x, w, b, pad=pad)
    dx, _, _ = R.conv2d_backward(dy, cache)
    for t in range(N):
        for i in range(C):
            full = sum(scipy.signal.convolve(dy[t, j], w[j, i], mode="full") for j in range(F))
            assert_close(dx[t, i], full[pad:pad + H, pad:pad + W], 1e-12, f"dx[{t},{i}]")


def test_eq4_sgd_update(rng):
    w = rng.standard_normal((3, 2, 3, 3))
    dw = rng.standard_normal(w.shape)
    w0 = w.copy()
    new = R.sgd_update(w, dw, 0.1)
    np.testing.assert_array_equal(w, w0)  # the reference does not modify its input
    np.testing.assert_allclose(new, w0 - 0.1 * dw, rtol=0, atol=0)
    with pytest.raises(ValueError, match="dw must have the shape"):
        R.sgd_update(w, dw[:1], 0.1)


# --------------------------------------------------------------------------- eq 5-7
@pytest.mark.parametrize("geom", GEOMETRIES, ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_dynamic_gradients_match_finite_differences(rng, geom, bias):
    pad = geom[-1]
    x, _, k, _, bk, dy = _data(rng, *geom, bias=bias)
    _, cache = R.dynamic_conv2d_forward(x, k, bk, pad=pad)
    dx, dk, db = R.dynamic_conv2d_backward(dy, cache)

    def f(x_, k_, b_):
        return R.dynamic_conv2d_forward(x_, k_, b_, pad=pad)[0]

    assert dk.shape == k.shape  # one kernel gradient per sample
    assert_close(dx, fd_vjp(f, [x, k, bk], 0, dy), FINITE_DIFFERENCE, "eq 6 dx")
    assert_close(dk, fd_vjp(f, [x, k, bk], 1, dy), FINITE_DIFFERENCE, "eq 7 dk")
    if bias:
        assert db.shape == bk.shape
        assert_close(db, fd_vjp(f, [x, k, bk], 2, dy), FINITE_DIFFERENCE, "per-sample db")


@pytest.mark.parametrize("geom", GEOMETRIES, ids=str)
def test_dynamic_with_shared_kernel_is_static(rng, geom):
    N, C, H, W, F, kh, kw, pad = geom
    x, w, _, b, _, dy = _data(rng, *geom)
    k = np.broadcast_to(w, (N,) + w.shape)
    bk = np.broadcast_to(b, (N, F))
    ys, cs = R.conv2d_forward(x, w, b, pad=pad)
    yd, cd = R.dynamic_conv2d_forward(x, k, bk, pad=pad)
    assert_close(yd, ys, 1e-13, "y")
    dxs, dws, dbs = R.conv2d_backward(dy, cs)
    dxd, dkd, dbd = R.dynamic_conv2d_backward(dy, cd)
    assert_close(dxd, dxs, 1e-13, "dx")
    assert_close(dkd.sum(axis=0), dws, 1e-13, "sum_t dk^t == dw")
    assert_close(dbd.sum(axis=0), dbs, 1e-13, "sum_t db^t == db")


# --------------------------------------------------------------------------- the checker rejects wrong backwards
def _dx_without_flip(dy, w, pad, x_shape):
    """A classic mistake: eq 2 computed as a *correlation* with the kernel (no flip)."""
    N, C, H, W = x_shape
    F = w.shape[0]
    dx = np.zeros(x_shape)
    for t in range(N):
        for i in range(C):
            full = sum(scipy.signal.correlate(dy[t, j], w[j, i], mode="full") for j in range(F))
            dx[t, i] = full[pad:pad + H, pad:pad + W]
    return dx


def test_checker_rejects_missing_kernel_flip(rng):
    geom = (2, 2, 6, 6, 2, 3, 3, 1)
    pad = geom[-1]
    x, w, _, b, _, dy = _data(rng, *geom)
    wrong = _dx_without_flip(dy, w, pad, x.shape)
    numeric = fd_vjp(lambda x_: R.conv2d_forward(x_, w, b, pad=pad)[0], [x], 0, dy)
    err = rel_error(wrong, numeric)
    assert err > 1e-2, f"the checker accepted a backward without the kernel flip (error {err:.2e})"


def test_checker_rejects_eq7_summed_over_samples(rng):
    """Eq 7 read as eq 3 (one kernel gradient summed over the batch) is wrong per sample."""
    geom = (3, 2, 5, 5, 2, 3, 3, 1)
    pad = geom[-1]
    x, _, k, _, _, dy = _data(rng, *geom, bias=False)
    _, cache = R.dynamic_conv2d_forward(x, k, pad=pad)
    _, dk, _ = R.dynamic_conv2d_backward(dy, cache)
    wrong = np.broadcast_to(dk.sum(axis=0), dk.shape)
    numeric = fd_vjp(lambda k_: R.dynamic_conv2d_forward(x, k_, pad=pad)[0], [k], 0, dy)
    err = rel_error(wrong, numeric)
    assert err > 1e-2, f"the checker accepted eq 7 summed over samples (error {err:.2e})"


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "x_shape, w_shape, pad, match",
    [
        ((1, 2, 5), (1, 2, 3, 3), 0, r"x must have shape \(N, C, H, W\)"),
        ((1, 3, 5, 5), (1, 2, 3, 3), 0, "channels"),
        ((1, 2, 2, 2), (1, 2, 3, 3), 0, "larger than the padded input"),
        ((1, 2, 5, 5), (1, 2, 3, 3), 3, "pad must be in"),
    ],
)
def test_reference_rejects_bad_geometry(x_shape, w_shape, pad, match):
    with pytest.raises(ValueError, match=match):
        R.conv2d_forward(np.zeros(x_shape), np.zeros(w_shape), pad=pad)


# --------------------------------------------------------------------------- eqs 2, 3, 6, 7 as written
@pytest.mark.parametrize("shapes", [((4, 5), (2, 3)), ((3, 3), (3, 3)), ((5, 2), (1, 2))], ids=str)
def test_convolve2d_is_scipy_convolve(rng, shapes):
    a, g = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    for mode in ("full", "valid"):
        assert_close(R.convolve2d(a, g, mode), scipy.signal.convolve(a, g, mode=mode, method="direct"), 1e-13, mode)
    # a convolution is a correlation with the second operand flipped: the two differ
    corr = scipy.signal.correlate(a, g, mode="full", method="direct")
    assert rel_error(R.convolve2d(a, g), corr) > 1e-2
    assert_close(R.convolve2d(a, R.flip(g)), corr, 1e-13, "conv with flipped g")


@pytest.mark.parametrize("geom", GEOMETRIES, ids=str)
def test_eq2_and_eq6_as_written_are_the_input_gradients(rng, geom):
    pad = geom[-1]
    x, w, k, b, bk, dy = _data(rng, *geom)
    dx, _, _ = R.conv2d_backward(dy, R.conv2d_forward(x, w, b, pad=pad)[1])
    assert_close(R.eq2_input_gradient(dy, w, pad), dx, 1e-12, "eq 2 literal")
    dxk, _, _ = R.dynamic_conv2d_backward(dy, R.dynamic_conv2d_forward(x, k, bk, pad=pad)[1])
    assert_close(R.eq6_input_gradient(dy, k, pad), dxk, 1e-12, "eq 6 literal")


@pytest.mark.parametrize("geom", GEOMETRIES, ids=str)
def test_eq3_as_written_is_the_kernel_gradient_rotated_by_180_degrees(rng, geom):
    """For the correlation forward pass, dy * x~ (a true convolution) is rot180(dw)."""
    N, C, H, W, F, kh, kw, pad = geom
    x, w, k, b, bk, dy = _data(rng, *geom)
    _, dw, _ = R.conv2d_backward(dy, R.conv2d_forward(x, w, b, pad=pad)[1])
    literal = R.eq3_kernel_gradient(dy, x, pad)
    assert literal.shape == dw.shape
    assert_close(R.flip(literal), dw, 1e-12, "rot180(eq 3 literal) == dw")
    if kh > 1 or kw > 1:  # a 1x1 kernel is its own rotation
        assert rel_error(literal, dw) > 1e-2, "eq 3 literal should differ from dw"
    # ... and it is exactly the gradient of k for the convolution forward pass y = x * k, k = rot180(w)
    numeric = fd_vjp(lambda k_: R.conv2d_forward(x, R.flip(k_), b, pad=pad)[0], [R.flip(w).copy()], 0, dy)
    assert_close(literal, numeric, FINITE_DIFFERENCE, "eq 3 literal vs the convolution-form gradient")
    # eq 7 per sample relates to the dynamic kernel gradient the same way
    _, dk, _ = R.dynamic_conv2d_backward(dy, R.dynamic_conv2d_forward(x, k, bk, pad=pad)[1])
    assert_close(R.flip(R.eq7_kernel_gradient(dy, x, pad)), dk, 1e-12, "rot180(eq 7 literal) == dk")


def test_convolve2d_rejects_bad_input():
    with pytest.raises(ValueError, match="a and g must be 2-D"):
        R.convolve2d(np.zeros((2, 2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="mode must be 'full' or 'valid'"):
        R.convolve2d(np.zeros((3, 3)), np.zeros((2, 2)), mode="same")
    with pytest.raises(ValueError, match="valid convolution needs g"):
        R.convolve2d(np.zeros((2, 2)), np.zeros((3, 3)), mode="valid")

"""Layers: finite-difference checks in float64 (via dynconv.gradcheck), forward values, switches, errors."""
from __future__ import annotations

import numpy as np
import pytest

from dynconv import reference
from dynconv.gradcheck import gradcheck, suite_cases
from dynconv.layers import (Add, CenterCrop, ConcatChannels, Conv2D, DynamicConv2D, EuclideanLoss,
                            GlobalAvgPool2D, Linear, Log1p, MSELoss, PeriodicityPool, ReLU,
                            Reshape)

# Forward agreement with the float64 reference, per dtype of the computation.
TOL = {np.float32: 1e-5, np.float64: 1e-12}

LAYER_CASES = [name for name in suite_cases(0) if "graph" not in name]


def max_rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


@pytest.mark.parametrize("case", LAYER_CASES)
def test_layer_gradients_match_finite_differences(case, rng):
    layer, inputs = suite_cases(int(rng.integers(2**31)))[case]
    report = gradcheck(layer, inputs, rng=rng)
    assert report.ok, f"{case}: max relative error {report.max_error:.2e}\n{report}"
    n_params = len(layer.params)
    assert len(report.checks) == len(inputs) + n_params


def test_dynamic_conv_fed_by_network_b_passes_gradients_to_b(rng):
    g, feeds = suite_cases(int(rng.integers(2**31)))["DCNN graph"]
    report = gradcheck(g, feeds, rng=rng)
    assert report.ok, f"max relative error {report.max_error:.2e}\n{report}"
    g.forward(feeds)
    g.backward()
    for name in ("b1.w", "b1.b", "b_fc.w", "b_fc.b"):  # network B's parameters
        assert report[name].passed
        grad = dict((n, d) for n, _, d in g.parameters())[name]
        assert np.abs(grad).max() > 0, f"{name} received no gradient"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pad, bias", [(0, True), (1, False)])
def test_conv2d_forward_matches_reference(dtype, pad, bias, rng):
    layer = Conv2D(2, 3, 3, pad=pad, bias=bias, init="he", rng=rng, dtype=dtype)
    if bias:
        layer.params["b"][...] = rng.standard_normal(3)
    x = rng.standard_normal((2, 2, 5, 6)).astype(dtype)
    y = layer.forward(x)
    want, _ = reference.conv2d_forward(x, layer.params["w"], layer.params.get("b"), pad=pad)
    assert y.dtype == dtype
    err = max_rel(y, want)
    assert err < TOL[dtype], f"max relative error {err:.2e}"


@pytest.mark.parametrize("bias", [False, True])
def test_dynamic_conv_flat_form_equals_5d_form(bias, rng):
    N, F, C, k = 2, 3, 2, 3
    layer = DynamicConv2D(C, F, k, pad=1, bias=bias)
    x = rng.standard_normal((N, C, 5, 5))
    flat = rng.standard_normal((N, layer.flat_size))
    kern = flat[:, :F * C * k * k].reshape(N, F, C, k, k)
    extra = [flat[:, F * C * k * k:]] if bias else []
    dy = rng.standard_normal((N, F, 5, 5))
    y_flat = layer.forward(x, flat)
    g_flat = layer.backward(dy)
    y_5d = layer.forward(x, kern, *extra)
    g_5d = layer.backward(dy)
    want, _ = reference.dynamic_conv2d_forward(x, kern, extra[0] if bias else None, pad=1)
    assert max_rel(y_flat, want) < TOL[np.float64]
    assert max_rel(y_5d, want) < TOL[np.float64]
    assert g_flat[1].shape == flat.shape and g_5d[1].shape == kern.shape
    flat_again = np.concatenate([g_5d[1].reshape(N, -1)] + ([g_5d[2]] if bias else []), axis=1)
    assert max_rel(g_flat[1], flat_again) < TOL[np.float64]


@pytest.mark.parametrize("layer_cls", [Conv2D, DynamicConv2D])
def test_need_input_grad_false_skips_dx(layer_cls, rng):
    if layer_cls is Conv2D:
        layer, extra = Conv2D(2, 3, 3, init="he", rng=rng, dtype=np.float64), []
    else:
        layer, extra = DynamicConv2D(2, 3, 3), [rng.standard_normal((2, 3, 2, 3, 3))]
    x = rng.standard_normal((2, 2, 5, 5))
    dy = rng.standard_normal((2, 3, 3, 3))
    layer.forward(x, *extra)
    full = [None if g is None else g.copy() for g in layer.backward(dy)]
    full_params = {k: v.copy() for k, v in layer.grads.items()}
    layer.need_input_grad = False if layer_cls is Conv2D else (False, True)
    layer.forward(x, *extra)
    part = layer.backward(dy)
    assert part[0] is None and full[0] is not None
    for a, b in zip(part[1:], full[1:]):
        np.testing.assert_array_equal(a, b)
    for k in full_params:
        np.testing.assert_array_equal(layer.grads[k], full_params[k])


@pytest.mark.parametrize("init, expected_std", [("gaussian", 1e-3), ("he", np.sqrt(2 / (4 * 9)))])
def test_conv2d_init(init, expected_std, rng):
    layer = Conv2D(4, 64, 3, init=init, rng=rng)
    w = layer.params["w"]
    assert w.dtype == np.float32 and w.shape == (64, 4, 3, 3)
    assert abs(w.std() / expected_std - 1) < 0.1  # 2304 draws: std known to ~3 %
    assert abs(w.mean()) < 0.1 * expected_std
    np.testing.assert_array_equal(layer.params["b"], 0)


def test_bad_init_is_rejected():
    with pytest.raises(ValueError, match="init must be"):
        Conv2D(1, 1, 3, init="xavier")


@pytest.mark.parametrize("layer, shapes, expected", [
    (Conv2D(3, 8, 3), [(2, 4, 8, 8)], r"expected shape \(N, 3, H, W\), got \(2, 4, 8, 8\)"),
    (Conv2D(3, 8, 9), [(2, 3, 4, 4)], r"smaller than the 9x9 kernel"),
    (DynamicConv2D(2, 1, 3), [(2, 2, 5, 5), (2, 19)], r"k \(flat\): expected shape \(2, 18\).*got \(2, 19\)"),
    (DynamicConv2D(2, 1, 3), [(2, 2, 5, 5), (2, 1, 2, 3, 4)], r"expected shape \(2, 1, 2, 3, 3\) or flat \(2, 18\)"),
    (DynamicConv2D(2, 1, 3, bias=True), [(2, 2, 5, 5), (2, 1, 2, 3, 3)], r"expected 3 inputs"),
    (Linear(5, 2), [(3, 4)], r"expected shape \(N, 5\), got \(3, 4\)"),
    (Add(), [(2, 3), (2, 4)], r"input 1: expected shape \(2, 3\)"),
    (ConcatChannels(), [(2, 3, 4, 4), (2, 3, 5, 4)], r"input 1: expected shape \(2, C, 4, 4\)"),
    (CenterCrop(3), [(1, 1, 5, 5)], r"a border of 3 on each side needs H, W >= 7, got \(1, 1, 5, 5\)"),
    (CenterCrop(), [(1, 1, 5, 5), (1, 1, 6, 5)], r"to crop to 6x5"),
    (Reshape((4, -1)), [(2, 3, 3)], r"reshape to \(N, 4, -1\)"),
    (MSELoss(), [(2, 3), (2, 4)], r"target: expected shape \(2, 3\)"),
    (GlobalAvgPool2D(), [(2, 3)], r"expected shape \(N, C, H, W\)"),
])
def test_shape_errors_name_expected_and_got(layer, shapes, expected, rng):
    dtype = layer.dtype or np.float32
    inputs = [rng.standard_normal(s).astype(dtype) for s in shapes]
    with pytest.raises(ValueError, match=expected):
        layer.forward(*inputs)


def test_dtype_mismatch_is_an_error(rng):
    layer = Conv2D(1, 2, 3)  # float32 parameters
    with pytest.raises(ValueError, match="float64"):
        layer.forward(rng.standard_normal((1, 1, 5, 5)))
    with pytest.raises(ValueError, match="one float dtype"):
        MSELoss().forward(np.zeros((2, 2), np.float32), np.zeros((2, 2)))


@pytest.mark.parametrize("loss_cls, expected", [
    (MSELoss, lambda d: np.mean(d ** 2)),
    (EuclideanLoss, lambda d: np.sum(d ** 2) / (2 * d.shape[0])),
])
def test_loss_values(loss_cls, expected, rng):
    pred, target = rng.standard_normal((3, 1, 4, 5)), rng.standard_normal((3, 1, 4, 5))
    loss = loss_cls()
    value = loss.forward(pred, target)
    assert value.shape == () and value.dtype == np.float64
    assert max_rel(value, expected(pred - target)) < TOL[np.float64]


def test_euclidean_loss_gradient_is_residual_over_batch(rng):
    pred, target = rng.standard_normal((4, 1, 3, 3)), rng.standard_normal((4, 1, 3, 3))
    loss = EuclideanLoss()
    loss.forward(pred, target)
    dpred, dtarget = loss.backward(1.0)
    assert max_rel(dpred, (pred - target) / 4) < TOL[np.float64]
    assert max_rel(dtarget, -(pred - target) / 4) < TOL[np.float64]


def test_relu_and_shape_layers_values(rng):
    x = rng.standard_normal((2, 3, 4, 5))
    np.testing.assert_array_equal(ReLU().forward(x), np.maximum(x, 0))
    np.testing.assert_allclose(GlobalAvgPool2D().forward(x), x.mean(axis=(2, 3)), rtol=1e-12)
    assert Reshape((-1,)).forward(x).shape == (2, 60)
    np.testing.assert_array_equal(CenterCrop(1).forward(x), x[:, :, 1:3, 1:4])
    np.testing.assert_array_equal(CenterCrop().forward(x, np.zeros((2, 1, 2, 2))), x[:, :, 1:3, 1:3])
    np.testing.assert_array_equal(ConcatChannels().forward(x, x[:, :1]), np.concatenate([x, x[:, :1]], 1))
    np.testing.assert_allclose(Log1p(eps=0.01).forward(np.abs(x)), np.log1p(np.abs(x) / 0.01), rtol=1e-12)


@pytest.mark.parametrize("scale", [3, 4])
def test_periodicity_pool_finds_the_upsampling_factor(scale, rng):
    """Bicubic upsampling by s leaves period-s structure in the local sharpness, wherever the
    window starts (the statistic is shift invariant)."""
    from dynconv.sr.image import imresize

    hr = rng.random((96, 96))
    up = imresize(imresize(hr, 1 / scale), float(scale))
    pool = PeriodicityPool((2, 3, 4))
    for off in (0, 1, 2):
        y = pool.forward(up[None, None, off:off + 33, off:off + 33]).reshape(2, 3)  # (axis, period)
        others = [p for p in (3, 4) if p != scale][0]
        assert (y[:, scale - 2] > y[:, others - 2] + 0.5).all(), y


@pytest.mark.parametrize("scale, shows_at", [(2.5, 2.5), (1.5, 3.0), (1.25, 5.0)])
def test_real_periods_find_fractional_factors_and_their_aliases(scale, shows_at, rng):
    """A factor s leaves period s in the sharpness profile; below 2 it shows at the alias s/(s-1)."""
    from dynconv.sr.image import imresize

    hr = rng.random((100, 100))
    up = imresize(imresize(hr, 1 / scale), scale)
    periods = (2.0, 2.5, 3.0, 3.5, 4.0, 5.0)
    pool = PeriodicityPool(periods, energies=("laplacian", "gradient"), axes="mean")
    y = pool.forward(up[None, None, 3:53, 5:55]).reshape(2, len(periods))  # (energy, period)
    assert (y.argmax(axis=1) == periods.index(shows_at)).all(), y


def test_periodicity_pool_is_zero_on_a_flat_window_and_validates_shapes():
    np.testing.assert_array_equal(PeriodicityPool().forward(np.ones((2, 1, 8, 8))), 0)
    with pytest.raises(ValueError, match="H, W >= 3"):
        PeriodicityPool().forward(np.ones((2, 1, 2, 8)))
    with pytest.raises(ValueError, match="periods must be a non-empty sequence of real numbers >= 2"):
        PeriodicityPool((1, 2))


def test_log1p_rejects_inputs_at_or_below_minus_eps():
    with pytest.raises(ValueError, match="> -eps"):
        Log1p(eps=0.1).forward(np.array([0.5, -0.2]))
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        Log1p(eps=0)


@pytest.mark.parametrize("layer, inputs", [
    (ReLU(), [np.ones((2, 2))]),
    (Conv2D(1, 1, 1, dtype=np.float64), [np.ones((1, 1, 2, 2))]),
])
def test_backward_before_forward_and_twice_is_an_error(layer, inputs):
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones((1, 1, 2, 2)))
    y = layer.forward(*inputs)
    layer.backward(np.ones_like(y))
    with pytest.raises(RuntimeError, match="before forward"):
        layer.backward(np.ones_like(y))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_astype_converts_params_and_grads(dtype):
    layer = Linear(3, 2, dtype=np.float64 if dtype == np.float32 else np.float32)
    assert layer.astype(dtype) is layer
    assert all(p.dtype == dtype for p in layer.params.values())
    assert all(g.dtype == dtype for g in layer.grads.values())
    with pytest.raises(ValueError, match="float32 or float64"):
        layer.astype(np.int32)


def test_grads_are_written_in_place(rng):
    layer = Linear(3, 2, dtype=np.float64, rng=rng)
    before = layer.grads["w"]
    layer.forward(rng.standard_normal((4, 3)))
    layer.backward(rng.standard_normal((4, 2)))
    assert layer.grads["w"] is before and np.abs(before).max() > 0


# ------------------------------------------------------------- what layers accept (contract)
def test_relu_infinities_and_masked_gradient():
    relu = ReLU()
    y = relu.forward(np.array([-np.inf, -1.0, 0.0, 2.0, np.inf]))
    np.testing.assert_array_equal(y, [0, 0, 0, 2, np.inf])
    (dx,) = relu.backward(np.full(5, np.inf))
    np.testing.assert_array_equal(dx, [0, 0, 0, np.inf, np.inf])  # never inf * 0 = NaN


@pytest.mark.parametrize("x", [np.array([1, 2, 3]), np.array([True, False]), [0.5, 1.5]])
def test_log1p_converts_inputs_to_float(x):
    y = Log1p(eps=1e-3).forward(x)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, np.log1p(np.asarray(x, np.float64) / 1e-3))


@pytest.mark.parametrize("dtype", [np.int64, np.bool_])
def test_periodicity_pool_on_ints_and_bools_returns_floats(rng, dtype):
    x = (rng.random((1, 1, 9, 9)) * 3).astype(dtype)
    y = PeriodicityPool().forward(x)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, PeriodicityPool().forward(x.astype(np.float64)))


def test_add_of_lists_adds():
    np.testing.assert_array_equal(Add().forward([1.0, 2.0], [3.0, 4.0]), [4.0, 6.0])


@pytest.mark.parametrize("layer, x", [(GlobalAvgPool2D(), np.ones((2, 3, 4, 4))),
                                      (PeriodicityPool(), np.ones((2, 1, 6, 6)))])
def test_backward_refuses_wrong_dy_and_keeps_the_cache(layer, x):
    y = layer.forward(x)
    with pytest.raises(ValueError, match="dy must have the forward output's shape"):
        layer.backward(np.ones(y.shape[:1] + (1,) + y.shape[1:]))  # broadcastable, still wrong
    assert layer.backward(np.ones_like(y))[0].shape == x.shape  # the retry works


@pytest.mark.parametrize("make, kind, match", [
    (lambda: Conv2D(2.7, 3, 3), ValueError, "in_channels must be an integral number"),
    (lambda: Conv2D(0, 3, 3), ValueError, "in_channels must be >= 1"),
    (lambda: Conv2D(1, 3, 3, std=np.nan), ValueError, "std must be a finite number"),
    (lambda: Conv2D(1, 3, np.inf), ValueError, "kernel_size must be an integral number"),
    (lambda: Conv2D(1, 3, 3, bias="yes"), TypeError, "bias must be a bool"),
    (lambda: Conv2D(1, 3, 3, need_input_grad="no"), TypeError, "need_input_grad must be a bool"),
    (lambda: Linear(True, 3), TypeError, "in_features must be an int"),
    (lambda: DynamicConv2D(2, 1, 3, bias=1), TypeError, "bias must be a bool"),
    (lambda: Log1p(eps="1"), TypeError, "eps must be a real number"),
    (lambda: PeriodicityPool(periods=(2, 1.5)), ValueError, "periods must be a non-empty sequence of real numbers >= 2"),
    (lambda: PeriodicityPool(periods=("2",)), TypeError, "periods must be"),
    (lambda: PeriodicityPool(energies=("laplace",)), ValueError, "energies must be distinct names"),
    (lambda: PeriodicityPool(axes="both"), ValueError, "axes must be one of"),
])
def test_constructors_check_types_and_ranges(make, kind, match):
    with pytest.raises(kind, match=match):
        make()


@pytest.mark.parametrize("loss", [MSELoss(), EuclideanLoss()])
def test_losses_refuse_an_empty_batch(loss):
    with pytest.raises(ValueError, match="expected a non-empty array"):
        loss.forward(np.zeros((0, 1)), np.zeros((0, 1)))


@pytest.mark.parametrize("layer, inputs", [
    (Linear(2, 3, dtype=np.float64), [[[1.0, 2.0]]]),
    (GlobalAvgPool2D(), [np.ones((1, 1, 2, 2)).tolist()]),
    (CenterCrop(1), [np.ones((1, 1, 4, 4)).tolist()]),
    (Reshape((-1,)), [[[1.0, 2.0]]]),
])
def test_list_inputs_become_float_arrays(layer, inputs):
    y = layer.forward(*inputs)
    assert isinstance(y, np.ndarray) and y.dtype.kind == "f"


def test_conv2d_with_the_wrong_float_dtype_names_x():
    with pytest.raises(ValueError, match=r"Conv2D: input x has dtype float64 but the layer expects float32"):
        Conv2D(1, 2, 3, dtype=np.float32).forward(np.zeros((1, 1, 5, 5)))

"""Fuzzing as a careful hostile user: every public kernel and layer, valid and invalid calls.

The contract under test: a call ends in a clean ``TypeError``/``ValueError``, or returns what
``dynconv.reference`` (for kernels) or the layer's documented formula (for layers) computes —
never a crash, a hang, NaN from finite data, or uninitialised memory.

* Kernels: forged caches, hostile forward arguments and mutation between forward and backward
  are crash-prone if a check is missing (numba does not bounds-check), so they run in a
  subprocess (``tests/_fuzz_kernels.py``): a segfault or abort fails this test instead of
  killing pytest. The number of examples per property is bounded (``KERNEL_EXAMPLES``) so the
  whole file stays well under a minute on this machine; it is a correctness test, not a timing.
* Layers: NumPy code around the kernels, fuzzed in-process with hypothesis.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynconv.layers import (Add, CenterCrop, Conv2D, DynamicConv2D, EuclideanLoss, GlobalAvgPool2D,
                            Linear, Log1p, MSELoss, PeriodicityPool, ReLU, Reshape)

CLEAN = (TypeError, ValueError)
#: hypothesis examples per kernel property (six properties) in the subprocess.
KERNEL_EXAMPLES = 40
#: hypothesis examples per in-process layer property.
LAYER_EXAMPLES = 60
FUZZ = settings(max_examples=LAYER_EXAMPLES, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck))


def test_kernels_survive_forged_caches_hostile_calls_and_mutation():
    script = Path(__file__).with_name("_fuzz_kernels.py")
    proc = subprocess.run([sys.executable, str(script), str(KERNEL_EXAMPLES)], capture_output=True,
                          text=True, timeout=600)
    last = "\n".join(proc.stdout.splitlines()[-5:])
    assert proc.returncode == 0, (f"fuzz process ended with {proc.returncode} (negative = killed by "
                                  f"that signal); last cases:\n{last}\n{proc.stderr[-3000:]}")
    assert proc.stdout.rstrip().splitlines()[-1].startswith("ok ")


# ---------------------------------------------------------------------------------- layers
def values():
    """Element values a user may pass: ordinary, huge, infinite, NaN, ints and bools."""
    return st.one_of(st.floats(-1e3, 1e3), st.sampled_from([0.0, -0.0, np.inf, -np.inf, np.nan, 1e300]),
                     st.integers(-5, 5), st.booleans())


@st.composite
def inputs(draw, shape=None):
    """An array-like of a given or random shape: ndarray (any dtype), nested list or scalar."""
    if shape is None:
        shape = tuple(draw(st.lists(st.integers(0, 4), max_size=4)))
    n = int(np.prod(shape))
    flat = draw(st.lists(values(), min_size=n, max_size=n))
    arr = np.array(flat, dtype=object).reshape(shape)
    kind = draw(st.sampled_from(["f64", "f32", "int", "bool", "list", "str"]))
    if kind == "list":
        return np.array(arr, dtype=np.float64).tolist()
    if kind == "str":
        return np.array(arr, dtype=str)
    dtype = {"f64": np.float64, "f32": np.float32, "int": np.int64, "bool": np.bool_}[kind]
    with np.errstate(all="ignore"):
        if kind in ("int", "bool"):
            arr = np.nan_to_num(np.array(arr, dtype=np.float64), posinf=7, neginf=-7)
            arr = np.clip(arr, -9, 9)
        return np.array(arr, dtype=np.float64).astype(dtype)


def _float(a):
    a = np.asarray(a)
    return a.astype(np.float64) if a.dtype.kind in "biuf" else None


def _assert_clean(call):
    """Run ``call``; an exception must be TypeError/ValueError (returns None), else its result."""
    try:
        return call()
    except CLEAN:
        return None


@FUZZ
@given(x=inputs(), dy_shape=st.booleans())
def test_relu(x, dy_shape):
    layer = ReLU()
    y = _assert_clean(lambda: layer.forward(x))
    if y is None:
        assert _float(x) is None
        return
    xf = _float(x)
    want = np.where(np.isnan(xf), np.nan, np.maximum(xf, 0))
    np.testing.assert_array_equal(y, want.astype(y.dtype))
    dy = np.full(y.shape if dy_shape else y.shape + (1,), np.inf, y.dtype)
    g = _assert_clean(lambda: layer.backward(dy))
    if not dy_shape:
        assert g is None and layer.backward(np.full(y.shape, np.inf, y.dtype)) is not None  # cache kept
        return
    np.testing.assert_array_equal(g[0], np.where(xf > 0, np.inf, 0.0).astype(y.dtype))


@FUZZ
@given(x=inputs(), eps=st.one_of(st.floats(1e-6, 1.0), st.sampled_from([0.0, -1.0, np.nan, np.inf, "1"])))
def test_log1p(x, eps):
    layer = _assert_clean(lambda: Log1p(eps))
    if layer is None:
        assert not (isinstance(eps, float) and np.isfinite(eps) and eps > 0)
        return
    y = _assert_clean(lambda: layer.forward(x))
    xf = _float(x)
    if y is None:
        assert xf is None or not np.all(xf + eps > 0)
        return
    with np.errstate(all="ignore"):
        want = np.log1p(xf / eps)
    np.testing.assert_allclose(y, want.astype(y.dtype), rtol=1e-5 if y.dtype == np.float32 else 1e-12)


@FUZZ
@given(a=inputs(), b=inputs(), same=st.booleans())
def test_add(a, b, same):
    if same:
        b = a
    y = _assert_clean(lambda: Add().forward(a, b))
    if y is None:
        return
    af, bf = _float(a), _float(b)
    assert af.shape == bf.shape and y.shape == af.shape  # never concatenated, never broadcast
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(y, (af + bf).astype(y.dtype))


@FUZZ
@given(x=inputs(), layer=st.sampled_from(["gap", "crop", "reshape", "period"]),
       dy_ok=st.booleans())
def test_shape_layers(x, layer, dy_ok):
    obj = {"gap": GlobalAvgPool2D(), "crop": CenterCrop(1), "reshape": Reshape((-1,)),
           "period": PeriodicityPool((2, 3))}[layer]
    y = _assert_clean(lambda: obj.forward(x))
    if y is None:
        return
    assert y.dtype in (np.float32, np.float64)  # ints and bools became floats
    xf = _float(x)
    if layer == "gap":
        np.testing.assert_allclose(y, xf.mean(axis=(2, 3)), rtol=1e-5, equal_nan=True)
    elif layer == "crop":
        np.testing.assert_array_equal(y, xf[:, :, 1:-1, 1:-1].astype(y.dtype))
    elif layer == "reshape":
        assert y.shape[0] == xf.shape[0] and y.ndim == 2
        np.testing.assert_array_equal(y.ravel(), xf.ravel().astype(y.dtype))
    dy = np.ones(y.shape if dy_ok else y.shape + (2,), y.dtype)
    g = _assert_clean(lambda: obj.backward(dy))
    if dy_ok:
        assert g is not None and g[0].shape == np.shape(xf)
    else:
        assert g is None  # refused; the cache is still there for a correct dy:
        assert obj.backward(np.ones(y.shape, y.dtype))[0].shape == np.shape(xf)


@FUZZ
@given(pred=inputs(), target=inputs(), euclid=st.booleans())
def test_losses(pred, target, euclid):
    layer = EuclideanLoss() if euclid else MSELoss()
    out = _assert_clean(lambda: layer.forward(pred, target))
    if out is None:
        return
    p, t = _float(pred), _float(target)
    assert p.size > 0 and p.shape == t.shape
    scale = 1 / (2 * p.shape[0]) if euclid else 1 / p.size
    with np.errstate(all="ignore"):
        want = scale * np.sum((p - t) ** 2)
    np.testing.assert_allclose(out, want, rtol=1e-4, equal_nan=True)


CTOR_VALUES = st.one_of(st.integers(-1, 4), st.sampled_from([2.0, 2.7, np.inf, np.nan, True, "3", None]))


@FUZZ
@given(c=CTOR_VALUES, f=CTOR_VALUES, k=CTOR_VALUES, std=st.sampled_from([1e-3, 0.0, -1.0, np.nan, np.inf]),
       bias=st.sampled_from([True, False, "no", 1, None]), cls=st.sampled_from(["conv", "dyn", "linear"]))
def test_constructors_check_types_and_ranges(c, f, k, std, bias, cls):
    def make():
        if cls == "conv":
            return Conv2D(c, f, k, std=std, bias=bias)
        if cls == "dyn":
            return DynamicConv2D(c, f, k, bias=bias)
        return Linear(c, f, std=std, bias=bias)

    layer = _assert_clean(make)
    counts = (c, f) + ((k,) if cls != "linear" else ())
    ok = all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 or v == 2.0 and not isinstance(v, bool)
             for v in counts) and isinstance(bias, bool) and (cls == "dyn" or np.isfinite(std) and std >= 0)
    assert (layer is not None) == ok, (c, f, k, std, bias, cls)


@FUZZ
@given(x=inputs(), w_dtype=st.sampled_from([np.float32, np.float64]), need=st.sampled_from([True, False, "no"]))
def test_conv_layer(x, w_dtype, need):
    layer = Conv2D(2, 3, 2, init="he", rng=0, dtype=w_dtype)
    if _assert_clean(lambda: setattr(layer, "need_input_grad", need)) is None and need == "no":
        assert layer.need_input_grad is True  # refused, unchanged
    y = _assert_clean(lambda: layer.forward(x))
    if y is None:
        return
    xf = _float(x)
    assert isinstance(x, list) or np.asarray(x).dtype.kind in "bi" or np.asarray(x).dtype == w_dtype
    from dynconv import reference
    want, _ = reference.conv2d_forward(xf, layer.params["w"].astype(np.float64), layer.params["b"].astype(np.float64))
    finite = np.isfinite(want)
    np.testing.assert_allclose(y[finite], want[finite], rtol=1e-3, atol=1e-3 * max(1.0, np.abs(want[finite]).max(initial=0)))


def test_layer_errors_name_the_input():
    conv = Conv2D(1, 2, 3, dtype=np.float32)
    with pytest.raises(ValueError, match=r"input x has dtype float64 but the layer expects float32"):
        conv.forward(np.zeros((1, 1, 5, 5)))
    with pytest.raises(TypeError, match=r"Linear: input x: expected a real numeric array"):
        Linear(2, 3).forward(["a", "b"])
    with pytest.raises(ValueError, match=r"MSELoss: input pred: expected a non-empty array"):
        MSELoss().forward(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match=r"kernel_size must be an integral number >= 1, got inf"):
        Conv2D(1, 1, np.inf)

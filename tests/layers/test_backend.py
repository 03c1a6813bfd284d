"""dynconv.layers._backend: the layers run on either backend, and both give the same gradients.

Every test here runs once with the numba kernels and once with the float64 reference loops, so
the promise of the backend switch is checked, not just stated.
"""
from __future__ import annotations

import numpy as np
import pytest

from dynconv.gradcheck import gradcheck
from dynconv.layers import Conv2D, DynamicConv2D, _backend

BACKENDS = list(_backend.BACKENDS)


@pytest.fixture(params=BACKENDS)
def backend(request):
    with _backend.use(request.param):
        yield request.param


def _conv_case(rng, dtype=np.float64):
    layer = Conv2D(2, 3, 3, pad=1, init="he", rng=rng, dtype=dtype)
    layer.params["b"][...] = rng.standard_normal(3)
    return layer, [rng.standard_normal((2, 2, 6, 5)).astype(dtype)]


def _dynamic_case(rng, dtype=np.float64):
    layer = DynamicConv2D(2, 3, 3, pad=1, bias=True)
    x = rng.standard_normal((2, 2, 6, 5)).astype(dtype)
    k = rng.standard_normal((2, layer.flat_size)).astype(dtype)
    return layer, [x, k]


CASES = {"Conv2D": _conv_case, "DynamicConv2D": _dynamic_case}


@pytest.mark.parametrize("case", list(CASES))
def test_layer_gradients_pass_gradcheck_on_each_backend(rng, backend, case):
    layer, inputs = CASES[case](rng)
    assert _backend.get_backend() == backend
    report = gradcheck(layer, inputs, rng=rng)
    assert report.ok, str(report)


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_backends_agree(rng, case, dtype, tol):
    """Forward and backward of the same layer on the same data: kernels == reference."""
    results = {}
    for name in BACKENDS:
        layer, inputs = CASES[case](np.random.default_rng(7), dtype)
        with _backend.use(name):
            y = layer.forward(*inputs)
            dy = np.random.default_rng(8).standard_normal(y.shape).astype(dtype)
            grads = layer.backward(dy)
        assert y.dtype == dtype and all(g.dtype == dtype for g in grads), name
        results[name] = [y, *grads, *[g.copy() for g in layer.grads.values()]]
    for a, b in zip(results["kernels"], results["reference"]):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_the_switch_is_restored_and_validated():
    assert _backend.get_backend() == "kernels"
    with _backend.use("reference"):
        assert _backend.conv2d_forward is _backend.BACKENDS["reference"]["conv2d_forward"]
    assert _backend.get_backend() == "kernels"
    assert _backend.conv2d_forward is _backend.BACKENDS["kernels"]["conv2d_forward"]
    with pytest.raises(ValueError, match="backend must be one of kernels, reference, got 'torch'"):
        _backend.set_backend("torch")

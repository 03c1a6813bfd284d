"""The gradient checker checks itself: it accepts correct backwards and rejects wrong ones."""
from __future__ import annotations

import io

import numpy as np
import pytest

from dynconv.gradcheck import gradcheck, run_suite
from dynconv.layers import Conv2D, Linear, ReLU


class ScaledReLU(ReLU):
    """ReLU whose backward is 1 % too large: a subtle bug the checker must catch."""

    def backward(self, dy):
        return (1.01 * super().backward(dy)[0],)


class OneWrongWeightGrad(Conv2D):
    """Conv2D whose dw is wrong in a single element of a tensor checked along random directions."""

    def backward(self, dy):
        dx = super().backward(dy)
        self.grads["w"][0, 0, 0, 0] += 0.5 * np.abs(self.grads["w"]).max()
        return dx


class TransposedInputGrad(Linear):
    """Linear with dx computed from a wrong (sign-flipped) weight."""

    def backward(self, dy):
        super().backward(dy)
        return (-(dy @ self.params["w"]),)


@pytest.mark.parametrize("make, inputs, bad", [
    (lambda rng: ScaledReLU(), lambda rng: [np.sign(rng.standard_normal((2, 3))) + rng.random((2, 3))], "0"),
    (lambda rng: OneWrongWeightGrad(2, 3, 3, init="he", rng=rng), lambda rng: [rng.standard_normal((2, 2, 5, 5))], "w"),
    (lambda rng: TransposedInputGrad(3, 2, init="he", rng=rng), lambda rng: [rng.standard_normal((4, 3))], "0"),
])
def test_wrong_backward_is_rejected(make, inputs, bad, rng):
    report = gradcheck(make(rng), inputs(rng), rng=rng)
    assert not report.ok
    assert [c.name.split("'")[1] for c in report.failures()] == [bad]
    assert report[bad].error > 1e-3
    assert "FAIL" in str(report)


def test_correct_backward_is_accepted_and_original_untouched(rng):
    layer = Conv2D(2, 3, 3, init="he", rng=rng)  # float32: checked on a float64 copy
    w0 = layer.params["w"].copy()
    report = gradcheck(layer, [rng.standard_normal((2, 2, 5, 5)).astype(np.float32)], rng=rng)
    assert report.ok, f"max relative error {report.max_error:.2e}"
    assert layer.params["w"].dtype == np.float32
    np.testing.assert_array_equal(layer.params["w"], w0)
    assert layer._cache is None


def test_elementwise_and_directional_methods(rng):
    report = gradcheck(Linear(3, 2, rng=rng), [rng.standard_normal((4, 3))], rng=rng, max_elements=6)
    assert report["0"].method == "8 random directions"  # 12 > 6 elements
    assert report["w"].method == "all 6 elements"


def test_run_suite_passes_and_prints_table():
    out = io.StringIO()
    assert run_suite(seed=0, out=out) is True
    text = out.getvalue()
    for case in ("Conv2D", "DynamicConv2D flat + b", "Linear", "ReLU", "GlobalAvgPool2D", "Reshape", "Add",
                 "ConcatChannels", "CenterCrop", "MSELoss", "EuclideanLoss", "FilteredMSELoss", "SRCNN graph", "DCNN graph"):
        assert case in text
    assert "all passed" in text and "FAIL" not in text

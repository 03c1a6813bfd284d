"""The training objective: per-factor weights and the CSF term give the gradient of what they claim."""
from __future__ import annotations

import numpy as np
import pytest

from dynconv.layers import FilteredMSELoss, MSELoss
from dynconv.sr.metrics import csf_filter
from dynconv.training.config import ConfigError, DEFAULTS, merge, validate
from dynconv.training.objective import Objective, csf_scale_weights


def _value(pred, y, scales, weights, lam, csf_weights):
    """(1/N) Σ_i (w_s mse_i + λ c_s csf_i): the function the objective's gradient belongs to."""
    mse = np.mean((pred - y) ** 2, axis=(1, 2, 3))
    csf = FilteredMSELoss(csf_filter()).per_sample(pred, y)
    w = np.array([weights[s] for s in scales])
    c = np.array([csf_weights[s] for s in scales])
    return float(np.mean(w * mse + lam * c * csf))


@pytest.mark.parametrize("lam", [0.0, 1.0, 3.0])
def test_gradient_is_that_of_the_weighted_sum(lam, rng):
    pred, y = rng.standard_normal((2, 3, 1, 7, 6))
    scales = [2.0, 1.5, 2.0]
    weights, csf_weights = {2.0: 0.5, 1.5: 2.0}, {2.0: 0.3, 1.5: 4.0}
    obj = Objective(MSELoss(), weights, lam, csf_weights if lam else None)
    logged = obj.forward(pred, y, scales)
    assert logged == pytest.approx(np.mean((pred - y) ** 2))  # the log sees the plain loss
    grad = obj.backward()
    d = rng.standard_normal(pred.shape)
    h = 1e-6
    numeric = (_value(pred + h * d, y, scales, weights, lam, csf_weights)
               - _value(pred - h * d, y, scales, weights, lam, csf_weights)) / (2 * h)
    assert np.vdot(grad, d) == pytest.approx(numeric, rel=1e-6)


def test_without_weights_the_gradient_is_the_loss_gradient(rng):
    pred, y = rng.standard_normal((2, 2, 1, 4, 4))
    obj = Objective(MSELoss())
    obj.forward(pred, y, [2.0, 3.0])
    np.testing.assert_allclose(obj.backward(), 2 * (pred - y) / pred.size)


def test_csf_needs_its_weights():
    with pytest.raises(ValueError, match="csf_weights"):
        Objective(MSELoss(), None, 1.0, None)


class _Source:
    """Batches whose inputs are the labels plus noise of a per-factor amplitude."""

    def __init__(self, amplitude, rng):
        self.amplitude, self.rng = amplitude, rng
        self.known = list(amplitude)

    def factors(self):  # as Batches.factors: what the batches can draw
        return self.known

    def __call__(self, t):
        r = np.random.default_rng(t)
        s = np.array([list(self.amplitude)[(t + i) % len(self.amplitude)] for i in range(4)], np.float32)
        y = r.standard_normal((4, 1, 9, 9))
        x = np.pad(y, ((0, 0), (0, 0), (2, 2), (2, 2)))
        x[:, :, 2:-2, 2:-2] += np.array([self.amplitude[float(v)] for v in s])[:, None, None, None] \
            * r.standard_normal((4, 1, 9, 9))
        return x, y, s


def test_csf_weights_are_one_over_bicubic_and_mean_one(rng):
    w = csf_scale_weights(_Source({2.0: 1.0, 3.0: 2.0}, rng), n_batches=20)
    assert set(w) == {2.0, 3.0}
    assert w[2.0] / w[3.0] == pytest.approx(4.0, rel=0.3)  # error 2x larger -> weight 4x smaller
    assert (w[2.0] + w[3.0]) / 2 == pytest.approx(1.0)  # the factors are drawn equally often


def test_a_factor_never_drawn_is_an_error(rng):
    source = _Source({2.0: 1.0, 3.0: 2.0}, rng)
    source.known.append(4.0)
    with pytest.raises(ValueError, match=r"no sample at factors \[4.0\]"):
        csf_scale_weights(source, n_batches=3)


def test_config_refuses_a_negative_csf_weight():
    config = merge(DEFAULTS, {"train": {"csf_weight": -1.0}})
    with pytest.raises(ConfigError, match="csf_weight"):
        validate(config)

"""Bad calls raise ValueError naming the argument — they never reach a numba loop."""
from __future__ import annotations

import numpy as np
import pytest

from dynconv import kernels as K

f32, f64 = np.float32, np.float64


def _x(shape=(2, 3, 6, 6), dtype=f64):
    return np.zeros(shape, dtype)


STATIC_CASES = [
    # (x, w, b, pad, message)
    (_x((3, 6, 6)), _x((4, 3, 3, 3)), None, 0, r"x must have shape \(N, C, H, W\), got \(3, 6, 6\)"),
    (_x(), _x((4, 3, 3)), None, 0, r"w must have shape \(F, C, kh, kw\)"),
    (_x(), _x((4, 2, 3, 3)), None, 0, r"x has 3 channels but w \(4, 2, 3, 3\) expects C=2"),
    (_x((2, 3, 2, 2)), _x((4, 3, 5, 5)), None, 1, r"kernel 5x5 is larger than the padded input 4x4"),
    (_x(), _x((4, 3, 3, 3), f32), None, 0, r"w has dtype float32 but the other operands are float64"),
    (_x(dtype=np.int64), _x((4, 3, 3, 3)), None, 0, r"x must be float32 or float64, got dtype int64"),
    (_x(), _x((4, 3, 3, 3)), _x((3,)), 0, r"b must have shape \(4,\), got \(3,\)"),
    (_x(), _x((4, 3, 3, 3)), None, 3, r"pad must be in \[0, 2\] for a 3x3 kernel, got 3"),
    (_x(), _x((4, 3, 3, 3)), None, -1, r"pad must be in \[0, 2\]"),
    (_x(), _x((4, 3, 3, 3)), None, 1.0, r"pad must be an int"),
    (_x((0, 3, 6, 6)), _x((4, 3, 3, 3)), None, 0, r"x must not be empty"),
    ([[1.0]], _x((4, 3, 3, 3)), None, 0, r"x must be a numpy array"),
]


@pytest.mark.parametrize("x, w, b, pad, match", STATIC_CASES)
def test_conv2d_forward_rejects(x, w, b, pad, match):
    # Wrong Python types are TypeErrors, wrong shapes/dtypes/values ValueErrors.
    kind = TypeError if "must be an int" in match or "numpy array" in match else ValueError
    with pytest.raises(kind, match=match):
        K.conv2d_forward(x, w, b, pad=pad)


DYNAMIC_CASES = [
    (_x(), _x((2, 4, 3, 3)), None, 0, r"k must have shape \(N, F, C, kh, kw\)"),
    (_x(), _x((3, 4, 3, 3, 3)), None, 0, r"x must have shape \(3, 3, H, W\) to match k"),
    (_x(), _x((2, 4, 2, 3, 3)), None, 0, r"x must have shape \(2, 2, H, W\)"),
    (_x(), _x((2, 4, 3, 3, 3)), _x((4,)), 0, r"b must have shape \(2, 4\)"),
    (_x(), _x((2, 4, 3, 3, 3), f32), None, 0, r"k has dtype float32"),
    (_x((2, 3, 2, 2)), _x((2, 1, 3, 5, 5)), None, 0, r"larger than the padded input"),
    (_x(), _x((2, 1, 3, 3, 3)), None, 5, r"pad must be in"),
]


@pytest.mark.parametrize("x, k, b, pad, match", DYNAMIC_CASES)
def test_dynamic_forward_rejects(x, k, b, pad, match):
    with pytest.raises(ValueError, match=match):
        K.dynamic_conv2d_forward(x, k, b, pad=pad)


@pytest.mark.parametrize("dtype", [f32, f64])
def test_backward_rejects_wrong_dy(dtype):
    x, w = _x(dtype=dtype), _x((4, 3, 3, 3), dtype)
    _, cache = K.conv2d_forward(x, w, pad=1)
    with pytest.raises(ValueError, match=r"dy must have shape \(2, 4, 6, 6\) \(the forward output's\), got \(2, 4, 5, 6\)"):
        K.conv2d_backward(_x((2, 4, 5, 6), dtype), cache)
    other = f64 if dtype == f32 else f32
    with pytest.raises(ValueError, match=r"dy has dtype"):
        K.conv2d_backward(_x((2, 4, 6, 6), other), cache)
    k = _x((2, 4, 3, 3, 3), dtype)
    _, dcache = K.dynamic_conv2d_forward(x, k, pad=0)
    with pytest.raises(ValueError, match=r"dy must have shape \(2, 4, 4, 4\)"):
        K.dynamic_conv2d_backward(_x((2, 4, 6, 6), dtype), dcache)


def test_backward_rejects_foreign_cache():
    x, w, k = _x(), _x((4, 3, 3, 3)), _x((2, 4, 3, 3, 3))
    _, static_cache = K.conv2d_forward(x, w)
    _, dynamic_cache = K.dynamic_conv2d_forward(x, k)
    with pytest.raises(TypeError, match="Conv2DCache"):
        K.conv2d_backward(np.zeros((2, 4, 4, 4)), dynamic_cache)
    with pytest.raises(TypeError, match="DynamicConv2DCache"):
        K.dynamic_conv2d_backward(np.zeros((2, 4, 4, 4)), static_cache)


def test_sgd_update_rejects_mismatch():
    with pytest.raises(ValueError, match=r"dw must have the shape of w \(2, 2\)"):
        K.sgd_update(np.zeros((2, 2)), np.zeros((2, 3)), 0.1)

"""The one place layers import their kernels from.

Layers call :mod:`dynconv.kernels` (numba, float32/float64). Switching every layer to the float64
oracle :mod:`dynconv.reference` — e.g. to debug a kernel — is a one-line change here.
"""
from dynconv.kernels import (
    conv2d_backward,
    conv2d_forward,
    dynamic_conv2d_backward,
    dynamic_conv2d_forward,
)

__all__ = ["conv2d_forward", "conv2d_backward", "dynamic_conv2d_forward", "dynamic_conv2d_backward"]

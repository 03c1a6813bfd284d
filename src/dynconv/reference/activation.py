r"""The rectified linear unit, literally: float64 loops over the elements.

.. math::

    y = \max(x, 0), \qquad \frac{\partial l}{\partial x} = \frac{\partial l}{\partial y}\,[x > 0]

Not one of the paper's equations, but every one of its networks applies it after each
convolution but the last. The gradient at exactly 0 is taken as 0 (a subgradient); NaN passes
through the forward pass with gradient 0, ``-inf`` becomes 0, and the gradient is selected, not
multiplied, so an infinite ``dy`` where ``x <= 0`` gives 0. :mod:`dynconv.kernels.relu` is tested
against these loops; ``tests/test_reference.py`` checks them against finite differences.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from dynconv.reference.loops import as_float64


class ReLUCache(NamedTuple):
    """What :func:`relu_backward` needs from the forward pass."""

    x: np.ndarray  # the input, any shape


def relu_forward(x):
    """``(y, cache)`` with ``y[e] = x[e]`` where ``x[e] > 0`` or ``x[e]`` is NaN, else 0."""
    x = as_float64(x, "x")
    y = np.empty_like(x)
    for e in np.ndindex(x.shape):
        v = x[e]
        y[e] = v if (v > 0 or np.isnan(v)) else 0.0
    return y, ReLUCache(x)


def relu_backward(dy, cache):
    """``dx[e] = dy[e]`` where the forward input ``x[e] > 0``, else 0."""
    dy = as_float64(dy, "dy")
    if dy.shape != cache.x.shape:
        raise ValueError(f"dy must have shape {cache.x.shape} (the forward output's), got {dy.shape}")
    dx = np.zeros_like(dy)
    for e in np.ndindex(dy.shape):
        if cache.x[e] > 0:
            dx[e] = dy[e]
    return dx

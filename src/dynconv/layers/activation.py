r"""Element-wise activations."""
from __future__ import annotations

import numpy as np

from dynconv.kernels.relu import relu_backward, relu_forward

from .base import Layer, check_positive


class ReLU(Layer):
    r"""Rectified linear unit, :math:`y = \max(x, 0)`, :math:`\partial l/\partial x = \partial l/\partial y \cdot [x > 0]`.

    Any shape; the gradient at exactly 0 is taken as 0. ``ReLU(-inf) = 0``, ``ReLU(nan) = nan``;
    the gradient is selected by the mask (never ``dy * 0``, so an infinite ``dy`` where the
    input was negative gives 0, not NaN). The kernel pair is :mod:`dynconv.kernels.relu`.
    """

    def output_shape(self, *shapes):
        self._check_arity(shapes, 1, "one input x")
        return tuple(shapes[0])

    def forward(self, *inputs):
        self._check_arity(inputs, 1, "one input x")
        (x,) = self._inputs(inputs, ["x"])
        y, cache = relu_forward(x)
        self._save(cache, y)
        return y

    def backward(self, dy):
        cache, dy = self._take(dy)
        return (relu_backward(dy, cache),)


class Log1p(Layer):
    r"""Scaled logarithm of a non-negative input, :math:`y = \log(1 + x/\varepsilon)`,
    :math:`\partial l/\partial x = \partial l/\partial y \,/\, (x + \varepsilon)`.

    Network B applies it to pooled feature energies: a difference of logs is a ratio of
    energies, so a linear layer after it can compare frequency bands independently of the
    patch's contrast (the cue that tells the upscaling factor from the image alone). ``y`` is 0
    on a flat patch. Any shape; every element must be greater than ``-eps``.
    """

    def __init__(self, eps=1e-3):
        super().__init__()
        self.eps = check_positive(eps, "eps")

    def output_shape(self, *shapes):
        self._check_arity(shapes, 1, "one input x")
        return tuple(shapes[0])

    def forward(self, *inputs):
        self._check_arity(inputs, 1, "one input x")
        (x,) = self._inputs(inputs, ["x"])  # ints become floats: eps is never truncated
        shifted = x + x.dtype.type(self.eps)
        if not np.all(shifted > 0):  # also refuses NaN
            raise ValueError(f"{self.name}: input x must be > -eps ({-self.eps}) and not NaN, got "
                             f"min {float(np.nanmin(x)) if x.size else 'n/a'}"
                             f"{' and NaN' if np.isnan(x).any() else ''}")
        y = np.log1p(x / x.dtype.type(self.eps))  # accurate for x << eps too
        self._save(shifted, y)
        return y

    def backward(self, dy):
        shifted, dy = self._take(dy)
        return (dy / shifted,)

    def __repr__(self):
        return f"Log1p(eps={self.eps})"

r"""Element-wise activations."""
from __future__ import annotations

import numpy as np

from .base import Layer


class ReLU(Layer):
    r"""Rectified linear unit, :math:`y = \max(x, 0)`, :math:`\partial l/\partial x = \partial l/\partial y \cdot [x > 0]`.

    Any shape; the gradient at exactly 0 is taken as 0.
    """

    def output_shape(self, *shapes):
        self._check_arity(shapes, 1, "one input x")
        return tuple(shapes[0])

    def forward(self, *inputs):
        self.output_shape(*(np.shape(a) for a in inputs))
        mask = inputs[0] > 0
        self._save(mask)
        return inputs[0] * mask

    def backward(self, dy):
        mask = self._pop_cache()
        return (dy * mask,)

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
        if not eps > 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        self.eps = float(eps)

    def output_shape(self, *shapes):
        self._check_arity(shapes, 1, "one input x")
        return tuple(shapes[0])

    def forward(self, *inputs):
        self.output_shape(*(np.shape(a) for a in inputs))
        shifted = inputs[0] + inputs[0].dtype.type(self.eps)
        if not np.all(shifted > 0):
            raise ValueError(f"{self.name}: input must be > -eps ({-self.eps}), got min "
                             f"{float(np.min(inputs[0]))}")
        self._save(shifted)
        return np.log(shifted / shifted.dtype.type(self.eps))

    def backward(self, dy):
        shifted = self._pop_cache()
        return (dy / shifted,)

    def __repr__(self):
        return f"Log1p(eps={self.eps})"

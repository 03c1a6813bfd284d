r"""Fully connected layer (used by the filter-generating network B to emit flat kernels)."""
from __future__ import annotations

import numpy as np

from dynconv.kernels.validate import check_bool, check_int

from .base import Layer, check_dtype, check_init, init_weight, shape_str


class Linear(Layer):
    r"""Affine map of a batch of vectors.

    .. math::

        y = x W^\top + b, \qquad
        \frac{\partial l}{\partial x} = \frac{\partial l}{\partial y} W, \quad
        \frac{\partial l}{\partial W} = \Big(\frac{\partial l}{\partial y}\Big)^{\!\top} x, \quad
        \frac{\partial l}{\partial b} = \sum_n \frac{\partial l}{\partial y_n}

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
    init : {"gaussian", "he"}
        As for :class:`Conv2D`; bias starts at 0.
    std : float
    rng : numpy.random.Generator, int or None
    dtype : float32 or float64
    need_input_grad : bool

    Notes
    -----
    x (N, in_features) → y (N, out_features); ``params = {"w": (out, in), "b": (out,)}``.
    """

    def __init__(self, in_features, out_features, *, bias=True, init="gaussian", std=1e-3,
                 rng=None, dtype=np.float32, need_input_grad=True):
        super().__init__()
        self.in_features = check_int(in_features, "in_features", 1, integral_float=True)
        self.out_features = check_int(out_features, "out_features", 1, integral_float=True)
        dtype = check_dtype(dtype)
        init, std = check_init(init, std)
        bias = check_bool(bias, "bias")
        self.params["w"] = init_weight((self.out_features, self.in_features), self.in_features,
                                       init, std, rng, dtype)
        if bias:
            self.params["b"] = np.zeros(self.out_features, dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.need_input_grad = need_input_grad

    def output_shape(self, *shapes):
        self._check_arity(shapes, 1, "one input x")
        s = shapes[0]
        if len(s) != 2 or s[1] != self.in_features:
            raise ValueError(f"{self.name}: input x: expected shape (N, {self.in_features}), "
                             f"got {shape_str(s)}")
        return (s[0], self.out_features)

    def macs(self, *shapes):
        return shapes[0][0] * self.in_features * self.out_features

    def forward(self, *inputs):
        self._check_arity(inputs, 1, "one input x")
        w = self.params["w"]
        (x,) = self._inputs(inputs, ["x"], w.dtype)
        self.output_shape(x.shape)
        y = x @ w.T
        if "b" in self.params:
            y += self.params["b"]
        self._save(x.copy(), y)  # backward uses the values of x seen here
        return y

    def backward(self, dy):
        x, dy = self._take(dy)
        self._set_grad("w", dy.T @ x)
        if "b" in self.params:
            self._set_grad("b", dy.sum(axis=0))
        return (dy @ self.params["w"] if self.needs_grad(0) else None,)

    def __repr__(self):
        return f"Linear({self.in_features}, {self.out_features}, bias={'b' in self.params})"

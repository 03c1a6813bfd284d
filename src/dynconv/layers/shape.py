r"""Parameter-free layers that pool, reshape, combine or crop tensors."""
from __future__ import annotations

import numpy as np

from dynconv.kernels.validate import check_int

from .base import Layer, check_same_dtype, shape_str


class GlobalAvgPool2D(Layer):
    r"""Mean over the spatial axes: (N, C, H, W) → (N, C).

    .. math::

        y_{n,c} = \frac{1}{HW}\sum_{r,s} x_{n,c}[r,s], \qquad
        \frac{\partial l}{\partial x_{n,c}[r,s]} = \frac{1}{HW}\frac{\partial l}{\partial y_{n,c}}
    """

    def output_shape(self, *shapes):
        self._check_arity(shapes, 1, "one input x")
        if len(shapes[0]) != 4:
            raise ValueError(f"{self.name}: input x: expected shape (N, C, H, W), got {shape_str(shapes[0])}")
        return tuple(shapes[0][:2])

    def macs(self, *shapes):
        return int(np.prod(shapes[0]))

    def forward(self, *inputs):
        self._check_arity(inputs, 1, "one input x")
        (x,) = self._inputs(inputs, ["x"])
        self.output_shape(x.shape)
        if 0 in x.shape:
            raise ValueError(f"{self.name}: input x: expected a non-empty (N, C, H, W), got {shape_str(x.shape)}")
        y = x.mean(axis=(2, 3))
        self._save(x.shape, y)
        return y

    def backward(self, dy):
        shape, dy = self._take(dy)
        dx = np.empty(shape, dy.dtype)
        dx[...] = dy[:, :, None, None] / (shape[2] * shape[3])
        return (dx,)


class Reshape(Layer):
    """Reshape each sample, keeping the batch axis: (N, ...) → (N, *shape).

    Parameters
    ----------
    shape : tuple of int
        Per-sample target shape; one entry may be -1.
    """

    def __init__(self, shape):
        super().__init__()
        if not isinstance(shape, (tuple, list)):
            raise TypeError(f"shape must be a tuple of ints, got {shape!r}")
        self.shape = tuple(check_int(s, "shape entry", -1, integral_float=True) for s in shape)
        if sum(s == -1 for s in self.shape) > 1 or any(s < -1 or s == 0 for s in self.shape):
            raise ValueError(f"shape must have positive entries and at most one -1, got {shape!r}")

    def output_shape(self, *shapes):
        self._check_arity(shapes, 1, "one input x")
        s = shapes[0]
        if len(s) < 1:
            raise ValueError(f"{self.name}: input x: expected shape (N, ...), got {shape_str(s)}")
        size, known = int(np.prod(s[1:])), int(np.prod([d for d in self.shape if d != -1]))
        if size == 0:
            raise ValueError(f"{self.name}: input x: expected a non-empty sample shape, got {shape_str(s)}")
        out = tuple(size // known if d == -1 else d for d in self.shape)
        if int(np.prod(out)) != size:
            raise ValueError(f"{self.name}: input x: expected (N, ...) with {known}·k elements per "
                             f"sample to reshape to (N, {', '.join(map(str, self.shape))}), got {shape_str(s)}")
        return (s[0], *out)

    def forward(self, *inputs):
        self._check_arity(inputs, 1, "one input x")
        (x,) = self._inputs(inputs, ["x"])
        out = self.output_shape(x.shape)
        y = x.reshape(out)
        self._save(x.shape, y)
        return y

    def backward(self, dy):
        shape, dy = self._take(dy)
        return (dy.reshape(shape),)

    def __repr__(self):
        return f"Reshape({self.shape})"


class Add(Layer):
    r"""Element-wise sum of two or more inputs of equal shape (no broadcasting).

    :math:`y = \sum_i x_i`, and every input receives :math:`\partial l/\partial y` (the same array).
    """

    def output_shape(self, *shapes):
        if len(shapes) < 2:
            raise ValueError(f"{self.name} takes two or more inputs, got {len(shapes)}")
        for i, s in enumerate(shapes[1:], 1):
            if tuple(s) != tuple(shapes[0]):
                raise ValueError(f"{self.name}: input {i}: expected shape {shape_str(shapes[0])} "
                                 f"(that of input 0), got {shape_str(s)}")
        return tuple(shapes[0])

    def macs(self, *shapes):
        return (len(shapes) - 1) * int(np.prod(shapes[0]))

    def forward(self, *inputs):
        inputs = self._inputs(inputs)  # lists become arrays: added, never concatenated
        self.output_shape(*(a.shape for a in inputs))
        check_same_dtype(self, inputs, [f"input {i}" for i in range(len(inputs))])
        y = inputs[0].copy()
        for x in inputs[1:]:
            y += x
        self._save(len(inputs), y)
        return y

    def backward(self, dy):
        n, dy = self._take(dy)
        return (dy,) * n


class ConcatChannels(Layer):
    """Concatenate two or more (N, C_i, H, W) inputs along the channel axis → (N, ΣC_i, H, W)."""

    def output_shape(self, *shapes):
        if len(shapes) < 2:
            raise ValueError(f"{self.name} takes two or more inputs, got {len(shapes)}")
        s0 = shapes[0]
        for i, s in enumerate(shapes):
            if len(s0) != 4 or len(s) != 4 or (s[0], s[2], s[3]) != (s0[0], s0[2], s0[3]):
                want = f"({s0[0]}, C, {s0[2]}, {s0[3]})" if len(s0) == 4 else "(N, C, H, W)"
                raise ValueError(f"{self.name}: input {i}: expected shape {want}, got {shape_str(s)}")
        return (s0[0], sum(s[1] for s in shapes), s0[2], s0[3])

    def forward(self, *inputs):
        inputs = self._inputs(inputs)
        self.output_shape(*(a.shape for a in inputs))
        check_same_dtype(self, inputs, [f"input {i}" for i in range(len(inputs))])
        y = np.concatenate(inputs, axis=1)
        self._save(np.cumsum([x.shape[1] for x in inputs])[:-1], y)
        return y

    def backward(self, dy):
        splits, dy = self._take(dy)
        return tuple(np.split(dy, splits, axis=1))


class CenterCrop(Layer):
    """Crop the spatial centre of (N, C, H, W) feature maps.

    Two forms:

    * ``CenterCrop(border)``: one input; removes ``border`` pixels on every side,
      → (N, C, H − 2·border, W − 2·border) — e.g. a target cropped to an SRCNN's valid output;
    * ``CenterCrop()``: two inputs ``(x, like)``; crops x to like's H×W, centred (the extra
      row/column of an odd difference is taken from the bottom/right). ``like`` only supplies a
      shape: its gradient is ``None``.

    The gradient is dy placed back in the centre of zeros.
    """

    def __init__(self, border=None):
        super().__init__()
        if border is not None and (isinstance(border, (bool, np.bool_))
                                   or not isinstance(border, (int, np.integer))):
            raise TypeError(f"border must be a non-negative int or None, got {border!r}")
        if border is not None and border < 0:
            raise ValueError(f"border must be a non-negative int or None, got {border!r}")
        self.border = None if border is None else int(border)

    def _window(self, shapes):
        if self.border is None:
            self._check_arity(shapes, 2, "inputs (x, like)")
        else:
            self._check_arity(shapes, 1, "one input x")
        x = shapes[0]
        if len(x) != 4:
            raise ValueError(f"{self.name}: input x: expected shape (N, C, H, W), got {shape_str(x)}")
        if self.border is None:
            if len(shapes[1]) != 4:
                raise ValueError(f"{self.name}: input like: expected shape (N, C', h, w), "
                                 f"got {shape_str(shapes[1])}")
            h, w = shapes[1][2:]
        else:
            h, w = x[2] - 2 * self.border, x[3] - 2 * self.border
            if h < 1 or w < 1:
                need = 2 * self.border + 1
                raise ValueError(f"{self.name}: input x: a border of {self.border} on each side needs "
                                 f"H, W >= {need}, got {shape_str(x)}")
        if not (1 <= h <= x[2] and 1 <= w <= x[3]):
            raise ValueError(f"{self.name}: input x: expected H >= {h} >= 1 and W >= {w} >= 1 to crop "
                             f"to {h}x{w}, got {shape_str(x)}")
        top, left = (x[2] - h) // 2, (x[3] - w) // 2
        return (slice(None), slice(None), slice(top, top + h), slice(left, left + w))

    def differentiable(self, i, n_inputs):
        return i == 0  # ``like`` only supplies a shape

    def output_shape(self, *shapes):
        win = self._window(shapes)
        s = shapes[0]
        return (s[0], s[1], win[2].stop - win[2].start, win[3].stop - win[3].start)

    def forward(self, *inputs):
        inputs = self._inputs(inputs, ["x", "like"])
        win = self._window([a.shape for a in inputs])
        y = inputs[0][win].copy()
        self._save((inputs[0].shape, win, len(inputs)), y)
        return y

    def backward(self, dy):
        (shape, win, n), dy = self._take(dy)
        if not self.needs_grad(0):
            return (None,) * n
        dx = np.zeros(shape, dy.dtype)
        dx[win] = dy
        return (dx,) + (None,) * (n - 1)

    def __repr__(self):
        return f"CenterCrop({'' if self.border is None else self.border})"

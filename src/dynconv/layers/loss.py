r"""Losses: a prediction and a target in, a scalar (0-d array) out."""
from __future__ import annotations

import numpy as np
from scipy import signal

from .base import Layer, as_float_input, check_same_dtype, shape_str


class _Loss(Layer):
    """Shared shape checks and backward of ``scale * sum((pred - target)**2)`` losses."""

    def _scale(self, shape):
        raise NotImplementedError

    def output_shape(self, *shapes):
        self._check_arity(shapes, 2, "inputs (pred, target)")
        if len(shapes[0]) < 1 or 0 in tuple(shapes[0]):
            raise ValueError(f"{self.name}: input pred: expected a non-empty array of shape (N, ...), "
                             f"got {shape_str(shapes[0])}")
        if tuple(shapes[1]) != tuple(shapes[0]):
            raise ValueError(f"{self.name}: input target: expected shape {shape_str(shapes[0])} "
                             f"(that of pred), got {shape_str(shapes[1])}")
        return ()

    def macs(self, *shapes):
        return int(np.prod(shapes[0]))

    def forward(self, *inputs):
        self._check_arity(inputs, 2, "inputs (pred, target)")
        inputs = self._inputs(inputs, ["pred", "target"])
        self.output_shape(*(a.shape for a in inputs))
        check_same_dtype(self, inputs, ("pred", "target"))
        diff = inputs[0] - inputs[1]
        scale = self._scale(diff.shape)
        self._save((diff, scale))
        return np.asarray(scale * np.vdot(diff, diff), dtype=diff.dtype)

    def backward(self, dy=1.0):
        if self._cache is None:
            self._pop_cache()  # raises: backward before forward
        dy = as_float_input(self, dy, "dy")
        if dy.shape != ():
            raise ValueError(f"{self.name}: dy must be a scalar (shape ()), got {shape_str(dy.shape)}")
        diff, scale = self._pop_cache()
        dpred = diff * diff.dtype.type(2 * scale * dy)
        return (dpred if self.needs_grad(0) else None, -dpred if self.needs_grad(1) else None)


class MSELoss(_Loss):
    r"""Mean squared error over all elements.

    .. math::

        L = \frac{1}{M}\sum_m (\hat y_m - y_m)^2, \qquad
        \frac{\partial L}{\partial \hat y} = \frac{2}{M}(\hat y - y)

    with M the number of elements. Inputs ``(pred, target)`` of equal shape and dtype.
    """

    def _scale(self, shape):
        return 1.0 / int(np.prod(shape))


class EuclideanLoss(_Loss):
    r"""Caffe's Euclidean loss — the loss the paper's learning rates assume.

    .. math::

        L = \frac{1}{2N}\sum_{n=1}^{N} \lVert \hat y_n - y_n \rVert_2^2, \qquad
        \frac{\partial L}{\partial \hat y} = \frac{1}{N}(\hat y - y)

    with N the batch size (first axis) and the norm over all of a sample's pixels.
    """

    def _scale(self, shape):
        return 1.0 / (2 * shape[0])


class FilteredMSELoss(_Loss):
    r"""Mean squared error of the error filtered by a fixed 2-D kernel (e.g. WPSNR's CSF).

    With :math:`e = \hat y - y` of shape (N, C, H, W), :math:`f = h \star e` the zero-padded
    'same' correlation of every (n, c) plane with the odd-sized kernel :math:`h`, and M the
    number of elements:

    .. math::

        L = \frac{1}{M}\sum_m f_m^2, \qquad
        \frac{\partial L}{\partial \hat y} = \frac{2}{M}\, h * f

    (the adjoint of a centred 'same' correlation is the 'same' convolution with the same kernel).

    Parameters
    ----------
    kernel : array_like, shape (kh, kw), kh and kw odd
    """

    def __init__(self, kernel):
        super().__init__()
        k = np.asarray(kernel, dtype=np.float64)
        if k.ndim != 2 or k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0 or not np.all(np.isfinite(k)):
            raise ValueError(f"{self.name}: kernel must be a finite 2-D array of odd sizes (kh, kw), "
                             f"got shape {shape_str(k.shape)}")
        self.kernel = k

    def output_shape(self, *shapes):
        super().output_shape(*shapes)  # arity, non-empty, target shaped like pred
        if len(shapes[0]) != 4:
            raise ValueError(f"{self.name}: input pred: expected a non-empty array of shape (N, C, H, W), "
                             f"got {shape_str(shapes[0])}")
        return ()

    def macs(self, *shapes):
        return 2 * int(np.prod(shapes[0])) * self.kernel.size

    def _filter(self, a, kernel):
        return signal.fftconvolve(a, kernel[None, None].astype(a.dtype), mode="same", axes=(2, 3)).astype(a.dtype)

    def per_sample(self, pred, target):
        """``mean over (C, H, W) of (h ⋆ e)²`` for each sample: shape (N,), float64."""
        f = self._filter(np.asarray(pred) - np.asarray(target), self.kernel[::-1, ::-1])
        return np.mean(np.square(f, dtype=np.float64), axis=(1, 2, 3))

    def forward(self, *inputs):
        self._check_arity(inputs, 2, "inputs (pred, target)")
        inputs = self._inputs(inputs, ["pred", "target"])
        self.output_shape(*(a.shape for a in inputs))
        check_same_dtype(self, inputs, ("pred", "target"))
        f = self._filter(inputs[0] - inputs[1], self.kernel[::-1, ::-1])  # correlation
        self._save(f)
        return np.asarray(np.vdot(f, f) / f.size, dtype=f.dtype)

    def backward(self, dy=1.0):
        if self._cache is None:
            self._pop_cache()  # raises: backward before forward
        dy = as_float_input(self, dy, "dy")
        if dy.shape != ():
            raise ValueError(f"{self.name}: dy must be a scalar (shape ()), got {shape_str(dy.shape)}")
        f = self._pop_cache()
        dpred = self._filter(f, self.kernel) * f.dtype.type(2.0 * float(dy) / f.size)
        return (dpred if self.needs_grad(0) else None, -dpred if self.needs_grad(1) else None)

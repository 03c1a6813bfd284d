r"""Convolution layers: the static :class:`Conv2D` (paper eqs 1–3) and :class:`DynamicConv2D` (eqs 5–7).

Both are thin wrappers over the kernel pairs in :mod:`dynconv.kernels` (imported through
:mod:`dynconv.layers._backend`). Layout NCHW, stride 1, cross-correlation, zero padding ``pad``.
"""
from __future__ import annotations

import numpy as np

from dynconv.kernels import choose_algorithm, choose_dynamic_algorithm
from dynconv.kernels.validate import check_bool, check_int

from . import _backend as K
from .base import Layer, check_dtype, check_init, init_weight, shape_str


def _kernel_size(kernel_size):
    if isinstance(kernel_size, (tuple, list)):
        if len(kernel_size) != 2:
            raise ValueError(f"kernel_size must be a positive int or (kh, kw), got {kernel_size!r}")
        kh, kw = kernel_size
    elif isinstance(kernel_size, np.ndarray) and kernel_size.shape == (2,):
        kh, kw = kernel_size.tolist()
    else:
        kh = kw = kernel_size
    return tuple(check_int(k, "kernel_size", 1, integral_float=True) for k in (kh, kw))


def _pad(pad, kh, kw):
    """``"same"`` keeps H and W for odd square kernels; otherwise an int in [0, min(kh, kw) - 1]."""
    if isinstance(pad, str) and pad == "same":
        if kh != kw or kh % 2 == 0:
            raise ValueError(f"pad='same' needs an odd square kernel, got {kh}x{kw}")
        return (kh - 1) // 2
    if isinstance(pad, (bool, np.bool_)) or not isinstance(pad, (int, np.integer)):
        raise TypeError(f"pad must be 'same' or an int in [0, {min(kh, kw) - 1}], got {pad!r}")
    if not 0 <= pad < min(kh, kw):
        raise ValueError(f"pad must be 'same' or an int in [0, {min(kh, kw) - 1}], got {pad!r}")
    return int(pad)


def _check_x(layer, shape, C, kh, kw, pad):
    """(Ho, Wo) for a feature-map input of ``shape``; ValueError naming expected vs got."""
    if len(shape) != 4 or shape[1] != C:
        raise ValueError(f"{layer.name}: input x: expected shape (N, {C}, H, W), got {shape_str(shape)}")
    Ho, Wo = shape[2] + 2 * pad - kh + 1, shape[3] + 2 * pad - kw + 1
    if Ho < 1 or Wo < 1:
        raise ValueError(f"{layer.name}: input x {shape_str(shape)} is smaller than the "
                         f"{kh}x{kw} kernel (pad={pad})")
    return Ho, Wo


class Conv2D(Layer):
    r"""Static convolution layer, paper eq 1 (forward) and eqs 2–3 (backward).

    .. math::

        y_{n,f} = b_f + \sum_c w_{f,c} \star x_{n,c}

    with :math:`\star` the 2-D cross-correlation over the zero-padded input.

    Parameters
    ----------
    in_channels, out_channels : int
        C and F.
    kernel_size : int or (int, int)
        kh, kw.
    pad : int or "same"
        Zero padding on every side; ``"same"`` is ``(k-1)//2`` for odd square kernels.
    bias : bool
        Whether to learn a bias ``b`` of shape (F,).
    init : {"gaussian", "he"}
        ``"gaussian"`` draws w from N(0, std²) — the paper's init with ``std=0.001``; the bias
        starts at 0 in both cases.
    std : float
        Standard deviation of the ``"gaussian"`` init.
    rng : numpy.random.Generator, int or None
    dtype : float32 or float64
    need_input_grad : bool
        False skips dx in backward (the kernel's ``need_input_grad=False``, half the
        multiply–adds): for a first layer fed by the image. Inside a Graph this is set automatically.

    Notes
    -----
    x (N, C, H, W) → y (N, F, H + 2 pad − kh + 1, W + 2 pad − kw + 1).
    ``params = {"w": (F, C, kh, kw), "b": (F,)}``.
    """

    def __init__(self, in_channels, out_channels, kernel_size, *, pad=0, bias=True,
                 init="gaussian", std=1e-3, rng=None, dtype=np.float32, need_input_grad=True):
        super().__init__()
        self.kh, self.kw = _kernel_size(kernel_size)
        self.in_channels = check_int(in_channels, "in_channels", 1, integral_float=True)
        self.out_channels = check_int(out_channels, "out_channels", 1, integral_float=True)
        self.pad = _pad(pad, self.kh, self.kw)
        dtype = check_dtype(dtype)
        init, std = check_init(init, std)
        bias = check_bool(bias, "bias")
        C, F = self.in_channels, self.out_channels
        self.params["w"] = init_weight((F, C, self.kh, self.kw), C * self.kh * self.kw,
                                       init, std, rng, dtype)
        if bias:
            self.params["b"] = np.zeros(F, dtype)
        self.grads = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.need_input_grad = need_input_grad

    def output_shape(self, *shapes):
        self._check_arity(shapes, 1, "one input x")
        Ho, Wo = _check_x(self, shapes[0], self.in_channels, self.kh, self.kw, self.pad)
        return (shapes[0][0], self.out_channels, Ho, Wo)

    def macs(self, *shapes):
        N, F, Ho, Wo = self.output_shape(*shapes)
        return N * F * Ho * Wo * self.in_channels * self.kh * self.kw

    def forward(self, *inputs):
        self._check_arity(inputs, 1, "one input x")
        (x,) = self._inputs(inputs, ["x"], self.params["w"].dtype)
        self.output_shape(x.shape)
        w = self.params["w"]
        algorithm = choose_algorithm(*w.shape, training=bool(self.training))
        y, cache = K.conv2d_forward(x, w, self.params.get("b"), pad=self.pad, algorithm=algorithm)
        self._save(cache, y)
        return y

    def backward(self, dy):
        cache, dy = self._take(dy)
        dx, dw, db = K.conv2d_backward(dy, cache, need_input_grad=self.needs_grad(0))
        self._set_grad("w", dw)
        if db is not None:
            self._set_grad("b", db)
        return (dx,)

    def __repr__(self):
        return (f"Conv2D({self.in_channels}, {self.out_channels}, ({self.kh}, {self.kw}), "
                f"pad={self.pad}, bias={'b' in self.params})")


class DynamicConv2D(Layer):
    r"""Dynamic convolution layer, paper eq 5 (forward) and eqs 6–7 (backward).

    Every sample ``n`` brings its own kernels :math:`k_n` (from the filter-generating network B):

    .. math::

        y_{n,f} = b_{n,f} + \sum_c k_{n,f,c} \star x_{n,c}

    The layer has no parameters. Its inputs are the feature maps ``x`` (from network A) and the
    kernels, in one of two forms:

    * **5-D** ``k`` of shape (N, F, C, kh, kw); with ``bias=True`` the bias is a third input
      ``b`` of shape (N, F);
    * **flat** ``k`` of shape (N, F·C·kh·kw) — straight from a :class:`Linear` — laid out
      row-major as (F, C, kh, kw); with ``bias=True`` it has F more columns at the end,
      (N, F·C·kh·kw + F), holding ``b``.

    The gradient of each kernel input has that input's form. The kernel gradient is one per
    sample (eq 7 without the batch mean, see :func:`dynconv.reference.dynamic_conv2d_backward`).

    Parameters
    ----------
    in_channels, out_channels : int
        C and F: declared so that the flat form is unambiguous.
    kernel_size : int or (int, int)
    pad : int or "same"
    bias : bool
        Whether the kernels come with a per-sample bias.
    need_input_grad : bool or tuple of bool
        Per input (x, k[, b]); only x's can be skipped (the kernel's keyword). Set by the Graph.
    """

    def __init__(self, in_channels, out_channels, kernel_size, *, pad=0, bias=False,
                 need_input_grad=True):
        super().__init__()
        self.kh, self.kw = _kernel_size(kernel_size)
        self.in_channels = check_int(in_channels, "in_channels", 1, integral_float=True)
        self.out_channels = check_int(out_channels, "out_channels", 1, integral_float=True)
        self.pad = _pad(pad, self.kh, self.kw)
        self.bias = check_bool(bias, "bias")
        self.need_input_grad = need_input_grad

    @property
    def kernel_shape(self):
        """(F, C, kh, kw): one sample's kernels."""
        return (self.out_channels, self.in_channels, self.kh, self.kw)

    @property
    def flat_size(self):
        """Columns of the flat kernel input: F·C·kh·kw (+ F with bias)."""
        return int(np.prod(self.kernel_shape)) + (self.out_channels if self.bias else 0)

    def output_shape(self, *shapes):
        F, C = self.out_channels, self.in_channels
        n_in = (2,) if not self.bias else (2, 3)
        self._check_arity(shapes, n_in, "inputs (x, k)" + (" or (x, k, b)" if self.bias else ""))
        Ho, Wo = _check_x(self, shapes[0], C, self.kh, self.kw, self.pad)
        N, ks = shapes[0][0], shapes[1]
        flat, full = (N, self.flat_size), (N, *self.kernel_shape)
        if len(ks) == 2:
            if tuple(ks) != flat:
                raise ValueError(f"{self.name}: input k (flat): expected shape {shape_str(flat)} "
                                 f"= (N, F*C*kh*kw{' + F' if self.bias else ''}), got {shape_str(ks)}")
            if len(shapes) == 3:
                raise ValueError(f"{self.name}: a flat k carries its own bias columns; "
                                 "expected inputs (x, k), got a separate b as well")
        elif tuple(ks) == full:
            if len(shapes) != (3 if self.bias else 2):
                raise ValueError(f"{self.name}: with 5-D kernels and bias={self.bias}, expected "
                                 f"{3 if self.bias else 2} inputs (x, k{', b' if self.bias else ''}), "
                                 f"got {len(shapes)}")
            if self.bias and tuple(shapes[2]) != (N, F):
                raise ValueError(f"{self.name}: input b: expected shape ({N}, {F}), "
                                 f"got {shape_str(shapes[2])}")
        else:
            raise ValueError(f"{self.name}: input k: expected shape {shape_str(full)} or flat "
                             f"{shape_str(flat)}, got {shape_str(ks)}")
        return (N, F, Ho, Wo)

    def macs(self, *shapes):
        N, F, Ho, Wo = self.output_shape(*shapes)
        return N * F * Ho * Wo * self.in_channels * self.kh * self.kw

    def forward(self, *inputs):
        # Inputs share the dtype of the first float array among them (else float64).
        dtype = next((a.dtype for a in inputs if isinstance(a, np.ndarray)
                      and a.dtype in (np.float32, np.float64)), None)
        inputs = self._inputs(inputs, ["x", "k", "b"], dtype)
        self.output_shape(*(a.shape for a in inputs))
        x, k = inputs[0], inputs[1]
        flat = k.ndim == 2
        if flat:
            nk = int(np.prod(self.kernel_shape))
            b = k[:, nk:] if self.bias else None
            k = k[:, :nk].reshape(k.shape[0], *self.kernel_shape)
        else:
            b = inputs[2] if self.bias else None
        algorithm = choose_dynamic_algorithm(*self.kernel_shape, training=bool(self.training))
        y, cache = K.dynamic_conv2d_forward(x, k, b, pad=self.pad, algorithm=algorithm)
        self._save((cache, flat), y)
        return y

    def backward(self, dy):
        (cache, flat), dy = self._take(dy)
        dx, dk, db = K.dynamic_conv2d_backward(dy, cache, need_input_grad=self.needs_grad(0))
        if flat:
            dk = dk.reshape(dk.shape[0], -1)
            return (dx, dk if db is None else np.concatenate([dk, db], axis=1))
        return (dx, dk) if db is None else (dx, dk, db)

    def __repr__(self):
        return (f"DynamicConv2D({self.in_channels}, {self.out_channels}, ({self.kh}, {self.kw}), "
                f"pad={self.pad}, bias={self.bias})")

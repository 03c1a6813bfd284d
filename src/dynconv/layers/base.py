"""The small interface every layer has, and that :class:`dynconv.graph.Graph` relies on.

A layer is a thin object around a forward/backward function pair:

* ``forward(*inputs) -> y`` computes the output and keeps what backward needs (the *cache*);
* ``backward(dy) -> (dx_0, dx_1, ...)`` returns one gradient per input (``None`` for an input
  whose gradient was not requested, see ``need_input_grad``), stores the parameter gradients in
  ``grads`` and releases the cache: one forward, then at most one backward;
* ``params`` / ``grads`` are dicts of named arrays with equal shapes; ``grads`` are written in
  place, so references to them (an optimizer's) stay valid across steps;
* ``output_shape(*input_shapes)`` validates input shapes and returns the output shape, raising a
  ``ValueError`` that states the expected and the actual shape; ``macs(*input_shapes)`` counts
  multiply–accumulates.

What layers accept: inputs become float arrays (float32/float64 arrays pass unchanged; lists,
scalars, bool and int arrays become floats — the layer's parameter dtype, else float64) or are
refused with a ``TypeError`` naming the input. ``backward(dy)`` checks ``dy`` against the shape
of the forward output before it releases the cache, so a refused ``dy`` can be corrected and
retried. Wrong types raise ``TypeError``, wrong shapes and values ``ValueError``; every message
names the layer, the argument, and the expected and actual values.

Gradients returned by ``backward`` may alias ``dy`` or each other (``Add`` hands ``dy`` to every
input): callers must not modify them in place. The graph copies before it accumulates.
"""
from __future__ import annotations

import numpy as np

from dynconv.kernels.validate import check_bool

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_generator(rng):
    """A ``numpy.random.Generator`` from a Generator, an int seed or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def check_dtype(dtype):
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


def check_positive(value, name, allow_zero=False):
    """A finite real number > 0 (or >= 0)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {value!r}")
    return float(value)


def as_float_input(layer, a, name, dtype=None):
    """Input ``a`` of ``layer`` as a float ndarray, or a TypeError naming it.

    float32/float64 arrays pass unchanged (a mismatch with ``dtype`` is a ValueError naming the
    input); bool, int and other real arrays, lists and scalars become ``dtype`` (float64 when
    None). Strings, objects and complex values are refused.
    """
    if isinstance(a, np.ndarray) and a.dtype in FLOAT_DTYPES:
        if dtype is not None and a.dtype != dtype:
            raise ValueError(f"{layer.name}: input {name} has dtype {a.dtype} but the layer "
                             f"expects {np.dtype(dtype)} (its parameters' or its output's dtype); "
                             f"convert with .astype(np.{np.dtype(dtype)})")
        return a
    try:
        arr = np.asarray(a)
    except (ValueError, TypeError) as exc:  # ragged lists and the like
        raise TypeError(f"{layer.name}: input {name}: expected a real numeric array, got "
                        f"{type(a).__name__} ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{layer.name}: input {name}: expected a real numeric array, got "
                        f"{type(a).__name__} of dtype {arr.dtype}")
    return arr.astype(np.float64 if dtype is None else dtype)


def init_weight(shape, fan_in, init, std, rng, dtype):
    r"""Draw an initial weight.

    ``"gaussian"``: :math:`\mathcal N(0, \mathrm{std}^2)` — the paper's initialisation with
    ``std=0.001``. ``"he"``: :math:`\mathcal N(0, 2/\mathrm{fan\_in})`, which keeps activations
    at unit scale through ReLUs (useful for deeper or randomly-initialised test networks).
    """
    rng = as_generator(rng)
    if init == "gaussian":
        scale = std
    elif init == "he":
        scale = np.sqrt(2.0 / fan_in)
    else:
        raise ValueError(f"init must be 'gaussian' or 'he', got {init!r}")
    return (rng.standard_normal(shape) * scale).astype(dtype)


def shape_str(shape):
    return "(" + ", ".join(str(s) for s in shape) + ")"


class Layer:
    """Base class: named parameters, gradients, cache handling and the input-gradient switch.

    Attributes
    ----------
    params, grads : dict[str, ndarray]
        Parameters and their gradients (same names, shapes and dtypes).
    need_input_grad : bool or tuple of bool
        Whether ``backward`` must return the gradient of each input (a single bool applies to
        all inputs). Layers that can skip work use it (``Conv2D`` passes it to the kernel's
        keyword of the same name). Inside a :class:`~dynconv.graph.Graph` the executor sets it.
    name : str
        Used in error messages; the graph sets it to the node name.
    training : bool
        Whether a backward pass may follow this forward (``Graph.forward`` with
        ``keep_cache=True`` sets it; a partial ``Graph.forward`` and inference clear it). Layers may pick
        kernels that are faster for a training step by it (``Conv2D``: ``choose_algorithm``'s
        ``training``); inference keeps its kernels, so its outputs stay bit-identical.
    """

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.need_input_grad: bool | tuple[bool, ...] = True
        self.name = type(self).__name__
        self.training = False
        self._cache = None
        self._out = None  # (shape, dtype) of the last forward output, for checking dy

    @property
    def need_input_grad(self):
        return self._need_input_grad

    @need_input_grad.setter
    def need_input_grad(self, value):
        if isinstance(value, (list, tuple)):
            value = tuple(check_bool(v, "need_input_grad[i]") for v in value)
        else:
            value = check_bool(value, "need_input_grad")
        self._need_input_grad = value

    # -- to implement --------------------------------------------------------------------
    def forward(self, *inputs):
        raise NotImplementedError

    def backward(self, dy):
        raise NotImplementedError

    def output_shape(self, *shapes):
        raise NotImplementedError

    def macs(self, *shapes):
        """Multiply–accumulates of one forward pass on inputs of these shapes."""
        return 0

    def differentiable(self, i, n_inputs):
        """Whether the output depends differentiably on input ``i`` (of ``n_inputs``).

        False for inputs that only supply a shape (``CenterCrop``'s ``like``): the graph then
        does not ask for gradients on their account.
        """
        return True

    # -- shared machinery ----------------------------------------------------------------
    def needs_grad(self, i):
        """Whether the gradient of input ``i`` is wanted."""
        m = self.need_input_grad
        return bool(m) if isinstance(m, (bool, np.bool_)) else bool(m[i])

    def _save(self, cache, y=None):
        """Keep ``cache`` for backward, and the shape and dtype of the output ``y`` to check dy."""
        self._cache = cache
        self._out = None if y is None else (tuple(np.shape(y)), np.asarray(y).dtype)

    def _pop_cache(self):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward() called before forward() "
                               "(or twice after one forward)")
        cache, self._cache = self._cache, None
        return cache

    def _take(self, dy):
        """``(cache, dy)``: dy checked against the forward output (shape; made a float array of
        the output's dtype) *before* the cache is released, so a refused dy can be retried."""
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward() called before forward() "
                               "(or twice after one forward)")
        shape, dtype = self._out
        dy = as_float_input(self, dy, "dy", dtype if dtype in FLOAT_DTYPES else None)
        if dy.shape != shape:
            raise ValueError(f"{self.name}: dy must have the forward output's shape "
                             f"{shape_str(shape)}, got {shape_str(dy.shape)}")
        return self._pop_cache(), dy

    def clear_cache(self):
        """Release what forward kept for backward."""
        self._cache = None

    def _set_grad(self, name, value):
        self.grads[name][...] = value

    def zero_grad(self):
        for g in self.grads.values():
            g.fill(0)

    def astype(self, dtype):
        """Convert parameters and gradients to ``dtype`` (float32 or float64), in place; returns self.

        Creates new arrays: build optimizers after calling it (or pass them the graph).
        """
        dtype = check_dtype(dtype)
        self.params = {k: v.astype(dtype) for k, v in self.params.items()}
        self.grads = {k: v.astype(dtype) for k, v in self.grads.items()}
        return self

    @property
    def dtype(self):
        """The parameters' dtype, or None for a layer without parameters."""
        for p in self.params.values():
            return p.dtype
        return None

    def num_params(self):
        return sum(p.size for p in self.params.values())

    def parameters(self):
        """Yield ``(name, param, grad)`` — the same interface as ``Graph.parameters()``."""
        for k, p in self.params.items():
            yield k, p, self.grads[k]

    def _inputs(self, inputs, names=None, dtype=None):
        """Every input as a float array (:func:`as_float_input`), named ``names`` or by position."""
        names = names or [f"input {i}" for i in range(len(inputs))]
        if len(names) < len(inputs):
            names = list(names) + [f"input {i}" for i in range(len(names), len(inputs))]
        return tuple(as_float_input(self, a, n, dtype) for a, n in zip(inputs, names))

    def _check_arity(self, inputs, n, what):
        if len(inputs) not in ((n,) if isinstance(n, int) else n):
            raise ValueError(f"{self.name} takes {what}, got {len(inputs)} input(s)")

    def __repr__(self):
        return f"{type(self).__name__}()"


def check_same_dtype(layer, arrays, names):
    """Inputs of numpy-implemented layers must share one float dtype (as the kernels demand)."""
    dtypes = {np.asarray(a).dtype for a in arrays}
    if len(dtypes) > 1 or not dtypes <= set(FLOAT_DTYPES):
        got = ", ".join(f"{n}: {np.asarray(a).dtype}" for n, a in zip(names, arrays))
        raise ValueError(f"{layer.name}: inputs must share one float dtype (float32 or float64), got {got}")


def check_init(init, std):
    """``init`` in {"gaussian", "he"}; ``std`` a finite number >= 0."""
    if init not in ("gaussian", "he"):
        raise ValueError(f"init must be 'gaussian' or 'he', got {init!r}")
    return init, check_positive(std, "std", allow_zero=True)

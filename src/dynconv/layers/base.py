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

Gradients returned by ``backward`` may alias ``dy`` or each other (``Add`` hands ``dy`` to every
input): callers must not modify them in place. The graph copies before it accumulates.
"""
from __future__ import annotations

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def as_generator(rng):
    """A ``numpy.random.Generator`` from a Generator, an int seed or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def check_dtype(dtype):
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype}")
    return dtype


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
        all inputs). Layers that can skip work use it (``Conv2D`` maps it to the kernel's
        ``need_dx``). Inside a :class:`~dynconv.graph.Graph` the executor sets it.
    name : str
        Used in error messages; the graph sets it to the node name.
    """

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.need_input_grad: bool | tuple[bool, ...] = True
        self.name = type(self).__name__
        self._cache = None

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

    def _save(self, cache):
        self._cache = cache

    def _pop_cache(self):
        if self._cache is None:
            raise RuntimeError(f"{self.name}: backward() called before forward() "
                               "(or twice after one forward)")
        cache, self._cache = self._cache, None
        return cache

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

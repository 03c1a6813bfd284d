"""The one place layers take their convolution kernels from, and the switch between backends.

Layers call ``conv2d_forward``/``conv2d_backward`` and ``dynamic_conv2d_forward``/
``dynamic_conv2d_backward`` of this module, looked up at call time. Two backends provide them:

* ``"kernels"`` (the default): :mod:`dynconv.kernels`, numba, float32 and float64;
* ``"reference"``: :mod:`dynconv.reference`, the paper's equations as float64 loops — slow, for
  checking or debugging a kernel. It computes in float64 and hands results back in the dtype
  of the inputs, so float32 graphs run too (at float32 precision).

Switch with :func:`set_backend` or, for a block, :func:`use`::

    with use("reference"):
        y = layer.forward(x)   # and layer.backward(dy): a cache belongs to the backend that made it
"""
from __future__ import annotations

import contextlib

import numpy as np

from dynconv import kernels, reference

__all__ = ["BACKENDS", "conv2d_forward", "conv2d_backward", "dynamic_conv2d_forward", "dynamic_conv2d_backward",
           "get_backend", "set_backend", "use"]

_FUNCTIONS = ("conv2d_forward", "conv2d_backward", "dynamic_conv2d_forward", "dynamic_conv2d_backward")


def _as_dtype(a, dtype):
    return None if a is None else a.astype(dtype, copy=False)


def _reference_pair(forward, backward):
    """``forward``/``backward`` of :mod:`dynconv.reference` with results in the inputs' dtype."""

    def fwd(x, k, b=None, *, pad=0, algorithm=None):
        # ``algorithm`` names a kernels algorithm; the reference has one (the literal loops).
        dtype = np.result_type(x, k)
        y, cache = forward(x, k, b, pad=pad)
        return y.astype(dtype, copy=False), (cache, dtype)

    def bwd(dy, cache, *, need_input_grad=True):
        cache, dtype = cache
        return tuple(_as_dtype(g, dtype) for g in backward(dy, cache, need_input_grad=need_input_grad))

    return fwd, bwd


#: Backend name -> its four functions.
BACKENDS = {
    "kernels": {name: getattr(kernels, name) for name in _FUNCTIONS},
    "reference": dict(zip(_FUNCTIONS, (*_reference_pair(reference.conv2d_forward, reference.conv2d_backward),
                                       *_reference_pair(reference.dynamic_conv2d_forward,
                                                        reference.dynamic_conv2d_backward)))),
}

_current = "kernels"
conv2d_forward = BACKENDS[_current]["conv2d_forward"]
conv2d_backward = BACKENDS[_current]["conv2d_backward"]
dynamic_conv2d_forward = BACKENDS[_current]["dynamic_conv2d_forward"]
dynamic_conv2d_backward = BACKENDS[_current]["dynamic_conv2d_backward"]


def get_backend() -> str:
    """The name of the backend layers use now."""
    return _current


def set_backend(name: str) -> str:
    """Make every layer use backend ``name`` (``"kernels"`` or ``"reference"``); returns the
    previous name."""
    global _current
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {name!r}")
    previous, _current = _current, name
    globals().update(BACKENDS[name])
    return previous


@contextlib.contextmanager
def use(name: str):
    """Use backend ``name`` inside a ``with`` block, then restore the previous one."""
    previous = set_backend(name)
    try:
        yield name
    finally:
        set_backend(previous)

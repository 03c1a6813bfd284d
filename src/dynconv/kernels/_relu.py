"""The numba loops behind :mod:`dynconv.kernels.relu`; never call these directly.

They trust their arguments (numba does not bounds-check): :mod:`dynconv.kernels.relu` passes
flat C-contiguous arrays of equal length. Work is cut into ``parts`` equal slices of the flat
arrays; a call handles slices ``[p0, p1)`` and writes only there, so the slices can run on
different threads. Each loop runs over a slice taken first (``a[e0:e1]``, then
``range(len)``): numba vectorises that form, not a loop over ``range(e0, e1)`` of the whole
array.
"""
from __future__ import annotations

import numba

_jit = numba.njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")


@_jit
def forward(x, y, mask, parts, p0, p1):
    """``y = max(x, 0)`` with NaN kept, ``mask = x > 0``, on slices ``[p0, p1)`` of ``parts``."""
    n = x.size
    e0, e1 = p0 * n // parts, p1 * n // parts
    xs, ys, ms = x[e0:e1], y[e0:e1], mask[e0:e1]
    for i in range(xs.size):
        v = xs[i]
        pos = v > 0
        ms[i] = pos
        # NaN is neither > 0 nor <= 0: it passes through, -inf and -0.0 become +0.
        ys[i] = v if (pos or v != v) else 0


@_jit
def backward(dy, mask, dx, parts, p0, p1):
    """``dx = dy where mask else 0`` (a select: an infinite ``dy`` on a masked-out element
    gives 0, never ``inf * 0 = NaN``), on slices ``[p0, p1)`` of ``parts``."""
    n = dy.size
    e0, e1 = p0 * n // parts, p1 * n // parts
    ds, ms, xs = dy[e0:e1], mask[e0:e1], dx[e0:e1]
    for i in range(ds.size):
        xs[i] = ds[i] if ms[i] else 0

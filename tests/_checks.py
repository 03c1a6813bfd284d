"""Numerical checks shared by the kernel tests: tolerances, relative error, finite-difference VJPs."""
from __future__ import annotations

import numpy as np

#: One tolerance table per dtype: max relative error of fast vs reference.
FAST_VS_REFERENCE = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}
#: Reference vs central finite differences (float64 only).
FINITE_DIFFERENCE = 1e-7


def rel_error(got, want):
    """Max absolute difference relative to the largest reference magnitude (normwise, so that
    entries that happen to be near zero do not make a correct result look wrong)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"shape {got.shape} != expected {want.shape}"
    scale = max(np.abs(want).max(initial=0.0), 1e-300)
    return float(np.abs(got - want).max(initial=0.0) / scale)


def assert_close(got, want, tol, what=""):
    err = rel_error(got, want)
    assert err <= tol, f"{what}: max relative error {err:.3e} > tolerance {tol:.1e}"


def fd_vjp(fun, args, index, dy, h=1e-5):
    """The vector–Jacobian product ``dy^T J`` w.r.t. ``args[index]`` by central differences.

    ``fun(*args)`` returns an array shaped like ``dy``; the scalar ``L = <dy, fun(*args)>`` is
    differentiated element by element: ``(L(a + h e_i) - L(a - h e_i)) / 2h``.
    """
    args = [np.array(a, dtype=np.float64, copy=True) if a is not None else None for a in args]
    a = args[index]
    grad = np.zeros_like(a)
    flat, gflat = a.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = np.vdot(dy, fun(*args))
        flat[i] = old - h
        down = np.vdot(dy, fun(*args))
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return grad

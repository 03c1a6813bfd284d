"""The machinery behind ``exercises.py``: ``try_it`` and the two comparisons the checks use.

Kept apart so that ``exercises.py`` holds only the checks themselves.
"""
from __future__ import annotations

import numpy as np


def try_it(check, fn):
    """Run ``check(fn)`` and print the verdict; returns True when the answer is right."""
    try:
        check(fn)
    except NotImplementedError:
        print(f"{check.__name__}: not attempted yet (the solution is in notebooks/solutions/)")
        return False
    except AssertionError as exc:
        print(f"{check.__name__}: not yet — {exc}")
        return False
    except Exception as exc:  # a bug in an attempt must not stop "Run all"
        print(f"{check.__name__}: your function raised {type(exc).__name__}: {exc}")
        return False
    print(f"{check.__name__}: correct")
    return True


def _close(got, want, what, tol=1e-9):
    got = np.asarray(got)
    if got.dtype.kind == "f":
        # A correct answer computed in float32 is only good to ~1e-7: never ask for more than its dtype holds.
        tol = max(tol, 100 * float(np.finfo(got.dtype).eps))
    got = got.astype(np.float64)
    assert got.shape == np.shape(want), f"{what}: shape {got.shape}, expected {np.shape(want)}"
    err = np.abs(got - want).max() / max(1.0, np.abs(want).max())
    assert err <= tol, f"{what}: off by {err:.2e} (relative)"


def _vjp_fd(f, x, g, h=1e-6):
    """Central differences of <g, f(x)> with respect to every entry of x."""
    out = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += h
        down[idx] -= h
        out[idx] = (np.vdot(g, f(up)) - np.vdot(g, f(down))) / (2 * h)
    return out

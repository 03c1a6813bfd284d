"""Checks for notebook 01's exercises (eq 1 by hand, eq 4's stable rates), like those of ``exercises.py``.

Kept in their own file so that ``exercises.py`` stays under the 400-line limit; ``exercises.py``
imports them and adds them to its ``EXERCISES``, so notebook 01 calls them as ``exercises.check_*``.
"""
from __future__ import annotations

import numpy as np

from dynconv import reference

#: Exercise 1's input and kernel (one channel, no padding, no bias).
EQ1_X = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 3.0], [2.0, 0.0, 1.0]])
EQ1_W = np.array([[1.0, -1.0], [2.0, 0.0]])


def check_eq1_by_hand(fn):
    """``fn()``: the 2x2 output of eq 1 for ``EQ1_X`` and ``EQ1_W``, worked out by hand."""
    want = reference.conv2d_forward(EQ1_X[None, None], EQ1_W[None, None], pad=0)[0][0, 0]
    got = np.asarray(fn(), dtype=np.float64)
    assert got.shape == want.shape, f"shape {got.shape}, expected {want.shape} (a 3x3 input, a 2x2 kernel)"
    flipped = reference.conv2d_forward(EQ1_X[None, None], EQ1_W[None, None, ::-1, ::-1].copy(), pad=0)[0][0, 0]
    assert not np.allclose(got, flipped) or np.allclose(got, want), (
        "that is a true convolution (the kernel turned by 180 degrees); eq 1 slides w as it is")
    wrong = [(r, c) for r in range(2) for c in range(2) if not np.isclose(got[r, c], want[r, c])]
    assert not wrong, f"y[r, c] is not right at (r, c) = {wrong}"


def check_stable_rate(fn):
    """``fn(a)``: the supremum of the rates alpha for which eq 4 on l(k) = a k^2 / 2 converges."""
    for a in (0.5, 1.0, 4.0, 30.0):
        got = float(fn(a))
        for alpha, converges in ((0.99 * got, True), (1.01 * got, False)):
            k = 1.0
            for _ in range(4000):
                k -= alpha * a * k  # eq 4: dl/dk = a k
            shrank = abs(k) < 1e-3
            assert shrank == converges, (
                f"a = {a}: with alpha = {alpha:.4g} ({'just below' if converges else 'just above'} your "
                f"{got:.4g}) the iterates {'do not shrink' if converges else 'still shrink'}")


EXERCISES_01 = {
    check_eq1_by_hand: ("01", "eq1_by_hand"),
    check_stable_rate: ("01", "stable_rate"),
}

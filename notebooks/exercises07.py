"""Checks for notebook 07's exercises (``PeriodicityPool``), like those of ``exercises.py``.

Kept in their own file so that ``exercises.py`` stays under the 400-line limit; ``exercises.py``
imports them and adds them to its ``EXERCISES``, so notebook 07 calls them as ``exercises.check_*``.
"""
from __future__ import annotations

import numpy as np

from exercise_tools import _close, _vjp_fd


def profile_magnitudes(profile, periods):
    """Step 3's forward: ``|A_q|``, with A_q = (1/n) sum_r profile[r] exp(-2 pi i r / q), for each q.

    ``profile`` (n,) real, ``periods`` a sequence of n_q periods -> (n_q,).
    """
    r = np.arange(len(profile))
    return np.array([abs(np.mean(profile * np.exp(-2j * np.pi * r / q))) for q in periods])


def laplacian(x):
    """§2's valid 5-point Laplacian of every sample and channel: (N, C, H, W) -> (N, C, H-2, W-2)."""
    return (4 * x[:, :, 1:-1, 1:-1] - x[:, :, :-2, 1:-1] - x[:, :, 2:, 1:-1]
            - x[:, :, 1:-1, :-2] - x[:, :, 1:-1, 2:])


def check_magnitude_backward(fn):
    """``fn(profile, periods, d_mag)`` -> ``d_profile`` (n,): step 3, dl/dpi_r of the magnitudes
    :func:`profile_magnitudes` for the upstream gradient ``d_mag`` = dl/d|A_q| (n_q,)."""
    rng = np.random.default_rng(21)
    for n, periods in [(31, (2, 3, 4)), (12, (3,)), (9, (2, 2.5, 6))]:
        profile, d_mag = rng.random(n) + 0.5, rng.standard_normal(len(periods))
        want = _vjp_fd(lambda p: profile_magnitudes(p, periods), profile, d_mag)
        got = fn(profile.copy(), periods, d_mag.copy())
        what = f"dl/dpi for n = {n}, periods {periods}"
        assert not np.iscomplexobj(got), f"{what}: complex; the gradient of a real profile is real"
        _close(got, want, what, tol=1e-7)


def check_laplacian_transpose(fn):
    """``fn(g)`` -> ``dx`` (N, C, H, W): step 6, dl/dx of :func:`laplacian` for the upstream
    gradient ``g`` = dl/d(Delta x) (N, C, H-2, W-2)."""
    rng = np.random.default_rng(22)
    for shape in [(2, 1, 6, 7), (1, 3, 3, 3), (1, 1, 4, 9)]:
        x = rng.standard_normal(shape)
        g = rng.standard_normal(laplacian(x).shape)
        want, got = _vjp_fd(laplacian, x, g), fn(g.copy())
        assert np.shape(got) == shape, f"dx has shape {np.shape(got)}, expected the input's {shape}"
        border = np.ones(shape[2:], bool)
        border[1:-1, 1:-1] = False
        assert np.any(np.asarray(got)[..., border]), \
            f"dx for {shape}: zero on the border, yet the Laplacian reads the border pixels"
        _close(got, want, f"dx for an input of shape {shape}", tol=1e-7)


def check_alias_period(fn):
    """``fn(s)``: the period, at least 2 pixels, at which a factor ``s`` > 1 leaves its fingerprint
    on integer pixels."""
    for s in (4.0, 3.0, 2.5, 2.0, 1.75, 1.5, 1.25, 1.2):
        period = max(s, s / (s - 1))
        got = fn(s)
        assert np.ndim(got) == 0, f"s = {s}: return one number, got shape {np.shape(got)}"
        if float(got) < 2:
            raise AssertionError(f"s = {s}: period {float(got):g} is under 2 pixels, which integer "
                                 "pixels cannot show (it aliases)")
        _close(np.asarray(got), period, f"the period for s = {s}")


#: Notebook 07's exercises, added to ``exercises.EXERCISES``.
EXERCISES_07 = {
    check_magnitude_backward: ("07", "magnitude_backward"),
    check_laplacian_transpose: ("07", "laplacian_transpose"),
    check_alias_period: ("07", "alias_period"),
}

r"""Periodicity pooling: the fingerprint bicubic upsampling leaves in an image.

An image upsampled by a factor :math:`s` is an interpolation of a grid with period :math:`s`:
output pixels that fall on (or near) low-resolution samples stay sharp, the ones in between are
smoothed, so the local high-frequency energy is *cyclostationary* (its statistics repeat) with
period :math:`s`. The Fourier coefficient of the energy profile at frequency :math:`1/s`
measures it; its magnitude does not depend on where the window starts when the profile length
is a multiple of the period, and changes little otherwise (notebook 07 measures by how much).
For :math:`s < 2` that frequency lies above the profile's Nyquist limit and shows at its alias
:math:`1 - 1/s`, the period :math:`s/(s-1)` (x1.5 at period 3, x1.25 at period 5), so periods in
:math:`[2, \infty)` cover every factor; telling x1.5 from x3 is then left to the blur level that
B's other features measure. Network B uses these statistics to tell the upscaling factor from
the image alone (see ``docs/discussion.md``). Derivation of the backward pass: notebook
``07_appendix_periodicity``.
"""
from __future__ import annotations

import math

import numpy as np

from .base import Layer, check_positive, shape_str

ENERGIES = ("laplacian", "gradient")
AXES = ("separate", "mean")


def _lap(x):
    """5-point Laplacian, valid: (N, C, H-2, W-2)."""
    return (4 * x[:, :, 1:-1, 1:-1] - x[:, :, :-2, 1:-1] - x[:, :, 2:, 1:-1]
            - x[:, :, 1:-1, :-2] - x[:, :, 1:-1, 2:])


def _energy(x, kind):
    """Local energy map and what its backward needs. ``laplacian``: (Δx)² on (H-2)×(W-2);
    ``gradient``: forward differences gx² + gy² on (H-1)×(W-1). The stencils run in x's dtype,
    the energies in float64."""
    if kind == "laplacian":
        lap = _lap(x).astype(np.float64)
        return lap * lap, (lap,)
    gx = (x[:, :, :-1, 1:] - x[:, :, :-1, :-1]).astype(np.float64)
    gy = (x[:, :, 1:, :-1] - x[:, :, :-1, :-1]).astype(np.float64)
    return gx * gx + gy * gy, (gx, gy)


def _energy_backward(de, saved, kind, shape):
    """∂l/∂x from ∂l/∂e (the adjoint of the stencils in :func:`_energy`)."""
    dx = np.zeros(shape, np.float64)
    if kind == "laplacian":
        dlap = 2 * saved[0] * de
        dx[:, :, 1:-1, 1:-1] += 4 * dlap
        for sl in ((slice(None, -2), slice(1, -1)), (slice(2, None), slice(1, -1)),
                   (slice(1, -1), slice(None, -2)), (slice(1, -1), slice(2, None))):
            dx[:, :, sl[0], sl[1]] -= dlap
        return dx
    gx, gy = saved
    dgx, dgy = 2 * gx * de, 2 * gy * de
    dx[:, :, :-1, 1:] += dgx
    dx[:, :, :-1, :-1] -= dgx + dgy
    dx[:, :, 1:, :-1] += dgy
    return dx


class PeriodicityPool(Layer):
    r"""Per channel, how strongly the local sharpness repeats with each period.

    For each sample and channel of ``x`` (N, C, H, W) and each energy map
    (``laplacian``: :math:`e = (\Delta x)^2`, valid (H-2)×(W-2); ``gradient``:
    :math:`e = (\partial_x x)^2 + (\partial_y x)^2` with forward differences, (H-1)×(W-1)):

    .. math::

        r_a = \operatorname{mean}_b e_{ab}, \quad
        A_p = \frac{1}{n}\sum_{a=0}^{n-1} r_a\, e^{-2\pi \mathrm{i}\, a/p}, \quad
        \rho_p = \frac{|A_p|}{\bar e + \delta}, \quad
        y_p = \log(1 + \rho_p/\varepsilon)

    and the same along columns. ``axes="separate"`` outputs rows and columns apart,
    ``axes="mean"`` the mean of their :math:`\rho_p` (upsampling is the same along both axes;
    the mean halves the noise). Output (N, C·E·A·P) ordered (channel, energy, axis, period),
    with E energies and A = 2 or 1 axes.

    Parameters
    ----------
    periods : sequence of float
        The periods :math:`p \ge 2` measured, in pixels; real periods are allowed (a factor
        p/q repeats every p pixels with fundamental period p/q). Default 2, 3, 4.
    eps : float
        ε, the ratio below which periodicity counts as absent (y ≈ ρ/ε there).
    energies : sequence of {"laplacian", "gradient"}
    axes : {"separate", "mean"}
    """

    DELTA = 1e-8  # keeps a flat window (zero energy) finite

    def __init__(self, periods=(2, 3, 4), eps=0.01, energies=("laplacian",), axes="separate"):
        super().__init__()
        what = f"periods must be a non-empty sequence of real numbers >= 2, got {periods!r}"
        try:
            periods = tuple(periods)
        except TypeError:
            raise TypeError(what) from None
        for p in periods:
            if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer, np.floating)):
                raise TypeError(what)
        if not periods or not all(math.isfinite(p) and p >= 2 for p in periods):
            raise ValueError(what)
        if isinstance(energies, str) or not energies or any(e not in ENERGIES for e in energies) \
                or len(set(energies)) != len(energies):
            raise ValueError(f"energies must be distinct names from {ENERGIES}, got {energies!r}")
        if axes not in AXES:
            raise ValueError(f"axes must be one of {AXES}, got {axes!r}")
        # Integral periods stay ints (the repr and configs of older models are unchanged).
        self.periods = tuple(int(p) if float(p).is_integer() else float(p) for p in periods)
        self.eps, self.energies, self.axes = check_positive(eps, "eps"), tuple(energies), axes

    @property
    def _n_axes(self):
        return 2 if self.axes == "separate" else 1

    def output_shape(self, *shapes):
        self._check_arity(shapes, 1, "one input x")
        s = tuple(shapes[0])
        if len(s) != 4 or s[2] < 3 or s[3] < 3:
            raise ValueError(f"{self.name}: input x: expected shape (N, C, H, W) with H, W >= 3, "
                             f"got {shape_str(s)}")
        return (s[0], s[1] * len(self.energies) * self._n_axes * len(self.periods))

    def _waves(self, n):
        """(P, n) complex: exp(-2πi·k/p) / n for each period p."""
        k = np.arange(n)
        return np.exp(-2j * np.pi * k[None, :] / np.array(self.periods, np.float64)[:, None]) / n

    def forward(self, *inputs):
        self._check_arity(inputs, 1, "one input x")
        (x,) = self._inputs(inputs, ["x"])  # bool and int images become float64
        self.output_shape(x.shape)
        ys, saved = [], []
        for kind in self.energies:
            e, keep = _energy(x, kind)
            mean = e.mean(axis=(2, 3))  # (N, C)
            profiles = (e.mean(axis=3), e.mean(axis=2))  # rows (N, C, n_r), cols (N, C, n_c)
            A = np.stack([prof @ self._waves(prof.shape[-1]).T for prof in profiles], axis=2)  # (N, C, 2, P)
            rho = np.abs(A) / (mean[:, :, None, None] + self.DELTA)
            if self.axes == "mean":
                rho = rho.mean(axis=2, keepdims=True)
            ys.append(np.log1p(rho / self.eps))  # (N, C, A, P)
            saved.append((e.shape, keep, mean, A, rho))
        y = np.stack(ys, axis=2).reshape(x.shape[0], -1).astype(x.dtype)
        self._save((x.shape, x.dtype, saved), y)
        return y

    def backward(self, dy):
        (shape, dtype, saved), dy = self._take(dy)
        if not self.needs_grad(0):
            return (None,)
        N, C = shape[:2]
        P = len(self.periods)
        dy = np.asarray(dy, np.float64).reshape(N, C, len(self.energies), self._n_axes, P)
        dx = np.zeros(shape, np.float64)
        for k, (kind, (eshape, keep, mean, A, rho)) in enumerate(zip(self.energies, saved)):
            n_r, n_c = eshape[2:]
            drho = dy[:, :, k] / (self.eps + rho)  # (N, C, A, P)
            denom = mean[:, :, None, None] + self.DELTA
            dmean = -(drho * rho / denom).sum(axis=(2, 3))  # ∂ρ/∂ē = -ρ / (ē + δ)
            if self.axes == "mean":
                drho = np.repeat(drho / 2, 2, axis=2)
            # ∂|A|/∂r_i = Re(conj(A) · w_i) / |A|, with w_i = exp(-2πi·i/p)/n.
            g = drho / denom * np.conj(A) / np.maximum(np.abs(A), 1e-300)  # (N, C, 2, P)
            drow = np.real(g[:, :, 0] @ self._waves(n_r))  # (N, C, n_r)
            dcol = np.real(g[:, :, 1] @ self._waves(n_c))  # (N, C, n_c)
            de = (drow[:, :, :, None] / n_c + dcol[:, :, None, :] / n_r
                  + dmean[:, :, None, None] / (n_r * n_c))
            dx += _energy_backward(de, keep, kind, shape)
        return (dx.astype(dtype),)

    def macs(self, *shapes):
        N, C, H, W = shapes[0]
        return N * C * (H - 1) * (W - 1) * len(self.energies) * (6 + 2 * 2 * len(self.periods))

    def __repr__(self):
        extra = "" if self.energies == ("laplacian",) else f", energies={self.energies}"
        extra += "" if self.axes == "separate" else f", axes={self.axes!r}"
        return f"PeriodicityPool(periods={self.periods}, eps={self.eps}{extra})"

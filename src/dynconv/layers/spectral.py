r"""Periodicity pooling: the fingerprint integer-factor bicubic upsampling leaves in an image.

An image upsampled by an integer factor :math:`s` is an interpolation of a grid with period
:math:`s`: output pixels that fall on (or near) low-resolution samples stay sharp, the ones in
between are smoothed, so the local high-frequency energy is *cyclostationary* with period
:math:`s`. The Fourier coefficient of the energy profile at frequency :math:`1/s` measures it,
independently of where the window starts (the magnitude is shift invariant). Network B uses
these statistics to tell the upscaling factor from the image alone (see
``docs/discussion.md``): spectral energy alone confuses x3 with x4, the period does not.
Derivation of the backward pass: notebook ``02_dynamic_convolution``, section "Beyond the paper".
"""
from __future__ import annotations

import numpy as np

from .base import Layer, check_count, check_positive, shape_str


class PeriodicityPool(Layer):
    r"""Per channel and axis, how strongly the Laplacian energy repeats with each period.

    For each sample and channel of ``x`` (N, C, H, W):

    .. math::

        e_{ij} = (\Delta x)_{ij}^2, \quad
        \Delta x_{ij} = 4x_{ij} - x_{i-1,j} - x_{i+1,j} - x_{i,j-1} - x_{i,j+1}
        \text{ (valid: } (H-2)\times(W-2)\text{)}

        r_i = \operatorname{mean}_j e_{ij}, \quad
        A_p = \frac{1}{n}\sum_{i=0}^{n-1} r_i\, e^{-2\pi \mathrm{i}\, i/p}, \quad
        \rho_p = \frac{|A_p|}{\bar e + \delta}, \quad
        y_p = \log(1 + \rho_p/\varepsilon)

    and the same along columns. Output (N, C·2·P) ordered (channel, axis [rows, cols], period).

    Parameters
    ----------
    periods : sequence of int
        The periods measured (default 2, 3, 4: the factors DCNN is trained on).
    eps : float
        ε, the ratio below which periodicity counts as absent (y ≈ ρ/ε there).
    """

    DELTA = 1e-8  # keeps a flat window (zero energy) finite

    def __init__(self, periods=(2, 3, 4), eps=0.01):
        super().__init__()
        try:
            periods = tuple(periods)
        except TypeError:
            raise TypeError(f"periods must be a sequence of integers >= 2, got {periods!r}") from None
        try:
            periods = tuple(check_count(p, "period", low=2) for p in periods)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"periods must be integers >= 2, got {periods!r}") from None
        if not periods:
            raise ValueError(f"periods must be integers >= 2, got {periods!r}")
        self.periods, self.eps = periods, check_positive(eps, "eps")

    def output_shape(self, *shapes):
        self._check_arity(shapes, 1, "one input x")
        s = tuple(shapes[0])
        if len(s) != 4 or s[2] < 3 or s[3] < 3:
            raise ValueError(f"{self.name}: input x: expected shape (N, C, H, W) with H, W >= 3, "
                             f"got {shape_str(s)}")
        return (s[0], s[1] * 2 * len(self.periods))

    def _waves(self, n):
        """(P, n) complex: exp(-2πi·k/p) / n for each period p."""
        k = np.arange(n)
        return np.exp(-2j * np.pi * k[None, :] / np.array(self.periods)[:, None]) / n

    def forward(self, *inputs):
        self._check_arity(inputs, 1, "one input x")
        (x,) = self._inputs(inputs, ["x"])  # bool and int images become float64
        self.output_shape(x.shape)
        lap = (4 * x[:, :, 1:-1, 1:-1] - x[:, :, :-2, 1:-1] - x[:, :, 2:, 1:-1]
               - x[:, :, 1:-1, :-2] - x[:, :, 1:-1, 2:]).astype(np.float64)
        e = lap * lap
        mean = e.mean(axis=(2, 3))  # (N, C)
        profiles = (e.mean(axis=3), e.mean(axis=2))  # rows (N, C, n_r), cols (N, C, n_c)
        amps = [prof @ self._waves(prof.shape[-1]).T for prof in profiles]  # (N, C, P) complex
        A = np.stack(amps, axis=2)  # (N, C, 2, P)
        rho = np.abs(A) / (mean[:, :, None, None] + self.DELTA)
        y = np.log1p(rho / self.eps).reshape(x.shape[0], -1).astype(x.dtype)
        self._save((x.shape, x.dtype, lap, mean, A, rho), y)
        return y

    def backward(self, dy):
        (shape, dtype, lap, mean, A, rho), dy = self._take(dy)
        if not self.needs_grad(0):
            return (None,)
        N, C, H, W = shape
        n_r, n_c = H - 2, W - 2
        dy = np.asarray(dy, np.float64).reshape(N, C, 2, len(self.periods))
        drho = dy / (self.eps + rho)
        denom = mean[:, :, None, None] + self.DELTA
        absA = np.maximum(np.abs(A), 1e-300)
        dabs = drho / denom  # ∂l/∂|A_p|
        dmean = -(drho * rho / denom).sum(axis=(2, 3))  # ∂ρ/∂ē = -ρ / (ē + δ)
        # ∂|A|/∂r_i = Re(conj(A) · w_i) / |A|, with w_i = exp(-2πi·i/p)/n.
        g = dabs * np.conj(A) / absA  # (N, C, 2, P)
        drow = np.real(g[:, :, 0] @ self._waves(n_r))  # (N, C, n_r)
        dcol = np.real(g[:, :, 1] @ self._waves(n_c))  # (N, C, n_c)
        de = (drow[:, :, :, None] / n_c + dcol[:, :, None, :] / n_r
              + dmean[:, :, None, None] / (n_r * n_c))
        dlap = 2 * lap * de
        dx = np.zeros(shape, np.float64)
        dx[:, :, 1:-1, 1:-1] += 4 * dlap
        dx[:, :, :-2, 1:-1] -= dlap
        dx[:, :, 2:, 1:-1] -= dlap
        dx[:, :, 1:-1, :-2] -= dlap
        dx[:, :, 1:-1, 2:] -= dlap
        return (dx.astype(dtype),)

    def macs(self, *shapes):
        N, C, H, W = shapes[0]
        return N * C * (H - 2) * (W - 2) * (6 + 2 * 2 * len(self.periods))

    def __repr__(self):
        return f"PeriodicityPool(periods={self.periods}, eps={self.eps})"

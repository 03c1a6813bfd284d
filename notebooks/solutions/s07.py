"""Solutions to notebook 07's exercises."""
import numpy as np


def magnitude_backward(profile, periods, d_mag):
    """Exercise 1: step 3 for every period at once. With the waves w[q, r] = exp(-2 pi i r / q) / n,
    A = w @ profile, and d|A_q|/dpi_r = Re(conj(A_q) w[q, r]) / |A_q|, so
    dl/dpi = Re(z @ w) with z_q = dl/d|A_q| conj(A_q) / |A_q|: the forward's matrix, once more."""
    n = len(profile)
    waves = np.exp(-2j * np.pi * np.outer(1 / np.asarray(periods, dtype=float), np.arange(n))) / n
    A = waves @ profile
    z = d_mag * np.conj(A) / np.abs(A)
    return np.real(z @ waves)


def laplacian_transpose(g):
    """Exercise 2: step 6. The forward gathers five pixels into each Delta x[r, c]; its transpose
    scatters g[r, c] back to the same five, +4 to the centre and -1 to each neighbour, with +=
    (pixels on the border receive only from their inner neighbours)."""
    N, C, h, w = g.shape
    dx = np.zeros((N, C, h + 2, w + 2), dtype=g.dtype)
    dx[:, :, 1:-1, 1:-1] += 4 * g
    dx[:, :, :-2, 1:-1] -= g
    dx[:, :, 2:, 1:-1] -= g
    dx[:, :, 1:-1, :-2] -= g
    dx[:, :, 1:-1, 2:] -= g
    return dx


def alias_period(s):
    """Exercise 3: the fingerprint has frequency f = 1/s cycles per pixel. On integer pixels f and
    1 - f look the same, and the one at most 1/2 is what a profile shows: period 1/min(f, 1 - f),
    which is s for s >= 2 and 1/(1 - 1/s) = s/(s - 1) below (x1.5 repeats every 3 pixels)."""
    return max(s, s / (s - 1))

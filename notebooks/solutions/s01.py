"""Solutions to notebook 01's exercises."""
import numpy as np
from scipy import signal


def eq3_literal(g, x, pad):
    """Exercise 1: eq 3 as written, sum over t of g[t, j] * x~[t, i], a true (valid) convolution.

    Why the flip: (g * x~)[u, v] = sum_rc g[r, c] x~[u + Ho-1-r, v + Wo-1-c]
    = sum_rc g[r, c] xp[(kh-1-u) + r, (kw-1-v) + c] = dw[kh-1-u, kw-1-v]. Eq 3 as written is our
    dw rotated by 180 degrees: the gradient of the kernel of a *convolution* forward pass.
    """
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    N, F = g.shape[:2]
    C = x.shape[1]
    return np.array([[sum(signal.convolve2d(xp[t, i, ::-1, ::-1], g[t, j], mode="valid") for t in range(N))
                      for i in range(C)] for j in range(F)])


def stride2_input_grad(g, w, x_shape):
    """Exercise 2: dx for stride 2 (pad 0). The stride-2 output is the stride-1 output at even
    positions, so its gradient is the stride-1 gradient with g spread onto the even positions
    (zeros in between, a "dilated" g) — then eq 2 as usual: a full convolution with the kernel."""
    N, C, H, W = x_shape
    F, _, kh, kw = w.shape
    g1 = np.zeros((N, F, H - kh + 1, W - kw + 1))
    g1[:, :, ::2, ::2] = g
    dx = np.zeros(x_shape)
    for t in range(N):
        for i in range(C):
            for j in range(F):
                dx[t, i] += signal.convolve2d(g1[t, j], w[j, i], mode="full")
    return dx


def flip_blind_kernel(kh, kw):
    """Exercise 3: a kernel equal to its own 180-degree rotation, e.g. w + rot180(w). For it,
    correlating and convolving are the same, so a backward that forgets the flip gives the right
    dx and gradcheck cannot tell — test with random (asymmetric) kernels."""
    w = np.arange(1.0, kh * kw + 1).reshape(kh, kw)
    return w + w[::-1, ::-1]

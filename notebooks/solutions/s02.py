"""Solutions to notebook 02's exercises."""
import numpy as np
from scipy import signal


def dynamic_1x1(x, k):
    """Exercise 1: a dynamic 1x1 layer, y[t, j] = sum_i k[t, j, i] x[t, i] (eq 5 with 1x1 kernels).

    Eq 6: dx[t, i] = sum_j k[t, j, i] dy[t, j]; eq 7, per sample: dk[t, j, i] = sum_rc dy[t, j] x[t, i].
    """
    y = np.einsum("tji,tihw->tjhw", k, x)

    def backward(dy):
        return np.einsum("tji,tjhw->tihw", k, dy), np.einsum("tjhw,tihw->tji", dy, x)

    return y, backward


def eq7_literal(dy, x, pad):
    """Exercise 2: eq 7 as written, per sample: dy[t, j] * x~[t, i] (valid true convolution).
    It is dk rotated by 180 degrees, for the same reason as eq 3 (notebook 01, exercise 1)."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    N, F = dy.shape[:2]
    C = x.shape[1]
    return np.array([[[signal.convolve2d(xp[t, i, ::-1, ::-1], dy[t, j], mode="valid") for i in range(C)]
                      for j in range(F)] for t in range(N)])

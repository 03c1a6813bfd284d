"""Solutions to notebook 01's exercises."""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv1d_input_grad(dy, w, pad):
    """Exercise 1: y[r] = sum_u w[u] xp[r + u], so xp[m] receives dy[r] w[u] wherever r + u = m:
    dl/dxp[m] = sum_u w[u] dy[m - u], a full *convolution* of dy with w. Crop the padding."""
    dxp = np.convolve(dy, w, mode="full")
    return dxp[pad:len(dxp) - pad]


def conv1d_kernel_grad(dy, x, taps, pad):
    """Exercise 2: dl/dw[u] = sum_r dy[r] xp[r + u], a valid *correlation* of xp with dy (``taps`` long)."""
    xp = np.pad(x, pad)
    return np.array([np.dot(dy, xp[u:u + len(dy)]) for u in range(taps)])


def conv2d_grads(dy, x, w, pad):
    """Exercise 3: eqs 2 and 3 with no Python loop over pixels. Every (kh, kw) window of the padded
    input, ``windows[t, i, r, c, u, v] = xp[t, i, r + u, c + v]``, makes eq 3 one ``einsum``; eq 2
    is the same windows taken of dy padded by (k - 1), with the kernel flipped and j, i swapped."""
    kh, kw = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dw = np.einsum("tjrc,tircuv->jiuv", dy, sliding_window_view(xp, (kh, kw), axis=(2, 3)))
    dyp = np.pad(dy, ((0, 0), (0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)))
    dxp = np.einsum("tjmnuv,jiuv->timn", sliding_window_view(dyp, (kh, kw), axis=(2, 3)),
                    w[:, :, ::-1, ::-1])
    H, W = x.shape[2:]
    return dxp[:, :, pad:pad + H, pad:pad + W], dw


def predict_eq3(dw):
    """Exercise 4: a true convolution of dy with the flipped padded input is eq 3 as printed,
    our kernel gradient rotated by 180 degrees (notebook 01, section 3)."""
    return dw[::-1, ::-1]

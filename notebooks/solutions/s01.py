"""Solutions to notebook 01's exercises."""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import signal


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


def stride2_input_grad(dy, w, x_shape):
    """Exercise 5: dx for stride 2 (pad 0). The stride-2 output is the stride-1 output at even
    positions, so its gradient is the stride-1 gradient with dy spread onto the even positions
    (zeros in between, a "dilated" dy) — then eq 2 as usual: a full convolution with the kernel."""
    N, C, H, W = x_shape
    F, _, kh, kw = w.shape
    dy1 = np.zeros((N, F, H - kh + 1, W - kw + 1))
    dy1[:, :, ::2, ::2] = dy
    dx = np.zeros(x_shape)
    for t in range(N):
        for i in range(C):
            for j in range(F):
                dx[t, i] += signal.convolve2d(dy1[t, j], w[j, i], mode="full")
    return dx


def flip_blind_kernel(kh, kw):
    """Exercise 6: a kernel equal to its own 180-degree rotation, e.g. w + rot180(w). For it,
    correlating and convolving are the same, so a backward that forgets the flip gives the right
    dx and gradcheck cannot tell — test with random (asymmetric) kernels."""
    w = np.arange(1.0, kh * kw + 1).reshape(kh, kw)
    return w + w[::-1, ::-1]

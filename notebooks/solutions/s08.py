"""Solutions to notebook 08's exercises."""
import numpy as np
from scipy import signal


def euclidean_grads(pred, target):
    """Exercise 1: L = sum (pred - target)**2 / (2N), so dL/dpred = (pred - target) / N (the 1/2
    cancels the square's 2) and dL/dtarget is its negative."""
    dpred = (pred - target) / len(pred)
    return dpred, -dpred


def center_crop_backward(dy, x_shape):
    """Exercise 2: dy put back into the window the forward pass kept, zeros elsewhere. The window
    starts at (H - h) // 2, (W - w) // 2: the extra row/column of an odd difference is below/right."""
    H, W = x_shape[2:]
    h, w = dy.shape[2:]
    top, left = (H - h) // 2, (W - w) // 2
    dx = np.zeros(x_shape)
    dx[:, :, top:top + h, left:left + w] = dy
    return dx


def stride2_input_grad(dy, w, x_shape):
    """Exercise 3: dx for stride 2 (pad 0). The stride-2 output is the stride-1 output at even
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
    """Exercise 4: a kernel equal to its own 180-degree rotation, e.g. w + rot180(w). For it,
    correlating and convolving are the same, so a backward that forgets the flip gives the right
    dx and gradcheck cannot tell — test with random (asymmetric) kernels."""
    w = np.arange(1.0, kh * kw + 1).reshape(kh, kw)
    return w + w[::-1, ::-1]

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
    It is dk rotated by 180 degrees, for the same reason as eq 3 as printed (notebook 01, §3)."""
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    N, F = dy.shape[:2]
    C = x.shape[1]
    return np.array([[[signal.convolve2d(xp[t, i, ::-1, ::-1], dy[t, j], mode="valid") for i in range(C)]
                      for j in range(F)] for t in range(N)])


def dynamic_backward_batched(dy, x, k, pad):
    """Exercise 3: eqs 6 and 7 for all samples at once — the einsums of s06.conv2d_grads with
    the sample index t kept on the kernel: dk[t] is never summed over t, dx[t] uses k[t]."""
    from numpy.lib.stride_tricks import sliding_window_view

    kh, kw = k.shape[-2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dk = np.einsum("tjrc,tircuv->tjiuv", dy, sliding_window_view(xp, (kh, kw), axis=(2, 3)))
    dyp = np.pad(dy, ((0, 0), (0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)))
    dxp = np.einsum("tjmnuv,tjiuv->timn", sliding_window_view(dyp, (kh, kw), axis=(2, 3)),
                    k[..., ::-1, ::-1])
    H, W = x.shape[2:]
    return dxp[:, :, pad:pad + H, pad:pad + W], dk


def tied_kernels(dynamic_backward, dy, x, w, pad):
    """Exercise 4: give every sample the kernel w; by the chain rule the shared w collects the
    sum of the per-sample gradients, dl/dw = sum_t dl/dk^t — eq 3's batch sum (not a mean)."""
    k = np.broadcast_to(w, (len(x), *w.shape)).copy()
    _, dk = dynamic_backward(dy, x, k, pad)
    return dk.sum(axis=0)

"""Solutions to notebook 06's exercises."""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def wide_grid_cost(Hp, Wp, kh, kw):
    """Exercise 1: the wide grid computes L = (Ho - 1) Wp + Wo positions for Ho Wo outputs.

    The ratio is L / (Ho Wo) (1.307 for 9x9 on 33x33); the cropped fraction of the work is
    1 - Ho Wo / L (23 % there), not the ratio minus one.
    """
    Ho, Wo = Hp - kh + 1, Wp - kw + 1
    L = (Ho - 1) * Wp + Wo
    return L / (Ho * Wo), 1 - Ho * Wo / L


def kn2row_dynamic_dk(dy, x, pad, kh, kw):
    """Exercise 2: eq 7 by kn2row. Per sample and tap, dk[t, :, :, u, v] = D_t X_t[:, o:o+L]^T
    with D_t the output gradient on the wide grid (zero in the wrapped columns) — the static
    dw of notebook 06 section 2, except that the sample sum is not taken: each sample keeps
    its own kernel gradient."""
    N, C, H, W = x.shape
    F, (Ho, Wo) = dy.shape[1], dy.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    Hp, Wp = xp.shape[2:]
    L = (Ho - 1) * Wp + Wo
    dk = np.zeros((N, F, C, kh, kw))
    for t in range(N):
        X = xp[t].reshape(C, Hp * Wp)
        D = np.zeros((F, Ho, Wp))
        D[:, :, :Wo] = dy[t]  # the wrapped positions fed nothing
        D = D.reshape(F, -1)[:, :L]
        for u in range(kh):
            for v in range(kw):
                o = u * Wp + v
                dk[t, :, :, u, v] = D @ X[:, o:o + L].T
    return dk

def conv1d_input_grad(dy, w, pad):
    """Exercise 3: y[r] = sum_u w[u] xp[r + u], so xp[m] receives dy[r] w[u] wherever r + u = m:
    dl/dxp[m] = sum_u w[u] dy[m - u], a full *convolution* of dy with w. Crop the padding."""
    dxp = np.convolve(dy, w, mode="full")
    return dxp[pad:len(dxp) - pad]


def conv1d_kernel_grad(dy, x, taps, pad):
    """Exercise 4: dl/dw[u] = sum_r dy[r] xp[r + u], a valid *correlation* of xp with dy (``taps`` long)."""
    xp = np.pad(x, pad)
    return np.array([np.dot(dy, xp[u:u + len(dy)]) for u in range(taps)])


def conv2d_grads(dy, x, w, pad):
    """Exercise 5: eqs 2 and 3 with no Python loop over pixels. Every (kh, kw) window of the padded
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
    """Exercise 6: a true convolution of dy with the flipped padded input is eq 3 as printed,
    our kernel gradient rotated by 180 degrees (notebook 01, section 3)."""
    return dw[::-1, ::-1]

"""Solutions to notebook 06's exercises."""
import numpy as np


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

"""Solutions to notebook 01's exercises."""


def eq1_by_hand():
    """Exercise 1: y[r, c] = sum_uv w[u, v] x[r + u, c + v] (eq 1 with one channel, no padding):
    y[0, 0] = 1*1 + (-1)*2 + 2*0 + 0*1 = -1, y[0, 1] = 2 - 0 + 2 + 0 = 4,
    y[1, 0] = 0 - 1 + 4 + 0 = 3, y[1, 1] = 1 - 3 + 0 + 0 = -2."""
    return [[-1.0, 4.0], [3.0, -2.0]]


def stable_rate(a):
    """Exercise 2: eq 4 on l = a k^2 / 2 is k <- k - alpha a k = (1 - alpha a) k, which shrinks to 0
    from any start exactly when |1 - alpha a| < 1, i.e. 0 < alpha < 2 / a."""
    return 2.0 / a

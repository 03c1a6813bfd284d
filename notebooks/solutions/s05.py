"""Solutions to notebook 05's exercises."""
import math

import numpy as np

from dynconv import sr


def psnr_shaved(ref, est, scale):
    """Exercise 1: the protocol's PSNR: shave ceil(scale) pixels, then 10 log10(255^2 / MSE)."""
    s = math.ceil(scale)
    a = np.asarray(ref, dtype=np.float64)[s:-s, s:-s]
    b = np.asarray(est, dtype=np.float64)[s:-s, s:-s]
    return 10 * math.log10(255.0**2 / np.mean((a - b) ** 2))


def register_unsharp():
    """Exercise 2: one call puts a method in the registry; evaluate, upscale, demo and reproduce
    (and their help texts) then know it by name. A method is ``f(up, scale)``: ``unsharp`` itself
    would take the scale for its ``amount``."""
    from exercises import unsharp

    sr.register("unsharp", lambda: (lambda up, scale: unsharp(up)), "unsharp masking of the bicubic image")

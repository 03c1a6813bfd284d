"""Solutions to notebook 04's exercises."""
import math

import numpy as np


def scale_weights(inputs, labels, scales):
    """Exercise 1: weight each scale by 1 / its bicubic MSE (the input's centre is the bicubic
    estimate of the label), normalised so that the mean weight over the samples is 1."""
    b = (inputs.shape[-1] - labels.shape[-1]) // 2
    centre = inputs[:, :, b:inputs.shape[-2] - b, b:inputs.shape[-1] - b].astype(np.float64)
    inv = {float(s): 1.0 / np.mean((centre[scales == s] - labels[scales == s]) ** 2) for s in np.unique(scales)}
    mean = sum(inv[float(s)] for s in scales) / len(scales)
    return {s: w / mean for s, w in inv.items()}


def cosine_lr(t, total, min_factor):
    """Exercise 2: f(t) = m + (1 - m) (1 + cos(pi min(t, T) / T)) / 2, T = total. Its slope,
    -(1 - m) pi sin(pi t / T) / (2 T), is steepest at t = T / 2, halfway."""
    t = min(t, total)
    return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * t / total))

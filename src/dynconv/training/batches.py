"""Batches from a fixed set of training sub-images (:func:`dynconv.training.patches.training_patches`).

The batch of step ``t`` is a function of ``(seed, t)`` alone, so a resumed run sees the batches
the uninterrupted one would have. :mod:`dynconv.training.crops` is the other batch source: random crops
at any scale factor.
"""
from __future__ import annotations

import numpy as np

from dynconv.training.subimages import random_dihedral

__all__ = ["Batches", "scale_weights"]


def scale_weights(patches):
    r"""``{scale: weight}``: each scale's samples weighted by 1 / (their bicubic MSE), the
    weights' mean over the samples normalised to 1.

    A multi-scale run's mean squared error is dominated by the large factors, whose errors are
    largest; but a PSNR change is a *relative* MSE change,
    :math:`\Delta\mathrm{PSNR} \approx -\tfrac{10}{\ln 10}\,\Delta\mathrm{MSE}/\mathrm{MSE}`.
    Dividing each scale's error by where it starts (bicubic, what a residual network outputs at
    step 0) makes the loss count every scale's dB alike (``train.balance_scales``).
    """
    x, y, sc = patches.inputs, patches.labels, patches.scales
    b = (x.shape[-1] - y.shape[-1]) // 2
    centre = x[:, :, b:x.shape[-2] - b, b:x.shape[-1] - b]
    scales, counts = np.unique(sc, return_counts=True)
    inv = np.array([1.0 / np.mean((centre[sc == s] - y[sc == s]) ** 2, dtype=np.float64) for s in scales])
    mean = float(inv @ counts) / len(sc)
    return {float(s): float(w) / mean for s, w in zip(scales, inv)}


class Batches:
    """Deterministic batches: step ``t`` → (inputs, labels, scales), independent of history."""

    def __init__(self, patches, batch_size, seed, augment):
        self.p, self.bs, self.seed, self.augment = patches, int(batch_size), int(seed), augment
        self.n = len(patches.inputs)
        if self.n < self.bs:
            raise ValueError(f"only {self.n} training patches for batch_size {self.bs}")
        self.per_epoch = self.n // self.bs
        self._epoch, self._perm = None, None

    def __call__(self, t):
        epoch, k = divmod(t, self.per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        idx = np.sort(self._perm[k * self.bs:(k + 1) * self.bs])
        x, y = self.p.inputs[idx], self.p.labels[idx]
        if self.augment:
            x, y = random_dihedral(x, y, np.random.default_rng([self.seed, 1_000_003, t]))
        return np.ascontiguousarray(x), np.ascontiguousarray(y), self.p.scales[idx]

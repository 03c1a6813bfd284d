r"""Training sub-images at any scale factor: whole images degraded once per factor, crops drawn per step.

The fixed-scale recipe (:func:`dynconv.training.patches.training_patches`) stores every 33×33 sub-image at
stride 14 for each scale: ~130 MiB per scale on T91, too much for a dense set of factors. Here
each factor keeps only its degraded (bicubic down and up) images, ~20 MiB per factor in
float32, and each step cuts its batch from random positions of random images:

* **Factors.** :func:`scale_grid` gives the fractions :math:`p/q` in a range with a small
  numerator (so that exact low-resolution sizes exist after a crop to a multiple of :math:`p`,
  as the evaluation protocol does), thinned to a near-even spacing in :math:`\log s`. A share
  ``fixed_share`` of each batch comes from the fixed ``scales`` (the integer factors), the rest
  uniformly from the grid.
* **Determinism.** Step ``t``'s batch depends on ``(seed, t)`` only, like
  :class:`dynconv.training.train.Batches`, so a resumed run sees the same batches.
* **Loss weights.** :meth:`CropBatches.scale_weights` weights each factor by 1 / its bicubic
  MSE (the ``train.balance_scales`` rule), normalised to mean 1 under the sampling distribution.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from dynconv.sr.datasets import list_images
from dynconv.training.subimages import random_dihedral

__all__ = ["scale_grid", "CropBatches"]


def scale_grid(lo, hi, max_numerator=20, spacing=1.03):
    """Factors :math:`p/q` in ``[lo, hi]`` with :math:`p \\le` ``max_numerator``, sorted.

    Simpler fractions are taken first; a fraction is kept only if it is at least a factor
    ``spacing`` away from every kept one, so the grid is near-even in :math:`\\log s` and
    contains the simple factors (1.25, 1.5, 2, 2.5, ...) that fit.
    """
    lo, hi, spacing = float(lo), float(hi), float(spacing)
    if not (1 < lo <= hi) or spacing < 1:
        raise ValueError(f"scale range must satisfy 1 < lo <= hi and spacing >= 1, got [{lo}, {hi}], {spacing}")
    cands = sorted({Fraction(p, q) for p in range(2, int(max_numerator) + 1) for q in range(1, p)
                    if lo <= p / q <= hi}, key=lambda f: (f.numerator, f))
    kept = []
    for f in cands:
        if all(abs(math.log(f / k)) >= math.log(spacing) - 1e-12 for k in kept):
            kept.append(f)
    return sorted(float(f) for f in kept)


class CropBatches:
    """Deterministic batches of random crops at many factors: step ``t`` → (inputs, labels, scales).

    Parameters
    ----------
    dataset : str or Path
        Training images (the Y channel is used, as in :func:`dynconv.training.patches.training_patches`).
    fixed, grid : sequence of float
        The fixed factors (drawn with probability ``fixed_share``) and the grid factors.
    batch_size, patch_size, label_size : int
        ``label_size`` is the centre square of the target (the valid network output).
    seed : int
    augment : bool
        One random flip/rot90 per sample.
    downscales : sequence of float
        Each training image is also used shrunk by these factors (MATLAB bicubic), as FSRCNN
        augments T91 with 0.9, 0.8, 0.7 and 0.6; ``(1.0,)`` uses the images as they are.
    """

    def __init__(self, dataset, fixed, grid, fixed_share, batch_size, patch_size, label_size, seed,
                 augment, data_dir=None, degradation="bicubic", sigma=1.0, out=None, downscales=(1.0,)):
        from dynconv.sr import image as im

        self.bs, self.patch, self.label = int(batch_size), int(patch_size), int(label_size)
        self.seed, self.augment = int(seed), bool(augment)
        self.fixed, self.grid = [float(s) for s in fixed], [float(s) for s in grid if float(s) not in fixed]
        if not self.grid:
            fixed_share = 1.0
        self.fixed_share = float(fixed_share) if self.fixed else 0.0
        ys = [im.rgb_to_y(im.read_image(f)).astype(np.float64) / 255.0 for f in list_images(dataset, data_dir)]
        # Shrunk copies (rounded to 0-255 like a stored image), so smaller scenes add content.
        ys = [y if d == 1.0 else np.round(np.clip(im.imresize(y * 255.0, float(d)), 0, 255)) / 255.0
              for d in downscales for y in ys]
        kw = {"sigma": sigma} if degradation == "gaussian" else {}
        self.images = {}  # factor -> [(degraded float32, HR float32)]
        for s in self.fixed + self.grid:
            pairs = []
            for y in ys:
                if min(y.shape) < max(self.patch, im.scale_multiple(s)):
                    continue
                hr = im.modcrop(y, s)
                if min(hr.shape) >= self.patch:
                    pairs.append((im.degrade(hr, s, degradation, **kw).astype(np.float32), hr.astype(np.float32)))
            if not pairs:
                raise ValueError(f"data set {dataset!r}: no image is at least {self.patch}x{self.patch} at x{s:g}")
            self.images[s] = pairs
        # Images are drawn in proportion to their number of crop positions.
        self._pos = {s: np.array([(u.shape[0] - self.patch + 1) * (u.shape[1] - self.patch + 1) for u, _ in p],
                                 np.float64) for s, p in self.images.items()}
        self._cum = {s: np.cumsum(n) / n.sum() for s, n in self._pos.items()}
        # What every step draws from, fixed for the run.
        self._factors = np.array(list(self.probabilities()))
        self._p = np.array(list(self.probabilities().values()))
        self.per_epoch = max(1, int(np.mean([n.sum() for n in self._pos.values()]) // (14 * 14 * self.bs)))
        if out is not None:
            mib = sum(u.nbytes + h.nbytes for p in self.images.values() for u, h in p) / 2**20
            print(f"{dataset}: crops at {len(self.fixed)} fixed + {len(self.grid)} grid factors "
                  f"(x{min(self.images):g}..x{max(self.images):g}, fixed share {self.fixed_share:g}), "
                  f"images shrunk by {', '.join(f'{d:g}' for d in downscales)}, "
                  f"{self.patch}x{self.patch} -> {self.label}x{self.label}, {mib:.0f} MiB", file=out)

    def probabilities(self):
        """``{factor: probability}`` of drawing each factor for a sample."""
        p = {s: self.fixed_share / len(self.fixed) for s in self.fixed}
        p.update({s: (1 - self.fixed_share) / len(self.grid) for s in self.grid})
        return p

    def __call__(self, t):
        rng = np.random.default_rng([self.seed, t])
        factors = self._factors
        k = rng.choice(len(factors), size=self.bs, p=self._p)
        x = np.empty((self.bs, 1, self.patch, self.patch), np.float32)
        y = np.empty((self.bs, 1, self.label, self.label), np.float32)
        off = (self.patch - self.label) // 2
        u01 = rng.random((self.bs, 3))
        for n, s in enumerate(factors[k]):
            s = float(s)
            img = min(int(np.searchsorted(self._cum[s], u01[n, 0], side="right")), len(self._cum[s]) - 1)
            up, hr = self.images[s][img]
            i = int(u01[n, 1] * (up.shape[0] - self.patch + 1))
            j = int(u01[n, 2] * (up.shape[1] - self.patch + 1))
            x[n, 0] = up[i:i + self.patch, j:j + self.patch]
            y[n, 0] = hr[i + off:i + off + self.label, j + off:j + off + self.label]
        if self.augment:
            x, y = random_dihedral(x, y, np.random.default_rng([self.seed, 1_000_003, t]))
        return np.ascontiguousarray(x), np.ascontiguousarray(y), factors[k].astype(np.float32)

    def scale_weights(self):
        """``{factor: weight}``: 1 / the factor's bicubic MSE on the label region, normalised so
        that the expected weight of a sample is 1 (keys are float32 values, as in batches)."""
        off = (self.patch - self.label) // 2
        inv = {}
        for s, pairs in self.images.items():
            err = [((u[off:-off or None, off:-off or None] - h[off:-off or None, off:-off or None]) ** 2)
                   for u, h in pairs]
            inv[s] = 1.0 / (sum(float(e.sum()) for e in err) / sum(e.size for e in err))
        prob = self.probabilities()
        mean = sum(prob[s] * w for s, w in inv.items())
        return {float(np.float32(s)): w / mean for s, w in inv.items()}

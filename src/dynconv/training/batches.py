r"""The batch source of training: step ``t`` → a batch of sub-images (:class:`Batches`).

A sub-image (:mod:`dynconv.training.subimages`) is one training example. :class:`Batches` draws
them in one of two ways, chosen by the config (:meth:`Batches.from_config`):

* :meth:`Batches.strided` — SRCNN's recipe: a fixed set of sub-images cut every ``data.stride``
  pixels at the ``data.scales`` (:func:`~dynconv.training.subimages.training_subimages`, cached),
  shuffled once per epoch. About 130 MiB per scale on T91.
* :meth:`Batches.random` — any factor (``data.scale_range``): each factor keeps only its degraded
  whole images (~20 MiB per factor in float32), and each step cuts its sub-images at random
  positions of random images. The factors are the fixed ``data.scales`` (drawn with probability
  ``data.fixed_share``) and the fractions :math:`p/q` of :func:`scale_grid`, with a small numerator
  (so that exact low-resolution sizes exist after a crop to a multiple of :math:`p`, as the
  evaluation protocol does) and near-even in :math:`\log s`.

Both give the same guarantees:

* **Determinism.** Step ``t``'s batch depends on ``(seed, t)`` only, so a resumed run sees the
  batches the uninterrupted one would have. The random flip/rot90 of a sample uses
  ``default_rng([seed, 1_000_003, t])``.
* **Loss weights.** :meth:`Batches.scale_weights` weights each factor by 1 / its bicubic MSE
  (``train.balance_scales``), normalised so that a drawn sample's expected weight is 1.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from dynconv.sr.datasets import list_images
from dynconv.training.subimages import SubImages, random_dihedral, training_subimages

__all__ = ["Batches", "scale_grid", "SubImages"]


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


class Batches:
    """Deterministic batches of sub-images: step ``t`` → ``(inputs, labels, scales)``, independent of history.

    Build one with :meth:`strided`, :meth:`random` or :meth:`from_config`.

    Attributes
    ----------
    bs : int
        The batch size.
    per_epoch : int
        Batches per epoch (strided: the set once; random: about as many sub-images as strided would cut).
    option : object
        How the sub-images are drawn (``_Strided`` or ``_Random``).
    """

    def __init__(self, option, batch_size, seed, augment):
        self.option, self.bs, self.seed, self.augment = option, int(batch_size), int(seed), bool(augment)
        self.per_epoch = option.per_epoch(self.bs)

    @classmethod
    def strided(cls, subimages: SubImages, batch_size, seed, augment):
        """Batches of a fixed set of sub-images, shuffled per epoch by ``default_rng([seed, epoch])``."""
        return cls(_Strided(subimages), batch_size, seed, augment)

    @classmethod
    def random(cls, dataset, fixed, grid, fixed_share, batch_size, size, label_size, seed, augment,
               data_dir=None, degradation="bicubic", sigma=1.0, out=None, downscales=(1.0,)):
        """Batches of sub-images cut at random positions, at many factors, drawn by ``default_rng([seed, t])``.

        Parameters
        ----------
        dataset : str or Path
            Training images (their Y channel, as in :func:`~dynconv.training.subimages.training_subimages`).
        fixed, grid : sequence of float
            The fixed factors (drawn with probability ``fixed_share``) and the grid factors.
        batch_size, size, label_size : int
            ``size`` is the sub-image's side; ``label_size`` its target's (the valid network output).
        seed : int
        augment : bool
            One random flip/rot90 per sample.
        downscales : sequence of float
            Each training image is also used shrunk by these factors (MATLAB bicubic), as FSRCNN
            augments T91 with 0.9, 0.8, 0.7 and 0.6; ``(1.0,)`` uses the images as they are.
        """
        option = _Random(dataset, fixed, grid, fixed_share, size, label_size, data_dir, degradation, sigma,
                         downscales)
        if out is not None:
            print(f"{dataset}: {option.describe()}", file=out)
        return cls(option, batch_size, seed, augment)

    @classmethod
    def from_config(cls, config, label_size=None, data_dir=None, out=None):
        """The batches ``dynconv train`` draws for ``config`` (its ``data`` keys, ``train.batch_size``
        and ``train.seed``): :meth:`random` when ``data.scale_range`` is set, else :meth:`strided`.
        ``label_size=None``: the whole sub-image (a padded network)."""
        d, t = config["data"], config["train"]
        if d["scale_range"]:
            grid = scale_grid(*d["scale_range"], d["max_numerator"], d["scale_spacing"])
            return cls.random(d["dataset"], d["scales"], grid, d["fixed_share"], t["batch_size"], d["patch_size"],
                              label_size or d["patch_size"], t["seed"], d["augment"], data_dir, d["degradation"],
                              d["sigma"], out=out, downscales=d["downscales"])
        subimages = training_subimages(
            dataset=d["dataset"], scales=tuple(d["scales"]), size=d["patch_size"], stride=d["stride"],
            label_size=label_size, degradation=d["degradation"], sigma=d["sigma"], seed=t["seed"],
            data_dir=data_dir, out=out)
        return cls.strided(subimages, t["batch_size"], t["seed"], d["augment"])

    def __call__(self, t):
        """Step ``t``'s batch: ``inputs`` float32 ``(B, 1, P, P)``, ``labels`` float32 ``(B, 1, L, L)``,
        ``scales`` float32 ``(B,)`` (each sample's factor), ``B = bs``."""
        x, y, s = self.option.draw(t, self.bs, self.seed)
        if self.augment:
            x, y = random_dihedral(x, y, np.random.default_rng([self.seed, 1_000_003, t]))
        return np.ascontiguousarray(x), np.ascontiguousarray(y), s

    def factors(self):
        """The factors a batch can hold, as float32 values (the keys of :meth:`scale_weights`)."""
        return [float(np.float32(s)) for s in self.option.factors()]

    def scale_weights(self):
        r"""``{factor: weight}``: each factor's samples weighted by 1 / (their bicubic MSE), normalised
        so that the expected weight of a drawn sample is 1 (keys are float32 values, as in batches).

        A multi-scale run's mean squared error is dominated by the large factors, whose errors are
        largest; but a PSNR change is a *relative* MSE change,
        :math:`\Delta\mathrm{PSNR} \approx -\tfrac{10}{\ln 10}\,\Delta\mathrm{MSE}/\mathrm{MSE}`.
        Dividing each factor's error by where it starts (bicubic, what a residual network outputs at
        step 0) makes the loss count every factor's dB alike (``train.balance_scales``).
        """
        inv = {s: 1.0 / mse for s, mse in self.option.bicubic_mse().items()}
        mean = self.option.expected(inv)
        return {float(np.float32(s)): float(w) / mean for s, w in inv.items()}


class _Strided:
    """A fixed set of sub-images, each drawn once per epoch."""

    def __init__(self, subimages: SubImages):
        self.subimages, self.n = subimages, len(subimages.inputs)
        self._epoch, self._perm = None, None

    def per_epoch(self, bs):
        if self.n < bs:
            raise ValueError(f"only {self.n} training sub-images for batch_size {bs}")
        return self.n // bs

    def draw(self, t, bs, seed):
        epoch, k = divmod(t, self.n // bs)
        if epoch != self._epoch:
            self._epoch = epoch
            self._perm = np.random.default_rng([seed, epoch]).permutation(self.n)
        idx = np.sort(self._perm[k * bs:(k + 1) * bs])
        p = self.subimages
        return p.inputs[idx], p.labels[idx], p.scales[idx]

    def factors(self):
        return np.unique(self.subimages.scales).tolist()

    def bicubic_mse(self):
        """``{scale: MSE}`` of each scale's input centres against their labels."""
        x, y, sc = self.subimages
        b = (x.shape[-1] - y.shape[-1]) // 2
        centre = x[:, :, b:x.shape[-2] - b, b:x.shape[-1] - b]
        return {float(s): np.mean((centre[sc == s] - y[sc == s]) ** 2, dtype=np.float64) for s in np.unique(sc)}

    def expected(self, per_scale):
        """The mean of ``{scale: value}`` over the samples (each is drawn once per epoch)."""
        _, counts = np.unique(self.subimages.scales, return_counts=True)
        return float(np.array(list(per_scale.values())) @ counts) / self.n


class _Random:
    """Whole images degraded once per factor; sub-images cut at random positions each step."""

    def __init__(self, dataset, fixed, grid, fixed_share, size, label_size, data_dir, degradation, sigma,
                 downscales):
        self.size, self.label, self.downscales = int(size), int(label_size), tuple(downscales)
        self.fixed, self.grid = [float(s) for s in fixed], [float(s) for s in grid if float(s) not in fixed]
        if not self.grid:
            fixed_share = 1.0
        self.fixed_share = float(fixed_share) if self.fixed else 0.0
        self.images = _degraded_images(dataset, self.fixed + self.grid, self.size, data_dir, degradation, sigma,
                                       self.downscales)  # factor -> [(degraded float32, HR float32)]
        # Images are drawn in proportion to their number of positions.
        self._pos = {s: np.array([(u.shape[0] - self.size + 1) * (u.shape[1] - self.size + 1) for u, _ in p],
                                 np.float64) for s, p in self.images.items()}
        self._cum = {s: np.cumsum(n) / n.sum() for s, n in self._pos.items()}
        # What every step draws from, fixed for the run.
        self._factors = np.array(list(self.probabilities()))
        self._p = np.array(list(self.probabilities().values()))

    def describe(self):
        """One line: the sub-images, the factors, the images and the memory they take."""
        mib = sum(u.nbytes + h.nbytes for p in self.images.values() for u, h in p) / 2**20
        sizes = ", ".join(f"{d:g}x" for d in self.downscales)
        return (f"{self.size}x{self.size} -> {self.label}x{self.label} sub-images at random positions, "
                f"{len(self.fixed)} fixed + {len(self.grid)} grid factors "
                f"(x{min(self.images):g}..x{max(self.images):g}, fixed share {self.fixed_share:g}), "
                f"images at {sizes} their size, {mib:.0f} MiB")

    def factors(self):
        return list(self.images)

    def per_epoch(self, bs):
        # An epoch is about as many sub-images as a stride of 14 would cut.
        return max(1, int(np.mean([n.sum() for n in self._pos.values()]) // (14 * 14 * bs)))

    def probabilities(self):
        """``{factor: probability}`` of drawing each factor for a sample."""
        p = {s: self.fixed_share / len(self.fixed) for s in self.fixed}
        p.update({s: (1 - self.fixed_share) / len(self.grid) for s in self.grid})
        return p

    def draw(self, t, bs, seed):
        rng = np.random.default_rng([seed, t])
        factors = self._factors
        k = rng.choice(len(factors), size=bs, p=self._p)
        x = np.empty((bs, 1, self.size, self.size), np.float32)
        y = np.empty((bs, 1, self.label, self.label), np.float32)
        off = (self.size - self.label) // 2
        u01 = rng.random((bs, 3))
        for n, s in enumerate(factors[k]):
            s = float(s)
            img = min(int(np.searchsorted(self._cum[s], u01[n, 0], side="right")), len(self._cum[s]) - 1)
            up, hr = self.images[s][img]
            i = int(u01[n, 1] * (up.shape[0] - self.size + 1))
            j = int(u01[n, 2] * (up.shape[1] - self.size + 1))
            x[n, 0] = up[i:i + self.size, j:j + self.size]
            y[n, 0] = hr[i + off:i + off + self.label, j + off:j + off + self.label]
        return x, y, factors[k].astype(np.float32)

    def bicubic_mse(self):
        """``{factor: MSE}`` of the degraded images against the ground truth, on the label region."""
        off = (self.size - self.label) // 2
        mse = {}
        for s, pairs in self.images.items():
            err = [((u[off:-off or None, off:-off or None] - h[off:-off or None, off:-off or None]) ** 2)
                   for u, h in pairs]
            mse[s] = sum(float(e.sum()) for e in err) / sum(e.size for e in err)
        return mse

    def expected(self, per_factor):
        """The mean of ``{factor: value}`` under the sampling distribution."""
        prob = self.probabilities()
        return sum(prob[s] * w for s, w in per_factor.items())


def _degraded_images(dataset, factors, size, data_dir, degradation, sigma, downscales):
    """``{factor: [(degraded, ground truth)]}`` float32 Y images, each cropped to a multiple of its factor;
    images smaller than a sub-image are left out."""
    from dynconv.sr import image as im

    ys = [im.rgb_to_y(im.read_image(f)).astype(np.float64) / 255.0 for f in list_images(dataset, data_dir)]
    # Shrunk copies (rounded to 0-255 like a stored image), so smaller scenes add content.
    ys = [y if d == 1.0 else np.round(np.clip(im.imresize(y * 255.0, float(d)), 0, 255)) / 255.0
          for d in downscales for y in ys]
    kw = {"sigma": sigma} if degradation == "gaussian" else {}
    images = {}
    for s in factors:
        pairs = []
        for y in ys:
            if min(y.shape) < max(size, im.scale_multiple(s)):
                continue
            hr = im.modcrop(y, s)
            if min(hr.shape) >= size:
                pairs.append((im.degrade(hr, s, degradation, **kw).astype(np.float32), hr.astype(np.float32)))
        if not pairs:
            raise ValueError(f"data set {dataset!r}: no image is at least {size}x{size} at x{s:g}")
        images[s] = pairs
    return images

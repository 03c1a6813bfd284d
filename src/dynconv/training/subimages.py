"""Training sub-images as arrays: cut, labelled, augmented (no files, no cache).

:func:`dynconv.training.patches.training_patches` reads a data set, caches the result and calls these; the
training loop augments each batch with :func:`random_dihedral`.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["AUGMENTATIONS", "TrainingPatches", "valid_label_size", "random_dihedral", "build_patches"]

AUGMENTATIONS = ("none", "random", "all")


class TrainingPatches(NamedTuple):
    """Training sub-images, NCHW float32 in [0, 1] (the Y channel divided by 255).

    Attributes
    ----------
    inputs : ndarray of float32, shape ``(N, 1, P, P)``
        Degraded (bicubic-upsampled) sub-images, ``P = patch_size``.
    labels : ndarray of float32, shape ``(N, 1, L, L)``
        The centre ``L × L`` of the matching ground-truth sub-image, ``L = label_size``.
    scales : ndarray of float32, shape ``(N,)``
        The scale factor each sample was synthesised with.
    """

    inputs: np.ndarray
    labels: np.ndarray
    scales: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.inputs.nbytes + self.labels.nbytes + self.scales.nbytes


def valid_label_size(patch_size: int = 33, kernel_sizes=(9, 1, 5)) -> int:
    r"""Output side of an unpadded ('valid') network on a ``patch_size`` input.

    .. math:: L = P - \sum_l (f_l - 1)

    e.g. 21 for 9-1-5 and 17 for 9-5-5 on 33×33; a padded network keeps ``L = P``.
    """
    size = int(patch_size) - sum(int(k) - 1 for k in kernel_sizes)
    if size <= 0:
        raise ValueError(f"kernel_sizes {tuple(kernel_sizes)} leave no output on a {patch_size}x{patch_size} patch")
    return size


def _dihedral(x: np.ndarray, k: int) -> np.ndarray:
    """Transform ``k`` in 0..7 of the square's symmetry group on the last two axes."""
    if k >= 4:
        x = x[..., ::-1]
    return np.rot90(x, k % 4, axes=(-2, -1))


def random_dihedral(inputs: np.ndarray, labels: np.ndarray, rng: np.random.Generator):
    """Apply one random flip/rot90 (of 8) per sample to ``(N, C, H, W)`` inputs and labels alike.

    For on-the-fly augmentation in a training loop; returns new arrays.
    """
    k = rng.integers(0, 8, size=len(inputs))
    xi, yl = np.empty_like(inputs), np.empty_like(labels)
    for t in range(8):
        sel = np.flatnonzero(k == t)
        xi[sel] = _dihedral(inputs[sel], t)
        yl[sel] = _dihedral(labels[sel], t)
    return xi, yl


def _extract(up: np.ndarray, hr: np.ndarray, patch: int, label: int, stride: int):
    from numpy.lib.stride_tricks import sliding_window_view

    h, w = hr.shape
    if h < patch or w < patch:
        return np.empty((0, patch, patch)), np.empty((0, label, label))
    rows = np.arange(0, h - patch + 1, stride)
    cols = np.arange(0, w - patch + 1, stride)
    off = (patch - label) // 2
    xin = sliding_window_view(up, (patch, patch))[rows][:, cols]
    lab = sliding_window_view(hr[off:, off:], (label, label))[rows][:, cols]
    return xin.reshape(-1, patch, patch), lab.reshape(-1, label, label)


def build_patches(files, scales, patch, stride, label, degradation, sigma, augment, seed) -> TrainingPatches:
    from dynconv.sr import image as im

    ys = [(f, im.rgb_to_y(im.read_image(f)).astype(np.float64) / 255.0) for f in files]
    xs, ls, ss = [], [], []
    for s in scales:
        kw = {"sigma": sigma} if degradation == "gaussian" else {}
        for f, y in ys:
            if min(y.shape) < im.scale_multiple(s):
                continue  # smaller than the scale: nothing to learn from
            hr = im.modcrop(y, s)
            up = im.degrade(hr, s, degradation, **kw)
            xi, li = _extract(up, hr, patch, label, stride)
            xs.append(xi.astype(np.float32))
            ls.append(li.astype(np.float32))
            ss.append(np.full(len(xi), s, dtype=np.float32))
    x = np.concatenate(xs)[:, None] if xs else np.empty((0, 1, patch, patch), np.float32)
    lab = np.concatenate(ls)[:, None] if ls else np.empty((0, 1, label, label), np.float32)
    sc = np.concatenate(ss) if ss else np.empty(0, np.float32)
    if augment == "random":
        x, lab = random_dihedral(x, lab, np.random.default_rng(seed))
    elif augment == "all":
        x = np.concatenate([_dihedral(x, k) for k in range(8)])
        lab = np.concatenate([_dihedral(lab, k) for k in range(8)])
        sc = np.tile(sc, 8)
    return TrainingPatches(np.ascontiguousarray(x), np.ascontiguousarray(lab), sc)

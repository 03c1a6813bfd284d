r"""Training sub-images: SRCNN's recipe, cut every ``stride`` pixels once and cached (:func:`training_subimages`).

A **sub-image** is one training example: a small degraded window (the input) and the ground truth
under its centre (the label). The word is SRCNN's (:math:`f_{sub} = 33`): the paper keeps "patch"
for the overlapping windows its first layer extracts around every pixel ("patch extraction and
representation"), while a sub-image is a small image of its own. :class:`dynconv.training.batches.Batches`
draws batches of them: from this fixed set, or cut at random positions at any factor.

The recipe, for each image and scale :math:`s`: Y (MATLAB ``rgb2ycbcr``, rounded) divided by 255,
cropped to a multiple of :math:`s`, degraded (``bicubic``: down and up with ``imresize``;
``gaussian``: blur σ, subsample, bicubic up), then cut into ``size × size`` squares every
``stride`` pixels (top-left first, rows then columns). The label is the centre ``label_size``
square of the same ground-truth window — the pixels an unpadded network's output covers
(:func:`valid_label_size`). Images smaller than a sub-image contribute nothing. Samples are
ordered by scale, then image, then position.

The cache lives under :func:`dynconv.sr.datasets.cache_dir` (its ``patches/`` folder keeps the
name it was created with, so existing caches stay valid), never in the data folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import numpy as np

from dynconv.sr.datasets import cache_dir, list_images

__all__ = ["AUGMENTATIONS", "SubImages", "training_subimages", "valid_label_size", "random_dihedral",
           "cut_subimages"]

AUGMENTATIONS = ("none", "random", "all")

#: Bumped whenever the cutting changes, so stale caches are never reused.
_FORMAT = 1


class SubImages(NamedTuple):
    """Training sub-images, NCHW float32 in [0, 1] (the Y channel divided by 255).

    Attributes
    ----------
    inputs : ndarray of float32, shape ``(N, 1, P, P)``
        Degraded (bicubic-upsampled) windows, ``P = size``.
    labels : ndarray of float32, shape ``(N, 1, L, L)``
        The centre ``L × L`` of the matching ground-truth window, ``L = label_size``.
    scales : ndarray of float32, shape ``(N,)``
        The scale factor each sample was synthesised with.
    """

    inputs: np.ndarray
    labels: np.ndarray
    scales: np.ndarray

    @property
    def nbytes(self) -> int:
        return self.inputs.nbytes + self.labels.nbytes + self.scales.nbytes


def valid_label_size(size: int = 33, kernel_sizes=(9, 1, 5)) -> int:
    r"""Output side of an unpadded ('valid') network on a ``size × size`` sub-image.

    .. math:: L = P - \sum_l (f_l - 1)

    e.g. 21 for 9-1-5 and 17 for 9-5-5 on 33×33; a padded network keeps ``L = P``.
    """
    out = int(size) - sum(int(k) - 1 for k in kernel_sizes)
    if out <= 0:
        raise ValueError(f"kernel_sizes {tuple(kernel_sizes)} leave no output on a {size}x{size} sub-image")
    return out


# --------------------------------------------------------------------------- the arrays


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


def _extract(up: np.ndarray, hr: np.ndarray, size: int, label: int, stride: int):
    from numpy.lib.stride_tricks import sliding_window_view

    h, w = hr.shape
    if h < size or w < size:
        return np.empty((0, size, size)), np.empty((0, label, label))
    rows = np.arange(0, h - size + 1, stride)
    cols = np.arange(0, w - size + 1, stride)
    off = (size - label) // 2
    xin = sliding_window_view(up, (size, size))[rows][:, cols]
    lab = sliding_window_view(hr[off:, off:], (label, label))[rows][:, cols]
    return xin.reshape(-1, size, size), lab.reshape(-1, label, label)


def cut_subimages(files, scales, size, stride, label, degradation, sigma, augment, seed) -> SubImages:
    """The recipe of the module docstring on image ``files`` (no cache; see :func:`training_subimages`)."""
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
            xi, li = _extract(up, hr, size, label, stride)
            xs.append(xi.astype(np.float32))
            ls.append(li.astype(np.float32))
            ss.append(np.full(len(xi), s, dtype=np.float32))
    x = np.concatenate(xs)[:, None] if xs else np.empty((0, 1, size, size), np.float32)
    lab = np.concatenate(ls)[:, None] if ls else np.empty((0, 1, label, label), np.float32)
    sc = np.concatenate(ss) if ss else np.empty(0, np.float32)
    if augment == "random":
        x, lab = random_dihedral(x, lab, np.random.default_rng(seed))
    elif augment == "all":
        x = np.concatenate([_dihedral(x, k) for k in range(8)])
        lab = np.concatenate([_dihedral(lab, k) for k in range(8)])
        sc = np.tile(sc, 8)
    return SubImages(np.ascontiguousarray(x), np.ascontiguousarray(lab), sc)


# --------------------------------------------------------------------------- a data set's, cached


def training_subimages(dataset="T91", scales=(2, 3, 4), size: int = 33, stride: int = 14, label_size: int | None = 21,
                       degradation: str = "bicubic", sigma: float = 1.0, augment: str = "none", seed: int = 0,
                       data_dir=None, cache: bool = True, verbose: bool = True, out=None) -> SubImages:
    r"""SRCNN's training sub-images of a data set (the module docstring's recipe), several scales mixed, cached.

    The result is cached under ``cache_dir()/patches`` as three ``.npy`` files keyed by a checksum
    of the image files' contents and every parameter; files are written atomically. A damaged
    cache is reported and rebuilt.

    Parameters
    ----------
    dataset : str or Path
        Data-set name under the data folder or a folder of images.
    scales : sequence of float
        Scale factors mixed in one set, default ``(2, 3, 4)``.
    size, stride : int
        Side of a sub-image (config key ``data.patch_size``) and the step between sub-images.
    label_size : int or None
        ``21`` for 9-1-5, ``17`` for 9-5-5, ``None`` (the whole sub-image) for padded networks.
    degradation : {"bicubic", "gaussian"}
    sigma : float
        Blur of the ``gaussian`` degradation.
    augment : {"none", "random", "all"}
        ``"random"``: one flip/rot90 per sample from ``np.random.default_rng(seed)``; ``"all"``
        appends all 8 variants (8× the memory; batches augment on the fly instead).
    seed : int
    data_dir : str or Path, optional
    cache, verbose : bool
        Read and write the on-disk cache; print a line with the count and the memory size.
    out : file, optional
        Where that line goes (default ``sys.stdout``).

    Returns
    -------
    SubImages
        ``inputs`` float32 ``(N, 1, P, P)``, ``labels`` float32 ``(N, 1, L, L)`` in [0, 1], ``scales`` float32 ``(N,)``.
    """
    scales, size, stride, label = _checked(scales, size, stride, label_size, degradation, augment)
    files = list_images(dataset, data_dir)
    params = {"format": _FORMAT, "scales": [float(s) for s in scales], "patch": size, "stride": stride,
              "label": label, "degradation": degradation,
              "sigma": float(sigma) if degradation == "gaussian" else None, "augment": augment,
              "seed": int(seed) if augment == "random" else None}  # the cache key: names kept, keys valid
    key = _cache_key(files, params)
    paths = {n: cache_dir() / "patches" / f"{key}-{n}.npy" for n in SubImages._fields}
    name, say = Path(str(dataset)).name, out if out is not None else sys.stdout
    result = _read_cache(paths, size, label, scales, name, say) if cache else None
    tag = "cached" if result is not None else "prepared"
    if result is None:
        result = cut_subimages(files, scales, size, stride, label, degradation, sigma, augment, seed)
        if cache:
            _write_cache(paths, result)
    if len(result.inputs) == 0:
        raise ValueError(f"data set {str(dataset)!r}: no image is at least {size}x{size}; no sub-images")
    if verbose:
        sc = "+".join(f"x{s:g}" for s in scales)
        print(f"{name}: {len(result.inputs):,} sub-images every {stride} px ({sc}, {size}x{size} -> {label}x{label}, "
              f"augment {augment}), {result.nbytes / 2**20:.1f} MiB, {tag}", file=say)
    return result


def _checked(scales, size, stride, label_size, degradation, augment):
    """:func:`training_subimages`' arguments checked: ``(scales as a list, size, stride, label side)``."""
    from dynconv.sr import image as im

    scales = [scales] if isinstance(scales, (int, float)) else list(scales)
    if not scales:
        raise ValueError("scales: give at least one scale")
    for s in scales:
        im.scale_multiple(s)
    size, stride = int(size), int(stride)
    if size < 1 or stride < 1:
        raise ValueError(f"size and stride must be >= 1, got {size} and {stride}")
    label = size if label_size is None else int(label_size)
    if not (1 <= label <= size) or (size - label) % 2:
        raise ValueError(f"label_size {label_size} must be in 1..{size} with an even margin (size {size})")
    if degradation not in im.DEGRADATIONS:
        raise ValueError(f"unknown degradation {degradation!r}; choose from {', '.join(im.DEGRADATIONS)}")
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {', '.join(AUGMENTATIONS)}, got {augment!r}")
    return scales, size, stride, label


def _cache_key(files: list[Path], params: dict) -> str:
    h = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    for f in files:
        h.update(f.name.encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:24]


def _check_cached(p: SubImages, size: int, label: int, scales) -> None:
    """Raise ValueError unless ``p`` has the shapes, dtypes and scales that were asked for."""
    n = len(p.scales)
    want = {"inputs": (n, 1, size, size), "labels": (n, 1, label, label), "scales": (n,)}
    for name, shape in want.items():
        a = getattr(p, name)
        if a.dtype != np.float32 or a.shape != shape:
            raise ValueError(f"{name} is {a.dtype} {a.shape}, expected float32 {shape}")
    if not np.isin(p.scales, np.float32(scales)).all():
        raise ValueError(f"scales outside {scales}")


def _read_cache(paths, size, label, scales, name, say) -> SubImages | None:
    """The cached sub-images, or ``None`` when there are none or they are damaged."""
    if not all(p.is_file() for p in paths.values()):
        return None
    try:
        result = SubImages(*(np.load(paths[n], allow_pickle=False) for n in SubImages._fields))
        _check_cached(result, size, label, scales)
        return result
    except (OSError, ValueError) as exc:  # never trust a damaged cache: rebuild it
        folder = paths["inputs"].parent
        print(f"{name}: cached sub-images in {folder} are damaged ({exc}); rebuilding", file=say)
        return None


def _save_atomic(path: Path, arr: np.ndarray) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, arr, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _write_cache(paths, result: SubImages) -> None:
    paths["inputs"].parent.mkdir(parents=True, exist_ok=True)
    for n in SubImages._fields:
        _save_atomic(paths[n], getattr(result, n))

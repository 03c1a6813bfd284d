"""Training sub-images of a data set, cut once and cached (:func:`training_patches`).

The array side (cutting, labels, augmentation) is :mod:`dynconv.training.subimages`; its public
names are importable from here too. The cache lives under :func:`dynconv.sr.datasets.cache_dir`,
never in the data folder.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from dynconv.sr.datasets import cache_dir, list_images
from dynconv.training.subimages import AUGMENTATIONS
from dynconv.training.subimages import TrainingPatches
from dynconv.training.subimages import build_patches
from dynconv.training.subimages import random_dihedral
from dynconv.training.subimages import valid_label_size

__all__ = ["training_patches", "TrainingPatches", "AUGMENTATIONS", "random_dihedral", "valid_label_size"]


# --------------------------------------------------------------------------- training patches

#: Bumped whenever the extraction changes, so stale caches are never reused.
_PATCH_FORMAT = 1


def _check_cached(p: TrainingPatches, patch: int, label: int, scales) -> None:
    """Raise ValueError unless ``p`` has the shapes, dtypes and scales that were asked for."""
    n = len(p.scales)
    want = {"inputs": (n, 1, patch, patch), "labels": (n, 1, label, label), "scales": (n,)}
    for name, shape in want.items():
        a = getattr(p, name)
        if a.dtype != np.float32 or a.shape != shape:
            raise ValueError(f"{name} is {a.dtype} {a.shape}, expected float32 {shape}")
    if not np.isin(p.scales, np.float32(scales)).all():
        raise ValueError(f"scales outside {scales}")


def _cache_key(files: list[Path], params: dict) -> str:
    h = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    for f in files:
        h.update(f.name.encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:24]


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


def training_patches(
    dataset="T91",
    scales=(2, 3, 4),
    patch_size: int = 33,
    stride: int = 14,
    label_size: int | None = 21,
    degradation: str = "bicubic",
    sigma: float = 1.0,
    augment: str = "none",
    seed: int = 0,
    data_dir=None,
    cache: bool = True,
    verbose: bool = True,
    out=None,
) -> TrainingPatches:
    r"""SRCNN-style training sub-images from a data set, several scales mixed, cached on disk.

    For each image and scale :math:`s`: Y (MATLAB ``rgb2ycbcr``, rounded) divided by 255,
    cropped to a multiple of :math:`s`, degraded (``bicubic``: down and up with ``imresize``;
    ``gaussian``: blur σ, subsample, bicubic up), then cut into ``patch_size`` squares every
    ``stride`` pixels (top-left first, rows then columns). The label is the centre
    ``label_size`` square of the same ground-truth window — the pixels an unpadded network's
    output covers (:func:`valid_label_size`); ``label_size=None`` keeps the whole patch. Images
    smaller than a patch contribute nothing.

    Samples are ordered by scale, then image, then position. ``augment="random"`` applies one
    flip/rot90 drawn from ``np.random.default_rng(seed)`` per sample; ``"all"`` appends all 8
    variants (8× the memory — prefer :func:`random_dihedral` in the training loop).

    The result is cached under ``cache_dir()/patches`` as three ``.npy`` files keyed by a
    checksum of the image files' contents and every parameter; files are written atomically.
    A line with the count and memory size is printed when ``verbose``.

    Parameters
    ----------
    dataset : str or Path
        Data-set name under the data folder or a folder of images.
    scales : sequence of float
        Scale factors mixed in one set, default ``(2, 3, 4)``.
    patch_size, stride : int
    label_size : int or None
        ``21`` for 9-1-5, ``17`` for 9-5-5, ``None`` for padded networks.
    degradation : {"bicubic", "gaussian"}
    sigma : float
        Blur of the ``gaussian`` degradation.
    augment : {"none", "random", "all"}
    seed : int
    data_dir : str or Path, optional
    cache : bool
        Read and write the on-disk cache.
    verbose : bool
    out : file, optional
        Where the summary line goes (default ``sys.stdout``).

    Returns
    -------
    TrainingPatches
        ``inputs`` float32 ``(N, 1, P, P)``, ``labels`` float32 ``(N, 1, L, L)`` in [0, 1],
        ``scales`` float32 ``(N,)``.
    """
    scales, patch_size, stride, label = _checked(scales, patch_size, stride, label_size, degradation, augment)
    files = list_images(dataset, data_dir)
    params = {
        "format": _PATCH_FORMAT,
        "scales": [float(s) for s in scales],
        "patch": patch_size,
        "stride": stride,
        "label": label,
        "degradation": degradation,
        "sigma": float(sigma) if degradation == "gaussian" else None,
        "augment": augment,
        "seed": int(seed) if augment == "random" else None,
    }
    key = _cache_key(files, params)
    paths = {n: cache_dir() / "patches" / f"{key}-{n}.npy" for n in TrainingPatches._fields}
    name, say = Path(str(dataset)).name, out if out is not None else sys.stdout
    result = _read_cache(paths, patch_size, label, scales, name, say) if cache else None
    tag = "cached" if result is not None else "prepared"
    if result is None:
        result = build_patches(files, scales, patch_size, stride, label, degradation, sigma, augment, seed)
        if cache:
            _write_cache(paths, result)
    if len(result.inputs) == 0:
        raise ValueError(f"data set {str(dataset)!r}: no image is at least {patch_size}x{patch_size}; no patches")
    if verbose:
        sc = "+".join(f"x{s:g}" for s in scales)
        print(f"{name}: {len(result.inputs):,} training patches ({sc}, {patch_size}x{patch_size} -> {label}x{label}, "
              f"augment {augment}), {result.nbytes / 2**20:.1f} MiB, {tag}", file=say)
    return result


def _checked(scales, patch_size, stride, label_size, degradation, augment):
    """:func:`training_patches`' arguments checked: ``(scales as a list, patch_size, stride, label side)``."""
    from dynconv.sr import image as im

    scales = [scales] if isinstance(scales, (int, float)) else list(scales)
    if not scales:
        raise ValueError("scales: give at least one scale")
    for s in scales:
        im.scale_multiple(s)
    patch_size, stride = int(patch_size), int(stride)
    if patch_size < 1 or stride < 1:
        raise ValueError(f"patch_size and stride must be >= 1, got {patch_size} and {stride}")
    label = patch_size if label_size is None else int(label_size)
    if not (1 <= label <= patch_size) or (patch_size - label) % 2:
        raise ValueError(
            f"label_size {label_size} must be in 1..{patch_size} with an even margin (patch {patch_size})"
        )
    if degradation not in im.DEGRADATIONS:
        raise ValueError(f"unknown degradation {degradation!r}; choose from {', '.join(im.DEGRADATIONS)}")
    if augment not in AUGMENTATIONS:
        raise ValueError(f"augment must be one of {', '.join(AUGMENTATIONS)}, got {augment!r}")
    return scales, patch_size, stride, label


def _read_cache(paths, patch, label, scales, name, say) -> TrainingPatches | None:
    """The cached sub-images, or ``None`` when there are none or they are damaged."""
    if not all(p.is_file() for p in paths.values()):
        return None
    try:
        result = TrainingPatches(*(np.load(paths[n], allow_pickle=False) for n in TrainingPatches._fields))
        _check_cached(result, patch, label, scales)
        return result
    except (OSError, ValueError) as exc:  # never trust a damaged cache: rebuild it
        folder = paths["inputs"].parent
        print(f"{name}: cached sub-images in {folder} are damaged ({exc}); rebuilding", file=say)
        return None


def _write_cache(paths, result: TrainingPatches) -> None:
    paths["inputs"].parent.mkdir(parents=True, exist_ok=True)
    for n in TrainingPatches._fields:
        _save_atomic(paths[n], getattr(result, n))

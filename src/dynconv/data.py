"""Data sets and training sub-images.

The data sets (T91, Set5, Set14) ship with dynconv: in a source checkout they are the folder
``data/`` at the repository root, and an installed wheel carries the same files as package data
(``dynconv/shipped_data/``). A data folder is found through, in order:

1. an explicit ``data_dir`` (the ``--data-dir`` option);
2. the ``DYNCONV_DATA`` environment variable;
3. the data that ships with dynconv.

Each data set is a sub-folder of images; ``SHA256SUMS`` in the data folder lists the checksums
(:mod:`dynconv.datasets`, ``dynconv data verify``). Nothing is ever written into a data folder:
caches go under :func:`cache_dir`.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path
import numpy as np

# The array side of the sub-images lives in subimages; its public names are importable from here too.
from dynconv.subimages import AUGMENTATIONS, TrainingPatches, build_patches, random_dihedral, valid_label_size

#: The repository root when running from a source checkout (``src/dynconv/data.py`` → root).
_REPO_ROOT = Path(__file__).resolve().parents[2]

#: Where the shipped data lie: package data of an installed wheel, then a source checkout's ``data/``.
SHIPPED_DATA_DIRS = (Path(__file__).resolve().parent / "shipped_data", _REPO_ROOT / "data")

#: The checksum file of a data folder (``sha256sum`` format, paths relative to the folder).
CHECKSUMS = "SHA256SUMS"

#: The data sets dynconv ships: name → (image count, role).
SHIPPED_SETS = {"T91": (91, "training"), "Set5": (5, "testing"), "Set14": (14, "testing")}


def shipped_data_dir() -> Path | None:
    """The data folder that ships with dynconv, or ``None`` if this installation has none.

    A folder counts only if it holds :data:`CHECKSUMS`, so an unrelated ``data/`` beside an
    installed package is never taken for it.
    """
    for p in SHIPPED_DATA_DIRS:
        if (p / CHECKSUMS).is_file():
            return p
    return None


def data_dir_source(data_dir=None) -> tuple[str, Path | None]:
    """Which rule of the lookup order applies: ``(label, folder)``.

    The label is ``"data_dir"``, ``"DYNCONV_DATA"`` or ``"shipped"``; the folder may not exist
    (:func:`resolve_data_dir` checks it) and is ``None`` when nothing ships.
    """
    if data_dir is not None:
        return "data_dir", Path(data_dir).expanduser()
    env = os.environ.get("DYNCONV_DATA")
    if env:
        return "DYNCONV_DATA", Path(env).expanduser()
    return "shipped", shipped_data_dir()


def resolve_data_dir(data_dir=None) -> Path:
    """Return the data folder (see the module docstring for the order).

    An explicit ``data_dir`` or a ``DYNCONV_DATA`` that is not a folder is an error even though
    the shipped data exist: the user asked for that folder.

    Raises
    ------
    FileNotFoundError
        The message names each place looked at, once, and how to fix it.
    """
    source, p = data_dir_source(data_dir)
    if source == "data_dir":
        if not p.is_dir():
            raise FileNotFoundError(f"`data_dir` {str(p)!r} is not a directory")
        return p
    if source == "DYNCONV_DATA":
        if not p.is_dir():
            raise FileNotFoundError(
                f"DYNCONV_DATA={str(p)!r} is not a directory; point it at a folder of data sets "
                "or unset it to use the data that ship with dynconv"
            )
        return p
    if p is not None:
        return p
    looked = list(dict.fromkeys(str(d) for d in SHIPPED_DATA_DIRS))
    raise FileNotFoundError(
        "no data folder found: `data_dir` not given, DYNCONV_DATA not set, and no shipped data in "
        + " or ".join(looked)
        + f" (a folder holding {CHECKSUMS}); reinstall dynconv, or pass `data_dir` / set DYNCONV_DATA "
        "to a folder with one sub-folder of images per data set"
    )


def cache_dir() -> Path:
    """Cache folder: ``$DYNCONV_CACHE``, else ``$XDG_CACHE_HOME/dynconv``, else ``~/.cache/dynconv``."""
    env = os.environ.get("DYNCONV_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "dynconv"


# --------------------------------------------------------------------------- data sets

#: File extensions recognised as images in a data-set folder (other files, e.g. README, are ignored).
IMAGE_EXTENSIONS = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".ppm", ".pgm", ".webp")


def _natural_key(p: Path):
    # t2 before t10: compare digit runs as numbers.
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


def list_datasets(data_dir=None) -> list[str]:
    """Names of the sub-folders of the data folder that contain images (e.g. Set14, Set5, T91)."""
    root = resolve_data_dir(data_dir)
    return sorted(
        d.name
        for d in root.iterdir()
        if d.is_dir() and any(f.suffix.lower() in IMAGE_EXTENSIONS for f in d.iterdir())
    )


def dataset_dir(dataset, data_dir=None) -> Path:
    """The folder of a data set: ``dataset`` itself if it is a directory, else ``<data dir>/<dataset>``.

    Raises
    ------
    ValueError
        Neither exists; the message lists the data sets that do.
    """
    p = Path(dataset).expanduser()
    if p.is_dir():
        return p
    if isinstance(dataset, str) and os.sep not in dataset and "/" not in dataset:
        try:
            root = resolve_data_dir(data_dir)
        except FileNotFoundError as exc:
            raise ValueError(f"unknown data set {str(dataset)!r}: not a folder, and {exc}") from None
        if (root / dataset).is_dir():
            return root / dataset
        known = ", ".join(list_datasets(root)) or "none"
        raise ValueError(
            f"unknown data set {dataset!r}: not a folder and not under {root} (known: {known})"
        )
    raise ValueError(f"unknown data set {str(dataset)!r}: no such folder")


def list_images(dataset, data_dir=None) -> list[Path]:
    """The image files of a data set (name or folder), in natural order (t1, t2, …, t10).

    Raises ``ValueError`` for an unknown data set or a folder without images.
    """
    d = dataset_dir(dataset, data_dir)
    files = sorted(
        (f for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS), key=_natural_key
    )
    if not files:
        raise ValueError(f"data set {str(dataset)!r}: no images in {d} (extensions {', '.join(IMAGE_EXTENSIONS)})")
    return files


def load_dataset(dataset, data_dir=None) -> list[tuple[str, np.ndarray]]:
    """Read every image of a data set: ``[(stem, uint8 array (H, W) or (H, W, 3)), ...]``.

    See :func:`dynconv.image.read_image` for what each image mode becomes.
    """
    from dynconv.image import read_image

    return [(f.stem, read_image(f)) for f in list_images(dataset, data_dir)]


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
    from dynconv import image as im

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

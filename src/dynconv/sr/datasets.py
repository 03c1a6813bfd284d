"""The data sets: where the data folder is, what it holds, and whether it is intact.

The data sets (T91, Set5, Set14) ship with dynconv: in a source checkout they are the folder
``data/`` at the repository root, and an installed wheel carries the same files as package data
(``dynconv/shipped_data/``). A data folder is found through, in order:

1. an explicit ``data_dir``;
2. the ``DYNCONV_DATA`` environment variable;
3. the data that ships with dynconv.

A data folder holds one sub-folder of images per data set and, for the sets that ship with
dynconv, a ``SHA256SUMS`` file in ``sha256sum`` format (``<hex digest>  ./<set>/<file>``), which
:func:`verify` checks (``dynconv data list`` and ``dynconv data verify``). Nothing is ever
written into a data folder: caches go under :func:`cache_dir`.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import NamedTuple

import numpy as np

__all__ = ["SHIPPED_DATA_DIRS", "CHECKSUMS", "SHIPPED_SETS", "IMAGE_EXTENSIONS", "shipped_data_dir", "data_dir_source",
           "resolve_data_dir", "cache_dir", "list_datasets", "dataset_dir", "list_images", "load_dataset",
           "DataSet", "Verification", "list_sets", "read_checksums", "verify"]

#: The repository root when running from a source checkout (``src/dynconv/sr/datasets.py`` → root).
_REPO_ROOT = Path(__file__).resolve().parents[3]

#: Where the shipped data lie: package data of an installed wheel, then a source checkout's ``data/``.
SHIPPED_DATA_DIRS = (Path(__file__).resolve().parents[1] / "shipped_data", _REPO_ROOT / "data")

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

    See :func:`dynconv.sr.image.read_image` for what each image mode becomes.
    """
    from dynconv.sr.image import read_image

    return [(f.stem, read_image(f)) for f in list_images(dataset, data_dir)]


# --------------------------------------------------------------------------- inventory and checksums


class DataSet(NamedTuple):
    """One data set found in a data folder."""

    name: str
    images: int
    path: Path


class Verification(NamedTuple):
    """The outcome of :func:`verify`; ``ok`` when nothing is missing or altered."""

    root: Path
    checked: int
    missing: list[str]  # listed in SHA256SUMS, not on disk
    mismatched: list[str]  # on disk with another digest
    unlisted: list[str]  # images on disk that SHA256SUMS does not cover (a set of your own)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatched


def list_sets(data_dir=None) -> list[DataSet]:
    """Every sub-folder of the data folder that holds images, with its image count and location.

    The shipped sets come first (T91, Set5, Set14), then the others by name.
    """
    root = resolve_data_dir(data_dir)
    order = list(SHIPPED_SETS)
    names = sorted(list_datasets(root), key=lambda n: (order.index(n) if n in order else len(order), n.lower()))
    return [DataSet(n, len(list_images(root / n)), root / n) for n in names]


def read_checksums(path) -> dict[str, str]:
    """``{relative path: hex digest}`` from a ``sha256sum``-format file.

    Raises ``ValueError`` naming the file and line for anything else, and for a name that could
    leave the data folder (absolute, or with a ``..`` part): a checksum list only vouches for the
    folder it sits in.
    """
    path = Path(path)
    out = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        if not sep:  # "<digest> *<name>": binary-mode marker
            digest, sep, name = line.partition(" *")
        digest = digest.strip().lower()
        if not sep or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest) or not name:
            raise ValueError(f"{path}:{n}: not a sha256sum line: {line[:80]!r}")
        name = name.strip().removeprefix("./")
        if _escapes(name):
            raise ValueError(f"{path}:{n}: {name!r} is outside the data folder; entries must be relative "
                             f"paths inside it")
        out[name] = digest
    return out


def _escapes(name: str) -> bool:
    """True when a listed name is absolute or climbs out of its folder (both separators count)."""
    parts = name.replace("\\", "/").split("/")
    drive = len(name) > 1 and name[0].isalpha() and name[1] == ":"  # C:\\..., absolute on Windows
    return name.startswith(("/", "\\")) or drive or ".." in parts


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(data_dir=None, progress=None) -> Verification:
    """Check every file listed in the data folder's ``SHA256SUMS``.

    ``progress(done, total)``, if given, is called after each listed file.

    Raises
    ------
    FileNotFoundError
        The data folder has no ``SHA256SUMS``.
    ValueError
        ``SHA256SUMS`` is malformed, or names a file outside the data folder (directly, with
        ``..``, or through a symbolic link); no such file is read.
    """
    root = resolve_data_dir(data_dir)
    sums = root / CHECKSUMS
    if not sums.is_file():
        raise FileNotFoundError(f"{sums}: no checksum file, nothing to verify against")
    listed = read_checksums(sums)
    missing, mismatched = [], []
    inside = root.resolve()
    for done, (name, digest) in enumerate(listed.items(), 1):
        f = root / name
        if f.exists() and not f.resolve().is_relative_to(inside):
            raise ValueError(f"{sums}: {name!r} links outside the data folder {root}; it is not read")
        if not f.is_file():
            missing.append(name)
        elif _sha256(f) != digest:
            mismatched.append(name)
        if progress is not None:
            progress(done, len(listed))
    unlisted = sorted(
        p.relative_to(root).as_posix()
        for s in list_sets(root)
        for p in list_images(s.path)
        if p.relative_to(root).as_posix() not in listed
    )
    return Verification(root, len(listed), missing, mismatched, unlisted)

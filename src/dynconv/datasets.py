"""The data folder's inventory and integrity: ``dynconv data list`` and ``dynconv data verify``.

A data folder (see :func:`dynconv.data.resolve_data_dir`) holds one sub-folder of images per
data set and, for the sets that ship with dynconv, a ``SHA256SUMS`` file in ``sha256sum``
format (``<hex digest>  ./<set>/<file>``).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import NamedTuple

from dynconv.data import CHECKSUMS, SHIPPED_SETS, list_datasets, list_images, resolve_data_dir

__all__ = ["DataSet", "Verification", "list_sets", "read_checksums", "verify"]


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

"""Size-limited readers: the one place that reads ``.npz`` members and deflate streams.

A hostile file can declare little and inflate to a lot (a "zip bomb"), or declare a lot and so
make the reader allocate before anything is checked. The rule, written once here: check what the
headers declare against hard limits and against each other *before* allocating, then read with a
cap at the declared size, never more.

- :func:`read_npz` checks each zip member's declared uncompressed size and its ``.npy`` header
  (shape, dtype, no objects, so no pickle) and reads the member streamed, at most the declared
  bytes (``zipfile`` stops at the declared size and checks the CRC at its end).
- :func:`inflate` decompresses a zlib stream to exactly the size an image header declares:
  more data, or less, or a corrupt stream, is a ``ValueError`` naming the file.
"""
from __future__ import annotations

import zipfile
import zlib

import numpy as np

#: Hard limits for an ``.npz`` archive read by dynconv (the shipped weights are under 1 MB).
MAX_MEMBER_BYTES = 256 * 2**20
MAX_TOTAL_BYTES = 256 * 2**20
MAX_MEMBERS = 4096
_CHUNK = 1 << 20


class BoundError(ValueError):
    """A file declares, or would inflate to, more than it may; the message names the file."""


def _npy_header(f, name, path):
    """The ``.npy`` header of an open member: (shape, fortran_order, dtype, header bytes)."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=10000)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=10000)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except (ValueError, SyntaxError, EOFError) as exc:
        raise BoundError(f"{path}: corrupt archive member {name!r}: {exc}") from None
    if dtype.hasobject:
        raise BoundError(f"{path}: archive member {name!r} holds Python objects (pickle), refused")
    return shape, fortran, dtype


def _read_member(z, info, path):
    """One member as an array, reading at most its declared size."""
    name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
    with z.open(info) as f:
        shape, fortran, dtype = _npy_header(f, name, path)
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        nbytes = count * dtype.itemsize
        if any(d < 0 for d in shape) or nbytes + f.tell() != info.file_size:
            raise BoundError(f"{path}: corrupt archive member {name!r}: its header says shape {shape} "
                             f"{dtype} ({nbytes} bytes) but the archive declares {info.file_size} bytes")
        buf = bytearray(nbytes)
        view, got = memoryview(buf), 0
        while got < nbytes:
            part = f.read(min(_CHUNK, nbytes - got))
            if not part:
                raise BoundError(f"{path}: truncated archive member {name!r}")
            view[got:got + len(part)] = part
            got += len(part)
        f.read(1)  # reaches the end of the member, where zipfile checks its CRC
    a = np.frombuffer(buf, dtype)
    return (a.reshape(shape[::-1]).transpose() if fortran else a.reshape(shape)), name


def read_npz(path, *, max_member: int = MAX_MEMBER_BYTES, max_total: int = MAX_TOTAL_BYTES) -> dict:
    """All arrays of an ``.npz`` archive, checked against hard limits before any is allocated.

    Parameters
    ----------
    path : str or Path
    max_member, max_total : int
        The largest uncompressed size of one member, and of all members, in bytes.

    Returns
    -------
    dict
        Member name (without ``.npy``) -> ndarray.

    Raises
    ------
    BoundError
        A member larger than the limits, a ``.npy`` header that disagrees with the declared size,
        object arrays, or a truncated member, naming the file.
    zipfile.BadZipFile
        Not a zip archive, or a CRC error.
    """
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        if len(infos) > MAX_MEMBERS:
            raise BoundError(f"{path}: archive has {len(infos)} members (at most {MAX_MEMBERS})")
        big = [i.filename for i in infos if i.file_size > max_member]
        total = sum(i.file_size for i in infos)
        if big or total > max_total:
            raise BoundError(f"{path}: archive declares {total} bytes uncompressed"
                             f"{' (members ' + ', '.join(big) + ' too large)' if big else ''}; "
                             f"at most {max_member} per member and {max_total} in all")
        return dict(reversed(_read_member(z, i, path)) for i in infos)


def inflate(data: bytes, size: int, path, what: str = "image data", *, exact: bool = True) -> bytes:
    """Decompress a zlib stream that must inflate to exactly ``size`` bytes (at most, if not ``exact``).

    Never produces more than ``size`` bytes (``decompressobj`` with ``max_length``), so a stream
    that would inflate further costs no memory before it is refused.

    Raises
    ------
    ValueError
        A corrupt or truncated stream, or one inflating to more (or, if ``exact``, fewer) than ``size`` bytes,
        naming ``path`` and ``what``.
    """
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, size) if size > 0 else b""
        if not d.eof and d.unconsumed_tail and d.decompress(d.unconsumed_tail, 1):
            raise BoundError(f"{path}: corrupt {what}: inflates beyond the {size} bytes its header declares")
    except zlib.error as exc:
        raise ValueError(f"{path}: corrupt {what} ({exc})") from None
    if len(out) > size:
        raise BoundError(f"{path}: corrupt {what}: inflates beyond the {size} bytes its header declares")
    if not d.eof:
        raise ValueError(f"{path}: truncated {what} (the deflate stream ends early, "
                         f"{len(out)} of {size} bytes)")
    if exact and len(out) != size:
        raise ValueError(f"{path}: corrupt {what}: {len(out)} bytes, its header declares {size}")
    return out


#: Config sizes checked before a model is built from a file: channel counts and kernel sizes.
_CHANNEL_KEYS = ("n1", "n2", "b_channels", "b_hidden")
_KERNEL_KEYS = ("f1", "f2", "f3", "b_kernel")
MAX_SIZE = 4096  # no sane channel count, kernel size or window is larger


def size_problem(model_config: dict):
    """The first size key of a model config that cannot build a network, as ``(key, expected)``,
    or None. Channel counts and the window are integers in [1, MAX_SIZE]; kernels are odd too.
    Absent keys take the architecture's defaults and are not checked."""
    for key in _CHANNEL_KEYS + _KERNEL_KEYS + ("window",):
        v = model_config.get(key)
        if v is None:
            continue
        odd = key in _KERNEL_KEYS
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= MAX_SIZE or (odd and v % 2 == 0):
            return key, f"an {'odd ' if odd else ''}integer in [1, {MAX_SIZE}]"
    return None


def check_architecture(path, config: dict, stored: int) -> None:
    """Refuse a header whose architecture cannot fit the ``stored`` parameter values, before
    anything is built from it.

    Every channel carries at least one stored value and every kernel at least f x f, so a channel
    count above ``stored``, or a kernel with more taps, cannot match the file's arrays; both (and
    anything above :data:`MAX_SIZE`) are refused here, not after allocating the model described.

    Raises
    ------
    BoundError
        Naming the file, the key, its value and the range allowed.
    """
    for key in _CHANNEL_KEYS + _KERNEL_KEYS + ("window",):
        v = config.get(key)
        if v is None:
            continue
        bound = MAX_SIZE if key == "window" else \
            min(MAX_SIZE, stored if key in _CHANNEL_KEYS else int(stored ** 0.5))
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= bound:
            raise BoundError(f"{path}: the header's {key} = {v!r} does not fit the {stored} stored "
                             f"parameter values (expected an integer in [1, {bound}])")

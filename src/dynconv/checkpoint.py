"""Checkpoints: parameters (and optionally optimizer state) as ``.npz`` with a JSON header.

File layout (a plain, uncompressed ``numpy.savez`` archive — no pickles)::

    __header__              uint8 array: UTF-8 JSON, see below
    param/<node>.<name>     one array per parameter, e.g. param/conv1.w
    optim/<node>.<name>/<buffer>   optimizer buffers, e.g. optim/conv1.w/momentum

Header: ``{"format": "dynconv-checkpoint", "version": 1, "config": {...}, "dtype": "float32",
"step": 1200, "params": {"conv1.w": [64, 1, 9, 9], ...}, "optimizer": {"type", "step",
"hyper"} or null}``.

``save`` refuses parameters or optimizer buffers that are not finite (a checkpoint is only ever
a good state) and writes atomically (:func:`dynconv.fileio.atomic_path`), so a failed or
interrupted save leaves the previous checkpoint intact. ``load`` reads with
:func:`dynconv.bounded.read_npz` (no pickle; declared sizes checked before anything is allocated)
and raises one :class:`CheckpointError` (a ``ValueError``) naming the problem: unreadable
(truncated, corrupt) file, wrong format or version, a header field of the wrong type, header and
arrays disagreeing, parameters that are not finite floats, optimizer buffers holding NaN or inf
(never written by ``save``, so a resume never starts from a damaged state), or — when loading
into a graph —
missing, extra or mis-shaped parameters.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dynconv.bounded import BoundError, read_npz
from dynconv.fileio import atomic_path

FORMAT = "dynconv-checkpoint"
VERSION = 1
_HEADER = "__header__"


class CheckpointError(ValueError):
    """A checkpoint cannot be written, read or applied; the message names the problem."""


@dataclass
class Checkpoint:
    """The contents of a checkpoint file."""

    params: dict      # qualified name -> ndarray
    config: dict      # architecture / training configuration, as saved
    step: int         # training step
    dtype: str        # parameters' dtype, e.g. "float32"
    optimizer: dict | None  # optimizer state_dict (with "buffers"), or None
    version: int = VERSION


def _named_params(source):
    if hasattr(source, "parameters"):
        return {n: p for n, p, _ in source.parameters()}
    return dict(source)


def save(path, graph_or_params, config=None, step=0, optimizer=None):
    """Write a checkpoint atomically.

    Parameters
    ----------
    path : str or Path
        Destination (kept as given; ``.npz`` is the convention).
    graph_or_params : Graph, layer or dict name -> ndarray
    config : dict, optional
        JSON-serialisable architecture/training configuration.
    step : int
        Training step.
    optimizer : SGD or Adam, optional
        Its ``state_dict()`` is stored too.

    Returns
    -------
    Path
    """
    path = Path(path)
    params = _named_params(graph_or_params)
    dtypes = {str(np.asarray(p).dtype) for p in params.values()}
    if len(dtypes) > 1:
        raise CheckpointError(f"{path}: parameters have mixed dtypes {sorted(dtypes)}; convert with astype")
    arrays = {f"param/{n}": np.asarray(p) for n, p in params.items()}
    _check_finite(path, arrays, "parameter")
    header = {"format": FORMAT, "version": VERSION, "config": config or {},
              "dtype": dtypes.pop() if dtypes else None, "step": int(step),
              "params": {n: list(np.shape(p)) for n, p in params.items()}, "optimizer": None}
    if optimizer is not None:
        state = optimizer.state_dict()
        header["optimizer"] = {k: v for k, v in state.items() if k != "buffers"}
        buffers = {f"optim/{k}": np.asarray(v) for k, v in state["buffers"].items()}
        _check_finite(path, buffers, "optimizer buffer")
        arrays.update(buffers)
    try:
        text = json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: config or optimizer state is not JSON-serialisable: {exc}") from exc
    arrays[_HEADER] = np.frombuffer(text.encode(), dtype=np.uint8)

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return path


def _check_finite(path, arrays, what):
    bad = [k.split("/", 1)[1] for k, a in arrays.items()
           if np.issubdtype(a.dtype, np.inexact) and not np.isfinite(a).all()]
    if bad:
        raise CheckpointError(f"{path}: not written: {what}(s) {', '.join(bad)} hold NaN or inf")


#: The header fields and their types (``optimizer`` may also be null).
_HEADER_TYPES = {"config": dict, "step": int, "params": dict, "dtype": str, "optimizer": dict}


def _check_header(path, header):
    for key, kind in _HEADER_TYPES.items():
        v = header.get(key)
        if key == "optimizer" and v is None:
            continue
        if key == "dtype" and v is None and not header.get("params"):
            continue  # an empty checkpoint has no dtype
        if not isinstance(v, kind) or isinstance(v, bool):
            raise CheckpointError(f"{path}: corrupt header: {key!r} must be a JSON "
                                  f"{'object' if kind is dict else kind.__name__}, got {json.dumps(v)}")
    if header["step"] < 0:
        raise CheckpointError(f"{path}: corrupt header: 'step' must be >= 0, got {header['step']}")
    for n, shape in header["params"].items():
        if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise CheckpointError(f"{path}: corrupt header: the shape of {n!r} must be a list of "
                                  f"sizes, got {json.dumps(shape)}")


def _read(path):
    """All arrays of the archive and the parsed header; CheckpointError if unreadable."""
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":  # every .npz is a zip archive
        raise CheckpointError(f"{path}: unreadable checkpoint: not an .npz archive, so not dynconv weights")
    try:
        arrays = read_npz(path)  # bounded before allocating; CRC errors surface here
    except BoundError as exc:
        raise CheckpointError(f"unreadable checkpoint (corrupt): {exc}") from None
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint (truncated or corrupt?): {exc}") from exc
    if not isinstance(arrays, dict) or _HEADER not in arrays:
        raise CheckpointError(f"{path}: no {_HEADER} entry — not a dynconv checkpoint")
    try:
        header = json.loads(arrays.pop(_HEADER).tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path}: corrupt header: {exc}") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a dynconv checkpoint (format {header.get('format')!r})"
                              if isinstance(header, dict) else f"{path}: corrupt header")
    if header.get("version") != VERSION:
        raise CheckpointError(f"{path}: unsupported checkpoint version {header.get('version')!r} "
                              f"(this dynconv reads version {VERSION})")
    _check_header(path, header)
    return header, arrays


def load(path, into=None, optimizer=None):
    """Read a checkpoint, optionally restoring it into a graph (and optimizer).

    Parameters
    ----------
    path : str or Path
    into : Graph or layer, optional
        Its parameters must match the file's exactly (names and shapes); they are overwritten in
        place (cast to the graph's dtype). Nothing is modified unless everything matches.
    optimizer : SGD or Adam, optional
        Restored from the file's optimizer state (which must exist).

    Returns
    -------
    Checkpoint
    """
    path = Path(path)
    header, arrays = _read(path)
    params = {k[len("param/"):]: v for k, v in arrays.items() if k.startswith("param/")}
    buffers = {k[len("optim/"):]: v for k, v in arrays.items() if k.startswith("optim/")}
    manifest = {n: tuple(s) for n, s in header["params"].items()}
    found = {n: p.shape for n, p in params.items()}
    if manifest != found or len(params) + len(buffers) != len(arrays):
        raise CheckpointError(f"{path}: corrupt checkpoint: the header lists parameters "
                              f"{manifest} but the archive holds {found}")
    bad = [n for n, p in params.items() if not np.issubdtype(p.dtype, np.floating) or not np.isfinite(p).all()]
    if bad:
        raise CheckpointError(f"{path}: parameter(s) {', '.join(bad)} are not finite floating-point "
                              "numbers (a diverged or damaged file)")
    bad = [n for n, b in buffers.items() if np.issubdtype(b.dtype, np.inexact) and not np.isfinite(b).all()]
    if bad:  # save never writes these, so the file was damaged after the fact
        raise CheckpointError(f"{path}: optimizer buffer(s) {', '.join(bad)} hold NaN or inf (a damaged "
                              "file: dynconv never writes one); it is not a good state to resume from")
    opt_state = None
    if header.get("optimizer") is not None:
        opt_state = {**header["optimizer"], "buffers": buffers}

    if into is not None:
        target = _named_params(into)
        missing = sorted(set(target) - set(params))
        extra = sorted(set(params) - set(target))
        shaped = [f"{n}: file {params[n].shape} vs model {target[n].shape}"
                  for n in target if n in params and params[n].shape != target[n].shape]
        problems = ([f"missing parameter(s) {missing}"] if missing else []) + \
                   ([f"extra parameter(s) {extra}"] if extra else []) + \
                   ([f"mis-shaped parameter(s) {'; '.join(shaped)}"] if shaped else [])
        if problems:
            raise CheckpointError(f"{path} does not match the model: " + "; ".join(problems))
        if optimizer is not None:
            if opt_state is None:
                raise CheckpointError(f"{path}: has no optimizer state to restore")
            try:
                optimizer.load_state_dict(opt_state)
            except (ValueError, KeyError) as exc:
                raise CheckpointError(f"{path}: optimizer state does not match: {exc}") from exc
        for n, p in target.items():
            p[...] = params[n]
    elif optimizer is not None:
        raise CheckpointError("load(optimizer=...) needs into=<the graph> as well")
    return Checkpoint(params=params, config=header["config"], step=header["step"],
                      dtype=header.get("dtype"), optimizer=opt_state, version=header["version"])

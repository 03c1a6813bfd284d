r"""Super-resolution methods by name, and the one protocol every command scores them with.

**The registry.** A *method* is ``f(up, scale) -> sr``: ``up`` is the bicubic-upsampled
low-resolution channel, float64 ``(H, W)`` on the 0–255 scale, and ``sr`` the super-resolved
channel of the same shape. :func:`resolve` turns any *method spec* into ``(name, f)``:

* a registered name — ``bicubic``, every shipped model (:data:`SHIPPED`: ``dcnn``,
  ``srcnn-x3``, ...) and anything added with :func:`register`;
* the path of a ``.npz`` checkpoint (the user's own weights);
* a :class:`~dynconv.models.Model`, a callable, or a ``(name, callable or Model)`` pair.

``dynconv evaluate``, ``upscale``, ``demo``, ``models`` and ``reproduce``, their help texts, the
training loop and the notebooks all go through :func:`resolve` and :func:`names`.

**The protocol.** :func:`super_resolve` (degrade → super-resolve → the pair to score),
:func:`evaluate` (over data sets, scales and methods, with :mod:`dynconv.metrics`) and
:func:`upscale` (a real low-resolution input) share the colour handling of the paper's Table 2.
"""
from __future__ import annotations

import functools
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from dynconv import data as _data
from dynconv import image as _im
from dynconv import inference as _inference
from dynconv import metrics as _metrics
from dynconv.models import Model
from dynconv.shipped import SHIPPED

__all__ = ["SHIPPED", "WEIGHTS_DIR", "Entry", "register", "names", "entries", "is_model", "weights_path",
           "require_weights", "load_model", "resolve", "model_method", "factor_warning",
           "COLORS", "super_resolve", "upscale", "evaluate", "mean_records"]

# --------------------------------------------------------------------------- the registry
#: Package folder of the shipped weights (``<file>.npz``; each header holds its config, seed,
#: training wall time and measured Set5/Set14 scores). ``$DYNCONV_WEIGHTS`` points the model
#: names at another folder (e.g. weights you trained yourself).
WEIGHTS_DIR = Path(os.environ.get("DYNCONV_WEIGHTS") or Path(__file__).resolve().parent / "weights")



@dataclass(frozen=True)
class Entry:
    """A registered method; ``factory() -> f`` runs only when the name is used (lazy weights)."""

    name: str
    summary: str
    factory: Callable[[], Callable]


def bicubic_method(up, scale):
    """Bicubic interpolation: the protocol's input already is the bicubic estimate."""
    return up


_REGISTRY: dict[str, Entry] = {"bicubic": Entry("bicubic", "bicubic interpolation (the baseline)",
                                                lambda: bicubic_method)}


def register(name: str, factory: Callable[[], Callable], summary: str = "") -> None:
    """Make ``name`` a method spec everywhere (CLI, evaluate, reproduce); ``factory()`` returns
    its ``f(up, scale) -> sr``."""
    if not isinstance(name, str) or not name or name.endswith(".npz"):
        raise ValueError(f"name must be a non-empty string not ending in .npz, got {name!r}")
    if not callable(factory):
        raise ValueError(f"factory must be callable, got {type(factory).__name__}")
    _REGISTRY[name] = Entry(name, summary, factory)


def _shipped_factory(name):
    return lambda: model_method(load_model(name), name)[1]


for _name, (_, _summary) in SHIPPED.items():
    register(_name, _shipped_factory(_name), _summary)
del _name, _summary


def names() -> list[str]:
    """Every registered name, ``bicubic`` first."""
    return list(_REGISTRY)


def entries() -> list[Entry]:
    """Every registered :class:`Entry`, in registration order."""
    return list(_REGISTRY.values())


def is_model(spec) -> bool:
    """True for a shipped model name or the path of a ``.npz`` checkpoint."""
    return isinstance(spec, (str, Path)) and (str(spec) in SHIPPED or str(spec).lower().endswith(".npz")
                                              or (str(spec) not in _REGISTRY and Path(spec).is_file()))


def weights_path(name: str, weights_dir=None) -> Path:
    """The file a shipped model name loads: ``<weights_dir or WEIGHTS_DIR>/<stem>.npz``."""
    if name not in SHIPPED:
        raise ValueError(f"unknown model {name!r}; shipped: {', '.join(SHIPPED)}")
    return Path(weights_dir if weights_dir is not None else WEIGHTS_DIR) / f"{SHIPPED[name][0]}.npz"


def require_weights(specs, weights_dir=None) -> None:
    """Raise a one-line ``FileNotFoundError`` naming the first missing weight file among the
    shipped names in ``specs`` and how to train it (so that a long run never fails half-way)."""
    missing = [n for n in dict.fromkeys(map(str, specs))
               if n in SHIPPED and not weights_path(n, weights_dir).exists()]
    if not missing:
        return
    stem = SHIPPED[missing[0]][0]
    more = ", ".join(SHIPPED[n][0] for n in missing[1:])
    raise FileNotFoundError(
        f"missing model weights {weights_path(missing[0], weights_dir)}: train them with "
        f"`dynconv train --config configs/{stem}.toml` and copy runs/{stem}/model.npz there"
        + (f" (also missing: {more})" if more else ""))


@functools.lru_cache(maxsize=8)
def load_model(spec, weights_dir=None) -> Model:
    """A shipped model by name (from ``weights_dir``, default :data:`WEIGHTS_DIR`) or any
    checkpoint by path."""
    spec = str(spec)
    if spec in SHIPPED:
        path = weights_path(spec, weights_dir)
        if not path.exists():
            if weights_dir is not None:
                require_weights([spec], weights_dir)
            raise FileNotFoundError(
                f"the weights of {spec!r} are not shipped in this build ({path}); train them with "
                f"`dynconv train --config configs/{SHIPPED[spec][0]}.toml`")
        return Model.load(path)
    path = Path(spec).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"model file not found: {path}")
    return Model.load(path)


def model_method(model: Model, name=None, *, tile=256) -> tuple[str, Callable]:
    """``(name, f)`` running ``model.predict`` on the protocol's 0–255 scale."""

    def run(up, scale):
        return model.predict(np.asarray(up, dtype=np.float64) / 255.0, scale, tile=tile) * 255.0

    return (name or model.name), run


def resolve(spec, *, weights_dir=None) -> tuple[str, Callable]:
    """Turn a method spec into ``(name, f)`` — the one lookup behind every command.

    Parameters
    ----------
    spec : str, Path, Model, callable, or (str, callable or Model)
        A registered name (:func:`names`), a ``.npz`` path, a model, a callable ``f(up, scale)``
        (named by its ``__name__``) or an explicit ``(name, f)`` pair.
    weights_dir : path, optional
        Where shipped model names load their files from (default :data:`WEIGHTS_DIR`); the
        name shown stays the given one.

    Raises
    ------
    ValueError
        An unknown name (the message lists the known ones) or an unusable spec.
    FileNotFoundError
        A model whose weight file does not exist.
    """
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        if isinstance(spec[1], Model):
            return model_method(spec[1], spec[0])
        if callable(spec[1]):
            return spec[0], spec[1]
    if isinstance(spec, Model):
        return model_method(spec)
    if callable(spec):
        return getattr(spec, "__name__", type(spec).__name__), spec
    if isinstance(spec, (str, Path)):
        s = str(spec)
        if s in SHIPPED and weights_dir is not None:
            return model_method(load_model(s, weights_dir), s)
        if s in _REGISTRY:
            return s, _REGISTRY[s].factory()
        if s.lower().endswith(".npz") or Path(s).is_file():  # a weights file, labelled by its path
            return model_method(load_model(s), s)
        raise ValueError(f"unknown method {s!r}; choose from {', '.join(_REGISTRY)} or the path of a "
                         "weights file (.npz)")
    raise ValueError(f"method must be a name, a .npz path, a model or a callable, got {type(spec).__name__}")


def factor_warning(spec, scale):
    """A message when ``scale`` lies where model ``spec`` was not trained to work, else None.

    * A model trained on a range of factors (``data.scale_range`` in its header, such as
      ``dcnn``): outside that range.
    * A model whose network B reads the factor from the periodicity of the input
      (``b_periods``, such as ``dcnn-x234``): any factor that is not one of those periods;
      there B mistakes the factor (docs/discussion.md, "Unseen scales"). Scores the model's
      header records at other factors are quoted.
    """
    if not is_model(spec):
        return None
    model = load_model(str(spec))
    lo_hi = ((model.meta.get("train_config") or {}).get("data") or {}).get("scale_range") or []
    if lo_hi:
        if lo_hi[0] - 1e-9 <= float(scale) <= lo_hi[1] + 1e-9:
            return None
        return (f"{spec} was trained for factors x{lo_hi[0]:g} to x{lo_hi[1]:g}; x{float(scale):g} is outside "
                "that range and may be worse than bicubic")
    periods = model.config.get("b_periods") or []
    if not periods or float(scale) in [float(p) for p in periods]:
        return None
    measured = [f"{ds} {k}: {v['psnr']:.2f} dB" for ds, per in (model.meta.get("scores") or {}).items()
                for k, v in per.items() if float(k[1:]) not in [float(p) for p in periods]]
    return (f"{spec} recognises the factors {', '.join(f'x{p}' for p in periods)} from the image; "
            f"at x{float(scale):g} it can be worse than bicubic"
            + (f" ({', '.join(measured)})" if measured else "")
            + "; dcnn works at any factor from x1.2 to x4")


# --------------------------------------------------------------------------- the protocol
COLORS = ("y", "ycbcr", "hsv", "rgb")


def _run(fn: Callable, up: np.ndarray, scale, what: str) -> np.ndarray:
    try:
        return _inference.check_output(fn(up, scale), _inference.method_name(fn), up.shape)
    except ValueError as exc:
        raise ValueError(f"{what}: {exc}") from None


def _check_color(color):
    if color not in COLORS:
        raise ValueError(f"color must be one of {', '.join(COLORS)}, got {color!r}")


def super_resolve(hr, scale, method="bicubic", color: str = "y", name: str = "image"):
    r"""The standard SR protocol on one image, with the paper's colour variants (Table 2).

    Steps: crop to a multiple of the scale (:func:`~dynconv.image.modcrop`); degrade each
    processed channel with :func:`~dynconv.image.bicubic` on :math:`[0, 1]` data (as the MATLAB
    code does) and hand ``up * 255`` to the method; clip and round its output to ``uint8``.

    ``color`` selects what the method sees and what is scored:

    * ``"y"`` / ``"ycbcr"``: Y of MATLAB ``rgb2ycbcr`` rounded to ``uint8`` (grey images are their
      own Y); scored on Y. ``"ycbcr"`` also builds the colour output with bicubic Cb/Cr.
    * ``"hsv"``: V = max(R, G, B); H and S bicubic; scored on V.
    * ``"rgb"``: the method runs on each of R, G, B; scored on the RGB image.

    Parameters
    ----------
    hr : array_like, uint8, ``(H, W)`` or ``(H, W, 3)``
    scale : float
    method : method spec
        See :func:`resolve`.
    color : {"y", "ycbcr", "hsv", "rgb"}
    name : str
        Used in error messages (e.g. the file name).

    Returns
    -------
    ref, sr : ndarray of uint8
        The cropped reference and the estimate, both ``(H', W')`` (or ``(H', W', 3)`` for
        ``"rgb"``): the pair the metrics compare.
    rgb_out : ndarray of uint8 or None
        The full-colour estimate ``(H', W', 3)`` for ``"ycbcr"``, ``"hsv"``, ``"rgb"`` on
        colour input; otherwise ``None``.
    """
    _check_color(color)
    _, fn = resolve(method)
    x = np.asarray(hr)
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[2] != 3):
        raise ValueError(f"{name}: expected an (H, W) or (H, W, 3) image, got shape {x.shape}")
    m = _im.scale_multiple(scale)
    if x.shape[0] < m or x.shape[1] < m:
        raise ValueError(f"{name}: image of size {x.shape[0]}x{x.shape[1]} is smaller than the scale {scale}")
    x = _im.modcrop(x, scale)

    def channel_sr(c: np.ndarray) -> np.ndarray:
        up = _im.bicubic(np.asarray(c, dtype=np.float64) / 255.0, scale) * 255.0
        return _im.to_uint8(_run(fn, up, scale, name))

    if x.ndim == 2 or color in ("y", "ycbcr"):
        y = _im.rgb_to_y(x)
        sr = channel_sr(y)
        rgb_out = None
        if x.ndim == 3 and color == "ycbcr":
            ycc = _im.rgb_to_ycbcr(x)
            cbcr = _im.bicubic(ycc[:, :, 1:] / 255.0, scale) * 255.0
            rgb_out = _im.to_uint8(_im.ycbcr_to_rgb(np.dstack([sr, cbcr])))
        return y, sr, rgb_out
    if color == "hsv":
        hsv = _im.rgb_to_hsv(x)
        v = _im.to_uint8(hsv[:, :, 2])
        sr = channel_sr(v)
        hs = np.clip(_im.bicubic(hsv[:, :, :2], scale), 0.0, 1.0)
        rgb_out = _im.to_uint8(_im.hsv_to_rgb(np.dstack([hs, sr.astype(np.float64)])))
        return v, sr, rgb_out
    sr = np.dstack([channel_sr(x[:, :, c]) for c in range(3)])
    return x.astype(np.uint8), sr, sr


def upscale(lr, scale, method="bicubic", color: str = "ycbcr", name: str = "image"):
    """Super-resolve a low-resolution image by ``scale``: what ``dynconv upscale`` does.

    The same colour handling as :func:`super_resolve`, applied to a real low-resolution input
    instead of a degraded reference: each processed channel is bicubic-upsampled
    (:func:`~dynconv.image.imresize`) and handed to the method on the 0–255 scale.

    Parameters
    ----------
    lr : array_like, uint8, ``(h, w)`` or ``(h, w, 3)``
    scale : float
    method : method spec
        See :func:`resolve`.
    color : {"y", "ycbcr", "hsv", "rgb"}
        ``"y"``/``"ycbcr"``: the method runs on Y, Cb/Cr are bicubic; ``"hsv"``: on V, H/S
        bicubic; ``"rgb"``: on each channel. Grey images are processed as they are.

    Returns
    -------
    ndarray of uint8, ``(H, W)`` or ``(H, W, 3)`` with ``H = ceil(h * scale)`` (MATLAB's size).
    """
    _check_color(color)
    _, fn = resolve(method)
    x = np.asarray(lr)
    if x.ndim not in (2, 3) or (x.ndim == 3 and x.shape[2] != 3) or 0 in x.shape:
        raise ValueError(f"{name}: expected a non-empty (H, W) or (H, W, 3) image, got shape {x.shape}")

    def up(c):
        return _im.imresize(np.asarray(c, dtype=np.float64) / 255.0, scale) * 255.0

    def channel_sr(c):
        return np.clip(_run(fn, up(c), scale, name), 0.0, 255.0)

    if x.ndim == 2:
        return _im.to_uint8(channel_sr(x))
    if color in ("y", "ycbcr"):
        ycc = _im.rgb_to_ycbcr(x)
        y = channel_sr(ycc[:, :, 0])
        cbcr = np.dstack([up(ycc[:, :, 1]), up(ycc[:, :, 2])])
        return _im.to_uint8(_im.ycbcr_to_rgb(np.dstack([y, cbcr])))
    if color == "hsv":
        hsv = _im.rgb_to_hsv(x)
        v = channel_sr(hsv[:, :, 2])
        hs = np.clip(np.dstack([up(hsv[:, :, 0] * 255.0), up(hsv[:, :, 1] * 255.0)]) / 255.0, 0.0, 1.0)
        return _im.to_uint8(_im.hsv_to_rgb(np.dstack([hs, v])))
    return np.dstack([_im.to_uint8(channel_sr(x[:, :, c])) for c in range(3)])


def shave_for(scale) -> int:
    """Pixels the protocol removes from every side before scoring: ``ceil(scale)``."""
    return int(math.ceil(float(scale)))


def mean_records(records: list[dict], metrics: Iterable[str]) -> list[dict]:
    """One ``"image": "mean"`` record per (dataset, scale, method) group, in first-seen order."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        if r["image"] != "mean":
            groups.setdefault((r["dataset"], r["scale"], r["method"]), []).append(r)
    out = []
    for (ds, sc, me), rs in groups.items():
        rec = {"dataset": ds, "scale": sc, "method": me, "image": "mean"}
        for k in _metrics.METRICS:
            rec[k] = float(np.mean([r[k] for r in rs])) if k in metrics else None
        out.append(rec)
    return out


def evaluate(datasets=("Set5",), scales=(2, 3, 4), methods=("bicubic",), metrics=tuple(_metrics.METRICS),
             data_dir=None, color: str = "y", progress=None) -> list[dict]:
    r"""Evaluate methods over data sets and scales with the standard SR protocol.

    For every data set, scale and method (in that nesting order), each image goes through
    :func:`super_resolve`; the metrics compare its reference and estimate after shaving
    ``ceil(scale)`` pixels. The mean over a group's images follows its per-image records.

    Parameters
    ----------
    datasets : str or Path, or a sequence of them
        Names under the data folder (``"Set5"``, ``"Set14"``, ``"T91"``) or paths to any folder
        of images (see :func:`dynconv.data.list_images`).
    scales : float or sequence of float
    methods : method spec or a sequence of them
        See :func:`resolve`: ``"bicubic"``, ``"dcnn"``, a ``.npz`` path, a model, a callable
        ``f(up, scale) -> sr`` or a ``(name, f)`` pair, e.g.
        ``evaluate(methods=[("mine", lambda up, s: net(up / 255) * 255)])``.
    metrics : sequence of str
        Subset of ``psnr``, ``wpsnr``, ``ssim``, ``msssim``.
    data_dir : str or Path, optional
        See :func:`dynconv.data.resolve_data_dir`.
    color : {"y", "ycbcr", "hsv", "rgb"}
        What the method sees and what is scored (:func:`super_resolve`); ``"y"`` is the standard.
    progress : callable, optional
        Called with a one-line message after each image (e.g. ``print``).

    Returns
    -------
    list of dict
        Records ``{"dataset", "scale", "method", "image", "psnr", "wpsnr", "ssim", "msssim"}``
        (metrics not requested are ``None``); ``"image": "mean"`` marks a group's average.
    """

    if isinstance(datasets, (str, Path)):
        datasets = [datasets]
    if isinstance(scales, (int, float)):
        scales = [scales]
    if isinstance(methods, (str, Path, Model)) or callable(methods) or (
            isinstance(methods, tuple) and len(methods) == 2 and isinstance(methods[0], str)):
        methods = [methods]
    metrics = [m.strip().lower() for m in metrics]
    bad = [m for m in metrics if m not in _metrics.METRICS]
    if bad or not metrics:
        raise ValueError(f"unknown metric(s) {', '.join(bad) or '(none given)'}; "
                         f"choose from {', '.join(_metrics.METRICS)}")
    resolved = [resolve(m) for m in methods]
    for s in scales:
        _im.scale_multiple(s)  # validates before any work

    out: list[dict] = []
    for ds in datasets:
        label = str(ds)
        images = _data.load_dataset(ds, data_dir=data_dir)
        for s in scales:
            sc = int(s) if float(s) == int(s) else float(s)
            for mname, fn in resolved:
                group = []
                for iname, hr in images:
                    t0 = time.perf_counter()
                    ref, sr, _ = super_resolve(hr, sc, (mname, fn), color=color, name=f"{label}/{iname}")
                    rec = {"dataset": label, "scale": sc, "method": mname, "image": iname}
                    for k, f in _metrics.METRICS.items():
                        try:
                            rec[k] = f(ref, sr, shave=shave_for(sc)) if k in metrics else None
                        except ValueError as exc:  # e.g. an image too small for MS-SSIM's scales
                            raise ValueError(f"{label}/{iname} at x{sc:g}: {k}: {exc} (choose the metrics "
                                             "with `metrics`, e.g. psnr,ssim)") from None
                    group.append(rec)
                    if progress is not None:
                        progress(f"{label} x{sc} {mname} {iname}: {time.perf_counter() - t0:.2f} s")
                out.extend(group)
                out.extend(mean_records(group, metrics))
    return out

r"""Super-resolution methods by name: the registry every command, the training loop and the notebooks use.

A *method* is ``f(up, scale) -> sr``: ``up`` is the bicubic-upsampled low-resolution channel,
float64 ``(H, W)`` on the 0–255 scale, and ``sr`` the super-resolved channel of the same shape.
:func:`resolve` turns any *method spec* into ``(name, f)``:

* a registered name — ``bicubic``, every shipped model (:data:`SHIPPED`: ``dcnn``,
  ``srcnn-x3``, ...) and anything added with :func:`register`;
* the path of a ``.npz`` checkpoint (the user's own weights);
* a :class:`~dynconv.sr.models.Model`, a callable, or a ``(name, callable or Model)`` pair.
"""
from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from dynconv.sr.models import Model
from dynconv.sr.shipped import SHIPPED

__all__ = ["SHIPPED", "WEIGHTS_DIR", "Entry", "register", "unregister", "names", "entries", "is_model", "weights_path",
           "require_weights", "load_model", "resolve", "model_method", "factor_warning"]

# --------------------------------------------------------------------------- the registry
#: Package folder of the shipped weights (``<file>.npz``; each header holds its config, seed,
#: training wall time and measured Set5/Set14 scores). ``$DYNCONV_WEIGHTS`` points the model
#: names at another folder (e.g. weights you trained yourself).
WEIGHTS_DIR = Path(os.environ.get("DYNCONV_WEIGHTS") or Path(__file__).resolve().parents[1] / "weights")



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


def unregister(name: str) -> None:
    """Remove a method added with :func:`register` (a shipped name or ``bicubic`` stays)."""
    if name == "bicubic" or name in SHIPPED:
        raise ValueError(f"{name!r} ships with dynconv and cannot be unregistered")
    _REGISTRY.pop(name, None)


def _shipped_factory(name):
    return lambda: model_method(load_model(name), name)[1]


for _name, _entry in SHIPPED.items():
    register(_name, _shipped_factory(_name), _entry.summary)
del _name, _entry


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
    return Path(weights_dir if weights_dir is not None else WEIGHTS_DIR) / f"{SHIPPED[name].stem}.npz"


def require_weights(specs, weights_dir=None) -> None:
    """Raise a one-line ``FileNotFoundError`` naming the first missing weight file among the
    shipped names in ``specs`` and how to train it (so that a long run never fails half-way)."""
    missing = [n for n in dict.fromkeys(map(str, specs))
               if n in SHIPPED and not weights_path(n, weights_dir).exists()]
    if not missing:
        return
    stem = SHIPPED[missing[0]].stem
    more = ", ".join(SHIPPED[n].stem for n in missing[1:])
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
                f"`dynconv train --config configs/{SHIPPED[spec].stem}.toml`")
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

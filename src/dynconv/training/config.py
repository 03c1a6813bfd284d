"""Training configs: the defaults, the schema every key is checked against, and what a resume may change.

A config is a TOML file whose sections override :data:`DEFAULTS`. :func:`validate` checks every
key against :data:`SCHEMA` before any work starts, so a wrong type or range is a one-line error
naming the key (``train.lr must be a positive number, got "fast"``), never a traceback after the
sub-images are prepared.
"""
from __future__ import annotations

import copy
import math
import tomllib
from pathlib import Path

from dynconv.bounded import size_problem

__all__ = ["DEFAULTS", "SCHEMA", "RESUMABLE", "ConfigError", "merge", "load_config", "validate",
           "resume_conflicts"]


class ConfigError(ValueError):
    """A config key with a wrong name, type or value; the message names the key."""


#: Every config key with its default. A config file overrides any subset.
DEFAULTS = {
    "model": {"arch": "srcnn"},
    "data": {
        "dataset": "T91",
        "scales": [2, 3, 4],
        "patch_size": 33,  # the side of a training sub-image
        "stride": 14,
        "degradation": "bicubic",  # "bicubic" (the test protocol) or "gaussian" (the paper's)
        "sigma": 1.0,  # Gaussian blur for degradation = "gaussian"
        "augment": True,  # random flip/rot90 per sample, on the fly
        # [lo, hi]: also train at the fractions p/q in this range, on sub-images cut at random positions
        # (dynconv.training.batches.Batches.random), drawn with probability 1 - fixed_share; [] trains at
        # `scales` only, on sub-images cut every `stride` pixels (Batches.strided).
        "scale_range": [],
        "max_numerator": 20,  # p <= this: exact low-resolution sizes after a small crop
        "scale_spacing": 1.03,  # grid factors at least this ratio apart
        "fixed_share": 0.5,  # share of each batch drawn from `scales`
        "downscales": [1.0],  # scale_range only: also train on each image shrunk by these (FSRCNN: 0.9 ... 0.6)
    },
    "train": {
        "seed": 0,
        "batch_size": 64,
        "steps": 10000,
        "time_budget_minutes": 0,  # > 0: stop early after this much training time
        "optimizer": "adam",  # "adam" or "sgd"
        "lr": 1e-3,
        "momentum": 0.9,  # sgd only
        "weight_decay": 0.0,
        "groups": {},  # {"conv3.*": {"lr": 1e-5}}: per-parameter-group overrides
        "schedule": "cosine",  # "constant", "cosine" or "step"
        "min_lr_factor": 0.01,  # cosine: final lr / initial lr
        "step_size": 0,  # step schedule: steps between decays
        "gamma": 0.1,  # step schedule: decay factor
        "clip_norm": 0.0,  # > 0: clip the global gradient norm
        "loss": "mse",  # "mse" (mean) or "euclidean" (Caffe's 1/2N sum, the paper's)
        "balance_scales": False,  # weight each scale's samples by 1 / its bicubic MSE
        "csf_weight": 0.0,  # > 0: add the CSF-filtered error (WPSNR's view), each factor by 1 / bicubic's
        "init": "",  # start from these weights (a shipped name or a .npz) instead of at random
        "threads": 0,  # > 0: the recipe's kernel threads (dynconv train / retrain, unless --threads)
    },
    "eval": {
        "every": 1000,  # steps between Set5 evaluations (0: only at the end)
        "dataset": "Set5",
        "scales": [],  # the factors evaluated during training ([]: data.scales)
        "final_datasets": ["Set5", "Set14"],
    },
    "checkpoint": {"every_minutes": 5.0},
}


# --------------------------------------------------------------------------- checks
# Each check returns None when the value is fine, else what the value must be ("a positive number").


def _is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def number(lo=None, hi=None, *, lo_open=False, hi_open=False, what=None):
    """A finite int or float in the interval; ``what`` names it in the message."""
    if what is None:
        if lo == 0 and lo_open and hi is None:
            what = "a positive number"
        elif lo == 0 and hi is None:
            what = "a number >= 0"
        else:
            left = "(" if lo_open else "["
            right = ")" if hi_open else "]"
            what = f"a number in {left}{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}{right}"

    def check(v):
        if not _is_number(v):
            return what
        if lo is not None and (v < lo or (lo_open and v == lo)):
            return what
        if hi is not None and (v > hi or (hi_open and v == hi)):
            return what
        return None

    return check


def integer(lo=None, what=None):
    """An int (not a bool, not a float such as 16.5 or 16.0) that is at least ``lo``."""
    what = what or ("an integer" if lo is None else f"an integer >= {lo}")

    def check(v):
        if not isinstance(v, int) or isinstance(v, bool) or (lo is not None and v < lo):
            return what
        return None

    return check


def boolean(v):
    return None if isinstance(v, bool) else "true or false"


def text(v):
    return None if isinstance(v, str) and v.strip() else "a non-empty string"


def choice(*options):
    def check(v):
        return None if isinstance(v, str) and v in options else "one of " + ", ".join(repr(o) for o in options)

    return check


def list_of(item, *, min_len=1, unique=False, what=None):
    def check(v):
        bad = (not isinstance(v, list) or len(v) < min_len or any(item(x) is not None for x in v)
               or (unique and len(set(v)) != len(v)))
        return what if bad else None

    return check


def _groups(v):
    """``{"pattern": {"lr": x, ...}}``: per-parameter-group overrides.

    The rates are checked here; which other keys an optimizer takes, it checks itself.
    """
    what = 'a table of {"<node pattern>" = {lr = <positive number>, ...}}'
    if not isinstance(v, dict):
        return what
    checks = {"lr": number(0, lo_open=True), "weight_decay": number(0), "momentum": number(0, 1, hi_open=True)}
    for opts in v.values():
        if not isinstance(opts, dict) or not opts:
            return what
        if any(k in checks and checks[k](x) for k, x in opts.items()):
            return what
    return None


_SCALE = number(1, 16, lo_open=True, what="a scale factor in (1, 16]")


def _scale_range(v):
    what = "[] or [lo, hi] with 1 < lo <= hi <= 16"
    if v == []:
        return None
    if not isinstance(v, list) or len(v) != 2 or any(_SCALE(x) for x in v) or v[0] > v[1]:
        return what
    return None

#: One check per key (the ``model`` section is free-form: the builder checks it).
SCHEMA = {
    "data": {
        "dataset": text,
        "scales": list_of(_SCALE, unique=True, what="a non-empty list of distinct scale factors in (1, 16], e.g. [2, 3, 4]"),
        "patch_size": integer(3),
        "stride": integer(1),
        "degradation": choice("bicubic", "gaussian"),
        "sigma": number(0, lo_open=True),
        "augment": boolean,
        "scale_range": _scale_range,
        "max_numerator": integer(2),
        "scale_spacing": number(1, 2, what="a number in [1, 2]"),
        "fixed_share": number(0, 1),
        "downscales": list_of(number(0.25, 1), unique=True, what="a non-empty list of distinct factors in [0.25, 1]"),
    },
    "train": {
        "seed": integer(0),
        "batch_size": integer(1),
        "steps": integer(1),
        "time_budget_minutes": number(0),
        "optimizer": choice("adam", "sgd"),
        "lr": number(0, lo_open=True),
        "momentum": number(0, 1, hi_open=True),
        "weight_decay": number(0),
        "groups": _groups,
        "schedule": choice("constant", "cosine", "step"),
        "min_lr_factor": number(0, 1, lo_open=True),
        "step_size": integer(0),
        "gamma": number(0, 1, lo_open=True),
        "clip_norm": number(0),
        "loss": choice("mse", "euclidean"),
        "balance_scales": boolean,
        "csf_weight": number(0),
        "init": lambda v: None if isinstance(v, str) else "a model name or .npz path (\"\" for none)",
        "threads": integer(0),
    },
    "eval": {
        "every": integer(0),
        "dataset": text,
        "scales": list_of(_SCALE, min_len=0, unique=True, what="a list of distinct scale factors in (1, 16]"),
        "final_datasets": list_of(text, min_len=0, what="a list of data-set names or folders"),
    },
    "checkpoint": {"every_minutes": number(0)},
}


def _show(v):
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v)


def validate(config: dict) -> dict:
    """Check every key of a full config (defaults merged in); return it unchanged.

    Raises
    ------
    ConfigError
        Naming the first bad key: ``train.lr must be a positive number, got "fast"``.
    """
    if not isinstance(config, dict):
        raise ConfigError(f"a config must be a table of sections, got {type(config).__name__}")
    for section, keys in config.items():
        if section not in DEFAULTS:
            raise ConfigError(f"unknown config section {section!r}; known: {', '.join(DEFAULTS)}")
        if not isinstance(keys, dict):
            raise ConfigError(f"[{section}] must be a table, got {_show(keys)}")
    arch = config.get("model", {}).get("arch")
    if not isinstance(arch, str) or not arch:
        raise ConfigError(f"model.arch must be a model architecture name, got {_show(arch)}")
    for section, checks in SCHEMA.items():
        for key, check in checks.items():
            value = config.get(section, {}).get(key, DEFAULTS[section][key])
            what = check(value)
            if what is not None:
                raise ConfigError(f"{section}.{key} must be {what}, got {_show(value)}")
    bad = size_problem(config.get("model", {}))
    if bad is not None:  # before the model is built, so the error names the key, not a layer
        key, what = bad
        raise ConfigError(f"model.{key} must be {what}, got {_show(config['model'][key])}")
    return config


def merge(base, override, where="config"):
    """Deep-merge ``override`` into a copy of ``base``; unknown sections/keys are errors."""
    if not isinstance(override, dict):
        raise ConfigError(f"{where} must be a table, got {_show(override)}")
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key not in base and where != "config.model":
            raise ConfigError(f"{where}: unknown key {key!r}; known: {', '.join(base)}")
        if isinstance(base.get(key), dict) and key != "groups":
            out[key] = merge(base[key], value, f"{where}.{key}")
        else:
            out[key] = value
    return out


def load_config(path) -> dict:
    """Read a TOML config, merge it over :data:`DEFAULTS` and :func:`validate` it."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"config file not found: {path}") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a TOML config file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    try:
        return validate(merge(DEFAULTS, raw))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


# --------------------------------------------------------------------------- resume

#: Keys a resumed run may change: how long and how visibly it runs, and the two remedies for a
#: divergence (a lower ``train.lr``, a ``train.clip_norm``). Everything else — model, data, scales,
#: optimizer, schedule, seed, batch size — must match the checkpoint's config.
RESUMABLE = frozenset({
    "train.steps", "train.time_budget_minutes", "train.lr", "train.clip_norm", "train.threads",
    "eval.every", "eval.dataset", "eval.final_datasets", "checkpoint.every_minutes",
})


def _flatten(config, prefix=""):
    out = {}
    for k, v in config.items():
        if isinstance(v, dict) and k != "groups" and not prefix.startswith("model"):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def resume_conflicts(saved: dict, current: dict) -> list[str]:
    """The keys where ``current`` differs from the ``saved`` config in a way a resume must refuse.

    Each entry reads ``key: saved → current``. An empty list means the resume is safe.
    """
    a, b = _flatten(saved), _flatten(current)
    out = []
    for key in sorted(set(a) | set(b)):
        if key in RESUMABLE:
            continue
        va, vb = a.get(key, "(unset)"), b.get(key, "(unset)")
        if va != vb:
            out.append(f"{key}: {_show(va)} → {_show(vb)}")
    return out

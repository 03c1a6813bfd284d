"""Start a training run from another model's weights (``train.init``).

A parameter with the same name and shape is copied. A ``Linear`` weight ``(out, in)`` whose
input grew (new features appended to the end of its input, as when B gains a feature node)
keeps its old columns and starts the new ones at zero, so the new model computes exactly what
the old one did at step 0 and training starts from there. A parameter the source lacks may only
belong to a layer that starts as the identity (an extra mapping layer,
:func:`dynconv.sr.network_a.identity_started`), which keeps that property. Any other mismatch is
an error naming the parameter.
"""
from __future__ import annotations

__all__ = ["warm_start", "init_info", "resolve_init"]


def warm_start(model, spec, weights_dir=None) -> dict:
    """Copy the parameters of ``spec`` (a shipped name or a ``.npz``) into ``model``.

    Returns ``{"name", "step", "training_wall_seconds", "grown", "added"}`` describing the source,
    for the new model's header (its own training time adds to the source's).
    """
    from dynconv import sr
    from dynconv.sr.network_a import identity_started

    spec = resolve_init(spec)
    src = sr.load_model(spec, weights_dir)
    if src.config["arch"] != model.config["arch"]:
        raise ValueError(f"train.init {spec!r}: a {src.config['arch']} model cannot start a {model.config['arch']} run")
    theirs = {name: p for name, p, _ in src.graph.parameters()}
    grown, added, fresh = [], [], identity_started(model.config)
    for name, p, _ in model.graph.parameters():
        q = theirs.pop(name, None)
        if q is None and name in fresh:
            added.append(name)
            continue
        if q is None:
            raise ValueError(f"train.init {spec!r}: it has no parameter {name} {p.shape}")
        if q.shape == p.shape:
            p[...] = q
        elif p.ndim == 2 and q.ndim == 2 and q.shape[0] == p.shape[0] and q.shape[1] < p.shape[1]:
            p[...] = 0
            p[:, :q.shape[1]] = q
            grown.append(name)
        else:
            raise ValueError(f"train.init {spec!r}: parameter {name} has shape {q.shape}, this model needs {p.shape}")
    if theirs:
        raise ValueError(f"train.init {spec!r}: parameters this model does not have: {', '.join(sorted(theirs))}")
    return dict(init_info(spec, src), grown=grown, added=added)


def resolve_init(spec):
    """``train.init`` as ``sr.load_model`` takes it: a shipped name or a ``.npz`` stays as it is; a
    run folder (not a shipped name) means its ``model.npz`` (``dynconv retrain`` points a child at
    its parent's retrained folder this way)."""
    from pathlib import Path

    from dynconv.sr.shipped import SHIPPED

    spec = str(spec)
    if spec not in SHIPPED and Path(spec).expanduser().is_dir():
        return str(Path(spec).expanduser() / "model.npz")
    return spec


def init_info(spec, src=None) -> dict:
    """What a run started from: ``{"name", "step", "training_wall_seconds"}`` of the model
    ``spec`` (its own training time plus that of what it started from, if anything)."""
    if src is None:
        from dynconv import sr

        spec = resolve_init(spec)
        src = sr.load_model(spec)
    meta = src.meta or {}
    wall = meta.get("training_wall_seconds", (meta.get("run") or {}).get("wall_seconds"))
    if wall is not None:
        wall = round(float(wall) + float((meta.get("init") or {}).get("training_wall_seconds") or 0), 1)
    return {"name": str(spec), "step": int(src.step), "training_wall_seconds": wall}

"""Training: a TOML config → patches → SGD/Adam steps → checkpoints, logs, curves, scores.

One run trains one model on sub-images of several scales at once (the paper's "dynamic"
training for x2, x3 and x4). Everything a run needs is in its config (``configs/*.toml``);
see :data:`DEFAULTS` for every key and its default.

Guarantees
----------
* **Deterministic.** Step ``t`` uses the batch ``permutation(seed, epoch)[...]`` and the
  augmentation ``default_rng([seed, t])``: the same seed gives the same run, and a resumed
  run continues exactly as the uninterrupted one (same next loss).
* **Nothing is lost.** Checkpoints are written atomically (temporary file + ``os.replace``)
  every ``checkpoint_minutes``, at the end, and on Ctrl-C; a NaN/Inf loss stops the run with a
  clear message, leaving the last good checkpoint intact.
* **Visible.** A tqdm bar (loss, patches/s, ETA), Set5 PSNR at every training scale each
  ``eval_every`` steps, a CSV log and a PNG of the curves in the output folder.
"""
from __future__ import annotations

import copy
import csv
import json
import math
import os
import sys
import time
import tomllib
from pathlib import Path

import numpy as np

from dynconv import data as D
from dynconv import models, sr
from dynconv.layers import EuclideanLoss, MSELoss
from dynconv.optim import SGD, Adam, ConstantLR, CosineLR, StepLR

#: Every config key with its default. A config file overrides any subset.
DEFAULTS = {
    "model": {"arch": "srcnn"},
    "data": {
        "dataset": "T91",
        "scales": [2, 3, 4],
        "patch_size": 33,
        "stride": 14,
        "degradation": "bicubic",  # "bicubic" (the test protocol) or "gaussian" (the paper's)
        "sigma": 1.0,  # Gaussian blur for degradation = "gaussian"
        "augment": True,  # random flip/rot90 per sample, on the fly
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
    },
    "eval": {
        "every": 1000,  # steps between Set5 evaluations (0: only at the end)
        "dataset": "Set5",
        "final_datasets": ["Set5", "Set14"],
    },
    "checkpoint": {"every_minutes": 5.0},
}


class TrainingError(RuntimeError):
    """A run that cannot continue (e.g. a non-finite loss); the last checkpoint is intact."""


def merge(base, override, where="config"):
    """Deep-merge ``override`` into a copy of ``base``; unknown sections/keys are errors."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if key not in base and where != "config.model":
            raise ValueError(f"{where}: unknown key {key!r}; known: {', '.join(base)}")
        if isinstance(value, dict) and isinstance(base.get(key), dict) and key != "groups":
            out[key] = merge(base[key], value, f"{where}.{key}")
        else:
            out[key] = value
    return out


def load_config(path):
    """Read a TOML config and merge it over :data:`DEFAULTS`."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    return merge(DEFAULTS, raw)


def _model_kwargs(config):
    m = dict(config["model"])
    m.setdefault("seed", config["train"]["seed"])
    return m


def _schedule(t):
    kind = t["schedule"]
    if kind == "constant":
        return ConstantLR()
    if kind == "cosine":
        return CosineLR(t["steps"], t["min_lr_factor"])
    if kind == "step":
        return StepLR(t["step_size"] or max(1, t["steps"] // 3), t["gamma"])
    raise ValueError(f"train.schedule must be constant, cosine or step, got {kind!r}")


def make_optimizer(model, t):
    common = dict(weight_decay=t["weight_decay"], groups=t["groups"] or None,
                  schedule=_schedule(t), clip_norm=t["clip_norm"] or None)
    if t["optimizer"] == "adam":
        return Adam(model.graph, lr=t["lr"], **common)
    if t["optimizer"] == "sgd":
        return SGD(model.graph, lr=t["lr"], momentum=t["momentum"], **common)
    raise ValueError(f"train.optimizer must be 'adam' or 'sgd', got {t['optimizer']!r}")


def make_loss(name):
    if name == "mse":
        return MSELoss()
    if name == "euclidean":
        return EuclideanLoss()
    raise ValueError(f"train.loss must be 'mse' or 'euclidean', got {name!r}")


def set5_psnr(model, scales, dataset="Set5", data_dir=None):
    """Mean Y PSNR of ``model`` on ``dataset`` per scale: ``{scale: psnr}``."""
    recs = sr.evaluate(datasets=[dataset], scales=scales, methods=[model], metrics=("psnr",), data_dir=data_dir)
    return {r["scale"]: r["psnr"] for r in recs if r["image"] == "mean"}


def scale_weights(patches):
    r"""``{scale: weight}``: each scale's samples weighted by 1 / (their bicubic MSE), the
    weights' mean over the samples normalised to 1.

    A multi-scale run's mean squared error is dominated by the large factors, whose errors are
    largest; but a PSNR change is a *relative* MSE change,
    :math:`\Delta\mathrm{PSNR} \approx -\tfrac{10}{\ln 10}\,\Delta\mathrm{MSE}/\mathrm{MSE}`.
    Dividing each scale's error by where it starts (bicubic, what a residual network outputs at
    step 0) makes the loss count every scale's dB alike (``train.balance_scales``).
    """
    x, y, sc = patches.inputs, patches.labels, patches.scales
    b = (x.shape[-1] - y.shape[-1]) // 2
    centre = x[:, :, b:x.shape[-2] - b, b:x.shape[-1] - b]
    scales, counts = np.unique(sc, return_counts=True)
    inv = np.array([1.0 / np.mean((centre[sc == s] - y[sc == s]) ** 2, dtype=np.float64) for s in scales])
    mean = float(inv @ counts) / len(sc)
    return {float(s): float(w) / mean for s, w in zip(scales, inv)}


class Batches:
    """Deterministic batches: step ``t`` → (inputs, labels, scales), independent of history."""

    def __init__(self, patches, batch_size, seed, augment):
        self.p, self.bs, self.seed, self.augment = patches, int(batch_size), int(seed), augment
        self.n = len(patches.inputs)
        if self.n < self.bs:
            raise ValueError(f"only {self.n} training patches for batch_size {self.bs}")
        self.per_epoch = self.n // self.bs
        self._epoch, self._perm = None, None

    def __call__(self, t):
        epoch, k = divmod(t, self.per_epoch)
        if epoch != self._epoch:
            self._epoch = epoch
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        idx = np.sort(self._perm[k * self.bs:(k + 1) * self.bs])
        x, y = self.p.inputs[idx], self.p.labels[idx]
        if self.augment:
            x, y = D.random_dihedral(x, y, np.random.default_rng([self.seed, 1_000_003, t]))
        return np.ascontiguousarray(x), np.ascontiguousarray(y), self.p.scales[idx]


def _write_curves(log_rows, path):
    from dynconv import plotting

    steps = [r["step"] for r in log_rows]
    fig, (a1, a2) = plotting.subplots(1, 2, figsize=(10, 3.6), dpi=90)
    a1.semilogy(steps, [r["loss"] for r in log_rows], lw=0.8)
    a1.set(xlabel="step", ylabel="training loss (mean over the log period)", title="loss")
    for key in sorted(k for k in log_rows[-1] if k.startswith("psnr_x")):
        pts = [(r["step"], r[key]) for r in log_rows if r.get(key) not in (None, "")]
        if pts:
            a2.plot(*zip(*pts), marker="o", ms=3, label=key.replace("psnr_", ""))
    a2.set(xlabel="step", ylabel="Set5 PSNR (dB)", title="validation")
    if a2.lines:
        a2.legend()
    fig.tight_layout()
    plotting.save(fig, path)


def _setup(config, data_dir, log):
    """The model, the batches, the optimizer, the loss and the per-scale loss weights of a run."""
    t_cfg, d_cfg = config["train"], config["data"]
    model = models.build(_model_kwargs(config))
    label = None if not model.valid else d_cfg["patch_size"] - 2 * model.radius
    patches = D.training_patches(
        dataset=d_cfg["dataset"], scales=tuple(d_cfg["scales"]), patch_size=d_cfg["patch_size"],
        stride=d_cfg["stride"], label_size=label, degradation=d_cfg["degradation"],
        sigma=d_cfg["sigma"], seed=t_cfg["seed"], data_dir=data_dir, out=log)
    batches = Batches(patches, t_cfg["batch_size"], t_cfg["seed"], d_cfg["augment"])
    weights = scale_weights(patches) if t_cfg["balance_scales"] else None
    if weights:
        print("loss weights per scale: " + ", ".join(f"x{k:g} {v:.3f}" for k, v in weights.items()), file=log)
    return model, batches, make_optimizer(model, t_cfg), make_loss(t_cfg["loss"]), weights


def train_step(model, batch, loss_layer, optimizer, weights=None):
    """One step on ``batch = (x, y, scales)``: forward, loss, backward (each scale's gradient
    weighted by ``weights`` if given), update. Returns the (unweighted) loss.

    Raises
    ------
    TrainingError
        A non-finite loss; nothing was updated.
    """
    x, y, s = batch
    pred = model.graph.forward(model.feeds(x, s))[model.output]
    loss = float(loss_layer.forward(pred, y))
    if not math.isfinite(loss):
        raise TrainingError(f"loss became {loss}")
    (dpred, _) = loss_layer.backward()
    if weights:  # the logged loss stays the plain one; the gradient is reweighted
        dpred = dpred * np.array([weights[float(v)] for v in s], dpred.dtype)[:, None, None, None]
    model.graph.backward({model.output: dpred})
    optimizer.step()
    return loss


class _Period:
    """The losses and throughput since the last evaluation."""

    def __init__(self, step):
        self.loss, self.n, self.t0, self.step0 = 0.0, 0, time.perf_counter(), step

    def add(self, loss):
        self.loss, self.n = self.loss + loss, self.n + 1

    def rate(self, step, batch_size):
        return (step - self.step0) * batch_size / max(1e-9, time.perf_counter() - self.t0)


def evaluation_row(model, step, period, batches, optimizer, wall, scales, dataset, data_dir=None):
    """One log row: step, epoch, mean loss and throughput since the last row, learning rate,
    training wall time and the PSNR on ``dataset`` at every training scale."""
    row = {"step": step, "epoch": round(step / batches.per_epoch, 3), "loss": period.loss / period.n,
           "lr": max(optimizer.lrs().values()), "patches_per_s": period.rate(step, batches.bs),
           "wall_seconds": round(wall, 1)}
    for sc, v in set5_psnr(model, scales, dataset, data_dir).items():
        row[f"psnr_x{sc:g}"] = round(v, 4)
    return row


def save_checkpoint(model, path, config, step, wall, optimizer=None, extra=None):
    """Write ``model`` (and ``optimizer``'s state) to ``path`` atomically; the header records the
    run's step and wall time, the config and ``extra``."""
    meta = {"run": {"wall_seconds": wall, "step": step}, **(extra or {})}
    model.save(path, step=step, optimizer=optimizer, meta={**meta, "train_config": config})


def _resume(path, model, optimizer, out, log):
    """Load a checkpoint into the model and optimizer: ``(step, wall seconds, log rows)``."""
    from dynconv import checkpoint

    ckpt = checkpoint.load(path, into=model.graph, optimizer=optimizer)
    step = int(ckpt.step)
    wall = float(ckpt.config.get("meta", {}).get("run", {}).get("wall_seconds", 0.0))
    print(f"resumed from {path} at step {step}", file=log)
    return step, wall, _read_log(out / "log.csv", step)


def train(config, out_dir, *, data_dir=None, resume=None, progress=True, max_steps=None,
          log=sys.stderr):
    """Run (or resume) one training run.

    Parameters
    ----------
    config : dict
        A full config (e.g. from :func:`load_config`).
    out_dir : path
        Receives ``checkpoint.npz``, ``log.csv``, ``curves.png``, ``config.json`` and, at the
        end, ``model.npz`` (the trained weights with scores in their header).
    resume : path, optional
        A checkpoint of this run to continue from.
    max_steps : int, optional
        Stop after this many steps in this call (tests; the schedule still uses ``steps``).

    Returns
    -------
    dict with ``step``, ``loss``, ``wall_seconds``, ``psnr`` (final Set5 per scale) and
    ``status`` (``"done"``, ``"budget"``, ``"interrupted"`` or ``"max_steps"``).
    """
    from tqdm import tqdm

    t_cfg, e_cfg, scales = config["train"], config["eval"], list(config["data"]["scales"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.npz"
    model, batches, opt, loss_layer, weights = _setup(config, data_dir, log)
    step, wall, rows = _resume(resume, model, opt, out, log) if resume is not None else (0, 0.0, [])
    (out / "config.json").write_text(json.dumps(config, indent=2))

    total, eval_every = int(t_cfg["steps"]), int(e_cfg["every"])
    budget = float(t_cfg["time_budget_minutes"]) * 60
    ck_every = float(config["checkpoint"]["every_minutes"]) * 60
    status, last_ck, period, start = "done", time.perf_counter(), _Period(step), step
    bar = tqdm(total=total, initial=step, disable=not progress, file=log, dynamic_ncols=True,
               unit="step", smoothing=0.05)
    try:
        while step < total:
            if max_steps is not None and step - start >= max_steps:
                status = "max_steps"
                break
            if budget and wall >= budget:
                status = "budget"
                break
            t0 = time.perf_counter()
            try:
                loss = train_step(model, batches(step), loss_layer, opt, weights)
            except TrainingError as exc:
                raise TrainingError(f"{exc} at step {step}; stopping. The last good checkpoint ({ckpt_path}) "
                                    "is intact: lower train.lr or set train.clip_norm and resume.") from None
            step, wall = step + 1, wall + time.perf_counter() - t0
            period.add(loss)
            bar.update(1)
            if step % 20 == 0:
                bar.set_postfix(loss=f"{period.loss / period.n:.3e}", patches_s=f"{period.rate(step, batches.bs):.0f}")
            if (eval_every and step % eval_every == 0) or step == total:
                rows.append(evaluation_row(model, step, period, batches, opt, wall, scales, e_cfg["dataset"],
                                           data_dir))
                _write_log(out / "log.csv", rows)
                _write_curves(rows, out / "curves.png")
                bar.write(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in rows[-1].items()))
                period = _Period(step)
            if time.perf_counter() - last_ck >= ck_every:
                save_checkpoint(model, ckpt_path, config, step, wall, opt)
                last_ck = time.perf_counter()
    except KeyboardInterrupt:
        status = "interrupted"
        bar.write(f"interrupted at step {step}: writing {ckpt_path}")
    finally:
        bar.close()
    save_checkpoint(model, ckpt_path, config, step, wall, opt)
    result = {"step": step, "wall_seconds": round(wall, 1), "status": status,
              "loss": rows[-1]["loss"] if rows else None}
    if status == "done":
        result["scores"] = scores = final_scores(model, scales, e_cfg["final_datasets"], data_dir)
        # The deliverable: weights only (no optimizer state), scores in the header.
        save_checkpoint(model, out / "model.npz", config, step, wall, extra={
            "scores": scores, "training_wall_seconds": round(wall, 1), "seed": t_cfg["seed"]})
        (out / "scores.json").write_text(json.dumps(scores, indent=2))
    return result


def final_scores(model, scales, datasets, data_dir=None):
    """``{dataset: {"x2": {"psnr":..., "ssim":...}, ...}}`` means, standard protocol."""
    recs = sr.evaluate(datasets=list(datasets), scales=scales, methods=[model], metrics=("psnr", "ssim"),
                       data_dir=data_dir)
    out = {}
    for r in recs:
        if r["image"] == "mean":
            out.setdefault(r["dataset"], {})[f"x{r['scale']:g}"] = {
                "psnr": round(r["psnr"], 4), "ssim": round(r["ssim"], 5)}
    return out


def _write_log(path, rows):
    keys = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def _read_log(path, upto_step):
    if not path.exists():
        return []
    with path.open() as f:
        rows = [{k: (float(v) if v not in ("", None) else None) for k, v in r.items()}
                for r in csv.DictReader(f)]
    for r in rows:
        r["step"] = int(r["step"])
    return [r for r in rows if r["step"] <= upto_step]

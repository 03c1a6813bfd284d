"""Training: a TOML config → patches → SGD/Adam steps → checkpoints, logs, curves, scores.

One run trains one model on sub-images of several scales at once (the paper's "dynamic"
training for x2, x3 and x4). Everything a run needs is in its config (``configs/*.toml``);
see :data:`dynconv.config.DEFAULTS` for every key and its default.

Guarantees
----------
* **Checked before any work.** Every config key is checked against :data:`dynconv.config.SCHEMA`
  (types, ranges, known keys), and the model, optimizer, schedule, loss, the training and
  evaluation data sets and the ``--resume`` checkpoint are all checked before the sub-images are
  prepared: a typo fails in a second, not at the first evaluation.
* **A run folder belongs to one run.** The run holds ``<out>/.lock``
  (:class:`dynconv.fileio.RunLock`); a second run into the folder is refused at once, naming the
  holder. Every file is written under a unique temporary name and renamed into place, and
  temporaries a killed run left behind are removed.
* **A checkpoint is only ever a good state.** The loss of the parameters is computed before they
  are saved: a checkpoint is written only for parameters whose loss was finite (and which are
  finite themselves). When the loss becomes NaN or inf the run stops, writes nothing, and says
  which checkpoint holds the last good state (or that none exists) and how to go on: resume from
  it with a lower ``train.lr`` or a ``train.clip_norm`` — both may change on resume.
* **Nothing is lost.** Checkpoints are written every ``checkpoint.every_minutes``, at the end,
  on Ctrl-C, on SIGTERM and on any exception inside the loop: each time the last good state
  (the parameters and optimizer state before the step that was in flight).
* **Resume checks the checkpoint against the run.** ``--resume`` compares the checkpoint's
  config with the current one and refuses a different model, data, scales, optimizer or seed,
  naming the keys; only :data:`dynconv.config.RESUMABLE` keys may change (``train.steps``,
  ``train.lr``, ``train.clip_norm``, the time budget and the evaluation settings).
* **Deterministic.** Step ``t`` uses the batch ``permutation(seed, epoch)[...]`` and the
  augmentation ``default_rng([seed, t])``: the same seed gives the same run, and a resumed run
  continues exactly as the uninterrupted one.
* **Visible.** A tqdm bar (loss, patches/s, ETA), Set5 PSNR at every training scale each
  ``eval.every`` steps, a CSV log and a PNG of the curves in the output folder.
"""
from __future__ import annotations

import copy
import json
import math
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from dynconv import checkpoint
from dynconv import data as D
from dynconv import models, warmstart
from dynconv.config import DEFAULTS, ConfigError, load_config, merge, resume_conflicts, validate
from dynconv.fileio import RunLock, Terminated, atomic_path, clean_temporaries, sigterm_raises
from dynconv.runlog import Period, evaluation_row, final_scores, read_log, write_curves, write_log
from dynconv.layers import EuclideanLoss, MSELoss
from dynconv.objective import Objective, csf_scale_weights
from dynconv.optim import SGD, Adam, ConstantLR, CosineLR, StepLR

__all__ = ["DEFAULTS", "merge", "load_config", "train", "train_step", "TrainingError", "Batches",
           "scale_weights", "final_scores"]


class TrainingError(RuntimeError):
    """A run that cannot continue (a non-finite loss, a refused resume); the message says which
    checkpoint holds the last good state and what to do."""


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


def _preflight(config, data_dir, resume):
    """Everything checkable before the sub-images are prepared: ``(model, optimizer, loss,
    resume checkpoint or None)``. Raises one-line errors naming the key, data set or file."""
    validate(config)
    t_cfg, d_cfg, e_cfg = config["train"], config["data"], config["eval"]
    try:
        model = models.build(_model_kwargs(config))
    except (TypeError, KeyError) as exc:
        raise ConfigError(f"[model]: {exc}") from None
    optimizer, loss_layer = make_optimizer(model, t_cfg), make_loss(t_cfg["loss"])
    for key, name in [("data.dataset", d_cfg["dataset"]), ("eval.dataset", e_cfg["dataset"])] + \
            [("eval.final_datasets", n) for n in e_cfg["final_datasets"]]:
        try:
            D.list_images(name, data_dir)
        except ValueError as exc:
            raise ConfigError(f"{key}: {exc}") from None
    ckpt = None
    if resume is None and t_cfg["init"]:
        try:
            warmstart.warm_start(model, t_cfg["init"])
        except (ValueError, FileNotFoundError) as exc:
            raise ConfigError(f"train.init: {exc}") from None
    if resume is not None:
        ckpt = checkpoint.load(resume)
        saved = (ckpt.config.get("meta") or {}).get("train_config")
        if not isinstance(saved, dict) or ckpt.optimizer is None:
            raise TrainingError(f"--resume {resume}: not a checkpoint of `dynconv train` (no training "
                                "config or optimizer state in it; model.npz files cannot be resumed)")
        conflicts = resume_conflicts(saved, config)
        if conflicts:
            raise TrainingError(f"--resume {resume}: this checkpoint belongs to another run; its config "
                                "differs in " + "; ".join(conflicts) + ". Only train.steps, train.lr, "
                                "train.clip_norm, train.time_budget_minutes, eval.* and checkpoint.* may "
                                "change on resume")
    return model, optimizer, loss_layer, ckpt


def _patches(config, model, data_dir, log):
    """The batches of a run, and the per-scale loss weights (``train.balance_scales``)."""
    t_cfg, d_cfg = config["train"], config["data"]
    label = None if not model.valid else d_cfg["patch_size"] - 2 * model.radius
    if d_cfg["scale_range"]:
        from dynconv.crops import CropBatches, scale_grid

        grid = scale_grid(*d_cfg["scale_range"], d_cfg["max_numerator"], d_cfg["scale_spacing"])
        batches = CropBatches(d_cfg["dataset"], d_cfg["scales"], grid, d_cfg["fixed_share"], t_cfg["batch_size"],
                              d_cfg["patch_size"], label or d_cfg["patch_size"], t_cfg["seed"], d_cfg["augment"],
                              data_dir, d_cfg["degradation"], d_cfg["sigma"], out=log,
                              downscales=d_cfg["downscales"])
        weights = batches.scale_weights() if t_cfg["balance_scales"] else None
        return batches, weights
    patches = D.training_patches(
        dataset=d_cfg["dataset"], scales=tuple(d_cfg["scales"]), patch_size=d_cfg["patch_size"],
        stride=d_cfg["stride"], label_size=label, degradation=d_cfg["degradation"],
        sigma=d_cfg["sigma"], seed=t_cfg["seed"], data_dir=data_dir, out=log)
    batches = Batches(patches, t_cfg["batch_size"], t_cfg["seed"], d_cfg["augment"])
    weights = scale_weights(patches) if t_cfg["balance_scales"] else None
    if weights:
        print("loss weights per scale: " + ", ".join(f"x{k:g} {v:.3f}" for k, v in weights.items()), file=log)
    return batches, weights


def make_objective(t_cfg, loss_layer, batches, weights, log):
    """The run's :class:`~dynconv.objective.Objective` (``train.csf_weight`` adds the CSF term)."""
    csf_weights = None
    if t_cfg["csf_weight"] > 0:
        csf_weights = csf_scale_weights(batches)
        print("CSF-term weights per scale: " + ", ".join(f"x{k:g} {v:.3f}" for k, v in csf_weights.items()),
              file=log)
    return Objective(loss_layer, weights, t_cfg["csf_weight"], csf_weights)


def forward_loss(model, batch, objective):
    """The (logged) loss of the current parameters on ``batch = (x, y, scales)``: forward
    only; the layers and the :class:`~dynconv.objective.Objective` keep what
    :func:`backward_update` needs."""
    x, y, s = batch
    pred = model.graph.forward(model.feeds(x, s))[model.output]
    return objective.forward(pred, y, s)


def backward_update(model, objective, optimizer):
    """Backward through the last :func:`forward_loss`, then one optimizer step."""
    model.graph.backward({model.output: objective.backward()})
    optimizer.step()


def train_step(model, batch, objective, optimizer):
    """One step: forward, loss, backward, update. Returns the (unweighted) loss.

    Raises
    ------
    TrainingError
        A non-finite loss; nothing was updated.
    """
    loss = forward_loss(model, batch, objective)
    if not math.isfinite(loss):
        raise TrainingError(f"loss became {loss}")
    backward_update(model, objective, optimizer)
    return loss


class _GoodState:
    """The last state whose loss was seen finite: parameters, optimizer state, step, wall time."""

    def __init__(self, model, optimizer):
        self.model, self.optimizer, self.step = model, optimizer, None

    def take(self, step, wall):
        params = [(n, p) for n, p, _ in self.model.graph.parameters()]
        if not all(np.isfinite(p).all() for _, p in params):
            return False
        self.params = {n: p.copy() for n, p in params}
        self.opt_state = copy.deepcopy(self.optimizer.state_dict())
        self.step, self.wall = step, wall
        return True

    def restore(self):
        for n, p, _ in self.model.graph.parameters():
            p[...] = self.params[n]
        self.optimizer.load_state_dict(self.opt_state)


def save_checkpoint(model, path, config, step, wall, optimizer=None, extra=None):
    """Write ``model`` (and ``optimizer``'s state) to ``path`` atomically; the header records the
    run's step and wall time, the config and ``extra``."""
    meta = {"run": {"wall_seconds": wall, "step": step}, **(extra or {})}
    model.save(path, step=step, optimizer=optimizer, meta={**meta, "train_config": config})


def _diverged(what, step, saved, ckpt_path, lr):
    if saved is None:
        where = ("before any checkpoint was written: nothing was saved. Lower train.lr "
                 f"(now {lr:g}) or set train.clip_norm, and start again")
    else:
        where = (f"{ckpt_path} holds the last good state (step {saved}). Resume from it "
                 f"(--resume {ckpt_path}) with a lower train.lr (now {lr:g}) or with train.clip_norm set")
    return TrainingError(f"training diverged: {what} at step {step}; stopped. {where}")


def train(config, out_dir, *, data_dir=None, resume=None, progress=True, max_steps=None,
          log=sys.stderr):
    """Run (or resume) one training run; see the module docstring for what it guarantees.

    Parameters
    ----------
    config : dict
        A full config (e.g. from :func:`load_config`); it is validated first.
    out_dir : path
        Receives ``checkpoint.npz``, ``log.csv``, ``curves.png``, ``config.json`` and, at the
        end, ``model.npz`` (the trained weights with scores in their header).
    resume : path, optional
        A checkpoint of this run to continue from.
    max_steps : int, optional
        Stop after this many steps in this call (tests; the schedule still uses ``steps``).

    Returns
    -------
    dict with ``step``, ``loss``, ``wall_seconds``, ``scores`` (when done) and ``status``:
    ``"done"``, ``"budget"``, ``"max_steps"``, ``"interrupted"`` (Ctrl-C) or ``"terminated"``
    (SIGTERM); the last two after writing the checkpoint.

    Raises
    ------
    ConfigError, ValueError, FileNotFoundError
        Before any work: a bad config key, data set or resume file.
    RunFolderBusy
        Another run holds ``out_dir``.
    TrainingError
        The loss diverged, or the resume checkpoint belongs to another run.
    """
    out = Path(out_dir)
    with RunLock(out):
        for stale in clean_temporaries(out):
            print(f"removed a temporary file a stopped run left behind: {stale}", file=log)
        model, opt, loss_layer, ckpt = _preflight(config, data_dir, resume)
        batches, weights = _patches(config, model, data_dir, log)
        objective = make_objective(config["train"], loss_layer, batches, weights, log)
        step, wall, rows = 0, 0.0, []
        if ckpt is not None:
            checkpoint.load(resume, into=model.graph, optimizer=opt)
            step = int(ckpt.step)
            wall = float(ckpt.config.get("meta", {}).get("run", {}).get("wall_seconds", 0.0))
            rows = read_log(out / "log.csv", step)
            print(f"resumed from {resume} at step {step}", file=log)
        with atomic_path(out / "config.json") as tmp:
            tmp.write_text(json.dumps(config, indent=2))
        return _loop(config, out, model, opt, objective, batches, step, wall, rows,
                     resumed=ckpt is not None, data_dir=data_dir, progress=progress,
                     max_steps=max_steps, log=log)


def _loop(config, out, model, opt, objective, batches, step, wall, rows, *, resumed,
          data_dir, progress, max_steps, log):
    from dynconv.progress import bar as progress_bar

    t_cfg, e_cfg = config["train"], config["eval"]
    scales = list(e_cfg["scales"] or config["data"]["scales"])
    ckpt_path = out / "checkpoint.npz"
    total, eval_every = int(t_cfg["steps"]), int(e_cfg["every"])
    budget = float(t_cfg["time_budget_minutes"]) * 60
    ck_every = float(config["checkpoint"]["every_minutes"]) * 60
    status, last_ck, period, start = "done", time.perf_counter(), Period(step), step
    saved = step if resumed else None  # the step of the good checkpoint on disk, if any
    good = _GoodState(model, opt)

    updating = False  # inside backward_update: the parameters may be half-updated

    def save_good():
        """Save the newest good state: the current one if it is whole and its loss is finite,
        else the one before the step in flight."""
        nonlocal saved
        if not updating and good.step != step:
            try:
                if math.isfinite(forward_loss(model, batches(step), objective)):
                    good.take(step, wall)
            except (Exception, KeyboardInterrupt):  # it cannot be checked: keep the older good state
                pass
        if good.step is not None and good.step != saved:
            good.restore()
            save_checkpoint(model, ckpt_path, config, good.step, good.wall, opt)
            saved = good.step

    bar = progress_bar(total, unit="step", enabled=progress, file=log, initial=step, smoothing=0.05)
    try:
        with sigterm_raises():
            while True:
                stop = ("max_steps" if max_steps is not None and step - start >= max_steps else
                        "budget" if budget and wall >= budget else "done" if step >= total else None)
                t0 = time.perf_counter()
                batch = batches(step)
                loss = forward_loss(model, batch, objective)  # the current state's loss
                lr = max(opt.lrs().values())
                if not math.isfinite(loss):
                    raise _diverged(f"the loss became {loss}", step, saved, ckpt_path, lr)
                if not good.take(step, wall):
                    raise _diverged("a parameter became NaN or inf", step, saved, ckpt_path, lr)
                if stop:  # the final state is good too: it is saved below
                    status = stop
                    break
                if time.perf_counter() - last_ck >= ck_every:  # this state's loss is finite: save it
                    save_checkpoint(model, ckpt_path, config, step, wall, opt)
                    saved, last_ck = step, time.perf_counter()
                updating = True
                backward_update(model, objective, opt)
                step, wall, updating = step + 1, wall + time.perf_counter() - t0, False
                period.add(loss)
                bar.update(1)
                if step % 20 == 0:
                    bar.set_postfix(loss=f"{period.loss / period.n:.3e}",
                                    patches_s=f"{period.rate(step, batches.bs):.0f}")
                if (eval_every and step % eval_every == 0) or step == total:
                    rows.append(evaluation_row(model, step, period, batches, opt, wall, scales,
                                               e_cfg["dataset"], data_dir))
                    write_log(out / "log.csv", rows)
                    write_curves(rows, out / "curves.png")
                    bar.write(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                       for k, v in rows[-1].items()))
                    period = Period(step)
    except KeyboardInterrupt:
        status = "interrupted"
    except Terminated:
        status = "terminated"
    except TrainingError:
        raise  # divergence: nothing is written
    except BaseException:
        bar.close()
        save_good()
        print(f"error at step {step}: the last good state (step {good.step}) is in {ckpt_path}", file=log)
        raise
    finally:
        bar.close()
    save_good()
    if status in ("interrupted", "terminated"):
        print(f"{status} at step {step}: the last good state (step {saved}) is in {ckpt_path}", file=log)
    result = {"step": good.step, "wall_seconds": round(good.wall, 1), "status": status,
              "loss": rows[-1]["loss"] if rows else None}
    if status == "done":
        result["scores"] = scores = final_scores(model, scales, e_cfg["final_datasets"], data_dir)
        # The deliverable: weights only (no optimizer state), scores in the header.
        save_checkpoint(model, out / "model.npz", config, good.step, good.wall, extra={
            "scores": scores, "training_wall_seconds": round(good.wall, 1), "seed": t_cfg["seed"],
            **({"init": warmstart.init_info(t_cfg["init"])} if t_cfg["init"] else {})})
        with atomic_path(out / "scores.json") as tmp:
            tmp.write_text(json.dumps(scores, indent=2))
    return result



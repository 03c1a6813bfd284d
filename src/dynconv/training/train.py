"""Training: a TOML config → batches of sub-images → SGD/Adam steps → checkpoints, logs, curves, scores.

One run trains one model on sub-images of several scales at once (the paper's "dynamic"
training for x2, x3 and x4). Everything a run needs is in its config (``configs/*.toml``);
see :data:`dynconv.training.config.DEFAULTS` for every key and its default.

Guarantees
----------
* **Checked before any work.** Every config key is checked against :data:`dynconv.training.config.SCHEMA`
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
  (the parameters and optimizer state before the step that was in flight;
  :class:`dynconv.training.checkpointer.Checkpointer`).
* **Resume checks the checkpoint against the run.** ``--resume`` compares the checkpoint's
  config with the current one and refuses a different model, data, scales, optimizer or seed,
  naming the keys; only :data:`dynconv.training.config.RESUMABLE` keys may change (``train.steps``,
  ``train.lr``, ``train.clip_norm``, the time budget and the evaluation settings).
* **Deterministic.** Step ``t``'s batch is a function of ``(seed, t)``
  (:class:`dynconv.training.batches.Batches`): the same seed gives the same run, and a resumed run
  continues exactly as the uninterrupted one.
* **Visible.** A tqdm bar (loss, sub-images/s, ETA), Set5 PSNR at every training scale each
  ``eval.every`` steps, a CSV log and a PNG of the curves in the output folder.
"""
from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import NamedTuple

from dynconv import checkpoint
from dynconv.console import interrupts
from dynconv.fileio import RunLock, Terminated, atomic_path, clean_temporaries, sigterm_raises
from dynconv.kernels import get_threads, reuse_freed_memory
from dynconv.layers import EuclideanLoss, MSELoss
from dynconv.optim import Adam, ConstantLR, CosineLR, SGD, StepLR
from dynconv.sr import models
from dynconv.sr.datasets import list_images
from dynconv.training import warmstart
from dynconv.training.batches import Batches
from dynconv.training.checkpointer import Checkpointer, save_checkpoint
from dynconv.training.config import ConfigError, DEFAULTS, load_config, merge, resume_conflicts, validate
from dynconv.training.objective import Objective, csf_scale_weights
from dynconv.training.runlog import Period, evaluation_row, final_scores, read_log, write_curves, write_log

__all__ = ["DEFAULTS", "merge", "load_config", "train", "train_step", "TrainingError", "Batches",
           "final_scores"]


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
            list_images(name, data_dir)
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
            raise TrainingError(f"`resume` {resume}: not a checkpoint of `dynconv train` (no training "
                                "config or optimizer state in it; model.npz files cannot be resumed)")
        conflicts = resume_conflicts(saved, config)
        if conflicts:
            raise TrainingError(f"`resume` {resume}: this checkpoint belongs to another run; its config "
                                "differs in " + "; ".join(conflicts) + ". Only train.steps, train.lr, "
                                "train.clip_norm, train.time_budget_minutes, eval.* and checkpoint.* may "
                                "change on resume")
    return model, optimizer, loss_layer, ckpt


def _batches(config, model, data_dir, log):
    """The batches of a run (:meth:`Batches.from_config`), and the per-scale loss weights (``train.balance_scales``)."""
    label = None if not model.valid else config["data"]["patch_size"] - 2 * model.radius
    batches = Batches.from_config(config, label, data_dir, out=log)
    weights = batches.scale_weights() if config["train"]["balance_scales"] else None
    if weights:
        print("loss weights per scale: " + ", ".join(f"x{k:g} {v:.3f}" for k, v in sorted(weights.items())), file=log)
    return batches, weights


def make_objective(t_cfg, loss_layer, batches, weights, log):
    """The run's :class:`~dynconv.training.objective.Objective` (``train.csf_weight`` adds the CSF term)."""
    csf_weights = None
    if t_cfg["csf_weight"] > 0:
        csf_weights = csf_scale_weights(batches)
        print("CSF-term weights per scale: " + ", ".join(f"x{k:g} {v:.3f}" for k, v in csf_weights.items()),
              file=log)
    return Objective(loss_layer, weights, t_cfg["csf_weight"], csf_weights)


def forward_loss(model, batch, objective):
    """The (logged) loss of the current parameters on ``batch = (x, y, scales)``: forward
    only; the layers and the :class:`~dynconv.training.objective.Objective` keep what
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


def _diverged(what, step, ck):
    lr = max(ck.optimizer.lrs().values())
    if ck.saved is None:
        where = ("before any checkpoint was written: nothing was saved. Lower train.lr "
                 f"(now {lr:g}) or set train.clip_norm, and start again")
    else:
        where = (f"{ck.path} holds the last good state (step {ck.saved}). Resume from it "
                 f"(`resume` {ck.path}) with a lower train.lr (now {lr:g}) or with train.clip_norm set")
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
    dict with ``step``, ``loss``, ``wall_seconds``, ``scores`` (when done or at the time budget) and ``status``:
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
    reuse_freed_memory()  # a step's arrays reuse the last step's pages (kernels.memory)
    with RunLock(out):
        for stale in clean_temporaries(out):
            print(f"removed a temporary file a stopped run left behind: {stale}", file=log)
        model, opt, loss_layer, ckpt = _preflight(config, data_dir, resume)
        batches, weights = _batches(config, model, data_dir, log)
        run = _Run(config, out, model, opt, make_objective(config["train"], loss_layer, batches, weights, log),
                   batches, data_dir, log)
        step, wall, rows = 0, 0.0, []
        if ckpt is not None:
            checkpoint.load(resume, into=model.graph, optimizer=opt)
            step = int(ckpt.step)
            wall = float(ckpt.config.get("meta", {}).get("run", {}).get("wall_seconds", 0.0))
            rows = read_log(out / "log.csv", step)
            print(f"resumed from {resume} at step {step}", file=log)
        with atomic_path(out / "config.json") as tmp:
            tmp.write_text(json.dumps(config, indent=2))
        ck = Checkpointer(model, opt, out / "checkpoint.npz", config,
                          float(config["checkpoint"]["every_minutes"]) * 60,
                          lambda t: forward_loss(model, batches(t), run.objective),
                          saved=step if ckpt is not None else None)  # a resumed run's checkpoint is good
        at = _At(step, wall, rows)
        status = _loop(run, ck, at, progress, max_steps)
        return _finish(run, ck, at, status)


class _Run(NamedTuple):
    """What a run works with, fixed for the run."""

    config: dict
    out: Path
    model: object
    optimizer: object
    objective: Objective
    batches: object
    data_dir: object
    log: object


class _At:
    """Where a run is: ``step``, training ``wall`` seconds, the log ``rows``, the current log ``period``."""

    def __init__(self, step, wall, rows):
        self.step, self.wall, self.rows, self.period = step, wall, rows, Period(step)


def _loop(run, ck, at, progress, max_steps):
    """Train until a stop (``"done"``, ``"budget"``, ``"max_steps"``), Ctrl-C (``"interrupted"``)
    or SIGTERM (``"terminated"``); returns that status. On any other error the last good state is
    written first; on divergence nothing is."""
    from dynconv.console.progress import bar as progress_bar

    bar = progress_bar(int(run.config["train"]["steps"]), unit="step", enabled=progress, file=run.log,
                       initial=at.step, smoothing=0.05)
    # The signals are recorded as well as raised: an extension's import (matplotlib's, at the
    # first curves.png) can turn their exception into an ImportError, or let it be swallowed.
    with interrupts.Watch() as ctrl_c, sigterm_raises() as sigterm:
        try:
            return _steps(run, ck, at, bar, max_steps, lambda: _asked(ctrl_c, sigterm))
        except TrainingError:
            raise  # divergence: nothing is written
        except BaseException as exc:
            status = ("interrupted" if isinstance(exc, KeyboardInterrupt) or ctrl_c.seen(exc) else
                      "terminated" if isinstance(exc, Terminated) or sigterm.terminated else None)
            if status:
                return status
            bar.close()
            ck.save_good(at.step, at.wall)
            print(f"error at step {at.step}: the last good state (step {ck.step}) is in {ck.path}", file=run.log)
            raise
        finally:
            bar.close()


def _asked(ctrl_c, sigterm):
    """``"interrupted"`` or ``"terminated"`` once such a signal was recorded, else ``None``."""
    return "interrupted" if ctrl_c.interrupted else "terminated" if sigterm.terminated else None


def _steps(run, ck, at, bar, max_steps, asked):
    """The training loop: each state's loss is seen finite (and the state taken as good) before
    it steps; the state a stop finds is good too, and is left to :func:`_finish` to save.
    ``asked()`` names a stop signal whose exception something swallowed."""
    t_cfg, start = run.config["train"], at.step
    total, budget = int(t_cfg["steps"]), float(t_cfg["time_budget_minutes"]) * 60
    while True:
        stop = asked() or ("max_steps" if max_steps is not None and at.step - start >= max_steps else
                           "budget" if budget and at.wall >= budget else "done" if at.step >= total else None)
        t0 = time.perf_counter()
        batch = run.batches(at.step)
        loss = forward_loss(run.model, batch, run.objective)  # the current state's loss
        if not math.isfinite(loss):
            raise _diverged(f"the loss became {loss}", at.step, ck)
        if not ck.take(at.step, at.wall):
            raise _diverged("a parameter became NaN or inf", at.step, ck)
        if stop:
            return stop
        ck.save_periodically()  # this state's loss is finite
        with ck.updating():
            backward_update(run.model, run.objective, run.optimizer)
            at.step, at.wall = at.step + 1, at.wall + time.perf_counter() - t0
        at.period.add(loss)
        _report(run, at, bar)


def _eval_scales(config):
    return list(config["eval"]["scales"] or config["data"]["scales"])


def _report(run, at, bar):
    """After a step: the bar, and every ``eval.every`` steps and at the end a log row (with the
    PSNR on ``eval.dataset``), ``log.csv`` and ``curves.png``."""
    e_cfg, period = run.config["eval"], at.period
    bar.update(1)
    if at.step % 20 == 0:
        bar.set_postfix(loss=f"{period.loss / period.n:.3e}", subimages_s=f"{period.rate(at.step, run.batches.bs):.0f}")
    every = int(e_cfg["every"])
    if not ((every and at.step % every == 0) or at.step == int(run.config["train"]["steps"])):
        return
    at.rows.append(evaluation_row(run.model, at.step, period, run.batches, run.optimizer, at.wall,
                                  _eval_scales(run.config), e_cfg["dataset"], run.data_dir))
    write_log(run.out / "log.csv", at.rows)
    write_curves(at.rows, run.out / "curves.png")
    bar.write(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in at.rows[-1].items()))
    at.period = Period(at.step)


def _finish(run, ck, at, status):
    """Write the last good state; when done or at the config's time budget (the run's planned end),
    also the deliverable ``model.npz`` (weights only, scores in the header) and ``scores.json``.
    Returns :func:`train`'s result."""
    ck.save_good(at.step, at.wall)
    if status in ("interrupted", "terminated"):
        print(f"{status} at step {at.step}: the last good state (step {ck.saved}) is in {ck.path}", file=run.log)
    result = {"step": ck.step, "wall_seconds": round(ck.wall, 1), "status": status,
              "loss": at.rows[-1]["loss"] if at.rows else None}
    if status in ("done", "budget"):
        t_cfg = run.config["train"]
        scores = final_scores(run.model, _eval_scales(run.config), run.config["eval"]["final_datasets"],
                              run.data_dir)
        save_checkpoint(run.model, run.out / "model.npz", run.config, ck.step, ck.wall, extra={
            "scores": scores, "training_wall_seconds": round(ck.wall, 1), "seed": t_cfg["seed"],
            "threads": get_threads(),  # the kernels' threads (of the last segment, if resumed)
            **({"init": warmstart.init_info(t_cfg["init"])} if t_cfg["init"] else {})})
        with atomic_path(run.out / "scores.json") as tmp:
            tmp.write_text(json.dumps(scores, indent=2))
        result["scores"] = scores
    return result

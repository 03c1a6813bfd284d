"""dynconv.training.checkpointer: only good states are taken and written; the newest good one at the end."""
from __future__ import annotations

import numpy as np
import pytest

from dynconv import checkpoint
from dynconv.optim import SGD
from dynconv.sr import models
from dynconv.training import checkpointer
from dynconv.training.checkpointer import Checkpointer

CONFIG = {"train": {"seed": 0}, "note": "the run's config"}


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def make(tmp_path, losses=None, every=60.0, saved=None):
    """A tiny model, its optimizer, a Checkpointer whose ``loss_at(t)`` is ``losses.get(t, 1.0)``
    (an exception in ``losses`` is raised), the steps it was asked about and its clock."""
    model = models.build({"arch": "srcnn", "n1": 4, "n2": 2, "residual": True, "seed": 0})
    opt = SGD(model.graph, lr=1e-3, momentum=0.9)
    asked, clock = [], Clock()

    def loss_at(t):
        asked.append(t)
        v = (losses or {}).get(t, 1.0)
        if isinstance(v, BaseException):
            raise v
        return v

    ck = Checkpointer(model, opt, tmp_path / "checkpoint.npz", CONFIG, every, loss_at, saved=saved, clock=clock)
    return model, opt, ck, asked, clock


def params(model):
    return {n: p.copy() for n, p, _ in model.graph.parameters()}


def step_once(model, opt):
    """A stand-in for an optimizer step: every parameter and the step count change."""
    for _, p, _ in model.graph.parameters():
        p += 0.5
    opt.step_count += 1


def assert_file_holds(path, step, wall, want):
    ck = checkpoint.load(path)
    assert ck.step == step and ck.config["meta"]["run"] == {"wall_seconds": wall, "step": step}
    assert ck.config["meta"]["train_config"] == CONFIG and ck.optimizer["step"] == step
    for n, p in want.items():
        np.testing.assert_array_equal(ck.params[n], p, err_msg=n)


def test_take_refuses_non_finite_parameters_and_restore_brings_back_the_good_state(tmp_path):
    model, opt, ck, _, _ = make(tmp_path)
    good = params(model)
    assert ck.take(0, 0.0) and (ck.step, ck.wall) == (0, 0.0)
    step_once(model, opt)
    next(p for _, p, _ in model.graph.parameters()).flat[0] = np.nan
    assert not ck.take(1, 2.0)
    assert (ck.step, ck.wall) == (0, 0.0)
    ck.restore()
    for n, p in params(model).items():
        np.testing.assert_array_equal(p, good[n], err_msg=n)
    assert opt.step_count == 0


def test_save_good_takes_and_writes_the_current_state_when_its_loss_is_finite(tmp_path):
    model, opt, ck, asked, _ = make(tmp_path)
    opt.step_count = 3
    ck.take(3, 1.0)
    step_once(model, opt)
    now = params(model)
    ck.save_good(4, 2.5)
    assert asked == [4] and ck.saved == ck.step == 4
    assert_file_holds(ck.path, 4, 2.5, now)


@pytest.mark.parametrize("loss", [float("nan"), float("inf"), RuntimeError("no batch"), KeyboardInterrupt()])
def test_save_good_falls_back_on_the_older_state_when_the_current_one_cannot_be_trusted(tmp_path, loss):
    model, opt, ck, _, _ = make(tmp_path, losses={4: loss})
    opt.step_count = 3
    good = params(model)
    ck.take(3, 1.0)
    step_once(model, opt)
    ck.save_good(4, 2.5)
    assert ck.saved == ck.step == 3
    assert_file_holds(ck.path, 3, 1.0, good)
    for n, p in params(model).items():  # the model holds the state written
        np.testing.assert_array_equal(p, good[n], err_msg=n)


def test_a_step_in_flight_is_neither_checked_nor_written(tmp_path):
    model, opt, ck, asked, _ = make(tmp_path)
    opt.step_count = 3
    good = params(model)
    ck.take(3, 1.0)
    with pytest.raises(KeyboardInterrupt):
        with ck.updating():
            step_once(model, opt)
            raise KeyboardInterrupt  # stopped before the update was known to be whole
    assert ck.in_flight
    ck.save_good(4, 2.5)
    assert asked == [] and ck.saved == 3
    assert_file_holds(ck.path, 3, 1.0, good)
    with ck.updating():
        pass
    assert not ck.in_flight


def test_nothing_good_means_nothing_is_written(tmp_path):
    _, _, ck, asked, _ = make(tmp_path, losses={0: float("nan")})
    ck.save_good(0, 0.0)
    assert asked == [0] and ck.step is None and ck.saved is None
    assert not ck.path.exists()


def test_a_state_already_on_disk_is_not_written_again(tmp_path, monkeypatch):
    writes = []
    monkeypatch.setattr(checkpointer, "save_checkpoint", lambda *a, **k: writes.append(a[3]))
    _, _, ck, asked, _ = make(tmp_path, saved=5)  # a resumed run: step 5 is on disk
    ck.save_good(5, 9.0)
    assert writes == [] and asked == [5] and ck.step == 5
    ck.save_good(6, 9.5)
    ck.save_good(6, 9.5)
    assert writes == [6] and asked == [5, 6]


def test_save_periodically_writes_the_state_just_taken_once_per_period(tmp_path):
    model, opt, ck, _, clock = make(tmp_path, every=60.0)
    opt.step_count = 2
    ck.take(2, 1.5)
    clock.now = 59.9
    ck.save_periodically()
    assert not ck.path.exists() and ck.saved is None
    clock.now = 60.0
    ck.save_periodically()
    assert ck.saved == 2 and ck.last_save == 60.0
    assert_file_holds(ck.path, 2, 1.5, params(model))
    step_once(model, opt)
    ck.take(3, 2.0)
    clock.now = 119.9
    ck.save_periodically()
    assert ck.saved == 2
    clock.now = 120.0
    ck.save_periodically()
    assert ck.saved == 3
    assert_file_holds(ck.path, 3, 2.0, params(model))

"""dynconv.training.train: configs, determinism, resume, failure handling, and a real (short) run."""
from __future__ import annotations

import io
import re
import signal

import numpy as np
import pytest

from dynconv import checkpoint
from dynconv.fileio import RunFolderBusy, RunLock
from dynconv.sr import models, shipped
from dynconv.sr.datasets import list_images
from dynconv.training import train
from dynconv.training.objective import Objective


def _config(**sections):
    cfg = train.merge(train.DEFAULTS, {
        "model": {"arch": "srcnn", "n1": 8, "n2": 4, "residual": True},
        "train": {"steps": 12, "batch_size": 8, "lr": 1e-3},
        "eval": {"every": 0, "final_datasets": ["Set5"]},
        "checkpoint": {"every_minutes": 0.0},
    })
    return train.merge(cfg, sections)


def test_config_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nsteps = [")
    with pytest.raises(ValueError, match="not valid TOML"):
        train.load_config(bad)
    bad.write_text("[train]\nstepz = 3\n")
    with pytest.raises(ValueError, match=r"config.train: unknown key 'stepz'"):
        train.load_config(bad)
    with pytest.raises(FileNotFoundError, match="config file not found"):
        train.load_config(tmp_path / "missing.toml")


def test_shipped_configs_load_and_build():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "configs"
    files = sorted(root.rglob("*.toml"))  # shipped models' configs, and ablations/
    assert len(files) >= 8
    for f in files:
        cfg = train.load_config(f)
        model = models.build(train._model_kwargs(cfg))
        train.make_optimizer(model, cfg["train"])


def test_shipped_architectures_match_their_configs():
    """``dynconv models`` describes each shipped name by its entry's architecture: it must be the
    architecture ``configs/<stem>.toml`` trains."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "configs"
    for name, entry in shipped.SHIPPED.items():
        arch = entry.architecture
        want = models.build(train._model_kwargs(train.load_config(root / f"{entry.stem}.toml"))).config
        got = models.build(arch).config
        drop = ("seed",)
        assert {k: v for k, v in got.items() if k not in drop} == \
            {k: v for k, v in want.items() if k not in drop}, name


@pytest.mark.data
def test_resume_continues_exactly(tmp_path, small_set):
    cfg = _config(data={"dataset": str(small_set), "scales": [3]})
    full = train.train(cfg, tmp_path / "full", progress=False)
    part = train.train(cfg, tmp_path / "part", progress=False, max_steps=5)
    assert part["status"] == "max_steps" and part["step"] == 5
    rest = train.train(cfg, tmp_path / "part", progress=False, resume=tmp_path / "part" / "checkpoint.npz")
    assert rest["step"] == full["step"] == 12
    a = checkpoint.load(tmp_path / "full" / "checkpoint.npz")
    b = checkpoint.load(tmp_path / "part" / "checkpoint.npz")
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k], err_msg=k)


def test_a_run_stopped_by_its_time_budget_still_delivers_its_model(tmp_path, small_set):
    cfg = _config(data={"dataset": str(small_set), "scales": [3]}, train={"time_budget_minutes": 1e-9})
    result = train.train(cfg, tmp_path / "run", progress=False)
    assert result["status"] == "budget" and result["step"] < 12
    assert (tmp_path / "run" / "model.npz").is_file() and "Set5" in result["scores"]


@pytest.mark.data
def test_balanced_scales_reweight_the_gradient_not_the_logged_loss(tmp_path, small_set):
    cfg = _config(data={"dataset": str(small_set), "scales": [2, 4]}, train={"steps": 3})
    train.train(cfg, tmp_path / "plain", progress=False)
    cfg["train"]["balance_scales"] = True
    balanced = train.train(cfg, tmp_path / "balanced", progress=False)
    a = checkpoint.load(tmp_path / "plain" / "checkpoint.npz").params
    b = checkpoint.load(tmp_path / "balanced" / "checkpoint.npz").params
    assert balanced["status"] == "done"
    assert any(not np.array_equal(a[k], b[k]) for k in a)  # the same batches, other updates


def _diverging(small_set, **train_keys):
    return _config(data={"dataset": str(small_set), "scales": [3]},
                   train={"lr": 1e6, "optimizer": "sgd", "momentum": 0.0, "schedule": "constant",
                          "steps": 400, **train_keys})


def _loss_of(path, config, small_set):
    """The loss of a checkpoint's parameters on the run's first batch."""
    model = models.build(train._model_kwargs(config))
    checkpoint.load(path, into=model.graph)
    batches, _ = train._batches(config, model, None, log=io.StringIO())
    return train.forward_loss(model, batches(0), Objective(train.make_loss("mse")))


@pytest.mark.data
def test_divergence_keeps_the_last_good_checkpoint_and_its_advice_works(tmp_path, small_set):
    cfg = _diverging(small_set)
    with pytest.raises(train.TrainingError) as err:
        train.train(cfg, tmp_path / "run", progress=False)
    msg = str(err.value)
    ck = tmp_path / "run" / "checkpoint.npz"
    good = checkpoint.load(ck)
    assert re.match(rf"training diverged: the loss became (nan|inf) at step {good.step + 1}; stopped. "
                    rf"{re.escape(str(ck))} holds the last good state \(step {good.step}\)", msg)
    assert "lower train.lr (now 1e+06)" in msg
    assert np.isfinite(_loss_of(ck, cfg, small_set))  # the file holds a state with a finite loss
    # Following the advice: resume from it with a lower rate.
    cfg["train"]["lr"], cfg["train"]["steps"] = 1e-4, good.step + 5
    done = train.train(cfg, tmp_path / "run", progress=False, resume=ck)
    assert done["status"] == "done" and done["step"] == good.step + 5


@pytest.mark.data
def test_divergence_before_any_checkpoint_says_nothing_was_saved(tmp_path, small_set):
    cfg = _diverging(small_set)
    cfg["checkpoint"]["every_minutes"] = 60.0
    with pytest.raises(train.TrainingError, match="before any checkpoint was written: nothing was saved"):
        train.train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "checkpoint.npz").exists()
    assert not list((tmp_path / "run").glob(".*tmp*"))


@pytest.mark.data
def test_a_crash_mid_run_saves_the_last_good_state(tmp_path, small_set, monkeypatch):
    cfg = _config(data={"dataset": str(small_set), "scales": [3]}, eval={"every": 4},
                  checkpoint={"every_minutes": 60.0})

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(train, "evaluation_row", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        train.train(cfg, tmp_path / "run", progress=False)
    # The crash came in the evaluation after step 4: that state is whole, its loss finite, and saved.
    assert checkpoint.load(tmp_path / "run" / "checkpoint.npz").step == 4
    monkeypatch.undo()
    rest = train.train(cfg, tmp_path / "run", progress=False, resume=tmp_path / "run" / "checkpoint.npz")
    full = train.train(cfg, tmp_path / "full", progress=False)
    a = checkpoint.load(tmp_path / "run" / "checkpoint.npz").params
    b = checkpoint.load(tmp_path / "full" / "checkpoint.npz").params
    assert rest["step"] == full["step"] == 12 and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.mark.data
def test_everything_is_checked_before_any_work(tmp_path, small_set):
    cases = [
        ({"eval": {"dataset": "Set55"}}, "eval.dataset: unknown data set 'Set55'"),
        ({"eval": {"final_datasets": ["Set5", "Set41"]}}, "eval.final_datasets: unknown data set 'Set41'"),
        ({"data": {"dataset": "T19"}}, "data.dataset: unknown data set 'T19'"),
        ({"train": {"lr": "fast"}}, 'train.lr must be a positive number, got "fast"'),
        ({"train": {"schedule": "linear"}}, "train.schedule must be one of"),
        ({"train": {"optimizer": "rmsprop"}}, "train.optimizer must be one of"),
    ]
    for i, (override, message) in enumerate(cases):
        cfg = train.merge(_config(data={"dataset": str(small_set), "scales": [3]}), override)
        with pytest.raises(ValueError) as err:
            train.train(cfg, tmp_path / f"r{i}", progress=False)
        assert message in str(err.value)
        assert sorted(p.name for p in (tmp_path / f"r{i}").iterdir()) == []


@pytest.mark.data
def test_resume_refuses_another_runs_checkpoint(tmp_path, small_set):
    cfg = _config(data={"dataset": str(small_set), "scales": [2]})
    train.train(cfg, tmp_path / "x2", progress=False)
    before = {p.name: p.read_bytes() for p in (tmp_path / "x2").iterdir() if p.is_file()}
    other = _config(data={"dataset": str(small_set), "scales": [4]})
    with pytest.raises(train.TrainingError, match=r"belongs to another run; its config differs in data.scales: \[2\] → \[4\]"):
        train.train(other, tmp_path / "x2", progress=False, resume=tmp_path / "x2" / "checkpoint.npz")
    with pytest.raises(train.TrainingError, match="model.npz files cannot be resumed"):
        train.train(cfg, tmp_path / "x2", progress=False, resume=tmp_path / "x2" / "model.npz")
    after = {p.name: p.read_bytes() for p in (tmp_path / "x2").iterdir() if p.is_file()}
    assert after == before


@pytest.mark.data
def test_garbage_log_on_resume_names_the_file(tmp_path, small_set):
    cfg = _config(data={"dataset": str(small_set), "scales": [3]})
    train.train(cfg, tmp_path / "run", progress=False, max_steps=3)
    (tmp_path / "run" / "log.csv").write_text("step,loss\nthree,abc\n")
    with pytest.raises(ValueError, match=r"log.csv: not a training log written by dynconv"):
        train.train(cfg, tmp_path / "run", progress=False, resume=tmp_path / "run" / "checkpoint.npz")


@pytest.mark.data
def test_a_second_run_into_the_folder_is_refused_and_stale_files_cleaned(tmp_path, small_set):
    cfg = _config(data={"dataset": str(small_set), "scales": [3]})
    run = tmp_path / "run"
    run.mkdir()
    (run / ".checkpoint.npz.tmp-abc123.npz").write_bytes(b"left by kill -9")
    with RunLock(run):
        with pytest.raises(RunFolderBusy, match=r"run is in use by another run \(pid \d+"):
            train.train(cfg, run, progress=False)
    assert (run / ".checkpoint.npz.tmp-abc123.npz").exists()  # the holder's files are not touched
    train.train(cfg, run, progress=False, max_steps=2)
    assert not (run / ".checkpoint.npz.tmp-abc123.npz").exists()
    assert not (run / ".lock").exists()



@pytest.mark.data
def test_ctrl_c_writes_a_checkpoint(tmp_path, small_set, monkeypatch):
    cfg = _config(data={"dataset": str(small_set), "scales": [3]}, checkpoint={"every_minutes": 60.0})
    real = train.Batches.__call__

    def interrupt_at_7(self, t):
        if t == 7 and not hits:
            hits.append(t)
            raise KeyboardInterrupt
        return real(self, t)

    hits = []

    monkeypatch.setattr(train.Batches, "__call__", interrupt_at_7)
    result = train.train(cfg, tmp_path / "run", progress=False)
    assert result["status"] == "interrupted" and result["step"] == 7
    assert checkpoint.load(tmp_path / "run" / "checkpoint.npz").step == 7


@pytest.mark.data
@pytest.mark.parametrize("fate", ["became an ImportError", "was swallowed"])
@pytest.mark.parametrize("sig, status", [(signal.SIGINT, "interrupted"), (signal.SIGTERM, "terminated")])
def test_a_stop_signal_that_an_import_hid_still_stops_the_run(tmp_path, small_set, monkeypatch, sig, status, fate):
    """matplotlib's pybind11 modules turn an exception raised while they initialise into
    ``ImportError: initialization failed``, and matplotlib swallows some ImportErrors: the first
    curves.png of a run (its first import of matplotlib) is where a signal meets them."""
    cfg = _config(data={"dataset": str(small_set), "scales": [3]}, eval={"every": 3},
                  checkpoint={"every_minutes": 60.0}, train={"steps": 1000})
    calls = []

    def curves_whose_import_hides_the_signal(rows, path):
        calls.append(len(rows))
        hit = False
        try:
            signal.raise_signal(sig)  # its handler raises here, as inside an extension's init
        except BaseException:
            hit = True
        if hit and fate == "became an ImportError":
            raise ImportError("initialization failed")  # no chain back to the signal's exception

    monkeypatch.setattr(train, "write_curves", curves_whose_import_hides_the_signal)
    term = signal.getsignal(signal.SIGTERM)
    old = signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal's Ctrl-C meets it
    try:
        result = train.train(cfg, tmp_path / "run", progress=False)
    finally:
        signal.signal(signal.SIGINT, old)
    assert calls == [1] and result["status"] == status and result["step"] == 3
    assert checkpoint.load(tmp_path / "run" / "checkpoint.npz").step == 3
    assert signal.getsignal(signal.SIGTERM) is term


@pytest.mark.data
def test_short_run_lowers_the_loss_and_beats_bicubic(tmp_path, small_set, data_dir):
    """About a minute of training on three T91 images beats bicubic on a held-out image."""
    from dynconv import sr
    from dynconv.sr import image, metrics

    cfg = _config(model={"n1": 32, "n2": 16}, data={"dataset": str(small_set), "scales": [3]},
                  train={"steps": 300, "batch_size": 32, "lr": 2e-3}, eval={"every": 150})
    result = train.train(cfg, tmp_path / "run", progress=False)
    assert result["status"] == "done"
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    losses = [float(line.split(",")[2]) for line in log[1:]]
    assert losses[-1] < losses[0]
    model = models.Model.load(tmp_path / "run" / "model.npz")
    assert (tmp_path / "run" / "curves.png").stat().st_size > 1000
    held_out = image.read_image(list_images("T91", data_dir)[10])[:120, :120]
    ref, bic, _ = sr.super_resolve(held_out, 3, "bicubic")
    _, net, _ = sr.super_resolve(held_out, 3, model)
    assert metrics.psnr(ref, net, shave=3) > metrics.psnr(ref, bic, shave=3) + 0.2
    scores = model.meta["scores"]["Set5"]["x3"]
    assert scores["psnr"] > 30.39  # Set5 x3 bicubic is 30.39 dB


@pytest.mark.data
def test_resume_of_a_checkpoint_with_nan_optimizer_buffers_is_refused(tmp_path, small_set):
    cfg = _config(data={"dataset": str(small_set), "scales": [3]})
    train.train(cfg, tmp_path / "run", progress=False, max_steps=2)
    path = tmp_path / "run" / "checkpoint.npz"
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays[next(k for k in arrays if k.startswith("optim/"))][...] = np.nan
    np.savez(path, **arrays)
    before = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
    with pytest.raises(checkpoint.CheckpointError, match=r"checkpoint.npz: optimizer buffer.*NaN or inf"):
        train.train(cfg, tmp_path / "run", progress=False, resume=path)
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()} == before

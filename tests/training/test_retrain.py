"""dynconv.training.retrain: a job graph of real `dynconv train` runs on Dask or a process pool — warm start
from the retrained parent, a worker killed mid-job resumes, a rerun skips finished jobs, report."""
from __future__ import annotations

import io
import json
import os
import re
import signal
import threading
import time

import pytest

from dynconv import checkpoint, sr
from dynconv.training import retrain


def _write(path, name, small_set, steps, init=""):
    path.write_text(f"""
[model]
arch = "srcnn"
name = "{name}"
n1 = 8
n2 = 4
residual = true
[data]
dataset = "{small_set}"
scales = [2]
[train]
steps = {steps}
batch_size = 8
lr = 1e-3
init = "{init}"
[eval]
every = 0
final_datasets = ["Set5", "Set14"]
[checkpoint]
every_minutes = 0.0
""")
    return path


@pytest.fixture
def tiny_configs(tmp_path, small_set):
    return [_write(tmp_path / "tiny-a.toml", "tiny-a", small_set, 20),
            _write(tmp_path / "tiny-b.toml", "tiny-b", small_set, 20, init="tiny-a"),
            _write(tmp_path / "tiny-c.toml", "tiny-c", small_set, 80)]


def test_plan_puts_parents_first_and_adds_the_lineage(tiny_configs):
    jobs = retrain.plan([tiny_configs[1], tiny_configs[2]])  # tiny-a joins as tiny-b's parent
    assert sorted(jobs) == ["tiny-a", "tiny-b", "tiny-c"] and list(jobs).index("tiny-a") < list(jobs).index("tiny-b")
    assert jobs["tiny-b"]["parent"] == "tiny-a" and jobs["tiny-a"]["parent"] is None
    shipped = retrain.plan(retrain.shipped_configs())
    assert list(shipped).index("dcnn-x234") < list(shipped).index("dcnn-any")
    assert shipped["dcnn-any"]["parent"] == "dcnn-x234"
    specs = retrain._specs(shipped, "out", None, None)  # a recipe trained on both cores keeps them
    assert specs["dcnn-any"]["threads"] == 2 and specs["dcnn-x234"]["threads"] == 1


def test_plan_refuses_a_cycle(tmp_path, small_set):
    a = _write(tmp_path / "a.toml", "a", small_set, 5, init="b")
    b = _write(tmp_path / "b.toml", "b", small_set, 5, init="a")
    with pytest.raises(ValueError, match="cycle"):
        retrain.plan([a, b])


def _kill_when_checkpointed(folder, stop, at_step=5):
    """SIGKILL the worker process running the job in ``folder`` once its checkpoint holds step
    ``at_step`` or later (checkpoints are written atomically: a file that exists is whole)."""
    while not stop.is_set():
        try:
            step = checkpoint.load(folder / "checkpoint.npz").step
        except OSError:  # not written yet
            step = -1
        if step >= at_step and not (folder / "done.json").exists():
            os.kill(json.loads((folder / "worker.json").read_text())["pid"], signal.SIGKILL)
            return True
        time.sleep(0.02)
    return False


def _scenario(configs, out, data_dir, engine):
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=lambda: killed.append(_kill_when_checkpointed(out / "tiny-c", stop)))
    killer.start()
    log = io.StringIO()
    try:
        first = retrain.retrain(configs, out, jobs=2, data_dir=data_dir, engine=engine, progress=False, log=log)
    finally:
        stop.set()
        killer.join()
    assert killed == [True]
    assert {r["status"] for r in first["results"].values()} == {"done"}, log.getvalue()
    resumed = re.search(r"resumed from \S+ at step (\d+)", (out / "tiny-c" / "train.log").read_text())
    assert resumed and int(resumed.group(1)) >= 5  # the rerun after the kill went on from the checkpoint
    child = sr.load_model(out / "tiny-b" / "model.npz")
    assert child.meta["init"]["name"] == str(out / "tiny-a" / "model.npz")  # the RETRAINED parent
    assert sorted({r["model"] for r in first["report"]["rows"]}) == ["tiny-a", "tiny-b", "tiny-c"]
    assert json.loads((out / "report.json").read_text())["models"] == ["tiny-a", "tiny-b", "tiny-c"]
    assert "| tiny-c | Set14 | x2 |" in (out / "report.md").read_text()
    assert "tiny-b: done" in log.getvalue()
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("*/model.npz")}
    second = retrain.retrain(configs, out, jobs=2, data_dir=data_dir, engine=engine, progress=False,
                             log=io.StringIO())
    assert {r["status"] for r in second["results"].values()} == {"skipped"}
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/model.npz")} == mtimes


@pytest.mark.slow  # 25 s; the process-pool test below runs the same scenario in `make test`
def test_dask_cluster_runs_the_graph_survives_a_killed_worker_and_skips_finished_jobs(
        tiny_configs, tmp_path, data_dir):
    pytest.importorskip("dask.distributed")
    _scenario(tiny_configs, tmp_path / "out", data_dir, "dask")


def test_process_pool_path_passes_the_same_scenario(tiny_configs, tmp_path, data_dir):
    _scenario(tiny_configs, tmp_path / "out", data_dir, "pool")


def test_job_state_reads_the_folder(tmp_path):
    job = tmp_path / "job"
    assert retrain.job_state(job) == "queued" and retrain.finished(job) is None
    job.mkdir()
    (job / "log.csv").write_text("step,loss\n40,0.1\n")
    assert retrain.job_state(job) == "stopped (logged step 40), to resume"
    (job / ".lock").write_text("{}")
    assert retrain.job_state(job) == "running (logged step 40)"
    (job / ".lock").unlink()
    (job / "model.npz").write_bytes(b"")
    assert retrain.job_state(job) == "trained, scoring"
    (job / "done.json").write_text('{"name": "job"}')
    assert retrain.job_state(job) == "done" and retrain.finished(job) == {"name": "job"}

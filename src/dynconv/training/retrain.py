"""Retrain a set of configs as a graph of ``dynconv train`` jobs (``dynconv retrain``).

Each job is an ordinary ``python -m dynconv train --threads 1`` run (``--threads N`` when its config
sets ``train.threads = N``, a recipe trained on N cores, which then shares them with any job beside
it) in its own folder ``<out>/<config stem>/`` (its lock, ``checkpoint.npz``, ``log.csv``, ``train.log``). A job whose
config warm-starts (``train.init``) from another job's model waits for that job and starts from
its *retrained* ``model.npz`` (passed as ``--init``), never from the shipped weights.

Engines: Dask distributed (the ``cluster`` extra) — a ``LocalCluster`` of ``jobs`` single-threaded
worker processes, or the scheduler at ``address`` — else a ``concurrent.futures`` process pool.

Faults lose no work:

* a job is **finished** when its folder holds ``model.npz`` and ``done.json`` (the record written
  last, atomically); a rerun skips finished jobs and resumes the others from ``checkpoint.npz``;
* a killed worker: on Linux the train process gets SIGTERM when its worker dies (it saves its last
  good state and releases its lock); the engine reruns the job (Dask reschedules tasks of lost
  workers, the process pool is rebuilt), which resumes from the checkpoint;
* Ctrl-C reaches every train process (one process group): each saves its last good state.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from dynconv.fileio import RunFolderBusy, RunLock, atomic_path
from dynconv.sr.shipped import SHIPPED
from dynconv.training.config import load_config

__all__ = ["plan", "shipped_configs", "ablation_configs", "run_job", "retrain", "finished", "job_state"]

CONFIGS = Path(__file__).resolve().parents[3] / "configs"
DONE = "done.json"


def shipped_configs(configs_dir=CONFIGS) -> list[Path]:
    """The config of every shipped model (``configs/<weight stem>.toml``)."""
    return [Path(configs_dir) / f"{stem}.toml" for stem in sorted({e.stem for e in SHIPPED.values()})]


def ablation_configs(configs_dir=CONFIGS) -> list[Path]:
    """``configs/ablations/*.toml`` (``dynconv retrain --ablations``)."""
    return sorted((Path(configs_dir) / "ablations").glob("*.toml"))


def _parent_config(init, known, configs_dir, beside):
    """The config that trains ``train.init``: a job of the set (by file stem or model name), else
    ``<init>.toml`` beside the child's config, else a shipped name's ``configs/<stem>.toml``;
    ``None`` for a weights file (used as it is)."""
    if not init:
        return None
    for path, cfg in known.items():
        if init in (path.stem, cfg["model"].get("name")):
            return path
    if (Path(beside) / f"{init}.toml").is_file():
        return Path(beside) / f"{init}.toml"
    if init in SHIPPED:
        p = Path(configs_dir) / f"{SHIPPED[init].stem}.toml"
        return p if p.exists() else None
    return None


def plan(configs, configs_dir=CONFIGS) -> dict:
    """The job graph: ``{name: {"config": Path, "parent": name or None}}``, parents first.

    A config's warm-start parent (``train.init``) joins the set even if not listed (the lineage).

    Raises
    ------
    ValueError
        Two configs with the same file name, or a cycle of ``train.init``.
    """
    known, todo = {}, [Path(c).resolve() for c in configs]
    while todo:
        path = todo.pop(0)
        if path in known:
            continue
        known[path] = load_config(path)
        parent = _parent_config(known[path]["train"]["init"], known, configs_dir, path.parent)
        if parent is not None and parent.resolve() not in known:
            todo.append(parent.resolve())
    jobs = {}
    for path, cfg in known.items():
        if path.stem in jobs:
            raise ValueError(f"configs {jobs[path.stem]['config']} and {path} share the job name {path.stem!r}")
        parent = _parent_config(cfg["train"]["init"], known, configs_dir, path.parent)
        jobs[path.stem] = {"config": path, "parent": parent.resolve().stem if parent else None}
    order, seen = [], set()
    for name in jobs:  # parents first; a cycle never resolves
        chain = []
        while name is not None and name not in seen:
            if name in chain:
                raise ValueError(f"train.init forms a cycle: {' -> '.join(chain + [name])}")
            chain.append(name)
            name = jobs[name]["parent"]
        for n in reversed(chain):
            seen.add(n)
            order.append(n)
    return {n: jobs[n] for n in order}


def finished(folder) -> dict | None:
    """The ``done.json`` record of a finished job folder, else ``None``."""
    folder = Path(folder)
    try:
        record = json.loads((folder / DONE).read_text())
    except (OSError, ValueError):
        return None
    return record if (folder / "model.npz").exists() else None


def _die_with_parent():  # Linux: SIGTERM the train process when the worker that started it dies
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _wait_for_lock(out, seconds=120.0):
    """Wait while a killed worker's train process is still saving its checkpoint."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with RunLock(out):
                return
        except RunFolderBusy:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def run_job(spec, *parents):
    """Run one job to completion (an engine task): ``dynconv train`` in a subprocess, then score.

    Parameters
    ----------
    spec : dict
        ``name``, ``config``, ``out`` (the job folder), ``steps`` (cap or None), ``init`` (the
        parent's retrained ``model.npz`` or None), ``data_dir``, ``scales`` (scored factors).
    parents : dict
        The parents' results (Dask passes them once they are done).

    Returns
    -------
    dict — the job's record (``status`` "done", "skipped", "interrupted" or "failed").
    """
    out = Path(spec["out"])
    record = finished(out)
    if record is not None:
        return dict(record, status="skipped")
    for p in parents:
        if p.get("status") not in ("done", "skipped"):
            return {"name": spec["name"], "status": "failed", "error": f"parent {p.get('name')} {p.get('status')}"}
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "worker.json") as tmp:
        tmp.write_text(json.dumps({"pid": os.getpid(), "started": time.time()}))
    _wait_for_lock(out)
    cmd = [sys.executable, "-m", "dynconv", "train", "--config", str(spec["config"]), "--out", str(out),
           "--threads", str(spec.get("threads") or 1), "--no-progress"]
    cmd += ["--steps", str(spec["steps"])] if spec.get("steps") else []
    cmd += ["--init", str(spec["init"])] if spec.get("init") else []
    cmd += ["--data-dir", str(spec["data_dir"])] if spec.get("data_dir") else []
    if (out / "checkpoint.npz").exists():
        cmd += ["--resume", str(out / "checkpoint.npz")]
    with open(out / "train.log", "a") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT,
                               preexec_fn=_die_with_parent if os.name == "posix" else None)
    if code in (130, 143):
        return {"name": spec["name"], "status": "interrupted", "log": str(out / "train.log")}
    if code != 0 or not (out / "model.npz").exists():
        raise RuntimeError(f"job {spec['name']}: dynconv train exited with {code}; see {out / 'train.log'}")
    return _finish(spec, out)


def _finish(spec, out):
    """Score the job's model with the standard protocol (Set5, Set14, every factor of its config:
    the scores ``dynconv train`` wrote in the header are reused, the missing ones computed) and
    write ``done.json`` last."""
    from dynconv import sr
    from dynconv.kernels import set_threads
    from dynconv.training.runlog import final_scores

    set_threads(1)
    model = sr.load_model(out / "model.npz")
    meta = model.meta or {}
    scores = {ds: dict((meta.get("scores") or {}).get(ds) or {}) for ds in ("Set5", "Set14")}
    for ds, per in scores.items():
        missing = [s for s in spec["scales"] if f"x{s:g}" not in per]
        if missing:
            per.update(final_scores(model, missing, [ds], spec.get("data_dir"))[ds])
    record = {"name": spec["name"], "config": str(spec["config"]), "status": "done", "step": int(model.step),
              "steps_cap": spec.get("steps"), "init": meta.get("init"),
              "training_wall_seconds": meta.get("training_wall_seconds"), "scores": scores}
    with atomic_path(out / DONE) as tmp:
        tmp.write_text(json.dumps(record, indent=1))
    return record


def job_state(folder) -> str:
    """A job folder's state for the progress lines: queued / running (the last step in
    ``log.csv``) / trained, scoring / stopped, to resume / done — read from its files."""
    folder = Path(folder)
    if finished(folder):
        return "done"
    try:
        lines = (folder / "log.csv").read_text().splitlines()
        step = int(lines[-1].split(",")[0]) if len(lines) > 1 else 0
    except (OSError, ValueError):
        step = None
    if (folder / ".lock").exists():
        return f"running (logged step {step or 0})"
    if (folder / "model.npz").exists():
        return "trained, scoring"
    return "queued" if step is None else f"stopped (logged step {step}), to resume"


def _specs(jobs, out_dir, steps, data_dir):
    """Every job's :func:`run_job` spec; a child's ``init`` is its parent's retrained model."""
    specs = {}
    for name, job in jobs.items():
        cfg = load_config(job["config"])
        scales = sorted({float(s) for s in list(cfg["data"]["scales"]) + list(cfg["eval"]["scales"] or [])})
        total = int(cfg["train"]["steps"])
        specs[name] = {"name": name, "config": str(job["config"]), "out": str(Path(out_dir).resolve() / name),
                       "steps": min(steps, total) if steps else None, "budget_steps": total,
                       "budget_minutes": cfg["train"]["time_budget_minutes"], "threads": cfg["train"]["threads"] or 1,
                       "init": str(Path(out_dir).resolve() / job["parent"] / "model.npz") if job["parent"] else None,
                       "data_dir": str(data_dir) if data_dir else None,
                       "scales": [int(s) if s.is_integer() else s for s in scales]}
    return specs


def _run_dask(jobs, specs, n, address, tick):
    from dask.distributed import Client, LocalCluster

    cluster = None if address else LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                dashboard_address=":0")  # any free port: 8787 may be taken
    client = Client(address or cluster)
    try:
        futs, token = {}, f"{os.getpid()}-{time.time():.0f}"
        for name, job in jobs.items():  # a future as an argument: Dask runs the child after it
            deps = [futs[job["parent"]]] if job["parent"] else []
            futs[name] = client.submit(run_job, specs[name], *deps, key=f"retrain-{name}-{token}",
                                       retries=2, pure=False)
        while not all(f.done() for f in futs.values()):
            tick()
            time.sleep(0.5)
        return {name: (f.result() if f.status == "finished" else
                       {"name": name, "status": "failed", "error": str(f.exception())})
                for name, f in futs.items()}
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _run_pool(jobs, specs, n, tick, attempts=3):
    """The process-pool engine: submits a job once its parent is done; a broken pool (a worker
    killed) is rebuilt and its unfinished jobs rerun, up to ``attempts`` times each."""
    results, tries = {}, dict.fromkeys(jobs, 0)
    while len(results) < len(jobs):
        pool, running = ProcessPoolExecutor(max_workers=n), {}
        try:
            while len(results) < len(jobs):
                for name, job in jobs.items():
                    parent = job["parent"]
                    if name in results or name in running or (parent and parent not in results):
                        continue
                    tries[name] += 1
                    args = (results[parent],) if parent else ()
                    running[name] = pool.submit(run_job, specs[name], *args)
                for name, fut in list(running.items()):
                    if fut.done():
                        del running[name]
                        try:
                            results[name] = fut.result()
                        except BrokenProcessPool:
                            if tries[name] >= attempts:
                                results[name] = {"name": name, "status": "failed", "error": "worker lost"}
                            raise
                        except Exception as exc:  # noqa: BLE001 - a failed job is reported, the others go on
                            results[name] = {"name": name, "status": "failed", "error": str(exc)}
                tick()
                time.sleep(0.2)
        except BrokenProcessPool:
            continue
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return results


def _engine(force):
    if force in ("dask", "pool"):
        return force
    try:
        import dask.distributed  # noqa: F401
        return "dask"
    except ImportError:
        return "pool"


def retrain(configs, out_dir, *, jobs=None, address=None, steps=None, data_dir=None, engine=None,
            progress=True, log=sys.stderr):
    """Train ``configs`` (with their warm-start parents) as a job graph, then write the report.

    Parameters
    ----------
    configs : list of path
    out_dir : path
        One folder per job, and ``report.md`` / ``report.json``.
    jobs : int, optional
        Local workers (default: one per core).
    address : str, optional
        A running Dask scheduler (``tcp://host:8786``); needs the ``cluster`` extra.
    steps : int, optional
        Caps every job's ``train.steps``.
    engine : {"dask", "pool"}, optional
        Default: Dask if importable, else the process pool.

    Returns
    -------
    dict: ``{"results": {name: record}, "report": report dict, "wall_seconds": float}``.
    """
    from dynconv.console import progress as P
    from dynconv.training.retrain_report import write_report

    graph = plan(configs)
    specs = _specs(graph, out_dir, steps, data_dir)
    kind = _engine(engine)
    if address and kind != "dask":
        raise ValueError("`address` needs Dask: pip install 'dynconv[cluster]'")
    n = jobs or os.cpu_count() or 1
    shown, start = {}, time.perf_counter()
    with P.bar(len(graph), "retrain", unit="job", enabled=progress, file=log) as bar:
        def tick():
            states = {name: job_state(s["out"]) for name, s in specs.items()}
            for name, state in states.items():
                if shown.get(name) != state:
                    shown[name] = state
                    total = specs[name]["steps"] or specs[name]["budget_steps"]
                    bar.write(f"{name}: {state} (job of {total} steps); log {specs[name]['out']}/train.log", file=log)
            P.advance(bar, sum(s == "done" for s in states.values()), len(graph))

        print(f"retrain: {len(graph)} jobs on {address or f'{n} local worker(s)'} ({kind}): "
              + ", ".join(f"{k} <- {v['parent']}" if v["parent"] else k for k, v in graph.items()), file=log)
        results = (_run_dask(graph, specs, n, address, tick) if kind == "dask" else
                   _run_pool(graph, specs, n, tick))
        tick()
    for name, r in results.items():
        if r.get("status") not in ("done", "skipped"):
            print(f"{name}: {r.get('status')} {r.get('error', '')}; log {specs[name]['out']}/train.log", file=log)
    report = write_report(results, specs, out_dir)
    return {"results": results, "report": report, "wall_seconds": round(time.perf_counter() - start, 1)}

"""Peak memory and wall time of ``dynconv upscale``, against PIL's bicubic in the same run.

A synthetic photo-like RGB image (smooth colour fields plus noise, saved as PNG) is upscaled x2
by ``python -m dynconv upscale IN OUT.png --scale 2 --model M`` for every model, bicubic
included, and by PIL (``Image.open`` -> ``resize(BICUBIC)`` -> ``save`` as PNG): the same read,
the same PNG writer, so the wall times compare the whole job. Each command runs in its own
subprocess; its peak resident set size is the child's ``ru_maxrss`` from ``os.wait4`` (the
interpreter, numpy, numba and the weights included), and its CPU time (user + system, all
threads) comes from the same call: on a machine shared with jobs of higher priority the wall
time mostly measures waiting, the CPU time the work.

``--compile`` measures instead what a user's first ``dynconv upscale`` compiles: each model
upscales a small image twice with one fresh ``NUMBA_CACHE_DIR`` (cold: every numba loop it uses
compiles; warm: loaded from the cache), reporting wall and CPU time and numba's compile events
counted inside the command.

Usage::

    python benchmarks/bench_upscale_memory.py [--size 2000x1500] [--models bicubic,dcnn,...]
        [--threads N] [--compile] [--out benchmarks/results/upscale_memory.json]

A benchmark measures; it never fails on a target.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODELS = ("bicubic", "srcnn-x2", "srcnn-x3", "srcnn-x4", "srcnn-x234", "srcnn-any", "dcnn", "dcnn-x234", "dcnn-scale")
PIL_SCRIPT = ("import sys; from PIL import Image; im = Image.open(sys.argv[1]); "
              "im.resize((im.width * 2, im.height * 2), Image.BICUBIC).save(sys.argv[2])")


def make_image(path, width, height, seed=0):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    small = Image.fromarray(rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8))
    smooth = np.asarray(small.resize((width, height), Image.BICUBIC), dtype=np.int16)
    noisy = np.clip(smooth + rng.normal(0, 6, smooth.shape), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(path)


def measure(cmd, env):
    """(wall seconds, CPU seconds, peak RSS in MiB, return code) of one subprocess."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode()
    p.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(f"  failed ({code}): {err.strip()[-300:]}", file=sys.stderr)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, code  # maxrss: KiB on Linux


def _children_cpu():
    import resource

    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


#: ``dynconv upscale ...`` counting numba's compile events; the count is the last stdout line.
COUNTING_CLI = ("import json, sys\nfrom numba.core import event\nfrom dynconv.cli import main\n"
                "with event.install_recorder('numba:compile') as rec:\n    code = main(sys.argv[1:])\n"
                "print(json.dumps({'compiles': sum(1 for ev in rec.buffer if ev[1].is_start)}))\n"
                "sys.exit(code)")


def compile_runs(models, env, tmp):
    """Cold then warm first upscale of a small image per model, one fresh numba cache for all."""
    src, dst = Path(tmp) / "small.png", Path(tmp) / "small_out.png"
    make_image(src, 96, 64)
    rows = []
    with tempfile.TemporaryDirectory(prefix="dynconv-numba-cache-") as cache:
        cenv = dict(env, NUMBA_CACHE_DIR=cache)
        for phase in ("cold", "warm"):
            for m in models:
                cmd = [sys.executable, "-c", COUNTING_CLI, "upscale", str(src), str(dst), "--scale", "2",
                       "--model", m, "--force"]
                t0, c0 = time.perf_counter(), _children_cpu()
                p = subprocess.run(cmd, env=cenv, capture_output=True, text=True)
                wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
                lines = p.stdout.strip().splitlines()
                compiles = json.loads(lines[-1])["compiles"] if p.returncode == 0 and lines else None
                rows.append({"phase": phase, "method": m, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                             "compiles": compiles, "ok": p.returncode == 0})
                print(f"{phase:>5s} {m:>12s}  {wall:7.2f} s wall  {cpu:6.2f} s CPU  compile events {compiles}",
                      flush=True)
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="2000x1500", help="input WIDTHxHEIGHT (default 2000x1500)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--compile", action="store_true", help="cold/warm first upscale of a small image instead")
    ap.add_argument("--out", default=None, help="JSON results (default: print only)")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    src_dir = Path(__file__).resolve().parents[1] / "src"
    env = dict(os.environ, PYTHONPATH=str(src_dir) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    threads = ["--threads", str(args.threads)] if args.threads else []
    rows = []
    load0 = os.getloadavg()
    if args.compile:
        with tempfile.TemporaryDirectory() as tmp:
            result = {"compile": compile_runs(args.models.split(","), env, tmp), "loadavg_start": load0,
                      "loadavg_end": os.getloadavg()}
        if args.out:
            Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        return result
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.png"
        make_image(src, width, height)
        dst = Path(tmp) / "out.png"
        jobs = [("PIL bicubic", [sys.executable, "-c", PIL_SCRIPT, str(src), str(dst)])]
        jobs += [(m, [sys.executable, "-m", "dynconv", "upscale", str(src), str(dst), "--scale", "2",
                      "--model", m, "--force", *threads]) for m in args.models.split(",")]
        for name, cmd in jobs:
            wall, cpu, rss, code = measure(cmd, env)
            rows.append({"method": name, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                         "peak_rss_mib": round(rss, 1), "ok": code == 0})
            print(f"{name:>12s}  {wall:8.2f} s wall  {cpu:8.2f} s CPU  {rss:8.1f} MiB"
                  + ("" if code == 0 else "  FAILED"), flush=True)
    for key in ("wall_s", "cpu_s"):
        pil = rows[0][key]
        for r in rows:
            r[key.replace("_s", "_vs_pil")] = round(r[key] / pil, 2)
    result = {"input": f"{width}x{height} RGB PNG", "scale": 2, "output": f"{2 * width}x{2 * height} PNG",
              "threads": args.threads, "cpus": os.cpu_count(), "python": platform.python_version(),
              "loadavg_start": load0, "loadavg_end": os.getloadavg(),
              "blas_env": {k: os.environ.get(k, "(unset)") for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")},
              "rows": rows}
    print(f"load {[round(v, 2) for v in load0]} -> {[round(v, 2) for v in result['loadavg_end']]}; "
          + ", ".join(f"{k}={v}" for k, v in result["blas_env"].items()))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()

"""Where a training step's time goes: each node's forward and backward, the loss, Adam, the rest.

The step is ``bench_model_steps.framework_step`` (what ``dynconv train`` runs: ``Graph`` forward,
MSE loss, backward, Adam), with each layer's ``forward`` and ``backward``, the loss and the
optimiser step wrapped in timers. "graph and rest" is the step's time minus the timed parts:
the graph's own bookkeeping (gradient accumulation, cache release, checks). Figures are medians
over the timed steps, after two warm-up steps; a product layer's GFLOP/s uses the analytic count
of ``bench_model_steps.step_flops`` (backward = dw + dx, dx only where the graph needs it). The
timers cost about a microsecond per call, which the table does not subtract.

Usage: ``python benchmarks/bench_profile.py [--models srcnn,dcnn] [--batch 64] [--threads N]
[--steps 15] [--quick] [--out FILE]``. Freed memory is kept, as ``dynconv train`` does. Writes
``benchmarks/results/profile.json``. No PyTorch in the process. Run on a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from dynconv import kernels

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import is_busy, machine_peak, pct_of_peak, write_json_atomic  # noqa: E402
from bench_model_steps import ARCHITECTURES, PRODUCTS, batch_data, framework_step, step_flops  # noqa: E402


def _parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="srcnn,srcnn-955,dcnn-default",
                   help=f"comma-separated, from {', '.join(ARCHITECTURES)}")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--threads", type=int, default=None, help="kernel threads (default: all cores)")
    p.add_argument("--steps", type=int, default=15, help="timed steps per model")
    p.add_argument("--quick", action="store_true", help="batch 4, 2 steps (smoke test)")
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "profile.json"))
    args = p.parse_args(argv)
    unknown = [m for m in args.models.split(",") if m not in ARCHITECTURES]
    if unknown:
        p.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(ARCHITECTURES)}")
    return args


def _timed(fn, key, laps):
    """``fn`` that adds its wall time to ``laps[key]``."""
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            laps[key] = laps.get(key, 0.0) + time.perf_counter() - t0
    return wrapper


def instrument(model, step):
    """Wrap every node's forward/backward, the loss and Adam; returns the dict they add to."""
    laps = {}
    for name in model.graph.order():
        layer = model.graph.nodes[name].layer
        layer.forward = _timed(layer.forward, (name, "forward"), laps)
        layer.backward = _timed(layer.backward, (name, "backward"), laps)
    step.loss.forward = _timed(step.loss.forward, ("loss", "forward"), laps)
    step.loss.backward = _timed(step.loss.backward, ("loss", "backward"), laps)
    step.opt.step = _timed(step.opt.step, ("adam", "step"), laps)
    return laps


def profile_model(model, batch, steps, rng):
    """{"step_ms": t, "segments": [{node, layer, direction, ms, gflops}], "rest_ms": r}."""
    x, y = batch_data(model, batch, rng)
    step = framework_step(model, x, y)
    laps = instrument(model, step)
    for _ in range(2):  # compile, allocate, set need_input_grad
        step()
    per_step, totals = [], []
    for _ in range(steps):
        laps.clear()
        t0 = time.perf_counter()
        step()
        totals.append(time.perf_counter() - t0)
        per_step.append(dict(laps))
    flops, _ = step_flops(model, batch)
    segments = []
    for key in per_step[0]:
        ms = 1e3 * statistics.median(s[key] for s in per_step)
        node, direction = key
        layer = model.graph.nodes[node].layer if node in model.graph.nodes else None
        f = flops.get(node)
        flop = None if f is None else (f["fwd"] if direction == "forward" else f["dw"] + f["dx"])
        segments.append({"node": node, "layer": type(layer).__name__ if layer else node,
                         "direction": direction, "ms": ms,
                         "gflops": None if not flop else flop / ms / 1e6})
    step_ms = 1e3 * statistics.median(totals)
    return {"step_ms": step_ms, "segments": segments,
            "rest_ms": step_ms - sum(s["ms"] for s in segments)}


def print_profile(name, batch, res, peak):
    step = res["step_ms"]
    print(f"\n{name}, B = {batch}: {step:.2f} ms per step ({batch / step * 1e3:,.0f} patches/s)")
    print(f"{'node':14s} {'layer':16s} {'direction':9s} {'ms':>8s} {'share':>6s} {'GFLOP/s':>8s} {'% peak':>7s}")
    rows = res["segments"] + [{"node": "graph and rest", "layer": "", "direction": "",
                               "ms": res["rest_ms"], "gflops": None}]
    for s in rows:
        g, pct = s["gflops"], pct_of_peak(s["gflops"], peak)
        print(f"{s['node']:14s} {s['layer']:16s} {s['direction']:9s} {s['ms']:8.3f} "
              f"{100 * s['ms'] / step:5.1f}% {'' if g is None else f'{g:8.1f}':>8s} "
              f"{'' if pct is None else f'{pct:6.0f}%':>7s}")
    products = sum(s["ms"] for s in res["segments"] if s["gflops"] is not None)
    print(f"product layers {products:.2f} ms ({100 * products / step:.0f} %), "
          f"everything else {step - products:.2f} ms")


def main(argv=None):
    args = _parse(argv)
    batch, steps = (4, 2) if args.quick else (args.batch, args.steps)
    threads = args.threads or os.cpu_count()
    kernels.set_threads(threads)
    kept = kernels.reuse_freed_memory()
    load = list(os.getloadavg())
    peak = machine_peak(cores=threads)
    print(f"load average at start {load[0]:.2f}{' (busy machine)' if is_busy(load[0]) else ''}; "
          f"{threads} thread(s); freed memory {'kept' if kept else 'returned'}; fp32 peak "
          f"{peak['gflops'] or float('nan'):.1f} GFLOP/s")
    out = {"machine": {"threads": threads, "loadavg_start": load, "busy": is_busy(load[0]),
                       "peak": peak, "reuse_freed_memory": kept},
           "batch": batch, "steps": steps, "models": {}}
    rng = np.random.default_rng(0)
    for name in args.models.split(","):
        res = profile_model(ARCHITECTURES[name](), batch, steps, rng)
        out["models"][name] = res
        print_profile(name, batch, res, peak)
    out["machine"]["loadavg_end"] = list(os.getloadavg())
    write_json_atomic(args.out, json.dumps(out, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

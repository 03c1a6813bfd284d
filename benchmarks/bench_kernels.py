#!/usr/bin/env python
r"""Benchmark of the numba kernels in :mod:`dynconv.kernels`: every algorithm, every SRCNN/DCNN layer.

Run by ``make bench`` (``.venv/bin/python benchmarks/bench_kernels.py``). Writes
``benchmarks/results/kernels.json`` (or ``--out``) and prints Markdown tables.

What is measured (float32, NCHW, stride 1, no padding as in SRCNN, B = 128 patches of 33×33)
-----------------------------------------------------------------------------------------------
* **Kernels** — the layer shapes of SRCNN 9-1-5 / 9-5-5 and of the shipped DCNN (network B's
  convolutions, the dynamic mapping and reconstruction layers; see ``LAYERS``), each with every
  algorithm of ``dynconv.kernels.ALGORITHMS`` (static) or ``DYNAMIC_ALGORITHMS`` (dynamic), in
  four directions: ``fwd``; ``dx`` = eq 2 alone (the algorithm's input-gradient routine,
  ``kn2row.input_grad`` / ``blocked.input_grad`` / the direct loops; im2col computes dx and dw
  from one unfold, so it has no dx-only row); ``dw`` = dw, db (``need_input_grad=False``, as for a first layer); ``bwd`` = dx, dw
  (dk), db. Every layer has a bias. The algorithm ``choose_algorithm`` picks is marked.

* **FLOP counting** — ``MACs = N·F·C·kh·kw·Ho·Wo`` (valid output positions only; bias adds
  and the ReLU/loss are not counted). ``fwd`` = ``dx`` = ``dw`` = 2·MACs, ``bwd`` = 4·MACs.
  GFLOP/s = that count / median time; "% sgemm" relative to NumPy's float32 ``a @ b`` on
  2048² matrices measured at the start and end of the run; "% peak" relative to the machine's
  fp32 peak for the threads used (cores × FMA units × lanes × 2 × clock,
  ``bench_common.machine_peak``).

* **Load** — the 1-minute load average at the start is recorded; above 1.0 the run is a busy
  machine (``meta.busy``) and its PyTorch ratios are printed marked "busy machine": PyTorch's
  threads wait at barriers for cores other processes hold, so such ratios flatter dynconv.

* **Peers** (timed round-robin, one call of each per round, the starting one rotating, medians
  after warm-up — the box is a noisy shared 2-core machine): PyTorch CPU with
  ``torch.set_num_threads(threads)`` — ``F.conv2d`` forward and
  ``torch.ops.aten.convolution_backward`` (the op autograd calls) backward; a dynamic conv as a
  grouped convolution (groups = N). Optional: without torch the columns say "torch not
  installed". Results of every algorithm are checked against torch (or, without it, against the
  first algorithm) on every run.

* **Training step** — SRCNN 9-1-5 and 9-5-5: forward of the three convolutions with ReLUs, MSE
  gradient, backward (the first layer without dx), no parameter update; patches/s for dynconv
  kernels (+ NumPy element-wise ops), a plain NumPy baseline (``sliding_window_view`` +
  ``einsum``) and PyTorch (``nn.Sequential``, autograd). Also a per-layer profile.

* **Compile times** — a subprocess with ``NUMBA_CACHE_DIR`` set to a fresh temp dir calls every
  kernel path for float32 and float64 (cold: everything compiles), then a second subprocess
  with the same cache dir (warm) must compile nothing: counted with numba's
  ``numba:compile`` event and the dispatchers' ``stats.cache_misses``.

* **BLAS setting** — the values of ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` (never set or
  unset here) and, when ``threadpoolctl`` is installed, the BLAS libraries and the kernel
  architecture they picked, are recorded in ``meta``. Run once as the environment is and once
  as ``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_kernels.py``.

The benchmark measures; it never fails: PASS/MISS is printed and the exit status is 0.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "kernels.json"
sys.path.insert(0, str(HERE))  # the sibling modules below, also when imported from elsewhere

try:  # the package is installed editable in .venv; fall back to the source tree
    import dynconv  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(HERE.parent / "src"))

from bench_common import (BUSY_NOTE, _cpu_name, _loadavg, interleaved, is_busy, machine_peak, med,  # noqa: E402
                          passive_openmp, pct_of_peak, relerr, sgemm_gflops, write_json_atomic)
from bench_kernels_report import (SRCNN_LAYERS, blas_meta, bench_compile, compile_probe,  # noqa: E402,F401
                                  evaluate_targets, markdown)
from bench_kernels_steps import DTYPE, NETS, bench_steps  # noqa: E402,F401

# name, C, F, k, H (input size), dynamic, label
LAYERS = [
    ("conv1_9x9_1-64", 1, 64, 9, 33, False, "conv 1→64 9×9 (33→25)"),
    ("conv2_1x1_64-32", 64, 32, 1, 25, False, "conv 64→32 1×1 (25→25)"),
    ("conv2_5x5_64-32", 64, 32, 5, 25, False, "conv 64→32 5×5 (25→21)"),
    ("conv3_5x5_32-1_915", 32, 1, 5, 25, False, "conv 32→1 5×5 (25→21, 9-1-5)"),
    ("conv3_5x5_32-1_955", 32, 1, 5, 21, False, "conv 32→1 5×5 (21→17, 9-5-5)"),
    ("b_conv1_5x5_1-32", 1, 32, 5, 33, False, "DCNN B conv 1→32 5×5 (33→29)"),
    ("b_conv2_1x1_32-32", 32, 32, 1, 29, False, "DCNN B conv 32→32 1×1 (29→29)"),
    ("map_3x3_32-32", 32, 32, 3, 25, False, "default DCNN mapping conv 32→32 3×3 (25→23)"),
    ("dyn_1x1_64-32", 64, 32, 1, 25, True, "dynamic 64→32 1×1 (25→25)"),
    ("dyn_5x5_32-1", 32, 1, 5, 25, True, "dynamic 32→1 5×5 (25→21)"),
]
DIRECTIONS = ("fwd", "dx", "dw", "bwd")  # bwd = dx+dw+db; dw = dw+db (need_input_grad=False)


# ---------------------------------------------------------------------------------------------
# Peers for one layer
# ---------------------------------------------------------------------------------------------

def make_layer_problem(rng, B, C, F, k, H, dynamic):
    x = rng.standard_normal((B, C, H, H), dtype=np.float32)
    scale = 1.0 / np.sqrt(C * k * k)
    if dynamic:
        w = (rng.standard_normal((B, F, C, k, k), dtype=np.float32) * scale).astype(DTYPE)
        b = rng.standard_normal((B, F), dtype=np.float32)
    else:
        w = (rng.standard_normal((F, C, k, k), dtype=np.float32) * scale).astype(DTYPE)
        b = rng.standard_normal((F,), dtype=np.float32)
    Ho = H - k + 1
    dy = rng.standard_normal((B, F, Ho, Ho), dtype=np.float32)
    return x, w, b, dy


def layer_peers(K, torch, x, w, b, dy, dynamic, direction):
    """{peer: zero-arg callable} for one (layer, direction): one per dynconv algorithm
    ("dynconv:<algorithm>") and torch; plus a checker returning each peer's relative error
    against torch (or, without torch, against the first algorithm)."""
    need_input_grad = direction in ("bwd", "dx")
    peers, outputs = {}, {}
    if dynamic:
        fwd, bwd, algorithms = K.dynamic_conv2d_forward, K.dynamic_conv2d_backward, K.DYNAMIC_ALGORITHMS
    else:
        fwd, bwd, algorithms = K.conv2d_forward, K.conv2d_backward, K.ALGORITHMS
    for algo in algorithms:
        if algo == "winograd" and w.shape[-1] > 5:  # built for kernels up to 5x5
            continue
        name = f"dynconv:{algo}"
        if direction == "dx":
            dx_only = _dx_routine(algo, w if dynamic else w[None], dy)
            if dx_only is not None:
                peers[name] = dx_only
                outputs[name] = lambda f=dx_only: (f(),)
        elif direction == "fwd":
            peers[name] = lambda algo=algo: fwd(x, w, b, pad=0, algorithm=algo)
            outputs[name] = lambda algo=algo: (fwd(x, w, b, pad=0, algorithm=algo)[0],)
        else:
            _, cache = fwd(x, w, b, pad=0, algorithm=algo)
            peers[name] = lambda cache=cache: bwd(dy, cache, need_input_grad=need_input_grad)
            outputs[name] = peers[name]
    if torch is not None:
        tf = torch.nn.functional
        N, C, H, W = x.shape
        if dynamic:
            F = w.shape[1]
            tx = torch.from_numpy(x.reshape(1, N * C, H, W))
            tw = torch.from_numpy(w.reshape(N * F, *w.shape[2:]))
            tb = torch.from_numpy(b.reshape(N * F))
            tdy = torch.from_numpy(dy.reshape(1, N * F, *dy.shape[2:]))
            groups = N
        else:
            F = w.shape[0]
            tx, tw, tb, tdy = (torch.from_numpy(a) for a in (x, w, b, dy))
            groups = 1
        cb = torch.ops.aten.convolution_backward

        def t_fwd():
            with torch.no_grad():
                return tf.conv2d(tx, tw, tb, groups=groups)

        def t_bwd():
            return cb(tdy, tx, tw, [tb.shape[0]], [1, 1], [0, 0], [1, 1], False, [0, 0], groups,
                      [need_input_grad, direction != "dx", direction != "dx"])

        if direction == "dx":
            peers["torch"] = t_bwd
            outputs["torch"] = lambda: (t_bwd()[0].numpy().reshape(x.shape),)
        elif direction == "fwd":
            peers["torch"] = t_fwd
            outputs["torch"] = lambda: (t_fwd().numpy().reshape(N, F, *dy.shape[2:]),)
        else:
            peers["torch"] = t_bwd

            def t_out():
                gx, gw, gb = t_bwd()
                return (None if gx is None else gx.numpy().reshape(x.shape),
                        gw.numpy().reshape(w.shape), gb.numpy().reshape(b.shape))
            outputs["torch"] = t_out

    def check():
        ref_name = "torch" if "torch" in outputs else f"dynconv:{algorithms[0]}"
        ref = outputs[ref_name]()
        errs = {}
        for peer in outputs:
            if peer == ref_name:
                continue
            got = outputs[peer]()
            errs[peer] = max(relerr(g, r) for r, g in zip(ref, got) if r is not None)
            if (got[0] is None) != (ref[0] is None):
                errs[peer] = float("inf")
        return errs

    return peers, check


def _dx_routine(algo, k5, dy):
    """Eq 2/6 alone for one algorithm (None when the algorithm has no dx-only routine)."""
    from dynconv.kernels import _loops, blocked, kn2row, parallel
    N, F, Ho, Wo = dy.shape
    C, kh, kw = k5.shape[2:]
    k5 = np.ascontiguousarray(k5)
    if algo == "kn2row":
        return lambda: kn2row.input_grad(dy, k5, 0)
    if algo == "blocked":  # one kernel for a static layer (k5[0]), one per sample for eq 6
        k = k5[0] if k5.shape[0] == 1 else k5
        return lambda: blocked.input_grad(dy, k, 0, Ho + kh - 1, Wo + kw - 1)
    if algo == "direct":
        def run():
            dxp = np.empty((N, C, Ho + kh - 1, Wo + kw - 1), dy.dtype)
            parallel(_loops.direct_backward_dx, N, dy, k5, dxp)
            return dxp
        return run
    return None


def macs(B, C, F, k, H):
    Ho = H - k + 1
    return B * F * C * k * k * Ho * Ho


def bench_kernels(K, torch, cfg, rng):
    """One row per (layer, direction, algorithm); dx rows derived as bwd − dw."""
    rows, problems = [], []
    for name, C, F, k, H, dynamic, label in LAYERS:
        x, w, b, dy = make_layer_problem(rng, cfg.B, C, F, k, H, dynamic)
        chosen = (K.choose_dynamic_algorithm if dynamic else K.choose_algorithm)(F, C, k, k)
        trained = (K.choose_dynamic_algorithm if dynamic else K.choose_algorithm)(F, C, k, k,
                                                                                    training=True)
        m = macs(cfg.B, C, F, k, H)
        ms_by_dir = {}
        for direction in DIRECTIONS:
            peers, check = layer_peers(K, torch, x, w, b, dy, dynamic, direction)
            errs = check()
            bad = {p: e for p, e in errs.items() if not e <= 1e-4}
            if bad:
                problems.append(f"{name} {direction}: rel. error {bad}")
            times = interleaved(peers, rounds=cfg.rounds, warmup=cfg.warmup,
                                budget_s=cfg.budget, min_reps=cfg.min_reps)
            ms_by_dir[direction] = {p: med(t) * 1e3 for p, t in times.items()}
            print(f"  {name:20s} {direction:4s} " + "  ".join(
                f"{p.replace('dynconv:', '')} {v:8.2f} ms" for p, v in ms_by_dir[direction].items()),
                flush=True)
        for direction in DIRECTIONS:
            ms = ms_by_dir[direction]
            flop = (4 if direction == "bwd" else 2) * m
            for peer, v in ms.items():
                if not peer.startswith("dynconv:"):
                    continue
                algo = peer.split(":", 1)[1]
                t_ms = ms.get("torch")
                rows.append({
                    "kernel": name, "label": label, "direction": direction, "algorithm": algo,
                    "chosen": algo == chosen, "chosen_training": algo == trained, "dynamic": dynamic,
                    "shape": {"B": cfg.B, "C": C, "F": F, "k": k, "H": H, "Ho": H - k + 1},
                    "gflop": flop / 1e9, "ms": v, "torch_ms": t_ms,
                    "gflops": flop / max(v, 1e-9) / 1e6,
                    "ratio_vs_torch": (t_ms / v) if t_ms is not None and v > 0 else None,
                })
    return rows, problems


class Config:
    def __init__(self, quick):
        self.quick = quick
        self.B = 8 if quick else 128
        self.rounds = 2 if quick else 15
        self.min_reps = 2 if quick else 5
        self.warmup = 1 if quick else 2
        self.budget = 0.1 if quick else 1.5  # s per (row, peer): caps the slow NumPy baseline
        self.step_rounds = 2 if quick else 15
        self.step_budget = 0.5 if quick else 6.0
        self.profile_reps = 1 if quick else 5
        self.sgemm_n = 512 if quick else 2048
        self.sgemm_reps = 3 if quick else 7


def _parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run: B = 8, few repeats, no compile probe")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")
    ap.add_argument("--no-torch", action="store_true", help="behave as if torch were not installed")
    ap.add_argument("--threads", type=int, default=2,
                    help="numba and torch threads (default 2; BLAS follows OPENBLAS_NUM_THREADS)")
    ap.add_argument("--compile", dest="compile", action="store_true", default=None,
                    help="run the cold/warm compile probe (default: on, off with --quick)")
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--malloc-default", action="store_true",
                    help="leave glibc's malloc as it is (default: keep freed memory, as dynconv train does)")
    ap.add_argument("--_compile-probe", dest="probe", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--_load", dest="load", type=float, default=None,
                    help=argparse.SUPPRESS)  # tests: stands for the measured 1-minute load
    return ap.parse_args(argv)


def _meta(args, cfg, torch):
    """The ``meta`` section: versions, threads, BLAS, load at the start (busy or not), peak."""
    import numba
    blas_env, blas_libs, blas_arch = blas_meta()
    load = _loadavg() if args.load is None else [args.load] * 3
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "blas_env": blas_env, "blas_libraries": blas_libs, "blas_architecture": blas_arch,
        "torch": torch.__version__ if torch else None,
        "torch_threads": torch.get_num_threads() if torch else None,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "cpu": _cpu_name(), "cpus": os.cpu_count(), "B": cfg.B, "dtype": "float32",
        "quick": cfg.quick, "loadavg_start": load, "busy": is_busy((load or [None])[0]),
        "peak": machine_peak(cores=min(max(1, args.threads), os.cpu_count() or 1)),
        "flop_counting": "MACs = N*F*C*kh*kw*Ho*Wo; fwd = dx = dw = 2 MACs, "
                         "bwd (dx + dw) = 4 MACs; bias, ReLU and loss not counted",
        "ratios": "ratio_vs_torch = torch ms / dynconv ms (per algorithm)",
        "timing": "medians of round-robin interleaved repeats after warm-up",
        "torch_peer": "F.conv2d forward, aten.convolution_backward backward; dynamic conv = "
                      "grouped conv (groups = N); training step = nn.Sequential + autograd",
    }


def main(argv=None):
    args = _parse(argv)
    if args.probe:
        compile_probe()
        return 0
    t_start = time.perf_counter()
    cfg = Config(args.quick)
    run_compile = (not args.quick) if args.compile is None else args.compile

    import dynconv.kernels as K
    K.set_threads(max(1, args.threads), blas=max(1, args.threads))  # sgemm reference: all threads
    # As dynconv train: without it, each call page-faults its fresh outputs in, and how much
    # depends on which peer ran before (glibc's adaptive mmap threshold), not on the kernel.
    kept = (not args.malloc_default) and K.reuse_freed_memory()
    torch = None
    if not args.no_torch:
        passive_openmp()  # before torch: its idle workers must not spin on dynconv's cores
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ImportError:
            torch = None
    print(f"dynconv kernel benchmark: B = {cfg.B}{' (quick)' if cfg.quick else ''}, torch "
          f"{torch.__version__ if torch else 'not installed'}", flush=True)
    result = {"meta": _meta(args, cfg, torch)}
    result["meta"]["reuse_freed_memory"] = kept
    meta = result["meta"]
    if meta["busy"]:
        print(f"{BUSY_NOTE}: load {meta['loadavg_start'][0]:.2f} > 1.0 at the start, the PyTorch "
              "ratios are not quiet-machine figures", flush=True)
    problems = []
    print("sgemm ...", flush=True)
    sg = sgemm_gflops(cfg.sgemm_n, cfg.sgemm_reps)
    print("kernels ...", flush=True)
    rng = np.random.default_rng(12345)
    result["kernels"], p = bench_kernels(K, torch, cfg, rng)
    problems += p
    print("training steps ...", flush=True)
    result["training_step"], p = bench_steps(K, torch, cfg, rng)
    problems += p
    sg += sgemm_gflops(cfg.sgemm_n, cfg.sgemm_reps)
    result["sgemm"] = {"n": cfg.sgemm_n, "gflops": med(sg), "samples": sg}
    for r in result["kernels"]:
        r["frac_sgemm"] = r["gflops"] / result["sgemm"]["gflops"]
        r["pct_peak"] = pct_of_peak(r["gflops"], meta["peak"])
    for s in result["training_step"].values():
        s["pct_peak"] = pct_of_peak(s["gflops"], meta["peak"])
    result["compile"] = None
    if run_compile:
        print("compile (cold, warm subprocesses) ...", flush=True)
        result["compile"] = bench_compile()
    meta["loadavg_end"] = _loadavg()
    meta["wall_s"] = time.perf_counter() - t_start
    result["targets"] = evaluate_targets(result)
    result["problems"] = problems
    write_json_atomic(args.out, json.dumps(result, indent=1, default=float) + "\n")
    print()
    print(markdown(result))
    for msg in problems:
        print(f"WARNING: {msg}")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

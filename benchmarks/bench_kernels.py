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
  ``kn2row.input_grad`` / the direct loops; im2col computes dx and dw from one unfold, so it has
  no dx-only row); ``dw`` = dw, db (``need_dx=False``, as for a first layer); ``bwd`` = dx, dw
  (dk), db. Every layer has a bias. The algorithm ``choose_algorithm`` picks is marked.

* **FLOP counting** — ``MACs = N·F·C·kh·kw·Ho·Wo`` (valid output positions only; bias adds
  and the ReLU/loss are not counted). ``fwd`` = ``dx`` = ``dw`` = 2·MACs, ``bwd`` = 4·MACs.
  GFLOP/s = that count / median time; "% sgemm" relative to NumPy's float32 ``a @ b`` on
  2048² matrices measured at the start and end of the run.

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
import contextlib
import datetime
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "results" / "kernels.json"

try:  # the package is installed editable in .venv; fall back to the source tree
    import dynconv  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(HERE.parent / "src"))

DTYPE = np.float32
TARGETS = {"9-1-5_vs_torch": 1.3, "9-5-5_vs_torch": 1.0, "layer_vs_torch": 1.0,
           "frac_sgemm_64-32_5x5": 0.5, "cold_compile_s": 15.0}

# name, C, F, k, H (input size), dynamic, label
LAYERS = [
    ("conv1_9x9_1-64", 1, 64, 9, 33, False, "conv 1→64 9×9 (33→25)"),
    ("conv2_1x1_64-32", 64, 32, 1, 25, False, "conv 64→32 1×1 (25→25)"),
    ("conv2_5x5_64-32", 64, 32, 5, 25, False, "conv 64→32 5×5 (25→21)"),
    ("conv3_5x5_32-1_915", 32, 1, 5, 25, False, "conv 32→1 5×5 (25→21, 9-1-5)"),
    ("conv3_5x5_32-1_955", 32, 1, 5, 21, False, "conv 32→1 5×5 (21→17, 9-5-5)"),
    ("b_conv1_5x5_1-32", 1, 32, 5, 33, False, "DCNN B conv 1→32 5×5 (33→29)"),
    ("b_conv2_1x1_32-32", 32, 32, 1, 29, False, "DCNN B conv 32→32 1×1 (29→29)"),
    ("dyn_1x1_64-32", 64, 32, 1, 25, True, "dynamic 64→32 1×1 (25→25)"),
    ("dyn_5x5_32-1", 32, 1, 5, 25, True, "dynamic 32→1 5×5 (25→21)"),
]
#: The SRCNN layers the "every conv layer ≥ 1.0× torch" target covers.
SRCNN_LAYERS = {"conv1_9x9_1-64", "conv2_1x1_64-32", "conv2_5x5_64-32", "conv3_5x5_32-1_915",
                "conv3_5x5_32-1_955"}
DIRECTIONS = ("fwd", "dx", "dw", "bwd")  # bwd = dx+dw+db; dw = dw+db (need_dx=False)
NETS = {"9-1-5": (9, 1, 5), "9-5-5": (9, 5, 5)}


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------

def interleaved(fns, *, rounds, warmup, budget_s, min_reps):
    """Time each callable in ``fns`` round-robin; return {name: [seconds, ...]}.

    Every peer runs ``warmup`` untimed calls, then up to ``rounds`` timed ones, one call per
    peer per round, the starting peer rotating from round to round. A peer whose warm call
    is slow stops after ``max(min_reps, budget_s / t_warm)`` repeats (the NumPy baseline).
    """
    names = list(fns)
    reps = {}
    for name in names:
        t_last = 0.0
        for _ in range(max(1, warmup)):
            t0 = time.perf_counter()
            fns[name]()
            t_last = time.perf_counter() - t0
        reps[name] = int(max(min_reps, min(rounds, budget_s / max(t_last, 1e-9))))
    times = {name: [] for name in names}
    gc.collect()
    for r in range(max(reps.values())):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            if len(times[name]) < reps[name]:
                t0 = time.perf_counter()
                fns[name]()
                times[name].append(time.perf_counter() - t0)
    return times


def med(ts):
    return float(statistics.median(ts)) if ts else None


def sgemm_gflops(n, reps):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        ts.append(time.perf_counter() - t0)
    return [2.0 * n ** 3 / t / 1e9 for t in ts]


# ---------------------------------------------------------------------------------------------
# Plain NumPy baseline (sliding_window_view + einsum)
# ---------------------------------------------------------------------------------------------

def _padded(a, pad):
    return a if pad == 0 else np.pad(a, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def np_conv_forward(x, w, b, pad=0):
    """Eq 1: y[n,f] = b[f] + sum_c corr(x[n,c], w[f,c])."""
    kh, kw = w.shape[2:]
    win = sliding_window_view(_padded(x, pad), (kh, kw), axis=(2, 3))  # (N,C,Ho,Wo,kh,kw)
    y = np.einsum("nchwuv,fcuv->nfhw", win, w, optimize=True)
    if b is not None:
        y = y + b[None, :, None, None]
    return y, (x, w, pad)


def _full_conv_dx(dy, w_nf, pad, H, W, dynamic):
    """Eq 2/6: dx_pad = full convolution of dy with the kernel (= corr with the flipped kernel)."""
    kh, kw = w_nf.shape[-2:]
    dyp = np.pad(dy, ((0, 0), (0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1)))
    win = sliding_window_view(dyp, (kh, kw), axis=(2, 3))  # (N,F,Hp,Wp,kh,kw)
    flipped = w_nf[..., ::-1, ::-1]
    if dynamic:
        dxp = np.einsum("nfhwuv,nfcuv->nchw", win, flipped, optimize=True)
    else:
        dxp = np.einsum("nfhwuv,fcuv->nchw", win, flipped, optimize=True)
    return dxp[:, :, pad:pad + H, pad:pad + W]


def np_conv_backward(dy, cache, need_dx=True):
    """Eqs 2, 3: (dx, dw, db)."""
    x, w, pad = cache
    kh, kw = w.shape[2:]
    win = sliding_window_view(_padded(x, pad), (kh, kw), axis=(2, 3))
    dw = np.einsum("nchwuv,nfhw->fcuv", win, dy, optimize=True)
    db = dy.sum(axis=(0, 2, 3))
    dx = _full_conv_dx(dy, w, pad, x.shape[2], x.shape[3], False) if need_dx else None
    return dx, dw, db


def relerr(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


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
    need_dx = direction in ("bwd", "dx")
    peers, outputs = {}, {}
    if dynamic:
        fwd, bwd, algorithms = K.dynamic_conv2d_forward, K.dynamic_conv2d_backward, K.DYNAMIC_ALGORITHMS
    else:
        fwd, bwd, algorithms = K.conv2d_forward, K.conv2d_backward, K.ALGORITHMS
    for algo in algorithms:
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
            peers[name] = lambda cache=cache: bwd(dy, cache, need_dx=need_dx)
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
                      [need_dx, direction != "dx", direction != "dx"])

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
    from dynconv.kernels import _loops, kn2row
    from dynconv.kernels._blas import parallel
    N, F, Ho, Wo = dy.shape
    C, kh, kw = k5.shape[2:]
    k5 = np.ascontiguousarray(k5)
    if algo == "kn2row":
        return lambda: kn2row.input_grad(dy, k5, 0)
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
                    "chosen": algo == chosen, "dynamic": dynamic,
                    "shape": {"B": cfg.B, "C": C, "F": F, "k": k, "H": H, "Ho": H - k + 1},
                    "gflop": flop / 1e9, "ms": v, "torch_ms": t_ms,
                    "gflops": flop / max(v, 1e-9) / 1e6,
                    "ratio_vs_torch": (t_ms / v) if t_ms is not None and v > 0 else None,
                })
    return rows, problems


# ---------------------------------------------------------------------------------------------
# Whole SRCNN training step
# ---------------------------------------------------------------------------------------------

def net_shapes(ks):
    """[(C, F, k)] for SRCNN f1-f2-f3 with n1 = 64, n2 = 32."""
    return [(1, 64, ks[0]), (64, 32, ks[1]), (32, 1, ks[2])]


def make_net(rng, ks):
    params = []
    for C, F, k in net_shapes(ks):
        w = (rng.standard_normal((F, C, k, k), dtype=np.float32) / np.sqrt(C * k * k)).astype(DTYPE)
        params.append((w, np.full((F,), 0.01, dtype=DTYPE)))
    return params


def kernel_step(K, params, x, t, marks=None):
    """Forward + MSE gradient + backward with dynconv kernels; returns the parameter grads."""
    mark = (lambda label: marks.append((label, time.perf_counter()))) if marks is not None \
        else (lambda label: None)
    (w1, b1), (w2, b2), (w3, b3) = params
    mark("start")
    a1, c1 = K.conv2d_forward(x, w1, b1, pad=0)
    mark("conv1 fwd")
    np.maximum(a1, 0, out=a1)
    a2, c2 = K.conv2d_forward(a1, w2, b2, pad=0)
    mark("conv2 fwd")
    np.maximum(a2, 0, out=a2)
    y, c3 = K.conv2d_forward(a2, w3, b3, pad=0)
    mark("conv3 fwd")
    g = (y - t) * np.float32(2.0 / y.size)
    mark("loss+relu")
    g2, dw3, db3 = K.conv2d_backward(g, c3)
    mark("conv3 bwd")
    g2 *= a2 > 0
    g1, dw2, db2 = K.conv2d_backward(g2, c2)
    mark("conv2 bwd")
    g1 *= a1 > 0
    _, dw1, db1 = K.conv2d_backward(g1, c1, need_dx=False)
    mark("conv1 bwd (no dx)")
    return [dw1, db1, dw2, db2, dw3, db3]


def numpy_step(params, x, t):
    (w1, b1), (w2, b2), (w3, b3) = params
    a1, c1 = np_conv_forward(x, w1, b1)
    a1 = np.maximum(a1, 0)
    a2, c2 = np_conv_forward(a1, w2, b2)
    a2 = np.maximum(a2, 0)
    y, c3 = np_conv_forward(a2, w3, b3)
    g = (y - t) * np.float32(2.0 / y.size)
    g2, dw3, db3 = np_conv_backward(g, c3)
    g2 = g2 * (a2 > 0)
    g1, dw2, db2 = np_conv_backward(g2, c2)
    g1 = g1 * (a1 > 0)
    _, dw1, db1 = np_conv_backward(g1, c1, need_dx=False)
    return [dw1, db1, dw2, db2, dw3, db3]


def make_torch_step(torch, params, x, t):
    nn = torch.nn
    layers = []
    for i, (w, b) in enumerate(params):
        F, C, k, _ = w.shape
        conv = nn.Conv2d(C, F, k)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(w))
            conv.bias.copy_(torch.from_numpy(b))
        layers.append(conv)
        if i < len(params) - 1:
            layers.append(nn.ReLU())
    net = nn.Sequential(*layers)
    tx, tt = torch.from_numpy(x), torch.from_numpy(t)

    def step():
        net.zero_grad()
        loss = torch.nn.functional.mse_loss(net(tx), tt)
        loss.backward()

    def grads():
        step()
        convs = [m for m in net if isinstance(m, nn.Conv2d)]
        return [a for c in convs for a in (c.weight.grad.numpy(), c.bias.grad.numpy())]

    return net, step, grads


def torch_profile(torch, net, step, n_steps):
    """ms per call of each conv's forward/backward op, from torch.profiler (inclusive CPU time)."""
    from torch.profiler import ProfilerActivity, profile
    step()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        for _ in range(n_steps):
            step()
    convs = [m for m in net if isinstance(m, torch.nn.Conv2d)]
    wshape = {tuple(c.weight.shape): f"conv{i + 1}" for i, c in enumerate(convs)}
    out = {}
    for ev in prof.key_averages(group_by_input_shape=True):
        shapes = [tuple(s) for s in (ev.input_shapes or [])]
        if ev.key == "aten::convolution" and len(shapes) > 1 and shapes[1] in wshape:
            key = wshape[shapes[1]] + " fwd"
        elif ev.key == "aten::convolution_backward" and len(shapes) > 2 and shapes[2] in wshape:
            key = wshape[shapes[2]] + " bwd"
        else:
            continue
        out[key] = out.get(key, 0.0) + ev.cpu_time_total / 1e3 / n_steps
    return dict(sorted(out.items()))


def bench_steps(K, torch, cfg, rng):
    results, problems = {}, []
    for net_name, ks in NETS.items():
        params = make_net(rng, ks)
        x = rng.random((cfg.B, 1, 33, 33), dtype=np.float32)
        Ho = 33 - sum(k - 1 for k in ks)
        t = rng.random((cfg.B, 1, Ho, Ho), dtype=np.float32)
        ref = kernel_step(K, params, x, t)
        errs = {"numpy": max(relerr(g, r) for g, r in zip(numpy_step(params, x, t), ref))}
        all_marks = []

        def dyn_step():
            all_marks.append([])
            kernel_step(K, params, x, t, all_marks[-1])
        peers = {"dynconv": dyn_step, "numpy": lambda: numpy_step(params, x, t)}
        tnet = None
        if torch is not None:
            tnet, tstep, tgrads = make_torch_step(torch, params, x, t)
            errs["torch"] = max(relerr(g, r) for g, r in zip(tgrads(), ref))
            peers["torch"] = tstep
        for peer, e in errs.items():
            if not e <= 1e-3:
                problems.append(f"step {net_name}: gradients differ from {peer} by {e:.2e}")
        times = interleaved(peers, rounds=cfg.step_rounds, warmup=cfg.warmup,
                            budget_s=cfg.step_budget, min_reps=cfg.min_reps)
        ms = {p: med(v) * 1e3 for p, v in times.items()}
        ms_min = {p: min(v) * 1e3 for p, v in times.items()}
        pps = {p: cfg.B / (v * 1e-3) for p, v in ms.items()}
        res = {
            "layers": [{"C": C, "F": F, "k": k} for C, F, k in net_shapes(ks)],
            "ms": ms, "ms_min": ms_min, "patches_per_s": pps,
            "repeats": {p: len(v) for p, v in times.items()},
            "ratio_vs_numpy": pps["dynconv"] / pps["numpy"],
            "ratio_vs_torch": pps["dynconv"] / pps["torch"] if "torch" in pps else None,
            "max_rel_err_grads": errs,
        }
        # Profile: where the dynconv step spends its time (timestamps inside the timed steps,
        # warm-up excluded).
        segs = {}
        for marks in all_marks[cfg.warmup:]:
            for (_, t0), (label, t1) in zip(marks, marks[1:]):
                segs.setdefault(label, []).append((t1 - t0) * 1e3)
        res["profile_dynconv_ms"] = {k: med(v) for k, v in segs.items()}
        if torch is not None:
            try:
                res["profile_torch_ms"] = torch_profile(torch, tnet, tstep, cfg.profile_reps)
            except Exception as exc:  # the profiler is a nicety
                res["profile_torch_ms"] = {"error": repr(exc)}
        results[net_name] = res
        print(f"  step {net_name}: " + "  ".join(f"{p} {v:8.1f} patches/s" for p, v in pps.items()),
              flush=True)
    return results, problems


# ---------------------------------------------------------------------------------------------
# Compile times (subprocesses)
# ---------------------------------------------------------------------------------------------

def _dispatchers():
    """Every numba dispatcher defined in the dynconv.kernels modules: {qualified name: obj}."""
    import importlib
    import pkgutil

    from numba.core.dispatcher import Dispatcher

    import dynconv.kernels as pkg
    found = {}
    for info in pkgutil.iter_modules(pkg.__path__):
        mod = importlib.import_module(f"dynconv.kernels.{info.name}")
        for attr, obj in vars(mod).items():
            if isinstance(obj, Dispatcher):
                found.setdefault(id(obj), (f"{info.name}.{attr}", obj))
    return dict(found.values())


def compile_probe():
    """Run in a subprocess: first call of every kernel path, float32 and float64 (JSON out)."""
    t0 = time.perf_counter()
    import dynconv.kernels as K
    from numba.core import event
    t_import = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    calls = {}
    n_compiles = 0
    with event.install_recorder("numba:compile") as rec:
        for dt in (np.float32, np.float64):
            def arr(*shape):
                return rng.standard_normal(shape).astype(dt)
            x = arr(2, 3, 9, 9)
            cases = {}
            for algo in K.ALGORITHMS:  # every algorithm, a k×k and a 1×1 layer, C = 1 and C = 3
                for w in (arr(8, 3, 3, 3), arr(8, 3, 1, 1), arr(8, 1, 3, 3)):
                    xx = x if w.shape[1] == 3 else x[:, :1].copy()
                    cases[f"conv2d {w.shape} {algo}"] = (K.conv2d_forward, K.conv2d_backward,
                                                         (xx, w, arr(8)), algo)
            for algo in K.DYNAMIC_ALGORITHMS:
                for k in (arr(2, 2, 3, 3, 3), arr(2, 8, 3, 1, 1)):
                    cases[f"dynamic {k.shape} {algo}"] = (
                        K.dynamic_conv2d_forward, K.dynamic_conv2d_backward,
                        (x, k, arr(2, k.shape[1])), algo)
            for label, (fwd, bwd, args, algo) in cases.items():
                pad = 0 if args[1].shape[-1] == 1 else 1
                c1, t1 = time.process_time(), time.perf_counter()
                y, cache = fwd(*args, pad=pad, algorithm=algo)
                t2 = time.perf_counter()
                bwd(np.ones_like(y), cache, need_dx=True)
                bwd(np.ones_like(y), cache, need_dx=False)
                c3, t3 = time.process_time(), time.perf_counter()
                calls[f"{np.dtype(dt).name} {label}"] = {"fwd_s": t2 - t1, "bwd_s": t3 - t2,
                                                         "cpu_s": c3 - c1}
        n_compiles = sum(1 for ev in rec.buffer if ev[1].is_start)
    stats = {}
    for name, d in _dispatchers().items():
        st = d.stats
        stats[name] = {"signatures": len(d.signatures),
                       "cache_hits": int(sum(st.cache_hits.values())),
                       "cache_misses": int(sum(st.cache_misses.values()))}
    total = sum(c["fwd_s"] + c["bwd_s"] for c in calls.values())
    cpu = sum(c["cpu_s"] for c in calls.values())
    print(json.dumps({"import_s": t_import, "first_calls_s": total, "first_calls_cpu_s": cpu,
                      "loadavg": _loadavg(), "calls": calls,
                      "compile_events": n_compiles, "dispatchers": stats,
                      "cache_dir": os.environ.get("NUMBA_CACHE_DIR")}))


def bench_compile():
    out = {}
    with tempfile.TemporaryDirectory(prefix="dynconv-numba-cache-") as cache_dir:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
        for phase in ("cold", "warm"):
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--_compile-probe"],
                                  env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                out[phase] = {"error": proc.stderr[-2000:]}
                continue
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            res["subprocess_wall_s"] = wall
            res["cache_misses"] = sum(d["cache_misses"] for d in res["dispatchers"].values())
            res["cache_hits"] = sum(d["cache_hits"] for d in res["dispatchers"].values())
            res["not_exercised"] = [n for n, d in res["dispatchers"].items() if d["signatures"] == 0]
            out[phase] = res
            print(f"  {phase}: first calls {res['first_calls_s']:.2f} s (CPU "
                  f"{res['first_calls_cpu_s']:.2f} s), compile events "
                  f"{res['compile_events']}, cache hits {res['cache_hits']}, misses "
                  f"{res['cache_misses']} (subprocess wall {wall:.1f} s)", flush=True)
    return out


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------

def fmt(v, spec=".2f", none="—"):
    return none if v is None else format(v, spec)


def markdown(result):
    lines = []
    meta = result["meta"]
    sg = result["sgemm"]["gflops"]
    torch_note = meta["torch"] or "torch not installed"
    blas = meta.get("blas_env", {})
    lines.append(f"dynconv kernels, float32, B = {meta['B']}, {meta['cpu']} ({meta['cpus']} cores), "
                 f"{meta['numba_threads']} threads; numpy {meta['numpy']} sgemm {sg:.0f} GFLOP/s; "
                 f"numba {meta['numba']}; torch: {torch_note}. OPENBLAS_CORETYPE="
                 f"{blas.get('OPENBLAS_CORETYPE', '(unset)')}, OPENBLAS_L2_SIZE="
                 f"{blas.get('OPENBLAS_L2_SIZE', '(unset)')}; BLAS kernels: "
                 f"{meta.get('blas_architecture') or 'unknown (no threadpoolctl)'}. Medians of "
                 f"interleaved repeats; load average {meta.get('loadavg_start')} → "
                 f"{meta.get('loadavg_end')}. GFLOP = 2·MACs per product (bwd = dx + dw). × torch = torch ms / dynconv ms; * = the algorithm "
                 f"`choose_algorithm` picks.")
    lines.append("")
    lines.append("| kernel | dir | algorithm | dynconv ms | GFLOP/s | % sgemm | torch ms | × torch |")
    lines.append("|---|---|---|---:|---:|---:|---:|---:|")
    for r in result["kernels"]:
        gf = r["gflops"]
        lines.append(
            f"| {r['label']} | {r['direction']} | {r['algorithm']}{' *' if r['chosen'] else ''} | "
            f"{r['ms']:.2f} | {gf:.1f} | {100 * gf / sg:.0f}% | {fmt(r['torch_ms'], '.2f', 'n/a')} | "
            f"{fmt(r['ratio_vs_torch'], '.2f', 'n/a')}{'×' if r['ratio_vs_torch'] is not None else ''} |")
    lines.append("")
    lines.append("| SRCNN training step (fwd+bwd) | dynconv patches/s | numpy patches/s | "
                 "torch patches/s | × numpy | × torch |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    for net, s in result["training_step"].items():
        p = s["patches_per_s"]
        lines.append(f"| {net} | {p['dynconv']:.0f} | {p['numpy']:.0f} | "
                     f"{fmt(p.get('torch'), '.0f', 'n/a')} | {s['ratio_vs_numpy']:.1f}× | "
                     f"{fmt(s['ratio_vs_torch'], '.2f', 'n/a')}"
                     f"{'×' if s['ratio_vs_torch'] is not None else ''} |")
    lines.append("")
    prof_rows = []
    for net, s in result["training_step"].items():
        pd, pt = s["profile_dynconv_ms"], s.get("profile_torch_ms") or {}
        for seg, v in pd.items():
            key = seg.replace(" (no dx)", "")
            tv = pt.get(key) if isinstance(pt, dict) else None
            prof_rows.append(f"| {net} | {seg} | {v:.2f} | {fmt(tv, '.2f', 'n/a')} |")
    lines.append("| step profile | segment | dynconv ms | torch ms (profiler) |")
    lines.append("|---|---|---:|---:|")
    lines.extend(prof_rows)
    lines.append("")
    comp = result.get("compile")
    if comp:
        lines.append("| compile (fresh NUMBA_CACHE_DIR, f32 + f64) | first calls s (wall) | CPU s | "
                     "compile events | cache hits | cache misses |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for phase in ("cold", "warm"):
            c = comp.get(phase, {})
            if "error" in c:
                lines.append(f"| {phase} | error | | | | |")
            elif c:
                lines.append(f"| {phase} | {c['first_calls_s']:.2f} | {c['first_calls_cpu_s']:.2f} | "
                             f"{c['compile_events']} | "
                             f"{c['cache_hits']} | {c['cache_misses']} |")
        lines.append("")
    lines.append("| target | measured | goal | |")
    lines.append("|---|---:|---:|---|")
    for t in result["targets"]:
        lines.append(f"| {t['name']} | {t['measured']} | {t['goal']} | {t['status']} |")
    return "\n".join(lines)


def evaluate_targets(result):
    out = []

    def add(name, measured, goal, ok, fmt_m):
        status = "n/a" if ok is None else ("PASS" if ok else "MISS")
        out.append({"name": name, "measured": fmt_m, "goal": goal, "pass": ok, "status": status,
                    "value": measured})
    steps = result["training_step"]
    for net, goal in (("9-1-5", TARGETS["9-1-5_vs_torch"]), ("9-5-5", TARGETS["9-5-5_vs_torch"])):
        r = steps[net]["ratio_vs_torch"]
        add(f"SRCNN {net} step vs torch", r, f"≥ {goal}×", None if r is None else r >= goal,
            "torch not installed" if r is None else f"{r:.2f}×")
    chosen = [r for r in result["kernels"] if r["chosen"] and r["kernel"] in SRCNN_LAYERS
              and r["direction"] in ("fwd", "bwd")]
    ratios = [r["ratio_vs_torch"] for r in chosen if r["ratio_vs_torch"] is not None]
    if ratios:
        worst = min(chosen, key=lambda r: r["ratio_vs_torch"] or float("inf"))
        goal = TARGETS["layer_vs_torch"]
        add("every SRCNN conv layer fwd/bwd vs torch (worst)", worst["ratio_vs_torch"], f"≥ {goal}×",
            worst["ratio_vs_torch"] >= goal,
            f"{worst['ratio_vs_torch']:.2f}× ({worst['kernel']} {worst['direction']})")
    sg = result["sgemm"]["gflops"]
    for r in result["kernels"]:
        if r["kernel"] == "conv2_5x5_64-32" and r["chosen"] and r["direction"] == "fwd":
            goal = TARGETS["frac_sgemm_64-32_5x5"]
            add("64→32 5×5 forward, fraction of sgemm", r["gflops"] / sg, f"≥ {goal:.0%}",
                r["gflops"] / sg >= goal, f"{r['gflops'] / sg:.0%}")
    comp = result.get("compile") or {}
    cold, warm = comp.get("cold") or {}, comp.get("warm") or {}
    if "first_calls_s" in cold:
        c = cold["first_calls_s"]
        add("cold compile, every kernel f32+f64", c, f"≤ {TARGETS['cold_compile_s']:.0f} s",
            c <= TARGETS["cold_compile_s"], f"{c:.1f} s")
    else:
        add("cold compile, every kernel f32+f64", None, "≤ 15 s", None,
            "skipped" if not comp else "error")
    if "compile_events" in warm:
        n = warm["compile_events"] + warm["cache_misses"]
        add("warm process compiles nothing", n, "0 compiles", n == 0,
            f"{warm['compile_events']} compiles, {warm['cache_misses']} cache misses")
    else:
        add("warm process compiles nothing", None, "0 compiles", None,
            "skipped" if not comp else "error")
    return out


def blas_meta():
    """The BLAS environment variables and, with threadpoolctl, the libraries and kernels in use."""
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                                      "OMP_NUM_THREADS") if k in os.environ}
    try:
        import threadpoolctl
        import scipy.linalg  # noqa: F401  (load scipy's OpenBLAS too)
        libs = [{k: d.get(k) for k in ("internal_api", "version", "architecture", "num_threads",
                                       "filepath")} for d in threadpoolctl.threadpool_info()]
    except ImportError:
        libs = None
    arch = None if not libs else ", ".join(sorted({f"{d['internal_api']} {d['architecture']}"
                                                   for d in libs if d.get("architecture")}))
    return env, libs, arch


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


def main(argv=None):
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
    ap.add_argument("--_compile-probe", dest="probe", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe:
        compile_probe()
        return 0
    t_start = time.perf_counter()
    cfg = Config(args.quick)
    run_compile = (not args.quick) if args.compile is None else args.compile

    import numba

    import dynconv.kernels as K
    K.set_threads(max(1, args.threads), blas=max(1, args.threads))  # sgemm reference: all threads
    blas_env, blas_libs, blas_arch = blas_meta()
    torch = None
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ImportError:
            torch = None
    print(f"dynconv kernel benchmark: B = {cfg.B}{' (quick)' if cfg.quick else ''}, torch "
          f"{torch.__version__ if torch else 'not installed'}", flush=True)

    result = {"meta": {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "blas_env": blas_env, "blas_libraries": blas_libs, "blas_architecture": blas_arch,
        "torch": torch.__version__ if torch else None,
        "torch_threads": torch.get_num_threads() if torch else None,
        "cpu": _cpu_name(), "cpus": os.cpu_count(), "B": cfg.B, "dtype": "float32",
        "quick": cfg.quick, "loadavg_start": _loadavg(),
        "flop_counting": "MACs = N*F*C*kh*kw*Ho*Wo; fwd = dx = dw = 2 MACs, "
                         "bwd (dx + dw) = 4 MACs; bias, ReLU and loss not counted",
        "ratios": "ratio_vs_torch = torch ms / dynconv ms (per algorithm)",
        "timing": "medians of round-robin interleaved repeats after warm-up",
        "torch_peer": "F.conv2d forward, aten.convolution_backward backward; dynamic conv = "
                      "grouped conv (groups = N); training step = nn.Sequential + autograd",
    }}
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
    result["compile"] = None
    if run_compile:
        print("compile (cold, warm subprocesses) ...", flush=True)
        result["compile"] = bench_compile()
    result["meta"]["loadavg_end"] = _loadavg()
    result["meta"]["wall_s"] = time.perf_counter() - t_start
    result["targets"] = evaluate_targets(result)
    result["problems"] = problems
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print()
    print(markdown(result))
    for msg in problems:
        print(f"WARNING: {msg}")
    print(f"\nwrote {args.out}")
    return 0


def _loadavg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())

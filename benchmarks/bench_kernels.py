#!/usr/bin/env python
r"""Benchmark of the numba kernels in :mod:`dynconv.kernels` (issue 2, section 5).

Run by ``make bench`` (``.venv/bin/python benchmarks/bench_kernels.py``). Writes
``benchmarks/results/kernels.json`` (or ``--out``) and prints Markdown tables.

What is measured (float32, NCHW, stride 1, no padding as in SRCNN, B = 128 patches of 33×33)
-----------------------------------------------------------------------------------------------
* **Kernels** — the SRCNN layer shapes

  ====================  ===========  ===========  =================================
  row                   C→F, k×k     H→Ho         used by
  ====================  ===========  ===========  =================================
  conv1                 1→64, 9×9    33→25        both nets
  conv2 1x1             64→32, 1×1   25→25        9-1-5
  conv2 5x5             64→32, 5×5   25→21        9-5-5
  conv3 (9-1-5)         32→1, 5×5    25→21        9-1-5 reconstruction
  conv3 (9-5-5)         32→1, 5×5    21→17        9-5-5 reconstruction
  dynamic               32→1, 5×5    25→21        per-sample kernels (N, 1, 32, 5, 5)
  ====================  ===========  ===========  =================================

  each in three directions: ``fwd``; ``bwd`` = dx, dw (dk), db; ``bwd-dx`` = dw, db only
  (``need_dx=False``, as for a first layer). Every layer has a bias.

* **FLOP counting** — ``MACs = N·F·C·kh·kw·Ho·Wo`` (valid output positions only; bias adds
  and the ReLU/loss are not counted). ``fwd`` = 2·MACs, ``bwd-dx`` (dw) = 2·MACs,
  ``bwd`` (dx + dw) = 4·MACs. GFLOP/s = that count / median time.

* **Peers** (timed round-robin, one call of each peer per round, the round's starting peer
  rotating, medians after warm-up — the box is a noisy shared 2-core machine):

  - ``numpy``: a plain NumPy implementation written here (``sliding_window_view`` +
    ``np.einsum(..., optimize=True)``, full convolution of the padded ``dy`` with the flipped
    kernel for dx); checked against dynconv on every run;
  - ``torch``: PyTorch CPU with ``torch.set_num_threads(2)`` — ``F.conv2d`` forward and
    ``torch.ops.aten.convolution_backward`` (the op autograd calls) backward; the dynamic
    conv as a grouped convolution (groups = N). Optional: without torch the columns say
    "torch not installed".
  - ``sgemm``: ``numpy`` float32 ``a @ b`` on 2048² matrices, measured at the start and the
    end of the run; "% sgemm" is the kernel's GFLOP/s relative to it.

  Ratios are throughput ratios: "× numpy" = numpy ms / dynconv ms, "× torch" = torch ms /
  dynconv ms (> 1 means dynconv is faster).

* **Training step** — SRCNN 9-1-5 and 9-5-5: forward of the three convolutions with ReLUs, MSE
  gradient, backward (the first layer without dx), no parameter update; patches/s for dynconv
  kernels (+ NumPy element-wise ops), the NumPy baseline, and PyTorch (``nn.Sequential`` of
  Conv2d/ReLU, autograd, ``zero_grad`` every step). Targets: 9-1-5 ≥ 1.0× torch, 9-5-5 ≥ 0.7×
  torch, both ≥ 10× numpy. Also a per-layer profile (dynconv: timestamps inside the step;
  torch: ``torch.profiler`` inclusive CPU time per op).

* **Compile times** — a subprocess with ``NUMBA_CACHE_DIR`` set to a fresh temp dir calls every
  kernel path for float32 and float64 (cold: everything compiles), then a second subprocess
  with the same cache dir (warm) must compile nothing: counted with numba's
  ``numba:compile`` event (fired only for a real compilation, not a cache load) and the
  dispatchers' ``stats.cache_misses``. Targets: cold ≤ 15 s, warm compiles nothing.

* ``--algorithms`` — the static conv by im2col + GEMM vs the direct numba loops (called as
  ``_loops.direct_*`` with the static kernel broadcast as (1, F, C, kh, kw)), and the dynamic
  conv by direct loops vs im2col + batched ``np.matmul``; what the kernel modules' docstrings
  cite to justify ``choose_algorithm``.

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
TARGETS = {"9-1-5_vs_torch": 1.0, "9-5-5_vs_torch": 0.7, "vs_numpy": 10.0,
           "cold_compile_s": 15.0}

# name, C, F, k, H (input size), dynamic, label
LAYERS = [
    ("conv1_9x9_1-64", 1, 64, 9, 33, False, "conv 1→64 9×9 (33→25)"),
    ("conv2_1x1_64-32", 64, 32, 1, 25, False, "conv 64→32 1×1 (25→25)"),
    ("conv2_5x5_64-32", 64, 32, 5, 25, False, "conv 64→32 5×5 (25→21)"),
    ("conv3_5x5_32-1_915", 32, 1, 5, 25, False, "conv 32→1 5×5 (25→21, 9-1-5)"),
    ("conv3_5x5_32-1_955", 32, 1, 5, 21, False, "conv 32→1 5×5 (21→17, 9-5-5)"),
    ("dyn_5x5_32-1", 32, 1, 5, 25, True, "dynamic 32→1 5×5 (25→21)"),
]
DIRECTIONS = ("fwd", "bwd", "bwd-dx")  # bwd = dx+dw+db; bwd-dx = dw+db (need_dx=False)
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


def np_dyn_forward(x, k, b, pad=0):
    """Eq 5: y[n,f] = b[n,f] + sum_c corr(x[n,c], k[n,f,c])."""
    kh, kw = k.shape[3:]
    win = sliding_window_view(_padded(x, pad), (kh, kw), axis=(2, 3))
    y = np.einsum("nchwuv,nfcuv->nfhw", win, k, optimize=True)
    if b is not None:
        y = y + b[:, :, None, None]
    return y, (x, k, pad)


def np_dyn_backward(dy, cache, need_dx=True):
    """Eqs 6, 7: (dx, dk per sample, db per sample)."""
    x, k, pad = cache
    kh, kw = k.shape[3:]
    win = sliding_window_view(_padded(x, pad), (kh, kw), axis=(2, 3))
    dk = np.einsum("nchwuv,nfhw->nfcuv", win, dy, optimize=True)
    db = dy.sum(axis=(2, 3))
    dx = _full_conv_dx(dy, k, pad, x.shape[2], x.shape[3], True) if need_dx else None
    return dx, dk, db


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
    """{peer: zero-arg callable} for one (layer, direction), plus a result checker."""
    need_dx = direction == "bwd"
    peers, outputs = {}, {}
    if dynamic:
        fwd, bwd = K.dynamic_conv2d_forward, K.dynamic_conv2d_backward
        nfwd, nbwd = np_dyn_forward, np_dyn_backward
    else:
        fwd, bwd = K.conv2d_forward, K.conv2d_backward
        nfwd, nbwd = np_conv_forward, np_conv_backward
    _, dcache = fwd(x, w, b, pad=0)
    _, ncache = nfwd(x, w, b)
    if direction == "fwd":
        peers["dynconv"] = lambda: fwd(x, w, b, pad=0)
        peers["numpy"] = lambda: nfwd(x, w, b)
        outputs["dynconv"] = lambda: (fwd(x, w, b, pad=0)[0],)
        outputs["numpy"] = lambda: (nfwd(x, w, b)[0],)
    else:
        peers["dynconv"] = lambda: bwd(dy, dcache, need_dx=need_dx)
        peers["numpy"] = lambda: nbwd(dy, ncache, need_dx=need_dx)
        outputs["dynconv"] = lambda: bwd(dy, dcache, need_dx=need_dx)
        outputs["numpy"] = lambda: nbwd(dy, ncache, need_dx=need_dx)
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
                      [need_dx, True, True])

        if direction == "fwd":
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
        ref = outputs["dynconv"]()
        errs = {}
        for peer in outputs:
            if peer == "dynconv":
                continue
            got = outputs[peer]()
            errs[peer] = max(relerr(r, g) for r, g in zip(ref, got) if r is not None)
            if (got[0] is None) != (ref[0] is None):
                errs[peer] = float("inf")
        return errs

    return peers, check


def macs(B, C, F, k, H):
    Ho = H - k + 1
    return B * F * C * k * k * Ho * Ho


def bench_kernels(K, torch, cfg, rng):
    rows, problems = [], []
    for name, C, F, k, H, dynamic, label in LAYERS:
        x, w, b, dy = make_layer_problem(rng, cfg.B, C, F, k, H, dynamic)
        algo = "direct (per-sample)" if dynamic else _chosen_algorithm(F, C, k)
        m = macs(cfg.B, C, F, k, H)
        for direction in DIRECTIONS:
            peers, check = layer_peers(K, torch, x, w, b, dy, dynamic, direction)
            errs = check()
            bad = {p: e for p, e in errs.items() if not e <= 1e-4}
            if bad:
                problems.append(f"{name} {direction}: rel. error vs {bad}")
            times = interleaved(peers, rounds=cfg.rounds, warmup=cfg.warmup,
                                budget_s=cfg.budget, min_reps=cfg.min_reps)
            flop = (4 if direction == "bwd" else 2) * m
            ms = {p: med(t) * 1e3 for p, t in times.items()}
            row = {
                "kernel": name, "label": label, "direction": direction, "algorithm": algo,
                "shape": {"B": cfg.B, "C": C, "F": F, "k": k, "H": H, "Ho": H - k + 1,
                          "dynamic": dynamic},
                "gflop": flop / 1e9,
                "ms": ms,
                "ms_min": {p: min(t) * 1e3 for p, t in times.items()},
                "repeats": {p: len(t) for p, t in times.items()},
                "gflops": {p: flop / (v * 1e-3) / 1e9 for p, v in ms.items()},
                "speedup_vs_numpy": ms["numpy"] / ms["dynconv"],
                "ratio_vs_torch": (ms["torch"] / ms["dynconv"]) if "torch" in ms else None,
                "max_rel_err": errs,
            }
            rows.append(row)
            print(f"  {name:20s} {direction:6s} dynconv {ms['dynconv']:8.2f} ms  numpy "
                  f"{ms['numpy']:8.2f} ms  torch "
                  f"{ms['torch'] if 'torch' in ms else float('nan'):8.2f} ms", flush=True)
    return rows, problems


def _chosen_algorithm(F, C, k):
    try:
        from dynconv.kernels import conv2d
        return conv2d.choose_algorithm(F, C, k, k)
    except Exception as exc:  # internals may change; the API does not
        return f"? ({type(exc).__name__})"


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
            cases = {
                "conv2d 3x3 F=8 pad=1 (gemm)": (K.conv2d_forward, K.conv2d_backward,
                                                (x, arr(8, 3, 3, 3), arr(8))),
                "conv2d 1x1 F=8": (K.conv2d_forward, K.conv2d_backward, (x, arr(8, 3, 1, 1), arr(8))),
                "conv2d 3x3 F=1 pad=1 (direct)": (K.conv2d_forward, K.conv2d_backward,
                                                  (x, arr(1, 3, 3, 3), arr(1))),
                "dynamic 3x3 F=2 pad=1": (K.dynamic_conv2d_forward, K.dynamic_conv2d_backward,
                                          (x, arr(2, 2, 3, 3, 3), arr(2, 2))),
            }
            for label, (fwd, bwd, args) in cases.items():
                pad = 0 if args[1].shape[-1] == 1 else 1
                c1, t1 = time.process_time(), time.perf_counter()
                y, cache = fwd(*args, pad=pad)
                t2 = time.perf_counter()
                bwd(np.ones_like(y), cache, need_dx=True)
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
# --algorithms
# ---------------------------------------------------------------------------------------------

@contextlib.contextmanager
def forced_algorithm(name):
    from dynconv.kernels import conv2d
    saved = conv2d.choose_algorithm
    conv2d.choose_algorithm = lambda *a, **k: name
    try:
        yield
    finally:
        conv2d.choose_algorithm = saved


def _unfold_nkl(x, kh, kw, ph, pw):
    """im2col as (N, C*kh*kw, Ho*Wo): dynconv's numba ``unfold`` when its (internal, changing)
    signature and layout are recognised, else a NumPy ``sliding_window_view`` copy."""
    import inspect
    N, C, H, W = x.shape
    Ho, Wo = H + 2 * ph - kh + 1, W + 2 * pw - kw + 1
    R, L = C * kh * kw, Ho * Wo
    try:
        from dynconv.kernels import conv2d
        params = inspect.signature(conv2d.unfold).parameters
        if "ph" in params:
            cols = conv2d.unfold(x, kh, kw, ph, pw)
        elif ph == pw:
            cols = conv2d.unfold(x, kh, kw, ph)
        else:
            raise TypeError("unfold takes one pad")
        if cols.shape == (R, N * L):
            return cols.reshape(R, N, L).transpose(1, 0, 2)
        if cols.shape == (N, R, L):
            return cols
        if cols.shape == (R, N, L):
            return cols.transpose(1, 0, 2)
    except Exception:
        pass
    win = sliding_window_view(np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw))), (kh, kw), axis=(2, 3))
    return np.ascontiguousarray(win.transpose(0, 1, 4, 5, 2, 3)).reshape(N, R, L)


def _dynamic_gemm_variant(x, k, b, dy, direction):
    """The dynamic conv by im2col + batched ``np.matmul`` (one GEMM per sample).

    eq 5: y_n = K_n @ cols_n; eq 7: dk_n = dY_n @ cols_n^T; eq 6 read as the full convolution:
    dx_n = flip(K_n)^T @ unfold(dy_n, pad k-1) (no col2im needed).
    """
    N, F, C, kh, kw = k.shape
    Ho, Wo = dy.shape[2:]
    k3 = k.reshape(N, F, -1)
    kflip = np.ascontiguousarray(k[:, :, :, ::-1, ::-1].transpose(0, 2, 1, 3, 4)).reshape(N, C, -1)
    cols = _unfold_nkl(x, kh, kw, 0, 0)
    dy3 = dy.reshape(N, F, -1)

    def run():
        if direction == "fwd":
            return np.matmul(k3, _unfold_nkl(x, kh, kw, 0, 0)) + b[:, :, None]
        dk = np.matmul(dy3, cols.transpose(0, 2, 1))
        db = dy3.sum(axis=2)
        dx = None
        if direction == "bwd":
            dx = np.matmul(kflip, _unfold_nkl(dy, kh, kw, kh - 1, kw - 1))
        return dx, dk, db
    return run


def bench_algorithms(K, cfg, rng):
    from dynconv.kernels import _loops
    rows = []
    for name, C, F, k, H, dynamic, label in LAYERS:
        x, w, b, dy = make_layer_problem(rng, cfg.B, C, F, k, H, dynamic)
        m = macs(cfg.B, C, F, k, H)
        for direction in DIRECTIONS:
            need_dx = direction == "bwd"
            fns = {}
            try:
                if not dynamic:
                    with forced_algorithm("gemm"):
                        _, gcache = K.conv2d_forward(x, w, b, pad=0)

                    def gemm(direction=direction, gcache=gcache):
                        if direction == "fwd":
                            with forced_algorithm("gemm"):
                                return K.conv2d_forward(x, w, b, pad=0)
                        return K.conv2d_backward(dy, gcache, need_dx=need_dx)
                    fns["im2col+gemm"] = gemm
                    k5, bias = w.reshape(1, *w.shape), b.reshape(1, F)
                else:
                    k5, bias = w, b
                    fns["im2col+batched matmul"] = _dynamic_gemm_variant(x, w, b, dy, direction)

                def direct(direction=direction, k5=k5, bias=bias):
                    if direction == "fwd":
                        y = np.empty((cfg.B, F, H - k + 1, H - k + 1), dtype=DTYPE)
                        _loops.direct_forward(x, k5, bias, y)
                        return y
                    dk = np.empty((cfg.B, F, C, k, k), dtype=DTYPE)
                    _loops.direct_backward_dk(dy, x, dk)
                    if not dynamic:
                        dk.sum(axis=0)
                    if need_dx:
                        dxp = np.empty_like(x)
                        _loops.direct_backward_dx(dy, k5, dxp)
                    return dk
                fns["direct loops"] = direct
                times = interleaved(fns, rounds=cfg.rounds, warmup=cfg.warmup,
                                    budget_s=cfg.budget, min_reps=cfg.min_reps)
            except Exception as exc:  # internals the lead may have changed
                rows.append({"kernel": name, "direction": direction, "error": repr(exc)})
                continue
            flop = (4 if need_dx else 2) * m
            ms = {a: med(t) * 1e3 for a, t in times.items()}
            chosen = "direct (per-sample)" if dynamic else _chosen_algorithm(F, C, k)
            rows.append({"kernel": name, "label": label, "direction": direction,
                         "chosen": chosen, "ms": ms,
                         "gflops": {a: flop / (v * 1e-3) / 1e9 for a, v in ms.items()},
                         "fastest": min(ms, key=ms.get)})
            print(f"  {name:20s} {direction:6s} " +
                  "  ".join(f"{a} {v:8.2f} ms" for a, v in ms.items()), flush=True)
    return rows


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
    lines.append(f"dynconv kernels, float32, B = {meta['B']}, {meta['cpu']} ({meta['cpus']} cores); "
                 f"numpy {meta['numpy']} sgemm {sg:.0f} GFLOP/s; numba {meta['numba']}; "
                 f"torch: {torch_note}. Medians of interleaved repeats; load average "
                 f"{meta.get('loadavg_start')} → {meta.get('loadavg_end')}. GFLOP = 2·MACs per "
                 f"product (bwd = dx + dw = 4·MACs, bwd-dx = dw only). × = peer ms / dynconv ms.")
    lines.append("")
    lines.append("| kernel | dir | algorithm | GFLOP | dynconv ms | GFLOP/s | % sgemm | numpy ms | "
                 "× numpy | torch ms | × torch |")
    lines.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in result["kernels"]:
        ms = r["ms"]
        gf = r["gflops"]["dynconv"]
        lines.append(
            f"| {r['label']} | {r['direction']} | {r['algorithm']} | {r['gflop']:.3f} | "
            f"{ms['dynconv']:.2f} | {gf:.1f} | {100 * gf / sg:.0f}% | {ms['numpy']:.1f} | "
            f"{r['speedup_vs_numpy']:.1f}× | "
            f"{fmt(ms.get('torch'), '.2f', 'n/a')} | {fmt(r['ratio_vs_torch'], '.2f', 'n/a')}"
            f"{'×' if r['ratio_vs_torch'] is not None else ''} |")
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
    if result.get("algorithms"):
        lines.append("| algorithms (dynconv) | dir | chosen | " + "im2col+GEMM ms | direct loops ms | "
                     "fastest |")
        lines.append("|---|---|---|---:|---:|---|")
        for r in result["algorithms"]:
            if "error" in r:
                lines.append(f"| {r['kernel']} | {r['direction']} | error: {r['error'][:60]} | | | |")
                continue
            ms = r["ms"]
            gemm = next(v for a, v in ms.items() if a.startswith("im2col"))
            lines.append(f"| {r['label']} | {r['direction']} | {r['chosen']} | {gemm:.2f} | "
                         f"{ms['direct loops']:.2f} | {r['fastest']} |")
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
    for net in NETS:
        r = steps[net]["ratio_vs_numpy"]
        add(f"SRCNN {net} step vs numpy", r, f"≥ {TARGETS['vs_numpy']:.0f}×",
            r >= TARGETS["vs_numpy"], f"{r:.1f}×")
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
    ap.add_argument("--algorithms", action="store_true",
                    help="also time im2col+GEMM vs direct loops for every shape")
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
    numba.set_num_threads(max(1, min(args.threads, numba.config.NUMBA_NUM_THREADS)))
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
        "blas_threads_env": {k: os.environ[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
                             if k in os.environ},
        "torch": torch.__version__ if torch else None,
        "torch_threads": torch.get_num_threads() if torch else None,
        "cpu": _cpu_name(), "cpus": os.cpu_count(), "B": cfg.B, "dtype": "float32",
        "quick": cfg.quick, "loadavg_start": _loadavg(),
        "flop_counting": "MACs = N*F*C*kh*kw*Ho*Wo; fwd = 2 MACs, bwd-dx (dw) = 2 MACs, "
                         "bwd (dx + dw) = 4 MACs; bias, ReLU and loss not counted",
        "ratios": "speedup_vs_numpy = numpy ms / dynconv ms; ratio_vs_torch = torch ms / dynconv ms",
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
        r["frac_sgemm"] = r["gflops"]["dynconv"] / result["sgemm"]["gflops"]
    result["algorithms"] = None
    if args.algorithms:
        print("algorithms ...", flush=True)
        result["algorithms"] = bench_algorithms(K, cfg, rng)
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

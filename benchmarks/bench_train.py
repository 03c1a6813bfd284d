"""Training and inference speed of dynconv's models, against PyTorch in the same process.

Measures three architectures:

* ``srcnn`` — SRCNN 9-1-5, residual (the shipped ``srcnn-x*`` architecture);
* ``srcnn-955`` — SRCNN 9-5-5, residual (the paper's stronger static network);
* ``dcnn`` — the shipped ``dcnn-x234`` architecture, built from
  ``shipped.SHIPPED["dcnn-x234"].architecture``: network A's mapping layer (conv2, 1x1) and the
  reconstruction layer (conv3, 5x5) both dynamic, B's pooled features through ``Log1p`` and
  concatenated with ``PeriodicityPool`` statistics (periods 2, 3, 4) of the input window;
* ``dcnn-paper-b`` — the paper-like DCNN, ``models.dcnn(residual=True)`` (plain B, only conv3
  dynamic), kept for comparison with earlier numbers;
* ``dcnn-default`` — the shipped default ``dcnn`` (issue 23's ``dcnn-any`` architecture): the
  ``dcnn`` above plus two 3x3 mapping layers in A and B's 16-period spectrum pool.

For each:

* training patches/s (forward + backward + Adam step, batch of 33x33 sub-images) of the
  framework step (``Graph`` + layers + loss + Adam, what ``dynconv train`` runs), of the bare
  kernel step (only the model's convolution kernels, called directly: see
  ``bench_model_steps.py``) with the ratio framework / bare, and of a
  PyTorch CPU model of the same architecture (when torch is installed), repeats interleaved
  round-robin so that both see the same machine load; ratio of medians. The PyTorch peer
  computes the same function: before timing, a copy of the dynconv model with perturbed
  parameters (so that B's heads are non-zero and the dynamic layers depend on B) is loaded into
  it and the forward outputs on a random batch must agree to 1e-4 (float32), else the
  benchmark stops. Timing then starts both from the same (dynconv's) initial parameters.
  Dynamic 1x1 layers run as ``torch.bmm`` per sample, dynamic kxk layers as a grouped
  convolution (one group per sample), ``PeriodicityPool`` with torch ops (autograd);
* GFLOP/s of each step and its percentage of the machine's fp32 peak (cores x FMA units x
  lanes x 2 x clock, ``bench_common.machine_peak`` for the threads used), the step's FLOPs
  counted analytically per layer and direction (``bench_model_steps.step_flops``: forward, dw,
  and dx except where the graph needs none); the same count divides PyTorch's time;
* ``OMP_WAIT_POLICY=PASSIVE`` unless the environment sets it (``bench_common.passive_openmp``:
  PyTorch's spinning OpenMP workers would otherwise slow dynconv's next step), recorded as
  ``machine.omp_wait_policy``;
* the 1-minute load average at the start: above 1.0 the PyTorch ratios are printed marked
  "busy machine" and ``machine.busy`` is true in the JSON; ``OPENBLAS_CORETYPE`` and
  ``OPENBLAS_L2_SIZE`` are recorded (``machine.blas_env``) where set;
* peak memory of one training step (tracemalloc: NumPy allocations are traced);
* inference time of a 512x512 image at x3 (the `dynconv upscale` path, `Model.predict`).

Usage: ``python benchmarks/bench_train.py [--quick] [--threads N] [--out FILE]``. Writes
``benchmarks/results/train.json``. A benchmark measures; it never fails on a target (it does
fail if the PyTorch peer does not compute the same function).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import tracemalloc
from pathlib import Path


def _parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="few repeats, small batch (smoke test)")
    p.add_argument("--threads", type=int, default=None, help="BLAS/numba/torch threads (default: all)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--out", default=str(Path(__file__).parent / "results" / "train.json"))
    p.add_argument("--malloc-default", action="store_true",
                   help="leave glibc's malloc as it is (default: keep freed memory, as dynconv train does)")
    p.add_argument("--_load", dest="load", type=float, default=None,
                   help=argparse.SUPPRESS)  # tests: stands for the measured 1-minute load
    return p.parse_args()


ARGS = _parse()

import numpy as np  # noqa: E402

from dynconv import kernels  # noqa: E402
from dynconv.layers import MSELoss  # noqa: E402
from dynconv.optim import Adam  # noqa: E402
from dynconv.sr import models

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (BUSY_NOTE, blas_env, is_busy, machine_peak, passive_openmp, pct_of_peak,  # noqa: E402
                          write_json_atomic)
from bench_model_steps import ARCHITECTURES, bare_kernel_step, batch_data, framework_step, step_flops  # noqa: E402

OMP_WAIT_POLICY = passive_openmp()  # before torch: its idle workers must not spin on dynconv's cores
try:
    import torch
except ImportError:  # optional peer
    torch = None


class TorchPeriodicityPool(torch.nn.Module if torch else object):
    """dynconv's :class:`~dynconv.layers.PeriodicityPool` with torch ops (differentiable): the
    Laplacian and/or gradient energies, rows and columns separate or averaged."""

    def __init__(self, pool):
        super().__init__()
        self.periods, self.eps, self.delta = tuple(pool.periods), float(pool.eps), float(pool.DELTA)
        self.energies, self.mean_axes = tuple(pool.energies), pool.axes == "mean"
        self._waves = {}

    def waves(self, n, dtype):
        """(cos, -sin) of 2*pi*k/p, divided by n: (P, n) each, fixed (no gradient)."""
        if (n, dtype) not in self._waves:
            k = torch.arange(n, dtype=torch.float64)
            phase = 2 * torch.pi * k[None, :] / torch.tensor(self.periods, dtype=torch.float64)[:, None]
            self._waves[n, dtype] = ((torch.cos(phase) / n).to(dtype), (-torch.sin(phase) / n).to(dtype))
        return self._waves[n, dtype]

    @staticmethod
    def energy(x, kind):
        if kind == "laplacian":
            lap = (4 * x[:, :, 1:-1, 1:-1] - x[:, :, :-2, 1:-1] - x[:, :, 2:, 1:-1]
                   - x[:, :, 1:-1, :-2] - x[:, :, 1:-1, 2:])
            return lap * lap
        gx = x[:, :, :-1, 1:] - x[:, :, :-1, :-1]
        gy = x[:, :, 1:, :-1] - x[:, :, :-1, :-1]
        return gx * gx + gy * gy

    def forward(self, x):
        ys = []
        for kind in self.energies:
            e = self.energy(x, kind)
            mean = e.mean(dim=(2, 3))  # (N, C)
            amps = []
            for prof in (e.mean(dim=3), e.mean(dim=2)):  # row profile, column profile (N, C, n)
                cos, sin = self.waves(prof.shape[-1], prof.dtype)
                re, im = prof @ cos.T, prof @ sin.T  # (N, C, P)
                amps.append(torch.sqrt(re * re + im * im + 1e-30))  # |A_p| (finite gradient at 0)
            rho = torch.stack(amps, dim=2) / (mean[:, :, None, None] + self.delta)  # (N, C, 2, P)
            if self.mean_axes:
                rho = rho.mean(dim=2, keepdim=True)
            ys.append(torch.log1p(rho / self.eps))
        return torch.stack(ys, dim=2).reshape(x.shape[0], -1)


def _dynamic_conv(x, k, F, C, kh, kw):
    """Eq 5 with per-sample kernels and bias from a flat head output ``k`` (N, F*C*kh*kw + F),
    laid out (F, C, kh, kw) row-major then the F biases (dynconv's DynamicConv2D)."""
    n, nk = x.shape[0], F * C * kh * kw
    w, bias = k[:, :nk], k[:, nk:]
    if kh == kw == 1:  # one batched matrix product
        y = torch.bmm(w.reshape(n, F, C), x.reshape(n, C, -1)) + bias[:, :, None]
        return y.reshape(n, F, *x.shape[2:])
    y = torch.nn.functional.conv2d(x.reshape(1, n * C, *x.shape[2:]), w.reshape(n * F, C, kh, kw),
                                   bias.reshape(-1), groups=n)
    return y.reshape(n, F, *y.shape[2:])


class TorchPeer(torch.nn.Module if torch else object):
    """The same network as a dynconv SRCNN or DCNN ``Model``, in PyTorch.

    Built from the model's config; parameterised layers are named after dynconv's graph nodes
    (``conv1``, ``b_fc2_conv2``, ...) so :meth:`load_dynconv` maps ``"<node>.w"``/``"<node>.b"``
    onto ``<node>.weight``/``<node>.bias``.
    """

    def __init__(self, model):
        super().__init__()
        nn, c = torch.nn, model.config
        self.arch, self.residual, self.radius = c["arch"], c.get("residual", False), model.radius
        if c.get("variant", "image") != "image" or c.get("padding", "valid") != "valid":
            raise ValueError(f"no PyTorch peer for {c}")
        f1, f2, f3, n1, n2 = c["f1"], c["f2"], c["f3"], c["n1"], c["n2"]
        self.shape2, self.shape3 = (n2, n1, f2, f2), (1, n2, f3, f3)
        self.layers = nn.ModuleDict({"conv1": nn.Conv2d(1, n1, f1)})
        self.dynamic = c.get("dynamic_layers", ["conv3"]) if self.arch == "dcnn" else []
        if "conv2" not in self.dynamic:
            self.layers["conv2"] = nn.Conv2d(n1, n2, f2)
        self.mapping = [f"map{i}" for i in range(1, len(c.get("mapping") or ()) + 1)]
        for name, k in zip(self.mapping, c.get("mapping") or ()):
            self.layers[name] = nn.Conv2d(n2, n2, k)  # A's mapping layers (issue 23's default)
        if self.arch == "srcnn":
            self.layers["conv3"] = nn.Conv2d(n2, 1, f3)
            return
        bc, bh = c["b_channels"], c["b_hidden"]
        self.layers["b_conv1"] = nn.Conv2d(1, bc, c["b_kernel"])
        self.layers["b_conv2"] = nn.Conv2d(bc, bc, 1)
        nodes = model.graph.nodes
        self.log_eps = nodes["b_log"].layer.eps if c.get("b_log") else None
        self.pools = []  # B's PeriodicityPool statistics of the input window, in concatenation order
        n_in = bc
        for key, node in (("b_periods", "b_period"), ("b_spectrum", "b_spectrum")):
            if c.get(key):
                pool = nodes[node].layer
                self.pools.append(TorchPeriodicityPool(pool))
                n_in += int(np.prod(pool.output_shape((1, 1, 33, 33))[1:]))
        self.layers["b_fc1"] = nn.Linear(n_in, bh)
        if "conv2" in self.dynamic:
            self.layers["b_fc2_conv2"] = nn.Linear(bh, n2 * n1 * f2 * f2 + n2)
        self.layers["b_fc2"] = nn.Linear(bh, n2 * f3 * f3 + 1)

    def forward(self, x):
        L, relu = self.layers, torch.relu
        h = relu(L["conv1"](x))
        if self.arch == "dcnn":
            b = relu(L["b_conv2"](relu(L["b_conv1"](x)))).mean(dim=(2, 3))
            if self.log_eps is not None:
                b = torch.log1p(b / self.log_eps)
            if self.pools:
                b = torch.cat([b] + [pool(x) for pool in self.pools], dim=1)
            b = relu(L["b_fc1"](b))
        if "conv2" in self.dynamic:
            h = relu(_dynamic_conv(h, L["b_fc2_conv2"](b), *self.shape2))
        else:
            h = relu(L["conv2"](h))
        for name in self.mapping:
            h = relu(L[name](h))
        y = _dynamic_conv(h, L["b_fc2"](b), *self.shape3) if self.arch == "dcnn" else L["conv3"](h)
        if self.residual:
            r = self.radius
            y = y + x[:, :, r:x.shape[2] - r, r:x.shape[3] - r]
        return y

    @torch.no_grad() if torch else (lambda f: f)
    def load_dynconv(self, model):
        """Copy every parameter of the dynconv ``model`` into this network (all must match)."""
        params = dict(self.named_parameters())
        seen = set()
        for name, arr, _ in model.graph.parameters():
            node, kind = name.rsplit(".", 1)
            key = f"layers.{node}." + {"w": "weight", "b": "bias"}[kind]
            if key not in params or tuple(params[key].shape) != arr.shape:
                raise ValueError(f"dynconv parameter {name} {arr.shape} has no torch counterpart "
                                 f"({key}: {tuple(params[key].shape) if key in params else None})")
            params[key].copy_(torch.from_numpy(np.ascontiguousarray(arr)))
            seen.add(key)
        if seen != set(params):
            raise ValueError(f"torch parameters not set from dynconv: {sorted(set(params) - seen)}")
        return self


def check_same_function(model, net, rng, n=4, tol=1e-4):
    """Load a perturbed copy of ``model`` into ``net``; their forward outputs must agree.

    The perturbation (Gaussian, 10 % of each parameter's spread, at least 1e-3) makes B's
    zero-initialised heads non-zero, so the check covers B, the dynamic layers and the
    periodicity statistics, not only network A. Returns the max abs difference.
    """
    probe = models.build(model.config)
    for _, p, _ in probe.graph.parameters():
        p += rng.normal(0.0, max(0.1 * float(p.std()), 1e-3), p.shape).astype(p.dtype)
    net.load_dynconv(probe)
    size = model.window or 33
    x = rng.random((n, 1, size, size), dtype=np.float32)
    ref = probe.graph.forward(probe.feeds(x), outputs=[probe.output], keep_cache=False)[probe.output]
    with torch.no_grad():
        got = net(torch.from_numpy(x)).numpy()
    if got.shape != ref.shape:
        raise AssertionError(f"torch peer output {got.shape} != dynconv {ref.shape}")
    diff = float(np.max(np.abs(got.astype(np.float64) - ref)))
    if not diff < tol:
        raise AssertionError(f"torch peer of {model.name} differs from dynconv: max |diff| {diff:.3g}")
    return diff


def torch_step(name, model, batch, rng):
    """A PyTorch training step of the same architecture as ``model`` (checked to compute the
    same function, then starting from ``model``'s current parameters)."""
    net = TorchPeer(model)
    diff = check_same_function(model, net, rng)
    print(f"check {name:12s}: torch peer = dynconv forward, max |diff| {diff:.2e}", flush=True)
    net.load_dynconv(model)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    n = 33 - 2 * model.radius
    x, y = torch.rand(batch, 1, 33, 33), torch.rand(batch, 1, n, n)

    def step():
        opt.zero_grad()
        loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        opt.step()

    return step


def interleaved(fns, repeats, warmup=2):
    """Median seconds of each callable, repeats interleaved round-robin."""
    for f in fns.values():
        for _ in range(warmup):
            f()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, f in fns.items():
            t = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) for k, v in times.items()}


def peak_memory(fn):
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def machine_facts(threads):
    """The machine section of the JSON: versions, threads, load at start, BLAS variables, peak."""
    load = list(os.getloadavg()) if ARGS.load is None else [ARGS.load] * 3
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "torch": getattr(torch, "__version__", None), "threads": threads,
            "loadavg_start": load, "busy": is_busy(load[0]), "blas_env": blas_env(),
            "peak": machine_peak(cores=threads),  # fp32 peak of the cores this run uses
            "omp_wait_policy": OMP_WAIT_POLICY}


def train_row(name, model, batch, repeats, rng, machine):
    """Time the framework, bare-kernel and PyTorch steps of one model, interleaved; one row."""
    x, y = batch_data(model, batch, rng)
    fns = {"dynconv": framework_step(model, x, y)}
    fns["dynconv"]()  # the first forward sets need_input_grad, which the bare step and FLOPs read
    fns["bare"] = bare_kernel_step(model, x, rng)
    if torch is not None:
        fns["torch"] = torch_step(name, model, batch, rng)
    med = interleaved(fns, repeats)
    _, flop = step_flops(model, batch)
    row = {"step_gflop": flop / 1e9}
    for k, v in med.items():
        gflops = flop / v / 1e9
        row[f"{k}_patches_per_s"] = batch / v
        row[f"{k}_gflops"] = gflops
        row[f"{k}_pct_peak"] = pct_of_peak(gflops, machine["peak"])
    row["framework_over_bare"] = med["bare"] / med["dynconv"]
    if torch is not None:
        row["ratio_vs_torch"] = med["torch"] / med["dynconv"]
        row["bare_ratio_vs_torch"] = med["torch"] / med["bare"]
    row["dynconv_peak_mib"] = peak_memory(fns["dynconv"]) / 2**20
    return row


def print_row(name, batch, row, busy):
    def one(k):
        pct = row[f"{k}_pct_peak"]
        return (f"{row[f'{k}_patches_per_s']:,.0f} patches/s, {row[f'{k}_gflops']:.1f} GFLOP/s"
                + ("" if pct is None else f", {pct:.0f} % of peak"))
    line = (f"train {name:12s} B={batch} ({row['step_gflop'] * 1e3 / batch:.1f} MFLOP/sub-image): "
            f"framework {one('dynconv')}; bare kernels {one('bare')}; "
            f"framework / bare {row['framework_over_bare']:.2f}")
    if "ratio_vs_torch" in row:
        line += (f"; torch {one('torch')}; x torch framework {row['ratio_vs_torch']:.2f}, "
                 f"bare {row['bare_ratio_vs_torch']:.2f}" + (f" ({BUSY_NOTE})" if busy else ""))
    print(line + f"; peak memory {row['dynconv_peak_mib']:.1f} MiB", flush=True)


def main():
    batch = 8 if ARGS.quick else ARGS.batch
    repeats = 2 if ARGS.quick else ARGS.repeats
    rng = np.random.default_rng(0)
    threads = ARGS.threads or os.cpu_count()
    kernels.set_threads(threads)  # numba's pool and NumPy's BLAS; the kernels' BLAS runs serial
    if torch is not None:
        torch.set_num_threads(threads)
    machine = machine_facts(threads)
    machine["reuse_freed_memory"] = (not ARGS.malloc_default) and kernels.reuse_freed_memory()
    out = {"machine": machine, "batch": batch, "train": {}, "inference": {}}
    busy = machine["busy"]
    print(f"load average at start {machine['loadavg_start'][0]:.2f}; freed memory "
          f"{'kept (as dynconv train)' if machine['reuse_freed_memory'] else 'returned (malloc defaults)'}"
          + (f" — {BUSY_NOTE}: PyTorch ratios are not quiet-machine figures" if busy else "")
          + f"; fp32 peak of {threads} core(s): {machine['peak']['gflops'] or float('nan'):.1f} GFLOP/s"
          + f"; BLAS variables: {machine['blas_env'] or 'none set'}", flush=True)
    arches = {name: ARCHITECTURES[name]() for name in ("srcnn", "srcnn-955", "dcnn", "dcnn-paper-b", "dcnn-default")}
    for name, model in arches.items():
        out["train"][name] = train_row(name, model, batch, repeats, rng, machine)
        print_row(name, batch, out["train"][name], busy)
    size = 128 if ARGS.quick else 512
    img = rng.random((size, size))
    for name, model in arches.items():
        model.predict(img[:64, :64], 3)
        t = time.perf_counter()
        model.predict(img, 3, tile=256)
        out["inference"][name] = {"size": size, "scale": 3, "seconds": time.perf_counter() - t}
        print(f"inference {name:12s} {size}x{size} x3: {out['inference'][name]['seconds']:.2f} s", flush=True)
    machine["loadavg_end"] = os.getloadavg()
    write_json_atomic(ARGS.out, json.dumps(out, indent=2))
    print(f"wrote {ARGS.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Training and inference speed of dynconv's models, against PyTorch in the same process.

Measures, for SRCNN 9-1-5 and the DCNN (the shipped architectures):

* training patches/s (forward + backward + Adam step, batch of 33x33 sub-images), dynconv vs a
  PyTorch CPU model of the same architecture (when torch is installed), repeats interleaved
  round-robin so that both see the same machine load; ratio of medians;
* peak memory of one training step (tracemalloc: NumPy allocations are traced);
* inference time of a 512x512 image at x3 (the `dynconv upscale` path, `Model.predict`).

Usage: ``python benchmarks/bench_train.py [--quick] [--threads N] [--out FILE]``. Writes
``benchmarks/results/train.json``. A benchmark measures; it never fails on a target.
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
    return p.parse_args()


ARGS = _parse()
if ARGS.threads:
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402  (after the thread settings)

from dynconv import models  # noqa: E402
from dynconv.layers import MSELoss  # noqa: E402
from dynconv.optim import Adam  # noqa: E402

try:
    import torch
except ImportError:  # optional peer
    torch = None


def dynconv_step(model, batch, rng):
    x = rng.random((batch, 1, 33, 33), dtype=np.float32)
    y = rng.random((batch, 1, 21, 21), dtype=np.float32)
    loss, opt = MSELoss(), Adam(model.graph, lr=1e-4)

    def step():
        pred = model.graph.forward({"x": x})[model.output]
        loss.forward(pred, y)
        model.graph.backward({model.output: loss.backward()[0]})
        opt.step()

    return step


class TorchDCNN(torch.nn.Module if torch else object):
    """The same DCNN in PyTorch: A, B (conv5-conv1-mean-fc-fc), per-sample 5x5 kernels via groups."""

    def __init__(self):
        super().__init__()
        nn = torch.nn
        self.a = nn.Sequential(nn.Conv2d(1, 64, 9), nn.ReLU(), nn.Conv2d(64, 32, 1), nn.ReLU())
        self.b = nn.Sequential(nn.Conv2d(1, 32, 5), nn.ReLU(), nn.Conv2d(32, 32, 1), nn.ReLU())
        self.fc = nn.Sequential(nn.Linear(32, 64), nn.ReLU(), nn.Linear(64, 32 * 25 + 1))

    def forward(self, x):
        n = x.shape[0]
        feat = self.a(x)
        k = self.fc(self.b(x).mean(dim=(2, 3)))
        w, bias = k[:, :-1].reshape(n, 32, 5, 5), k[:, -1]
        y = torch.nn.functional.conv2d(feat.reshape(1, n * 32, *feat.shape[2:]), w, bias, groups=n)
        return y.reshape(n, 1, *y.shape[2:]) + x[:, :, 6:-6, 6:-6]


def torch_step(arch, batch):
    nn = torch.nn
    if arch == "srcnn":
        net = nn.Sequential(nn.Conv2d(1, 64, 9), nn.ReLU(), nn.Conv2d(64, 32, 1), nn.ReLU(), nn.Conv2d(32, 1, 5))
    else:
        net = TorchDCNN()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    x, y = torch.rand(batch, 1, 33, 33), torch.rand(batch, 1, 21, 21)

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


def main():
    batch = 8 if ARGS.quick else ARGS.batch
    repeats = 2 if ARGS.quick else ARGS.repeats
    rng = np.random.default_rng(0)
    if torch is not None:
        torch.set_num_threads(ARGS.threads or os.cpu_count())
    out = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                       "numpy": np.__version__, "torch": getattr(torch, "__version__", None),
                       "threads": ARGS.threads}, "batch": batch, "train": {}, "inference": {}}
    arches = {"srcnn": models.srcnn(residual=True), "dcnn": models.dcnn(residual=True)}
    for name, model in arches.items():
        fns = {"dynconv": dynconv_step(model, batch, rng)}
        if torch is not None:
            fns["torch"] = torch_step(name, batch)
        med = interleaved(fns, repeats)
        row = {f"{k}_patches_per_s": batch / v for k, v in med.items()}
        if torch is not None:
            row["ratio_vs_torch"] = med["torch"] / med["dynconv"]
        row["dynconv_peak_mib"] = peak_memory(fns["dynconv"]) / 2**20
        out["train"][name] = row
        print(f"train {name:6s} B={batch}: " + ", ".join(f"{k} {v:,.2f}" for k, v in row.items()), flush=True)
    size = 128 if ARGS.quick else 512
    img = rng.random((size, size))
    for name, model in arches.items():
        model.predict(img[:64, :64], 3)
        t = time.perf_counter()
        model.predict(img, 3, tile=256)
        out["inference"][name] = {"size": size, "scale": 3, "seconds": time.perf_counter() - t}
        print(f"inference {name:6s} {size}x{size} x3: {out['inference'][name]['seconds']:.2f} s", flush=True)
    path = Path(ARGS.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Whole-command upscale benchmark: ``dynconv upscale`` against a PyTorch user's pipeline.

One run, three pipelines, each a fresh subprocess timed from start to exit (imports, model
loading, reading, bicubic, network, colour conversion and PNG writing included), repeated
round-robin (``--repeats``, the starting pipeline rotating) and reported as medians of the wall
time and of the CPU time (user + system of all the subprocess's threads; on a machine shared
with jobs of higher priority the wall time mostly measures waiting):

* ``srcnn-x2``: ``python -m dynconv upscale in.png out.png --scale 2 --model srcnn-x2``;
* ``dcnn``: the same with ``--model dcnn`` (the shipped DCNN, windowed inference);
* ``torch``: what a PyTorch user writes — PIL bicubic ×2 of the YCbCr image, SRCNN 9-1-5 (the
  ``srcnn-x2`` weights, residual, loaded into ``torch.nn.Conv2d`` layers) on Y in 512² output
  tiles with their receptive-field context, PIL for the colour conversion and the PNG.

The input is a synthetic 2000×1500 RGB image (smooth shading, edges, texture), made once with
a fixed seed. ``--threads N`` is passed to both sides (``--threads`` of the CLI,
``torch.set_num_threads``). Records the load average and the BLAS environment
(``OPENBLAS_CORETYPE``, ``OPENBLAS_L2_SIZE``, never set or unset here). Writes
``benchmarks/results/upscale.json``. It measures; it never fails on a target.

Usage: ``python benchmarks/bench_upscale.py [--quick] [--threads N] [--repeats R] [--out FILE]``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TILE = 512


def make_image(path, width, height, seed=0):
    """A deterministic photo-like RGB test image: shading, hard edges and fine texture."""
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    base = 0.5 + 0.25 * np.sin(xx / 97.0) * np.cos(yy / 131.0)
    img = np.stack([base, base * 0.9 + 0.05, 1.0 - 0.6 * base], axis=-1)
    for _ in range(60):  # rectangles with hard edges
        x0, y0 = rng.integers(0, width), rng.integers(0, height)
        w, h = rng.integers(20, width // 4), rng.integers(20, height // 4)
        img[y0:y0 + h, x0:x0 + w] = rng.random(3)
    img += 0.05 * rng.standard_normal(img.shape)  # texture
    pil = Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8))
    pil.filter(ImageFilter.GaussianBlur(0.8)).save(path)


def torch_pipeline(src, dst, threads):
    """The PyTorch user's ×2 upscale (run in its own subprocess by :func:`main`)."""
    import torch
    from PIL import Image

    from dynconv import sr

    if threads:
        torch.set_num_threads(threads)
    model = sr.load_model("srcnn-x2")
    params = {name: arr for name, arr, _ in model.graph.parameters()}
    convs = []
    for node in ("conv1", "conv2", "conv3"):
        w = params[f"{node}.w"]
        conv = torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2])
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32)))
            conv.bias.copy_(torch.from_numpy(np.ascontiguousarray(params[f"{node}.b"], dtype=np.float32)))
        convs.append(conv)
    net = torch.nn.Sequential(convs[0], torch.nn.ReLU(), convs[1], torch.nn.ReLU(), convs[2]).eval()
    r = sum(c.kernel_size[0] - 1 for c in convs) // 2
    img = Image.open(src).convert("YCbCr")
    up = img.resize((img.width * 2, img.height * 2), Image.BICUBIC)
    ycc = np.asarray(up, dtype=np.float32) / 255.0
    y = ycc[:, :, 0]
    H, W = y.shape
    padded = np.pad(y, r, mode="symmetric")
    out = np.empty_like(y)
    with torch.no_grad():
        for i in range(0, H, TILE):
            for j in range(0, W, TILE):
                h, w = min(TILE, H - i), min(TILE, W - j)
                tile = torch.from_numpy(np.ascontiguousarray(padded[i:i + h + 2 * r, j:j + w + 2 * r]))
                res = net(tile[None, None])[0, 0].numpy()
                out[i:i + h, j:j + w] = y[i:i + h, j:j + w] + res  # residual network
    ycc[:, :, 0] = out
    Image.fromarray((np.clip(ycc, 0, 1) * 255 + 0.5).astype(np.uint8), "YCbCr").convert("RGB").save(dst)


def _children_cpu():
    import resource

    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def run(cmd):
    """(wall seconds, CPU seconds: user + system of all its threads) of one subprocess."""
    t0, c0 = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    dt, cpu = time.perf_counter() - t0, _children_cpu() - c0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return dt, cpu


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a 400x300 image, one repeat (smoke test)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "upscale.json")
    ap.add_argument("--_torch-pipeline", dest="torch_pipeline", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.torch_pipeline:
        torch_pipeline(*args.torch_pipeline, args.threads)
        return 0
    width, height = (400, 300) if args.quick else (2000, 1500)
    repeats = 1 if args.quick else args.repeats
    threads = ["--threads", str(args.threads)] if args.threads else []
    have_torch = not args.no_torch
    if have_torch:
        try:
            import torch  # noqa: F401
        except ImportError:
            have_torch = False
    with tempfile.TemporaryDirectory(prefix="dynconv-upscale-") as tmp:
        src = Path(tmp) / "in.png"
        make_image(src, width, height)
        cmds = {m: [sys.executable, "-m", "dynconv", "upscale", str(src), str(Path(tmp) / f"{m}.png"),
                    "--scale", "2", "--model", m, *threads] for m in ("srcnn-x2", "dcnn")}
        if have_torch:
            cmds["torch"] = [sys.executable, str(Path(__file__).resolve()), *threads,
                             "--_torch-pipeline", str(src), str(Path(tmp) / "torch.png")]
        names = list(cmds)
        load0 = os.getloadavg()
        times = {n: [] for n in names}
        cpus = {n: [] for n in names}
        for rep in range(repeats):
            for n in names[rep % len(names):] + names[:rep % len(names)]:
                wall, cpu = run(cmds[n])
                times[n].append(wall)
                cpus[n].append(cpu)
                print(f"  {n:9s} {wall:7.2f} s wall {cpu:7.2f} s CPU", flush=True)
    med = {n: statistics.median(v) for n, v in times.items()}
    med_cpu = {n: statistics.median(v) for n, v in cpus.items()}
    res = {"image": [width, height], "scale": 2, "threads": args.threads, "repeats": repeats,
           "seconds": med, "samples": times, "cpu_seconds": med_cpu, "cpu_samples": cpus,
           "loadavg_start": load0, "loadavg_end": os.getloadavg(),
           "blas_env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                        if k in os.environ},
           "ratio_srcnn_vs_torch": med["torch"] / med["srcnn-x2"] if "torch" in med else None,
           "ratio_dcnn_vs_srcnn": med["dcnn"] / med["srcnn-x2"],
           "cpu_ratio_dcnn_vs_srcnn": med_cpu["dcnn"] / med_cpu["srcnn-x2"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"\n{width}x{height} RGB x2, whole command, medians of {repeats}; load "
          f"{[round(v, 2) for v in load0]} -> {[round(v, 2) for v in res['loadavg_end']]}; "
          f"OPENBLAS_CORETYPE={res['blas_env'].get('OPENBLAS_CORETYPE', '(unset)')}")
    print("| pipeline | wall s | CPU s |\n|---|---:|---:|")
    for n in names:
        print(f"| {n} | {med[n]:.2f} | {med_cpu[n]:.2f} |")
    if res["ratio_srcnn_vs_torch"] is not None:
        print(f"srcnn-x2 vs torch: {res['ratio_srcnn_vs_torch']:.2f}x (torch s / dynconv s)")
    print(f"dcnn / srcnn-x2: {res['ratio_dcnn_vs_srcnn']:.2f}x wall, {res['cpu_ratio_dcnn_vs_srcnn']:.2f}x CPU "
          "(target <= 1.5)")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

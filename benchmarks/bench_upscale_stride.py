#!/usr/bin/env python
"""What the DCNN's inference window stride costs in quality: Set14 Y-PSNR per stride and factor.

Windowed inference (:mod:`dynconv.sr.inference`) starts a window every ``window_stride`` pixels
(default: half a window's output size, 10 for the shipped ``dcnn``); its per-window layers cover
each pixel about ``(crop / stride)²`` times, so a larger stride is faster — and changes the
output. This runs the standard protocol (:func:`dynconv.sr.evaluate`, colour ``y``, shave
``ceil(scale)``) on Set14 with the model's config ``window_stride`` set to each value, and
prints the mean PSNR and the evaluation's wall time. It measures; it never fails on a target.

Usage: ``python benchmarks/bench_upscale_stride.py [--model dcnn] [--strides 10,14,16,21]
[--scales 2,3,4] [--threads N] [--out FILE]``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="dcnn")
    ap.add_argument("--strides", default="10,14,16,21")
    ap.add_argument("--scales", default="2,3,4")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    from dynconv import kernels, sr

    kernels.set_threads(args.threads)
    model = sr.load_model(args.model)
    if not model.dynamic:
        raise SystemExit(f"{args.model} is a static model: it has no windows")
    rows = []
    for stride in (int(s) for s in args.strides.split(",")):
        model.config["window_stride"] = stride
        for scale in (float(s) for s in args.scales.split(",")):
            t0 = time.perf_counter()
            records = sr.evaluate(datasets=("Set14",), scales=[scale], metrics=("psnr",),
                                  methods=[(args.model, sr.model_method(model)[1])])
            psnr = [r for r in records if r["image"] == "mean"][0]["psnr"]
            rows.append({"stride": stride, "scale": scale, "psnr": round(psnr, 4),
                         "seconds": round(time.perf_counter() - t0, 1)})
            print(f"stride {stride:3d}  x{scale:g}  {psnr:.4f} dB  ({rows[-1]['seconds']} s)", flush=True)
    if args.out:
        args.out.write_text(json.dumps({"model": args.model, "dataset": "Set14", "rows": rows}, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    sys.exit(0 if main() else 1)

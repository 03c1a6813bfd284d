"""`dynconv models`: the registered methods, their architectures, sizes, weights and Set5 scores."""
from __future__ import annotations

import sys

from dynconv import sr
from dynconv.sr import models, shipped


def run(args) -> int:
    """Print one row per registered method; exit 1 if a shipped weights file is damaged."""

    rows = [("name", "file", "arch", "params", "MACs/pixel", "weights", "Set5 PSNR (x2/x3/x4)", "about")]
    broken = 0
    for e in sr.entries():
        if e.name not in sr.SHIPPED:
            rows.append((e.name, "-", "-", "-", "-", "-", "-", e.summary))
            continue
        path = sr.weights_path(e.name)
        if path.exists():
            try:
                m = sr.load_model(e.name)
            except ValueError as exc:  # a damaged file is listed, not fatal
                rows.append((e.name, path.name, "-", "-", "-", "BROKEN", "-", args.error_text(exc)))
                broken += 1
                continue
            scores = m.meta.get("scores", {}).get("Set5", {})
            s5 = "/".join(f"{scores[k]['psnr']:.2f}" if k in scores else "-" for k in ("x2", "x3", "x4"))
            status = "shipped"
        else:
            m = models.build(shipped.SHIPPED[e.name].architecture)
            s5, status = "-", "not shipped"
        rows.append((e.name, path.name, m.config["arch"], f"{m.num_params():,}", f"{m.macs_per_pixel():,.0f}",
                     status, s5, e.summary))
    m = models.srcnn(f2=5)
    rows.append(("srcnn 9-5-5", "-", m.config["arch"], f"{m.num_params():,}", f"{m.macs_per_pixel():,.0f}",
                 "architecture", "-", "the paper's larger SRCNN"))
    width = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(v.ljust(w) for v, w in zip(r, width)).rstrip())
    print("MACs per output pixel on a 33x33 training window (valid convolutions). Any PATH.npz checkpoint "
          "is a method too.")
    if broken:
        print(f"dynconv: error: {broken} weights file(s) are damaged (marked BROKEN above)", file=sys.stderr)
    return 1 if broken else 0

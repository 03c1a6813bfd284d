"""The default model for each factor: the shipped model measured best on Set14.

``dynconv upscale --model auto`` (the default) looks the factor up in :data:`TABLE`, a small
JSON file of measured Y-PSNR on Set14 (never Set5, whose numbers are the results table's) per
shipped model and factor, bicubic included. A factor that was not measured takes the row of
the nearest measured factor. The table is generated, never typed::

    python -m dynconv.photo.auto            # measures into src/dynconv/weights/set14_psnr.json
    python -m dynconv.photo.auto --from docs/results/beyond.csv   # reuse what reproduce measured

It runs :func:`dynconv.sr.evaluate` (the standard protocol: Y channel, border of ceil(scale)
shaved) over every distinct shipped weight file.
"""
from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

__all__ = ["TABLE", "FACTORS", "CANDIDATES", "measure", "scores_from_csv", "load_table", "best_model"]

TABLE = Path(__file__).resolve().parents[1] / "weights" / "set14_psnr.json"

#: The factors ``dcnn`` was trained for (``data.scale_range`` of ``configs/dcnn-any.toml``).
DCNN_RANGE = (1.2, 4.0)

#: The factors measured.
FACTORS = (1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4)

#: The methods compared: bicubic and every distinct shipped weight file.
#: (``dcnn-scale``, the ablation told a one-hot of x2/x3/x4, is not a candidate: it has no input
#: for other factors.)
CANDIDATES = ("bicubic", "srcnn-x2", "srcnn-any", "srcnn-x234", "srcnn-x3", "srcnn-x4", "dcnn", "dcnn-x234")


def measure(factors=FACTORS, candidates=CANDIDATES, data_dir=None, progress=None, out=None) -> dict:
    """``{"dataset": "Set14", "metric": "psnr_y", "scores": {factor: {model: dB}}}``.

    With ``out``, the table is rewritten after every (model, factor) and the pairs it already
    holds are kept, so an interrupted run resumes where it stopped.
    """
    from dynconv import sr

    table = {"dataset": "Set14", "metric": "psnr_y", "protocol": "dynconv.sr.evaluate, color y, "
             "shave ceil(scale)", "generated_by": "python -m dynconv.photo.auto", "scores": {}}
    if out is not None and Path(out).is_file():
        table["scores"] = json.loads(Path(out).read_text()).get("scores", {})
    scores = table["scores"]
    for m in candidates:  # cheap models first: a partial table is still useful
        for f in factors:
            key = f"{float(f):g}"
            if m in scores.get(key, {}):
                continue
            records = sr.evaluate(datasets=("Set14",), scales=[f], methods=[m], metrics=("psnr",),
                                  data_dir=data_dir, progress=progress)
            mean = [r for r in records if r["image"] == "mean"][0]
            scores.setdefault(key, {})[m] = round(mean["psnr"], 4)
            if out is not None:
                _write(out, table)
    return table


def scores_from_csv(path) -> dict:
    """``{factor: {model: dB}}``: the Set14 PSNR means of a ``dynconv reproduce`` "beyond" CSV,
    measured by the same protocol (:func:`dynconv.sr.evaluate`), for the candidates it holds."""
    import csv

    out = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            if row["dataset"] == "Set14" and row["metric"] == "psnr":
                out[f"{float(row['scale']):g}"] = {m: round(float(row[m]), 4) for m in CANDIDATES if row.get(m)}
    if not out:
        raise ValueError(f"{path}: no Set14 PSNR rows (is it the 'beyond' table of dynconv reproduce?)")
    return out


def _write(path, table):
    from dynconv.fileio import atomic_path

    ordered = dict(table, scores={k: table["scores"][k] for k in sorted(table["scores"], key=float)})
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(ordered, indent=1) + "\n")


@functools.lru_cache(maxsize=1)
def load_table(path=None) -> dict:
    """The measured table (``{factor: {model: dB}}``); ``{}`` when the file is missing."""
    p = Path(path) if path else TABLE
    if not p.is_file():
        return {}
    return {float(k): v for k, v in json.loads(p.read_text())["scores"].items()}


def best_model(scale, table=None) -> str:
    """The name of the shipped model with the highest Set14 PSNR at ``scale``.

    A factor between the measured ones inside ``dcnn``'s trained range (x1.2 to x4) keeps
    ``dcnn``, the one model trained for every factor there: a specialist measured best at x3
    may not be at x3.2. Outside that range the row of the nearest measured factor decides. A row
    that does not hold ``dcnn`` (a table still being measured) keeps ``dcnn``, the model the table
    would otherwise have to beat; so does a missing table."""
    table = load_table() if table is None else table
    if not table:
        return "dcnn"
    s = float(scale)
    exact = [f for f in table if abs(f - s) < 1e-9]
    if not exact and DCNN_RANGE[0] <= s <= DCNN_RANGE[1]:
        return "dcnn"
    row = table[exact[0] if exact else min(table, key=lambda f: (abs(f - s), f))]
    if "dcnn" not in row:
        return "dcnn"
    return max(row, key=lambda m: (row[m], m == "dcnn"))


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m dynconv.photo.auto", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(TABLE), help="the JSON written (default: the shipped table)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--from", dest="csv", default=None, metavar="CSV",
                   help="first take the scores a `dynconv reproduce` beyond.csv measured on Set14")
    args = p.parse_args(argv)
    if args.csv:
        old = json.loads(Path(args.out).read_text()) if Path(args.out).is_file() else {}
        merged = old.get("scores", {})
        for f, row in scores_from_csv(args.csv).items():
            merged.setdefault(f, {}).update(row)
        _write(args.out, dict(old or measure(factors=(), candidates=()), scores=merged))
    table = measure(data_dir=args.data_dir, progress=lambda line: print(line, file=sys.stderr, flush=True),
                    out=args.out)
    for f, row in table["scores"].items():
        print(f"x{f}: " + ", ".join(f"{m} {v:.2f}" for m, v in sorted(row.items(), key=lambda kv: -kv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main())

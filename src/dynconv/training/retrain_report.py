"""The report of ``dynconv retrain``: each retrained model's scores beside the shipped ones.

The retrained scores come from :func:`dynconv.training.runlog.final_scores` (the standard protocol,
:func:`dynconv.sr.evaluate`: Set5 and Set14, Y channel, every factor the model's config trains or
evaluates); the shipped ones from the shipped weights' headers (``scores``, the same protocol,
written by ``dynconv train``). Both tables are written atomically (:mod:`dynconv.fileio`).

Tolerance: a difference larger than :data:`SEED_TOLERANCE_DB` (0.1 dB) is flagged as more than
seeds alone explain. The bound is an assumption, not a measurement: this project has not yet
measured the spread of its models' scores over seeds (retraining one lineage with several
``train.seed`` values would measure it; ``write_report(tolerance=...)`` takes the measured value).
A run capped by ``--steps`` below its config's ``train.steps`` is never comparable: it is flagged
``capped`` instead.
"""
from __future__ import annotations

import json
from pathlib import Path

from dynconv.fileio import atomic_path

__all__ = ["SEED_TOLERANCE_DB", "shipped_scores", "build_rows", "write_report"]

SEED_TOLERANCE_DB = 0.1


def shipped_scores(name, weights_dir=None) -> dict:
    """``{dataset: {"x2": {"psnr", "ssim"}}}`` recorded in the shipped weights ``name`` (``{}``
    when the model is not shipped)."""
    from dynconv import sr

    if name not in sr.SHIPPED:
        return {}
    try:
        return dict((sr.load_model(name, weights_dir).meta or {}).get("scores") or {})
    except FileNotFoundError:
        return {}


def build_rows(results, specs, tolerance=SEED_TOLERANCE_DB, weights_dir=None) -> list[dict]:
    """One row per model and (dataset, factor): retrained PSNR, shipped PSNR, difference, flag."""
    rows = []
    for name, rec in results.items():
        spec = specs[name]
        capped = bool(spec.get("steps")) and spec["steps"] < spec["budget_steps"]
        mine, theirs = rec.get("scores") or {}, shipped_scores(name, weights_dir)
        if not mine:
            rows.append({"model": name, "status": rec.get("status"), "dataset": None, "scale": None,
                         "psnr": None, "shipped_psnr": None, "diff_db": None, "flag": "no scores"})
            continue
        for ds, per in mine.items():
            for scale, v in per.items():
                ref = (theirs.get(ds) or {}).get(scale, {}).get("psnr")
                diff = None if ref is None else round(v["psnr"] - ref, 4)
                flag = ("capped" if capped else "" if diff is None or abs(diff) <= tolerance else
                        "outside seed tolerance")
                rows.append({"model": name, "status": rec.get("status"), "dataset": ds, "scale": scale,
                             "psnr": v["psnr"], "ssim": v["ssim"], "shipped_psnr": ref, "diff_db": diff,
                             "flag": flag, "step": rec.get("step")})
    return rows


def _markdown(rows, tolerance):
    fmt = lambda v: "—" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = [f"Retrained vs shipped, PSNR (dB, Y channel, standard protocol); flagged beyond ±{tolerance} dB "
             "(seed tolerance) or `capped` (--steps below the config's train.steps).", "",
             "| model | dataset | scale | step | PSNR | shipped | diff | flag |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {fmt(r['dataset'])} | {fmt(r['scale'])} | {fmt(r.get('step'))} | "
                     f"{fmt(r['psnr'])} | {fmt(r['shipped_psnr'])} | {fmt(r['diff_db'])} | {r['flag']} |")
    return "\n".join(lines) + "\n"


def write_report(results, specs, out_dir, tolerance=SEED_TOLERANCE_DB, weights_dir=None) -> dict:
    """Write ``report.md`` and ``report.json`` to ``out_dir``; returns the JSON content."""
    rows = build_rows(results, specs, tolerance, weights_dir)
    report = {"tolerance_db": tolerance, "protocol": "dynconv.sr.evaluate via dynconv.training.runlog.final_scores",
              "models": sorted(results), "rows": rows}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "report.json") as tmp:
        tmp.write_text(json.dumps(report, indent=1))
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text(_markdown(rows, tolerance))
    return report

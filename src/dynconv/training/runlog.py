"""What a training run records: log rows, the CSV log, the curves, and the final scores.

:mod:`dynconv.training.train` calls these; the files they write are replaced atomically
(:func:`dynconv.fileio.atomic_path`), so a reader never sees half a log or half a figure.
"""
from __future__ import annotations

import csv
import time

from dynconv import sr
from dynconv.fileio import atomic_path

__all__ = ["Period", "set5_psnr", "evaluation_row", "final_scores", "write_log", "read_log", "write_curves"]


def set5_psnr(model, scales, dataset="Set5", data_dir=None):
    """Mean Y PSNR of ``model`` on ``dataset`` per scale: ``{scale: psnr}``."""
    recs = sr.evaluate(datasets=[dataset], scales=scales, methods=[model], metrics=("psnr",), data_dir=data_dir)
    return {r["scale"]: r["psnr"] for r in recs if r["image"] == "mean"}


class Period:
    """The losses and throughput since the last evaluation."""

    def __init__(self, step):
        self.loss, self.n, self.t0, self.step0 = 0.0, 0, time.perf_counter(), step

    def add(self, loss):
        self.loss, self.n = self.loss + loss, self.n + 1

    def rate(self, step, batch_size):
        return (step - self.step0) * batch_size / max(1e-9, time.perf_counter() - self.t0)


def evaluation_row(model, step, period, batches, optimizer, wall, scales, dataset, data_dir=None):
    """One log row: step, epoch, mean loss and throughput since the last row, learning rate,
    training wall time and the PSNR on ``dataset`` at every training scale."""
    row = {"step": step, "epoch": round(step / batches.per_epoch, 3), "loss": period.loss / max(1, period.n),
           "lr": max(optimizer.lrs().values()), "subimages_per_s": period.rate(step, batches.bs),
           "wall_seconds": round(wall, 1)}
    for sc, v in set5_psnr(model, scales, dataset, data_dir).items():
        row[f"psnr_x{sc:g}"] = round(v, 4)
    return row


def write_curves(log_rows, path):
    """The loss and validation-PSNR curves of a run as a PNG."""
    from dynconv.sr import plotting

    steps = [r["step"] for r in log_rows]
    fig, (a1, a2) = plotting.subplots(1, 2, figsize=(10, 3.6), dpi=90)
    a1.semilogy(steps, [r["loss"] for r in log_rows], lw=0.8)
    a1.set(xlabel="step", ylabel="training loss (mean over the log period)", title="loss")
    for key in sorted(k for k in log_rows[-1] if k.startswith("psnr_x")):
        pts = [(r["step"], r[key]) for r in log_rows if r.get(key) not in (None, "")]
        if pts:
            a2.plot(*zip(*pts), marker="o", ms=3, label=key.replace("psnr_", ""))
    a2.set(xlabel="step", ylabel="Set5 PSNR (dB)", title="validation")
    if a2.lines:
        a2.legend()
    fig.tight_layout()
    plotting.save(fig, path)


def final_scores(model, scales, datasets, data_dir=None):
    """``{dataset: {"x2": {"psnr":..., "ssim":...}, ...}}`` means, standard protocol."""
    recs = sr.evaluate(datasets=list(datasets), scales=scales, methods=[model], metrics=("psnr", "ssim"),
                       data_dir=data_dir)
    out = {}
    for r in recs:
        if r["image"] == "mean":
            out.setdefault(r["dataset"], {})[f"x{r['scale']:g}"] = {
                "psnr": round(r["psnr"], 4), "ssim": round(r["ssim"], 5)}
    return out


def write_log(path, rows):
    keys = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    with atomic_path(path) as tmp:
        with tmp.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)


def read_log(path, upto_step):
    """The rows of an existing ``log.csv`` up to ``upto_step`` (a resumed run continues it)."""
    if not path.exists():
        return []
    try:
        with path.open(newline="") as f:
            rows = [{k: (float(v) if v not in ("", None) else None) for k, v in r.items()}
                    for r in csv.DictReader(f)]
        for r in rows:
            r["step"] = int(r["step"])
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{path}: not a training log written by dynconv ({exc}); move it away "
                         "to resume without the earlier rows") from None
    return [r for r in rows if r["step"] <= upto_step]

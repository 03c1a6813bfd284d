"""The paper's tables as data: every cell from :func:`dynconv.sr.evaluate`, beside the published value."""
from __future__ import annotations

import contextlib
import math
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from dynconv import sr
from dynconv.reproduce.paper import METRIC_KEYS as _ALL_METRICS
from dynconv.reproduce.paper import PAPER

METRIC_LABELS = {"psnr": "PSNR", "wpsnr": "WPSNR", "ssim": "SSIM", "msssim": "MS-SSIM"}
PAPER_SCALES = (2, 3, 4)


@dataclass
class Table:
    """One generated table.

    Attributes
    ----------
    key : str
        File stem (``table1_set5`` → ``table1_set5.md``, ``table1_set5.csv``).
    title : str
    columns : list of str
        Column order of ``rows`` (the CSV header). A value column ``c`` may have companions
        ``c_paper`` (the published value) and ``c_diff`` (ours − paper).
    rows : list of dict
        ``column -> value`` (str, int, float or None).
    labels : dict
        Markdown header for a column (default: the column name).
    notes : list of str
        Protocol notes printed under the Markdown table.
    records : list of dict
        The :func:`dynconv.sr.evaluate` records the rows were built from.
    seconds : float
        Wall time spent producing the table.
    """

    key: str
    title: str
    columns: list
    rows: list
    labels: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    records: list = field(default_factory=list)
    seconds: float = 0.0


def load_methods(names, models_dir=None) -> list[tuple[str, Callable]]:
    """``[(name, f)]`` for method names through :func:`dynconv.sr.resolve`; shipped model names
    load ``<models_dir>/<file>.npz`` (default: the package weights) and keep the given name."""
    sr.require_weights(names, models_dir)
    return [(n, sr.resolve(n, weights_dir=models_dir)[1]) for n in names]


def _means(records):
    """``{(dataset, scale, method): record}`` for the mean records."""
    return {(r["dataset"], r["scale"], r["method"]): r for r in records if r["image"] == "mean"}


def _put(row, col, ours, paper):
    """Set ``col`` and, where a published value exists, ``col_paper`` and ``col_diff``."""
    row[col] = ours
    row[col + "_paper"] = paper
    row[col + "_diff"] = None if ours is None or paper is None or not math.isfinite(ours) else ours - paper


def _with_paper(cols):
    return [c2 for c in cols for c2 in (c, c + "_paper", c + "_diff")]


def _ds_label(ds):
    return Path(str(ds)).name


@contextlib.contextmanager
def _subset(dataset, names, data_dir=None):
    """A temporary folder of symbolic links to some images of a data set, so that
    :func:`~dynconv.sr.evaluate` scores only those (never copies data into the repo)."""
    from dynconv.sr import datasets as data

    files = {f.stem: f for f in data.list_images(dataset, data_dir)}
    absent = [n for n in names if n not in files]
    if absent:
        raise ValueError(f"data set {dataset!r} lacks {', '.join(absent)} (has {', '.join(files)})")
    with tempfile.TemporaryDirectory(prefix="dynconv-subset-") as tmp:
        d = Path(tmp) / _ds_label(dataset)
        d.mkdir()
        for n in names:
            try:
                (d / files[n].name).symlink_to(files[n].resolve())
            except OSError:  # file systems without symlinks
                shutil.copy2(files[n], d / files[n].name)
        yield d


def table1(datasets=("Set5", "Set14"), scales=PAPER_SCALES, data_dir=None, models_dir=None,
           progress=None) -> list[Table]:
    """Table 1: bicubic vs the static CNN of each scale, per image and mean, four metrics.

    One :func:`~dynconv.sr.evaluate` call per data set and scale (methods ``bicubic`` and
    ``srcnn-x<scale>``). Set5 rows carry the paper's values (``*_paper``) and ours − paper
    (``*_diff``).

    Returns
    -------
    list of Table
        One per data set, keys ``table1_<dataset>``.
    """
    out = []
    cnn = {s: f"srcnn-x{as_number(s)}" for s in scales}
    sr.require_weights(cnn.values(), models_dir)
    for ds in datasets:
        t0 = time.perf_counter()
        label = _ds_label(ds)
        paper = PAPER["table1"].get(label, {})
        rows, records = [], []
        for s in scales:
            methods = load_methods(["bicubic", cnn[s]], models_dir)
            recs = sr.evaluate([ds], [s], methods, _ALL_METRICS, data_dir=data_dir, progress=progress)
            records += recs
            by = {(r["image"], r["method"]): r for r in recs}
            for img in dict.fromkeys(r["image"] for r in recs):
                row = {"dataset": label, "scale": recs[0]["scale"], "image": img, "cnn": cnn[s]}
                pub = paper.get((as_number(s), img), {})
                for k in _ALL_METRICS:
                    for m, key in (("bicubic", "bicubic"), (cnn[s], "cnn")):
                        _put(row, f"{key}_{k}", by[(img, m)][k], pub.get(key, {}).get(k))
                rows.append(row)
        value_cols = [f"{m}_{k}" for k in _ALL_METRICS for m in ("bicubic", "cnn")]
        labels = {f"{m}_{k}": f"{METRIC_LABELS[k]} {'bicubic' if m == 'bicubic' else 'CNN'}" for k in _ALL_METRICS
                  for m in ("bicubic", "cnn")}
        notes = ["Standard protocol (Y of MATLAB rgb2ycbcr, MATLAB bicubic degradation, shave ceil(scale) "
                 "pixels); CNN = the static network trained at that scale (srcnn-x2/x3/x4)."]
        notes.append("Each cell: ours (paper, ours − paper)." if paper else "The paper publishes no values for this data set.")
        out.append(Table(
            key=f"table1_{label.lower()}", title=f"Table 1 — bicubic vs static CNN on {label}",
            columns=["dataset", "scale", "image", "cnn"] + _with_paper(value_cols), rows=rows,
            labels={"image": "image", **labels}, notes=notes, records=records,
            seconds=time.perf_counter() - t0))
    return out


def table2(dataset="Set5", images=("butterfly", "woman"), scale=3, methods=("bicubic", "srcnn-x3", "dcnn"),
           colors=("ycbcr", "hsv", "rgb"), data_dir=None, models_dir=None, progress=None) -> Table:
    """Table 2: two images at x3 in three colour models, four metrics.

    One :func:`~dynconv.sr.evaluate` call per colour model, on a temporary folder linking
    only ``images``. The paper's "CNN" is ``methods[1]`` (the static CNN of ``scale``); other
    methods are extra columns without published values.
    """
    t0 = time.perf_counter()
    methods = list(methods)
    resolved = load_methods(methods, models_dir)
    rows, records = [], []
    with _subset(dataset, images, data_dir) as d:
        by = {}
        for color in colors:
            recs = sr.evaluate([d], [scale], resolved, _ALL_METRICS, color=color, progress=progress)
            for r in recs:  # name the data set, not the temporary folder
                r["dataset"], r["color"] = _ds_label(dataset), color
            records += recs
            by.update({(color, r["image"], r["method"]): r for r in recs})
    for img in images:
        for color in colors:
            pub = PAPER["table2"].get((img, color), {}) if int(scale) == 3 else {}
            for k in _ALL_METRICS:
                row = {"image": img, "scale": as_number(scale), "color": color, "metric": k}
                for i, m in enumerate(methods):
                    key = {0: "bicubic", 1: "cnn"}.get(i)
                    _put(row, m, by[(color, img, m)][k], pub.get(key, {}).get(k) if key else None)
                rows.append(row)
    protocols = {
        "ycbcr": "YCbCr: the network on Y, Cb/Cr bicubic, metrics on Y",
        "hsv": "HSV: the network on V = max(R, G, B), H/S bicubic, metrics on V",
        "rgb": "RGB: the network on each of R, G, B, metrics on the RGB image (PSNR/WPSNR pool the "
               "squared error over channels, SSIM/MS-SSIM average the channels)",
    }
    notes = [protocols[c] + "." for c in colors]
    notes += [f"The paper's CNN column is compared with {methods[1]}; each cell: ours (paper, ours − paper); "
              "the paper prints '-' for HSV WPSNR and RGB MS-SSIM.",
              "As published, butterfly/YCbCr/CNN PSNR is 32.753, Table 1's x2 value (its x3 value is 27.953)."]
    return Table(key="table2", title=f"Table 2 — colour models at x{as_number(scale)} ({', '.join(images)})",
                 columns=["image", "scale", "color", "metric"] + _with_paper(methods), rows=rows,
                 notes=notes, records=records, seconds=time.perf_counter() - t0)


def table3(datasets=("Set5", "Set14"), scales=PAPER_SCALES,
           methods=("bicubic", "srcnn-x2", "srcnn-x3", "srcnn-x4", "dcnn", "srcnn-x234"),
           data_dir=None, models_dir=None, progress=None) -> list[Table]:
    """Table 3: every model tested at every scale, PSNR and SSIM means.

    One :func:`~dynconv.sr.evaluate` call per data set. Rows are (test scale, metric),
    columns the models (the paper's "Test/Train" layout); Set5 carries the paper's values
    (bicubic's from Table 1's mean rows).
    """
    methods = list(methods)
    sr.require_weights(methods, models_dir)
    out = []
    for ds in datasets:
        t0 = time.perf_counter()
        label = _ds_label(ds)
        paper = PAPER["table3"].get(label, {})
        resolved = load_methods(methods, models_dir)
        records = sr.evaluate([ds], list(scales), resolved, ("psnr", "ssim"), data_dir=data_dir,
                                   progress=progress)
        means = _means(records)
        rows = []
        for s in scales:
            for k in ("psnr", "ssim"):
                row = {"dataset": label, "scale": as_number(s), "metric": k}
                for m in methods:
                    rec = means[(str(ds), as_number(s), m)]
                    _put(row, m, rec[k], paper.get(as_number(s), {}).get(m, {}).get(k))
                rows.append(row)
        notes = ["Rows: test scale; columns: the model (srcnn-xN trained at xN only, srcnn-x234 trained at "
                 "x2, x3 and x4 together, dcnn at every factor from x1.2 to x4). Means over the data set, "
                 "standard protocol."]
        notes.append("Each cell: ours (paper, ours − paper); bicubic's paper values are Table 1's means."
                     if paper else "The paper publishes no values for this data set.")
        out.append(Table(key=f"table3_{label.lower()}", title=f"Table 3 — static vs dynamic across scales on {label}",
                         columns=["dataset", "scale", "metric"] + _with_paper(methods), rows=rows,
                         labels={"scale": "test scale"}, notes=notes, records=records,
                         seconds=time.perf_counter() - t0))
    return out


#: The factors of the cross-scale comparison: the paper's three and the ones between.
CROSS_SCALES = (1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4)


def beyond(datasets=("Set5", "Set14"), scales=CROSS_SCALES, methods=("bicubic", "dcnn", "srcnn-any", "dcnn-x234"),
           data_dir=None, models_dir=None, progress=None) -> Table:
    """Beyond the paper: one model for every factor. PSNR and SSIM means at each factor beside
    bicubic (the first method), with each model's gain over it (bicubic pre-upsampling makes any
    factor possible)."""
    t0 = time.perf_counter()
    methods = list(methods)
    resolved = load_methods(methods, models_dir)
    records = sr.evaluate(list(datasets), list(scales), resolved, ("psnr", "ssim"), data_dir=data_dir,
                          progress=progress)
    means = _means(records)
    rows = []
    for ds in datasets:
        for s in scales:
            for k in ("psnr", "ssim"):
                row = {"dataset": _ds_label(ds), "scale": as_number(s), "metric": k}
                for m in methods:
                    row[m] = means[(str(ds), as_number(s), m)][k]
                for m in methods[1:]:
                    row[f"{m}_gain"] = row[m] - row[methods[0]]
                rows.append(row)
    gains = [f"{m}_gain" for m in methods[1:]]
    return Table(key="beyond", title="Beyond the paper — one model for every factor",
                 columns=["dataset", "scale", "metric"] + methods + gains, rows=rows,
                 labels={g: f"{g[:-5]} − {methods[0]}" for g in gains},
                 notes=["dcnn and srcnn-any were trained at factors from x1.2 to x4 (T91 only), dcnn-x234 at "
                        "x2, x3 and x4 only; shave ceil(scale) pixels; images are cropped to a multiple of the "
                        "factor's numerator (5 for x2.5) so the LR size is exact."],
                 records=records, seconds=time.perf_counter() - t0)


def as_number(s):
    """A scale as the paper prints it: ``2.0`` → ``2``, ``1.5`` stays ``1.5``."""
    f = float(s)
    return int(f) if f == int(f) else f

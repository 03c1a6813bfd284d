r"""``dynconv reproduce``: the paper's Tables 1–3 and figures, side by side with the published numbers.

Every number in a table comes from :func:`dynconv.metrics.evaluate` — the code behind
``dynconv evaluate`` — and every method name goes through :func:`dynconv.cli.resolve_method`
(or a ``resolve`` the caller passes), so a table cell can be re-checked with one
``dynconv evaluate`` command. The published values live in one place, :data:`PAPER`.

Sections (``--table``):

``1``
    Set5 per image and mean at x2, x3, x4: bicubic vs the static CNN of that scale
    (``srcnn-x2/3/4``), PSNR, WPSNR, SSIM, MS-SSIM, each with the paper's value and the
    difference. The same for Set14 (no published values).
``2``
    butterfly and woman at x3 in three colour models (bicubic, ``srcnn-x3``, and ``dcnn``
    beside them). Protocols (:func:`dynconv.metrics.super_resolve`): **YCbCr** — the network
    on Y, Cb/Cr bicubic, metrics on Y; **HSV** — the network on V = max(R, G, B), H/S
    bicubic, metrics on V; **RGB** — the network on each of R, G, B, metrics on the RGB image
    (PSNR/WPSNR pool the error over channels, SSIM/MS-SSIM average the channels).
``3``
    The cross-scale matrix: ``srcnn-x2/3/4`` (each trained at one scale) tested at x2, x3, x4,
    plus ``dcnn`` and the static multi-scale ``srcnn-x234``; PSNR and SSIM means on Set5
    (with the paper's values) and Set14.
``figures``
    Crops like the paper's Figs 3–5 (colour models; bicubic / static / DCNN; the cross-scale
    matrix), PSNR in the titles, and the kernels network B generates for the same image at
    x2, x3, x4.
``beyond``
    Beyond the paper: ``dcnn`` and ``srcnn-x234`` at scales never trained (×1.5, ×2.5, ×3.5)
    beside bicubic.

:func:`run` writes ``<key>.md`` and ``<key>.csv`` per table, the PNG figures, a summary
``results.md`` (commands, models, wall times) and ``manifest.json`` into one folder.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from dynconv import image as _im
from dynconv import metrics, models, plotting

__all__ = [
    "PAPER",
    "SECTIONS",
    "Table",
    "load_methods",
    "table1",
    "table2",
    "table3",
    "beyond",
    "figures",
    "window_kernels",
    "kernel_stats",
    "to_markdown",
    "to_csv",
    "run",
]

#: What ``--table all`` runs, in order.
SECTIONS = ("1", "2", "3", "figures", "beyond")

_ALL_METRICS = tuple(metrics.METRICS)  # psnr, wpsnr, ssim, msssim
_LABEL = {"psnr": "PSNR", "wpsnr": "WPSNR", "ssim": "SSIM", "msssim": "MS-SSIM"}
_SCALES = (2, 3, 4)


# --------------------------------------------------------------------------- published values
def _table1_rows():
    # Table 1 of the paper, row by row: image, scale, then (bicubic, CNN) for PSNR, WPSNR,
    # SSIM, MS-SSIM. "average" is the paper's mean row.
    return [
        ("baby", 2, 37.066, 38.537, 53.512, 61.812, 0.9514, 0.9651, 0.9958, 0.9979),
        ("bird", 2, 36.808, 40.915, 51.016, 61.142, 0.9720, 0.9859, 0.9974, 0.9991),
        ("butterfly", 2, 27.434, 32.753, 43.714, 54.744, 0.916, 0.9652, 0.9932, 0.9980),
        ("head", 2, 34.858, 35.723, 54.383, 61.597, 0.862, 0.8862, 0.9891, 0.9932),
        ("woman", 2, 32.145, 35.365, 48.002, 57.642, 0.9478, 0.9686, 0.9952, 0.9981),
        ("mean", 2, 33.662, 36.659, 50.125, 59.387, 0.9299, 0.9542, 0.9942, 0.9973),
        ("baby", 3, 33.911, 35.250, 44.975, 49.408, 0.9030, 0.9233, 0.9832, 0.9889),
        ("bird", 3, 32.576, 35.475, 42.509, 47.704, 0.9257, 0.9550, 0.9856, 0.9931),
        ("butterfly", 3, 24.038, 27.953, 35.252, 41.838, 0.8241, 0.9121, 0.9724, 0.9898),
        ("head", 3, 32.880, 33.712, 46.171, 50.192, 0.7991, 0.8267, 0.9709, 0.9786),
        ("woman", 3, 28.564, 31.371, 39.354, 45.603, 0.891, 0.9297, 0.9797, 0.9901),
        ("mean", 3, 30.394, 32.752, 41.652, 46.949, 0.8686, 0.9094, 0.9784, 0.9881),
        ("baby", 4, 31.777, 33.126, 40.253, 43.292, 0.8556, 0.8815, 0.9691, 0.9793),
        ("bird", 4, 30.180, 32.520, 38.032, 41.645, 0.8737, 0.9115, 0.9715, 0.9843),
        ("butterfly", 4, 22.099, 25.459, 30.921, 36.200, 0.7407, 0.8620, 0.9501, 0.9808),
        ("head", 4, 31.590, 32.444, 42.009, 44.641, 0.7513, 0.7784, 0.9559, 0.9666),
        ("woman", 4, 26.464, 28.895, 34.890, 39.124, 0.8350, 0.8868, 0.9623, 0.9798),
        ("mean", 4, 28.422, 30.489, 37.221, 40.981, 0.8113, 0.8641, 0.9618, 0.9782),
    ]


def _build_paper():
    t1 = {}
    for img, s, *v in _table1_rows():
        t1[(s, img)] = {
            "bicubic": dict(zip(_ALL_METRICS, v[0::2])),
            "cnn": dict(zip(_ALL_METRICS, v[1::2])),
        }
    # Table 2 (x3): (image, colour) -> method -> metric; None where the paper prints "-".
    # As published, butterfly/YCbCr/CNN PSNR is 32.753 — Table 1's x2 value; Table 1 has
    # 27.953 at x3 (and the row's other metrics match x3). Kept as printed.
    t2 = {
        ("butterfly", "ycbcr"): {"bicubic": (24.038, 35.252, 0.8241, 0.9724), "cnn": (32.753, 41.838, 0.9121, 0.9898)},
        ("butterfly", "hsv"): {"bicubic": (22.768, None, 0.8282, 0.9741), "cnn": (26.202, None, 0.9109, 0.9900)},
        ("butterfly", "rgb"): {"bicubic": (24.038, 34.153, 0.8282, None), "cnn": (28.330, 41.057, 0.9110, None)},
        ("woman", "ycbcr"): {"bicubic": (28.564, 39.354, 0.891, 0.9797), "cnn": (31.371, 45.603, 0.9297, 0.9901)},
        ("woman", "hsv"): {"bicubic": (27.216, None, 0.8748, 0.9765), "cnn": (30.077, None, 0.9158, 0.9880)},
        ("woman", "rgb"): {"bicubic": (28.563, 38.043, 0.8748, None), "cnn": (31.311, 44.110, 0.9158, None)},
    }
    t2 = {k: {m: dict(zip(_ALL_METRICS, v)) for m, v in d.items()} for k, d in t2.items()}
    # Table 3 ("Test/Train"): test scale -> model -> (PSNR, SSIM); the means equal Table 1's
    # Set5 averages, so it is Set5.
    t3 = {
        2: {"srcnn-x2": (36.659, 0.954), "srcnn-x3": (30.575, 0.874), "srcnn-x4": (28.442, 0.813), "dcnn": (36.344, 0.952)},
        3: {"srcnn-x2": (29.435, 0.884), "srcnn-x3": (32.752, 0.909), "srcnn-x4": (29.002, 0.830), "dcnn": (32.394, 0.904)},
        4: {"srcnn-x2": (25.267, 0.766), "srcnn-x3": (28.722, 0.847), "srcnn-x4": (30.489, 0.8641), "dcnn": (30.086, 0.854)},
    }
    t3 = {s: {m: {"psnr": v[0], "ssim": v[1]} for m, v in d.items()} for s, d in t3.items()}
    # Table 3 has no bicubic column; Table 1's Set5 bicubic means stand beside it.
    for s in t3:
        t3[s]["bicubic"] = {k: t1[(s, "mean")]["bicubic"][k] for k in ("psnr", "ssim")}
    return {"table1": {"Set5": t1}, "table2": t2, "table3": {"Set5": t3}}


#: The paper's published numbers (Bhujel & Pant, Tables 1–3), transcribed from the paper text:
#: ``PAPER["table1"]["Set5"][(scale, image)][method][metric]`` with method ``"bicubic"`` or
#: ``"cnn"`` (the static CNN of that scale) and image ``"mean"`` for the average row;
#: ``PAPER["table2"][(image, colour)][method][metric]`` (x3; ``None`` where the paper prints
#: "-"); ``PAPER["table3"]["Set5"][test_scale][model][metric]`` for PSNR and SSIM, with model
#: ``"srcnn-x2"``, ``"srcnn-x3"``, ``"srcnn-x4"``, ``"dcnn"`` (and ``"bicubic"`` from Table 1).
PAPER = _build_paper()


# --------------------------------------------------------------------------- tables as data
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
        The :func:`dynconv.metrics.evaluate` records the rows were built from.
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


def _default_resolve():
    from dynconv.cli import resolve_method

    return resolve_method


def weights_path(name, models_dir=None) -> Path:
    """The weight file a shipped model name loads: ``<models_dir>/<file>.npz``."""
    base = Path(models_dir) if models_dir is not None else models.WEIGHTS_DIR
    return base / f"{models.PRETRAINED[name]}.npz"


def _model_spec(name, models_dir):
    return name if models_dir is None else str(weights_path(name, models_dir))


def require_weights(names, models_dir=None) -> None:
    """Raise a one-line ``FileNotFoundError`` naming the first missing weight file and how to
    train it (checked before any evaluation, so a run never fails half-way)."""
    missing = [n for n in dict.fromkeys(names) if n in models.PRETRAINED and not weights_path(n, models_dir).exists()]
    if not missing:
        return
    stem = models.PRETRAINED[missing[0]]
    more = ", ".join(models.PRETRAINED[n] for n in missing[1:])
    raise FileNotFoundError(
        f"missing model weights {weights_path(missing[0], models_dir)}: train them with "
        f"`dynconv train --config configs/{stem}.toml` and copy runs/{stem}/model.npz there"
        + (f" (also missing: {more})" if more else ""))


def load_methods(names, models_dir=None, resolve=None) -> list[tuple[str, Callable]]:
    """``[(name, f)]`` for method names: shipped model names load ``<models_dir>/<file>.npz``
    (default: the package weights), others (``bicubic``) resolve as ``dynconv evaluate`` does.

    The displayed name is always the given name, whichever file it loaded.
    """
    resolve = resolve or _default_resolve()
    require_weights(names, models_dir)
    return [(n, resolve(_model_spec(n, models_dir) if n in models.PRETRAINED else n)[1]) for n in names]


def _load_model(name, models_dir=None):
    require_weights([name], models_dir)
    return models.pretrained(_model_spec(name, models_dir))


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
    :func:`~dynconv.metrics.evaluate` scores only those (never copies data into the repo)."""
    from dynconv import data

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


def table1(datasets=("Set5", "Set14"), scales=_SCALES, data_dir=None, models_dir=None, resolve=None,
           progress=None) -> list[Table]:
    """Table 1: bicubic vs the static CNN of each scale, per image and mean, four metrics.

    One :func:`~dynconv.metrics.evaluate` call per data set and scale (methods ``bicubic`` and
    ``srcnn-x<scale>``). Set5 rows carry the paper's values (``*_paper``) and ours − paper
    (``*_diff``).

    Returns
    -------
    list of Table
        One per data set, keys ``table1_<dataset>``.
    """
    out = []
    cnn = {s: f"srcnn-x{_norm(s)}" for s in scales}
    require_weights(cnn.values(), models_dir)
    for ds in datasets:
        t0 = time.perf_counter()
        label = _ds_label(ds)
        paper = PAPER["table1"].get(label, {})
        rows, records = [], []
        for s in scales:
            methods = load_methods(["bicubic", cnn[s]], models_dir, resolve)
            recs = metrics.evaluate([ds], [s], methods, _ALL_METRICS, data_dir=data_dir, progress=progress)
            records += recs
            by = {(r["image"], r["method"]): r for r in recs}
            for img in dict.fromkeys(r["image"] for r in recs):
                row = {"dataset": label, "scale": recs[0]["scale"], "image": img, "cnn": cnn[s]}
                pub = paper.get((_norm(s), img), {})
                for k in _ALL_METRICS:
                    for m, key in (("bicubic", "bicubic"), (cnn[s], "cnn")):
                        _put(row, f"{key}_{k}", by[(img, m)][k], pub.get(key, {}).get(k))
                rows.append(row)
        value_cols = [f"{m}_{k}" for k in _ALL_METRICS for m in ("bicubic", "cnn")]
        labels = {f"{m}_{k}": f"{_LABEL[k]} {'bicubic' if m == 'bicubic' else 'CNN'}" for k in _ALL_METRICS
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
           colors=("ycbcr", "hsv", "rgb"), data_dir=None, models_dir=None, resolve=None, progress=None) -> Table:
    """Table 2: two images at x3 in three colour models, four metrics.

    One :func:`~dynconv.metrics.evaluate` call per colour model, on a temporary folder linking
    only ``images``. The paper's "CNN" is ``methods[1]`` (the static CNN of ``scale``); other
    methods are extra columns without published values.
    """
    t0 = time.perf_counter()
    methods = list(methods)
    resolved = load_methods(methods, models_dir, resolve)
    rows, records = [], []
    with _subset(dataset, images, data_dir) as d:
        by = {}
        for color in colors:
            recs = metrics.evaluate([d], [scale], resolved, _ALL_METRICS, color=color, progress=progress)
            for r in recs:  # name the data set, not the temporary folder
                r["dataset"], r["color"] = _ds_label(dataset), color
            records += recs
            by.update({(color, r["image"], r["method"]): r for r in recs})
    for img in images:
        for color in colors:
            pub = PAPER["table2"].get((img, color), {}) if int(scale) == 3 else {}
            for k in _ALL_METRICS:
                row = {"image": img, "scale": _norm(scale), "color": color, "metric": k}
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
    return Table(key="table2", title=f"Table 2 — colour models at x{_norm(scale)} ({', '.join(images)})",
                 columns=["image", "scale", "color", "metric"] + _with_paper(methods), rows=rows,
                 notes=notes, records=records, seconds=time.perf_counter() - t0)


def table3(datasets=("Set5", "Set14"), scales=_SCALES,
           methods=("bicubic", "srcnn-x2", "srcnn-x3", "srcnn-x4", "dcnn", "srcnn-x234"),
           data_dir=None, models_dir=None, resolve=None, progress=None) -> list[Table]:
    """Table 3: every model tested at every scale, PSNR and SSIM means.

    One :func:`~dynconv.metrics.evaluate` call per data set. Rows are (test scale, metric),
    columns the models (the paper's "Test/Train" layout); Set5 carries the paper's values
    (bicubic's from Table 1's mean rows).
    """
    methods = list(methods)
    require_weights(methods, models_dir)
    out = []
    for ds in datasets:
        t0 = time.perf_counter()
        label = _ds_label(ds)
        paper = PAPER["table3"].get(label, {})
        resolved = load_methods(methods, models_dir, resolve)
        records = metrics.evaluate([ds], list(scales), resolved, ("psnr", "ssim"), data_dir=data_dir,
                                   progress=progress)
        means = _means(records)
        rows = []
        for s in scales:
            for k in ("psnr", "ssim"):
                row = {"dataset": label, "scale": _norm(s), "metric": k}
                for m in methods:
                    rec = means[(str(ds), _norm(s), m)]
                    _put(row, m, rec[k], paper.get(_norm(s), {}).get(m, {}).get(k))
                rows.append(row)
        notes = ["Rows: test scale; columns: the model (srcnn-xN trained at xN only, srcnn-x234 and dcnn "
                 "trained at x2, x3 and x4 together). Means over the data set, standard protocol."]
        notes.append("Each cell: ours (paper, ours − paper); bicubic's paper values are Table 1's means."
                     if paper else "The paper publishes no values for this data set.")
        out.append(Table(key=f"table3_{label.lower()}", title=f"Table 3 — static vs dynamic across scales on {label}",
                         columns=["dataset", "scale", "metric"] + _with_paper(methods), rows=rows,
                         labels={"scale": "test scale"}, notes=notes, records=records,
                         seconds=time.perf_counter() - t0))
    return out


def beyond(datasets=("Set5", "Set14"), scales=(1.5, 2.5, 3.5), methods=("bicubic", "dcnn", "srcnn-x234"),
           data_dir=None, models_dir=None, resolve=None, progress=None) -> Table:
    """Beyond the paper: multi-scale models at scales they never saw (bicubic pre-upsampling
    makes any scale possible), PSNR and SSIM means beside bicubic, with each model's gain."""
    t0 = time.perf_counter()
    methods = list(methods)
    resolved = load_methods(methods, models_dir, resolve)
    records = metrics.evaluate(list(datasets), list(scales), resolved, ("psnr", "ssim"), data_dir=data_dir,
                               progress=progress)
    means = _means(records)
    rows = []
    for ds in datasets:
        for s in scales:
            for k in ("psnr", "ssim"):
                row = {"dataset": _ds_label(ds), "scale": _norm(s), "metric": k}
                for m in methods:
                    row[m] = means[(str(ds), _norm(s), m)][k]
                for m in methods[1:]:
                    row[f"{m}_gain"] = row[m] - row[methods[0]]
                rows.append(row)
    gains = [f"{m}_gain" for m in methods[1:]]
    return Table(key="beyond", title="Beyond the paper — unseen scales",
                 columns=["dataset", "scale", "metric"] + methods + gains, rows=rows,
                 labels={g: f"{g[:-5]} − {methods[0]}" for g in gains},
                 notes=["The models were trained at x2, x3 and x4 only; shave ceil(scale) pixels; images are "
                        "cropped to a multiple of the scale's numerator (5 for x2.5) so the LR size is exact."],
                 records=records, seconds=time.perf_counter() - t0)


def _norm(s):
    f = float(s)
    return int(f) if f == int(f) else f


# --------------------------------------------------------------------------- writers
#: Columns that name a row rather than hold a measurement (printed as they are).
_ID_COLS = ("dataset", "scale", "image", "color", "metric", "cnn", "windows")


def _digits(key):
    # SSIM-like indices need four decimals to show a difference; dB values three.
    key = str(key)
    return 4 if "ssim" in key else 3 if "psnr" in key else 4


def _fmt(v, digits, sign=False):
    if v is None:
        return "–"
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"
    return str(v)


def to_markdown(table: Table) -> str:
    """A Markdown section: title, table, notes and wall time.

    A column with ``_paper``/``_diff`` companions renders as one cell
    ``ours (paper, ours − paper)``, or ``ours`` where nothing was published.
    """
    cols = [c for c in table.columns if not (c.endswith("_paper") or c.endswith("_diff"))]
    metric_col = "metric" in table.columns

    def cell(row, c):
        v = row.get(c)
        if c in _ID_COLS:
            return _LABEL.get(v, "–" if v is None else str(v))
        d = _digits(row.get("metric") if metric_col else c)
        s = _fmt(v, d)
        p = row.get(c + "_paper")
        if p is not None:
            # the published value as printed (its own precision), the difference at ours
            s += f" ({p:g}, {_fmt(row.get(c + '_diff'), d, sign=True)})"
        return s

    lines = [f"### {table.title}", "",
             "| " + " | ".join(table.labels.get(c, c) for c in cols) + " |",
             "|" + "|".join("---" if c in _ID_COLS and c not in ("scale", "windows") else "---:" for c in cols) + "|"]
    for row in table.rows:
        lines.append("| " + " | ".join(cell(row, c) for c in cols) + " |")
    lines.append("")
    lines += [f"- {n}" for n in table.notes]
    lines.append(f"- Wall time: {table.seconds:.1f} s.")
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    """CSV text: the header is ``table.columns``; floats in full precision, empty for None."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(table.columns)
    for row in table.rows:
        w.writerow(["" if row.get(c) is None else (repr(row[c]) if isinstance(row[c], float) else row[c])
                    for c in table.columns])
    return buf.getvalue()


def _write(path: Path, text: str) -> None:
    # Write-then-rename: an interrupted run never leaves a half-written table.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_table(table: Table, out) -> list[Path]:
    """Write ``<key>.md`` and ``<key>.csv`` into ``out``; returns the paths."""
    out = Path(out)
    md, cs = out / f"{table.key}.md", out / f"{table.key}.csv"
    _write(md, to_markdown(table))
    _write(cs, to_csv(table))
    return [md, cs]


# --------------------------------------------------------------------------- figures
_COLOR_LABEL = {"rgb": "RGB", "hsv": "HSV", "ycbcr": "YCbCr"}

#: Crops shown in the figures, (top, left, size) in reference pixels.
CROPS = {"butterfly": (40, 90, 128), "bird": (10, 110, 128), "woman": (40, 60, 128)}


def _save(fig, path: Path):
    return plotting.save(fig, path)


def _load_image(dataset, name, data_dir):
    from dynconv import data

    files = {f.stem: f for f in data.list_images(dataset, data_dir)}
    if name not in files:
        raise ValueError(f"data set {dataset!r} lacks {name} (has {', '.join(files)})")
    return _im.read_image(files[name])


def _sr_panel(hr, scale, method, color="ycbcr", name="image"):
    """(displayed image, PSNR, SSIM) through :func:`~dynconv.metrics.super_resolve` — the
    per-image step of :func:`~dynconv.metrics.evaluate` — scored as it scores."""
    ref, sr, rgb = metrics.super_resolve(hr, scale, method, color=color, name=name)
    shave = int(math.ceil(float(scale)))
    shown = rgb if rgb is not None else sr
    return shown, metrics.psnr(ref, sr, shave=shave), metrics.ssim(ref, sr, shave=shave)


def _crop(img, name):
    top, left, size = CROPS.get(name, (0, 0, 128))
    return np.asarray(img)[top:top + size, left:left + size]


def _panels(path, panels, suptitle, ncols=None):
    n = len(panels)
    ncols = ncols or n
    nrows = -(-n // ncols)
    fig, axes = plotting.subplots(nrows, ncols, figsize=(2.6 * ncols, 3.1 * nrows), dpi=100, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (title, img) in zip(axes.ravel(), panels):
        if img is not None:
            ax.imshow(img, cmap="gray" if np.ndim(img) == 2 else None, vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(title, fontsize=8)
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def window_kernels(model, up, scale=None, batch=64):
    """The reconstruction kernels network B generates for an image, window by window.

    The windows are those :meth:`dynconv.models.Model.predict` uses (``model.window`` square,
    stride ``window_stride``, symmetric padding by the receptive-field radius).

    Parameters
    ----------
    model : Model
        A dynamic model (``model.dynamic``).
    up : ndarray (H, W)
        The bicubic-upsampled channel in [0, 1].
    scale : float, optional
        Needed by ``variant="scale"`` models.

    Returns
    -------
    kernels : ndarray (N, n2, f3, f3)
        Per window, the kernel applied to A's n2 feature maps.
    bias : ndarray (N,)
    """
    if not model.dynamic:
        raise ValueError(f"{model.name} is not a dynamic model; it has no kernel-generating network")
    c = model.config
    win = model.window
    padded, rows, cols = model.window_grid(np.asarray(up, dtype=np.float64))
    pos = [(i, j) for i in rows for j in cols]
    flat = []
    for b0 in range(0, len(pos), batch):
        x = np.stack([padded[i:i + win, j:j + win] for i, j in pos[b0:b0 + batch]])[:, None]
        feeds = model.feeds(x.astype(model.graph.dtype), scale)
        flat.append(model.graph.evaluate(feeds, ["b_fc2"])["b_fc2"].astype(np.float64))
    flat = np.concatenate(flat)
    n2, f3 = c["n2"], c["f3"]
    return flat[:, :n2 * f3 * f3].reshape(-1, n2, f3, f3), flat[:, n2 * f3 * f3]


def _degraded_y(hr, scale):
    """The network input of the protocol for ``hr``: bicubic-upsampled Y in [0, 1]."""
    y = _im.rgb_to_y(_im.modcrop(np.asarray(hr), scale))
    return _im.bicubic(np.asarray(y, dtype=np.float64) / 255.0, scale)


def kernel_stats(model, hr, scales=_SCALES):
    """The kernels B generates for one image at each scale, summarised.

    Returns
    -------
    means : dict
        ``scale -> (n2, f3, f3)`` mean kernel over the image's windows.
    rows : list of dict
        Per scale: windows, the norm of the mean kernel, the spread within the image (mean
        over windows of ‖k_w − k̄‖ / ‖k̄‖), the mean bias, and ‖k̄(s) − k̄(2)‖ / ‖k̄(2)‖.
    """
    means, rows = {}, []
    for s in scales:
        k, b = window_kernels(model, _degraded_y(hr, s), s)
        kbar = k.mean(axis=0)
        means[s] = kbar
        nk = float(np.linalg.norm(kbar))
        spread = float(np.mean(np.linalg.norm((k - kbar).reshape(len(k), -1), axis=1))) / max(nk, 1e-300)
        rows.append({"scale": _norm(s), "windows": len(k), "kernel_norm": nk, "spread_within_image": spread,
                     "mean_bias": float(b.mean())})
    k0 = means[scales[0]]
    for row, s in zip(rows, scales):
        row[f"rel_diff_to_x{_norm(scales[0])}"] = float(np.linalg.norm(means[s] - k0)) / max(float(np.linalg.norm(k0)), 1e-300)
    return means, rows


def _mosaic(k):
    """(C, f, f) kernels → one 2-D image, tiles separated by NaN gaps."""
    C, f, _ = k.shape
    nc = int(math.ceil(math.sqrt(C)))
    nr = -(-C // nc)
    out = np.full((nr * (f + 1) - 1, nc * (f + 1) - 1), np.nan)
    for i in range(C):
        r, c = divmod(i, nc)
        out[r * (f + 1):r * (f + 1) + f, c * (f + 1):c * (f + 1) + f] = k[i]
    return out


def _kernel_figure(path, means, rows, image_name, model_name):
    scales = list(means)
    diffs = [(scales[i], scales[j]) for i in range(len(scales)) for j in range(i + 1, len(scales))]
    ncols = max(len(scales), len(diffs))
    fig, axes = plotting.subplots(3, ncols, figsize=(3.2 * ncols, 9.4), dpi=100, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    vk = max(float(np.nanmax(np.abs(means[s]))) for s in scales) or 1.0
    vs = max(float(np.abs(means[s].sum(0)).max()) for s in scales) or 1.0
    vd = max([float(np.abs(means[b] - means[a]).max()) for a, b in diffs] or [0.0]) or 1.0
    for i, (s, row) in enumerate(zip(scales, rows)):
        im0 = axes[0, i].imshow(_mosaic(means[s]), cmap="RdBu_r", vmin=-vk, vmax=vk, interpolation="nearest")
        axes[0, i].set_title(f"x{_norm(s)}: mean kernel per channel\nspread in image {row['spread_within_image']:.2f}, "
                             f"bias {row['mean_bias']:+.4f}", fontsize=8)
        im1 = axes[1, i].imshow(means[s].sum(0), cmap="RdBu_r", vmin=-vs, vmax=vs, interpolation="nearest")
        axes[1, i].set_title(f"x{_norm(s)}: summed over channels", fontsize=8)
    for i, (a, b) in enumerate(diffs):
        d = means[b] - means[a]
        rel = float(np.linalg.norm(d)) / max(float(np.linalg.norm(means[a])), 1e-300)
        im2 = axes[2, i].imshow(_mosaic(d), cmap="PuOr_r", vmin=-vd, vmax=vd, interpolation="nearest")
        axes[2, i].set_title(f"x{_norm(b)} − x{_norm(a)} (‖Δ‖/‖k(x{_norm(a)})‖ = {rel:.3f})", fontsize=8)
    for r, im in ((0, im0), (1, im1)):
        fig.colorbar(im, ax=list(axes[r]), shrink=0.8)
    if diffs:
        fig.colorbar(im2, ax=list(axes[2]), shrink=0.8)
    fig.suptitle(f"Kernels network B of {model_name} generates for {image_name} "
                 "(means over the inference windows)", fontsize=10)
    return _save(fig, path)


def figures(out, dataset="Set5", data_dir=None, models_dir=None, resolve=None, static="srcnn-x3",
            dynamic="dcnn", scale=3, images=("butterfly", "bird")) -> tuple[list[tuple[Path, str]], Table]:
    """The figures (PNG, written into ``out``) and the kernel statistics behind the last one.

    * ``fig3_colour.png`` — like the paper's Figs 3.1/3.2: ``images[0]`` at ``scale``
      through ``static`` in the RGB, HSV and YCbCr colour models.
    * ``fig4_<image>.png`` — like Fig 3.3/4: bicubic, ``static`` and ``dynamic`` crops.
    * ``fig5_crossscale.png`` — like Fig 5: ``images[0]`` at x2, x3, x4 through bicubic,
      ``srcnn-x2/3/4`` and ``dynamic``.
    * ``fig_kernels.png`` — the kernels B generates for ``images[0]`` at x2, x3, x4: per
      channel and summed over channels (means over the windows), and their differences.

    Titles give PSNR (and SSIM) as the tables score them: on Y for YCbCr, V for HSV, the RGB
    image for RGB, after shaving ``ceil(scale)`` pixels.

    Returns
    -------
    figures : list of (Path, caption)
    kernels : Table
        ``kernel_stats`` rows (key ``kernels``).
    """
    out = Path(out)
    t0 = time.perf_counter()
    static_models = [f"srcnn-x{s}" for s in _SCALES]
    names = list(dict.fromkeys(["bicubic", static, dynamic, *static_models]))
    require_weights(names, models_dir)
    method = dict(load_methods(names, models_dir, resolve))
    hrs = {n: _load_image(dataset, n, data_dir) for n in images}
    first = images[0]
    figs = []

    def meth(n):
        return (n, method[n])

    # Fig 3: colour models.
    hr = hrs[first]
    panels = [("reference (HR)", _crop(_im.modcrop(hr, scale), first))]
    for color in ("rgb", "hsv", "ycbcr"):
        shown, p, s = _sr_panel(hr, scale, meth(static), color=color, name=first)
        scored = {"rgb": "RGB", "hsv": "V", "ycbcr": "Y"}[color]  # what the protocol scores
        panels.append((f"{static}, {_COLOR_LABEL[color]} model\n{scored}-PSNR {p:.2f} dB, SSIM {s:.4f}", _crop(shown, first)))
    path = _panels(out / "fig3_colour.png", panels, f"{first} x{_norm(scale)}: the network in three colour models")
    figs.append((path, f"{first} x{_norm(scale)} through {static} in the RGB, HSV and YCbCr colour models "
                       "(paper Figs 3.1/3.2)."))

    # Fig 4: bicubic vs static vs dynamic.
    for n in images:
        hr = hrs[n]
        panels = [("reference (HR)", _crop(_im.modcrop(hr, scale), n))]
        for m in ("bicubic", static, dynamic):
            shown, p, s = _sr_panel(hr, scale, meth(m), name=n)
            panels.append((f"{m}\nY-PSNR {p:.2f} dB, SSIM {s:.4f}", _crop(shown, n)))
        path = _panels(out / f"fig4_{n}.png", panels, f"{n} x{_norm(scale)}")
        figs.append((path, f"{n} x{_norm(scale)}: bicubic, the static CNN and the DCNN (paper Fig 3.3)."))

    # Fig 5: the cross-scale matrix on one image.
    hr = hrs[first]
    panels = []
    cols = ["bicubic", *static_models, dynamic]
    for s in _SCALES:
        for m in cols:
            shown, p, _ = _sr_panel(hr, s, meth(m), name=first)
            panels.append((f"test x{s}: {m}\nY-PSNR {p:.2f} dB", _crop(shown, first)))
    path = _panels(out / "fig5_crossscale.png", panels, f"{first}: models (columns) tested at x2, x3, x4 (rows)",
                   ncols=len(cols))
    figs.append((path, f"{first}: every static CNN and the DCNN at every test scale (paper Fig 5 / Table 3)."))

    # The kernels B generates.
    model = _load_model(dynamic, models_dir)
    means, rows = kernel_stats(model, hrs[first], _SCALES)
    path = _kernel_figure(out / "fig_kernels.png", means, rows, first, dynamic)
    figs.append((path, f"The reconstruction kernels network B of {dynamic} generates for {first} at x2, x3, x4 "
                       "(means over the inference windows) and their differences."))
    cols = list(rows[0])
    table = Table(key="kernels", title=f"Kernels B generates for {first}", columns=cols, rows=rows,
                  notes=["kernel_norm: ‖k̄‖ of the mean kernel over the image's windows; spread_within_image: "
                         "mean over windows of ‖k_w − k̄‖/‖k̄‖ (how much B adapts inside one image); "
                         f"rel_diff_to_x{_SCALES[0]}: ‖k̄(s) − k̄(x{_SCALES[0]})‖/‖k̄(x{_SCALES[0]})‖ (how much it "
                         "adapts to the scale)."],
                  seconds=time.perf_counter() - t0)
    return figs, table


# --------------------------------------------------------------------------- one command
def _model_rows(names, models_dir):
    rows = []
    for n in names:
        path = weights_path(n, models_dir)
        m = models.pretrained(_model_spec(n, models_dir))
        meta = getattr(m, "meta", {}) or {}
        run_meta = meta.get("run", {})
        data_cfg = (meta.get("train_config") or {}).get("data", {})
        wall = meta.get("training_wall_seconds", run_meta.get("wall_seconds"))
        rows.append({
            "name": n, "file": path.name, "arch": m.config["arch"], "params": m.num_params(),
            "step": run_meta.get("step", getattr(m, "step", None)),
            "train_hours": None if wall is None else round(float(wall) / 3600, 2),
            "trained_on": data_cfg.get("dataset"),
            "scales": " ".join(map(str, data_cfg.get("scales", []))) or None,
        })
    return rows


def _needs(section):
    return {
        "1": ["srcnn-x2", "srcnn-x3", "srcnn-x4"],
        "2": ["srcnn-x3", "dcnn"],
        "3": ["srcnn-x2", "srcnn-x3", "srcnn-x4", "dcnn", "srcnn-x234"],
        "figures": ["srcnn-x2", "srcnn-x3", "srcnn-x4", "dcnn"],
        "beyond": ["dcnn", "srcnn-x234"],
    }[section]


def run(table="all", out="docs/results", data_dir=None, models_dir=None, datasets=("Set5", "Set14"),
        command=None, log=None, resolve=None, summary=None, notes=None) -> dict:
    """Produce the requested sections and write them into ``out``.

    Parameters
    ----------
    table : {"1", "2", "3", "figures", "beyond", "all"}
    out : path
        Output folder (created): ``<key>.md``/``<key>.csv`` per table, PNG figures,
        ``results.md`` (the summary) and ``manifest.json`` (files and wall times).
    data_dir, models_dir : path, optional
        The data folder, and a folder of ``<name>.npz`` weights replacing the shipped ones.
    datasets : sequence
        Data sets of Tables 1 and 3 and of "beyond" (Table 2 and the figures use Set5's
        butterfly, woman and bird).
    command : str, optional
        The command line recorded in ``results.md``.
    log : callable, optional
        Called with one-line progress messages (e.g. ``print``).
    summary : path, optional
        Where the summary goes (default ``out/results.md``); its links are relative to it.
    notes : path, optional
        A Markdown file (e.g. a discussion of the differences to the paper) included in the
        summary after the models.

    Returns
    -------
    dict
        The manifest: ``{"sections": {name: {"seconds", "files"}}, "total_seconds", ...}``.
    """
    table = str(table)
    if table not in SECTIONS + ("all",):
        raise ValueError(f"--table must be one of {', '.join(SECTIONS)}, all; got {table!r}")
    sections = list(SECTIONS) if table == "all" else [table]
    needed = list(dict.fromkeys(n for s in sections for n in _needs(s)))
    require_weights(needed, models_dir)  # fail before any work, naming the file to train
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    log = log or (lambda msg: None)
    kw = dict(data_dir=data_dir, models_dir=models_dir, resolve=resolve)
    t_all = time.perf_counter()
    manifest = {"command": command, "sections": {}}
    parts = []
    for sec in sections:
        t0 = time.perf_counter()
        tables, figs = [], []
        if sec == "1":
            tables = table1(datasets=datasets, **kw)
        elif sec == "2":
            tables = [table2(**kw)]
        elif sec == "3":
            tables = table3(datasets=datasets, **kw)
        elif sec == "beyond":
            tables = [beyond(datasets=datasets, **kw)]
        else:
            figs, ktable = figures(out, **kw)
            tables = [ktable]
        files = [p for t in tables for p in write_table(t, out)] + [p for p, _ in figs]
        seconds = time.perf_counter() - t0
        manifest["sections"][sec] = {"seconds": round(seconds, 1), "files": [p.name for p in files],
                                     "tables": {t.key: round(t.seconds, 1) for t in tables}}
        parts.append((sec, tables, figs, seconds))
        log(f"{_SECTION_TITLES[sec]}: {seconds:.1f} s -> " + ", ".join(p.name for p in files))
    manifest["total_seconds"] = round(time.perf_counter() - t_all, 1)
    manifest["models"] = _model_rows(needed, models_dir)
    summary = Path(summary) if summary is not None else out / "results.md"
    prefix = Path(os.path.relpath(out.resolve(), summary.resolve().parent))
    notes_text = Path(notes).read_text() if notes is not None else None
    _write(summary, _summary(parts, manifest, prefix, notes_text))
    _write(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    log(f"wrote {summary} ({manifest['total_seconds']:.1f} s in all)")
    return manifest


_SECTION_TITLES = {"1": "Table 1", "2": "Table 2", "3": "Table 3", "figures": "Figures", "beyond": "Beyond the paper"}


def _summary(parts, manifest, prefix=Path("."), notes=None) -> str:
    from dynconv import __version__

    lines = ["# dynconv: reproduction of Bhujel & Pant, *Dynamic Convolutional Neural Network for Image "
             "Super-Resolution*", ""]
    if manifest.get("command"):
        lines += [f"Generated by `{manifest['command']}` (dynconv {__version__}, "
                  f"{os.cpu_count()} CPU cores) in {manifest['total_seconds']:.1f} s.", ""]
    lines += ["## Models", "", "| name | file | arch | params | steps | training (h) | trained on | scales |",
              "|---|---|---|---:|---:|---:|---|---|"]
    for r in manifest["models"]:
        lines.append("| " + " | ".join("–" if r[k] is None else (f"{r[k]:,}" if k == "params" else str(r[k]))
                                       for k in ("name", "file", "arch", "params", "step", "train_hours",
                                                 "trained_on", "scales")) + " |")
    lines.append("")
    if notes:
        lines += [notes.rstrip(), ""]

    def link(name):
        return (prefix / name).as_posix()

    for sec, tables, figs, seconds in parts:
        lines += [f"## {_SECTION_TITLES[sec]}", "", f"Wall time: {seconds:.1f} s.", ""]
        for t in tables:
            lines += [to_markdown(t), f"CSV: [{t.key}.csv]({link(t.key + '.csv')})", ""]
        for p, caption in figs:
            lines += [f"![{caption}]({link(p.name)})", "", f"*{caption}*", ""]
    lines += ["## Wall times", "", "| section | seconds |", "|---|---:|"]
    lines += [f"| {_SECTION_TITLES[s]} | {v['seconds']:.1f} |" for s, v in manifest["sections"].items()]
    lines += [f"| total | {manifest['total_seconds']:.1f} |", ""]
    return "\n".join(lines)

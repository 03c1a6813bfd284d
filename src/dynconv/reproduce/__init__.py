r"""``dynconv reproduce``: the paper's Tables 1–3 and figures, side by side with the published numbers.

Every number in a table comes from :func:`dynconv.sr.evaluate` — the code behind
``dynconv evaluate`` — and every method name goes through :func:`dynconv.sr.resolve`, so a
table cell can be re-checked with one ``dynconv evaluate`` command. The package:

* :mod:`~dynconv.reproduce.paper` — the published values, in one place (:data:`PAPER`);
* :mod:`~dynconv.reproduce.tables` — Tables 1–3 and "beyond" as data (:class:`Table`);
* :mod:`~dynconv.reproduce.figures` — the figures and the kernel statistics;
* :mod:`~dynconv.reproduce.report` — Markdown, CSV and the summary;
* this module — :func:`run`, the one command.

Sections (``--table``):

``1``
    Set5 per image and mean at x2, x3, x4: bicubic vs the static CNN of that scale
    (``srcnn-x2/3/4``), PSNR, WPSNR, SSIM, MS-SSIM, each with the paper's value and the
    difference. The same for Set14 (no published values).
``2``
    butterfly and woman at x3 in three colour models (bicubic, ``srcnn-x3``, and ``dcnn``
    beside them). Protocols (:func:`dynconv.sr.super_resolve`): **YCbCr** — the network
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
    Beyond the paper: ``dcnn``, ``srcnn-any`` and ``dcnn-x234`` at every factor from ×1.25 to ×4
    beside bicubic.

:func:`run` writes ``<key>.md`` and ``<key>.csv`` per table, the PNG figures, a summary
``results.md`` (commands, models, wall times) and ``manifest.json`` into one folder.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from dynconv import sr
from dynconv.reproduce.figures import CROPS, figures, gain_figure, kernel_stats
from dynconv.reproduce.paper import PAPER
from dynconv.reproduce.report import SECTION_TITLES, summary_markdown, to_csv, to_markdown, write_table, write_text
from dynconv.reproduce.tables import Table, beyond, load_methods, table1, table2, table3
from dynconv.sr import datasets as _data

__all__ = ["PAPER", "SECTIONS", "CROPS", "Table", "load_methods", "table1", "table2", "table3", "beyond", "figures",
           "kernel_stats", "to_markdown", "to_csv", "write_table", "run"]

#: What ``--table all`` runs, in order.
SECTIONS = ("1", "2", "3", "figures", "beyond")


def _model_rows(names, models_dir):
    rows = []
    for n in names:
        path = sr.weights_path(n, models_dir)
        m = sr.load_model(n, models_dir)
        meta = m.meta
        run_meta = meta.get("run", {})
        data_cfg = (meta.get("train_config") or {}).get("data", {})
        wall = meta.get("training_wall_seconds", run_meta.get("wall_seconds"))
        if wall is not None and (meta.get("init") or {}).get("training_wall_seconds"):
            wall = float(wall) + float(meta["init"]["training_wall_seconds"])  # what it started from too
        rng = data_cfg.get("scale_range")
        rows.append({
            "name": n, "file": path.name, "arch": m.config["arch"], "params": m.num_params(),
            "step": run_meta.get("step", m.step),
            "train_hours": None if wall is None else round(float(wall) / 3600, 2),
            "trained_on": data_cfg.get("dataset"),
            "scales": (f"{rng[0]:g}–{rng[1]:g}" if rng else " ".join(map(str, data_cfg.get("scales", [])))) or None,
        })
    return rows


def _needs(section):
    return {
        "1": ["srcnn-x2", "srcnn-x3", "srcnn-x4"],
        "2": ["srcnn-x3", "dcnn"],
        "3": ["srcnn-x2", "srcnn-x3", "srcnn-x4", "dcnn", "srcnn-x234"],
        "figures": ["srcnn-x2", "srcnn-x3", "srcnn-x4", "dcnn"],
        "beyond": ["dcnn", "srcnn-any", "dcnn-x234"],
    }[section]


def _produce(sections, stage, datasets, command, log, progress=None, **kw):
    """Compute every requested section, writing its files into ``stage``: ``(manifest, parts)``;
    ``progress(done, total, title)`` before each section and ``(total, total, None)`` at the end."""
    t_all = time.perf_counter()
    manifest = {"command": command, "sections": {}}
    parts = []
    for done, sec in enumerate(sections):
        if progress is not None:
            progress(done, len(sections), SECTION_TITLES[sec])
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
            figs = gain_figure(stage, tables[0])
        else:
            figs, ktable = figures(stage, **kw)
            tables = [ktable]
        files = [p for t in tables for p in write_table(t, stage)] + [p for p, _ in figs]
        seconds = time.perf_counter() - t0
        manifest["sections"][sec] = {"seconds": round(seconds, 1), "files": [p.name for p in files],
                                     "tables": {t.key: round(t.seconds, 1) for t in tables}}
        parts.append((sec, tables, figs, seconds))
        log(f"{SECTION_TITLES[sec]}: {seconds:.1f} s -> " + ", ".join(p.name for p in files))
    if progress is not None:
        progress(len(sections), len(sections), None)
    manifest["total_seconds"] = round(time.perf_counter() - t_all, 1)
    return manifest, parts


def run(table="all", out="docs/results", data_dir=None, models_dir=None, datasets=("Set5", "Set14"),
        command=None, log=None, summary=None, notes=None, progress=None) -> dict:
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
        Called with one-line messages as sections finish (e.g. ``print``).
    progress : callable, optional
        ``progress(done, total, title)`` before each section (``title`` its name) and
        ``progress(total, total, None)`` at the end.
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
        raise ValueError(f"`table` must be one of {', '.join(SECTIONS)}, all; got {table!r}")
    sections = list(SECTIONS) if table == "all" else [table]
    needed = list(dict.fromkeys(n for s in sections for n in _needs(s)))
    sr.require_weights(needed, models_dir)  # fail before any work, naming the file to train
    notes_text = Path(notes).read_text() if notes is not None else None  # a missing file too
    for ds in datasets:
        _data.list_images(ds, data_dir)
    log = log or (lambda msg: None)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    summary = Path(summary) if summary is not None else out / "results.md"
    # Everything is produced in a staging folder beside `out` and moved into place only when all
    # of it succeeded: a failure leaves the previous results untouched, never half-updated.
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging-"))
    try:
        manifest, parts = _produce(sections, stage, datasets, command, log, progress, data_dir=data_dir,
                                   models_dir=models_dir)
        manifest["models"] = _model_rows(needed, models_dir)
        prefix = Path(os.path.relpath(out.resolve(), summary.resolve().parent))
        text = summary_markdown(parts, manifest, prefix, notes_text)
        write_text(stage / "manifest.json", json.dumps(manifest, indent=1) + "\n")
        out.mkdir(exist_ok=True)
        for f in sorted(stage.iterdir()):
            os.replace(f, out / f.name)
        write_text(summary, text)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    log(f"wrote {summary} ({manifest['total_seconds']:.1f} s in all)")
    return manifest

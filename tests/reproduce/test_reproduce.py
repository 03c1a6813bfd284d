"""`dynconv reproduce`: tables built by the evaluation path itself, the paper's values, files, errors.

Data tests run on a reduced setting: tiny stand-in models (perturbed so each differs from
bicubic and from the others) in a temporary models folder, and a data folder linking a few
Set5/Set14 images.
"""
from __future__ import annotations

import csv
import json
import math
import shutil

import numpy as np
import pytest

from dynconv import reproduce, sr
from dynconv.cli import main
from dynconv.sr import metrics, models

STAND_INS = ("srcnn-x2", "srcnn-x3", "srcnn-x4", "srcnn-x234", "srcnn-any", "dcnn-x234", "dcnn-any")
SMALL = {"Set5": ("bird", "butterfly", "woman"), "Set14": ("face",)}


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """Tiny residual models under the shipped file names, with random (not zero) last layers."""
    d = tmp_path_factory.mktemp("models")
    rng = np.random.default_rng(6)
    for i, name in enumerate(STAND_INS):
        build = models.dcnn if name.startswith("dcnn") else models.srcnn
        m = build(n1=8, n2=4, residual=True, name=name, seed=i)
        for node in m.graph.nodes.values():
            for k, v in node.layer.params.items():
                if k == "w" and not v.any():  # a zero-initialised layer would make the model bicubic
                    v[...] = rng.normal(0.0, 1e-2, v.shape)
        m.save(d / f"{name}.npz", meta={"run": {"step": 0, "wall_seconds": 1.0}})
    return d


@pytest.fixture(scope="module")
def small_data(tmp_path_factory, data_dir):
    """A data folder with a few of the shared images (links; copies where links fail)."""
    d = tmp_path_factory.mktemp("data")
    for ds, names in SMALL.items():
        (d / ds).mkdir()
        for n in names:
            src = data_dir / ds / f"{n}.png"
            try:
                (d / ds / src.name).symlink_to(src)
            except OSError:
                shutil.copy2(src, d / ds / src.name)
    return d


def _method(name, models_dir):
    """``name`` the way a user would evaluate it, ``dynconv evaluate --method PATH.npz``
    (``dcnn`` is the file ``dcnn-any.npz``)."""
    if name == "bicubic":
        return "bicubic"
    return name, sr.resolve(str(sr.weights_path(name, models_dir)))[1]


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


PAPER_T1 = reproduce.PAPER["table1"]["Set5"]


def _num(s):
    return None if s == "" else float(s)


# --------------------------------------------------------------------------- no data needed
def test_paper_values_agree_with_the_papers_own_text():
    t1, t2, t3 = PAPER_T1, reproduce.PAPER["table2"], reproduce.PAPER["table3"]["Set5"]
    m2 = t1[(2, "mean")]
    # Section 5C: "2.997 dB higher PSNR, 9.262 dB higher WPSNR, 0.0243 ... SSIM, 0.0031 ... MSSSIM" at x2.
    for k, gain in (("psnr", 2.997), ("wpsnr", 9.262), ("ssim", 0.0243), ("msssim", 0.0031)):
        assert m2["cnn"][k] - m2["bicubic"][k] == pytest.approx(gain, abs=1e-9)
    # Section 5D: butterfly YCbCr CNN PSNR is 6.551 dB above HSV and 4.423 dB above RGB.
    y = t2[("butterfly", "ycbcr")]["cnn"]["psnr"]
    assert y - t2[("butterfly", "hsv")]["cnn"]["psnr"] == pytest.approx(6.551)
    assert y - t2[("butterfly", "rgb")]["cnn"]["psnr"] == pytest.approx(4.423)
    # Section 5E quotes the DCNN column; Table 3's diagonal is Table 1's CNN means.
    assert [t3[s]["dcnn"]["psnr"] for s in (2, 3, 4)] == [36.344, 32.394, 30.086]
    assert [t3[s][f"srcnn-x{s}"]["psnr"] for s in (2, 3, 4)] == [t1[(s, "mean")]["cnn"]["psnr"] for s in (2, 3, 4)]
    # Each mean row is the mean of its five images (to the paper's rounding).
    for s in (2, 3, 4):
        for meth in ("bicubic", "cnn"):
            imgs = [t1[(s, n)][meth]["psnr"] for n in ("baby", "bird", "butterfly", "head", "woman")]
            assert np.mean(imgs) == pytest.approx(t1[(s, "mean")][meth]["psnr"], abs=2e-3)


def test_markdown_merges_paper_and_difference_and_csv_keeps_them_apart():
    row = {"dataset": "Set5", "scale": 2, "metric": "ssim", "m": 0.91234, "m_paper": 0.9, "m_diff": 0.01234,
           "n": 30.0, "n_paper": None, "n_diff": None}
    t = reproduce.Table(key="t", title="T", columns=["dataset", "scale", "metric", "m", "m_paper", "m_diff",
                                                     "n", "n_paper", "n_diff"], rows=[row], notes=["note"])
    md = reproduce.to_markdown(t)
    assert "| dataset | scale | metric | m | n |" in md
    assert "| Set5 | 2 | SSIM | 0.9123 (0.9, +0.0123) | 30.0000 |" in md and "- note" in md
    (rec,) = csv.DictReader(reproduce.to_csv(t).splitlines())
    assert float(rec["m"]) == 0.91234 and rec["n_paper"] == "" and list(rec) == t.columns


def test_missing_weights_is_one_line_naming_the_file_and_the_train_command(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["reproduce", "--table", "3", "--models-dir", str(tmp_path), "--out", str(out)])
    _, err = capsys.readouterr()
    assert rc == 1 and err.count("\n") == 1 and err.startswith("dynconv: error: ")
    assert str(tmp_path / "srcnn-x2.npz") in err
    assert "`dynconv train --config configs/srcnn-x2.toml`" in err and "dcnn-any" in err
    assert not out.exists()  # checked before any work


# --------------------------------------------------------------------------- reduced data
@pytest.mark.data
def test_table3_cli_numbers_are_the_evaluate_numbers(tmp_path, capsys, small_data, models_dir, monkeypatch):
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)  # `--threads` in-process must not leak into later tests
    out = tmp_path / "out"
    rc = main(["reproduce", "--table", "3", "--data-dir", str(small_data), "--models-dir", str(models_dir),
               "--out", str(out), "--threads", "1"])
    stdout, _ = capsys.readouterr()
    assert rc == 0 and "Table 3:" in stdout
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["manifest.json", "results.md", "table3_set14.csv", "table3_set14.md", "table3_set5.csv", "table3_set5.md"])

    names = ["bicubic", "srcnn-x2", "srcnn-x3", "srcnn-x4", "dcnn", "srcnn-x234"]
    for ds in ("Set5", "Set14"):
        direct = sr.evaluate([ds], [2, 3, 4], [_method(n, models_dir) for n in names], ("psnr", "ssim"),
                                  data_dir=small_data)
        means = {(r["scale"], r["method"]): r for r in direct if r["image"] == "mean"}
        rows = _read_csv(out / f"table3_{ds.lower()}.csv")
        assert [(r["scale"], r["metric"]) for r in rows] == [(s, k) for s in "234" for k in ("psnr", "ssim")]
        for r in rows:
            s = int(r["scale"])
            for n in names:
                assert float(r[n]) == means[(s, n)][r["metric"]], (ds, s, n)  # exact: one code path
                paper = reproduce.PAPER["table3"].get(ds, {}).get(s, {}).get(n, {}).get(r["metric"])
                assert _num(r[f"{n}_paper"]) == paper
                if paper is None:
                    assert r[f"{n}_diff"] == ""
                else:
                    assert float(r[f"{n}_diff"]) == pytest.approx(float(r[n]) - paper, abs=1e-12)
    # Paper values exist for Set5's static CNNs, DCNN and bicubic, not for srcnn-x234 or Set14.
    s5 = _read_csv(out / "table3_set5.csv")[0]
    assert float(s5["srcnn-x2_paper"]) == 36.659 and float(s5["dcnn_paper"]) == 36.344
    assert s5["srcnn-x234_paper"] == "" and all(v == "" for k, v in _read_csv(out / "table3_set14.csv")[0].items()
                                                   if k.endswith("_paper"))
    md = (out / "table3_set5.md").read_text()
    summary = (out / "results.md").read_text()
    assert "dynconv reproduce --table 3" in summary and "### Table 3" in summary and "srcnn-x2.npz" in summary
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["sections"]) == {"3"} and manifest["sections"]["3"]["seconds"] >= 0
    assert "(36.659, " in md


@pytest.mark.data
def test_all_sections_write_their_files_with_paper_columns(tmp_path, small_data, models_dir):
    out = tmp_path / "docs" / "all"
    notes = tmp_path / "notes.md"
    notes.write_text("## Discussion\n\nHand-written notes.\n")
    lines = []
    manifest = reproduce.run("all", out, data_dir=small_data, models_dir=models_dir, log=lines.append,
                             summary=tmp_path / "docs" / "results.md", notes=notes)
    assert list(manifest["sections"]) == list(reproduce.SECTIONS) and len(lines) == len(reproduce.SECTIONS) + 1
    written = {p.name for p in out.iterdir()}
    for sec in manifest["sections"].values():
        assert set(sec["files"]) <= written
    assert {"table1_set5.csv", "table1_set14.csv", "table2.csv", "beyond.csv", "kernels.csv", "fig3_colour.png",
            "fig4_butterfly.png", "fig4_bird.png", "fig5_crossscale.png", "fig_kernels.png", "beyond_gain.png"} <= written
    assert all((out / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in written if f.endswith(".png"))

    # Table 1: per-image rows and the mean of the images present; the paper's values beside them.
    t1 = _read_csv(out / "table1_set5.csv")
    assert [(r["scale"], r["image"]) for r in t1] == [(s, i) for s in "234" for i in (*SMALL["Set5"], "mean")]
    bird2 = t1[0]
    assert float(bird2["bicubic_psnr_paper"]) == 36.808 and float(bird2["cnn_msssim_paper"]) == 0.9991
    assert float(bird2["bicubic_psnr"]) == pytest.approx(36.806, abs=1e-3)  # the data README's value
    x3 = sr.evaluate(["Set5"], [3], ["bicubic", _method("srcnn-x3", models_dir)], data_dir=small_data)
    by = {(r["image"], r["method"]): r for r in x3}
    for r in t1[4:8]:
        for k in metrics.METRICS:
            assert float(r[f"bicubic_{k}"]) == by[(r["image"], "bicubic")][k]
            assert float(r[f"cnn_{k}"]) == by[(r["image"], "srcnn-x3")][k]
    assert all(r[c] == "" for r in _read_csv(out / "table1_set14.csv") for c in r if c.endswith(("_paper", "_diff")))

    # Table 2: per colour model; the paper's "-" stays empty.
    t2 = {(r["image"], r["color"], r["metric"]): r for r in _read_csv(out / "table2.csv")}
    assert len(t2) == 2 * 3 * 4
    assert float(t2[("woman", "rgb", "psnr")]["srcnn-x3_paper"]) == 31.311
    assert t2[("woman", "rgb", "msssim")]["srcnn-x3_paper"] == "" and t2[("woman", "hsv", "wpsnr")]["bicubic_paper"] == ""
    assert t2[("woman", "rgb", "psnr")]["dcnn_paper"] == ""
    rgb = sr.evaluate(["Set5"], [3], [_method("srcnn-x3", models_dir)], data_dir=small_data, color="rgb")
    assert float(t2[("butterfly", "rgb", "ssim")]["srcnn-x3"]) == next(
        r["ssim"] for r in rgb if r["image"] == "butterfly")

    # Beyond: every factor, gains over bicubic.
    bey = _read_csv(out / "beyond.csv")
    assert [r["scale"] for r in bey[::2]][:8] == ["1.25", "1.5", "1.75", "2", "2.5", "3", "3.5", "4"]
    assert {r["dataset"] for r in bey} == {"Set5", "Set14"}
    for r in bey:
        for m in ("dcnn", "srcnn-any", "dcnn-x234"):
            assert float(r[f"{m}_gain"]) == pytest.approx(float(r[m]) - float(r["bicubic"]), abs=1e-12)

    # Kernels: one row per scale, zero difference of x2 to itself.
    kern = _read_csv(out / "kernels.csv")
    assert [r["scale"] for r in kern] == ["2", "3", "4"] and float(kern[0]["rel_diff_to_x2"]) == 0.0
    assert all(math.isfinite(float(r["spread_within_image"])) for r in kern)
    summary = (tmp_path / "docs" / "results.md").read_text()  # --summary beside the folder
    for title in ("## Discussion", "## Table 1", "## Table 2", "## Table 3", "## Figures",
                  "## Beyond the paper", "## Wall times"):
        assert title in summary
    assert "Hand-written notes." in summary and not (out / "results.md").exists()
    assert "![" in summary and "(all/fig_kernels.png)" in summary and "(all/table2.csv)" in summary


@pytest.mark.data
def test_reproduce_shows_its_sections_on_a_terminal_only(tmp_path, capsys, small_data, models_dir, monkeypatch):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    argv = ["reproduce", "--table", "2", "--data-dir", str(small_data), "--models-dir", str(models_dir)]
    for tty, extra in ((True, []), (False, []), (True, ["--no-progress"])):
        err = Terminal() if tty else io.StringIO()
        monkeypatch.setattr(sys, "stderr", err)
        assert main(argv + ["--out", str(tmp_path / f"out{len(extra)}{tty}")] + extra) == 0
        shown = tty and not extra
        assert ("1/1" in err.getvalue() and reproduce.SECTION_TITLES["2"] in err.getvalue()) == shown
        assert "wrote" in capsys.readouterr().out  # the log stays on stdout

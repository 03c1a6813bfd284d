"""The `dynconv` command, in-process (tests/_cli.py) unless a process is the point: demo, upscale, models, train, errors, exit codes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from PIL import Image

from dynconv import sr
from dynconv.sr import models
from dynconv.training import runlog

from _cli import run_cli, train_config_file


def run(*args, cwd=None, timeout=600):
    return run_cli(*args, cwd=cwd)


SHIPPED = sorted(p.stem for p in sr.WEIGHTS_DIR.glob("*.npz"))


def test_version_and_help():
    out = run("--version")
    assert out.returncode == 0 and out.stdout.startswith("dynconv ")
    out = run()
    assert out.returncode == 2
    for cmd in ("demo", "upscale", "evaluate", "train", "models", "gradcheck"):
        h = run(cmd, "--help")
        assert h.returncode == 0 and "usage: dynconv " + cmd in h.stdout


def test_models_lists_every_shipped_name():
    out = run("models")
    assert out.returncode == 0, out.stderr
    for name in ("dcnn", "dcnn-any", "dcnn-x234", "srcnn-any", "srcnn-x2", "srcnn-x3", "srcnn-x4", "srcnn-x234"):
        assert name in out.stdout


def test_demo_writes_the_figure(tmp_path):
    assert "dcnn-any" in SHIPPED, "the demo needs the shipped DCNN weights"
    out = run("demo", "--out", str(tmp_path / "demo.png"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    bic = float(lines[0].split("Y-PSNR")[1].split()[0])
    net = float(lines[1].split("Y-PSNR")[1].split()[0])
    assert net > bic  # the shipped DCNN beats bicubic on the demo photo
    img = Image.open(tmp_path / "demo.png")
    assert img.size[0] > 600 and img.size[1] > 200


@pytest.fixture
def images(tmp_path, rng):
    smooth = np.cumsum(np.cumsum(rng.random((40, 48)), 0), 1)
    smooth = (255 * (smooth - smooth.min()) / np.ptp(smooth)).astype(np.uint8)
    rgb = np.dstack([smooth, smooth[::-1], smooth[:, ::-1]])
    paths = {}
    for mode, arr in (("RGB", rgb), ("L", smooth), ("RGBA", np.dstack([rgb, np.full_like(smooth, 200)]))):
        paths[mode] = tmp_path / f"in_{mode}.png"
        Image.fromarray(arr, mode).save(paths[mode])
    return paths


@pytest.mark.parametrize("mode, model, color", [
    ("RGB", "bicubic", "ycbcr"), ("L", "bicubic", "ycbcr"), ("RGBA", "bicubic", "ycbcr"),
    ("RGB", "srcnn-x3", "rgb"), ("RGB", "dcnn", "hsv"), ("L", "dcnn", "ycbcr"),
])
def test_upscale(tmp_path, images, mode, model, color):
    if model != "bicubic" and sr.SHIPPED[model].stem not in SHIPPED:
        pytest.fail(f"shipped weights for {model} are missing")
    dst = tmp_path / f"out_{mode}_{model}.png"
    out = run("upscale", str(images[mode]), str(dst), "--scale", "3", "--model", model, "--color", color)
    assert out.returncode == 0, out.stderr
    res = np.asarray(Image.open(dst))
    assert res.shape[:2] == (120, 144)
    assert res.ndim == (2 if mode == "L" else 3)


def test_upscale_warns_only_where_the_model_was_not_trained(tmp_path, images):
    from dynconv.sr import factor_warning

    assert "x1.5" in factor_warning("dcnn-x234", 1.5) and "dcnn works at any factor" in factor_warning("dcnn-x234", 1.5)
    assert factor_warning("dcnn-x234", 3) is None  # a factor its B was trained to recognise
    for s in (1.2, 1.5, 2.5, 3.7, 4):
        assert factor_warning("dcnn", s) is None  # trained from x1.2 to x4
    assert "outside that range" in factor_warning("dcnn", 6)
    assert factor_warning("srcnn-x234", 1.5) is None and factor_warning("bicubic", 1.5) is None
    out = run("upscale", str(images["L"]), str(tmp_path / "o.png"), "--scale", "2.5", "--model", "dcnn-x234")
    assert out.returncode == 0 and "warning: dcnn-x234 recognises the factors x2, x3, x4" in out.stderr
    out = run("upscale", str(images["L"]), str(tmp_path / "o.png"), "--scale", "2.5", "--model", "dcnn")
    assert out.returncode == 0 and "warning" not in out.stderr


def test_upscale_model_path_and_bicubic_agree_with_library(tmp_path, images):
    from dynconv.sr import image

    m = models.srcnn(n1=8, n2=4, residual=True, name="tiny")
    m.save(tmp_path / "tiny.npz")
    dst = tmp_path / "o.png"
    out = run("upscale", str(images["L"]), str(dst), "--scale", "2", "--model", str(tmp_path / "tiny.npz"))
    assert out.returncode == 0, out.stderr
    # A fresh residual network is bicubic, so the file equals the library's bicubic upscale
    # up to float32 rounding (a pixel at exactly .5 may round the other way).
    want = sr.super_resolve_lr(image.read_image(images["L"]), 2, "bicubic").astype(int)
    diff = np.abs(np.asarray(Image.open(dst)).astype(int) - want)
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01


@pytest.mark.parametrize("args, code, message", [
    (["upscale", "/nonexistent/in.png", "out.png", "--scale", "2"], 1, "/nonexistent/in.png"),
    (["upscale", "IN", "out.png", "--scale", "0.5"], 2, "scale must be between 1 and 16"),
    (["upscale", "IN", "out.png", "--scale", "abc"], 2, "not a number"),
    (["upscale", "IN", "out.png", "--scale", "2", "--model", "vdsr"], 1, "unknown method 'vdsr'"),
    (["upscale", "IN", "out.png", "--scale", "2", "--model", "missing.npz"], 1, "model file not found"),
    (["upscale", "NOTIMAGE", "out.png", "--scale", "2"], 1, "notimage.txt"),
    (["train", "--config", "nope.toml"], 1, "config file not found"),
    (["evaluate", "--dataset", "NoSuchSet", "--scale", "2"], 1, "NoSuchSet"),
])
def test_errors_are_one_line(tmp_path, images, args, code, message):
    (tmp_path / "notimage.txt").write_text("hello")
    args = [str(images["RGB"]) if a == "IN" else str(tmp_path / "notimage.txt") if a == "NOTIMAGE" else a
            for a in args]
    out = run(*args, cwd=tmp_path)
    assert out.returncode == code, (out.stdout, out.stderr)
    assert message.lower() in out.stderr.lower()
    if code == 1:
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


@pytest.mark.data
def test_evaluate_json_with_a_model(tmp_path):
    m = models.srcnn(n1=8, n2=4, residual=True, name="tiny")
    m.save(tmp_path / "tiny.npz")
    out = run("evaluate", "--method", "bicubic", str(tmp_path / "tiny.npz"), "--dataset", "Set5",
              "--scale", "3", "--metrics", "psnr", "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    by = {r["method"]: r["psnr"] for r in rows}
    tiny = str(tmp_path / "tiny.npz")  # a file is labelled by its path as given, never by its header's name
    assert set(by) == {"bicubic", tiny}
    assert abs(by["bicubic"] - 30.39) < 0.01 and abs(by[tiny] - by["bicubic"]) < 1e-9  # fresh = bicubic


@pytest.mark.data
@pytest.mark.parametrize("flag, threads", [([], 2), (["--threads", "1"], 1)])
def test_train_runs_on_the_recipes_threads_unless_told_otherwise(tmp_path, small_set, flag, threads):
    from dynconv import kernels

    cfg = train_config_file(tmp_path, small_set, train={"steps": "3", "batch_size": "8", "lr": "1e-3", "threads": "2"})
    before = kernels.get_threads()
    daemons_before = {t.name for t in threading.enumerate() if t.daemon}
    try:
        out = run("train", "--config", cfg, "--out", tmp_path / "run", "--no-progress", *flag)
        assert out.returncode == 0, out.stderr
        assert kernels.get_threads() == threads
        # A daemon thread still alive when CPython 3.11 shuts down can abort the process.
        assert not [t.name for t in threading.enumerate() if t.daemon and t.name not in daemons_before]
    finally:
        kernels.set_threads(before)
    assert sr.load_model(tmp_path / "run" / "model.npz").meta["threads"] == threads


@pytest.mark.data
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_weights_reproduce_their_recorded_scores(name, data_dir):
    """Each shipped weight file loads and reproduces the Set5 PSNR in its header within 0.01 dB."""
    from dynconv.training import train

    model = sr.load_model(name)
    recorded = model.meta["scores"]["Set5"]
    scales = [float(k[1:]) for k in recorded]
    got = runlog.set5_psnr(model, scales, data_dir=data_dir)
    for s in scales:
        assert abs(got[s] - recorded[f"x{s:g}"]["psnr"]) <= 0.01, (name, s, got[s])
    assert model.meta["training_wall_seconds"] > 0 and "seed" in model.meta


@pytest.mark.parametrize("seed", ["-1", str(2**32), "x"])
def test_gradcheck_bad_seed_names_the_option(capsys, seed):
    from dynconv.cli import main

    with pytest.raises(SystemExit) as info:
        main(["gradcheck", "--seed", seed])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --seed" in err and "Traceback" not in err


def test_sigterm_while_writing_is_exit_143_without_a_traceback(monkeypatch, capsys):
    from dynconv import cli
    from dynconv.fileio import Terminated

    def terminated(args):
        raise Terminated()

    monkeypatch.setattr(cli, "_cmd_gradcheck", terminated)
    assert cli.main(["gradcheck"]) == 143
    assert capsys.readouterr().err.strip() == "dynconv: terminated"


@pytest.mark.parametrize("delay", [0.2, 0.5])
@pytest.mark.parametrize("entry", [["-m", "dynconv"], ["-c", "import sys; from dynconv.cli import main; sys.exit(main())"]])
def test_an_early_ctrl_c_is_exit_130_without_a_traceback(tmp_path, entry, delay):
    import signal
    import time

    # while the interpreter starts, the package is imported and the parser is built
    for wait in (delay, 2 * delay, 4 * delay, 8 * delay):
        proc = subprocess.Popen([sys.executable, *entry, "upscale", "a.png", "b.png", "--scale", "2"],
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        time.sleep(wait)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        # On a busy machine the signal can come before the interpreter runs any code of ours
        # (CPython's own "Could not import runpy module"); that tested nothing: wait longer.
        if "Could not import runpy" not in err and "<frozen" not in err.split("dynconv")[0]:
            break
    assert "Traceback" not in err
    if proc.returncode == 1:  # it finished first: the one-line error for the missing input
        assert err.strip().startswith("dynconv: error:") and "a.png" in err, err
    else:
        assert (proc.returncode, err.strip()) == (130, "dynconv: interrupted")


def test_ctrl_c_while_the_parser_is_built_or_inside_an_import_is_exit_130(monkeypatch, capsys):
    from dynconv import cli

    def interrupted():
        raise KeyboardInterrupt

    def import_interrupted(args):  # NumPy re-raises an interrupted import as an ImportError
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise ImportError("C-extensions failed") from exc

    with monkeypatch.context() as m:
        m.setattr(cli, "build_parser", interrupted)
        assert cli.main(["gradcheck"]) == 130
    monkeypatch.setattr(cli, "_cmd_gradcheck", import_interrupted)
    assert cli.main(["gradcheck"]) == 130
    assert capsys.readouterr().err.splitlines() == ["dynconv: interrupted"] * 2

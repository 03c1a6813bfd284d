"""Every expected failure of the `dynconv` command: one line on stderr, the right exit code, no
traceback, and no changed or partial files.

Exit codes: 1 for an error the user can act on (``dynconv: error: ...``), 2 for a usage error,
130 for Ctrl-C and 143 for SIGTERM (a training run saves its last good state first).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dynconv import checkpoint
from dynconv.sr import models

from _cli import run_cli, train_config_file as _config_file


def run(*args, cwd=None, env=None, timeout=600):
    return run_cli(*args, cwd=cwd, env=dict(os.environ) | (env or {}), timeout=timeout)


def snapshot(folder):
    """{relative path: bytes} of every file under ``folder`` (hidden ones included)."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def assert_one_line_error(out, code=1, *needles):
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    if code == 1:
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("dynconv: error: "), out.stderr
    for n in needles:
        assert n.lower() in out.stderr.lower(), (n, out.stderr)


@pytest.fixture
def picture(tmp_path):
    rgb = np.dstack([np.tile(np.arange(48, dtype=np.uint8) * 5, (40, 1))] * 3)
    path = tmp_path / "pic.png"
    Image.fromarray(rgb).save(path)
    return path


# --------------------------------------------------------------------------- configs


@pytest.mark.data
@pytest.mark.parametrize("section, key, value, message", [
    ("train", "lr", '"fast"', 'train.lr must be a positive number, got "fast"'),
    ("train", "lr", "-1e-3", "train.lr must be a positive number, got -0.001"),
    ("train", "batch_size", "0", "train.batch_size must be an integer >= 1, got 0"),
    ("train", "batch_size", "16.5", "train.batch_size must be an integer >= 1, got 16.5"),
    ("data", "scales", "2", "data.scales must be a non-empty list"),
    ("train", "steps", '"40"', 'train.steps must be an integer >= 1, got "40"'),
    ("eval", "every", "-1", "eval.every must be an integer >= 0, got -1"),
    ("eval", "dataset", '"Set55"', "eval.dataset: unknown data set 'Set55'"),
    ("train", "schedule", '"linear"', "train.schedule must be one of"),
    ("train", "optimizer", '"rmsprop"', "train.optimizer must be one of"),
    ("train", "learning_rate", "1", "unknown key 'learning_rate'"),
])
def test_bad_config_values_are_one_line_naming_the_key(tmp_path, small_set, section, key, value, message):
    cfg = _config_file(tmp_path, small_set, **{section: {key: value}})
    out = run("train", "--config", str(cfg), "--out", str(tmp_path / "run"), "--no-progress")
    assert_one_line_error(out, 1, message)
    assert not (tmp_path / "run").exists() or snapshot(tmp_path / "run") == {}


@pytest.mark.parametrize("args, message", [
    (["train", "--config", "x.toml", "--steps", "0"], "must be >= 1"),
    (["evaluate", "--scale", "0"], "scale must be between 1 and 16"),
    (["upscale", "a.png", "b.png", "--scale", "0"], "scale must be between 1 and 16"),
    (["upscale", "a.png", "b.png", "--scale", "2", "--threads", "0"], "must be >= 1"),
    (["frobnicate"], "invalid choice"),
])
def test_usage_errors_exit_2(tmp_path, args, message):
    assert_one_line_error(run(*args, cwd=tmp_path), 2, message)


# --------------------------------------------------------------------------- models


def _tiny(tmp_path):
    m = models.srcnn(n1=8, n2=4, residual=True, name="tiny")
    m.save(tmp_path / "tiny.npz")
    return m, tmp_path / "tiny.npz"


def _rewrite_header(path, change):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(arrays["__header__"].tobytes())
    change(header, arrays)
    arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(path, **arrays)


@pytest.mark.parametrize("damage, message", [
    (lambda h, a: h.update(params=None), "corrupt header: 'params' must be a JSON object, got null"),
    (lambda h, a: a.update({"param/conv1.w": np.full_like(a["param/conv1.w"], np.nan)}), "are not finite"),
    (lambda h, a: h["config"].update(arch="resnet"), "its model config cannot be built"),
])
def test_damaged_model_files_are_refused(tmp_path, picture, damage, message):
    _, path = _tiny(tmp_path)
    _rewrite_header(path, damage)
    out = run("upscale", str(picture), str(tmp_path / "o.png"), "--scale", "2", "--model", str(path))
    assert_one_line_error(out, 1, message, str(path))
    assert not (tmp_path / "o.png").exists()


def test_a_text_file_named_npz_is_not_numpy_advice(tmp_path, picture):
    (tmp_path / "m.npz").write_text("not weights")
    out = run("upscale", str(picture), str(tmp_path / "o.png"), "--scale", "2", "--model", str(tmp_path / "m.npz"))
    assert_one_line_error(out, 1, "not an .npz archive")
    assert "pickle" not in out.stderr


@pytest.mark.parametrize("name", ["M.NPZ", "weights"])
def test_model_files_with_other_extensions_are_models(tmp_path, picture, name):
    _, path = _tiny(tmp_path)
    shutil.copy(path, tmp_path / name)
    out = run("upscale", str(picture), str(tmp_path / "o.png"), "--scale", "2", "--model", str(tmp_path / name))
    assert out.returncode == 0, out.stderr


def test_unknown_method_lists_every_shipped_model(tmp_path, picture):
    out = run("upscale", str(picture), str(tmp_path / "o.png"), "--scale", "2", "--model", "srcnn-x5")
    assert_one_line_error(out, 1, "unknown method 'srcnn-x5'", "dcnn", "srcnn-x2", "srcnn-x234")


def test_models_lists_good_files_and_marks_a_broken_one(tmp_path):
    from dynconv import sr

    weights = tmp_path / "weights"
    shutil.copytree(sr.WEIGHTS_DIR, weights)
    (weights / "srcnn-x3.npz").write_bytes(b"PK\x03\x04 damaged")
    out = run("models", env={"DYNCONV_WEIGHTS": str(weights)})
    assert out.returncode == 1 and "Traceback" not in out.stderr
    rows = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
    assert "BROKEN" in rows["srcnn-x3"] and "shipped" in rows["srcnn-x2"] and "shipped" in rows["dcnn"]
    assert out.stderr.strip() == "dynconv: error: 1 weights file(s) are damaged (marked BROKEN above)"


# --------------------------------------------------------------------------- files and images


def test_output_errors_name_the_output_and_come_before_any_work(tmp_path, picture):
    cases = [(tmp_path / "o.xyz", "unknown output image format '.xyz'"),
             (tmp_path / "missing" / "o.png", "the folder"),
             (picture, "would overwrite the input")]
    before = snapshot(tmp_path)
    for dst, message in cases:
        out = run("upscale", str(picture), str(dst), "--scale", "2", "--model", "dcnn")
        assert_one_line_error(out, 1, message, str(dst))
        assert ".tmp" not in out.stderr
    assert snapshot(tmp_path) == before


def test_oversized_image_header_is_one_line(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 40_000, 40_000, 8, 2, 0, 0, 0)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    (tmp_path / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                                        + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b""))
    out = run("upscale", str(tmp_path / "bomb.png"), str(tmp_path / "o.png"), "--scale", "2", "--model", "bicubic")
    assert_one_line_error(out, 1, "bomb.png", "pixel")
    assert not (tmp_path / "o.png").exists()


@pytest.mark.parametrize("size, metrics, message", [
    ((2, 2), "psnr", "tiny/a"), ((24, 24), "psnr,msssim", "--metrics"),
])
def test_small_images_name_the_image(tmp_path, size, metrics, message):
    (tmp_path / "tiny").mkdir()
    Image.fromarray(np.full(size, 128, np.uint8)).save(tmp_path / "tiny" / "a.png")
    out = run("evaluate", "--dataset", str(tmp_path / "tiny"), "--scale", "2", "--metrics", metrics)
    assert_one_line_error(out, 1, message)


@pytest.mark.data
def test_reproduce_checks_its_inputs_before_writing(tmp_path):
    out_dir = tmp_path / "results"
    out_dir.mkdir()
    (out_dir / "keep.md").write_text("old results")
    out = run("reproduce", "--table", "2", "--out", str(out_dir), "--notes", str(tmp_path / "missing.md"))
    assert_one_line_error(out, 1, "missing.md")
    assert snapshot(out_dir) == {"keep.md": b"old results"}
    assert [p.name for p in tmp_path.iterdir()] == ["results"]  # no staging folder left behind


# --------------------------------------------------------------------------- training runs


@pytest.mark.data
def test_resume_with_another_runs_checkpoint_changes_nothing(tmp_path, small_set):
    cfg = _config_file(tmp_path, small_set, train={"steps": "4"})
    first = run("train", "--config", str(cfg), "--out", str(tmp_path / "run"), "--no-progress")
    assert first.returncode == 0, first.stderr
    before = snapshot(tmp_path / "run")
    other = _config_file(tmp_path, small_set, data={"scales": "[4]"}, train={"steps": "8"})
    out = run("train", "--config", str(other), "--out", str(tmp_path / "run"), "--no-progress",
              "--resume", str(tmp_path / "run" / "checkpoint.npz"))
    assert_one_line_error(out, 1, "belongs to another run", "data.scales: [3] → [4]")
    assert snapshot(tmp_path / "run") == before


@pytest.mark.data
def test_a_second_run_into_the_same_folder_is_refused(tmp_path, small_set):
    from dynconv.fileio import RunLock

    cfg = _config_file(tmp_path, small_set)
    with RunLock(tmp_path / "run"):
        out = run("train", "--config", str(cfg), "--out", str(tmp_path / "run"), "--no-progress")
    assert_one_line_error(out, 1, f"is in use by another run (pid {os.getpid()}")


@pytest.mark.data
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signals_save_the_last_good_state(tmp_path, small_set, sig, code):
    cfg = _config_file(tmp_path, small_set, train={"steps": "100000"}, checkpoint={"every_minutes": "60.0"},
                       eval={"every": "3"})
    # A job started in the background of a non-interactive shell (as CI may run the suite)
    # inherits SIGINT ignored, and Python then never raises KeyboardInterrupt: give the run the
    # default disposition a terminal's Ctrl-C meets.
    proc = subprocess.Popen([sys.executable, "-m", "dynconv", "train", "--config", str(cfg), "--out",
                             str(tmp_path / "run"), "--no-progress"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 300
        while not (tmp_path / "run" / "log.csv").exists():  # in the loop: an evaluation was logged
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        proc.kill()
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    ck = checkpoint.load(tmp_path / "run" / "checkpoint.npz")
    assert ck.step >= 3 and all(np.isfinite(v).all() for v in ck.params.values())
    assert f"the last good state (step {ck.step})" in stderr
    assert not (tmp_path / "run" / ".lock").exists()

"""Progress bars: on stderr when it is a terminal, nowhere when it is a pipe or with --no-progress,
and stdout unchanged (dynconv.console.progress and the commands that use it)."""
from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import struct
import subprocess
import sys
import termios

import numpy as np
import pytest
from PIL import Image

from dynconv.cli import main
from dynconv.console import progress

BAR = "|"  # tqdm draws "  50%|#####     | 1/2 [...]"


class Terminal(io.StringIO):
    """A stderr that says it is a terminal, as a pty does."""

    def isatty(self):
        return True


def _run(argv, monkeypatch, capsys, tty):
    err = Terminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    rc = main(argv)
    return rc, capsys.readouterr().out, err.getvalue()


def test_bar_shows_on_a_terminal_only_and_never_when_disabled():
    for stream, enabled, shown in ((Terminal(), True, True), (io.StringIO(), True, False),
                                   (Terminal(), False, False)):
        with progress.bar(3, "work", file=stream, enabled=enabled) as b:
            progress.advance(b, 2, 4, "half")
            assert b.total == 4 and b.n == (2 if shown else 0)  # a disabled tqdm does not count
        assert (("half" in stream.getvalue()) and ("2/4" in stream.getvalue())) == shown


def test_bars_start_no_thread():
    """tqdm's monitor is a daemon thread, and one alive at exit can abort CPython 3.11."""
    code = ("import io, threading\n"
            "from dynconv.console import progress\n"
            "for enabled in (True, False):\n"
            "    with progress.bar(3, 'work', file=io.StringIO(), enabled=enabled) as b:\n"
            "        b.update(2)\n"
            "print(sorted(t.name for t in threading.enumerate()))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["['MainThread']"]


def test_a_bar_is_still_a_tqdm_bar():
    from tqdm import tqdm

    with progress.bar(2, file=io.StringIO(), enabled=False) as b:
        assert isinstance(b, tqdm) and type(b).monitor_interval == 0 and tqdm.monitor_interval != 0


@pytest.fixture
def small_png(tmp_path):
    p = tmp_path / "in.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(p)
    return p


@pytest.mark.parametrize("many", [False, True])
def test_upscale_progress_on_a_terminal_only(small_png, tmp_path, monkeypatch, capsys, many):
    dest = ["--out-dir", str(tmp_path / "big")] if many else [str(tmp_path / "out.png")]
    argv = ["upscale", str(small_png), *dest, "--scale", "2", "--model", "bicubic"]
    rc, out_tty, err = _run(argv, monkeypatch, capsys, tty=True)
    assert rc == 0 and BAR in err and ("file" in err if many else "row" in err)
    rc, out_pipe, err = _run(argv, monkeypatch, capsys, tty=False)
    assert rc == 0 and err == "" and out_pipe == out_tty
    rc, _, err = _run(argv + ["--no-progress"], monkeypatch, capsys, tty=True)
    assert rc == 0 and err == ""


@pytest.mark.data
def test_evaluate_progress_names_the_set_and_method_and_leaves_json_alone(monkeypatch, capsys):
    argv = ["evaluate", "--method", "bicubic", "--dataset", "Set5", "--scale", "2", "--metrics", "psnr",
            "--format", "json"]
    rc, out_tty, err = _run(argv, monkeypatch, capsys, tty=True)
    assert rc == 0 and "5/5" in err and "Set5 x2 bicubic" in err
    rc, out_pipe, err = _run(argv, monkeypatch, capsys, tty=False)
    assert rc == 0 and err == "" and json.loads(out_pipe) == json.loads(out_tty)
    rc, _, err = _run(argv + ["--no-progress"], monkeypatch, capsys, tty=True)
    assert rc == 0 and err == ""


@pytest.mark.data
def test_data_verify_counts_the_files_on_a_terminal_only(monkeypatch, capsys):
    rc, out_tty, err = _run(["data", "verify"], monkeypatch, capsys, tty=True)
    n = int(out_tty.split()[0])  # "<n> files OK in ..."
    assert rc == 0 and f"{n}/{n}" in err
    rc, out_pipe, err = _run(["data", "verify"], monkeypatch, capsys, tty=False)
    assert rc == 0 and err == "" and out_pipe == out_tty
    rc, _, err = _run(["data", "verify", "--no-progress"], monkeypatch, capsys, tty=True)
    assert rc == 0 and err == ""


@pytest.mark.data
def test_a_real_pseudo_terminal_gets_the_bar_and_a_pipe_does_not():
    """The same through a process: stderr a pty, then a pipe."""
    cmd = [sys.executable, "-m", "dynconv", "data", "verify"]
    main_fd, sub_fd = pty.openpty()
    fcntl.ioctl(sub_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # a terminal's size
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=sub_fd, timeout=120)
    os.close(sub_fd)
    chunks = []
    while True:
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:  # EIO: the terminal's other side is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main_fd)
    assert proc.returncode == 0 and BAR in b"".join(chunks).decode(errors="replace")
    piped = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 0 and piped.stderr == "" and piped.stdout == proc.stdout.decode()

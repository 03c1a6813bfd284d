"""`make lab`: the notebooks extra installs and JupyterLab serves the seven notebooks (slow: it
installs JupyterLab into the project's .venv)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_make_lab_serves_the_notebooks(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[notebooks]"], check=True,
                   timeout=900)
    port = _free_port()
    # What `make lab` runs, on a free port with a known token.
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ServerApp.root_dir={ROOT / 'notebooks'}",
           f"--ServerApp.port={port}", "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=t0ken"]
    cmd += ["--allow-root"] if os.geteuid() == 0 else []  # as the Makefile does
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        listing = None
        for _ in range(120):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/?token=t0ken", timeout=2) as r:
                    listing = json.load(r)
                break
            except OSError:
                time.sleep(0.5)
        assert listing is not None, "JupyterLab did not answer"
        names = {c["name"] for c in listing["content"]}
        expected = {p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.py")}
        assert len(expected) == 8 and expected <= names
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "http://127.0.0.1" in server.stderr.read()  # it printed the URL to open

"""The built wheel carries the data sets, and an installed (not editable) dynconv finds them.

The wheel is built from a copy of the source tree (nothing is written into the checkout), then
unpacked with ``pip install --no-deps --target`` and run from an unrelated folder with the test
environment's dependencies: the installed copy must find its own data without ``DYNCONV_DATA``.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from dynconv.sr import datasets as D
from dynconv.sr import datasets as S

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("setup.py", "setup.cfg", "pyproject.toml", "MANIFEST.in", "README.md", "src", "data")


def _pip(*args, cwd=None):
    out = subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, cwd=cwd,
                         timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    if not (REPO / "setup.py").is_file():
        pytest.skip("not a source checkout")
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        p = REPO / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "shipped_data"))
        else:
            shutil.copy2(p, src / name)
    out = tmp_path_factory.mktemp("wheel")
    _pip("wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(out), str(src))
    (whl,) = out.glob("dynconv-*.whl")
    return whl


@pytest.mark.data
def test_wheel_holds_every_checksummed_image(wheel, data_dir):
    listed = S.read_checksums(data_dir / D.CHECKSUMS)
    prefix = "dynconv/shipped_data/"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        assert {prefix + D.CHECKSUMS, prefix + "README.md"} <= names
        for rel, digest in listed.items():
            assert hashlib.sha256(z.read(prefix + rel)).hexdigest() == digest, rel
        assert z.read(prefix + D.CHECKSUMS) == (data_dir / D.CHECKSUMS).read_bytes()
    shipped = sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file())
    assert wheel.stat().st_size > shipped  # PNGs do not compress: the data are really inside


@pytest.mark.data
def test_installed_package_finds_its_data_from_any_folder(wheel, tmp_path):
    site = tmp_path / "site"
    _pip("install", "--quiet", "--no-deps", "--no-index", "--target", str(site), str(wheel))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DYNCONV_DATA", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)

    def run(*args):
        out = subprocess.run([sys.executable, "-m", "dynconv", *args], capture_output=True, text=True,
                             cwd=elsewhere, env=env, timeout=600)
        assert out.returncode == 0, out.stderr
        return out.stdout

    listing = run("data", "list")
    assert f"data folder: {site / 'dynconv' / 'shipped_data'} (shipped)" in listing
    assert str(REPO) not in listing
    rows = json.loads(run("evaluate", "--method", "bicubic", "--dataset", "Set5", "--scale", "3",
                          "--metrics", "psnr", "--format", "json"))
    assert [round(r["psnr"], 2) for r in rows] == [30.39]
    assert "110 files OK" in run("data", "verify")


@pytest.mark.slow
@pytest.mark.data
def test_pip_install_into_a_clean_venv(wheel, tmp_path):
    """The user's path: a new venv, ``pip install`` with dependencies, ``dynconv`` from anywhere."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    out = subprocess.run([str(py), "-m", "pip", "install", "--quiet", str(wheel)], capture_output=True,
                         text=True, timeout=1800)
    assert out.returncode == 0, out.stdout + out.stderr
    env = {k: v for k, v in os.environ.items() if k not in ("DYNCONV_DATA", "PYTHONPATH")}
    out = subprocess.run([str(venv / "bin" / "dynconv"), "evaluate", "--method", "bicubic", "--dataset", "Set5",
                          "--scale", "3", "--format", "json"], capture_output=True, text=True, cwd=tmp_path,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    assert [round(r["psnr"], 2) for r in json.loads(out.stdout)] == [30.39]

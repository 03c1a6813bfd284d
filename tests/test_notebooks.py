"""The notebooks run headless, top to bottom, with errors fatal and ``DYNCONV_FAST=1``.

Every ``notebooks/NN_*.py`` (jupytext ``py:percent``, the source of truth) is read in memory and
executed by nbclient through ``notebooks/run_all.py`` — the same code ``make notebooks`` uses —
in an ipykernel running on this test's interpreter (the venv's ``sys.executable``), with
``notebooks/`` as the working directory and a timeout per cell. A notebook's numerical checks are
``assert`` statements, so a wrong derivation fails here. Nothing is written to disk.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
#: Per cell, with DYNCONV_FAST=1 (the longest fast cell takes a few seconds).
CELL_TIMEOUT = 600  # generous: a loaded 2-core machine can be 5x slower than a quiet one


def _load_runner():
    spec = importlib.util.spec_from_file_location("dynconv_notebook_runner", NOTEBOOK_DIR / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pytestmark = pytest.mark.notebooks
runner = _load_runner()
NOTEBOOKS = runner.notebook_sources(NOTEBOOK_DIR)


def test_notebooks_found():
    assert NOTEBOOKS, f"no notebooks matching {runner.PATTERN} in {NOTEBOOK_DIR}"


#: The two notebooks that train and reproduce the tables take 30-60 s each on this 2-core
#: machine: `make test-all` runs them (their staleness and exercises are checked in `make test`).
LONG_NOTEBOOKS = {"04_training_srcnn_and_dcnn_on_cpu", "05_reproducing_the_tables"}


@pytest.mark.parametrize("path", [pytest.param(p, marks=pytest.mark.slow) if p.stem in LONG_NOTEBOOKS else p
                                  for p in NOTEBOOKS], ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path):
    nb = runner.execute_notebook(path, fast=True, timeout=CELL_TIMEOUT, cwd=NOTEBOOK_DIR)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{path.name} has no code cells"
    assert all(c.get("execution_count") for c in code), f"{path.name}: a code cell did not run"
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: {errors[0]['ename']}: {errors[0]['evalue']}"


def test_kernel_is_this_interpreter_and_fast(tmp_path):
    """The kernel runs on sys.executable, sees DYNCONV_FAST=1 and starts in the given folder."""
    probe = tmp_path / "00_probe.py"
    probe.write_text("# %%\nimport os, sys\nprint(sys.executable, os.environ.get('DYNCONV_FAST'), os.getcwd(), sep='\\n')\n")
    nb = runner.execute_notebook(probe, fast=True, timeout=CELL_TIMEOUT, cwd=tmp_path)
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    exe, fast, cwd = text.splitlines()
    assert os.path.realpath(exe) == os.path.realpath(sys.executable)
    assert fast == "1"
    assert os.path.realpath(cwd) == os.path.realpath(tmp_path)

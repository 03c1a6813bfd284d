"""Every stored ``.ipynb`` belongs to its ``py:percent`` source: same code cells, outputs from it.

The ``.py`` files in ``notebooks/`` are the source of truth and the ``.ipynb`` files carry the
outputs, written by ``notebooks/run_all.py``. A ``.py`` edited without re-running leaves a stale
``.ipynb``: its code cells differ, or (an edit of prose or a re-run elsewhere) the SHA-256 of the
source that ``run_all.py`` recorded in the metadata is not the current source's. Nothing is
executed here, so this test is fast.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"


def _load_runner():
    spec = importlib.util.spec_from_file_location("dynconv_notebook_runner", NOTEBOOK_DIR / "run_all.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


runner = _load_runner()
NOTEBOOKS = runner.notebook_sources(NOTEBOOK_DIR)


def code_cells(nb):
    """The sources of the code cells of ``nb``, in order (trailing blank lines ignored)."""
    return [c.source.rstrip() for c in nb.cells if c.cell_type == "code"]


def staleness(source):
    """Why the ``.ipynb`` paired with ``source`` is stale, or ``None`` when it is current."""
    stored = source.with_suffix(".ipynb")
    if not stored.is_file():
        return f"{stored.name} is missing"
    nb = nbformat.read(stored, as_version=4)
    mine, theirs = code_cells(jupytext.read(source)), code_cells(nb)
    if mine != theirs:
        first = next((i for i, (a, b) in enumerate(zip(mine, theirs)) if a != b), min(len(mine), len(theirs)))
        return (f"{stored.name}'s code cells differ from {source.name} "
                f"({len(theirs)} vs {len(mine)} code cells, first difference at code cell {first})")
    recorded = nb.metadata.get(runner.METADATA_KEY, {}).get("source_sha256")
    if recorded is None:
        return f"{stored.name} records no source hash (metadata.{runner.METADATA_KEY}.source_sha256)"
    if recorded != runner.source_sha256(source):
        return f"{stored.name}'s outputs were produced from an older {source.name} (source hash differs)"
    return None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_stored_notebook_is_current(path):
    reason = staleness(path)
    assert reason is None, f"stale notebook: {reason}; regenerate it with `{runner.regenerate_command(path)}`"


def _stored_pair(tmp_path, source_text, *, edit=None):
    """A ``.py`` in ``tmp_path`` and an ``.ipynb`` stored as run_all would (metadata, no outputs)."""
    source = tmp_path / "00_pair.py"
    source.write_text(source_text)
    nb = jupytext.read(source)
    nb.metadata[runner.METADATA_KEY] = {"source_sha256": runner.source_sha256(source), "mode": "fast"}
    runner.write_ipynb(nb, source)
    if edit is not None:
        source.write_text(edit(source_text))
    return source


SOURCE = "# %% [markdown]\n# A title\n\n# %%\nx = 1\n\n# %%\nprint(x + 1)\n"


def test_a_current_pair_passes(tmp_path):
    assert staleness(_stored_pair(tmp_path, SOURCE)) is None


def test_an_edited_code_cell_is_stale(tmp_path):
    source = _stored_pair(tmp_path, SOURCE, edit=lambda s: s.replace("x = 1", "x = 2"))
    assert "code cells differ" in staleness(source)


def test_an_edit_of_prose_only_is_stale_by_hash(tmp_path):
    source = _stored_pair(tmp_path, SOURCE, edit=lambda s: s.replace("A title", "Another title"))
    assert "source hash differs" in staleness(source)


def test_a_notebook_without_a_recorded_hash_is_stale(tmp_path):
    source = _stored_pair(tmp_path, SOURCE)
    nb = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    del nb.metadata[runner.METADATA_KEY]
    nbformat.write(nb, source.with_suffix(".ipynb"))
    assert "records no source hash" in staleness(source)


def test_run_all_records_the_source_hash(tmp_path):
    """execute_notebook stores the hash the staleness check compares against."""
    source = tmp_path / "00_probe.py"
    source.write_text("# %%\nprint(1)\n")
    nb = runner.execute_notebook(source, fast=True, timeout=600, cwd=tmp_path)
    runner.write_ipynb(nb, source)
    assert nb.metadata[runner.METADATA_KEY] == {"source_sha256": runner.source_sha256(source), "mode": "fast"}
    assert staleness(source) is None

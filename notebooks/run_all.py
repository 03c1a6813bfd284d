"""Execute the dynconv notebooks headless: the machinery behind `make notebooks` and the test suite.

The jupytext ``py:percent`` files (``notebooks/NN_name.py``) are the source of truth; the paired
``.ipynb`` files are generated from them and carry the outputs. This script

* reads a ``.py`` notebook with jupytext (in memory),
* executes it with nbclient in a fresh ipykernel that runs on **this** interpreter
  (``sys.executable``) — never on whatever a ``python3`` kernel spec elsewhere on the machine
  points to — with the notebooks folder as working directory, a timeout per cell and errors
  fatal,
* and, unless ``--check``, writes the executed notebook to the paired ``.ipynb``, with the
  SHA-256 of the ``.py`` source it ran in ``metadata["dynconv"]["source_sha256"]`` (and the
  mode, ``"fast"`` or ``"full"``), so ``tests/test_notebook_staleness.py`` can tell stored
  outputs that no longer belong to the source.

``DYNCONV_FAST=1`` is set in the kernel's environment with ``--fast`` and removed otherwise, so
that ``make notebooks`` always stores the full run. ``tests/test_notebooks.py`` imports this file
and calls :func:`execute_notebook` with ``fast=True``.

Usage::

    python notebooks/run_all.py                 # every NN_*.py notebook, full, write .ipynb
    python notebooks/run_all.py --fast --check  # what the test suite does, without writing
    python notebooks/run_all.py notebooks/02_dynamic_convolution.py
"""
from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import zmq
from ipykernel.kernelspec import RESOURCES, get_kernel_dict
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient
from traitlets import default

NOTEBOOK_DIR = Path(__file__).resolve().parent
#: Notebook sources: ``01_convolution_forward_backward.py`` etc. (not this script).
PATTERN = "[0-9][0-9]_*.py"
#: Seconds a single cell may run before the execution fails.
CELL_TIMEOUT = 1800  # full mode trains for minutes; a busy 2-core machine is slower


#: Key of the notebook metadata that records which source produced the stored outputs.
METADATA_KEY = "dynconv"


def source_sha256(path):
    """SHA-256 (hex) of the bytes of the ``py:percent`` source ``path``: what the outputs came from."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def regenerate_command(path):
    """The command that re-executes ``path`` and rewrites its ``.ipynb`` (for error messages)."""
    return f".venv/bin/python notebooks/run_all.py notebooks/{Path(path).with_suffix('.py').name}"


def notebook_sources(directory=NOTEBOOK_DIR):
    """The ``py:percent`` notebook files in ``directory``, in reading order."""
    return sorted(Path(directory).glob(PATTERN))


class _ThisInterpreterSpecs(KernelSpecManager):
    """Resolves every kernel name to ipykernel on ``sys.executable`` (ipykernel's own spec)."""

    def get_kernel_spec(self, kernel_name):
        return KernelSpec(name=kernel_name, resource_dir=RESOURCES, **get_kernel_dict())


class ThisInterpreterKernelManager(AsyncKernelManager):
    """An ``AsyncKernelManager`` whose kernel is the interpreter running this process (the venv's)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Encrypt the local sockets where this jupyter_client and pyzmq can (ipykernel >= 7.4
        # warns about plain TCP otherwise); older versions have no such option.
        if self.has_trait("transport_encryption") and zmq.has("curve"):
            self.transport_encryption = "auto"

    @default("kernel_spec_manager")
    def _kernel_spec_manager_default(self):
        return _ThisInterpreterSpecs(data_dir=self.data_dir)


def kernel_env(fast):
    """The kernel's environment: ours, with ``DYNCONV_FAST=1`` iff ``fast``, inline matplotlib."""
    env = dict(os.environ)
    env.pop("DYNCONV_FAST", None)
    env.pop("MPLBACKEND", None)  # let ipykernel choose the inline backend, so figures are stored
    if fast:
        env["DYNCONV_FAST"] = "1"
    return env


def execute_notebook(path, *, fast, timeout=CELL_TIMEOUT, cwd=NOTEBOOK_DIR):
    """Read the jupytext notebook ``path``, execute it top to bottom and return it (outputs filled).

    Raises ``nbclient.exceptions.CellExecutionError`` (naming the cell) on the first error, and
    ``nbclient.exceptions.CellTimeoutError`` when a cell runs longer than ``timeout`` seconds.
    """
    digest = source_sha256(path)  # before executing: an edit during the run makes it stale
    nb = jupytext.read(path)
    nb.metadata[METADATA_KEY] = {"source_sha256": digest, "mode": "fast" if fast else "full"}
    for index, cell in enumerate(nb.cells):  # stable ids: re-running changes no id in the .ipynb
        cell.id = f"cell-{index:03d}"
    client = NotebookClient(
        nb,
        kernel_name="python3",
        kernel_manager_class=ThisInterpreterKernelManager,
        timeout=timeout,
        allow_errors=False,
        record_timing=False,   # no timestamps in the stored notebooks,
        coalesce_streams=True,  # nor stdout split at timing-dependent places: diffs stay clean
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute(env=kernel_env(fast))
    return nb


def write_ipynb(nb, path):
    """Write the executed notebook next to its source, as the paired ``.ipynb``."""
    out = Path(path).with_suffix(".ipynb")
    nb.metadata.pop("widgets", None)
    nbformat.validate(nb)
    jupytext.write(nb, out, fmt="ipynb")
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="py:percent notebooks to run (default: every notebooks/NN_*.py)")
    parser.add_argument("--fast", action="store_true", help="set DYNCONV_FAST=1 in the kernel")
    parser.add_argument("--check", action="store_true", help="execute only; do not write .ipynb")
    parser.add_argument("--timeout", type=int, default=CELL_TIMEOUT, help="seconds per cell")
    args = parser.parse_args(argv)
    paths = args.notebooks or notebook_sources()
    if not paths:
        parser.error(f"no notebooks matching {PATTERN} in {NOTEBOOK_DIR}")
    for path in paths:
        t0 = time.perf_counter()
        nb = execute_notebook(path, fast=args.fast, timeout=args.timeout)
        where = "checked" if args.check else f"-> {write_ipynb(nb, path).name}"
        print(f"{path.name}: ran in {time.perf_counter() - t0:.1f} s {where}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

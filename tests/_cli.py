"""Run the `dynconv` command in this process, as a subprocess would see it.

``run_cli(*args)`` calls :func:`dynconv.cli.main` with the arguments as strings and returns a
``subprocess.CompletedProcess`` (``returncode``, ``stdout``, ``stderr``), so a test reads the
same as with ``subprocess.run([python, "-m", "dynconv", ...])`` but skips a process start and
the imports (about 2 s each on the 2-core machine). ``cwd`` and ``env`` are applied for the call
and restored after it; Python warnings reach ``stderr`` formatted as the interpreter prints
them. Signals, ``python -m`` itself and crash detection still need a real process.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

from dynconv.cli import main


#: Variables dynconv reads when it is imported: a change to them needs a fresh process.
IMPORT_TIME_ENV = ("DYNCONV_WEIGHTS",)


def run_cli(*args, cwd=None, env=None, timeout=600) -> subprocess.CompletedProcess:
    """``dynconv ARGS`` in-process; ``env`` replaces the whole environment for the call."""
    argv = [str(a) for a in args]
    if env is not None and any(env.get(k) != os.environ.get(k) for k in IMPORT_TIME_ENV):
        return subprocess.run([sys.executable, "-m", "dynconv", *argv], capture_output=True, text=True,
                              cwd=cwd, env=env, timeout=timeout)
    out, err = io.StringIO(), io.StringIO()
    saved_cwd, saved_env = os.getcwd(), dict(os.environ)

    def show(message, category, filename, lineno, file=None, line=None):
        err.write(warnings.formatwarning(message, category, filename, lineno, line))

    try:
        if cwd is not None:
            os.chdir(cwd)
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            warnings.resetwarnings()
            warnings.simplefilter("default")
            warnings.showwarning = show
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse: --help, --version and usage errors
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return subprocess.CompletedProcess(["dynconv", *argv], code, out.getvalue(), err.getvalue())


def train_config_file(folder, small_set, **sections):
    """A tiny training config as TOML text; ``sections`` override keys (values are TOML literals)."""
    base = {
        "model": {"arch": '"srcnn"', "n1": "8", "n2": "4", "residual": "true"},
        "data": {"dataset": json.dumps(str(small_set)), "scales": "[3]"},
        "train": {"steps": "400", "batch_size": "8", "lr": "1e-3"},
        "eval": {"every": "0", "dataset": json.dumps(str(small_set)), "final_datasets": "[]"},
        "checkpoint": {"every_minutes": "0.0"},
    }
    for sec, keys in sections.items():
        base.setdefault(sec, {}).update(keys)
    text = "\n".join(f"[{sec}]\n" + "\n".join(f"{k} = {v}" for k, v in keys.items()) for sec, keys in base.items())
    path = Path(folder) / "run.toml"
    path.write_text(text + "\n")
    return path

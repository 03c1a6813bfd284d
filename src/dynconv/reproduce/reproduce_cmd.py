"""`dynconv reproduce`: the paper's tables and figures, written by :func:`dynconv.reproduce.run`."""
from __future__ import annotations

import shlex

from dynconv import reproduce
from dynconv.console import progress


def run(args) -> int:
    """Write the tables, figures and summary ``args`` ask for; the command line it was run with goes
    into the summary."""

    argv = ["dynconv", "reproduce", "--table", args.table, "--out", args.out]
    for flag, value in (("--data-dir", args.data_dir), ("--models-dir", args.models_dir),
                        ("--summary", args.summary), ("--notes", args.notes)):
        if value is not None:
            argv += [flag, value]
    with progress.bar(None, unit="section", enabled=not args.no_progress) as bar:
        reproduce.run(args.table, args.out, data_dir=args.data_dir, models_dir=args.models_dir,
                      command=shlex.join(argv), log=print, summary=args.summary, notes=args.notes,
                      progress=lambda done, total, title: progress.advance(bar, done, total, title))
    return 0

"""Progress bars on stderr: one helper for every long command (training, upscale, evaluate,
reproduce, data verify).

A bar is a tqdm bar written to stderr, so stdout (tables, ``--format json``) never changes. It
shows only when stderr is a terminal (tqdm's ``disable=None``), and never with ``enabled=False``
(the commands' ``--no-progress``). Library functions do not draw bars: they take a ``progress``
callback, and the command line hands them one made from a bar here.
"""
from __future__ import annotations

import sys

__all__ = ["bar", "advance"]


def bar(total, desc="", *, unit="it", enabled=True, file=None, **kwargs):
    """A tqdm bar on ``file`` (default stderr), shown only when that is a terminal.

    Parameters
    ----------
    total : int or None
        Number of updates expected (``None``: unknown, a counter).
    desc : str
        Text before the bar (e.g. the current method and data set).
    unit : str
    enabled : bool
        ``False`` disables the bar whatever the terminal (``--no-progress``).

    Returns
    -------
    tqdm.tqdm
        Use as a context manager; ``update``, ``set_description`` and ``write`` work whether the
        bar shows or not.
    """
    from tqdm import tqdm

    return tqdm(total=total, desc=desc or None, unit=unit, file=file if file is not None else sys.stderr,
                disable=None if enabled else True, dynamic_ncols=True, **kwargs)


def advance(bar, done, total, title=None):
    """Move ``bar`` to ``done`` of ``total``, for callbacks that report a position rather than a
    step (``title``, if given, becomes the description)."""
    bar.total = total
    if title:
        bar.set_description(title, refresh=False)
    bar.update(done - bar.n)

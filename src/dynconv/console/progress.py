"""Progress bars on stderr: one helper for every long command (training, upscale, evaluate,
reproduce, data verify).

A bar is a tqdm bar written to stderr, so stdout (tables, ``--format json``) never changes. It
shows only when stderr is a terminal (tqdm's ``disable=None``), and never with ``enabled=False``
(the commands' ``--no-progress``). Library functions do not draw bars: they take a ``progress``
callback, and the command line hands them one made from a bar here.

The bars start no thread. tqdm's own class starts a daemon "monitor" thread with its first bar,
even a disabled one, and a daemon thread that wakes while CPython 3.11 shuts down can abort the
process ("PyThreadState_Get: ... the GIL is released") after the command has finished (CPython
gh-87135; a CI run saw ``dynconv train`` exit -6 instead of 130 after Ctrl-C). Every
update here comes from the command itself, so the monitor (which redraws a bar that went quiet)
has nothing to add.
"""
from __future__ import annotations

import functools
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
    return _bar_class()(total=total, desc=desc or None, unit=unit,
                        file=file if file is not None else sys.stderr,
                        disable=None if enabled else True, dynamic_ncols=True, **kwargs)


@functools.cache
def _bar_class():
    """tqdm's bar without its monitor thread (``monitor_interval = 0``, read by ``tqdm.__new__``);
    tqdm is imported on the first bar, not with this module."""
    from tqdm import tqdm

    return type("Bar", (tqdm,), {"monitor_interval": 0, "__doc__": "A tqdm bar with no monitor thread."})


def advance(bar, done, total, title=None):
    """Move ``bar`` to ``done`` of ``total``, for callbacks that report a position rather than a
    step (``title``, if given, becomes the description)."""
    bar.total = total
    if title:
        bar.set_description(title, refresh=False)
    bar.update(done - bar.n)

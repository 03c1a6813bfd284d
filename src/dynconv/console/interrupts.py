"""Ctrl-C seen for what it is, even where a C extension hides it (the command line, training).

An interrupt while an extension module is imported (NumPy's, or matplotlib's pybind11 modules)
can come back as a bare ``ImportError`` with no ``KeyboardInterrupt`` in its chain, and code that
catches ``ImportError`` may swallow it. :class:`Watch` puts a SIGINT handler in place for the
duration of a command (or a training loop) that records the signal before raising
``KeyboardInterrupt`` as Python's own handler does, so the command can still answer "interrupted"
(exit 130) instead of a traceback, and a loop can stop although the exception was lost.
"""
from __future__ import annotations

import signal
import threading

__all__ = ["Watch", "caused_by_interrupt"]


def caused_by_interrupt(exc, depth: int = 20) -> bool:
    """True when a ``KeyboardInterrupt`` is in ``exc``'s chain of causes and contexts."""
    while exc is not None and depth and not isinstance(exc, KeyboardInterrupt):
        exc, depth = exc.__cause__ or exc.__context__, depth - 1
    return isinstance(exc, KeyboardInterrupt)


class Watch:
    """Record SIGINT until :meth:`close` (or the end of a ``with`` block); only on the main thread
    and when Python's default handler or another Watch is in place (an embedding program keeps its
    own handler). A nested Watch records and then hands the signal to the one it replaced, so the
    command line's Watch and a training loop's both see it."""

    def __init__(self):
        self.interrupted = False
        self._old = signal.getsignal(signal.SIGINT)
        self._active = (threading.current_thread() is threading.main_thread()
                        and (self._old is signal.default_int_handler
                             or isinstance(getattr(self._old, "__self__", None), Watch)))
        if self._active:
            signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum, frame):
        self.interrupted = True
        self._old(signum, frame)  # raises KeyboardInterrupt: Python's handler, or an outer Watch's

    def seen(self, exc) -> bool:
        """Whether ``exc`` came from a Ctrl-C: recorded by the handler, or in its chain."""
        return self.interrupted or caused_by_interrupt(exc)

    def close(self) -> None:
        if self._active:
            signal.signal(signal.SIGINT, self._old)
            self._active = False

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

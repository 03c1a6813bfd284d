"""Ctrl-C seen for what it is, even where a C extension hides it (used by the command line).

An interrupt while NumPy's C extension is imported can come back as a bare ``ImportError`` with
no ``KeyboardInterrupt`` in its chain. :class:`Watch` puts a SIGINT handler in place for the
duration of a command that records the signal before raising ``KeyboardInterrupt`` as Python's
own handler does, so the command can still answer "interrupted" (exit 130) instead of a traceback.
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
    """Record SIGINT until :meth:`close`; only when Python's default handler is in place and on
    the main thread (an embedding program keeps its own handler)."""

    def __init__(self):
        self.interrupted = False
        self._old = signal.getsignal(signal.SIGINT)
        self._active = (threading.current_thread() is threading.main_thread()
                        and self._old is signal.default_int_handler)
        if self._active:
            signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum, frame):
        self.interrupted = True
        raise KeyboardInterrupt

    def seen(self, exc) -> bool:
        """Whether ``exc`` came from a Ctrl-C: recorded by the handler, or in its chain."""
        return self.interrupted or caused_by_interrupt(exc)

    def close(self) -> None:
        if self._active:
            signal.signal(signal.SIGINT, self._old)
            self._active = False

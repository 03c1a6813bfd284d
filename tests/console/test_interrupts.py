"""dynconv.console.interrupts: a Ctrl-C is recognised even when an extension hides it."""
from __future__ import annotations

import os
import signal

import pytest

from dynconv.console import interrupts


def test_chained_interrupts_are_found():
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise ImportError("numpy C-extensions failed") from exc
    except ImportError as exc:
        assert interrupts.caused_by_interrupt(exc)
    assert not interrupts.caused_by_interrupt(ImportError("unrelated"))


def test_a_swallowed_sigint_is_still_seen_and_the_handler_restored():
    before = signal.getsignal(signal.SIGINT)
    watch = interrupts.Watch()
    try:
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs at the next bytecode
            for _ in range(10**6):
                pass
        bare = ImportError("the C code replaced the interrupt")  # nothing in its chain
        assert watch.seen(bare)
    finally:
        watch.close()
    assert signal.getsignal(signal.SIGINT) is before
    quiet = interrupts.Watch()
    assert not quiet.seen(ImportError("no Ctrl-C this time"))
    quiet.close()
    assert signal.getsignal(signal.SIGINT) is before

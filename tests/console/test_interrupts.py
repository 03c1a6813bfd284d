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


def test_a_nested_watch_records_and_hands_the_signal_on():
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with interrupts.Watch() as outer:
            with interrupts.Watch() as inner:
                with pytest.raises(KeyboardInterrupt):
                    signal.raise_signal(signal.SIGINT)
            assert inner.interrupted and outer.interrupted
            assert signal.getsignal(signal.SIGINT) == outer._on_sigint  # the inner one put it back
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)


def test_a_handler_somebody_else_installed_is_left_alone():
    def mine(signum, frame):
        pass

    before = signal.signal(signal.SIGINT, mine)
    try:
        with interrupts.Watch() as watch:
            signal.raise_signal(signal.SIGINT)  # mine runs: no exception, nothing recorded
            assert signal.getsignal(signal.SIGINT) is mine
        assert not watch.interrupted
    finally:
        signal.signal(signal.SIGINT, before)

"""Keep freed memory for the next allocation of the same size (glibc's ``malloc``, Linux).

A training step allocates its activations and gradients afresh: tens of MiB in arrays of a few
MiB each. glibc serves every allocation above its mmap threshold (128 KiB, adapting up to 32 MiB)
with fresh pages from the kernel and returns them on ``free``, so each step pays a page fault per
4 KiB it writes. Measured on the SRCNN 9-1-5 training step (B = 64, two threads, quiet machine):
45 ms with the defaults, 29 ms with freed memory kept (``dynconv train`` calls
:func:`reuse_freed_memory`; ``benchmarks/README.md`` has the figures).
"""
from __future__ import annotations

import ctypes
import ctypes.util

__all__ = ["reuse_freed_memory"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
_MMAP_THRESHOLD_MAX = 32 * 2**20  # glibc's ceiling for the mmap threshold on 64-bit systems
_done = False


def reuse_freed_memory() -> bool:
    """Make glibc keep freed blocks of up to 32 MiB in the heap instead of unmapping them.

    Process-wide and idempotent; the resident memory then stays at its peak (what a training run
    reaches anyway). Returns True when the setting took effect, False where there is no glibc
    ``mallopt`` (macOS, Windows, musl).
    """
    global _done
    if _done:
        return True
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # Trim only beyond 1 GiB of free heap top; serve every block below the ceiling from the heap.
    _done = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD, 2**30))
    return _done

"""kernels.reuse_freed_memory: glibc keeps freed blocks; idempotent; nothing changes numerically."""
from __future__ import annotations

import subprocess
import sys

import pytest


def test_it_takes_effect_once_on_glibc_and_says_so():
    code = ("import platform, numpy as np\n"
            "from dynconv.kernels import reuse_freed_memory\n"
            "libc = platform.libc_ver()[0]\n"
            "first, again = reuse_freed_memory(), reuse_freed_memory()\n"
            "a = np.ones((64, 64, 25, 25), np.float32); del a\n"
            "print(libc, first, again)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    libc, first, again = out.stdout.split()
    if libc != "glibc":
        pytest.skip(f"no glibc here ({libc or 'unknown libc'}): the call returns {first}")
    assert first == again == "True"

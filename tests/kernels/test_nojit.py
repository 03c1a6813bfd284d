"""NUMBA_DISABLE_JIT=1 keeps working: the kernels are plain Python that numba compiles."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def test_kernels_run_and_agree_without_jit():
    code = textwrap.dedent(
        """
        import numpy as np
        from dynconv import kernels as K, reference as R
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 2, 5, 6)); dy5 = rng.standard_normal((2, 6, 5, 6))
        for F in (2, 6):  # direct loops and im2col/GEMM
            w = rng.standard_normal((F, 2, 3, 3)); dy = dy5[:, :F]
            y, c = K.conv2d_forward(x, w, pad=1); ry, rc = R.conv2d_forward(x, w, pad=1)
            assert np.allclose(y, ry)
            for a, b in zip(K.conv2d_backward(dy, c)[:2], R.conv2d_backward(dy, rc)[:2]):
                assert np.allclose(a, b)
            k = rng.standard_normal((2, F, 2, 3, 3))
            y, c = K.dynamic_conv2d_forward(x, k, pad=1); ry, rc = R.dynamic_conv2d_forward(x, k, pad=1)
            assert np.allclose(y, ry)
            for a, b in zip(K.dynamic_conv2d_backward(dy, c)[:2], R.dynamic_conv2d_backward(dy, rc)[:2]):
                assert np.allclose(a, b)
        import numba.core.config
        assert numba.core.config.DISABLE_JIT
        print("ok")
        """
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"

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
        from dynconv import kernels as K
        from dynconv import reference as R
        rng = np.random.default_rng(0)
        dy5 = rng.standard_normal((2, 6, 5, 6))
        for C, F, algo in [(C, F, a) for C in (1, 2) for F in (2, 6) for a in K.ALGORITHMS]:
            x = rng.standard_normal((2, C, 5, 6))
            w = rng.standard_normal((F, C, 3, 3)); dy = dy5[:, :F]
            y, c = K.conv2d_forward(x, w, pad=1, algorithm=algo); ry, rc = R.conv2d_forward(x, w, pad=1)
            assert np.allclose(y, ry), (C, F, algo)
            for a, b in zip(K.conv2d_backward(dy, c)[:2], R.conv2d_backward(dy, rc)[:2]):
                assert np.allclose(a, b), (C, F, algo)
            if algo not in K.DYNAMIC_ALGORITHMS:
                continue
            k = rng.standard_normal((2, F, C, 3, 3))
            y, c = K.dynamic_conv2d_forward(x, k, pad=1, algorithm=algo)
            ry, rc = R.dynamic_conv2d_forward(x, k, pad=1)
            assert np.allclose(y, ry), (C, F, algo)
            for a, b in zip(K.dynamic_conv2d_backward(dy, c)[:2], R.dynamic_conv2d_backward(dy, rc)[:2]):
                assert np.allclose(a, b), (C, F, algo)
        from dynconv.kernels import _relu, relu
        x = np.array([np.nan, -np.inf, np.inf, -0.0, 0.0, -1.0, 2.0]); dy = np.full(7, np.inf)
        y, c = relu.relu_forward(x); ry, rc = R.relu_forward(x)
        assert np.array_equal(y, ry, equal_nan=True)
        assert np.array_equal(relu.relu_backward(dy, c), R.relu_backward(dy, rc))
        y2, m2, dx2 = np.empty(7), np.empty(7, bool), np.empty(7)  # the loops, as plain Python
        _relu.forward(x, y2, m2, 2, 0, 2); _relu.backward(dy, m2, dx2, 2, 0, 2)
        assert np.array_equal(y2, ry, equal_nan=True) and np.array_equal(dx2, R.relu_backward(dy, rc))
        import numba.core.config
        assert numba.core.config.DISABLE_JIT
        print("ok")
        """
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"

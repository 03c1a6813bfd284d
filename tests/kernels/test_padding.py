"""pad_input: the zero-padded private copy every convolution starts from, in any layout."""
from __future__ import annotations

import numpy as np
import pytest

from dynconv.kernels import _blas
from dynconv.kernels.padding import pad_input


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pad", [0, 1, 2, 4])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_matches_numpy_pad_in_any_layout(rng, dtype, pad, threads):
    base = rng.standard_normal((5, 3, 9, 8)).astype(dtype)
    before = _blas.set_threads(threads)
    try:
        for x in (base, base.transpose(0, 1, 3, 2), base[:, ::-1, 1::2], np.asfortranarray(base)):
            xp = pad_input(x, pad)
            assert xp.flags.c_contiguous and xp.dtype == dtype and not np.shares_memory(xp, x)
            np.testing.assert_array_equal(xp, np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))))
    finally:
        _blas.set_threads(before)


def test_a_read_only_input_and_a_single_sample(rng):
    x = rng.standard_normal((1, 2, 3, 4))
    x.setflags(write=False)
    np.testing.assert_array_equal(pad_input(x, 2), np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2))))

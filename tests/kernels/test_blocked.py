"""The "blocked" algorithm (register-blocked direct loops) against the reference: float32 and
float64, non-contiguous inputs, odd channel and tap counts (the padding channel and padding
taps of ``_blocked._taps``), every padding, row blocks and thread splits."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import dynconv.kernels as K
from dynconv import reference as R
from dynconv.kernels import _blocked, blocked
from _checks import FAST_VS_REFERENCE, assert_close

DTYPES = [np.float32, np.float64]

# (N, C, H, W, F, kh, kw): F odd and even, C kh kw below, at and above a multiple of 4 and 8 taps.
SHAPES = [
    (3, 1, 9, 7, 1, 1, 1),  # K = 1, F = 1: 7 padding taps, one padding channel
    (2, 8, 6, 9, 3, 1, 1),  # K = 8 exactly
    (2, 3, 8, 7, 5, 3, 3),  # K = 27
    (1, 2, 10, 11, 4, 2, 4),  # non-square, even kernel
    (2, 1, 13, 12, 7, 9, 9),  # K = 81, the SRCNN first layer's taps
    (2, 5, 7, 6, 2, 5, 5),  # K = 125
    (1, 4, 5, 17, 6, 5, 1),  # a tall kernel on a wide image
]


@pytest.fixture(params=[(8, 4), (4, 2)], ids=["taps8-dw4x4", "taps4-dw2x4"])
def variant(request, monkeypatch):
    """Both register budgets on any machine: the wrappers pass these to the loops."""
    taps, block = request.param
    monkeypatch.setattr(_blocked, "TAPS", taps)
    monkeypatch.setattr(_blocked, "DW_BLOCK", block)
    return request.param


def test_the_host_picks_its_register_budget():
    assert _blocked.taps_per_pass({"avx512f": True, "avx2": True}) == 8
    assert _blocked.taps_per_pass({"avx512f": False, "avx2": True}) == 4
    assert _blocked.taps_per_pass({}) == 4
    assert _blocked.TAPS == _blocked.taps_per_pass() and _blocked.DW_BLOCK == _blocked.TAPS // 2


def test_a_budget_the_loops_were_not_written_for_is_refused(rng, monkeypatch):
    x, w = np.zeros((1, 2, 6, 6)), np.zeros((3, 2, 3, 3))
    monkeypatch.setattr(_blocked, "TAPS", 5)
    with pytest.raises(ValueError, match="TAPS must be 4 or 8"):
        blocked.forward(x, w, None, 4, 4)
    monkeypatch.setattr(_blocked, "TAPS", 8)
    monkeypatch.setattr(_blocked, "DW_BLOCK", 3)
    with pytest.raises(ValueError, match="DW_BLOCK 2 or 4"):
        blocked.weight_grad(np.zeros((1, 3, 4, 4)), x, 3, 3)


def _problem(rng, shape, dtype, pad):
    N, C, H, W, F, kh, kw = shape
    # Every operand in a layout that is not C-contiguous: the wrapper must copy, never misread.
    x = rng.standard_normal((N, C, W, H)).astype(dtype).transpose(0, 1, 3, 2)
    w = rng.standard_normal((F, C, kh, kw, 2)).astype(dtype)[..., 0]
    b = rng.standard_normal(2 * F).astype(dtype)[::2]
    dy = rng.standard_normal((N, F, H + 2 * pad - kh + 1, W + 2 * pad - kw + 1, 2)).astype(dtype)
    return x, w, b, dy[..., 1]


def _check(x, w, b, dy, pad, tol):
    y, cache = K.conv2d_forward(x, w, b, pad=pad, algorithm="blocked")
    ry, rcache = R.conv2d_forward(x, w, b, pad=pad)
    assert y.dtype == x.dtype and y.flags.c_contiguous and cache.algorithm == "blocked"
    assert_close(y, ry, tol, "eq 1 y")
    dx, dw, db = K.conv2d_backward(dy, cache)
    rdx, rdw, rdb = R.conv2d_backward(np.ascontiguousarray(dy), rcache)
    assert dx.dtype == x.dtype and dx.flags.c_contiguous and dx.shape == x.shape
    assert_close(dx, rdx, tol, "eq 2 dx")
    assert_close(dw, rdw, tol, "eq 3 dw")
    assert_close(db, rdb, tol, "db")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_blocked_matches_reference_at_every_padding(rng, shape, dtype, variant):
    kh, kw = shape[5], shape[6]
    for pad in range(min(kh, kw)):
        x, w, b, dy = _problem(rng, shape, dtype, pad)
        assert not (x.flags.c_contiguous or dy.flags.c_contiguous)
        assert w.size == 1 or not w.flags.c_contiguous
        _check(x, w, b, dy, pad, FAST_VS_REFERENCE[np.dtype(dtype)])


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_row_blocks_and_thread_splits_match_whole_samples(rng, dtype, monkeypatch, variant):
    x, w, b, dy = _problem(rng, (3, 3, 11, 9, 5, 3, 3), dtype, 1)
    whole, _ = K.conv2d_forward(x, w, b, pad=1, algorithm="blocked")
    default_bytes = blocked.BLOCK_BYTES
    monkeypatch.setattr(blocked, "BLOCK_BYTES", 1)  # one output row per work item
    assert blocked.plan(3, 5, 11, 11, x.itemsize, threads=1) == (1, 33)
    rows, _ = K.conv2d_forward(x, w, b, pad=1, algorithm="blocked")
    assert_close(rows, whole, FAST_VS_REFERENCE[x.dtype], "row blocks")
    monkeypatch.setattr(blocked, "BLOCK_BYTES", default_bytes)  # the variant stays patched
    before = K.set_threads(2)
    try:
        assert blocked.plan(1, 5, 11, 11, x.itemsize) == (6, 2)  # one sample, two threads
        split, _ = K.conv2d_forward(x[:1], w, b, pad=1, algorithm="blocked")
        threads, _ = K.conv2d_forward(x, w, b, pad=1, algorithm="blocked")
    finally:
        K.set_threads(before)
    assert_close(split, whole[:1], FAST_VS_REFERENCE[x.dtype], "one sample on two threads")
    assert_close(threads, whole, FAST_VS_REFERENCE[x.dtype], "two threads")


def test_taps_pad_with_zero_weights_and_in_bounds_offsets(rng):
    w = rng.standard_normal((3, 2, 2, 3))
    assert _blocked._taps(w, 20, 5, 4)[0].shape == (4, 12)  # K 12 is a multiple of 4 taps
    wt, offs = _blocked._taps(w, 20, 5, 8)
    assert wt.shape == (4, 16) and offs.shape == (16,)  # F 3 -> 4, K 12 -> 16
    assert np.array_equal(wt[:3, :12], w.reshape(3, 12))
    assert not wt[3].any() and not wt[:, 12:].any() and not offs[12:].any()
    c, u, v = np.unravel_index(np.arange(12), (2, 2, 3))
    assert np.array_equal(offs[:12], c * 20 + u * 5 + v)


def test_inconsistent_operands_are_refused_before_any_loop(rng):
    xp = np.zeros((1, 2, 6, 6))
    with pytest.raises(ValueError, match="inconsistent"):
        blocked.forward(xp, np.zeros((3, 2, 3, 3)), None, 5, 4)  # 6 != 5 + 3 - 1
    with pytest.raises(ValueError, match="inconsistent"):
        blocked.forward(xp, np.zeros((3, 1, 3, 3)), None, 4, 4)  # C 2 != 1


@pytest.mark.parametrize("kh, kw, pad", [(5, 5, 0), (3, 3, 1), (2, 4, 1), (9, 9, 4), (1, 1, 0)])
def test_the_input_gradient_grid_holds_dy_and_zeros_only(rng, kh, kw, pad):
    """eq 2's grid: per channel qw zeros, qh zero rows, dy's rows each closed by qw zeros, qh zero
    rows; every element written (the buffer starts as NaN)."""
    H, W, N, F = 7, 6, 2, 3
    Ho, Wo = H + 2 * pad - kh + 1, W + 2 * pad - kw + 1
    qh, qw, Wd = kh - 1 - pad, kw - 1 - pad, W + pad
    dy = rng.standard_normal((N, F, Wo, Ho)).transpose(0, 1, 3, 2)  # not C-contiguous
    out = np.full((N, F, qw + (Ho + 2 * qh) * Wd), np.nan)
    _blocked.wide_dy(dy, qh, qw, Wd, out, 0, N)
    want = np.zeros_like(out)
    want[:, :, qw:].reshape(N, F, Ho + 2 * qh, Wd)[:, :, qh:qh + Ho, :Wo] = dy
    assert np.array_equal(out, want)


def test_an_input_gradient_of_inconsistent_shapes_is_refused():
    dy, w = np.zeros((1, 3, 4, 4)), np.zeros((3, 2, 3, 3))
    with pytest.raises(ValueError, match="inconsistent"):
        blocked.input_grad(dy, w, 0, 5, 6)  # a 4x4 dy comes from a 6x6 input at pad 0
    with pytest.raises(ValueError, match="inconsistent"):
        blocked.input_grad(dy, w, 3, 4, 4)  # pad 3 > k - 1


def test_blocked_runs_without_jit():
    """Under NUMBA_DISABLE_JIT=1 the same loops run as Python: odd F, padding taps, dw blocks."""
    code = textwrap.dedent(
        """
        import numpy as np
        import numba.core.config
        from dynconv import kernels as K
        from dynconv import reference as R
        assert numba.core.config.DISABLE_JIT
        rng = np.random.default_rng(0)
        x, w = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((5, 3, 3, 2))
        for pad in (0, 1):  # in Python, a read out of bounds raises IndexError
            y, cache = K.conv2d_forward(x, w, pad=pad, algorithm="blocked")
            ry, rcache = R.conv2d_forward(x, w, pad=pad)
            dy = rng.standard_normal(y.shape)
            for got, want in zip((y, *K.conv2d_backward(dy, cache)[:2]),
                                 (ry, *R.conv2d_backward(dy, rcache)[:2])):
                err = np.abs(got - want).max()
                assert err <= 1e-12 * np.abs(want).max(), (pad, err)
        print("ok")
        """
    )
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"

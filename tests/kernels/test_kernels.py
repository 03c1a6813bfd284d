"""dynconv.kernels (numba) against dynconv.reference (the equations), float32 and float64."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynconv import kernels as K
from dynconv import reference as R
from dynconv.kernels import winograd
from _checks import FAST_VS_REFERENCE, assert_close

DTYPES = [np.float64, np.float32]
STATIC = K.ALGORITHMS
DYNAMIC = K.DYNAMIC_ALGORITHMS

# (N, C, H, W, F, kh, kw, pad). Every algorithm runs on every geometry; together they meet every
# path: F and C on both sides of the direct/GEMM threshold (kn2row's dx runs the direct loops for
# C <= 4, im2col's dx by col2im when C <= F and by unfolding dy when C > F), C = 1 (kn2row stacks
# kernel offsets into one GEMM), 1x1, even, non-square, 9x9 and beyond, full padding.
GEOMETRIES = [
    (1, 1, 5, 5, 1, 1, 1, 0),
    (3, 4, 6, 5, 6, 1, 1, 0),
    (2, 3, 7, 6, 2, 3, 3, 1),
    (2, 3, 7, 6, 7, 3, 3, 2),
    (2, 2, 6, 7, 5, 2, 2, 1),
    (1, 2, 8, 5, 3, 4, 2, 0),
    (2, 1, 12, 12, 8, 9, 9, 4),
    (1, 2, 11, 11, 1, 9, 9, 8),
    (1, 1, 11, 12, 2, 11, 11, 0),
    (2, 3, 5, 5, 9, 5, 5, 4),
    (2, 7, 6, 6, 5, 3, 3, 1),
    (1, 6, 7, 8, 5, 4, 2, 1),
    (2, 9, 6, 5, 6, 5, 5, 0),
]


def _inputs(rng, geom, dtype, bias=True):
    N, C, H, W, F, kh, kw, pad = geom
    cast = lambda a: a.astype(dtype)  # noqa: E731
    x = cast(rng.standard_normal((N, C, H, W)))
    w = cast(rng.standard_normal((F, C, kh, kw)))
    k = cast(rng.standard_normal((N, F, C, kh, kw)))
    b = cast(rng.standard_normal(F)) if bias else None
    bk = cast(rng.standard_normal((N, F))) if bias else None
    dy = cast(rng.standard_normal((N, F, H + 2 * pad - kh + 1, W + 2 * pad - kw + 1)))
    return x, w, k, b, bk, dy


def _unsupported(algorithm, w):
    """Winograd is built for kernels up to 5x5: a larger one must be refused, naming the limit."""
    return algorithm == "winograd" and max(w.shape[-2:]) > winograd.MAX_TAPS


def _compare_static(x, w, b, dy, pad, need_input_grad=True, algorithm=None):
    tol = FAST_VS_REFERENCE[x.dtype]
    if _unsupported(algorithm, w):
        with pytest.raises(ValueError, match="'winograd' supports kernels up to 5x5"):
            K.conv2d_forward(x, w, b, pad=pad, algorithm=algorithm)
        return
    y, cache = K.conv2d_forward(x, w, b, pad=pad, algorithm=algorithm)
    ry, rcache = R.conv2d_forward(x, w, b, pad=pad)
    assert y.dtype == x.dtype and y.shape == ry.shape
    assert_close(y, ry, tol, "eq 1 y")
    dx, dw, db = K.conv2d_backward(dy, cache, need_input_grad=need_input_grad)
    rdx, rdw, rdb = R.conv2d_backward(dy, rcache)
    if need_input_grad:
        assert dx.dtype == x.dtype and dx.flags.c_contiguous
        assert_close(dx, rdx, tol, "eq 2 dx")
    else:
        assert dx is None
    assert dw.dtype == x.dtype
    assert_close(dw, rdw, tol, "eq 3 dw")
    if b is None:
        assert db is None
    else:
        assert_close(db, rdb, tol, "db")


def _compare_dynamic(x, k, b, dy, pad, need_input_grad=True, algorithm=None):
    tol = FAST_VS_REFERENCE[x.dtype]
    y, cache = K.dynamic_conv2d_forward(x, k, b, pad=pad, algorithm=algorithm)
    ry, rcache = R.dynamic_conv2d_forward(x, k, b, pad=pad)
    assert y.dtype == x.dtype
    assert_close(y, ry, tol, "eq 5 y")
    dx, dk, db = K.dynamic_conv2d_backward(dy, cache, need_input_grad=need_input_grad)
    rdx, rdk, rdb = R.dynamic_conv2d_backward(dy, rcache)
    if need_input_grad:
        assert dx.dtype == x.dtype and dx.flags.c_contiguous
        assert_close(dx, rdx, tol, "eq 6 dx")
    else:
        assert dx is None
    assert dk.shape == k.shape and dk.dtype == x.dtype
    # eq 7 sample by sample: each sample's kernel gradient is checked on its own scale.
    for t in range(k.shape[0]):
        assert_close(dk[t], rdk[t], tol, f"eq 7 dk[{t}]")
    if b is None:
        assert db is None
    else:
        assert_close(db, rdb, tol, "per-sample db")


@pytest.mark.parametrize("algorithm", STATIC)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("geom", GEOMETRIES, ids=str)
def test_conv2d_fast_matches_reference(rng, geom, dtype, algorithm):
    x, w, _, b, _, dy = _inputs(rng, geom, dtype)
    _compare_static(x, w, b, dy, geom[-1], algorithm=algorithm)


@pytest.mark.parametrize("algorithm", DYNAMIC)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("geom", GEOMETRIES, ids=str)
def test_dynamic_fast_matches_reference(rng, geom, dtype, algorithm):
    x, _, k, _, bk, dy = _inputs(rng, geom, dtype)
    _compare_dynamic(x, k, bk, dy, geom[-1], algorithm=algorithm)


@pytest.mark.parametrize("algorithm", STATIC)
@pytest.mark.parametrize("geom", [GEOMETRIES[1], GEOMETRIES[2], GEOMETRIES[3], GEOMETRIES[6]], ids=str)
def test_without_bias_and_without_dx(rng, geom, algorithm):
    x, w, k, _, _, dy = _inputs(rng, geom, np.float64, bias=False)
    _compare_static(x, w, None, dy, geom[-1], need_input_grad=False, algorithm=algorithm)
    _compare_dynamic(x, k, None, dy, geom[-1], need_input_grad=False,
                     algorithm=algorithm if algorithm in DYNAMIC else None)


@pytest.mark.parametrize("F, C, kh, kw, expected", [
    (1, 32, 5, 5, "direct"), (4, 64, 3, 3, "direct"), (5, 1, 3, 3, "kn2row"),
    (64, 1, 9, 9, "kn2row"), (32, 64, 5, 5, "kn2row"), (32, 64, 1, 1, "kn2row"),
])
def test_choose_algorithm(F, C, kh, kw, expected):
    assert K.choose_algorithm(F, C, kh, kw) == expected
    assert K.choose_algorithm(F, C, kh, kw) in K.ALGORITHMS
    assert K.choose_dynamic_algorithm(F, C, kh, kw) in K.DYNAMIC_ALGORITHMS


@pytest.mark.parametrize("F, C, kh, kw, expected", [
    (1, 32, 5, 5, "blocked"), (2, 1, 9, 9, "blocked"), (64, 1, 9, 9, "blocked"),
    (32, 64, 1, 1, "patch"), (1, 32, 1, 1, "direct"), (32, 64, 5, 5, "blocked"),
    (64, 3, 3, 3, "blocked"), (8, 4, 1, 3, "blocked"),
])
def test_choose_algorithm_for_training(F, C, kh, kw, expected):
    # The training choice may differ from inference's; inference stays on kn2row (bit-identical
    # outputs of the shipped models), as test_choose_algorithm checks.
    assert K.choose_algorithm(F, C, kh, kw, training=True) == expected
    with pytest.raises(TypeError, match="training must be a bool"):
        K.choose_algorithm(F, C, kh, kw, training=1)


@pytest.mark.parametrize("F, C, kh, kw, inference", [
    (1, 32, 5, 5, "direct"), (32, 64, 1, 1, "kn2row"), (4, 3, 3, 3, "direct"), (8, 1, 9, 9, "kn2row"),
])
def test_choose_dynamic_algorithm_for_training(F, C, kh, kw, inference):
    # A training step runs eq 5-7 on the blocked loops; inference keeps its algorithms.
    assert K.choose_dynamic_algorithm(F, C, kh, kw) == inference
    assert K.choose_dynamic_algorithm(F, C, kh, kw, training=True) == "blocked"
    with pytest.raises(TypeError, match="training must be a bool"):
        K.choose_dynamic_algorithm(F, C, kh, kw, training="yes")


@pytest.mark.parametrize("bad, kind", [("fft", ValueError), (3, TypeError)])
def test_unknown_algorithm_is_refused(rng, bad, kind):
    x, w, k, b, bk, _ = _inputs(rng, GEOMETRIES[2], np.float64)
    with pytest.raises(kind, match="algorithm must be"):
        K.conv2d_forward(x, w, b, pad=1, algorithm=bad)
    with pytest.raises(kind, match="algorithm must be"):
        K.dynamic_conv2d_forward(x, k, bk, pad=1, algorithm=bad)
    with pytest.raises(ValueError, match="algorithm must be one of"):
        K.dynamic_conv2d_forward(x, k, bk, pad=1, algorithm="im2col")  # static only
    with pytest.raises(ValueError, match="algorithm must be one of"):
        K.dynamic_conv2d_forward(x, k, bk, pad=1, algorithm="winograd")  # static only


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_kn2row_row_blocks_match_whole_samples(rng, dtype, monkeypatch):
    """One large image is cut into blocks of output rows (parallel work items): same result."""
    from dynconv.kernels import kn2row

    x, w, _, b, _, dy = _inputs(rng, (1, 3, 17, 13, 6, 3, 3, 1), dtype)
    whole, _ = K.conv2d_forward(x, w, b, pad=1, algorithm="kn2row")
    monkeypatch.setattr(kn2row, "BLOCK_BYTES", 1)  # one output row per work item
    assert kn2row.plan(1, 3, 6, 19, 15, 17, 13, 3, 3, x.itemsize, threads=2)[1] == 1
    blocks, _ = K.conv2d_forward(x, w, b, pad=1, algorithm="kn2row")
    assert_close(blocks, whole, FAST_VS_REFERENCE[x.dtype], "row blocks")


def test_set_threads_round_trip():
    before = K.get_threads()
    try:
        assert K.set_threads(1) == before and K.get_threads() == 1
    finally:
        K.set_threads(before)
    assert K.get_threads() == before
    with pytest.raises(TypeError, match="n must be an int"):
        K.set_threads(1.5)
    with pytest.raises(ValueError, match="n must be >= 1"):
        K.set_threads(0)


@st.composite
def _geometry(draw):
    kh, kw = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    pad = draw(st.integers(0, min(kh, kw) - 1))
    H = draw(st.integers(max(1, kh - 2 * pad), 10))
    W = draw(st.integers(max(1, kw - 2 * pad), 10))
    N, C, F = draw(st.integers(1, 3)), draw(st.integers(1, 9)), draw(st.integers(1, 7))
    return (N, C, H, W, F, kh, kw, pad)


@settings(max_examples=40, deadline=None)
@given(geom=_geometry(), seed=st.integers(0, 2**32 - 1), dtype=st.sampled_from(DTYPES),
       algorithm=st.sampled_from(STATIC))
def test_hypothesis_shapes(geom, seed, dtype, algorithm):
    x, w, k, b, bk, dy = _inputs(np.random.default_rng(seed), geom, dtype)
    _compare_static(x, w, b, dy, geom[-1], algorithm=algorithm)
    _compare_dynamic(x, k, bk, dy, geom[-1], algorithm=algorithm if algorithm in DYNAMIC else None)


def _non_contiguous(a):
    """The same values in a strided (non-C-contiguous) view."""
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
    big[..., ::2] = a
    view = big[..., ::2]
    assert not view.flags.c_contiguous
    return view


@pytest.mark.parametrize("algorithm", STATIC)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("geom", [GEOMETRIES[1], GEOMETRIES[2], GEOMETRIES[3], GEOMETRIES[6]], ids=str)
def test_non_contiguous_inputs_give_identical_results(rng, geom, dtype, algorithm):
    pad = geom[-1]
    dyn = algorithm if algorithm in DYNAMIC else None
    x, w, k, b, bk, dy = _inputs(rng, geom, dtype)
    if _unsupported(algorithm, w):
        pytest.skip("winograd: kernels up to 5x5 (the refusal is tested by _compare_static)")
    y1, c1 = K.conv2d_forward(x, w, b, pad=pad, algorithm=algorithm)
    y2, c2 = K.conv2d_forward(_non_contiguous(x), _non_contiguous(w), _non_contiguous(b), pad=pad,
                              algorithm=algorithm)
    np.testing.assert_array_equal(y1, y2)
    for g1, g2 in zip(K.conv2d_backward(dy, c1), K.conv2d_backward(_non_contiguous(dy), c2)):
        np.testing.assert_array_equal(g1, g2)
    # Fortran order is another non-C-contiguous layout.
    y3, c3 = K.dynamic_conv2d_forward(np.asfortranarray(x), np.asfortranarray(k), bk, pad=pad,
                                      algorithm=dyn)
    y4, c4 = K.dynamic_conv2d_forward(x, k, bk, pad=pad, algorithm=dyn)
    np.testing.assert_array_equal(y3, y4)
    for g3, g4 in zip(K.dynamic_conv2d_backward(np.asfortranarray(dy), c3), K.dynamic_conv2d_backward(dy, c4)):
        np.testing.assert_array_equal(g3, g4)


@pytest.mark.parametrize("geom", [GEOMETRIES[1], GEOMETRIES[2], GEOMETRIES[6]], ids=str)
def test_dynamic_with_shared_kernel_equals_static(rng, geom):
    N, F = geom[0], geom[4]
    pad = geom[-1]
    x, w, _, b, _, dy = _inputs(rng, geom, np.float64)
    k = np.broadcast_to(w, (N,) + w.shape)
    ys, cs = K.conv2d_forward(x, w, b, pad=pad)
    yd, cd = K.dynamic_conv2d_forward(x, k, np.broadcast_to(b, (N, F)), pad=pad)
    assert_close(yd, ys, 1e-12, "y")
    dxs, dws, dbs = K.conv2d_backward(dy, cs)
    dxd, dkd, dbd = K.dynamic_conv2d_backward(dy, cd)
    assert_close(dxd, dxs, 1e-12, "dx")
    assert_close(dkd.sum(axis=0), dws, 1e-12, "sum_t dk^t == dw")
    assert_close(dbd.sum(axis=0), dbs, 1e-12, "sum_t db^t == db")


def test_forward_does_not_modify_inputs(rng):
    x, w, k, b, bk, dy = _inputs(rng, GEOMETRIES[3], np.float32)
    saved = [a.copy() for a in (x, w, k, b, bk, dy)]
    _, c = K.conv2d_forward(x, w, b, pad=2)
    K.conv2d_backward(dy, c)
    _, c = K.dynamic_conv2d_forward(x, k, bk, pad=2)
    K.dynamic_conv2d_backward(dy, c)
    for a, s in zip((x, w, k, b, bk, dy), saved):
        np.testing.assert_array_equal(a, s)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_sgd_update_in_place(rng, dtype):
    w = rng.standard_normal((4, 3, 3, 3)).astype(dtype)
    dw = rng.standard_normal(w.shape).astype(dtype)
    want = R.sgd_update(w, dw, 1e-2)
    out = K.sgd_update(w, dw, 1e-2)
    assert out is w and w.dtype == dtype
    assert_close(w, want, FAST_VS_REFERENCE[np.dtype(dtype)], "eq 4")

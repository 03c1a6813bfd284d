"""The kernels' contract beyond correct arithmetic: what callers may do between forward and
backward, what is checked before anything is copied, and that no output is uninitialised.

Forged caches (crash-prone when a check is missing) are fuzzed in a subprocess by
``tests/test_fuzz.py``; everything here is safe to run in-process.
"""
from __future__ import annotations

import inspect
import time

import numpy as np
import pytest

from dynconv import kernels as K
from dynconv import reference as R
from _checks import FAST_VS_REFERENCE, assert_close

STATIC = K.ALGORITHMS
DYNAMIC = K.DYNAMIC_ALGORITHMS
# (N, C, H, W, F, k, pad): a direct-loop layer (F <= 4) and a GEMM one, with and without padding.
GEOMS = [(2, 3, 7, 6, 6, 3, 1), (2, 5, 6, 6, 2, 3, 0), (2, 1, 9, 8, 6, 3, 2)]


def _problem(rng, geom, dtype=np.float64):
    N, C, H, W, F, k, pad = geom
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((F, C, k, k)).astype(dtype)
    kk = rng.standard_normal((N, F, C, k, k)).astype(dtype)
    dy = rng.standard_normal((N, F, H + 2 * pad - k + 1, W + 2 * pad - k + 1)).astype(dtype)
    return x, w, kk, dy, pad


@pytest.mark.parametrize("algorithm", STATIC)
@pytest.mark.parametrize("geom", GEOMS, ids=str)
def test_static_backward_uses_the_values_seen_at_forward(rng, geom, algorithm):
    x, w, _, dy, pad = _problem(rng, geom)
    want = R.conv2d_backward(dy, R.conv2d_forward(x, w, pad=pad)[1])
    _, cache = K.conv2d_forward(x, w, pad=pad, algorithm=algorithm)
    x += 100.0  # the caller reuses its buffers ...
    w *= -3.0
    x.shape = (x.shape[0], x.shape[1], x.shape[3], x.shape[2])  # ... and even reshapes them
    w.shape = (w.shape[0], -1)
    dx, dw, _ = K.conv2d_backward(dy, cache)
    assert_close(dx, want[0], FAST_VS_REFERENCE[dx.dtype], "dx")
    assert_close(dw, want[1], FAST_VS_REFERENCE[dw.dtype], "dw")


@pytest.mark.parametrize("algorithm", DYNAMIC)
@pytest.mark.parametrize("geom", GEOMS, ids=str)
def test_dynamic_backward_uses_the_values_seen_at_forward(rng, geom, algorithm):
    x, _, k, dy, pad = _problem(rng, geom)
    want = R.dynamic_conv2d_backward(dy, R.dynamic_conv2d_forward(x, k, pad=pad)[1])
    _, cache = K.dynamic_conv2d_forward(x, k, pad=pad, algorithm=algorithm)
    x -= 7.0
    k *= 2.0
    x.shape = (x.shape[0], -1)
    k.shape = (k.shape[0], -1)
    dx, dk, _ = K.dynamic_conv2d_backward(dy, cache)
    assert_close(dx, want[0], FAST_VS_REFERENCE[dx.dtype], "dx")
    assert_close(dk, want[1], FAST_VS_REFERENCE[dk.dtype], "dk")


def test_cache_arrays_are_private(rng):
    x, w, k, _, pad = _problem(rng, GEOMS[0])
    _, cache = K.conv2d_forward(x, w, pad=pad)
    assert not np.shares_memory(cache.xp, x) and not np.shares_memory(cache.w, w)
    _, dcache = K.dynamic_conv2d_forward(x, k, pad=pad)
    assert not np.shares_memory(dcache.xp, x) and not np.shares_memory(dcache.k, k)


def _sentinel(real):
    def filled(*args, **kwargs):
        out = real(*args, **kwargs)
        if out.dtype.kind == "f":
            out.fill(np.nan)
        return out
    return filled


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("geom", GEOMS, ids=str)
def test_no_uninitialised_output(rng, geom, dtype, monkeypatch):
    """Every np.empty the wrappers allocate comes back full of NaN: the results must not."""
    x, w, k, dy, pad = _problem(rng, geom, dtype)
    ry, rc = R.conv2d_forward(x, w, pad=pad)
    rstatic = (ry, *R.conv2d_backward(dy, rc)[:2])
    ry, rc = R.dynamic_conv2d_forward(x, k, pad=pad)
    rdynamic = (ry, *R.dynamic_conv2d_backward(dy, rc)[:2])
    for algo in STATIC:  # compile first: numba must see the real np.empty
        K.conv2d_backward(dy, K.conv2d_forward(x, w, pad=pad, algorithm=algo)[1])
    for algo in DYNAMIC:
        K.dynamic_conv2d_backward(dy, K.dynamic_conv2d_forward(x, k, pad=pad, algorithm=algo)[1])
    monkeypatch.setattr(np, "empty", _sentinel(np.empty))
    monkeypatch.setattr(np, "empty_like", _sentinel(np.empty_like))
    tol = FAST_VS_REFERENCE[np.dtype(dtype)]
    for algo in STATIC:
        y, cache = K.conv2d_forward(x, w, pad=pad, algorithm=algo)
        for got, want, what in zip((y, *K.conv2d_backward(dy, cache)[:2]), rstatic, "y dx dw".split()):
            assert_close(got, want, tol, f"{algo} {what}")
    for algo in DYNAMIC:
        y, cache = K.dynamic_conv2d_forward(x, k, pad=pad, algorithm=algo)
        for got, want, what in zip((y, *K.dynamic_conv2d_backward(dy, cache)[:2]), rdynamic,
                                   "y dx dk".split()):
            assert_close(got, want, tol, f"{algo} {what}")


HUGE = (4096, 64, 1024, 1024)  # 2^38 elements: 1 TiB as float32 if anything copied it


@pytest.mark.parametrize("case", ["channels", "dtype", "pad", "bias", "dy"])
def test_validation_comes_before_any_copy(case):
    """A broadcast view of a huge virtual array with one bad argument: a ValueError, at once."""
    x = np.broadcast_to(np.float32(1), HUGE)
    w = np.zeros((8, 64, 3, 3), np.float32)
    k = np.broadcast_to(np.float32(1), (HUGE[0], 8, 64, 3, 3))
    t0 = time.perf_counter()
    with pytest.raises((ValueError, TypeError)):
        if case == "channels":
            K.conv2d_forward(x, np.zeros((8, 3, 3, 3), np.float32))
        elif case == "dtype":
            K.dynamic_conv2d_forward(x, np.broadcast_to(np.float64(1), k.shape))  # f32 x, f64 k
        elif case == "pad":
            K.conv2d_forward(x, w, pad=7)
        elif case == "bias":
            K.dynamic_conv2d_forward(x, k, np.zeros((3, 8), np.float32))
        else:
            _, cache = K.conv2d_forward(np.zeros((1, 64, 5, 5), np.float32), w)
            K.conv2d_backward(np.broadcast_to(np.float32(0), (2, 8, 3, 3)), cache)
    assert time.perf_counter() - t0 < 5.0  # nothing of the virtual size was touched


@pytest.mark.parametrize("need_input_grad", ["no", 0, None, 1.0])
def test_need_input_grad_must_be_a_bool(rng, need_input_grad):
    x, w, k, dy, pad = _problem(rng, GEOMS[0])
    _, cache = K.conv2d_forward(x, w, pad=pad)
    with pytest.raises(TypeError, match="need_input_grad must be a bool"):
        K.conv2d_backward(dy, cache, need_input_grad=need_input_grad)
    _, dcache = K.dynamic_conv2d_forward(x, k, pad=pad)
    with pytest.raises(TypeError, match="need_input_grad must be a bool"):
        K.dynamic_conv2d_backward(dy, dcache, need_input_grad=need_input_grad)
    assert K.conv2d_backward(dy, cache, need_input_grad=np.bool_(False))[0] is None


def test_the_flag_has_one_name(rng):
    """The layers' attribute and the kernels' keyword are both ``need_input_grad`` (issue 25)."""
    x, w, k, dy, pad = _problem(rng, GEOMS[0])
    _, cache = K.conv2d_forward(x, w, pad=pad)
    with pytest.raises(TypeError, match="need_dx"):
        K.conv2d_backward(dy, cache, need_dx=False)
    for fn in (K.conv2d_backward, K.dynamic_conv2d_backward, R.conv2d_backward,
               R.dynamic_conv2d_backward):
        assert "need_input_grad" in inspect.signature(fn).parameters, fn.__qualname__


@pytest.mark.parametrize("lr, w, dw, kind, match", [
    (None, np.zeros(3), np.zeros(3), TypeError, "lr must be a real number"),
    ("0.1", np.zeros(3), np.zeros(3), TypeError, "lr must be a real number"),
    ([0.1, 0.2, 0.3], np.zeros(3), np.zeros(3), TypeError, "lr must be a real number"),
    (True, np.zeros(3), np.zeros(3), TypeError, "lr must be a real number"),
    (np.nan, np.zeros(3), np.zeros(3), ValueError, "lr must be finite"),
    (0.1, np.zeros(3, np.float32), np.zeros(3), ValueError, "dw has dtype float64 but w is float32"),
    (0.1, np.zeros(3, np.int64), np.zeros(3, np.int64), ValueError, "w must be float32 or float64"),
    (0.1, np.zeros(3), np.zeros((1, 3)), ValueError, r"dw must have the shape of w \(3,\)"),
    (0.1, [0.0, 1.0], np.zeros(2), TypeError, "w must be a numpy array"),
    (0.1, np.broadcast_to(np.zeros(1), (3,)), np.zeros(3), ValueError, "w must be writeable"),
])
def test_sgd_update_accepts_exactly_what_it_documents(lr, w, dw, kind, match):
    with pytest.raises(kind, match=match):
        K.sgd_update(w, dw, lr)


def test_sgd_update_with_integer_lr_keeps_dtype():
    w = np.ones(3, np.float32)
    out = K.sgd_update(w, np.ones(3, np.float32), 1)
    assert out is w and w.dtype == np.float32
    np.testing.assert_array_equal(w, 0)


def test_kernels_work_in_a_forked_child(rng):
    """The thread pool is rebuilt after fork (a child inherits the pool object, not its threads)."""
    import multiprocessing as mp

    x, w, _, _, pad = _problem(rng, GEOMS[0])
    want = K.conv2d_forward(x, w, pad=pad)[0]  # the parent's pool exists now
    with mp.get_context("fork").Pool(1) as pool:
        got = pool.apply_async(_forward_in_child, (x, w, pad)).get(timeout=120)
    np.testing.assert_array_equal(got, want)


def _forward_in_child(x, w, pad):
    K.set_threads(2)
    return K.conv2d_forward(x, w, pad=pad)[0]

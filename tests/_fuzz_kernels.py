"""Hostile-caller fuzzing of the kernels, run as a script in its own process by ``test_fuzz.py``.

A missing check here means numba writing out of bounds — a segfault, an abort, a hang — so this
never runs inside pytest's process. Three hypothesis properties, each a clean exception
(``TypeError``/``ValueError``) or a result equal to ``dynconv.reference``:

* ``forged_cache``: a valid forward pass, then one to three fields of the cache replaced
  (``_replace``) by arrays of other shapes, dtypes and layouts, other ints, flags and names;
* ``hostile_forward``: forward calls with arguments of random rank, shape, dtype, layout, type,
  padding and algorithm;
* ``mutate_after_forward``: the caller changes the values and the shape of its own ``x`` and
  ``w``/``k`` between forward and backward.

Usage: ``python tests/_fuzz_kernels.py EXAMPLES``; prints ``ok <counts>`` on success. Each case
is printed (flushed) before it runs, so a crash names its case.
"""
from __future__ import annotations

import sys

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynconv import kernels as K
from dynconv import reference as R

CLEAN = (TypeError, ValueError)
COUNTS = {"exception": 0, "result": 0}
TOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-3}


def log(*parts):
    print(*parts, flush=True)


def close(got, want, dtype):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = max(np.abs(want).max(initial=0.0), 1e-30)
    err = np.abs(got - want).max(initial=0.0) / scale
    assert err <= TOL[np.dtype(dtype)], f"relative error {err:.2e}"


@st.composite
def arrays(draw, shape=None, dtype=None):
    """A random array: given or random shape; float32/64 or an odd dtype; odd layouts."""
    if shape is None:
        shape = tuple(draw(st.lists(st.integers(0, 6), min_size=0, max_size=6)))
    if dtype is None:
        dtype = draw(st.sampled_from([np.float64, np.float32, np.float32, np.float64, np.int64,
                                      np.bool_, np.float16, np.complex128]))
    seed = draw(st.integers(0, 2**31))
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    layout = draw(st.sampled_from(["c", "c", "f", "strided", "broadcast", "readonly"]))
    if layout == "f":
        a = np.asfortranarray(a)
    elif layout == "strided" and a.ndim:
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., ::2] = a
        a = big[..., ::2]
    elif layout == "broadcast" and a.ndim and a.size:
        a = np.broadcast_to(a[(slice(0, 1),) + (slice(None),) * (a.ndim - 1)], a.shape)
    elif layout == "readonly":
        a.flags.writeable = False
    return a


def junk():
    return st.one_of(st.none(), st.integers(-3, 12), st.floats(allow_nan=True), st.booleans(),
                     st.text(max_size=3), st.tuples(st.integers(-2, 9), st.integers(-2, 9)),
                     arrays())


@st.composite
def problem(draw, dynamic):
    N, C, F = draw(st.integers(1, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 7))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    pad = draw(st.integers(0, min(kh, kw) - 1))
    H, W = draw(st.integers(max(1, kh - 2 * pad), 8)), draw(st.integers(max(1, kw - 2 * pad), 8))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((N, F, C, kh, kw) if dynamic else (F, C, kh, kw)).astype(dtype)
    b = rng.standard_normal((N, F) if dynamic else (F,)).astype(dtype) if draw(st.booleans()) else None
    dy = rng.standard_normal((N, F, H + 2 * pad - kh + 1, W + 2 * pad - kw + 1)).astype(dtype)
    algos = K.DYNAMIC_ALGORITHMS if dynamic else K.ALGORITHMS
    return x, w, b, dy, pad, draw(st.sampled_from(algos))


def api(dynamic):
    if dynamic:
        return K.dynamic_conv2d_forward, K.dynamic_conv2d_backward, R.dynamic_conv2d_forward, \
            R.dynamic_conv2d_backward
    return K.conv2d_forward, K.conv2d_backward, R.conv2d_forward, R.conv2d_backward


def check_backward(bwd, dy, cache, need_input_grad, oracle):
    """Backward on a (possibly forged) cache: a clean exception, or what the oracle computes."""
    try:
        got = bwd(dy, cache, need_input_grad=need_input_grad)
    except CLEAN:
        COUNTS["exception"] += 1
        return
    COUNTS["result"] += 1
    want = oracle()
    for g, r in zip(got, want):
        if g is not None:
            assert np.isfinite(g).all(), "non-finite gradient from finite inputs"
            close(g, r, g.dtype)


FIELDS = {False: ("x_shape", "w", "has_bias", "pad", "algorithm", "xp"),
          True: ("xp", "k", "has_bias", "pad", "algorithm")}


@st.composite
def forgery(draw, cache, dynamic):
    fields = draw(st.lists(st.sampled_from(FIELDS[dynamic]), min_size=1, max_size=3, unique=True))
    changes = {}
    for f in fields:
        old = getattr(cache, f)
        if isinstance(old, np.ndarray):
            shape = draw(st.one_of(st.just(old.shape),
                                   st.tuples(*[st.integers(max(0, s - 2), s + 2) for s in old.shape]),
                                   st.lists(st.integers(0, 9), max_size=6).map(tuple)))
            changes[f] = draw(st.one_of(arrays(shape=shape), arrays(shape=shape, dtype=old.dtype), junk()))
        elif f == "x_shape":
            changes[f] = draw(st.one_of(st.tuples(*[st.integers(-1, s + 3) for s in old]),
                                        st.lists(st.integers(0, 9), max_size=6).map(tuple), junk()))
        elif f == "algorithm":
            changes[f] = draw(st.one_of(st.sampled_from(K.ALGORITHMS + ("bogus", "")), junk()))
        else:
            changes[f] = draw(st.one_of(st.integers(-2, 9), junk()))
    return changes


def run_forged(data, dynamic):
    fwd, bwd, rfwd, rbwd = api(dynamic)
    x, w, b, dy, pad, algo = data.draw(problem(dynamic))
    _, cache = fwd(x, w, b, pad=pad, algorithm=algo)
    changes = data.draw(forgery(cache, dynamic))
    need_input_grad = data.draw(st.booleans())
    forged = cache._replace(**changes)
    log("forged", "dynamic" if dynamic else "static", algo, {k: (getattr(v, "shape", v), getattr(v, "dtype", ""))
                                                            for k, v in changes.items()})

    def oracle():  # what the forged cache, if accepted, must mean
        p = int(forged.pad)
        xp = np.asarray(forged.xp, np.float64)
        xr = xp[:, :, p:xp.shape[2] - p, p:xp.shape[3] - p]
        kr = np.asarray(forged.k if dynamic else forged.w, np.float64)
        br = np.zeros(dy.shape[:2] if dynamic else dy.shape[1]) if forged.has_bias else None
        _, rc = rfwd(xr, kr, br, pad=p)
        out = rbwd(np.asarray(dy, np.float64), rc)
        return out if forged.has_bias else out[:2] + (None,)

    check_backward(bwd, dy, forged, need_input_grad, oracle)


def run_hostile_forward(data, dynamic):
    fwd, _, rfwd, _ = api(dynamic)
    x, w, b, _, pad, algo = data.draw(problem(dynamic))
    args = {"x": x, "w": w, "b": b, "pad": pad, "algorithm": algo}
    for name in data.draw(st.lists(st.sampled_from(list(args)), min_size=1, max_size=3, unique=True)):
        old = args[name]
        if isinstance(old, np.ndarray):
            args[name] = data.draw(st.one_of(arrays(), arrays(shape=old.shape),
                                             arrays(shape=old.shape, dtype=old.dtype), junk()))
        else:
            args[name] = data.draw(junk())
    log("forward", "dynamic" if dynamic else "static", {k: (getattr(v, "shape", v), getattr(v, "dtype", ""))
                                                       for k, v in args.items()})
    try:
        y, _ = fwd(args["x"], args["w"], args["b"], pad=args["pad"], algorithm=args["algorithm"])
    except CLEAN:
        COUNTS["exception"] += 1
        return
    COUNTS["result"] += 1
    f64 = [None if a is None else np.asarray(a, np.float64) for a in (args["x"], args["w"], args["b"])]
    close(y, rfwd(*f64, pad=args["pad"])[0], y.dtype)


def run_mutation(data, dynamic):
    fwd, bwd, rfwd, rbwd = api(dynamic)
    x, w, b, dy, pad, algo = data.draw(problem(dynamic))
    want = rbwd(dy.astype(np.float64), rfwd(x.astype(np.float64), w.astype(np.float64),
                                            None if b is None else b.astype(np.float64), pad=pad)[1])
    _, cache = fwd(x, w, b, pad=pad, algorithm=algo)
    for a in (x, w):
        a *= data.draw(st.floats(-5, 5))
        if data.draw(st.booleans()):
            a.shape = (-1,)
    log("mutate", "dynamic" if dynamic else "static", algo, x.shape, w.shape)
    got = bwd(dy, cache)
    COUNTS["result"] += 1
    for g, r in zip(got, want):
        if r is not None:
            close(g, r, g.dtype)


def _bind(runner, dynamic):
    def prop(data):
        runner(data, dynamic)
    return prop


def main(examples):
    opts = settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))
    for name, runner in (("forged", run_forged), ("forward", run_hostile_forward),
                         ("mutate", run_mutation)):
        for dynamic in (False, True):
            opts(given(data=st.data())(_bind(runner, dynamic)))()
            log(f"done {name} {'dynamic' if dynamic else 'static'}")
    print(f"ok {COUNTS}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50)

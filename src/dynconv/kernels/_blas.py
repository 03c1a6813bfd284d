r"""BLAS ``?gemm`` callable from numba, and the thread policy of the kernels.

GEMM from inside numba
----------------------
:func:`gemm` is the Fortran ``sgemm``/``dgemm`` of the OpenBLAS that ships with scipy, reached
through ``scipy.linalg.cython_blas``: its address is registered with LLVM under a fixed symbol
name (``dynconv_sgemm`` / ``dynconv_dgemm``) and declared to numba as an external function, so
a jitted loop calls it without the GIL, without Python, and the compiled code stays cacheable
(it refers to the symbol by name, not to an address of this process).

All matrices are column-major in the BLAS sense: element ``(i, j)`` of a matrix stored at offset
``o`` of a flat array ``a`` with leading dimension ``ld`` is ``a[o + i + j * ld]``. A row-major
``(R, S)`` array with row stride ``ld`` is therefore the column-major ``(S, R)`` matrix
:math:`A^T` — the kernels use this to pass shifted, strided views of an input without copying.

Under ``NUMBA_DISABLE_JIT=1`` :func:`gemm` is the same product written with NumPy strided views.

Threads: one level of parallelism at a time
-------------------------------------------
The numba loops are compiled serial (``parallel=False`` compiles several times faster) and
release the GIL; :func:`parallel` splits their work items into contiguous ranges and runs the
ranges on a small thread pool — each range owns what it writes. The loops call BLAS from inside
each range: that BLAS must run serial, or its thread pool and ours would fight over the cores.
:func:`serial_blas` is the context the kernel wrappers run in (scipy's OpenBLAS set to one
thread, restored afterwards). NumPy's own BLAS (``np.matmul`` in a few layers) runs from the
calling thread between kernels, when the pool is idle (its threads sleep, they never spin).
:func:`set_threads` sets both levels in one call — the pool, and NumPy's BLAS (serial unless
asked otherwise). The pool's default size is numba's ``NUMBA_NUM_THREADS`` (all cores unless
that variable says otherwise); NumPy's BLAS keeps its own default until :func:`set_threads`.
"""
from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import types

__all__ = ["gemm", "parallel", "ranges", "set_threads", "get_threads", "serial_blas", "blas_info", "N", "T"]

#: ``transa``/``transb`` codes for :func:`gemm` (the ASCII of the Fortran characters).
N, T = ord("N"), ord("T")


def _register():
    """Register scipy's ``sgemm``/``dgemm`` with LLVM; return the two external functions."""
    import llvmlite.binding as llvm
    from numba.extending import get_cython_function_address

    sig = types.void(*([types.intp] * 13))
    out = []
    for name in ("sgemm", "dgemm"):
        llvm.add_symbol(f"dynconv_{name}", get_cython_function_address("scipy.linalg.cython_blas", name))
        out.append(types.ExternalFunction(f"dynconv_{name}", sig))
    return out


_sgemm, _dgemm = _register()


def _gemm_jit(ta, tb, m, n, k, a, ao, lda, b, bo, ldb, c, co, ldc, beta, scr, ab):
    """``C = op(A) @ op(B) + beta * C`` (alpha = 1) through BLAS; see the module docstring.

    ``scr`` (int32, 8) and ``ab`` (dtype of ``a``, 2) are scratch the caller owns: Fortran
    takes every scalar by address. With ``beta == 0`` the old C is never read.
    """
    scr[0] = m
    scr[1] = n
    scr[2] = k
    scr[3] = lda
    scr[4] = ldb
    scr[5] = ldc
    scr[6] = ta
    scr[7] = tb
    ab[0] = 1.0
    ab[1] = beta
    isz = a.itemsize
    p = scr.ctypes.data
    pab = ab.ctypes.data
    args = (p + 24, p + 28, p, p + 4, p + 8, pab, a.ctypes.data + ao * isz, p + 12,
            b.ctypes.data + bo * isz, p + 16, pab + isz, c.ctypes.data + co * isz, p + 20)
    if isz == 4:
        _sgemm(*args)
    else:
        _dgemm(*args)
    # Keep the scratch alive until after the call (numba may free a buffer after its last use).
    scr[0] = 0
    ab[0] = 0


def _matrix(a, off, rows, cols, ld, trans):
    """The column-major (rows, cols) matrix at ``a[off]`` with leading dimension ``ld``, op-applied."""
    if trans == T:
        rows, cols = cols, rows
    view = np.lib.stride_tricks.as_strided(a[off:], (rows, cols), (a.itemsize, ld * a.itemsize))
    return view.T if trans == T else view


def _gemm_py(ta, tb, m, n, k, a, ao, lda, b, bo, ldb, c, co, ldc, beta, scr, ab):
    """:func:`_gemm_jit` in NumPy, for ``NUMBA_DISABLE_JIT=1``."""
    opa = _matrix(a, ao, m, k, lda, ta)
    opb = _matrix(b, bo, k, n, ldb, tb)
    out = np.lib.stride_tricks.as_strided(c[co:], (m, n), (c.itemsize, ldc * c.itemsize))
    prod = opa @ opb
    if beta == 0:
        out[...] = prod
    else:
        out[...] = prod + beta * out


# Inlined into its callers: no dispatcher of its own, so no extra signatures to compile or cache.
gemm = _gemm_py if numba.config.DISABLE_JIT else numba.njit(inline="always", nogil=True)(_gemm_jit)


# --------------------------------------------------------------------------------- threads
def _openblas_controls():
    """``{"scipy": (get, set), "numpy": (get, set)}`` for the OpenBLAS builds these wheels ship."""
    import scipy

    found = {}
    for key, mod in (("scipy", scipy), ("numpy", np)):
        libdir = os.path.join(os.path.dirname(os.path.dirname(mod.__file__)), f"{key}.libs")
        for path in sorted(glob.glob(os.path.join(libdir, "*openblas*.so*"))):
            try:
                lib = ctypes.CDLL(path)
            except OSError:  # pragma: no cover - a broken wheel
                continue
            for suffix in ("64_", ""):
                get = getattr(lib, f"scipy_openblas_get_num_threads{suffix}", None)
                set_ = getattr(lib, f"scipy_openblas_set_num_threads{suffix}", None)
                if get is not None and set_ is not None:
                    get.restype, set_.restype = ctypes.c_int, None
                    set_.argtypes = [ctypes.c_int]
                    found[key] = (get, set_)
                    break
            if key in found:
                break
    return found


_CONTROLS = _openblas_controls()


def blas_info():
    """``{"scipy": n, "numpy": n}``: threads of each OpenBLAS that could be found (else absent)."""
    return {key: int(get()) for key, (get, _) in _CONTROLS.items()}


@contextlib.contextmanager
def serial_blas(which="scipy"):
    """Run the body with one OpenBLAS on one thread, then restore its thread count: ``"scipy"``,
    the kernels' BLAS, or ``"numpy"``, NumPy's."""
    control = _CONTROLS.get(which)
    before = int(control[0]()) if control else 1
    if before != 1:
        control[1](1)
    try:
        yield
    finally:
        if before != 1:
            control[1](before)


_THREADS = max(1, int(numba.config.NUMBA_NUM_THREADS))
_POOL = None
_POOL_LOCK = threading.Lock()


def _forget_pool():
    """In a forked child the pool's threads do not exist: start a new pool on first use."""
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _pool():
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers != _THREADS:
            if _POOL is not None:
                _POOL.shutdown(wait=True)
            _POOL = ThreadPoolExecutor(max_workers=_THREADS, thread_name_prefix="dynconv")
        return _POOL


def ranges(items):
    """The contiguous ranges ``[(i0, i1), ...]`` :func:`parallel` cuts ``range(items)`` into."""
    parts = int(max(1, min(items, _THREADS)))
    return [(p * items // parts, (p + 1) * items // parts) for p in range(parts)]


def parallel(fn, items, *args, index=False):
    """Run ``fn(*args, i0, i1)`` (``fn(*args, p, i0, i1)`` with ``index``) on :func:`ranges`.

    ``fn`` must own what range ``p = [i0, i1)`` writes and release the GIL (the numba loops are
    ``nogil``); the caller runs the first range, the pool the others.
    """
    parts = ranges(items)

    def call(p):
        i0, i1 = parts[p]
        return fn(*args, p, i0, i1) if index else fn(*args, i0, i1)

    if len(parts) == 1 or numba.config.DISABLE_JIT:
        for p in range(len(parts)):
            call(p)
        return
    futures = [_pool().submit(call, p) for p in range(1, len(parts))]
    try:
        call(0)
    finally:
        for f in futures:
            f.result()  # waits for every range; re-raises a worker's exception


def set_threads(n, *, blas=1):
    """Use ``n`` threads for the kernels, and ``blas`` threads for NumPy's BLAS.

    One level of parallelism at a time: the kernels' ranges run on ``n`` threads and call their
    BLAS serially; NumPy's BLAS (``np.matmul`` in ``Linear`` and the ``im2col`` algorithm, all
    small products in dynconv) runs between kernels. By default it is serial too — a pool of
    BLAS threads woken for a sub-millisecond product costs more than the product, by orders of
    magnitude on a busy machine. ``blas=n`` gives NumPy's BLAS the same threads (for large
    products outside dynconv). Returns the previous ``get_threads()``.
    """
    global _THREADS
    for value, name in ((n, "n"), (blas, "blas")):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    before = _THREADS
    _THREADS = int(n)
    if "numpy" in _CONTROLS:
        _CONTROLS["numpy"][1](int(blas))
    return before


def get_threads():
    """The number of threads the kernels use."""
    return _THREADS

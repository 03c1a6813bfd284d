"""Shared by the kernel benchmark's modules: round-robin timing, sgemm, errors, machine facts."""
from __future__ import annotations

import gc
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np


def interleaved(fns, *, rounds, warmup, budget_s, min_reps):
    """Time each callable in ``fns`` round-robin; return {name: [seconds, ...]}.

    Every peer runs ``warmup`` untimed calls, then up to ``rounds`` timed ones, one call per
    peer per round, the starting peer rotating from round to round. A peer whose warm call
    is slow stops after ``max(min_reps, budget_s / t_warm)`` repeats (the NumPy baseline).
    """
    names = list(fns)
    reps = {}
    for name in names:
        t_last = 0.0
        for _ in range(max(1, warmup)):
            t0 = time.perf_counter()
            fns[name]()
            t_last = time.perf_counter() - t0
        reps[name] = int(max(min_reps, min(rounds, budget_s / max(t_last, 1e-9))))
    times = {name: [] for name in names}
    gc.collect()
    for r in range(max(reps.values())):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            if len(times[name]) < reps[name]:
                t0 = time.perf_counter()
                fns[name]()
                times[name].append(time.perf_counter() - t0)
    return times


def med(ts):
    return float(statistics.median(ts)) if ts else None


def sgemm_gflops(n, reps):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        a @ b
        ts.append(time.perf_counter() - t0)
    return [2.0 * n ** 3 / t / 1e9 for t in ts]


def relerr(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def fmt(v, spec=".2f", none="—"):
    return none if v is None else format(v, spec)


def _loadavg():
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def _cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_peak(cpuinfo=None, cores=None):
    """The fp32 peak of this machine: cores x FMA units x lanes x 2 FLOP x clock (issue 22).

    ``cpuinfo`` is the text of ``/proc/cpuinfo`` (read when None); ``cores`` defaults to
    ``os.cpu_count()``. Lanes come from the flags (``avx512f``: 16, ``avx2``/``avx``: 8, else 4),
    the clock from the first ``cpu MHz`` line. cpuinfo does not name the FMA units: 2 with the
    ``fma`` flag (every AVX2 core from Haswell / Zen on; Zen 3 has 2), else 1 — recorded as an
    assumption in the result. AMD's Zen 4 (CPU family 25, model 0x10 and up, e.g. this VM's EPYC)
    runs AVX-512 on its two 256-bit FMA pipes, so its peak is 2 x 8 lanes, not 2 x 16.
    Returns a dict with ``gflops`` (None when the clock is unknown).
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    mhz, flags, cpu = None, set(), {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "cpu MHz" and mhz is None:
            mhz = float(value)
        elif key == "flags" and not flags:
            flags = set(value.split())
        elif key in ("vendor_id", "cpu family", "model") and key not in cpu:
            cpu[key] = value.strip()
    lanes = 16 if "avx512f" in flags else 8 if ("avx2" in flags or "avx" in flags) else 4
    if lanes == 16 and cpu.get("vendor_id") == "AuthenticAMD" and cpu.get("cpu family") == "25":
        lanes = 8  # Zen 4: 512-bit FMAs are split over the two 256-bit pipes
    units = 2 if "fma" in flags else 1
    cores = int(cores or os.cpu_count() or 1)
    gflops = None if mhz is None else cores * units * lanes * 2 * mhz / 1e3
    return {"cores": cores, "mhz": mhz, "fp32_lanes": lanes, "fma_units_assumed": units,
            "gflops": gflops}


def pct_of_peak(gflops, peak):
    """``gflops`` as a percentage of ``peak["gflops"]`` (None if either is unknown)."""
    if gflops is None or not peak or not peak.get("gflops"):
        return None
    return 100.0 * gflops / peak["gflops"]


#: Above this 1-minute load average at the start, a run's PyTorch ratios are marked (issue 22).
BUSY_LOAD = 1.0
BUSY_NOTE = "busy machine"


def is_busy(load1):
    """Whether a run that started at 1-minute load ``load1`` is on a busy machine.

    PyTorch's threads wait at barriers for a core another process holds, so on a busy machine
    its ratios flatter dynconv; such runs are marked and never quoted in the README tables.
    """
    return load1 is not None and load1 > BUSY_LOAD


def blas_env():
    """``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` where set (never set or unset here)."""
    return {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}


def passive_openmp():
    """Let PyTorch's OpenMP workers sleep between parallel regions; call before ``import torch``.

    By default they spin for a while after each region. In a benchmark process that alternates
    PyTorch and dynconv steps, the spinning worker holds the second core while dynconv's next
    step runs: measured on 9-1-5 (B = 64, 2 threads), dynconv's step took 30-32 ms right after a
    PyTorch step against 23-24 ms alone, and 23.7-25 ms with ``OMP_WAIT_POLICY=PASSIVE``, which
    left PyTorch's own step unchanged (37.5 vs 37.9 ms). A policy set in the environment is kept.
    Returns the policy in force (recorded in every benchmark's JSON).
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return os.environ["OMP_WAIT_POLICY"]


def write_json_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file and a rename (never half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)

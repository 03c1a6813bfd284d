"""Smoke test of ``benchmarks/bench_kernels.py``: ``--quick`` runs and writes the expected JSON.

The benchmark runs in a subprocess with one thread (``--threads 1``): on a loaded shared machine
multi-threaded barriers make a smoke run needlessly slow, and the smoke test checks the
plumbing, not the speed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_kernels_report import markdown  # noqa: E402

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_kernels.py"
KERNELS = {"conv1_9x9_1-64", "conv2_1x1_64-32", "conv2_5x5_64-32", "conv3_5x5_32-1_915",
           "conv3_5x5_32-1_955", "b_conv1_5x5_1-32", "b_conv2_1x1_32-32", "map_3x3_32-32", "dyn_1x1_64-32",
           "dyn_5x5_32-1"}
DIRECTIONS = {"fwd", "dx", "dw", "bwd"}


def run_quick(tmp_path, *extra, env=None):
    out = tmp_path / "kernels.json"
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--threads", "1", "--out",
                           str(out), *extra], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text())


def test_quick_run_writes_expected_json(tmp_path):
    from dynconv.kernels import ALGORITHMS, DYNAMIC_ALGORITHMS

    # The load of 1.5 stands for a busy machine: the PyTorch ratios must say so. A set BLAS
    # variable must be recorded (Haswell is what OpenBLAS picks on its own here).
    env = dict(os.environ, OPENBLAS_CORETYPE="Haswell")
    env.pop("OPENBLAS_L2_SIZE", None)
    printed, res = run_quick(tmp_path, "--_load", "1.5", env=env)
    assert "| kernel |" in printed and "| SRCNN training step" in printed
    assert "PASS" in printed or "MISS" in printed
    assert "OPENBLAS_CORETYPE=" in printed

    assert {"meta", "sgemm", "kernels", "training_step", "compile", "targets", "problems"} <= set(res)
    assert res["meta"]["quick"] is True and res["meta"]["B"] == 8
    meta = res["meta"]
    assert meta["blas_env"]["OPENBLAS_CORETYPE"] == "Haswell" and "OPENBLAS_L2_SIZE" not in meta["blas_env"]
    assert "OPENBLAS_CORETYPE=Haswell" in printed
    assert meta["loadavg_start"][0] == 1.5 and meta["busy"] is True
    assert meta["peak"]["cores"] == 1
    assert "× torch (busy machine)" in printed
    assert res["sgemm"]["gflops"] > 0
    assert res["problems"] == []  # every algorithm agreed with torch (or with each other)

    rows = res["kernels"]
    assert {r["kernel"] for r in rows} == KERNELS
    for r in rows:
        algos = DYNAMIC_ALGORITHMS if r["dynamic"] else ALGORITHMS
        assert r["algorithm"] in algos
        assert {"ms", "gflops", "gflop", "frac_sgemm", "ratio_vs_torch", "chosen", "chosen_training"} <= set(r)
        if meta["peak"]["gflops"]:
            assert abs(r["pct_peak"] - 100 * r["gflops"] / meta["peak"]["gflops"]) < 1e-9
    for kernel in KERNELS:
        mine = [r for r in rows if r["kernel"] == kernel]
        assert {r["direction"] for r in mine} == DIRECTIONS
        assert sum(r["chosen"] for r in mine) in (len(DIRECTIONS), len(DIRECTIONS) - 1)  # one each
        assert sum(r["chosen_training"] for r in mine) in (len(DIRECTIONS), len(DIRECTIONS) - 1)
        assert all(r["ms"] > 0 for r in mine)

    assert set(res["training_step"]) == {"9-1-5", "9-5-5"}
    for step in res["training_step"].values():
        assert {"patches_per_s", "ratio_vs_numpy", "ratio_vs_torch", "profile_dynconv_ms"} <= set(step)
        assert step["patches_per_s"]["dynconv"] > 0
        want = 1e3 * step["step_gflop"] / step["ms"]["dynconv"]
        assert abs(step["gflops"] - want) < 1e-6 * want
    # Issue 22's count per 33x33 sub-image: forward, dw, and dx except for layer 1.
    assert abs(res["training_step"]["9-1-5"]["step_gflop"] * 1e3 / 8 - 22.7568) < 1e-9
    assert abs(res["training_step"]["9-5-5"]["step_gflop"] * 1e3 / 8 - 149.8224) < 1e-9

    assert res["compile"] is None  # --quick skips the cold/warm compile subprocesses
    assert {t["name"] for t in res["targets"]} >= {"SRCNN 9-1-5 step vs torch",
                                                   "SRCNN 9-5-5 step vs torch"}
    quiet = dict(res, meta=dict(meta, busy=False, loadavg_start=[0.4] * 3))
    assert "busy machine" not in markdown(quiet) and "busy machine" in markdown(res)


@pytest.mark.slow  # a second full --quick run (12 s); the first one stays in `make test`
def test_without_torch_says_so(tmp_path):
    printed, res = run_quick(tmp_path, "--no-torch")
    assert "torch not installed" in printed
    assert res["meta"]["torch"] is None
    assert all(r["ratio_vs_torch"] is None for r in res["kernels"])
    assert res["problems"] == []

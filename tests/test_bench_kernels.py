"""Smoke test of ``benchmarks/bench_kernels.py``: ``--quick`` runs and writes the expected JSON.

The benchmark runs in a subprocess pinned to one thread (numba, torch, OpenBLAS): on a loaded
shared machine multi-threaded barriers make a smoke run needlessly slow, and the smoke test
checks the plumbing, not the speed.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_kernels.py"
KERNELS = {"conv1_9x9_1-64", "conv2_1x1_64-32", "conv2_5x5_64-32", "conv3_5x5_32-1_915",
           "conv3_5x5_32-1_955", "dyn_5x5_32-1"}
DIRECTIONS = {"fwd", "bwd", "bwd-dx"}


def run_quick(tmp_path, *extra):
    out = tmp_path / "kernels.json"
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--threads", "1", "--out",
                           str(out), *extra], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, json.loads(out.read_text())


def test_quick_run_writes_expected_json(tmp_path):
    printed, res = run_quick(tmp_path, "--algorithms")
    assert "| kernel |" in printed and "| SRCNN training step" in printed
    assert "PASS" in printed or "MISS" in printed

    assert {"meta", "sgemm", "kernels", "training_step", "compile", "algorithms", "targets",
            "problems"} <= set(res)
    assert res["meta"]["quick"] is True and res["meta"]["B"] == 8
    assert res["sgemm"]["gflops"] > 0
    assert res["problems"] == []  # dynconv agreed with the NumPy baseline (and torch)

    assert {r["kernel"] for r in res["kernels"]} == KERNELS
    assert {(r["kernel"], r["direction"]) for r in res["kernels"]} == {
        (k, d) for k in KERNELS for d in DIRECTIONS}
    for r in res["kernels"]:
        assert {"ms", "gflops", "gflop", "frac_sgemm", "speedup_vs_numpy", "ratio_vs_torch",
                "max_rel_err", "algorithm"} <= set(r)
        assert r["ms"]["dynconv"] > 0 and r["ms"]["numpy"] > 0

    assert set(res["training_step"]) == {"9-1-5", "9-5-5"}
    for step in res["training_step"].values():
        assert {"patches_per_s", "ratio_vs_numpy", "ratio_vs_torch", "profile_dynconv_ms"} <= set(step)
        assert step["patches_per_s"]["dynconv"] > 0

    assert res["compile"] is None  # --quick skips the cold/warm compile subprocesses
    assert {(r["kernel"], r["direction"]) for r in res["algorithms"]} == {
        (k, d) for k in KERNELS for d in DIRECTIONS}
    assert {t["name"] for t in res["targets"]} >= {"SRCNN 9-1-5 step vs torch",
                                                   "SRCNN 9-5-5 step vs torch"}


def test_without_torch_says_so(tmp_path):
    printed, res = run_quick(tmp_path, "--no-torch")
    assert "torch not installed" in printed
    assert res["meta"]["torch"] is None
    assert all(r["ratio_vs_torch"] is None for r in res["kernels"])
    assert res["problems"] == []

"""Smoke test of benchmarks/bench_train.py: it runs, and writes the JSON other tools read."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_train.py"
MODELS = {"srcnn", "srcnn-955", "dcnn", "dcnn-paper-b", "dcnn-default"}
# Issue 22's analytic count for a 33x33 sub-image: forward, dw, and dx except for layer 1.
MFLOP_PER_SUBIMAGE = {"srcnn": 22.7568, "srcnn-955": 149.8224}


def test_quick_run_writes_expected_json(tmp_path):
    out = tmp_path / "train.json"
    # Haswell is what OpenBLAS picks on its own on the machines we run on; any set value must be
    # recorded. The load of 1.5 stands for a busy machine: the PyTorch ratios must say so.
    env = dict(os.environ, OPENBLAS_CORETYPE="Haswell")
    env.pop("OPENBLAS_L2_SIZE", None)
    env.pop("OMP_WAIT_POLICY", None)
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--threads", "1", "--out", str(out),
                           "--_load", "1.5"], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    machine = res["machine"]
    assert machine["blas_env"] == {"OPENBLAS_CORETYPE": "Haswell"}
    assert machine["loadavg_start"][0] == 1.5 and machine["busy"] is True
    assert machine["peak"]["cores"] == 1
    assert machine["omp_wait_policy"] == "PASSIVE"  # PyTorch's idle workers sleep
    assert set(res["train"]) == set(res["inference"]) == MODELS
    has_torch = machine["torch"] is not None
    if has_torch:  # the peer was checked to compute the same function
        assert proc.stdout.count("torch peer = dynconv forward") == len(MODELS), proc.stdout
    train_lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("train ")]
    assert len(train_lines) == len(MODELS)
    for name, row in res["train"].items():
        assert row["dynconv_patches_per_s"] > 0 and row["bare_patches_per_s"] > 0
        assert row["dynconv_peak_mib"] > 0
        assert abs(row["framework_over_bare"] - row["dynconv_patches_per_s"] / row["bare_patches_per_s"]
                   ) < 1e-9 * row["framework_over_bare"]
        gflop = row["step_gflop"]
        assert abs(row["dynconv_gflops"] - gflop * row["dynconv_patches_per_s"] / res["batch"]) < 1e-6
        assert abs(row["dynconv_pct_peak"] - 100 * row["dynconv_gflops"] / machine["peak"]["gflops"]) < 1e-6
        if name in MFLOP_PER_SUBIMAGE:
            assert abs(gflop * 1e3 / res["batch"] - MFLOP_PER_SUBIMAGE[name]) < 1e-6
        assert ("ratio_vs_torch" in row) == has_torch
    assert all(("(busy machine)" in ln) == has_torch for ln in train_lines)
    assert "busy machine" in proc.stdout.splitlines()[0]
    assert all(r["seconds"] > 0 and r["scale"] == 3 for r in res["inference"].values())

"""Smoke test of ``benchmarks/bench_upscale.py --quick`` (slow: three whole-command subprocesses)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_upscale.py"


@pytest.mark.slow
def test_quick_run_writes_expected_json(tmp_path):
    out = tmp_path / "upscale.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--threads", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["image"] == [400, 300] and res["scale"] == 2
    assert {"srcnn-x2", "dcnn"} <= set(res["seconds"]) and res["ratio_dcnn_vs_srcnn"] > 0
    assert "blas_env" in res and "loadavg_start" in res


@pytest.mark.slow
def test_memory_benchmark_compile_mode_counts_a_warm_process_compiling_nothing(tmp_path):
    script = SCRIPT.with_name("bench_upscale_memory.py")
    out = tmp_path / "compile.json"
    proc = subprocess.run([sys.executable, str(script), "--compile", "--models", "bicubic", "--out", str(out)],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = {r["phase"]: r for r in json.loads(out.read_text())["compile"]}
    assert rows["cold"]["ok"] and rows["warm"]["ok"]
    assert rows["cold"]["compiles"] > 0 and rows["warm"]["compiles"] == 0

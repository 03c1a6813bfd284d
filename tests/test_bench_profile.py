"""Smoke test of benchmarks/bench_profile.py: every node timed in both directions, the parts add up."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_profile.py"


def test_quick_profile_times_every_node(tmp_path):
    out = tmp_path / "profile.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--models", "srcnn", "--threads", "1",
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())["models"]["srcnn"]
    keys = {(s["node"], s["direction"]) for s in res["segments"]}
    for node in ("conv1", "relu1", "conv2", "relu2", "conv3"):
        assert {(node, "forward"), (node, "backward")} <= keys
    assert {("loss", "forward"), ("loss", "backward"), ("adam", "step")} <= keys
    assert all(s["ms"] > 0 for s in res["segments"])
    # The timed parts lie inside the step; a product layer has a GFLOP/s figure, ReLU none.
    assert 0 < sum(s["ms"] for s in res["segments"]) <= res["step_ms"]
    assert abs(res["rest_ms"] - (res["step_ms"] - sum(s["ms"] for s in res["segments"]))) < 1e-9
    gflops = {(s["node"], s["direction"]): s["gflops"] for s in res["segments"]}
    assert gflops["conv1", "forward"] > 0 and gflops["relu1", "forward"] is None
    assert "graph and rest" in proc.stdout


def test_unknown_model_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, str(SCRIPT), "--models", "srcnn,nope", "--out",
                           str(tmp_path / "p.json")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown model(s) nope" in proc.stderr

"""Smoke test of benchmarks/bench_train.py: it runs, and writes the JSON other tools read."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_train.py"


def test_quick_run_writes_expected_json(tmp_path):
    out = tmp_path / "train.json"
    env = dict(os.environ)
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--threads", "1", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    assert set(res["train"]) == set(res["inference"]) == {"srcnn", "srcnn-955", "dcnn", "dcnn-paper-b"}
    if res["machine"]["torch"] is not None:  # the peer was checked to compute the same function
        assert proc.stdout.count("torch peer = dynconv forward") == 4, proc.stdout
    for row in res["train"].values():
        assert row["dynconv_patches_per_s"] > 0 and row["dynconv_peak_mib"] > 0
        assert ("ratio_vs_torch" in row) == (res["machine"]["torch"] is not None)
    assert all(r["seconds"] > 0 and r["scale"] == 3 for r in res["inference"].values())

"""dynconv.demo: the demo's default model goes through the registry (no resolver to pass)."""
from __future__ import annotations

import inspect

from dynconv import demo, sr


def test_run_demo_needs_no_resolver_and_its_default_model_resolves(tmp_path):
    params = inspect.signature(demo.run_demo).parameters
    assert "resolve" not in params
    name, fn = sr.resolve(params["model"].default)
    assert name == "dcnn" and callable(fn)
    # The whole demo with bicubic beside bicubic (the CLI test runs it with the DCNN).
    lines = list(demo.run_demo(tmp_path / "d.png", model="bicubic"))
    assert lines[-1] == f"wrote {tmp_path / 'd.png'}" and (tmp_path / "d.png").stat().st_size > 10_000

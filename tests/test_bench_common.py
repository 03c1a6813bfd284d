"""benchmarks/bench_common.py: the machine's peak from /proc/cpuinfo text."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_common import machine_peak, pct_of_peak  # noqa: E402

ZEN3 = "processor\t: 0\ncpu MHz\t\t: 2445.406\nflags\t\t: fpu sse avx fma avx2\n"


def test_peak_of_a_two_core_zen3():
    peak = machine_peak(ZEN3, cores=2)
    assert (peak["fp32_lanes"], peak["fma_units_assumed"]) == (8, 2)
    assert abs(peak["gflops"] - 2 * 2 * 8 * 2 * 2.445406) < 1e-9  # about 157 GFLOP/s
    assert abs(pct_of_peak(peak["gflops"] / 4, peak) - 25.0) < 1e-9


def test_peak_without_avx_or_clock():
    assert machine_peak("flags\t: fpu sse\ncpu MHz : 1000\n", cores=1)["gflops"] == 8.0
    assert machine_peak("", cores=1)["gflops"] is None
    zen4 = "vendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t: 17\ncpu MHz : 2600\nflags : avx2 fma avx512f\n"
    assert machine_peak(zen4, cores=1)["gflops"] == 2 * 8 * 2 * 2.6  # two 256-bit FMA pipes
    assert machine_peak(zen4.replace("AuthenticAMD", "GenuineIntel"), cores=1)["gflops"] == 2 * 16 * 2 * 2.6
    assert pct_of_peak(10.0, machine_peak("", cores=1)) is None


def test_busy_above_a_load_of_one():
    from bench_common import is_busy
    assert is_busy(1.01) and is_busy(4.0)
    assert not is_busy(1.0) and not is_busy(0.42) and not is_busy(None)


def test_blas_env_records_only_what_is_set(monkeypatch):
    from bench_common import blas_env
    monkeypatch.delenv("OPENBLAS_CORETYPE", raising=False)
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "524288")
    assert blas_env() == {"OPENBLAS_L2_SIZE": "524288"}


def test_passive_openmp_keeps_a_policy_the_environment_chose(monkeypatch):
    from bench_common import passive_openmp
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert passive_openmp() == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert passive_openmp() == "ACTIVE"


def test_step_flops_match_issue_22():
    """22.8 MFLOP per 33x33 sub-image for 9-1-5 and 150 for 9-5-5 (no dx for layer 1)."""
    import numpy as np

    from bench_model_steps import batch_data, framework_step, step_flops
    from dynconv.sr import models
    for f2, want in ((1, 22_756_800), (5, 149_822_400)):
        model = models.srcnn(f2=f2, residual=True)
        x, y = batch_data(model, 2, np.random.default_rng(0))
        framework_step(model, x, y)()
        per_node, total = step_flops(model, 2)
        assert total == 2 * want and per_node["conv1"]["dx"] == 0


def test_the_bare_step_runs_the_algorithms_of_the_graphs_training_step():
    """Framework / bare compares like with like: static and dynamic layers alike."""
    import numpy as np

    from bench_model_steps import ARCHITECTURES, bare_kernel_step, batch_data
    model = ARCHITECTURES["dcnn-default"]()
    rng = np.random.default_rng(0)
    x, _ = batch_data(model, 2, rng)
    step = bare_kernel_step(model, x, rng)
    step()
    model.graph.forward({"x": x})  # a training forward: every layer keeps its cache
    seen = {}
    for name, algo in step.algorithms.items():
        cache = model.graph.nodes[name].layer._cache
        cache = cache[0] if isinstance(cache, tuple) and not hasattr(cache, "_fields") else cache
        seen[name] = cache.algorithm
    assert seen == step.algorithms
    assert "blocked" in {seen[n] for n in ("conv2", "dyn")}

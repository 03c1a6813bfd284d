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
    assert pct_of_peak(10.0, machine_peak("", cores=1)) is None

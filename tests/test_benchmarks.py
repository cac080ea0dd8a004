"""Tests of the benchmarks, scaled down: correctness only; the timings live in the benchmarks."""
from benchmarks import speed


def test_bench_scale_scaled_down():
    figures = speed.bench_scale(20_000, 2_000, 400_000, repeat=1, K=4)
    assert figures["ratings"] == 400_000
    assert figures["iteration_s"] > 0 and figures["peak_gb"] > 0

"""Tests of bench.py, scaled down: correctness only; the timings live in the benchmark."""
import bench


def test_bench_scale_scaled_down():
    figures = bench.bench_scale(20_000, 2_000, 400_000, repeat=1, K=4)
    assert figures["ratings"] == 400_000
    assert figures["iteration_s"] > 0 and figures["peak_gb"] > 0

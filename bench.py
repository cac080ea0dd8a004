"""Benchmark: the module against its baselines, each timed in the same process.

    python bench.py [--data-dir data] [--repeat 5] [--json results.json]

1. The Netflix experiment, init + run for K in {1, 12} and seeds 0-4 (all ten runs
   together), against the textbook vectorised formulation of the course's steps.
2. One EM iteration at K = 12 against the matrix products no iteration can avoid: one
   (n, 2d) @ (2d, K) and one (K, n) @ (n, 2d) product on arrays of the same shapes.
3. One EM iteration at K = 12 against the per-user loop of test_em.py (the tests' oracle).
4. Peak memory allocated during one run at K = 12 (tracemalloc), as a multiple of X.nbytes.

Without the course's files it runs on the embedded synthetic matrix, and says so.
Each timing is the median of --repeat repetitions.
"""
import argparse
import json
import os
import platform
import time
import tracemalloc

import numpy as np
from scipy.special import logsumexp

import common
import em
from common import GaussianMixture
from test_em import loop_estep, loop_mstep

FLOORS = {"netflix_s": 0.5, "iteration_vs_products": 1.5, "speedup_vs_loop": 100,
          "memory_vs_X": 3.0}


def main(argv=None):
    args = _parse_args(argv)
    X, source = _load_data(args.data_dir)
    print(f"Data: {source}, {X.shape[0]} x {X.shape[1]}, {np.mean(X != 0):.0%} rated")
    print(f"Machine: {_machine()}\n")
    results = {
        "netflix": bench_netflix(X, args.repeat),
        "iteration": bench_iteration(X, args.repeat),
        "loop": bench_loop(X, max(1, args.repeat // 2)),
        "memory": bench_memory(X),
    }
    _print_table(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"data": source, "shape": X.shape, "machine": _machine(),
                       "floors": FLOORS, "results": results}, f, indent=2)
        print(f"\nWrote {args.json}")


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.path.join(os.path.dirname(__file__), "data"))
    parser.add_argument("--repeat", type=int, default=7, help="repetitions per timing")
    parser.add_argument("--json", help="also write the figures to this file")
    return parser.parse_args(argv)


def _load_data(data_dir):
    path = os.path.join(data_dir, "netflix_incomplete.txt")
    if os.path.isfile(path):
        return common.load_matrix(path), "netflix_incomplete.txt"
    X, _, _ = common.synthetic_ratings()
    return X, "synthetic default (netflix_incomplete.txt not found in data/)"


def _machine():
    try:
        from threadpoolctl import threadpool_info
        blas = ", ".join(f"{i['internal_api']} {i['version']} {i.get('architecture', '')} "
                         f"{i['num_threads']} threads" for i in threadpool_info())
    except ImportError:
        blas = "BLAS unknown (pip install threadpoolctl to name it)"
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"numpy {np.__version__}, {blas}")


def median_time(f, repeat):
    """Median wall time of ``f()`` over ``repeat`` calls, after one warm-up call."""
    f()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        f()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


# ---------------------------------------------------------------------------------------
# 1. The Netflix experiment

def bench_netflix(X, repeat):
    """All ten init + run of the experiment, ours and the textbook formulation."""
    def experiment(run):
        return [run(X, *common.init(X, K, seed))[2] for K in (1, 12) for seed in range(5)]

    ours, theirs = experiment(em.run), experiment(textbook_run)
    agree = float(np.max(np.abs(np.subtract(ours, theirs)) / np.abs(theirs)))
    return {"ours_s": median_time(lambda: experiment(em.run), repeat),
            "textbook_s": median_time(lambda: experiment(textbook_run), repeat),
            "max_rel_ll_difference": agree}


def textbook_estep(X, mixture):
    """The E-step as it is commonly vectorised: the mask and norms redone every call."""
    mu, var, p = mixture
    mask = (X != 0).astype(float)
    sq_dist = (np.sum(X ** 2, axis=1)[:, None] + mask @ (mu.T ** 2) - 2 * X @ mu.T)
    log_joint = (np.log(p + 1e-16) - mask.sum(axis=1)[:, None] / 2 * np.log(2 * np.pi * var)
                 - sq_dist / (2 * var))
    log_evidence = logsumexp(log_joint, axis=1, keepdims=True)
    return np.exp(log_joint - log_evidence), float(log_evidence.sum())


def textbook_mstep(X, post, mixture, min_variance=.25):
    """The M-step as it is commonly vectorised: a second pass for the variances."""
    n = X.shape[0]
    mask = (X != 0).astype(float)
    support = post.T @ mask
    mu = mixture.mu.copy()
    enough = np.where(support >= 1)
    mu[enough] = (post.T @ X)[enough] / support[enough]
    sq_dist = np.sum(X ** 2, axis=1)[:, None] + mask @ (mu.T ** 2) - 2 * X @ mu.T
    var = np.sum(post * sq_dist, axis=0) / np.sum(post * mask.sum(axis=1)[:, None], axis=0)
    return GaussianMixture(mu, np.maximum(var, min_variance), post.sum(axis=0) / n)


def textbook_run(X, mixture, post):
    """The course's run loop on the textbook steps."""
    old_ll = ll = None
    while old_ll is None or ll - old_ll > 1e-6 * abs(ll):
        old_ll = ll
        post, ll = textbook_estep(X, mixture)
        mixture = textbook_mstep(X, post, mixture)
    return mixture, post, ll


# ---------------------------------------------------------------------------------------
# 2. and 3. One iteration

def _iteration_setup(X, K=12, seed=1):
    ratings = em.summarise(X)
    mixture, _ = common.init(X, K, seed)
    post_t, _ = em._estep(ratings, mixture)
    mixture = em._mstep(ratings, post_t, mixture, .25)  # one step in, off the uniform start
    return ratings, mixture


def one_iteration(ratings, mixture):
    """One E-step and one M-step on a summary of X, as ``run`` does them."""
    post_t, _ = em._estep(ratings, mixture)
    return em._mstep(ratings, post_t, mixture, .25)


def bench_iteration(X, repeat, K=12):
    """One iteration against the two products of the same shapes, in C order, on BLAS."""
    ratings, mixture = _iteration_setup(X, K)
    n, d = X.shape
    rng = np.random.RandomState(0)
    A = np.ascontiguousarray(ratings.data)   # (n, 2d)
    B = rng.uniform(size=(2 * d, K))         # (2d, K)
    P = rng.uniform(size=(K, n))             # (K, n)
    reps = 20 * repeat
    iteration = median_time(lambda: one_iteration(ratings, mixture), reps)
    products = (median_time(lambda: A @ B, reps) + median_time(lambda: P @ A, reps))
    return {"iteration_ms": 1e3 * iteration, "products_ms": 1e3 * products,
            "ratio": iteration / products}


def bench_loop(X, repeat, K=12):
    """One iteration, ours against the tests' per-user loop oracle."""
    ratings, mixture = _iteration_setup(X, K)

    def loop_iteration():
        post, _ = loop_estep(X, mixture)
        return loop_mstep(X, post, mixture)

    ours = median_time(lambda: one_iteration(ratings, mixture), 20 * repeat)
    loop = median_time(loop_iteration, repeat)
    return {"ours_ms": 1e3 * ours, "loop_ms": 1e3 * loop, "speedup": loop / ours}


# ---------------------------------------------------------------------------------------
# 4. Memory

def bench_memory(X, K=12, seed=1):
    """Peak bytes numpy allocates during one run (tracemalloc), over X.nbytes."""
    mixture, post = common.init(X, K, seed)
    tracemalloc.start()
    tracemalloc.reset_peak()
    em.run(X, mixture, post)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"peak_mb": peak / 2 ** 20, "X_mb": X.nbytes / 2 ** 20, "ratio": peak / X.nbytes}


def _print_table(r):
    rows = [
        ("Netflix experiment, 10 x (init + run)", f"{r['netflix']['ours_s']:.3f} s",
         f"textbook {r['netflix']['textbook_s']:.3f} s", f"<= {FLOORS['netflix_s']} s",
         r["netflix"]["ours_s"] <= FLOORS["netflix_s"]),
        ("One iteration (K=12) / its two products",
         f"{r['iteration']['iteration_ms']:.2f} ms", f"products {r['iteration']['products_ms']:.2f} ms",
         f"ratio {r['iteration']['ratio']:.2f} <= {FLOORS['iteration_vs_products']}",
         r["iteration"]["ratio"] <= FLOORS["iteration_vs_products"]),
        ("One iteration (K=12) vs per-user loop", f"{r['loop']['ours_ms']:.2f} ms",
         f"loop {r['loop']['loop_ms']:.0f} ms",
         f"{r['loop']['speedup']:.0f}x >= {FLOORS['speedup_vs_loop']}x",
         r["loop"]["speedup"] >= FLOORS["speedup_vs_loop"]),
        ("Peak memory of one run (K=12)", f"{r['memory']['peak_mb']:.1f} MB",
         f"X {r['memory']['X_mb']:.1f} MB",
         f"{r['memory']['ratio']:.2f}x <= {FLOORS['memory_vs_X']}x",
         r["memory"]["ratio"] <= FLOORS["memory_vs_X"]),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for *cells, ok in rows:
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths)), "ok" if ok else "MISSED")
    print(f"(Netflix log-likelihoods: ours and textbook agree to "
          f"{r['netflix']['max_rel_ll_difference']:.1e} relative)")


if __name__ == "__main__":
    main()

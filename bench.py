"""Benchmark: the module against its baselines, each timed in the same process.

    python bench.py [--data-dir data] [--repeat 7] [--json results.json] [--skip-scale]

1. The Netflix experiment, init + run for K in {1, 12} and seeds 0-4 (all ten runs
   together), against the textbook vectorised formulation of the course's steps.
2. One EM iteration at K = 12 against the matrix products no iteration can avoid: one
   (n, 2d) @ (2d, K) and one (K, n) @ (n, 2d) product on arrays of the same shapes.
3. One EM iteration at K = 12 against the per-user loop of reference.py (the tests' oracle).
4. Peak memory allocated during one run at K = 12 (tracemalloc), as a multiple of X.nbytes.
5. Sparse ratings at the MovieLens-20M and Netflix-Prize shapes, drawn from a planted
   mixture: one EM iteration at K = 12 and the peak memory of the process (each shape in a
   process of its own; --skip-scale leaves them out).

Without the course's files it runs on the embedded synthetic matrix, and says so.
Each timing is the median of --repeat repetitions.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
import tracemalloc

import numpy as np
from scipy.special import logsumexp

import common
import data
import em
import reference
import summary
from common import GaussianMixture

FLOORS = {"netflix_s": 0.5, "iteration_vs_products": 1.5, "speedup_vs_loop": 100,
          "memory_vs_X": 3.0}


def main(argv=None):
    args = _parse_args(argv)
    if args.scale_one:
        print(json.dumps(bench_scale(*SCALES[args.scale_one][:3])))
        return
    X, source = _load_data(args.data_dir)
    print(f"Data: {source}, {X.shape[0]} x {X.shape[1]}, {np.mean(X != 0):.0%} rated")
    print(f"Machine: {_machine()}\n")
    results = {
        "netflix": bench_netflix(X, args.repeat),
        "iteration": bench_iteration(X, args.repeat),
        "loop": bench_loop(X, max(1, args.repeat // 2)),
        "memory": bench_memory(X),
    }
    if not args.skip_scale:
        # each in a fresh process, so that its peak memory is its own
        results["scale"] = {name: json.loads(subprocess.run(
            [sys.executable, __file__, "--scale-one", name], check=True,
            capture_output=True, text=True).stdout) for name in SCALES}
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
    parser.add_argument("--skip-scale", action="store_true",
                        help="leave out the sparse checks at MovieLens-20M and Netflix-Prize "
                             "shapes (about a minute)")
    parser.add_argument("--scale-one", choices=SCALES, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _load_data(data_dir):
    path = os.path.join(data_dir, "netflix_incomplete.txt")
    if os.path.isfile(path):
        return data.load_matrix(path), "netflix_incomplete.txt"
    X, _, _ = data.synthetic_ratings()
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
    """All ten init + run of the experiment, as main.py runs them (em.best_run on one
    summary of X), against the textbook formulation."""
    def ours():
        ratings = summary.summarise(X)
        lls = []
        for K in (1, 12):
            em.best_run(ratings, K, range(5), on_run=lambda fit: lls.append(fit.log_likelihood))
        return lls

    def textbook():
        return [textbook_run(X, *common.init(X, K, seed))[2] for K in (1, 12) for seed in range(5)]

    agree = float(np.max(np.abs(np.subtract(ours(), textbook())) / np.abs(textbook())))
    return {"ours_s": median_time(ours, repeat), "textbook_s": median_time(textbook, repeat),
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
    return reference.course_loop(X, mixture, textbook_estep, textbook_mstep)


# ---------------------------------------------------------------------------------------
# 2. and 3. One iteration

def _iteration_setup(X, K=12, seed=1):
    ratings = summary.summarise(X)
    mixture, _ = common.init(X, K, seed)
    return ratings, one_iteration(ratings, mixture)  # one step in, off the uniform start


def one_iteration(ratings, mixture):
    """One E-step and one M-step through the public functions, on a summary of X."""
    post, _ = em.estep(ratings, mixture)
    return em.mstep(ratings, post, mixture)


def bench_iteration(X, repeat, K=12):
    """One iteration against the two products of the same shapes, on BLAS.

    The (n, 2d) @ (2d, K) product is timed both as written and transposed, (K, 2d) @
    (2d, n) as ``run`` does it, and the faster counts: the floor is the best BLAS can do.
    """
    ratings, mixture = _iteration_setup(X, K)
    n, d = X.shape
    rng = np.random.RandomState(0)
    A = np.hstack([X, X != 0]).astype(float)  # (n, 2d), [X | mask] as the summary holds it
    B = rng.uniform(size=(2 * d, K))         # (2d, K)
    B_t = np.ascontiguousarray(B.T)          # (K, 2d)
    P = rng.uniform(size=(K, n))             # (K, n)
    reps = 20 * repeat
    iteration = median_time(lambda: one_iteration(ratings, mixture), reps)
    products = (min(median_time(lambda: A @ B, reps), median_time(lambda: B_t @ A.T, reps))
                + median_time(lambda: P @ A, reps))
    return {"iteration_ms": 1e3 * iteration, "products_ms": 1e3 * products,
            "ratio": iteration / products}


def bench_loop(X, repeat, K=12):
    """One iteration, ours against the per-user loop of reference.py."""
    ratings, mixture = _iteration_setup(X, K)

    def loop_iteration():
        post, _ = reference.estep(X, mixture)
        return reference.mstep(X, post, mixture)

    ours = median_time(lambda: one_iteration(ratings, mixture), 20 * repeat)
    loop = median_time(loop_iteration, repeat)
    return {"ours_ms": 1e3 * ours, "loop_ms": 1e3 * loop, "speedup": loop / ours}


# ---------------------------------------------------------------------------------------
# 4. Memory

def bench_memory(X, K=12, seed=1):
    """Peak bytes numpy allocates during one run (tracemalloc), over X.nbytes."""
    mixture, post = common.init(X, K, seed)
    tracemalloc.start()
    em.run(X, mixture, post)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"peak_mb": peak / 2 ** 20, "X_mb": X.nbytes / 2 ** 20, "ratio": peak / X.nbytes}


# ---------------------------------------------------------------------------------------
# 5. Scale: sparse ratings of real-world shapes

SCALES = {
    # name: (users, items, ratings, floor s per iteration, floor peak GB)
    "movielens-20m": (138_493, 26_744, 20_000_263, 0.6, 3.0),
    "netflix-prize": (480_189, 17_770, 100_480_507, 3.0, 8.0),
}


def bench_scale(n, d, n_ratings, repeat=3, K=12):
    """Generate a planted matrix of this shape, then time summarising it and one EM
    iteration; peak RSS of the process in GB."""
    start = time.perf_counter()
    X, _ = data.planted_sparse_ratings(n, d, n_ratings)
    generate = time.perf_counter() - start
    start = time.perf_counter()
    ratings = summary.summarise(X)
    summarise = time.perf_counter() - start
    mixture, _ = common.init(X, K, seed=0)
    iteration = median_time(lambda: one_iteration(ratings, mixture), repeat)
    peak_gb = peak_rss_bytes() / 1e9
    return {"shape": [n, d], "ratings": int(X.nnz), "generate_s": generate,
            "summarise_s": summarise, "iteration_s": iteration, "peak_gb": peak_gb}


def peak_rss_bytes():
    """Peak resident set of this process in bytes (Unix; 0 where it cannot be told)."""
    try:
        import resource  # Unix only: imported here so that this file imports anywhere
    except ImportError:
        return 0
    scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


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
    for name, f in r.get("scale", {}).items():
        floor_s, floor_gb = SCALES[name][3:]
        rows.append((f"Sparse {name} {f['shape'][0]} x {f['shape'][1]}, {f['ratings']:,} "
                     "ratings: one iteration (K=12)", f"{f['iteration_s']:.2f} s",
                     f"summarise {f['summarise_s']:.2f} s", f"<= {floor_s} s",
                     f["iteration_s"] <= floor_s))
        rows.append((f"Sparse {name}: peak memory of the process", f"{f['peak_gb']:.2f} GB",
                     f"generation {f['generate_s']:.1f} s", f"<= {floor_gb} GB",
                     f["peak_gb"] <= floor_gb))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for *cells, ok in rows:
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths)), "ok" if ok else "MISSED")
    print(f"(Netflix log-likelihoods: ours and textbook agree to "
          f"{r['netflix']['max_rel_ll_difference']:.1e} relative)")


if __name__ == "__main__":
    main()

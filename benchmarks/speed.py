"""Benchmark: the module against its baselines, each timed in the same process.

    python -m benchmarks.speed [--data-dir data] [--repeat 7] [--json FILE] [--skip-scale]

1. The Netflix experiment, init + run for K in {1, 12} and seeds 0-4 (all ten runs
   together), against the textbook vectorised formulation of the course's steps.
2. One EM iteration at K = 12 against the matrix products no iteration can avoid: one
   (n, 2d) @ (2d, K) and one (K, n) @ (n, 2d) product on arrays of the same shapes.
3. One EM iteration at K = 12 against the per-user loop of reference.py (the tests' oracle).
4. Peak memory allocated during one run at K = 12 (tracemalloc), as a multiple of X.nbytes.
5. Sparse ratings at the MovieLens-20M and Netflix-Prize shapes, drawn from a planted
   mixture and built as users build them (from triples, int64 indices): ``em.run`` with
   max_iter=10 per iteration, summary included, one iteration on a summary, and the peak
   memory of the process (each shape in a process of its own; --skip-scale leaves them out).
6. With --load NAME: a ratings.csv of that shape written to a temporary folder, read by
   ``mixrec.load_ratings`` and by ``np.loadtxt`` (each in a process of its own, for its
   peak memory), and for movielens-20m ``mixrec sweep FILE --k 12 --seeds 0`` (what
   ``main.py --ratings FILE`` hands over) end to end; the file is deleted after.

Without the course's files it runs on the embedded synthetic matrix, and says so.
Each timing is the median of --repeat repetitions.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import warnings

import numpy as np
from scipy import sparse
from scipy.special import logsumexp

if __package__ in (None, ""):  # run by path: the checkout's root holds the course and mixrec
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402  (after the path, when run by path)
import course  # noqa: E402
import em  # noqa: E402
import mixrec  # noqa: E402
import products  # noqa: E402
import reference  # noqa: E402
import synthetic  # noqa: E402
from common import GaussianMixture  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOORS = {"netflix_s": 0.5, "iteration_vs_products": 1.5, "speedup_vs_loop": 100,
          "memory_vs_X": 3.0}


def main(argv=None):
    args = _parse_args(argv)
    if args.scale_one:
        print(json.dumps(bench_scale(*SCALES[args.scale_one][:3])))
        return
    if args.load_one:
        print(json.dumps(bench_load_one(*args.load_one)))
        return
    if args.write_one:
        write_ratings_file(args.write_one[1], *SCALES[args.write_one[0]][:3])
        return
    if args.load:
        print(f"Machine: {_machine()}\n")
        for name in args.load:
            result = bench_load(name, with_main=name == "movielens-20m")
            _print_load(name, result)
            if args.json:
                with open(args.json, "w") as f:
                    json.dump({"machine": _machine(), name: result}, f, indent=2)
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
            [sys.executable, "-m", "benchmarks.speed", "--scale-one", name], check=True,
            capture_output=True, text=True, cwd=ROOT).stdout) for name in SCALES}
    _print_table(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"data": source, "shape": X.shape, "machine": _machine(),
                       "floors": FLOORS, "results": results}, f, indent=2)
        print(f"\nWrote {args.json}")


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.path.join(ROOT, "data"))
    parser.add_argument("--repeat", type=int, default=7, help="repetitions per timing")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--skip-scale", action="store_true",
                        help="leave out the sparse checks at MovieLens-20M and Netflix-Prize "
                             "shapes (about a minute)")
    parser.add_argument("--load", nargs="+", choices=SCALES,
                        help="instead: write a ratings.csv of these shapes, time load_ratings "
                             "against np.loadtxt (and, for movielens-20m, main.py --ratings "
                             "FILE --k 12 --seeds 0 end to end), then delete it")
    parser.add_argument("--scale-one", choices=SCALES, help=argparse.SUPPRESS)
    parser.add_argument("--load-one", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--write-one", nargs=2, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _load_data(data_dir):
    path = os.path.join(data_dir, "netflix_incomplete.txt")
    if os.path.isfile(path):
        return course.load_matrix(path), "netflix_incomplete.txt"
    X, _, _ = synthetic.synthetic_ratings()
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
        ratings = products.summarise(X)
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
    ratings = products.summarise(X)
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


def bench_scale(n, d, n_ratings, repeat=3, K=12, n_iter=10):
    """Generate a planted matrix of this shape and build it as users do, from triples
    (``csr_array((v, (r, c)))``, int64 indices); time ``em.run(X, ..., max_iter=n_iter)``
    on it, summary included, and one iteration on a summary; peak RSS of the process."""
    start = time.perf_counter()
    planted, _ = synthetic.planted_sparse_ratings(n, d, n_ratings)
    rows = np.repeat(np.arange(n), np.diff(planted.indptr))
    X = sparse.csr_array((planted.data, (rows, planted.indices.astype(np.int64))), shape=(n, d))
    del planted, rows
    generate = time.perf_counter() - start
    mixture, post = common.init(X, K, seed=0)
    iterations = []
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # max_iter is reached on purpose
        # tol=0: no early stop (a planted matrix converges in about 4 iterations), so the
        # summary is shared by n_iter iterations, and the count is the callback's, not assumed
        em.run(X, mixture, post, tol=0.0, max_iter=n_iter,
               callback=lambda i, ll: iterations.append(i))
    run_per_iteration = (time.perf_counter() - start) / len(iterations)
    start = time.perf_counter()
    ratings = products.summarise(X)
    summarise = time.perf_counter() - start
    iteration = median_time(lambda: one_iteration(ratings, mixture), repeat)
    # what every sparse input now costs before scipy touches it (its indices in full)
    check = median_time(lambda: common.check_sparse_structure(ratings.X), repeat)
    return {"shape": [n, d], "ratings": int(X.nnz), "index_dtype": str(X.indices.dtype),
            "generate_s": generate, "summarise_s": summarise, "iteration_s": iteration,
            "structure_check_s": check,
            "run_iteration_s": run_per_iteration, "run_iterations": len(iterations),
            "peak_gb": peak_rss_bytes() / 1e9}


# ---------------------------------------------------------------------------------------
# 6. Ratings files at scale: load_ratings against np.loadtxt, and main.py end to end

def write_ratings_file(path, n, d, n_ratings, seed=0):
    """A MovieLens-style ``ratings.csv`` (header, 1-based ids, half stars, timestamps),
    drawn deterministically from a planted mixture."""
    X, _ = synthetic.planted_sparse_ratings(n, d, n_ratings, seed=seed)
    users = np.repeat(np.arange(1, n + 1), np.diff(X.indptr))
    items = X.indices + 1
    stars = X.data - 0.5 * (np.arange(X.nnz) % 2)  # half stars too
    times = 800_000_000 + np.arange(X.nnz) % 400_000_000
    with open(path, "w") as f:
        f.write("userId,movieId,rating,timestamp\n")
        for start in range(0, X.nnz, 1_000_000):
            part = slice(start, start + 1_000_000)
            f.write("".join(f"{u},{i},{r:g},{t}\n" for u, i, r, t in zip(
                users[part].tolist(), items[part].tolist(), stars[part].tolist(),
                times[part].tolist())))


def bench_load_one(what, path):
    """Run one reader (or main.py) on a ratings file; seconds and peak RSS of this process."""
    start = time.perf_counter()
    if what == "loadtxt":
        np.loadtxt(path, delimiter=",", skiprows=1)
    elif what == "load_ratings":
        mixrec.load_ratings(path)
    else:  # main.py --ratings PATH --k 12 --seeds 0 (mixrec's sweep), its output to stderr
        import contextlib
        from mixrec import cli
        with contextlib.redirect_stdout(sys.stderr):
            status = cli.main(["sweep", path, "--k", "12", "--seeds", "0"])
        assert status == 0, f"the sweep exited with {status}"
    return {"seconds": time.perf_counter() - start, "peak_gb": peak_rss_bytes() / 1e9}


def bench_load(name, with_main):
    """Write the shape's ratings file, time each reader in a process of its own, delete it."""
    n, d, n_ratings = SCALES[name][:3]
    folder = tempfile.mkdtemp(prefix="bench-ratings-")
    path = os.path.join(folder, "ratings.csv")
    try:
        # in a process of its own, like each reader: a child forked from a process holding
        # the generated matrix would start with that process's resident memory as its peak
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "benchmarks.speed", "--write-one", name, path],
                       check=True, cwd=ROOT)
        result = {"write_s": time.perf_counter() - start, "bytes": os.path.getsize(path)}
        for what in ("loadtxt", "load_ratings") + (("main",) if with_main else ()):
            result[what] = json.loads(subprocess.run(
                [sys.executable, "-m", "benchmarks.speed", "--load-one", what, path],
                check=True, capture_output=True, text=True, cwd=ROOT).stdout)
    finally:
        shutil.rmtree(folder)
    return result


def peak_rss_bytes():
    """Peak resident set of this process in bytes (Unix; 0 where it cannot be told)."""
    try:
        import resource  # Unix only: imported here so that this file imports anywhere
    except ImportError:
        return 0
    scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


def _print_load(name, r):
    base, ours = r["loadtxt"], r["load_ratings"]
    print(f"{name}: ratings.csv of {r['bytes'] / 1e6:.0f} MB (written in {r['write_s']:.0f} s)")
    print(f"  load_ratings {ours['seconds']:.2f} s, peak {ours['peak_gb']:.2f} GB; np.loadtxt "
          f"{base['seconds']:.2f} s, peak {base['peak_gb']:.2f} GB: "
          f"{ours['seconds'] / base['seconds']:.2f}x the time (floor 2x), "
          f"{ours['peak_gb'] / base['peak_gb']:.2f}x the memory (floor 1.5x)")
    if "main" in r:
        print(f"  main.py --ratings FILE --k 12 --seeds 0: {r['main']['seconds']:.1f} s "
              f"(floor 120 s), peak {r['main']['peak_gb']:.2f} GB (floor 4 GB)")


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
                     f"ratings ({f['index_dtype']} indices): run over {f['run_iterations']} "
                     "iterations, per iteration (K=12)", f"{f['run_iteration_s']:.2f} s",
                     f"one iteration on a summary {f['iteration_s']:.2f} s, summarise "
                     f"{f['summarise_s']:.2f} s (its full index check "
                     f"{f.get('structure_check_s', float('nan')):.3f} s)", f"<= {floor_s} s",
                     f["run_iteration_s"] <= floor_s))
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

"""Benchmark: the EM and the recommender on a local Dask cluster beside the single process.

    python -m benchmarks.distributed [--shape movielens-20m] [--workers 1 2] [--json FILE]

On planted ratings (``synthetic.planted_sparse_ratings``) at the given shape: one ``em.run``
iteration at K = 12 and one recommender fit, in this process and on a ``LocalCluster`` of 1
and 2 worker processes (loopback). For each: the time, the bytes moved (the kernel's count
of loopback traffic, which every message of the client, the scheduler and the workers
crosses, and the scheduler's own count of the bytes of the results it tracked) and the peak
memory of the client and of each worker. A second, smaller shape with the same items shows
that an iteration's traffic does not grow with the number of ratings. Needs dask
(``pip install 'dask[distributed]'``); without it, it says so and exits 0.
"""
import argparse
import json
import os
import sys
import time

import numpy as np

if __package__ in (None, ""):  # run by path: the checkout's root holds the course and mixrec
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402  (after the path, when run by path)
import em  # noqa: E402
import mixrec  # noqa: E402
import synthetic  # noqa: E402
from benchmarks.recommender import peak_rss_bytes, reset_peak  # noqa: E402 (the same probes)

SHAPES = {"movielens-20m": (138_493, 26_744, 20_000_263),
          "movielens-2m": (13_849, 26_744, 2_000_000)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", default="movielens-20m", choices=sorted(SHAPES))
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    try:
        from dask import distributed as dask_distributed
    except ImportError:
        print("Skipped: dask is not installed (pip install 'dask[distributed]')")
        return 0
    print(f"Machine: {os.cpu_count()} cores, numpy {np.__version__}, dask "
          f"{dask_distributed.__version__}")
    results = {}
    for shape in ([args.shape, "movielens-2m"] if args.shape == "movielens-20m"
                  else [args.shape]):
        n, d, n_ratings = SHAPES[shape]
        X, _ = synthetic.planted_sparse_ratings(n, d, n_ratings, K=12, seed=0)
        print(f"== {shape}: {n} x {d}, {n_ratings} ratings")
        results[shape] = {"single": single(X, with_fit=shape == args.shape)}
        _show("single process", results[shape]["single"])
        for workers in args.workers:
            found = on_cluster(dask_distributed, X, workers, with_fit=shape == args.shape)
            results[shape][f"{workers} workers"] = found
            _show(f"{workers} worker{'s' * (workers > 1)}", found)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


def single(X, with_fit):
    """One em.run iteration and one recommender fit, in this process."""
    reset_peak()
    mixture, post = common.init(X, 12, seed=1)
    start = time.perf_counter()
    _one_iteration(X, mixture, post)
    out = {"iteration_s": time.perf_counter() - start}
    if with_fit:
        start = time.perf_counter()
        mixrec.fit(X)
        out["fit_s"] = time.perf_counter() - start
    out["client_peak_gb"] = peak_rss_bytes() / 2 ** 30
    return out


def _one_iteration(X, mixture, post, run=em.run):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # max_iter = 1: not converged
        return run(X, mixture, post, max_iter=1)


def on_cluster(dask_distributed, X, workers, with_fit):
    """The same on a LocalCluster of this many worker processes."""
    from mixrec import distributed
    with dask_distributed.LocalCluster(n_workers=workers, threads_per_worker=max(
            1, (os.cpu_count() or 1) // workers), processes=True, host="127.0.0.1",
            dashboard_address=None, silence_logs=50) as local:
        with dask_distributed.Client(local) as client:
            reset_peak()  # the client's peak from here: X itself and what the cluster adds
            start = time.perf_counter()
            ratings = distributed.scatter_ratings(client, X)
            dask_distributed.wait(ratings.blocks)
            out = {"scatter_s": time.perf_counter() - start}
            mixture, post = common.init(X, 12, seed=1)
            _one_iteration(ratings, mixture, None, distributed.run)  # warm: the blocks' summaries
            before, tracked = _loopback_bytes(), _tracked_bytes(client)
            start = time.perf_counter()
            _one_iteration(ratings, mixture, None, distributed.run)
            out["iteration_s"] = time.perf_counter() - start
            out["iteration_bytes"] = _loopback_bytes() - before
            out["iteration_tracked_bytes"] = _tracked_bytes(client) - tracked
            out["mixture_bytes"] = mixture.mu.nbytes
            del ratings
            if with_fit:
                before = _loopback_bytes()
                start = time.perf_counter()
                mixrec.fit(X, client=client)
                out["fit_s"] = time.perf_counter() - start
                out["fit_bytes"] = _loopback_bytes() - before
            out["worker_peak_gb"] = [b / 2 ** 30 for b in client.run(peak_rss_bytes).values()]
            out["client_peak_gb"] = peak_rss_bytes() / 2 ** 30
    return out


def _loopback_bytes():
    """Bytes the loopback interface has carried (Linux /proc/net/dev), or 0 elsewhere."""
    try:
        with open("/proc/net/dev") as f:
            for line in f:
                name, _, counters = line.partition(":")
                if name.strip() == "lo":
                    return int(counters.split()[0])
    except OSError:
        pass
    return 0


def _tracked_bytes(client):
    """The scheduler's own count: bytes of every result it has tracked so far."""
    return client.run_on_scheduler(
        lambda dask_scheduler: sum(ts.nbytes for ts in dask_scheduler.tasks.values()
                                   if ts.nbytes > 0))


def _show(name, r):
    line = f"  {name:<16} one em.run iteration {r['iteration_s']:.2f} s"
    if "iteration_bytes" in r:
        line += (f", {r['iteration_bytes'] / 1e6:.1f} MB moved (loopback; the mixture is "
                 f"{r['mixture_bytes'] / 1e6:.1f} MB)")
    if "fit_s" in r:
        line += f"; recommender fit {r['fit_s']:.0f} s"
        if "fit_bytes" in r:
            line += f", {r['fit_bytes'] / 1e6:.0f} MB moved"
    line += f"; peak memory: client {r['client_peak_gb']:.2f} GB"
    if "worker_peak_gb" in r:
        line += ", workers " + ", ".join(f"{g:.2f}" for g in r["worker_peak_gb"]) + " GB"
    print(line, flush=True)


if __name__ == "__main__":
    sys.exit(main())

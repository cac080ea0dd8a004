"""Benchmark: the recommender's fit partitioned over a local Dask cluster, beside one process.

    python -m benchmarks.distributed [--shape movielens-20m] [--workers 1 2] [--json FILE]

On planted ratings (``synthetic.planted_sparse_ratings``) at the given shape, each in a
process of its own (for its peak memory): the single-process fit of the stages' model
(``mixrec.fit(X, blend_holdout=0)``, what a cluster fits: no neighbour stage, no blend), then for
each number of workers a ``LocalCluster`` of that many worker processes on this machine
(loopback; they share its cores), the ratings scattered once in blocks (not timed with the
fit) and ``distributed.fit`` on them, the client having let its copy of the ratings go. For
each cluster: the fit's time; the bytes moved per EM iteration (the median over each
stage's iterations) and per stage (from its start to the next one's, its residual update
included), as Dask counts them: the workers' own transfer counters (every byte a worker
served, to another worker or to the client; the scheduler's total of the same counters,
from the workers' heartbeats, is printed beside the fit's) plus what the client put into
the cluster (arrays in task arguments and scattered, ``blockem.Cluster``'s count); each
worker's peak memory and the client's (Linux's VmHWM). At the MovieLens-20M shape the
same is done at a tenth of the ratings with the same items, to show that an iteration's
traffic does not grow with the number of ratings. Needs dask (``pip install
'dask[distributed]'``); without it, it says so and exits 0.
"""
import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy import sparse

if __package__ in (None, ""):  # run by path: the checkout's root holds the course and mixrec
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mixrec  # noqa: E402  (after the path, when run by path)
import synthetic  # noqa: E402
from benchmarks.recommender import peak_rss_bytes, reset_peak  # noqa: E402 (the same probes)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPES = {"movielens-20m": (138_493, 26_744, 20_000_263),
          "movielens-2m": (13_849, 26_744, 2_000_000),
          "small": (20_000, 500, 200_000)}


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
          f"{dask_distributed.__version__}", flush=True)
    results = {}
    shapes = [args.shape] + (["movielens-2m"] if args.shape == "movielens-20m" else [])
    with tempfile.TemporaryDirectory() as folder:
        for shape in shapes:
            n, d, n_ratings = SHAPES[shape]
            X, _ = synthetic.planted_sparse_ratings(n, d, n_ratings, K=12, seed=0)
            path = os.path.join(folder, f"{shape}.npz")
            sparse.save_npz(path, X, compressed=False)
            del X
            print(f"== {shape}: {n} x {d}, {n_ratings} ratings", flush=True)
            found = {"single process": _child("single", path)}
            _show("single process", found["single process"])
            for workers in args.workers:
                name = f"{workers} worker{'s' * (workers > 1)}"
                found[name] = _child("cluster", path, str(workers))
                _show(name, found[name])
            results[shape] = found
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


def _child(*argv):
    """A measurement in a process of its own: its JSON figures."""
    result = subprocess.run([sys.executable, "-m", "benchmarks.distributed", "--child",
                             *argv], cwd=ROOT, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"benchmark child {argv} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def single(path):
    """The single-process fit."""
    X = sparse.load_npz(path).tocsr()
    reset_peak()
    start = time.perf_counter()
    mixrec.fit(X, blend_holdout=0)  # the stages' model, as the cluster fits it
    return {"fit_s": time.perf_counter() - start, "client_peak_gb": peak_rss_bytes() / 2 ** 30}


def cluster(path, workers):
    """The partitioned fit on a LocalCluster of this many worker processes."""
    from mixrec import distributed, partitioned
    workers = int(workers)
    X = sparse.load_npz(path).tocsr()
    client = distributed.local_cluster(workers)
    try:
        start = time.perf_counter()
        ratings = distributed.scatter_ratings(client, X, stored_zeros=True)
        ratings.cluster.wait(ratings.pieces + [c for c in ratings.copies if c is not None])
        scatter_s = time.perf_counter() - start
        del X
        gc.collect()
        reset_peak()
        client.run(reset_peak)
        meter = Meter(client)
        meter.watch(partitioned.PartitionedState)
        start = time.perf_counter()
        model = distributed.fit(ratings, callback=meter.iteration)
        fit_s = time.perf_counter() - start
        worker_peaks = sorted(v / 2 ** 30 for v in client.run(peak_rss_bytes).values())
        client_peak = peak_rss_bytes() / 2 ** 30
        time.sleep(3)  # the workers' heartbeats bring their counters to the scheduler
        scheduler_total = client.run_on_scheduler(_served_bytes)
        return {"workers": workers, "blocks": len(ratings.pieces), "scatter_s": scatter_s,
                "fit_s": fit_s, "stages": len(model.stage_sides),
                "per_iteration_mb": meter.per_iteration(), "per_stage_mb": meter.per_stage(),
                "fit_mb": meter.total(), "scheduler_served_mb": scheduler_total / 1e6,
                "worker_peak_gb": worker_peaks, "client_peak_gb": client_peak}
    finally:
        distributed.close(client)


def _served_bytes(dask_scheduler):
    return dask_scheduler.cumulative_worker_metrics.get(("get-data", "memory-read", "bytes"), 0)


class Meter:
    """Bytes moved, read at each EM iteration and around each step of the fit."""

    def __init__(self, client):
        self.client, self.cluster = client, None
        self.iterations, self.steps, self.last = {}, [], None

    def moved(self):
        """Every byte the workers served (their own counters) and the client sent."""
        served = sum(self.client.run(_worker_served).values())
        sent = 0 if self.cluster is None else self.cluster.bytes_sent
        return served + sent

    def iteration(self, progress):
        key = (progress.stage, progress.iteration)
        if key != self.last:  # several runs report each iteration: read once
            self.last = key
            self.iterations.setdefault(progress.stage, []).append(self.moved())

    def watch(self, state_class):
        """Read the counters before each step of the state (wrapped for this process)."""
        meter = self
        for name in ("taste_groups", "fit_stage", "assemble"):
            method = getattr(state_class, name)

            def wrapped(state, *args, _method=method, _name=name, **kwargs):
                meter.cluster = state.cluster
                meter.steps.append((_name, meter.moved()))
                out = _method(state, *args, **kwargs)
                meter.steps.append(("end " + _name, meter.moved()))
                return out
            setattr(state_class, name, wrapped)

    def per_iteration(self):
        """The median bytes of an iteration, per stage (0: the taste groups), in MB."""
        return {stage: float(np.median(np.diff(marks))) / 1e6
                for stage, marks in self.iterations.items() if len(marks) > 1}

    def per_stage(self):
        """Per stage, from its start to the next step's start, in MB."""
        starts = [(name, moved) for name, moved in self.steps if name == "fit_stage"]
        ends = [moved for name, moved in self.steps if name in ("fit_stage", "assemble")][1:]
        return [(end - start) / 1e6 for (_, start), end in zip(starts, ends)]

    def total(self):
        return (self.steps[-1][1] - self.steps[0][1]) / 1e6 if self.steps else 0.0


def _worker_served(dask_worker):
    return dask_worker.transfer_outgoing_bytes_total


def _show(name, r):
    line = f"  {name:<15} fit {r['fit_s']:.0f} s"
    if "per_iteration_mb" in r:
        iterations = ", ".join(f"{'taste' if int(s) == 0 else 'stage ' + str(s)} "
                               f"{mb:.1f}" for s, mb in r["per_iteration_mb"].items())
        line += (f" ({r['blocks']} blocks; ratings scattered in {r['scatter_s']:.0f} s); "
                 f"MB per iteration: {iterations}; per stage: "
                 + ", ".join(f"{mb:.0f}" for mb in r["per_stage_mb"])
                 + f"; whole fit {r['fit_mb']:.0f} MB (scheduler's count of the workers' "
                   f"part: {r['scheduler_served_mb']:.0f} MB); peak memory: workers "
                 + ", ".join(f"{g:.2f}" for g in r["worker_peak_gb"]) + " GB, client")
    else:
        line += "; peak memory"
    print(line + f" {r['client_peak_gb']:.2f} GB", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        figures = {"single": single, "cluster": cluster}[sys.argv[2]](*sys.argv[3:])
        print(json.dumps(figures))
        sys.exit(0)
    sys.exit(main())

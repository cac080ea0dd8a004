"""Benchmark: the recommender's accuracy on a suite of real datasets, beside the tools
practitioners use, all measured in one sitting.

    python -m benchmarks.suite [--datasets ml-latest-small movietweetings-100k filmtrust
                                epinions-tang dense] [--peers all|none|surprise,myfm,...]
                               [--budget 600] [--peer-budget NAME=S ...] [--jobs 2]
                               [--json FILE] [--work DIR] [--data-dir DIR] [--peers-dir DIR]

Per dataset, each in a process of its own (at most ``--jobs`` at once, one BLAS thread
each):

- mixrec: ``mixrec.fit`` with its defaults on the training file (a pair rated twice merged
  by ``mixrec.ratingsfile.read``'s default policy; timestamps when the file has them): wall
  and CPU seconds of the fit from the loaded matrix, its peak memory; every test line
  scored (a user or item the training file lacks by the baseline, ``unknown=True``): RMSE
  on all lines and on warm lines, the fraction within 1 and 2 predicted std; the model's
  choices; top-10 lists by each of ``mixrec.RANKINGS`` and the most rated items, by the
  project's protocol (``mixrec.metrics.list_scores``: relevant = a warm held-out rating in
  the top quarter of the scale, every unrated item ranked). The same again with
  ``blend_holdout=0``: the stages alone, as the model was before the blend.
- EASE (Steck 2019), numpy here: lambda by validation NDCG@10 on ``mixrec.holdout(X, 0.1)``
  of the training matrix, then refitted on all of it (Epinions: the 5000 most rated items).
- The peers (``peers.py``, each method by its scratch venv's python: ``SURPRISE_PYTHON``,
  ``MYFM_PYTHON``, ``LENSKIT_PYTHON``, ``CORNAC_PYTHON``, ``IMPLICIT_PYTHON``, or
  ``--peers-dir`` holding NAME/bin/python): each method killed at 2 x ``--budget``
  (``--peer-budget NAME=S``: a dataset's own); SVD++ and myFM's draws stop at it
  themselves, LensKit's list kNN is skipped when estimated over it.

"dense" is derived from MovieLens ``ratings_train.csv`` alone: its 100 most rated items and
the users with at least 36 ratings of them, split 90/10 by ``mixrec.split_lines`` (seed 0)
into a temporary folder. The data folder (``--data-dir``) defaults to ../shared/data beside
the checkout. Without it the benchmark says so and exits 0; without a peer's environment it
says so and goes on.
"""
import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy import sparse
from scipy.linalg import lapack

if __package__ in (None, ""):  # run by path: the checkout's root holds mixrec
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import mixrec  # noqa: E402  (after the path, when run by path)
from mixrec import metrics, ratingsfile  # noqa: E402
from mixrec.lists import relevance_threshold, top_by_scores  # noqa: E402
from mixrec.options import DEFAULTS, resolved  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_DATA = os.path.join(ROOT, "..", "shared", "data")
DATASETS = ("ml-latest-small", "movietweetings-100k", "filmtrust", "epinions-tang", "dense")
N = 10
PROBE = 50  # users whose lists time the rest's
WITHIN = {"one": (0.64, 0.76), "two": (0.93, 0.97)}  # the project's calibration floors
EASE_LAMBDAS = (1, 10, 50, 100, 200, 500, 1000, 2000, 5000)
EASE_MAX_ITEMS = {"epinions-tang": 5000}
# The peers' methods (peers.SUITE_METHODS), by library; and their rough cost, to start the
# longest first.
PEERS = {"surprise": ("svd", "svdpp", "knnbaseline", "baselineonly"),
         "myfm": ("myfm-ids", "myfm-implicit"),
         "lenskit": ("lenskit-itemknn", "lenskit-biasedmf", "lenskit-knn-lists"),
         "cornac": ("cornac-mf",), "implicit": ("implicit-als",)}
COST = {"myfm-ids": 8, "myfm-implicit": 9, "svdpp": 6, "implicit-als": 5, "ease": 5,
        "lenskit-itemknn": 4, "lenskit-knn-lists": 4, "mixrec": 4, "stages": 3}
BIG = {"epinions-tang": ["--grid", "small", "--val-users", "3000"]}  # implicit ALS's grid
THREADS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# ---------------------------------------------------------------------------------------
# The datasets

def split_paths(data_dir, name):
    """[train, test] of a dataset under data_dir (the folder of ``ml-latest-small/`` and
    ``suite/``; "dense": MovieLens's), or None if either file is missing."""
    if name in ("ml-latest-small", "dense"):
        folder = os.path.join(data_dir, "ml-latest-small")
        paths = [os.path.join(folder, f"ratings_{part}.csv") for part in ("train", "test")]
    else:
        paths = [os.path.join(data_dir, "suite", name, f"{part}.csv.xz")
                 for part in ("train", "test")]
    return paths if all(os.path.isfile(p) for p in paths) else None


def build_dense(train_path, folder, n_items=100, min_ratings=36, seed=0):
    """The dense subset of a ratings file: its n_items most rated items (ties: the lower
    id, as text), the users with at least min_ratings ratings of them, split 90/10 by
    ``mixrec.split_lines`` (every user keeps a training line); the lines are copied as
    written, with the header, to folder/train.csv and folder/test.csv.

    Returns
    -------
    train, test : str
        The two files' paths.
    info : dict
        "ratings", "users", "items", "test_lines".
    """
    header, lines, users, items, _ = ratingsfile.data_lines(train_path)  # _: line numbers
    item_ids, item_codes, counts = np.unique(np.asarray(items), return_inverse=True,
                                             return_counts=True)
    top = np.lexsort((np.arange(len(item_ids)), -counts))[:n_items]
    on_top = np.isin(item_codes, top)
    user_ids, user_codes = np.unique(np.asarray(users), return_inverse=True)
    per_user = np.bincount(user_codes[on_top], minlength=len(user_ids))
    keep = np.flatnonzero(on_top & (per_user[user_codes] >= min_ratings))
    kept_users = np.asarray(users)[keep]
    test = mixrec.split_lines(kept_users, 0.1, seed=seed)
    paths = []
    for name, chosen in (("train", keep[~test]), ("test", keep[test])):
        paths.append(os.path.join(folder, f"{name}.csv"))
        with open(paths[-1], "w") as f:
            f.write((header.rstrip("\n") + "\n" if header else "")
                    + "".join(lines[k] + "\n" for k in chosen))
    return paths[0], paths[1], {"ratings": int(len(keep)),
                                "users": int(len(np.unique(kept_users))),
                                "items": int(len(np.unique(np.asarray(items)[keep]))),
                                "test_lines": int(test.sum())}


# ---------------------------------------------------------------------------------------
# Measures shared by the children

def cold_counts(rows, cols):
    """How many test pairs lack their user, their item, either or both in training.

    Parameters
    ----------
    rows, cols : array_like of int
        The pairs' user and item indices, -1 for an id the training file lacks.

    Returns
    -------
    dict
        "cold" (either absent), "user_absent", "item_absent", "both_absent".
    """
    user, item = np.asarray(rows) < 0, np.asarray(cols) < 0
    return {"cold": int(np.sum(user | item)), "user_absent": int(user.sum()),
            "item_absent": int(item.sum()), "both_absent": int(np.sum(user & item))}


def rmse_parts(pred, values, warm):
    """{"rmse": on every line, "rmse_warm": on the warm lines (NaN if none)}, given the
    predictions, the ratings and the warm lines' mask."""
    err2 = (np.asarray(pred, dtype=float) - np.asarray(values, dtype=float)) ** 2
    return {"rmse": float(np.sqrt(err2.mean())),
            "rmse_warm": float(np.sqrt(err2[warm].mean())) if np.any(warm) else float("nan")}


def relevant_pairs(rows, cols, values, rating_range):
    """The relevant held-out pairs (rel_rows, rel_cols) by the project's rule: warm, rated in
    the top quarter of rating_range (``mixrec.lists.relevance_threshold``); and the users
    judged (those with one), sorted."""
    keep = (rows >= 0) & (cols >= 0) & (np.asarray(values) >= relevance_threshold(rating_range))
    return rows[keep], cols[keep], np.unique(rows[keep])


def ease_weights(G, lam):
    """EASE's item x item weights B (k, k) from the Gram matrix ``G = X^T X`` (k, k) of a
    0/1 matrix X and the L2 penalty lam > 0: ``B = I - P diag(1 / diag P)``, ``P = (G +
    lam I)^-1`` (Cholesky, LAPACK dpotrf + dpotri, float64), so ``diag B = 0``."""
    A = np.array(G, dtype=np.float64)
    A[np.diag_indices_from(A)] += lam
    c, info = lapack.dpotrf(A, lower=True, overwrite_a=True, clean=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"dpotrf: info {info}")
    P, info = lapack.dpotri(c, lower=True, overwrite_c=True)
    if info != 0:
        raise np.linalg.LinAlgError(f"dpotri: info {info}")
    P = np.tril(P) + np.tril(P, -1).T
    B = P / (-np.diag(P))[None, :]
    B[np.diag_indices_from(B)] = 0.0
    return B


def ease_lists(X, lam, users, max_items=None, n=N):
    """EASE's top-n lists of these users (rows of X) from the 0/1 pattern of X, rated items
    left out; only the max_items most rated items (ties: the lower index) enter B, the
    others rank below them all, by index.

    Returns
    -------
    items : ndarray of int, shape (len(users), n)
    """
    X = sparse.csr_array((np.ones(X.nnz), X.indices, X.indptr), shape=X.shape)
    users, d = np.asarray(users), X.shape[1]
    counts = np.bincount(X.indices, minlength=d)
    keep = np.sort(np.lexsort((np.arange(d), -counts))[:max_items or d])
    Xk = X[:, keep].tocsc()
    B = ease_weights((Xk.T @ Xk).toarray(), lam)
    Xk = Xk.tocsr()

    def block_scores(block):
        scores = Xk[block] @ B
        return scores, scores
    top = top_by_scores(block_scores, users, Xk.indptr, Xk.indices, len(keep), n)[0]
    items = np.full((len(users), n), -1, dtype=np.int64)
    items[:, :top.shape[1]] = np.where(top >= 0, keep[np.maximum(top, 0)], -1)
    outside = np.setdiff1d(np.arange(d), keep)
    for row in np.flatnonzero((items < 0).any(axis=1) & (len(outside) > 0)):
        # B's unrated items are too few: the items outside B follow, by index
        u, short = users[row], int(np.sum(items[row] < 0))
        rated = X.indices[X.indptr[u]:X.indptr[u + 1]]
        fill = outside[~np.isin(outside, rated)][:short]
        items[row, n - short:n - short + len(fill)] = fill
    return items


def ease_child(train_path, test_path, max_items=None):
    """EASE's lists by the project's protocol: lambda (of EASE_LAMBDAS) by NDCG@10 on
    ``mixrec.holdout(X, 0.1, seed=0)`` of the training matrix, then refitted on all of it.

    Returns
    -------
    dict
        "precision", "recall", "ndcg" at N on the test file, "n_users", "fit_s" (the refit
        and its lists), "params", "items_used", "items", "validation", "validation_users".
    """
    X, user_ids, item_ids = mixrec.load_ratings(train_path)
    span = (X.data.min(), X.data.max())
    X_fit, hidden = mixrec.holdout(X, 0.1, seed=0)
    rel_rows, rel_cols, users = relevant_pairs(*hidden, span)
    tried = {}
    for lam in EASE_LAMBDAS:
        start = time.perf_counter()
        lists = ease_lists(X_fit, lam, users, max_items)
        tried[lam] = {"ndcg": metrics.list_scores(lists, users, rel_rows, rel_cols, N)[2],
                      "s": time.perf_counter() - start}
        print(f"  EASE lambda {lam}: validation NDCG {tried[lam]['ndcg']:.4f}",
              file=sys.stderr, flush=True)
    lam = max(tried, key=lambda k: tried[k]["ndcg"])
    rows, cols, values = mixrec.load_test_ratings(test_path, user_ids, item_ids)
    rel_rows, rel_cols, users = relevant_pairs(rows, cols, values, span)
    start = time.perf_counter()
    lists = ease_lists(X, lam, users, max_items)
    seconds = time.perf_counter() - start
    p, r, g = metrics.list_scores(lists, users, rel_rows, rel_cols, N)
    return {"precision": p, "recall": r, "ndcg": g, "n_users": int(len(users)), "fit_s": seconds,
            "params": {"lambda": lam}, "items_used": min(max_items or X.shape[1], X.shape[1]),
            "items": int(X.shape[1]), "validation": tried,
            "validation_users": int(len(relevant_pairs(*hidden, span)[2]))}


def mixrec_child(train_path, test_path, list_budget=np.inf, **options):
    """mixrec fitted with these options (none: its defaults) on train_path, judged on
    test_path; a user or item the training file lacks scored by the baseline. A ranking's
    lists are skipped when estimated (from the first PROBE users') over list_budget seconds.

    Returns
    -------
    dict
        The fit's wall and CPU seconds (from the loaded matrix) and peak memory; the files'
        counts; ``cold_counts``; ``rmse_parts``; the fractions within 1 and 2 predicted std
        (all lines, and "_warm"); the model's choices; "lists" ({ranking: precision, recall,
        NDCG at N}); with the defaults, "popular" (the most rated items' lists).
    """
    found = ratingsfile.read(train_path)
    X, user_ids, item_ids = found.X, found.user_ids, found.item_ids
    has_times = "timestamp" in found.columns
    times = found.times if has_times else None
    reset_peak()
    start, cpu = time.perf_counter(), time.process_time()
    model = mixrec.fit(X, times=times, **options)
    out = {"fit_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu,
           "peak_gb": peak_rss_bytes() / 2 ** 30, "lines": found.lines,
           "merged_pairs": found.merged, "merge_policy": found.policy, "timestamps": has_times,
           "ratings": int(X.nnz), "users": int(X.shape[0]), "items": int(X.shape[1])}
    rows, cols, values, test_times = mixrec.load_test_ratings(test_path, user_ids, item_ids,
                                                              timestamps=True)
    pred, std = mixrec.predict(model, rows, cols, unknown=True, return_std=True,
                               times=test_times if has_times else None)
    warm = (rows >= 0) & (cols >= 0)
    one, two = metrics.within_std(values, pred, std)
    one_w, two_w = metrics.within_std(values[warm], pred[warm], std[warm])
    plan = resolved({**DEFAULTS, **options}, int(np.count_nonzero(np.diff(X.indptr))), X.nnz)
    out.update(test_lines=int(len(values)), **cold_counts(rows, cols),
               **rmse_parts(pred, values, warm), within_one=one, within_two=two,
               within_one_warm=one_w, within_two_warm=two_w,
               choices={"day_biases": bool(len(model.days) > 0),
                        "blend": bool(len(model.blend_weights) > 0),
                        "item_components": plan["item_components"],
                        "item_stages": plan["item_stages"],
                        "std_factor": float(model.std_factor)})
    rel_rows, rel_cols, users = relevant_pairs(rows, cols, values, model.rating_range)
    out["lists"] = {}
    for ranking in mixrec.RANKINGS:
        start = time.perf_counter()
        lists = mixrec.top_n_all(model, X, N, ranking=ranking, users=users[:PROBE]).items
        estimate = (time.perf_counter() - start) * len(users) / max(1, min(PROBE, len(users)))
        if estimate > list_budget:
            out["lists"][ranking] = (f"skipped: over budget ({len(users)} users' lists estimated "
                                     f"at {estimate:.0f} s from {PROBE} users', budget "
                                     f"{list_budget:.0f} s)")
            continue
        if len(users) > PROBE:
            lists = np.vstack([lists, mixrec.top_n_all(model, X, N, ranking=ranking,
                                                       users=users[PROBE:]).items])
        p, r, g = metrics.list_scores(lists, users, rel_rows, rel_cols, N)
        out["lists"][ranking] = {"precision": p, "recall": r, "ndcg": g,
                                 "n_users": int(len(users)), "s": time.perf_counter() - start}
    if not options:  # the most rated items (training ratings, merged), once
        popularity = np.bincount(X.indices, minlength=X.shape[1]).astype(float)
        start = time.perf_counter()
        lists = top_by_scores(lambda b: (np.broadcast_to(popularity, (len(b), X.shape[1])),) * 2,
                              users, X.indptr, X.indices, X.shape[1], N)[0]
        p, r, g = metrics.list_scores(lists, users, rel_rows, rel_cols, N)
        out["popular"] = {"precision": p, "recall": r, "ndcg": g, "n_users": int(len(users)),
                          "s": time.perf_counter() - start}
    return out


def peak_rss_bytes():
    """This process's peak resident memory in bytes since ``reset_peak`` (Linux VmHWM;
    elsewhere ru_maxrss, the peak since the start)."""
    with contextlib.suppress(OSError), open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    import resource  # Unix only
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def reset_peak():
    """Restart VmHWM (Linux), so that the peak is the fit's (and what it holds)."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as f:
        f.write("5")


# ---------------------------------------------------------------------------------------
# Jobs: each a process of its own, at most --jobs at once, each with a time limit

class Job:
    """One measurement: argv run in a process of its own, its last stdout line JSON,
    killed (its process group) after timeout seconds; the costliest start first. Its result
    goes to ``results[dataset][key]``."""

    def __init__(self, dataset, key, argv, timeout, cost):
        self.dataset, self.key, self.argv, self.timeout = dataset, key, argv, timeout
        self.cost, self.result = cost, None


def run_jobs(jobs, n_parallel, work, log=print):
    """Run the jobs, the costliest first, n_parallel at once, setting each one's result
    (``_job_result``); each job's output goes to work/DATASET/KEY.{json,log}, and a job whose
    JSON is already there is not run again.

    Returns
    -------
    list of float
        The 1-minute load averages seen, every 2 s.
    """
    pending = sorted(jobs, key=lambda j: -j.cost)
    running, loads = [], [os.getloadavg()[0]]
    while pending or running:
        while pending and len(running) < n_parallel:
            job = pending.pop(0)
            folder = os.path.join(work, job.dataset)
            os.makedirs(folder, exist_ok=True)
            job.out = os.path.join(folder, job.key + ".json")
            if os.path.isfile(job.out):
                with open(job.out) as f:
                    job.result = json.load(f)
                log(f"  [{job.dataset}] {job.key}: reused {job.out}")
                continue
            job.err = open(os.path.join(folder, job.key + ".log"), "w")
            job.stdout = open(job.out + ".part", "w")
            job.proc = subprocess.Popen(job.argv, stdout=job.stdout, stderr=job.err, cwd=ROOT,
                                        env={**os.environ, **THREADS},
                                        start_new_session=True)
            job.start = time.perf_counter()
            log(f"  [{job.dataset}] {job.key}: started ({len(pending)} waiting)", flush=True)
            running.append(job)
        if running:
            time.sleep(2)
            loads.append(os.getloadavg()[0])
        for job in list(running):
            elapsed = time.perf_counter() - job.start
            if job.proc.poll() is None and elapsed <= job.timeout:
                continue
            if job.proc.poll() is None:
                os.killpg(job.proc.pid, 9)
                job.proc.wait()
            running.remove(job)
            job.stdout.close()
            job.err.close()
            job.result = _job_result(job, elapsed)
            with open(job.out, "w") as f:
                json.dump(job.result, f, default=float)
            state = job.result if isinstance(job.result, str) else f"done ({elapsed:.0f} s wall)"
            log(f"  [{job.dataset}] {job.key}: {state}", flush=True)
    return loads


def _job_result(job, elapsed):
    """The job's JSON, or a string saying why there is none."""
    if job.proc.returncode == -9 and elapsed > job.timeout:
        return f"killed: over the time limit ({job.timeout:.0f} s wall)"
    with open(job.out + ".part") as f:
        text = f.read().strip()
    if job.proc.returncode != 0 or not text:
        with open(job.err.name) as f:
            tail = [line for line in f.read().splitlines() if line.strip()][-1:] or ["?"]
        return f"failed (exit {job.proc.returncode}): {tail[0][:300]}"
    result = json.loads(text.splitlines()[-1])
    if isinstance(result, dict):
        result["wall_s"] = elapsed
    return result


def plan_jobs(name, train, test, peers, budget, peer_budget):
    """Every job of a dataset: mixrec (its defaults; the stages alone), EASE, each method
    of each library in peers ({library: python}). mixrec's jobs skip a ranking's lists
    estimated over budget and are killed at 6 x budget, EASE's at 3 x budget; the peers get
    peer_budget (peers.py's --budget) and are killed at twice that.

    Returns
    -------
    list of Job
    """
    me = [sys.executable, "-m", "benchmarks.suite", "--child"]
    jobs = [Job(name, key, me + [key, train, test, str(budget)], 6 * budget, COST[key])
            for key in ("mixrec", "stages")] + [
            Job(name, "ease", me + ["ease", train, test, str(EASE_MAX_ITEMS.get(name, 0))],
                3 * budget, COST["ease"])]
    for library, python in peers.items():
        for method in PEERS[library]:
            extra = BIG.get(name, []) if method == "implicit-als" else []
            jobs.append(Job(name, method, [python, os.path.join(HERE, "peers.py"), method, train,
                                           test, "--budget", str(peer_budget)] + extra,
                            2 * peer_budget, COST.get(method, 1)))
    return jobs


# ---------------------------------------------------------------------------------------
# The run

def main(argv=None):
    """Run the benchmark (see the module's docstring) on argv (default sys.argv[1:]);
    returns the exit status, 0 also without the data."""
    args = _parse_args(argv)
    if args.child:
        return _child(args.child)
    found = {name: split_paths(args.data_dir, name) for name in args.datasets}
    if not any(found.values()):
        print(f"Skipped: none of the datasets' files is under {args.data_dir} "
              "(ml-latest-small/ratings_{train,test}.csv, suite/NAME/{train,test}.csv.xz)")
        return 0
    peers, missing = _peer_pythons(args.peers, args.peers_dir)
    work = args.work or tempfile.mkdtemp(prefix="suite_")
    scratch = tempfile.mkdtemp(prefix="suite_dense_")
    how = ["-m", "benchmarks.suite"] if __package__ else [sys.argv[0]]
    meta = {"command": " ".join([sys.executable] + how + sys.argv[1:]),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": _machine(), "load_start": os.getloadavg(), "work": work,
            "budget_s": args.budget, "parallel_jobs": args.jobs, "peers_missing": missing}
    print(f"Machine: {meta['machine']}; load average at start {_loads(meta['load_start'])}")
    results, jobs = {}, []
    try:
        for name, paths in found.items():
            if paths is None:
                results[name] = {"skipped": f"its files are not under {args.data_dir}"}
                continue
            info = {"train": paths[0], "test": paths[1]}
            if name == "dense":
                paths[0], paths[1], subset = build_dense(paths[0], scratch)
                info.update(subset, built_from=info["train"], train=paths[0], test=paths[1])
            info["peer_budget_s"] = args.peer_budget.get(name, args.budget)
            results[name] = {"info": info}
            jobs += plan_jobs(name, paths[0], paths[1], peers, args.budget,
                              info["peer_budget_s"])
        start = time.perf_counter()
        loads = run_jobs(jobs, args.jobs, work)
        meta["wall_s"] = time.perf_counter() - start
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    meta.update(load_end=os.getloadavg(), load_1min_during={
        "min": min(loads), "mean": float(np.mean(loads)), "max": max(loads)})
    meta["versions"] = {"python": platform.python_version(), "numpy": np.__version__,
                        "mixrec": mixrec.__version__}
    for job in jobs:
        results[job.dataset][job.key] = job.result
        if isinstance(job.result, dict) and "library" in job.result:
            meta["versions"][job.result["library"]] = job.result["version"]
    report = {"meta": meta, "datasets": results}
    print_report(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1, default=float)
    return 0


def _parse_args(argv):
    """The command line's options; --peer-budget as {dataset: seconds}."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--peers", default="all",
                        help="all, none, or some of " + ",".join(PEERS) + " (default all)")
    parser.add_argument("--budget", type=float, default=600.0,
                        help="seconds: SVD++ and myFM's draws stop there, a peer's process "
                             "is killed at twice that (default 600)")
    parser.add_argument("--peer-budget", action="append", default=[], metavar="NAME=S",
                        help="a dataset's peers' budget in place of --budget (repeatable)")
    parser.add_argument("--jobs", type=int, default=2, help="processes at once (default 2)")
    parser.add_argument("--json", help="also write every figure to this file")
    parser.add_argument("--work", help="folder of each job's JSON and log (default: a new "
                                       "temporary one); a job whose JSON is there is reused")
    parser.add_argument("--data-dir", default=DEFAULT_DATA,
                        help="holds ml-latest-small/ and suite/ (default ROOT/../shared/data)")
    parser.add_argument("--peers-dir", help="holds NAME/bin/python for each peer's venv "
                                            "(else $SURPRISE_PYTHON, $MYFM_PYTHON, ...)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        args.peer_budget = {name: float(s) for name, s in
                            (item.split("=") for item in args.peer_budget)}
    except ValueError:
        parser.error("--peer-budget takes NAME=SECONDS")
    unknown = sorted(set(args.peer_budget) - set(DATASETS))
    if unknown:
        parser.error(f"--peer-budget: unknown datasets {unknown}")
    return args


def _child(argv):
    """In a job's process: mixrec, the stages alone, or EASE; one JSON line."""
    what, train, test, *rest = argv
    if what == "ease":
        found = ease_child(train, test, int(rest[0]) or None)
    else:
        found = mixrec_child(train, test, float(rest[0]),
                             **({"blend_holdout": 0.0} if what == "stages" else {}))
    print(json.dumps(found, default=float))
    return 0


def _peer_pythons(chosen, peers_dir):
    """{library: python} of the peers asked for and found, and {library: why not} of the
    others."""
    names = list(PEERS) if chosen == "all" else [] if chosen == "none" else chosen.split(",")
    unknown = sorted(set(names) - set(PEERS))
    if unknown:
        raise SystemExit(f"unknown peers {unknown}; known: {', '.join(PEERS)}")
    found, missing = {}, {}
    for name in names:
        python = (os.path.join(peers_dir, name, "bin", "python") if peers_dir
                  else os.environ.get(f"{name.upper()}_PYTHON"))
        if python and os.path.isfile(python):
            found[name] = python
        else:
            missing[name] = (f"not measured: no scratch environment ({name.upper()}_PYTHON or "
                             "--peers-dir)")
    return found, missing


def _machine():  # the platform, processor, cores and Python
    return (f"{platform.platform()}, {platform.processor() or platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}")


def _loads(loads):  # load averages as text
    return " / ".join(f"{x:.1f}" for x in loads) + " (1, 5, 15 min)"


# ---------------------------------------------------------------------------------------
# The tables

NAMES = {"mixrec": "mixrec (defaults)", "stages": "mixrec, stages alone (blend_holdout=0)"}


def rating_rows(entry):
    """The rating predictors of a dataset's entry ({key: a job's dict, or why there is
    none}), best RMSE first, as (name, figures); and the skips, as (name, why)."""
    rows, skips = [], []
    for key, found in entry.items():
        if key in ("info", "ease"):
            continue
        if isinstance(found, str):
            skips.append((key, found))
            continue
        name = NAMES.get(key) or found["name"]
        figures = found if key in NAMES else found["result"]
        if isinstance(figures, str):
            skips.append((name, figures))
        elif "rmse" in figures:
            if figures.get("ordered_probit"):
                name += ", ordered probit"
            rows.append((name, figures))
    return sorted(rows, key=lambda r: r[1]["rmse"]), skips


def list_rows(entry):
    """The lists of a dataset's entry, best NDCG first, as (name, figures)."""
    rows = []
    for key in ("mixrec", "stages"):
        if isinstance(entry.get(key), dict):
            for ranking, figures in entry[key]["lists"].items():
                if isinstance(figures, dict):  # (print_report says the skips)
                    rows.append((f"{NAMES[key]}, by {ranking}", figures))
    if isinstance(entry.get("mixrec"), dict):
        rows.append(("most popular (training ratings)", entry["mixrec"]["popular"]))
    if isinstance(entry.get("ease"), dict):
        e = entry["ease"]
        rows.append((f"EASE (lambda {e['params']['lambda']:g}"
                     + (f", top {e['items_used']} of {e['items']} items" if e["items_used"]
                        < e["items"] else "") + ")", e))
    for key in ("implicit-als", "lenskit-knn-lists"):
        found = entry.get(key)
        if isinstance(found, dict) and isinstance(found["result"], dict):
            rows.append((f"{found['name']} {found['result']['params']}", found["result"]))
    return sorted(rows, key=lambda r: -r[1]["ndcg"])


def rating_table(rows):
    """The markdown table (str) of the rating predictors' (name, figures), in their order;
    a calibration outside the project's floors (WITHIN) is flagged "(!)"."""
    out = ["| method | RMSE all lines | RMSE warm | within 1 std | within 2 std | fit s | "
           "CPU s | peak GB |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for label, f in rows:
        within = ["", ""]
        for k, key in enumerate(("one", "two")):
            if f"within_{key}" in f:
                low, high = WITHIN[key]
                value = f[f"within_{key}"]
                within[k] = f"{value:.1%}" + ("" if low <= value <= high else " (!)")
        extra = f" ({f['kept']} draws)" if "kept" in f else ""
        cpu = f"{f['cpu_s']:.1f}" if "cpu_s" in f else ""
        peak = f"{f['peak_gb']:.2f}" if "peak_gb" in f else ""
        out.append(f"| {label}{extra} | {f['rmse']:.4f} | {f['rmse_warm']:.4f} | {within[0]} | "
                   f"{within[1]} | {f['fit_s']:.1f} | {cpu} | {peak} |")
    return "\n".join(out)


def print_report(report):
    """Print the report ({"meta", "datasets"}, as ``main`` builds it) as markdown: per dataset
    its counts, the rating and list tables and the skips; then the machine and the run."""
    meta = report["meta"]
    for name, entry in report["datasets"].items():
        print(f"\n## {name}\n")
        if "skipped" in entry:
            print(f"skipped: {entry['skipped']}")
            continue
        me = entry.get("mixrec")
        if isinstance(me, dict):
            c = me["choices"]
            print(f"{me['lines']} training lines ({me['merged_pairs']} pairs rated more than "
                  f"once merged: {me['merge_policy']}), {me['users']} users x {me['items']} "
                  f"items, timestamps: {'yes' if me['timestamps'] else 'no'}; {me['test_lines']}"
                  f" test lines, {me['cold']} of them cold (user absent {me['user_absent']}, "
                  f"item absent {me['item_absent']}), scored by the baseline.\nmixrec's "
                  f"choices: day biases {'on' if c['day_biases'] else 'off'}, item stages "
                  f"{c['item_stages']} x K = {c['item_components']}, blend "
                  f"{'on' if c['blend'] else 'off (too few ratings held out)'}, std_factor "
                  f"{c['std_factor']:.3f}.\n")
        rows, skips = rating_rows(entry)
        budget = entry["info"]["peer_budget_s"]
        if budget != meta["budget_s"]:
            print(f"Peers' budget here: {budget:.0f} s (not {meta['budget_s']:.0f} s).\n")
        print(rating_table(rows))
        print("\n| list (top 10) | precision | recall | NDCG | s |\n"
              "| --- | ---: | ---: | ---: | ---: |")
        for label, f in list_rows(entry):
            seconds = f.get("s", f.get("fit_s", float("nan")))
            print(f"| {label} | {f['precision']:.4f} | {f['recall']:.4f} | {f['ndcg']:.4f} | "
                  f"{seconds:.1f} |")
        if isinstance(entry.get("ease"), str):  # (the other skips are rating_rows')
            skips.append(("ease", entry["ease"]))
        for key in ("mixrec", "stages"):
            for ranking, why in (entry[key]["lists"] if isinstance(entry.get(key), dict)
                                 else {}).items():
                if isinstance(why, str):
                    skips.append((f"{NAMES[key]}, by {ranking}", why))
        for label, why in skips:
            print(f"- {label}: {why}")
    print(f"\nMachine: {meta['machine']}; {meta['parallel_jobs']} jobs at once, one BLAS "
          f"thread each; budget {meta['budget_s']:.0f} s.\nLoad average at start "
          f"{_loads(meta['load_start'])}, at end {_loads(meta['load_end'])}; 1-min load "
          f"during the run {meta['load_1min_during']['min']:.1f}-"
          f"{meta['load_1min_during']['max']:.1f} (mean "
          f"{meta['load_1min_during']['mean']:.1f}). Wall {meta['wall_s'] / 60:.0f} min.\n"
          f"Command: {meta['command']}\nDate: {meta['date']}\nVersions: "
          + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    for name, why in meta["peers_missing"].items():
        print(f"- {name}: {why}")


if __name__ == "__main__":
    sys.exit(main())

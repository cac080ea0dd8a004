"""Benchmark: the recommender beside the baselines and the tools people use.

    python -m benchmarks.recommender [--data-dir DIR] [--seeds 0] [--json FILE]
    python -m benchmarks.recommender --tune        # defaults: the path, one change at a time
    python -m benchmarks.recommender --frontier    # fit time against validation RMSE
    python -m benchmarks.recommender --rescaled    # the same split on other rating scales
    python -m benchmarks.recommender --dense       # the 100 most-rated movies only
    python -m benchmarks.recommender --scale [movielens-20m netflix-prize]

The default run fits MovieLens ``ratings_train.csv`` (timed from the file to a fitted
model) and scores ``ratings_test.csv``: held-out RMSE, calibration of the predicted
uncertainty, and top-10 lists (precision, recall, NDCG) beside the most popular items and
the baseline's; beside it the baselines, the course's model and, measured in the same
sitting when their scratch environments are given (``SURPRISE_PYTHON``, ``MYFM_PYTHON``:
see ``peers.py``), scikit-surprise and myFM. --tune, --frontier and --dense choose
and check the defaults on a 10% validation split of ``ratings_train.csv`` only: no
hyper-parameter is ever chosen on ``ratings_test.csv``. --scale times the fit on planted
ratings at the MovieLens-20M shape beside surprise's SVD on the same ratings (each in a
process of its own, for its peak memory), and serving at that shape.

Without the data folder the MovieLens parts say so and exit 0.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy import sparse

if __package__ in (None, ""):  # run by path: the checkout's root holds the course and mixrec
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import common  # noqa: E402  (after the path, when run by path)
import em  # noqa: E402
import mixrec  # noqa: E402
import synthetic  # noqa: E402
from mixrec import metrics  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_DIR = os.path.join(ROOT, "..", "shared", "data", "ml-latest-small")
FLOORS = {"rmse": 0.850, "fit_s": 10.0, "within_one": (0.64, 0.76), "within_two": (0.93, 0.97)}
# Measured here when no scratch environment is given (2026-12-02, this 2-core VM): issue 19's
# figures for myFM 0.4.0, and scikit-surprise 1.1.5's from the shared data's README.
FIXED = {"myFM Bayesian FM, ids (2026-12-02)": 0.8524,
         "myFM Bayesian FM, ids + implicit, ordered probit (2026-12-02)": 0.8397,
         "surprise SVD (2026-12-02)": 0.8949, "surprise SVD++ (2026-12-02)": 0.8809,
         "surprise KNNBaseline (2026-12-02)": 0.8664}


def main(argv=None):
    args = _parse_args(argv)
    print(f"Machine: {_machine()}")
    if args.scale is not None:
        results = bench_scale(args.scale or ["movielens-20m"], args.surprise_python)
        return _dump(results, args.json)
    paths = _split_paths(args.data_dir)
    if paths is None:
        print(f"Skipped: {args.data_dir}/ratings_train.csv and ratings_test.csv not found "
              "(MovieLens ml-latest-small with its fixed split; see ../shared/data)")
        return 0
    if args.tune:
        return _dump(tune(paths[0]), args.json)
    if args.frontier:
        return _dump(frontier(paths[0]), args.json)
    if args.rescaled:
        return _dump(rescaled(*paths), args.json)
    if args.dense:
        return _dump(dense(*paths), args.json)
    results = evaluate(*paths, args.seeds, args.surprise_python, args.myfm_python)
    _print_results(results)
    return _dump(results, args.json)


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=DEFAULT_DIR,
                        help="folder with ratings_train.csv and ratings_test.csv")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--tune", action="store_true", help="the defaults' path, on validation")
    what.add_argument("--frontier", action="store_true", help="time against validation RMSE")
    what.add_argument("--rescaled", action="store_true", help="ratings on other scales")
    what.add_argument("--dense", action="store_true", help="the 100 most-rated movies")
    what.add_argument("--scale", nargs="*", choices=sorted(SHAPES),
                      help="planted ratings at these shapes (default movielens-20m)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="fit seeds of the recommender (default 0)")
    parser.add_argument("--surprise-python", default=os.environ.get("SURPRISE_PYTHON"),
                        help="python of a scratch venv with scikit-surprise (default "
                             "$SURPRISE_PYTHON)")
    parser.add_argument("--myfm-python", default=os.environ.get("MYFM_PYTHON"),
                        help="python of a scratch venv with myfm (default $MYFM_PYTHON)")
    parser.add_argument("--json", help="also write the figures to this file")
    return parser.parse_args(argv)


def _machine():
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"numpy {np.__version__}")


def _split_paths(folder):
    paths = [os.path.join(folder, f"ratings_{part}.csv") for part in ("train", "test")]
    return paths if all(os.path.isfile(p) for p in paths) else None


def _dump(results, path):
    if path:
        with open(path, "w") as f:
            json.dump(results, f, indent=2, default=float)
    return 0


# ---------------------------------------------------------------------------------------
# The shared split

def evaluate(train_path, test_path, seeds, surprise_python=None, myfm_python=None):
    """Every figure of the default run, as a dict."""
    X, user_ids, item_ids, times = mixrec.load_ratings(train_path, timestamps=True)
    rows, cols, test, test_times = mixrec.load_test_ratings(test_path, user_ids, item_ids,
                                                          timestamps=True)
    held_out = mixrec.Hidden(rows, cols, test)
    results = {"train": train_path, "ratings": int(X.nnz), "test_ratings": len(test),
               "cold_pairs": int(np.sum((rows < 0) | (cols < 0))), "rmse": {}, "fit_s": {},
               "calibration": {}, "lists": {}, "model_bytes": {}}
    baseline = mixrec.fit(X, times=times, item_stages=0, user_stages=0)
    results["rmse"].update(metrics.baseline_rmse(X, baseline, held_out, times=test_times))
    K, course_rmse, validation = course_model(X, rows, cols, test)
    results["rmse"][f"the course's EM (K = {K}, chosen inside the training file)"] = course_rmse
    results["course_validation_rmse"] = validation
    for seed in seeds:
        start = time.perf_counter()  # from the file on disk to a fitted model
        X, _, _, times = mixrec.load_ratings(train_path, timestamps=True)
        model = mixrec.fit(X, seed=seed, times=times)
        name = f"mixture recommender (seed {seed})"
        results["fit_s"][name] = time.perf_counter() - start
        pred, std = mixrec.predict(model, rows, cols, unknown=True, return_std=True,
                                        times=test_times)
        results["rmse"][name] = common.rmse(pred, test)
        results["calibration"][name] = metrics.within_std(test, pred, std)
        results["model_bytes"][name] = _model_bytes(model)
        if seed == seeds[0]:
            results["lists"] = metrics.compare_lists(model, X, held_out, n=10)
    results["peers"] = peers(train_path, test_path, surprise_python, myfm_python)
    return results


def _model_bytes(model):
    """Bytes of the model file per user and item (its size over n + d)."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "m.npz")
        mixrec.save(model, path)
        size = os.path.getsize(path)
    return {"bytes": size, "per_user_and_item": size / (len(model.user_bias)
                                                        + len(model.item_bias))}


def course_model(X, rows, cols, test, Ks=(1, 2, 4, 8, 12, 16), seeds=(0, 1, 2)):
    """The course's model as a recommender: K chosen on a 10% split of the training ratings,
    then refitted on all of them; its held-out RMSE (the global mean where it cannot say)."""
    X_fit, hidden = mixrec.holdout(X, 0.1, seed=0)
    validation = {K: common.rmse(em.predict(X_fit, em.best_run(X_fit, K, seeds).mixture,
                                            hidden.rows, hidden.cols), hidden.values)
                  for K in Ks}
    K = min(validation, key=validation.get)
    mixture = em.best_run(X, K, seeds).mixture
    known = (rows >= 0) & (cols >= 0)
    pred = np.full(len(test), metrics.global_mean(X))
    pred[known] = em.predict(X, mixture, rows[known], cols[known])
    return K, common.rmse(pred, test), validation


def peers(train_path, test_path, surprise_python, myfm_python):
    """scikit-surprise's and myFM's figures on the split, each in its scratch venv."""
    out = {}
    for name, python, what in (("surprise", surprise_python, "surprise"),
                               ("myfm", myfm_python, "myfm")):
        if not python:
            out[name] = "not measured: no scratch environment given (see benchmarks/peers.py)"
            continue
        found = _run_peer(python, what, train_path, test_path)
        out[name] = found
    return out


def _run_peer(python, *argv):
    result = subprocess.run([python, os.path.join(HERE, "peers.py"), *argv],
                            capture_output=True, text=True)
    if result.returncode != 0:
        return f"failed: {result.stderr.strip().splitlines()[-1] if result.stderr else '?'}"
    return json.loads(result.stdout)


def _print_results(r):
    print(f"Fitted on {r['train']} ({r['ratings']} ratings, with timestamps); held-out RMSE "
          f"on {r['test_ratings']} test ratings ({r['cold_pairs']} with a user or item the "
          "training file lacks, scored by the baseline)")
    rmse, fit_s = dict(r["rmse"]), dict(r["fit_s"])
    measured = False
    for found in r["peers"].values():
        if isinstance(found, dict):
            measured = True
            for name, figures in found.items():
                if isinstance(figures, dict):
                    rmse[name], fit_s[name] = figures["rmse"], figures["fit_s"]
    if not measured:
        rmse.update({name + " (not measured here)": value for name, value in FIXED.items()})
    for name in sorted(rmse, key=rmse.get):
        seconds = f"{fit_s[name]:.1f} s" if name in fit_s else "-"
        print(f"  {name:<66} {rmse[name]:.4f}  {seconds:>8}")
    for name, (one, two) in r["calibration"].items():
        print(f"  {name}: {one:.1%} of the test ratings within one predicted standard "
              f"deviation, {two:.1%} within two (a Gaussian: 68.3%, 95.4%)")
        ok = (rmse[name] <= FLOORS["rmse"] and r["fit_s"][name] <= FLOORS["fit_s"]
              and FLOORS["within_one"][0] <= one <= FLOORS["within_one"][1]
              and FLOORS["within_two"][0] <= two <= FLOORS["within_two"][1])
        size = r["model_bytes"][name]
        print(f"    model file {size['bytes'] / 1e6:.1f} MB, "
              f"{size['per_user_and_item']:.0f} bytes per user and item; floors (RMSE <= "
              f"{FLOORS['rmse']}, fit <= {FLOORS['fit_s']} s, 64-76% and 93-97%): "
              f"{'ok' if ok else 'MISSED'}")
    for name, state in r["peers"].items():
        if not isinstance(state, dict):
            print(f"  {name}: {state}")
    lists = r["lists"]
    print(f"  top-10 lists of the {lists['users']} test users with a relevant rating "
          f"({lists['relevant']}):  precision  recall  NDCG")
    for name, (precision, recall, ndcg) in lists["scores"].items():
        print(f"    {name:<44} {precision:.4f}  {recall:.4f}  {ndcg:.4f}")
    print("  the course's EM, validation RMSE inside the training file by K: " + ", ".join(
        f"{K}: {v:.4f}" for K, v in r["course_validation_rmse"].items()))


# ---------------------------------------------------------------------------------------
# Choosing the defaults, inside the training file only

def validation_split(train_path):
    """ratings_train.csv split 90/10 by mixrec.holdout (seed 0), with the timestamps."""
    X, _, _, times = mixrec.load_ratings(train_path, timestamps=True)
    X_fit, hidden, times_fit, times_hidden = mixrec.holdout(X, 0.1, seed=0, times=times)
    return X_fit, times_fit, hidden, times_hidden


def validate(split, label, **options):
    """Validation RMSE, calibration and fit time of one setting; printed, and returned."""
    X_fit, times_fit, hidden, times_hidden = split
    use_times = options.pop("times", True)
    start = time.perf_counter()
    model = mixrec.fit(X_fit, times=times_fit if use_times else None, **options)
    seconds = time.perf_counter() - start
    pred, std = mixrec.predict(model, hidden.rows, hidden.cols, return_std=True,
                                    times=times_hidden if use_times else None)
    rmse = common.rmse(pred, hidden.values)
    one, two = metrics.within_std(hidden.values, pred, std)
    print(f"  {label:<58} validation RMSE {rmse:.4f}  within 1/2 std {one:.1%} {two:.1%}  "
          f"fit {seconds:5.1f} s", flush=True)
    return {"label": label, "options": options, "rmse": rmse, "fit_s": seconds,
            "within": [one, two]}


# The path from the previous round's defaults (K = 4 on both sides, 20 seeds, no pattern,
# no day biases, the variance floor 0.75 in stars, max_iter 20), one change at a time.
PATH = [
    ("previous defaults, stages III UUU", dict(times=False, item_components=4, item_stages=3,
                                               user_stages=3, n_seeds=20, pattern_weight=0,
                                               min_variance=0.75, max_iter=20)),
    ("+ day biases (timestamps)", dict(times=True)),
    ("+ variance floor relative (1.0 x baseline's)", dict(min_variance=None)),
    ("+ the pattern of ratings in item stages (0.5)", dict(pattern_weight=0.5)),
    ("+ item stages' K = 16", dict(item_components=16)),
    ("+ one user stage (III U)", dict(user_stages=1)),
    ("+ max_iter 10", dict(max_iter=10)),
    ("+ 10 seeds (the defaults)", dict(n_seeds=10)),
]
# Each tried on its own against the defaults: none of the neighbours does clearly better.
NEIGHBOURS = [
    {"n_seeds": 20}, {"n_seeds": 5}, {"item_components": 8}, {"item_components": 24},
    {"item_stages": 2}, {"item_stages": 4}, {"user_stages": 0}, {"user_stages": 2},
    {"pattern_weight": 0.25}, {"pattern_weight": 1.0}, {"mean_prior": 2.0},
    {"mean_prior": 10.0}, {"variance_floor": 0.8}, {"variance_floor": 1.25},
    {"max_iter": 15}, {"day_reg": 2.0}, {"day_reg": 10.0}, {"stage_rank": 32},
    {"stage_rank": 96}, {"user_components": 8},
]


def tune(train_path):
    """The defaults' path and their neighbours, by validation inside the training file."""
    split = validation_split(train_path)
    print(f"Validation inside {train_path}: {split[0].nnz} ratings to fit, "
          f"{len(split[2].values)} held out")
    out = {"path": [], "neighbours": []}
    options = {}
    print("The path to the defaults, one change at a time:")
    for label, change in PATH:
        options.update(change)
        out["path"].append(validate(split, label, **{k: v for k, v in options.items()
                                                     if v is not None or k == "min_variance"}))
    print(f"The defaults' neighbours, one change each (defaults {mixrec.DEFAULTS}):")
    out["neighbours"].append(validate(split, "defaults"))
    for change in NEIGHBOURS:
        out["neighbours"].append(validate(split, str(change), **change))
    return out


def frontier(train_path):
    """Validation RMSE against fit time over seeds, K, stages and iterations."""
    split = validation_split(train_path)
    out = []
    for n_seeds in (5, 10, 20):
        for K in (8, 16):
            for stages in (2, 3):
                for max_iter in (5, 10):
                    change = {"n_seeds": n_seeds, "item_components": K, "item_stages": stages,
                              "max_iter": max_iter}
                    out.append(validate(split, str(change), **change))
    return out


def rescaled(train_path, test_path):
    """The same split with the ratings mapped a * r + b: RMSE in proportion, the same
    calibration (the defaults are relative to the ratings' own spread)."""
    X, user_ids, item_ids, times = mixrec.load_ratings(train_path, timestamps=True)
    rows, cols, test, test_times = mixrec.load_test_ratings(test_path, user_ids, item_ids,
                                                          timestamps=True)
    out = {}
    for name, a, b in (("stars 0.5-5", 1.0, 0.0), ("0.1-1 (r / 5)", 0.2, 0.0),
                       ("1-10 (2 r)", 2.0, 0.0), ("-2.5..2 (r - 3, zeros included)", 1.0, -3.0)):
        moved = sparse.csr_array((a * X.data + b, X.indices, X.indptr), shape=X.shape)
        model = mixrec.fit(moved, times=times)
        pred, std = mixrec.predict(model, rows, cols, unknown=True, return_std=True,
                                        times=test_times)
        rmse = common.rmse(pred, a * test + b)
        one, two = metrics.within_std(a * test + b, pred, std)
        zeros = int((moved.data == 0).sum())
        out[name] = {"rmse": rmse, "rmse_in_stars": rmse / a, "within": [one, two],
                     "zero_ratings": zeros}
        print(f"  {name:<34} RMSE {rmse:.4f} ({rmse / a:.4f} in stars), {one:.1%} within one "
              f"std, {two:.1%} within two" + (f"; {zeros} ratings of 0" if zeros else ""),
              flush=True)
    return out


def dense(train_path, test_path, n_items=100):
    """The 100 most-rated movies alone (every user rating many of them): whether the
    defaults, chosen on the sparse split, carry over to dense ratings (validation only)."""
    X, _, _, times = mixrec.load_ratings(train_path, timestamps=True)
    top = np.argsort(-np.bincount(X.indices, minlength=X.shape[1]), kind="stable")[:n_items]
    keep = np.isin(X.indices, top)
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))[keep]
    remap = np.full(X.shape[1], -1)
    remap[np.sort(top)] = np.arange(n_items)
    sub, _, _, sub_times = mixrec.from_triples(rows, remap[X.indices[keep]], X.data[keep],
                                             timestamps=times[keep])
    X_fit, hidden, times_fit, times_hidden = mixrec.holdout(sub, 0.1, seed=0, times=sub_times)
    print(f"The {n_items} most-rated movies of {train_path}: {sub.nnz} ratings, "
          f"{sub.nnz / (sub.shape[0] * n_items):.0%} dense; validation on 10%")
    split = (X_fit, times_fit, hidden, times_hidden)
    out = [validate(split, "baseline alone", item_stages=0, user_stages=0),
           validate(split, "defaults")]
    for change in ({"item_components": 8}, {"item_components": 4}, {"pattern_weight": 0.0},
                   {"user_stages": 2}, {"n_seeds": 20}):
        out.append(validate(split, str(change), **change))
    return out


# ---------------------------------------------------------------------------------------
# Scale: planted ratings at the MovieLens-20M and Netflix-Prize shapes

SHAPES = {"movielens-20m": (138_493, 26_744, 20_000_263),
          "netflix-prize": (480_189, 17_770, 100_480_507)}
# The configurations timed at scale: the defaults, and the stages alone (the model before
# the neighbour stages and the blend), so that the blend's cost is measured in the same run.
SCALE_CONFIGS = {"defaults": {}, "stages only (blend_holdout = 0)": {"blend_holdout": 0.0}}
# The fixed comparison figure, when no scratch environment with surprise is given: SVD's
# fit on these planted ratings, measured here on 2026-12-02 (scikit-surprise 1.1.5).
SURPRISE_SVD_FIXED = {"movielens-20m": None}


def bench_scale(shapes, surprise_python):
    """Each shape: the ratings written to a file once; our fit, serving and surprise's SVD
    each timed in a process of their own."""
    out = {}
    for shape in shapes:
        n, d, n_ratings = SHAPES[shape]
        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "ratings.csv")
            start = time.perf_counter()
            write_planted(path, n, d, n_ratings)
            print(f"{shape}: {n} x {d}, {n_ratings} ratings, written in "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
            out[shape] = {}
            for config, changes in SCALE_CONFIGS.items():
                model_path = os.path.join(folder, "model.npz")
                ours = _child("--scale-child", "fit", path, model_path, json.dumps(changes))
                out[shape]["ours" if config == "defaults" else config] = ours
                print(f"  mixture recommender, {config}: fit {ours['fit_s']:.0f} s (CPU "
                      f"{ours['fit_cpu_s']:.0f} s), peak {ours['peak_gb']:.2f} GB (loading "
                      f"{ours['load_s']:.0f} s not counted); model file "
                      f"{ours['model_mb']:.0f} MB = {ours['bytes_per_user_and_item']:.0f} "
                      "bytes per user and item", flush=True)
                if shape == "movielens-20m":  # the fit said first: serving takes a while
                    ours.update(_child("--scale-child", "serve", model_path))
                    print(f"    loading the model {ours['load_model_s']:.1f} s; predict "
                          f"{ours['pairs']:,} pairs with std: {ours['predict_s']:.1f} s, "
                          f"+{ours['predict_extra_mb']:.0f} MB; recommend --all -n 10: "
                          f"{ours['top_n_all_s']:.0f} s", flush=True)
            if shape == "movielens-20m":
                out[shape]["surprise"] = theirs = _surprise_scale(surprise_python, path)
                if isinstance(theirs, dict):
                    print(f"  surprise SVD (same ratings, same sitting): fit "
                          f"{theirs['fit_s']:.0f} s, peak {theirs['peak_gb']:.2f} GB; ours / "
                          f"theirs = {out[shape]['ours']['fit_s'] / theirs['fit_s']:.2f} (floor 2)")
                else:
                    print(f"  surprise SVD: {theirs}")
    return out


def _surprise_scale(python, path):
    if not python:
        fixed = SURPRISE_SVD_FIXED.get("movielens-20m")
        return ("not measured: no scratch environment given (SURPRISE_PYTHON)"
                + (f"; measured here on 2026-12-02: {fixed:.0f} s" if fixed else ""))
    return _run_peer(python, "surprise-svd", path)


def write_planted(path, n, d, n_ratings, seed=0, users_per_chunk=20_000):
    """A 'user,item,rating' file of planted ratings (synthetic.planted_sparse_ratings)."""
    X, _ = synthetic.planted_sparse_ratings(n, d, n_ratings, seed=seed)
    with open(path, "w") as f:
        for first in range(0, n, users_per_chunk):
            last = min(first + users_per_chunk, n)
            lo, hi = X.indptr[first], X.indptr[last]
            rows = np.repeat(np.arange(first, last), np.diff(X.indptr[first:last + 1]))
            np.savetxt(f, np.c_[rows + 1, X.indices[lo:hi] + 1, X.data[lo:hi]],
                       fmt=["%d", "%d", "%g"], delimiter=",")


def _child(*argv):
    """Run this benchmark in a fresh process (its peak memory its own); its JSON line."""
    result = subprocess.run([sys.executable, "-m", "benchmarks.recommender", *argv], cwd=ROOT,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"child {argv} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def scale_child(what, *paths):
    """In a fresh process: "fit RATINGS MODEL CHANGES" times the fit with the
    hyper-parameters CHANGES (JSON) and saves the model; "serve
    MODEL" loads it, then times predict of 10M pairs (with its memory above the model's)
    and every user's top 10."""
    if what == "fit":
        ratings_path, model_path, changes = paths
        start = time.perf_counter()
        X, user_ids, item_ids = mixrec.load_ratings(ratings_path)
        load_s = time.perf_counter() - start
        start, cpu = time.perf_counter(), time.process_time()
        model = mixrec.fit(X, **json.loads(changes))
        out = {"fit_s": time.perf_counter() - start, "fit_cpu_s": time.process_time() - cpu,
               "load_s": load_s, "peak_gb": peak_rss_bytes() / 2 ** 30}
        mixrec.save(model, model_path, user_ids=user_ids, item_ids=item_ids)
        size = os.path.getsize(model_path)
        out.update(model_mb=size / 1e6, bytes_per_user_and_item=size / sum(X.shape))
    else:
        (model_path,) = paths
        start = time.perf_counter()
        model = mixrec.load(model_path)
        out = {"load_model_s": time.perf_counter() - start}
        n, d = len(model.user_bias), len(model.item_bias)
        rng = np.random.RandomState(0)
        pairs = 10_000_000
        rows, cols = rng.randint(0, n, pairs), rng.randint(0, d, pairs)
        before = current_rss_bytes()  # the model and the pairs themselves
        reset_peak()
        start = time.perf_counter()
        mixrec.predict(model, rows, cols, return_std=True)
        out.update(pairs=pairs, predict_s=time.perf_counter() - start,
                   predict_extra_mb=(peak_rss_bytes() - before) / 1e6)
        start = time.perf_counter()
        mixrec.top_n_all(model, None, 10)
        out["top_n_all_s"] = time.perf_counter() - start
    print(json.dumps(out))


def peak_rss_bytes():
    """This process's peak resident memory (Linux's VmHWM, which reset_peak restarts; else
    ru_maxrss)."""
    found = _status("VmHWM")
    if found is not None:
        return found
    import resource  # Unix only: imported where used, so that this module imports anywhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def current_rss_bytes():
    return _status("VmRSS") or 0


def reset_peak():
    """Restart VmHWM (Linux), so that the next peak is the next phase's."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _status(field):
    """A memory field of /proc/self/status in bytes, or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


if __name__ == "__main__":
    if sys.argv[1:2] == ["--scale-child"]:
        scale_child(*sys.argv[2:])
        sys.exit(0)
    sys.exit(main())

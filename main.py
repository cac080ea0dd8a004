"""The course's experiments: the reference test case and the Netflix matrix.

    python main.py [--data-dir data] [--k 1 12] [--seeds 0 1 2 3 4]
    python main.py --ratings FILE [--k 1 2 4 8 12 16] [--seeds 0 1 2] [--holdout 0.1]

(1) Runs the 20 x 5 test case and prints, for every figure of ``test_solutions.txt``,
whether it matches to the printed precision (exit status 1 on any mismatch).
(2) Runs EM on ``netflix_incomplete.txt`` for each K and seed, and reports the best
log-likelihood per K and the RMSE of the best completion at the largest K.
Without the course files it says which are missing, then runs (2) on a synthetic matrix
drawn from a planted mixture, and also reports the error against the planted truth.
With --ratings it fits a ratings file instead, K by K on a training split, and compares
the held-out RMSE with those of the global-mean and item-mean predictors.

This script only parses arguments, calls library functions and prints.
"""
import argparse
import os
import sys
import time

import numpy as np

import common
import course
import data
import em
import recommender
import summary


def main(argv=None):
    args = _parse_args(argv)
    if args.ratings:
        try:
            ratings_experiment(args.ratings, args.k or [1, 2, 4, 8, 12, 16],
                               args.seeds or [0, 1, 2], args.holdout)
        except (OSError, ValueError) as err:  # a bad file or option: say so, no traceback
            print(f"main.py: {err}", file=sys.stderr)
            return 2
        return 0
    Ks, seeds = args.k or [1, 12], args.seeds or [0, 1, 2, 3, 4]
    status = 0
    missing = [f for f in course.TEST_FILES + course.NETFLIX_FILES
               if not os.path.isfile(os.path.join(args.data_dir, f))]
    if missing:
        print(f"Course files missing from {args.data_dir}/: {', '.join(missing)}.\n"
              "They come with the MITx 6.86x project 'Collaborative Filtering via Gaussian "
              f"Mixtures'; copy them into {args.data_dir}/ (see data/README.md).\n")
    if not any(f in missing for f in course.TEST_FILES):
        status = print_test_case(args.data_dir)
    if not any(f in missing for f in course.NETFLIX_FILES):
        X = data.load_matrix(os.path.join(args.data_dir, course.NETFLIX_FILES[0]))
        X_gold = data.load_matrix(os.path.join(args.data_dir, course.NETFLIX_FILES[1]))
        print(f"== Netflix experiment: {X.shape[0]} x {X.shape[1]} ratings")
        netflix_experiment(X, X_gold, Ks, seeds)
    else:
        X, X_gold, planted = data.synthetic_ratings()
        print(f"== Synthetic default: {X.shape[0]} x {X.shape[1]} ratings drawn from a "
              f"planted mixture of K = {planted.mu.shape[0]} (seed 0), "
              f"{np.mean(X != 0):.0%} rated")
        netflix_experiment(X, X_gold, Ks, seeds)
        X_planted = em.fill_matrix(X, planted)
        print(f"The planted mixture itself completes the matrix with RMSE "
              f"{course.rmse_missing(X, X_gold, X_planted):.4f} on the missing entries.")
    return status


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.path.join(os.path.dirname(__file__), "data"),
                        help="folder holding the course's files (default: data/)")
    parser.add_argument("--k", type=int, nargs="+",
                        help="numbers of components (default: 1 12; with --ratings 1 2 4 8 12 16)")
    parser.add_argument("--seeds", type=int, nargs="+",
                        help="initialisation seeds (default: 0 1 2 3 4; with --ratings 0 1 2)")
    parser.add_argument("--ratings", metavar="FILE",
                        help="fit a ratings file ('user item rating [timestamp]' lines, "
                             "MovieLens formats too) instead of the course's experiment")
    parser.add_argument("--holdout", type=float, default=0.1,
                        help="with --ratings: fraction of the ratings held out (default 0.1)")
    return parser.parse_args(argv)


def print_test_case(data_dir):
    """Print every figure of test_solutions.txt against ours; return 1 on any mismatch."""
    K, comparisons = course.compare(data_dir)
    print(f"== Test case (K = {K}) against test_solutions.txt, to the printed precision")
    for c in comparisons:
        print(f"  {c.section:>5} {c.name:<6} {'match' if c.ok else 'MISMATCH'}"
              f"  (largest difference {c.largest_difference:.1e})")
    n_bad = sum(not c.ok for c in comparisons)
    print(f"{'All figures match.' if n_bad == 0 else f'{n_bad} figure(s) do not match.'}\n")
    return int(n_bad > 0)


def netflix_experiment(X, X_gold, Ks, seeds):
    """Fit every (K, seed), print each run and the best per K; return the best per K."""
    ratings = summary.summarise(X)  # once for every run
    best = {K: em.best_run(ratings, K, seeds, on_run=_timed_printer(K)) for K in Ks}
    for K, fit in best.items():
        print(f"Best for K = {K}: log-likelihood {fit.log_likelihood:.10f} (seed {fit.seed})")
    K = max(best)
    X_pred = em.fill_matrix(ratings, best[K].mixture)
    print(f"RMSE of the best K = {K} completion against the complete matrix: "
          f"{common.rmse(X_gold, X_pred):.16f} over all entries (the course's metric), "
          f"{course.rmse_missing(X, X_gold, X_pred):.4f} over the missing entries only\n")
    return best


def _timed_printer(K):
    """An ``on_run`` for em.best_run that prints each run with the time since the last."""
    clock = [time.perf_counter()]

    def on_run(fit):
        now = time.perf_counter()
        print(f"  K = {K:<3} seed {fit.seed}: log-likelihood {fit.log_likelihood:.10f}, "
              f"{fit.iterations} iterations, {now - clock[0]:.3f} s")
        clock[0] = now
    return on_run


def ratings_experiment(path, Ks, seeds, fraction):
    """Fit a ratings file at each K on a training split; compare held-out RMSEs."""
    X, user_ids, item_ids = data.load_ratings(path, progress=_load_progress(path))
    X_train, hidden = data.holdout(X, fraction, seed=0)
    print(f"== {path}: {len(user_ids)} users x {len(item_ids)} items, {X.nnz} ratings; "
          f"{len(hidden.values)} held out ({fraction:.0%}), seeds {seeds}")
    global_mean = recommender.global_mean(X_train)
    item_mean = recommender.item_means(X_train)
    print(f"Held-out RMSE of the global mean: "
          f"{common.rmse(np.full_like(hidden.values, global_mean), hidden.values):.4f}; "
          f"of the item means: {common.rmse(item_mean[hidden.cols], hidden.values):.4f}")
    print(f"{'K':>4} {'log-likelihood':>18} {'BIC':>18} {'held-out RMSE':>14} "
          f"{'iterations':>10} {'seconds':>9}")
    ratings = summary.summarise(X_train)
    results = {}
    for K in Ks:
        if K > X.shape[0]:
            print(f"{K:>4} skipped: more components than the {X.shape[0]} users")
            continue
        start = time.perf_counter()
        fit = em.best_run(ratings, K, seeds, callback=_progress(K, seeds))
        seconds = time.perf_counter() - start
        pred = em.predict(ratings, fit.mixture, hidden.rows, hidden.cols)
        results[K] = common.rmse(pred, hidden.values)
        print(f"{K:>4} {fit.log_likelihood:>18.4f} "
              f"{common.bic(X_train, fit.mixture, fit.log_likelihood):>18.4f} "
              f"{results[K]:>14.4f} {fit.iterations:>10} {seconds:>9.2f}", flush=True)
    if results:
        best_K = min(results, key=results.get)
        print(f"Best held-out RMSE: K = {best_K} ({results[best_K]:.4f})")
    return results


def _load_progress(path):
    """A ``load_ratings`` progress that reports every tenth of the file on stderr."""
    start, shown = time.perf_counter(), [-1]

    def progress(done, total):
        tenth = 10 * done // max(total, 1)
        if tenth > shown[0]:
            shown[0] = tenth
            print(f"  loading {path}: {done / 1e6:.0f} of {total / 1e6:.0f} MB "
                  f"({time.perf_counter() - start:.1f} s)", file=sys.stderr, flush=True)
    return progress


def _progress(K, seeds):
    """A ``run`` callback for em.best_run that reports each iteration on stderr."""
    start, seed = time.perf_counter(), iter(seeds)
    current = [None]

    def callback(iteration, ll):
        if iteration == 1:  # best_run starts the next seed's run
            current[0] = next(seed)
        print(f"  K = {K} seed {current[0]} iteration {iteration}: log-likelihood {ll:.4f} "
              f"({time.perf_counter() - start:.1f} s)", file=sys.stderr, flush=True)
    return callback


if __name__ == "__main__":
    sys.exit(main())

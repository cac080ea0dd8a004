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
"""
import argparse
import os
import sys
import time
from typing import NamedTuple

import numpy as np

import common
import em

TEST_FILES = ("test_incomplete.txt", "test_complete.txt", "test_solutions.txt")
NETFLIX_FILES = ("netflix_incomplete.txt", "netflix_complete.txt")


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
    missing = [f for f in TEST_FILES + NETFLIX_FILES
               if not os.path.isfile(os.path.join(args.data_dir, f))]
    if missing:
        print(f"Course files missing from {args.data_dir}/: {', '.join(missing)}.\n"
              "They come with the MITx 6.86x project 'Collaborative Filtering via Gaussian "
              f"Mixtures'; copy them into {args.data_dir}/ (see data/README.md).\n")
    if not any(f in missing for f in TEST_FILES):
        status = check_test_case(args.data_dir)
    if not any(f in missing for f in NETFLIX_FILES):
        X = common.load_matrix(os.path.join(args.data_dir, NETFLIX_FILES[0]))
        X_gold = common.load_matrix(os.path.join(args.data_dir, NETFLIX_FILES[1]))
        print(f"== Netflix experiment: {X.shape[0]} x {X.shape[1]} ratings")
        netflix_experiment(X, X_gold, Ks, seeds)
    else:
        X, X_gold, planted = common.synthetic_ratings()
        print(f"== Synthetic default: {X.shape[0]} x {X.shape[1]} ratings drawn from a "
              f"planted mixture of K = {planted.mu.shape[0]} (seed 0), "
              f"{np.mean(X != 0):.0%} rated")
        netflix_experiment(X, X_gold, Ks, seeds)
        X_planted = em.fill_matrix(X, planted)
        print(f"The planted mixture itself completes the matrix with RMSE "
              f"{_rmse_missing(X, X_gold, X_planted):.4f} on the missing entries.")
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


def check_test_case(data_dir):
    """Compare every figure of test_solutions.txt with ours; return 1 on any mismatch."""
    solutions = common.load_solutions(os.path.join(data_dir, "test_solutions.txt"))
    X = common.load_matrix(os.path.join(data_dir, "test_incomplete.txt"))
    X_gold = common.load_matrix(os.path.join(data_dir, "test_complete.txt"))
    ours = reproduce_test_case(X, X_gold, solutions["input"]["K"].value)
    print(f"== Test case ({X.shape[0]} x {X.shape[1]}, K = {solutions['input']['K'].value}) "
          "against test_solutions.txt, to the printed precision")
    n_bad = 0
    for section, figures in solutions.items():
        for name, printed in figures.items():
            error = np.max(np.abs(np.asarray(ours[section][name]) - printed.value))
            ok = matches(ours[section][name], printed)
            n_bad += not ok
            print(f"  {section:>5} {name:<6} {'match' if ok else 'MISMATCH'}"
                  f"  (largest difference {error:.1e})")
    print(f"{'All figures match.' if n_bad == 0 else f'{n_bad} figure(s) do not match.'}\n")
    return int(n_bad > 0)


def reproduce_test_case(X, X_gold, K):
    """Every figure of test_solutions.txt, computed, in its sections and under its names."""
    mixture, post = common.init(X, K, seed=0)
    post_1, ll_1 = em.estep(X, mixture)
    mixture_1 = em.mstep(X, post_1, mixture)
    final, post_n, ll_n = em.run(X, mixture, post)
    X_pred = em.fill_matrix(X, final)
    return {
        "input": {"X": X, "K": K, "Mu": mixture.mu, "Var": mixture.var, "P": mixture.p},
        "estep": {"post": post_1, "LL": ll_1},
        "mstep": {"Mu": mixture_1.mu, "Var": mixture_1.var, "P": mixture_1.p},
        "run": {"Mu": final.mu, "Var": final.var, "P": final.p, "post": post_n, "LL": ll_n,
                "X_gold": X_gold, "X_pred": X_pred, "RMSE": common.rmse(X_gold, X_pred)},
    }


def matches(value, printed):
    """Whether a computed figure equals a printed one to the precision it was printed to."""
    value = np.asarray(value, dtype=float)
    return value.shape == np.shape(printed.value) and bool(
        np.all(np.abs(value - printed.value) <= printed.atol))


def netflix_experiment(X, X_gold, Ks, seeds):
    """Fit every (K, seed), print each run and the best per K; return the best per K."""
    best = {K: fit_best(X, K, seeds, _print_run) for K in Ks}
    for K, fit in best.items():
        print(f"Best for K = {K}: log-likelihood {fit.log_likelihood:.10f} (seed {fit.seed})")
    K = max(best)
    X_pred = em.fill_matrix(X, best[K].mixture)
    print(f"RMSE of the best K = {K} completion against the complete matrix: "
          f"{common.rmse(X_gold, X_pred):.16f} over all entries (the course's metric), "
          f"{_rmse_missing(X, X_gold, X_pred):.4f} over the missing entries only\n")
    return best


class Fit(NamedTuple):
    """The best of several runs at one K."""

    mixture: common.GaussianMixture
    log_likelihood: float
    seed: int
    iterations: int
    seconds: float  # all the runs together


def fit_best(X, K, seeds, report, progress=None):
    """``init`` + ``run`` from every seed; ``report(K, seed, ll, iterations, seconds)`` after
    each run, ``progress(K, seed, iteration, ll, seconds)`` after each iteration."""
    best, total = None, 0.0
    for seed in seeds:
        start = time.perf_counter()
        mixture, post = common.init(X, K, seed)
        iterations = []

        def callback(iteration, ll):
            iterations.append(iteration)
            if progress is not None:
                progress(K, seed, iteration, ll, time.perf_counter() - start)
        mixture, _, ll = em.run(X, mixture, post, callback=callback)
        elapsed = time.perf_counter() - start
        total += elapsed
        report(K, seed, ll, len(iterations), elapsed)
        if best is None or ll > best.log_likelihood:
            best = Fit(mixture, ll, seed, len(iterations), 0.0)
    return best._replace(seconds=total)


def _print_run(K, seed, ll, iterations, seconds):
    print(f"  K = {K:<3} seed {seed}: log-likelihood {ll:.10f}, "
          f"{iterations} iterations, {seconds:.3f} s")


def ratings_experiment(path, Ks, seeds, fraction):
    """Fit a ratings file at each K on a training split; compare held-out RMSEs."""
    X, user_ids, item_ids = common.load_ratings(path)
    X_train, hidden = common.holdout(X, fraction, seed=0)
    print(f"== {path}: {len(user_ids)} users x {len(item_ids)} items, {X.nnz} ratings; "
          f"{len(hidden.values)} held out ({fraction:.0%}), seeds {seeds}")
    train_values = X_train.data
    global_mean = train_values.mean()
    counts = np.bincount(X_train.indices, minlength=X.shape[1])
    sums = np.bincount(X_train.indices, weights=train_values, minlength=X.shape[1])
    item_mean = np.where(counts > 0, sums / np.maximum(counts, 1), global_mean)
    print(f"Held-out RMSE of the global mean: "
          f"{common.rmse(np.full_like(hidden.values, global_mean), hidden.values):.4f}; "
          f"of the item means: {common.rmse(item_mean[hidden.cols], hidden.values):.4f}")
    print(f"{'K':>4} {'log-likelihood':>18} {'BIC':>18} {'held-out RMSE':>14} "
          f"{'iterations':>10} {'seconds':>9}")
    results = {}
    for K in Ks:
        if K > X.shape[0]:
            print(f"{K:>4} skipped: more components than the {X.shape[0]} users")
            continue
        fit = fit_best(X_train, K, seeds, report=lambda *run: None, progress=_progress)
        pred = em.predict(X_train, fit.mixture, hidden.rows, hidden.cols)
        results[K] = common.rmse(pred, hidden.values)
        print(f"{K:>4} {fit.log_likelihood:>18.4f} "
              f"{common.bic(X_train, fit.mixture, fit.log_likelihood):>18.4f} "
              f"{results[K]:>14.4f} {fit.iterations:>10} {fit.seconds:>9.2f}", flush=True)
    if results:
        best_K = min(results, key=results.get)
        print(f"Best held-out RMSE: K = {best_K} ({results[best_K]:.4f})")
    return results


def _progress(K, seed, iteration, ll, seconds):
    print(f"  K = {K} seed {seed} iteration {iteration}: log-likelihood {ll:.4f} "
          f"({seconds:.1f} s)", file=sys.stderr, flush=True)


def _rmse_missing(X, X_gold, X_pred):
    """RMSE over the entries that X leaves missing (and X_gold knows)."""
    hidden = (X == 0) & (X_gold != 0)
    return float(np.sqrt(np.mean((X_gold[hidden] - X_pred[hidden]) ** 2)))


if __name__ == "__main__":
    sys.exit(main())

"""The course's experiments: the reference test case and the Netflix matrix.

    python main.py [--data-dir data] [--k 1 12] [--seeds 0 1 2 3 4]

(1) Runs the 20 x 5 test case and prints, for every figure of ``test_solutions.txt``,
whether it matches to the printed precision (exit status 1 on any mismatch).
(2) Runs EM on ``netflix_incomplete.txt`` for each K and seed, and reports the best
log-likelihood per K and the RMSE of the best completion at the largest K.
Without the course files it says which are missing, then runs (2) on a synthetic matrix
drawn from a planted mixture, and also reports the error against the planted truth.
"""
import argparse
import os
import sys
import time

import numpy as np

import common
import em

TEST_FILES = ("test_incomplete.txt", "test_complete.txt", "test_solutions.txt")
NETFLIX_FILES = ("netflix_incomplete.txt", "netflix_complete.txt")


def main(argv=None):
    args = _parse_args(argv)
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
        netflix_experiment(X, X_gold, args.k, args.seeds)
    else:
        X, X_gold, planted = common.synthetic_ratings()
        print(f"== Synthetic default: {X.shape[0]} x {X.shape[1]} ratings drawn from a "
              f"planted mixture of K = {planted.mu.shape[0]} (seed 0), "
              f"{np.mean(X != 0):.0%} rated")
        netflix_experiment(X, X_gold, args.k, args.seeds)
        X_planted = em.fill_matrix(X, planted)
        print(f"The planted mixture itself completes the matrix with RMSE "
              f"{_rmse_missing(X, X_gold, X_planted):.4f} on the missing entries.")
    return status


def _parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.path.join(os.path.dirname(__file__), "data"),
                        help="folder holding the course's files (default: data/)")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 12],
                        help="numbers of components to fit (default: 1 12)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4],
                        help="initialisation seeds (default: 0 1 2 3 4)")
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
    best = {}
    for K in Ks:
        for seed in seeds:
            start = time.perf_counter()
            mixture, post = common.init(X, K, seed)
            iterations = []
            mixture, post, ll = em.run(X, mixture, post,
                                       callback=lambda i, _: iterations.append(i))
            elapsed = time.perf_counter() - start
            print(f"  K = {K:<3} seed {seed}: log-likelihood {ll:.10f}, "
                  f"{len(iterations)} iterations, {elapsed:.3f} s")
            if K not in best or ll > best[K][1]:
                best[K] = (mixture, ll, seed)
        print(f"Best for K = {K}: log-likelihood {best[K][1]:.10f} (seed {best[K][2]})")
    K = max(best)
    X_pred = em.fill_matrix(X, best[K][0])
    print(f"RMSE of the best K = {K} completion against the complete matrix: "
          f"{common.rmse(X_gold, X_pred):.16f} over all entries (the course's metric), "
          f"{_rmse_missing(X, X_gold, X_pred):.4f} over the missing entries only\n")
    return best


def _rmse_missing(X, X_gold, X_pred):
    """RMSE over the entries that X leaves missing (and X_gold knows)."""
    hidden = (X == 0) & (X_gold != 0)
    return float(np.sqrt(np.mean((X_gold[hidden] - X_pred[hidden]) ** 2)))


if __name__ == "__main__":
    sys.exit(main())

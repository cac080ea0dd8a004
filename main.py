"""The course's experiments, and a recommender for ratings files, from the command line.

    python main.py [--data-dir data] [--k 1 12] [--seeds 0 1 2 3 4]
    python main.py --ratings FILE [--k 1 2 4 8 12 16] [--seeds 0 1 2] [--holdout 0.1]
    python main.py COMMAND ...   (split, fit, recommend, predict, groups, sweep; see cli.py)

With no command: (1) runs the 20 x 5 test case and prints, for every figure of
``test_solutions.txt``, whether it matches to the printed precision (exit status 1 on any
mismatch); (2) runs EM on ``netflix_incomplete.txt`` for each K and seed, and reports the
best log-likelihood per K and the RMSE of the best completion at the largest K. Without the
course files in ``data/`` it says which are missing, then runs (2) on a synthetic matrix
drawn from a planted mixture, and also reports the error against the planted truth. With
--ratings it fits a ratings file instead, K by K (the same as ``sweep``).

Exit status: 0 done; 1 a course figure does not match; 2 a user error (a bad option, a
missing, damaged or malformed file, an unknown id), said in one line on stderr; 130
interrupted (Ctrl-C), which leaves no partial file; 141 the reader of the output went away
(``| head``), quietly.

This script only parses arguments, calls library functions and prints.
"""
import os
import sys
import time
import warnings

import numpy as np

import cli
import common
import course
import data
import display
import em
import summary
from cli import COMMANDS, ratings_experiment  # noqa: F401  (main.ratings_experiment, as before)

DEFAULT_DATA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def main(argv=None):
    """Run the command line; return its exit status (see the module's docstring)."""
    argv = sys.argv[1:] if argv is None else list(argv)

    def work():
        if argv and argv[0] in COMMANDS:
            return cli.run_command(argv)
        if argv and not argv[0].startswith("-"):
            raise display.UsageError(cli.unknown_command(argv[0]))
        return course_command(argv)
    return guarded(work)


def guarded(work):
    """Run ``work()`` and turn every way it can fail into its exit status and one line."""
    try:
        with warnings.catch_warnings():
            # a numpy warning is a problem to report in one line, not noise to print
            warnings.simplefilter("error", RuntimeWarning)
            return work()
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else 0
    except display.UsageError as err:
        print(err, file=sys.stderr)
        return 2
    except BrokenPipeError:
        _quiet_stdout()  # the reader went away (python main.py | head): end quietly
        return 141
    except (OSError, ValueError, RuntimeWarning) as err:
        print(f"main.py: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("main.py: interrupted; no file was left half-written", file=sys.stderr)
        return 130


def _quiet_stdout():
    """Point stdout at /dev/null, so that flushing it at exit does not complain again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def course_command(argv):
    """The course's experiments (or, with --ratings, the K sweep of a ratings file)."""
    args = _parse_args(argv)
    if args.ratings:
        ratings_experiment(args.ratings, args.k or [1, 2, 4, 8, 12, 16],
                           args.seeds or [0, 1, 2], args.holdout, args.quiet)
        return 0
    Ks, seeds = args.k or [1, 12], args.seeds or [0, 1, 2, 3, 4]
    for K in Ks:
        common.check_integer("--k", K, 1)
    for seed in seeds:
        common.check_seed(seed)
    data_dir = args.data_dir or DEFAULT_DATA_DIR
    if args.data_dir is not None and not os.path.isdir(data_dir):
        raise ValueError(f"--data-dir {data_dir}: no such folder")
    status = 0
    missing = [f for f in course.TEST_FILES + course.NETFLIX_FILES
               if not os.path.isfile(os.path.join(data_dir, f))]
    if missing:
        print(f"Course files missing from {data_dir}/: {', '.join(missing)}.\n"
              "They come with the MITx 6.86x project 'Collaborative Filtering via Gaussian "
              f"Mixtures'; copy them into {data_dir}/ (see data/README.md).\n")
    if not any(f in missing for f in course.TEST_FILES):
        status = print_test_case(data_dir)
    if not any(f in missing for f in course.NETFLIX_FILES):
        X = data.load_matrix(os.path.join(data_dir, course.NETFLIX_FILES[0]))
        X_gold = data.load_matrix(os.path.join(data_dir, course.NETFLIX_FILES[1]))
        if X_gold.shape != X.shape:
            raise ValueError(f"{os.path.join(data_dir, course.NETFLIX_FILES[1])} is "
                             f"{X_gold.shape[0]} x {X_gold.shape[1]}, not {X.shape[0]} x "
                             f"{X.shape[1]} as {course.NETFLIX_FILES[0]}: damaged or truncated")
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
    parser = cli._Parser(
        prog="main.py", description=__doc__.split("\n\n")[0],
        epilog="Commands for ratings files: " + ", ".join(COMMANDS) +
               " (python main.py fit --help, ...).")
    parser.add_argument("--data-dir", default=None,
                        help="folder holding the course's files (default: data/ beside "
                             "main.py)")
    parser.add_argument("--k", type=int, nargs="+",
                        help="numbers of components (default: 1 12; with --ratings 1 2 4 8 12 16)")
    parser.add_argument("--seeds", type=int, nargs="+",
                        help="initialisation seeds (default: 0 1 2 3 4; with --ratings 0 1 2)")
    parser.add_argument("--ratings", metavar="FILE",
                        help="fit a ratings file ('user item rating [timestamp]' lines, "
                             "MovieLens formats too) instead of the course's experiment")
    parser.add_argument("--holdout", type=float, default=0.1,
                        help="with --ratings: fraction of the ratings held out (default 0.1)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="with --ratings: no progress on stderr (default: progress shown)")
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
              f"{fit.iterations} iterations, {now - clock[0]:.3f} s", flush=True)
        clock[0] = now
    return on_run


if __name__ == "__main__":
    sys.exit(main())

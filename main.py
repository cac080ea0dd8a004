"""The course's experiments from the command line; commands for ratings files handed over.

    python main.py [--data-dir data] [--k 1 12] [--seeds 0 1 2 3 4]
    python main.py COMMAND ...   (split, fit, recommend, predict, groups, sweep)
    python main.py --ratings FILE [--k ...] [--seeds ...] [--holdout 0.1]   (= sweep FILE)

With no command: (1) runs the 20 x 5 test case and prints, for every figure of
``test_solutions.txt``, whether it matches to the printed precision (exit status 1 on any
mismatch); (2) runs EM on ``netflix_incomplete.txt`` for each K and seed, and reports the
best log-likelihood per K and the RMSE of the best completion at the largest K. Without the
course files in ``--data-dir`` it says which are missing, then runs (2) on a synthetic
matrix drawn from a planted mixture, and also reports the error against the planted truth.

A COMMAND (or --ratings) is the recommender's, in the package ``mixrec``: it is run as
``python -m mixrec COMMAND ...`` in this process's place, so that the course imports
nothing of the package.

Exit status: 0 done; 1 a course figure does not match; 2 a user error (a bad option, a
missing, damaged or malformed file, an unknown id), said in one line on stderr; 130
interrupted (Ctrl-C), which leaves no partial file; 141 the reader of the output went away
(``| head``), quietly.

This script only parses arguments, calls library functions and prints.
"""
import argparse
import io
import os
import subprocess
import sys
import time
import warnings

import numpy as np

import common
import course
import em
import products
import synthetic

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA_DIR = os.path.join(HERE, "data")
# The recommender's commands (the package's mixrec.cli.COMMANDS; a test holds them equal).
COMMANDS = ("split", "fit", "recommend", "predict", "groups", "sweep")


def main(argv=None):
    """Run the command line; return its exit status (see the module's docstring).

    Called without argv (as a script), a command replaces this process; called with argv,
    it runs in a child process whose exit status is returned.
    """
    replace = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)

    def work():
        if argv and (argv[0] in COMMANDS or argv == ["--version"]):  # the package's own
            return hand_over(argv, replace=replace)
        if argv and not argv[0].startswith("-"):
            raise UsageError(f"main.py: unknown command {argv[0]!r}; the commands are "
                             f"{', '.join(COMMANDS)}, and with none main.py runs the "
                             "course's experiments")
        return course_command(argv, replace)
    return guarded(work)


# ---------------------------------------------------------------------------------------
# One line for every way a command can fail, and its exit status

class UsageError(Exception):
    """A bad command line: argparse's message, printed as the one line of a user error."""


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (a UsageError for ``guarded`` to print)."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


class _ClosedStdout(io.TextIOBase):
    """Standard output when the process started without one (``>&-``): Python sets it to
    None, and print() then drops every line silently (a list lost, exit 0) while a csv
    writer raises a TypeError. Writing to this says so instead, in ``guarded``'s one line."""

    def write(self, text):
        raise OSError("standard output is closed: redirect it to a file (> out.csv), or "
                      "give --out where the command takes one")


def guarded(work, prog="main.py"):
    """Run ``work()`` and turn every way it can fail into its exit status and one line."""
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()
    try:
        with warnings.catch_warnings():
            # a numpy warning is a problem to report in one line, not noise to print
            warnings.simplefilter("error", RuntimeWarning)
            return work()
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else 0
    except UsageError as err:
        print(err, file=sys.stderr)
        return 2
    except BrokenPipeError:
        _quiet_stdout()  # the reader went away (python main.py | head): end quietly
        return 141
    except (OSError, ValueError, RuntimeWarning) as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; no file was left half-written", file=sys.stderr)
        return 130


def _quiet_stdout():
    """Point stdout at /dev/null, so that flushing it at exit does not complain again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def hand_over(argv, *, replace):
    """Run ``python -m mixrec ARGV``: in this process's place (``replace``, where the system
    can), else in a child whose exit status is returned."""
    command = [sys.executable, "-m", "mixrec", *argv]
    paths = [HERE] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "MIXREC_PROG": "main.py"}
    sys.stdout.flush()
    sys.stderr.flush()
    if replace and os.name == "posix":
        os.execve(sys.executable, command, env)
    status = subprocess.call(command, env=env)
    return 128 - status if status < 0 else status  # killed by signal N: 128 + N


# ---------------------------------------------------------------------------------------
# The course's experiments

def course_command(argv, replace=False):
    """The course's experiments (or, with --ratings, the K sweep of a ratings file)."""
    args = _parse_args(argv)
    if args.ratings:
        sweep = ["sweep", args.ratings, "--holdout", str(args.holdout)]
        sweep += ["--k", *map(str, args.k)] if args.k else []
        sweep += ["--seeds", *map(str, args.seeds)] if args.seeds else []
        return hand_over(sweep + (["-q"] if args.quiet else []), replace=replace)
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
              f"Mixtures'; copy them into {data_dir}/ (see data/README.md), or give "
              "--data-dir FOLDER, a folder that holds them.\n")
    if not any(f in missing for f in course.TEST_FILES):
        status = print_test_case(data_dir)
    if not any(f in missing for f in course.NETFLIX_FILES):
        X = course.load_matrix(os.path.join(data_dir, course.NETFLIX_FILES[0]))
        X_gold = course.load_matrix(os.path.join(data_dir, course.NETFLIX_FILES[1]))
        if X_gold.shape != X.shape:
            raise ValueError(f"{os.path.join(data_dir, course.NETFLIX_FILES[1])} is "
                             f"{X_gold.shape[0]} x {X_gold.shape[1]}, not {X.shape[0]} x "
                             f"{X.shape[1]} as {course.NETFLIX_FILES[0]}: damaged or truncated")
        print(f"== Netflix experiment: {X.shape[0]} x {X.shape[1]} ratings")
        netflix_experiment(X, X_gold, Ks, seeds)
    else:
        X, X_gold, planted = synthetic.synthetic_ratings()
        print(f"== Synthetic default: {X.shape[0]} x {X.shape[1]} ratings drawn from a "
              f"planted mixture of K = {planted.mu.shape[0]} (seed 0), "
              f"{np.mean(X != 0):.0%} rated")
        netflix_experiment(X, X_gold, Ks, seeds)
        X_planted = em.fill_matrix(X, planted)
        print(f"The planted mixture itself completes the matrix with RMSE "
              f"{course.rmse_missing(X, X_gold, X_planted):.4f} on the missing entries.")
    return status


def _parse_args(argv):
    parser = Parser(
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
                             "MovieLens formats too) instead of the course's experiment: "
                             "the same as `main.py sweep FILE`")
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
    ratings = products.summarise(X)  # once for every run
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

"""The course's experiments, and a recommender for ratings files, from the command line.

    python main.py [--data-dir data] [--k 1 12] [--seeds 0 1 2 3 4]
    python main.py --ratings FILE [--k 1 2 4 8 12 16] [--seeds 0 1 2] [--holdout 0.1]
    python main.py sweep FILE [--k ...] [--seeds ...] [--holdout 0.1]   (the same K sweep)
    python main.py fit RATINGS --out model.npz [--test TEST | --holdout 0.1] [--seed 0]
                                              [--plot FILE.png]
    python main.py recommend model.npz --user ID [-n 10] [--items FILE] [--cautious]
    python main.py predict model.npz PAIRS
    python main.py groups model.npz [--items FILE] [-n 5]

Every subcommand takes -q to silence the progress it shows on stderr. A user error (an
unknown id, a missing or malformed file, a bad option, a file that is not a model) prints
one line and exits with status 2.

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
from scipy import sparse

import common
import course
import data
import em
import recommender
import summary


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] in COMMANDS:
        return run_command(argv)
    args = _parse_args(argv)
    if args.ratings:
        try:
            ratings_experiment(args.ratings, args.k or [1, 2, 4, 8, 12, 16],
                               args.seeds or [0, 1, 2], args.holdout, args.quiet)
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
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Subcommands for ratings files: " + ", ".join(COMMANDS) +
               " (python main.py fit --help, ...).")
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
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="with --ratings: no progress on stderr")
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


def ratings_experiment(path, Ks, seeds, fraction, quiet=False):
    """Fit a ratings file at each K on a training split; compare held-out RMSEs."""
    X, user_ids, item_ids = data.load_ratings(path, progress=_load_progress(path, quiet))
    X_train, hidden = data.holdout(X, fraction, seed=0)
    if len(hidden.values) == 0:
        raise ValueError(f"no rating of {path} is held out (--holdout {fraction}, and every "
                         "user keeps one): there is nothing to measure the RMSE on")
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
        fit = em.best_run(ratings, K, seeds, callback=None if quiet else _progress(K, seeds))
        seconds = time.perf_counter() - start
        pred = em.predict(ratings, fit.mixture, hidden.rows, hidden.cols)
        results[K] = common.rmse(pred, hidden.values)
        print(f"{K:>4} {fit.log_likelihood:>18.4f} "
              f"{common.bic(X_train, fit.mixture, fit.log_likelihood):>18.4f} "
              f"{results[K]:>14.4f} {fit.iterations:>10} {seconds:>9.2f}", flush=True)
    if results:
        best_K = min(results, key=results.get)
        print(f"Best held-out RMSE: K = {best_K} ({results[best_K]:.4f})")
        baseline = min(common.rmse(np.full_like(hidden.values, global_mean), hidden.values),
                       common.rmse(item_mean[hidden.cols], hidden.values))
        if results[best_K] >= baseline:
            print(f"The course's model loses here to a baseline above ({results[best_K]:.4f} "
                  f"against {baseline:.4f}): raw ratings mix each user's and item's offset "
                  "with taste. `python main.py fit FILE --out model.npz` fits the mixture "
                  "recommender, built for such data.")
    return results


def _load_progress(path, quiet=False):
    """A ``load_ratings`` progress that reports every tenth of the file on stderr."""
    start, shown = time.perf_counter(), [-1]

    def progress(done, total):
        if quiet:
            return
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


# ---------------------------------------------------------------------------------------
# Subcommands: a ratings file to a saved model, recommendations, predictions, taste groups

COMMANDS = ("sweep", "fit", "recommend", "predict", "groups")


def run_command(argv):
    """Parse a subcommand and run it; a user error prints one line and returns 2."""
    parser = _command_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse has printed its one-line usage error (or --help)
        return 0 if exit_.code == 0 else 2
    try:
        return args.run(args) or 0
    except (OSError, ValueError) as err:
        print(f"main.py {args.command}: {err}", file=sys.stderr)
        return 2


def _command_parser():
    parser = argparse.ArgumentParser(prog="main.py", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    sweep = commands.add_parser("sweep", help="the course's model, K by K, on a ratings file")
    sweep.add_argument("ratings")
    sweep.add_argument("--k", type=int, nargs="+", default=[1, 2, 4, 8, 12, 16])
    sweep.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    sweep.add_argument("--holdout", type=float, default=0.1)
    sweep.set_defaults(run=lambda a: ratings_experiment(a.ratings, a.k, a.seeds, a.holdout,
                                                        a.quiet) and 0)

    fit = commands.add_parser("fit", help="fit the recommender, evaluate it, save it")
    fit.add_argument("ratings", help="'user item rating [timestamp]' lines")
    fit.add_argument("--out", required=True, help="the model file to write (.npz)")
    held = fit.add_mutually_exclusive_group()
    held.add_argument("--test", help="a ratings file to evaluate on (ids as in RATINGS)")
    held.add_argument("--holdout", type=float, default=0.1,
                      help="fraction of RATINGS held out to evaluate on (default 0.1; 0: none)")
    fit.add_argument("--seed", type=int, default=0)
    fit.add_argument("--plot", metavar="FILE.png",
                     help="draw each EM run's log-likelihood and the held-out RMSEs "
                          "(needs matplotlib)")
    fit.set_defaults(run=fit_command)

    recommend = commands.add_parser("recommend", help="the best items a user has not rated")
    recommend.add_argument("model")
    recommend.add_argument("--user", required=True, help="the user's id, as in the ratings file")
    recommend.add_argument("-n", type=int, default=10)
    recommend.add_argument("--items", help="movies.csv or u.item, for titles")
    recommend.add_argument("--cautious", action="store_true",
                           help="rank by prediction minus one standard deviation")
    recommend.set_defaults(run=recommend_command)

    predict = commands.add_parser("predict", help="predict 'user item' pairs to stdout")
    predict.add_argument("model")
    predict.add_argument("pairs")
    predict.set_defaults(run=predict_command)

    groups = commands.add_parser("groups", help="the model's taste groups of users")
    groups.add_argument("model")
    groups.add_argument("--items", help="movies.csv or u.item, for titles")
    groups.add_argument("-n", type=int, default=5)
    groups.add_argument("--min-ratings", type=int, default=20,
                        help="name only items with at least this many ratings (default 20)")
    groups.set_defaults(run=groups_command)

    for command in commands.choices.values():
        command.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    return parser


def fit_command(args):
    """fit: load, hold out (or read the test file), fit, compare with baselines, save."""
    X, user_ids, item_ids = data.load_ratings(args.ratings,
                                              progress=_load_progress(args.ratings, args.quiet))
    if args.test:
        X_train = X
        rows, cols, values = data.load_test_ratings(args.test, user_ids, item_ids)
        source = args.test
    else:
        if not 0 <= args.holdout < 1:
            raise ValueError(f"--holdout must be in [0, 1), got {args.holdout}")
        X_train, hidden = data.holdout(X, args.holdout, seed=0)
        rows, cols, values = hidden.rows, hidden.cols, hidden.values
        source = f"{len(values)} ratings held out of {args.ratings}"
    print(f"== {args.ratings}: {len(user_ids)} users x {len(item_ids)} items, "
          f"{X_train.nnz} ratings to fit")
    traces = {}
    model = recommender.fit(X_train, seed=args.seed,
                            callback=_fit_progress(args.quiet, traces))
    extras = {"user_ids": _savable(user_ids), "item_ids": _savable(item_ids),
              "rated_indptr": X.indptr, "rated_indices": X.indices}
    recommender.save(model, args.out, **extras)
    print(f"Saved the model to {args.out}")
    if len(values) == 0:
        print("Nothing held out: no held-out RMSE (give --holdout above 0, or --test)")
        return 0
    pred, std = recommender.predict(model, rows, cols, unknown=True, return_std=True)
    scores = {"mixture recommender": common.rmse(pred, values),
              **recommender.baseline_rmse(X_train, model, data.Hidden(rows, cols, values))}
    cold = int(np.sum((rows < 0) | (cols < 0)))
    print(f"Held-out RMSE on {source}" + (f" ({cold} with a user or item the training "
                                          "ratings lack, scored by the baseline)" if cold else ""))
    for name, rmse in sorted(scores.items(), key=lambda item: item[1]):
        print(f"  {name:<40} {rmse:.4f}")
    one, two = recommender.within_std(values, pred, std)
    print(f"Uncertainty: {one:.1%} of the held-out ratings lie within one predicted standard "
          f"deviation, {two:.1%} within two (a Gaussian: 68.3%, 95.4%); mean std "
          f"{std.mean():.3f}")
    if args.plot:
        plot_fit(args.plot, traces, scores)
        print(f"Drew {args.plot}")
    return 0


def _savable(ids):
    """Ids as an array np.savez stores without pickle (Python ints beyond int64: strings)."""
    return ids.astype(str) if ids.dtype == object else ids


def _fit_progress(quiet, traces):
    """A recommender.fit callback: one line per EM run on stderr, and each run's trace."""
    start = time.perf_counter()

    def callback(progress):
        traces.setdefault((progress.stage, progress.run), []).append(progress.log_likelihood)
        if progress.iteration == 1 and not quiet:
            what = ("taste groups" if progress.stage == 0 else
                    f"stage {progress.stage}/{progress.n_stages}, {progress.side} as rows")
            print(f"  {what}: EM run {progress.run}/{progress.n_runs} "
                  f"({time.perf_counter() - start:.1f} s)", file=sys.stderr, flush=True)
    return callback


def plot_fit(path, traces, scores):
    """Each EM run's log-likelihood per iteration, and the held-out RMSEs, to a PNG."""
    try:
        import matplotlib
    except ImportError:
        raise ValueError("--plot needs matplotlib: pip install matplotlib") from None
    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    colours = plt.get_cmap("viridis")
    n_stages = max(stage for stage, _ in traces) or 1
    for (stage, run), lls in traces.items():
        left.plot(range(1, len(lls) + 1), lls, color=colours(stage / n_stages), alpha=.6,
                  label=f"stage {stage}" if run == 1 else None)
    left.set(xlabel="EM iteration", ylabel="log-likelihood", title="Each EM run")
    left.legend(fontsize=8)
    names = sorted(scores, key=scores.get)
    right.barh(names, [scores[name] for name in names], color="tab:blue")
    right.set(xlabel="held-out RMSE", title="Held-out RMSE (lower is better)",
              xlim=(0.9 * min(scores.values()), 1.02 * max(scores.values())))
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _open_model(path):
    """The model and its ratings file's ids and pattern, from a file `fit` wrote."""
    model, extras = recommender.load(path, extras=True)
    needed = {"user_ids", "item_ids", "rated_indptr", "rated_indices"}
    if not needed <= set(extras):
        raise ValueError(f"{path} is a model without its ratings file's ids: write it with "
                         "`main.py fit`")
    X = sparse.csr_array((np.ones(len(extras["rated_indices"])), extras["rated_indices"],
                          extras["rated_indptr"]),
                         shape=(len(extras["user_ids"]), len(extras["item_ids"])))
    return model, extras["user_ids"], extras["item_ids"], X


def _find_user(user_ids, user):
    """The index of a user id given on the command line, or ValueError."""
    found = data.index_of(user_ids, np.array([user]))  # compared as text if ids are numbers
    if found[0] < 0:
        raise ValueError(f"user {user!r} is not in the model ({len(user_ids)} users, e.g. "
                         f"{', '.join(map(str, user_ids[:3]))})")
    return int(found[0])


def _titles(path, item_ids):
    """Each model item's title from an items file ('' where it has none), or None."""
    if path is None:
        return None
    ids, titles = data.load_items(path)
    order = np.argsort(ids, kind="stable")  # index_of looks up sorted ids
    found = data.index_of(ids[order], item_ids)
    return np.where(found >= 0, titles[order][np.maximum(found, 0)], "")


def recommend_command(args):
    """recommend: the user's n best unrated items with predicted rating and std."""
    model, user_ids, item_ids, X = _open_model(args.model)
    user = _find_user(user_ids, args.user)
    items, scores = recommender.top_n(model, X, user, args.n, cautious=args.cautious)
    _, std = recommender.predict(model, np.full(len(items), user), items, return_std=True)
    titles = _titles(args.items, item_ids)
    print(f"Best {len(items)} of the {X.shape[1] - X.indptr[user + 1] + X.indptr[user]} items "
          f"user {args.user} has not rated" + (" (ranked by prediction - 1 std)"
                                                 if args.cautious else "") + ":")
    for rank, (item, score, sd) in enumerate(zip(items, scores, std), 1):
        title = f"  {titles[item]}" if titles is not None else ""
        print(f"{rank:>3}. item {item_ids[item]}: {score:.2f} +- {sd:.2f}{title}")
    return 0


def predict_command(args):
    """predict: `user,item,prediction` lines for the pairs of a file."""
    model, user_ids, item_ids, _ = _open_model(args.model)
    users, items = data.load_pairs(args.pairs)
    rows, cols = data.index_of(user_ids, users), data.index_of(item_ids, items)
    pred = recommender.predict(model, rows, cols, unknown=True)
    unknown = int(np.sum((rows < 0) | (cols < 0)))
    if unknown and not args.quiet:
        print(f"{unknown} pairs name a user or item the model lacks: scored by the baseline",
              file=sys.stderr)
    sys.stdout.write("".join(f"{u},{i},{p:.4f}\n" for u, i, p in zip(users, items, pred)))
    return 0


def groups_command(args):
    """groups: each taste group, its weight, and the items it rates above and below."""
    model, _, item_ids, X = _open_model(args.model)
    titles = _titles(args.items, item_ids)
    known = np.bincount(X.indices, minlength=X.shape[1]) >= args.min_ratings

    def name(item):
        title = titles[item] if titles is not None else ""
        return title or f"item {item_ids[item]}"
    found = recommender.groups(model, args.n, candidates=known if known.sum() >= 2 * args.n
                               else None)
    print(f"{len(found)} taste groups of users (stars above or below what the baseline, "
          f"the mean plus user and item biases, predicts; items with at least "
          f"{args.min_ratings} ratings):")
    for number, group in enumerate(found, 1):
        print(f"\nGroup {number}: {group.weight:.0%} of users")
        print("  rates higher: " + "; ".join(f"{name(i)} ({d:+.2f})"
                                             for i, d in zip(group.above, group.above_by)))
        print("  rates lower:  " + "; ".join(f"{name(i)} ({d:+.2f})"
                                             for i, d in zip(group.below, group.below_by)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The commands for ratings files, one function each: split, fit, recommend, predict,
groups, sweep.

Each takes the parsed arguments (``cli.py``), checks its options (naming them as typed) and
every output path before any work (an output is never one of the command's inputs), calls
library functions and prints. Errors are ValueErrors (or OSErrors) with one line of text:
``main.guarded`` prints them and exits with status 2.
"""
import csv
import os
import sys
import time

import numpy as np

import common
import em
import products
from mixrec import display, ids, lists, metrics, modelfile, outputs, serving, stages
from mixrec.options import DEFAULTS, check_hyper_parameters, resolved
from mixrec.itemsfile import load_items
from mixrec.pairsfile import iter_pairs, load_user_ratings
from mixrec.ratingsfile import data_lines, load_test_ratings, read
from mixrec.recommender import fit
from mixrec.splits import Hidden, holdout, split_lines

PLOT_SUFFIXES = (".png", ".pdf", ".svg")
MAX_SEED = 2 ** 32 - 1


def option(name):
    """A hyper-parameter's name as the command line spells it (n_seeds: --n-seeds)."""
    return "--" + name.replace("_", "-")


def check_fraction(name, value):
    """A fraction in [0, 1), or ValueError naming the option."""
    if not (np.isfinite(value) and 0 <= value < 1):
        raise ValueError(f"{name} must be a fraction in [0, 1), got {value}")
    return value


def check_seed(name, value, low=0, high=MAX_SEED):
    """An integer option within [low, high], or ValueError naming it."""
    if not low <= value <= high:
        raise ValueError(f"{name} must be an integer in {low}..{high}, got {value}")
    return value


# ---------------------------------------------------------------------------------------
# split

def split_command(args):
    """split: each data line, as written, to the training or the test file."""
    check_fraction("--test-fraction", args.test_fraction)
    check_seed("--seed", args.seed)
    paths = [outputs.check_output_path(args.out_train, "training"),
             outputs.check_output_path(args.out_test, "test")]
    for name, path in zip(("--out-train", "--out-test"), paths):
        outputs.check_not_an_input(path, name, {"ratings": args.ratings})
    if os.path.abspath(paths[0]) == os.path.abspath(paths[1]):
        raise ValueError("--out-train and --out-test must be two files")
    header, lines, users, items, numbers = data_lines(args.ratings, columns=args.columns)
    pairs = _pair_groups(users, items, numbers, args)
    to_test = split_lines(users, args.test_fraction, args.seed, groups=pairs)
    with outputs.atomic_writes(paths) as (train, test):  # both, or neither
        for f, chosen in ((train, ~to_test), (test, to_test)):
            if header:
                f.write(header + "\n")
            f.writelines(line + "\n" for line, keep in zip(lines, chosen) if keep)
    repeated = len(lines) - len(set(pairs)) if pairs is not None else 0
    print(f"{args.ratings}: {len(lines)} ratings of {len(set(users))} users; "
          f"{int((~to_test).sum())} to {paths[0]}, {int(to_test.sum())} to {paths[1]} "
          f"(seed {args.seed}; every user keeps a training rating"
          + (f"; the {repeated} lines repeating a pair go with it" if repeated else "") + ")")
    return 0


def _pair_groups(users, items, numbers, args):
    """Each line's (user, item) pair as a number, so that a pair rated twice is split as
    one; ValueError naming the lines (their numbers in the file, as fit says them) with
    --duplicates refuse."""
    keys = np.unique(np.array([f"{u}\x00{i}" for u, i in zip(users, items)], dtype=object),
                     return_inverse=True)[1]
    if len(np.unique(keys)) == len(keys):
        return None
    if args.duplicates == "refuse":
        first = {}
        for line, key in enumerate(keys.tolist()):
            if key in first:
                raise ValueError(f"{args.ratings}, line {numbers[line]}: the pair rated on "
                                 f"line {numbers[first[key]]} is rated again (--duplicates "
                                 "refuse; latest, mean or first would keep them together)")
            first[key] = line
    return keys


# ---------------------------------------------------------------------------------------
# fit

def fit_command(args):
    """fit: load, evaluate if asked (held out or a test file), fit, save, report."""
    out = outputs.check_output_path(args.out, "model", (".npz",))
    inputs = {"ratings": args.ratings, "test": args.test}
    outputs.check_not_an_input(out, "--out", inputs)
    if args.plot:
        outputs.check_output_path(args.plot, "plot", PLOT_SUFFIXES)
        outputs.check_not_an_input(args.plot, "--plot", {**inputs, "model (--out)": out})
    check_fraction("--holdout", args.holdout)
    check_seed("--seed", args.seed)
    if args.keep_evaluated and not args.holdout:
        raise ValueError("--keep-evaluated needs --holdout above 0")
    if args.plot and not (args.test or args.holdout):
        raise ValueError("--plot draws the held-out RMSEs beside the runs: give --test FILE or "
                         "--holdout FRACTION too")
    if args.plot:  # after the arguments' own errors, which need nothing installed to fix
        display.require_matplotlib()
    hyper = {name: getattr(args, name) for name in DEFAULTS if getattr(args, name) is not None}
    check_hyper_parameters(hyper, args.seed, spell=option)  # before the long load
    args.client = _connect(args.scheduler)
    found = read(args.ratings, columns=args.columns, duplicates=args.duplicates,
                 progress=display.load_progress(args.ratings, args.quiet))
    X, user_ids, item_ids = found.X, found.user_ids, found.item_ids
    plan = resolved({**DEFAULTS, **hyper}, int(np.count_nonzero(np.diff(X.indptr))), X.nnz)
    stages.check_sizes(plan, X.shape, spell=option)
    times = found.times if np.isfinite(found.times).any() else None
    print(f"== {args.ratings}: {len(user_ids)} users x {len(item_ids)} items, {X.nnz} "
          f"ratings" + (", with timestamps" if times is not None else "")
          + (f"; {found.merged} pairs rated more than once merged ({found.policy}: "
             f"{found.lines - X.nnz} lines folded into them)" if found.merged else ""))
    traces, sides = {}, {}
    evaluated, held_out, source, saved_note = None, None, None, None
    if args.test:
        held_out = load_test_ratings(args.test, user_ids, item_ids, timestamps=True,
                                     columns=args.columns)
        source = args.test
        evaluated = model = _fit(X, times, args, hyper, traces,
                                 f"every rating of {args.ratings}", sides)
        saved_note = f"fitted on all {X.nnz} ratings of {args.ratings}"
    elif args.holdout:
        if times is None:
            X_fit, hidden = holdout(X, args.holdout, seed=0)
            times_fit = times_hidden = None
        else:
            X_fit, hidden, times_fit, times_hidden = holdout(X, args.holdout, seed=0,
                                                             times=times)
        if len(hidden.values) == 0:
            raise ValueError(f"no rating is held out (--holdout {args.holdout}, and every user "
                             "keeps one): there is nothing to evaluate on")
        held_out = Hidden(*hidden) + (times_hidden,)
        source = f"{len(hidden.values)} ratings held out of {args.ratings}"
        evaluated = _fit(X_fit, times_fit, args, hyper, traces,
                         f"{X_fit.nnz} ratings, {len(hidden.values)} held out", sides)
        if args.keep_evaluated:
            model = evaluated
            saved_note = (f"fitted on {X_fit.nnz} of the {X.nnz} ratings (--keep-evaluated: "
                          "without the held-out ones)")
        else:
            model = _fit(X, times, args, hyper, {}, f"every one of the {X.nnz} ratings")
            saved_note = f"refitted on all {X.nnz} ratings, the held-out ones included"
    else:
        model = _fit(X, times, args, hyper, traces, "every rating", sides)
        saved_note = f"fitted on all {X.nnz} ratings"
    modelfile.save(model, out, user_ids=user_ids, item_ids=item_ids)
    print(f"Saved the model to {out} ({saved_note}; {os.path.getsize(out) / 1e6:.1f} MB)")
    print(f"The model: {_plan_name(plan)}; {_choices(model, times, plan)}")
    if evaluated is None:
        print("No evaluation: give --test FILE or --holdout FRACTION to measure the model")
        return 0
    X_eval = X if args.test else X_fit
    scores = report_evaluation(evaluated, X_eval, held_out, source)
    if args.plot:
        display.plot_fit(args.plot, traces, scores, sides=sides,
                         title=f"{args.ratings}: {_plan_name(plan)}")
        print(f"Drew {args.plot}")
    return 0


def _fit(X, times, args, hyper, traces, what, sides=None):
    """fit with progress on stderr (and each run's trace, and each stage's side, recorded)."""
    progress = display.FitProgress(args.quiet, traces, what)
    try:
        return fit(X, seed=args.seed, times=times, callback=progress, client=args.client,
                   **hyper)
    finally:
        progress.close()
        if sides is not None:
            sides.update(progress.sides)


def _connect(address):
    """A Dask client of the cluster at address (checked before any fitting), or None."""
    if address is None:
        return None
    try:
        from dask import distributed
    except ImportError:
        raise ValueError("--scheduler needs dask: pip install 'dask[distributed]'") from None
    try:
        return distributed.Client(address, timeout=30)
    except (OSError, TimeoutError) as err:
        raise ValueError(f"--scheduler {address}: cannot reach a Dask scheduler there "
                         f"({err})") from None


def _choices(model, times, options):
    """What the fit chose from the training ratings, in words."""
    if times is None:
        days = "no timestamps, no day biases"
    elif len(model.days):
        days = "day biases kept" + (" (they predict held-out training ratings better)"
                                    if options["day_biases"] is None else "")
    else:
        days = "day biases left out" + (" (they do not predict held-out training ratings "
                                        "better)" if options["day_biases"] is None else "")
    if len(model.blend_weights) == 0:
        return days + "; the stages summed (no blend)"
    neighbours = " and two neighbour stages" if len(model.knn_item_index) else ""
    return (f"{days}; the stages{neighbours} blended by weights fitted on "
            f"{options['blend_holdout']:.0%} of the ratings held out of a first fit (std "
            f"x {float(model.std_factor):.3f})")


def _plan_name(options):
    return (f"mixture recommender, {options['item_stages']} stages with items as rows (K = "
            f"{options['item_components']}) then {options['user_stages']} with users as rows "
            f"(K = {options['user_components']}), {options['n_seeds']} EM runs each")


def report_evaluation(model, X_train, held_out, source):
    """Print held-out RMSEs beside the simple predictors, calibration and top-n lists;
    return the RMSEs by name."""
    rows, cols, values, times = held_out
    pred, std = serving.predict(model, rows, cols, unknown=True, return_std=True, times=times)
    scores = {"mixture recommender": common.rmse(pred, values),
              **metrics.baseline_rmse(X_train, model, Hidden(rows, cols, values),
                                      times=times)}
    cold = int(np.sum((rows < 0) | (cols < 0)))
    print(f"Held-out RMSE on {source}" + (f" ({cold} with a user or item the training "
                                          "ratings lack, scored by the baseline)" if cold else ""))
    for name, rmse in sorted(scores.items(), key=lambda item: item[1]):
        print(f"  {name:<44} {rmse:.4f}")
    one, two = metrics.within_std(values, pred, std)
    print(f"Uncertainty: {one:.1%} of the held-out ratings lie within one predicted standard "
          f"deviation, {two:.1%} within two (a Gaussian: 68.3%, 95.4%); mean std "
          f"{std.mean():.3f}")
    found = metrics.compare_lists(model, X_train, Hidden(rows, cols, values), n=10)
    print(f"Top-10 lists of the {found['users']} users with a relevant held-out rating "
          f"(relevant: {found['relevant']}; every item they did not rate in training ranked):")
    print(f"  {'':<44} {'precision':>9} {'recall':>9} {'NDCG':>9}")
    for name, (precision, recall, ndcg) in found["scores"].items():
        print(f"  {name:<44} {precision:>9.4f} {recall:>9.4f} {ndcg:>9.4f}")
    return scores


# ---------------------------------------------------------------------------------------
# Using a model: recommend, predict, groups

def _find_user(user_ids, user):
    """The index of a user id given on the command line (its text, as in the file)."""
    found = ids.index_of(user_ids, np.array([user], dtype=object))
    if found[0] < 0:
        shown = ", ".join(display.safe(t) for t in ids.texts(user_ids[:3]))
        raise ValueError(f"user {display.safe(user)!r} is not in the model ({len(user_ids)} "
                         f"users, e.g. {shown})")
    return int(found[0])


def _titles(path, item_ids):
    """Each model item's title from an items file ('' where it has none), or None."""
    if path is None:
        return None
    found_ids, titles = load_items(path)
    order = np.argsort(found_ids, kind="stable")
    found = ids.index_of(found_ids[order], item_ids)
    return np.where(found >= 0, titles[order][np.maximum(found, 0)], "")


def _ranking(args):
    """The ranking the options ask for (--ranking, or its older spellings)."""
    return "cautious" if args.cautious else "relevance" if args.relevant else args.ranking


def recommend_command(args):
    """recommend: one user's list, a new user's, or every user's (to --out)."""
    ranking = _ranking(args)
    n = check_seed("-n", args.n, 1, 2 ** 63 - 1)
    if args.all:
        return _recommend_all(args, ranking, n)
    if args.out:
        raise ValueError("--out goes with --all (a single list is printed)")
    model, user_ids, item_ids = modelfile.load_with_ids(args.model)
    titles = _titles(args.items, item_ids)
    if args.ratings:
        user, who, n_rated = _new_user(model, item_ids, args)
    else:
        user = _find_user(user_ids, args.user)
        who = f"user {display.safe(args.user)}"
        n_rated = int(model.rated_indptr[user + 1] - model.rated_indptr[user])
    found = lists.top_n(model, None, user, n, ranking=ranking)
    print(f"Best {len(found.items)} of the {len(item_ids) - n_rated} items {who} has not "
          f"rated, ranked by {lists.RANKINGS[ranking]}:")
    for rank, (item, score, sd, key) in enumerate(zip(*found), 1):
        title = f"  {display.safe(titles[item])}" if titles is not None and titles[item] else ""
        ranked = (f"chance {key:.2%}, " if ranking == "relevance" else
                  f"bound {key:.2f}, " if ranking == "cautious" else "")
        print(f"{rank:>3}. item {display.safe(ids.texts(item_ids[[item]])[0])}: {ranked}"
              f"rating {score:.2f} +- {sd:.2f}{title}")
    return 0


def _new_user(model, item_ids, args):
    """A user placed from an 'item rating [timestamp]' file, without a refit."""
    items, ratings, times = load_user_ratings(args.ratings, columns=args.columns)
    cols = ids.index_of(item_ids, items)
    unknown = int((cols < 0).sum())
    start = time.perf_counter()
    user = serving.fold_in(model, cols, ratings, times=times)
    print(f"Placed a new user from {len(ratings) - unknown} ratings of {args.ratings} in "
          f"{(time.perf_counter() - start) * 1e3:.1f} ms" + (
              f" ({unknown} of items the model lacks, left out)" if unknown else ""))
    return user, "the new user", len(user.rated)


# Users whose lists are computed and written at a time: what --all holds is bounded.
USERS_PER_BLOCK = 50_000


def _recommend_all(args, ranking, n):
    """recommend --all: user,rank,item,score,std,key for every user, to a CSV file."""
    if not args.out:
        raise ValueError("--all writes every user's list: give --out FILE.csv")
    out = outputs.check_output_path(args.out, "recommendations")
    outputs.check_not_an_input(out, "--out", {"model": args.model, "items": args.items})
    model, user_ids, item_ids = modelfile.load_with_ids(args.model)
    n = min(n, len(item_ids))
    start = time.perf_counter()
    user_text, item_text = ids.texts(user_ids), ids.texts(item_ids)
    with outputs.atomic_write(out, "w") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["user", "rank", "item", "score", "std", "key"])
        for first in range(0, len(user_ids), USERS_PER_BLOCK):
            block = np.arange(first, min(first + USERS_PER_BLOCK, len(user_ids)))
            found = lists.top_n_all(model, None, n, ranking=ranking, users=block)
            writer.writerows(
                (user_text[u], rank + 1, item_text[i], f"{s:.4f}", f"{e:.4f}", f"{k:.6g}")
                for u, row in zip(block.tolist(), zip(*found))
                for rank, (i, s, e, k) in enumerate(zip(*row)) if i >= 0)
    print(f"Wrote the best {n} items of each of the {len(user_ids)} users to {out} "
          f"({time.perf_counter() - start:.1f} s)")
    return 0


def predict_command(args):
    """predict: a CSV line per pair of a file, ids as written; the pairs are read,
    predicted and written a chunk at a time, so memory is bounded whatever their number."""
    out = outputs.check_output_path(args.out, "predictions") if args.out else None
    if out is not None:
        outputs.check_not_an_input(out, "--out", {"model": args.model, "pairs": args.pairs})
    model, user_ids, item_ids = modelfile.load_with_ids(args.model)
    header = ["user", "item", "prediction"] + (["std"] if args.std else [])
    unknown = [0]

    def write(f):
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        for users, items, times in iter_pairs(args.pairs, known=(user_ids, item_ids),
                                              columns=args.columns):
            rows, cols = ids.index_of(user_ids, users), ids.index_of(item_ids, items)
            found = serving.predict(model, rows, cols, unknown=True, return_std=args.std,
                                    times=times if np.isfinite(times).any() else None)
            pred, std = found if args.std else (found, None)
            unknown[0] += int(np.sum((rows < 0) | (cols < 0)))
            columns = [ids.texts(users), ids.texts(items), [f"{p:.4f}" for p in pred]]
            if args.std:
                columns.append([f"{s:.4f}" for s in std])
            writer.writerows(zip(*columns))
    if out is None:
        write(sys.stdout)
    else:
        with outputs.atomic_write(out, "w") as f:
            write(f)
    if unknown[0] and not args.quiet:
        print(f"{unknown[0]} pairs name a user or item the model lacks: scored by the "
              "baseline", file=sys.stderr)
    return 0


def groups_command(args):
    """groups: each taste group, its weight, and the items it rates above and below."""
    n = check_seed("-n", args.n, 1, 2 ** 63 - 1)
    min_ratings = check_seed("--min-ratings", args.min_ratings, 0, 2 ** 63 - 1)
    model, _, item_ids = modelfile.load_with_ids(args.model)
    titles = _titles(args.items, item_ids)
    counts = np.bincount(model.rated_indices, minlength=len(item_ids))
    known = counts >= min_ratings
    enough = known.sum() >= 2 * n
    found = serving.groups(model, n, candidates=known if enough else None)

    def name(item):
        title = titles[item] if titles is not None else ""
        return display.safe(title or f"item {ids.texts(item_ids[[item]])[0]}")
    which = (f"items with at least {min_ratings} ratings" if enough else
             f"all items: only {int(known.sum())} have {min_ratings} ratings or more")
    print(f"{len(found)} taste groups of users (ratings above or below what the baseline, "
          f"the mean plus user and item biases, predicts; {which}):")
    for number, group in enumerate(found, 1):
        print(f"\nGroup {number}: {group.weight:.0%} of users")
        print("  rates higher: " + "; ".join(f"{name(i)} ({d:+.2f})"
                                             for i, d in zip(group.above, group.above_by)))
        print("  rates lower:  " + "; ".join(f"{name(i)} ({d:+.2f})"
                                             for i, d in zip(group.below, group.below_by)))
    return 0


# ---------------------------------------------------------------------------------------
# sweep: the course's model on a ratings file

def sweep_command(args):
    """sweep: the course's model K by K on a ratings file (``ratings_experiment``)."""
    for K in args.k:
        check_seed("--k", K, 1, 2 ** 31 - 1)
    for seed in args.seeds:
        check_seed("--seeds", seed)
    check_fraction("--holdout", args.holdout)
    ratings_experiment(args.ratings, args.k, args.seeds, args.holdout, args.quiet,
                       columns=args.columns, duplicates=args.duplicates)
    return 0


def ratings_experiment(path, Ks, seeds, fraction, quiet=False, *, columns=None,
                       duplicates=None):
    """Fit a ratings file at each K on a training split; compare held-out RMSEs.

    Every line of the file is a rating, 0 included: the course's model is fitted to the
    stored pattern (``products.summarise(..., stored_zeros=True)``), so a rating of 0 is a
    rating here too, never a missing entry.
    """
    found = read(path, columns=columns, duplicates=duplicates,
                 progress=display.load_progress(path, quiet))
    X, user_ids, item_ids = found.X, found.user_ids, found.item_ids
    stages.check_training(X)
    X_train, hidden = holdout(X, fraction, seed=0)
    if len(hidden.values) == 0:
        raise ValueError(f"no rating of {path} is held out (--holdout {fraction}, and every "
                         "user keeps one): there is nothing to measure the RMSE on")
    zeros = int((X.data == 0).sum())
    print(f"== {path}: {len(user_ids)} users x {len(item_ids)} items, {X.nnz} ratings"
          + (f" ({zeros} of them 0, ratings like any other)" if zeros else "")
          + f"; {len(hidden.values)} held out ({fraction:.0%}), seeds {list(seeds)}")
    global_mean = metrics.global_mean(X_train)
    item_mean = metrics.item_means(X_train)
    baselines = {"global mean": common.rmse(np.full_like(hidden.values, global_mean),
                                            hidden.values),
                 "item means": common.rmse(item_mean[hidden.cols], hidden.values)}
    print(f"Held-out RMSE of the global mean: {baselines['global mean']:.4f}; "
          f"of the item means: {baselines['item means']:.4f}")
    print(f"{'K':>4} {'log-likelihood':>18} {'BIC':>18} {'held-out RMSE':>14} "
          f"{'iterations':>10} {'seconds':>9}")
    ratings = products.summarise(X_train, stored_zeros=True)
    results = {}
    for K in Ks:
        if K > X.shape[0]:
            print(f"{K:>4} skipped: more components than the {X.shape[0]} users")
            continue
        start = time.perf_counter()
        progress = display.SweepProgress(K, seeds, quiet)
        best = em.best_run(ratings, K, seeds, callback=progress)
        progress.close()
        seconds = time.perf_counter() - start
        pred = em.predict(ratings, best.mixture, hidden.rows, hidden.cols)
        results[K] = common.rmse(pred, hidden.values)
        print(f"{K:>4} {best.log_likelihood:>18.4f} "
              f"{common.bic(X_train, best.mixture, best.log_likelihood):>18.4f} "
              f"{results[K]:>14.4f} {best.iterations:>10} {seconds:>9.2f}", flush=True)
    if results:
        _sweep_verdict(results, baselines)
    return results


def _sweep_verdict(results, baselines):
    """Say which K is best and, plainly, whether a simple predictor does as well."""
    best_K = min(results, key=results.get)
    print(f"Best held-out RMSE: K = {best_K} ({results[best_K]:.4f})")
    name = min(baselines, key=baselines.get)
    if results[best_K] > baselines[name]:
        print(f"The course's model loses here to the {name} ({results[best_K]:.4f} against "
              f"{baselines[name]:.4f}): raw ratings mix each user's and item's offset with "
              "taste. `fit FILE --out model.npz` fits the mixture recommender, "
              "built for such data.")
    elif results[best_K] == baselines[name]:
        print(f"The course's model ties with the {name} ({results[best_K]:.4f}).")

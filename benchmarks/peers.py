"""The peers of the benchmarks, each run by the python of a scratch virtual environment.

    SURPRISE_PYTHON=/path/to/venv/bin/python  (numpy < 2, scikit-surprise, pandas)
    MYFM_PYTHON, LENSKIT_PYTHON, CORNAC_PYTHON, IMPLICIT_PYTHON  (myfm, lenskit, cornac,
                                              implicit; each with pandas and scipy)

For recommender.py:

    $PYTHON peers.py surprise TRAIN TEST     # SVD, SVD++, BaselineOnly, KNNBaseline
    $PYTHON peers.py surprise-svd FILE       # SVD's fit alone, on a big file
    $PYTHON peers.py myfm TRAIN TEST         # Bayesian FM: ids; ids + implicit

each printing one JSON object: per algorithm its held-out RMSE and its fit time, measured
here so that the peer's own loading is not counted. For suite.py, one method a process:

    $PYTHON peers.py METHOD TRAIN TEST [--budget S] [--grid full|small] [--val-users N]
                     [--samples N]

(METHOD one of SUITE_METHODS; see "The suite's peers" below for what it prints.)

This file imports none of the project's modules: the peers' environments need not have
them, nor the project their packages (never in requirements.txt).
"""
import json
import os
import sys
import time

if __name__ == "__main__" and sys.argv[1:2] == ["implicit-als"]:
    # implicit's ALS runs its own threads: BLAS threads on top of them only slow it down
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # its threads sleep on a busy machine

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import sparse  # noqa: E402


def read(path):
    """user, item, rating columns of a ratings CSV (with or without a header)."""
    frame = pd.read_csv(path, header=None, usecols=[0, 1, 2], names=["user", "item", "rating"],
                        dtype={"user": str, "item": str})
    if not _is_number(frame["rating"].iloc[0]):
        frame = frame.iloc[1:]
    frame["rating"] = frame["rating"].astype(float)
    return frame.reset_index(drop=True)


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def peak_gb():
    """This process's peak resident memory so far, GB (ru_maxrss, Linux's KiB)."""
    import resource  # Unix only
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def surprise_split(train_path, test_path):
    """recommender.py's surprise: SVD, SVD++, BaselineOnly and KNNBaseline at their
    defaults, each's RMSE over every TEST line (surprise's own fallback) and fit seconds."""
    import surprise
    train, test = read(train_path), read(test_path)
    scale = (train.rating.min(), train.rating.max())
    reader = surprise.Reader(rating_scale=scale)
    trainset = surprise.Dataset.load_from_df(train, reader).build_full_trainset()
    testset = list(test.itertuples(index=False, name=None))
    algorithms = {
        "surprise SVD": surprise.SVD(random_state=0),
        "surprise SVD++": surprise.SVDpp(random_state=0),
        "surprise BaselineOnly": surprise.BaselineOnly(verbose=False),
        "surprise KNNBaseline (item, pearson_baseline)": surprise.KNNBaseline(
            sim_options={"name": "pearson_baseline", "user_based": False}, verbose=False),
    }
    out = {"version": surprise.__version__}
    for name, algorithm in algorithms.items():
        start = time.perf_counter()
        algorithm.fit(trainset)
        seconds = time.perf_counter() - start
        # surprise scores an unknown user or item with its own fallback, as its users get it
        pred = np.array([p.est for p in algorithm.test(testset)])
        out[name] = {"rmse": float(np.sqrt(np.mean((pred - test.rating.values) ** 2))),
                     "fit_s": seconds}
    return out


def surprise_svd(path):
    """surprise SVD's fit seconds and peak memory on a (big) ratings file."""
    import surprise
    frame = read(path)
    reader = surprise.Reader(rating_scale=(frame.rating.min(), frame.rating.max()))
    trainset = surprise.Dataset.load_from_df(frame, reader).build_full_trainset()
    del frame
    start = time.perf_counter()
    surprise.SVD(random_state=0).fit(trainset)
    return {"version": surprise.__version__, "fit_s": time.perf_counter() - start,
            "peak_gb": peak_gb()}


def myfm_split(train_path, test_path, rank=10, samples=512):
    """myFM's Bayesian FM, as its MovieLens examples use it: each user's and each item's
    features in a relation block (shared by all of its rows), ids one-hot; with implicit
    features, the user's block also holds the items they rated and the item's the users who
    rated it (training file only, each row scaled by 1 / sqrt(its count))."""
    import myfm
    train, test = read(train_path), read(test_path)
    users = {u: k for k, u in enumerate(train.user.unique())}
    items = {i: k for k, i in enumerate(train.item.unique())}
    n, d = len(users), len(items)
    known = (test.user.isin(users) & test.item.isin(items)).values
    tu, ti = train.user.map(users).values, train.item.map(items).values
    rated = sparse.csr_matrix((np.ones(len(train)), (tu, ti)), shape=(n, d))
    by_user = sparse.diags(1 / np.sqrt(np.maximum(rated.sum(axis=1).A1, 1))) @ rated
    by_item = sparse.diags(1 / np.sqrt(np.maximum(rated.sum(axis=0).A1, 1))) @ rated.T
    test_known = test[known]
    su, si = test_known.user.map(users).values, test_known.item.map(items).values
    out = {"version": getattr(myfm, "__version__", "?")}
    for name, implicit, ordered in (("myFM Bayesian FM, ids", False, False),
                                    ("myFM Bayesian FM, ids + implicit, ordered probit", True,
                                     True)):
        user_block = sparse.identity(n, format="csr")
        item_block = sparse.identity(d, format="csr")
        if implicit:
            user_block = sparse.hstack([user_block, by_user]).tocsr()
            item_block = sparse.hstack([item_block, by_item]).tocsr()

        def relations(rows_u, rows_i):
            return [myfm.RelationBlock(rows_u, user_block), myfm.RelationBlock(rows_i, item_block)]
        empty_train = sparse.csr_matrix((len(train), 0))
        empty_test = sparse.csr_matrix((len(test_known), 0))
        start = time.perf_counter()
        # each kind of feature its own prior (myFM's grouping, as in its MovieLens examples)
        groups = [n, d, d, n] if implicit else [n, d]
        if ordered:
            levels = np.unique(train.rating.values)
            model = myfm.MyFMOrderedProbit(rank=rank, random_seed=0)
            model.fit(empty_train, np.searchsorted(levels, train.rating.values),
                      X_rel=relations(tu, ti), n_iter=samples, n_kept_samples=samples,
                      group_shapes=groups)
            seconds = time.perf_counter() - start
            pred_known = model.predict_proba(empty_test, relations(su, si)) @ levels
        else:
            model = myfm.MyFMRegressor(rank=rank, random_seed=0)
            model.fit(empty_train, train.rating.values, X_rel=relations(tu, ti), n_iter=samples,
                      n_kept_samples=samples, group_shapes=groups)
            seconds = time.perf_counter() - start
            pred_known = model.predict(empty_test, relations(su, si))
        pred = np.full(len(test), train.rating.mean())  # an unknown user or item: the mean
        pred[known] = pred_known
        out[name] = {"rmse": float(np.sqrt(np.mean((pred - test.rating.values) ** 2))),
                     "fit_s": seconds}
    return out


# ---------------------------------------------------------------------------------------
# The suite's peers (benchmarks/suite.py): one method a process, on any split
#
#     $PEER_PYTHON peers.py METHOD TRAIN TEST [--budget S] [--grid full|small]
#                  [--val-users N] [--samples N]
#
# METHOD is one of SUITE_METHODS. TRAIN and TEST have a header and user, item, rating as
# their first three columns (plain or .xz); every line is a rating given to the peer,
# duplicated pairs included (LensKit refuses them: each keeps its last line; cornac's
# Dataset keeps the first itself). It prints one JSON object: "version" and the method's
# name with either a string (a skip and its reason) or a dict. A rating predictor's:
# "fit_s", "rmse" over every TEST line (a user or item TRAIN lacks gets the peer's own
# fallback, said in "cold"), "rmse_warm" over the lines whose user and item TRAIN has,
# "n_cold". A list model's: "fit_s", "precision", "recall", "ndcg" at 10, "n_users",
# "params" and "validation" (the settings tried on a 90/10 split inside TRAIN by
# make_split.py's rule, judged by NDCG@10; then refitted on all of TRAIN). Lists follow the
# project's protocol: relevant = a TEST rating >= low + 0.75 (high - low) of TRAIN on a warm
# pair (unique pairs); the users with one are judged; each list: the 10 best of TRAIN's
# items the user did not rate in TRAIN.

N_LIST = 10
KNN_LIMIT_BYTES = 8e9
OPTIONS = {"val_users": None, "grid": "full", "budget": 600.0, "samples": 512}


def read_frame(path):
    """user, item (text) and rating (float) of every line of a ratings CSV with a header."""
    frame = pd.read_csv(path, usecols=[0, 1, 2], dtype=str, keep_default_na=False)
    frame.columns = ["user", "item", "rating"]
    frame["rating"] = frame["rating"].astype(float)
    return frame


class Split:
    """TRAIN and TEST coded by TRAIN's users and items (-1: absent from TRAIN)."""

    def __init__(self, train, test):
        self.train, self.test = train, test
        self.user_ids, self.item_ids = sorted_ids(train.user.values), sorted_ids(train.item.values)
        self.users, self.items = pd.Index(self.user_ids), pd.Index(self.item_ids)
        self.n, self.d = len(self.user_ids), len(self.item_ids)
        self.tu = self.users.get_indexer(train.user.values)
        self.ti = self.items.get_indexer(train.item.values)
        self.su = self.users.get_indexer(test.user.values)
        self.si = self.items.get_indexer(test.item.values)
        self.warm = (self.su >= 0) & (self.si >= 0)
        self.low, self.high = float(train.rating.min()), float(train.rating.max())
        self.mean = float(train.rating.mean())
        X = sparse.csr_matrix((np.ones(len(train)), (self.tu, self.ti)), shape=(self.n, self.d))
        X.sum_duplicates()
        X.data[:] = 1.0
        self.X = X  # the 0/1 matrix of TRAIN's rated pairs
        rel = self.warm & (test.rating.values >= self.low + 0.75 * (self.high - self.low))
        keys = np.unique(self.su[rel].astype(np.int64) * self.d + self.si[rel])
        self.rel_keys = keys
        self.eval_users = np.unique(keys // self.d)

    def validation(self):
        """TRAIN split 90/10 inside, by make_split.py's rule (RandomState(0))."""
        hold = holdout_mask(self.train.user.values, 0.1, seed=0)
        return Split(self.train[~hold].reset_index(drop=True),
                     self.train[hold].reset_index(drop=True))

    def rating_result(self, fit_s, pred, **extra):
        """A rating predictor's dict (see above) from its predictions of TEST's lines."""
        err = np.asarray(pred, dtype=np.float64) - self.test.rating.values
        return {"fit_s": fit_s, "rmse": float(np.sqrt(np.mean(err ** 2))),
                "rmse_warm": float(np.sqrt(np.mean(err[self.warm] ** 2))),
                "n_cold": int((~self.warm).sum()), **extra}

    def list_scores(self, lists, users=None):
        """Mean precision, recall and NDCG at 10 of lists (u, 10) of item codes (-1: none)."""
        users = self.eval_users if users is None else users
        lists = np.asarray(lists, dtype=np.int64)
        if lists.shape[1] < N_LIST:  # a short list's missing places are misses
            lists = np.pad(lists, ((0, 0), (0, N_LIST - lists.shape[1])), constant_values=-1)
        keys = users[:, None] * self.d + np.maximum(lists, 0)
        hits = np.isin(keys, self.rel_keys) & (lists >= 0)
        n_rel = np.bincount(np.searchsorted(users, self.rel_keys // self.d)[
            np.isin(self.rel_keys // self.d, users)], minlength=len(users))
        discount = 1 / np.log2(np.arange(2, N_LIST + 2))
        ideal = np.cumsum(discount)[np.minimum(n_rel, N_LIST) - 1]
        return {"precision": float(hits.sum(1).mean() / N_LIST),
                "recall": float((hits.sum(1) / n_rel).mean()),
                "ndcg": float((hits @ discount / ideal).mean()), "n_users": int(len(users))}


def sorted_ids(values):
    """The distinct ids, by number when all are integers (ties in lists go to the lower)."""
    distinct = pd.unique(values)
    try:
        key = np.array([int(v) for v in distinct])
    except ValueError:
        key = distinct.astype(str)
    return distinct[np.argsort(key, kind="stable")]


def holdout_mask(users, fraction, seed=0):
    """make_split.py's rule: a RandomState(seed) permutation ranks the lines, each user's
    last-ranked line stays, the first round(fraction * m) of the rest are held out."""
    m = len(users)
    perm = np.random.RandomState(seed).permutation(m)
    rank = np.empty(m, np.int64)
    rank[perm] = np.arange(m)
    codes = np.unique(np.asarray(users).astype(str), return_inverse=True)[1].ravel()
    order = np.lexsort((rank, codes))
    last = np.ones(m, bool)
    last[:-1] = codes[order][1:] != codes[order][:-1]
    keep = np.zeros(m, bool)
    keep[order[last]] = True
    candidates = perm[~keep[perm]]
    hold = np.zeros(m, bool)
    hold[candidates[:int(round(fraction * m))]] = True
    return hold


def tune_lists(split, grid, fit, recommend):
    """Validation inside TRAIN over the grid (--val-users: NDCG over that many validation
    users, RandomState(0)), then a refit on all of TRAIN with the best setting."""
    inner = split.validation()
    judged = inner.eval_users
    if OPTIONS["val_users"] and len(judged) > OPTIONS["val_users"]:
        judged = np.sort(np.random.RandomState(0).choice(judged, OPTIONS["val_users"],
                                                         replace=False))
    tried = []
    for params in grid:
        start = time.perf_counter()
        model = fit(inner, params)
        seconds = time.perf_counter() - start
        tried.append({"params": params, "fit_s": seconds,
                      **inner.list_scores(recommend(model, inner, judged), judged)})
        print(f"  {params}: validation NDCG {tried[-1]['ndcg']:.4f}", file=sys.stderr, flush=True)
    best = max(tried, key=lambda t: t["ndcg"])["params"]
    start = time.perf_counter()
    model = fit(split, best)
    seconds = time.perf_counter() - start
    return {"fit_s": seconds, **split.list_scores(recommend(model, split, split.eval_users)),
            "params": best, "validation": {"n_users": int(len(judged)),
                                           "of_users": int(len(inner.eval_users)),
                                           "tried": tried}}


def grid(**axes):
    """Every combination of the axes' values, as a list of dicts."""
    out = [{}]
    for key, values in axes.items():
        out = [{**p, key: v} for p in out for v in values]
    return out


# -- scikit-surprise ----------------------------------------------------------------------

def _surprise(split, name, make):
    """A surprise algorithm (make(surprise)) on every TEST line; SVD++ skipped when its fit,
    estimated from a subsample, is over --budget, and stopped there; KNNBaseline skipped
    when its item x item matrix would pass KNN_LIMIT_BYTES."""
    import surprise
    reader = surprise.Reader(rating_scale=(split.low, split.high))
    trainset = surprise.Dataset.load_from_df(split.train, reader).build_full_trainset()
    testset = list(split.test.itertuples(index=False, name=None))
    if name.startswith("surprise KNNBaseline") and split.d ** 2 * 8 > KNN_LIMIT_BYTES:
        return (f"skipped: its item x item similarity matrix ({split.d} items) would take "
                f"{split.d ** 2 * 8 / 1e9:.0f} GB (limit {KNN_LIMIT_BYTES / 1e9:.0f} GB)")

    def run():
        algorithm = make(surprise)
        start = time.perf_counter()
        algorithm.fit(trainset)
        seconds = time.perf_counter() - start
        # surprise's own estimate for an unknown user or item (the mean and known biases)
        return seconds, np.array([p.est for p in algorithm.test(testset)])
    extra = {}
    if name == "surprise SVD++":
        estimate = _svdpp_estimate(surprise, split.train, reader)
        extra["estimated_fit_s"] = estimate
        if estimate > OPTIONS["budget"]:
            return (f"skipped: over budget (fit estimated at {estimate:.0f} s from a subsample "
                    f"of users, budget {OPTIONS['budget']:.0f} s)")
        found = _in_child(run, OPTIONS["budget"])
        if found is None:
            return (f"skipped: over budget (fit and predictions not done in "
                    f"{OPTIONS['budget']:.0f} s)")
    else:
        found = run()
    return split.rating_result(found[0], found[1], cold="surprise's own estimate: the mean "
                               "plus the known side's bias (and factors)", **extra)


def _svdpp_estimate(surprise, train, reader, lines=20000):
    """SVD++'s fit time on all of TRAIN from a fit on random users holding ~lines lines: its
    cost per epoch grows as the sum over users of (their ratings)^2."""
    counts = train.user.value_counts()
    if len(train) <= lines:
        return 0.0
    users = np.random.RandomState(0).permutation(counts.index.values)
    take = users[:max(1, np.searchsorted(np.cumsum(counts[users].values), lines))]
    sub = train[train.user.isin(set(take))]
    start = time.perf_counter()
    surprise.SVDpp(random_state=0).fit(surprise.Dataset.load_from_df(sub, reader)
                                       .build_full_trainset())
    seconds = time.perf_counter() - start
    full = float((counts.values.astype(float) ** 2).sum())
    part = float((counts[take].values.astype(float) ** 2).sum())
    return seconds * max(full / part, len(train) / len(sub))


def _in_child(job, budget):
    """job() in a forked child, killed at budget seconds; its result or None."""
    import multiprocessing
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)

    def target():
        send.send(job())
        send.close()
    child = context.Process(target=target)
    child.start()
    send.close()
    if receive.poll(budget):
        found = receive.recv()
        child.join()
        return found
    child.kill()
    child.join()
    return None


# -- myFM ---------------------------------------------------------------------------------

def _myfm(split, implicit):
    """myFM's Bayesian FM (rank 10) as its MovieLens examples use it: each user's and item's
    features in a relation block, ids one-hot; with implicit features the user's block also
    holds the items they rated and the item's the users who rated it (TRAIN only, rows
    scaled by 1 / sqrt(count)), with the ordered probit where the scale is integer (or half
    steps). --samples draws, all kept, stopped early at --budget seconds (the draws done so
    far are averaged). A user or item TRAIN lacks gets an all-zero row (the examples'
    OneHotEncoder(handle_unknown="ignore")): w0 plus the known side's terms."""
    import myfm
    n, d, tu, ti = split.n, split.d, split.tu, split.ti
    rated = sparse.csr_matrix((np.ones(len(tu)), (tu, ti)), shape=(n, d))
    user_block = sparse.identity(n, format="csr")
    item_block = sparse.identity(d, format="csr")
    levels = np.unique(split.train.rating.values)
    ordered = implicit and bool(np.allclose(levels * 2, np.round(levels * 2)))
    if implicit:
        by_user = sparse.diags(1 / np.sqrt(np.maximum(rated.sum(axis=1).A1, 1))) @ rated
        by_item = sparse.diags(1 / np.sqrt(np.maximum(rated.sum(axis=0).A1, 1))) @ rated.T
        user_block = sparse.hstack([user_block, by_user]).tocsr()
        item_block = sparse.hstack([item_block, by_item]).tocsr()
    user_block = sparse.vstack([user_block, sparse.csr_matrix((1, user_block.shape[1]))]).tocsr()
    item_block = sparse.vstack([item_block, sparse.csr_matrix((1, item_block.shape[1]))]).tocsr()
    su, si = np.where(split.su >= 0, split.su, n), np.where(split.si >= 0, split.si, d)

    def relations(rows_u, rows_i):
        return [myfm.RelationBlock(rows_u, user_block), myfm.RelationBlock(rows_i, item_block)]
    groups = [n, d, d, n] if implicit else [n, d]
    samples, budget, draws = OPTIONS["samples"], OPTIONS["budget"], [0]
    start = time.perf_counter()

    def stop_at_budget(i, fm, hyper, history):
        draws[0] = i + 1
        return time.perf_counter() - start > budget, None
    common = dict(X_rel=relations(tu, ti), n_iter=samples, n_kept_samples=samples,
                  group_shapes=groups, callback=stop_at_budget)
    empty_test = sparse.csr_matrix((len(split.test), 0))
    if ordered:
        model = myfm.MyFMOrderedProbit(rank=10, random_seed=0)
        model.fit(sparse.csr_matrix((len(tu), 0)),
                  np.searchsorted(levels, split.train.rating.values), **common)
        seconds = time.perf_counter() - start
        pred = model.predict_proba(empty_test, relations(su, si)) @ levels
    else:
        model = myfm.MyFMRegressor(rank=10, random_seed=0)
        model.fit(sparse.csr_matrix((len(tu), 0)), split.train.rating.values, **common)
        seconds = time.perf_counter() - start
        pred = model.predict(empty_test, relations(su, si))
    kept = len(model.predictor_.samples)
    return split.rating_result(seconds, pred, draws=draws[0], kept=kept, asked=samples,
                               ordered_probit=ordered,
                               cold="an all-zero feature row: w0 plus the known side's terms")


# -- LensKit (its 2025 API) ---------------------------------------------------------------

def _lenskit_data(split, ratings=True):
    """LensKit's dataset of TRAIN; it refuses a repeated pair: each keeps its last line."""
    from lenskit.data import from_interactions_df
    frame = split.train.rename(columns={"user": "user_id", "item": "item_id"})
    frame = frame.drop_duplicates(["user_id", "item_id"], keep="last")
    if not ratings:
        frame = frame[["user_id", "item_id"]]
    return from_interactions_df(frame.reset_index(drop=True), user_col="user_id",
                                item_col="item_id", rating_col="rating" if ratings else None)


def _lenskit_explicit(split, which):
    """ItemKNN (20 neighbours, explicit) or BiasedMF (50 features) at their defaults in
    LensKit's predict pipeline, whose fallback (a bias scorer) scores what they cannot."""
    from lenskit.als import BiasedMFScorer
    from lenskit.batch import predict
    from lenskit.data import ItemListCollection
    from lenskit.knn import ItemKNNScorer
    from lenskit.pipeline import predict_pipeline
    from lenskit.training import TrainingOptions
    data = _lenskit_data(split)
    pipe = predict_pipeline(ItemKNNScorer() if which == "knn" else BiasedMFScorer())
    start = time.perf_counter()
    pipe.train(data, TrainingOptions(rng=0))
    seconds = time.perf_counter() - start
    test = split.test.rename(columns={"user": "user_id", "item": "item_id"})
    queries = ItemListCollection.from_df(test.drop_duplicates(["user_id", "item_id"]),
                                         ["user_id"])
    found = predict(pipe, queries, n_jobs=1).to_df().set_index(["user_id", "item_id"])["score"]
    pred = found.reindex(pd.MultiIndex.from_arrays([test.user_id, test.item_id])).values
    n_mean = int(np.isnan(pred).sum())  # the pipeline left none unscored so far
    return split.rating_result(seconds, np.where(np.isnan(pred), split.mean, pred),
                               n_global_mean=n_mean, cold="LensKit's pipeline fallback (its "
                               "bias scorer); TRAIN's mean for a pair it leaves unscored")


def _lenskit_knn_lists(split):
    """Implicit item kNN's lists from LensKit's own top-n pipeline, max_nbrs by validation;
    skipped when the grid's time, estimated from the default's fit and 100 users' lists,
    is over --budget."""
    from lenskit.batch import recommend
    from lenskit.knn import ItemKNNScorer
    from lenskit.pipeline import topn_pipeline
    from lenskit.training import TrainingOptions

    def fit(s, params):
        pipe = topn_pipeline(ItemKNNScorer(**params, feedback="implicit"))
        pipe.train(_lenskit_data(s, False), TrainingOptions(rng=0))
        return pipe

    def lists(pipe, s, users):
        found = recommend(pipe, list(s.user_ids[users]), n=N_LIST, n_jobs=1).to_df()
        out = np.full((len(users), N_LIST), -1, dtype=np.int64)
        row = pd.Index(s.user_ids[users]).get_indexer(found.user_id.values)
        out[row, found["rank"].values - 1] = s.items.get_indexer(found.item_id.values)
        return out
    settings = grid(max_nbrs=[20, 50, 100])
    start = time.perf_counter()
    pipe = fit(split, {})
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    lists(pipe, split, split.eval_users[:100])
    per_user = (time.perf_counter() - start) / max(1, min(100, len(split.eval_users)))
    del pipe
    m = len(split.eval_users)
    estimate = (1 + len(settings)) * (fit_s + per_user * m)
    if estimate > OPTIONS["budget"]:
        return (f"skipped: over budget (its {len(settings)} validation settings and refit "
                f"estimated at {estimate:.0f} s: fit {fit_s:.0f} s, {per_user * 1000:.0f} ms a "
                f"user's list, {m} users; budget {OPTIONS['budget']:.0f} s)")
    return tune_lists(split, settings, fit, lists)


# -- cornac, implicit ---------------------------------------------------------------------

def _cornac(split):
    """cornac's MF (use_bias=True, seed 0; its other settings default) on every TEST line."""
    import cornac
    from cornac.models import MF
    data = list(split.train.itertuples(index=False, name=None))
    trainset = cornac.data.Dataset.from_uir(data, seed=0)  # keeps a repeated pair's first line
    model = MF(use_bias=True, seed=0)
    start = time.perf_counter()
    model.fit(trainset)
    seconds = time.perf_counter() - start
    uid, iid = trainset.uid_map, trainset.iid_map
    pred = np.array([model.rate(uid.get(u, trainset.num_users), iid.get(i, trainset.num_items))
                     for u, i in zip(split.test.user.values, split.test.item.values)],
                    dtype=np.float64).ravel()
    return split.rating_result(seconds, pred, duplicates_dropped=len(data) - trainset.num_ratings,
                               cold="MF.rate()'s default: the global mean (+ the item's bias "
                               "for an unknown user), clipped to the range")


def _implicit_als(split):
    """implicit's ALS (15 iterations) on the 0/1 matrix, its own recommend(...,
    filter_already_liked_items=True); factors x regularization x alpha by validation."""
    from implicit.cpu.als import AlternatingLeastSquares
    settings = {"full": grid(factors=[25, 50, 100], regularization=[0.01, 0.1], alpha=[1.0, 10.0]),
                "small": grid(factors=[50, 100], regularization=[0.01], alpha=[1.0, 10.0])}

    def fit(s, params):
        model = AlternatingLeastSquares(**params, iterations=15, random_state=0)
        model.fit(s.X.astype(np.float32).tocsr(), show_progress=False)
        return model

    def lists(model, s, users):
        ids, _ = model.recommend(users, s.X.astype(np.float32).tocsr()[users], N=N_LIST,
                                 filter_already_liked_items=True)
        return np.asarray(ids, dtype=np.int64)
    return tune_lists(split, settings[OPTIONS["grid"]], fit, lists)


def _version(module):
    """The module's __version__ ("?" without one)."""
    import importlib
    return getattr(importlib.import_module(module), "__version__", "?")


SUITE_METHODS = {  # METHOD: (its library, its name, what runs it)
    "svd": ("surprise", "surprise SVD", lambda s: _surprise(
        s, "surprise SVD", lambda m: m.SVD(random_state=0))),
    "svdpp": ("surprise", "surprise SVD++", lambda s: _surprise(
        s, "surprise SVD++", lambda m: m.SVDpp(random_state=0))),
    "knnbaseline": ("surprise", "surprise KNNBaseline (item, pearson_baseline)",
                     lambda s: _surprise(s, "surprise KNNBaseline", lambda m: m.KNNBaseline(
                         sim_options={"name": "pearson_baseline", "user_based": False},
                         verbose=False))),
    "baselineonly": ("surprise", "surprise BaselineOnly", lambda s: _surprise(
        s, "surprise BaselineOnly", lambda m: m.BaselineOnly(verbose=False))),
    "myfm-ids": ("myfm", "myFM Bayesian FM, ids", lambda s: _myfm(s, False)),
    "myfm-implicit": ("myfm", "myFM Bayesian FM, ids + implicit", lambda s: _myfm(s, True)),
    "lenskit-itemknn": ("lenskit", "LensKit ItemKNN (explicit)",
                        lambda s: _lenskit_explicit(s, "knn")),
    "lenskit-biasedmf": ("lenskit", "LensKit BiasedMF (ALS)",
                         lambda s: _lenskit_explicit(s, "mf")),
    "lenskit-knn-lists": ("lenskit", "LensKit implicit ItemKNN (lists)", _lenskit_knn_lists),
    "cornac-mf": ("cornac", "cornac MF (use_bias=True)", _cornac),
    "implicit-als": ("implicit", "implicit ALS (lists)", _implicit_als),
}


def suite_main(argv):
    """One method of SUITE_METHODS on a split: its JSON object."""
    import argparse
    parser = argparse.ArgumentParser(description="one peer method on a split")
    parser.add_argument("method", choices=sorted(SUITE_METHODS))
    parser.add_argument("train")
    parser.add_argument("test")
    parser.add_argument("--budget", type=float, default=600.0)
    parser.add_argument("--grid", choices=["full", "small"], default="full")
    parser.add_argument("--val-users", type=int)
    parser.add_argument("--samples", type=int, default=512)
    args = parser.parse_args(argv)
    OPTIONS.update(budget=args.budget, grid=args.grid, val_users=args.val_users,
                   samples=args.samples)
    library, name, run = SUITE_METHODS[args.method]
    split = Split(read_frame(args.train), read_frame(args.test))
    found = run(split)
    return {"version": _version(library), "library": library, "name": name, "result": found,
            "peak_gb": peak_gb()}


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] in SUITE_METHODS:
        print(json.dumps(suite_main(sys.argv[1:])))
        sys.exit(0)
    what, *paths = sys.argv[1:]
    run = {"surprise": surprise_split, "surprise-svd": surprise_svd, "myfm": myfm_split}[what]
    print(json.dumps(run(*paths)))

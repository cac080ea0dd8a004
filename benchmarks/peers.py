"""The peers of bench_recommender.py, each run in a scratch virtual environment of its own.

    SURPRISE_PYTHON=/path/to/venv/bin/python  (numpy < 2, scikit-surprise, pandas)
    MYFM_PYTHON=/path/to/venv/bin/python      (myfm, pandas)

    $PYTHON bench_peers.py surprise TRAIN TEST     # SVD, SVD++, BaselineOnly, KNNBaseline
    $PYTHON bench_peers.py surprise-svd FILE       # SVD's fit alone, on a big file
    $PYTHON bench_peers.py myfm TRAIN TEST         # Bayesian FM: ids; ids + implicit

Each prints one JSON object: per algorithm its held-out RMSE (TEST's ratings whose user
and item TRAIN has) and its fit time, measured here so that the peer's own loading is not
counted. This file imports none of the project's modules: the peers' environments need not
have them, nor the project their packages (never in requirements.txt).
"""
import json
import sys
import time

import numpy as np
import pandas as pd


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
    import resource  # Unix only
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def surprise_split(train_path, test_path):
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
    from scipy import sparse
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


if __name__ == "__main__":
    what, *paths = sys.argv[1:]
    run = {"surprise": surprise_split, "surprise-svd": surprise_svd, "myfm": myfm_split}[what]
    print(json.dumps(run(*paths)))

"""Measuring a recommender on held-out ratings: RMSE beside the simple predictors, and the
calibration of its predicted uncertainty."""
import numpy as np

import common
from mixrec.ratings import as_ratings_matrix
from mixrec.lists import relevance_threshold, top_by_scores, top_n_all
from mixrec.serving import baseline_only, predict


def baseline_rmse(X_train, model, held_out, *, times=None):
    """Held-out RMSE of the simple predictors, on the pairs a model is scored on.

    Parameters
    ----------
    X_train : array_like or sparse array of shape (n, d)
        The ratings the model was fitted to.
    model : Model
    held_out : splits.Hidden
        ``rows``, ``cols`` (-1 for a user or item X_train lacks) and ``values``, each (m,).
    times : array_like of shape (m,) or None
        The held-out ratings' timestamps, for the baseline's day biases.

    Returns
    -------
    dict
        RMSE of the model's baseline alone, of the item means (the global mean for an item
        X_train lacks) and of the global mean.
    """
    rows, cols, values = held_out
    mean = global_mean(X_train)
    item_mean = np.append(item_means(X_train), mean)  # index -1: an unknown item
    return {
        "baseline (mean + user, item" + (", day" if len(model.days) else "") + " biases)":
            common.rmse(predict(baseline_only(model), rows, cols, unknown=True, times=times),
                        values),
        "item mean": common.rmse(item_mean[cols], values),
        "global mean": common.rmse(np.full(len(values), mean), values),
    }


def within_std(values, pred, std, widths=(1, 2)):
    """The fraction of ratings within each width of predicted standard deviations."""
    error = np.abs(np.asarray(values, dtype=float) - pred)
    if not (np.isfinite(error).all() and np.isfinite(std).all()):
        raise ValueError("values, pred and std must be finite numbers (a NaN is never within "
                         "any width: it would count as a miss, silently)")
    return [float(np.mean(error <= k * std)) for k in widths]


def global_mean(X):
    """The mean of the ratings of X (every stored entry of a sparse X; dense: 0 = missing)."""
    return float(_ratings(X).data.mean())


def item_means(X):
    """Each item's mean rating, shape (d,); the global mean for an item nobody rated."""
    X = _ratings(X)
    counts = np.bincount(X.indices, minlength=X.shape[1])
    sums = np.bincount(X.indices, weights=X.data, minlength=X.shape[1])
    return np.where(counts > 0, sums / np.maximum(counts, 1), X.data.mean())


def _ratings(X):
    X = as_ratings_matrix(X)
    if X.nnz == 0:
        raise ValueError("X holds no rating")
    return X


# ---------------------------------------------------------------------------------------
# Lists as users see them: precision, recall and NDCG at n

def list_scores(lists, users, relevant_rows, relevant_cols, n):
    """Mean precision, recall and NDCG at n of lists (u, n) for these users (u,), given the
    relevant (row, col) pairs; each user counts once. A list shorter than n (fewer items
    than n) counts its missing places as misses."""
    n = common.check_integer("n", n, 1)
    # the missing places are misses, so they are never built: n = 10**12 allocates nothing
    lists = np.asarray(lists)[:, :n]
    places = lists.shape[1]
    d_key = int(max(lists.max(initial=0), relevant_cols.max(initial=0))) + 1
    relevant_keys = np.unique(relevant_rows.astype(np.int64) * d_key + relevant_cols)
    list_keys = users[:, None].astype(np.int64) * d_key + np.maximum(lists, 0)
    hits = np.isin(list_keys, relevant_keys) & (lists >= 0)  # (u, places)
    n_relevant = np.bincount(np.searchsorted(users, relevant_rows), minlength=len(users))
    depth = min(n, max(places, int(n_relevant.max(initial=1))))  # the ideal list's too
    discount = 1 / np.log2(np.arange(2, depth + 2))
    dcg = hits @ discount[:places]
    ideal = np.cumsum(discount)[np.minimum(n_relevant, n) - 1]
    precision = hits.sum(axis=1) / n
    recall = hits.sum(axis=1) / n_relevant
    return float(precision.mean()), float(recall.mean()), float((dcg / ideal).mean())


def compare_lists(model, X_train, held_out, n=10):
    """Top-n lists judged on held-out ratings: the recommender, its cautious lists, the
    baseline's and the most popular items, for every user with a relevant held-out rating
    (one the model's items include, at or above ``relevance_threshold``).

    Each list ranks every item the user did not rate in training. Returns a dict: "users",
    "relevant" (the rule, in words) and "scores" {name: (precision, recall, NDCG)}.
    """
    n = common.check_integer("n", n, 1)
    rows, cols, values = held_out
    threshold = relevance_threshold(model.rating_range)
    relevant = (np.asarray(values) >= threshold) & (rows >= 0) & (cols >= 0)
    rel_rows, rel_cols = rows[relevant], cols[relevant]
    users = np.unique(rel_rows)
    out = {"users": len(users), "relevant": f"a held-out rating of {threshold:g} or more",
           "scores": {}}
    if len(users) == 0:
        return out
    d = len(model.item_bias)
    popularity = np.bincount(model.rated_indices, minlength=d).astype(float)
    def popular(block):
        return (np.broadcast_to(popularity, (len(block), d)),) * 2
    lists = {
        "mixture recommender, by chance of relevance": top_n_all(
            model, X_train, n, ranking="relevance", users=users).items,
        "mixture recommender, by predicted rating": top_n_all(
            model, X_train, n, ranking="rating", users=users).items,
        "mixture recommender, cautious (- 1 std)": top_n_all(
            model, X_train, n, ranking="cautious", users=users).items,
        "best baseline score": top_n_all(baseline_only(model), X_train, n, ranking="rating",
                                         users=users).items,
        "most popular": top_by_scores(popular, users, *_training_pattern(model, X_train), d,
                                      min(n, d))[0],  # no list is longer than the items
    }
    for name, chosen in lists.items():
        out["scores"][name] = list_scores(chosen, users, rel_rows, rel_cols, n)
    return out


def _training_pattern(model, X_train):
    if X_train is None:
        return model.rated_indptr, model.rated_indices
    X = as_ratings_matrix(X_train)
    return X.indptr, X.indices

"""Top-n lists: one user's best items, every user's at once, by a ranking of ``RANKINGS``.

Lists are judged by what users go on to rate highly (precision, recall, NDCG), so the
default ranking is by the chance of a relevant rating: the chance that the user rates the
item at all, times the chance that the rating is relevant (``relevance_key``). By
predicted rating alone a model of ratings lists items few users would ever rate.

Every list leaves out the items the user rated; every user's lists are scored by blocked
matrix products (``top_by_scores``), a few tens of MB at a time.
"""
from typing import NamedTuple

import numpy as np
from scipy.special import log_ndtr

from common import check_integer, check_pairs
from mixrec import parts
from mixrec.ratings import as_ratings_matrix
from mixrec.serving import (NewUser, check_model_shapes, predict, predict_known,
                            scores_of_user, scores_of_users)

RANKINGS = {
    "relevance": "the chance of a relevant rating (that the user rates the item, and rates "
                 "it in the top quarter of the scale)",
    "rating": "the predicted rating",
    "cautious": "the predicted rating minus one predictive standard deviation",
}
DEFAULT_RANKING = "relevance"
# Bytes of temporaries per block of a blocked product (top_n_all).
BLOCK_BYTES = 1 << 25


class TopN(NamedTuple):
    """A list (or, from ``top_n_all``, one list per row), best first."""

    items: np.ndarray  # item indices; -1 pads a list with fewer unrated items than n
    scores: np.ndarray  # the predicted ratings
    std: np.ndarray  # their predictive standard deviations
    key: np.ndarray  # what the list is ranked by (RANKINGS): a chance, a rating or a bound


def top_n(model, X, user, n=10, *, ranking=DEFAULT_RANKING, time=None):
    """A user's n best items among those they have not rated, best first.

    Parameters
    ----------
    model : Model
    X : array_like or sparse array of shape (n_users, d), or None
        The ratings the model was fitted to, whose items are left out; None takes the
        model's own record of them.
    user : int or NewUser
        A training user's index (a row of the training matrix; ``Recommender.recommend``
        takes ids), or a user placed by ``fold_in``.
    n : int, default 10
    ranking : str, default "relevance"
        One of ``RANKINGS``.
    time : float or None
        When the list is for (seconds): the user's day bias applies if they rated on that
        day in training; None, "now" for a recommendation, uses none.

    Returns
    -------
    TopN
        Each of shape (min(n, unrated),); ``key`` the chance of a relevant rating for
        "relevance", the rating or its lower bound otherwise.
    """
    check_model_shapes(model)
    n = check_integer("n", n, 1)
    ranking = check_ranking(ranking)
    d = len(model.item_bias)
    if isinstance(user, NewUser):
        rated = np.zeros(d, dtype=bool)
        listed = np.asarray(user.rated)
        if listed.ndim != 1 or listed.dtype.kind not in "iu" or (
                len(listed) and not 0 <= listed.min() <= listed.max() < d):
            raise ValueError(f"user.rated must hold item indices in 0..{d - 1} (a NewUser "
                             "from fold_in does)")
        rated[listed] = True
    else:
        rated = _rated_row(model, X, user)
    scores, std = scores_of_user(model, user, time=time, with_std=True)
    key = ranking_key(model, scores, std, ranking)
    candidates = np.flatnonzero(~rated)
    # the best n by key, ties broken by the lower index (a stable sort of the candidates)
    best = candidates[np.argsort(-key[candidates], kind="stable")[:n]]
    return TopN(best, scores[best], std[best], shown_key(key[best], ranking))


def check_ranking(ranking):
    """The ranking's name if it is one of RANKINGS, else ValueError listing them."""
    if not isinstance(ranking, str) or ranking not in RANKINGS:  # a list is unhashable
        raise ValueError(f"ranking must be one of {', '.join(RANKINGS)}, got {ranking!r}")
    return ranking


def relevance_threshold(rating_range):
    """The rating from which a rating counts as relevant: the top quarter of the scale (4 on
    1-5 and on 0.5-5 stars)."""
    low, high = (float(x) for x in rating_range)
    return low + 0.75 * (high - low)


def log_rating_chances(model):
    """log P(a user rates the item), (d,): proportional to 1 + its training count."""
    counts = np.bincount(model.rated_indices, minlength=len(model.item_bias))
    return np.log1p(counts) - np.log(np.sum(counts + 1.0))


def relevance_key(model, pred, std, items=None, log_rates=None):
    """``log P(the user rates the item) + log P(rating >= threshold | rated)``: the first
    taken as proportional to how often the item was rated in training (1 + its count, so
    that the chances over all items sum to 1), the second from the predictive distribution
    (a Gaussian of mean pred and sd std), in the log domain (``log_ndtr``, exact far in the
    tails). Any shape of pred and std whose last axis is the items, or of ``items`` (the
    item of each entry) when given; ``log_rates``, ``log_rating_chances(model)`` when the
    caller holds it (many blocks)."""
    threshold = relevance_threshold(model.rating_range)
    log_rates = log_rating_chances(model) if log_rates is None else log_rates
    if items is not None:
        log_rates = log_rates[items]
    # a std of 0 would divide by 0: floored relative to the ratings' spread, so that the
    # ranking is the same on any scale (an absolute floor reorders ratings of 1e-15 stars)
    floor = 1e-12 * float(model.scale)
    return log_ndtr((pred - threshold) / np.maximum(std, floor)) + log_rates


def ranking_key(model, pred, std, ranking, items=None, log_rates=None):
    """What a ranking sorts by, larger first: a log-chance, a rating or a lower bound."""
    if ranking == "relevance":
        return relevance_key(model, pred, std, items, log_rates)
    return pred - std if ranking == "cautious" else pred


def shown_key(key, ranking):
    """The key as shown: a chance (not its log) for "relevance"."""
    return np.exp(key) if ranking == "relevance" else key


def _rated_row(model, X, user):
    """Which items a training user rated: from X if given (checked against the model), else
    the model's pattern."""
    d = len(model.item_bias)
    rated = np.zeros(d, dtype=bool)
    if X is None:
        if isinstance(user, bool) or not (isinstance(user, (int, np.integer))
                                          and 0 <= user < len(model.user_bias)):
            return rated  # scores_of_user says what is wrong with the user
        rated[model.rated_indices[model.rated_indptr[user]:model.rated_indptr[user + 1]]] = True
        return rated
    X = as_ratings_matrix(X)
    if X.shape != (len(model.user_bias), d):
        raise ValueError(f"X must have the model's shape ({len(model.user_bias)}, {d}), got "
                         f"{X.shape}")
    if isinstance(user, (int, np.integer)) and 0 <= user < X.shape[0]:
        rated[X.indices[X.indptr[user]:X.indptr[user + 1]]] = True
    return rated


def top_n_all(model, X=None, n=10, *, ranking=DEFAULT_RANKING, users=None):
    """Every user's n best unrated items at once, by blocked matrix products.

    Parameters
    ----------
    model : Model
    X : sparse array of shape (n_users, d) or None
        The ratings to leave out; None takes the model's own record of them.
    n : int, default 10
        At most the number of items: a longer list could hold nothing more.
    ranking : str, default "relevance"
        One of ``RANKINGS``.
    users : array_like of int or None
        Only these users' lists (in this order); all by default.

    Returns
    -------
    TopN
        Each of shape (len(users), min(n, d)); items -1 (and the rest NaN) where a user has
        fewer unrated items.
    """
    check_model_shapes(model)
    n = check_integer("n", n, 1)
    ranking = check_ranking(ranking)
    n_users, d = len(model.user_bias), len(model.item_bias)
    n = min(n, d)  # a list of 10**9 of 40 items holds 40 (and allocates no more)
    indptr, indices = _pattern(model, X)
    if users is not None and np.ndim(users) != 1:
        raise ValueError(f"users must be a 1-D sequence of user indices, got shape "
                         f"{np.shape(users)}")
    users = np.arange(n_users) if users is None else check_pairs(
        np.asarray(users), np.zeros(len(np.asarray(users)), dtype=int), n_users, 1)[0]
    with_std = ranking != "rating"
    # Neighbour stages cost a sum over (ratings x list length) per block of users; the
    # lists are instead drawn from a shortlist by the rest of the blend, rescored in full.
    shortlisted = bool(len(model.knn_item_index) or len(model.knn_user_index))
    support = None if parts.summed(model) else parts.support_of(
        model, pairs=len(users) * min(n + SHORTLIST, d) if shortlisted else 0)

    log_rates = log_rating_chances(model)  # once, not per block

    def block_scores(block):
        pred, std = scores_of_users(model, block, with_std=with_std, support=support,
                                    neighbour_stages=not shortlisted)
        key = ranking_key(model, pred, std, ranking, log_rates=log_rates)
        if shortlisted:
            key, pred = _rescored(model, block, key, std, _rated_of(indptr, indices, block),
                                  n, ranking, support, log_rates)
        return key, pred

    # a block's (b, d) float64 arrays: the scores, the std and the key; a shortlist's
    # rescoring adds a copy of the key, the rescored key and scores, and a sort's temporary
    per_entry = (24 if with_std else 8) + (32 if shortlisted else 0)
    items, keys, scores = top_by_scores(block_scores, users, indptr, indices, d, n,
                                        bytes_per_entry=per_entry)
    found = items >= 0
    std = np.full(items.shape, np.nan)
    if found.any():
        rows = np.broadcast_to(users[:, None], items.shape)[found]
        std[found] = predict(model, rows, items[found], return_std=True)[1]
    return TopN(items, scores, std, np.where(found, shown_key(keys, ranking), np.nan))


# Items per user rescored in full beyond the n of a list (top_n_all, with neighbour stages).
SHORTLIST = 40


def _rescored(model, users, key, std, rated, n, ranking, support, log_rates):
    """The keys and predictions of each user's shortlist, every other item's key -inf.

    The shortlist is the ``n + SHORTLIST`` best unrated items by ``key`` (b, d), the key of
    the blend without its neighbour stages; each is rescored by the full prediction
    (``predict_known``, the same numbers as a pair's or a single user's list). ``std`` (b, d)
    is the block's, ``rated`` the (rows, items) each user rated, ``support`` and
    ``log_rates`` the model's, held by the caller. Returns the key and the predictions,
    (b, d) each: -inf and NaN off the shortlists.
    """
    b, d = key.shape
    key = key.copy()
    key[rated] = -np.inf
    size = min(n + SHORTLIST, d)
    shortlist = np.argpartition(-key, size - 1, axis=1)[:, :size] if size < d else \
        np.tile(np.arange(d), (b, 1))
    rows = np.repeat(np.arange(b), size)
    pred_short = predict_known(model, users[rows], shortlist.ravel(), support).reshape(b, size)
    std_short = np.take_along_axis(std, shortlist, axis=1)
    out_key, out_pred = np.full((b, d), -np.inf), np.full((b, d), np.nan)
    np.put_along_axis(out_key, shortlist, ranking_key(model, pred_short, std_short, ranking,
                                                      shortlist, log_rates), axis=1)
    np.put_along_axis(out_pred, shortlist, pred_short, axis=1)
    return out_key, out_pred


def _rated_of(indptr, indices, users):
    """The (row, item) positions each of the users rated, for indexing a (b, d) block."""
    counts = indptr[users + 1] - indptr[users]
    starts = np.repeat(indptr[users] - np.cumsum(counts) + counts, counts)
    rated = indices[starts + np.arange(counts.sum())] if counts.sum() else \
        np.zeros(0, dtype=int)
    return np.repeat(np.arange(len(users)), counts), rated


def _pattern(model, X):
    """The rated pattern to leave out: X's (checked against the model) or the model's."""
    if X is None:
        return model.rated_indptr, model.rated_indices
    X = as_ratings_matrix(X)
    if X.shape != (len(model.user_bias), len(model.item_bias)):
        raise ValueError(f"X must have the model's shape ({len(model.user_bias)}, "
                         f"{len(model.item_bias)}), got {X.shape}")
    return X.indptr, X.indices


def top_by_scores(block_scores, users, indptr, indices, d, n, bytes_per_entry=8):
    """The n best-keyed items of each user, leaving out the items each rated.

    Parameters
    ----------
    block_scores : callable
        ``block_scores(users) -> (key, value)``, each (len(users), d): the ranking key
        and the value reported, for a block of users.
    users : ndarray of int, shape (u,)
    indptr, indices : the CSR pattern of what each user rated (left out)
    d, n : int
    bytes_per_entry : int
        Of the temporaries block_scores makes, to size the blocks (BLOCK_BYTES each).

    Returns
    -------
    items : ndarray of int, shape (u, n), best first (ties: the lower index), -1 padded
    keys : ndarray of shape (u, n), the keys they were ranked by, NaN padded
    values : ndarray of shape (u, n), NaN padded
    """
    keep = min(n, d)
    items = np.full((len(users), keep), -1, dtype=np.int64)
    keys = np.full((len(users), keep), np.nan)
    values = np.full((len(users), keep), np.nan)
    block = max(1, BLOCK_BYTES // (bytes_per_entry * d))
    for first in range(0, len(users), block):
        chosen_users = users[first:first + block]
        key, value = block_scores(chosen_users)
        key = np.array(key, dtype=float)  # a copy: rated items are marked in it
        key[_rated_of(indptr, indices, chosen_users)] = -np.inf
        top = np.argpartition(-key, keep - 1, axis=1)[:, :keep] if keep < d else \
            np.tile(np.arange(d), (len(chosen_users), 1))
        # best first, ties broken by the lower index (as top_n's stable sort)
        order = np.lexsort((top, -np.take_along_axis(key, top, axis=1)), axis=1)
        top = np.take_along_axis(top, order, axis=1)
        top_keys = np.take_along_axis(key, top, axis=1)
        valid = np.isfinite(top_keys)
        rows = slice(first, first + len(chosen_users))
        items[rows] = np.where(valid, top, -1)
        keys[rows] = np.where(valid, top_keys, np.nan)
        values[rows] = np.where(valid, np.take_along_axis(value, top, axis=1), np.nan)
    return items, keys, values

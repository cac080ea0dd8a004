"""Using a fitted model: predictions with their uncertainty, top-n lists, taste groups,
and new users placed without a refit.

Every function here works in bounded memory: pairs are scored in chunks of a few tens of
MB (``products.pairwise_dot``), lists for every user in blocks of users (``top_n_all``); no
(n, d) array is ever made. Each takes a model from ``fit`` or ``load`` (both check it in
full) and checks that its shapes fit together.
"""
from typing import NamedTuple

import numpy as np
from scipy.special import log_ndtr

import em
from common import check_integer, check_pairs
from mixrec import baseline
from mixrec.model import ITEMS_AS_ROWS, MAX_RATING, USERS_AS_ROWS, Model, check_shapes
from mixrec.ratings import as_ratings_matrix
from products import pairwise_dot

# Bytes of temporaries per block of a blocked product (top_n_all); pairs: products.CHUNK_BYTES.
BLOCK_BYTES = 1 << 25


def predict(model, rows, cols, *, unknown=False, return_std=False, times=None):
    """Predicted ratings of (user, item) pairs, clipped to the training ratings' range.

    Parameters
    ----------
    model : Model
    rows, cols : array_like of int, shape (m,)
        Users and items, as indices 0..n-1 and 0..d-1 of the training matrix.
    unknown : bool, default False
        Whether -1 may stand for a user or item the training matrix lacks (as
        ``ids.index_of`` gives it); such a pair gets the baseline without that side's
        terms. Otherwise -1 is out of range, like any other.
    return_std : bool, default False
        Also return the standard deviation of the predictive distribution. The last stage
        with users as rows predicts (u, l) as ``sum_c w[u, c] N(m[l, c], v[l, c])``, whose
        variance is ``sum_c w[u, c] (v[l, c] + m[l, c]^2) - (sum_c w[u, c] m[l, c])^2``:
        the spread of the components' predictions plus their own uncertainty, ``v[l, c] =
        var_c (1 + 1 / max(support[l, c] + lambda, 1))``, the noise of a rating plus that
        of a mean estimated from that much support. A user that stage never saw (or a
        model without such a stage) gets ``cold_var``.
    times : array_like of shape (m,) or None
        Each pair's timestamp in seconds (NaN where unknown): the user's bias of that day
        applies where the user rated on that day in training.

    Returns
    -------
    pred : ndarray of shape (m,)
    std : ndarray of shape (m,), only with return_std
    """
    check_model_shapes(model)
    rows, cols = np.asarray(rows), np.asarray(cols)
    times = _check_pair_times(times, len(rows)) if np.ndim(rows) == 1 else times
    n, d = len(model.user_bias), len(model.item_bias)
    rows, cols = check_pairs(rows, cols, n, d, unknown=unknown)
    pred = np.empty(len(rows))
    std = np.empty(len(rows)) if return_std else None
    terms = _spread_terms(model) if return_std else None  # once, not per chunk
    # pair by chunk, so that no temporary grows with the number of pairs: the outputs are
    # all that predict adds, whatever their number
    for start in range(0, len(rows), PAIRS_PER_CHUNK):
        chunk = slice(start, start + PAIRS_PER_CHUNK)
        found = _predict_chunk(model, rows[chunk], cols[chunk], unknown,
                               None if times is None else times[chunk], terms)
        pred[chunk] = found[0]
        if return_std:
            std[chunk] = found[1]
    return (pred, std) if return_std else pred


# Pairs predicted at a time: a few tens of MB of temporaries, whatever the number of pairs.
PAIRS_PER_CHUNK = 1 << 16


def _predict_chunk(model, rows, cols, unknown, times, terms):
    """predict for one chunk of pairs (checked); the std too when given its terms."""
    rows, cols, user_known, item_known = _pairs(rows, cols, unknown)
    known_rows = np.where(user_known, rows, -1)
    known_cols = np.where(item_known, cols, -1)
    pred = baseline.predict(_baseline_of(model), known_rows, known_cols, times)
    both = user_known & item_known
    pred += np.where(both, pairwise_dot(model.user_factors.T, model.item_factors.T,
                                           rows, cols), 0)
    pred = np.clip(pred, *model.rating_range, out=pred)
    if terms is None:
        return pred, None
    return pred, np.sqrt(_predictive_var(model, terms, rows, cols, user_known, item_known))


def check_model_shapes(model):
    """ValueError unless model is a Model whose arrays' shapes fit together (cheap: the
    values were checked in full by fit or load)."""
    if not isinstance(model, Model):
        raise ValueError(f"model must be a mixrec.Model, got {type(model).__name__}")
    check_shapes({name: np.shape(value) for name, value in model._asdict().items()})
    return model


def _pairs(rows, cols, unknown):
    """Checked indices with -1 looked up as 0 where unknown is allowed, and known flags."""
    user_known, item_known = np.ones(rows.shape, bool), np.ones(cols.shape, bool)
    if unknown:  # look -1 up as index 0, then drop its terms
        user_known, item_known = rows != -1, cols != -1
        rows, cols = np.where(user_known, rows, 0), np.where(item_known, cols, 0)
    return rows, cols, user_known, item_known


def _check_pair_times(times, m):
    """Timestamps as float (m,), or None (``baseline.check_times``)."""
    return None if times is None else baseline.check_times(times, m)


def _check_time(time):
    """A list's time: None, or seconds within ``baseline.TIME_RANGE``."""
    return None if time is None else float(baseline.check_times([time], 1, "time")[0])


def _baseline_of(model):
    return baseline.Baseline(float(model.mean), model.user_bias, model.item_bias,
                             model.day_users, model.days, model.day_bias)


def _last_columns(model):
    """The column slice of the last stage with users as rows, or None."""
    stages = np.flatnonzero(model.stage_sides == USERS_AS_ROWS)
    if len(stages) == 0:
        return None
    last = stages[-1]
    return slice(int(model.stage_columns[last]), int(model.stage_columns[last + 1]))


def _last_weights(model):
    """Each user's averaged posteriors in the last user stage, (n, s) (or (n, 0))."""
    columns = _last_columns(model)
    if columns is None:
        return np.zeros((len(model.user_bias), 0), dtype=np.float32)
    return model.user_factors[:, columns]


def _noise_and_means(model):
    """The last user stage's per-component noise (with the mean's uncertainty) and means,
    each (d, s), and the noise of an item that stage never saw, (s,)."""
    columns = _last_columns(model)
    s = 0 if columns is None else columns.stop - columns.start
    var = model.mixture_var[len(model.mixture_var) - s:]
    means = model.item_factors[:, columns] if columns is not None else \
        np.zeros((len(model.item_bias), 0))
    noise = var * (1 + 1 / np.maximum(model.last_support + model.mean_prior, 1))
    unknown_noise = var * (1 + 1 / max(float(model.mean_prior), 1))
    return noise, means, unknown_noise


class _SpreadTerms(NamedTuple):
    """What the predictive variance needs of a model, computed once per call."""
    weights: np.ndarray  # (n, s) the last user stage's averaged posteriors
    second_t: np.ndarray  # (s, d) each component's noise plus its mean squared
    means_t: np.ndarray  # (s, d)
    cold_item: np.ndarray  # (n,) each user's variance at an item the stage never saw
    seen: np.ndarray  # (n,) bool, whether the stage saw the user


def _spread_terms(model):
    noise, means, unknown_noise = _noise_and_means(model)
    weights = _last_weights(model)
    cold_item = weights.astype(float) @ unknown_noise if len(unknown_noise) else \
        np.zeros(len(weights))
    return _SpreadTerms(weights, (noise + means ** 2).T, means.T, cold_item,
                        weights.sum(axis=1) > 0)


def _predictive_var(model, terms, rows, cols, user_known, item_known):
    """The variance of the last user stage's mixture at each pair (see ``predict``)."""
    weights_t = terms.weights.T  # (s, n)
    spread = (pairwise_dot(weights_t, terms.second_t, rows, cols)
              - pairwise_dot(weights_t, terms.means_t, rows, cols) ** 2)
    var = np.where(item_known, spread, terms.cold_item[rows])
    seen = user_known & terms.seen[rows]
    return np.where(seen, np.maximum(var, 0), model.cold_var)


# ---------------------------------------------------------------------------------------
# Lists: one user's best items, every user's at once

def top_n(model, X, user, n=10, *, cautious=False, relevant=False, time=None):
    """The n items a user has not rated with the best predicted rating, best first.

    With ``cautious``, ranked by a lower confidence bound instead, the prediction minus one
    predictive standard deviation: a sure 4 before an uncertain 4.2. With ``relevant``,
    ranked by the chance that the user rates the item and finds it relevant
    (``relevance_key``): what lists are judged by (precision, recall, NDCG).

    Parameters
    ----------
    model : Model
    X : array_like or sparse array of shape (n_users, d), or None
        The ratings the model was fitted to, whose items are left out; None takes the
        model's own record of them.
    user : int or NewUser
        A training user's index, or a user placed by ``fold_in``.
    n : int, default 10
    cautious : bool, default False
    relevant : bool, default False
    time : float or None
        When the list is for (seconds): the user's day bias applies if they rated on that
        day in training; None, "now" for a recommendation, uses none.

    Returns
    -------
    items : ndarray of int, shape (min(n, unrated),)
    scores : ndarray of shape (min(n, unrated),)
        The predicted ratings of those items (not the cautious bound).
    """
    check_model_shapes(model)
    n = check_integer("n", n, 1)
    time = _check_time(time)
    d = len(model.item_bias)
    if isinstance(user, NewUser):
        rated = np.zeros(d, dtype=bool)
        rated[user.rated] = True
        scores, std = predict_new(model, user, np.arange(d), return_std=True, time=time)
    else:
        user = _check_user(model, user)
        rated = _rated_row(model, X, user)
        scores, std = _one_user_scores(model, user, time, cautious or relevant)
    key = _ranking_key(model, scores, std, cautious, relevant)
    candidates = np.flatnonzero(~rated)
    # the best n by key, ties broken by the lower index (a stable sort of the candidates)
    best = candidates[np.argsort(-key[candidates], kind="stable")[:n]]
    return best, scores[best]


def relevance_threshold(rating_range):
    """The rating from which a rating counts as relevant: the top quarter of the scale (4 on
    1-5 and on 0.5-5 stars)."""
    low, high = (float(x) for x in rating_range)
    return low + 0.75 * (high - low)


def relevance_key(model, pred, std):
    """``log P(the user rates the item) + log P(rating >= threshold | rated)``, up to a
    constant: the first taken as proportional to how often the item was rated in training
    (1 + its count), the second from the predictive distribution (a Gaussian of mean pred
    and sd std), in the log domain (``log_ndtr``, exact far in the tails).

    Ranking by predicted rating alone lists items few users would ever rate (a model of
    ratings knows nothing of which items get rated): this ranks by the chance of a
    relevant rating, as lists are judged.
    """
    counts = np.bincount(model.rated_indices, minlength=len(model.item_bias))
    threshold = relevance_threshold(model.rating_range)
    return log_ndtr((pred - threshold) / np.maximum(std, 1e-12)) + np.log1p(counts)


def _ranking_key(model, pred, std, cautious, relevant):
    if relevant:
        return relevance_key(model, pred, std)
    return pred - std if cautious else pred


def _check_user(model, user):
    n_users = len(model.user_bias)
    if isinstance(user, bool) or not isinstance(user, (int, np.integer)) or \
            not 0 <= user < n_users:
        raise ValueError(f"user must be an integer in 0..{n_users - 1} or a NewUser, got "
                         f"{user!r}")
    return int(user)


def _rated_row(model, X, user):
    """Which items the user rated: from X if given (checked against the model), else the
    model's pattern."""
    d = len(model.item_bias)
    rated = np.zeros(d, dtype=bool)
    if X is None:
        rated[model.rated_indices[model.rated_indptr[user]:model.rated_indptr[user + 1]]] = True
        return rated
    X = as_ratings_matrix(X)
    if X.shape != (len(model.user_bias), d):
        raise ValueError(f"X must have the model's shape ({len(model.user_bias)}, {d}), got "
                         f"{X.shape}")
    rated[X.indices[X.indptr[user]:X.indptr[user + 1]]] = True
    return rated


def _one_user_scores(model, user, time, with_std):
    """Predictions (and std, or zeros) of one training user for every item: matrix-vector
    products, no gather."""
    d = len(model.item_bias)
    times = None if time is None else np.full(d, float(time))
    base = baseline.predict(_baseline_of(model), np.full(d, user), np.arange(d), times)
    scores = np.clip(base + model.item_factors @ model.user_factors[user], *model.rating_range)
    if not with_std:
        return scores, np.zeros(d)
    weights = _last_weights(model)[user].astype(float)
    return scores, np.sqrt(_var_of_weights(model, weights))


def _var_of_weights(model, weights):
    """The predictive variance of every item for a user with these last-stage weights."""
    if weights.sum() <= 0:
        return np.full(len(model.item_bias), float(model.cold_var))
    noise, means, _ = _noise_and_means(model)
    spread = (noise + means ** 2) @ weights - (means @ weights) ** 2
    return np.maximum(spread, 0)


def top_n_all(model, X=None, n=10, *, cautious=False, relevant=False, users=None):
    """Every user's n best unrated items at once, by blocked matrix products.

    Parameters
    ----------
    model : Model
    X : sparse array of shape (n_users, d) or None
        The ratings to leave out; None takes the model's own record of them.
    n : int, default 10
    cautious : bool, default False
        Rank by prediction minus one predictive standard deviation.
    relevant : bool, default False
        Rank by the chance of a relevant rating (``relevance_key``).
    users : array_like of int or None
        Only these users' lists (in this order); all by default.

    Returns
    -------
    items : ndarray of int, shape (len(users), n)
        -1 where a user has fewer than n unrated items.
    scores, std : ndarray of shape (len(users), n)
        Predicted rating and its standard deviation (NaN where items is -1).
    """
    check_model_shapes(model)
    n = check_integer("n", n, 1)
    n_users, d = len(model.user_bias), len(model.item_bias)
    indptr, indices = _pattern(model, X)
    users = np.arange(n_users) if users is None else check_pairs(
        np.asarray(users), np.zeros(len(np.asarray(users)), dtype=int), n_users, 1)[0]

    def block_scores(block):
        pred, std = _block_scores(model, block, cautious or relevant)
        return _ranking_key(model, pred, std, cautious, relevant), pred
    items, scores = top_by_scores(block_scores, users, indptr, indices, d, n,
                                  bytes_per_entry=24 if cautious or relevant else 8)
    found = items >= 0
    std = np.full(items.shape, np.nan)
    if found.any():
        rows = np.broadcast_to(users[:, None], items.shape)[found]
        std[found] = np.sqrt(_predictive_var(model, _spread_terms(model), rows, items[found],
                                             np.ones(found.sum(), bool),
                                             np.ones(found.sum(), bool)))
    return items, scores, std


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
    values : ndarray of shape (u, n), NaN padded
    """
    keep = min(n, d)
    items = np.full((len(users), n), -1, dtype=np.int64)
    values = np.full((len(users), n), np.nan)
    block = max(1, BLOCK_BYTES // (bytes_per_entry * d))
    for first in range(0, len(users), block):
        chosen_users = users[first:first + block]
        key, value = block_scores(chosen_users)
        key = np.array(key, dtype=float)  # a copy: rated items are marked in it
        counts = indptr[chosen_users + 1] - indptr[chosen_users]
        starts = np.repeat(indptr[chosen_users] - np.cumsum(counts) + counts, counts)
        rated = indices[starts + np.arange(counts.sum())] if counts.sum() else \
            np.zeros(0, dtype=int)
        key[np.repeat(np.arange(len(chosen_users)), counts), rated] = -np.inf
        top = np.argpartition(-key, keep - 1, axis=1)[:, :keep] if keep < d else \
            np.tile(np.arange(d), (len(chosen_users), 1))
        # best first, ties broken by the lower index (as top_n's stable sort)
        order = np.lexsort((top, -np.take_along_axis(key, top, axis=1)), axis=1)
        top = np.take_along_axis(top, order, axis=1)
        valid = np.isfinite(np.take_along_axis(key, top, axis=1))
        rows = slice(first, first + len(chosen_users))
        items[rows, :keep] = np.where(valid, top, -1)
        values[rows, :keep] = np.where(valid, np.take_along_axis(value, top, axis=1), np.nan)
    return items, values


def _block_scores(model, users, with_std):
    """Predictions (and std, or zeros) of a block of users for every item, (b, d) each."""
    pred = (float(model.mean) + model.user_bias[users][:, None] + model.item_bias[None, :]
            + model.user_factors[users] @ model.item_factors.T)
    pred = np.clip(pred, *model.rating_range)
    if not with_std:
        return pred, np.zeros_like(pred)
    weights = _last_weights(model)[users].astype(float)
    noise, means, _ = _noise_and_means(model)
    var = weights @ (noise + means ** 2).T - (weights @ means.T) ** 2
    unseen = weights.sum(axis=1) <= 0
    var[unseen] = float(model.cold_var)
    return pred, np.sqrt(np.maximum(var, 0))


# ---------------------------------------------------------------------------------------
# New users: placed from their ratings alone, without a refit

class NewUser(NamedTuple):
    """A user the model never saw, placed by ``fold_in``; ``predict_new`` and ``top_n`` take it."""

    bias: float
    factors: np.ndarray  # (r,): the user's row of user_factors
    days: np.ndarray  # (m,) day numbers of the days they rated on
    day_bias: np.ndarray  # (m,)
    rated: np.ndarray  # item indices they rated (left out of their lists)


def fold_in(model, items, ratings, *, times=None, epochs=10):
    """Place a user the model has never seen, from their ratings alone.

    The same steps as the fit, for one user and with everything else held fixed: the user's
    bias (and day biases) in closed form against the items' biases; then, stage by stage
    on what the previous stages leave, a stage with users as rows gives the user its
    posteriors by the E-step (the course's formula, seed by seed), and a compressed stage
    with items as rows places the user by the ridge regression its ``fold_ridge`` was
    calibrated for (the closed-form mean update, in the stage's columns). Milliseconds.

    Parameters
    ----------
    model : Model
    items : array_like of int, shape (m,)
        The items the user rated, as indices of the model (-1 for items it lacks: they are
        left out).
    ratings : array_like of shape (m,)
    times : array_like of shape (m,) or None
        Timestamps in seconds, for day biases.
    epochs : int, default 10
        Alternating updates of the user's biases.

    Returns
    -------
    NewUser
    """
    check_model_shapes(model)
    epochs = check_integer("epochs", epochs, 0)
    items, ratings, times = _check_new_ratings(model, items, ratings, times)
    item_bias = model.item_bias[items]
    day_of, days = _day_groups(times)
    bias, day_bias = 0.0, np.zeros(len(days))
    day_term = np.zeros(len(items))
    for _ in range(epochs):
        bias = float(np.sum(ratings - model.mean - item_bias - day_term) / (model.user_reg
                                                                            + len(items)))
        if len(days):
            left = ratings - model.mean - item_bias - bias
            dated = day_of >= 0
            day_bias = np.bincount(day_of[dated], left[dated], len(days)) / (
                model.day_reg + np.bincount(day_of[dated], minlength=len(days)))
            day_term = np.where(dated, day_bias[np.maximum(day_of, 0)], 0)
    scale = float(model.scale)
    residual = (ratings - model.mean - item_bias - bias - day_term) / scale
    factors = np.zeros(model.user_factors.shape[1])
    user_columns = 0  # position among the user stages' mixture components
    for stage, side in enumerate(model.stage_sides):
        columns = slice(int(model.stage_columns[stage]), int(model.stage_columns[stage + 1]))
        basis = model.item_factors[items, columns].astype(float) / scale  # (m, c)
        width = basis.shape[1]
        if side == ITEMS_AS_ROWS:
            ridge = float(model.fold_ridge[stage])
            placed = np.linalg.solve(basis.T @ basis + ridge * np.eye(width), basis.T @ residual)
        else:
            var = model.mixture_var[user_columns:user_columns + width] / scale ** 2
            p = model.mixture_p[user_columns:user_columns + width]
            placed = _posteriors(residual, basis, var, p, int(model.n_components))
            user_columns += width
        factors[columns] = placed
        residual = residual - basis @ placed
    return NewUser(bias, factors.astype(model.user_factors.dtype), days, day_bias, items)


def _check_new_ratings(model, items, ratings, times):
    """A new user's known items (unknown ones left out), ratings and times."""
    items, ratings = np.asarray(items), np.asarray(ratings, dtype=float)
    if items.ndim != 1 or items.dtype.kind not in "iu" or items.shape != ratings.shape:
        raise ValueError(f"items must be a 1-D array of item indices and ratings one rating "
                         f"each, got {items.dtype} {items.shape} and {ratings.shape}")
    times = None if times is None else _check_pair_times(times, len(items))
    d = len(model.item_bias)
    if len(items) and (items.min() < -1 or items.max() >= d):
        raise ValueError(f"items must lie in 0..{d - 1} (or -1 for an unknown item)")
    if not np.isfinite(ratings).all() or (len(ratings) and np.abs(ratings).max() > MAX_RATING):
        raise ValueError(f"ratings must be finite numbers within +-{MAX_RATING:g}")
    known = items >= 0
    if len(np.unique(items[known])) != known.sum():
        raise ValueError("items must name each item once")
    return items[known], ratings[known], None if times is None else times[known]


def _day_groups(times):
    """Each rating's day (position among the distinct days, -1 without a time), the days."""
    if times is None:
        return np.full(0, -1), np.zeros(0, dtype=np.int64)
    numbers = baseline.day_numbers(times)
    dated = ~np.isnan(times)
    days, day_of = np.unique(numbers[dated], return_inverse=True)
    out = np.full(len(times), -1)
    out[dated] = day_of
    return out, days


def _posteriors(residual, means, var, p, K):
    """A user's posteriors in each seed's mixture of a user stage, averaged over the seeds
    as the stage's columns hold them: the E-step for one user (``em.estep``'s formula).

    ``means`` (m, S K) are the components' means at the user's m rated items."""
    if len(residual) == 0:
        return np.zeros(len(var))
    sq_dist = ((residual[:, None] - means) ** 2).sum(axis=0)  # (S K,)
    log_joint = (np.log(p + 1e-16) - sq_dist / (2 * var)
                 - len(residual) / 2 * np.log(2 * np.pi * var)).reshape(-1, K)
    log_post = log_joint - em.logsumexp_columns(log_joint.T)[:, None]
    return np.exp(log_post).ravel() / (len(var) // K)


def predict_new(model, user, cols, *, return_std=False, time=None):
    """``predict`` for a user placed by ``fold_in``: predictions at items ``cols`` (m,)."""
    check_model_shapes(model)
    if not isinstance(user, NewUser):
        raise ValueError(f"user must be a NewUser from fold_in, got {type(user).__name__}")
    cols = check_pairs(np.zeros(len(np.asarray(cols)), dtype=int), cols, 1,
                       len(model.item_bias))[1]
    time = _check_time(time)
    day = 0.0
    if time is not None and len(user.days):
        found = np.flatnonzero(user.days == baseline.day_numbers([time])[0])
        day = float(user.day_bias[found[0]]) if len(found) else 0.0
    pred = (float(model.mean) + user.bias + day + model.item_bias[cols]
            + model.item_factors[cols] @ user.factors)
    pred = np.clip(pred, *model.rating_range)
    if not return_std:
        return pred
    columns = _last_columns(model)
    weights = np.zeros(0) if columns is None else user.factors[columns].astype(float)
    return pred, np.sqrt(_var_of_weights(model, weights)[cols])


# ---------------------------------------------------------------------------------------
# Reading the model: its taste groups, its baseline alone

class Group(NamedTuple):
    """A taste group: its weight, and the items it rates most above and below the baseline."""

    weight: float
    above: np.ndarray  # item indices, most above the baseline first
    above_by: np.ndarray  # by how many rating units
    below: np.ndarray  # item indices, most below first
    below_by: np.ndarray  # (negative) rating units


def groups(model, n=5, *, candidates=None):
    """The taste groups of the model, largest first: what a factorisation cannot show.

    Parameters
    ----------
    model : Model
    n : int, default 5
        How many items to name on each side.
    candidates : array_like of bool, shape (d,), or None
        The items that may be named (e.g. those with enough ratings to be known); all by
        default.

    Returns
    -------
    list of Group
        One per mixture component of ``group_mu``, by decreasing weight.
    """
    check_model_shapes(model)
    n = check_integer("n", n, 1)
    d = len(model.item_bias)
    allowed = np.ones(d, bool) if candidates is None else np.asarray(candidates, dtype=bool)
    if allowed.shape != (d,):
        raise ValueError(f"candidates must have shape ({d},), got {allowed.shape}")
    pool = np.flatnonzero(allowed)
    out = []
    for j in np.argsort(-model.group_p, kind="stable"):
        order = pool[np.argsort(-model.group_mu[j, pool], kind="stable")]
        above, below = order[:n], order[::-1][:n]
        out.append(Group(float(model.group_p[j]), above, model.group_mu[j, above],
                         below, model.group_mu[j, below]))
    return out


def baseline_only(model):
    """The model without its mixture stages: the mean plus the biases alone."""
    check_model_shapes(model)
    return model._replace(user_factors=model.user_factors[:, :0],
                          item_factors=model.item_factors[:, :0],
                          stage_columns=np.zeros(1, dtype=np.int64),
                          stage_sides=model.stage_sides[:0], fold_ridge=model.fold_ridge[:0],
                          mixture_var=model.mixture_var[:0], mixture_p=model.mixture_p[:0],
                          last_support=model.last_support[:, :0])

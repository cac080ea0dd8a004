"""Using a fitted model: predictions with their uncertainty, top-n lists, taste groups,
and new users placed without a refit.

Every function here works in bounded memory: pairs are scored in chunks of a few tens of
MB (``products.pairwise_dot``), lists for every user in blocks of users (``top_n_all``); no
(n, d) array is ever made. Each takes a model from ``fit`` or ``load`` (both check it in
full) and checks that its shapes fit together.
"""
from typing import NamedTuple

import numpy as np

import em
from common import check_integer, check_pairs
from mixrec import baseline, parts
from mixrec.model import (ITEMS_AS_ROWS, MAX_RATING, USERS_AS_ROWS, Model, check_shapes,
                          without_blend)
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
    if not unknown:
        for name, index in (("rows", rows), ("cols", cols)):
            if index.size and index.dtype.kind == "i" and index.min() == -1:
                raise ValueError(f"{name} holds -1, an id ids.index_of did not find: pass "
                                 "unknown=True to score such pairs by the baseline (or ask "
                                 "mixrec.Recommender, in ids)")
    rows, cols = check_pairs(rows, cols, n, d, unknown=unknown)
    pred = np.empty(len(rows))
    std = np.empty(len(rows)) if return_std else None
    terms = _spread_terms(model) if return_std else None  # once, not per chunk
    support = parts.support_of(model, pairs=len(rows)) if not parts.summed(model) else None
    # pair by chunk, so that no temporary grows with the number of pairs: the outputs are
    # all that predict adds, whatever their number
    for start in range(0, len(rows), PAIRS_PER_CHUNK):
        chunk = slice(start, start + PAIRS_PER_CHUNK)
        found = _predict_chunk(model, rows[chunk], cols[chunk], unknown,
                               None if times is None else times[chunk], terms, support)
        pred[chunk] = found[0]
        if return_std:
            std[chunk] = found[1]
    return (pred, std) if return_std else pred


# Pairs predicted at a time: a few tens of MB of temporaries, whatever the number of pairs.
PAIRS_PER_CHUNK = 1 << 16


def _predict_chunk(model, rows, cols, unknown, times, terms, support=None):
    """predict for one chunk of pairs (checked); the std too when given its terms."""
    rows, cols, user_known, item_known = _pairs(rows, cols, unknown)
    pred = parts.blended_at_pairs(model, rows, cols, user_known, item_known, times, support)
    pred = np.clip(pred, *model.rating_range, out=pred)
    if terms is None:
        return pred, None
    var = _predictive_var(model, terms, rows, cols, user_known, item_known)
    return pred, np.sqrt(var) * float(model.std_factor)


def predict_known(model, rows, cols, support):
    """Clipped predictions of known, checked pairs (m,), with the model's ``parts.Support``
    held by the caller (lists, block after block)."""
    return _predict_chunk(model, rows, cols, False, None, None, support)[0]


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


def check_time(time):
    """A list's time: None, or seconds within ``baseline.TIME_RANGE``."""
    return None if time is None else float(baseline.check_times([time], 1, "time")[0])


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
# Every item's scores at once, for lists (``lists.py``)

def scores_of_user(model, user, *, time=None, with_std=True):
    """A user's predictions (and std, or zeros) for every item, shape (d,) each: a training
    user's (an index) by matrix-vector products, or a NewUser's."""
    check_model_shapes(model)
    time = check_time(time)
    d = len(model.item_bias)
    if isinstance(user, NewUser):
        if with_std:
            return predict_new(model, user, np.arange(d), return_std=True, time=time)
        return predict_new(model, user, np.arange(d), time=time), np.zeros(d)
    user = check_user(model, user)
    scores = parts.for_users(model, np.array([user]),
                             None if time is None else np.array([time]))[0]
    scores = np.clip(scores, *model.rating_range)
    if not with_std:
        return scores, np.zeros(d)
    weights = _last_weights(model)[user].astype(float)
    return scores, np.sqrt(_var_of_weights(model, weights)) * float(model.std_factor)


def scores_of_users(model, users, *, with_std=True, neighbour_stages=True, support=None):
    """Predictions (and std, or zeros) of a block of training users for every item, (b, d)
    each, by matrix products (``neighbour_stages=False``: without them, as
    ``parts.for_users``; ``support``, the model's ``parts.Support`` for many blocks)."""
    pred = np.clip(parts.for_users(model, users, support=support,
                                   neighbour_stages=neighbour_stages), *model.rating_range)
    if not with_std:
        return pred, np.zeros_like(pred)
    weights = _last_weights(model)[users].astype(float)
    noise, means, _ = _noise_and_means(model)
    var = weights @ (noise + means ** 2).T - (weights @ means.T) ** 2
    unseen = weights.sum(axis=1) <= 0
    var[unseen] = float(model.cold_var)
    return pred, np.sqrt(np.maximum(var, 0)) * float(model.std_factor)


def check_user(model, user):
    """A training user's index as an int, or ValueError."""
    n_users = len(model.user_bias)
    if isinstance(user, bool) or not isinstance(user, (int, np.integer)) or \
            not 0 <= user < n_users:
        raise ValueError(f"user must be an integer in 0..{n_users - 1} (a row of the "
                         f"training matrix; mixrec.Recommender takes ids) or a NewUser, got "
                         f"{user!r}")
    return int(user)


def _var_of_weights(model, weights):
    """The predictive variance of every item for a user with these last-stage weights."""
    if weights.sum() <= 0:
        return np.full(len(model.item_bias), float(model.cold_var))
    noise, means, _ = _noise_and_means(model)
    spread = (noise + means ** 2) @ weights - (means @ weights) ** 2
    return np.maximum(spread, 0)


# ---------------------------------------------------------------------------------------
# New users: placed from their ratings alone, without a refit

class NewUser(NamedTuple):
    """A user the model never saw, placed by ``fold_in``; ``predict_new`` and ``top_n`` take it."""

    bias: float
    factors: np.ndarray  # (r,): the user's row of user_factors
    days: np.ndarray  # (m,) day numbers of the days they rated on
    day_bias: np.ndarray  # (m,)
    rated: np.ndarray  # item indices they rated (left out of their lists)
    residual: np.ndarray  # their residuals there, in units of model.scale (neighbours)
    neighbours: np.ndarray  # (k,) the training users nearest them, for the user neighbour
    neighbour_scores: np.ndarray  # (k,) stage, and their log weights


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
    epochs = baseline.check_epochs("epochs", epochs)
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
    first_residual = residual  # the baseline's, which the neighbour stages average
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
    nearest = parts.new_user_list(model, items, first_residual)
    return NewUser(bias, factors.astype(model.user_factors.dtype), days, day_bias, items,
                   first_residual, nearest.index, nearest.score)


def _check_new_ratings(model, items, ratings, times):
    """A new user's known items (unknown ones left out), ratings and times."""
    try:
        ratings = np.asarray(ratings, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"ratings must be numbers, got {display_of(ratings)}") from None
    items = np.asarray(items)
    if items.size == 0 and items.ndim == 1:  # [] is float to numpy: no item, no rating
        items = items.astype(np.int64)
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


def display_of(value, limit=60):
    """A value's repr for a message, cut to a line."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


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
    time = check_time(time)
    day = 0.0
    if time is not None and len(user.days):
        found = np.flatnonzero(user.days == baseline.day_numbers([time])[0])
        day = float(user.day_bias[found[0]]) if len(found) else 0.0
    base = float(model.mean) + user.bias + day + model.item_bias[cols]
    pred = parts.for_new_user(model, base, user, cols)
    pred = np.clip(pred, *model.rating_range)
    if not return_std:
        return pred
    columns = _last_columns(model)
    weights = np.zeros(0) if columns is None else user.factors[columns].astype(float)
    return pred, np.sqrt(_var_of_weights(model, weights)[cols]) * float(model.std_factor)


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
    """The model without its stages, neighbours and blend: the mean plus the biases alone."""
    check_model_shapes(model)
    return model._replace(**without_blend(len(model.user_bias), len(model.item_bias)),
                          user_factors=model.user_factors[:, :0],
                          item_factors=model.item_factors[:, :0],
                          stage_columns=np.zeros(1, dtype=np.int64),
                          stage_sides=model.stage_sides[:0], fold_ridge=model.fold_ridge[:0],
                          mixture_var=model.mixture_var[:0], mixture_p=model.mixture_p[:0],
                          last_support=model.last_support[:, :0])

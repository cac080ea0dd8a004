"""A model's prediction as its parts and their blend, at pairs and for blocks of users.

The parts (``blend.py``) are, in the ratings' units: the baseline (the mean and the biases),
each stage's term (a product of its user and item columns), and the item and user
neighbour stages (``neighbours.py``, their residuals times the model's scale). A model with
blend weights weighs them; one without sums them (the models before the blend, and
``blend=False`` fits): then a pair's prediction is one product of all the columns, as it
always was. Nothing here is clipped: ``serving`` clips to the rating range.
"""
from typing import NamedTuple, Optional

import numpy as np

from mixrec import baseline, blend, neighbours
from mixrec.neighbours import Lists, Residuals
from products import pairwise_dot


def baseline_of(model):
    """The model's baseline (``baseline.Baseline``)."""
    return baseline.Baseline(float(model.mean), model.user_bias, model.item_bias,
                             model.day_users, model.days, model.day_bias)


def n_parts(model):
    """The baseline, each stage, and the two neighbour stages."""
    return len(model.stage_sides) + 3


def summed(model):
    """Whether the parts are summed (no blend weights, no neighbour stage): the fast path."""
    return len(model.blend_weights) == 0 and not (len(model.knn_item_index)
                                                 or len(model.knn_user_index))


def lists_of(model, side):
    """The neighbour lists of one side ("item" or "user")."""
    return Lists(getattr(model, f"knn_{side}_indptr"), getattr(model, f"knn_{side}_index"),
                 getattr(model, f"knn_{side}_score"))


def residuals_of(model):
    """The training residuals the neighbour stages average, user by user."""
    return Residuals(model.rated_indptr, model.rated_indices, model.rated_residual,
                     len(model.item_bias))


class Support(NamedTuple):
    """What a call serving many pairs or blocks computes once: what the blend's weights
    change with, log(1 + each user's and each item's training ratings) less their means
    over the training ratings (``model.blend_centers``); and, for many pairs, the residuals
    item by item, where the user neighbour stage looks them up."""

    users: np.ndarray  # (n,)
    items: np.ndarray  # (d,)
    center_user: float  # a user with no rating (a new one: log1p(count) - center_user)
    center_item: float
    by_item: Optional[Residuals] = None


def support_of(model, pairs=0):
    """The model's ``Support`` for a call that predicts about ``pairs`` pairs: the residuals
    transposed once when their lookups outnumber ``neighbours.TRANSPOSE_AT`` per residual
    (else each lookup bisects its row)."""
    users, items = log_counts(model.rated_indptr, model.rated_indices, len(model.item_bias))
    center_user, center_item = (float(c) for c in model.blend_centers)
    n_users = max(len(model.knn_user_indptr) - 1, 1)
    lookups = pairs * len(model.knn_user_index) / n_users
    by_item = neighbours.transposed(residuals_of(model)) if len(model.knn_user_index) and \
        lookups > neighbours.TRANSPOSE_AT * len(model.rated_residual) else None
    return Support(users - center_user, items - center_item, center_user, center_item,
                   by_item)


def log_counts(indptr, indices, d):
    """log(1 + each user's ratings), log(1 + each item's), from a CSR pattern: (n,), (d,)."""
    return (np.log1p(np.diff(indptr).astype(float)),
            np.log1p(np.bincount(indices, minlength=d).astype(float)))


def centers(indptr, indices, d):
    """The mean log(1 + count) of the ratings' users and of their items: (2,)."""
    users, items = log_counts(indptr, indices, d)
    n_rated = np.diff(indptr)
    total = max(int(indptr[-1]), 1)
    return np.array([users @ n_rated / total,
                     items @ np.bincount(indices, minlength=d) / total])


def null_of(model):
    """The neighbour stages' null log weight."""
    return float(model.knn_settings[0])


def stage_columns(model, stage):
    """The column slice of one stage."""
    return slice(int(model.stage_columns[stage]), int(model.stage_columns[stage + 1]))


# ---------------------------------------------------------------------------------------
# At pairs

def at_pairs(model, rows, cols, user_known, item_known, times=None, by_item=None):
    """Each part at (user, item) pairs, shape (m, P): rows and cols looked up as given,
    a side's terms 0 where it is not known; ``by_item``, the residuals item by item when
    the caller holds them (``Support.by_item``)."""
    both = user_known & item_known
    out = np.zeros((len(rows), n_parts(model)))
    out[:, 0] = baseline.predict(baseline_of(model), np.where(user_known, rows, -1),
                                 np.where(item_known, cols, -1), times)
    for stage in range(len(model.stage_sides)):
        columns = stage_columns(model, stage)
        out[:, 1 + stage] = np.where(both, pairwise_dot(model.user_factors[:, columns].T,
                                                        model.item_factors[:, columns].T,
                                                        rows, cols), 0)
    if len(model.knn_item_index) or len(model.knn_user_index):
        table, scale, null = residuals_of(model), float(model.scale), null_of(model)
        for position, side, owners in ((-2, "item", cols), (-1, "user", rows)):
            owners = np.where(both, owners, -1)
            out[:, position] = scale * neighbours.predict_pairs(
                lists_of(model, side), table, owners, rows, cols, null, by_item=side == "item",
                transposed_table=by_item)
    return out


def blended_at_pairs(model, rows, cols, user_known, item_known, times=None, support=None):
    """The model's prediction at pairs, unclipped, shape (m,); ``support``, the model's
    ``Support`` when the caller holds it (many chunks of pairs)."""
    if summed(model):  # one product of all the columns
        pred = baseline.predict(baseline_of(model), np.where(user_known, rows, -1),
                                np.where(item_known, cols, -1), times)
        pred += np.where(user_known & item_known, pairwise_dot(
            model.user_factors.T, model.item_factors.T, rows, cols), 0)
        return pred
    support = support_of(model) if support is None else support
    log_users = np.where(user_known, support.users[rows], -support.center_user)
    log_items = np.where(item_known, support.items[cols], -support.center_item)
    return weigh(model, at_pairs(model, rows, cols, user_known, item_known, times,
                                 support.by_item).T, log_users, log_items)


def weigh(model, parts, log_users, log_items):
    """The blend of parts given as a sequence of P arrays (of one shape, broadcasting with
    log_users and log_items, the centred log counts)."""
    coefficients, intercept = blend.coefficients(model.blend_weights, n_parts(model),
                                                 log_users, log_items)
    out = intercept + np.zeros(np.broadcast_shapes(np.shape(parts[0]), np.shape(log_users),
                                                   np.shape(log_items)))
    for part, coefficient in zip(parts, coefficients):
        out += part * coefficient
    return out


# ---------------------------------------------------------------------------------------
# Every item of a block of users, and of a new user

def for_users(model, users, times=None, support=None, neighbour_stages=True):
    """Training users' predictions for every item, unclipped, shape (b, d); ``times``
    (b,) or None, a time for each user's list (a day bias where they rated that day);
    ``support``, the model's ``Support`` when the caller holds it (many blocks).
    ``neighbour_stages=False`` leaves the neighbour stages out (their parts 0): the
    cheap matrix-product part of the blend, which ``top_n_all`` shortlists by."""
    d = len(model.item_bias)
    base = (float(model.mean) + model.user_bias[users][:, None] + model.item_bias[None, :])
    if times is not None:
        day = baseline.predict(baseline_of(model), users, np.full(len(users), -1), times)
        base = base + (day - float(model.mean) - model.user_bias[users])[:, None]
    if summed(model):
        return base + model.user_factors[users] @ model.item_factors.T
    parts = [base] + [model.user_factors[users, stage_columns(model, s)]
                      @ model.item_factors[:, stage_columns(model, s)].T
                      for s in range(len(model.stage_sides))]
    table, scale, null = residuals_of(model), float(model.scale), null_of(model)
    for side in ("item", "user"):
        parts.append(scale * neighbours.predict_block(lists_of(model, side), table, users, null,
                                                      by_item=side == "item")
                     if neighbour_stages and len(getattr(model, f"knn_{side}_index"))
                     else np.zeros((len(users), d)))
    support = support_of(model) if support is None else support
    return weigh(model, parts, support.users[users][:, None], support.items[None, :])


def new_user_list(model, rated, residual):
    """A new user's neighbours among the training users (``neighbours.new_row_list``, with
    the model's settings): Lists of one target, empty without a user neighbour stage."""
    if len(model.knn_user_index) == 0:
        return neighbours.empty_lists(1)
    null, temperature, shrink, min_support, k = model.knn_settings.tolist()
    return neighbours.new_row_list(residuals_of(model), rated, residual, k=int(k),
                                   min_support=int(min_support), shrink=shrink,
                                   temperature=temperature)


def for_new_user(model, base, user, cols):
    """A new user's predictions at items ``cols`` (m,), unclipped: ``base`` their baseline
    there, ``user`` their ``serving.NewUser`` (their factors; the items they rated and their
    residuals there, which the item neighbour stage averages; their nearest training users,
    whose residuals the user neighbour stage averages)."""
    if summed(model):
        return base + model.item_factors[cols] @ user.factors
    parts = [base] + [model.item_factors[cols, stage_columns(model, s)]
                      @ user.factors[stage_columns(model, s)]
                      for s in range(len(model.stage_sides))]
    order = np.argsort(user.rated, kind="stable")
    mine = Residuals(np.array([0, len(user.rated)]), user.rated[order], user.residual[order],
                     len(model.item_bias))
    first = np.zeros(len(cols), dtype=np.int64)  # every pair's list: the user's own
    scale, null = float(model.scale), null_of(model)
    parts.append(scale * neighbours.predict_pairs(lists_of(model, "item"), mine, cols, first,
                                                  cols, null))
    nearest = Lists(np.array([0, len(user.neighbours)], dtype=np.int64), user.neighbours,
                    user.neighbour_scores)
    parts.append(scale * neighbours.predict_pairs(nearest, residuals_of(model), first, first,
                                                  cols, null, by_item=False))
    support = support_of(model)
    return weigh(model, parts, np.log1p(len(user.rated)) - support.center_user,
                 support.items[cols])

"""The blend of the parts: weights fitted on ratings held out of a first fit.

The parts are each stage's prediction at a pair, in the ratings' units: the baseline, each
mixture stage's term, the item and the user neighbour stages. Summed, they are the stages'
prediction; blended, each part's weight changes with how many ratings the user and the item
have (u and i, their log(1 + count) less its mean over the training ratings):

    prediction = sum_p part_p (w_p + w'_p u + w''_p i) + w_0 + w'_0 u + w''_0 i,

then clipped to the ratings' range. The weights are a ridge least squares fit on ratings
held out of a first fit (never a test file). The ridge barely holds the parts' own weights
(``MAIN_RIDGE``) and holds their changes with the counts toward none (``SUPPORT_RIDGE``),
both in units of the ratings' spread squared, so that ratings a r + b give weights that
predict a p + b; the intercepts are not held. The parts are then refitted on every rating
and the weights kept (``ensemble.py``).

The ridges were chosen on the validation ratings of four datasets at once (the README):
with the changes free (a ridge of 1) the blend gains on three and loses 0.004 RMSE on
FilmTrust, which has the fewest held-out ratings; held by 10, it loses nowhere.
"""
import numpy as np

MAIN_RIDGE = 1.0
SUPPORT_RIDGE = 10.0


def design(parts, log_users, log_items):
    """The blend's features (m, 3 P + 3): the parts, the intercept, then each times the
    user's centred log count, then each times the item's.

    Parameters
    ----------
    parts : ndarray of shape (m, P)
    log_users, log_items : ndarray of shape (m,)
        Centred log(1 + count) of each pair's user and item.
    """
    with_one = np.hstack([parts, np.ones((len(parts), 1))])
    return np.hstack([with_one, with_one * log_users[:, None], with_one * log_items[:, None]])


def fit(parts, log_users, log_items, values, scale):
    """The blend's weights on held-out ratings, shape (3 P + 3,).

    Parameters
    ----------
    parts : ndarray of shape (m, P)
    log_users, log_items : ndarray of shape (m,)
        Centred log(1 + count) of each pair's user and item.
    values : ndarray of shape (m,)
        The held-out ratings.
    scale : float
        The ratings' spread around the baseline: the unit of the ridges.
    """
    features = design(parts, log_users, log_items)
    P = parts.shape[1]
    held = np.zeros(3 * P + 3)
    held[:P] = MAIN_RIDGE
    held[P + 1:] = SUPPORT_RIDGE
    held[[P, 2 * P + 1, 3 * P + 2]] = 0.0  # the intercepts
    gram = features.T @ features
    # each feature's own sum of squares, times 1e-9, keeps the system solvable when a
    # feature is 0 throughout (no neighbour stage, every user with one count) and moves
    # no weight that matters; 1 where the feature is 0
    own = np.diag(gram).copy()
    own[own == 0] = 1.0
    gram += np.diag(held * scale ** 2 + 1e-9 * own)
    return np.linalg.solve(gram, features.T @ values)


def coefficients(weights, n_parts, log_users, log_items):
    """Each part's coefficient and the intercept, broadcast over log_users and log_items
    (any shapes that broadcast: (m,) and (m,) for pairs, (b, 1) and (1, d) for a block):
    ``(list of P coefficients, intercept)``. No weights: the parts summed."""
    if len(weights) == 0:
        return [1.0] * n_parts, 0.0
    w, wu, wi = (weights[k * (n_parts + 1):(k + 1) * (n_parts + 1)] for k in range(3))
    out = [w[p] + wu[p] * log_users + wi[p] * log_items for p in range(n_parts + 1)]
    return out[:-1], out[-1]

"""A recommender built from the course's Gaussian-mixture EM, for real ratings.

The course's model, fitted to raw ratings, loses to the item means on real data: raw
ratings mix each user's and each item's offset with taste, and with most entries missing
most component means stay at their start. This model keeps the course's EM steps
(``em.mstep`` / ``em.run``, the same maths) and changes what they are fed:

1. A baseline: the global mean plus regularised user and item biases, fitted by closed-form
   alternating updates (scikit-surprise's ``BaselineOnly``).
2. Mixtures fitted by EM to what the baseline leaves, the residuals, with
   (a) ``mean_prior``: each component mean shrunk toward 0 by a pseudo-count, so that a
   mean seen by few users stays near 0 instead of at noise;
   (b) a start suited to sparse data: posteriors drawn from a Dirichlet, then an M-step;
   (c) an explicit pattern of ratings (``summary.summarise(R, stored_zeros=True)``): a
   residual of exactly 0 is still a rating.
3. Mixtures on both sides, fitted in turn, each on what the previous ones left unexplained:
   items as rows (items clustered by who liked them) then users as rows (the course's view),
   for ``rounds`` rounds.
4. At each stage, the predictions of ``n_seeds`` EM runs from different starts, averaged.

A stage predicts ``sum_j post[u, j] mu[j, l]`` for user u and item l (users as rows; the
transpose for items as rows), so the averaged stages together are a sum of products of a
user factor and an item factor: the model stores them as ``user_factors`` (n, r) and
``item_factors`` (d, r), and predicts
``mean + user_bias[u] + item_bias[l] + user_factors[u] . item_factors[l]``, clipped to the
range of the training ratings. A user or item with no training rating has zero factors and
bias, and so gets the baseline's best guess.

Defaults were chosen once by validation inside a training set (``bench_recommender.py
--tune``: a split of ml-latest-small's ``ratings_train.csv``, never its test file).
"""
import os
import warnings
import zipfile
from typing import NamedTuple

import numpy as np
from scipy import sparse

import common
import data
import em
import summary
from common import GaussianMixture, check_integer, check_number, check_seed

# Chosen by `python bench_recommender.py --tune` (see the README); the same for every dataset.
DEFAULTS = {
    "n_components": 4,      # K of every mixture
    "mean_prior": 5.0,      # lambda: pseudo-count shrinking each component mean toward 0
    "rounds": 3,            # item-side then user-side mixture, this many times
    "n_seeds": 20,          # EM runs averaged at each stage
    "variance_floor": 1.0,  # floor of every component variance, in units of the baseline's
                            # own residual variance (scale-free): softer posteriors
    "min_variance": None,   # or that floor in the ratings' own units (squared), if given
    "tol": 1e-4,            # EM stops when the log-likelihood improves by less (relative)
    "max_iter": 20,         # and after this many iterations at the most
    "user_reg": 15.0,       # baseline: shrinkage of the user biases (BaselineOnly's reg_u)
    "item_reg": 10.0,       # and of the item biases (reg_i)
    "bias_epochs": 10,      # alternating updates of the biases
}


class Model(NamedTuple):
    """A fitted recommender: plain arrays, saved and loaded as they are.

    Attributes
    ----------
    mean : ndarray of shape ()
        The global mean rating.
    user_bias : ndarray of shape (n,)
    item_bias : ndarray of shape (d,)
    user_factors : ndarray of shape (n, r)
    item_factors : ndarray of shape (d, r)
        Every mixture stage, seeds averaged: ``r = rounds * 2 * n_seeds * K`` columns.
    rating_range : ndarray of shape (2,)
        The smallest and largest training rating; predictions are clipped to it.
    last_var : ndarray of shape (s,)
        The variances of the components of the last (user-side) stage, whose weights and
        means are the last ``s = n_seeds * K`` columns of the factors: the spread of the
        predictive distribution (see ``predict``'s ``return_std``).
    last_support : ndarray of shape (d, s)
        How many users' worth of ratings each of those components saw of each item: the
        fewer, the less sure its mean.
    mean_prior : ndarray of shape ()
        The pseudo-count lambda the means were shrunk with.
    cold_var : ndarray of shape ()
        The predictive variance where the last stage knows nothing (a user without a
        training rating): the mean squared error of the baseline on the training ratings.
    group_p : ndarray of shape (K,)
    group_mu : ndarray of shape (K, d)
        Taste groups: a mixture of users fitted to what the baseline leaves (seed 0 of the
        first user-side fit), ``group_mu[j, l]`` how far above the baseline group j rates
        item l. For reading the model (see ``groups``); predictions do not use it.
    """

    mean: np.ndarray
    user_bias: np.ndarray
    item_bias: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray
    rating_range: np.ndarray
    last_var: np.ndarray
    last_support: np.ndarray
    mean_prior: np.ndarray
    cold_var: np.ndarray
    group_p: np.ndarray
    group_mu: np.ndarray


class Progress(NamedTuple):
    """What ``fit`` reports to its callback after each EM iteration."""

    stage: int  # 1 .. n_stages
    n_stages: int
    side: str  # "items" or "users": which are the rows of this stage's mixtures
    run: int  # 1 .. n_runs: the EM run (seed) within the stage
    n_runs: int
    iteration: int
    log_likelihood: float


def fit(X, *, seed=0, callback=None, **hyper_parameters):
    """Fit the recommender to a ratings matrix.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d)
        Ratings, 0 = missing: users as rows, items as columns.
    seed : int, default 0
        Seed of the Dirichlet starts; seed s runs EM from seeds s*n_seeds .. s*n_seeds +
        n_seeds - 1.
    callback : callable or None
        Called with a ``Progress`` after each EM iteration, e.g. to show progress or to
        record each run's log-likelihoods. Stage 0 is the fit of the taste groups.
    **hyper_parameters
        Any of ``DEFAULTS``.

    Returns
    -------
    Model
    """
    options = _check_options(hyper_parameters)
    seed = check_seed(seed)
    X = _check_training(X)
    rows, cols = _entries(X)
    ratings = X.data
    mean, user_bias, item_bias = fit_baseline(X, options["user_reg"], options["item_reg"],
                                              options["bias_epochs"])
    residual = ratings - mean - user_bias[rows] - item_bias[cols]
    cold_var = np.mean(residual ** 2)
    # The mixtures are fitted in units of the baseline's residual spread, so that every
    # default (the variance floor, the relative tolerance) means the same on any scale:
    # ratings a * r + b give predictions a * p + b.
    scale = float(np.sqrt(cold_var)) if cold_var > 0 else 1.0
    residual = residual / scale
    if options["min_variance"] is not None:
        options["variance_floor"] = options["min_variance"] / scale ** 2
    sides = ["items", "users"] * options["rounds"]
    report = _reporter(callback, len(sides), options["n_seeds"])
    groups, _ = fit_mixture(_side(residual, rows, cols, X.shape, "users"), options,
                            seed * options["n_seeds"], report(0, "users", 0))
    n, d = X.shape
    user_parts, item_parts, last_var, last_support = [], [], np.zeros(0), np.zeros((d, 0))
    for stage, side in enumerate(sides, 1):
        users_factor, items_factor, last_var, last_support = _fit_stage(
            residual, rows, cols, X.shape, side, seed * options["n_seeds"], options,
            lambda run: report(stage, side, run))
        residual = residual - em.pairwise_dot(users_factor.T, items_factor.T, rows, cols)
        user_parts.append(users_factor)
        item_parts.append(items_factor * scale)  # back to the ratings' units
    return Model(np.array(mean), user_bias, item_bias,
                 np.hstack(user_parts) if user_parts else np.zeros((n, 0)),
                 np.hstack(item_parts) if item_parts else np.zeros((d, 0)),
                 np.array([ratings.min(), ratings.max()]), last_var * scale ** 2, last_support,
                 np.array(float(options["mean_prior"])), np.array(cold_var),
                 groups.p, groups.mu * scale)


def _reporter(callback, n_stages, n_runs):
    """``report(stage, side, run)`` -> an em.run callback that sends Progress, or None."""
    def report(stage, side, run):
        if callback is None:
            return None
        return lambda iteration, ll: callback(
            Progress(stage, n_stages, side, run + 1, n_runs if stage else 1, iteration, ll))
    return report


def _side(residual, rows, cols, shape, side):
    """The residuals with users (or items) as rows, summarised; a residual of 0 is a rating."""
    n, d = shape
    if side == "users":
        R = sparse.csr_array((residual, (rows, cols)), shape=(n, d))
    else:
        R = sparse.csr_array((residual, (cols, rows)), shape=(d, n))
    return summary.summarise(R, stored_zeros=True)


def _fit_stage(residual, rows, cols, shape, side, first_seed, options, report):
    """Mixtures on one side of the residuals, n_seeds of them averaged, as two factors.

    Returns ``(users_factor (n, S*K), items_factor (d, S*K), var (S*K,), support (., S*K))``:
    the row-wise products of the factors are the stage's averaged predictions ``mean_s
    sum_j post_s[., j] mu_s[j, .]``; ``var`` are the components' variances and ``support``
    how many rows' worth of ratings each component saw of each column.
    """
    ratings = _side(residual, rows, cols, shape, side)
    posts, means, variances, supports = [], [], [], []
    for s in range(options["n_seeds"]):
        mixture, post = fit_mixture(ratings, options, first_seed + s, report(s))
        posts.append(post)
        means.append(mixture.mu)
        variances.append(mixture.var)
        supports.append(ratings.moments(np.ascontiguousarray(post.T))[:, ratings.d:])
    row_factor = np.hstack(posts) / options["n_seeds"]
    row_factor[ratings.n_rated == 0] = 0  # a row with no rating gets the baseline, not the prior
    col_factor = np.vstack(means).T
    var, support = np.concatenate(variances), np.vstack(supports).T
    if side == "users":
        return row_factor, col_factor, var, support
    return col_factor, row_factor, var, support


def fit_mixture(ratings, options, seed, callback=None):
    """EM on residuals from a Dirichlet start, with the means shrunk toward 0.

    Parameters
    ----------
    ratings : summary.Summary
        The residuals, with ``stored_zeros=True``.
    options : dict
        ``n_components``, ``mean_prior``, ``variance_floor`` (here the variance floor
        itself: the residuals are in units of their spread), ``tol``, ``max_iter``.
    seed : int
    callback : callable or None
        Passed on to ``em.run``.

    Returns
    -------
    mixture : GaussianMixture
    post : ndarray of shape (n, K)
    """
    K = options["n_components"]
    rng = np.random.RandomState(seed)
    # Random soft memberships then an M-step: every component starts from a blend of many
    # rows, so none starts empty as a raw row of a sparse matrix nearly is.
    post = rng.dirichlet(np.ones(K), size=ratings.n)
    blank = GaussianMixture(np.zeros((K, ratings.d)), np.ones(K), np.full(K, 1 / K))
    mixture = em.mstep(ratings, post, blank, options["variance_floor"],
                       mean_prior=options["mean_prior"])
    with warnings.catch_warnings():
        # max_iter bounds the time; a stage stopped there is still a good stage
        warnings.simplefilter("ignore", RuntimeWarning)
        mixture, post, _ = em.run(ratings, mixture, post, tol=options["tol"],
                                  max_iter=options["max_iter"],
                                  min_variance=options["variance_floor"],
                                  mean_prior=options["mean_prior"], callback=callback)
    return mixture, post


# ---------------------------------------------------------------------------------------
# The baseline

def fit_baseline(X, user_reg=15.0, item_reg=10.0, epochs=10):
    """Global mean plus regularised user and item biases, by alternating closed forms.

    ``item_bias[l] = sum_{u rated l} (r_ul - mean - user_bias[u]) / (item_reg + n_l)``, then
    the same for the users, ``epochs`` times (scikit-surprise's ``BaselineOnly`` with ALS).

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d)
        Ratings, 0 = missing.

    Returns
    -------
    mean : float
    user_bias : ndarray of shape (n,)
    item_bias : ndarray of shape (d,)
    """
    X = _check_training(X)
    n, d = X.shape
    rows, cols = _entries(X)
    ratings = X.data
    mean = float(ratings.mean())
    user_count = np.bincount(rows, minlength=n)
    item_count = np.bincount(cols, minlength=d)
    user_bias, item_bias = np.zeros(n), np.zeros(d)
    for _ in range(epochs):
        item_bias = np.bincount(cols, ratings - mean - user_bias[rows], d) / (item_reg + item_count)
        user_bias = np.bincount(rows, ratings - mean - item_bias[cols], n) / (user_reg + user_count)
    return mean, user_bias, item_bias


def baseline_only(model):
    """The model without its mixture stages: the mean plus user and item biases alone."""
    model = check_model(model)
    return model._replace(user_factors=model.user_factors[:, :0],
                          item_factors=model.item_factors[:, :0], last_var=model.last_var[:0],
                          last_support=model.last_support[:, :0])


def baseline_rmse(X_train, model, held_out):
    """Held-out RMSE of the simple predictors, on the pairs a model is scored on.

    Parameters
    ----------
    X_train : array_like or sparse array of shape (n, d)
        The ratings the model was fitted to.
    model : Model
    held_out : data.Hidden
        ``rows``, ``cols`` (-1 for a user or item X_train lacks) and ``values``, each (m,).

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
        "baseline (mean + user and item biases)": common.rmse(
            predict(baseline_only(model), rows, cols, unknown=True), values),
        "item mean": common.rmse(item_mean[cols], values),
        "global mean": common.rmse(np.full(len(values), mean), values),
    }


def within_std(values, pred, std, widths=(1, 2)):
    """The fraction of ratings within each width of predicted standard deviations."""
    error = np.abs(np.asarray(values) - pred)
    return [float(np.mean(error <= k * std)) for k in widths]


def global_mean(X):
    """The mean of the ratings of X (every stored entry of a sparse X; dense: 0 = missing)."""
    return float(_check_training(X).data.mean())


def item_means(X):
    """Each item's mean rating, shape (d,); the global mean for an item nobody rated."""
    X = _check_training(X)
    counts = np.bincount(X.indices, minlength=X.shape[1])
    sums = np.bincount(X.indices, weights=X.data, minlength=X.shape[1])
    return np.where(counts > 0, sums / np.maximum(counts, 1), X.data.mean())


# ---------------------------------------------------------------------------------------
# Using a model

def predict(model, rows, cols, *, unknown=False, return_std=False):
    """Predicted ratings of (user, item) pairs, clipped to the training ratings' range.

    Parameters
    ----------
    model : Model
    rows, cols : array_like of int, shape (m,)
        Users and items, as indices 0..n-1 and 0..d-1 of the training matrix.
    unknown : bool, default False
        Whether -1 may stand for a user or item the training matrix lacks (as
        ``data.index_of`` gives it); such a pair gets the baseline without that side's
        terms. Otherwise -1 is out of range, like any other.
    return_std : bool, default False
        Also return the standard deviation of the predictive distribution. The last stage's
        seed-averaged mixture predicts (u, l) as ``sum_c w[u, c] N(m[l, c], v[l, c])``,
        whose variance is ``sum_c w[u, c] (v[l, c] + m[l, c]^2) - (sum_c w[u, c] m[l,
        c])^2``: the spread of the components' predictions plus their own uncertainty,
        ``v[l, c] = var_c (1 + 1 / max(support[l, c] + lambda, 1))``, the noise of a
        rating plus that of a mean estimated from that much support (the posterior variance
        under the prior ``mean_prior`` stands for). A user the last stage never saw gets
        ``cold_var``.

    Returns
    -------
    pred : ndarray of shape (m,)
    std : ndarray of shape (m,), only with return_std
    """
    model = check_model(model)
    n, d = len(model.user_bias), len(model.item_bias)
    rows, cols = np.asarray(rows), np.asarray(cols)
    user_known, item_known = np.ones(rows.shape, bool), np.ones(cols.shape, bool)
    if unknown:  # look -1 up as index 0, then drop its terms
        user_known, item_known = rows != -1, cols != -1
        rows, cols = np.where(user_known, rows, 0), np.where(item_known, cols, 0)
    rows, cols = em.check_pairs(rows, cols, n, d)
    both = user_known & item_known
    pred = (model.mean + np.where(user_known, model.user_bias[rows], 0)
            + np.where(item_known, model.item_bias[cols], 0)
            + np.where(both, em.pairwise_dot(model.user_factors.T, model.item_factors.T,
                                             rows, cols), 0))
    pred = np.clip(pred, *model.rating_range)
    if not return_std:
        return pred
    return pred, np.sqrt(_predictive_var(model, rows, cols, user_known, item_known))


def _predictive_var(model, rows, cols, user_known, item_known):
    """The variance of the last stage's mixture at each pair (see ``predict``)."""
    s = len(model.last_var)
    weights = model.user_factors[:, model.user_factors.shape[1] - s:].T  # (s, n)
    means = model.item_factors[:, model.item_factors.shape[1] - s:].T  # (s, d)
    # noise of a rating around each component's mean, mean uncertainty included
    noise = model.last_var[:, None] * (1 + 1 / np.maximum(model.last_support.T
                                                          + model.mean_prior, 1))
    unknown_noise = model.last_var[:, None] * (1 + 1 / max(float(model.mean_prior), 1))
    spread = (em.pairwise_dot(weights, noise + means ** 2, rows, cols)
              - em.pairwise_dot(weights, means, rows, cols) ** 2)
    var = np.where(item_known, spread, em.pairwise_dot(
        weights, np.broadcast_to(unknown_noise, means.shape), rows, cols))
    seen = user_known & (weights.sum(axis=0)[rows] > 0)
    return np.where(seen, np.maximum(var, 0), model.cold_var)


def top_n(model, X, user, n=10, *, cautious=False):
    """The n items a user has not rated in X with the best predicted rating, best first.

    With ``cautious``, ranked by a lower confidence bound instead, the prediction minus one
    predictive standard deviation: a sure 4 before an uncertain 4.2.

    Parameters
    ----------
    model : Model
    X : array_like or sparse array of shape (n_users, d)
        The ratings the model was fitted to (its ratings are left out).
    user : int
    n : int, default 10
    cautious : bool, default False

    Returns
    -------
    items : ndarray of int, shape (min(n, unrated),)
    scores : ndarray of shape (min(n, unrated),)
        The predicted ratings of those items.
    """
    model = check_model(model)
    ratings = summary.summarise(data.as_ratings_matrix(X), stored_zeros=True)
    n_users, d = len(model.user_bias), len(model.item_bias)
    if (ratings.n, ratings.d) != (n_users, d):
        raise ValueError(f"X must have the model's shape ({n_users}, {d}), got "
                         f"({ratings.n}, {ratings.d})")
    if isinstance(user, bool) or not isinstance(user, (int, np.integer)) or not 0 <= user < n_users:
        raise ValueError(f"user must be an integer in 0..{n_users - 1}, got {user!r}")
    n = check_integer("n", n, 1)
    items = np.arange(d)
    if cautious:
        scores, std = predict(model, np.full(d, user), items, return_std=True)
        key = scores - std
    else:
        scores = key = predict(model, np.full(d, user), items)
    rated, _ = ratings.observed(np.full(d, user), items)
    items, scores, key = items[~rated], scores[~rated], key[~rated]
    best = np.argsort(-key, kind="stable")[:n]  # ties: the lower index first
    return items[best], scores[best]


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
    model = check_model(model)
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


class Group(NamedTuple):
    """A taste group: its weight, and the items it rates most above and below the baseline."""

    weight: float
    above: np.ndarray  # item indices, most above the baseline first
    above_by: np.ndarray  # by how many stars
    below: np.ndarray  # item indices, most below first
    below_by: np.ndarray  # (negative) stars


def save(model, path, **extras):
    """Write a model to a ``.npz`` file of plain arrays (no pickle).

    ``extras`` are more arrays of numbers or strings to keep beside it (e.g. the ratings
    file's ids), read back by ``load(path, extras=True)``.
    """
    model = check_model(model)
    clash = sorted(set(extras) & (set(Model._fields) | {"format"}))
    if clash:
        raise ValueError(f"extras must not be named {clash}")
    for name, value in extras.items():
        if np.asarray(value).dtype.kind not in "biufU":
            raise ValueError(f"extras[{name!r}] must be an array of numbers or strings, got "
                             f"dtype {np.asarray(value).dtype}")
    np.savez(path, format=np.array(_FORMAT), **model._asdict(), **extras)


def load(path, *, extras=False):
    """Read a model written by ``save``; a file that is not one raises ValueError.

    Returns the Model, or ``(Model, dict of the extra arrays)`` with ``extras=True``.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file not found: {path}")
    with open(path, "rb") as f:
        if f.read(2) != b"PK":  # every .npz is a zip archive
            raise ValueError(f"{path} is not a model file (not a .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files}
    except (OSError, EOFError, KeyError, ValueError, AttributeError, zipfile.BadZipFile) as err:
        # not a zip of arrays (np.load then tries a pickle and refuses), or a damaged one
        raise ValueError(f"{path} is not a readable model file: {err}") from err
    if "format" not in arrays or arrays["format"].dtype.kind != "U" or \
            str(arrays["format"]) != _FORMAT:
        raise ValueError(f"{path} is not a model saved by recommender.save")
    missing = [name for name in Model._fields if name not in arrays]
    if missing:
        raise ValueError(f"{path} lacks the arrays {missing}")
    try:
        model = check_model(Model(*(arrays.pop(name) for name in Model._fields)))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    arrays.pop("format")
    return (model, arrays) if extras else model


_FORMAT = "em-recommender-2"


# ---------------------------------------------------------------------------------------
# Checks

def check_model(model):
    """Return the model if its arrays fit together and are finite, or raise ValueError."""
    if not isinstance(model, Model):
        raise ValueError(f"model must be a recommender.Model, got {type(model).__name__}")
    n, d = np.shape(model.user_bias)[0], np.shape(model.item_bias)[0]
    r = np.shape(model.user_factors)[-1]
    K = np.shape(model.group_p)[0]
    s = np.shape(model.last_var)[0] if np.ndim(model.last_var) == 1 else -1
    shapes = {"mean": (), "user_bias": (n,), "item_bias": (d,), "rating_range": (2,),
              "cold_var": (), "mean_prior": (), "group_mu": (K, d), "last_support": (d, s)}
    for name, shape in shapes.items():
        if np.shape(getattr(model, name)) != shape:
            raise ValueError(f"model.{name} must have shape {shape}, got "
                             f"{np.shape(getattr(model, name))}")
    if np.ndim(model.last_var) != 1 or len(model.last_var) > r:
        raise ValueError(f"model.last_var must have shape (s,) with s <= {r}, got "
                         f"{np.shape(model.last_var)}")
    for name, size in (("user_factors", n), ("item_factors", d)):
        if np.shape(getattr(model, name)) != (size, r):
            raise ValueError(f"model.{name} must have shape ({size}, {r}), got "
                             f"{np.shape(getattr(model, name))}")
    for name in Model._fields:
        value = getattr(model, name)
        if np.asarray(value).dtype.kind != "f" or not np.isfinite(value).all():
            raise ValueError(f"model.{name} must hold finite floats")
    return model


def _check_training(X):
    """Return X as a CSR array of ratings, or raise ValueError (no rating at all, too).

    Every stored entry of a sparse X is a rating, 0 included, and so is every unmasked
    entry of a masked array; a dense X's zeros are missing (``data.as_ratings_matrix``).
    """
    X = data.as_ratings_matrix(X)
    if X.nnz == 0:
        raise ValueError("X holds no rating: there is nothing to fit")
    if np.abs(X.data).max() > MAX_RATING:
        raise ValueError(f"X holds a rating of magnitude {np.abs(X.data).max():.3g}: ratings "
                         f"must lie within +-{MAX_RATING:g}, so that their squares fit float64")
    return X


# Ratings beyond this would overflow the squared errors the fit sums.
MAX_RATING = 1e150


def _entries(X):
    """Row and column of each stored entry of a CSR array, in storage order."""
    return np.repeat(np.arange(X.shape[0]), np.diff(X.indptr)), X.indices


def _check_options(options):
    """DEFAULTS updated by options, each checked, or ValueError naming the bad one."""
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown hyper-parameters {unknown}; the known ones are "
                         f"{sorted(DEFAULTS)}")
    options = {**DEFAULTS, **options}
    for name in ("n_components", "rounds", "n_seeds", "max_iter", "bias_epochs"):
        options[name] = check_integer(name, options[name],
                                      0 if name in ("rounds", "bias_epochs") else 1)
    for name in ("mean_prior", "variance_floor", "tol", "user_reg", "item_reg"):
        options[name] = check_number(name, options[name], positive=name == "variance_floor")
    if options["min_variance"] is not None:
        options["min_variance"] = check_number("min_variance", options["min_variance"],
                                               positive=True)
    return options

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
from typing import NamedTuple

import numpy as np
from scipy import sparse

import em
import summary
from common import GaussianMixture, check_seed, is_real

# Chosen by `python bench_recommender.py --tune` (see the README); the same for every dataset.
DEFAULTS = {
    "n_components": 4,      # K of every mixture
    "mean_prior": 5.0,      # lambda: pseudo-count shrinking each component mean toward 0
    "rounds": 3,            # item-side then user-side mixture, this many times
    "n_seeds": 20,          # EM runs averaged at each stage
    "min_variance": 0.75,   # floor of every component variance: softer posteriors
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
    """

    mean: np.ndarray
    user_bias: np.ndarray
    item_bias: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray
    rating_range: np.ndarray


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
        Called as ``callback(stage, n_stages, side)`` after each mixture stage, with side
        ``"items"`` or ``"users"``, e.g. to show progress.
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
    user_parts, item_parts = [], []
    sides = ["items", "users"] * options["rounds"]
    for stage, side in enumerate(sides):
        users_factor, items_factor = _fit_stage(residual, rows, cols, X.shape, side,
                                                seed * options["n_seeds"], options)
        residual = residual - em.pairwise_dot(users_factor.T, items_factor.T, rows, cols)
        user_parts.append(users_factor)
        item_parts.append(items_factor)
        if callback is not None:
            callback(stage + 1, len(sides), side)
    n, d = X.shape
    return Model(np.array(mean), user_bias, item_bias,
                 np.hstack(user_parts) if user_parts else np.zeros((n, 0)),
                 np.hstack(item_parts) if item_parts else np.zeros((d, 0)),
                 np.array([ratings.min(), ratings.max()]))


def _fit_stage(residual, rows, cols, shape, side, first_seed, options):
    """Mixtures on one side of the residuals, n_seeds of them averaged, as two factors.

    Returns ``(users_factor (n, S*K), items_factor (d, S*K))`` whose row-wise products are
    the stage's averaged predictions ``mean_s sum_j post_s[., j] mu_s[j, .]``.
    """
    n, d = shape
    if side == "users":
        R = sparse.csr_array((residual, (rows, cols)), shape=(n, d))
    else:
        R = sparse.csr_array((residual, (cols, rows)), shape=(d, n))
    ratings = summary.summarise(R, stored_zeros=True)
    posts, means = [], []
    for s in range(options["n_seeds"]):
        mixture, post = fit_mixture(ratings, options, first_seed + s)
        posts.append(post)
        means.append(mixture.mu)
    n_seeds = options["n_seeds"]
    row_factor = np.hstack(posts) / n_seeds
    row_factor[ratings.n_rated == 0] = 0  # a row with no rating gets the baseline, not the prior
    col_factor = np.vstack(means).T
    return (row_factor, col_factor) if side == "users" else (col_factor, row_factor)


def fit_mixture(ratings, options, seed):
    """EM on residuals from a Dirichlet start, with the means shrunk toward 0.

    Parameters
    ----------
    ratings : summary.Summary
        The residuals, with ``stored_zeros=True``.
    options : dict
        ``n_components``, ``mean_prior``, ``min_variance``, ``tol``, ``max_iter``.
    seed : int

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
    mixture = em.mstep(ratings, post, blank, options["min_variance"],
                       mean_prior=options["mean_prior"])
    with warnings.catch_warnings():
        # max_iter bounds the time; a stage stopped there is still a good stage
        warnings.simplefilter("ignore", RuntimeWarning)
        mixture, post, _ = em.run(ratings, mixture, post, tol=options["tol"],
                                  max_iter=options["max_iter"],
                                  min_variance=options["min_variance"],
                                  mean_prior=options["mean_prior"])
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


def global_mean(X):
    """The mean of the ratings of X (sparse or dense, 0 = missing)."""
    _, _, values = summary.summarise(X).entries()
    return float(values.mean())


def item_means(X):
    """Each item's mean rating, shape (d,); the global mean for an item nobody rated."""
    ratings = summary.summarise(X)
    _, cols, values = ratings.entries()
    counts = np.bincount(cols, minlength=ratings.d)
    sums = np.bincount(cols, weights=values, minlength=ratings.d)
    return np.where(counts > 0, sums / np.maximum(counts, 1), values.mean())


# ---------------------------------------------------------------------------------------
# Using a model

def predict(model, rows, cols, *, unknown=False):
    """Predicted ratings of (user, item) pairs, clipped to the training ratings' range.

    Parameters
    ----------
    model : Model
    rows, cols : array_like of int, shape (m,)
        Users and items, as indices 0..n-1 and 0..d-1 of the training matrix.
    unknown : bool, default False
        Whether -1 may stand for a user or item the training matrix lacks (as
        ``data.index_of`` gives it); such a pair gets the baseline without that side's
        bias. Otherwise -1 is out of range, like any other.

    Returns
    -------
    ndarray of shape (m,)
    """
    model = check_model(model)
    n, d = len(model.user_bias), len(model.item_bias)
    rows, cols = np.asarray(rows), np.asarray(cols)
    if unknown:  # shift by one: index 0 becomes the unknown user or item, all zeros
        model = _with_unknown_first(model)
        rows, cols, n, d = rows + 1, cols + 1, n + 1, d + 1
    rows, cols = em.check_pairs(rows, cols, n, d)
    pred = (model.mean + model.user_bias[rows] + model.item_bias[cols]
            + em.pairwise_dot(model.user_factors.T, model.item_factors.T, rows, cols))
    return np.clip(pred, *model.rating_range)


def _with_unknown_first(model):
    """The model with a user and an item of zero bias and factors in front."""
    def pad(a):
        return np.concatenate([np.zeros((1,) + a.shape[1:]), a])
    return model._replace(user_bias=pad(model.user_bias), item_bias=pad(model.item_bias),
                          user_factors=pad(model.user_factors),
                          item_factors=pad(model.item_factors))


def top_n(model, X, user, n=10):
    """The n items a user has not rated in X with the best predicted rating, best first.

    Parameters
    ----------
    model : Model
    X : array_like or sparse array of shape (n_users, d)
        The ratings the model was fitted to (its ratings are left out).
    user : int
    n : int, default 10

    Returns
    -------
    items : ndarray of int, shape (min(n, unrated),)
    scores : ndarray of shape (min(n, unrated),)
    """
    model = check_model(model)
    ratings = summary.summarise(X)
    n_users, d = len(model.user_bias), len(model.item_bias)
    if (ratings.n, ratings.d) != (n_users, d):
        raise ValueError(f"X must have the model's shape ({n_users}, {d}), got "
                         f"({ratings.n}, {ratings.d})")
    if isinstance(user, bool) or not isinstance(user, (int, np.integer)) or not 0 <= user < n_users:
        raise ValueError(f"user must be an integer in 0..{n_users - 1}, got {user!r}")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be an integer >= 1, got {n!r}")
    items = np.arange(d)
    scores = predict(model, np.full(d, user), items)
    rated, _ = ratings.observed(np.full(d, user), items)
    items, scores = items[~rated], scores[~rated]
    best = np.argsort(-scores, kind="stable")[:n]  # ties: the lower index first
    return items[best], scores[best]


def save(model, path):
    """Write a model to a ``.npz`` file of plain arrays (no pickle)."""
    model = check_model(model)
    np.savez(path, format=np.array(_FORMAT), **model._asdict())


def load(path):
    """Read a model written by ``save``; a file that is not one raises ValueError."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {name: f[name] for name in f.files}
    except (OSError, EOFError, KeyError, ValueError, AttributeError) as err:
        # not a zip of arrays (np.load then tries a pickle and refuses), or a damaged one
        raise ValueError(f"{path} is not a readable model file: {err}") from err
    if "format" not in arrays or arrays["format"].dtype.kind != "U" or \
            str(arrays["format"]) != _FORMAT:
        raise ValueError(f"{path} is not a model saved by recommender.save")
    missing = [name for name in Model._fields if name not in arrays]
    if missing:
        raise ValueError(f"{path} lacks the arrays {missing}")
    try:
        return check_model(Model(*(arrays[name] for name in Model._fields)))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err


_FORMAT = "em-recommender-1"


# ---------------------------------------------------------------------------------------
# Checks

def check_model(model):
    """Return the model if its arrays fit together and are finite, or raise ValueError."""
    if not isinstance(model, Model):
        raise ValueError(f"model must be a recommender.Model, got {type(model).__name__}")
    n, d = np.shape(model.user_bias)[0], np.shape(model.item_bias)[0]
    shapes = {"mean": (), "user_bias": (n,), "item_bias": (d,), "rating_range": (2,)}
    for name, shape in shapes.items():
        if np.shape(getattr(model, name)) != shape:
            raise ValueError(f"model.{name} must have shape {shape}, got "
                             f"{np.shape(getattr(model, name))}")
    r = np.shape(model.user_factors)[-1]
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
    """Return X as a CSR array of ratings, or raise ValueError (no rating at all, too)."""
    X = summary.summarise(X).X
    X = X if sparse.issparse(X) else sparse.csr_array(X)
    if X.nnz == 0:
        raise ValueError("X holds no rating: there is nothing to fit")
    return X


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
        value = options[name]
        low = 0 if name in ("rounds", "bias_epochs") else 1
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    for name in ("mean_prior", "min_variance", "tol", "user_reg", "item_reg"):
        value = options[name]
        positive = name == "min_variance"
        if not (is_real(value) and np.isfinite(value) and (value > 0 if positive else value >= 0)):
            raise ValueError(f"{name} must be a finite number {'>' if positive else '>='} 0, "
                             f"got {value!r}")
    return options

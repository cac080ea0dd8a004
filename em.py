"""EM for matrix completion with a mixture of spherical Gaussians.

Each user's row of ratings x_u is modelled by a mixture of K spherical Gaussians; zeros in
X mean "missing", and user u is scored on its rated coordinates C_u only:

    log p(x_u) = logsumexp_j [ log p_j + log N(x_Cu | mu_j,Cu, var_j I) ].

Everything is computed from two matrix products per iteration with ``[X | mask]``, the
ratings side by side with their 0/1 mask: the E-step's squared distances restricted to C_u
and the M-step's sufficient statistics.
"""
import warnings
from typing import NamedTuple

import numpy as np
from scipy.special import logsumexp

from common import GaussianMixture, check_mixture, check_post, check_ratings


def estep(X, mixture):
    """E-step: posteriors over the components and the log-likelihood.

    Parameters
    ----------
    X : array_like of shape (n, d)
        Ratings, 0 = missing.
    mixture : GaussianMixture
        ``mu`` (K, d), ``var`` (K,), ``p`` (K,).

    Returns
    -------
    post : ndarray of shape (n, K)
        ``post[u, j] = p(j | x_Cu)``; a user with no ratings gets the prior ``p``.
    log_likelihood : float
        ``sum_u log p(x_Cu)``.
    """
    ratings = summarise(X)
    mixture = check_mixture(mixture, ratings.d)
    post_t, log_likelihood = _estep(ratings, mixture)
    return np.ascontiguousarray(post_t.T), log_likelihood


# The helpers below hold posteriors transposed, as ``post_t`` of shape (K, n): with the
# components along the rows, both products with [X | mask] run in the orientation BLAS is
# fastest at when K << n, (K, 2d) @ (2d, n) and (K, n) @ (n, 2d).

def _estep(ratings, mixture):
    """E-step on a summary of X: ``post_t`` (K, n) and the log-likelihood."""
    log_joint = _log_joint(ratings, mixture)
    log_evidence = logsumexp(log_joint, axis=0, keepdims=True)
    return np.exp(log_joint - log_evidence), float(log_evidence.sum())


def _log_joint(ratings, mixture):
    """``log p_j + log N(x_Cu | mu_j,Cu, var_j I)`` for every component and user, shape (K, n)."""
    mu, var, p = mixture
    # ||x_Cu - mu_j,Cu||^2 = ||x_u||^2 - 2 x_u . mu_j + mask_u . mu_j^2: one product with [X | mask]
    sq_dist = np.hstack([-2 * mu, mu ** 2]) @ ratings.data.T + ratings.sq_norm
    # Rounding can push an exact match a hair below zero; a squared distance cannot be.
    np.maximum(sq_dist, 0, out=sq_dist)
    log_joint = sq_dist  # reuse the buffer: these (K, n) passes are most of the E-step's overhead
    log_joint /= -2 * var[:, None]
    log_joint -= np.log(2 * np.pi * var)[:, None] * (ratings.n_rated / 2)
    # 1e-16 is the course's rule: an empty component gets a huge negative weight, not -inf.
    log_joint += np.log(p + 1e-16)[:, None]
    return log_joint


def mstep(X, post, mixture, min_variance=.25):
    """M-step: the mixture that maximises the expected log-likelihood under ``post``.

    Parameters
    ----------
    X : array_like of shape (n, d)
        Ratings, 0 = missing.
    post : array_like of shape (n, K)
        Posteriors from the E-step.
    mixture : GaussianMixture
        The current mixture; its means are kept where too few users rated an item.
    min_variance : float, default 0.25
        Floor of every variance.

    Returns
    -------
    GaussianMixture
        ``p_j`` the mean posterior; ``mu[j, l]`` the posterior-weighted mean of the ratings
        of item l, where ``sum_u post[u, j] [l in C_u] >= 1``, else the input's;
        ``var[j] = sum_u post[u, j] ||x_Cu - mu_j,Cu||^2 / sum_u post[u, j] |C_u|`` with
        the new means, floored at ``min_variance``.
    """
    ratings = summarise(X)
    mixture = check_mixture(mixture, ratings.d)
    post = check_post(post, ratings.n, mixture.mu.shape[0])
    min_variance = _check_min_variance(min_variance)
    return _mstep(ratings, np.ascontiguousarray(post.T), mixture, min_variance)


def _mstep(ratings, post_t, mixture, min_variance):
    """M-step on a summary of X, from ``post_t`` (K, n)."""
    n, d = ratings.n, ratings.d
    # Sufficient statistics, one product: sum_u post[u, j] x_ul and sum_u post[u, j] [l in C_u]
    stats = post_t @ ratings.data
    weighted_sum, support = stats[:, :d], stats[:, d:]
    # With less than one user's worth of support the mean is noise: keep the previous one.
    mu = np.divide(weighted_sum, support, out=mixture.mu.copy(), where=support >= 1)
    # sum_u post[u, j] ||x_Cu - mu_j,Cu||^2, expanded over the same statistics
    sq_err = (post_t @ ratings.sq_norm - 2 * np.sum(mu * weighted_sum, axis=1)
              + np.sum(mu ** 2 * support, axis=1))
    n_obs = post_t @ ratings.n_rated
    # A component that sees no rating has no evidence about its spread: keep the old one.
    var = np.divide(sq_err, n_obs, out=mixture.var.copy(), where=n_obs > 0)
    var = np.maximum(var, min_variance)
    p = post_t.sum(axis=1) / n
    return GaussianMixture(mu, var, p)


def run(X, mixture, post, *, tol=1e-6, max_iter=None, min_variance=.25, callback=None):
    """Alternate E- and M-steps until the log-likelihood stops improving.

    Stops after the first iteration whose E-step gives ``new_ll - old_ll <= tol *
    abs(new_ll)``. As in the course's reference, the returned ``post`` and log-likelihood are
    those of that last E-step and the mixture is the M-step that followed it.

    Parameters
    ----------
    X : array_like of shape (n, d)
        Ratings, 0 = missing.
    mixture : GaussianMixture
        The starting mixture, e.g. from ``common.init``.
    post : array_like of shape (n, K)
        The starting posteriors (checked, then superseded by the first E-step).
    tol : float, default 1e-6
        Relative improvement below which the run stops.
    max_iter : int or None, default None
        At most this many iterations (no limit by default); reaching it warns.
    min_variance : float, default 0.25
        Floor of every variance, as in ``mstep``.
    callback : callable or None
        Called as ``callback(iteration, log_likelihood)`` after each E-step (iteration
        counts from 1), e.g. to show progress.

    Returns
    -------
    mixture : GaussianMixture
    post : ndarray of shape (n, K)
    log_likelihood : float
    """
    ratings = summarise(X)
    mixture = check_mixture(mixture, ratings.d)
    check_post(post, ratings.n, mixture.mu.shape[0])
    min_variance = _check_min_variance(min_variance)
    if max_iter is not None and max_iter < 1:
        raise ValueError(f"max_iter must be at least 1 or None, got {max_iter}")
    old_ll = None
    iteration = 0
    while True:
        iteration += 1
        post_t, ll = _estep(ratings, mixture)
        mixture = _mstep(ratings, post_t, mixture, min_variance)
        if callback is not None:
            callback(iteration, ll)
        if old_ll is not None and ll - old_ll <= tol * abs(ll):
            break
        if iteration == max_iter:
            warnings.warn(f"EM did not converge in max_iter = {max_iter} iterations",
                          RuntimeWarning, stacklevel=2)
            break
        old_ll = ll
    return mixture, np.ascontiguousarray(post_t.T), ll


def fill_matrix(X, mixture):
    """Complete X: each missing entry becomes its posterior-weighted mean of the means.

    Parameters
    ----------
    X : array_like of shape (n, d)
        Ratings, 0 = missing.
    mixture : GaussianMixture

    Returns
    -------
    X_pred : ndarray of shape (n, d)
        Observed entries unchanged, missing ones ``(post @ mu)[u, l]``.
    """
    ratings = summarise(X)
    mixture = check_mixture(mixture, ratings.d)
    post_t, _ = _estep(ratings, mixture)
    X = ratings.data[:, :ratings.d]
    return np.where(X != 0, X, post_t.T @ mixture.mu)


class Ratings(NamedTuple):
    """What EM needs of X, computed once per run.

    Attributes
    ----------
    data : ndarray of shape (n, 2 d)
        ``[X | mask]``: the ratings beside their 0/1 "rated" mask.
    sq_norm : ndarray of shape (n,)
        ``||x_u||^2``, the squared norm of each user's ratings.
    n_rated : ndarray of shape (n,)
        ``|C_u|``, how many items each user rated.
    """

    data: np.ndarray
    sq_norm: np.ndarray
    n_rated: np.ndarray

    @property
    def n(self):
        return self.data.shape[0]

    @property
    def d(self):
        return self.data.shape[1] // 2


def summarise(X):
    """Check X and compute its ``Ratings`` summary (the only (n, 2 d) array EM allocates)."""
    X = check_ratings(X)
    n, d = X.shape
    data = np.empty((n, 2 * d))
    data[:, :d] = X
    data[:, d:] = X != 0
    sq_norm = np.einsum("ul,ul->u", X, X)
    n_rated = data[:, d:] @ np.ones(d)  # exact: sums of ones
    return Ratings(data, sq_norm, n_rated)


def _check_min_variance(min_variance):
    """Return min_variance as a float if it is finite and positive, or raise ValueError."""
    if not (np.isscalar(min_variance) and np.isfinite(min_variance) and min_variance > 0):
        raise ValueError(f"min_variance must be a finite number > 0, got {min_variance!r}")
    return float(min_variance)

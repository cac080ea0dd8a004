"""EM for matrix completion with a mixture of spherical Gaussians: the course's ``em.py``.

Each user's row of ratings x_u is modelled by a mixture of K spherical Gaussians; zeros in X
mean "missing", and user u is scored on the items it rated, C_u, only. The course's
formulas, for a mixture of means ``mu`` (K, d), variances ``var`` (K,) and weights ``p`` (K,):

    E-step   f(u, j) = log(p_j + 1e-16) + log N(x_Cu | mu_j,Cu, var_j I)       (log_joint)
                     = log(p_j + 1e-16) - ||x_Cu - mu_j,Cu||^2 / (2 var_j)
                       - |C_u| / 2 log(2 pi var_j)
             post[u, j] = exp(f(u, j) - logsumexp_j f(u, j))
             log-likelihood = sum_u logsumexp_j f(u, j)
    M-step   p_j    = sum_u post[u, j] / n
             mu_jl  = sum_u post[u, j] x_ul [l in C_u] / sum_u post[u, j] [l in C_u]
                      (where that support is >= 1; the old mean otherwise)
             var_j  = sum_u post[u, j] ||x_Cu - mu_j,Cu||^2 / sum_u post[u, j] |C_u|,
                      floored at min_variance

``reference.py`` computes the same one user at a time; read it first. Here every step is
two matrix products with ``[X | mask]``, the ratings beside their 0/1 mask, which
``products.summarise(X)`` builds once:

- the E-step's squared distances, ``||x_Cu - mu_j,Cu||^2 = ||x_u||^2 - 2 x_u . mu_j +
  mask_u . mu_j^2``: one product ``[-2 mu | mu**2] @ [X | mask].T``;
- the M-step's sums, ``post.T @ [X | mask]``: the weighted sums and the supports of the
  means at once, from which the variances follow too (``moments``).

Every function takes X as an array (dense or scipy sparse) or as that ``Summary``, which a
caller looping over ``estep`` / ``mstep`` builds once. Inside, posteriors are held
transposed, ``post_t`` of shape (K, n): both products then run in the orientation BLAS is
fastest at when K << n. The public functions hand them out as (n, K), a transposed view,
which ``mstep`` takes back without a copy. Probabilities are combined in the log domain.
"""
import warnings
from typing import NamedTuple

import numpy as np

import products
from common import GaussianMixture, check_mixture, check_number, check_pairs, check_post, init


def estep(X, mixture):
    """E-step: posteriors over the components and the log-likelihood.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d), or a products.Summary
        Ratings, 0 = missing.
    mixture : GaussianMixture
        ``mu`` (K, d), ``var`` (K,), ``p`` (K,).

    Returns
    -------
    post : ndarray of shape (n, K)
        ``post[u, j] = p(j | x_Cu)``; a user with no ratings gets the prior ``p``.
    log_likelihood : float
        ``sum_u log p(x_Cu)``.

    Raises
    ------
    ValueError
        On bad arguments, or when the mixture's scores are not finite numbers in float64
        (variances or means too large or too small), never a silent NaN.
    """
    ratings = products.summarise(X)
    mixture = check_mixture(mixture, ratings.d)
    post_t, log_likelihood = _estep(ratings, mixture)
    return post_t.T, log_likelihood


def log_joint(X, mixture):
    """The course's ``f(u, j) = log(p_j + 1e-16) + log N(x_Cu | mu_j,Cu, var_j I)``,
    transposed: shape (K, n), components as rows (as inside this module).

    The squared distances come from one product with ``[X - centre | mask]``; the summary's
    ratings are centred on one of them (``products.Summary.centre``), and so are the means
    here, which leaves every distance unchanged.
    """
    ratings = products.summarise(X)
    mu = mixture.mu - ratings.centre
    # ||x_Cu - mu_j,Cu||^2 = ||x_u||^2 - 2 x_u . mu_j + mask_u . mu_j^2: one product
    sq_dist = ratings.score(np.hstack([-2 * mu, mu ** 2]))
    sq_dist += ratings.sq_norm
    # Rounding can push an exact match a hair below zero; a squared distance cannot be.
    np.maximum(sq_dist, 0, out=sq_dist)
    return log_joint_from_distances(sq_dist, ratings.n_rated, mixture)


def log_joint_from_distances(sq_dist, n_rated, mixture):
    """``f(u, j)`` (K, n) from the squared distances ``||x_Cu - mu_j,Cu||^2`` (K, n) and
    ``|C_u|`` (n,); computed in sq_dist's buffer, which it returns."""
    _, var, p = mixture
    log_joint = sq_dist  # reuse the buffer: these (K, n) passes are most of the overhead
    log_joint /= -2 * var[:, None]
    log_joint -= np.log(2 * np.pi * var)[:, None] * (n_rated / 2)
    # 1e-16 is the course's rule: an empty component gets a huge negative weight, not -inf.
    log_joint += np.log(p + 1e-16)[:, None]
    return log_joint


def _estep(ratings, mixture):
    """E-step on a Summary: ``post_t`` (K, n) and the log-likelihood (a float)."""
    # Extreme mixtures overflow here; the check below says so, instead of numpy's warnings.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        joint = log_joint(ratings, mixture)
        log_evidence = logsumexp_columns(joint)  # log p(x_Cu), shape (n,)
    check_finite_evidence(log_evidence)
    post_t = exp_clamped(np.subtract(joint, log_evidence, out=joint))
    return post_t, float(log_evidence.sum())


def check_finite_evidence(log_evidence):
    """ValueError naming the first user whose log-likelihood is not a finite number."""
    if not np.isfinite(log_evidence).all():
        raise ValueError(
            "the mixture gives a log-likelihood that is not a finite number (NaN or inf) for "
            f"user {np.argwhere(~np.isfinite(log_evidence))[0][-1]}: mixture.var and "
            "mixture.mu must be such that var, 1 / var and the squared distances stay within "
            "float64 (roughly 1e-300 < var < 1e300 and |mu|, |X| < 1e150)")


def mstep(X, post, mixture, min_variance=.25):
    """M-step: the mixture that maximises the expected log-likelihood under ``post``.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d), or a products.Summary
        Ratings, 0 = missing.
    post : array_like of shape (n, K)
        Posteriors from the E-step: non-negative, each row summing to 1.
    mixture : GaussianMixture
        The current mixture; its means are kept where too few users rated an item.
    min_variance : float, default 0.25
        Floor of every variance.

    Returns
    -------
    GaussianMixture
        ``p_j`` the mean posterior; ``mu[j, l]`` the posterior-weighted mean of the ratings
        of item l, where its support ``sum_u post[u, j] [l in C_u] >= 1``, else the input's;
        ``var[j] = sum_u post[u, j] ||x_Cu - mu_j,Cu||^2 / sum_u post[u, j] |C_u|`` with the
        new means, floored at ``min_variance``.
    """
    ratings = products.summarise(X)
    mixture = check_mixture(mixture, ratings.d)
    post = check_post(post, ratings.n, mixture.mu.shape[0])
    min_variance = check_number("min_variance", min_variance, positive=True)
    post_t = np.ascontiguousarray(post.T)
    return mixture_from_moments(moments(ratings, post_t), mixture, min_variance)


class Moments(NamedTuple):
    """The sufficient statistics of an M-step: sums over users, weighted by the posteriors.

    The ratings are centred on ``centre`` (the summary's) in every one of them.
    """

    weighted_sum: np.ndarray  # (K, d): sum_u post[u, j] (x_ul - centre) [l in C_u]
    support: np.ndarray  # (K, d): sum_u post[u, j] [l in C_u]
    sq_norm: np.ndarray  # (K,): sum_u post[u, j] ||x_Cu - centre||^2
    n_obs: np.ndarray  # (K,): sum_u post[u, j] |C_u|
    weight: np.ndarray  # (K,): sum_u post[u, j]
    n: int  # users summed over
    centre: float


def moments(X, post_t):
    """The ``Moments`` of X under posteriors ``post_t`` of shape (K, n)."""
    ratings = products.summarise(X)
    # one product with [X - centre | mask] gives the weighted sums and the supports
    stats = ratings.moments(post_t)
    d = ratings.d
    return Moments(stats[:, :d], stats[:, d:], post_t @ ratings.sq_norm,
                   post_t @ ratings.n_rated, post_t.sum(axis=1), ratings.n, ratings.centre)


def mixture_from_moments(moments, mixture, min_variance):
    """The M-step's mixture from its sufficient statistics (see ``mstep``)."""
    weighted_sum, support, centre = moments.weighted_sum, moments.support, moments.centre
    # With less than one user's worth of support the mean is noise: keep the previous one.
    enough = support >= 1
    mu = np.divide(weighted_sum, support, out=np.zeros_like(support), where=enough)
    np.add(mu, centre, out=mu, where=enough)
    np.copyto(mu, mixture.mu, where=~enough)  # kept exactly, not via the centre
    var = variances_from_moments(moments, mu, mixture.var, min_variance)
    return GaussianMixture(mu, var, moments.weight / moments.n)


def variances_from_moments(moments, mu, old_var, min_variance):
    """``var[j] = sum_u post[u, j] ||x_Cu - mu_j,Cu||^2 / sum_u post[u, j] |C_u|``, shape
    (K,), for the means ``mu`` (K, d), floored at ``min_variance``; a component that saw no
    rating keeps ``old_var``."""
    # sum_u post[u, j] ||x_Cu - mu_j,Cu||^2, expanded over the same (centred) statistics
    mu_c = mu - moments.centre
    sq_err = (moments.sq_norm - 2 * np.sum(mu_c * moments.weighted_sum, axis=1)
              + np.sum(mu_c ** 2 * moments.support, axis=1))
    n_obs = moments.n_obs
    # A component that sees no rating has no evidence about its spread: keep the old one.
    var = np.divide(sq_err, n_obs, out=np.array(old_var, dtype=float), where=n_obs > 0)
    return np.maximum(var, min_variance)


def run(X, mixture, post, *, tol=1e-6, max_iter=None, min_variance=.25, callback=None):
    """Alternate E- and M-steps until the log-likelihood stops improving.

    Stops after the first iteration whose E-step gives ``new_ll - old_ll <= tol *
    abs(new_ll)``. As in the course's reference, the returned ``post`` and log-likelihood are
    those of that last E-step and the mixture is the M-step that followed it. A starting
    mixture with a variance below ``min_variance`` is first lifted to the floor, which can
    lower the log-likelihood; the comparison then starts after that first M-step, so the
    run does not stop at the worse value. From there on the log-likelihood never decreases.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d), or a products.Summary
        Ratings, 0 = missing.
    mixture : GaussianMixture
        The starting mixture, e.g. from ``common.init``.
    post : array_like of shape (n, K)
        The starting posteriors (checked, then superseded by the first E-step).
    tol : float, default 1e-6
        Relative improvement (>= 0) below which the run stops.
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

    Raises
    ------
    ValueError
        On bad arguments, or if the log-likelihood stops being a finite number (a mixture
        whose variances or means float64 cannot score), rather than looping forever.
        ``tol`` must be finite and >= 0: a negative or NaN one could never stop the run.
    """
    ratings = products.summarise(X)
    mixture = check_mixture(mixture, ratings.d)
    check_post(post, ratings.n, mixture.mu.shape[0])
    # a negative or NaN tol would never let the stopping rule hold
    tol = check_number("tol", tol, positive=False)
    max_iter = check_max_iter(max_iter)
    min_variance = check_number("min_variance", min_variance, positive=True)
    # A start below the variance floor is outside the model the M-steps fit: the first one
    # lifts it and the log-likelihood may drop, which is no sign of convergence.
    first_compared = 3 if np.any(mixture.var < min_variance) else 2
    old_ll, iteration = None, 0
    while True:
        iteration += 1
        post_t, ll = _estep(ratings, mixture)  # raises rather than return a NaN to loop on
        mixture = mixture_from_moments(moments(ratings, post_t), mixture, min_variance)
        if callback is not None:
            callback(iteration, ll)
        if iteration >= first_compared and ll - old_ll <= tol * abs(ll):
            return mixture, post_t.T, ll
        if iteration == max_iter:
            warnings.warn(f"EM did not converge in max_iter = {max_iter} iterations",
                          RuntimeWarning, stacklevel=2)
            return mixture, post_t.T, ll
        old_ll = ll


def check_max_iter(max_iter):
    """max_iter if it is None or an integer >= 1 (not a bool), or ValueError."""
    if max_iter is not None and not (isinstance(max_iter, (int, np.integer))
                                     and not isinstance(max_iter, bool) and max_iter >= 1):
        raise ValueError(f"max_iter must be at least 1 or None, got {max_iter!r}")
    return max_iter


class BestRun(NamedTuple):
    """The best of several runs at one K."""

    mixture: GaussianMixture
    post: np.ndarray  # (n, K)
    log_likelihood: float
    seed: int
    iterations: int


def best_run(X, K, seeds=(0,), *, on_run=None, **run_options):
    """``common.init`` then ``run`` from each seed; the run with the best log-likelihood.

    EM finds a local optimum that depends on its start, so the course runs several seeds and
    keeps the best (scikit-learn's ``n_init``). X is summarised once for all the runs.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d), or a products.Summary
    K : int
    seeds : iterable of int
        The seeds of ``common.init``, tried in this order; the first of equal bests wins.
    on_run : callable or None
        Called with each run's ``BestRun`` as it ends, e.g. to print it.
    **run_options
        Passed on to ``run`` (``tol``, ``max_iter``, ``min_variance``, ``callback``).

    Returns
    -------
    BestRun
    """
    ratings = products.summarise(X)
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    user_callback = run_options.get("callback")
    best = None
    for seed in seeds:
        iterations = []

        def callback(iteration, ll):
            iterations.append(iteration)
            if user_callback is not None:
                user_callback(iteration, ll)
        mixture, post, ll = run(ratings, *init(ratings.X, K, seed),
                                **{**run_options, "callback": callback})
        this = BestRun(mixture, post, ll, seed, len(iterations))
        if on_run is not None:
            on_run(this)
        if best is None or ll > best.log_likelihood:
            best = this
    return best


def fill_matrix(X, mixture):
    """Complete X: each missing entry becomes its posterior-weighted mean of the means.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d), or a products.Summary
        Ratings, 0 = missing.
    mixture : GaussianMixture

    Returns
    -------
    X_pred : ndarray of shape (n, d)
        Observed entries unchanged, missing ones ``(post @ mu)[u, l]``.

    Raises
    ------
    ValueError
        If the dense (n, d) result would not fit in the memory available; ``predict``
        gives the same values for chosen entries without it.
    """
    ratings = products.summarise(X)
    mixture = check_mixture(mixture, ratings.d)
    _check_fits_in_memory(ratings)
    post_t, _ = _estep(ratings, mixture)
    X_pred = post_t.T @ mixture.mu
    ratings.put_ratings(X_pred)
    return X_pred


def predict(X, mixture, rows, cols):
    """The completed value at given (user, item) pairs, without an (n, d) array.

    ``predict(X, mixture, rows, cols)`` equals ``fill_matrix(X, mixture)[rows, cols]``:
    the rating itself where X has one, else ``sum_j post[u, j] mu[j, l]``.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d), or a products.Summary
        Ratings, 0 = missing.
    mixture : GaussianMixture
    rows, cols : array_like of int, shape (m,)
        Users and items of the pairs.

    Returns
    -------
    ndarray of shape (m,)
    """
    ratings = products.summarise(X)
    mixture = check_mixture(mixture, ratings.d)
    rows, cols = check_pairs(rows, cols, ratings.n, ratings.d)
    post_t, _ = _estep(ratings, mixture)
    pred = products.pairwise_dot(post_t, mixture.mu, rows, cols)
    rated, values = ratings.observed(rows, cols)
    return np.where(rated, values, pred)


# ---------------------------------------------------------------------------------------
# The log domain

# exp(-700) ~ 1e-304. Below about -708, np.exp takes the subnormal slow path (40x slower
# here) to produce values no printed figure can show; so log-probabilities are floored at
# -700 before they are exponentiated. Most log-posteriors of a fitted mixture lie there.
LOG_FLOOR = -700.0


def logsumexp_columns(a):
    """``log(sum(exp(a), axis=0))`` of a (K, n) array, shape (n,), with nothing underflowing.

    The largest term of each column is factored out, so every exponent is <= 0 and the
    largest is exactly exp(0) = 1: the sum lies in [1, K] and its log is exact to rounding.
    Terms more than 700 below the largest add less than 1e-304 to that sum, which rounding
    drops anyway; they are floored (see ``LOG_FLOOR``). Agrees with
    ``scipy.special.logsumexp(a, axis=0)`` to rounding (see the tests).
    """
    top = a.max(axis=0)
    return np.log(exp_clamped(a - top).sum(axis=0)) + top


def exp_clamped(a):
    """``exp(a)``, in place on a (a float64 buffer of the caller's), 0 wherever a <
    LOG_FLOOR.

    Floored at LOG_FLOOR, exponentiated, then lowered by exp(LOG_FLOOR): the floored entries
    become exactly 0, every other changes by less than 1e-304. Exact zeros rather than
    1e-304 matter downstream: products of many 1e-304 posteriors with small integer ratings
    cancel into subnormal partial sums, which made the M-step's product twice as slow.
    """
    np.maximum(a, LOG_FLOOR, out=a)
    np.exp(a, out=a)
    a -= _EXP_FLOOR
    return np.maximum(a, 0, out=a)


_EXP_FLOOR = np.exp(LOG_FLOOR)


# ---------------------------------------------------------------------------------------
# Memory

def _check_fits_in_memory(ratings):
    """Raise ValueError if fill_matrix's result and temporaries exceed the memory available."""
    n, d = ratings.n, ratings.d
    needed = 8 * n * d + ratings.put_ratings_bytes()
    available = products.available_memory()
    if available is not None and needed > available:
        raise ValueError(
            f"fill_matrix would allocate a dense {n} x {d} result "
            f"({needed / 2 ** 30:.1f} GiB with its temporaries) but only "
            f"{available / 2 ** 30:.1f} GiB is available; use predict(X, mixture, rows, cols) "
            "for the entries you need")

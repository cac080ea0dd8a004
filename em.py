"""EM for matrix completion with a mixture of spherical Gaussians: the course's ``em.py``.

Each user's row of ratings x_u is modelled by a mixture of K spherical Gaussians; zeros in
X mean "missing", and user u is scored on its rated coordinates C_u only:

    log p(x_u) = logsumexp_j [ log p_j + log N(x_Cu | mu_j,Cu, var_j I) ].

``reference.py`` computes the same thing one user at a time, straight from the formulas;
read it first. Here every step is two matrix products with ``[X | mask]``, the ratings side
by side with their 0/1 mask, built once by ``summary.summarise(X)``: the E-step's squared
distances restricted to C_u and the M-step's sufficient statistics. Every function takes X
as an array (dense or scipy sparse) or as that ``Summary``, which a caller looping over
``estep`` / ``mstep`` builds once.

Inside, posteriors are held transposed, ``post_t`` of shape (K, n): with the components
along the rows, both products run in the orientation BLAS is fastest at when K << n,
(K, 2d) @ (2d, n) and (K, n) @ (n, 2d). The public functions hand them out as (n, K), a
transposed view, which ``mstep`` takes back without a copy.

Probabilities are combined in the log domain: ``logsumexp_columns`` normalises the
(K, n) log-joint, as ``scipy.special.logsumexp`` would, and nothing is exponentiated
below ``LOG_FLOOR``.
"""
import warnings
from typing import NamedTuple

import numpy as np

import summary
from common import (GaussianMixture, check_integer, check_log_pattern, check_mixture,
                    check_number, check_pairs, check_post, init)
from summary import pairwise_dot  # noqa: F401  (em.pairwise_dot, as before)


def estep(X, mixture, *, log_pattern=None, pattern_weight=0.0):
    """E-step: posteriors over the components and the log-likelihood.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d), or a summary.Summary
        Ratings, 0 = missing.
    mixture : GaussianMixture
        ``mu`` (K, d), ``var`` (K,), ``p`` (K,).
    log_pattern : array_like of shape (K, d) or None
        ``log pi[j, l]``: each component's distribution over which items are rated (see
        ``pattern``). With ``pattern_weight`` w > 0 the log-joint gains ``w sum_{l in C_u}
        log pi[j, l]``: which items a user rated is evidence of their component, since
        ratings are not missing at random.
    pattern_weight : float, default 0
        w >= 0; 0 is the course's E-step (and ``log_pattern`` is then ignored).

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
    ratings = summary.summarise(X)
    mixture = check_mixture(mixture, ratings.d)
    pattern_weight = check_number("pattern_weight", pattern_weight, positive=False)
    if pattern_weight:
        log_pattern = check_log_pattern(log_pattern, mixture.mu.shape)
    post_t, log_likelihood = _estep(ratings, mixture, log_pattern, pattern_weight)
    return post_t.T, float(log_likelihood[0])


def estep_groups(X, mixture, n_groups, *, log_pattern=None, pattern_weight=0.0):
    """The E-step of ``run_many``'s stacked mixtures: ``n_groups`` mixtures of K / n_groups
    components each, normalised group by group.

    Returns
    -------
    post_t : ndarray of shape (K, n)
        Each group's posteriors, transposed (components as rows).
    log_likelihoods : ndarray of shape (n_groups,)
    """
    ratings = summary.summarise(X)
    n_groups = check_integer("n_groups", n_groups, 1)
    K = np.shape(mixture[0])[0] if isinstance(mixture, tuple) and len(mixture) == 3 else 0
    if K % n_groups or not K:
        raise ValueError(f"n_groups must divide the mixture's {K} components, got {n_groups}")
    size = K // n_groups  # each group a mixture of its own, its weights summing to 1
    groups = [check_mixture(GaussianMixture(*(np.asarray(a)[g * size:(g + 1) * size]
                                              for a in mixture)), ratings.d)
              for g in range(n_groups)]
    mixture = GaussianMixture(*(np.concatenate([m[i] for m in groups]) for i in range(3)))
    pattern_weight = check_number("pattern_weight", pattern_weight, positive=False)
    if pattern_weight:
        log_pattern = check_log_pattern(log_pattern, mixture.mu.shape)
    return _estep(ratings, mixture, log_pattern, pattern_weight, n_groups)


def _estep(ratings, mixture, log_pattern=None, pattern_weight=0.0, n_groups=1):
    """E-step on a Summary: ``post_t`` (K, n) and the log-likelihood, shape (n_groups,).

    With ``n_groups`` G > 1 the mixture stacks G mixtures of K / G components each, fitted
    side by side (``run_many``): each group's posteriors are normalised on their own, with
    one exponential per entry (the posteriors are the shifted exponentials over their sum),
    where the course's single mixture keeps its own order of operations.
    """
    # Extreme mixtures overflow here; the check below says so, instead of numpy's warnings.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        log_joint = _log_joint(ratings, mixture, log_pattern, pattern_weight)
        if n_groups == 1:
            log_evidence = logsumexp_columns(log_joint)[None]  # log p(x_Cu), shape (1, n)
        else:
            grouped = log_joint.reshape(n_groups, -1, ratings.n)
            top = grouped.max(axis=1)
            shifted = np.subtract(grouped, top[:, None], out=grouped)
            if ratings.dtype == np.float32:
                # floored where float32 is still normal: no subnormal reaches the products
                # (they would be 0 there in any case), and no pass is spent zeroing them
                shifted = np.exp(np.maximum(shifted, LOG_FLOOR_32, out=shifted), out=shifted)
            else:
                shifted = _exp_clamped(shifted)
            total = shifted.sum(axis=1)  # in [1, K]: the largest term is exactly 1
            log_evidence = np.log(total) + top
    if not np.isfinite(log_evidence).all():
        raise ValueError(
            "the mixture gives a log-likelihood that is not a finite number (NaN or inf) for "
            f"user {np.argwhere(~np.isfinite(log_evidence))[0][-1]}: mixture.var and "
            "mixture.mu must be such that var, 1 / var and the squared distances stay within "
            "float64 (roughly 1e-300 < var < 1e300 and |mu|, |X| < 1e150)")
    if n_groups == 1:
        post_t = _exp_clamped(np.subtract(log_joint, log_evidence, out=log_joint))
    else:
        post_t = np.divide(shifted, total[:, None], out=shifted).reshape(log_joint.shape)
    return post_t, log_evidence.sum(axis=1)


def _log_joint(ratings, mixture, log_pattern=None, pattern_weight=0.0):
    """``log p_j + log N(x_Cu | mu_j,Cu, var_j I)`` for every component and user, shape (K, n),
    plus ``pattern_weight * sum_{l in C_u} log_pattern[j, l]`` when the weight is not 0."""
    mu, var, p = mixture
    mu = mu - ratings.centre  # distances are the same between centred ratings and means
    # ||x_Cu - mu_j,Cu||^2 = ||x_u||^2 - 2 x_u . mu_j + mask_u . mu_j^2: one product with [X | mask]
    on_mask = mu ** 2
    if pattern_weight:
        # the pattern's term rides on the same product: divided by -2 var below, it is
        # + w * mask_u . log_pattern_j (and it is >= 0 here, so the clamp below stays right)
        on_mask = on_mask - (2 * pattern_weight) * var[:, None] * log_pattern
    sq_dist = ratings.score(np.hstack([-2 * mu, on_mask]))
    sq_dist += ratings.sq_norm
    # Rounding can push an exact match a hair below zero; a squared distance cannot be.
    np.maximum(sq_dist, 0, out=sq_dist)
    log_joint = sq_dist  # reuse the buffer: these (K, n) passes are most of the E-step's overhead
    log_joint /= -2 * var[:, None]
    log_joint -= np.log(2 * np.pi * var)[:, None] * (ratings.n_rated / 2)
    # 1e-16 is the course's rule: an empty component gets a huge negative weight, not -inf.
    log_joint += np.log(p + 1e-16)[:, None]
    return log_joint


def mstep(X, post, mixture, min_variance=.25, *, mean_prior=0.0):
    """M-step: the mixture that maximises the expected log-likelihood under ``post``.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d), or a summary.Summary
        Ratings, 0 = missing.
    post : array_like of shape (n, K)
        Posteriors from the E-step: non-negative, each row summing to 1.
    mixture : GaussianMixture
        The current mixture; its means are kept where too few users rated an item.
    min_variance : float, default 0.25
        Floor of every variance.
    mean_prior : float, default 0
        Pseudo-count lambda >= 0 that shrinks every mean toward 0: ``mu[j, l] =
        weighted_sum / (support + lambda)``, the MAP estimate under a Gaussian prior
        centred at 0, used everywhere. 0 is the course's M-step.

    Returns
    -------
    GaussianMixture
        ``p_j`` the mean posterior; ``mu[j, l]`` the posterior-weighted mean of the ratings
        of item l, where its support ``sum_u post[u, j] [l in C_u] >= 1``, else the input's
        (with lambda = 0); ``var[j] = sum_u post[u, j] ||x_Cu - mu_j,Cu||^2 / sum_u post[u, j]
        |C_u|`` with the new means, floored at ``min_variance``.
    """
    ratings = summary.summarise(X)
    mixture = check_mixture(mixture, ratings.d)
    post = check_post(post, ratings.n, mixture.mu.shape[0])
    min_variance = check_number("min_variance", min_variance, positive=True)
    mean_prior = check_number("mean_prior", mean_prior, positive=False)
    return _mstep(ratings, np.ascontiguousarray(post.T), mixture, min_variance, mean_prior)


def _mstep(ratings, post_t, mixture, min_variance, mean_prior=0.0):
    """M-step on a Summary, from ``post_t`` (K, n)."""
    return mixture_from_moments(moments(ratings, post_t), mixture, min_variance, mean_prior)


class Moments(NamedTuple):
    """The sufficient statistics of an M-step: sums over users, weighted by the posteriors.

    Sums of blocks of users add up (``add_moments``), which is all a distributed M-step
    needs; the ratings are centred on ``centre`` (the summary's) in every one of them.
    """

    weighted_sum: np.ndarray  # (K, d): sum_u post[u, j] (x_ul - centre) [l in C_u]
    support: np.ndarray  # (K, d): sum_u post[u, j] [l in C_u]
    sq_norm: np.ndarray  # (K,): sum_u post[u, j] ||x_Cu - centre||^2
    n_obs: np.ndarray  # (K,): sum_u post[u, j] |C_u|
    weight: np.ndarray  # (K,): sum_u post[u, j]
    n: int  # users summed over
    centre: float


def moments(X, post_t):
    """The ``Moments`` of X (a Summary) under posteriors ``post_t`` of shape (K, n)."""
    ratings = summary.summarise(X)
    # one product with [X - centre | mask] gives the weighted sums and the supports
    stats = ratings.moments(post_t)
    d = ratings.d
    return Moments(stats[:, :d], stats[:, d:], post_t @ ratings.sq_norm,
                   post_t @ ratings.n_rated, post_t.sum(axis=1), ratings.n, ratings.centre)


def add_moments(a, b):
    """The Moments of two blocks of users together (their centres must be the same)."""
    if a.centre != b.centre:
        raise ValueError(f"moments centred on {a.centre} and {b.centre} do not add up")
    return Moments(*(x + y for x, y in zip(a[:6], b[:6])), a.centre)


def mixture_from_moments(moments, mixture, min_variance, mean_prior=0.0):
    """The M-step's mixture from its sufficient statistics (see ``mstep``)."""
    weighted_sum, support, centre = moments.weighted_sum, moments.support, moments.centre
    if mean_prior > 0:
        # shrunk toward 0 in the ratings' own scale: (sum of ratings) / (support + lambda)
        mu = (weighted_sum + centre * support) / (support + mean_prior)
    else:
        # With less than one user's worth of support the mean is noise: keep the previous one.
        enough = support >= 1
        mu = np.divide(weighted_sum, support, out=np.zeros_like(support), where=enough)
        np.add(mu, centre, out=mu, where=enough)
        np.copyto(mu, mixture.mu, where=~enough)  # kept exactly, not via the centre
    # sum_u post[u, j] ||x_Cu - mu_j,Cu||^2, expanded over the same (centred) statistics
    mu_c = mu - centre
    sq_err = (moments.sq_norm - 2 * np.sum(mu_c * weighted_sum, axis=1)
              + np.sum(mu_c ** 2 * support, axis=1))
    n_obs = moments.n_obs
    # A component that sees no rating has no evidence about its spread: keep the old one.
    var = np.divide(sq_err, n_obs, out=mixture.var.copy(), where=n_obs > 0)
    var = np.maximum(var, min_variance)
    p = moments.weight / moments.n
    return GaussianMixture(mu, var, p)


def pattern_from_moments(moments, smoothing=1.0):
    """``log pi`` (K, d): each component's distribution over which items its users rated,
    ``pi[j, l] = (support[j, l] + a) / sum_l (support[j, l] + a)`` with ``a = smoothing``
    (so that an item no user of j rated keeps a small probability)."""
    smoothed = moments.support + smoothing
    return np.log(smoothed) - np.log(smoothed.sum(axis=1, keepdims=True))


def pattern(X, post, smoothing=1.0):
    """``log pi`` of shape (K, d) under posteriors ``post`` (n, K), for ``estep``."""
    ratings = summary.summarise(X)
    post = check_post(post, ratings.n, np.shape(post)[1] if np.ndim(post) == 2 else 0)
    smoothing = check_number("smoothing", smoothing, positive=True)
    return pattern_from_moments(moments(ratings, np.ascontiguousarray(post.T)), smoothing)


def run(X, mixture, post, *, tol=1e-6, max_iter=None, min_variance=.25, mean_prior=0.0,
        pattern_weight=0.0, pattern_smoothing=1.0, callback=None, client=None):
    """Alternate E- and M-steps until the log-likelihood stops improving.

    Stops after the first iteration whose E-step gives ``new_ll - old_ll <= tol *
    abs(new_ll)``. As in the course's reference, the returned ``post`` and log-likelihood are
    those of that last E-step and the mixture is the M-step that followed it. A starting
    mixture with a variance below ``min_variance`` is first lifted to the floor, which can
    lower the log-likelihood; the comparison then starts after that first M-step, so the
    run does not stop at the worse value. From there on, with ``mean_prior = 0``, the
    log-likelihood never decreases (with a prior, EM increases the posterior instead).

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d), or a summary.Summary
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
    mean_prior : float, default 0
        Shrinkage of the means toward 0, as in ``mstep``.
    pattern_weight : float, default 0
        Weight w >= 0 of the pattern of ratings in the E-step (see ``estep``): from the
        second E-step on, each M-step's ``pattern_from_moments`` scores the next E-step.
        The log-likelihood compared is then the E-step's objective, pattern term included.
        0 is the course's run.
    pattern_smoothing : float, default 1
        The pseudo-count of ``pattern_from_moments`` (> 0).
    callback : callable or None
        Called as ``callback(iteration, log_likelihood)`` after each E-step (iteration
        counts from 1), e.g. to show progress.
    client : dask.distributed.Client or None
        Run on a Dask cluster (``cluster.py``): X is sent to the workers in blocks of users
        (or is already a ``cluster.DistributedRatings``), each iteration is one map over
        them, and ``post`` comes back as a ``cluster.Posteriors`` left on the workers.

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
    if client is not None or _distributed(X):
        cluster = _cluster(client, X)
        return cluster.run(X, mixture, post, tol=tol, max_iter=max_iter,
                           min_variance=min_variance, mean_prior=mean_prior,
                           pattern_weight=pattern_weight, pattern_smoothing=pattern_smoothing,
                           callback=callback, client=client)
    ratings = summary.summarise(X)
    mixture = check_mixture(mixture, ratings.d)
    check_post(post, ratings.n, mixture.mu.shape[0])
    options = check_run_options(tol, max_iter, min_variance, mean_prior, pattern_weight,
                                pattern_smoothing)
    report = None if callback is None else (lambda iteration, lls: callback(iteration, lls[0]))
    (result,) = _run_stacked(ratings, [mixture], options, report)
    if not result.converged:
        warnings.warn(f"EM did not converge in max_iter = {max_iter} iterations",
                      RuntimeWarning, stacklevel=2)
    return result.mixture, result.post, result.log_likelihood


class Run(NamedTuple):
    """One EM run's end, as ``run_many`` returns it."""

    mixture: GaussianMixture
    post: np.ndarray  # (n, K)
    log_likelihood: float
    iterations: int
    converged: bool  # False when it stopped at max_iter


def run_many(X, mixtures, *, tol=1e-6, max_iter=None, min_variance=.25, mean_prior=0.0,
             pattern_weight=0.0, pattern_smoothing=1.0, callback=None, client=None):
    """``run`` from several starting mixtures of the same K at once, on the same X.

    The mixtures are stacked, so that each iteration is one pair of products for all of
    them; each stops by ``run``'s rule as if it ran alone (and leaves the stack), so every
    result is ``run``'s from that start, to rounding. Used by the recommender, which
    averages many runs.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d), or a summary.Summary
    mixtures : sequence of GaussianMixture
        The starts, all with the same number of components K.
    tol, max_iter, min_variance, mean_prior, pattern_weight, pattern_smoothing
        As in ``run``.
    callback : callable or None
        Called as ``callback(iteration, log_likelihoods)`` after each E-step, with a dict
        {index of the start: log-likelihood} of the runs still going.
    client : dask.distributed.Client or None
        Run on a Dask cluster, as ``run``.

    Returns
    -------
    list of Run
        One per start, in their order. Runs stopped by ``max_iter`` say so (``converged``
        False) and warn once for all of them.
    """
    if client is not None or _distributed(X):
        cluster = _cluster(client, X)
        return cluster.run_many(X, mixtures, tol=tol, max_iter=max_iter,
                                min_variance=min_variance, mean_prior=mean_prior,
                                pattern_weight=pattern_weight,
                                pattern_smoothing=pattern_smoothing, callback=callback,
                                client=client)
    ratings = summary.summarise(X)
    mixtures = [check_mixture(m, ratings.d) for m in mixtures]
    if not mixtures:
        raise ValueError("mixtures must hold at least one starting mixture")
    sizes = {m.mu.shape[0] for m in mixtures}
    if len(sizes) != 1:
        raise ValueError(f"mixtures must all have the same K, got {sorted(sizes)}")
    options = check_run_options(tol, max_iter, min_variance, mean_prior, pattern_weight,
                                pattern_smoothing)
    results = _run_stacked(ratings, mixtures, options, callback)
    stopped = sum(not r.converged for r in results)
    if stopped:
        warnings.warn(f"{stopped} of {len(results)} EM runs did not converge in max_iter = "
                      f"{max_iter} iterations", RuntimeWarning, stacklevel=2)
    return results


def _distributed(X):
    """Whether X is a cluster.DistributedRatings (without importing dask to ask)."""
    return getattr(X, "distributed", False) is True


def _cluster(client, X):
    import cluster  # dask is optional: imported only for a cluster
    return cluster


def _on_cluster(cluster, client, X):
    """X on the cluster: as it is if it is there already, else sent in blocks of users."""
    return X if _distributed(X) else cluster.scatter_ratings(client, X)


def check_run_options(tol, max_iter, min_variance, mean_prior, pattern_weight,
                      pattern_smoothing):
    """The options of run and run_many, checked, as a dict."""
    if max_iter is not None and not (isinstance(max_iter, (int, np.integer))
                                     and not isinstance(max_iter, bool) and max_iter >= 1):
        raise ValueError(f"max_iter must be at least 1 or None, got {max_iter!r}")
    return {
        # a negative or NaN tol would never let the stopping rule hold
        "tol": check_number("tol", tol, positive=False),
        "max_iter": max_iter,
        "min_variance": check_number("min_variance", min_variance, positive=True),
        "mean_prior": check_number("mean_prior", mean_prior, positive=False),
        "pattern_weight": check_number("pattern_weight", pattern_weight, positive=False),
        "pattern_smoothing": check_number("pattern_smoothing", pattern_smoothing,
                                          positive=True),
    }


def _run_stacked(ratings, mixtures, options, callback):
    """The course's loop for G mixtures of K components, stacked into one of G * K."""
    def estep_and_moments(stack, log_pattern, weight, n_groups):
        # _estep raises rather than return a NaN to loop on
        post_t, lls = _estep(ratings, stack, log_pattern, weight, n_groups=n_groups)
        return post_t, lls, moments(ratings, post_t)
    return run_loop(estep_and_moments, lambda post_t, rows: post_t[rows].T, mixtures,
                    options, callback)


def run_loop(estep_and_moments, take_post, mixtures, options, callback):
    """The loop of ``run`` and ``run_many``, given how to do an E-step and its moments.

    Each iteration is one E-step (normalised group by group) and one M-step for the runs
    still going; a run that meets the stopping rule (or max_iter) leaves the stack. A
    distributed run (``cluster.py``) is this very loop with an E-step mapped over blocks of
    users and its moments summed: the stopping rule cannot differ.

    Parameters
    ----------
    estep_and_moments : callable
        ``(stacked mixture, log_pattern or None, pattern weight, n_groups) -> (posteriors,
        log-likelihoods (n_groups,), Moments)``; the posteriors may be a handle.
    take_post : callable
        ``(posteriors, slice of components) -> that run's posteriors``, as Run.post.
    mixtures : list of GaussianMixture
        Checked starts of one K.
    options : dict
        From ``check_run_options``.
    callback : callable or None
        As ``run_many``'s.

    Returns
    -------
    list of Run
    """
    K = mixtures[0].mu.shape[0]
    going = list(range(len(mixtures)))
    stack = GaussianMixture(*(np.concatenate([m[i] for m in mixtures])
                              for i in range(3)))
    # A start below the variance floor is outside the model the M-steps fit: the first one
    # lifts it and the log-likelihood may drop, which is no sign of convergence; then the
    # comparison starts after that first M-step. Any other start stops as the course's does.
    first_compared = [3 if np.any(m.var < options["min_variance"]) else 2 for m in mixtures]
    if options["pattern_weight"]:
        # the first E-step has no pattern yet (its log-likelihood lacks that term): compare
        # from the first pair of E-steps that both have it
        first_compared = [first + 1 for first in first_compared]
    old_ll, results = [None] * len(mixtures), [None] * len(mixtures)
    log_pattern, iteration = None, 0
    while going:
        iteration += 1
        weight = options["pattern_weight"] if log_pattern is not None else 0.0
        post_t, lls, stats = estep_and_moments(stack, log_pattern, weight, len(going))
        stack_after = mixture_from_moments(stats, stack, options["min_variance"],
                                           options["mean_prior"])
        if options["pattern_weight"]:
            log_pattern = pattern_from_moments(stats, options["pattern_smoothing"])
        if callback is not None:
            callback(iteration, {g: float(ll) for g, ll in zip(going, lls)})
        still = []
        for position, g in enumerate(going):
            ll, rows = float(lls[position]), slice(position * K, (position + 1) * K)
            converged = iteration >= first_compared[g] and ll - old_ll[g] <= _tol_of(options, ll)
            if converged or iteration == options["max_iter"]:
                results[g] = Run(GaussianMixture(*(a[rows] for a in stack_after)),
                                 take_post(post_t, rows), ll, iteration, converged)
            else:
                old_ll[g] = ll
                still.append(position)
        if not still:
            break
        if len(still) < len(going):
            keep = (np.arange(K) + K * np.array(still)[:, None]).ravel()
            stack_after = GaussianMixture(*(a[keep] for a in stack_after))
            log_pattern = None if log_pattern is None else log_pattern[keep]
            going = [going[position] for position in still]
        stack = stack_after
    return results


def _tol_of(options, ll):
    """The improvement below which a run stops: tol of the log-likelihood's size."""
    return options["tol"] * abs(ll)


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
    X : array_like or sparse array of shape (n, d), or a summary.Summary
    K : int
    seeds : iterable of int
        The seeds of ``common.init``, tried in this order; the first of equal bests wins.
    on_run : callable or None
        Called with each run's ``BestRun`` as it ends, e.g. to print it.
    **run_options
        Passed on to ``run`` (``tol``, ``max_iter``, ``min_variance``, ``callback``, ...).

    Returns
    -------
    BestRun
    """
    ratings = summary.summarise(X)
    seeds = list(seeds)
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    best = None
    for seed in seeds:
        iterations = []
        user_callback = run_options.get("callback")

        def callback(iteration, ll):
            iterations.append(iteration)
            if user_callback is not None:
                user_callback(iteration, ll)
        options = {**run_options, "callback": callback}
        mixture, post, ll = run(ratings, *init(ratings.X, K, seed), **options)
        this = BestRun(mixture, post, ll, seed, len(iterations))
        if on_run is not None:
            on_run(this)
        if best is None or ll > best.log_likelihood:
            best = this
    return best


def fill_matrix(X, mixture, *, client=None):
    """Complete X: each missing entry becomes its posterior-weighted mean of the means.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d), or a summary.Summary
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
    if client is not None or _distributed(X):
        cluster = _cluster(client, X)
        return cluster.fill_matrix(_on_cluster(cluster, client, X), mixture)
    ratings = summary.summarise(X)
    mixture = check_mixture(mixture, ratings.d)
    _check_fits_in_memory(ratings)
    post_t, _ = _estep(ratings, mixture)
    X_pred = post_t.T @ mixture.mu
    ratings.put_ratings(X_pred)
    return X_pred


def predict(X, mixture, rows, cols, *, client=None):
    """The completed value at given (user, item) pairs, without an (n, d) array.

    ``predict(X, mixture, rows, cols)`` equals ``fill_matrix(X, mixture)[rows, cols]``:
    the rating itself where X has one, else ``sum_j post[u, j] mu[j, l]``.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d), or a summary.Summary
        Ratings, 0 = missing.
    mixture : GaussianMixture
    rows, cols : array_like of int, shape (m,)
        Users and items of the pairs.

    Returns
    -------
    ndarray of shape (m,)
    """
    if client is not None or _distributed(X):
        cluster = _cluster(client, X)
        return cluster.predict(_on_cluster(cluster, client, X), mixture, rows, cols)
    ratings = summary.summarise(X)
    mixture = check_mixture(mixture, ratings.d)
    rows, cols = check_pairs(rows, cols, ratings.n, ratings.d)
    post_t, _ = _estep(ratings, mixture)
    pred = pairwise_dot(post_t, mixture.mu, rows, cols)
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
    return np.log(_exp_clamped(a - top).sum(axis=0)) + top


def _exp_clamped(a):
    """``exp(a)``, in place on a (a buffer of the caller's), 0 wherever a < LOG_FLOOR.

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
# exp(-80) ~ 2e-35, above float32's smallest normal number (1.2e-38)
LOG_FLOOR_32 = -80.0


# ---------------------------------------------------------------------------------------
# Memory

def _check_fits_in_memory(ratings):
    """Raise ValueError if fill_matrix's result and temporaries exceed the memory available."""
    n, d = ratings.n, ratings.d
    needed = 8 * n * d + ratings.put_ratings_bytes()
    available = summary.available_memory()
    if available is not None and needed > available:
        raise ValueError(
            f"fill_matrix would allocate a dense {n} x {d} result "
            f"({needed / 2 ** 30:.1f} GiB with its temporaries) but only "
            f"{available / 2 ** 30:.1f} GiB is available; use predict(X, mixture, rows, cols) "
            "for the entries you need")

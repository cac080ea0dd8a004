"""The course's EM, generalised for the recommender: a prior on the means, the pattern of
ratings as evidence, and many runs fitted side by side.

Built on the public pieces of the course's ``em``: its log-joint ``f(u, j)``
(``em.log_joint_from_distances``), its M-step's ``Moments`` and variances, its log domain.
Each option defaults to the course's step, bit for bit:

- ``mean_prior`` lambda: each mean shrunk toward 0, ``mu = weighted_sum / (support +
  lambda)`` (the MAP estimate under a Gaussian prior centred at 0), everywhere;
- ``pattern_weight`` w: which items a user rated is evidence of their component, since
  ratings are not missing at random: the log-joint gains ``w sum_{l in C_u} log pi[j, l]``,
  each component's distribution ``pi`` over the items its users rate (``pattern``);
- ``run_many``: G runs of the same K stacked into one mixture of G * K components, so that
  each iteration is one pair of products for all of them (float32 products, when the
  summary holds them, floor their posteriors where float32 is still normal); each run stops
  by the course's rule as if it ran alone. ``run_loop`` is that loop, given how to do an
  E-step: the distributed fit (``distributed.py``) runs the very same loop.
"""
import warnings
from typing import NamedTuple

import numpy as np

import em
import products
from common import (GaussianMixture, check_integer, check_mixture, check_number, check_post)

# exp(-80) ~ 2e-35, above float32's smallest normal number (1.2e-38)
LOG_FLOOR_32 = -80.0


def estep(X, mixture, *, log_pattern=None, pattern_weight=0.0):
    """``em.estep`` with the pattern of ratings: ``(post (n, K), log_likelihood)``.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d), or a products.Summary
    mixture : GaussianMixture
    log_pattern : array_like of shape (K, d) or None
        ``log pi[j, l]``, each component's distribution over which items are rated (see
        ``pattern``); needed when ``pattern_weight`` > 0.
    pattern_weight : float, default 0
        w >= 0; 0 is the course's E-step.
    """
    ratings = products.summarise(X)
    mixture = check_mixture(mixture, ratings.d)
    pattern_weight = check_number("pattern_weight", pattern_weight, positive=False)
    if not pattern_weight:
        return em.estep(ratings, mixture)
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
    ratings = products.summarise(X)
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


def log_joint(ratings, mixture, log_pattern=None, pattern_weight=0.0):
    """The course's ``f(u, j)`` (K, n), plus ``w sum_{l in C_u} log_pattern[j, l]``."""
    if not pattern_weight:
        return em.log_joint(ratings, mixture)
    mu = mixture.mu - ratings.centre
    # The pattern's term sums over the rated items as the distance's mask_u . mu_j^2 does,
    # so it rides on the same product: divided by -2 var_j in the course's f, the mask's
    # coefficient mu_j^2 - 2 w var_j log pi_j adds + w mask_u . log pi_j.
    on_mask = mu ** 2 - (2 * pattern_weight) * mixture.var[:, None] * log_pattern
    sq_dist = ratings.score(np.hstack([-2 * mu, on_mask]))
    sq_dist += ratings.sq_norm
    # the pattern's part is >= 0 (log pi <= 0): clamping rounding below 0 stays right
    np.maximum(sq_dist, 0, out=sq_dist)
    return em.log_joint_from_distances(sq_dist, ratings.n_rated, mixture)


def _estep(ratings, mixture, log_pattern=None, pattern_weight=0.0, n_groups=1):
    """E-step on a Summary: ``post_t`` (K, n) and the log-likelihoods, shape (n_groups,).

    With ``n_groups`` G > 1 the mixture stacks G mixtures of K / G components each, fitted
    side by side: each group's posteriors are normalised on their own, with one exponential
    per entry (the shifted exponentials over their sum), where the course's single mixture
    keeps its own order of operations.
    """
    # Extreme mixtures overflow here; the check below says so, instead of numpy's warnings.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        joint = log_joint(ratings, mixture, log_pattern, pattern_weight)
    return posteriors_from_joint(joint, n_groups, float32=ratings.dtype == np.float32)


def posteriors_from_joint(joint, n_groups=1, float32=False):
    """``post_t`` (K, n) and the log-likelihoods (n_groups,) from the log-joint (K, n),
    which is overwritten: each group of K / n_groups components normalised on its own.
    ``float32``: the products were float32, so posteriors are floored where float32 is
    still normal (the distributed E-step calls this too)."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if n_groups == 1:
            log_evidence = em.logsumexp_columns(joint)[None]  # log p(x_Cu), shape (1, n)
        else:
            grouped = joint.reshape(n_groups, -1, joint.shape[1])
            top = grouped.max(axis=1)
            shifted = np.subtract(grouped, top[:, None], out=grouped)
            if float32:
                # floored where float32 is still normal: no subnormal reaches the products
                # (they would be 0 there in any case), and no pass is spent zeroing them
                shifted = np.exp(np.maximum(shifted, LOG_FLOOR_32, out=shifted), out=shifted)
            else:
                shifted = em.exp_clamped(shifted)
            total = shifted.sum(axis=1)  # in [1, K]: the largest term is exactly 1
            log_evidence = np.log(total) + top
    em.check_finite_evidence(log_evidence.ravel())
    if n_groups == 1:
        post_t = em.exp_clamped(np.subtract(joint, log_evidence, out=joint))
    else:
        post_t = np.divide(shifted, total[:, None], out=shifted).reshape(joint.shape)
    return post_t, log_evidence.sum(axis=1)


def check_log_pattern(log_pattern, shape):
    """Return log_pattern as a float (K, d) array of log-probabilities, or raise ValueError."""
    if log_pattern is None:
        raise ValueError("pattern_weight > 0 needs log_pattern, the (K, d) log pi of "
                         "mixtures.pattern")
    log_pattern = np.asarray(log_pattern, dtype=float)
    if log_pattern.shape != shape:
        raise ValueError(f"log_pattern must have the shape of mixture.mu, {shape}, got "
                         f"{log_pattern.shape}")
    if not (np.isfinite(log_pattern).all() and (log_pattern <= 0).all()):
        raise ValueError("log_pattern must hold finite log-probabilities (<= 0)")
    return log_pattern


# ---------------------------------------------------------------------------------------
# The M-step with a prior on the means, and the pattern of ratings

def mstep(X, post, mixture, min_variance=.25, *, mean_prior=0.0):
    """``em.mstep`` with every mean shrunk toward 0 by the pseudo-count ``mean_prior``:
    ``mu[j, l] = weighted_sum / (support + mean_prior)``; 0 is the course's M-step."""
    ratings = products.summarise(X)
    mixture = check_mixture(mixture, ratings.d)
    post = check_post(post, ratings.n, mixture.mu.shape[0])
    min_variance = check_number("min_variance", min_variance, positive=True)
    mean_prior = check_number("mean_prior", mean_prior, positive=False)
    moments = em.moments(ratings, np.ascontiguousarray(post.T))
    return mixture_from_moments(moments, mixture, min_variance, mean_prior)


def mixture_from_moments(moments, mixture, min_variance, mean_prior=0.0):
    """The M-step's mixture from its sufficient statistics (see ``mstep``)."""
    if not mean_prior:
        return em.mixture_from_moments(moments, mixture, min_variance)
    # shrunk toward 0 in the ratings' own scale: (sum of ratings) / (support + lambda)
    mu = (moments.weighted_sum + moments.centre * moments.support) / (moments.support
                                                                      + mean_prior)
    var = em.variances_from_moments(moments, mu, mixture.var, min_variance)
    return GaussianMixture(mu, var, moments.weight / moments.n)


def add_moments(a, b):
    """The Moments of two blocks of users together (their centres must be the same)."""
    if a.centre != b.centre:
        raise ValueError(f"moments centred on {a.centre} and {b.centre} do not add up")
    return em.Moments(*(x + y for x, y in zip(a[:6], b[:6])), a.centre)


def pattern_from_moments(moments, smoothing=1.0):
    """``log pi`` (K, d): each component's distribution over which items its users rated,
    ``pi[j, l] = (support[j, l] + a) / sum_l (support[j, l] + a)`` with ``a = smoothing``
    (so that an item no user of j rated keeps a small probability)."""
    smoothed = moments.support + smoothing
    return np.log(smoothed) - np.log(smoothed.sum(axis=1, keepdims=True))


def pattern(X, post, smoothing=1.0):
    """``log pi`` of shape (K, d) under posteriors ``post`` (n, K), for ``estep``."""
    ratings = products.summarise(X)
    post = check_post(post, ratings.n, np.shape(post)[1] if np.ndim(post) == 2 else 0)
    smoothing = check_number("smoothing", smoothing, positive=True)
    return pattern_from_moments(em.moments(ratings, np.ascontiguousarray(post.T)), smoothing)


# ---------------------------------------------------------------------------------------
# Runs, alone or side by side

class Run(NamedTuple):
    """One EM run's end, as ``run_many`` returns it."""

    mixture: GaussianMixture
    post: np.ndarray  # (n, K)
    log_likelihood: float
    iterations: int
    converged: bool  # False when it stopped at max_iter


def run(X, mixture, post, *, callback=None, **options):
    """``em.run`` with the options of ``run_many`` (``mean_prior``, ``pattern_weight``,
    ``pattern_smoothing``): ``(mixture, post (n, K), log_likelihood)``; ``callback(iteration,
    log_likelihood)`` as the course's. With neither option it is the course's run."""
    ratings = products.summarise(X)
    check_post(post, ratings.n, np.shape(mixture[0])[0] if isinstance(mixture, tuple)
               and len(mixture) == 3 else 0)
    report = None if callback is None else (lambda iteration, lls: callback(iteration,
                                                                             lls[0]))
    (result,) = run_many(ratings, [mixture], callback=report, **options)
    return result.mixture, result.post, result.log_likelihood


def run_many(X, mixtures, *, tol=1e-6, max_iter=None, min_variance=.25, mean_prior=0.0,
             pattern_weight=0.0, pattern_smoothing=1.0, callback=None):
    """``em.run`` from several starting mixtures of the same K at once, on the same X.

    The mixtures are stacked, so that each iteration is one pair of products for all of
    them; each stops by ``em.run``'s rule as if it ran alone (and leaves the stack), so
    every result is that run's from that start, to rounding.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d), or a products.Summary
    mixtures : sequence of GaussianMixture
        The starts, all with the same number of components K.
    tol, max_iter, min_variance
        As in ``em.run``.
    mean_prior : float, default 0
        As in ``mstep``.
    pattern_weight : float, default 0
        Weight w >= 0 of the pattern of ratings in the E-step: from the second E-step on,
        each M-step's ``pattern_from_moments`` scores the next E-step, and the
        log-likelihood compared is the E-step's objective, pattern term included.
    pattern_smoothing : float, default 1
        The pseudo-count of ``pattern_from_moments`` (> 0).
    callback : callable or None
        Called as ``callback(iteration, log_likelihoods)`` after each E-step, with a dict
        {index of the start: log-likelihood} of the runs still going.

    Returns
    -------
    list of Run
        One per start, in their order. Runs stopped by ``max_iter`` say so (``converged``
        False) and warn once for all of them.
    """
    ratings = products.summarise(X)
    mixtures = [check_mixture(m, ratings.d) for m in mixtures]
    options = check_run_options(mixtures, tol, max_iter, min_variance, mean_prior,
                                pattern_weight, pattern_smoothing)

    def estep_and_moments(stack, log_pattern, weight, n_groups):
        # _estep raises rather than return a NaN to loop on
        post_t, lls = _estep(ratings, stack, log_pattern, weight, n_groups=n_groups)
        return post_t, lls, em.moments(ratings, post_t)
    results = run_loop(estep_and_moments, lambda post_t, rows: post_t[rows].T, mixtures,
                       options, callback)
    stopped = sum(not r.converged for r in results)
    if stopped:
        warnings.warn(f"{stopped} of {len(results)} EM runs did not converge in max_iter = "
                      f"{max_iter} iterations", RuntimeWarning, stacklevel=2)
    return results


def check_run_options(mixtures, tol, max_iter, min_variance, mean_prior, pattern_weight,
                      pattern_smoothing):
    """The options of run_many, checked (the starts too: one K), as a dict."""
    if not mixtures:
        raise ValueError("mixtures must hold at least one starting mixture")
    sizes = {np.shape(m[0])[0] for m in mixtures}
    if len(sizes) != 1:
        raise ValueError(f"mixtures must all have the same K, got {sorted(sizes)}")
    return {
        # a negative or NaN tol would never let the stopping rule hold
        "tol": check_number("tol", tol, positive=False),
        "max_iter": em.check_max_iter(max_iter),
        "min_variance": check_number("min_variance", min_variance, positive=True),
        "mean_prior": check_number("mean_prior", mean_prior, positive=False),
        "pattern_weight": check_number("pattern_weight", pattern_weight, positive=False),
        "pattern_smoothing": check_number("pattern_smoothing", pattern_smoothing,
                                          positive=True),
    }


def run_loop(estep_and_moments, take_post, mixtures, options, callback):
    """The loop of ``run_many``, given how to do an E-step and its moments.

    Each iteration is one E-step (normalised group by group) and one M-step for the runs
    still going; a run that meets the stopping rule (or max_iter) leaves the stack. A
    distributed run (``distributed.py``) is this very loop with an E-step mapped over blocks
    of users and its moments summed: the stopping rule cannot differ.

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
            converged = (iteration >= first_compared[g]
                         and ll - old_ll[g] <= options["tol"] * abs(ll))
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

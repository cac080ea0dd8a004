"""EM for matrix completion, one user at a time, straight from the formulas. Read this first.

This is the executable specification of ``em.py``: each function computes what its
namesake there computes, with a Python loop over users and every density from
``scipy.stats.norm``, so that each line can be held against the course's formulas. It is
slow (about a hundred times slower than ``em.py``); the tests use it as their oracle and
``bench.py`` as the baseline of the vectorised code.

For user u with rated items C_u (the entries where ``mask[u]`` is True, by default where
X is non-zero), and a mixture of K spherical Gaussians (``mu`` (K, d), ``var`` (K,), ``p`` (K,)):

    E-step   log p(j, x_Cu) = log(p_j + 1e-16) + sum_{l in C_u} log N(x_ul | mu_jl, var_j)
                              [+ w sum_{l in C_u} log pi_jl, the pattern of ratings, w = 0
                               in the course]
             post[u, j] = p(j | x_Cu),   log-likelihood = sum_u log p(x_Cu)
    M-step   p_j = sum_u post[u, j] / n
             mu_jl = sum_u post[u, j] x_ul [l in C_u] / sum_u post[u, j] [l in C_u]
             var_j = sum_u post[u, j] ||x_Cu - mu_j,Cu||^2 / sum_u post[u, j] |C_u|
"""
import numpy as np
from scipy.stats import norm

from common import GaussianMixture


def estep(X, mixture, mask=None, log_pattern=None, pattern_weight=0.0):
    """Posteriors (n, K) and log-likelihood, one user at a time.

    With ``pattern_weight`` w > 0, each user's log-joint also counts which items they
    rated: ``+ w * sum_{l in C_u} log_pattern[j, l]``.
    """
    mu, var, p = mixture
    mask = X != 0 if mask is None else mask
    n, K = X.shape[0], len(p)
    post = np.empty((n, K))
    ll = 0.0
    for u in range(n):
        rated = mask[u]
        log_joint = np.log(p + 1e-16) + norm.logpdf(
            X[u, rated], mu[:, rated], np.sqrt(var)[:, None]).sum(axis=1)
        if pattern_weight:
            log_joint = log_joint + pattern_weight * log_pattern[:, rated].sum(axis=1)
        # log sum_j exp(log_joint_j), shifted by the largest term so that nothing underflows
        top = log_joint.max()
        log_evidence = top + np.log(np.sum(np.exp(log_joint - top)))
        post[u] = np.exp(log_joint - log_evidence)
        ll += log_evidence
    return post, ll


def mstep(X, post, mixture, min_variance=.25, mask=None, mean_prior=0.0):
    """The new mixture, accumulated user by user; the variance in a second pass.

    With ``mean_prior`` lambda > 0 each mean is shrunk toward 0,
    ``mu_jl = sum_u post[u, j] x_ul / (support_jl + lambda)``, everywhere; with lambda = 0
    (the course) a mean whose support is below 1 keeps its old value.
    """
    mask = X != 0 if mask is None else mask
    n, d = X.shape
    K = post.shape[1]
    weighted_sum, support = np.zeros((K, d)), np.zeros((K, d))
    for u in range(n):
        rated = mask[u]
        weighted_sum[:, rated] += post[u][:, None] * X[u, rated]
        support[:, rated] += post[u][:, None]
    mu = mixture.mu.copy()
    for j in range(K):
        for l in range(d):
            if mean_prior > 0:
                mu[j, l] = weighted_sum[j, l] / (support[j, l] + mean_prior)
            elif support[j, l] >= 1:
                mu[j, l] = weighted_sum[j, l] / support[j, l]
    sq_err, n_obs = np.zeros(K), np.zeros(K)
    for u in range(n):
        rated = mask[u]
        sq_err += post[u] * np.sum((X[u, rated] - mu[:, rated]) ** 2, axis=1)
        n_obs += post[u] * rated.sum()
    var = mixture.var.copy()  # a component that sees no rating keeps its variance
    var[n_obs > 0] = sq_err[n_obs > 0] / n_obs[n_obs > 0]
    return GaussianMixture(mu, np.maximum(var, min_variance), post.sum(axis=0) / n)


def pattern(X, post, mask=None, smoothing=1.0):
    """``log pi`` (K, d): each component's smoothed distribution over the items its users
    rated, ``pi[j, l] = (support[j, l] + smoothing) / sum_l (support[j, l] + smoothing)``."""
    mask = X != 0 if mask is None else mask
    n, d = X.shape
    K = post.shape[1]
    support = np.zeros((K, d))
    for u in range(n):
        support[:, mask[u]] += post[u][:, None]
    pi = (support + smoothing) / (support + smoothing).sum(axis=1, keepdims=True)
    return np.log(pi)


def run(X, mixture):
    """The course's run loop on the steps above: ``(mixture, post, log_likelihood)``."""
    return course_loop(X, mixture, estep, mstep)


def course_loop(X, mixture, estep, mstep):
    """The course's run loop, as its reference writes it, on given E and M steps.

    Stops after the first E-step whose log-likelihood improves on the previous one by at
    most 1e-6 of its size; returns that E-step's ``post`` and log-likelihood and the
    M-step after it.
    """
    old_ll = ll = None
    while old_ll is None or ll - old_ll > 1e-6 * abs(ll):
        old_ll = ll
        post, ll = estep(X, mixture)
        mixture = mstep(X, post, mixture)
    return mixture, post, ll

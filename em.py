"""EM for matrix completion with a mixture of spherical Gaussians.

Each user's row of ratings x_u is modelled by a mixture of K spherical Gaussians; zeros in
X mean "missing", and user u is scored on its rated coordinates C_u only:

    log p(x_u) = logsumexp_j [ log p_j + log N(x_Cu | mu_j,Cu, var_j I) ].

Everything is computed from two matrix products per iteration with ``[X | mask]``, the
ratings side by side with their 0/1 mask: the E-step's squared distances restricted to C_u
and the M-step's sufficient statistics.
"""
import os
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import sparse
from scipy.special import logsumexp

from common import GaussianMixture, check_mixture, check_post, check_ratings, is_real


def estep(X, mixture):
    """E-step: posteriors over the components and the log-likelihood.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d)
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
    sq_dist = ratings.score(np.hstack([-2 * mu, mu ** 2]))
    sq_dist += ratings.sq_norm
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
    X : array_like or sparse array of shape (n, d)
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
    stats = ratings.moments(post_t)
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
    X : array_like or sparse array of shape (n, d)
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
    if max_iter is not None and not (isinstance(max_iter, (int, np.integer)) and max_iter >= 1):
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
    X : array_like or sparse array of shape (n, d)
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
    X = check_ratings(X)
    mixture = check_mixture(mixture, X.shape[1])
    _check_fits_in_memory(X.shape)
    post_t, _ = _estep(Ratings(X), mixture)
    X_pred = post_t.T @ mixture.mu
    if sparse.issparse(X):
        rows, cols = X.nonzero()
        X_pred[rows, cols] = X.data
        return X_pred
    return np.where(X != 0, X, X_pred)


def predict(X, mixture, rows, cols):
    """The completed value at given (user, item) pairs, without an (n, d) array.

    ``predict(X, mixture, rows, cols)`` equals ``fill_matrix(X, mixture)[rows, cols]``:
    the rating itself where X has one, else ``sum_j post[u, j] mu[j, l]``.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d)
        Ratings, 0 = missing.
    mixture : GaussianMixture
    rows, cols : array_like of int, shape (m,)
        Users and items of the pairs.

    Returns
    -------
    ndarray of shape (m,)
    """
    X = check_ratings(X)
    n, d = X.shape
    mixture = check_mixture(mixture, d)
    rows, cols = _check_pairs(rows, cols, n, d)
    post_t, _ = _estep(Ratings(X), mixture)
    pred = np.empty(len(rows))
    # in chunks, so that the (K, chunk) gathers stay small when millions of pairs are asked
    for start in range(0, len(rows), _PAIRS_PER_CHUNK):
        chunk = slice(start, start + _PAIRS_PER_CHUNK)
        pred[chunk] = np.einsum("km,km->m", post_t[:, rows[chunk]], mixture.mu[:, cols[chunk]])
    observed = X[rows, cols]
    return np.where(observed != 0, observed, pred)


_PAIRS_PER_CHUNK = 1 << 20


def _check_pairs(rows, cols, n, d):
    """Return rows and cols as int arrays of one shape within (n, d), or raise ValueError."""
    rows, cols = np.asarray(rows), np.asarray(cols)
    for name, index, size in (("rows", rows, n), ("cols", cols, d)):
        if index.ndim != 1 or index.dtype.kind not in "iu":
            raise ValueError(f"{name} must be a 1-D array of integers, got {index.dtype} "
                             f"of shape {index.shape}")
        if index.size and not (0 <= index.min() and index.max() < size):
            raise ValueError(f"{name} must lie in 0..{size - 1}")
    if rows.shape != cols.shape:
        raise ValueError(f"rows and cols must have the same shape, got {rows.shape} and "
                         f"{cols.shape}")
    return rows.astype(np.intp, copy=False), cols.astype(np.intp, copy=False)


def _check_fits_in_memory(shape):
    """Raise ValueError if two float64 arrays of this shape exceed the memory available."""
    needed = 2 * 8 * shape[0] * shape[1]
    available = _available_memory()
    if available is not None and needed > available:
        raise ValueError(
            f"fill_matrix would allocate a dense {shape[0]} x {shape[1]} result "
            f"({needed / 2 ** 30:.1f} GiB with its temporary) but only "
            f"{available / 2 ** 30:.1f} GiB is available; use predict(X, mixture, rows, cols) "
            "for the entries you need")


def _available_memory():
    """Bytes of memory available to this process (Linux MemAvailable), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class Ratings:
    """What EM needs of X, computed once per run.

    Holds ``[X | mask]``, the ratings beside their 0/1 "rated" mask: for dense X one
    (n, 2 d) ndarray, whose products BLAS runs on every core; for sparse X the CSR X itself
    and a mask sharing its index arrays, split into row blocks, one per core, whose
    products run in parallel threads (scipy releases the GIL in them).

    Attributes
    ----------
    n, d : int
    sq_norm : ndarray of shape (n,)
        ``||x_u||^2``, the squared norm of each user's ratings.
    n_rated : ndarray of shape (n,)
        ``|C_u|``, how many items each user rated.
    """

    def __init__(self, X):
        """X as ``common.check_ratings`` returns it."""
        self.n, self.d = X.shape
        if sparse.issparse(X):
            self.n_rated = np.diff(X.indptr).astype(float)
            self.sq_norm = _same_pattern(X, X.data ** 2) @ np.ones(self.d)
            n_blocks = _n_workers() if X.nnz >= MIN_NNZ_TO_SPLIT else 1
            self.blocks = [(first, last, block, _same_pattern(block, np.ones_like(block.data)))
                           for first, last, block in _row_blocks(X, n_blocks)]
        else:
            self.data = np.empty((self.n, 2 * self.d))
            self.data[:, :self.d] = X
            self.data[:, self.d:] = X != 0
            self.sq_norm = np.einsum("ul,ul->u", X, X)
            self.n_rated = self.data[:, self.d:] @ np.ones(self.d)  # exact: sums of ones
            self.blocks = None

    def score(self, coef):
        """``coef @ [X | mask].T``, shape (K, n), from coef of shape (K, 2 d)."""
        if self.blocks is None:
            return coef @ self.data.T
        out = np.empty((coef.shape[0], self.n))
        on_x, on_mask = coef[:, :self.d], coef[:, self.d:]

        def score_block(block):
            first, last, x, mask = block
            out[:, first:last] = on_x @ x.T + on_mask @ mask.T
        _map(score_block, self.blocks)
        return out

    def moments(self, post_t):
        """``post_t @ [X | mask]``, shape (K, 2 d), from post_t of shape (K, n)."""
        if self.blocks is None:
            return post_t @ self.data

        def block_moments(block):
            first, last, x, mask = block
            weights = post_t[:, first:last]
            return np.hstack([weights @ x, weights @ mask])
        partial = _map(block_moments, self.blocks)
        return sum(partial[1:], partial[0])


def summarise(X):
    """Check X and compute its ``Ratings``, the largest data EM allocates."""
    return Ratings(check_ratings(X))


def _row_blocks(X, n_blocks):
    """Split a CSR array into (first row, last row, block) of about equal nnz, sharing memory."""
    bounds = np.searchsorted(X.indptr, np.linspace(0, X.nnz, n_blocks + 1)[1:-1])
    bounds = np.unique(np.concatenate([[0], bounds, [X.shape[0]]]))
    blocks = []
    for first, last in zip(bounds[:-1], bounds[1:]):
        lo, hi = X.indptr[first], X.indptr[last]
        block = sparse.csr_array((X.data[lo:hi], X.indices[lo:hi], X.indptr[first:last + 1] - lo),
                                 shape=(last - first, X.shape[1]), copy=False)
        blocks.append((first, last, block))
    return blocks


def _same_pattern(X, values):
    """A CSR array with X's index arrays (shared, not copied) and these stored values."""
    return sparse.csr_array((values, X.indices, X.indptr), shape=X.shape, copy=False)


_POOL = None
# Below this many ratings a thread costs more than it saves.
MIN_NNZ_TO_SPLIT = 1_000_000


def _n_workers():
    return os.cpu_count() or 1


def _map(f, items):
    """``[f(item) for item in items]``, on a thread per core when there are several."""
    global _POOL
    if len(items) == 1:
        return [f(items[0])]
    if _POOL is None:
        _POOL = ThreadPoolExecutor(_n_workers())
    return list(_POOL.map(f, items))


def _check_min_variance(min_variance):
    """Return min_variance as a float if it is finite and positive, or raise ValueError."""
    if not (is_real(min_variance) and np.isfinite(min_variance) and min_variance > 0):
        raise ValueError(f"min_variance must be a finite number > 0, got {min_variance!r}")
    return float(min_variance)

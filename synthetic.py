"""Synthetic ratings drawn from a planted mixture: the course's default without its files.

``synthetic_ratings`` draws a Netflix-like dense matrix (``python main.py`` runs the course's
experiment on it when the course's files are missing); ``planted_sparse_ratings`` draws the
same kind of ratings at scale as a sparse matrix, for the benchmarks and tests.
"""
import numpy as np
from scipy import sparse

from common import GaussianMixture

def synthetic_ratings(n=1200, d=1200, K=12, observed=0.77, seed=0):
    """Draw a Netflix-like ratings matrix from a planted mixture of spherical Gaussians.

    Each user belongs to one of K taste groups; a rating is the group's mean for the item
    plus Gaussian noise, rounded and clipped to the stars 1..5.  Users rate a fraction of
    the items that varies from user to user (Beta-distributed around ``observed``), the
    rest is hidden (0), as in the course's 1200 x 1200 matrix, 77% of which is rated.

    Parameters
    ----------
    n, d : int
        Users and items.
    K : int
        Planted groups.
    observed : float
        Mean fraction of rated entries, in (0, 1).
    seed : int
        Seed of the ``RandomState`` that draws everything.

    Returns
    -------
    X : ndarray of shape (n, d)
        The incomplete ratings, 0 = missing.
    X_complete : ndarray of shape (n, d)
        Every rating.
    planted : GaussianMixture
        The mixture the ratings were drawn from (before rounding).
    """
    rng = np.random.RandomState(seed)
    mu = rng.uniform(1.5, 4.5, size=(K, d))
    var = rng.uniform(0.3, 0.8, size=K)
    p = rng.dirichlet(np.full(K, 5.0))
    group = rng.choice(K, size=n, p=p)
    noise = rng.standard_normal((n, d)) * np.sqrt(var)[group, None]
    X_complete = np.clip(np.rint(mu[group] + noise), 1, 5)
    concentration = 4.0
    rate = rng.beta(concentration * observed, concentration * (1 - observed), size=n)
    X = np.where(rng.uniform(size=(n, d)) < rate[:, None], X_complete, 0.0)
    return X, X_complete, GaussianMixture(mu, var, p)


def planted_sparse_ratings(n, d, n_ratings, K=12, seed=0, users_per_chunk=50_000):
    """A CSR matrix of exactly ``n_ratings`` ratings 1..5 drawn from a planted mixture.

    Users rate a heavy-tailed (log-normal) number of items; user u's items are
    ``(offset_u + k * stride_u) mod d``, k < count_u, with stride_u prime to d, so they are
    distinct without rejection; each rating is its group's mean for the item plus noise,
    rounded and clipped. Built in chunks of users to bound the temporaries.

    Returns
    -------
    X : csr_array of shape (n, d)
    planted : GaussianMixture
    """
    rng = np.random.RandomState(seed)
    weights = rng.lognormal(0.0, 1.0, size=n)
    counts = np.minimum(1 + np.floor(weights / weights.sum() * (n_ratings - n)), d).astype(np.int64)
    while counts.sum() < n_ratings:  # top up the rounding shortfall, users with room first
        room = np.flatnonzero(counts < d)[: n_ratings - counts.sum()]
        counts[room] += 1
    mu = rng.uniform(1.5, 4.5, size=(K, d))
    var = rng.uniform(0.3, 0.8, size=K)
    p = rng.dirichlet(np.full(K, 5.0))
    group = rng.choice(K, size=n, p=p)
    coprime = np.flatnonzero(np.gcd(np.arange(d), d) == 1)
    offset, stride = rng.randint(0, d, size=n), rng.choice(coprime, size=n)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    indices = np.empty(n_ratings, dtype=np.int32)
    data = np.empty(n_ratings)
    for first in range(0, n, users_per_chunk):
        users = np.arange(first, min(first + users_per_chunk, n))
        lo, hi = indptr[users[0]], indptr[users[-1] + 1]
        row = np.repeat(users, counts[users])
        k = np.arange(hi - lo) - np.repeat(indptr[users] - lo, counts[users])
        items = (offset[row] + k * stride[row]) % d
        items = np.sort((row - first) * d + items) % d  # sort each user's items
        indices[lo:hi] = items
        noise = rng.standard_normal(hi - lo) * np.sqrt(var)[group[row]]
        data[lo:hi] = np.clip(np.rint(mu[group[row], items] + noise), 1, 5)
    X = sparse.csr_array((data, indices, indptr), shape=(n, d))
    return X, GaussianMixture(mu, var, p)

"""Ratings data: files, held-out splits and synthetic matrices drawn from planted mixtures.

Ratings files hold "user item rating [timestamp]" lines (the MovieLens formats);
``load_ratings`` turns one into a sparse user x item matrix. ``holdout`` hides a fraction of
the ratings for an honest test. ``load_matrix`` reads the course's whitespace-separated
matrices. ``synthetic_ratings`` and ``planted_sparse_ratings`` draw Netflix-like matrices
from a planted mixture, dense and at scale, for tests, benchmarks and the course's default.
"""
import os
import re
from typing import NamedTuple

import numpy as np
from scipy import sparse

from common import GaussianMixture, check_ratings, check_seed, is_real


# ---------------------------------------------------------------------------------------
# Ratings files: triples "user item rating [timestamp]"

_SEPARATOR = re.compile(r"::|[\s,]+")


def load_ratings(path):
    """Read a ratings file into a sparse user x item matrix.

    One rating a line, ``user item rating`` with an optional fourth column (a timestamp,
    ignored), separated by whitespace, tabs, commas or ``::`` (the MovieLens formats). A
    first line whose rating is not a number is taken for a header and skipped; blank lines
    are skipped. Ids may be any strings; they are numbered in sorted order (numerically when
    they are all integers).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    X : csr_array of shape (n, d)
        ``X[u, l]`` the rating of user ``user_ids[u]`` for item ``item_ids[l]``, 0 = missing.
    user_ids : ndarray of shape (n,)
    item_ids : ndarray of shape (d,)

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        Naming the file and line of the first malformed line: a wrong number of fields, a
        rating that is not a finite non-zero number (0 means "missing"), or a (user, item)
        pair rated twice.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"ratings file not found: {path}")
    users, items, values, lines = [], [], [], []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            fields = _SEPARATOR.split(line.strip())
            if fields == [""]:
                continue
            if len(fields) not in (3, 4):
                raise ValueError(f"{path}, line {number}: expected 'user item rating "
                                 f"[timestamp]', got {len(fields)} fields: {line.strip()!r}")
            try:
                rating = float(fields[2])
            except ValueError:
                if number == 1:
                    continue  # a header such as "userId,movieId,rating,timestamp"
                raise ValueError(f"{path}, line {number}: rating {fields[2]!r} is not a number")
            if not np.isfinite(rating) or rating == 0:
                raise ValueError(f"{path}, line {number}: rating must be a finite non-zero "
                                 f"number (0 means missing), got {fields[2]!r}")
            users.append(fields[0])
            items.append(fields[1])
            values.append(rating)
            lines.append(number)
    if not values:
        raise ValueError(f"{path} holds no ratings")
    user_ids, rows = _number_ids(users)
    item_ids, cols = _number_ids(items)
    X = sparse.coo_array((values, (rows, cols)), shape=(len(user_ids), len(item_ids)))
    _check_no_repeated_pairs(rows, cols, len(item_ids), lines, path)
    return X.tocsr(), user_ids, item_ids


def index_of(known_ids, ids):
    """The position of each id among ``known_ids`` (as ``load_ratings`` returns them), or -1.

    Parameters
    ----------
    known_ids : ndarray of shape (n,)
        Sorted distinct ids, e.g. the ``user_ids`` of a training file.
    ids : array_like of shape (m,)
        Ids to look up, e.g. those of a test file.

    Returns
    -------
    ndarray of int, shape (m,)
        ``known_ids[index] == ids`` where found, -1 where not.
    """
    known_ids = np.asarray(known_ids)
    ids = np.asarray(ids)
    if known_ids.dtype.kind != ids.dtype.kind:  # integer ids on one side, strings on the other
        known_ids, ids = known_ids.astype(str), ids.astype(str)
        order = np.argsort(known_ids)
        found = index_of(known_ids[order], ids)
        return np.where(found >= 0, order[np.maximum(found, 0)], -1)
    position = np.minimum(np.searchsorted(known_ids, ids), max(len(known_ids) - 1, 0))
    hit = (known_ids[position] == ids) if len(known_ids) else np.zeros(len(ids), dtype=bool)
    return np.where(hit, position, -1)


def _number_ids(ids):
    """Sorted distinct ids (as integers when they all are) and each id's number."""
    try:
        ids = np.array(ids, dtype=np.int64)
    except (ValueError, OverflowError):
        ids = np.array(ids)
    return np.unique(ids, return_inverse=True)


def _check_no_repeated_pairs(rows, cols, d, lines, path):
    """Raise ValueError naming the line that rates a (user, item) pair a second time."""
    key = rows.astype(np.int64) * d + cols
    order = np.argsort(key, kind="stable")
    repeated = np.flatnonzero(key[order][1:] == key[order][:-1])
    if len(repeated):
        first, second = lines[order[repeated[0]]], lines[order[repeated[0] + 1]]
        raise ValueError(f"{path}, line {second}: the pair rated on line {first} is rated "
                         "again")


# ---------------------------------------------------------------------------------------
# Held-out evaluation

class Hidden(NamedTuple):
    """Entries hidden from a ratings matrix: ``X[rows[i], cols[i]] == values[i]``."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray


def holdout(X, fraction, seed=0):
    """Hide a random fraction of the observed entries of X, for an honest test.

    Every user keeps at least one rating (so a user with a single rating keeps it); of the
    others, ``round(fraction * n_observed)`` entries are hidden, or all of them if there
    are fewer.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d)
        Ratings, 0 = missing.
    fraction : float
        In [0, 1).
    seed : int
        Seed of the ``RandomState`` that picks the entries.

    Returns
    -------
    X_train : ndarray or csr_array of shape (n, d)
        X with the hidden entries set to 0 (removed, when X is sparse); X is not changed.
    hidden : Hidden
        ``rows``, ``cols``, ``values``, each of shape (m,), in row-major order.
    """
    if not (is_real(fraction) and 0 <= fraction < 1):
        raise ValueError(f"fraction must be a number in [0, 1), got {fraction!r}")
    X = check_ratings(X)
    if sparse.issparse(X):
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        cols, values = X.indices, X.data
    else:
        rows, cols = np.nonzero(X)
        values = X[rows, cols]
    rng = np.random.RandomState(check_seed(seed))
    # each user keeps the rating that draws the smallest key
    key = rng.uniform(size=len(rows))
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if len(rows) else np.array([], int)
    kept_key = np.minimum.reduceat(key, starts) if len(rows) else key
    protected = key == np.repeat(kept_key, np.diff(np.r_[starts, len(rows)]))
    candidates = np.flatnonzero(~protected)
    n_hidden = min(int(round(fraction * len(rows))), len(candidates))
    hide = np.zeros(len(rows), dtype=bool)
    hide[rng.permutation(candidates)[:n_hidden]] = True
    hidden = Hidden(rows[hide], cols[hide].astype(np.intp), values[hide])
    if sparse.issparse(X):
        keep = ~hide
        indptr = np.r_[0, np.cumsum(np.bincount(rows[keep], minlength=X.shape[0]))]
        X_train = sparse.csr_array((values[keep], cols[keep], indptr), shape=X.shape)
    else:
        X_train = X.copy()
        X_train[hidden.rows, hidden.cols] = 0
    return X_train, hidden


# ---------------------------------------------------------------------------------------
# The course's matrix files

def load_matrix(path):
    """Read a whitespace-separated matrix file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    ndarray of shape (n, d)

    Raises
    ------
    FileNotFoundError
        When the file does not exist (the message names it).
    ValueError
        When it is not a rectangular matrix of numbers (the message names it).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"matrix file not found: {path}")
    try:
        X = np.loadtxt(path, ndmin=2)
    except ValueError as err:
        raise ValueError(f"{path} is not a whitespace-separated matrix of numbers: {err}") from err
    if X.size == 0:
        raise ValueError(f"{path} holds no numbers")
    return X


# ---------------------------------------------------------------------------------------
# The embedded default: a synthetic ratings matrix drawn from a planted mixture.

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

"""Ratings data: files, columns, held-out splits and synthetic matrices from planted mixtures.

Ratings files hold "user item rating [timestamp]" lines (the MovieLens formats and any
other, see ``ratingsfile.py``); ``load_ratings`` turns one into a sparse user x item matrix
and ``from_triples`` does the same for columns (a pandas data frame's, say), with the same
id rules (``ids.py``). ``holdout`` hides a fraction of the ratings for an honest test. ``load_matrix`` reads the course's whitespace-separated
matrices. ``synthetic_ratings`` and ``planted_sparse_ratings`` draw Netflix-like matrices
from a planted mixture, dense and at scale, for tests, benchmarks and the course's default.
"""
import os
from typing import NamedTuple

import numpy as np
from scipy import sparse

import ids
import ratingsfile
from common import GaussianMixture, check_ratings, check_seed, is_real
from ids import index_of  # noqa: F401  (data.index_of, as before)
from otherfiles import load_items, load_pairs  # noqa: F401  (data.*, as before)
from ratingsfile import load_ratings, load_test_ratings  # noqa: F401


# ---------------------------------------------------------------------------------------
# Ratings from files (ratingsfile.py) or from columns

def from_triples(users, items, ratings, *, timestamps=None):
    """A ratings matrix from columns of users, items and ratings, as ``load_ratings`` gives.

    Any array-likes: lists, ndarrays, pandas Series (``from_triples(df.userId, df.movieId,
    df.rating)``). Ids follow ``load_ratings``' rules (``ids.py``): non-negative integers are
    integer ids, strings are kept verbatim (integers only when lossless). Every triple is a
    rating, 0 included.

    Parameters
    ----------
    users, items : array_like of shape (m,)
        Integer or string ids.
    ratings : array_like of shape (m,)
        Finite numbers.
    timestamps : array_like of shape (m,) or None
        Seconds; also return them, in X's storage order.

    Returns
    -------
    X : csr_array of shape (n, d)
    user_ids : ndarray of shape (n,)
    item_ids : ndarray of shape (d,)
    times : ndarray of shape (nnz,), only with ``timestamps``

    Raises
    ------
    ValueError
        On columns of different lengths, ids that are neither integers nor strings (or are
        missing), ratings that are not finite numbers, or a pair given twice, naming the
        column and position.
    """
    columns = {"users": users, "items": items, "ratings": ratings}
    if timestamps is not None:
        columns["timestamps"] = timestamps
    lengths = {name: len(np.asarray(column).reshape(-1)) if np.ndim(column) <= 1 else -1
               for name, column in columns.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"users, items and ratings must have the same length, got {lengths}")
    if lengths["ratings"] == 0:
        raise ValueError("ratings is empty: there is no rating")
    user_ids, rows = ids.number(ids.from_values(users, "users"))
    item_ids, cols = ids.number(ids.from_values(items, "items"))
    values = finite_column(ratings, "ratings")
    try:
        X, order = ratingsfile.build_matrix(rows, cols, values, (len(user_ids), len(item_ids)))
    except ratingsfile.RepeatedPair as repeat:
        raise ValueError(f"the pair (users[{repeat.first}], items[{repeat.first}]) = "
                         f"({ids.texts(user_ids[rows[[repeat.first]]])[0]}, "
                         f"{ids.texts(item_ids[cols[[repeat.first]]])[0]}) is given again at "
                         f"position {repeat.second}") from None
    if timestamps is None:
        return X, user_ids, item_ids
    return X, user_ids, item_ids, finite_column(timestamps, "timestamps")[order]


def as_ratings_matrix(X):
    """X as a CSR array whose every stored entry is a rating: the recommender's convention.

    A sparse X keeps its stored entries, zeros included (a file's rating of 0); a masked
    array keeps its unmasked entries, zeros included; a dense X keeps its non-zero entries
    (0 = missing, the course's convention for dense matrices).

    Returns
    -------
    csr_array of shape (n, d), in canonical form (duplicates summed)
    """
    if np.ma.isMaskedArray(X):
        rated = ~np.ma.getmaskarray(X)
        rows, cols = np.nonzero(rated)
        X = sparse.csr_array((np.ma.getdata(X)[rows, cols], (rows, cols)), shape=X.shape)
    if sparse.issparse(X):
        return check_ratings(X, stored_zeros=True)
    return sparse.csr_array(check_ratings(X))


def finite_column(values, name):
    """A column of numbers as float64, or ValueError naming the first that is not finite."""
    try:
        array = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must hold numbers: {err}") from None
    bad = np.flatnonzero(~np.isfinite(array))
    if len(bad):
        raise ValueError(f"{name}[{bad[0]}] is {array[bad[0]]}: every value must be a "
                         "finite number")
    return array


# ---------------------------------------------------------------------------------------
# Held-out evaluation

class Hidden(NamedTuple):
    """Entries hidden from a ratings matrix: ``X[rows[i], cols[i]] == values[i]``."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray


def holdout(X, fraction, seed=0, *, times=None):
    """Hide a random fraction of the observed entries of X, for an honest test.

    Every user keeps at least one rating (so a user with a single rating keeps it); of the
    others, ``round(fraction * n_observed)`` entries are hidden, or all of them if there
    are fewer.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d)
        Ratings: for dense X, 0 = missing; for sparse X every stored entry is a rating, a
        stored 0 too (as ``load_ratings`` stores a rating of 0).
    fraction : float
        In [0, 1).
    seed : int
        Seed of the ``RandomState`` that picks the entries.
    times : array_like of shape (nnz,) or None
        Timestamps of a canonical CSR X's stored entries, in their order: split with them.

    Returns
    -------
    X_train : ndarray or csr_array of shape (n, d)
        X with the hidden entries set to 0 (removed, when X is sparse); X is not changed.
    hidden : Hidden
        ``rows``, ``cols``, ``values``, each of shape (m,), in row-major order.
    times_train, times_hidden : ndarray, only with ``times``
        The timestamps of X_train's stored entries and of the hidden ones, in their orders.
    """
    if not (is_real(fraction) and 0 <= fraction < 1):
        raise ValueError(f"fraction must be a number in [0, 1), got {fraction!r}")
    if times is not None and not (sparse.issparse(X) and X.format == "csr" and
                                  X.has_canonical_format and np.shape(times) == (X.nnz,)):
        raise ValueError("times must hold one timestamp per stored entry of a canonical CSR X")
    X = check_ratings(X, stored_zeros=sparse.issparse(X))
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
    if times is not None:
        times = np.asarray(times, dtype=float)
        return X_train, hidden, times[~hide], times[hide]
    return X_train, hidden


def split_lines(users, fraction, seed=0):
    """Which lines of a ratings file go to a test file, by ``holdout``'s rule.

    Parameters
    ----------
    users : sequence of shape (m,)
        Each line's user id.
    fraction : float
        In [0, 1).
    seed : int

    Returns
    -------
    ndarray of bool, shape (m,)
        True for the lines of the test file; every user keeps a line (a training rating).
    """
    _, codes = ids.number(ids.typed(list(map(str, users))))
    lines = np.arange(len(codes))
    # one row per user, one column per line: holdout hides columns, every row keeping one
    X = sparse.csr_array((np.ones(len(codes)), (codes, lines)),
                         shape=(int(codes.max()) + 1 if len(codes) else 0, len(codes)))
    _, hidden = holdout(X, fraction, seed)
    to_test = np.zeros(len(codes), dtype=bool)
    to_test[hidden.cols] = True
    return to_test


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

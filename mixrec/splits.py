"""Held-out ratings for an honest test: ``holdout`` hides a fraction of a matrix's ratings,
``split_lines`` chooses the lines of a ratings file that go to a test file, by the same rule
(every user keeps a training rating)."""
from typing import NamedTuple

import numpy as np
from scipy import sparse

from common import check_ratings, check_seed, is_real
from mixrec import ids

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


def split_lines(users, fraction, seed=0, *, groups=None):
    """Which lines of a ratings file go to a test file, by ``holdout``'s rule.

    Parameters
    ----------
    users : sequence of shape (m,)
        Each line's user id.
    fraction : float
        In [0, 1).
    seed : int
    groups : array_like of int, shape (m,), or None
        Lines that go together (a pair rated on several lines): each group of lines is
        held out, or kept, as one rating; None: every line on its own.

    Returns
    -------
    ndarray of bool, shape (m,)
        True for the lines of the test file; every user keeps a line (a training rating).
    """
    _, codes = ids.number(ids.typed(list(map(str, users))))
    if groups is None:
        units, unit_of = np.arange(len(codes)), np.arange(len(codes))
    else:
        units, first, unit_of = np.unique(np.asarray(groups), return_index=True,
                                          return_inverse=True)
        units, codes_of_units = np.arange(len(units)), codes[first]
    unit_codes = codes if groups is None else codes_of_units
    # one row per user, one column per unit: holdout hides columns, every row keeping one
    X = sparse.csr_array((np.ones(len(units)), (unit_codes, units)),
                         shape=(int(codes.max()) + 1 if len(codes) else 0, len(units)))
    _, hidden = holdout(X, fraction, seed)
    hidden_units = np.zeros(len(units), dtype=bool)
    hidden_units[hidden.cols] = True
    return hidden_units[unit_of]

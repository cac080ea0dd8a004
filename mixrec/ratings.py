"""Ratings matrices: from triples (a file's lines, a data frame's columns), the policy for a
pair rated more than once, and what counts as a rating.

``from_triples`` turns columns of users, items and ratings (a pandas data frame's, say) into
a sparse user x item matrix, with the id rules of ratings files (``ids.py``); ``build`` is
what every reader shares: triples to a matrix, repeated pairs merged by ``DUPLICATES``'
policies; ``as_ratings_matrix`` is the recommender's convention: every stored entry of a
sparse matrix is a rating, zeros included.
"""
from typing import NamedTuple

import numpy as np
from scipy import sparse

from common import check_ratings
from mixrec import ids
from mixrec.baseline import check_times

# What to do with a (user, item) pair rated more than once (FilmTrust, Epinions and CiaoDVD,
# as published, hold such pairs; scikit-surprise and myFM take every line as a rating):
DUPLICATES = {
    "latest": "keep the rating with the latest timestamp (a line without one is older than "
              "any with one; of equals, the later line)",
    "mean": "the mean of the pair's ratings (and its latest timestamp)",
    "first": "keep the first line's rating",
    "refuse": "refuse the file, naming both lines",
}


def default_duplicates(times):
    """The default policy: the latest rating where the ratings have timestamps, else the
    mean."""
    return "latest" if times is not None and not np.isnan(times).all() else "mean"


class Built(NamedTuple):
    """Triples as a matrix (``build``)."""

    X: sparse.csr_array  # (n, d), every rating a stored entry, 0 included
    times: np.ndarray  # (nnz,) in X's storage order (NaN where unknown), or None
    merged: int  # pairs rated more than once, each now one rating
    dropped: int  # triples that merging took away
    policy: str  # the policy that merged them


class RepeatedPair(ValueError):
    """A (user, item) pair given twice: at positions ``first`` and ``second`` (later)."""

    def __init__(self, first, second):
        super().__init__(f"the pair at position {first} is given again at {second}")
        self.first, self.second = first, second


def build(rows, cols, values, shape, times=None, duplicates=None):
    """A CSR array with one stored entry per (row, col), zeros included, in canonical form.

    Parameters
    ----------
    rows, cols : ndarray of int, shape (m,)
    values : ndarray of shape (m,)
    shape : (int, int)
    times : ndarray of shape (m,) or None
        Seconds (NaN where unknown): kept beside X's entries, and the order of "latest".
    duplicates : str or None
        One of ``DUPLICATES``; None: ``default_duplicates(times)``.

    Returns
    -------
    Built

    Raises
    ------
    RepeatedPair
        With ``duplicates="refuse"``, when two triples name the same (row, col): the
        earliest repeat's positions.
    """
    policy = check_duplicates(duplicates) or default_duplicates(times)
    m = len(rows)
    # numbering the triples from 1 keeps every entry stored: a sum of positions is never 0
    position = sparse.coo_array((np.arange(1, m + 1, dtype=np.int64), (rows, cols)),
                                shape=shape).tocsr()
    if position.nnz == m:  # no pair twice: the common case costs nothing more
        order = position.data - 1
        X = sparse.csr_array((values[order], position.indices, position.indptr), shape=shape)
        return Built(X, None if times is None else times[order], 0, 0, policy)
    if policy == "refuse":
        raise RepeatedPair(*_first_repeat(rows, cols, shape[1]))
    rows, cols, values, times, merged = _merge(rows, cols, values, times, shape[1], policy)
    built = build(rows, cols, values, shape, times, "refuse")
    return built._replace(merged=merged, dropped=m - len(rows), policy=policy)


def check_duplicates(duplicates):
    """The policy's name, or None for the default; ValueError for an unknown one."""
    if duplicates is not None and (not isinstance(duplicates, str)  # a list: unhashable
                                   or duplicates not in DUPLICATES):
        raise ValueError(f"duplicates must be one of {', '.join(DUPLICATES)}, got "
                         f"{duplicates!r}")
    return duplicates


def _merge(rows, cols, values, times, d, policy):
    """One triple per (row, col) by ``policy``: ``(rows, cols, values, times, merged)``."""
    key = np.asarray(rows, dtype=np.int64) * d + cols
    position = np.arange(len(key))
    if policy == "latest":  # by time (unknown first), then by line: the last wins
        when = np.full(len(key), -np.inf) if times is None else np.where(np.isnan(times),
                                                                         -np.inf, times)
        order = np.lexsort((position, when, key))
    else:
        order = np.argsort(key, kind="stable")  # a pair's triples stay in their order
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    counts = np.diff(np.r_[starts, len(key)])
    pick = order[starts + counts - 1] if policy == "latest" else order[starts]
    out_values, out_times = values[pick], None if times is None else times[pick]
    if policy == "mean":
        with np.errstate(over="ignore"):
            out_values = np.add.reduceat(values[order], starts) / counts
        overflowed = ~np.isfinite(out_values)  # the values are finite: only a sum overflows
        if overflowed.any():  # two ratings of 1e308 sum to inf; divided first, they don't
            scaled = np.add.reduceat(values[order] / np.repeat(counts, counts), starts)
            out_values = np.where(overflowed, scaled, out_values)
        if times is not None:
            with np.errstate(invalid="ignore"):  # a pair without any time keeps NaN
                out_times = np.fmax.reduceat(times[order], starts)
    return rows[pick], cols[pick], out_values, out_times, int(np.sum(counts > 1))


def _first_repeat(rows, cols, d):
    """Positions (first, second) of the pair whose second appearance comes earliest."""
    key = np.asarray(rows, dtype=np.int64) * d + cols
    order = np.argsort(key, kind="stable")  # a pair's appearances stay in file order
    repeat = np.flatnonzero(key[order][1:] == key[order][:-1]) + 1
    second = repeat[np.argmin(order[repeat])]
    group_start = np.searchsorted(key[order], key[order][second])
    return int(order[group_start]), int(order[second])


def from_triples(users, items, ratings, *, timestamps=None, duplicates=None):
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
        Seconds (NaN where unknown); also return them, in X's storage order.
    duplicates : str or None
        What a pair given twice becomes (``DUPLICATES``); by default the latest rating
        where there are timestamps, else the mean.

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
        missing), ratings that are not finite numbers, or (``duplicates="refuse"``) a pair
        given twice, naming the column and position.
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
    times = None if timestamps is None else check_times(timestamps, len(values), "timestamps")
    try:
        built = build(rows, cols, values, (len(user_ids), len(item_ids)), times, duplicates)
    except RepeatedPair as repeat:
        raise ValueError(f"the pair (users[{repeat.first}], items[{repeat.first}]) = "
                         f"({ids.texts(user_ids[rows[[repeat.first]]])[0]}, "
                         f"{ids.texts(item_ids[cols[[repeat.first]]])[0]}) is given again at "
                         f"position {repeat.second}") from None
    if timestamps is None:
        return built.X, user_ids, item_ids
    return built.X, user_ids, item_ids, built.times


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
        checked = check_ratings(X, stored_zeros=True)
        # the course's check sums a pair stored twice; here each stored entry is a rating,
        # and two ratings of 5 and 4 are not one of 9. Fewer entries after it than before
        # means some pair was stored twice (formats that hold no repeat are not counted).
        if X.format in ("coo", "csr", "csc") and checked.nnz < X.nnz:
            _refuse_repeated_entry(X)
        return checked
    return sparse.csr_array(check_ratings(X))


def _refuse_repeated_entry(X):
    """ValueError naming the first (row, column) a sparse X stores twice, and where."""
    coo = X.tocoo()  # keeps every stored entry, repeats included, in storage order
    rows, cols = (np.asarray(a, dtype=np.int64) for a in (coo.row, coo.col))
    keys = rows * X.shape[1] + cols
    order = np.argsort(keys, kind="stable")
    same = np.flatnonzero(keys[order][1:] == keys[order][:-1])
    first, second = (int(order[same[0]]), int(order[same[0] + 1])) if len(same) else (0, 0)
    raise ValueError(f"X stores the pair (row {rows[first]}, column {cols[first]}) twice (its "
                     f"stored entries {first} and {second}): every stored entry of a sparse X "
                     "is a rating, and a repeated one would be summed; merge a pair's "
                     "ratings first (mixrec.from_triples(..., duplicates='mean'))")


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

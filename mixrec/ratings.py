"""Ratings matrices: from columns (``from_triples``), and what counts as a rating.

``from_triples`` turns columns of users, items and ratings (a pandas data frame's, say) into
a sparse user x item matrix, with the id rules of ratings files (``ids.py``);
``as_ratings_matrix`` is the recommender's convention: every stored entry of a sparse
matrix is a rating, zeros included.
"""
import numpy as np
from scipy import sparse

from common import check_ratings
from mixrec import ids, ratingsfile


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



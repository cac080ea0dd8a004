"""Shared pieces of the EM matrix-completion module: the course's ``common.py``.

The ``GaussianMixture`` type, the course's initialisation, the metrics, and the input checks
every public function runs at its boundary. Zeros in a ratings matrix mean "missing".

The course's files and figures are read by ``course.py``, its synthetic matrices drawn by
``synthetic.py``.
"""
from typing import NamedTuple

import numpy as np
from scipy import sparse


class GaussianMixture(NamedTuple):
    """A mixture of K spherical Gaussians in d dimensions.

    Attributes
    ----------
    mu : ndarray of shape (K, d)
        Component means.
    var : ndarray of shape (K,)
        Component variances (one per component: the covariance is ``var[j] * I``).
    p : ndarray of shape (K,)
        Mixing weights, non-negative and summing to 1.
    """

    mu: np.ndarray
    var: np.ndarray
    p: np.ndarray


def init(X, K, seed=0):
    """Initialise a mixture the way the course's reference does.

    The means are K distinct rows of X chosen by ``RandomState(seed).choice(n, K,
    replace=False)`` (what seeding numpy's global generator and calling
    ``np.random.choice`` gives, without touching the global state); ``var[j]`` is the
    mean over all n*d entries, zeros included, of ``(X - mu[j])**2``; weights and
    posteriors are uniform.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d)
        Ratings, 0 = missing.
    K : int
        Number of components, 1 <= K <= n.
    seed : int, default 0
        Seed of the legacy generator that picks the rows.

    Returns
    -------
    mixture : GaussianMixture
        ``mu`` (K, d), ``var`` (K,), ``p`` (K,).
    post : ndarray of shape (n, K)
        Uniform posteriors, 1 / K everywhere.
    """
    X = check_ratings(X)
    n, d = X.shape
    K = check_n_components(K, n)
    rows = np.random.RandomState(check_seed(seed)).choice(n, K, replace=False)
    mu = X[rows].toarray() if sparse.issparse(X) else X[rows]
    # mean_{u,l} (x_ul - mu_jl)^2 expanded, so that no (n, d) temporary is made per component
    values = X.data if sparse.issparse(X) else X
    sum_sq = np.vdot(values, values)
    cross = X.sum(axis=0) @ mu.T
    var = (sum_sq - 2 * cross + n * np.sum(mu ** 2, axis=1)) / (n * d)
    # Rounding can leave a zero variance a hair below 0; a variance cannot be.
    var = np.maximum(var, 0)
    if not (np.isfinite(var).all() and (var > 0).all()):
        raise ValueError(f"X gives the initial variances {var}: EM needs finite ratings "
                         "(below about 1e150) that differ from the rows chosen as means")
    p = np.full(K, 1 / K)
    post = np.full((n, K), 1 / K)
    return GaussianMixture(mu, var, p), post


def rmse(X, Y):
    """Root-mean-square difference between two arrays of the same shape, over all entries."""
    X, Y = _as_array(X, "X", float), _as_array(Y, "Y", float)
    if X.shape != Y.shape:
        raise ValueError(f"X and Y must have the same shape, got {X.shape} and {Y.shape}")
    if X.size == 0:
        raise ValueError("X and Y are empty: there is no difference to measure")
    for name, array in (("X", X), ("Y", Y)):
        if not np.isfinite(array).all():
            raise ValueError(f"{name} must be finite, but it holds NaN or inf")
    return float(np.sqrt(np.mean((X - Y) ** 2)))


def bic(X, mixture, log_likelihood):
    """Bayesian information criterion, larger is better.

    ``log_likelihood - (free parameters / 2) * ln n`` with ``K*d`` means, ``K``
    variances and ``K - 1`` free weights.

    Parameters
    ----------
    X : array_like of shape (n, d)
    mixture : GaussianMixture
    log_likelihood : float

    Returns
    -------
    float
    """
    n, d = np.shape(X)
    K = np.shape(mixture[0])[0]  # a plain (mu, var, p) tuple works too
    if not (is_real(log_likelihood) and np.isfinite(log_likelihood)):
        raise ValueError(f"log_likelihood must be a finite number, got {log_likelihood!r}")
    n_params = K * d + K + (K - 1)
    return float(log_likelihood - n_params / 2 * np.log(n))


# ---------------------------------------------------------------------------------------
# Input checks, shared by init and the EM functions.  Each names the argument it rejects.

def check_ratings(X, *, stored_zeros=False):
    """Return X as a 2-D float ndarray, or a CSR array when sparse, or raise ValueError.

    A sparse X comes back as a ``csr_array`` in canonical form (sorted, duplicates summed)
    whose stored entries are the ratings: stored zeros are dropped, since 0 means "missing"
    there too, unless ``stored_zeros`` says they are ratings. Nothing is copied when X
    already is such an array.
    """
    if np.ma.isMaskedArray(X):
        X = _unmasked(X)
    if sparse.issparse(X):
        X = check_sparse_structure(X)
    else:
        X = _as_array(X, "X")
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array of shape (n, d), got {X.ndim}-D shape {X.shape}")
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must have at least one row and one column, got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X must hold real numbers, got dtype {X.dtype}")
    X = sparse.csr_array(X, dtype=float) if sparse.issparse(X) else X.astype(float, copy=False)
    if sparse.issparse(X) and not (X.has_canonical_format and (stored_zeros or X.data.all())):
        X = X.copy()
        X.sum_duplicates()  # before the finiteness check: two huge duplicates sum to inf
        if not stored_zeros:
            X.eliminate_zeros()
    if not np.isfinite(X.data if sparse.issparse(X) else X).all():
        raise ValueError("X must be finite (0 marks a missing entry), but it holds NaN or inf")
    return X


def check_sparse_structure(X):
    """Return a sparse X whose index arrays are within its shape and consistent, or raise.

    scipy trusts the arrays a sparse matrix is built from: an index out of range or an
    index pointer that falls makes its compiled routines read out of bounds (a crash, not
    an error). So every sparse input is checked in full first, in one pass over its
    indices: CSR, CSC and BSR by scipy's own full check, COO by the bounds of its
    coordinates; LIL, DOK and DIA are turned into COO (in Python, which checks) first.
    """
    try:
        if X.format in ("lil", "dok", "dia"):
            X = X.tocoo()
        if X.format in ("csr", "csc"):
            # checked on a new object sharing the arrays: check_format converts narrow or
            # float index arrays in place, which would change the caller's matrix
            X = type(X)((X.data, X.indices, X.indptr), shape=X.shape, copy=False)
            X.check_format(full_check=True)
        elif X.format == "bsr":
            X = X.copy()
            X.check_format(full_check=True)
        elif X.format == "coo":
            coords = getattr(X, "coords", None) or (X.row, X.col)
            for axis, index in enumerate(coords):
                if len(index) != len(X.data):
                    raise ValueError(f"coordinate {axis} holds {len(index)} indices for "
                                     f"{len(X.data)} values")
                if len(index) and not (0 <= index.min() and index.max() < X.shape[axis]):
                    raise ValueError(f"an index of axis {axis} lies outside 0..{X.shape[axis] - 1}")
    except (ValueError, TypeError, IndexError) as err:
        raise ValueError(f"X is a sparse matrix whose index arrays are corrupt: {err}") from None
    return X


def _unmasked(X):
    """A masked array's ratings, masked entries missing (0), or ValueError when an unmasked
    entry is 0: a dense matrix cannot tell that rating from a missing one."""
    filled = np.ma.getdata(X)
    rated = ~np.ma.getmaskarray(X)
    zero = np.argwhere(rated & (filled == 0))
    if len(zero):
        raise ValueError(f"X is a masked array with an unmasked 0 at "
                         f"{tuple(int(i) for i in zero[0])}: in a dense X, 0 means missing, "
                         "so that rating would be lost; pass the ratings as a sparse array "
                         "(mixrec.as_ratings_matrix keeps every unmasked entry)")
    return np.where(rated, filled, 0)


def _as_array(value, name, dtype=None):
    """np.asarray(value), or ValueError naming the argument when it is ragged or not numbers."""
    try:
        return np.asarray(value, dtype=dtype)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{name} must be a rectangular array of numbers: {err}") from None


def is_real(x):
    """Whether x is a real number (not a bool, a string or an array)."""
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def check_seed(seed):
    """Return seed as an int if it is an integer >= 0 (not a bool), or raise ValueError."""
    return check_integer("seed", seed, 0)


def check_integer(name, value, low):
    """Return value as an int if it is an integer >= low (not a bool), or raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_number(name, value, *, positive):
    """Return value as a float if it is finite and > 0 (positive) or >= 0, or raise."""
    if not (is_real(value) and np.isfinite(value) and (value > 0 if positive else value >= 0)):
        raise ValueError(f"{name} must be a finite number {'>' if positive else '>='} 0, "
                         f"got {value!r}")
    return float(value)


def check_n_components(K, n):
    """Return K as an int if 1 <= K <= n, or raise ValueError."""
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)):
        raise ValueError(f"K must be an integer, got {K!r}")
    if not 1 <= K <= n:
        raise ValueError(f"K must satisfy 1 <= K <= n = {n}, got K = {K}")
    return int(K)


def check_mixture(mixture, d):
    """Return the mixture's arrays as floats if they fit a d-dimensional model, or raise."""
    if not isinstance(mixture, tuple) or len(mixture) != 3:
        raise ValueError(f"mixture must be a GaussianMixture(mu, var, p), got {type(mixture).__name__}")
    mu, var, p = (_as_array(a, f"mixture.{name}", float)
                  for a, name in zip(mixture, GaussianMixture._fields))
    if mu.ndim != 2 or mu.shape[1] != d or mu.shape[0] < 1:
        raise ValueError(f"mixture.mu must have shape (K, d) with d = {d}, got {mu.shape}")
    K = mu.shape[0]
    if var.shape != (K,):
        raise ValueError(f"mixture.var must have shape (K,) = ({K},), got {var.shape}")
    if p.shape != (K,):
        raise ValueError(f"mixture.p must have shape (K,) = ({K},), got {p.shape}")
    if not np.isfinite(mu).all():
        raise ValueError("mixture.mu must be finite, but it holds NaN or inf")
    if not (np.isfinite(var).all() and (var > 0).all()):
        raise ValueError(f"mixture.var must be finite and positive, got {var}")
    if not (np.isfinite(p).all() and (p >= 0).all() and abs(p.sum() - 1) <= 1e-6):
        raise ValueError(f"mixture.p must be non-negative and sum to 1, got {p}")
    return GaussianMixture(mu, var, p)


def check_post(post, n, K):
    """Return post as a float array if it is an (n, K) array of posteriors, or raise.

    Posteriors are finite, non-negative, and each row sums to 1 (to 1e-6, for rounding).
    """
    post = _as_array(post, "post", float)
    if post.shape != (n, K):
        raise ValueError(f"post must have shape (n, K) = ({n}, {K}), got {post.shape}")
    if not (np.isfinite(post).all() and (post >= 0).all()):
        raise ValueError("post must be finite and non-negative")
    sums = post.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1) > 1e-6)
    if len(off):
        raise ValueError(f"each row of post must sum to 1, but row {off[0]} sums to "
                         f"{float(sums[off[0]])!r}")
    return post


def check_pairs(rows, cols, n, d, *, unknown=False):
    """Return rows and cols as intp arrays of one shape within (n, d), or raise ValueError.

    With ``unknown``, -1 is allowed too (a user or item the model lacks). Arrays already
    of intp come back as they are, not copied: pairs may number millions.
    """
    rows, cols = np.asarray(rows), np.asarray(cols)
    low = -1 if unknown else 0
    for name, index, size in (("rows", rows, n), ("cols", cols, d)):
        if index.ndim != 1 or (index.dtype.kind not in "iu" and index.size):
            raise ValueError(f"{name} must be a 1-D array of integers, got {index.dtype} "
                             f"of shape {index.shape}")
        if index.size and not (low <= index.min() and index.max() < size):
            raise ValueError(f"{name} must lie in 0..{size - 1}"
                             + (" (or -1 for unknown)" if unknown else ""))
    if rows.shape != cols.shape:
        raise ValueError(f"rows and cols must have the same shape, got {rows.shape} and "
                         f"{cols.shape}")
    return rows.astype(np.intp, copy=False), cols.astype(np.intp, copy=False)

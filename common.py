"""Shared pieces of the EM matrix-completion module.

The ``GaussianMixture`` type, the course's initialisation, the metrics, input checks and
loaders for the course's data files.  Zeros in a ratings matrix mean "missing".
"""
import os
import re
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
    rows = np.random.RandomState(seed).choice(n, K, replace=False)
    mu = X[rows].toarray() if sparse.issparse(X) else X[rows]
    # mean_{u,l} (x_ul - mu_jl)^2 expanded, so that no (n, d) temporary is made per component
    values = X.data if sparse.issparse(X) else X
    sum_sq = np.vdot(values, values)
    cross = X.sum(axis=0) @ mu.T
    var = (sum_sq - 2 * cross + n * np.sum(mu ** 2, axis=1)) / (n * d)
    p = np.full(K, 1 / K)
    post = np.full((n, K), 1 / K)
    return GaussianMixture(mu, var, p), post


def rmse(X, Y):
    """Root-mean-square difference between two arrays of the same shape, over all entries."""
    X, Y = np.asarray(X, dtype=float), np.asarray(Y, dtype=float)
    if X.shape != Y.shape:
        raise ValueError(f"X and Y must have the same shape, got {X.shape} and {Y.shape}")
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
    K = mixture.mu.shape[0]
    n_params = K * d + K + (K - 1)
    return float(log_likelihood - n_params / 2 * np.log(n))


# ---------------------------------------------------------------------------------------
# Input checks, shared by init and the EM functions.  Each names the argument it rejects.

def check_ratings(X):
    """Return X as a 2-D float ndarray, or a CSR array when sparse, or raise ValueError.

    A sparse X comes back as a ``csr_array`` in canonical form whose stored entries are the
    ratings: stored zeros are dropped, since 0 means "missing" there too. Nothing is
    copied when X already is such an array.
    """
    if not sparse.issparse(X):
        X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array of shape (n, d), got {X.ndim}-D shape {X.shape}")
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must have at least one row and one column, got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"X must hold real numbers, got dtype {X.dtype}")
    X = sparse.csr_array(X, dtype=float) if sparse.issparse(X) else X.astype(float, copy=False)
    if not np.isfinite(X.data if sparse.issparse(X) else X).all():
        raise ValueError("X must be finite (0 marks a missing entry), but it holds NaN or inf")
    if sparse.issparse(X) and not (X.has_canonical_format and X.data.all()):
        X = X.copy()
        X.sum_duplicates()
        X.eliminate_zeros()
    return X


def is_real(x):
    """Whether x is a real number (not a bool, a string or an array)."""
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


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
    mu, var, p = (np.asarray(a, dtype=float) for a in mixture)
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
    """Return post as a float array if it is a finite, non-negative (n, K) array, or raise."""
    post = np.asarray(post, dtype=float)
    if post.shape != (n, K):
        raise ValueError(f"post must have shape (n, K) = ({n}, {K}), got {post.shape}")
    if not (np.isfinite(post).all() and (post >= 0).all()):
        raise ValueError("post must be finite and non-negative")
    return post


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
    rng = np.random.RandomState(seed)
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
# The course's data files.

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


class Printed(NamedTuple):
    """A figure read from a printed reference, with the tolerance its printing implies."""

    value: object  # float or ndarray
    atol: object  # same shape as value


# Section headers of test_solutions.txt and the keys they are stored under.
_SECTIONS = {
    "Input": "input",
    "After first E-step": "estep",
    "After first M-step": "mstep",
    "After a run": "run",
}
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def load_solutions(path):
    """Parse the course's ``test_solutions.txt``.

    Returns
    -------
    dict
        ``{"input": {"X", "K", "Mu", "Var", "P"}, "estep": {"post", "LL"},
        "mstep": {"Mu", "Var", "P"}, "run": {"Mu", "Var", "P", "post", "LL", "X_gold",
        "X_pred", "RMSE"}}``, each figure a ``Printed(value, atol)`` whose ``atol`` is half
        a unit in the last place numpy printed it to (see ``_printed_atol``).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"solutions file not found: {path}")
    with open(path) as f:
        lines = f.read().splitlines()
    solutions, section, name, chunks = {}, None, None, []

    def flush():
        if name is not None:
            section[name] = _parse_printed(" ".join(chunks), path, name)

    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        header = stripped.rstrip(":")
        if header in _SECTIONS:
            flush()
            name, chunks = None, []
            section = solutions.setdefault(_SECTIONS[header], {})
        elif re.match(r"^[A-Za-z_]+:", stripped):
            if section is None:
                raise ValueError(f"{path}, line {number}: figure before any section header")
            flush()
            name, rest = stripped.split(":", 1)
            chunks = [rest]
        elif stripped:
            if name is None:
                raise ValueError(f"{path}, line {number}: unexpected text {stripped!r}")
            chunks.append(stripped)
    flush()
    missing = [s for s in _SECTIONS.values() if s not in solutions]
    if missing:
        raise ValueError(f"{path} lacks the sections {missing}")
    return solutions


def _parse_printed(text, path, name):
    """One figure: an int, a repr'd float, or a numpy-printed array (1-D or 2-D)."""
    text = text.strip()
    tokens = _NUMBER.findall(text)
    if not tokens:
        raise ValueError(f"{path}: figure {name!r} holds no number")
    if not text.startswith("["):
        value = float(tokens[0])
        if re.fullmatch(r"[-+]?\d+", tokens[0]):
            return Printed(int(tokens[0]), 0)
        return Printed(value, _printed_atol(tokens[0], precision=None))
    rows = [r for r in re.split(r"\]\s*\[", text.strip("[] ")) if r.strip()]
    grid = [_NUMBER.findall(r) for r in rows]
    if len({len(r) for r in grid}) != 1:
        raise ValueError(f"{path}: figure {name!r} is not a rectangular array")
    value = np.array([[float(t) for t in r] for r in grid])
    atol = np.array([[_printed_atol(t, precision=8) for t in r] for r in grid])
    if not text.startswith("[["):
        value, atol = value[0], atol[0]
    return Printed(value, atol)


def _printed_atol(token, precision):
    """Half a unit in the last place a number was printed to.

    numpy prints arrays with ``precision`` (8) digits after the point, in the mantissa in
    scientific notation, and drops trailing zeros, so "0.25" in an array means 0.25000000.
    A scalar printed by ``repr`` (precision None) shows every digit of a double, and two
    correct orders of the same sums differ in the last few, so it is held to 1e-13 relative.
    """
    mantissa, _, exponent = token.lower().partition("e")
    if precision is None:
        decimals = len(mantissa.partition(".")[2])
        return max(0.5 * 10.0 ** (int(exponent or 0) - decimals), 1e-13 * abs(float(token)))
    return 0.5 * 10.0 ** (int(exponent or 0) - precision)


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

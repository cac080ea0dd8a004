"""Neighbour stages: a mixture whose components are the training items (or users) themselves.

For a user u and a target item l, the components are the items j the user rated among l's
best-scoring neighbours, plus a null component (a residual of 0: the stages before this
one). Component j's log weight is the course's Gaussian log-joint of item l's column of
residuals against item j's, on their co-raters only (the E-step restricted to the co-rated
coordinates), per co-rater, on columns standardised over the co-raters, with a temperature T
for the variance, and shrunk toward the null by a prior worth ``shrink`` co-raters:

    s_lj = rho_lj * n_lj / (n_lj + shrink) / T,   rho_lj = P_lj / sqrt(Q_lj Qt_lj)
    (P, Q, Qt: sums over co-raters of r_l r_j, r_j^2, r_l^2; n_lj: co-raters)

(the squared distance of two standardised columns, per co-rater, is 2 - 2 rho). The
prediction is the posterior mean of the user's residual on l, the null included:

    pred(u, l) = sum_j e^s_lj r_uj / (e^null + sum_j e^s_lj)       over j in N(l) rated by u

The user-based twin is the same with users as components: ``pred(u, l) = sum_v e^s_uv r_vl /
(e^null + sum_v e^s_uv)`` over the neighbours v of u who rated l. Settings chosen by
validation inside the training files of four datasets (see the README): T 0.1, shrink 50,
null 3, 200 neighbours, at least 3 ratings to have or be a neighbour, at most 400 of a
heavy row's ratings in the statistics.

The lists are sparse matrices (``Lists``, CSR: row l holds l's neighbours and their scores
s_lj). Everything is vectorised: the co-rating statistics are sparse products over blocks of
target columns, the best k of each target kept by one sort per block; a pair's prediction
gathers its target's neighbours and looks their residuals up in the pair's row (pairs taken
in chunks sorted by row); a block of users' scores for every item are two sparse products, numerator
and denominator, the same sums.
"""
from typing import NamedTuple

import numpy as np
from scipy import sparse

# The co-ratings the statistics of one stage's lists take at most (a few tens of seconds on
# one core): past it, heavy rows lend a random subset of their ratings (``row_cap``).
CO_RATINGS = 3e8
# A log weight lies within +-MAX_SCORE: 1 / temperature, for a temperature of 0.01 or more.
MAX_SCORE = 100.0


class Lists(NamedTuple):
    """Each target's neighbours (a CSR pattern over t targets, of t columns) and their log
    weights ``s`` against the null's ``null``."""

    indptr: np.ndarray  # (t + 1,) int64
    index: np.ndarray  # (k_total,) int32: the neighbours, best first within each target
    score: np.ndarray  # (k_total,) float32: s_lj


def empty_lists(t):
    """Lists of t targets, none with a neighbour."""
    return Lists(np.zeros(t + 1, dtype=np.int64), np.zeros(0, dtype=np.int32),
                 np.zeros(0, dtype=np.float32))


def neighbour_lists(rows, cols, residual, shape, *, k=200, min_support=3, shrink=50.0,
                    temperature=0.1, max_per_row=400, budget=CO_RATINGS,
                    block_entries=20_000_000, seed=0):
    """The k best-scoring neighbours of each column of a sparse residual matrix.

    Parameters
    ----------
    rows, cols : ndarray of int, shape (m,)
        Each residual's context (users, for item neighbours) and component (item).
    residual : ndarray of shape (m,)
        In units of their spread.
    shape : (n, d)
        Contexts and columns.
    k : int
        Neighbours kept per column.
    min_support : int
        A column with fewer ratings neither has neighbours nor is one: a co-rating of one
        user says nothing.
    shrink, temperature : float
        The score's prior (co-raters' worth) and temperature.
    max_per_row : int or None
        At most this many of a context row's ratings (a random subset, ``RandomState(seed)``)
        enter the statistics: the work is then at most ``n * max_per_row ** 2``
        co-ratings, not ``sum_u n_u ** 2``.
    budget : float or None
        The co-ratings ``sum_u min(n_u, cap) ** 2`` the statistics may take at most: the
        cap per row is lowered below ``max_per_row`` until they fit (``row_cap``).
    block_entries : int
        The targets are taken in blocks whose co-rating products hold about this many
        entries (the memory bound).

    Returns
    -------
    Lists
        Of d targets.
    """
    n, d = shape
    count = np.bincount(cols, minlength=d)
    keep = count[cols] >= min_support
    rows, cols, residual = rows[keep], cols[keep], residual[keep]
    max_per_row = row_cap(np.bincount(rows, minlength=n), max_per_row, budget)
    if max_per_row is not None and len(rows):
        order = np.lexsort((np.random.RandomState(seed).rand(len(rows)), rows))
        first = np.searchsorted(rows[order], np.arange(n))
        rank = np.empty(len(rows), dtype=np.int64)
        rank[order] = np.arange(len(rows)) - first[rows[order]]
        sub = rank < max_per_row
        rows, cols, residual = rows[sub], cols[sub], residual[sub]
    R = sparse.csc_array((residual, (rows, cols)), shape=(n, d))
    M = sparse.csc_array((np.ones(len(rows)), (rows, cols)), shape=(n, d))
    R2 = sparse.csc_array((residual ** 2, (rows, cols)), shape=(n, d))
    Rr, Mr = R.tocsr(), M.tocsr()
    # the counts and Q in one product, as the real and imaginary parts of a complex one
    # (a third cheaper than two; a count is never 0, so the pattern is the co-ratings')
    M_Q = sparse.csr_array((1 + 1j * residual ** 2, (rows, cols)), shape=(n, d))
    targets = np.flatnonzero(count >= min_support)
    indices, scores, owners = [], [], []
    if len(targets) == 0 or len(rows) == 0:
        return empty_lists(d)
    # the co-rating entries a target brings: the sum over its raters of their row counts
    row_count = np.bincount(rows, minlength=n).astype(np.int64)
    cost = np.bincount(cols, weights=row_count[rows], minlength=d)[targets]
    cuts = np.searchsorted(np.cumsum(cost), np.arange(block_entries, cost.sum() + block_entries,
                                                      block_entries))
    bounds = np.unique(np.concatenate([[0], np.minimum(cuts + 1, len(targets))]))
    for first, last in zip(bounds[:-1], bounds[1:]):  # a handful of blocks
        block = targets[first:last]
        counts = M[:, block].T.astype(complex) @ M_Q  # (b, d): co-rating counts + i Q
        brow = np.repeat(np.arange(len(block)), np.diff(counts.indptr))
        P, Qt = (_on_pattern(left[:, block].T @ right, counts, brow, d)
                 for left, right in ((R, Rr), (R2, Mr)))
        score = scores_of(P, counts.data.imag, Qt, counts.data.real, shrink=shrink,
                          temperature=temperature)
        bcol = counts.indices
        mine = bcol != block[brow]  # not itself
        brow, bcol, score = brow[mine], bcol[mine], score[mine]
        top = best_per_row(brow, score, len(block), k)
        owners.append(block[brow[top]])
        indices.append(bcol[top])
        scores.append(score[top])
    owner = np.concatenate(owners)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(owner, minlength=d))])
    return Lists(indptr.astype(np.int64), np.concatenate(indices).astype(np.int32),
                 np.concatenate(scores).astype(np.float32))


def row_cap(per_row, cap, budget):
    """The largest cap, at most ``cap`` (None: none), for which the co-ratings ``sum
    min(per_row, cap) ** 2`` stay within ``budget`` (None: any); None when no cap binds."""
    per_row = np.sort(per_row.astype(float))
    longest = per_row[-1] if len(per_row) else 0.0
    cap = longest if cap is None else min(float(cap), longest)
    if budget is not None:
        def work(c):
            return float(np.sum(np.minimum(per_row, c) ** 2))
        low, high = 1, int(cap)
        if work(high) > budget:
            while low < high:  # the largest c with work(c) <= budget (at least 1)
                middle = (low + high + 1) // 2
                low, high = (middle, high) if work(middle) <= budget else (low, middle - 1)
            cap = float(low)
    return None if cap >= longest else int(cap)


def best_per_row(rows, score, n_rows, k):
    """The positions of the k highest scores of each row (all of a row that has at most k),
    for entries grouped by row (``rows`` non-decreasing); in no particular order.

    Where the rows are well filled, a (rows, longest row) table and one partition per row;
    else one sort of every entry by row, then by score.
    """
    per_row = np.bincount(rows, minlength=n_rows)
    if len(rows) == 0 or per_row.max() <= k:
        return np.arange(len(rows))
    start = np.concatenate([[0], np.cumsum(per_row)])
    if len(rows) >= 0.25 * n_rows * per_row.max():
        table = np.full((n_rows, per_row.max()), -np.inf)
        table[rows, np.arange(len(rows)) - start[rows]] = score
        best = np.argpartition(-table, k - 1, axis=1)[:, :k]  # slots within each row
        return (start[:-1, None] + best)[best < per_row[:, None]]
    # scores lie within +-MAX_SCORE (a temperature of at least 0.01): a key that sorts by
    # row, then by score, descending
    order = np.argsort(rows * (4.0 * MAX_SCORE) - np.clip(score, -MAX_SCORE, MAX_SCORE))
    return order[np.arange(len(order)) - start[rows[order]] < k]


def new_row_list(table, rated, residual, *, k, min_support, shrink, temperature):
    """A new row's neighbours among the table's rows (a new user's among the training
    users), scored as ``neighbour_lists`` scores them: Lists of one target.

    Parameters
    ----------
    table : Residuals
        The training rows' residuals.
    rated : ndarray of int, shape (m,)
        The columns the new row has, distinct.
    residual : ndarray of shape (m,)
        Its residuals there, in the table's units.
    k, min_support : int
    shrink, temperature : float
        The stage's settings.
    """
    n, d = len(table.indptr) - 1, table.d
    if len(rated) < min_support or len(table.values) == 0:
        return empty_lists(1)
    x, mask = np.zeros(d), np.zeros(d)
    x[rated], mask[rated] = residual, 1.0
    R = sparse.csr_array((table.values.astype(float), table.indices, table.indptr), shape=(n, d))
    co = R.copy()
    co.data = np.ones(len(co.data))
    counts = co @ mask  # co-rated columns with each training row
    P, Q = R @ x, (R * R) @ mask
    Qt = co @ (x * x)
    candidates = np.flatnonzero((counts > 0) & (np.diff(table.indptr) >= min_support))
    score = scores_of(P[candidates], Q[candidates], Qt[candidates], counts[candidates],
                      shrink=shrink, temperature=temperature)
    best = np.argsort(-score, kind="stable")[:k]
    return Lists(np.array([0, len(best)], dtype=np.int64),
                 candidates[best].astype(np.int32), score[best].astype(np.float32))


def scores_of(P, Q, Qt, n, *, shrink, temperature):
    """``s = rho * n / (n + shrink) / T`` with ``rho = P / sqrt(Q Qt)`` (0 where a column
    is constant on the co-raters): the log weight against the null's 0."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(Q * Qt > 0, P / np.sqrt(np.maximum(Q * Qt, 1e-300)), 0.0)
    return np.clip(rho, -1, 1) * (n / (n + shrink)) / temperature


def _on_pattern(S, N, rows_of_N, d):
    """The values of the CSR product S on the entries of the CSR product N (S's pattern is
    N's less the entries whose sum came out exactly 0, which scipy drops)."""
    if S.nnz == N.nnz and np.array_equal(S.indptr, N.indptr) and np.array_equal(
            S.indices, N.indices):
        return S.data
    key_n = rows_of_N.astype(np.int64) * d + N.indices
    order = np.argsort(key_n)
    S = S.tocoo()
    values = np.zeros(N.nnz)
    values[order[np.searchsorted(key_n[order], S.row.astype(np.int64) * d + S.col)]] = S.data
    return values


# ---------------------------------------------------------------------------------------
# Predictions: at pairs, and every item of a block of users (the same sums)

class Residuals(NamedTuple):
    """The training residuals (in units of the spread), user by user: a CSR pattern."""

    indptr: np.ndarray  # (n + 1,)
    indices: np.ndarray  # (nnz,) the items, sorted within each user
    values: np.ndarray  # (nnz,)
    d: int


def predict_pairs(lists, table, owners, users, items, null, by_item=True,
                  transposed_table=None):
    """The neighbour stage's prediction of the residual at (user, item) pairs, shape (m,).

    ``owners``, ``users`` and ``items`` are each of shape (m,). ``owners`` are the targets whose lists serve each pair (the items for the item-based
    stage, the users for the user-based one), -1 where there is none (an unknown user or
    item, a new user for the user-based stage): 0 there, the null's own prediction.
    ``transposed_table``: ``transposed(table)``, when the caller holds it.

    The residuals a pair averages are looked up in the row that holds them: the pair's
    user's (item-based), or the pair's item's in the table transposed (user-based; built
    once per call, for many pairs; for few pairs, each lookup bisects its neighbour's row of
    the user-major table instead). Pairs are taken sorted by that row, in chunks whose rows
    are spread into a dense block when it is small (one gather per neighbour), else
    searched by key among the chunk's rows' entries.
    """
    out = np.zeros(len(users))
    owners = np.asarray(owners)
    if len(lists.index) == 0 or len(users) == 0 or len(table.values) == 0:
        return out
    rows = np.asarray(users if by_item else items)
    valid = np.flatnonzero((owners >= 0) & (rows >= 0))
    if len(valid) == 0:
        return out
    if by_item:
        held = table
    elif transposed_table is not None:  # the caller's, for many calls
        held = transposed_table
    elif len(valid) * (len(lists.index) / max(len(lists.indptr) - 1, 1)) > \
            TRANSPOSE_AT * len(table.values):
        held = transposed(table)
    else:  # few pairs: each neighbour's own row, found by bisection, without a transpose
        held = None
    order = valid[np.argsort(rows[valid], kind="stable")]
    e_null = np.exp(null)
    for chunk in _chunks(len(order)):
        pairs = order[chunk]
        owner = owners[pairs]
        first = lists.indptr[owner]
        length = lists.indptr[owner + 1] - first
        entries = _entries(first, length)  # every (pair, neighbour), flat: no padding
        pair_of = np.repeat(np.arange(len(pairs)), length)
        neighbour = lists.index[entries]
        if held is None:  # the neighbours' rows of the user-major table
            found, value = _bisect(table, neighbour, rows[pairs][pair_of])
        else:
            found, value = _look_up(held, rows[pairs], neighbour, pair_of)
        weight = np.where(found, np.exp(lists.score[entries].astype(float)), 0.0)
        out[pairs] = np.bincount(pair_of, weight * value, minlength=len(pairs)) / (
            e_null + np.bincount(pair_of, weight, minlength=len(pairs)))
    return out


# Pairs at a time: a chunk's (pair, neighbour) entries, a few hundred thousand, stay in
# the caches.
PAIRS_PER_CHUNK = 1 << 10
# A chunk's rows are spread into a dense (rows, columns) block when it has at most this many
# entries and at most DENSE_PER_LOOKUP per lookup (a wide catalogue's rows are searched).
DENSE_ENTRIES = 1 << 22
DENSE_PER_LOOKUP = 4
# More (pair, neighbour) lookups than this many per residual pay for transposing the
# table once: a bisection costs a dozen passes per lookup, a transpose a few per residual.
TRANSPOSE_AT = 0.25


def transposed(table):
    """The residuals item by item: a Residuals whose rows are the items (d = users)."""
    n = len(table.indptr) - 1
    R = sparse.csr_array((table.values, table.indices, table.indptr),
                         shape=(n, table.d)).tocsc()
    R.sort_indices()
    return Residuals(R.indptr.astype(np.int64), R.indices, R.data, n)


def _chunks(m):
    """Slices of PAIRS_PER_CHUNK pairs (of m, taken sorted by row)."""
    return [slice(start, start + PAIRS_PER_CHUNK) for start in range(0, m, PAIRS_PER_CHUNK)]


def _look_up(held, rows, cols, pair_of):
    """``(found, value)`` of the entries (rows[pair_of], cols), each (e,): rows (m,) sorted."""
    distinct, local = np.unique(rows, return_inverse=True)
    starts = held.indptr[distinct]
    lengths = held.indptr[distinct + 1] - starts
    entries = _entries(starts, lengths)
    owner = np.repeat(np.arange(len(distinct)), lengths)
    row = local[pair_of]
    if len(distinct) * held.d <= min(DENSE_ENTRIES, DENSE_PER_LOOKUP * len(cols)):
        block = np.full((len(distinct), held.d), np.nan, dtype=held.values.dtype)
        block[owner, held.indices[entries]] = held.values[entries]
        value = block[row, cols].astype(float)
        found = ~np.isnan(value)
        return found, np.where(found, value, 0.0)
    if len(entries) == 0:
        return np.zeros(cols.shape, dtype=bool), np.zeros(cols.shape)
    keys = owner.astype(np.int64) * held.d + held.indices[entries]  # sorted
    wanted = row.astype(np.int64) * held.d + cols
    position = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    found = keys[position] == wanted
    return found, np.where(found, held.values[entries[position]], 0.0)


def _entries(starts, lengths):
    """The positions starts[i] .. starts[i] + lengths[i] - 1 of every i, concatenated."""
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))


def _bisect(table, rows, cols):
    """``(found, value)`` of entries (rows, cols) of any one shape, each found by bisection
    within its row's sorted indices: no setup, a few dozen gathers. The table is not empty."""
    low, high = table.indptr[rows], table.indptr[rows + 1]
    last = len(table.indices) - 1
    for _ in range(int(np.diff(table.indptr).max()).bit_length()):
        middle = (low + high) // 2
        below = (middle < high) & (table.indices[np.minimum(middle, last)] < cols)
        low = np.where(below, middle + 1, low)
        high = np.where(below, high, middle)
    position = np.minimum(low, last)
    found = (low < table.indptr[rows + 1]) & (table.indices[position] == cols)
    return found, np.where(found, table.values[position], 0.0)


def as_matrix(lists, columns):
    """The lists as a CSR array of shape (t, columns) holding e^s (the weights)."""
    t = len(lists.indptr) - 1
    return sparse.csr_array((np.exp(lists.score.astype(float)), lists.index, lists.indptr),
                            shape=(t, columns))


def predict_block(lists, table, users, null, by_item=True, weights=None):
    """The neighbour stage's prediction for every item of a block of users, (b, d): the
    same sums as ``predict_pairs``, as two sparse products (numerator and denominator).

    ``weights`` is ``as_matrix(lists, ...)``, built once for many blocks.
    """
    d = table.d
    if len(lists.index) == 0:
        return np.zeros((len(users), d))
    n = len(table.indptr) - 1
    weights = as_matrix(lists, d if by_item else n) if weights is None else weights
    R = sparse.csr_array((table.values, table.indices, table.indptr), shape=(n, d))
    M = sparse.csr_array((np.ones(len(table.indices)), table.indices, table.indptr),
                         shape=(n, d))
    if by_item:  # sum_j e^s_lj r_uj: the block's residuals times the lists, transposed
        block_R, block_M = R[users], M[users]
        numerator = (block_R @ weights.T).toarray()
        denominator = (block_M @ weights.T).toarray()
    else:  # sum_v e^s_uv r_vl: the block's lists times everyone's residuals
        block_W = weights[users]
        numerator = (block_W @ R).toarray()
        denominator = (block_W @ M).toarray()
    return numerator / (np.exp(null) + denominator)

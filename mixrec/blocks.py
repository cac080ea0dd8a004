"""Blocks of ratings, and what a worker computes on one: the partitioned fit's map steps.

A block is a contiguous range of users with every one of their ratings. The partitioned fit
(``partitioned.py``) maps the functions below over the blocks, where they live, and adds up
their small results (``Partial``: in a tree, or block after block where float32 sums must
add up in the single machine's order): no function here sees more than its block and
arrays of O((n + d) x K) sent to it, and none changes its arguments (a new block is a new
value).
Plain numpy and scipy, no cluster: each function is the single-machine fit's own step
(``stages.py``, ``baseline.py``, ``mixtures.py``) restricted to a block, so that on the
same ratings the sums over the blocks are the single-machine sums, in another order.

A stage whose rows are users runs on the blocks as the course's EM does (``row_*``): each
block holds its users' posteriors; the mixture (K, d) goes out, the moments (K, 2 d) come
back. A stage whose rows are items runs on the same blocks of users "by columns"
(``column_*``): the means, (K, n), are per user, so each block holds its own users'
columns of them; the items' posteriors (K, d) go out and each block sends back its users'
share of the items' squared distances (K, d). Either way an iteration moves O(K d) per
block, whatever the number of ratings, and no block of items is needed (a block of items
would move the means, O(K n), instead).
"""
import zlib
from typing import NamedTuple

import numpy as np
from scipy import sparse

import em
import products
from common import GaussianMixture
from mixrec import baseline, mixtures, stages
from mixrec.model import check_pattern
from mixrec.ratings import as_ratings_matrix


class Piece(NamedTuple):
    """A block of ratings as the cluster keeps it: rows ``first:first + len(X)`` of the
    matrix (a user's ratings never straddle two pieces)."""

    first: int
    X: object  # (rows, d): csr_matrix (whose size Dask can tell, not yet a csr_array's), or
               # a dense ndarray for the course's EM
    times: object  # (nnz,) seconds in X's storage order (NaN: unknown), or None


class Packed(NamedTuple):
    """A piece's copy, compressed without loss (zlib): kept cold on another worker than
    the piece's, unpacked only when the piece is lost. Ratings and their indices
    compress several-fold (a rating is one of a few values), so a copy costs a fraction
    of the piece."""

    first: int
    shape: tuple
    sparse: bool
    arrays: tuple  # ((compressed bytes, dtype, shape), ...): data, indices, indptr; or X
    times: object  # (compressed bytes, dtype, shape) or None


def pack(piece):
    """The piece's Packed copy."""
    if sparse.issparse(piece.X):
        X = sparse.csr_matrix(piece.X)
        arrays = (X.data, X.indices, X.indptr)
    else:
        arrays = (np.asarray(piece.X),)
    return Packed(piece.first, piece.X.shape, sparse.issparse(piece.X),
                  tuple(_squeezed(a) for a in arrays),
                  None if piece.times is None else _squeezed(piece.times))


def _squeezed(array):
    array = np.ascontiguousarray(array)
    return zlib.compress(array.tobytes(), 1), array.dtype.str, array.shape


def _unsqueezed(packed):
    data, dtype, shape = packed
    return np.frombuffer(zlib.decompress(data), dtype=dtype).reshape(shape).copy()


def unpack(packed):
    """The Piece a Packed copy holds: the same values, bit for bit."""
    arrays = [_unsqueezed(a) for a in packed.arrays]
    X = sparse.csr_matrix(tuple(arrays), shape=packed.shape) if packed.sparse else arrays[0]
    return Piece(packed.first, X,
                 None if packed.times is None else _unsqueezed(packed.times))


def kept(value):
    """The value as a key of its own, where the task runs (the copy's worker)."""
    return value


def piece_of(root):
    """A root of a block, its piece or its packed copy, as a Piece."""
    return unpack(root) if isinstance(root, Packed) else root


class Block(NamedTuple):
    """A block of users during a fit: its rating pattern and the residuals being fitted."""

    first: int
    indptr: np.ndarray  # (rows + 1,)
    indices: np.ndarray  # (nnz,) int32: the items, sorted within each user
    d: int
    residual: np.ndarray  # (nnz,) float64, in units of the baseline's residual spread

    @property
    def rows(self):
        """Each rating's user, numbered within the block (int32), in storage order."""
        return np.repeat(np.arange(len(self.indptr) - 1, dtype=np.int32),
                         np.diff(self.indptr))


def ratings_of(piece):
    """The piece's ratings as the recommender counts them (``as_ratings_matrix``) and its
    timestamps: ``(X csr_array, times or None)``; every rating must fit ``stages``' bound."""
    X = as_ratings_matrix(piece.X)
    if X.nnz and np.abs(X.data).max() > stages.MAX_RATING:
        raise ValueError(f"X holds a rating of magnitude {np.abs(X.data).max():.3g}: ratings "
                         f"must lie within +-{stages.MAX_RATING:g}, which the model's "
                         "float32 factors hold (rescale them)")
    return X, piece.times


# ---------------------------------------------------------------------------------------
# The baseline: the mean, then per-item sums over the blocks and per-user ones within each

class Totals(NamedTuple):
    """What the fit needs to know of all the ratings before it starts."""

    nnz: int
    total: float
    low: float
    high: float
    item_count: np.ndarray  # (d,) int64
    n_rated: int = 0  # users with a rating (``options.capacity``'s count)
    dated: int = 0  # ratings with a known timestamp


def totals(piece):
    """The piece's Totals (an empty piece's low and high are +inf and -inf)."""
    X, times = ratings_of(piece)
    return Totals(X.nnz, float(X.data.sum()), float(X.data.min()) if X.nnz else np.inf,
                  float(X.data.max()) if X.nnz else -np.inf,
                  np.bincount(X.indices, minlength=X.shape[1]),
                  int(np.count_nonzero(np.diff(X.indptr))),
                  0 if times is None else int(np.count_nonzero(np.isfinite(times))))


def add_totals(a, b):
    return Totals(a.nnz + b.nnz, a.total + b.total, min(a.low, b.low), max(a.high, b.high),
                  a.item_count + b.item_count, a.n_rated + b.n_rated, a.dated + b.dated)


class BaselineBlock(NamedTuple):
    """A block of users while the baseline's biases are fitted (``baseline.fit``'s loop)."""

    rows: np.ndarray
    cols: np.ndarray
    ratings: np.ndarray
    user_count: np.ndarray
    day_of: object  # each rating's (user, day) in this block's day table, or -1; or None
    day_count: np.ndarray
    day_users: np.ndarray  # the day table, users numbered within the block
    days: np.ndarray
    user_bias: np.ndarray
    day_bias: np.ndarray
    day_term: object  # each rating's day bias, or 0.0 without timestamps (16 bytes a rating
                      # less, at the peak of a worker's memory)


def baseline_start(piece, mean, days=True):
    """``(BaselineBlock, partial item sums (d,))`` before the first epoch: biases at 0;
    ``days`` False: no bias per user and day, whatever the piece's timestamps.

    The (user, day) table is the block's own: a user's days are all in its block. It comes
    from ``baseline.fit`` without epochs (its day groups, biases at 0) and each rating's
    row of it from ``baseline.day_index``.
    """
    X, times = ratings_of(piece)
    times = times if days else None
    n_rows, d = X.shape
    rows = np.repeat(np.arange(n_rows, dtype=np.int32), np.diff(X.indptr))
    cols = X.indices.astype(np.int32, copy=False)
    table = baseline.fit(rows, cols, X.data, X.shape, times, epochs=0)
    dated = len(table.days) > 0
    day_of = baseline.day_index(table, rows, times) if dated else None
    state = BaselineBlock(rows, cols, X.data, np.bincount(rows, minlength=n_rows), day_of,
                          np.bincount(day_of[day_of >= 0], minlength=len(table.days))
                          if dated else np.zeros(0, dtype=np.int64),
                          table.day_users, table.days, np.zeros(n_rows),
                          np.zeros(len(table.days)), np.zeros(len(rows)) if dated else 0.0)
    return state, _item_sums(state, mean, d)


def _item_sums(state, mean, d):
    """``sum_{u rated l} (r - mean - user_bias - day_term)`` over this block, shape (d,)."""
    return np.bincount(state.cols, _left(state.ratings, mean, state.user_bias[state.rows],
                                         state.day_term), d)


def _left(ratings, mean, bias, day_term):
    """``ratings - mean - bias - day_term``, as ``baseline.fit`` computes it (the same
    operations in the same order), in one buffer: two (nnz,) temporaries at most."""
    left = ratings - mean
    left -= bias
    left -= day_term
    return left


def second_of(pair):
    """The small second item of a (block, small) pair, taken out where the block is."""
    return pair[1]


def baseline_epoch(pair, mean, item_bias, user_reg, day_reg, d):
    """The rest of an epoch of ``baseline.fit`` on this block, given the item biases summed
    over all the blocks: ``(BaselineBlock, partial item sums for the next epoch)``."""
    state = pair[0]
    rows, cols, ratings = state.rows, state.cols, state.ratings
    user_bias = np.bincount(rows, _left(ratings, mean, item_bias[cols], state.day_term),
                            len(state.user_count)) / (user_reg + state.user_count)
    day_bias, day_term = state.day_bias, state.day_term
    if len(state.days):
        dated = state.day_of >= 0
        left = (ratings - mean - item_bias[cols] - user_bias[rows])[dated]
        day_bias = np.bincount(state.day_of[dated], left, len(state.days)) / (
            day_reg + state.day_count)
        day_term = np.where(dated, day_bias[np.maximum(state.day_of, 0)], 0.0)
    state = state._replace(user_bias=user_bias, day_bias=day_bias, day_term=day_term)
    return state, _item_sums(state, mean, d)


def baseline_part(pair, first):
    """The block's share of the fitted baseline: user biases and its (user, day) table,
    users numbered in the whole matrix."""
    state = pair[0]
    return (state.user_bias, (state.day_users.astype(np.int64) + first).astype(np.int32),
            state.days, state.day_bias)


def _residual(piece, mean, item_bias, part):
    """The piece's ratings less the baseline's predictions (``baseline.predict`` on the
    block's share ``part`` of the baseline): ``(X, residual (nnz,))``."""
    X, times = ratings_of(piece)
    user_bias, day_users, days, day_bias = part
    local = baseline.Baseline(mean, user_bias, item_bias,
                              (day_users.astype(np.int64) - piece.first).astype(np.int32),
                              days, day_bias)
    rows = np.repeat(np.arange(X.shape[0], dtype=np.int32), np.diff(X.indptr))
    residual = np.empty(X.nnz)
    for start in range(0, X.nnz, PREDICT_CHUNK):  # bounded temporaries, the same values
        at = slice(start, start + PREDICT_CHUNK)
        residual[at] = X.data[at] - baseline.predict(local, rows[at], X.indices[at],
                                                     None if times is None else times[at])
    return X, residual


# The baseline's predictions are made this many ratings at a time on a block.
PREDICT_CHUNK = 1 << 20


def residual_squares(piece, mean, item_bias, part, largest=None):
    """The baseline's residuals over the piece, summarised for the scale (as
    ``stages.root_mean_square``): ``(largest |residual|, sum of squares)``, or given the
    largest over every block, the sum of ``(residual / largest) ** 2``. The residuals are
    not kept: ``residual_block`` computes them again, scaled, once the scale is known."""
    residual = _residual(piece, mean, item_bias, part)[1]
    if largest is not None:
        return float(np.sum((residual / largest) ** 2))
    return (float(np.abs(residual).max()) if len(residual) else 0.0,
            float(np.sum(residual ** 2)))


def add_squares(a, b):
    """Two blocks' ``residual_squares`` summaries added up: the larger largest, the sum."""
    return max(a[0], b[0]), a[1] + b[1]


def residual_block(piece, mean, item_bias, part, scale):
    """The piece's Block: its pattern and its residuals in units of ``scale``."""
    X, residual = _residual(piece, mean, item_bias, part)
    return Block(piece.first, X.indptr, X.indices.astype(np.int32, copy=False), X.shape[1],
                 residual / scale)


# ---------------------------------------------------------------------------------------
# A stage's view of a block: one summary per part of the users, cut as the single machine
# cuts them, so that sums over users add up in its order

def part_cuts(n):
    """Where the single machine cuts n users into the parts whose float32 products it adds
    in turn (``products``' column blocks of at most COLUMNS_PER_BLOCK, the rule of its
    ``_with_masks``): blocks of users made of whole parts, their sums added in this order,
    give its sums bit for bit."""
    return np.linspace(0, n, -(-n // products.COLUMNS_PER_BLOCK) + 1).astype(int)


def kept_entries(block, step):
    """The positions of the ratings of the block's users kept by a sample of every
    step-th user of the whole matrix (all of them for step 1), and the users kept."""
    n_rows = len(block.indptr) - 1
    if step == 1:
        return slice(None), np.arange(n_rows)
    kept = np.flatnonzero((block.first + np.arange(n_rows)) % step == 0)
    sizes = block.indptr[kept + 1] - block.indptr[kept]
    return np.repeat(block.indptr[kept] - np.concatenate([[0], np.cumsum(sizes)[:-1]]),
                     sizes) + np.arange(sizes.sum()), kept


def residual_sum(block, step=1):
    """The sum and number of the (sampled) residuals."""
    values = block.residual[kept_entries(block, step)[0]]
    return float(values.sum()), len(values)


def nearest(block, target, step=1):
    """``(distance, value)`` of the (sampled) residual nearest ``target`` (its first)."""
    values = block.residual[kept_entries(block, step)[0]]
    if len(values) == 0:
        return np.inf, 0.0
    at = int(np.argmin(np.abs(values - target)))
    return abs(float(values[at]) - target), float(values[at])


def view(block, by_columns, centre, cuts):
    """The block's residuals summarised for a stage's EM (as ``stages``' ``_side``): a
    View of one ``products.Summary`` per part of the users between ``cuts`` (numbered in
    the whole matrix), users as rows (``by_columns`` False), or the transpose, items as
    rows and the part's users as columns."""
    n_rows = len(block.indptr) - 1
    inside = np.unique(np.concatenate([[0], cuts[(cuts > block.first) & (
        cuts < block.first + n_rows)] - block.first, [n_rows]]))
    return View([_summary(block.indptr[lo:hi + 1] - block.indptr[lo],
                          block.indices[block.indptr[lo]:block.indptr[hi]],
                          block.residual[block.indptr[lo]:block.indptr[hi]], block.d,
                          by_columns, centre) for lo, hi in zip(inside[:-1], inside[1:])])


def _summary(indptr, indices, values, d, by_columns, centre):
    R = sparse.csr_array((values, indices, indptr), shape=(len(indptr) - 1, d))
    if by_columns:
        R = sparse.csr_array(R.T)
    return products.summarise(R, stored_zeros=True, dtype=np.float32, transposed=True,
                              centre=centre)


def sampled_rows(block, step, low, high):
    """The ratings of the block's users kept by the taste groups' sample (every step-th
    user of the whole matrix) whose number in the sample lies in ``low:high``: ``(counts
    per user, items, residuals)``, a few thousand users' at most."""
    entries, kept = kept_entries(block, step)
    numbers = (block.first + kept) // step
    chosen = (numbers >= low) & (numbers < high)
    sizes = np.diff(block.indptr)[kept]
    within = np.repeat(chosen, sizes)
    indices, residual = block.indices[entries], block.residual[entries]
    return sizes[chosen], indices[within], residual[within]


def sampled_part(d, centre, *pieces):
    """One part of the taste groups' sample, users as rows, from its blocks' pieces
    (``sampled_rows``), in order: a View of one summary."""
    sizes = np.concatenate([p[0] for p in pieces])
    indptr = np.concatenate([[0], np.cumsum(sizes)])
    return View([_summary(indptr, np.concatenate([p[1] for p in pieces]),
                          np.concatenate([p[2] for p in pieces]), d, False, centre)])


class Partial(NamedTuple):
    """A block's share of a sum over users. ``parts`` are its products' sums, part by part,
    in the products' own dtype (exact float32 values for float32 products), ``folded`` the
    sum of everything before them; ``plain`` arrays add up in float64."""

    folded: object  # ndarray or None
    parts: list
    plain: tuple


def partial(sums, plain, keep_parts):
    """A Partial of these part sums; folded here unless ``keep_parts`` (a block after the
    first, whose sums must wait to be added after its predecessors', in the users' order)."""
    found = Partial(None, list(sums), tuple(plain))
    return found if keep_parts else add_partials(None, found)


def partial_of(value):
    """The Partial a task returned, alone or last of a tuple beside what stays on the block
    (posteriors, means): the sum takes it without a task to pick it out."""
    return value if isinstance(value, Partial) else value[-1]


def add_partials(a, b):
    """a's sums, then b's added part after part (in their dtype, as the single machine
    adds its parts); the plain arrays summed."""
    a = None if a is None else partial_of(a)
    b = partial_of(b)
    folded = None if a is None else (None if a.folded is None else a.folded.copy())
    for part in ([] if a is None else a.parts) + b.parts:
        folded = np.array(part) if folded is None else np.add(folded, part, out=folded)
    if b.folded is not None:  # b folded apart from a: a tree, not the single machine's order
        folded = b.folded.copy() if folded is None else folded + b.folded
    plain = b.plain if a is None else tuple(x + y for x, y in zip(a.plain, b.plain))
    return Partial(folded, [], plain)


def _sums(summary, stats):
    """A product's sums as the summary's products made them (float32 ones exactly)."""
    return stats.astype(summary.dtype)


def moments_of(total, d, centre):
    """``em.Moments`` from the sum of the blocks' Partials of moments (``row_start``,
    ``row_step``)."""
    folded = np.asarray(total.folded, dtype=float)
    sq_norm, n_obs, weight, n = total.plain
    return em.Moments(folded[:, :d], folded[:, d:], sq_norm, n_obs, weight, int(n), centre)


def _moments_partial(parts, posts, keep_parts, lls=None):
    """The Partial of ``em.moments`` over the parts under their posteriors."""
    found = [em.moments(part, post) for part, post in zip(parts, posts)]
    sums = [_sums(part, np.hstack([m.weighted_sum, m.support]))
            for part, m in zip(parts, found)]
    plain = [sum(m.sq_norm for m in found), sum(m.n_obs for m in found),
             sum(m.weight for m in found), sum(m.n for m in found)]
    return partial(sums, plain if lls is None else [lls] + plain, keep_parts)


def column_totals(view, keep_parts):
    """A by-columns view's share of each item's ``sq_norm`` and ``n_rated`` (d,)."""
    parts = as_parts(view)
    return partial([], [sum(p.sq_norm for p in parts), sum(p.n_rated for p in parts)],
                   keep_parts)


class View:
    """A block's summaries for a stage, part after part (``view``)."""

    def __init__(self, parts):
        self.parts = parts

    def __sizeof__(self):
        # what Dask counts a worker's memory by: the summaries' own arrays are not all
        # public, so this is their size as products.summarise builds them (float32, with a
        # stored transpose): the ratings as given, and five arrays of 4 bytes a rating
        return sum(p.X.data.nbytes + p.X.indices.nbytes + p.X.indptr.nbytes
                   + 20 * p.X.nnz + 16 * (p.n + p.d) for p in self.parts)


def as_parts(view_or_summary):
    """The summaries of a View, or a lone Summary (the course's EM's blocks) as one."""
    return view_or_summary.parts if isinstance(view_or_summary, View) else [view_or_summary]


# ---------------------------------------------------------------------------------------
# A stage whose rows are the blocks' users: the course's EM, mapped over the blocks

def row_start(view, seeds, K, first, keep_parts):
    """The Partial of the moments of the Dirichlet starts of these users (rows ``first:``
    of the whole matrix's draws, ``stages.dirichlet_starts``)."""
    parts = as_parts(view)
    bounds = first + np.concatenate([[0], np.cumsum([p.n for p in parts])])
    posts = [stages.dirichlet_starts(seeds, K, lo, hi) for lo, hi in zip(bounds[:-1],
                                                                      bounds[1:])]
    return _moments_partial(parts, posts, keep_parts)


def row_step(view, sent, weight, n_groups, keep_parts):
    """An E-step of the stacked mixtures on this block and its moments: ``(post_t (K,
    n_b), Partial of (log-likelihoods (n_groups,), Moments))``; ``sent`` is ``(stack,
    log_pattern)``."""
    stack, log_pattern = sent
    parts = as_parts(view)
    steps = [mixtures.estep_groups(part, stack, n_groups, log_pattern=log_pattern,
                                   pattern_weight=weight) for part in parts]
    return (np.hstack([post for post, _ in steps]),
            _moments_partial(parts, [post for post, _ in steps], keep_parts,
                             lls=sum(lls for _, lls in steps)))


def row_factor(view, n_runs, rows, *steps):
    """The block's users' factor of a stage, (n_b, K * n_runs): each run's posteriors (the
    ``rows`` of its last E-step's stack), side by side, averaged; 0 for a user without a
    rating (who gets the baseline, not the prior)."""
    factor = np.hstack([step[0][taken].T for step, taken in zip(steps, rows)]) / n_runs
    factor[np.concatenate([p.n_rated for p in as_parts(view)]) == 0] = 0
    return factor


# ---------------------------------------------------------------------------------------
# A stage whose rows are items, on blocks of users: each block holds its users' columns of
# the means, (K, n_b), and the log of its users' smoothed supports for the pattern

class Means(NamedTuple):
    mu: np.ndarray  # (K, n_b)
    log_support: np.ndarray  # (K, n_b) log(support + smoothing), or (K, 0) without pattern


def column_mstep(view, post, source, K, min_variance, mean_prior, smoothing, keep_parts):
    """The M-step's means of this block's users under the items' posteriors ``post`` (K,
    d): ``(Means, Partial of (variance terms (K,), pattern sums (K,)))``; ``source`` holds
    the block's means before it (None at the start: zeros).

    The means are ``mixtures.mixture_from_moments``' own, user by user; the variance
    terms, ``-2 sum_u mu_c * wsum + sum_u mu_c**2 * support`` over the block, complete the
    squared errors that ``variances_from_moments`` needs with ``post @ sq_norm``
    (``column_small``); the pattern sums are ``sum_u (support + smoothing)``, the
    normaliser of ``mixtures.pattern_from_moments`` (0 without the pattern).
    """
    parts = as_parts(view)
    found = [(part.moments(post), part.d) for part in parts]  # each (K, 2 width)
    weighted_sum = np.hstack([stats[:, :width] for stats, width in found])
    support = np.hstack([stats[:, width:] for stats, width in found])
    old = np.zeros(weighted_sum.shape) if source is None else _means_of(source).mu
    zeros = np.zeros(len(post))
    centre = parts[0].centre
    moments = em.Moments(weighted_sum, support, zeros, zeros, zeros, parts[0].n, centre)
    mu = mixtures.mixture_from_moments(moments, GaussianMixture(old, np.ones(len(post)),
                                                                np.full(len(post), 1 / K)),
                                       min_variance, mean_prior).mu
    mu_c = mu - centre
    terms = -2 * np.sum(mu_c * weighted_sum, axis=1) + np.sum(mu_c ** 2 * support, axis=1)
    if smoothing is None:
        return Means(mu, np.zeros((len(post), 0))), partial([], [terms, zeros], keep_parts)
    smoothed = support + smoothing
    return (Means(mu, np.log(smoothed)),
            partial([], [terms, smoothed.sum(axis=1)], keep_parts))


def _means_of(source):
    return source if isinstance(source, Means) else source[0]


def column_estep(view, source, sent, keep_parts):
    """This block's users' share of the items' squared distances: ``(Means kept, Partial
    of the (K, d) sums, part by part)``; ``source`` holds the block's means.

    ``sent`` is ``(keep, var, weight, log_norm)``: the components still going (None: all),
    their variances, the pattern's weight and its log normaliser. The coefficients are
    ``mixtures.log_joint``'s, restricted to the block's users.
    """
    keep, var, weight, log_norm = sent
    means = _means_of(source)
    if keep is not None:
        means = Means(means.mu[keep], means.log_support[keep])
    mu_c = means.mu - as_parts(view)[0].centre
    if weight:
        log_pattern = means.log_support - log_norm[:, None]
        on_mask = mu_c ** 2 - (2 * weight) * var[:, None] * log_pattern
    else:
        on_mask = mu_c ** 2
    sums, first = [], 0
    for part in as_parts(view):
        columns = slice(first, first + part.d)
        sums.append(_sums(part, part.score(np.hstack([-2 * mu_c[:, columns],
                                                      on_mask[:, columns]]))))
        first += part.d
    return means, partial(sums, [], keep_parts)


def column_post(total, item_stats, var, p, n_groups):
    """The items' posteriors from their squared distances summed over the blocks
    (``column_posteriors``): ``(post_t (K, d), log-likelihoods)``, on a worker."""
    mixture = GaussianMixture(np.zeros((len(var), 1)), var, p)
    return column_posteriors(partial_of(total).folded, item_stats, mixture, n_groups)


def as_float32(source):
    """The posteriors as the products take them (float32: nothing they use is lost)."""
    return np.asarray(source[0] if isinstance(source, tuple) else source, dtype=np.float32)


def column_small(source, total, item_stats):
    """What the client's M-step needs of an iteration: ``(log-likelihoods or None,
    squared errors (K,), n_obs (K,), weight (K,), pattern sums (K,))``, the squared errors
    as ``em.variances_from_moments`` expands them (``column_mstep``)."""
    post, lls = source if isinstance(source, tuple) else (source, None)
    sq_norm, n_rated = item_stats
    terms, norm = partial_of(total).plain
    return lls, post @ sq_norm + terms, post @ n_rated, post.sum(axis=1), norm


def post_rows(source, rows):
    """One run's items' posteriors (d, K), for the client."""
    return source[0][rows].T


def column_posteriors(score, item_stats, mixture, n_groups):
    """The E-step from the items' squared distances summed over the blocks: ``(post_t (K,
    d), log-likelihoods (n_groups,))``, as ``mixtures.estep_groups`` computes them after
    its products (float32 products: posteriors floored where float32 is still normal)."""
    sq_norm, n_rated = item_stats
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        sq_dist = np.array(score, dtype=float)
        sq_dist += sq_norm
        np.maximum(sq_dist, 0, out=sq_dist)  # rounding below 0; the pattern's part is >= 0
        joint = em.log_joint_from_distances(sq_dist, n_rated, mixture)
    return mixtures.posteriors_from_joint(joint, n_groups, float32=True)


def column_rows(source, rows):
    """One run's means of the block's users, (K, n_b)."""
    return _means_of(source).mu[rows]


def column_factor(*mus):
    """The block's users' factor of a stage with items as rows: every run's means, (n_b,
    K * n_runs), as ``stages.fit_stage`` stacks them."""
    return np.vstack(mus).T


# ---------------------------------------------------------------------------------------
# After a stage: compression, the fold-in ridge, the residuals' update, the model's parts

def gram(factor):
    """``factor.T @ factor``, (c, c): summed over the blocks, the whole factor's."""
    return factor.T @ factor


def times_matrix(factor, transform):
    return factor @ transform


def ridge_terms(block, items, sample):
    """``stages.ridge_terms`` of the sampled users in this block (numbered in the whole
    matrix, sorted): ``(gram (u, k, k), moment (u, k))``, u of them."""
    local = sample[(sample >= block.first) & (sample < block.first + len(block.indptr) - 1)]
    local = local - block.first
    k = items.shape[1]
    if len(local) == 0:
        return np.zeros((0, k, k)), np.zeros((0, k))
    sizes = block.indptr[local + 1] - block.indptr[local]
    entries = np.repeat(block.indptr[local] - np.concatenate([[0], np.cumsum(sizes)[:-1]]),
                        sizes) + np.arange(sizes.sum())
    return stages.ridge_terms(items, block.residual, block.indices, entries, sizes)


def subtract(block, users, items):
    """The block with a stage's predictions, ``users[u] . items[l]``, taken off."""
    return block._replace(residual=block.residual - products.pairwise_dot(
        users.T, items.T, block.rows, block.indices))


def support(block, weights):
    """This block's share of each item's support under the last user stage's columns,
    ``pattern.T @ weights`` (d, c), with the weights as the model stores them (float32)."""
    pattern = sparse.csr_array((np.ones(len(block.indices)), block.indices, block.indptr),
                               shape=(len(block.indptr) - 1, block.d))
    return pattern.T @ np.asarray(weights.astype(np.float32), dtype=float)


def counts(block):
    """How many items each user of the block rated, (n_b,)."""
    return np.diff(block.indptr)


def checked_pattern(block):
    """The block's rating pattern checked as the model's (``model.check_pattern``); its
    number of ratings."""
    check_pattern(block.indptr, block.indices, len(block.indptr) - 1, block.d,
                  "model.rated")
    return len(block.indices)


def pattern_chunk(block, start, stop):
    """Items ``start:stop`` of the block's pattern (int32), for the model."""
    return np.asarray(block.indices[start:stop], dtype=np.int32)

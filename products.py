"""What EM needs of a ratings matrix, computed once: the machinery behind em.py's speed.

Every EM iteration is two matrix products with ``[X | mask]``, the ratings beside their 0/1
"rated" mask. ``summarise(X)`` builds what those products need once, and every function of
``em`` accepts the resulting ``Summary`` in place of X, so that a caller looping over
``em.estep`` / ``em.mstep`` pays for it once, as ``em.run`` does:

    ratings = summarise(X)
    post, ll = em.estep(ratings, mixture)
    mixture = em.mstep(ratings, post, mixture)

Dense X becomes one (n, 2 d) ndarray, whose products BLAS runs on every core. Sparse X stays
in CSR form (with int32 indices, converted once if it came with int64 ones), beside a mask
that shares its index arrays, split into row blocks of about equal size whose products run
in threads, one per core (scipy releases the GIL in them). Either way the ratings are held
centred on the rating nearest their mean, which leaves every squared distance unchanged
and keeps ratings that share a large offset exact.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from scipy import sparse

from common import check_ratings

# Below this many ratings a thread costs more than it saves.
MIN_NNZ_TO_SPLIT = 1_000_000
# A sparse product gathers one row of the dense factor per rating, at random: past about
# this many columns that table outgrows the caches and the product slows down fourfold
# (measured at the MovieLens-20M shape), so wider matrices are cut into column blocks
# whose products are summed.
COLUMNS_PER_BLOCK = 8192


class Summary:
    """A ratings matrix as EM uses it: ``[X | mask]`` and per-user constants.

    Build it with ``summarise(X)``; every function of ``em`` takes it in place of X.

    Attributes
    ----------
    X : ndarray of shape (n, d) or csr_array of shape (n, d)
        The checked ratings (float, CSR in canonical form when sparse).
    n, d : int
        Users and items.
    centre : float
        The rating nearest the mean rating, subtracted from every rating inside the summary
        (``[X - centre | mask]``, ``sq_norm``): squared distances are the same for centred
        ratings and centred means, and are computed without the cancellation that ratings
        sharing a large offset (1e8 + 1, 1e8 + 3, ...) would suffer in the expanded form.
        A rating rather than the mean itself, so that ratings equal to it centre to exactly
        0 however large they are (a mean is off by rounding).
    sq_norm : ndarray of shape (n,)
        ``||x_Cu - centre||^2``, the squared norm of each user's centred ratings.
    n_rated : ndarray of shape (n,)
        ``|C_u|``, how many items each user rated.
    stored_zeros : bool
        Whether a stored 0 of a sparse X is a rating (see ``summarise``).
    dtype : numpy dtype
        Of the products' operands: float64, or float32 for sparse X (see ``summarise``).
    """

    def __init__(self, X, stored_zeros=False, dtype=np.float64, transposed=False, centre=None):
        """X as ``common.check_ratings`` returns it; use ``summarise`` rather than this."""
        self.n, self.d = X.shape
        if sparse.issparse(X):
            X = _with_int32_indices(X)
        self.X = X
        self.stored_zeros = stored_zeros
        self.dtype = np.dtype(dtype)
        if sparse.issparse(X):
            self.centre = rating_nearest_mean(X.data) if centre is None else float(centre)
            centred = _same_pattern(X, X.data - self.centre)
            self.n_rated = np.diff(X.indptr).astype(float)
            with np.errstate(over="ignore"):  # said below, in one line
                self.sq_norm = _same_pattern(X, centred.data ** 2) @ np.ones(self.d)
            centred = _same_pattern(X, centred.data.astype(self.dtype, copy=False))
            n_blocks = n_workers() if X.nnz >= MIN_NNZ_TO_SPLIT else 1
            self._blocks = _with_masks(_row_blocks(centred, n_blocks))
            # X.T in CSR form too, for the M-step's products: each of its rows gathers the
            # posteriors of a column's users, 1.5-2x faster than scattering into them
            self._t_blocks = _with_masks(_row_blocks(sparse.csr_array(centred.T), n_blocks)) \
                if transposed else None
        else:
            self._stacked = np.empty((self.n, 2 * self.d))
            centred, rated = self._stacked[:, :self.d], self._stacked[:, self.d:]
            rated[...] = X != 0
            # centred serves first as the scratch of the search for the centre
            self.centre = (_dense_rating_nearest_mean(X, rated, scratch=centred)
                           if centre is None else float(centre))
            np.subtract(X, self.centre, out=centred)
            centred *= rated  # missing entries stay 0
            with np.errstate(over="ignore"):  # said below, in one line
                self.sq_norm = np.einsum("ul,ul->u", centred, centred)
            self.n_rated = self._stacked[:, self.d:] @ np.ones(self.d)  # exact: sums of ones
            self._blocks = self._t_blocks = None
        if not np.isfinite(self.sq_norm).all():
            raise ValueError("X holds ratings whose squares overflow float64 (a row's sum of "
                             "squares is not finite): EM needs ratings within about +-1e150")

    @property
    def n_blocks(self):
        """How many row blocks the sparse products are split into (1 for dense X)."""
        return 1 if self._blocks is None else len(self._blocks)

    def score(self, coef):
        """``coef @ [X - centre | mask].T``, shape (K, n), from coef of shape (K, 2 d)."""
        if self._blocks is None:
            return coef @ self._stacked.T
        out = np.empty((coef.shape[0], self.n))
        coef = coef.astype(self.dtype, copy=False)  # float32: half the memory traffic
        on_x, on_mask = coef[:, :self.d], coef[:, self.d:]

        on_x_t, on_mask_t = np.ascontiguousarray(on_x.T), np.ascontiguousarray(on_mask.T)

        def score_block(block):
            first, last, parts = block
            product = None
            for start, stop, x, mask in parts:
                part = x @ on_x_t[start:stop]
                part += mask @ on_mask_t[start:stop]
                product = part if product is None else np.add(product, part, out=product)
            out[:, first:last] = product.T
        _map(score_block, self._blocks)
        return out

    def moments(self, post_t):
        """``post_t @ [X - centre | mask]``, shape (K, 2 d), from post_t of shape (K, n)."""
        if self._blocks is None:
            return post_t @ self._stacked
        if self._t_blocks is not None:
            return self._moments_from_transpose(post_t)

        def block_moments(block):
            first, last, parts = block
            # scipy multiplies sparse by dense with the dense side C-contiguous: transpose
            # (and cast) the block's weights once for all the products, not once each
            weights = np.ascontiguousarray(post_t[:, first:last].T, dtype=self.dtype)
            partial = np.empty((post_t.shape[0], 2 * self.d))
            for start, stop, x, mask in parts:
                partial[:, start:stop] = (x.T @ weights).T
                partial[:, self.d + start:self.d + stop] = (mask.T @ weights).T
            return partial
        partial = _map(block_moments, self._blocks)
        return sum(partial[1:], partial[0])

    def _moments_from_transpose(self, post_t):
        """``moments`` from the stored X.T: each block of columns fills its own outputs."""
        weights = np.ascontiguousarray(post_t.T, dtype=self.dtype)  # (n, K)
        out = np.empty((post_t.shape[0], 2 * self.d))

        def block_moments(block):
            first, last, parts = block
            on_x = on_mask = None
            for start, stop, x_t, mask_t in parts:
                x_part, mask_part = x_t @ weights[start:stop], mask_t @ weights[start:stop]
                on_x = x_part if on_x is None else np.add(on_x, x_part, out=on_x)
                on_mask = mask_part if on_mask is None else np.add(on_mask, mask_part,
                                                                   out=on_mask)
            out[:, first:last] = on_x.T
            out[:, self.d + first:self.d + last] = on_mask.T
        _map(block_moments, self._t_blocks)
        return out

    def observed(self, rows, cols):
        """Whether each pair ``(rows[i], cols[i])`` is a rating, and its value (0 if not)."""
        if len(rows) == 0:  # scipy's sparse indexing refuses empty index arrays
            return np.zeros(0, dtype=bool), np.zeros(0)
        values = np.asarray(self.X[rows, cols], dtype=float).ravel()
        if self.stored_zeros:  # a stored 0 is a rating: ask the pattern, not the value
            return _same_pattern(self.X, np.ones(self.X.nnz))[rows, cols] != 0, values
        return values != 0, values

    def put_ratings(self, X_pred):
        """Overwrite, in place, the entries of an (n, d) array that are ratings with them."""
        if sparse.issparse(self.X):
            rows, cols, values = self.entries()
            X_pred[rows, cols] = values
        else:
            np.copyto(X_pred, self.X, where=self.X != 0)

    def put_ratings_bytes(self):
        """Bytes ``put_ratings`` allocates: a bool (n, d) mask, or the indices of the ratings."""
        return self.n * self.d if not sparse.issparse(self.X) else 16 * self.X.nnz

    def entries(self):
        """``(rows, cols, values)`` of every rating, each of shape (nnz,), row by row."""
        if sparse.issparse(self.X):
            rows = np.repeat(np.arange(self.n), np.diff(self.X.indptr))
            return rows, self.X.indices, self.X.data
        rows, cols = np.nonzero(self.X)
        return rows, cols, self.X[rows, cols]


def summarise(X, *, stored_zeros=False, dtype=np.float64, transposed=False, centre=None):
    """Check X and build its ``Summary``, the largest data EM allocates.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d), or a Summary
        Ratings, 0 = missing. A Summary is returned as it is.
    stored_zeros : bool, default False
        For sparse X: whether a stored 0 is a rating (True) or missing (False, the course's
        convention). A model of residuals needs True: a residual can be exactly 0 and still
        be a rating. Dense X has no way to say so and must leave it False.
    dtype : float64 (default) or float32
        For sparse X: the precision of the products' operands. float32 runs them 2-4 times
        faster (half the memory traffic, twice the SIMD width) at about 1e-7 relative error
        per sum: the recommender's choice, never the course's (whose printed figures need
        float64). Everything else (squared norms, logs, the M-step) stays float64.
    transposed : bool, default False
        For sparse X: also keep X.T in CSR form, which the M-step's products run on 1.5-2
        times faster, for one more copy of the ratings (the recommender's choice).
    centre : float or None
        The rating to centre on; None takes the rating nearest the mean. A block of a
        larger matrix (``cluster.py``) takes the whole matrix's, so that the blocks'
        moments add up.

    Returns
    -------
    Summary
    """
    if isinstance(X, Summary):
        return X
    if stored_zeros and not sparse.issparse(X):
        raise ValueError("stored_zeros=True needs a sparse X: a dense X cannot tell a rated 0 "
                         "from a missing entry")
    if np.dtype(dtype) not in (np.float64, np.float32):
        raise ValueError(f"dtype must be float64 or float32, got {dtype!r}")
    if np.dtype(dtype) == np.float32 and not sparse.issparse(X):
        raise ValueError("dtype=float32 needs a sparse X (the dense path is the course's)")
    if centre is not None and not (np.isfinite(centre)):
        raise ValueError(f"centre must be a finite number, got {centre!r}")
    return Summary(check_ratings(X, stored_zeros=stored_zeros), stored_zeros, dtype,
                   transposed and sparse.issparse(X), centre)


def rating_nearest_mean(values):
    """The rating closest to the mean of the ratings (0.0 without any), from the stored ones."""
    if values.size == 0:
        return 0.0
    return float(values[np.argmin(np.abs(values - values.mean()))])


def _dense_rating_nearest_mean(X, rated, scratch):
    """``_rating_nearest_mean`` of a dense X, given its float 0/1 ``rated`` mask, searched in
    ``scratch``, a float buffer of X's shape, so that no (n, d) float temporary is made."""
    n_ratings = rated.sum()  # exact: a sum of ones
    if n_ratings == 0:
        return 0.0
    np.subtract(X, X.sum() / n_ratings, out=scratch)
    np.abs(scratch, out=scratch)
    np.copyto(scratch, np.inf, where=X == 0)
    # row by row, then within the row: a flat argmin would copy the strided scratch
    row = int(np.argmin(scratch.min(axis=1)))
    return float(X[row, np.argmin(scratch[row])])


def _with_int32_indices(X):
    """X with int32 index arrays when its sizes allow: scipy's products run up to twice as
    fast on them as on the int64 ones ``csr_array((v, (r, c)))`` builds. One copy of the
    indices, once per summary."""
    if X.indices.dtype == np.int32 or max(X.nnz, *X.shape) >= 2 ** 31 - 1:
        return X
    return sparse.csr_array((X.data, X.indices.astype(np.int32), X.indptr.astype(np.int32)),
                            shape=X.shape, copy=False)


def _with_masks(blocks):
    """For each row block, ``(first row, last row, parts)``: the block cut into column
    blocks of at most COLUMNS_PER_BLOCK columns, each part ``(first column, last column,
    part, its 0/1 mask sharing the part's indices)``."""
    out = []
    for first, last, block in blocks:
        cuts = np.linspace(0, block.shape[1],
                           -(-block.shape[1] // COLUMNS_PER_BLOCK) + 1).astype(int)
        parts = []
        for start, stop in zip(cuts[:-1], cuts[1:]):
            part = block if len(cuts) == 2 else sparse.csr_array(block[:, start:stop])
            parts.append((start, stop, part, _same_pattern(part, np.ones_like(part.data))))
        out.append((first, last, parts))
    return out


def _row_blocks(X, n_blocks):
    """Split a CSR array into (first row, last row, block) of about equal nnz, sharing memory."""
    bounds = np.searchsorted(X.indptr, np.linspace(0, X.nnz, n_blocks + 1)[1:-1])
    bounds = np.unique(np.concatenate([[0], bounds, [X.shape[0]]]))
    blocks = []
    for first, last in zip(bounds[:-1], bounds[1:]):
        lo, hi = X.indptr[first], X.indptr[last]
        block = sparse.csr_array((X.data[lo:hi], X.indices[lo:hi], X.indptr[first:last + 1] - lo),
                                 shape=(last - first, X.shape[1]), copy=False)
        blocks.append((first, last, block))
    return blocks


def _same_pattern(X, values):
    """A CSR array with X's index arrays (shared, not copied) and these stored values."""
    return sparse.csr_array((values, X.indices, X.indptr), shape=X.shape, copy=False)


# ---------------------------------------------------------------------------------------
# Products at chosen pairs

def pairwise_dot(left_t, right_t, rows, cols):
    """``sum_k left_t[k, rows[i]] * right_t[k, cols[i]]`` for each pair, shape (m,).

    In chunks of at most CHUNK_BYTES of gathered factors, whatever K and the number of
    pairs, so that asking for millions of pairs of a wide model needs no more memory.
    """
    out = np.empty(len(rows))
    K = left_t.shape[0]
    if K == 0:
        out[:] = 0
        return out
    per_chunk = max(1, CHUNK_BYTES // (K * (left_t.itemsize + right_t.itemsize)))
    for start in range(0, len(rows), per_chunk):
        chunk = slice(start, start + per_chunk)
        out[chunk] = np.einsum("km,km->m", left_t[:, rows[chunk]], right_t[:, cols[chunk]])
    return out


# Bytes of gathered factors per chunk of pairs: 8 MB, whatever the number of pairs or K.
CHUNK_BYTES = 1 << 23


# ---------------------------------------------------------------------------------------
# Threads for the sparse row blocks

def n_workers():
    """Threads the sparse products use: one per core."""
    return os.cpu_count() or 1


_POOL = None
_POOL_LOCK = threading.Lock()


def _map(f, items):
    """``[f(item) for item in items]``, on a thread per core when there are several."""
    global _POOL
    if len(items) == 1:
        return [f(items[0])]
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(n_workers())
        pool = _POOL
    return list(pool.map(f, items))


def _forget_pool_after_fork():
    """A forked child inherits the pool but not its threads: using it would hang forever."""
    global _POOL, _POOL_LOCK
    _POOL, _POOL_LOCK = None, threading.Lock()


if hasattr(os, "register_at_fork"):  # Unix only; Windows has no fork
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


# ---------------------------------------------------------------------------------------
# Memory

def available_memory():
    """Bytes this process may still allocate, or None where that cannot be told.

    The smaller of the machine's available memory (Linux ``MemAvailable``) and what a
    process limit (``ulimit -v``, ``RLIMIT_AS``) leaves above the current address space.
    """
    limits = [_mem_available(), _address_space_left()]
    limits = [x for x in limits if x is not None]
    return min(limits) if limits else None


def _mem_available():
    """Linux ``MemAvailable`` in bytes, or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _address_space_left():
    """Bytes left under RLIMIT_AS, or None without a limit (or off Unix)."""
    try:
        import resource  # Unix only: imported here so that this module imports anywhere
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY:
            return None
        with open("/proc/self/statm") as f:
            used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        return max(soft - used, 0)
    except (ImportError, OSError, ValueError, AttributeError):
        return None

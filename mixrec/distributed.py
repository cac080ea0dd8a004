"""The EM and the recommender on a Dask cluster (``dask.distributed``): ratings on the workers.

Dask is optional: this module is imported only when a cluster is asked for (a client given
to ``mixrec.fit``, or ratings put on a cluster), and no other module of the project imports
dask. The work itself is ``partitioned.py``'s (the fit on blocks of users) and
``blocks.py``'s (what a worker computes on one block); this module connects, puts ratings
on the workers and hands them over.

- ``connect(address)`` / ``local_cluster(n_workers)``: a client, errors as one-line
  ValueErrors; ``close(client)``.
- Ratings onto the cluster, in blocks of users, each block on one worker and a copy on
  another (so that a lost worker loses no rating): ``scatter_ratings(client, X)`` sends an
  in-memory matrix once; ``read_ratings(client, path)`` reads a CSV file, a glob of them or
  a Parquet folder on the workers through ``dask.dataframe``, and ``from_frame(client,
  frame)`` any Dask DataFrame: the blocks are built there by a shuffle by user, the ids
  numbered by ``load_ratings``' rules; only the distinct ids reach the client.
- ``fit(ratings, client=...)``: the recommender's fit on those blocks (``partitioned.py``),
  the same model as ``mixrec.fit`` on the same ratings, with no process holding all of
  them.
- The course's EM on the blocks: ``run_many`` / ``run`` (every iteration one map of the
  E-step over the blocks and a tree-sum of their moments, ``mixtures.run_loop``, the
  single-process loop itself), ``predict``, ``fill_matrix``.
"""
import os
import warnings

import numpy as np
from scipy import sparse

import common
import em
import products
from mixrec import blocks, ids, mixtures, stages
from mixrec.blocks import Piece
from mixrec.blockem import (LOST_AFTER, TIMEOUT, Cluster, DistributedRatings, Posteriors,
                            lost_or_own, row_loop, with_copies)
from mixrec.partitioned import Retried
from mixrec.partitioned import fit as fit_partitioned
from mixrec.ratings import finite_column
from mixrec.ratings import RepeatedPair, build
from mixrec.baseline import check_times
from mixrec.ensemble import use_day_biases
from mixrec.options import check_hyper_parameters, resolved

__all__ = ["DistributedRatings", "Posteriors", "Retried", "close", "connect", "fill_matrix", "fit",
           "from_frame", "local_cluster", "predict", "read_ratings", "run", "run_many",
           "scatter_ratings"]


def _dask():
    try:
        from dask import distributed
    except ImportError:
        raise ValueError("a cluster needs dask: pip install 'dask[distributed]'") from None
    return distributed


def connect(address, *, timeout=30):
    """A client of the Dask scheduler at ``address`` (``tcp://host:8786``), or ValueError."""
    distributed = _dask()
    try:
        return distributed.Client(address, timeout=timeout)
    except (OSError, TimeoutError) as err:
        raise ValueError(f"cannot reach a Dask scheduler at {address} ({err})") from None


def local_cluster(n_workers, *, threads_per_worker=None, memory_limit="auto"):
    """A client of a new cluster of ``n_workers`` worker processes on this machine (for one
    large machine); ``close(client)`` shuts both down. The workers share the cores."""
    distributed = _dask()
    n_workers = common.check_integer("n_workers", n_workers, 1)
    threads = threads_per_worker or max(1, (os.cpu_count() or 1) // n_workers)
    cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=threads,
                                       processes=True, host="127.0.0.1",
                                       dashboard_address=":0", memory_limit=memory_limit,
                                       silence_logs=40)
    return distributed.Client(cluster)


def close(client):
    """Close a client, and the local cluster it started (``local_cluster``), if any."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def _cluster(client, timeout=TIMEOUT, lost_after=LOST_AFTER):
    if client is None or not hasattr(client, "submit"):
        raise ValueError("client must be a dask.distributed.Client")
    return Cluster(client, _dask().wait, timeout, lost_after)


def _n_blocks(cluster, n_blocks):
    """One block per worker by default: a block's products use the machine's cores."""
    return common.check_integer("n_blocks", n_blocks or max(1, len(cluster.workers())), 1)


def _bounds(indptr, n_blocks):
    """Blocks of users of about equal numbers of ratings, each made of whole parts of the
    single machine's (``blocks.part_cuts``), so that the fit's sums over users can add up in
    its order: ``bounds`` (n_blocks' + 1,), fewer blocks than asked where there are fewer
    parts."""
    n = len(indptr) - 1
    cuts = blocks.part_cuts(n)
    targets = np.linspace(0, indptr[-1], n_blocks + 1)[1:-1]
    nearest = np.argmin(np.abs(indptr[cuts][None, :] - targets[:, None]), axis=1)
    return np.unique(np.concatenate([[0], cuts[nearest], [n]]))


# ---------------------------------------------------------------------------------------
# Ratings onto the cluster

def scatter_ratings(client, X, *, n_blocks=None, stored_zeros=False, times=None):
    """Send a matrix to the cluster in blocks of users: each block once to a worker, and
    from there to a second one (the copy).

    Parameters
    ----------
    client : dask.distributed.Client
    X : array_like or sparse array of shape (n, d)
        Ratings. For the course's EM 0 is missing (with ``stored_zeros`` a sparse X's stored
        zeros are ratings); the recommender's ``fit`` counts every stored entry of a sparse
        X, as ``mixrec.fit`` does.
    n_blocks : int or None
        Blocks of about equal numbers of ratings; one per worker by default.
    times : array_like of shape (nnz,) or None
        For the recommender: each rating's timestamp, in X's canonical CSR storage order.

    Returns
    -------
    DistributedRatings
    """
    cluster = _cluster(client)
    X = common.check_ratings(X, stored_zeros=stored_zeros)
    if stored_zeros and not sparse.issparse(X):
        raise ValueError("stored_zeros=True needs a sparse X")
    if times is not None:
        if not sparse.issparse(X):
            raise ValueError("times need X as a sparse matrix, in whose storage order they are")
        X = sparse.csr_array(X)
        times = stages.check_times(times, X)
    n_blocks = _n_blocks(cluster, n_blocks)
    if sparse.issparse(X):
        X = sparse.csr_array(X)
        bounds = _bounds(X.indptr, n_blocks)
        centre = products.rating_nearest_mean(X.data)
    else:
        bounds = np.unique(np.linspace(0, X.shape[0], n_blocks + 1).astype(int))
        centre = products.summarise(X).centre
    workers = cluster.workers()
    if not workers:
        raise ValueError("the cluster has no worker")
    pieces = []
    for b, (first, last) in enumerate(zip(bounds[:-1], bounds[1:])):
        part = None if times is None else times[X.indptr[first]:X.indptr[last]]
        pieces.append(cluster.scatter(Piece(int(first), _rows(X, first, last), part),
                                      home=workers[b % len(workers)]))
    return DistributedRatings(cluster, pieces, with_copies(cluster, pieces), bounds,
                              X.shape[1], stored_zeros=stored_zeros, centre=centre)


def _rows(X, first, last):
    """Rows first:last of X as a piece holds them: dense, or a csr_matrix with int32
    indices where they fit (4 bytes a rating less than scipy's slices may keep)."""
    if not sparse.issparse(X):
        return X[first:last]
    lo, hi = X.indptr[first], X.indptr[last]
    index = np.int32 if max(X.shape[1], hi - lo) < 2 ** 31 else np.int64
    return sparse.csr_matrix((X.data[lo:hi], X.indices[lo:hi].astype(index),
                              (X.indptr[first:last + 1] - lo).astype(index)),
                             shape=(last - first, X.shape[1]))


def read_ratings(client, path, *, columns=None, sep=",", n_blocks=None):
    """Ratings read on the workers from a CSV file, a glob of them, or a Parquet folder.

    Parameters
    ----------
    client : dask.distributed.Client
    path : str
        A CSV file (``.gz``, ``.bz2``, ``.xz`` too), a glob of CSV files, or a folder of
        Parquet files; readable at the same path by the client (which reads the first
        file's header) and by every worker.
    columns : sequence of str or None
        The names of the user, item and rating columns, and of the timestamp column if the
        fit should use one. None: the header's first three columns, and its fourth as the
        timestamps if it has one (``load_ratings``' order).
    sep : str
        The CSV files' separator.

    Returns
    -------
    DistributedRatings
        With ``user_ids`` and ``item_ids``; each rating's timestamp where there is one.
    """
    _dask()
    try:
        import dask.dataframe as dd
    except ImportError:
        raise ValueError("reading ratings on a cluster needs dask.dataframe: pip install "
                         "'dask[dataframe]'") from None
    path = os.fspath(path)
    try:
        if os.path.isdir(path):
            frame = dd.read_parquet(path)
        else:
            packed = path.endswith((".gz", ".bz2", ".xz", ".zst", ".zip"))
            frame = dd.read_csv(path, sep=sep, dtype=str, keep_default_na=False,
                                blocksize=None if packed else "64MB",
                                compression="infer")
    except (OSError, ValueError, ImportError) as err:
        raise ValueError(f"{path}: cannot read ratings there ({err})") from None
    names = list(frame.columns)
    if columns is None:
        if len(names) < 3:
            raise ValueError(f"{path}: a ratings file needs user, item and rating columns; "
                             f"its header names {names}")
        columns = names[:4]
    columns = list(columns)
    if len(columns) not in (3, 4) or any(c not in names for c in columns):
        raise ValueError(f"columns must name 3 or 4 of the columns {names} (user, item, "
                         f"rating[, timestamp]), got {columns}")
    if any(_is_number(name) for name in columns):
        raise ValueError(f"{path}: the first line must be a header naming the columns "
                         f"(user,item,rating[,timestamp]); it reads {names}")
    return from_frame(client, frame, user=columns[0], item=columns[1], rating=columns[2],
                      timestamp=columns[3] if len(columns) == 4 else None,
                      n_blocks=n_blocks)


def _is_number(text):
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def from_frame(client, frame, *, user="user", item="item", rating="rating", timestamp=None,
               n_blocks=None):
    """Ratings from a Dask DataFrame of (user, item, rating[, timestamp]) columns, built on
    the workers: a shuffle of the partitions by user, each block gathering its share of
    every partition, and a copy of each block on another worker.

    The ids are numbered by ``load_ratings``' rules (``ids.py``: integers when lossless,
    else text; read id columns as strings, ``dtype=str``, to keep a file's text): only the
    distinct ids and each user's number of ratings reach the client. Every row is a
    rating, 0 included; a timestamp is in seconds (NaN or empty: unknown).

    Returns
    -------
    DistributedRatings
        With ``user_ids`` and ``item_ids``.
    """
    import dask
    cluster = _cluster(client)
    for name in (user, item, rating) + ((timestamp,) if timestamp else ()):
        if name not in frame.columns:
            raise ValueError(f"the frame has no column {name!r}; it has {list(frame.columns)}")
    per_user, items = dask.compute(frame[user].value_counts(), frame[item].unique())
    user_ids, order = ids.number(ids.from_values(per_user.index.to_numpy(), user))
    item_ids = ids.number(ids.from_values(items.to_numpy(), item))[0]
    n, d = len(user_ids), len(item_ids)
    if n == 0:
        raise ValueError("the frame holds no rating")
    counts = np.zeros(n, dtype=np.int64)
    np.add.at(counts, order, per_user.to_numpy())
    bounds = _bounds(np.concatenate([[0], np.cumsum(counts)]), _n_blocks(cluster, n_blocks))
    known = cluster.send((user_ids, item_ids))
    names = (user, item, rating, timestamp)
    columns = [c for c in names if c]
    parts = [client.compute(part) for part in frame[columns].to_delayed()]
    coded = [cluster.submit(_code_part, part, known, bounds, names) for part in parts]
    workers = cluster.workers()
    pieces = [cluster.submit(_gather_block, int(bounds[b]), int(bounds[b + 1]), d,
                             *[cluster.submit(_share, part, b) for part in coded],
                             home=workers[b % len(workers)] if workers else None)
              for b in range(len(bounds) - 1)]
    totals = cluster.get([cluster.submit(_piece_total, piece) for piece in pieces])
    mean = sum(t for t, _ in totals) / max(sum(c for _, c in totals), 1)
    centre = min(cluster.get([cluster.submit(_nearest_rating, p, mean) for p in pieces]),
                 key=lambda pair: pair[0])[1]
    return DistributedRatings(cluster, pieces, with_copies(cluster, pieces), bounds, d,
                              stored_zeros=True, centre=centre, user_ids=user_ids,
                              item_ids=item_ids)


def _code_part(part, known, bounds, names):
    """On a worker: a partition's rows as (row, col, rating[, time]) codes, split by block."""
    user_ids, item_ids = known
    user, item, rating, timestamp = names
    rows = ids.index_of(user_ids, ids.from_values(part[user].to_numpy(), user))
    cols = ids.index_of(item_ids, ids.from_values(part[item].to_numpy(), item))
    values = finite_column(part[rating].to_numpy(), rating)
    times = _seconds(part[timestamp].to_numpy(), timestamp) if timestamp else None
    block = np.searchsorted(bounds, rows, side="right") - 1
    return {b: (rows[block == b], cols[block == b], values[block == b],
                None if times is None else times[block == b]) for b in np.unique(block)}


def _seconds(values, name):
    """A timestamp column as float seconds, NaN where it is empty (unknown), or
    ValueError naming the column."""
    if values.dtype.kind in "OUS":
        values = np.where(values == "", "nan", values)
    try:
        times = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must hold timestamps in seconds: {err}") from None
    return check_times(times, len(times), name)  # NaN or 1900 to 2200, as load_ratings


def _share(coded, b):
    """A partition's share of block b (None if it has none)."""
    return coded.get(b)


def _gather_block(first, last, d, *shares):
    """On a worker: a block's Piece from every partition's share of it."""
    shares = [share for share in shares if share is not None]
    rows = np.concatenate([s[0] for s in shares] or [np.zeros(0, int)]) - first
    cols = np.concatenate([s[1] for s in shares] or [np.zeros(0, int)])
    values = np.concatenate([s[2] for s in shares] or [np.zeros(0)])
    dated = shares and shares[0][3] is not None
    times = np.concatenate([s[3] for s in shares]) if dated else None
    try:
        X, times = build(rows, cols, values, (last - first, d), times, duplicates="refuse")[:2]
    except RepeatedPair:
        raise ValueError("a (user, item) pair is rated twice in the frame") from None
    X = sparse.csr_matrix((X.data, X.indices.astype(np.int32), X.indptr), shape=X.shape)
    return Piece(first, X, times)


def _piece_total(piece):
    return float(piece.X.data.sum()), piece.X.nnz


def _nearest_rating(piece, target):
    data = piece.X.data
    if len(data) == 0:
        return np.inf, 0.0
    at = int(np.argmin(np.abs(data - target)))
    return abs(float(data[at]) - target), float(data[at])


# ---------------------------------------------------------------------------------------
# The recommender

def fit(X, client=None, *, seed=0, callback=None, times=None, n_blocks=None,
        pattern_dir=None, timeout=TIMEOUT, lost_after=LOST_AFTER, **hyper_parameters):
    """The stages' model of ``mixrec.fit`` on a Dask cluster, the ratings partitioned over
    its workers: the same model as ``mixrec.fit(X, times=times, blend_holdout=0, ...)`` on
    one machine, the baseline and the stages of mixtures summed, with no neighbour stage
    and no blend (those are fitted on one machine only).

    The choices the single machine makes from the data are made as it makes them: the item
    stages' capacity (``options.capacity``) from the blocks' counts; with timestamps and
    ``day_biases=None``, whether to keep a bias per user and day is judged on held-out
    ratings (``ensemble.use_day_biases``) when the ratings are in memory here, and must be
    said (``day_biases=True`` or ``False``) for ratings already on the cluster.

    Parameters
    ----------
    X : DistributedRatings, or array_like or sparse array of shape (n, d)
        Ratings on the cluster (``read_ratings``, ``from_frame``, ``scatter_ratings``), or
        in memory, then scattered once in blocks (with ``times``, as ``mixrec.fit``).
    client : dask.distributed.Client or None
        Needed for ratings in memory; implied by a DistributedRatings.
    seed, callback, **hyper_parameters
        As ``mixrec.fit``'s. ``blend_holdout`` defaults to 0 here (the stages' model); any
        other value is a ValueError, since the blend is not fitted on a cluster. The
        learned pseudo-counts (``user_reg=None``, ``item_reg=None``) are single-machine
        only too.
    pattern_dir : str or None
        Where the model's rating pattern is written before it is mapped into memory
        (``partitioned.fit``); the system's temporary folder by default.
    timeout, lost_after : float
        Seconds a step may take, and the cluster may be without a worker, before the fit
        stops with a ValueError.

    Returns
    -------
    Model
        The stages' model (no blend: ``model.blend_weights`` is empty), the same as one
        machine's with ``blend_holdout=0`` to float32 rounding (the blocks' products may be
        summed in another order). Its ``rated_indices`` is a read-only ``np.memmap``.
    """
    options = check_hyper_parameters(hyper_parameters, seed)
    if options["blend_holdout"] != 0 and "blend_holdout" in hyper_parameters:
        raise ValueError(f"blend_holdout = {options['blend_holdout']:g}: a cluster fits the "
                         "stages' model only, with no neighbour stage and no blend; pass "
                         "blend_holdout=0 (the default on a cluster), or fit on one machine")
    options["blend_holdout"] = 0.0
    for name in ("user_reg", "item_reg"):
        if options[name] is None:
            raise ValueError(f"{name}=None (a learned pseudo-count) is fitted on one machine "
                             "only: give a cluster fit a number")
    timeout = common.check_number("timeout", timeout, positive=True)
    lost_after = common.check_number("lost_after", lost_after, positive=True)
    if pattern_dir is not None and not os.path.isdir(pattern_dir):
        raise ValueError(f"pattern_dir must be an existing folder, got {pattern_dir!r}")
    if isinstance(X, DistributedRatings):
        if client is not None and client is not X.client:
            raise ValueError("client must be the one the ratings are on (or None)")
        if times is not None:
            raise ValueError("times go with the ratings onto the cluster (read_ratings, "
                             "from_frame, scatter_ratings), not to fit")
        ratings = X
    else:
        X = stages.check_training(X)
        times = stages.check_times(times, X)
        # what ensemble.fit chooses from the data, chosen here the same way: the client
        # holds these ratings anyway
        options = resolved(options, int(np.count_nonzero(np.diff(X.indptr))), X.nnz)
        stages.check_sizes(options, X.shape)
        options["day_biases"] = use_day_biases(X, times, options)
        ratings = scatter_ratings(client, X, n_blocks=n_blocks, stored_zeros=True,
                                  times=times if options["day_biases"] else None)
    cluster = _cluster(ratings.client, timeout, lost_after)
    return fit_partitioned(ratings, cluster, options, seed, callback, pattern_dir)


# ---------------------------------------------------------------------------------------
# The course's EM on the blocks

def run_many(ratings, starts, *, tol=1e-6, max_iter=None, min_variance=.25, mean_prior=0.0,
             pattern_weight=0.0, pattern_smoothing=1.0, callback=None, client=None):
    """``mixtures.run_many`` from these starting mixtures on a DistributedRatings (or on X,
    sent to ``client``'s workers once the arguments are checked): the same loop, the same
    stopping rule.

    Returns a list of ``mixtures.Run`` whose ``post`` is a ``Posteriors`` (on the workers).
    """
    d = ratings.d if isinstance(ratings, DistributedRatings) else np.shape(ratings)[-1]
    starts = [common.check_mixture(m, d) for m in starts]
    options = mixtures.check_run_options(starts, tol, max_iter, min_variance, mean_prior,
                                         pattern_weight, pattern_smoothing)
    if not isinstance(ratings, DistributedRatings):
        ratings = scatter_ratings(client, ratings)
    views = ratings.blocks
    return row_loop(ratings.cluster, views, [None] * len(views), starts, options, callback,
                    ratings.d, ratings.centre, False)


def run(ratings, mixture, post, *, callback=None, **options):
    """``em.run`` on a DistributedRatings (or X, with ``client=``): ``(mixture, Posteriors,
    log_likelihood)``; ``post`` (checked, then superseded) may be None; ``callback(iteration,
    log_likelihood)`` as the single process's."""
    if post is not None:
        n = ratings.n if isinstance(ratings, DistributedRatings) else np.shape(ratings)[0]
        common.check_post(post, n, np.shape(mixture[0])[0])
    report = None if callback is None else (lambda iteration, lls: callback(iteration,
                                                                             lls[0]))
    (result,) = run_many(ratings, [mixture], callback=report, **options)
    if not result.converged:
        warnings.warn(f"EM did not converge in max_iter = {options.get('max_iter')} "
                      "iterations", RuntimeWarning, stacklevel=2)
    return result.mixture, result.post, result.log_likelihood


def predict(ratings, mixture, rows, cols):
    """``em.predict`` on a DistributedRatings: each block scores its own users' pairs."""
    _check_ratings(ratings)
    mixture = common.check_mixture(mixture, ratings.d)
    rows, cols = common.check_pairs(rows, cols, ratings.n, ratings.d)
    block_of = np.searchsorted(ratings.bounds, rows, side="right") - 1
    cluster, out, wanted = ratings.cluster, np.empty(len(rows)), []
    for b, block in enumerate(ratings.blocks):
        chosen = np.flatnonzero(block_of == b)
        if len(chosen):
            wanted.append((chosen, cluster.submit(em.predict, block, mixture,
                                                  rows[chosen] - ratings.bounds[b],
                                                  cols[chosen])))
    for (chosen, _), values in zip(wanted, _values(cluster, [f for _, f in wanted])):
        out[chosen] = values
    return out


def fill_matrix(ratings, mixture):
    """``em.fill_matrix`` on a DistributedRatings, the (n, d) result assembled here."""
    _check_ratings(ratings)
    mixture = common.check_mixture(mixture, ratings.d)
    cluster = ratings.cluster
    return np.vstack(_values(cluster, [cluster.submit(em.fill_matrix, block, mixture)
                                       for block in ratings.blocks]))


def _values(cluster, futures):
    """The futures' values; a lost worker is a ValueError that says so."""
    try:
        return cluster.get(futures)
    except ValueError as err:
        raise ValueError(str(lost_or_own(err))) from err


def _check_ratings(ratings):
    if not isinstance(ratings, DistributedRatings):
        raise ValueError(f"X must be a distributed.DistributedRatings, got "
                         f"{type(ratings).__name__}")

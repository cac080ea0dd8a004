"""The EM and the recommender on a Dask cluster (``dask.distributed``): ratings on the workers.

Dask is optional: this room is imported only when a cluster is asked for (a client given
to ``mixrec.fit``, or a ``DistributedRatings`` built), and nothing else imports dask.

- ``scatter_ratings(client, X)`` cuts an in-memory matrix into blocks of users, sends each
  once to a worker (and a copy to a second one, when there is one, so that a lost worker
  loses no rating); ``from_frame(client, frame)`` builds the blocks on the workers from a
  Dask DataFrame of (user, item, rating) columns, numbering the ids across the cluster by
  ``load_ratings``' rules: the client sees the ids, never the ratings.
- ``run_many`` / ``run``: every EM iteration is one map of the E-step over the blocks and a
  tree-sum of their moments (``mixtures.run_loop``, the very loop of the single-process
  run): only the mixture goes out, only (K, 2d) moments and (K,) sums and the
  log-likelihoods come back; the posteriors stay on the workers (``Posteriors``).
  ``predict`` and ``fill_matrix`` work there too.
- ``fit``: the recommender's fit, with the ratings sent once to every worker
  (``ReplicatedState``) and each stage's EM runs (seeds) shared out among them; the stages'
  factors go out and the runs' results come back, per stage, never per iteration.

A worker that dies mid-fit is replaced by Dask, which recomputes what it held from the
copies and lineage of the other workers; when that is impossible the fit raises a
``ValueError`` that says so, never a hang or a wrong model.
"""
import numpy as np
from scipy import sparse

import common
import em
import products
from mixrec import ids, mixtures, stages
from mixrec.ratings import RepeatedPair, build, finite_column
from mixrec.ensemble import use_day_biases
from mixrec.options import check_hyper_parameters, resolved

# The cluster's own errors that mean "a worker and what it held were lost".
_LOST = ("KilledWorker", "FutureCancelledError", "CancelledError", "CommClosedError")


def _dask():
    try:
        from dask import distributed
    except ImportError:
        raise ValueError("a cluster needs dask: pip install 'dask[distributed]'") from None
    return distributed


class DistributedRatings:
    """A ratings matrix held on a cluster's workers, in blocks of users.

    Attributes
    ----------
    client : dask.distributed.Client
    blocks : list of Future
        Each a ``summary.Summary`` of a block of rows (on a worker), centred on ``centre``.
    bounds : ndarray of int, shape (n_blocks + 1,)
        Block b holds rows ``bounds[b]:bounds[b + 1]``.
    n, d : int
    centre : float
        The rating nearest the mean of all the ratings: every block's summary centres on it,
        so that their moments add up.
    user_ids, item_ids : ndarray or None
        The ids, when built from a data frame (``from_frame``).
    """

    distributed = True  # what em looks for, without importing dask

    def __init__(self, client, blocks, bounds, d, centre, stored_zeros, user_ids=None,
                 item_ids=None):
        self.client, self.blocks, self.bounds = client, blocks, np.asarray(bounds)
        self.n, self.d, self.centre = int(self.bounds[-1]), int(d), float(centre)
        self.stored_zeros = stored_zeros
        self.user_ids, self.item_ids = user_ids, item_ids


def scatter_ratings(client, X, *, n_blocks=None, stored_zeros=False):
    """Send a matrix to the cluster in blocks of users (each block once, plus one copy).

    Parameters
    ----------
    client : dask.distributed.Client
    X : array_like or sparse array of shape (n, d)
        Ratings, as ``em`` takes them (0 = missing; with ``stored_zeros`` a sparse X's
        stored zeros are ratings).
    n_blocks : int or None
        Blocks of about equal numbers of ratings; two per worker by default.

    Returns
    -------
    DistributedRatings
    """
    X = common.check_ratings(X, stored_zeros=stored_zeros)
    if stored_zeros and not sparse.issparse(X):
        raise ValueError("stored_zeros=True needs a sparse X")
    n_workers = max(1, len(client.scheduler_info()["workers"]))
    n_blocks = common.check_integer("n_blocks", n_blocks or 2 * n_workers, 1)
    if sparse.issparse(X):
        bounds = np.unique(np.concatenate([[0], np.searchsorted(
            X.indptr, np.linspace(0, X.nnz, n_blocks + 1)[1:-1]), [X.shape[0]]]))
        centre = products.rating_nearest_mean(X.data)
    else:
        bounds = np.unique(np.linspace(0, X.shape[0], n_blocks + 1).astype(int))
        centre = products.summarise(X).centre
    pieces = client.scatter([X[first:last] for first, last in zip(bounds[:-1], bounds[1:])],
                            hash=False)
    if n_workers > 1:
        client.replicate(pieces, n=2)
    blocks = client.map(_summarise_block, pieces, centre=centre, stored_zeros=stored_zeros,
                        pure=False)
    return DistributedRatings(client, blocks, bounds, X.shape[1], centre, stored_zeros)


def _summarise_block(piece, centre, stored_zeros):
    """On a worker: a block's Summary, centred on the whole matrix's rating."""
    return products.summarise(piece, stored_zeros=stored_zeros, centre=centre)


def from_frame(client, frame, *, user="user", item="item", rating="rating", n_blocks=None):
    """Ratings from a Dask DataFrame of (user, item, rating) columns, built on the workers.

    The ids are numbered by ``data.load_ratings``' rules (``ids.py``: integers when lossless,
    else text; read id columns as strings, ``dtype=str``, to keep a file's text): only the
    distinct ids reach the client. Every row is a rating, 0 included.

    Returns
    -------
    DistributedRatings
        With ``user_ids`` and ``item_ids``.
    """
    user_ids = ids.number(ids.from_values(frame[user].unique().compute().to_numpy(), user))[0]
    item_ids = ids.number(ids.from_values(frame[item].unique().compute().to_numpy(), item))[0]
    n, d = len(user_ids), len(item_ids)
    n_workers = max(1, len(client.scheduler_info()["workers"]))
    n_blocks = common.check_integer("n_blocks", n_blocks or 2 * n_workers, 1)
    bounds = np.unique(np.linspace(0, n, n_blocks + 1).astype(int))
    (known,) = client.scatter([(user_ids, item_ids)], broadcast=True, hash=False)
    parts = [client.compute(part) for part in frame[[user, item, rating]].to_delayed()]
    coded = client.map(_code_part, parts, known=known, bounds=bounds,
                       names=(user, item, rating), pure=False)
    # a shuffle by user: each block gathers its share of every partition, and only that
    pieces = [client.submit(_gather_block, bounds[b], bounds[b + 1], d,
                            *[client.submit(_share, part, b, pure=False) for part in coded],
                            pure=False)
              for b in range(len(bounds) - 1)]
    totals = client.gather(client.map(_block_total, pieces))
    nnz = sum(count for count, _ in totals)
    if nnz == 0:
        raise ValueError("the frame holds no rating")
    mean = sum(total for _, total in totals) / nnz
    centre = min((client.gather(client.map(_nearest, pieces, target=mean))),
                 key=lambda value: abs(value - mean))
    blocks = client.map(_summarise_block, pieces, centre=centre, stored_zeros=True, pure=False)
    return DistributedRatings(client, blocks, bounds, d, centre, True, user_ids, item_ids)


def _code_part(part, known, bounds, names):
    """On a worker: a partition's rows as (row, col, rating) codes, split by block."""
    user_ids, item_ids = known
    user, item, rating = names
    rows = ids.index_of(user_ids, ids.from_values(part[user].to_numpy(), user))
    cols = ids.index_of(item_ids, ids.from_values(part[item].to_numpy(), item))
    values = finite_column(part[rating].to_numpy(), rating)
    block = np.searchsorted(bounds, rows, side="right") - 1
    return {b: (rows[block == b], cols[block == b], values[block == b])
            for b in np.unique(block)}


def _share(coded, b):
    """A partition's share of block b (None if it has none)."""
    return coded.get(b)


def _gather_block(first, last, d, *shares):
    """On a worker: a block's CSR from every partition's share of it."""
    shares = [share for share in shares if share is not None]
    rows = np.concatenate([s[0] for s in shares]) - first if shares else np.zeros(0, int)
    cols = np.concatenate([s[1] for s in shares]) if shares else np.zeros(0, int)
    values = np.concatenate([s[2] for s in shares]) if shares else np.zeros(0)
    try:
        return build(rows, cols, values, (last - first, d), duplicates="refuse").X
    except RepeatedPair:
        raise ValueError("a (user, item) pair is rated twice in the frame") from None


def _block_total(piece):
    return piece.nnz, float(piece.data.sum())


def _nearest(piece, target):
    return float(piece.data[np.argmin(np.abs(piece.data - target))]) if piece.nnz else np.inf


# ---------------------------------------------------------------------------------------
# EM over the blocks

class Posteriors:
    """Posteriors that stay on the workers: per block, a future of its (K, rows) array."""

    def __init__(self, client, steps, bounds, rows=slice(None)):
        self.client, self.steps, self.bounds, self.rows = client, steps, bounds, rows

    def take(self, rows):
        """The posteriors of some components (a run of a stack), still on the workers."""
        return Posteriors(self.client, self.steps, self.bounds, rows)

    def collect(self):
        """Bring them to the client: an (n, K) ndarray (only for data that fits there)."""
        parts = self.client.gather(self.client.map(_take_rows, self.steps, rows=self.rows))
        return np.vstack(parts)


def _take_rows(step, rows):
    return step[0][rows].T


def _block_step(block, stack, log_pattern, weight, n_groups):
    """On a worker: a block's E-step, its log-likelihoods and its moments."""
    post_t, lls = mixtures.estep_groups(block, stack, n_groups, log_pattern=log_pattern,
                                  pattern_weight=weight)
    return post_t, lls, em.moments(block, post_t)


def _small(step):
    return step[1], step[2]


def _add(a, b):
    return a[0] + b[0], mixtures.add_moments(a[1], b[1])


def tree_sum(client, futures, add):
    """``add``-reduce futures pairwise on the workers (a tree), one future at the end."""
    while len(futures) > 1:
        pairs = [client.submit(add, a, b, pure=False) for a, b in zip(futures[::2],
                                                                        futures[1::2])]
        futures = pairs + ([futures[-1]] if len(futures) % 2 else [])
    return futures[0]


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
    client = ratings.client

    def estep_and_moments(stack, log_pattern, weight, n_groups):
        (sent,) = client.scatter([(stack, log_pattern)], broadcast=True, hash=False)
        steps = [client.submit(_block_step_sent, block, sent, weight, n_groups, pure=False)
                 for block in ratings.blocks]
        lls, stats = _result(tree_sum(client, [client.submit(_small, s) for s in steps], _add))
        return Posteriors(client, steps, ratings.bounds), lls, stats
    return mixtures.run_loop(estep_and_moments, lambda post, rows: post.take(rows), starts,
                             options, callback)


def _block_step_sent(block, sent, weight, n_groups):
    stack, log_pattern = sent
    return _block_step(block, stack, log_pattern, weight, n_groups)


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
        import warnings
        warnings.warn(f"EM did not converge in max_iter = {options.get('max_iter')} "
                      "iterations", RuntimeWarning, stacklevel=3)
    return result.mixture, result.post, result.log_likelihood


def predict(ratings, mixture, rows, cols):
    """``em.predict`` on a DistributedRatings: each block scores its own users' pairs."""
    _check_ratings(ratings)
    mixture = common.check_mixture(mixture, ratings.d)
    rows, cols = common.check_pairs(rows, cols, ratings.n, ratings.d)
    block_of = np.searchsorted(ratings.bounds, rows, side="right") - 1
    client = ratings.client
    out = np.empty(len(rows))
    futures = {}
    for b, block in enumerate(ratings.blocks):
        chosen = np.flatnonzero(block_of == b)
        if len(chosen):
            futures[b] = (chosen, client.submit(em.predict, block, mixture,
                                                rows[chosen] - ratings.bounds[b], cols[chosen]))
    for chosen, future in futures.values():
        out[chosen] = _result(future)
    return out


def fill_matrix(ratings, mixture):
    """``em.fill_matrix`` on a DistributedRatings, the (n, d) result assembled here."""
    _check_ratings(ratings)
    mixture = common.check_mixture(mixture, ratings.d)
    client = ratings.client
    return np.vstack(_result(client.map(em.fill_matrix, ratings.blocks, mixture=mixture)))


def _check_ratings(ratings):
    if not isinstance(ratings, DistributedRatings):
        raise ValueError(f"X must be a cluster.DistributedRatings, got {type(ratings).__name__}")


def _result(future):
    """A future's (or list's) result; a lost worker is a ValueError that says so."""
    try:
        return future.result() if hasattr(future, "result") else \
            future[0].client.gather(future)
    except Exception as err:  # noqa: BLE001  (dask raises the workers' own, or its own)
        if type(err).__name__ in _LOST:
            raise ValueError(f"the cluster lost a worker and what it held, beyond what it "
                             f"could recompute ({type(err).__name__}: {err})") from err
        raise


# ---------------------------------------------------------------------------------------
# The recommender: a replica of its state on every worker, the seeds shared out

def fit(X, client, *, seed=0, callback=None, times=None, **hyper_parameters):
    """The stages of ``ensemble.fit`` on a Dask cluster (see ``ReplicatedState``): the same
    model as ``ensemble.fit(..., blend_holdout=0)``, the stages summed (the neighbour stages
    and the blend are fitted on one machine only)."""
    options = check_hyper_parameters(hyper_parameters, seed)
    X = stages.check_training(X)
    times = stages.check_times(times, X)
    options = resolved(options, int(np.count_nonzero(np.diff(X.indptr))), X.nnz)
    times = times if use_day_biases(X, times, options) else None
    return stages.fit_state(ReplicatedState(client, X, times, options), options, seed,
                            callback)


class ReplicatedState:
    """``stages.FitState`` on a cluster: the ratings sent once to every worker, each
    holding a replica of the fit's state; a stage's EM runs are shared out among them by
    seed, and its factors go out to every replica to update its residuals.

    Each run is computed by the same code on the same data as without a client, so the
    model is the same (the tests hold it to 1e-10). Per stage, the traffic is the stage's
    factors out ((n + d) x rank) and the runs' results back; nothing per EM iteration.
    """

    def __init__(self, client, X, times, options):
        self.client = client
        workers = sorted(client.scheduler_info()["workers"])
        if not workers:
            raise ValueError("the cluster has no worker")
        (source,) = client.scatter([(X, times)], broadcast=True, hash=False)
        # each replica built where it is meant to live; elsewhere if that worker dies
        self.replicas = [client.submit(_make_work, source, options, workers=[worker],
                                       allow_other_workers=True, pure=False)
                         for worker in workers]
        state = _result(client.submit(_state_of, self.replicas[0], pure=False))
        for name, value in state.items():
            setattr(self, name, value)

    def taste_groups(self, options, seed, report):
        mixture, trace = _result(self.client.submit(_taste, self.replicas[0], options, seed,
                                                    pure=False))
        _replay(trace, report, 0)
        return mixture

    def runs(self, side, K, seeds, pattern_weight, options, report):
        seeds = list(seeds)
        chunks = [chunk for chunk in np.array_split(np.array(seeds), len(self.replicas))
                  if len(chunk)]
        futures = [self.client.submit(_runs, replica, side, K, [int(s) for s in chunk],
                                      pattern_weight, options, pure=False)
                   for replica, chunk in zip(self.replicas, chunks)]
        runs, empty, offset = [], None, 0
        for chunk, (found, empty, trace) in zip(chunks, _result(futures)):
            _replay(trace, report, offset)
            runs.extend(found)
            offset += len(chunk)
        return runs, empty

    def fit_stage(self, side, first_seed, options, report):
        return stages.fit_stage(self, side, first_seed, options, report)

    def assemble(self, stages_done, taste, options):
        return stages.assemble(self, stages_done, taste, options)

    def fold_ridge(self, users, items):
        (sent,) = self.client.scatter([(users, items)], hash=False)  # not in the task graph
        return _result(self.client.submit(_ridge, self.replicas[0], sent, pure=False))

    def subtract(self, users, items):
        (sent,) = self.client.scatter([(users, items)], broadcast=True, hash=False)
        self.replicas = [self.client.submit(_subtract, replica, sent, pure=False)
                         for replica in self.replicas]


def _make_work(source, options):
    X, times = source
    return stages.FitState(X, times, options)


_STATE = ("shape", "nnz", "rated_indptr", "rated_indices", "rating_range", "baseline",
          "cold_var", "scale")


def _state_of(work):
    """What the client keeps of a replica: everything but the ratings' entries."""
    return {name: getattr(work, name) for name in _STATE}


class _Trace:
    """A callback that records what it is told, to replay on the client."""

    def __init__(self):
        self.calls = []

    def __call__(self, iteration, log_likelihoods):
        self.calls.append((iteration, dict(log_likelihoods)))


def _replay(trace, report, offset):
    if report is None:
        return
    for iteration, log_likelihoods in trace:
        report(iteration, {run + offset: ll for run, ll in log_likelihoods.items()})


def _taste(work, options, seed):
    trace = _Trace()
    return work.taste_groups(options, seed, trace), trace.calls


def _runs(work, side, K, seeds, pattern_weight, options):
    trace = _Trace()
    runs, empty = work.runs(side, K, seeds, pattern_weight, options, trace)
    return runs, empty, trace.calls


def _ridge(work, sent):
    return work.fold_ridge(*sent)


def _subtract(work, sent):
    """A new replica with a stage's predictions taken off (futures hold values: the old
    replica is not changed)."""
    import copy
    users, items = sent
    new = copy.copy(work)
    new.subtract(users, items)
    return new

"""The EM on blocks of ratings held by a cluster's workers, and the cluster's side of it.

- ``Cluster``: a Dask client whose every wait is bounded (a step that does not end, or a
  cluster without workers, is a ValueError that says so) and whose lost workers are
  ``LostBlocks``; sums over blocks in a tree, or in the users' order (``reduce_partials``).
- ``DistributedRatings``: ratings on the workers in blocks of users, each block on one
  worker and a packed copy of it on another (``with_copies``), so that a lost worker
  loses nothing.
- The EM mapped over the blocks, both ways (``blocks.py`` says what each block computes):
  ``row_loop`` when the rows of the mixtures are the blocks' users (the mixture goes out,
  (K, 2 d) moments come back) and ``column_loop`` when they are items (each block holds
  its users' columns of the means; the items' posteriors are computed on a worker). Both
  are ``mixrec.mixtures.run_loop``, the single-machine loop itself, so that the stopping
  rule cannot differ; per iteration O(K d) moves per block, whatever the number of
  ratings, and the client makes one round trip.

Nothing here imports dask: the client's own methods do the work, and ``distributed.py``
hands in dask's ``wait``.
"""
import asyncio
import gc
import time

import numpy as np

import em
import products
from mixrec import blocks, mixtures, stages

# The cluster's own errors that mean "a worker was lost, with what it held".
LOST = ("KilledWorker", "FutureCancelledError", "FuturesCancelledError", "CancelledError",
        "CommClosedError")
# A step (one map over the blocks and its sum) that takes longer than this is an error.
TIMEOUT = 3600.0
# A cluster that has had no worker for this long is an error.
LOST_AFTER = 60.0
# How often a wait looks at the cluster.
POLL = 1.0
# Arguments up to this size ride with the tasks; larger ones are scattered first.
SEND_BYTES = 4 << 20


class LostBlocks(ValueError):
    """A step lost data with a worker; the fit retries it from the blocks' copies."""


class Cluster:
    """A Dask client whose every wait is bounded and whose lost workers are LostBlocks.

    Parameters
    ----------
    client : dask.distributed.Client
    wait : callable
        ``dask.distributed.wait`` (handed in, so that this module imports no dask).
    timeout : float
        Seconds a step may take.
    lost_after : float
        Seconds the cluster may be without a worker.
    """

    def __init__(self, client, wait, timeout=TIMEOUT, lost_after=LOST_AFTER):
        self.client, self._wait = client, wait
        self.timeout, self.lost_after = float(timeout), float(lost_after)
        # what this client has put into the cluster (arrays in task arguments, scattered
        # values) and taken out of it (values gathered): the benchmark's account
        self.bytes_sent = self.bytes_received = 0

    def workers(self):
        """The workers' addresses, sorted."""
        try:
            return sorted(self.client.scheduler_info()["workers"])
        except (OSError, TimeoutError, asyncio.TimeoutError) as err:
            raise ValueError(f"the cluster's scheduler cannot be reached ({err})") from None

    def submit(self, function, *args, home=None):
        """``function(*args)`` on a worker, at ``home`` while that worker lives (a block's
        work stays where the block is: the block never travels), elsewhere after."""
        where = {} if home is None else {"workers": [home], "allow_other_workers": True}
        self.bytes_sent += _nbytes(args)
        return self.client.submit(function, *args, pure=False, **where)

    def scatter(self, value, home):
        """A future of ``value`` on the worker ``home`` (LostBlocks when that worker is
        gone: the blocks it held are lost too)."""
        self.bytes_sent += _nbytes(value)
        try:
            (future,) = self.client.scatter([value], hash=False, workers=[home])
        except KeyError as err:  # the scheduler no longer knows the worker
            raise LostBlocks(f"the cluster lost the worker {err}") from err
        return future

    def send(self, value):
        """``value`` as an argument of tasks: itself when small (it rides with the tasks,
        the quickest way), else a future of it on one worker, which the tasks fetch."""
        if _nbytes(value) <= SEND_BYTES:
            return value  # counted with each task that takes it
        self.bytes_sent += _nbytes(value)
        (future,) = self.client.scatter([value], hash=False, direct=True)
        return future

    def tree_sum(self, futures, add):
        """``add``-reduce futures pairwise on the workers, a tree; one future at the end."""
        futures = list(futures)
        while len(futures) > 1:
            pairs = [self.submit(add, a, b) for a, b in zip(futures[::2], futures[1::2])]
            futures = pairs + ([futures[-1]] if len(futures) % 2 else [])
        return futures[0]

    def _bounded(self, attempt):
        """``attempt()`` until it does not time out (it waits POLL seconds at most); a
        ValueError after ``timeout``, or after ``lost_after`` without a worker; a lost
        worker's data is LostBlocks."""
        deadline, alone_since = time.monotonic() + self.timeout, None
        while True:
            try:
                return attempt()
            except (TimeoutError, asyncio.TimeoutError):
                pass
            except Exception as err:  # noqa: BLE001  (dask raises its own kinds)
                raise lost_or_own(err) from err
            now = time.monotonic()
            if now > deadline:
                raise ValueError(f"a step on the cluster did not finish within "
                                 f"{self.timeout:g} s (timeout=)")
            if self.workers():
                alone_since = None
            elif alone_since is None:
                alone_since = now
            elif now - alone_since > self.lost_after:
                raise ValueError(f"the cluster has had no worker for {self.lost_after:g} s")

    def wait(self, futures):
        """Until every future is done (bounded as ``_bounded``)."""
        futures = list(futures)
        self._bounded(lambda: self._wait(futures, timeout=POLL))

    def get(self, futures):
        """The value of a future, or the values of a list of futures (bounded)."""
        if not isinstance(futures, list):
            value = self._bounded(lambda: futures.result(timeout=POLL))
        else:
            self.wait(futures)
            value = self._bounded(lambda: self.client.gather(futures))
        self.bytes_received += _nbytes(value)
        return value


def let_go():
    """Collect the reference cycles Dask's client leaves behind, which hold futures (and so
    the workers' data: an iteration's posteriors or means) until Python's collector gets to
    them; the young generations only, which is where they are: a fraction of a millisecond."""
    gc.collect(1)


def _nbytes(value):
    """Bytes of the arrays in a value (nested tuples and lists; a future's are not here)."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(item) for item in value)
    return 0


def lost_or_own(err):
    """LostBlocks for the cluster's errors that mean a lost worker; the error itself for any
    other (a ValueError raised by a block's own checks, say)."""
    if type(err).__name__ in LOST or "lost dependencies" in str(err):
        return LostBlocks(f"the cluster lost a worker and what it held "
                          f"({type(err).__name__}: {err})")
    return err


def add_pairs(a, b):
    return a[0] + b[0], a[1] + b[1]


class DistributedRatings:
    """A ratings matrix held on a cluster's workers in blocks of users, each block twice.

    Attributes
    ----------
    cluster : Cluster
    pieces, copies : list of Future
        Each a ``blocks.Piece`` (rows ``bounds[b]:bounds[b + 1]``), and its copy on another
        worker (None on a cluster of one worker).
    bounds : ndarray of int, shape (n_blocks + 1,)
    n, d : int
    stored_zeros : bool
        For the course's EM (``blocks`` below): whether a stored 0 is a rating; the
        recommender counts every stored entry (``ratings.as_ratings_matrix``).
    centre : float or None
        The rating nearest the mean of all the ratings, where the course's EM needs it.
    user_ids, item_ids : ndarray or None
        The ids, when built from a data frame or files.
    """

    distributed = True  # what mixrec.fit looks for, without importing dask

    def __init__(self, cluster, pieces, copies, bounds, d, *, stored_zeros=False,
                 centre=None, user_ids=None, item_ids=None):
        self.cluster, self.pieces, self.copies = cluster, list(pieces), list(copies)
        self.bounds = np.asarray(bounds)
        self.n, self.d = int(self.bounds[-1]), int(d)
        self.stored_zeros, self.centre = stored_zeros, centre
        self.user_ids, self.item_ids = user_ids, item_ids
        self.client = cluster.client
        self._summaries = None

    @property
    def blocks(self):
        """Each piece's ``products.Summary`` for the course's EM (built once, on first use,
        centred on the whole matrix's rating so that the blocks' moments add up)."""
        if self._summaries is None:
            self._summaries = [self.cluster.submit(summary_of_piece, piece, self.stored_zeros,
                                                   self.centre) for piece in self.pieces]
        return self._summaries


def summary_of_piece(piece, stored_zeros, centre):
    """On a worker: a piece's Summary for the course's EM, centred on the whole matrix's
    rating."""
    return products.summarise(piece.X, stored_zeros=stored_zeros, centre=centre)


def holders(cluster, future, workers):
    """The live workers that hold a future's value (none when it is lost or not done)."""
    if future is None or future.status != "finished":
        return ()
    try:
        found = cluster.client.who_has([future]).get(future.key, ())
    except Exception:  # noqa: BLE001  (a future cancelled meanwhile: dask's own kinds)
        return ()
    return tuple(w for w in found if w in workers)


def with_copies(cluster, pieces):
    """A packed copy of each piece on another worker than its own (None on a cluster of
    one worker), made worker to worker."""
    workers = cluster.workers()
    if len(workers) < 2:
        return [None] * len(pieces)
    cluster.wait(pieces)
    return [copy_elsewhere(cluster, piece, holders(cluster, piece, workers), workers)
            for piece in pieces]


def copy_elsewhere(cluster, piece, where, workers):
    """A new key holding the piece packed (``blocks.pack``), on a worker that does not
    hold it, or None where there is none. The copy is a key of its own: Dask's memory
    manager, which trims extra replicas of a key, leaves it alone."""
    others = [w for w in workers if w not in where]
    if not others:
        return None
    home = where[0] if where else None
    packed = cluster.submit(blocks.pack, piece, home=home)
    target = others[(workers.index(home) if home in workers else 0) % len(others)]
    return cluster.client.submit(blocks.kept, packed, workers=[target],
                                 allow_other_workers=True, pure=False)


# ---------------------------------------------------------------------------------------
# EM on the blocks

class Posteriors:
    """Posteriors that stay on the workers: per block, a future of an E-step's (K, rows)
    array, and which of its rows (components) are this run's."""

    def __init__(self, cluster, steps, rows=slice(None)):
        self.cluster, self.steps, self.rows = cluster, steps, rows

    def take(self, rows):
        return Posteriors(self.cluster, self.steps, rows)

    def collect(self):
        """Bring them to the client: an (n, K) ndarray (for data that fits there)."""
        return np.vstack(self.cluster.get([self.cluster.submit(_posterior_rows, step,
                                                               self.rows)
                                           for step in self.steps]))


def _posterior_rows(step, rows):
    return step[0][rows].T


def reduce_partials(cluster, partials, homes, in_order):
    """The sum of the blocks' Partials: in the users' order, block after block (a chain,
    each sum made where its block is; float32 sums then come out as the single machine's),
    or in a tree where that order is not kept (``in_order`` False). Each Partial is first
    taken from beside what stays on its block (posteriors, means), where the block is:
    only Partials travel."""
    alone = [cluster.submit(blocks.partial_of, partial, home=home)
             for partial, home in zip(partials[:1] if in_order else partials, homes)]
    if not in_order:
        return cluster.tree_sum(alone, blocks.add_partials) if len(alone) > 1 else \
            cluster.submit(blocks.add_partials, None, alone[0], home=homes[0])
    total = cluster.submit(blocks.add_partials, None, alone[0], home=homes[0])
    for partial, home in zip(partials[1:], homes[1:]):
        total = cluster.submit(blocks.add_partials, total, partial, home=home)
    return total


def row_loop(cluster, views, homes, starts, options, callback, d, centre, in_order):
    """``mixtures.run_loop`` with each E-step mapped over blocks of rows (``views``, futures
    of their summaries) and its moments summed (``reduce_partials``): the mixture goes out,
    (K, 2 d) moments and the log-likelihoods come back, the posteriors stay on the
    workers (``Posteriors``). One round trip an iteration."""
    def estep_and_moments(stack, log_pattern, weight, n_groups):
        let_go()
        sent = cluster.send((stack, log_pattern))
        steps = [cluster.submit(blocks.row_step, view, sent, weight, n_groups,
                                in_order and b > 0, home=home)
                 for b, (view, home) in enumerate(zip(views, homes))]
        total = cluster.get(reduce_partials(cluster, steps, homes, in_order))
        return steps, total.plain[0], blocks.moments_of(total._replace(
            plain=total.plain[1:]), d, centre)
    return mixtures.run_loop(estep_and_moments, lambda steps, rows: Posteriors(
        cluster, steps, rows), starts, options, callback)


def row_starts(cluster, views, homes, firsts, seeds, K, d, centre, options, in_order):
    """The starts of a stage's runs, from Dirichlet memberships drawn on each block for
    its own rows (``stages.dirichlet_starts``), as ``stages``' single-machine starts."""
    total = cluster.get(reduce_partials(cluster, [
        cluster.submit(blocks.row_start, view, seeds, K, first, in_order and b > 0,
                       home=home)
        for b, (view, home, first) in enumerate(zip(views, homes, firsts))], homes,
        in_order))
    start = mixtures.mixture_from_moments(blocks.moments_of(total, d, centre),
                                          stages.blank_mixture(len(seeds) * K, d, K),
                                          options["min_variance"], options["mean_prior"])
    return stages.split_stack(start, K)


def column_loop(cluster, views, homes, centre, item_stats, post_start, K, options, callback,
                in_order):
    """The runs of a stage whose rows are items, on blocks of users (``blocks.column_*``).

    ``mixtures.run_loop`` drives it, the single-machine loop and its stopping rule: it is
    handed a mixture whose means are a placeholder column of zeros, since the real ones,
    (K, n), live on the blocks, column by column. Its M-step still computes the variances
    and weights, from statistics whose squared errors the blocks complete (a zero column
    adds nothing to them), and its ``take_post`` tells which runs stop, whose means the
    blocks then set aside. An iteration is one round trip: the E-step's sums, the items'
    posteriors (on the worker of the last block) and the M-step are tasks chained on the
    workers; the client sends the variances and gets (K,) statistics back.

    Returns
    -------
    runs : list of mixtures.Run
        Each with the items' posteriors (d, K) and the placeholder means.
    means : list of list of Future
        Per run, per block: that run's (K, n_b) means of the block's users.
    """
    d, n_runs = len(item_stats[0]), len(post_start) // K
    smoothing = options["pattern_smoothing"] if options["pattern_weight"] else None
    stats_sent = cluster.send(item_stats)
    state = {"going": list(range(n_runs)), "stopped": [], "means": {}, "log_norm": None}

    def m_step(post, current, pattern):
        """The blocks' M-step under ``post`` (a future or an array): the new means (on the
        blocks) and the client's Moments (placeholder means) and log pattern normaliser."""
        post32 = cluster.submit(blocks.as_float32, post, home=homes[-1])
        out = [cluster.submit(blocks.column_mstep, view, post32, old, K,
                              options["min_variance"], options["mean_prior"],
                              smoothing if pattern else None, in_order and b > 0, home=home)
               for b, (view, old, home) in enumerate(zip(views, current, homes))]
        lls, sq_err, n_obs, weight, norm = cluster.get(cluster.submit(
            blocks.column_small, post, reduce_partials(cluster, out, homes, in_order),
            stats_sent, home=homes[-1]))
        stats = em.Moments(np.zeros((len(weight), 1)), np.zeros((len(weight), 1)), sq_err,
                           n_obs, weight, d, centre)
        return out, lls, stats, np.log(norm) if pattern and smoothing else None

    state["current"], _, stats, _ = m_step(cluster.send(post_start), [None] * len(views),
                                           False)
    start = mixtures.mixture_from_moments(stats, stages.blank_mixture(len(post_start), 1, K),
                                          options["min_variance"], options["mean_prior"])

    def estep_and_moments(stack, log_pattern, weight, n_groups):
        let_go()
        keep = None
        if state["stopped"]:
            still = [p for p in range(len(state["going"])) if p not in state["stopped"]]
            keep = (np.arange(K) + K * np.array(still)[:, None]).ravel()
            state["going"] = [state["going"][p] for p in still]
            state["log_norm"] = None if state["log_norm"] is None else state["log_norm"][keep]
            state["stopped"] = []
        if len(state["going"]) != n_groups:  # run_loop's bookkeeping and ours must agree
            raise RuntimeError("the column loop lost track of its runs")
        sent = cluster.send((keep, stack.var, weight, state["log_norm"]))
        out = [cluster.submit(blocks.column_estep, view, means, sent, in_order and b > 0,
                              home=home)
               for b, (view, means, home) in enumerate(zip(views, state["current"], homes))]
        post = cluster.submit(blocks.column_post, reduce_partials(cluster, out, homes,
                                                                  in_order),
                              stats_sent, stack.var, stack.p, n_groups, home=homes[-1])
        state["current"], lls, stats, state["log_norm"] = m_step(post, out, True)
        return post, lls, stats

    def take_post(post, rows):
        position = rows.start // K
        state["stopped"].append(position)
        state["means"][state["going"][position]] = [
            cluster.submit(blocks.column_rows, means, rows, home=home)
            for means, home in zip(state["current"], homes)]
        return cluster.get(cluster.submit(blocks.post_rows, post, rows, home=homes[-1]))

    runs = mixtures.run_loop(estep_and_moments, take_post, stages.split_stack(start, K),
                             options, callback)
    return runs, [state["means"][g] for g in range(n_runs)]

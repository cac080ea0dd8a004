"""The recommender's fit on ratings partitioned over a cluster's workers, never replicated.

The ratings sit on the workers in blocks of users (``DistributedRatings``), each block in
two places (its home and a copy on another worker). ``PartitionedState`` answers what
``stages.fit_state`` asks of a state, and every step is a map of ``blocks.py``'s functions
over the blocks, where they live, and a sum of small results (in a tree, or block after
block where float32 sums must add up in the single machine's order):

- the baseline: per-item sums on each block, added up, then per-user and per-(user, day)
  biases within each block: an epoch moves the (d,) item biases out and (d,) sums back;
- a stage with users as rows: the course's EM on the blocks (``mixtures.run_loop``, the
  single-machine loop itself); with items as rows: the same loop "by columns" (see
  ``blocks.py``), each block holding its users' columns of the means. Per iteration
  O(K d) per block either way, whatever the number of ratings;
- after a stage: the compression from the factors' Gram matrices (``stages.compression``),
  the fold-in ridge from a sample of users, and the residuals' update in each block, the
  stage's item factors sent once (the user factors are already where their users are);
- the model: the factors come to the client, O((n + d) x rank); the rating pattern, which
  the model keeps, is written block by block to a file mapped into memory, never held in
  the client's RAM; the last stage's supports are summed over the blocks.

The choices the single machine makes from the data are made the same way (``options.py``):
the item stages' capacity from the blocks' counts of ratings and of users who rated; a bias
per user and day when ``day_biases`` says so (True, or None resolved before, see
``distributed.fit``). The model is the stages' model, ``ensemble.fit(..., blend_holdout=0)``'s:
no neighbour stage, no blend.

The client holds the ids, the baseline, the factors and the model; no process holds all the
ratings. The EM on the blocks and the cluster's machinery are ``blockem.py``'s; nothing
here imports dask.

A lost worker: Dask recomputes what it held from what survives; a block whose home is lost
is taken from its copy, a new copy made, and the step that failed (the baseline, the taste
groups, a stage or the model's assembly) runs again from the blocks, the baseline and the
stages done, all of which the client holds: the same model, since every step is
deterministic. Every wait is bounded (``Cluster``): a cluster without workers, or a step
that does not end, is a ValueError that says so, never a hang.
"""
import gc
import os
import tempfile
import warnings

import numpy as np

from mixrec import blocks, mixtures, stages
from mixrec.baseline import Baseline
from mixrec.blockem import (LostBlocks, add_pairs, column_loop, copy_elsewhere, holders,
                            reduce_partials, row_loop, row_starts)
from mixrec.model import ITEMS_AS_ROWS, SCALE_RANGE, USERS_AS_ROWS
from mixrec.options import resolved

# Retries of a step after a lost worker, per fit.
RETRIES = 3
# The pattern travels to the client's file in chunks of at most this many items (64 MB).
PATTERN_CHUNK = 1 << 24
# A block may keep this many bytes of its parts' sums while it waits for its predecessors'
# (``PartitionedState._in_order``).
IN_ORDER_BYTES = 512 << 20


class Retried(UserWarning):
    """The fit lost a worker and ran a step again from the blocks' copies (the model is
    the same: every step is deterministic)."""


def fit(ratings, cluster, options, seed, callback, pattern_dir=None):
    """``stages.fit_state`` on a PartitionedState of these ratings (a DistributedRatings),
    its every wait bounded by ``cluster``'s: the Model.

    ``pattern_dir`` is where the model's rating pattern is written, block by block, before
    it is mapped into memory (the file is unlinked once mapped, where the system allows:
    its pages live on disk, not in the client's RAM). None: the system's temporary folder.
    """
    state = PartitionedState(ratings, cluster, options, pattern_dir)
    return stages.fit_state(state, state.options, seed, callback)


class PartitionedState:
    """``stages.FitState``'s answers (see ``stages.fit_state``) on blocks of users held by a
    cluster's workers: each step a map over the blocks and a sum, no rating brought to the
    client.

    Attributes
    ----------
    options : dict
        The options given, the item stages' capacity resolved from the blocks' counts
        (``options.resolved``) and ``day_biases`` True or False.
    shape, nnz, rating_range, baseline, cold_var, scale, rated_indptr
        As ``stages.FitState``'s; ``rated_indices`` is set by ``assemble``, a file mapped
        into memory.
    blocks : list of Future
        Each a ``blocks.Block``: the block's pattern and its residuals after the stages so
        far.
    """

    def __init__(self, ratings, cluster, options, pattern_dir=None):
        self.cluster, self.options = cluster, options
        self.shape = (ratings.n, ratings.d)
        self.bounds, self.pattern_dir = ratings.bounds, pattern_dir
        self.roots = [[piece, copy] for piece, copy in zip(ratings.pieces, ratings.copies)]
        self.homes = [None] * len(self.roots)
        self.baseline = self.scale = self.blocks = None
        self.done, self.retries = [], 0
        self.on_blocks = {}  # id of a factor held by the client: its slices on the blocks
        self._phase(self._fit_baseline)

    # -- the protocol of stages.fit_state

    def taste_groups(self, options, seed, report):
        return self._phase(lambda: self._taste_groups(options, seed, report))

    def fit_stage(self, side, first_seed, options, report):
        return self._phase(lambda: self._fit_stage(side, first_seed, options, report))

    def subtract(self, users, items):
        """Take a stage's predictions off each block's residuals (nothing waited for: the
        next step's wait sees any failure, and a retry rebuilds from ``done``)."""
        self.done.append((users, items))
        self.blocks = self._subtracted(self.blocks, users, items)

    def assemble(self, stages_done, taste, options):
        return self._phase(lambda: self._assemble(stages_done, taste, options))

    # -- lost workers

    def _phase(self, step):
        """Run a step; after a lost worker, take each lost block from its copy, rebuild the
        residuals and run the step again (at most RETRIES times per fit, each said in a
        ``Retried`` warning)."""
        lost = None
        while True:
            try:
                if lost is not None:
                    self._reroot()
                    self.on_blocks = {}  # what the blocks held may be gone: send it again
                    if self.baseline is not None:
                        self._make_blocks()
                done = step()
                # Dask's client leaves reference cycles that hold futures: collected now,
                # the step's views and runs are let go on the workers before the next
                gc.collect()
                return done
            except LostBlocks as err:
                if self.retries == RETRIES:
                    raise ValueError(f"{err}; the fit gave up after {RETRIES} retries from "
                                     "the blocks' copies") from None
                self.retries += 1
                lost = err
                warnings.warn(f"{err}; the step runs again from the blocks' copies "
                              f"(retry {self.retries} of at most {RETRIES})", Retried,
                              stacklevel=2)

    def _reroot(self):
        """Each block from whichever of its two places survived (its piece, or its copy,
        unpacked where it is), and a new copy of it elsewhere."""
        cluster = self.cluster
        workers = cluster.workers()
        if not workers:
            raise ValueError("the cluster has no worker left")
        for b, (piece, copy) in enumerate(self.roots):
            where = holders(cluster, piece, workers)
            if not where and piece.status == "pending":  # computed again from its files
                cluster.wait([piece])
                where = holders(cluster, piece, workers)
            if not where:
                kept_at = holders(cluster, copy, workers)
                if not kept_at:
                    raise ValueError(f"the cluster lost both copies of block {b} (users "
                                     f"{self.bounds[b]}..{self.bounds[b + 1] - 1})")
                piece = cluster.submit(blocks.unpack, copy, home=kept_at[0])
                cluster.wait([piece])
                where, copy = holders(cluster, piece, workers), None
            if not set(holders(cluster, copy, workers)) - set(where):  # none elsewhere
                copy = copy_elsewhere(cluster, piece, where, workers)
            self.roots[b] = [piece, copy]
            self.homes[b] = where[0] if where else None

    # -- the baseline

    def _fit_baseline(self):
        cluster, options, d = self.cluster, self.options, self.shape[1]
        pieces = [pair[0] for pair in self.roots]
        cluster.wait(pieces)
        workers = cluster.workers()
        self.homes = [(holders(cluster, piece, workers) or [None])[0] for piece in pieces]
        totals = cluster.get(cluster.tree_sum(
            [cluster.submit(blocks.totals, piece, home=home)
             for piece, home in self._pieces()], blocks.add_totals))
        if totals.nnz == 0:
            raise ValueError("X holds no rating: there is nothing to fit")
        self.nnz, self.rating_range = totals.nnz, np.array([totals.low, totals.high])
        self.options = options = self._resolved(totals)
        mean = totals.total / totals.nnz
        out = [cluster.submit(blocks.baseline_start, piece, mean, options["day_biases"],
                              home=home) for piece, home in self._pieces()]
        item_bias = np.zeros(d)
        for _ in range(options["bias_epochs"]):
            sums = cluster.get(self._sum_of_seconds(out))
            item_bias = sums / (options["item_reg"] + totals.item_count)
            sent = cluster.send(item_bias)
            out = [cluster.submit(blocks.baseline_epoch, pair, mean, sent,
                                  options["user_reg"], options["day_reg"], d, home=home)
                   for pair, home in zip(out, self.homes)]
        parts = [cluster.submit(blocks.baseline_part, pair, first, home=home)
                 for pair, first, home in zip(out, self.bounds, self.homes)]
        user_bias, day_users, days, day_bias = (np.concatenate(a) for a in zip(
            *cluster.get(parts)))
        self.baseline = Baseline(mean, user_bias, item_bias, day_users, days, day_bias,
                                 float(options["user_reg"]), float(options["item_reg"]),
                                 float(options["day_reg"]))
        self._make_blocks(parts)

    def _resolved(self, totals):
        """The options with what the single machine chooses from the data chosen from the
        blocks' totals: the item stages' capacity; ``day_biases`` True only where asked
        and some rating has a timestamp."""
        options = resolved(self.options, totals.n_rated, totals.nnz)
        if options["day_biases"] is None and totals.dated:
            raise ValueError("day_biases=None (the day biases kept if they predict held-out "
                             "ratings better) is chosen on one machine: for ratings on the "
                             "cluster with timestamps, pass day_biases=True or False")
        if options["day_biases"] is True and not totals.dated:
            raise ValueError("day_biases=True needs the ratings' timestamps (times=)")
        stages.check_sizes(options, self.shape)  # before any epoch, as on one machine
        return {**options, "day_biases": bool(options["day_biases"])}

    def _make_blocks(self, parts=None):
        """The blocks' residuals from their ratings, the baseline (its parts on the blocks,
        or sent from the client's copy) and the stages done so far."""
        cluster, fitted = self.cluster, self.baseline
        if parts is None:
            first_day = np.searchsorted(fitted.day_users, self.bounds)
            parts = [cluster.scatter((fitted.user_bias[lo:hi], fitted.day_users[a:b],
                                      fitted.days[a:b], fitted.day_bias[a:b]), home=home)
                     for lo, hi, a, b, home in zip(self.bounds[:-1], self.bounds[1:],
                                                   first_day[:-1], first_day[1:],
                                                   self.homes)]
        sent = cluster.send(fitted.item_bias)
        if self.scale is None:
            summaries = [cluster.submit(blocks.residual_squares, piece, fitted.mean, sent,
                                        part, home=home)
                         for (piece, home), part in zip(self._pieces(), parts)]
            largest, squares = cluster.get(cluster.tree_sum(summaries, blocks.add_squares))
            self.cold_var = float(squares / self.nnz)
            # in units of the baseline's residual spread, as stages.FitState: its root mean
            # square taken relative to the largest residual (stages.root_mean_square)
            self.scale = 1.0
            if largest > 0:
                scaled = cluster.get(cluster.tree_sum(
                    [cluster.submit(blocks.residual_squares, piece, fitted.mean, sent, part,
                                    largest, home=home)
                     for (piece, home), part in zip(self._pieces(), parts)], np.add))
                self.scale = largest * float(np.sqrt(scaled / self.nnz))
            if not SCALE_RANGE[0] <= self.scale <= SCALE_RANGE[1]:
                raise ValueError(f"the ratings' spread around the baseline is "
                                 f"{self.scale:.3g}: it must lie in [{SCALE_RANGE[0]:g}, "
                                 f"{SCALE_RANGE[1]:g}] for the model's float32 factors to "
                                 "hold it (rescale the ratings)")
        current = [cluster.submit(blocks.residual_block, piece, fitted.mean, sent, part,
                                  self.scale, home=home)
                   for (piece, home), part in zip(self._pieces(), parts)]
        for users, items in self.done:
            current = self._subtracted(current, users, items)
        self.blocks = current
        counts = cluster.get([cluster.submit(blocks.counts, block, home=home)
                              for block, home in zip(current, self.homes)])
        self.rated_indptr = np.concatenate([[0], np.cumsum(np.concatenate(counts))]).astype(
            np.int64)

    def _pieces(self):
        return [(pair[0], home) for pair, home in zip(self.roots, self.homes)]

    def _sum_of_seconds(self, pairs):
        """The sum of the second items of the blocks' (block, small) pairs, in a tree."""
        seconds = [self.cluster.submit(blocks.second_of, pair, home=home)
                   for pair, home in zip(pairs, self.homes)]  # the blocks stay where they are
        return self.cluster.tree_sum(seconds, np.add)

    # -- stages

    def _centre(self, step=1):
        """The (sampled) residual nearest the residuals' mean, which the single machine's
        summary centres on (the first of equals, as its argmin)."""
        cluster = self.cluster
        total, count = cluster.get(cluster.tree_sum(
            [cluster.submit(blocks.residual_sum, block, step, home=home)
             for block, home in zip(self.blocks, self.homes)], add_pairs))
        found = cluster.get([cluster.submit(blocks.nearest, block, total / count, step,
                                            home=home)
                             for block, home in zip(self.blocks, self.homes)])
        return min(found, key=lambda pair: pair[0])[1]

    def _in_order(self, n_parts, width):
        """Whether a stage's sums over users are added in the users' order (the single
        machine's model, bit for bit in its float32 sums): each block after the first then
        keeps its parts' sums, (K, width) each, until its predecessors' arrive, which is
        allowed up to IN_ORDER_BYTES a block; past that, a tree (the same model to float32
        rounding)."""
        return max(n_parts[1:], default=0) * width * 4 <= IN_ORDER_BYTES

    def _parts_per_block(self, cuts):
        return [int(np.sum((cuts > lo) & (cuts < hi))) + 1
                for lo, hi in zip(self.bounds[:-1], self.bounds[1:])]

    def _taste_groups(self, options, seed, report):
        """The taste groups on the users sampled as the single machine samples them (all
        of them up to ``stages.TASTE_USERS``): each part of the sample is put together on
        the worker of its first block, from the blocks that hold its users (a sample of at
        most TASTE_USERS users' ratings moves; none when every user is kept)."""
        cluster, (n, d), K = self.cluster, self.shape, options["n_groups"]
        step = stages.taste_step(n)
        centre = self._centre(step)
        if step == 1:
            views, homes, firsts = self._views(False, centre), self.homes, self.bounds[:-1]
        else:
            cuts = blocks.part_cuts(-(-n // step))
            sampled = -(-self.bounds // step)  # each block's first number in the sample
            views, homes, firsts = [], [], cuts[:-1]
            for low, high in zip(cuts[:-1], cuts[1:]):
                inside = [b for b in range(len(self.blocks))
                          if sampled[b] < high and sampled[b + 1] > low]
                pieces = [cluster.submit(blocks.sampled_rows, self.blocks[b], step, low, high,
                                         home=self.homes[b]) for b in inside]
                homes.append(self.homes[inside[0]])
                views.append(cluster.submit(blocks.sampled_part, d, centre, *pieces,
                                            home=homes[-1]))
        in_order = self._in_order([1] * len(views), 2 * d)
        run_options = stages.run_options(options, 0.0)
        starts = row_starts(cluster, views, homes, firsts, [seed], K, d, centre, run_options,
                            in_order)
        return row_loop(cluster, views, homes, starts, mixtures.check_run_options(
            starts, **run_options), report, d, centre, in_order)[0].mixture

    def _views(self, by_columns, centre):
        return [self.cluster.submit(blocks.view, block, by_columns, centre,
                                    blocks.part_cuts(self.shape[0]), home=home)
                for block, home in zip(self.blocks, self.homes)]

    def _fit_stage(self, side, first_seed, options, report):
        """``stages.fit_stage`` on the blocks: the Stage, its users' factor brought to the
        client once (the model needs it) and kept on the blocks for the update."""
        cluster, homes, (n, d) = self.cluster, self.homes, self.shape
        items_side = side == ITEMS_AS_ROWS
        K = options["item_components" if items_side else "user_components"]
        seeds = list(range(first_seed, first_seed + options["n_seeds"]))
        centre = self._centre()
        views = self._views(items_side, centre)
        n_parts = self._parts_per_block(blocks.part_cuts(n))
        if not items_side:  # rows are the blocks' users: the course's EM on the blocks
            in_order = self._in_order(n_parts, len(seeds) * K * 2 * d)
            run_options = stages.run_options(options, 0.0)
            starts = row_starts(cluster, views, homes, self.bounds[:-1], seeds, K, d, centre,
                                run_options, in_order)
            runs = row_loop(cluster, views, homes, starts, mixtures.check_run_options(
                starts, **run_options), report, d, centre, in_order)
            factors = [cluster.submit(blocks.row_factor, view, len(runs),
                                      [run.post.rows for run in runs],
                                      *[run.post.steps[b] for run in runs], home=home)
                       for b, (view, home) in enumerate(zip(views, homes))]
            users = np.vstack(cluster.get(factors))
            self.on_blocks = {id(users): factors}
            return stages.Stage(side, users, np.vstack([r.mixture.mu for r in runs]).T,
                                np.concatenate([r.mixture.var for r in runs]),
                                np.concatenate([r.mixture.p for r in runs]), 0.0)
        in_order = self._in_order(n_parts, len(seeds) * K * d)
        item_stats = cluster.get(reduce_partials(cluster, [
            cluster.submit(blocks.column_totals, view, False, home=home)
            for view, home in zip(views, homes)], homes, False)).plain
        run_options = stages.run_options(options, options["pattern_weight"])
        runs, means = column_loop(cluster, views, homes, centre, item_stats,
                                  stages.dirichlet_starts(seeds, K, 0, d), K,
                                  mixtures.check_run_options([stages.blank_mixture(K, 1, K)],
                                                             **run_options),
                                  report, in_order)
        items = np.hstack([run.post for run in runs]) / len(runs)
        items[item_stats[1] == 0] = 0  # an item with no rating gets the baseline
        factors = [cluster.submit(blocks.column_factor, *[run_means[b] for run_means in means],
                                  home=home) for b, home in enumerate(homes)]
        if items.shape[1] > options["stage_rank"]:  # compressed from the Gram matrices
            users_gram = cluster.get(cluster.tree_sum(
                [cluster.submit(blocks.gram, f, home=home) for f, home in zip(factors, homes)],
                np.add))
            to_users, to_items = stages.compression(users_gram, items.T @ items,
                                                    options["stage_rank"])
            sent = cluster.send(to_users)
            factors = [cluster.submit(blocks.times_matrix, f, sent, home=home)
                       for f, home in zip(factors, homes)]
            items = items @ to_items
        users = np.vstack(cluster.get(factors))
        self.on_blocks = {id(users): factors}
        return stages.Stage(side, users, items, np.zeros(0), np.zeros(0),
                            self._fold_ridge(users, items))

    def _fold_ridge(self, users, items):
        """``stages.fold_ridge`` with each sampled user's terms computed on its block."""
        cluster = self.cluster
        sample = stages.ridge_sample(np.diff(self.rated_indptr))
        if len(sample) == 0:
            return 1.0
        sent = cluster.send(items)
        terms = cluster.get([cluster.submit(blocks.ridge_terms, block, sent, sample,
                                            home=home)
                             for block, home in zip(self.blocks, self.homes)])
        return stages.best_ridge(np.concatenate([t[0] for t in terms]),
                                 np.concatenate([t[1] for t in terms]), users[sample], items)

    def _on_blocks(self, factor):
        """A factor of users held by the client, as slices on their blocks: the ones a
        stage left there, or sent now."""
        kept = self.on_blocks.get(id(factor))
        if kept is not None and all(f.status == "finished" for f in kept):
            return kept
        return [self.cluster.scatter(factor[lo:hi], home=home)
                for lo, hi, home in zip(self.bounds[:-1], self.bounds[1:], self.homes)]

    def _subtracted(self, current, users, items):
        sent = self.cluster.send(items)
        return [self.cluster.submit(blocks.subtract, block, part, sent, home=home)
                for block, part, home in zip(current, self._on_blocks(users), self.homes)]

    # -- the model

    def _assemble(self, stages_done, taste, options):
        cluster, d = self.cluster, self.shape[1]
        last_support = np.zeros((d, 0))
        user_stages = [s for s in stages_done if s.side == USERS_AS_ROWS]
        if user_stages:
            weights = user_stages[-1].users
            parts = self._on_blocks(weights)
            summed = cluster.get(cluster.tree_sum(
                [cluster.submit(blocks.support, block, part, home=home)
                 for block, part, home in zip(self.blocks, parts, self.homes)], np.add))
            last_support = (weights.shape[1] // max(options["user_components"], 1)) * summed
        sizes = cluster.get([cluster.submit(blocks.checked_pattern, block, home=home)
                             for block, home in zip(self.blocks, self.homes)])
        self.rated_indices = self._pattern_file(sizes)
        self.on_blocks = {}
        return stages.assemble(self, stages_done, taste, options, last_support=last_support)

    def _pattern_file(self, sizes):
        """The rating pattern (nnz,) int32, written block by block, chunk by chunk, to a
        file, then mapped into memory read-only: the client's RAM holds one chunk at a
        time."""
        if self.nnz == 0:
            return np.zeros(0, dtype=np.int32)
        handle, path = tempfile.mkstemp(prefix="mixrec-pattern-", suffix=".int32",
                                        dir=self.pattern_dir)
        try:
            with os.fdopen(handle, "wb") as out:
                for block, size, home in zip(self.blocks, sizes, self.homes):
                    for start in range(0, size, PATTERN_CHUNK):
                        chunk = self.cluster.submit(blocks.pattern_chunk, block, start,
                                                    start + PATTERN_CHUNK, home=home)
                        out.write(self.cluster.get(chunk).tobytes())
            mapped = np.memmap(path, dtype=np.int32, mode="r", shape=(self.nnz,))
        finally:
            try:
                os.unlink(path)  # the mapping keeps its pages; the name goes now
            except OSError:
                pass  # where a mapped file cannot be unlinked, the folder keeps it
        return mapped

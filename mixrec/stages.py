"""The fit: a baseline, then stages of mixtures fitted by the course's EM to what it leaves.

The course's model, fitted to raw ratings, loses to the item means on real data: raw
ratings mix each user's and each item's offset with taste, and with most entries missing
most component means stay at their start. This model keeps the course's EM steps (``em``,
the same maths) and changes what they are fed:

1. A baseline (``baseline.py``): the mean plus regularised user and item biases, and a bias
   per user and day when the ratings carry timestamps.
2. Mixtures fitted by EM to what the baseline leaves, the residuals, in units of their
   spread (so that every default means the same on any rating scale), with
   (a) ``mean_prior``: each component mean shrunk toward 0 by a pseudo-count;
   (b) a Dirichlet start (random soft memberships, then an M-step);
   (c) every stored residual a rating, a residual of exactly 0 too;
   (d) for mixtures with items as rows, the pattern of ratings as evidence
   (``mixtures.estep``'s ``pattern_weight``): which users rated an item says what kind of item
   it is, since ratings are not missing at random.
3. Stages fitted in turn, each on what the previous ones left: ``item_stages`` stages of
   mixtures with items as rows (items clustered by who rated them and how), then
   ``user_stages`` with users as rows (the course's view).
4. At each stage ``n_seeds`` EM runs from different starts, fitted side by side
   (``mixtures.run_many``, float32 products) and averaged.

A stage with users as rows predicts ``sum_j post[u, j] mu[j, l]``; with items as rows the
transpose. The averaged stages together are a sum of products of a user factor and an item
factor; a stage with items as rows is compressed to ``stage_rank`` columns (a truncated
SVD, which changes its predictions by far less than their error), the last stages, with
users as rows, are kept whole: their mixtures give the predictive uncertainty and place a
new user by an E-step (``serving.fold_in``). The model is plain arrays (``model.py``).

This is the core of the fit; ``ensemble.py`` adds the neighbour stages and the blend, and
``options.py`` holds the hyper-parameters and how their defaults were chosen.
"""
import warnings
from typing import NamedTuple

import numpy as np
from scipy import sparse

import em
import products
from common import GaussianMixture
from mixrec import baseline, mixtures
from mixrec.model import (ITEMS_AS_ROWS, MAX_RATING, RELATIVE_VARIANCE_RANGE, SCALE_RANGE,
                          USERS_AS_ROWS, Model, check_model, without_blend)
from mixrec.model import with_support as model_with_support
from mixrec.ratings import as_ratings_matrix

SIDES = {ITEMS_AS_ROWS: "items", USERS_AS_ROWS: "users"}


class Progress(NamedTuple):
    """What ``fit`` reports to its callback after each EM iteration of each run; ``str()``
    is one readable line (``callback=lambda p: print(p, end="\\r")`` shows one line that
    updates in place)."""

    stage: int  # 1 .. n_stages; 0 is the fit of the taste groups
    n_stages: int
    side: str  # "items" or "users": which are the rows of this stage's mixtures
    run: int  # 1 .. n_runs: the EM run (seed) within the stage
    n_runs: int
    iteration: int
    log_likelihood: float
    phase: str = "fit"  # "blend": the fit on part of the ratings that weighs the stages

    def __str__(self):
        what = ("taste groups" if self.stage == 0 else
                f"stage {self.stage}/{self.n_stages} ({self.side} as rows)")
        if self.phase == "blend":
            what = "for the blend, " + what
        return (f"{what}, run {self.run}/{self.n_runs}, iteration {self.iteration}: "
                f"log-likelihood {self.log_likelihood:.6g}")


def fit_stages(X, times, options, seed=0, callback=None):
    """The baseline and the stages of mixtures on checked ratings (``check_training``),
    times (``check_times``) and options (``options.check_hyper_parameters``, the item
    stages' capacity resolved): a Model with no neighbour stage and no blend, its parts
    summed. ``ensemble.fit`` is the whole fit, of which this is the core."""
    return fit_state(FitState(X, times, options), options, seed, callback)


def fit_state(state, options, seed, callback):
    """The stages of a fit on its state, with checked options; the Model.

    The state is a ``FitState`` or anything that answers the same calls (the partitioned
    fit's, ``partitioned.py``): ``scale``; ``taste_groups(options, seed, report) ->
    GaussianMixture``; ``fit_stage(side, first_seed, options, report) -> Stage``;
    ``subtract(users, items)``, which takes a stage's predictions off the residuals; and
    ``assemble(stages, taste, options) -> Model``.
    """
    check_sizes(options, state.shape)
    if options["min_variance"] is not None:
        floor = options["min_variance"] / state.scale ** 2
        if not RELATIVE_VARIANCE_RANGE[0] <= floor <= RELATIVE_VARIANCE_RANGE[1]:
            raise ValueError(f"min_variance = {options['min_variance']:g} is {floor:.3g} times "
                             f"the ratings' residual variance ({state.scale ** 2:.3g}): it must "
                             f"lie within {RELATIVE_VARIANCE_RANGE[0]:g} to "
                             f"{RELATIVE_VARIANCE_RANGE[1]:g} times it")
        options = {**options, "variance_floor": floor}
    plan = [ITEMS_AS_ROWS] * options["item_stages"] + [USERS_AS_ROWS] * options["user_stages"]
    first_seed = seed * options["n_seeds"]
    taste = state.taste_groups(options, first_seed,
                               _reporter(callback, 0, len(plan), USERS_AS_ROWS, 1))
    stages = []
    for number, side in enumerate(plan, 1):
        stage = state.fit_stage(side, first_seed, options,
                                _reporter(callback, number, len(plan), side,
                                          options["n_seeds"]))
        state.subtract(stage.users, stage.items)  # the next stage fits what this one leaves
        stages.append(stage)
    return state.assemble(stages, taste, options)


def root_mean_square(residual):
    """The residuals' root mean square, 1.0 when every one is 0 (nothing to scale). Taken
    relative to the largest, as the square of a spread of 1e-170 (or 1e170) would underflow
    to 0 (overflow to inf) and let a spread outside ``SCALE_RANGE`` pass as 1.0."""
    largest = float(np.abs(residual).max()) if len(residual) else 0.0
    if largest == 0:
        return 1.0
    return largest * float(np.sqrt(np.mean((residual / largest) ** 2)))


class FitState:
    """The state of a fit: the ratings' entries, the baseline, and the residuals the stages
    are fitted to in turn (in units of their spread)."""

    def __init__(self, X, times, options):
        self.shape, self.nnz = X.shape, X.nnz
        self.rows, self.cols = entries(X)
        self.rated_indptr, self.rated_indices = X.indptr.astype(np.int64), X.indices.astype(
            np.int32)
        self.rating_range = np.array([X.data.min(), X.data.max()])
        self.baseline = baseline.fit(self.rows, self.cols, X.data, X.shape, times,
                                     user_reg=options["user_reg"],
                                     item_reg=options["item_reg"],
                                     day_reg=options["day_reg"], epochs=options["bias_epochs"])
        residual = X.data - baseline.predict(self.baseline, self.rows, self.cols, times)
        self.cold_var = float(np.mean(residual ** 2))
        # The mixtures are fitted in units of the baseline's residual spread, so that every
        # default (the variance floor, the relative tolerance) means the same on any scale:
        # ratings a * r + b give predictions a * p + b.
        self.scale = root_mean_square(residual)
        if not SCALE_RANGE[0] <= self.scale <= SCALE_RANGE[1]:
            raise ValueError(f"the ratings' spread around the baseline is {self.scale:.3g}: it "
                             f"must lie in [{SCALE_RANGE[0]:g}, {SCALE_RANGE[1]:g}] for the "
                             "model's float32 factors to hold it (rescale the ratings)")
        self.residual = residual / self.scale

    def taste_groups(self, options, seed, report):
        """The taste groups: one EM run with users as rows on the baseline's residuals, of
        every user, or of every k-th when there are more than TASTE_USERS."""
        n, d = self.shape
        residual, rows, cols = self.residual, self.rows, self.cols
        step = taste_step(n)
        if step > 1:
            chosen = rows % step == 0
            residual, rows, cols = residual[chosen], rows[chosen] // step, cols[chosen]
            n = -(-n // step)
        ratings = _side(residual, rows, cols, (n, d), USERS_AS_ROWS)
        return _fit_runs(ratings, options, options["n_groups"], [seed], 0.0, report)[0].mixture

    def runs(self, side, K, seeds, pattern_weight, options, report):
        """EM runs on one side of the residuals, one per seed (``_fit_runs``), and which
        rows of that side have no rating."""
        ratings = _side(self.residual, self.rows, self.cols, self.shape, side)
        return (_fit_runs(ratings, options, K, seeds, pattern_weight, report),
                ratings.n_rated == 0)

    def fit_stage(self, side, first_seed, options, report):
        """One stage on what the previous ones left (``fit_stage``)."""
        return fit_stage(self, side, first_seed, options, report)

    def fold_ridge(self, users, items):
        """``fold_ridge`` of a stage's factors, on the residuals it was fitted to."""
        return fold_ridge(users, items, self.residual, self.rows, self.cols)

    def assemble(self, stages, taste, options):
        """The Model (``assemble``)."""
        return assemble(self, stages, taste, options)

    def subtract(self, users, items):
        """Take a stage's predictions, as the model will serve them, off the residuals."""
        self.residual = self.residual - products.pairwise_dot(users.T, items.T, self.rows,
                                                              self.cols)


# Taste groups are fitted on at most this many users (every k-th user beyond it): enough to
# read the groups, at a fraction of a stage's cost on millions of users.
TASTE_USERS = 20_000


def taste_step(n):
    """The taste groups are fitted on every k-th of n users, k = taste_step(n) (1: all)."""
    return -(-n // TASTE_USERS)


class Stage(NamedTuple):
    """One fitted stage: its factors (standardised units) and what the model keeps of it."""

    side: int
    users: np.ndarray  # (n, c)
    items: np.ndarray  # (d, c)
    var: np.ndarray  # (c,) for a stage with users as rows, else empty
    p: np.ndarray  # (c,) likewise
    ridge: float  # fold-in ridge for a stage with items as rows, else 0


def fit_stage(state, side, first_seed, options, report):
    """Mixtures on one side of the residuals, n_seeds of them averaged, as a Stage (on a
    state that answers ``runs`` and ``fold_ridge``, as ``FitState`` does)."""
    items_side = side == ITEMS_AS_ROWS
    K = options["item_components" if items_side else "user_components"]
    runs, empty = state.runs(side, K, range(first_seed, first_seed + options["n_seeds"]),
                            options["pattern_weight"] if items_side else 0.0, options, report)
    row_factor = np.hstack([run.post for run in runs]) / len(runs)
    row_factor[empty] = 0  # a row with no rating gets the baseline, not the prior
    col_factor = np.vstack([run.mixture.mu for run in runs]).T
    if items_side:  # rows are items: the means live in user space
        users, items = compress(col_factor, row_factor, options["stage_rank"])
        return Stage(side, users, items, np.zeros(0), np.zeros(0),
                      state.fold_ridge(users, items))
    return Stage(side, row_factor, col_factor,
                  np.concatenate([run.mixture.var for run in runs]),
                  np.concatenate([run.mixture.p for run in runs]), 0.0)


def _fit_runs(ratings, options, K, seeds, pattern_weight, report):
    """EM runs from Dirichlet starts, one per seed, side by side; a list of em.Run.

    Each start is random soft memberships then an M-step, so that every component starts
    from a blend of many rows, none empty as a raw row of a sparse matrix nearly is.
    """
    seeds = list(seeds)
    post_t = dirichlet_starts(seeds, K, 0, ratings.n)
    blank = blank_mixture(len(post_t), ratings.d, K)
    start = mixtures.mixture_from_moments(em.moments(ratings, post_t), blank,
                                    options["variance_floor"], options["mean_prior"])
    starts = split_stack(start, K)
    with warnings.catch_warnings():
        # max_iter bounds the time; a run stopped there is still a good run
        warnings.simplefilter("ignore", RuntimeWarning)
        return mixtures.run_many(ratings, starts, callback=report,
                                 **run_options(options, pattern_weight))


def dirichlet_starts(seeds, K, first, last):
    """The random soft memberships EM starts from: rows ``first:last`` of each seed's
    ``RandomState(seed).dirichlet(np.ones(K), size=n)``, stacked, transposed: (len(seeds) *
    K, last - first).

    A block of rows draws only its own: each row costs K of the generator's doubles (a
    Dirichlet of ones is K exponentials, one double each), so skipping ``first * K`` of
    them gives exactly the rows a draw of all of them would (tested).
    """
    parts = []
    for seed in seeds:
        generator = np.random.RandomState(seed)
        for done in range(0, first * K, SKIP_CHUNK):  # in chunks: bounded memory
            generator.random_sample(min(SKIP_CHUNK, first * K - done))
        parts.append(generator.dirichlet(np.ones(K), size=last - first).T)
    return np.vstack(parts)


SKIP_CHUNK = 1 << 22


def blank_mixture(n_components, d, K):
    """The mixture the starts' M-step is given: zero means, unit variances, weights 1/K."""
    return GaussianMixture(np.zeros((n_components, d)), np.ones(n_components),
                           np.full(n_components, 1 / K))


def split_stack(stack, K):
    """The mixtures of K components stacked in ``stack``, in order."""
    return [GaussianMixture(*(a[i * K:(i + 1) * K] for a in stack))
            for i in range(len(stack.var) // K)]


def run_options(options, pattern_weight):
    """``mixtures.run_many``'s options of a stage, from the fit's options."""
    return {"tol": options["tol"], "max_iter": options["max_iter"],
            "min_variance": options["variance_floor"], "mean_prior": options["mean_prior"],
            "pattern_weight": pattern_weight, "pattern_smoothing": options["pattern_smoothing"]}


def _reporter(callback, stage, n_stages, side, n_runs):
    """An em.run_many callback that sends one Progress per run still going, or None."""
    if callback is None:
        return None

    def report(iteration, log_likelihoods):
        for run, ll in log_likelihoods.items():
            callback(Progress(stage, n_stages, SIDES[side], run + 1, n_runs, iteration, ll))
    return report


def _side(residual, rows, cols, shape, side):
    """The residuals with users (or items) as rows, summarised for float32 products; every
    stored residual is a rating, one of exactly 0 too.

    ``residual`` is in the order of a canonical CSR array's entries (rows sorted, columns
    sorted within them), which ``rows`` and ``cols`` give; the users' side reuses them as
    they are, the items' side sorts them by item once.
    """
    n, d = shape
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
    if side == USERS_AS_ROWS:
        R = sparse.csr_array((residual, cols, indptr), shape=(n, d))
    else:
        R = sparse.csr_array(sparse.csr_array((residual, cols, indptr), shape=(n, d)).T)
    return products.summarise(R, stored_zeros=True, dtype=np.float32, transposed=True)


def compress(users, items, rank):
    """Factors of rank at most ``rank`` whose product is closest to ``users @ items.T``.

    The truncated SVD of the product, without the (n, d) product: each factor is written
    ``F = Q R`` with Q orthonormal, from the eigendecomposition of its Gram matrix (cheaper
    than a QR at these shapes; directions the factor does not span are dropped), and the
    small core ``R_users @ R_items.T`` is decomposed instead. The singular values are split
    evenly between the two sides.

    Parameters
    ----------
    users : ndarray of shape (n, c)
    items : ndarray of shape (d, c)
    rank : int

    Returns
    -------
    users, items : ndarray of shape (n, k), (d, k), k = min(rank, c)
    """
    if users.shape[1] <= rank:
        return users, items
    to_users, to_items = compression(users.T @ users, items.T @ items, rank)
    return users @ to_users, items @ to_items


def compression(users_gram, items_gram, rank):
    """``compress`` from the factors' Gram matrices alone: ``(T_users, T_items)``, each (c,
    k), such that ``compress(users, items, rank) == (users @ T_users, items @ T_items)``.

    A partitioned fit sums each Gram matrix over blocks of rows (a (c, c) array each) and
    maps the two products over them: the factors themselves never meet in one place.
    """
    to_q_users, r_users = _orthonormal_basis(users_gram)
    to_q_items, r_items = _orthonormal_basis(items_gram)
    left, singular, right_t = np.linalg.svd(r_users @ r_items.T)
    k = min(rank, len(singular))
    root = np.sqrt(singular[:k])
    return to_q_users @ (left[:, :k] * root), to_q_items @ (right_t[:k].T * root)


def _orthonormal_basis(gram):
    """``(T, R)`` with ``factor @ T`` orthonormal and ``factor = (factor @ T) @ R``, from the
    eigendecomposition of the factor's Gram matrix ``factor.T @ factor``; T is (c, q) and R
    (q, c), q the rank."""
    eigenvalues, vectors = np.linalg.eigh(gram)
    kept = eigenvalues > eigenvalues.max() * 1e-12
    root = np.sqrt(eigenvalues[kept])
    return vectors[:, kept] / root, (vectors[:, kept] * root).T


# Ridges tried for placing a new user in a compressed stage, and the users that choose one.
RIDGE_GRID = 10.0 ** np.arange(-2, 4.01, 0.5)
RIDGE_ENTRIES = 4000


def fold_ridge(users, items, residual, rows, cols):
    """The ridge with which a user, placed by ridge regression of their residuals on the
    stage's item columns, lands nearest where the fit put them.

    A stage with items as rows places a user in closed form, from the items' posteriors;
    compressed, the stage keeps only its item columns ``items`` (d, k), and a new user
    ``a = argmin sum_{l in C} (x_l - items[l] . a)^2 + ridge |a|^2`` is the same kind of
    regularised mean. The ridge is chosen on a sample of the training users (the first
    with 3 to 100 ratings, up to RIDGE_ENTRIES ratings in all), as the one whose
    predictions ``items @ a`` over every item are closest to the fit's ``items @
    users[u]``.
    """
    counts = np.bincount(rows, minlength=len(users))
    order = np.argsort(rows, kind="stable")
    sample = ridge_sample(counts)
    if len(sample) == 0:
        return 1.0
    starts = np.concatenate([[0], np.cumsum(counts)])
    entries = np.concatenate([order[starts[u]:starts[u + 1]] for u in sample])
    gram, moment = ridge_terms(items, residual, cols, entries, counts[sample])
    return best_ridge(gram, moment, users[sample], items)


def ridge_sample(counts):
    """The users ``fold_ridge`` chooses its ridge on, from every user's number of ratings:
    the first with 3 to 100 ratings, up to RIDGE_ENTRIES ratings in all (sorted)."""
    sample = np.flatnonzero((counts >= 3) & (counts <= 100))
    return sample[np.cumsum(counts[sample]) <= RIDGE_ENTRIES]


def ridge_terms(items, residual, cols, entries, sizes):
    """Each sampled user's ridge-regression terms, ``gram`` (u, k, k) and ``moment`` (u,
    k), from ``entries``, the positions of their ratings, user after user (``sizes`` (u,)
    of them each, every size >= 1)."""
    basis = items[cols[entries]]  # (m, k)
    group_starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    gram = np.add.reduceat(basis[:, :, None] * basis[:, None, :], group_starts)  # (u, k, k)
    moment = np.add.reduceat(basis * residual[entries, None], group_starts)  # (u, k)
    return gram, moment


def best_ridge(gram, moment, target, items):
    """The ridge of RIDGE_GRID whose placements of the sampled users (``ridge_terms``) land
    nearest ``target`` (u, k), their factors in the fit, measured over every item."""
    all_items_gram = items.T @ items
    k = items.shape[1]
    best, best_error = 1.0, np.inf
    for ridge in RIDGE_GRID:
        placed = np.linalg.solve(gram + ridge * np.eye(k), moment[:, :, None])[:, :, 0]
        gap = placed - target
        error = np.einsum("ui,ij,uj->", gap, all_items_gram, gap)
        if error < best_error:
            best, best_error = float(ridge), error
    return best


def assemble(state, stages, taste, options, last_support=None):
    """The Model: factors in the ratings' units (float32), the user stages' mixtures.

    ``last_support`` (d, s_last) is derived here from the rating pattern
    (``model.with_support``) unless given: a partitioned fit sums it over its blocks, and
    checks the pattern block by block where it lives; the rest of the model is checked
    here all the same, beside an empty stand-in for the pattern, so that the pattern (which
    may be a file mapped into memory) is neither read whole nor copied.
    """
    (n, d), scale, fitted = state.shape, state.scale, state.baseline
    widths = [stage.users.shape[1] for stage in stages]
    user_stages = [stage for stage in stages if stage.side == USERS_AS_ROWS]
    mixture_var = np.concatenate([s.var for s in user_stages] or [np.zeros(0)]) * scale ** 2
    mixture_p = np.concatenate([s.p for s in user_stages] or [np.zeros(0)])
    user_factors = np.hstack([s.users for s in stages] or [np.zeros((n, 0))]).astype(np.float32)
    item_factors = (np.hstack([s.items for s in stages] or [np.zeros((d, 0))]) * scale
                    ).astype(np.float32)
    model = Model(
        mean=np.array(fitted.mean), scale=np.array(scale), cold_var=np.array(state.cold_var),
        user_bias=fitted.user_bias, item_bias=fitted.item_bias,
        day_users=fitted.day_users, days=fitted.days, day_bias=fitted.day_bias,
        rating_range=state.rating_range,
        user_factors=user_factors, item_factors=item_factors,
        stage_columns=np.concatenate([[0], np.cumsum(widths)]).astype(np.int64),
        stage_sides=np.array([s.side for s in stages], dtype=np.int8),
        fold_ridge=np.array([s.ridge for s in stages], dtype=float),
        mixture_var=mixture_var, mixture_p=mixture_p, last_support=np.zeros((d, 0)),
        n_components=np.array(options["user_components"]),
        mean_prior=np.array(float(options["mean_prior"])),
        user_reg=np.array(float(fitted.user_reg)), day_reg=np.array(float(fitted.day_reg)),
        group_p=taste.p, group_mu=taste.mu * scale,
        rated_indptr=state.rated_indptr, rated_indices=state.rated_indices,
        **without_blend(n, d))
    if last_support is None:
        return check_model(model_with_support(model))
    model = model._replace(last_support=last_support)
    check_model(model._replace(rated_indptr=np.zeros(n + 1, dtype=np.int64),
                               rated_indices=np.zeros(0, dtype=np.int32)))
    return model


# ---------------------------------------------------------------------------------------
# Checks

def check_training(X):
    """Return X as a CSR array of ratings, or raise ValueError (no rating at all, too).

    Every stored entry of a sparse X is a rating, 0 included, and so is every unmasked
    entry of a masked array; a dense X's zeros are missing (``ratings.as_ratings_matrix``).
    """
    X = as_ratings_matrix(X)
    if X.nnz == 0:
        raise ValueError("X holds no rating: there is nothing to fit")
    if np.abs(X.data).max() > MAX_RATING:
        raise ValueError(f"X holds a rating of magnitude {np.abs(X.data).max():.3g}: ratings "
                         f"must lie within +-{MAX_RATING:g}, which the model's float32 "
                         "factors hold (rescale them)")
    return X


def check_times(times, X):
    """Timestamps as a float (nnz,) array aligned with X's stored entries, or None
    (``baseline.check_times``: NaN where unknown, else seconds from 1900 to 2200)."""
    if times is None:
        return None
    return baseline.check_times(times, X.nnz)


def entries(X):
    """Row and column of each stored entry of a CSR array, in storage order (int32 where
    the shape allows: a rating's two indices cost 8 bytes, not 16)."""
    index = np.int32 if max(X.shape) < 2 ** 31 else np.int64
    return (np.repeat(np.arange(X.shape[0], dtype=index), np.diff(X.indptr)),
            X.indices.astype(index, copy=False))


MAX_ITERATIONS = 100_000  # EM iterations of a run at most (tol ends them in tens)


def check_sizes(options, shape, spell=str):
    """ValueError, naming the option as ``spell(name)`` says, when a stage's posteriors and
    moments (K x n_seeds rows over the ratings' rows and columns) would not fit in the
    memory available: a mistyped K is said at once, not found by a MemoryError; the same
    for the work no fit would finish (``options`` bounds an option from below only)."""
    baseline.check_epochs(spell("bias_epochs"), options["bias_epochs"])
    if options["max_iter"] > MAX_ITERATIONS:  # tol=0 would run every one of them
        raise ValueError(f"{spell('max_iter')} must be an integer in 1..{MAX_ITERATIONS}, "
                         f"got {options['max_iter']!r}")
    n, d = shape
    sides = {"item_components": (d, n, options["n_seeds"]),
             "user_components": (n, d, options["n_seeds"]),
             "n_groups": (min(n, TASTE_USERS), d, 1)}
    available = products.available_memory()
    for name, (rows, columns, runs) in sides.items():
        # float64 log-joint and posteriors (K S, rows), moments and means (K S, 2 columns)
        needed = 8 * options[name] * runs * (3 * rows + 4 * columns)
        if available is not None and needed > available:
            raise ValueError(f"{spell(name)} = {options[name]} needs "
                             f"{needed / 2 ** 30:.3g} GiB for its posteriors and means on "
                             f"{rows} x {columns} ratings, but only "
                             f"{available / 2 ** 30:.1f} GiB is available")


def fit_baseline(X, user_reg=15.0, item_reg=10.0, epochs=10):
    """Global mean plus regularised user and item biases (``baseline.fit`` without days).

    Returns
    -------
    mean : float
    user_bias : ndarray of shape (n,)
    item_bias : ndarray of shape (d,)
    """
    X = check_training(X)
    rows, cols = entries(X)
    fitted = baseline.fit(rows, cols, X.data, X.shape, user_reg=user_reg, item_reg=item_reg,
                          epochs=epochs)
    return fitted.mean, fitted.user_bias, fitted.item_bias

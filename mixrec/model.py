"""What a fitted recommender is: the ``Model`` arrays, and the checks that make one valid.

A model comes from ``fit`` or from a file (``modelfile.load``), which may have
been written by anyone: every function that takes a model runs ``check_model`` first, so a
reversed rating range, a negative variance, weights that do not sum to 1 or an index out of
range are a ``ValueError`` naming the array, never a silent wrong answer or a crash.

The model predicts ``mean + user_bias[u] + item_bias[l] + day_bias[u, day] +
user_factors[u] . item_factors[l]``, clipped to ``rating_range``. The factors' columns are
the stages, in fit order (``stage_columns`` bounds them): each stage of mixtures with items
as rows is compressed to a few columns (a truncated SVD of its averaged predictions); the
last stage of mixtures with users as rows is kept whole, its user columns the averaged
posteriors and its item columns the means, because the predictive uncertainty and the
fold-in of a new user (an E-step) need its mixtures exactly.
"""
from typing import NamedTuple

import numpy as np

from mixrec.baseline import MAX_DAY
from mixrec.neighbours import MAX_SCORE

ITEMS_AS_ROWS, USERS_AS_ROWS = 0, 1


class Model(NamedTuple):
    """A fitted recommender: plain arrays (shapes in n users, d items, r columns).

    Attributes
    ----------
    mean, scale, cold_var : ndarray of shape ()
        The global mean; the baseline's residual spread, the unit the mixtures were fitted
        in; the baseline's mean squared error on the training ratings.
    user_bias : ndarray of shape (n,)
    item_bias : ndarray of shape (d,)
    day_users, days, day_bias : ndarray of shape (m,)
        The (user, UTC day) pairs of the training ratings with their bias, sorted by
        (user, day); empty for a model fitted without timestamps.
    rating_range : ndarray of shape (2,)
        The smallest and largest training rating; predictions are clipped to it.
    user_factors : ndarray of shape (n, r)
    item_factors : ndarray of shape (d, r)
    stage_columns : ndarray of int, shape (n_stages + 1,)
        Stage s owns columns ``stage_columns[s]:stage_columns[s + 1]``.
    stage_sides : ndarray of int, shape (n_stages,)
        ``ITEMS_AS_ROWS`` or ``USERS_AS_ROWS``.
    fold_ridge : ndarray of shape (n_stages,)
        For a stage with items as rows, the ridge that places a new user in its columns.
    mixture_var, mixture_p : ndarray of shape (s,)
        Variances and weights (in groups of ``n_components``, one group per seed) of the
        components of the stages with users as rows, in column order; their means are
        those stages' item columns.
    last_support : ndarray of shape (d, s_last)
        How many users' worth of ratings each component of the last stage with users as
        rows saw of each item (derived from its posteriors and the rating pattern by
        ``with_support``, not stored in a file).
    n_components : ndarray of shape ()
        K of the stages with users as rows.
    mean_prior : ndarray of shape ()
        The pseudo-count the means were shrunk with.
    user_reg, day_reg : ndarray of shape ()
        The baseline's pseudo-counts, for placing a new user.
    group_p : ndarray of shape (G,)
    group_mu : ndarray of shape (G, d)
        Taste groups: a mixture of users fitted to what the baseline leaves, ``group_mu[j,
        l]`` how far above the baseline group j rates item l (for reading the model).
    rated_indptr : ndarray of int, shape (n + 1,)
    rated_indices : ndarray of int, shape (nnz,)
        Which items each user rated in training (CSR pattern), sorted within each user.
    rated_residual : ndarray of shape (nnz,), or (0,) without neighbour stages
        Each training rating's residual from the baseline, in units of ``scale``, in the
        pattern's order: what the neighbour stages average.
    knn_item_indptr, knn_item_index, knn_item_score : ndarray, shapes (d + 1,), (ki,), (ki,)
        The item neighbour stage's lists (``neighbours.Lists``): each item's neighbour items
        and their log weights; ki = 0 without the stage.
    knn_user_indptr, knn_user_index, knn_user_score : ndarray, shapes (n + 1,), (ku,), (ku,)
        The user neighbour stage's lists.
    knn_settings : ndarray of shape (5,)
        The neighbour stages' settings, for placing a new user among the users: the null
        component's log weight, the temperature, the shrink, the ratings a user needs to
        be a neighbour, the neighbours kept (``KNN_SETTINGS``).
    blend_weights : ndarray of shape (q,)
        The blend of the parts (the baseline, each stage, the two neighbour stages), fitted
        on ratings held out of a first fit (``blend.py``): q = 0 (the parts summed) or 3 P +
        3, P = n_stages + 3 parts, each weight changing with the user's and the item's
        log rating counts.
    blend_centers : ndarray of shape (2,)
        The mean log(1 + count) of the training ratings' users and items, which the blend's
        log counts are taken from (0 without a blend).
    std_factor : ndarray of shape ()
        The predictive std's factor, the blend's error over the stages' on those ratings.
    """

    mean: np.ndarray
    scale: np.ndarray
    cold_var: np.ndarray
    user_bias: np.ndarray
    item_bias: np.ndarray
    day_users: np.ndarray
    days: np.ndarray
    day_bias: np.ndarray
    rating_range: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray
    stage_columns: np.ndarray
    stage_sides: np.ndarray
    fold_ridge: np.ndarray
    mixture_var: np.ndarray
    mixture_p: np.ndarray
    last_support: np.ndarray
    n_components: np.ndarray
    mean_prior: np.ndarray
    user_reg: np.ndarray
    day_reg: np.ndarray
    group_p: np.ndarray
    group_mu: np.ndarray
    rated_indptr: np.ndarray
    rated_indices: np.ndarray
    rated_residual: np.ndarray
    knn_item_indptr: np.ndarray
    knn_item_index: np.ndarray
    knn_item_score: np.ndarray
    knn_user_indptr: np.ndarray
    knn_user_index: np.ndarray
    knn_user_score: np.ndarray
    knn_settings: np.ndarray
    blend_weights: np.ndarray
    blend_centers: np.ndarray
    std_factor: np.ndarray


# What a model written before the neighbour stages and the blend holds for them: nothing
# to add, the parts summed (``modelfile`` reads such files with these).
NO_KNN_SETTINGS = [0.0, 1.0, 0.0, 1.0, 0.0]
def without_blend(n, d):
    """The arrays of a model with neither neighbour stages nor a blend, by name."""
    empty = {"indptr": lambda t: np.zeros(t + 1, dtype=np.int64),
             "index": lambda t: np.zeros(0, dtype=np.int32),
             "score": lambda t: np.zeros(0, dtype=np.float32)}
    out = {"rated_residual": np.zeros(0, dtype=np.float32), "knn_settings": np.array(NO_KNN_SETTINGS),
           "blend_weights": np.zeros(0), "blend_centers": np.zeros(2),
           "std_factor": np.array(1.0)}
    for side, t in (("item", d), ("user", n)):
        for part, make in empty.items():
            out[f"knn_{side}_{part}"] = make(t)
    return out


# The dtype kind each array must have: f floats, i integers.
KINDS = {name: "f" for name in Model._fields}
KINDS.update(day_users="i", days="i", stage_columns="i", stage_sides="i", n_components="i",
             rated_indptr="i", rated_indices="i", knn_item_indptr="i", knn_item_index="i",
             knn_user_indptr="i", knn_user_index="i")
# The integer arrays' own dtypes, those fit writes: every integer array is checked as int64
# (no value wraps around, as np.diff of a uint8 array would), then held in its own dtype.
INTEGER_DTYPES = {"day_users": np.int32, "days": np.int64, "stage_columns": np.int64,
                  "stage_sides": np.int8, "n_components": np.int64, "rated_indptr": np.int64,
                  "rated_indices": np.int32, "knn_item_indptr": np.int64,
                  "knn_item_index": np.int32, "knn_user_indptr": np.int64,
                  "knn_user_index": np.int32}
# Ratings a model holds: its factors are float32 in the ratings' units (largest 3.4e38),
# so ratings beyond this are refused before a fit, not found to overflow after it.
MAX_RATING = 1e30
# Magnitudes every float of a model lies within: the ratings' bound, and its square for the
# variances.
MAX_VALUE, MAX_VARIANCE = 1e150, 1e300
# The scale, the unit of the factors (the ratings' spread around the baseline): the factors
# are float32 in the ratings' units and their squares are taken in float32 (the predictive
# variance), so a factor's square must stay a normal float32 (1.2e-38 to 3.4e38), with
# room for factors some orders of magnitude from the scale. Beyond this range the mixture
# stages underflow to 0, or the std overflows to inf.
SCALE_RANGE = (1e-15, 1e15)
# A mixture variance in units of the scale (what fold_in divides by): the fit's floor, up to
# the square of any residual a float64 fit can hold.
RELATIVE_VARIANCE_RANGE = (1e-12, 1e15)
_VARIANCES = ("cold_var", "mixture_var")


def shapes(n, d, r, s, m, n_stages, n_groups, nnz, residuals, ki, ku, q, s_last=None):
    """The shape of every array of a model of these sizes, by name."""
    return {"rated_residual": (residuals,), "knn_item_indptr": (d + 1,),
            "knn_item_index": (ki,), "knn_item_score": (ki,), "knn_user_indptr": (n + 1,),
            "knn_user_index": (ku,), "knn_user_score": (ku,), "knn_settings": (len(KNN_SETTINGS),),
            "blend_weights": (q,), "blend_centers": (2,), "std_factor": (),
            "mean": (), "scale": (), "cold_var": (), "user_bias": (n,), "item_bias": (d,),
            "day_users": (m,), "days": (m,), "day_bias": (m,), "rating_range": (2,),
            "user_factors": (n, r), "item_factors": (d, r),
            "stage_columns": (n_stages + 1,), "stage_sides": (n_stages,),
            "fold_ridge": (n_stages,), "mixture_var": (s,), "mixture_p": (s,),
            "last_support": (d, s if s_last is None else s_last), "n_components": (),
            "mean_prior": (), "user_reg": (),
            "day_reg": (), "group_p": (n_groups,), "group_mu": (n_groups, d),
            "rated_indptr": (n + 1,), "rated_indices": (nnz,)}


def sizes_of(declared):
    """The sizes (n, d, r, s, m, n_stages, n_groups, nnz, residuals, ki, ku, q) that
    declared shapes imply, or ValueError when an array that sets a size lacks its
    dimensions.

    ``declared`` maps names to shapes, from a model or from a model file's header (read
    before any array, so that nothing is allocated for a file whose shapes disagree).
    """
    def dim(name, axis):
        shape = declared.get(name)
        if shape is None or len(shape) <= axis:
            raise ValueError(f"model.{name} must have at least {axis + 1} dimension(s), got "
                             f"shape {shape}")
        return int(shape[axis])
    return (dim("user_bias", 0), dim("item_bias", 0), dim("user_factors", 1),
            dim("mixture_var", 0), dim("days", 0), dim("stage_sides", 0), dim("group_p", 0),
            dim("rated_indices", 0), dim("rated_residual", 0), dim("knn_item_index", 0),
            dim("knn_user_index", 0), dim("blend_weights", 0))


def check_shapes(declared, names=Model._fields):
    """ValueError naming the first array whose shape disagrees with the others'.

    ``declared`` maps the names (all of Model's, or those a file stores) to shapes.
    """
    missing = [name for name in names if name not in declared]
    if missing:
        raise ValueError(f"the model lacks the arrays {missing}")
    s_last = declared["last_support"][1] if "last_support" in declared and len(
        declared["last_support"]) == 2 else None
    sizes = sizes_of(declared)
    nnz, residuals = sizes[7], sizes[8]
    if residuals not in (0, nnz):
        raise ValueError(f"model.rated_residual must have shape ({nnz},) or (0,), got "
                         f"({residuals},)")
    expected = shapes(*sizes, s_last=s_last)
    for name in names:
        if tuple(declared[name]) != expected[name]:
            raise ValueError(f"model.{name} must have shape {expected[name]}, got "
                             f"{tuple(declared[name])}")


def check_model(model):
    """Return the model, its integer arrays in their own dtypes, if its arrays fit together
    and hold valid values; else raise ValueError naming the array.

    Shapes and dtypes first, then values, the integers checked as int64: everything finite
    and within its bound (``MAX_VALUE``, ``MAX_VARIANCE``, ``SCALE_RANGE``); the rating range
    ordered; the variances positive and, in units of the scale, within
    ``RELATIVE_VARIANCE_RANGE``; the cold variance, supports and pseudo-counts >= 0; weights
    in [0, 1] summing to 1 per group; stage bounds increasing within the factors; the day
    table and the rating pattern sorted, within range and consistent.
    """
    if not isinstance(model, Model):
        raise ValueError(f"model must be a mixrec.Model, got {type(model).__name__}")
    check_shapes({name: np.shape(value) for name, value in model._asdict().items()})
    wide = {}
    for name, value in model._asdict().items():
        value = np.asarray(value)
        if KINDS[name] == "i":
            wide[name] = _as_int64(name, value)
            continue
        if value.dtype.kind != "f":
            raise ValueError(f"model.{name} must hold floats, got dtype {value.dtype}")
        if not np.isfinite(value).all():
            raise ValueError(f"model.{name} must be finite, but it holds NaN or inf")
        bound = MAX_VARIANCE if name in _VARIANCES else MAX_VALUE
        if value.size and float(np.abs(value).max()) > bound:
            raise ValueError(f"model.{name} must lie within +-{bound:g}, got a value of "
                             f"{np.abs(value).max():.3g}")
        wide[name] = value
    _check_values(Model(**wide))
    return model._replace(**{name: wide[name].astype(dtype, copy=False)
                             for name, dtype in INTEGER_DTYPES.items()})


def _as_int64(name, value):
    """An integer array as int64 (values beyond int64 refused, never wrapped), or ValueError."""
    if value.dtype.kind not in "iu":
        raise ValueError(f"model.{name} must hold integers, got dtype {value.dtype}")
    if value.dtype == np.uint64 and value.size and value.max() > np.iinfo(np.int64).max:
        raise ValueError(f"model.{name} holds an integer beyond int64")
    return value.astype(np.int64, copy=False)


def _check_values(model):
    """The value checks of check_model, once shapes and dtypes are right (integers int64)."""
    n, d = len(model.user_bias), len(model.item_bias)
    low, high = model.rating_range
    if not low <= high:
        raise ValueError(f"model.rating_range must be (lowest, highest), got {model.rating_range}")
    if not SCALE_RANGE[0] <= model.scale <= SCALE_RANGE[1]:
        raise ValueError(f"model.scale must lie in [{SCALE_RANGE[0]:g}, {SCALE_RANGE[1]:g}], "
                         f"got {model.scale}")
    for name in ("cold_var", "mean_prior", "user_reg", "day_reg"):
        if getattr(model, name) < 0:
            raise ValueError(f"model.{name} must be >= 0, got {getattr(model, name)}")
    relative = model.mixture_var / float(model.scale) ** 2
    if len(relative) and not (RELATIVE_VARIANCE_RANGE[0] <= relative.min()
                              and relative.max() <= RELATIVE_VARIANCE_RANGE[1]):
        raise ValueError(f"model.mixture_var must be positive and, in units of model.scale "
                         f"squared, within [{RELATIVE_VARIANCE_RANGE[0]:g}, "
                         f"{RELATIVE_VARIANCE_RANGE[1]:g}]")
    if (model.last_support < 0).any():
        raise ValueError("model.last_support must be >= 0")
    _check_weights("mixture_p", model.mixture_p, int(model.n_components))
    _check_weights("group_p", model.group_p, len(model.group_p))
    _check_stages(model)
    _check_days(model, n)
    check_pattern(model.rated_indptr, model.rated_indices, n, d, "model.rated")
    _check_neighbours(model, n, d)
    _check_blend(model)


# A neighbour's log weight is at most 1 / temperature (``neighbours.MAX_SCORE``): e^100
# stays far inside float64.
# The neighbour stages' settings a model keeps (``knn_settings``), each within its range.
KNN_SETTINGS = {"null": (-MAX_SCORE, MAX_SCORE), "temperature": (1 / MAX_SCORE, 1e6),
                "shrink": (0.0, 1e12), "min_support": (1, 2 ** 31), "k": (0, 2 ** 31)}
STD_FACTOR_RANGE = (1e-3, 1e3)


def _check_neighbours(model, n, d):
    """The neighbour lists: CSR patterns of neighbours within range (no order asked), finite
    bounded scores; the residuals they average stored when there are any."""
    for side, t, size in (("item", d, d), ("user", n, n)):
        indptr = getattr(model, f"knn_{side}_indptr")
        index = getattr(model, f"knn_{side}_index")
        score = getattr(model, f"knn_{side}_score")
        if indptr[0] != 0 or indptr[-1] != len(index) or (np.diff(indptr) < 0).any():
            raise ValueError(f"model.knn_{side}_indptr must rise from 0 to {len(index)}")
        if len(index) and (index.min() < 0 or index.max() >= size):
            raise ValueError(f"model.knn_{side}_index must lie in 0..{size - 1}")
        if len(score) and np.abs(score).max() > MAX_SCORE:
            raise ValueError(f"model.knn_{side}_score must lie within +-{MAX_SCORE:g}")
    if (len(model.knn_item_index) or len(model.knn_user_index)) and \
            len(model.rated_residual) != len(model.rated_indices):
        raise ValueError("model.rated_residual must hold a residual per rating "
                         f"({len(model.rated_indices)}) when there are neighbour stages")
    settings = dict(zip(KNN_SETTINGS, model.knn_settings.tolist()))
    for name, (low, high) in KNN_SETTINGS.items():
        value = settings[name]
        if not low <= value <= high or (name in ("min_support", "k") and value != int(value)):
            raise ValueError(f"model.knn_settings' {name} must be "
                             + ("an integer " if name in ("min_support", "k") else "")
                             + f"in [{low:g}, {high:g}], got {value!r}")


def blend_size(n_stages):
    """The blend's weights: one per part and an intercept, each with its change per log
    count of the user's and of the item's ratings; the parts are the baseline, the stages
    and the two neighbour stages."""
    return 3 * (n_stages + 3) + 3


# log(1 + a count of ratings) lies within this (a count below 2**63).
MAX_LOG_COUNT = 44.0


def _check_blend(model):
    q = len(model.blend_weights)
    if q and q != blend_size(len(model.stage_sides)):
        raise ValueError(f"model.blend_weights must hold {blend_size(len(model.stage_sides))} "
                         f"weights for {len(model.stage_sides)} stages, got {q}")
    if not (np.isfinite(model.blend_centers).all()
            and (0 <= model.blend_centers).all() and (model.blend_centers <= MAX_LOG_COUNT).all()):
        raise ValueError(f"model.blend_centers must lie in [0, {MAX_LOG_COUNT:g}] (mean log "
                         "counts)")
    if not STD_FACTOR_RANGE[0] <= float(model.std_factor) <= STD_FACTOR_RANGE[1]:
        raise ValueError(f"model.std_factor must lie in {list(STD_FACTOR_RANGE)}, got "
                         f"{float(model.std_factor)}")


def _check_weights(name, p, group):
    """Mixing weights in [0, 1] summing to 1 in each group of ``group``."""
    if len(p) == 0:
        return
    if group < 1 or len(p) % group:
        raise ValueError(f"model.{name} must hold whole groups of {group} weights, got {len(p)}")
    sums = p.reshape(-1, group).sum(axis=1)
    if (p < 0).any() or (p > 1).any() or np.abs(sums - 1).max() > 1e-6:
        raise ValueError(f"model.{name} must hold weights in [0, 1] summing to 1 per mixture")


def _check_stages(model):
    """Stage bounds rise from 0 to r; sides are known; the user stages own mixture_var, and
    the last of them last_support; user stage columns are posteriors: in [0, 1]."""
    bounds, r = model.stage_columns, model.user_factors.shape[1]
    if bounds[0] != 0 or bounds[-1] != r or (np.diff(bounds) < 0).any():
        raise ValueError(f"model.stage_columns must rise from 0 to {r}, got {bounds}")
    if not np.isin(model.stage_sides, (ITEMS_AS_ROWS, USERS_AS_ROWS)).all():
        raise ValueError("model.stage_sides must hold 0 (items as rows) or 1 (users as rows)")
    if (model.fold_ridge < 0).any():
        raise ValueError("model.fold_ridge must be >= 0")
    widths = np.diff(bounds)
    user_stages = np.flatnonzero(model.stage_sides == USERS_AS_ROWS)
    if len(model.mixture_var) != widths[user_stages].sum():
        raise ValueError(f"model.mixture_var must have one variance per column of the stages "
                         f"with users as rows ({widths[user_stages].sum()}), got "
                         f"{len(model.mixture_var)}")
    last_width = int(widths[user_stages[-1]]) if len(user_stages) else 0
    if model.last_support.shape[1] != last_width:
        raise ValueError(f"model.last_support must have {last_width} columns, got "
                         f"{model.last_support.shape[1]}")
    K = int(model.n_components)
    for stage in user_stages:
        weights = model.user_factors[:, bounds[stage]:bounds[stage + 1]]
        if weights.size == 0:
            continue
        n_seeds = weights.shape[1] // K if K >= 1 else 0
        if n_seeds * K != weights.shape[1]:
            raise ValueError(f"model.stage_columns: a stage with users as rows has "
                             f"{weights.shape[1]} columns, not whole mixtures of {K}")
        # each seed's posteriors, averaged over the seeds: a user's sum to 1 / n_seeds (or
        # to 0 for a user without a rating), each in [0, 1 / n_seeds]
        sums = weights.reshape(len(weights), n_seeds, K).sum(axis=2, dtype=float)
        if weights.min() < 0 or not np.all((np.abs(sums * n_seeds - 1) < 1e-4)
                                           | (np.abs(sums) < 1e-7)):
            raise ValueError("model.user_factors: the columns of a stage with users as rows "
                             "are posteriors and must lie in [0, 1] and sum to 1 per seed")


def _check_days(model, n):
    """The day table: users within range, (user, day) pairs sorted and distinct."""
    users, days = model.day_users, model.days
    if len(users) == 0:
        return
    if users.min() < 0 or users.max() >= n:
        raise ValueError(f"model.day_users must lie in 0..{n - 1}")
    if np.abs(days).max() > MAX_DAY:
        raise ValueError(f"model.days must be day numbers within +-{MAX_DAY}")
    key = users * (2 * MAX_DAY + 1) + days
    if (np.diff(key) <= 0).any():
        raise ValueError("model.day_users and model.days must be sorted (user, day) pairs, "
                         "each once")


def check_pattern(indptr, indices, n, d, name):
    """ValueError naming ``name`` unless (indptr, indices) is a valid CSR pattern of shape
    (n, d): indptr rising from 0 to len(indices), indices within 0..d-1 and strictly rising
    within each row. One pass over the indices: cheap next to reading them."""
    indptr, indices = np.asarray(indptr), np.asarray(indices)
    if indptr.ndim != 1 or len(indptr) != n + 1 or indptr.dtype.kind not in "iu" or \
            indices.dtype.kind not in "iu":
        raise ValueError(f"{name}: indptr must be {n + 1} integers")
    # checked as int64: a narrow type's differences wrap around ([0, 250, 24] "rises" in uint8)
    indptr = _as_int64(f"{name}_indptr", indptr)
    indices = _as_int64(f"{name}_indices", indices)
    if indptr[0] != 0 or indptr[-1] != len(indices) or (np.diff(indptr) < 0).any():
        raise ValueError(f"{name}: indptr must rise from 0 to {len(indices)}")
    if len(indices) == 0:
        return
    if indices.min() < 0 or indices.max() >= d:
        raise ValueError(f"{name}: indices must lie in 0..{d - 1}")
    # strictly rising within rows: a fall (or a repeat) is allowed only where a row starts
    step = np.diff(indices.astype(np.int64))
    row_start = np.zeros(len(indices), dtype=bool)
    row_start[indptr[1:-1][indptr[1:-1] < len(indices)]] = True
    if ((step <= 0) & ~row_start[1:]).any():
        raise ValueError(f"{name}: indices must be sorted and distinct within each row")


def with_support(model):
    """The model with ``last_support`` derived from its last user stage and its pattern.

    The support of component c of seed s for item l is ``sum_{u rated l} post_s[u, c]``;
    the user columns hold the posteriors averaged over the seeds, ``post_s / n_seeds``.
    """
    from scipy import sparse  # only here: the rest of this room is plain numpy
    bounds = model.stage_columns
    users_stages = np.flatnonzero(model.stage_sides == USERS_AS_ROWS)
    n, d = len(model.user_bias), len(model.item_bias)
    if len(users_stages) == 0:
        return model._replace(last_support=np.zeros((d, 0)))
    last = users_stages[-1]
    weights = np.asarray(model.user_factors[:, bounds[last]:bounds[last + 1]], dtype=float)
    n_seeds = weights.shape[1] // max(int(model.n_components), 1)
    pattern = sparse.csr_array((np.ones(len(model.rated_indices)), model.rated_indices,
                                model.rated_indptr), shape=(n, d))
    return model._replace(last_support=n_seeds * (pattern.T @ weights))

"""The whole fit: the stages, two neighbour stages, and their blend, weighed on ratings held
out of the training data.

1. Choices made on the training ratings only: the item stages' capacity from the ratings per
   user (``options.capacity``); with timestamps, the bias per user and day kept only if the
   baseline with it predicts 10% of the training ratings, held out, better than without.
2. A first fit on 90% of the training ratings (``blend_holdout``): the baseline, the stages
   of mixtures (``stages.py``) and the neighbour stages (``neighbours.py``, on the baseline's
   residuals). Each part's prediction at the held-out 10% gives the blend's weights
   (``blend.py``), and the ratio of the blend's error to the summed stages' error there
   rescales the predictive standard deviation, which is calibrated to the stages' error.
3. The same fit on every training rating, served with those weights.

Never a test file: everything chosen here is chosen on the training ratings. ``blend_holdout
= 0``, or fewer than ``MIN_BLEND_RATINGS`` held out, skips the blend and the neighbour stages:
the stages summed, as the model was before the blend.
"""
import numpy as np

from mixrec import baseline, blend, neighbours, parts, splits, stages
from mixrec.model import check_model
from mixrec.options import check_hyper_parameters, resolved

# The held-out ratings that choose the day biases and weigh the blend: their own seed, so
# that the choice does not move with the EM starts' seed.
HOLDOUT_SEED = 1
DAYS_HOLDOUT = 0.1
# Fewer held-out ratings than this cannot tell whether day biases predict better.
MIN_DAYS_RATINGS = 100
# Fewer held-out ratings than this cannot weigh the parts (up to 3 weights per part): the
# stages are then summed, with no neighbour stage, as with blend_holdout = 0.
MIN_BLEND_RATINGS = 1000
# The std is calibrated to the stages' error; the blend changes the error by a few percent.
# A ratio beyond these bounds says the held-out ratings are too few to tell: kept within.
STD_FACTOR_BOUNDS = (0.5, 2.0)


def fit(X, *, seed=0, callback=None, times=None, **hyper_parameters):
    """Fit the recommender to a ratings matrix.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d)
        Users as rows, items as columns. Every stored entry of a sparse X is a rating, 0
        included (as ``load_ratings`` stores a rating of 0); so is every unmasked entry
        of a masked array; a dense X's zeros are missing.
    seed : int, default 0
        Seed of the Dirichlet starts; seed s runs EM from seeds s*n_seeds .. s*n_seeds +
        n_seeds - 1 at each stage.
    callback : callable or None
        Called with a ``stages.Progress`` after each EM iteration of each run, e.g. to show
        progress or to record each run's log-likelihoods; the first fit's, on the ratings
        that weigh the blend, have ``phase == "blend"``.
    times : array_like of shape (nnz,) or None
        Each rating's timestamp in seconds (NaN where unknown), in the order of the stored
        entries of X as a canonical CSR array (``load_ratings(..., timestamps=True)`` gives
        them so): the baseline may then learn a bias per user and day (``day_biases``).
    **hyper_parameters
        Any of ``options.DEFAULTS``.

    Returns
    -------
    Model
    """
    options = check_hyper_parameters(hyper_parameters, seed)
    X = stages.check_training(X)
    times = stages.check_times(times, X)
    options = resolved(options, int(np.count_nonzero(np.diff(X.indptr))), X.nnz)
    stages.check_sizes(options, X.shape)
    times = times if use_day_biases(X, times, options) else None
    if options["blend_holdout"] * X.nnz < MIN_BLEND_RATINGS:
        return stages.fit_stages(X, times, options, seed, callback)
    weights = _blend_weights(X, times, options, seed, callback)
    model = _fit_parts(X, times, options, seed, callback)
    return check_model(model._replace(**weights))


def use_day_biases(X, times, options):
    """Whether the baseline learns a bias per user and day: as asked, or (``None``) when
    the baseline with them predicts held-out training ratings better than without."""
    has_times = times is not None and bool(np.isfinite(times).any())
    if options["day_biases"] is True and not has_times:
        raise ValueError("day_biases=True needs the ratings' timestamps (times=)")
    if options["day_biases"] is not None or not has_times:
        return has_times and bool(options["day_biases"])
    if DAYS_HOLDOUT * X.nnz < MIN_DAYS_RATINGS:  # too few to tell: the simpler baseline
        return False
    inner, hidden, inner_times, hidden_times = splits.holdout(
        X, DAYS_HOLDOUT, seed=HOLDOUT_SEED, times=times)
    rows, cols = stages.entries(inner)
    errors = []
    for day_times in (inner_times, None):
        fitted = baseline.fit(rows, cols, inner.data, inner.shape, day_times,
                              user_reg=options["user_reg"], item_reg=options["item_reg"],
                              day_reg=options["day_reg"], epochs=options["bias_epochs"])
        pred = baseline.predict(fitted, hidden.rows, hidden.cols,
                                None if day_times is None else hidden_times)
        errors.append(np.mean((pred - hidden.values) ** 2))
    return bool(errors[0] < errors[1])


def _blend_weights(X, times, options, seed, callback):
    """The blend's fields of a model: weights fitted at held-out training ratings on a fit
    to the others, and the std's factor."""
    split = splits.holdout(X, options["blend_holdout"], seed=HOLDOUT_SEED, times=times)
    inner, hidden = split[:2]
    hidden_times = split[3] if times is not None else None
    report = None if callback is None else (lambda p: callback(p._replace(phase="blend")))
    model = _fit_parts(inner, split[2] if times is not None else None, options, seed, report)
    known = np.ones(len(hidden.rows), dtype=bool)
    at = parts.at_pairs(model, hidden.rows, hidden.cols, known, known, hidden_times)
    support = parts.support_of(model)
    log_users, log_items = support.users[hidden.rows], support.items[hidden.cols]
    weights = blend.fit(at, log_users, log_items, hidden.values, float(model.scale))
    low, high = model.rating_range
    blended = np.clip(blend.design(at, log_users, log_items) @ weights, low, high)
    summed = np.clip(at[:, :-2].sum(axis=1), low, high)  # the stages alone, as calibrated
    error, stages_error = (np.mean((p - hidden.values) ** 2) for p in (blended, summed))
    factor = np.sqrt(error / stages_error) if stages_error > 0 else 1.0
    return {"blend_weights": weights,
            "std_factor": np.array(float(np.clip(factor, *STD_FACTOR_BOUNDS)))}


def _fit_parts(X, times, options, seed, callback):
    """The stages and the neighbour stages on X: a Model whose parts are summed until the
    blend's fields are set."""
    n, d = X.shape
    model = stages.fit_stages(X, times, options, seed, callback)._replace(
        blend_centers=parts.centers(X.indptr, X.indices, d))
    if options["neighbours"] == 0:
        return model
    rows, cols = stages.entries(X)
    # the neighbours average the baseline's residuals, in units of their spread, as the
    # first stage sees them
    residual = ((X.data - baseline.predict(parts.baseline_of(model), rows, cols, times))
                / float(model.scale))
    settings = {"k": options["neighbours"], "min_support": options["neighbour_min_support"],
                "shrink": options["neighbour_shrink"],
                "temperature": options["neighbour_temperature"],
                "max_per_row": options["neighbour_max_per_row"] or None, "seed": seed}
    item = neighbours.neighbour_lists(rows, cols, residual, (n, d), **settings)
    user = neighbours.neighbour_lists(cols, rows, residual, (d, n), **settings)
    return model._replace(
        rated_residual=residual.astype(np.float32),
        knn_item_indptr=item.indptr, knn_item_index=item.index, knn_item_score=item.score,
        knn_user_indptr=user.indptr, knn_user_index=user.index, knn_user_score=user.score,
        knn_settings=np.array([options["neighbour_null"], options["neighbour_temperature"],
                               options["neighbour_shrink"], options["neighbour_min_support"],
                               options["neighbours"]], dtype=float))


"""Tests of stages.py: the fit, its stages and its conventions."""
import time

import numpy as np
import pytest
from scipy import sparse

import common
import em
import mixrec
import synthetic
from mixrec import stages
from mixrec.model import ITEMS_AS_ROWS, USERS_AS_ROWS
from test_em import random_ratings


# The stages alone (no blend: the parts summed, no neighbour stage), small and quick.
STAGES = {"blend_holdout": 0, "item_components": 16, "item_stages": 3}
FAST = {"n_seeds": 2, "item_stages": 1, "user_stages": 1, "max_iter": 5, "blend_holdout": 0}


def planted_split(seed=0, n=400, d=120, n_ratings=12_000):
    """A sparse planted matrix with user and item offsets, and 10% of it held out."""
    X, _ = synthetic.planted_sparse_ratings(n, d, n_ratings, K=4, seed=seed)
    rng = np.random.RandomState(seed)
    rows = np.repeat(np.arange(n), np.diff(X.indptr))
    shifted = X.data + rng.normal(0, .6, n)[rows] + rng.normal(0, .6, d)[X.indices]
    X = sparse.csr_array((np.clip(np.rint(shifted), 1, 5), X.indices, X.indptr), shape=X.shape)
    return mixrec.holdout(X, 0.1, seed=seed)


def held_out_rmse(model, hidden, **options):
    return common.rmse(mixrec.predict(model, hidden.rows, hidden.cols, **options),
                       hidden.values)


def test_the_recommender_beats_the_baseline_and_the_courses_model_on_planted_data():
    X_train, hidden = planted_split()
    ours = held_out_rmse(mixrec.fit(X_train), hidden)
    theirs = held_out_rmse(mixrec.fit(X_train, item_stages=0, user_stages=0), hidden)
    course = em.best_run(X_train, 4, seeds=[0, 1, 2])
    course_rmse = common.rmse(em.predict(X_train, course.mixture, hidden.rows, hidden.cols),
                              hidden.values)
    assert ours < theirs - 0.02 and ours < course_rmse - 0.02, (ours, theirs, course_rmse)


def test_each_kind_of_stage_helps_on_planted_data():
    X_train, hidden = planted_split(4)
    fit = lambda **o: mixrec.fit(X_train, **{**STAGES, **o})  # noqa: E731
    base = held_out_rmse(fit(item_stages=0, user_stages=0), hidden)
    items = held_out_rmse(fit(item_stages=1, user_stages=0), hidden)
    users = held_out_rmse(fit(item_stages=0, user_stages=1), hidden)
    assert items < base - 0.01 and users < base - 0.01, (base, items, users)


def test_the_model_is_the_sum_of_its_stages():
    X = random_ratings(30, 12, seed=2)
    model = mixrec.fit(X, item_stages=2, user_stages=1, n_seeds=3, stage_rank=4,
                       item_components=3, user_components=2, max_iter=4, blend_holdout=0)
    np.testing.assert_array_equal(model.stage_sides, [ITEMS_AS_ROWS, ITEMS_AS_ROWS,
                                                      USERS_AS_ROWS])
    np.testing.assert_array_equal(model.stage_columns, [0, 4, 8, 14])  # last: 3 seeds x 2
    assert len(model.mixture_var) == len(model.mixture_p) == 6
    np.testing.assert_allclose(model.mixture_p.reshape(3, 2).sum(axis=1), 1)
    weights = model.user_factors[:, 8:]
    np.testing.assert_allclose(weights.sum(axis=1)[X.any(axis=1)], 1, rtol=1e-6)
    assert model.user_factors.dtype == model.item_factors.dtype == np.float32


def test_compress_is_the_best_approximation_of_that_rank():
    rng = np.random.RandomState(0)
    users, items = rng.rand(300, 40), rng.rand(90, 40)
    items[:, 20:] = items[:, :20] * 0.5  # rank-deficient, as averaged posteriors are
    for rank in (5, 25, 60):
        a, b = stages.compress(users, items, rank)
        left, singular, right_t = np.linalg.svd(users @ items.T, full_matrices=False)
        k = min(rank, 40)
        best = (left[:, :k] * singular[:k]) @ right_t[:k]
        np.testing.assert_allclose(a @ b.T, best, atol=1e-10 * singular[0])


def test_baseline_is_the_alternating_closed_form():
    X = sparse.csr_array(random_ratings(30, 9, seed=1))
    mean, user_bias, item_bias = stages.fit_baseline(X, user_reg=2.0, item_reg=3.0,
                                                          epochs=1)
    dense = X.toarray()
    rated = dense != 0
    assert mean == pytest.approx(dense[rated].mean())
    expected_items = [np.sum(dense[rated[:, l], l] - mean) / (3.0 + rated[:, l].sum())
                      for l in range(9)]
    np.testing.assert_allclose(item_bias, expected_items, rtol=1e-12)
    expected_users = [np.sum(dense[u, rated[u]] - mean - item_bias[rated[u]])
                      / (2.0 + rated[u].sum()) for u in range(30)]
    np.testing.assert_allclose(user_bias, expected_users, rtol=1e-12)


@pytest.mark.parametrize("user_sd, item_sd", [(0.2, 1.0), (1.0, 0.3)])
def test_learned_pseudo_counts_are_the_noise_over_each_biases_spread(user_sd, item_sd):
    # biases drawn with known spreads: the learned pseudo-count of each is near noise /
    # its variance (the Bayes-optimal shrinkage), whichever is larger
    from mixrec import baseline
    rng = np.random.RandomState(0)
    n, d, m = 3000, 400, 60_000
    rows, cols = rng.randint(0, n, m), rng.randint(0, d, m)
    values = (3 + rng.normal(0, user_sd, n)[rows] + rng.normal(0, item_sd, d)[cols]
              + rng.normal(0, 0.8, m))
    fitted = baseline.fit(rows, cols, values, (n, d), user_reg=None, item_reg=None,
                          epochs=30)
    assert fitted.user_reg == pytest.approx(0.64 / user_sd ** 2, rel=0.25)
    assert fitted.item_reg == pytest.approx(0.64 / item_sd ** 2, rel=0.25)
    fixed = baseline.fit(rows, cols, values, (n, d), user_reg=None, item_reg=7.0)
    assert fixed.item_reg == 7.0 and fixed.user_reg != baseline.STARTS["user"]


def test_cold_users_and_items_get_the_baseline_never_nan_or_zero():
    X = random_ratings(30, 8, seed=4)  # row 0 and the last column rate nothing
    model = mixrec.fit(X, **FAST)
    mean, user_bias, item_bias = stages.fit_baseline(X)
    pred = mixrec.predict(model, [0, 0, 5], [2, 7, 7])
    np.testing.assert_allclose(pred, [mean + item_bias[2], mean, mean + user_bias[5]],
                               rtol=1e-12)
    unknown = mixrec.predict(model, [-1, -1, 3], [-1, 2, -1], unknown=True)
    np.testing.assert_allclose(unknown, [mean, mean + item_bias[2], mean + user_bias[3]],
                               rtol=1e-12)
    assert np.all(np.isfinite(pred)) and np.all(pred > 0)


def test_predictions_are_clipped_to_the_training_range():
    X_train, _ = planted_split(1)
    model = mixrec.fit(X_train, **FAST)
    everything = mixrec.predict(model, *np.indices(X_train.shape).reshape(2, -1))
    assert everything.min() >= X_train.data.min() and everything.max() <= X_train.data.max()


def test_fit_is_deterministic_per_seed():
    X_train, _ = planted_split(2)
    a, b = mixrec.fit(X_train, seed=3, **FAST), mixrec.fit(X_train, seed=3, **FAST)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c = mixrec.fit(X_train, seed=4, **FAST)
    assert not np.array_equal(a.user_factors, c.user_factors)


def test_fit_leaves_its_input_alone_and_takes_dense_or_sparse():
    X = random_ratings(30, 8, seed=5)
    X.flags.writeable = False
    dense = mixrec.fit(X, **FAST)
    from_sparse = mixrec.fit(sparse.csr_array(X), **FAST)
    np.testing.assert_allclose(dense.user_factors, from_sparse.user_factors, rtol=1e-6)
    np.testing.assert_array_equal(X, random_ratings(30, 8, seed=5))


def test_progress_callback_reports_every_iteration_of_every_run():
    seen = []
    mixrec.fit(random_ratings(20, 6, seed=1), item_stages=2, user_stages=1, n_seeds=2,
                    callback=seen.append)
    runs = sorted({(p.stage, p.side, p.run) for p in seen})
    assert runs == [(0, "users", 1)] + [(stage, side, run) for stage, side in
                                        [(1, "items"), (2, "items"), (3, "users")]
                                        for run in (1, 2)]
    assert all(p.n_stages == 3 and p.iteration >= 1 and np.isfinite(p.log_likelihood)
               for p in seen)
    first = [p.iteration for p in seen if (p.stage, p.run) == (1, 1)]
    assert first == list(range(1, len(first) + 1))


# ---------------------------------------------------------------------------------------
# Any ratings file: zeros, any scale, masked arrays, timestamps

def test_a_stored_zero_is_a_rating_in_the_fit():
    X_train, hidden = planted_split(5)
    shifted = sparse.csr_array((X_train.data - 3, X_train.indices, X_train.indptr),
                               shape=X_train.shape)  # ratings -2..2: a fifth of them 0
    assert np.mean(shifted.data == 0) > 0.1
    model = mixrec.fit(shifted, **FAST)
    assert model.rated_indices.size == shifted.nnz  # every stored entry counted
    dropped = mixrec.fit(sparse.csr_array(shifted.toarray()), **FAST)  # zeros missing
    assert dropped.rated_indices.size < shifted.nnz


@pytest.mark.parametrize("a, b", [(0.2, 0.0), (2.0, 1.0), (1.0, -3.0), (1e-3, 7.0)])
def test_ratings_on_another_scale_give_predictions_on_that_scale(a, b):
    X_train, hidden = planted_split(6)
    model = mixrec.fit(X_train, **FAST)
    moved = sparse.csr_array((a * X_train.data + b, X_train.indices, X_train.indptr),
                             shape=X_train.shape)
    scaled = mixrec.fit(moved, **FAST)
    pred, std = mixrec.predict(model, hidden.rows, hidden.cols, return_std=True)
    pred_s, std_s = mixrec.predict(scaled, hidden.rows, hidden.cols, return_std=True)
    np.testing.assert_allclose(pred_s, a * pred + b, rtol=1e-5, atol=1e-5 * a)
    np.testing.assert_allclose(std_s, a * std, rtol=1e-5)


def test_a_masked_array_is_honoured_its_masked_entries_missing():
    X = random_ratings(20, 6, seed=8)
    masked = np.ma.masked_array(np.where(X == 0, -99.0, X - 1), mask=X == 0)
    model = mixrec.fit(masked, **FAST)  # the unmasked zeros (ratings of 1 - 1) count
    assert model.rated_indices.size == np.count_nonzero(X)
    assert model.rating_range[0] == 0  # -99 was masked, never fitted
    with pytest.raises(ValueError, match="X is a masked array with an unmasked 0"):
        em.estep(masked, common.init(X, 2)[0])  # the course's dense X cannot hold it


def test_timestamps_give_day_biases_that_only_their_days_get():
    X = sparse.csr_array(random_ratings(20, 8, seed=3))
    day = 86400.0
    times = np.where(np.arange(X.nnz) % 2, 3 * day + 5, 9 * day + 7)
    model = mixrec.fit(X, times=times, day_biases=True, **FAST)
    assert len(model.days) and set(model.days) <= {3, 9}
    user = int(model.day_users[0])
    on_day = mixrec.predict(model, [user], [0], times=[model.days[0] * day + 100])
    other_day = mixrec.predict(model, [user], [0], times=[100 * day])
    no_time = mixrec.predict(model, [user], [0])
    assert other_day == no_time and on_day != no_time
    with pytest.raises(ValueError, match="times must hold one timestamp per rating"):
        mixrec.fit(X, times=times[:-1])


MODEL = mixrec.fit(random_ratings(20, 6, seed=3), **FAST)


@pytest.mark.parametrize("call, match", [
    (lambda: mixrec.predict(MODEL, [20], [0]), "rows must lie in 0..19"),
    (lambda: mixrec.predict(MODEL, [0], [-1]), "cols (holds -1|must lie in 0..5)"),
    (lambda: mixrec.predict(MODEL, [0, 1], [0]), "rows and cols must have the same shape"),
    (lambda: mixrec.predict((1, 2), [0], [0]), "model must be a mixrec.Model"),
    (lambda: mixrec.fit(np.zeros((3, 4))), "X holds no rating"),
    (lambda: mixrec.fit(np.array([[1.0, np.nan]])), "X must be finite"),
    (lambda: mixrec.fit(np.ones(4)), "X must be a 2-D array"),
    (lambda: mixrec.fit(np.array([[1e155, 1.0]])), "ratings must lie within"),
    (lambda: mixrec.fit(np.ones((3, 3)), item_components=0),
     "item_components must be an integer >= 1"),
    (lambda: mixrec.fit(np.ones((3, 3)), mean_prior=-1), "mean_prior must be a finite number >= 0"),
    (lambda: mixrec.fit(np.ones((3, 3)), min_variance=0), "min_variance must be a finite number > 0"),
    (lambda: mixrec.fit(np.ones((3, 3)), shrink=1), r"unknown hyper-parameters \['shrink'\]"),
    (lambda: mixrec.fit(np.ones((3, 3)), seed=-1), "seed must be an integer >= 0"),
    (lambda: mixrec.fit(np.ones((3, 3)), seed=2 ** 31), r"seed \* n_seeds"),
    (lambda: mixrec.top_n(MODEL, np.ones((3, 3)), 0), r"X must have the model's shape \(20, 6\)"),
    (lambda: mixrec.top_n(MODEL, None, 20), "user must be an integer in 0..19"),
    (lambda: mixrec.top_n(MODEL, None, 0, n=0), "n must be an integer >= 1"),
])
def test_bad_input_is_refused_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------------------------------
# Fourth hostile pass (issue 26)

def test_regression_ratings_float32_factors_cannot_hold_are_refused_before_the_fit():
    X = sparse.csr_array(random_ratings(30, 8, seed=1)) * 1e39
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"ratings must lie within \+-1e\+30, which the "
                                         "model's float32 factors hold"):
        mixrec.fit(X, **FAST)
    assert time.perf_counter() - start < 1  # said at once, not after the whole fit


@pytest.mark.parametrize("bad", [np.datetime64("NaT"), 1e15, -4e9, 2.0 ** 31 * 86400, np.inf])
def test_regression_timestamps_outside_1900_to_2200_are_refused_before_the_fit(bad):
    X = sparse.csr_array(random_ratings(30, 8, seed=1))
    times = np.full(X.nnz, 1e9)
    times[3] = float(bad) if not isinstance(bad, np.datetime64) else np.nan
    if isinstance(bad, np.datetime64):
        times = times.astype(object)
        times[3] = "now"
    with pytest.raises(ValueError, match=r"times|timestamp"):
        mixrec.fit(X, times=times, **FAST)


def test_regression_a_day_far_away_cannot_borrow_another_users_day_bias():
    X = sparse.csr_array(random_ratings(30, 8, seed=1))
    times = np.arange(X.nnz) * 86400.0 + 1e9
    model = mixrec.fit(X, times=times, day_biases=True, **FAST)
    with pytest.raises(ValueError, match=r"times\[0\] is .*between 1900 and 2200"):
        mixrec.predict(model, [0], [1], times=[(2 ** 32 + 5) * 86400.0])
    from mixrec import baseline
    users, days = baseline._unkey(baseline._key(np.array([0, 1, 7]),
                                                np.array([-25_567, 84_006, 0])))
    assert users.tolist() == [0, 1, 7] and days.tolist() == [-25_567, 84_006, 0]


@pytest.mark.parametrize("a", [1e-170, 1e-50, 1e25])
def test_regression_a_spread_float32_factors_cannot_hold_is_refused(a):
    X_train, _ = planted_split(6, n=60, d=20, n_ratings=600)
    moved = sparse.csr_array((a * X_train.data, X_train.indices, X_train.indptr),
                             shape=X_train.shape)
    with pytest.raises(ValueError, match=r"spread around the baseline is .*: it must lie in "
                                         r"\[1e-15, 1e\+15\] for the model's float32"):
        mixrec.fit(moved, **FAST)


def test_regression_lists_keep_their_order_at_the_smallest_scale_held():
    X_train, _ = planted_split(6, n=60, d=20, n_ratings=600)
    a = 3e-15
    moved = sparse.csr_array((a * X_train.data, X_train.indices, X_train.indptr),
                             shape=X_train.shape)
    model, scaled = mixrec.fit(X_train, **FAST), mixrec.fit(moved, **FAST)
    for user in range(5):
        found, found_s = (mixrec.top_n(m, None, user, 5) for m in (model, scaled))
        assert list(found.items) == list(found_s.items)
        np.testing.assert_allclose(found_s.std, a * found.std, rtol=1e-4)

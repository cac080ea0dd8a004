"""Tests of recommender.py and of the EM generalisations it rests on."""
import numpy as np
import pytest
from scipy import sparse
from scipy.special import logsumexp

import common
import data
import em
import recommender
import reference
import summary
from test_em import assert_mixture_close, random_mixture, random_ratings

FAST = {"n_seeds": 2, "rounds": 1}  # enough to exercise every stage, quickly


# ---------------------------------------------------------------------------------------
# The EM generalisations: the course's defaults stay exact, the new options match the oracle

def test_mean_prior_zero_is_the_courses_mstep_and_run_bit_for_bit():
    X = random_ratings(40, 7, seed=3)
    mixture, post = common.init(X, 3, seed=1)
    step = em.estep(X, mixture)[0]
    for a, b in zip(em.mstep(X, step, mixture), em.mstep(X, step, mixture, mean_prior=0.0)):
        np.testing.assert_array_equal(a, b)
    course, ours = em.run(X, mixture, post), em.run(X, mixture, post, mean_prior=0)
    for a, b in zip((*course[0], course[1], course[2]), (*ours[0], ours[1], ours[2])):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mean_prior", [0.5, 10.0])
def test_mean_prior_matches_the_loop_oracle(mean_prior):
    X = random_ratings(30, 8, seed=2)
    mixture = random_mixture(X, 3, seed=4)
    post = np.random.RandomState(1).dirichlet(np.ones(3), size=30)
    assert_mixture_close(em.mstep(X, post, mixture, mean_prior=mean_prior),
                         reference.mstep(X, post, mixture, mean_prior=mean_prior))


def residual_with_exact_zero():
    """A CSR of residuals in which one rating is exactly 0, and its dense mask."""
    X = random_ratings(25, 6, seed=7) - 3.0  # ratings 1..5 centred: some are exactly 0
    mask = random_ratings(25, 6, seed=7) != 0
    rows, cols = np.nonzero(mask)
    R = sparse.csr_array((X[rows, cols], (rows, cols)), shape=X.shape)
    assert np.any(R.data == 0)
    return R, X * mask, mask


def test_a_residual_of_exactly_zero_stays_a_rating():
    R, X, mask = residual_with_exact_zero()
    ratings = summary.summarise(R, stored_zeros=True)
    np.testing.assert_array_equal(ratings.n_rated, mask.sum(axis=1))
    mixture = random_mixture(X, 3, seed=1)
    post, ll = em.estep(ratings, mixture)
    post_loop, ll_loop = reference.estep(X, mixture, mask=mask)
    np.testing.assert_allclose(post, post_loop, rtol=1e-10, atol=1e-14)
    assert ll == pytest.approx(ll_loop, rel=1e-12)
    assert_mixture_close(em.mstep(ratings, post, mixture, mean_prior=2.0),
                         reference.mstep(X, post_loop, mixture, mask=mask, mean_prior=2.0))
    # without stored_zeros the zeros are missing, as the course has it: a different model
    assert em.estep(R, mixture)[1] != pytest.approx(ll, rel=1e-6)


def test_stored_zeros_needs_sparse_input():
    with pytest.raises(ValueError, match="stored_zeros=True needs a sparse X"):
        summary.summarise(np.ones((2, 2)), stored_zeros=True)


def test_own_logsumexp_agrees_with_scipy_including_extremes():
    rng = np.random.RandomState(0)
    a = rng.normal(scale=300, size=(7, 500))
    a[:, 0] = -1e300  # a column far below anything exp can show
    a[3, 1] = 700.0  # and one that would overflow a plain exp
    a[:, 2] = -5.0  # all terms equal
    np.testing.assert_allclose(em.logsumexp_columns(a), logsumexp(a, axis=0), rtol=1e-14)


# ---------------------------------------------------------------------------------------
# The recommender

def planted_split(seed=0):
    """A sparse planted matrix with user and item offsets, and 10% of it held out."""
    X, _ = data.planted_sparse_ratings(400, 120, 12_000, K=4, seed=seed)
    rng = np.random.RandomState(seed)
    rows = np.repeat(np.arange(400), np.diff(X.indptr))
    shifted = X.data + rng.normal(0, .6, 400)[rows] + rng.normal(0, .6, 120)[X.indices]
    X = sparse.csr_array((np.clip(np.rint(shifted), 1, 5), X.indices, X.indptr), shape=X.shape)
    return data.holdout(X, 0.1, seed=seed)


def test_the_recommender_beats_the_baseline_and_the_courses_model_on_planted_data():
    X_train, hidden = planted_split()
    model = recommender.fit(X_train)
    ours = common.rmse(recommender.predict(model, hidden.rows, hidden.cols), hidden.values)
    baseline = recommender.fit(X_train, rounds=0)
    theirs = common.rmse(recommender.predict(baseline, hidden.rows, hidden.cols), hidden.values)
    course = em.best_run(X_train, 4, seeds=[0, 1, 2])
    course_rmse = common.rmse(em.predict(X_train, course.mixture, hidden.rows, hidden.cols),
                              hidden.values)
    assert ours < theirs - 0.02 and ours < course_rmse - 0.02, (ours, theirs, course_rmse)


def test_baseline_is_the_alternating_closed_form():
    X = sparse.csr_array(random_ratings(30, 9, seed=1))
    mean, user_bias, item_bias = recommender.fit_baseline(X, user_reg=2.0, item_reg=3.0,
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


def test_cold_users_and_items_get_the_baseline_never_nan_or_zero():
    X = random_ratings(30, 8, seed=4)  # row 0 and the last column rate nothing
    model = recommender.fit(X, **FAST)
    mean, user_bias, item_bias = recommender.fit_baseline(X)
    pred = recommender.predict(model, [0, 0, 5], [2, 7, 7])
    np.testing.assert_allclose(pred, [mean + item_bias[2], mean, mean + user_bias[5]],
                               rtol=1e-12)
    unknown = recommender.predict(model, [-1, -1, 3], [-1, 2, -1], unknown=True)
    np.testing.assert_allclose(unknown, [mean, mean + item_bias[2], mean + user_bias[3]],
                               rtol=1e-12)
    assert np.all(np.isfinite(pred)) and np.all(pred > 0)


def test_predictions_are_clipped_to_the_training_range():
    X_train, hidden = planted_split(1)
    model = recommender.fit(X_train, **FAST)
    everything = recommender.predict(model, *np.indices(X_train.shape).reshape(2, -1))
    assert everything.min() >= X_train.data.min() and everything.max() <= X_train.data.max()


def test_fit_is_deterministic_per_seed():
    X_train, _ = planted_split(2)
    a, b = recommender.fit(X_train, seed=3, **FAST), recommender.fit(X_train, seed=3, **FAST)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c = recommender.fit(X_train, seed=4, **FAST)
    assert not np.array_equal(a.user_factors, c.user_factors)


def test_fit_leaves_its_input_alone_and_takes_dense_or_sparse():
    X = random_ratings(30, 8, seed=5)
    X.flags.writeable = False
    dense = recommender.fit(X, **FAST)
    S = sparse.csr_array(X)
    from_sparse = recommender.fit(S, **FAST)
    np.testing.assert_allclose(dense.user_factors, from_sparse.user_factors, rtol=1e-12)
    np.testing.assert_array_equal(X, random_ratings(30, 8, seed=5))


def test_progress_callback_reports_every_iteration_of_every_run():
    seen = []
    recommender.fit(random_ratings(20, 6, seed=1), rounds=2, n_seeds=2, callback=seen.append)
    runs = sorted({(p.stage, p.side, p.run) for p in seen})
    assert runs == [(0, "users", 1)] + [(stage, side, run) for stage, side in
                                        [(1, "items"), (2, "users"), (3, "items"), (4, "users")]
                                        for run in (1, 2)]
    assert all(p.n_stages == 4 and p.iteration >= 1 and np.isfinite(p.log_likelihood)
               for p in seen)
    first = [p.iteration for p in seen if (p.stage, p.run) == (1, 1)]
    assert first == list(range(1, len(first) + 1))


def test_top_n_leaves_out_rated_items_best_first():
    X = random_ratings(20, 10, seed=2)
    model = recommender.fit(X, **FAST)
    items, scores = recommender.top_n(model, X, user=3, n=4)
    unrated = np.flatnonzero(X[3] == 0)
    assert set(items) <= set(unrated) and len(items) == min(4, len(unrated))
    all_scores = recommender.predict(model, np.full(len(unrated), 3), unrated)
    np.testing.assert_array_equal(scores, np.sort(all_scores)[::-1][:len(items)])


def test_save_and_load_are_bit_exact(tmp_path):
    model = recommender.fit(random_ratings(20, 6, seed=3), **FAST)
    path = tmp_path / "model.npz"
    recommender.save(model, path)
    again = recommender.load(path)
    for a, b in zip(model, again):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype


def test_load_refuses_files_that_are_not_models(tmp_path):
    with pytest.raises(FileNotFoundError, match="model file not found"):
        recommender.load(tmp_path / "none.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="junk.npz is not a model file"):
        recommender.load(junk)
    damaged = tmp_path / "damaged.npz"
    recommender.save(MODEL, damaged)
    damaged.write_bytes(damaged.read_bytes()[:200])  # a truncated archive
    with pytest.raises(ValueError, match="damaged.npz is not a readable model file"):
        recommender.load(damaged)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.ones(3))
    with pytest.raises(ValueError, match="other.npz is not a model saved by recommender.save"):
        recommender.load(other)
    model = recommender.fit(random_ratings(20, 6, seed=3), **FAST)
    broken = tmp_path / "broken.npz"
    np.savez(broken, format=np.array("em-recommender-2"),
             **model._replace(item_bias=model.item_bias[:2])._asdict())
    with pytest.raises(ValueError, match=r"broken.npz: model.group_mu must have shape"):
        recommender.load(broken)


MODEL = recommender.fit(random_ratings(20, 6, seed=3), **FAST)


@pytest.mark.parametrize("call, match", [
    (lambda: recommender.predict(MODEL, [20], [0]), "rows must lie in 0..19"),
    (lambda: recommender.predict(MODEL, [0], [-1]), "cols must lie in 0..5"),
    (lambda: recommender.predict(MODEL, [0, 1], [0]), "rows and cols must have the same shape"),
    (lambda: recommender.predict((1, 2), [0], [0]), "model must be a recommender.Model"),
    (lambda: recommender.fit(np.zeros((3, 4))), "X holds no rating"),
    (lambda: recommender.fit(np.array([[1.0, np.nan]])), "X must be finite"),
    (lambda: recommender.fit(np.ones(4)), "X must be a 2-D array"),
    (lambda: recommender.fit(np.ones((3, 3)), n_components=0), "n_components must be an integer >= 1"),
    (lambda: recommender.fit(np.ones((3, 3)), mean_prior=-1), "mean_prior must be a finite number >= 0"),
    (lambda: recommender.fit(np.ones((3, 3)), min_variance=0), "min_variance must be a finite number > 0"),
    (lambda: recommender.fit(np.ones((3, 3)), shrink=1), r"unknown hyper-parameters \['shrink'\]"),
    (lambda: recommender.fit(np.ones((3, 3)), seed=-1), "seed must be an integer >= 0"),
    (lambda: recommender.top_n(MODEL, np.ones((3, 3)), 0), r"X must have the model's shape \(20, 6\)"),
    (lambda: recommender.top_n(MODEL, random_ratings(20, 6, seed=3), 20), "user must be an integer in 0..19"),
    (lambda: recommender.top_n(MODEL, random_ratings(20, 6, seed=3), 0, n=0), "n must be an integer >= 1"),
])
def test_bad_input_is_refused_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_index_of_finds_known_ids_and_marks_the_others():
    np.testing.assert_array_equal(data.index_of(np.array([3, 7, 9]), [9, 4, 3, 10]),
                                  [2, -1, 0, -1])
    np.testing.assert_array_equal(data.index_of(np.array(["a", "c"]), ["c", "b"]), [1, -1])
    np.testing.assert_array_equal(data.index_of(np.array([1, 2]), np.array(["2", "x"])), [1, -1])
    np.testing.assert_array_equal(data.index_of(np.array([], dtype=int), [1]), [-1])


# ---------------------------------------------------------------------------------------
# Uncertainty and taste groups

def test_predictive_std_is_the_variance_of_the_last_stages_mixture():
    X = random_ratings(25, 7, seed=6)
    model = recommender.fit(X, rounds=1, n_seeds=2, n_components=3)
    s = len(model.last_var)
    assert s == 2 * 3
    W, M, var = model.user_factors[:, -s:], model.item_factors[:, -s:], model.last_var
    support, lam = model.last_support, float(model.mean_prior)
    # a component's support of an item: its users' posteriors (n_seeds times the weights)
    np.testing.assert_allclose(support, 2 * (X != 0).T.astype(float) @ W, rtol=1e-10, atol=1e-12)
    rows, cols = np.indices((25, 7)).reshape(2, -1)
    _, std = recommender.predict(model, rows, cols, return_std=True)
    expected = []
    for u, l in zip(rows, cols):  # straight from the definition, one pair at a time
        if W[u].sum() == 0:
            expected.append(model.cold_var)
            continue
        mean = sum(W[u, c] * M[l, c] for c in range(s))
        noise = [var[c] * (1 + 1 / max(support[l, c] + lam, 1)) for c in range(s)]
        expected.append(sum(W[u, c] * (noise[c] + M[l, c] ** 2) for c in range(s)) - mean ** 2)
    np.testing.assert_allclose(std ** 2, expected, rtol=1e-10, atol=1e-12)
    assert std[0] == pytest.approx(np.sqrt(model.cold_var))  # user 0 rated nothing


def test_predictive_std_is_roughly_calibrated_on_held_out_planted_ratings():
    X_train, hidden = planted_split(3)
    model = recommender.fit(X_train)
    pred, std = recommender.predict(model, hidden.rows, hidden.cols, return_std=True)
    within = np.mean(np.abs(hidden.values - pred) <= std)
    assert 0.55 < within < 0.85, within  # a Gaussian has 68% within one sd


def test_cautious_top_n_ranks_by_the_lower_bound():
    X = random_ratings(20, 10, seed=2)
    model = recommender.fit(X, **FAST)
    items, scores = recommender.top_n(model, X, user=3, n=10, cautious=True)
    pred, std = recommender.predict(model, np.full(len(items), 3), items, return_std=True)
    np.testing.assert_array_equal(scores, pred)
    assert np.all(np.diff(pred - std) <= 1e-12)


def test_groups_name_the_items_rated_most_above_and_below_the_baseline():
    model = recommender.fit(random_ratings(30, 9, seed=3), **FAST)
    found = recommender.groups(model, n=3)
    assert [g.weight for g in found] == sorted(model.group_p, reverse=True)
    for g in found:
        j = int(np.flatnonzero(model.group_p == g.weight)[0])
        np.testing.assert_array_equal(g.above_by, np.sort(model.group_mu[j])[::-1][:3])
        np.testing.assert_array_equal(g.below_by, np.sort(model.group_mu[j])[:3])
        np.testing.assert_array_equal(model.group_mu[j, g.above], g.above_by)


def test_extras_are_saved_beside_the_model(tmp_path):
    path = tmp_path / "m.npz"
    recommender.save(MODEL, path, user_ids=np.arange(20) * 7, item_ids=np.array(list("abcdef")))
    model, extras = recommender.load(path, extras=True)
    np.testing.assert_array_equal(extras["user_ids"], np.arange(20) * 7)
    assert list(extras["item_ids"]) == list("abcdef")
    with pytest.raises(ValueError, match="extras must not be named"):
        recommender.save(MODEL, path, mean=np.ones(1))
    with pytest.raises(ValueError, match="must be an array of numbers or strings"):
        recommender.save(MODEL, path, ids=np.array([object()]))


def test_groups_name_only_candidate_items():
    model = recommender.fit(random_ratings(30, 9, seed=3), **FAST)
    allowed = np.zeros(9, bool)
    allowed[[1, 4, 6]] = True
    for g in recommender.groups(model, n=2, candidates=allowed):
        assert set(g.above) <= {1, 4, 6} and set(g.below) <= {1, 4, 6}
    with pytest.raises(ValueError, match=r"candidates must have shape \(9,\)"):
        recommender.groups(model, candidates=np.ones(3, bool))

"""Tests of the neighbour stages, the blend and the whole fit (neighbours.py, blend.py,
parts.py, ensemble.py, options.capacity): brute force as the oracle, and every way of
serving a prediction against the others."""
import warnings

import numpy as np
import pytest
from scipy import sparse

import common
import mixrec
from mixrec import blend, ensemble, lists, modelfile, neighbours, options, parts, serving
from mixrec.model import without_blend
from test_modelfile import members_of, npy

QUICK = {"n_seeds": 2, "max_iter": 3, "item_components": 4, "item_stages": 1}


def twin_ratings(n=800, d=40, density=0.4, seed=0):
    """Ratings where items come in twins that users rate alike: each user has a taste of
    their own for each twin pair (d / 2 independent tastes, more than a mixture of a few
    components holds), so that a user's rating of one twin says what they give the other.

    Returns
    -------
    csr_array of shape (n, d), ratings on a continuous scale
    """
    rng = np.random.RandomState(seed)
    taste = rng.normal(0, 1, (n, d // 2))
    mask = rng.rand(n, d) < density
    mask[:, 0] = True  # every user rates something
    values = (3 + rng.normal(0, .5, (n, 1)) + rng.normal(0, .5, d)
              + np.repeat(taste, 2, axis=1) + rng.normal(0, .3, (n, d)))
    rows, cols = np.nonzero(mask)
    return sparse.csr_array((values[rows, cols], (rows, cols)), shape=(n, d))


TWINS = twin_ratings()
TRAIN, HIDDEN = mixrec.holdout(TWINS, 0.1, seed=0)
MODEL = mixrec.fit(TRAIN, **QUICK)


def residual_matrix(n=30, d=12, density=0.5, seed=0):
    rng = np.random.RandomState(seed)
    dense = np.where(rng.rand(n, d) < density, rng.normal(0, 1, (n, d)), np.nan)
    rows, cols = np.nonzero(~np.isnan(dense))
    return rows, cols, dense[rows, cols], dense


# ---------------------------------------------------------------------------------------
# The neighbour stage against brute force

def brute_force_lists(dense, k, min_support, shrink, temperature):
    """Each column's k best neighbours and scores, by a loop over column pairs."""
    n, d = dense.shape
    rated = ~np.isnan(dense)
    support = rated.sum(axis=0)
    out = {}
    for target in range(d):
        found = []
        for other in range(d):
            both = rated[:, target] & rated[:, other]
            if (other == target or support[target] < min_support
                    or support[other] < min_support or not both.any()):
                continue
            a, b = dense[both, target], dense[both, other]
            rho = a @ b / np.sqrt((a @ a) * (b @ b))
            found.append((rho * both.sum() / (both.sum() + shrink) / temperature, other))
        out[target] = sorted(found, reverse=True)[:k]
    return out


@pytest.mark.parametrize("k", [3, 50])
def test_neighbour_lists_are_the_best_shrunk_correlations(k):
    rows, cols, values, dense = residual_matrix()
    lists = neighbours.neighbour_lists(rows, cols, values, dense.shape, k=k, min_support=6,
                                       shrink=5.0, temperature=0.5, max_per_row=None,
                                       block_entries=50)  # several blocks
    expected = brute_force_lists(dense, k, 6, 5.0, 0.5)
    for target, best in expected.items():
        mine = slice(lists.indptr[target], lists.indptr[target + 1])
        assert sorted(lists.index[mine].tolist()) == sorted(j for _, j in best), target
        np.testing.assert_allclose(np.sort(lists.score[mine]), sorted(s for s, _ in best),
                                   rtol=1e-5)


def brute_force_prediction(lists, dense, user, item, null, by_item):
    """The posterior mean of the residual with a null component, by a loop."""
    owner = item if by_item else user
    total, weights = 0.0, np.exp(null)
    for at in range(lists.indptr[owner], lists.indptr[owner + 1]):
        j, weight = lists.index[at], np.exp(float(lists.score[at]))
        value = dense[user, j] if by_item else dense[j, item]
        if not np.isnan(value):
            total, weights = total + weight * value, weights + weight
    return total / weights


@pytest.mark.parametrize("by_item", [True, False])
@pytest.mark.parametrize("dense_entries, transpose_at, pairs_per_chunk", [
    (1 << 22, 1e9, 1 << 13),  # a dense block of rows; bisection for the user stage
    (1, 0, 7),  # rows searched, never dense; the table transposed; many chunks
])
def test_a_pairs_prediction_is_the_posterior_mean_with_the_null_and_a_block_agrees(
        by_item, dense_entries, transpose_at, pairs_per_chunk, monkeypatch):
    monkeypatch.setattr(neighbours, "DENSE_ENTRIES", dense_entries)
    monkeypatch.setattr(neighbours, "TRANSPOSE_AT", transpose_at)
    monkeypatch.setattr(neighbours, "PAIRS_PER_CHUNK", pairs_per_chunk)
    rows, cols, values, dense = residual_matrix(seed=1)
    n, d = dense.shape
    if by_item:
        lists = neighbours.neighbour_lists(rows, cols, values, (n, d), k=4, min_support=3)
    else:
        lists = neighbours.neighbour_lists(cols, rows, values, (d, n), k=4, min_support=3)
    table = neighbours.Residuals(np.concatenate([[0], np.cumsum(np.isfinite(dense).sum(1))]),
                                 cols, values, d)
    users, items = np.repeat(np.arange(n), d), np.tile(np.arange(d), n)
    got = neighbours.predict_pairs(lists, table, items if by_item else users, users, items,
                                   2.0, by_item=by_item)
    expected = [brute_force_prediction(lists, dense, u, i, 2.0, by_item)
                for u, i in zip(users, items)]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)
    block = neighbours.predict_block(lists, table, np.arange(n), 2.0, by_item=by_item)
    np.testing.assert_allclose(block.ravel(), got, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("lengths", [[5, 0, 9, 9, 2], [300, 1, 1, 2, 0, 1], [3, 3]])
def test_the_best_of_each_row_are_its_k_highest_scores(lengths):
    rng = np.random.RandomState(len(lengths))
    rows = np.repeat(np.arange(len(lengths)), lengths)
    score = rng.uniform(-100, 100, len(rows))
    chosen = neighbours.best_per_row(rows, score, len(lengths), 4)
    for row in range(len(lengths)):
        mine = np.flatnonzero(rows == row)
        expected = mine[np.argsort(-score[mine])[:4]]
        assert sorted(chosen[rows[chosen] == row].tolist()) == sorted(expected.tolist())


def test_capping_a_heavy_row_keeps_a_random_subset_of_its_ratings():
    rows, cols, values, dense = residual_matrix(n=10, d=40, density=0.9, seed=2)
    capped = neighbours.neighbour_lists(rows, cols, values, dense.shape, min_support=1,
                                        max_per_row=5, shrink=0.0)
    everything = neighbours.neighbour_lists(rows, cols, values, dense.shape, min_support=1,
                                            max_per_row=None, shrink=0.0)
    # 10 rows of 5 ratings give at most 10 * 5 * 4 co-rated (target, neighbour) pairs
    assert len(capped.index) <= 200 < len(everything.index)


@pytest.mark.parametrize("cap, budget, expected", [(400, None, 400), (None, None, None),
                                                    (2000, None, None), (400, 1e4, 70),
                                                    (None, 20_125, 100)])
def test_the_cap_per_row_is_the_largest_within_the_co_rating_budget(cap, budget, expected):
    per_row = np.array([5, 10, 500, 1000])
    assert neighbours.row_cap(per_row, cap, budget) == expected
    if expected is not None and budget is not None:
        work = lambda c: np.sum(np.minimum(per_row, c) ** 2)  # noqa: E731
        assert work(expected) <= budget < work(expected + 1)


# ---------------------------------------------------------------------------------------
# The blend

def test_a_parts_coefficients_are_its_design_weights():
    rng = np.random.RandomState(0)
    at, lu, li = rng.normal(size=(50, 4)), rng.rand(50) * 3, rng.rand(50) * 5
    weights = rng.normal(size=blend.design(at, lu, li).shape[1])
    coefficients, intercept = blend.coefficients(weights, 4, lu, li)
    np.testing.assert_allclose(sum(c * at[:, p] for p, c in enumerate(coefficients))
                               + intercept, blend.design(at, lu, li) @ weights)


def test_the_blend_recovers_weights_that_change_with_the_counts():
    rng = np.random.RandomState(1)
    at, lu, li = rng.normal(size=(20_000, 3)), rng.rand(20_000) * 4 - 2, rng.rand(20_000) * 4 - 2
    truth = rng.normal(size=12)
    values = blend.design(at, lu, li) @ truth + rng.normal(0, .1, 20_000)
    np.testing.assert_allclose(blend.fit(at, lu, li, values, 1.0), truth, atol=0.02)


@pytest.mark.parametrize("a, b", [(1.0, 0.0), (0.1, -3.0), (250.0, 7.0)])
def test_the_blend_moves_with_the_ratings_scale(a, b):
    rng = np.random.RandomState(2)
    at, lu, li = rng.normal(size=(3000, 3)), rng.rand(3000) - .5, rng.rand(3000) - .5
    at[:, 0] += 3.0  # the baseline part holds the ratings' level
    values = at.sum(axis=1) + rng.normal(0, .5, 3000)
    moved = at * a
    moved[:, 0] += b
    original = blend.design(at, lu, li) @ blend.fit(at, lu, li, values, 0.5)
    np.testing.assert_allclose(
        blend.design(moved, lu, li) @ blend.fit(moved, lu, li, a * values + b, 0.5 * a),
        a * original + b, rtol=1e-6, atol=1e-6 * a)


def test_without_weights_the_parts_are_summed():
    coefficients, intercept = blend.coefficients(np.zeros(0), 5, 0.0, 0.0)
    assert coefficients == [1.0] * 5 and intercept == 0.0


# ---------------------------------------------------------------------------------------
# The whole fit

def test_the_blend_with_neighbours_beats_the_summed_stages_where_mixtures_cannot_hold_it():
    stages_only = mixrec.fit(TRAIN, blend_holdout=0, **QUICK)
    assert len(stages_only.blend_weights) == 0 and len(stages_only.knn_item_index) == 0
    assert len(MODEL.blend_weights) and len(MODEL.knn_item_index)
    summed, blended = (common.rmse(mixrec.predict(m, HIDDEN.rows, HIDDEN.cols), HIDDEN.values)
                       for m in (stages_only, MODEL))
    assert blended < summed - 0.1, (blended, summed)  # a twin's rating is in the neighbours


def test_the_std_is_scaled_to_the_blends_error_and_stays_calibrated():
    pred, std = mixrec.predict(MODEL, HIDDEN.rows, HIDDEN.cols, return_std=True)
    unscaled = mixrec.predict(MODEL._replace(std_factor=np.array(1.0)), HIDDEN.rows,
                              HIDDEN.cols, return_std=True)[1]
    np.testing.assert_allclose(std, unscaled * float(MODEL.std_factor))
    assert float(MODEL.std_factor) < 0.9  # the blend's error is well below the stages'
    within = np.mean(np.abs(pred - HIDDEN.values) < std)
    assert 0.6 < within < 0.85, within


def test_pairs_blocks_and_single_users_serve_the_same_predictions():
    users = np.arange(0, 800, 11)
    block = serving.scores_of_users(MODEL, users, with_std=False)[0]
    d = TWINS.shape[1]
    pairs = mixrec.predict(MODEL, np.repeat(users, d), np.tile(np.arange(d), len(users)))
    np.testing.assert_allclose(block.ravel(), pairs, rtol=1e-6)  # float32 factors
    single = serving.scores_of_user(MODEL, int(users[3]), with_std=False)[0]
    np.testing.assert_allclose(single, block[3], rtol=1e-6)


@pytest.mark.parametrize("ranking", ["relevance", "rating"])
def test_every_users_list_is_the_single_users_list_drawn_from_a_shortlist(ranking, monkeypatch):
    users = np.arange(0, 800, 37)
    exact = [mixrec.top_n(MODEL, None, int(u), 10, ranking=ranking) for u in users]
    monkeypatch.setattr(lists, "SHORTLIST", TWINS.shape[1])  # every item: the exact lists
    every = mixrec.top_n_all(MODEL, None, 10, ranking=ranking, users=users)
    np.testing.assert_array_equal(every.items, [e.items for e in exact])
    np.testing.assert_allclose(every.key, [e.key for e in exact], rtol=1e-6)
    monkeypatch.setattr(lists, "SHORTLIST", 5)  # a short shortlist: the lists may differ,
    short = mixrec.top_n_all(MODEL, None, 10, ranking=ranking, users=users)  # not the values
    np.testing.assert_allclose(short.scores, mixrec.predict(
        MODEL, np.repeat(users, 10), short.items.ravel()).reshape(short.items.shape))
    assert np.all(np.diff(short.key, axis=1) <= 0)
    overlap = np.mean([len(set(a) & set(b)) for a, b in zip(short.items, every.items)]) / 10
    assert overlap > 0.8, overlap


def test_a_new_user_is_served_as_the_training_user_of_the_same_residuals():
    # a training user's own base, factors, residuals and neighbours give their predictions
    model, user, d = MODEL, 11, TWINS.shape[1]
    mine = slice(model.rated_indptr[user], model.rated_indptr[user + 1])
    base = (float(model.mean) + model.user_bias[user] + model.item_bias)
    nearest = slice(model.knn_user_indptr[user], model.knn_user_indptr[user + 1])
    as_new = serving.NewUser(0.0, model.user_factors[user].astype(float), np.zeros(0),
                             np.zeros(0), model.rated_indices[mine], model.rated_residual[mine],
                             model.knn_user_index[nearest], model.knn_user_score[nearest])
    new = parts.for_new_user(model, base, as_new, np.arange(d))
    known = np.ones(d, dtype=bool)
    trained = parts.blended_at_pairs(model, np.full(d, user), np.arange(d), known, known)
    np.testing.assert_allclose(new, trained, rtol=1e-6)  # float32 factors


def test_a_new_users_neighbours_are_scored_as_the_fit_scores_them():
    # the user lists of a fit without the cap on co-ratings, against a training user's
    # ratings given again as a new user's: the same neighbours, themselves aside
    rows, cols, values, dense = residual_matrix(n=40, d=30, density=0.5, seed=3)
    n, d = dense.shape
    settings = {"k": 8, "min_support": 3, "shrink": 5.0, "temperature": 0.2}
    lists = neighbours.neighbour_lists(cols, rows, values, (d, n), max_per_row=None, **settings)
    table = neighbours.Residuals(np.concatenate([[0], np.cumsum(np.isfinite(dense).sum(1))]),
                                 cols, values, d)
    for user in (0, 7, 19):
        rated = np.flatnonzero(np.isfinite(dense[user]))
        new = neighbours.new_row_list(table, rated, dense[user, rated], **{**settings, "k": 9})
        others = new.index != user
        fitted = slice(lists.indptr[user], lists.indptr[user + 1])
        assert sorted(new.index[others][:8].tolist()) == sorted(lists.index[fitted].tolist())
        np.testing.assert_allclose(np.sort(new.score[others][:8]),
                                   np.sort(lists.score[fitted]), rtol=1e-5)


def test_a_folded_in_twin_is_predicted_from_the_other_twin():
    d = TWINS.shape[1]
    liked = np.arange(0, d, 2)  # one of each twin pair, rated high
    user = mixrec.fold_in(MODEL, liked, np.full(len(liked), 6.0))
    twins = mixrec.predict_new(MODEL, user, liked + 1)
    baseline = mixrec.predict_new(mixrec.baseline_only(MODEL),
                                  mixrec.fold_in(mixrec.baseline_only(MODEL), liked,
                                                 np.full(len(liked), 6.0)), liked + 1)
    assert (twins > baseline + 0.3).all(), (twins, baseline)


def test_a_model_file_keeps_the_neighbours_and_the_blend(tmp_path):
    path = tmp_path / "m.npz"
    mixrec.save(MODEL, path)
    again = mixrec.load(path)
    for name, a, b in zip(MODEL._fields, MODEL, again):
        np.testing.assert_array_equal(a, b, err_msg=name)


def test_a_model_file_of_format_3_loads_as_the_summed_stages(tmp_path):
    import json
    import zipfile
    path = tmp_path / "m.npz"
    old = MODEL._replace(**without_blend(*TWINS.shape))
    mixrec.save(old, path)
    members = members_of(path)
    header = json.loads(str(np.load(__import__("io").BytesIO(members["header.npy"]))))
    for name in without_blend(0, 0):
        del header["arrays"][name], members[name + ".npy"]
    members["header.npy"] = npy(np.array(json.dumps(header)))
    members["format.npy"] = npy(np.array("em-recommender-3"))
    with zipfile.ZipFile(path, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    again = mixrec.load(path)
    for name, a, b in zip(old._fields, old, again):
        np.testing.assert_array_equal(a, b, err_msg=name)
    assert modelfile.FORMAT == "em-recommender-4"


# ---------------------------------------------------------------------------------------
# Choices made on the training ratings

@pytest.mark.parametrize("per_user, expected", [(1, (4, 2)), (4.9, (4, 2)), (19, (4, 2)),
                                                (22.6, (4, 2)), (22.7, (8, 2)), (33, (8, 2)),
                                                (45.2, (8, 2)), (45.3, (16, 3)),
                                                (121, (16, 3)), (5000, (16, 3))])
def test_capacity_follows_the_ratings_per_user(per_user, expected):
    assert options.capacity(1000, per_user * 1000) == expected
    assert expected[0] == np.clip(2 ** np.round(np.log2(per_user / 4)), 4, 16)


def dated_ratings(day_effect, seed=0):
    rng = np.random.RandomState(seed)
    n, d = 300, 60
    mask = rng.rand(n, d) < 0.3
    mask[:, 0] = True
    rows, cols = np.nonzero(mask)
    day = rng.randint(0, 2, len(rows))
    values = 3 + rng.normal(0, .5, d)[cols] + day_effect * (2 * day - 1) + rng.normal(0, .7,
                                                                                      len(rows))
    X = sparse.csr_array((values, (rows, cols)), shape=(n, d))  # rows sorted, cols too
    return X, 1e9 + (day * 30 + rows % 7) * 86400.0


@pytest.mark.parametrize("day_effect, kept", [(1.0, True), (0.0, False)])
def test_day_biases_are_kept_only_where_they_predict_held_out_ratings(day_effect, kept):
    X, times = dated_ratings(day_effect)
    chosen = ensemble.use_day_biases(X, times, options.check_hyper_parameters({}))
    assert chosen is kept
    forced = options.check_hyper_parameters({"day_biases": not kept})
    assert ensemble.use_day_biases(X, times, forced) is (not kept)
    with pytest.raises(ValueError, match="day_biases=True needs the ratings' timestamps"):
        ensemble.use_day_biases(X, None, options.check_hyper_parameters({"day_biases": True}))


def test_too_few_ratings_to_choose_day_biases_keep_the_simpler_baseline(monkeypatch):
    X, times = dated_ratings(1.0)
    rows, cols = X.nonzero()  # CSR order, as times
    kept = (rows < 30) & (cols < 8)
    few = sparse.csr_array((X.data[kept], (rows[kept], cols[kept])), shape=(30, 8))
    few_times = times[kept]  # still in CSR order: rows sorted, then columns
    hyper = options.check_hyper_parameters({})
    monkeypatch.setattr(ensemble, "MIN_DAYS_RATINGS", 0)
    assert ensemble.use_day_biases(few, few_times, hyper) is True  # the day effect shows
    monkeypatch.setattr(ensemble, "MIN_DAYS_RATINGS", 100)
    assert few.nnz * ensemble.DAYS_HOLDOUT < 100
    assert ensemble.use_day_biases(few, few_times, hyper) is False  # too few to tell
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one rating: no "Mean of empty slice"
        model = mixrec.fit(sparse.csr_array(([4.0], ([0], [0])), shape=(1, 1)), times=[1e9])
    assert len(model.days) == 0 and float(model.mean) == 4.0


@pytest.mark.parametrize("hyper, match", [
    ({"blend_holdout": 0.9}, r"blend_holdout must be a number in \[0, 0.5\]"),
    ({"neighbour_null": float("nan")}, r"neighbour_null must be a number in \[-100, 100\]"),
    ({"neighbour_temperature": 0}, "neighbour_temperature must be a finite number > 0"),
    ({"neighbour_temperature": 0.001}, r"neighbour_temperature must be a number in \[0.01,"),
    ({"neighbours": -1}, "neighbours must be an integer >= 0"),
    ({"day_biases": "yes"}, "day_biases must be True, False or None"),
    ({"user_reg": 1e200}, "user_reg must be at most 1e[+]12"),  # was refused after the fit
    ({"day_reg": 1e13}, "day_reg must be at most 1e[+]12"),
])
def test_bad_hyper_parameters_are_named(hyper, match):
    with pytest.raises(ValueError, match=match):
        mixrec.fit(TRAIN, **hyper)

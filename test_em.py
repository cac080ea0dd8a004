"""Tests of the EM matrix-completion module: the course's figures, em.py and summary.py.

Three kinds of evidence: the course's published figures (test_solutions.txt and the
Netflix log-likelihoods), the per-user loops of reference.py, written straight from the
formulas and used as an oracle, and invariants (posteriors sum to 1, the log-likelihood
never decreases, inputs are left alone, bad input is refused with a message that names it).
"""
import os
import tracemalloc

import numpy as np
import pytest
from scipy import sparse

import common
import course
import data
import em
import reference
import summary
from common import GaussianMixture

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def course_file(name):
    """Path of a course data file; skip without it, except under CI where it must be there."""
    path = os.path.join(DATA, name)
    if not os.path.isfile(path):
        if os.environ.get("CI") == "true":
            pytest.fail(f"course file {name} missing from data/ under CI (.ci/run copies it)")
        pytest.skip(f"course file {name} not in data/ (copy the course's files there)")
    return path


def random_ratings(n, d, seed, missing=0.4):
    """Ratings 1..5 with a random fraction missing, plus one empty row, one empty column
    and one complete row."""
    rng = np.random.RandomState(seed)
    X = rng.randint(1, 6, size=(n, d)).astype(float)
    X[rng.uniform(size=(n, d)) < missing] = 0
    X[0] = 0
    X[:, -1] = 0
    X[-1, :-1] = rng.randint(1, 6, size=d - 1)
    return X


def random_mixture(X, K, seed):
    """A mixture with uneven weights and variances, its means near the data."""
    rng = np.random.RandomState(seed)
    mu = rng.uniform(1, 5, size=(K, X.shape[1]))
    var = rng.uniform(0.3, 3, size=K)
    p = rng.dirichlet(np.ones(K))
    return GaussianMixture(mu, var, p)


# shapes (n, d, K): tall, wide, tiny, K = 1 and K = n
CASES = [(40, 7, 3), (12, 30, 4), (5, 3, 2), (25, 10, 1), (6, 8, 6)]


def assert_mixture_close(ours, theirs, rtol=1e-10):
    for name, a, b in zip(GaussianMixture._fields, ours, theirs):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12, err_msg=name)


# ---------------------------------------------------------------------------------------
# The course's reference figures

def _solutions():
    """(section, name) of every figure in test_solutions.txt, read without the file too."""
    path = os.path.join(DATA, "test_solutions.txt")
    if not os.path.isfile(path):
        return [pytest.param(None, None, id="test_solutions.txt")]
    return [(s, name) for s, figures in course.load_solutions(path).items() for name in figures]


@pytest.fixture(scope="module")
def test_case():
    solutions = course.load_solutions(course_file("test_solutions.txt"))
    X = data.load_matrix(course_file("test_incomplete.txt"))
    X_gold = data.load_matrix(course_file("test_complete.txt"))
    return solutions, course.reproduce_test_case(X, X_gold, solutions["input"]["K"].value)


@pytest.mark.parametrize("section, name", _solutions())
def test_reference_figure(test_case, section, name):
    solutions, ours = test_case
    printed = solutions[section][name]
    assert course.matches(ours[section][name], printed), (
        f"{section} {name}: ours {ours[section][name]} vs printed {printed.value}")


def test_solutions_file_lists_every_figure():
    solutions = course.load_solutions(course_file("test_solutions.txt"))
    assert {s: sorted(f) for s, f in solutions.items()} == {
        "input": ["K", "Mu", "P", "Var", "X"], "estep": ["LL", "post"],
        "mstep": ["Mu", "P", "Var"],
        "run": ["LL", "Mu", "P", "RMSE", "Var", "X_gold", "X_pred", "post"]}


def test_printed_tolerance_is_half_a_unit_in_the_last_place():
    assert course.printed_atol("0.17713577", 8) == pytest.approx(5e-9)
    assert course.printed_atol("0.25", 8) == pytest.approx(5e-9)  # numpy drops zeros
    assert course.printed_atol("1.65905887e-14", 8) == pytest.approx(5e-23)
    assert course.printed_atol("-152.16319226209848", None) == pytest.approx(1.52e-11, rel=1e-2)


@pytest.fixture(scope="module")
def netflix():
    X = data.load_matrix(course_file("netflix_incomplete.txt"))
    X_gold = data.load_matrix(course_file("netflix_complete.txt"))
    fits = {}
    for K in (1, 12):
        for seed in range(5):
            fits[K, seed] = em.run(X, *common.init(X, K, seed))
    return X, X_gold, fits


@pytest.mark.parametrize("K, seed, expected, rel", [
    (1, 0, -1521060.9539852454, 1e-13),
    (12, 1, -1390234.4223, 1e-10),  # the course prints it to 4 decimals
])
def test_netflix_best_log_likelihood(netflix, K, seed, expected, rel):
    _, _, fits = netflix
    best_seed = max(range(5), key=lambda s: fits[K, s][2])
    assert fits[K, best_seed][2] == pytest.approx(expected, rel=rel, abs=0)
    if K == 12:
        assert best_seed == seed


def test_netflix_rmse_of_best_k12_completion(netflix):
    X, X_gold, fits = netflix
    mixture, _, _ = fits[12, 1]
    assert common.rmse(X_gold, em.fill_matrix(X, mixture)) == pytest.approx(
        0.4804908505400682, rel=1e-13, abs=0)


# ---------------------------------------------------------------------------------------
# The loop oracle

@pytest.mark.parametrize("n, d, K", CASES)
def test_estep_matches_loop(n, d, K):
    X = random_ratings(n, d, seed=n)
    mixture = random_mixture(X, K, seed=d)
    post, ll = em.estep(X, mixture)
    post_loop, ll_loop = reference.estep(X, mixture)
    np.testing.assert_allclose(post, post_loop, rtol=1e-10, atol=1e-14)
    assert ll == pytest.approx(ll_loop, rel=1e-12)


@pytest.mark.parametrize("n, d, K", CASES)
def test_mstep_matches_loop(n, d, K):
    X = random_ratings(n, d, seed=n)
    mixture = random_mixture(X, K, seed=d)
    post = np.random.RandomState(K).dirichlet(np.ones(K), size=n)
    assert_mixture_close(em.mstep(X, post, mixture), reference.mstep(X, post, mixture))


@pytest.mark.parametrize("n, d, K", CASES)
def test_run_matches_loop(n, d, K):
    X = random_ratings(n, d, seed=n)
    mixture, post = common.init(X, K, seed=1)
    ours = em.run(X, mixture, post)
    theirs = reference.run(X, mixture)
    assert_mixture_close(ours[0], theirs[0], rtol=1e-8)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-8, atol=1e-12)
    assert ours[2] == pytest.approx(theirs[2], rel=1e-10)


def test_mstep_keeps_mean_of_item_with_too_little_support():
    X = np.array([[5.0, 1.0], [4.0, 0.0], [3.0, 0.0]])
    mixture = GaussianMixture(np.array([[9.0, 9.0], [7.0, 7.0]]), np.ones(2), np.full(2, .5))
    post = np.array([[0.6, 0.4], [0.5, 0.5], [0.5, 0.5]])
    new = em.mstep(X, post, mixture)
    # item 1 is rated by user 0 alone: support 0.6 and 0.4 < 1 keeps the old means
    np.testing.assert_array_equal(new.mu[:, 1], [9.0, 7.0])
    np.testing.assert_allclose(new.mu[:, 0], [(3 + 2 + 1.5) / 1.6, (2 + 2 + 1.5) / 1.4])


def test_component_that_sees_no_rating_keeps_its_variance():
    X = np.array([[0.0, 0.0], [2.0, 3.0]])
    mixture = GaussianMixture(np.ones((2, 2)), np.array([2.0, 3.0]), np.full(2, .5))
    post = np.array([[0.0, 1.0], [1.0, 0.0]])  # component 1 owns only the empty user
    new = em.mstep(X, post, mixture)
    assert new.var[1] == 3.0
    assert np.all(np.isfinite(new.mu)) and np.all(np.isfinite(new.var))


# ---------------------------------------------------------------------------------------
# Closed forms and invariants

def test_k1_means_are_column_means_of_rated_entries():
    X = random_ratings(30, 6, seed=3)
    mixture, post = common.init(X, 1)
    new, post, _ = em.run(X, mixture, post)
    rated = X != 0
    counts = rated.sum(axis=0)
    expected = np.where(counts >= 1, X.sum(axis=0) / np.maximum(counts, 1), mixture.mu[0])
    np.testing.assert_allclose(new.mu[0], expected, rtol=1e-12)
    np.testing.assert_array_equal(post, 1.0)
    assert new.var[0] == pytest.approx(max(np.sum((X - expected) ** 2 * rated) / rated.sum(), .25))


def test_init_reproduces_the_global_generator_without_touching_it():
    X = random_ratings(50, 4, seed=0)
    state = np.random.get_state()
    mixture, post = common.init(X, 5, seed=7)
    after = np.random.get_state()
    assert all(np.array_equal(a, b) for a, b in zip(state[1:2], after[1:2])) and state[2] == after[2]
    np.random.seed(7)
    rows = np.random.choice(50, 5, replace=False)
    np.random.set_state(state)
    np.testing.assert_array_equal(mixture.mu, X[rows])
    np.testing.assert_allclose(mixture.var, [((X - m) ** 2).mean() for m in X[rows]], rtol=1e-12)
    np.testing.assert_array_equal(mixture.p, 0.2)
    np.testing.assert_array_equal(post, 0.2)


@pytest.mark.parametrize("n, d, K", CASES)
def test_posteriors_sum_to_one_and_empty_user_gets_prior(n, d, K):
    X = random_ratings(n, d, seed=n)
    mixture = random_mixture(X, K, seed=d)
    post, _ = em.estep(X, mixture)
    np.testing.assert_allclose(post.sum(axis=1), 1, rtol=1e-12)
    np.testing.assert_allclose(post[0], mixture.p, rtol=1e-12)  # row 0 rates nothing


def test_estep_survives_far_away_users():
    # densities of e^-5000: a plain exp underflows to 0/0, the log domain does not
    X = np.array([[100.0, 100.0], [1.0, 0.0]])
    mixture = GaussianMixture(np.array([[1.0, 1.0], [2.0, 2.0]]), np.array([.5, 1.0]),
                              np.array([.5, .5]))
    post, ll = em.estep(X, mixture)
    assert np.all(np.isfinite(post)) and np.isfinite(ll)
    assert post[0, 1] == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(4))
def test_log_likelihood_never_decreases(seed):
    X = random_ratings(60, 15, seed=seed, missing=0.5)
    mixture, post = common.init(X, 5, seed=seed)
    lls = []
    em.run(X, mixture, post, callback=lambda i, ll: lls.append(ll))
    assert len(lls) >= 3
    assert np.all(np.diff(lls) >= -1e-9 * np.abs(lls[1:]))


def test_run_returns_last_estep_and_the_mstep_after_it():
    X = random_ratings(20, 5, seed=2)
    mixture, post = common.init(X, 3, seed=0)
    final, final_post, final_ll = em.run(X, mixture, post)
    # replay the steps; the returned posterior and LL come from the last E-step
    m, lls = mixture, []
    while len(lls) < 2 or lls[-1] - lls[-2] > 1e-6 * abs(lls[-1]):
        p_, ll = em.estep(X, m)
        lls.append(ll)
        m = em.mstep(X, p_, m)
    assert final_ll == ll
    np.testing.assert_array_equal(final_post, p_)
    assert_mixture_close(final, m, rtol=0)


def test_max_iter_stops_and_warns():
    X = random_ratings(40, 8, seed=1)
    calls = []
    with pytest.warns(RuntimeWarning, match="did not converge in max_iter = 2"):
        em.run(X, *common.init(X, 4), max_iter=2, callback=lambda i, ll: calls.append(i))
    assert calls == [1, 2]


def test_fill_matrix_keeps_observed_and_fills_posterior_mean():
    X = random_ratings(15, 6, seed=4)
    mixture = random_mixture(X, 3, seed=5)
    X_pred = em.fill_matrix(X, mixture)
    post, _ = reference.estep(X, mixture)
    expected = np.where(X != 0, X, post @ mixture.mu)
    np.testing.assert_allclose(X_pred, expected, rtol=1e-12)


def test_bic_counts_free_parameters():
    X = np.ones((100, 4))
    mixture = GaussianMixture(np.ones((3, 4)), np.ones(3), np.full(3, 1 / 3))
    # 3*4 means + 3 variances + 2 free weights = 17 parameters
    assert common.bic(X, mixture, -50.0) == pytest.approx(-50.0 - 17 / 2 * np.log(100))


def test_rmse():
    assert common.rmse([[1.0, 2.0]], [[1.0, 4.0]]) == pytest.approx(np.sqrt(2))
    with pytest.raises(ValueError, match="same shape"):
        common.rmse(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="X and Y are empty"):  # not a silent NaN
        common.rmse([], [])


def frozen(*arrays):
    """Read-only copies: any write into them raises, and they can be compared afterwards."""
    out = []
    for a in arrays:
        a = np.array(a)
        a.flags.writeable = False
        out.append(a)
    return out


def test_no_function_mutates_its_arguments():
    X, = frozen(random_ratings(20, 6, seed=8))
    mixture = GaussianMixture(*frozen(*random_mixture(X, 3, seed=9)))
    post, = frozen(np.full((20, 3), 1 / 3))
    copies = [a.copy() for a in (X, *mixture, post)]
    common.init(X, 3)
    em.estep(X, mixture)
    em.mstep(X, post, mixture)
    em.run(X, mixture, post)
    em.fill_matrix(X, mixture)
    for before, after in zip(copies, (X, *mixture, post)):
        np.testing.assert_array_equal(before, after)


def test_integer_ratings_give_the_same_result_as_floats():
    X = random_ratings(20, 6, seed=8)
    mixture = random_mixture(X, 3, seed=9)
    assert em.estep(X.astype(int), mixture)[1] == em.estep(X, mixture)[1]


# ---------------------------------------------------------------------------------------
# Bad input

X_OK = random_ratings(10, 4, seed=0)
MIX_OK = random_mixture(X_OK, 3, seed=0)
POST_OK = np.full((10, 3), 1 / 3)


def with_nan(X):
    X = X.copy()
    X[2, 1] = np.nan
    return X


@pytest.mark.parametrize("X, match", [
    (np.ones(5), "X must be a 2-D array"),
    (np.ones((2, 3, 4)), "X must be a 2-D array"),
    (np.ones((0, 4)), "at least one row"),
    (with_nan(X_OK), "X must be finite"),
    (np.where(X_OK > 0, np.inf, 0), "X must be finite"),
    (np.array([["a", "b"]]), "X must hold real numbers"),
    (sparse.csr_array(with_nan(X_OK)), "X must be finite"),
    (sparse.csr_array((0, 4)), "at least one row"),
])
def test_bad_X_is_refused(X, match):
    for call in (lambda: em.estep(X, MIX_OK), lambda: em.mstep(X, POST_OK, MIX_OK),
                 lambda: em.run(X, MIX_OK, POST_OK), lambda: em.fill_matrix(X, MIX_OK),
                 lambda: common.init(X, 2)):
        with pytest.raises(ValueError, match=match):
            call()


@pytest.mark.parametrize("mixture, match", [
    (MIX_OK._replace(mu=np.ones((3, 5))), r"mixture.mu must have shape \(K, d\) with d = 4"),
    (MIX_OK._replace(mu=np.ones(4)), r"mixture.mu must have shape"),
    (MIX_OK._replace(var=np.ones(2)), r"mixture.var must have shape \(K,\) = \(3,\)"),
    (MIX_OK._replace(p=np.full(4, .25)), r"mixture.p must have shape \(K,\) = \(3,\)"),
    (MIX_OK._replace(var=np.array([1.0, 0.0, 1.0])), "mixture.var must be finite and positive"),
    (MIX_OK._replace(var=np.array([1.0, -2.0, 1.0])), "mixture.var must be finite and positive"),
    (MIX_OK._replace(p=np.array([.5, .6, -.1])), "mixture.p must be non-negative"),
    (MIX_OK._replace(p=np.array([.5, .6, .1])), "sum to 1"),
    (MIX_OK._replace(mu=np.full((3, 4), np.nan)), "mixture.mu must be finite"),
    ((1, 2), "mixture must be a GaussianMixture"),
])
def test_bad_mixture_is_refused(mixture, match):
    for call in (lambda: em.estep(X_OK, mixture), lambda: em.mstep(X_OK, POST_OK, mixture),
                 lambda: em.run(X_OK, mixture, POST_OK), lambda: em.fill_matrix(X_OK, mixture)):
        with pytest.raises(ValueError, match=match):
            call()


@pytest.mark.parametrize("post", [np.full((10, 2), .5), np.full((9, 3), 1 / 3), np.ones(10)])
def test_post_of_wrong_shape_is_refused(post):
    for call in (lambda: em.mstep(X_OK, post, MIX_OK), lambda: em.run(X_OK, MIX_OK, post)):
        with pytest.raises(ValueError, match=r"post must have shape \(n, K\) = \(10, 3\)"):
            call()


def test_negative_post_is_refused():
    with pytest.raises(ValueError, match="post must be finite and non-negative"):
        em.mstep(X_OK, -POST_OK, MIX_OK)


@pytest.mark.parametrize("K, match", [
    (0, "K must satisfy 1 <= K <= n = 10, got K = 0"),
    (11, "K must satisfy 1 <= K <= n = 10, got K = 11"),
    (2.5, "K must be an integer"),
])
def test_impossible_K_is_refused(K, match):
    with pytest.raises(ValueError, match=match):
        common.init(X_OK, K)


@pytest.mark.parametrize("min_variance", [0, -1.0, np.nan, np.inf, "0.25", None])
def test_non_positive_min_variance_is_refused(min_variance):
    with pytest.raises(ValueError, match="min_variance must be a finite number > 0"):
        em.mstep(X_OK, POST_OK, MIX_OK, min_variance=min_variance)
    with pytest.raises(ValueError, match="min_variance must be a finite number > 0"):
        em.run(X_OK, MIX_OK, POST_OK, min_variance=min_variance)


@pytest.mark.parametrize("max_iter", [0, -3, 2.5, "10"])
def test_max_iter_below_one_is_refused(max_iter):
    with pytest.raises(ValueError, match="max_iter must be at least 1"):
        em.run(X_OK, MIX_OK, POST_OK, max_iter=max_iter)


# ---------------------------------------------------------------------------------------
# The parser of test_solutions.txt

def test_load_solutions_reads_arrays_scalars_and_their_precision(tmp_path):
    path = tmp_path / "solutions.txt"
    path.write_text("Input:\nX:\n[[1. 0.]\n [0. 2.]]\nK: 2\nVar: [0.25 1.5e-03]\n\n"
                    "After first E-step:\nLL:-1.5\n\nAfter first M-step:\nP: [1.]\n\n"
                    "After a run\nRMSE: 0.125\n")
    s = course.load_solutions(path)
    np.testing.assert_array_equal(s["input"]["X"].value, [[1, 0], [0, 2]])
    assert s["input"]["K"].value == 2
    np.testing.assert_allclose(s["input"]["Var"].atol, [5e-9, 5e-12])
    assert s["estep"]["LL"].value == -1.5
    assert s["run"]["RMSE"].value == 0.125
    path.write_text("Input:\nK: 2\n")
    with pytest.raises(ValueError, match="lacks the sections"):
        course.load_solutions(path)


def test_zero_weight_component_gets_the_courses_1e16_not_minus_inf():
    X = random_ratings(12, 5, seed=6)
    mixture = random_mixture(X, 3, seed=6)._replace(p=np.array([.5, .5, 0.0]))
    post, ll = em.estep(X, mixture)
    post_loop, ll_loop = reference.estep(X, mixture)
    assert np.all(post[:, 2] > 0) and np.all(np.isfinite(post))
    np.testing.assert_allclose(post, post_loop, rtol=1e-10, atol=1e-300)
    assert ll == pytest.approx(ll_loop, rel=1e-12)


def test_run_is_bit_for_bit_deterministic():
    X, _, _ = data.synthetic_ratings(n=300, d=80, K=4, seed=1)
    first = em.run(X, *common.init(X, 6, seed=2))
    second = em.run(X, *common.init(X, 6, seed=2))
    for a, b in zip((*first[0], first[1], first[2]), (*second[0], second[1], second[2])):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------
# Sparse input: the same functions, the same numbers

SPARSE_FORMATS = [sparse.csr_array, sparse.csc_array, sparse.coo_array, sparse.csr_matrix,
                  sparse.lil_matrix]


def with_stored_zero(S):
    """A CSR copy of S that stores an explicit 0 (which must still mean "missing")."""
    S = sparse.csr_array(S, copy=True)
    S.data[0] = 0
    return S


@pytest.mark.parametrize("fmt", SPARSE_FORMATS)
@pytest.mark.parametrize("n, d, K", CASES)
def test_sparse_and_dense_agree(fmt, n, d, K):
    X = random_ratings(n, d, seed=n)
    S = fmt(X)
    dense_init, sparse_init = common.init(X, K, seed=3), common.init(S, K, seed=3)
    assert_mixture_close(sparse_init[0], dense_init[0], rtol=0)  # the same rows, the same var
    mixture = random_mixture(X, K, seed=d)
    post, ll = em.estep(X, mixture)
    post_s, ll_s = em.estep(S, mixture)
    np.testing.assert_allclose(post_s, post, rtol=1e-10, atol=1e-300)
    assert ll_s == pytest.approx(ll, rel=1e-10)
    assert_mixture_close(em.mstep(S, post, mixture), em.mstep(X, post, mixture))
    np.testing.assert_allclose(em.fill_matrix(S, mixture), em.fill_matrix(X, mixture),
                               rtol=1e-10)
    dense_run, sparse_run = em.run(X, *dense_init), em.run(S, *sparse_init)
    assert sparse_run[2] == pytest.approx(dense_run[2], rel=1e-10)
    assert_mixture_close(sparse_run[0], dense_run[0], rtol=1e-8)


def test_stored_zeros_are_missing():
    X = random_ratings(20, 6, seed=1)
    S = with_stored_zero(X)
    X_dense = S.toarray()
    mixture = random_mixture(X, 3, seed=1)
    assert em.estep(S, mixture)[1] == pytest.approx(em.estep(X_dense, mixture)[1], rel=1e-12)
    assert S.data[0] == 0 and S.nnz == np.count_nonzero(X)  # the caller's array is untouched


def test_sparse_inputs_are_not_mutated():
    S = sparse.csr_array(random_ratings(20, 6, seed=8))
    before = (S.data.copy(), S.indices.copy(), S.indptr.copy())
    S.data.flags.writeable = S.indices.flags.writeable = S.indptr.flags.writeable = False
    mixture = random_mixture(S.toarray(), 3, seed=9)
    em.run(S, *common.init(S, 3))
    em.fill_matrix(S, mixture)
    em.predict(S, mixture, np.arange(3), np.arange(3))
    common.holdout(S, 0.2)
    for a, b in zip(before, (S.data, S.indices, S.indptr)):
        np.testing.assert_array_equal(a, b)


def test_split_sparse_products_equal_the_whole(monkeypatch):
    X, _ = data.planted_sparse_ratings(3000, 200, 60_000, K=4, seed=2)
    mixture = random_mixture(X.toarray(), 4, seed=2)
    whole = em.estep(X, mixture)
    monkeypatch.setattr(summary, "MIN_NNZ_TO_SPLIT", 1)  # one block per core, in threads
    monkeypatch.setattr(summary, "n_workers", lambda: 2)  # two even on a one-core machine
    assert summary.summarise(X).n_blocks == 2  # it really splits
    split = em.estep(X, mixture)
    np.testing.assert_allclose(split[0], whole[0], rtol=1e-12, atol=1e-300)
    assert split[1] == pytest.approx(whole[1], rel=1e-13)
    post = whole[0]
    new = em.mstep(X, post, mixture)
    monkeypatch.setattr(summary, "MIN_NNZ_TO_SPLIT", 10 ** 12)
    assert_mixture_close(new, em.mstep(X, post, mixture), rtol=1e-12)


def test_sparse_run_never_builds_a_dense_n_by_d_array():
    n, d = 20_000, 5_000  # a dense float64 copy would be 800 MB
    X, _ = data.planted_sparse_ratings(n, d, 100_000, K=4, seed=0)
    mixture, post = common.init(X, 4)
    tracemalloc.start()
    with pytest.warns(RuntimeWarning, match="did not converge"):
        em.run(X, mixture, post, max_iter=3)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 40e6, f"peak {peak / 1e6:.0f} MB during a sparse run"


def test_predict_equals_fill_matrix_at_the_pairs():
    X = random_ratings(30, 8, seed=5)
    mixture = random_mixture(X, 3, seed=5)
    rows, cols = np.meshgrid(np.arange(30), np.arange(8), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    filled = em.fill_matrix(X, mixture)
    np.testing.assert_allclose(em.predict(X, mixture, rows, cols), filled[rows, cols], rtol=1e-12)
    np.testing.assert_allclose(em.predict(sparse.csr_array(X), mixture, rows, cols),
                               filled[rows, cols], rtol=1e-10)


def test_predict_refuses_bad_pairs():
    with pytest.raises(ValueError, match="rows must lie in 0..9"):
        em.predict(X_OK, MIX_OK, [10], [0])
    with pytest.raises(ValueError, match="cols must be a 1-D array of integers"):
        em.predict(X_OK, MIX_OK, [0], [0.5])
    with pytest.raises(ValueError, match="rows and cols must have the same shape"):
        em.predict(X_OK, MIX_OK, [0, 1], [0])


def test_fill_matrix_refuses_a_result_that_would_not_fit(monkeypatch):
    monkeypatch.setattr(summary, "available_memory", lambda: 600)  # the result needs 640 bytes
    with pytest.raises(ValueError, match=r"dense 10 x 4 result .* use predict"):
        em.fill_matrix(sparse.csr_array(X_OK), MIX_OK)


# ---------------------------------------------------------------------------------------
# Best of several seeds, and the layout

def test_best_run_keeps_the_best_seed_and_summarises_once():
    X = random_ratings(60, 12, seed=5, missing=0.5)
    runs = {seed: em.run(X, *common.init(X, 4, seed)) for seed in range(4)}
    seen = []
    best = em.best_run(X, 4, range(4), on_run=seen.append)
    best_seed = max(runs, key=lambda s: runs[s][2])
    assert [fit.seed for fit in seen] == [0, 1, 2, 3]
    assert best.seed == best_seed and best.log_likelihood == runs[best_seed][2]
    assert_mixture_close(best.mixture, runs[best_seed][0], rtol=0)
    counted = []
    em.run(X, *common.init(X, 4, best_seed), callback=lambda i, ll: counted.append(i))
    assert best.iterations == len(counted) >= 2
    with pytest.raises(ValueError, match="seeds must name at least one seed"):
        em.best_run(X, 4, [])


def test_a_summary_stands_in_for_X_everywhere():
    X = random_ratings(30, 8, seed=6)
    ratings = summary.summarise(X)
    assert summary.summarise(ratings) is ratings
    mixture = random_mixture(X, 3, seed=2)
    post, ll = em.estep(X, mixture)
    post_s, ll_s = em.estep(ratings, mixture)
    np.testing.assert_array_equal(post, post_s)
    assert ll == ll_s
    assert_mixture_close(em.mstep(ratings, post, mixture), em.mstep(X, post, mixture), rtol=0)
    np.testing.assert_array_equal(em.fill_matrix(ratings, mixture), em.fill_matrix(X, mixture))


def test_every_module_imports_without_unix_only_modules():
    # what Windows lacks: resource, fcntl, posix; a module that needs one at import time fails
    import subprocess
    import sys
    code = ("import sys\nfor m in ('resource', 'fcntl', 'termios'): sys.modules[m] = None\n"
            "import common, summary, em, reference, data, course, recommender, main, bench, "
            "bench_recommender, ids, ratingsfile, baseline, model, modelfile, outputs, "
            "serving, metrics, cli, display\nprint('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.abspath(__file__)))
    assert result.stdout.strip() == "ok", result.stderr


def test_moved_names_stay_importable_from_common():
    assert common.load_ratings is data.load_ratings and common.holdout is data.holdout
    assert common.load_solutions is course.load_solutions
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        common.nothing


# ---------------------------------------------------------------------------------------
# Hostile input: no hang, no silent NaN (regressions, each named after what it guards)

SMALL = np.array([[5., 0, 3], [4, 2, 0], [1, 1, 5], [0, 4, 4]])


@pytest.mark.parametrize("tol", [float("nan"), -1e-6, -np.inf, np.inf, None, "1e-6",
                                 np.ones(2), True])
def test_run_refuses_a_tol_that_could_never_stop_it(tol):
    with pytest.raises(ValueError, match="tol must be a finite number >= 0"):
        em.run(SMALL, *common.init(SMALL, 2), tol=tol)


@pytest.mark.parametrize("change", [{"var": np.full(2, 1e-310)}, {"var": np.full(2, 1e308)},
                                    {"var": np.full(2, 5e-324)}, {"mu": np.full((2, 3), 1e154)}])
def test_mixtures_float64_cannot_score_raise_instead_of_nan_or_hanging(change):
    mixture, post = common.init(SMALL, 2)
    mixture = mixture._replace(**change)
    with pytest.raises(ValueError, match="not a finite number"):
        em.estep(SMALL, mixture)
    with pytest.raises(ValueError, match="not a finite number"):
        em.run(SMALL, mixture, post)


def test_a_huge_min_variance_raises_instead_of_nan():
    with pytest.raises(ValueError, match="not a finite number"):
        em.run(SMALL, *common.init(SMALL, 2), min_variance=1e308)


def test_duplicate_csr_entries_are_summed_before_the_finiteness_check():
    S = sparse.csr_array((np.array([1e308, 1e308, 3.]), np.array([0, 0, 1]),
                          np.array([0, 2, 3])), shape=(2, 2))
    for call in (lambda: em.estep(S, GaussianMixture(np.ones((1, 2)), np.ones(1), np.ones(1))),
                 lambda: common.init(S, 1), lambda: data.holdout(S, 0.5)):
        with pytest.raises(ValueError, match="X must be finite"):
            call()


@pytest.mark.parametrize("X", [np.full((7, 3), 3.3), np.array([[2.0, 4.0]]), np.zeros((3, 2)),
                               np.tile([1.0, 2.0, 0.0], (4, 1))])
def test_init_refuses_x_without_spread_instead_of_a_mixture_run_rejects(X):
    with pytest.raises(ValueError, match="X gives the initial variances"):
        common.init(X, 1)


def test_init_of_ordinary_data_is_accepted_by_run():
    X = np.array([[1.0, 2.0], [1.0, 2.0], [3.0, 0.0]])
    em.run(X, *common.init(X, 2, seed=1))


def test_mstep_refuses_posteriors_whose_rows_do_not_sum_to_one():
    mixture, _ = common.init(SMALL, 2)
    with pytest.raises(ValueError, match="each row of post must sum to 1, but row 0 sums to 0"):
        em.mstep(SMALL, np.zeros((4, 2)), mixture)
    em.mstep(SMALL, np.full((4, 2), .5 + 1e-9), mixture)  # rounding is tolerated


def test_predict_of_no_pairs_is_empty_for_sparse_x_too():
    mixture, _ = common.init(SMALL, 2)
    for X in (SMALL, sparse.csr_array(SMALL)):
        assert em.predict(X, mixture, np.array([], int), np.array([], int)).shape == (0,)


@pytest.mark.parametrize("seed", [1.5, "x", np.random.RandomState(0), True, -1])
def test_bad_seeds_raise_value_error_naming_seed(seed):
    for call in (lambda: common.init(SMALL, 2, seed=seed), lambda: data.holdout(SMALL, .2, seed)):
        with pytest.raises(ValueError, match="seed must be an integer >= 0"):
            call()


def test_bic_takes_a_plain_tuple_like_every_other_function():
    mixture, _ = common.init(SMALL, 2)
    assert common.bic(SMALL, tuple(mixture), -10.0) == common.bic(SMALL, mixture, -10.0)


def test_max_iter_true_is_refused_like_k_true():
    with pytest.raises(ValueError, match="max_iter must be at least 1"):
        em.run(SMALL, *common.init(SMALL, 2), max_iter=True)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is Unix only")
def test_sparse_threads_do_not_deadlock_a_forked_child(monkeypatch):
    import subprocess
    import sys
    code = """
import os, sys, numpy as np
import data, em, common, summary
summary.MIN_NNZ_TO_SPLIT = 1
summary.n_workers = lambda: 2
X, _ = data.planted_sparse_ratings(500, 50, 5000, K=3, seed=0)
mixture, _ = common.init(X, 3)
em.estep(X, mixture)  # the pool now has threads
pid = os.fork()
if pid == 0:
    em.estep(X, mixture)
    os._exit(0)
_, status = os.waitpid(pid, 0)
print('child exit', status)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60, cwd=os.path.dirname(os.path.abspath(__file__)))
    assert "child exit 0" in result.stdout, result.stderr


def test_available_memory_reads_a_process_limit():
    pytest.importorskip("resource")
    import subprocess
    import sys
    code = ("import resource, summary\nresource.setrlimit(resource.RLIMIT_AS, "
            "(4 * 2 ** 30, resource.RLIM_INFINITY))\nprint(summary.available_memory() < 4 * 2 ** 30)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.abspath(__file__)))
    assert result.stdout.strip() == "True", result.stderr


def test_a_start_below_the_variance_floor_does_not_stop_the_run_at_the_worse_value():
    X = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [5.0, 4.0, 1.0], [5.0, 4.0, 1.0]])
    mixture = GaussianMixture(X[[0, 2]], np.full(2, 1e-3), np.full(2, .5))  # a perfect fit
    lls = []
    _, _, ll = em.run(X, mixture, np.full((4, 2), .5), callback=lambda i, v: lls.append(v))
    assert lls[1] < lls[0]  # lifting the variances to 0.25 lowered the log-likelihood
    assert len(lls) >= 3 and ll >= lls[1]


def test_tol_zero_stops_at_a_fixed_point():
    X = random_ratings(30, 6, seed=3)
    calls = []
    em.run(X, *common.init(X, 1), tol=0.0, callback=lambda i, ll: calls.append(ll))
    assert len(calls) == 3 and calls[2] == calls[1]  # K = 1 reaches its fixed point at once


def test_ratings_sharing_a_large_offset_keep_their_precision_dense_and_sparse():
    X = np.array([[1e8 + 1, 1e8 + 3, 1e8 + 2, 1e8 + 5, 1e8 + 4, 1e8 + 1]])
    mixture = GaussianMixture(np.vstack([X[0], X[0] + [1, 0, 0, 0, 0, 0]]), np.full(2, .5),
                              np.full(2, .5))
    truth = np.array([1, np.exp(-1)]) / (1 + np.exp(-1))  # distances 0 and 1, var 0.5
    for A in (X, sparse.csr_array(X)):
        post, _ = em.estep(A, mixture)
        np.testing.assert_allclose(post[0], truth, rtol=1e-9)
        np.testing.assert_allclose(post, reference.estep(X, mixture)[0], rtol=1e-9)


def test_d_equal_one_dense_and_sparse():
    X = np.array([[3.0], [0.0], [5.0], [4.0], [1.0]])
    for A in (X, sparse.csr_array(X)):
        mixture, post = common.init(A, 2, seed=0)
        fitted, post, ll = em.run(A, mixture, post)
        post_loop, ll_loop = reference.estep(X, fitted)
        assert np.isfinite(ll) and em.fill_matrix(A, fitted).shape == (5, 1)
        np.testing.assert_allclose(em.estep(A, fitted)[0], post_loop, rtol=1e-10)


@pytest.mark.parametrize("X", [np.ones((3, 0)), sparse.csr_array((3, 0))])
def test_zero_columns_are_refused(X):
    with pytest.raises(ValueError, match="at least one row and one column"):
        common.init(X, 1)


def test_init_default_seed_is_zero():
    X = random_ratings(30, 5, seed=1)
    for a, b in zip(common.init(X, 3)[0], common.init(X, 3, seed=0)[0]):
        np.testing.assert_array_equal(a, b)


def test_max_iter_one_does_one_iteration_and_warns():
    X = random_ratings(30, 5, seed=1)
    calls = []
    with pytest.warns(RuntimeWarning, match="max_iter = 1"):
        em.run(X, *common.init(X, 3), max_iter=1, callback=lambda i, ll: calls.append(i))
    assert calls == [1]


def test_fill_matrix_memory_check_accepts_exactly_enough(monkeypatch):
    monkeypatch.setattr(summary, "available_memory", lambda: 9 * 10 * 4)  # result + mask
    assert em.fill_matrix(X_OK, MIX_OK).shape == (10, 4)
    monkeypatch.setattr(summary, "available_memory", lambda: 9 * 10 * 4 - 1)
    with pytest.raises(ValueError, match="dense 10 x 4 result"):
        em.fill_matrix(X_OK, MIX_OK)


def test_fill_matrix_peak_memory_is_what_it_checks_for():
    X, _ = data.planted_sparse_ratings(3000, 400, 30_000, K=3, seed=1)
    mixture, _ = common.init(X, 3)
    ratings = summary.summarise(X)
    for A in (ratings, summary.summarise(X.toarray())):
        tracemalloc.start()
        em.fill_matrix(A, mixture)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        checked = 8 * A.n * A.d + A.put_ratings_bytes()
        assert peak < 1.1 * checked + 3 * 8 * A.n, (peak, checked)  # + the (K, n) E-step


def test_a_ragged_x_or_mu_is_refused_naming_it():
    with pytest.raises(ValueError, match="X must be"):
        common.init([[1, 2], [3]], 1)
    with pytest.raises(ValueError, match="mixture"):
        em.estep(X_OK, ([[1, 2, 3, 4], [1, 2]], [1, 1], [.5, .5]))


def test_constant_ratings_at_a_large_offset_centre_exactly_and_stay_monotone():
    # the centre is a rating, not a rounded mean: equal ratings centre to exactly 0, and the
    # fitted variance is the floor, not rounding noise of order 1e105
    X = np.full((6, 1), 3e60)
    mixture = GaussianMixture(np.zeros((3, 1)), np.full(3, 1e120), np.full(3, 1 / 3))
    assert summary.summarise(X).centre == 3e60
    lls = []
    fitted, _, _ = em.run(X, mixture, np.full((6, 3), 1 / 3), callback=lambda i, v: lls.append(v))
    np.testing.assert_array_equal(fitted.var, 0.25)
    assert np.all(np.diff(lls[1:]) >= -1e-12 * np.abs(lls[2:]))  # to rounding


def test_posteriors_below_the_log_floor_are_exactly_zero():
    # exact zeros, not exp(LOG_FLOOR) ~ 1e-304: those made the M-step's product slow
    X = np.array([[1.0, 1.0], [9.0, 9.0]])
    mixture = GaussianMixture(np.array([[1.0, 1.0], [9.0, 9.0]]), np.full(2, 0.01),
                              np.full(2, .5))
    post, _ = em.estep(X, mixture)
    np.testing.assert_array_equal(post, [[1, 0], [0, 1]])
    post_loop, _ = reference.estep(X, mixture)
    np.testing.assert_allclose(post, post_loop, rtol=0, atol=1e-300)

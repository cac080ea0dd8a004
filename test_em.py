"""Tests of the EM matrix-completion module: the course's figures, em.py and products.py.

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
import em
import products
import reference
import synthetic
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
    X = course.load_matrix(course_file("test_incomplete.txt"))
    X_gold = course.load_matrix(course_file("test_complete.txt"))
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
    X = course.load_matrix(course_file("netflix_incomplete.txt"))
    X_gold = course.load_matrix(course_file("netflix_complete.txt"))
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
    X, _, _ = synthetic.synthetic_ratings(n=300, d=80, K=4, seed=1)
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
    for a, b in zip(before, (S.data, S.indices, S.indptr)):
        np.testing.assert_array_equal(a, b)


def test_split_sparse_products_equal_the_whole(monkeypatch):
    X, _ = synthetic.planted_sparse_ratings(3000, 200, 60_000, K=4, seed=2)
    mixture = random_mixture(X.toarray(), 4, seed=2)
    whole = em.estep(X, mixture)
    monkeypatch.setattr(products, "MIN_NNZ_TO_SPLIT", 1)  # one block per core, in threads
    monkeypatch.setattr(products, "n_workers", lambda: 2)  # two even on a one-core machine
    assert products.summarise(X).n_blocks == 2  # it really splits
    split = em.estep(X, mixture)
    np.testing.assert_allclose(split[0], whole[0], rtol=1e-12, atol=1e-300)
    assert split[1] == pytest.approx(whole[1], rel=1e-13)
    post = whole[0]
    new = em.mstep(X, post, mixture)
    monkeypatch.setattr(products, "MIN_NNZ_TO_SPLIT", 10 ** 12)
    assert_mixture_close(new, em.mstep(X, post, mixture), rtol=1e-12)


def test_sparse_run_never_builds_a_dense_n_by_d_array():
    n, d = 20_000, 5_000  # a dense float64 copy would be 800 MB
    X, _ = synthetic.planted_sparse_ratings(n, d, 100_000, K=4, seed=0)
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
    monkeypatch.setattr(products, "available_memory", lambda: 600)  # the result needs 640 bytes
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
    ratings = products.summarise(X)
    assert products.summarise(ratings) is ratings
    mixture = random_mixture(X, 3, seed=2)
    post, ll = em.estep(X, mixture)
    post_s, ll_s = em.estep(ratings, mixture)
    np.testing.assert_array_equal(post, post_s)
    assert ll == ll_s
    assert_mixture_close(em.mstep(ratings, post, mixture), em.mstep(X, post, mixture), rtol=0)
    np.testing.assert_array_equal(em.fill_matrix(ratings, mixture), em.fill_matrix(X, mixture))


# The small well-formed inputs the bad-input tests (test_em_inputs.py) vary one at a time.
X_OK = random_ratings(10, 4, seed=0)
MIX_OK = random_mixture(X_OK, 3, seed=0)
POST_OK = np.full((10, 3), 1 / 3)

"""Tests of the EM functions' refusals: every bad input refused with a ValueError naming the
argument, and hostile input (regressions, each named after what it guards) never a hang, a
silent NaN or a crash."""
import os
import tracemalloc

import numpy as np
import pytest
from scipy import sparse

import common
import em
import products
import reference
import synthetic
from common import GaussianMixture
from test_em import MIX_OK, POST_OK, X_OK, random_ratings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))



# ---------------------------------------------------------------------------------------
# Bad input



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
                 lambda: common.init(S, 1)):
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
    with pytest.raises(ValueError, match="seed must be an integer >= 0"):
        common.init(SMALL, 2, seed=seed)


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
import em, common, products, synthetic
products.MIN_NNZ_TO_SPLIT = 1
products.n_workers = lambda: 2
X, _ = synthetic.planted_sparse_ratings(500, 50, 5000, K=3, seed=0)
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
                            timeout=60, cwd=ROOT)
    assert "child exit 0" in result.stdout, result.stderr


def test_available_memory_reads_a_process_limit():
    pytest.importorskip("resource")
    import subprocess
    import sys
    code = ("import resource, products\nresource.setrlimit(resource.RLIMIT_AS, "
            "(4 * 2 ** 30, resource.RLIM_INFINITY))\nprint(products.available_memory() < 4 * 2 ** 30)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT)
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
    monkeypatch.setattr(products, "available_memory", lambda: 9 * 10 * 4)  # result + mask
    assert em.fill_matrix(X_OK, MIX_OK).shape == (10, 4)
    monkeypatch.setattr(products, "available_memory", lambda: 9 * 10 * 4 - 1)
    with pytest.raises(ValueError, match="dense 10 x 4 result"):
        em.fill_matrix(X_OK, MIX_OK)


def test_fill_matrix_peak_memory_is_what_it_checks_for():
    X, _ = synthetic.planted_sparse_ratings(3000, 400, 30_000, K=3, seed=1)
    mixture, _ = common.init(X, 3)
    ratings = products.summarise(X)
    for A in (ratings, products.summarise(X.toarray())):
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
    assert products.summarise(X).centre == 3e60
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


def _corrupt(kind):
    """A 2 x 3 sparse array whose index arrays scipy would read out of bounds."""
    data, indices, indptr = np.array([1., 2., 3.]), np.array([0, 2, 1]), np.array([0, 2, 3])
    if kind == "index beyond the columns":
        indices = np.array([0, 7, 1])
    elif kind == "negative index":
        indices = np.array([0, -1, 1])
    elif kind == "falling index pointer":
        indptr = np.array([0, 3, 2])
    elif kind == "index pointer past the indices":
        indptr = np.array([0, 2, 3])
        X = sparse.csr_array((data, indices, indptr), shape=(2, 3))
        X.indptr = np.array([0, 2, 9])
        return X
    elif kind == "coo coordinate beyond the shape":
        X = sparse.coo_array((data, (np.array([0, 0, 1]), np.array([0, 2, 1]))), shape=(2, 3))
        X.coords[1][1] = 5
        return X
    elif kind == "csc index beyond the rows":
        X = sparse.csc_array((data, np.array([0, 1, 0]), np.array([0, 1, 2, 3])), shape=(2, 3))
        X.indices[0] = 4
        return X
    elif kind == "lil column beyond the shape":
        X = sparse.lil_array((2, 3))
        X[0, 0] = 1.0
        X.rows[0][0] = 9
        return X
    X = sparse.csr_array((data, np.array([0, 2, 1]), np.array([0, 2, 3])), shape=(2, 3))
    X.indices, X.indptr = indices, indptr  # as a corrupt file or a careless caller gives it
    return X


@pytest.mark.parametrize("kind", ["index beyond the columns", "negative index",
                                  "falling index pointer", "index pointer past the indices",
                                  "coo coordinate beyond the shape", "csc index beyond the rows",
                                  "lil column beyond the shape"])
def test_regression_corrupt_sparse_input_is_a_value_error_never_a_crash(kind):
    mixture = GaussianMixture(np.ones((2, 3)), np.ones(2), np.full(2, .5))
    for call in (lambda X: em.estep(X, mixture), lambda X: products.summarise(X),
                 lambda X: common.init(X, 2)):
        with pytest.raises(ValueError, match="X is a sparse matrix whose index arrays are "
                                             "corrupt"):
            call(_corrupt(kind))


@pytest.mark.parametrize("call, match", [
    (lambda: common.bic(X_OK, MIX_OK, "x"), "log_likelihood must be a finite number"),
    (lambda: common.bic(X_OK, MIX_OK, np.nan), "log_likelihood must be a finite number"),
    (lambda: common.rmse([1.0, np.nan], [1.0, 2.0]), "X must be finite"),
    (lambda: common.rmse([1.0, 2.0], [np.inf, 2.0]), "Y must be finite"),
])
def test_regression_the_metrics_refuse_what_they_cannot_measure(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------------------------------
# Fourth hostile pass (issue 26)

def test_regression_ratings_whose_squares_overflow_are_refused_not_a_nan_variance():
    X = random_ratings(12, 5, seed=1) * 1e200  # finite, so past the finiteness check
    mixture = GaussianMixture(np.ones((2, 5)), np.ones(2), np.full(2, .5))
    post = np.full((12, 2), .5)
    for ratings in (X, sparse.csr_array(X)):
        for call in (lambda: em.mstep(ratings, post, mixture),
                     lambda: em.estep(ratings, mixture)):
            with pytest.raises(ValueError, match="squares overflow float64"):
                call()


@pytest.mark.parametrize("indices, indptr", [(np.int8, np.int16), (float, float)])
def test_regression_the_callers_sparse_index_arrays_are_left_as_they_were(indices, indptr):
    X = sparse.csr_array(random_ratings(6, 4, seed=2))
    X.indices, X.indptr = X.indices.astype(indices), X.indptr.astype(indptr)
    mixture, _ = common.init(random_ratings(6, 4, seed=2), 2)
    try:
        em.estep(X, mixture)
    except ValueError as err:  # float indices may be refused; never converted in place
        assert "index arrays are corrupt" in str(err) or "integer" in str(err)
    assert X.indices.dtype == np.dtype(indices) and X.indptr.dtype == np.dtype(indptr)


def test_regression_a_damaged_figure_is_a_damaged_file_not_a_mismatch(tmp_path):
    path = tmp_path / "test_solutions.txt"
    path.write_text("Input:\nX: [[1. 2.]]\nK: 1\nMu: [[5.93e400 1.]]\nVar: [1.]\nP: [1.]\n"
                    "After first E-step:\npost: [[1.]]\nLL: -1.5\nAfter first M-step:\n"
                    "Mu: [[1. 2.]]\nVar: [1.]\nP: [1.]\nAfter a run:\nMu: [[1. 2.]]\n")
    import course
    with pytest.raises(ValueError, match="figure 'Mu' holds 5.93e400, which is not a finite "
                                         "number: the file is damaged"):
        course.load_solutions(path)

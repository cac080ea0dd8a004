"""Tests of the EM options the recommender rests on (``em.py``, ``products.py``): each
default gives back the course's step bit for bit, each option matches the per-user oracle
of ``reference.py``."""
import numpy as np
import pytest
from scipy import sparse
from scipy.special import logsumexp

import common
import em
import products
import reference
from mixrec import mixtures
from test_em import assert_mixture_close, random_mixture, random_ratings


def same(a, b):
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


# ---------------------------------------------------------------------------------------
# mean_prior, stored zeros, the log domain

def test_mean_prior_zero_is_the_courses_mstep_and_run_bit_for_bit():
    X = random_ratings(40, 7, seed=3)
    mixture, post = common.init(X, 3, seed=1)
    step = em.estep(X, mixture)[0]
    same(em.mstep(X, step, mixture), mixtures.mstep(X, step, mixture, mean_prior=0.0))
    course, ours = em.run(X, mixture, post), mixtures.run(X, mixture, post, mean_prior=0)
    same((*course[0], course[1], course[2]), (*ours[0], ours[1], ours[2]))


@pytest.mark.parametrize("mean_prior", [0.5, 10.0])
def test_mean_prior_matches_the_loop_oracle(mean_prior):
    X = random_ratings(30, 8, seed=2)
    mixture = random_mixture(X, 3, seed=4)
    post = np.random.RandomState(1).dirichlet(np.ones(3), size=30)
    assert_mixture_close(mixtures.mstep(X, post, mixture, mean_prior=mean_prior),
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
    ratings = products.summarise(R, stored_zeros=True)
    np.testing.assert_array_equal(ratings.n_rated, mask.sum(axis=1))
    mixture = random_mixture(X, 3, seed=1)
    post, ll = em.estep(ratings, mixture)
    post_loop, ll_loop = reference.estep(X, mixture, mask=mask)
    np.testing.assert_allclose(post, post_loop, rtol=1e-10, atol=1e-14)
    assert ll == pytest.approx(ll_loop, rel=1e-12)
    assert_mixture_close(mixtures.mstep(ratings, post, mixture, mean_prior=2.0),
                         reference.mstep(X, post_loop, mixture, mask=mask, mean_prior=2.0))
    # without stored_zeros the zeros are missing, as the course has it: a different model
    assert em.estep(R, mixture)[1] != pytest.approx(ll, rel=1e-6)


def test_stored_zeros_needs_sparse_input():
    with pytest.raises(ValueError, match="stored_zeros=True needs a sparse X"):
        products.summarise(np.ones((2, 2)), stored_zeros=True)


def test_own_logsumexp_agrees_with_scipy_including_extremes():
    rng = np.random.RandomState(0)
    a = rng.normal(scale=300, size=(7, 500))
    a[:, 0] = -1e300  # a column far below anything exp can show
    a[3, 1] = 700.0  # and one that would overflow a plain exp
    a[:, 2] = -5.0  # all terms equal
    np.testing.assert_allclose(em.logsumexp_columns(a), logsumexp(a, axis=0), rtol=1e-14)


# ---------------------------------------------------------------------------------------
# The pattern of ratings

def pattern_case(seed=0):
    R, X, mask = residual_with_exact_zero()
    mixture = random_mixture(X, 3, seed=seed)
    post = np.random.RandomState(seed).dirichlet(np.ones(3), size=X.shape[0])
    return products.summarise(R, stored_zeros=True), X, mask, mixture, post


def test_a_pattern_weight_of_zero_is_the_courses_estep_and_run_bit_for_bit():
    X = random_ratings(40, 7, seed=3)
    mixture, post = common.init(X, 3, seed=1)
    log_pattern = mixtures.pattern(X, em.estep(X, mixture)[0])
    same(em.estep(X, mixture), mixtures.estep(X, mixture, log_pattern=log_pattern,
                                              pattern_weight=0.0))
    course, ours = em.run(X, mixture, post), mixtures.run(X, mixture, post, pattern_weight=0.0)
    same((*course[0], course[1], course[2]), (*ours[0], ours[1], ours[2]))


def test_the_pattern_matches_the_loop_oracle():
    ratings, X, mask, mixture, post = pattern_case()
    for smoothing in (1.0, 0.3):
        np.testing.assert_allclose(mixtures.pattern(ratings, post, smoothing),
                                   reference.pattern(X, post, mask=mask, smoothing=smoothing),
                                   rtol=1e-12)
    log_pattern = reference.pattern(X, post, mask=mask)
    for weight in (0.05, 1.0):
        ours = mixtures.estep(ratings, mixture, log_pattern=log_pattern, pattern_weight=weight)
        theirs = reference.estep(X, mixture, mask=mask, log_pattern=log_pattern,
                                 pattern_weight=weight)
        np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-10, atol=1e-14)
        assert ours[1] == pytest.approx(theirs[1], rel=1e-12)


def test_a_run_with_the_pattern_is_the_oracles_loop():
    ratings, X, mask, mixture, _ = pattern_case(2)
    ours = mixtures.run(ratings, mixture, np.full((X.shape[0], 3), 1 / 3), pattern_weight=0.3,
                        min_variance=.25, tol=1e-6)
    # the oracle's loop: the first E-step without a pattern, each next one with the pattern
    # of the M-step before it; stop when two E-steps that both have it agree to tol
    log_pattern, old, iteration = None, None, 0
    while True:
        iteration += 1
        post, ll = reference.estep(X, mixture, mask=mask, log_pattern=log_pattern,
                                   pattern_weight=0.3 if log_pattern is not None else 0)
        mixture = reference.mstep(X, post, mixture, mask=mask)
        log_pattern = reference.pattern(X, post, mask=mask)
        if iteration >= 3 and ll - old <= 1e-6 * abs(ll):
            break
        old = ll
    assert_mixture_close(ours[0], mixture, rtol=1e-8)
    assert ours[2] == pytest.approx(ll, rel=1e-10)


@pytest.mark.parametrize("log_pattern, match", [
    (None, "pattern_weight > 0 needs log_pattern"),
    (np.zeros((2, 6)), r"log_pattern must have the shape of mixture.mu, \(3, 6\)"),
    (np.full((3, 6), 0.5), "log_pattern must hold finite log-probabilities"),
])
def test_bad_patterns_are_refused(log_pattern, match):
    ratings, _, _, mixture, _ = pattern_case()
    with pytest.raises(ValueError, match=match):
        mixtures.estep(ratings, mixture, log_pattern=log_pattern, pattern_weight=1.0)


# ---------------------------------------------------------------------------------------
# Many runs at once, sufficient statistics, float32 products

def starts(X, K, seeds):
    return [common.init(X, K, seed)[0] for seed in seeds]


@pytest.mark.parametrize("pattern_weight", [0.0, 0.2])
def test_runs_side_by_side_are_each_the_run_alone(pattern_weight):
    R, _, _ = residual_with_exact_zero()
    ratings = products.summarise(R + sparse.csr_array(np.zeros(R.shape)), stored_zeros=True)
    starts_ = [random_mixture(R.toarray(), 3, seed) for seed in range(4)]
    together = mixtures.run_many(ratings, starts_, min_variance=.5, mean_prior=1.0,
                                 pattern_weight=pattern_weight, tol=1e-6)
    for mixture, run in zip(starts_, together):
        alone = mixtures.run(ratings, mixture, np.full((R.shape[0], 3), 1 / 3),
                             min_variance=.5, mean_prior=1.0, pattern_weight=pattern_weight,
                             tol=1e-6)
        assert_mixture_close(run.mixture, alone[0], rtol=1e-9)
        np.testing.assert_allclose(run.post, alone[1], rtol=1e-9, atol=1e-13)
        assert run.log_likelihood == pytest.approx(alone[2], rel=1e-12) and run.converged
    assert len({run.iterations for run in together}) > 1  # each stopped on its own


def test_run_many_stops_at_max_iter_and_says_so():
    X = random_ratings(30, 6, seed=1)
    with pytest.warns(RuntimeWarning, match="2 of 2 EM runs did not converge"):
        runs = mixtures.run_many(X, starts(X, 3, [0, 1]), max_iter=1)
    assert [(r.iterations, r.converged) for r in runs] == [(1, False), (1, False)]
    with pytest.raises(ValueError, match="mixtures must all have the same K"):
        mixtures.run_many(X, starts(X, 2, [0]) + starts(X, 3, [0]))


def test_moments_of_blocks_of_users_add_up_to_the_whole():
    X = random_ratings(40, 7, seed=5)
    post = np.random.RandomState(0).dirichlet(np.ones(3), size=40)
    whole = em.moments(products.summarise(X), np.ascontiguousarray(post.T))
    top, bottom = products.summarise(X[:15]), products.summarise(X[15:])
    # each block centres on a rating of its own: uncentred, the sums add up
    uncentred = [em.Moments(m.weighted_sum + m.centre * m.support, *m[1:6], 0.0)
                 for m in (em.moments(top, post[:15].T), em.moments(bottom, post[15:].T))]
    total = mixtures.add_moments(*uncentred)
    for a, b in zip(total[:6], (whole.weighted_sum + whole.centre * whole.support,
                                *whole[1:6])):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    mixture = random_mixture(X, 3, seed=0)
    same(em.mixture_from_moments(whole, mixture, .25), em.mstep(X, post, mixture))


def test_float32_products_agree_with_float64_to_single_precision():
    R, _, _ = residual_with_exact_zero()
    double, single = (products.summarise(R, stored_zeros=True, dtype=dtype)
                      for dtype in (np.float64, np.float32))
    mixture = random_mixture(R.toarray(), 3, seed=3)
    post64, ll64 = em.estep(double, mixture)
    post32, ll32 = em.estep(single, mixture)
    assert ll32 == pytest.approx(ll64, rel=1e-6)
    np.testing.assert_allclose(post32, post64, atol=1e-5)
    assert_mixture_close(em.mstep(single, post64, mixture), em.mstep(double, post64, mixture),
                         rtol=1e-5)
    with pytest.raises(ValueError, match="dtype=float32 needs a sparse X"):
        products.summarise(np.ones((2, 2)), dtype=np.float32)


@pytest.mark.parametrize("transposed", [False, True])
def test_products_cut_into_row_and_column_blocks_are_the_same(monkeypatch, transposed):
    R, _, _ = residual_with_exact_zero()
    whole = products.summarise(R, stored_zeros=True, transposed=transposed)
    monkeypatch.setattr(products, "COLUMNS_PER_BLOCK", 2)  # cut the 6 columns in three
    monkeypatch.setattr(products, "MIN_NNZ_TO_SPLIT", 1)  # and the rows in blocks
    monkeypatch.setattr(products, "n_workers", lambda: 3)
    cut = products.summarise(R, stored_zeros=True, transposed=transposed)
    assert cut.n_blocks == 3 and len(cut._blocks[0][2]) == 3
    mixture = random_mixture(R.toarray(), 3, seed=3)
    post, ll = em.estep(whole, mixture)
    post_cut, ll_cut = em.estep(cut, mixture)
    assert ll_cut == pytest.approx(ll, rel=1e-13)
    np.testing.assert_allclose(post_cut, post, rtol=1e-12, atol=1e-15)
    assert_mixture_close(em.mstep(cut, post, mixture), em.mstep(whole, post, mixture),
                         rtol=1e-12)

"""Property-based checks (hypothesis): for random ratings, mixtures and arguments, every
public EM function either refuses with a ValueError naming an argument, or returns finite
results, leaves its inputs unchanged, agrees between dense and sparse X, and never lets
the log-likelihood decrease.

The draws are derandomized, so CI sees the same cases every run; a deeper search:
HYPOTHESIS_EXAMPLES=3000 python -m pytest tests/test_em_properties.py (3000 each passed).
"""
import os
import re
import warnings

import numpy as np
import pytest
from scipy import sparse

import common
import em
from mixrec import mixtures

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is a test-only tool")
from hypothesis import given, settings, strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

ARGUMENT = r"\b(X|K|seed|mixture(\.\w+)?|post|tol|max_iter|min_variance|mean_prior|rows|cols)\b"


@st.composite
def problems(draw):
    n = draw(st.integers(1, 8))
    d = draw(st.integers(1, 6))
    K = draw(st.integers(1, 4))
    scale = draw(st.sampled_from([1.0, 1e-3, 1e3, 1e60]))
    ratings = draw(hnp.arrays(float, (n, d), elements=st.integers(0, 5))) * scale
    mu = draw(hnp.arrays(float, (K, d), elements=st.floats(-10, 10))) * scale
    var = draw(hnp.arrays(float, (K,), elements=st.floats(1e-3, 1e3))) * scale ** 2
    p = draw(hnp.arrays(float, (K,), elements=st.floats(0.01, 1)))
    return ratings, common.GaussianMixture(mu, var, p / p.sum())


def frozen(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


@settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", 150)), deadline=None,
          derandomize=True)
@given(problems(), st.sampled_from([1e-6, 0.0, 1e-2]), st.sampled_from([0.0, 2.0]))
def test_refuse_or_return_finite_untouched_results(problem, tol, mean_prior):
    X, mixture = problem
    X = frozen(X)
    mixture = common.GaussianMixture(*(frozen(a) for a in mixture))
    copies = [a.copy() for a in (X, *mixture)]
    try:
        post, ll = em.estep(X, mixture)
        lls = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # max_iter reached: said, not wrong
            # the course's run, or the package's with a prior on the means
            options = {"mean_prior": mean_prior} if mean_prior else {}
            run = mixtures.run if mean_prior else em.run
            fitted, post_n, ll_n = run(X, mixture, post, tol=tol, max_iter=50,
                                       callback=lambda i, v: lls.append(v), **options)
    except ValueError as err:
        assert re.search(ARGUMENT, str(err)), err
        return
    finally:
        for before, after in zip(copies, (X, *mixture)):
            np.testing.assert_array_equal(before, after)
    assert np.isfinite(ll) and np.all(np.isfinite(post))
    np.testing.assert_allclose(post.sum(axis=1), 1, rtol=1e-9)
    assert all(np.all(np.isfinite(a)) for a in fitted) and np.isfinite(ll_n)
    # Monotone from the first M-step on (it may lift a variance to the floor), with no prior,
    # and where the floor min_variance = 0.25 is above float64's resolution of the squared
    # distances (about 1e-16 |x|^2): at ratings of 1e60 a fitted variance is rounding noise
    # of order 1e104, and the log-likelihood moves with it.
    if mean_prior == 0 and np.abs(X).max() <= 1e4:
        assert np.all(np.diff(lls[1:]) >= -1e-8 * np.abs(np.asarray(lls[2:])) - 1e-8)
    post_s, ll_s = em.estep(sparse.csr_array(X), mixture)
    np.testing.assert_allclose(post_s, post, rtol=1e-7, atol=1e-12)
    assert ll_s == pytest.approx(ll, rel=1e-9, abs=1e-6)


@settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", 60)), deadline=None,
          derandomize=True)
@given(problems(), st.integers(1, 4), st.integers(0, 3))
def test_init_then_run_either_refuses_x_or_converges(problem, K, seed):
    X, _ = problem
    try:
        mixture, post = common.init(X, K, seed)
    except ValueError as err:
        assert re.search(ARGUMENT, str(err)), err
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            fitted, post, ll = em.run(X, mixture, post, max_iter=200)
    except ValueError as err:  # e.g. a mixture float64 cannot score, said so
        assert "not a finite number" in str(err)
        return
    assert np.isfinite(ll) and all(np.all(np.isfinite(a)) for a in fitted)

"""Tests of metrics.py: the held-out figures, against cases worked by hand."""
import numpy as np
import pytest

import mixrec
from mixrec import lists, metrics
from test_em import random_ratings
from test_fit import FAST



def test_precision_recall_and_ndcg_of_a_case_worked_by_hand():
    # two users; lists of 3; user 0 finds items 5 and 9 relevant, user 1 item 2 only
    lists = np.array([[9, 1, 5], [4, 6, 7]])
    users = np.array([0, 1])
    rows, cols = np.array([0, 0, 1]), np.array([5, 9, 2])
    precision, recall, ndcg = metrics.list_scores(lists, users, rows, cols, 3)
    assert precision == pytest.approx((2 / 3 + 0) / 2)
    assert recall == pytest.approx((2 / 2 + 0) / 2)
    # user 0: hits at ranks 1 and 3, DCG = 1 + 1/log2(4); ideal: ranks 1 and 2
    dcg, ideal = 1 + 1 / np.log2(4), 1 + 1 / np.log2(3)
    assert ndcg == pytest.approx((dcg / ideal + 0) / 2)


def test_a_short_list_counts_its_missing_places_as_misses():
    lists = np.array([[3, -1, -1]])
    precision, recall, ndcg = metrics.list_scores(lists, np.array([0]), np.array([0]),
                                                  np.array([3]), 3)
    assert (precision, recall, ndcg) == (pytest.approx(1 / 3), 1.0, 1.0)


def test_the_relevance_threshold_is_4_on_star_scales():
    assert lists.relevance_threshold([1, 5]) == 4
    assert lists.relevance_threshold([0.5, 5]) == pytest.approx(3.875)  # so 4 and up
    assert lists.relevance_threshold([-10, 10]) == 5


def test_lists_ranked_by_relevance_follow_the_relevance_key():
    X = random_ratings(40, 15, seed=2)
    model = mixrec.fit(X, **FAST)
    items, _, _, shown = mixrec.top_n(model, None, 5, 4)  # relevance, the default
    pred, std = mixrec.predict(model, np.full(15, 5), np.arange(15), return_std=True)
    key = lists.relevance_key(model, pred, std)
    unrated = np.flatnonzero(X[5] == 0)
    expected = unrated[np.argsort(-key[unrated], kind="stable")[:4]]
    np.testing.assert_array_equal(items, expected)
    np.testing.assert_allclose(shown, np.exp(key[expected]), rtol=1e-6)  # a chance
    assert np.all((0 < shown) & (shown < 1))
    every = mixrec.top_n_all(model, None, 4).items
    np.testing.assert_array_equal(every[5, :len(items)], items)


def test_compare_lists_scores_every_ranking_on_the_same_users():
    X = random_ratings(60, 20, seed=4, missing=0.5)
    X_train, hidden = mixrec.holdout(X, 0.3, seed=1)
    model = mixrec.fit(X_train, **FAST)
    found = metrics.compare_lists(model, X_train, hidden, n=5)
    assert found["users"] == len(np.unique(hidden.rows[hidden.values >= 4]))
    assert set(found["scores"]) == {"mixture recommender, by chance of relevance",
                                    "mixture recommender, by predicted rating",
                                    "mixture recommender, cautious (- 1 std)",
                                    "best baseline score", "most popular"}
    assert all(0 <= v <= 1 for scores in found["scores"].values() for v in scores)


def test_regression_compare_lists_with_a_huge_n_scores_lists_of_every_item():
    X = random_ratings(30, 8, seed=4, missing=0.5)
    X_train, hidden = mixrec.holdout(X, 0.3, seed=1)
    model = mixrec.fit(X_train, **FAST)
    huge = metrics.compare_lists(model, X_train, hidden, n=10 ** 12)  # allocated 21.8 TiB
    whole = metrics.compare_lists(model, X_train, hidden, n=8)
    for name, (precision, recall, ndcg) in huge["scores"].items():
        assert recall == whole["scores"][name][1] and ndcg == whole["scores"][name][2]
        assert precision == pytest.approx(whole["scores"][name][0] * 8 / 10 ** 12)
    # a list padded by hand scores as the one left short
    lists_ = np.array([[3, 1, -1, -1, -1]])
    assert metrics.list_scores(lists_, np.array([0]), np.array([0, 0]), np.array([1, 7]),
                               5) == metrics.list_scores(lists_[:, :2], np.array([0]),
                                                         np.array([0, 0]), np.array([1, 7]), 5)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        metrics.compare_lists(model, X_train, hidden, n=0)


def test_regression_within_std_refuses_nan_instead_of_counting_a_miss():
    with pytest.raises(ValueError, match="values, pred and std must be finite numbers"):
        metrics.within_std([np.nan, 3.0], np.array([3.0, 3.0]), np.array([1.0, 1.0]))
    assert metrics.within_std([4.5, 3.0], np.array([3.0, 3.0]), np.ones(2)) == [0.5, 1.0]

"""Tests of data.py: ratings files, held-out splits, the course's matrices, the generators."""
import numpy as np
import pytest
from scipy import sparse

import common
import data
from test_em import X_OK, random_ratings


def test_load_matrix_names_missing_and_malformed_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.txt"):
        data.load_matrix(tmp_path / "nowhere.txt")
    bad = tmp_path / "ragged.txt"
    bad.write_text("1 2 3\n4 5\n")
    with pytest.raises(ValueError, match="ragged.txt"):
        data.load_matrix(bad)
    good = tmp_path / "one_row.txt"
    good.write_text("1 0 3\n")
    np.testing.assert_array_equal(data.load_matrix(good), [[1, 0, 3]])


def test_synthetic_default_is_deterministic_and_netflix_like():
    X, X_complete, planted = data.synthetic_ratings(n=200, d=100, K=4, seed=0)
    X2, _, _ = data.synthetic_ratings(n=200, d=100, K=4, seed=0)
    np.testing.assert_array_equal(X, X2)
    assert set(np.unique(X_complete)) <= {1, 2, 3, 4, 5}
    assert np.all((X == 0) | (X == X_complete))
    assert 0.65 < np.mean(X != 0) < 0.9
    assert planted.p.sum() == pytest.approx(1)


# ---------------------------------------------------------------------------------------
# Held-out evaluation

@pytest.mark.parametrize("to_input", [np.array, sparse.csr_array])
def test_holdout_hides_a_fraction_and_every_user_keeps_a_rating(to_input):
    X = random_ratings(200, 30, seed=9, missing=0.7)
    X[5] = 0
    X[5, 3] = 4  # a user with a single rating
    original = to_input(X)
    X_train, hidden = data.holdout(original, 0.25, seed=1)
    train = X_train.toarray() if sparse.issparse(X_train) else X_train
    assert len(hidden.values) == round(0.25 * np.count_nonzero(X))
    np.testing.assert_array_equal(X[hidden.rows, hidden.cols], hidden.values)
    assert np.all(train[hidden.rows, hidden.cols] == 0)
    np.testing.assert_array_equal(train + sparse.coo_array(
        (hidden.values, (hidden.rows, hidden.cols)), shape=X.shape).toarray(), X)
    rated = np.count_nonzero(X, axis=1) > 0
    assert np.all(np.count_nonzero(train, axis=1)[rated] >= 1)
    assert train[5, 3] == 4
    np.testing.assert_array_equal(original.toarray() if sparse.issparse(original) else original, X)


def test_holdout_is_seeded_and_the_same_for_dense_and_sparse():
    X = random_ratings(50, 10, seed=2)
    a = data.holdout(X, 0.2, seed=4)
    b = data.holdout(sparse.csr_array(X), 0.2, seed=4)
    np.testing.assert_array_equal(a[0], b[0].toarray())
    for x, y in zip(a[1], b[1]):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(data.holdout(X, 0.2, seed=5)[1].rows, a[1].rows) or \
        not np.array_equal(data.holdout(X, 0.2, seed=5)[1].cols, a[1].cols)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, np.nan, "0.1"])
def test_holdout_refuses_impossible_fractions(fraction):
    with pytest.raises(ValueError, match=r"fraction must be a number in \[0, 1\)"):
        data.holdout(X_OK, fraction)


# ---------------------------------------------------------------------------------------
# Ratings files

@pytest.mark.parametrize("text", [
    "7 10 4\n7 20 5\n9 10 1\n",
    "7\t10\t4\t881250949\n7\t20\t5\t881250950\n9\t10\t1\t881250951\n",
    "userId,movieId,rating,timestamp\n7,10,4,1\n7,20,5,2\n9,10,1,3\n",
    "7::10::4::978300760\n\n7::20::5::978300761\n9::10::1::978300762\n",
])
def test_load_ratings_reads_the_usual_formats(tmp_path, text):
    path = tmp_path / "ratings"
    path.write_text(text)
    X, users, items = data.load_ratings(path)
    np.testing.assert_array_equal(users, [7, 9])
    np.testing.assert_array_equal(items, [10, 20])
    np.testing.assert_array_equal(X.toarray(), [[4, 5], [1, 0]])


def test_load_ratings_remaps_string_ids(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("bob,film-b,3.5\nalice,film-a,2\nbob,film-a,1\n")
    X, users, items = data.load_ratings(path)
    assert list(users) == ["alice", "bob"] and list(items) == ["film-a", "film-b"]
    np.testing.assert_array_equal(X.toarray(), [[2, 0], [1, 3.5]])


@pytest.mark.parametrize("text, match", [
    ("1 2 3\n1 3\n", r"line 2: expected 'user item rating \[timestamp\]', got 2 fields"),
    ("1 2 3\n1 3 x\n", r"line 2: rating 'x' is not a number"),
    ("1 2 3\n1 3 0\n", r"line 2: rating must be a finite non-zero number"),
    ("1 2 3\n1 3 nan\n", r"line 2: rating must be a finite non-zero number"),
    ("1 2 3\n1 3 4\n1 2 5\n", r"line 3: the pair rated on line 1 is rated again"),
    ("1 2 3 4 5\n", r"line 1: expected"),
])
def test_load_ratings_names_the_file_and_line_of_a_bad_line(tmp_path, text, match):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match="bad.txt, " + match):
        data.load_ratings(path)


def test_load_ratings_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.dat"):
        data.load_ratings(tmp_path / "nowhere.dat")


# ---------------------------------------------------------------------------------------
# The scale checks of bench.py, scaled down (correctness only; timings live in bench.py)

def test_planted_sparse_ratings_are_exact_and_canonical():
    X, planted = data.planted_sparse_ratings(5000, 300, 150_000, K=5, seed=3,
                                              users_per_chunk=700)
    assert X.shape == (5000, 300) and X.nnz == 150_000
    assert X.has_canonical_format  # sorted, no repeated (user, item)
    assert set(np.unique(X.data)) <= {1, 2, 3, 4, 5}
    assert np.diff(X.indptr).min() >= 1
    again, _ = data.planted_sparse_ratings(5000, 300, 150_000, K=5, seed=3)
    assert (X != again).nnz == 0  # chunking does not change the draw

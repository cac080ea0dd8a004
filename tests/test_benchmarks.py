"""Tests of the benchmarks, scaled down: correctness only; the timings live in the benchmarks."""
from benchmarks import speed


def test_bench_scale_scaled_down():
    figures = speed.bench_scale(20_000, 2_000, 400_000, repeat=1, K=4)
    assert figures["ratings"] == 400_000
    assert figures["iteration_s"] > 0 and figures["peak_gb"] > 0


# ---------------------------------------------------------------------------------------
# The suite (benchmarks/suite.py): its parts, on tiny data

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import sparse  # noqa: E402

from benchmarks import suite  # noqa: E402


def test_ease_weights_equal_the_closed_form():
    rng = np.random.RandomState(0)
    X = (rng.uniform(size=(30, 7)) < 0.4).astype(float)
    lam = 3.0
    P = np.linalg.inv(X.T @ X + lam * np.eye(7))
    expected = np.eye(7) - P / np.diag(P)[None, :]
    np.fill_diagonal(expected, 0.0)
    B = suite.ease_weights(X.T @ X, lam)
    np.testing.assert_allclose(B, expected, atol=1e-12)
    assert np.all(np.diag(B) == 0)


def test_ease_lists_leave_out_rated_items_and_rank_items_outside_b_last():
    X = sparse.csr_array(np.array([[1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [0, 1, 1, 0, 1],
                                   [1, 1, 1, 0, 0]], dtype=float) * 4)
    lists = suite.ease_lists(X, 1.0, np.array([0, 1]), max_items=3, n=4)
    assert lists.shape == (2, 4)
    assert set(lists[0]) == {2, 3, 4} | {-1} and lists[0][0] == 2  # the one item in B first
    assert lists[0][1:3].tolist() == [3, 4] and lists[0][3] == -1  # then by index
    assert lists[1][0] == 1  # item 1 is in B, 3 and 4 (rated once or never) are not


def test_cold_pairs_are_counted_by_side():
    rows = np.array([0, -1, 2, -1, 1])
    cols = np.array([-1, 3, 1, -1, 0])
    assert suite.cold_counts(rows, cols) == {"cold": 3, "user_absent": 2, "item_absent": 2,
                                             "both_absent": 1}
    warm = (rows >= 0) & (cols >= 0)
    found = suite.rmse_parts(np.array([1.0, 2, 3, 4, 5]), np.array([1.0, 4, 3, 4, 3]), warm)
    assert found["rmse"] == pytest.approx(np.sqrt(8 / 5))
    assert found["rmse_warm"] == pytest.approx(np.sqrt(4 / 2))


def test_relevant_pairs_are_warm_and_in_the_top_quarter():
    rows, cols = np.array([0, 0, 1, -1, 2]), np.array([1, -1, 2, 0, 3])
    values = np.array([4.0, 5.0, 3.5, 5.0, 4.5])
    rel_rows, rel_cols, users = suite.relevant_pairs(rows, cols, values, (0.5, 5.0))
    assert rel_rows.tolist() == [0, 2] and rel_cols.tolist() == [1, 3]
    assert users.tolist() == [0, 2]


def test_the_dense_subset_keeps_the_most_rated_items_and_their_frequent_raters(tmp_path):
    # items 1-3 rated by every user, 4 by two; users 1-4 rate 3+ of the top 3, user 5 one
    lines = [f"{u},{i},{(u + i) % 5 + 1},{1000 * u + i}" for u in range(1, 5)
             for i in (1, 2, 3)] + ["1,4,3,1", "2,4,4,2", "5,1,5,3", "5,9,2,4"]
    path = tmp_path / "ratings.csv"
    path.write_text("userId,movieId,rating,timestamp\n" + "\n".join(lines) + "\n")
    folder = tmp_path / "dense"
    folder.mkdir()
    train, test, info = suite.build_dense(str(path), str(folder), n_items=3, min_ratings=3)
    kept = [line for line in lines if line.split(",")[1] in "123" and line[0] != "5"]
    train_lines = open(train).read().splitlines()
    test_lines = open(test).read().splitlines()
    assert train_lines[0] == test_lines[0] == "userId,movieId,rating,timestamp"
    assert sorted(train_lines[1:] + test_lines[1:]) == sorted(kept)
    assert len(test_lines) - 1 == round(0.1 * len(kept)) == info["test_lines"] == 1
    assert {line.split(",")[0] for line in train_lines[1:]} == {"1", "2", "3", "4"}
    assert info == {"ratings": 12, "users": 4, "items": 3, "test_lines": 1}


def test_the_suite_without_its_data_says_so_and_exits_0(tmp_path, capsys):
    assert suite.main(["--data-dir", str(tmp_path), "--peers", "none"]) == 0
    assert "Skipped" in capsys.readouterr().out


def test_the_peers_list_scores_agree_with_the_projects():
    pd = pytest.importorskip("pandas")
    from benchmarks import peers
    from mixrec import metrics
    train = pd.DataFrame({"user": list("aabbccd"), "item": list("xyxzyzx"),
                          "rating": [5.0, 1, 4, 2, 3, 5, 1]})
    test = pd.DataFrame({"user": list("aabcdd"), "item": list("zwyxyz"),
                         "rating": [5.0, 5, 4.5, 5, 4, 2]})
    split = peers.Split(train, test)
    lists = np.array([[2, -1], [0, 1], [1, 0], [1, 2]])
    assert len(split.eval_users) == 4
    rel = split.rel_keys
    found = split.list_scores(lists)
    expected = metrics.list_scores(lists, split.eval_users, rel // split.d, rel % split.d, 10)
    assert [found["precision"], found["recall"], found["ndcg"]] == pytest.approx(expected)

"""Tests of the benchmarks, scaled down: correctness only; the timings live in the benchmarks.

The suite's tests (benchmarks/suite.py, benchmarks/peers.py) run on tiny data; those that need
the shared data (../shared/data, or $MIXREC_SHARED_DATA) or a peer's scratch environment
($SURPRISE_PYTHON) are skipped without them.
"""
import json
import lzma
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import sparse

from benchmarks import speed, suite

SHARED = os.environ.get("MIXREC_SHARED_DATA", suite.DEFAULT_DATA)
FILMTRUST = os.path.join(SHARED, "suite", "filmtrust")
needs_filmtrust = pytest.mark.skipif(
    not os.path.isfile(os.path.join(FILMTRUST, "train.csv.xz")),
    reason=f"the suite's data is not under {SHARED} (set MIXREC_SHARED_DATA)")


def test_bench_scale_scaled_down():
    figures = speed.bench_scale(20_000, 2_000, 400_000, repeat=1, K=4)
    assert figures["ratings"] == 400_000
    assert figures["iteration_s"] > 0 and figures["peak_gb"] > 0


# ---------------------------------------------------------------------------------------
# EASE

def test_ease_weights_solve_each_items_constrained_ridge_regression():
    # B[:, j] minimises |X_j - X b|^2 + lam |b|^2 with b_j = 0: a ridge regression of item
    # j on the other items, solved directly here
    rng = np.random.RandomState(0)
    X = (rng.uniform(size=(40, 7)) < 0.4).astype(float)
    lam = 3.0
    B = suite.ease_weights(X.T @ X, lam)
    for j in range(7):
        others = np.delete(np.arange(7), j)
        Xo = X[:, others]
        b = np.linalg.solve(Xo.T @ Xo + lam * np.eye(6), Xo.T @ X[:, j])
        np.testing.assert_allclose(B[others, j], b, atol=1e-10)
        assert B[j, j] == 0


def test_ease_lists_leave_out_rated_items_and_rank_items_outside_b_last():
    X = sparse.csr_array(np.array([[1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [0, 1, 1, 0, 1],
                                   [1, 1, 1, 0, 0]], dtype=float) * 4)
    lists = suite.ease_lists(X, 1.0, np.array([0, 1]), max_items=3, n=4)
    assert lists.shape == (2, 4)
    assert lists[0].tolist() == [2, 3, 4, -1]  # the one item of B unrated, then by index
    assert lists[1][0] == 1  # item 1 is in B, 3 and 4 (rated once or never) are not
    # with every item in B, user 1's unrated items are ranked by X[1] @ B
    B = suite.ease_weights((X.T @ X).toarray() / 16, 1.0)
    scores = np.array([1, 0, 1, 0, 0.0]) @ B
    full = suite.ease_lists(X, 1.0, np.array([1]), n=3)[0]
    expected = sorted([1, 3, 4], key=lambda i: (-scores[i], i))
    assert full.tolist() == expected


def test_ease_lists_equal_a_full_ranking_with_the_items_outside_b_last():
    rng = np.random.RandomState(1)
    R = (rng.uniform(size=(30, 25)) < 0.3) * rng.randint(1, 6, (30, 25))
    R[3] = np.arange(25) < 20  # user 3 rates all but five items
    X = sparse.csr_array(R.astype(float))
    P = (X.toarray() > 0).astype(float)
    counts = P.sum(0)
    keep = np.sort(np.lexsort((np.arange(25), -counts))[:8])
    B = np.zeros((25, 25))
    B[np.ix_(keep, keep)] = suite.ease_weights(P[:, keep].T @ P[:, keep], 5.0)
    users = np.arange(30)
    found = suite.ease_lists(X, 5.0, users, max_items=8, n=10)
    for u in users:
        score = np.where(np.isin(np.arange(25), keep), P[u] @ B, -np.inf)
        unrated = [i for i in range(25) if P[u, i] == 0]
        expected = sorted(unrated, key=lambda i: (-score[i], i))[:10]
        assert found[u].tolist() == expected + [-1] * (10 - len(expected))


# ---------------------------------------------------------------------------------------
# The measures

def test_cold_pairs_are_counted_by_side_and_rmse_split_by_warmth():
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
    # 0.5-5: the top quarter starts at 3.875
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


# ---------------------------------------------------------------------------------------
# The tables

def test_the_rating_table_formats_known_figures_and_flags_calibration():
    rows = [("mixrec (defaults)", {"rmse": 0.81234, "rmse_warm": 0.8, "within_one": 0.7,
                                   "within_two": 0.9, "fit_s": 12.345, "cpu_s": 11.0,
                                   "peak_gb": 0.5}),
            ("myFM", {"rmse": 0.9, "rmse_warm": 0.91, "fit_s": 3.0, "kept": 40})]
    lines = suite.rating_table(rows).splitlines()
    assert lines[0].startswith("| method | RMSE all lines | RMSE warm | within 1 std | "
                               "within 2 std | fit s |")
    assert lines[2] == ("| mixrec (defaults) | 0.8123 | 0.8000 | 70.0% | 90.0% (!) | 12.3 | "
                        "11.0 | 0.50 |")
    assert lines[3] == "| myFM (40 draws) | 0.9000 | 0.9100 |  |  | 3.0 |  |  |"


def _entry():
    lists = {"precision": 0.1, "recall": 0.2, "ndcg": 0.3, "n_users": 5, "s": 1.0}
    me = {"rmse": 0.9, "rmse_warm": 0.85, "within_one": 0.7, "within_two": 0.95,
          "fit_s": 2.0, "cpu_s": 2.0, "peak_gb": 0.1, "lines": 100, "merged_pairs": 1,
          "merge_policy": "mean", "users": 10, "items": 20, "timestamps": False,
          "test_lines": 12, "cold": 3, "user_absent": 1, "item_absent": 2,
          "choices": {"day_biases": False, "item_stages": 2, "item_components": 4,
                      "blend": True, "std_factor": 1.0},
          "lists": {"relevance": lists}, "popular": {**lists, "ndcg": 0.25}}
    return {"info": {"peer_budget_s": 150.0},
            "mixrec": me,
            "stages": {**me, "rmse": 0.95, "lists": {"relevance": {**lists, "ndcg": 0.2},
                                                      "rating": "skipped: over budget (lists)"}},
            "ease": {"precision": 0.2, "recall": 0.3, "ndcg": 0.4, "fit_s": 1.0,
                     "params": {"lambda": 100}, "items_used": 5, "items": 20},
            "svd": {"name": "surprise SVD", "result": {"rmse": 0.92, "rmse_warm": 0.9,
                                                       "fit_s": 1.0}},
            "myfm-implicit": {"name": "myFM, implicit", "result": {
                "rmse": 0.8, "rmse_warm": 0.79, "fit_s": 9.0, "kept": 7,
                "ordered_probit": True}},
            "svdpp": {"name": "surprise SVD++", "result": "skipped: over budget"},
            "implicit-als": "killed: over the time limit (300 s wall)"}


def test_the_rows_are_sorted_and_every_skip_said_once(capsys):
    entry = _entry()
    rows, skips = suite.rating_rows(entry)
    assert [name for name, _ in rows] == ["myFM, implicit, ordered probit",
                                          "mixrec (defaults)", "surprise SVD",
                                          suite.NAMES["stages"]]
    assert skips == [("surprise SVD++", "skipped: over budget"),
                     ("implicit-als", "killed: over the time limit (300 s wall)")]
    names = [name for name, _ in suite.list_rows(entry)]
    assert names == ["EASE (lambda 100, top 5 of 20 items)", "mixrec (defaults), by relevance",
                     "most popular (training ratings)",
                     suite.NAMES["stages"] + ", by relevance"]
    meta = {"machine": "m", "parallel_jobs": 2, "budget_s": 300.0, "load_start": (1, 1, 1),
            "load_end": (2, 2, 2), "load_1min_during": {"min": 1, "max": 3, "mean": 2},
            "wall_s": 600, "command": "c", "date": "d", "versions": {"numpy": "2"},
            "peers_missing": {"cornac": "not measured"}}
    suite.print_report({"meta": meta, "datasets": {"x": entry, "y": {"skipped": "no files"}}})
    out = capsys.readouterr().out
    assert "12 test lines, 3 of them cold (user absent 1, item absent 2)" in out
    assert "Peers' budget here: 150 s (not 300 s)." in out
    assert out.count("over the time limit") == 1 and out.count("over budget") == 2
    assert f"- {suite.NAMES['stages']}, by rating: skipped: over budget (lists)" in out
    assert "| EASE (lambda 100, top 5 of 20 items) | 0.2000 | 0.3000 | 0.4000 | 1.0 |" in out
    assert "## y\n\nskipped: no files" in out and "- cornac: not measured" in out


# ---------------------------------------------------------------------------------------
# The runner

def test_jobs_are_run_killed_over_time_failed_and_reused(tmp_path):
    py = sys.executable
    jobs = [suite.Job("d", "ok", [py, "-c", "print('noise'); print('{\"a\": 1}')"], 30, 1),
            suite.Job("d", "slow", [py, "-c", "import time; time.sleep(30)"], 0.5, 3),
            suite.Job("d", "bad", [py, "-c", "raise SystemExit('no data here')"], 30, 2)]
    suite.run_jobs(jobs, 3, str(tmp_path), log=lambda *a, **k: None)
    ok, slow, bad = (job.result for job in jobs)
    assert ok["a"] == 1 and ok["wall_s"] > 0
    assert slow == "killed: over the time limit (0 s wall)"
    assert bad == "failed (exit 1): no data here"
    # a job whose JSON is there is not run again
    again = suite.Job("d", "ok", [py, "-c", "raise SystemExit(3)"], 30, 1)
    suite.run_jobs([again], 1, str(tmp_path), log=lambda *a, **k: None)
    assert again.result == ok


def test_the_options_peers_and_missing_data(tmp_path, capsys, monkeypatch):
    args = suite._parse_args(["--peer-budget", "epinions-tang=150"])
    assert args.peer_budget == {"epinions-tang": 150.0} and args.budget == 600
    for bad in ("epinions-tang", "jokes=3"):
        with pytest.raises(SystemExit):
            suite._parse_args(["--peer-budget", bad])
    monkeypatch.delenv("MYFM_PYTHON", raising=False)
    found, missing = suite._peer_pythons("myfm", None)
    assert found == {} and "MYFM_PYTHON" in missing["myfm"]
    with pytest.raises(SystemExit):
        suite._peer_pythons("surprise,nope", None)
    assert suite.main(["--data-dir", str(tmp_path), "--peers", "none"]) == 0
    assert "Skipped" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------
# peers.py's own protocol (run by the project's python where pandas is there)

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


@needs_filmtrust
def test_the_peers_validation_split_is_make_splits_rule():
    pytest.importorskip("pandas")
    from benchmarks import peers
    with lzma.open(os.path.join(FILMTRUST, "ratings.csv.xz"), "rt") as f:
        lines = f.read().splitlines()[1:]
    with lzma.open(os.path.join(FILMTRUST, "test.csv.xz"), "rt") as f:
        test = f.read().splitlines()[1:]
    hold = peers.holdout_mask([line.split(",")[0] for line in lines], 0.1, seed=0)
    assert [line for line, h in zip(lines, hold) if h] == test


@needs_filmtrust
def test_the_cold_pairs_of_filmtrust_are_counted_as_the_peers_count_them():
    pytest.importorskip("pandas")
    from benchmarks import peers
    train, test = (os.path.join(FILMTRUST, f"{p}.csv.xz") for p in ("train", "test"))
    X, user_ids, item_ids = suite.mixrec.load_ratings(train)
    rows, cols, values = suite.mixrec.load_test_ratings(test, user_ids, item_ids)
    split = peers.Split(peers.read_frame(train), peers.read_frame(test))
    counts = suite.cold_counts(rows, cols)
    assert len(values) == len(split.test) == 3550
    assert counts["cold"] == int((~split.warm).sum()) == counts["item_absent"] == 85
    users = suite.relevant_pairs(rows, cols, values, (X.data.min(), X.data.max()))[2]
    assert len(users) == len(split.eval_users)


@pytest.mark.skipif(not os.path.isfile(os.environ.get("SURPRISE_PYTHON", "")),
                    reason="no scratch environment of scikit-surprise ($SURPRISE_PYTHON)")
def test_a_peer_scores_every_test_line_cold_ones_included(tmp_path):
    # every training rating 3: BaselineOnly predicts 3 for every pair, known or not
    (tmp_path / "train.csv").write_text(
        "user,item,rating\n" + "".join(f"{u},{i},3\n" for u in "abc" for i in "xy"))
    (tmp_path / "test.csv").write_text("user,item,rating\na,x,1\nb,y,5\nz,x,3\n")
    argv = [os.environ["SURPRISE_PYTHON"], os.path.join(suite.HERE, "peers.py"), "baselineonly",
            str(tmp_path / "train.csv"), str(tmp_path / "test.csv")]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    found = json.loads(out.stdout.splitlines()[-1])["result"]
    assert found["n_cold"] == 1
    assert found["rmse"] == pytest.approx(np.sqrt(8 / 3))
    assert found["rmse_warm"] == pytest.approx(2.0)

"""Tests of recommender.py's Recommender: ids in and ids out, held against the index-level
functions it stands on, from a file, a data frame or columns, saved and loaded."""
import numpy as np
import pytest

import mixrec
import synthetic
from test_fit import FAST


def planted_file(tmp_path, header="userId,movieId,rating,timestamp"):
    X, _ = synthetic.planted_sparse_ratings(80, 25, 1600, K=3, seed=4)
    rows = np.repeat(np.arange(80), np.diff(X.indptr))
    path = tmp_path / "ratings.csv"
    path.write_text(header + "\n" + "".join(
        f"u{r:03d},{100 + c},{v:g},{1_000_000_000 + 3600 * k}\n"
        for k, (r, c, v) in enumerate(zip(rows, X.indices, X.data))))
    return path, X


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    path, X = planted_file(tmp_path_factory.mktemp("rec"))
    return mixrec.Recommender(**FAST).fit(path), path, X


def test_predictions_in_ids_are_the_index_level_predictions(fitted):
    rec, _, _ = fitted
    users, items = np.array(["u003", "u050", "u003"]), np.array([101, 124, 105])
    found = rec.predict(users, items)
    rows = mixrec.index_of(rec.user_ids, users)
    cols = mixrec.index_of(rec.item_ids, items)
    pred, std = mixrec.predict(rec.model, rows, cols, return_std=True)
    np.testing.assert_array_equal(found.prediction, pred)
    np.testing.assert_array_equal(found.std, std)
    assert found.known.all() and list(found.users) == list(users)


def test_an_unknown_id_is_named_or_scored_by_the_baseline(fitted):
    rec, _, _ = fitted
    with pytest.raises(ValueError, match=r"user 'nobody' is not in the model \(80 users\); "
                                         "unknown='baseline'"):
        rec.predict(["u001", "nobody"], [101, 101])
    with pytest.raises(ValueError, match="item '999' is not in the model"):
        rec.predict(["u001"], [999])
    found = rec.predict(["u001", "nobody"], [101, 999], unknown="baseline")
    assert found.known.tolist() == [True, False]
    baseline = mixrec.predict(mixrec.baseline_only(rec.model), [-1], [-1], unknown=True)
    assert found.prediction[1] == pytest.approx(baseline[0])
    with pytest.raises(ValueError, match="unknown must be one of"):
        rec.predict(["u001"], [101], unknown="skip")
    # an index in range is not an id: u1 is a user, 1 is not
    with pytest.raises(ValueError, match="user '1' is not in the model"):
        rec.recommend(1)


def test_a_users_list_in_item_ids_is_the_index_level_list(fitted):
    rec, _, X = fitted
    found = rec.recommend("u007", n=5)
    row = int(mixrec.index_of(rec.user_ids, ["u007"])[0])
    listed = mixrec.top_n(rec.model, None, row, 5)
    assert found.items.tolist() == (rec.item_ids[listed.items]).tolist()
    np.testing.assert_array_equal(found.key, listed.key)
    rated = set((100 + X.indices[X.indptr[7]:X.indptr[8]]).tolist())
    assert not set(found.items.tolist()) & rated and found.ranking == "relevance"
    by_rating = rec.recommend("u007", n=5, ranking="rating")
    assert np.all(np.diff(by_rating.rating) <= 0)
    stranger = rec.recommend("stranger", n=3, unknown="baseline")
    assert len(stranger.items) == 3


def test_a_new_user_is_placed_from_ratings_by_item_id(fitted):
    rec, _, _ = fitted
    mine = {101: 5.0, 104: 1.0, 110: 4.5, 99999: 3.0}  # one item the model lacks
    found = rec.recommend_new(mine, n=4)
    assert len(found.items) == 4 and not {101, 104, 110} & set(found.items.tolist())
    again = rec.recommend_new((list(mine), list(mine.values())), n=4)
    assert again.items.tolist() == found.items.tolist()


def test_save_and_load_keep_the_ids_and_the_answers(fitted, tmp_path):
    rec, _, _ = fitted
    path = tmp_path / "rec.npz"
    rec.save(path)
    back = mixrec.Recommender.load(path)
    assert back.user_ids.tolist() == rec.user_ids.tolist()
    assert back.item_ids.tolist() == rec.item_ids.tolist()
    np.testing.assert_array_equal(back.predict(["u010"], [103]).prediction,
                                  rec.predict(["u010"], [103]).prediction)
    groups = back.groups(n=2)
    assert sum(g.weight for g in groups) == pytest.approx(1)
    assert all(set(g.above.tolist()) <= set(rec.item_ids.tolist()) for g in groups)
    with pytest.raises(ValueError, match="not fitted: call fit"):
        mixrec.Recommender().predict(["u1"], [1])


def test_a_data_frame_and_columns_give_the_file_s_model(fitted):
    pd = pytest.importorskip("pandas", reason="pandas is optional")
    rec, path, _ = fitted
    frame = pd.read_csv(path, dtype={"userId": str})
    frame = frame[["movieId", "rating", "timestamp", "userId"]]  # names, in any order
    from_frame = mixrec.Recommender(**FAST).fit(frame)
    np.testing.assert_allclose(from_frame.model.user_factors, rec.model.user_factors)
    from_columns = mixrec.Recommender(**FAST).fit(users=frame.userId, items=frame.movieId,
                                                  ratings=frame.rating,
                                                  timestamps=frame.timestamp)
    np.testing.assert_allclose(from_columns.model.item_factors, rec.model.item_factors)
    renamed = frame.rename(columns={"userId": "who", "movieId": "what", "rating": "stars"})
    with pytest.raises(ValueError, match="name no user and no item"):
        mixrec.Recommender(**FAST).fit(renamed)
    mixrec.Recommender(**FAST).fit(renamed, columns={"user": "who", "item": "what",
                                                     "rating": "stars"})


def test_results_become_data_frames_with_pandas(fitted):
    pd = pytest.importorskip("pandas", reason="pandas is optional")
    rec, _, X = fitted
    fewest = f"u{int(np.argmin(np.diff(X.indptr))):03d}"  # a user with items left to list
    frame = rec.recommend(fewest, n=3).to_frame()
    assert list(frame.columns) == ["rank", "item", "rating", "std", "relevance"]
    assert isinstance(frame, pd.DataFrame) and len(frame) == 3
    table = rec.predict(["u001"], [101], std=False).to_frame()
    assert list(table.columns) == ["user", "item", "prediction", "known"]


def test_to_frame_without_pandas_says_how_to_get_it(fitted, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "pandas", None)
    rec, _, _ = fitted
    with pytest.raises(ValueError, match="to_frame needs pandas: pip install pandas"):
        rec.recommend("u001", n=2).to_frame()


def test_a_fit_says_what_it_merged(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("user,item,rating\n" + "".join(f"{u},{i},{(u + i) % 5 + 1}\n"
                                                    for u in range(20) for i in range(6))
                    + "3,2,1\n")
    rec = mixrec.Recommender(**FAST).fit(path)
    assert rec.summary["merged"] == 1 and rec.summary["duplicates"] == "mean"
    with pytest.raises(ValueError, match="rated again"):
        mixrec.Recommender(**FAST).fit(path, duplicates="refuse")
    with pytest.raises(ValueError, match="n_seeds must be an integer >= 1"):
        mixrec.Recommender(n_seeds=0)


# ---------------------------------------------------------------------------------------
# A data frame's columns: one clear error, never the first match (D4)

def _tiny_frame(pd, **more):
    return pd.DataFrame({"userId": [1, 1, 2, 2], "movieId": [10, 20, 10, 20],
                         "rating": [1.0, 2.0, 3.0, 4.0], **more})


@pytest.mark.parametrize("more, match", [
    ({"score": 1.0}, "columns 'rating' and 'score' both name the rating"),
    ({"title": ["A", "B", "A", "B"]}, "columns 'movieId' and 'title' both name the item"),
    ({"user": [1, 1, 2, 2]}, "columns 'userId' and 'user' both name the user"),
])
def test_regression_a_role_two_frame_columns_name_is_refused(more, match):
    pd = pytest.importorskip("pandas", reason="pandas is optional")
    with pytest.raises(ValueError, match=match):
        mixrec.Recommender(**FAST).fit(_tiny_frame(pd, **more))


@pytest.mark.parametrize("columns, match", [
    ({"user": "userId", "item": "userId", "rating": "rating"},
     "columns gives the column 'userId' two roles"),
    ({"usr": "userId", "item": "movieId", "rating": "rating"}, "names the role 'usr'"),
    ({"user": "x", "item": "movieId", "rating": "rating"},
     r"columns\['user'\] is 'x', which is not a column of the frame"),
])
def test_regression_a_conflicting_or_impossible_mapping_is_refused(columns, match):
    pd = pytest.importorskip("pandas", reason="pandas is optional")
    with pytest.raises(ValueError, match=match):
        mixrec.Recommender(**FAST).fit(_tiny_frame(pd), columns=columns)


def test_regression_frames_with_integer_column_names_and_other_data_are_handled():
    pd = pytest.importorskip("pandas", reason="pandas is optional")
    frame = pd.DataFrame({0: np.repeat(np.arange(20), 6), 1: np.tile(np.arange(6), 20),
                          2: np.arange(120) % 5 + 1.0})
    rec = mixrec.Recommender(**FAST).fit(frame, columns="user,item,rating")
    assert len(rec.user_ids) == 20
    with pytest.raises(ValueError, match="give timestamps as a column of data"):
        mixrec.Recommender(**FAST).fit(_tiny_frame(pd), timestamps=[1, 2, 3, 4])
    for data in ([(1, 1, 5.0)], np.ones((3, 3)), 3, {"user": [1]}):
        with pytest.raises(ValueError, match="data must be a ratings file's path or a data "
                                             "frame"):
            mixrec.Recommender(**FAST).fit(data)


def test_regression_timezone_aware_datetimes_are_taken_in_utc():
    pd = pytest.importorskip("pandas", reason="pandas is optional")
    when = pd.to_datetime(["2005-01-07 23:30"] * 120).tz_localize("Europe/Paris")
    frame = pd.DataFrame({"user": np.repeat(np.arange(20), 6), "item": np.tile(np.arange(6), 20),
                          "rating": np.arange(120) % 5 + 1.0, "time": when})
    rec = mixrec.Recommender(**FAST).fit(frame)
    assert rec.summary["timestamps"]
    utc = 12790 * 86400.0 + 22.5 * 3600  # 2005-01-07 22:30 UTC
    same = mixrec.Recommender(**FAST).fit(frame.assign(time=utc))
    for name in ("days", "day_users", "day_bias", "user_bias"):
        np.testing.assert_array_equal(getattr(rec.model, name), getattr(same.model, name))


# ---------------------------------------------------------------------------------------
# Every bad argument a ValueError naming it; an empty request an empty answer (D18, D19)

def test_regression_bad_arguments_of_the_recommender_are_value_errors_naming_them(fitted):
    rec, path, _ = fitted
    for call, match in [
            (lambda: rec.recommend_new({101: {}}), "ratings must be numbers"),
            (lambda: rec.recommend_new({101: "abc"}), "ratings must be numbers"),
            (lambda: rec.recommend_new(None), r"ratings must be \{item id: rating\} or"),
            (lambda: rec.recommend_new([1, 2, 3]), r"ratings must be \{item id: rating\}"),
            (lambda: mixrec.Recommender().recommend_new({1: 5.0}), "is not fitted"),
            (lambda: rec.groups(min_ratings="5"), "min_ratings must be a number >= 0"),
            (lambda: rec.groups(min_ratings=float("nan")), "min_ratings must be a number"),
            (lambda: rec.recommend("u001", ranking=["rating"]), "ranking must be one of"),
            (lambda: mixrec.Recommender(**FAST).fit(path, callback=3),
             "callback must be a callable or None, got int"),
            (lambda: mixrec.Recommender(**FAST).fit(path, client="tcp://x:8786"),
             "client must be a dask.distributed.Client"),
            (lambda: rec.save(None), "must be a str or path-like, got NoneType"),
            (lambda: mixrec.Recommender.load(None), "must be a str or path-like")]:
        with pytest.raises(ValueError, match=match):
            call()


def test_regression_an_empty_request_gets_an_empty_answer(fitted):
    rec, _, _ = fitted
    found = rec.predict([], [])
    assert found.prediction.shape == (0,) and found.known.shape == (0,)
    assert len(rec.recommend_new({}, n=3).items) == 3  # a new user with no rating yet

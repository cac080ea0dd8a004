"""Tests of the course's matrices and generators, ratings files as read, and held-out splits."""
import numpy as np
import pytest
from scipy import sparse

import course
import mixrec
import synthetic
from mixrec import fastpath, ratingsfile
from test_em import X_OK, random_ratings



def test_load_matrix_names_missing_and_malformed_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.txt"):
        course.load_matrix(tmp_path / "nowhere.txt")
    bad = tmp_path / "ragged.txt"
    bad.write_text("1 2 3\n4 5\n")
    with pytest.raises(ValueError, match="ragged.txt"):
        course.load_matrix(bad)
    good = tmp_path / "one_row.txt"
    good.write_text("1 0 3\n")
    np.testing.assert_array_equal(course.load_matrix(good), [[1, 0, 3]])


def test_synthetic_default_is_deterministic_and_netflix_like():
    X, X_complete, planted = synthetic.synthetic_ratings(n=200, d=100, K=4, seed=0)
    X2, _, _ = synthetic.synthetic_ratings(n=200, d=100, K=4, seed=0)
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
    X_train, hidden = mixrec.holdout(original, 0.25, seed=1)
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
    a = mixrec.holdout(X, 0.2, seed=4)
    b = mixrec.holdout(sparse.csr_array(X), 0.2, seed=4)
    np.testing.assert_array_equal(a[0], b[0].toarray())
    for x, y in zip(a[1], b[1]):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(mixrec.holdout(X, 0.2, seed=5)[1].rows, a[1].rows) or \
        not np.array_equal(mixrec.holdout(X, 0.2, seed=5)[1].cols, a[1].cols)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, np.nan, "0.1"])
def test_holdout_refuses_impossible_fractions(fraction):
    with pytest.raises(ValueError, match=r"fraction must be a number in \[0, 1\)"):
        mixrec.holdout(X_OK, fraction)


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
    X, users, items = mixrec.load_ratings(path)
    np.testing.assert_array_equal(users, [7, 9])
    np.testing.assert_array_equal(items, [10, 20])
    np.testing.assert_array_equal(X.toarray(), [[4, 5], [1, 0]])


def test_load_ratings_remaps_string_ids(tmp_path):
    path = tmp_path / "ratings.csv"
    path.write_text("bob,film-b,3.5\nalice,film-a,2\nbob,film-a,1\n")
    X, users, items = mixrec.load_ratings(path)
    assert list(users) == ["alice", "bob"] and list(items) == ["film-a", "film-b"]
    np.testing.assert_array_equal(X.toarray(), [[2, 0], [1, 3.5]])


@pytest.mark.parametrize("text, match", [
    ("1 2 3\n1 3\n", r"line 2: expected 'user item rating \[timestamp\]', got 2 fields"),
    ("1 2 3\n1 3 x\n", r"line 2: rating 'x' is not a number"),
    ("1 2 3\n1 3 nan\n", r"line 2: rating must be a finite number"),
    ("1 2 3\n1 3 -inf\n", r"line 2: rating must be a finite number"),
    ("1 2 3 4 5\n", r"line 1: expected"),
])
def test_load_ratings_names_the_file_and_line_of_a_bad_line(tmp_path, text, match):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(ValueError, match="bad.txt, " + match):
        mixrec.load_ratings(path)


def test_load_ratings_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.dat"):
        mixrec.load_ratings(tmp_path / "nowhere.dat")


# ---------------------------------------------------------------------------------------
# The scale checks of bench.py, scaled down (correctness only; timings live in bench.py)

def test_planted_sparse_ratings_are_exact_and_canonical():
    X, planted = synthetic.planted_sparse_ratings(5000, 300, 150_000, K=5, seed=3,
                                              users_per_chunk=700)
    assert X.shape == (5000, 300) and X.nnz == 150_000
    assert X.has_canonical_format  # sorted, no repeated (user, item)
    assert set(np.unique(X.data)) <= {1, 2, 3, 4, 5}
    assert np.diff(X.indptr).min() >= 1
    again, _ = synthetic.planted_sparse_ratings(5000, 300, 150_000, K=5, seed=3)
    assert (X != again).nnz == 0  # chunking does not change the draw


# ---------------------------------------------------------------------------------------
# Ratings files as users have them (regressions, each named after what it guards)

def load_text(tmp_path, text, name="r.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode(encoding))
    return mixrec.load_ratings(path)


@pytest.mark.parametrize("text, line, match", [
    ("1,31,2.5,1\n1,,4,881250949\n", 2, "field 2 is empty"),
    ("1,31,2.5,1\n1,32,,1260759179\n", 2, "field 3 is empty"),
    ("1,31,2.5,1,,,5\n", 1, "got 7 fields"),
    ("1,31,2.5\n1,32,3,4,5\n", 2, "got 5 fields"),
])
def test_an_empty_or_extra_field_is_refused_not_shifted(tmp_path, text, line, match):
    with pytest.raises(ValueError, match=f"r.csv, line {line}: .*{match}"):
        load_text(tmp_path, text)


def test_empty_trailing_fields_are_accepted_as_a_spreadsheet_exports_them(tmp_path):
    X, users, items = load_text(tmp_path, "userId,movieId,rating,timestamp,,\n"
                                          "1,31,2.5,1260759144,,,,\n2,31,4,1260759145,,,,\n")
    np.testing.assert_array_equal(X.toarray(), [[2.5], [4]])


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_id(tmp_path):
    X, users, items = load_text(tmp_path, "\ufeff1,10,4\n2,10,3\n10,10,5\n")
    np.testing.assert_array_equal(users, [1, 2, 10])  # numbers, in numeric order


def test_quoted_ids_keep_their_spaces(tmp_path):
    X, users, items = load_text(tmp_path, '"user 1",5,3\n"user 2",5,4\n')
    assert list(users) == ["user 1", "user 2"] and list(items) == [5]


@pytest.mark.parametrize("content, match", [
    ("1,2,3\n".encode("utf-16"), "UTF-16"),
    (b"\x1f\x8b\x08\x00rest", "its compressed data is damaged"),  # gzip, but broken
    (b"1,2,3\n\x00\x01\x02", "NUL bytes"),
    ("1,2,3\ncaf\u00e9,2,3\n".encode("latin-1"), r"line 2: not UTF-8 text"),
])
def test_files_that_are_not_utf8_text_say_so_naming_the_file(tmp_path, content, match):
    with pytest.raises(ValueError, match=f"r.csv.*{match}"):
        load_text(tmp_path, content)


def test_an_id_beyond_int64_makes_its_column_text_sorted_as_text(tmp_path):
    X, users, items = load_text(tmp_path, f"{2 ** 70},1,3\n5,1,4\n")
    assert list(users) == [str(2 ** 70), "5"] and list(items) == [1]
    np.testing.assert_array_equal(X.toarray(), [[3], [4]])


def test_an_error_quotes_a_short_prefix_of_a_long_line(tmp_path):
    with pytest.raises(ValueError) as err:
        load_text(tmp_path, "1,2,3\n" + "x," * 100_000 + "\n")
    assert "line 2" in str(err.value) and len(str(err.value)) < 300


@pytest.mark.parametrize("text", ["", "\n\n  \n", "userId,movieId,rating,timestamp\n"])
def test_a_file_without_ratings_is_refused(tmp_path, text):
    with pytest.raises(ValueError, match="holds no ratings"):
        load_text(tmp_path, text)


@pytest.mark.parametrize("separator", [",", "\t", "::", " "])
def test_fast_and_slow_paths_read_the_same_matrix(tmp_path, separator, monkeypatch):
    X0, _ = synthetic.planted_sparse_ratings(300, 40, 3000, K=3, seed=4)
    rows = np.repeat(np.arange(300), np.diff(X0.indptr))
    order = np.random.RandomState(0).permutation(X0.nnz)  # lines in any order
    lines = [separator.join([str(7 * r + 3), str(c * 11), f"{v:g}", "978300760"])
             for r, c, v in zip(rows[order], X0.indices[order], X0.data[order])]
    path = tmp_path / "big.dat"
    path.write_text("\n".join(lines))  # no newline at the end, too
    monkeypatch.setattr(fastpath, "BLOCK_BYTES", 4096)  # many blocks, lines cut across them
    fast = mixrec.load_ratings(path)
    assert fast[0].nnz == X0.nnz and fast[0].indices.dtype == np.int32
    slow = mixrec.load_ratings(path, fast=False)
    for a, b in zip(fast[1:], slow[1:]):
        np.testing.assert_array_equal(a, b)
    assert (fast[0] != slow[0]).nnz == 0
    np.testing.assert_array_equal(fast[0].toarray(), X0.toarray())


def test_load_reports_progress_to_the_end(tmp_path):
    seen = []
    path = tmp_path / "r.csv"
    path.write_text("1,2,3\n" * 5 + "1,3,4\n")
    with pytest.raises(ValueError, match="rated again"):  # the repeated pair, named
        mixrec.load_ratings(path, duplicates="refuse")
    path.write_text("".join(f"{u},{i},3\n" for u in range(50) for i in range(20)))
    mixrec.load_ratings(path, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] == path.stat().st_size


def test_holdout_of_nothing_hides_nothing_and_its_seed_defaults_to_zero():
    X = random_ratings(30, 6, seed=3)
    X_train, hidden = mixrec.holdout(X, 0)
    np.testing.assert_array_equal(X_train, X)
    assert len(hidden.values) == 0
    default, seeded = mixrec.holdout(X, 0.3), mixrec.holdout(X, 0.3, seed=0)
    np.testing.assert_array_equal(default[0], seeded[0])


def test_sparse_holdout_when_the_last_users_rate_nothing_and_x_is_wider_than_tall():
    X = random_ratings(8, 40, seed=2)
    X[-3:] = 0  # the last users rate nothing
    X_train, hidden = mixrec.holdout(sparse.csr_array(X), 0.2, seed=1)
    assert X_train.shape == (8, 40)
    dense_train, dense_hidden = mixrec.holdout(X, 0.2, seed=1)
    np.testing.assert_array_equal(X_train.toarray(), dense_train)
    np.testing.assert_array_equal(hidden.values, dense_hidden.values)


def test_test_ratings_are_matched_to_the_training_ids(tmp_path):
    path = tmp_path / "test.csv"
    path.write_text("7,10,4\n9,99,2\n8,20,5\n")
    rows, cols, values = mixrec.load_test_ratings(path, np.array([7, 8]), np.array([10, 20]))
    np.testing.assert_array_equal(rows, [0, -1, 1])  # every line, in the file's order
    np.testing.assert_array_equal(cols, [0, -1, 1])
    np.testing.assert_array_equal(values, [4, 2, 5])


def test_a_header_after_a_block_of_blank_lines_is_still_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(fastpath, "BLOCK_BYTES", 64)  # the blank lines fill whole blocks
    path = tmp_path / "r.csv"
    path.write_text("\n" * 300 + "userId,movieId,rating\n1,10,4\n2,10,3\n")
    X, users, items = mixrec.load_ratings(path)
    np.testing.assert_array_equal(X.toarray(), [[4], [3]])


def test_lines_ended_by_carriage_returns_alone_are_read(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(b"userId,movieId,rating\r1,10,4\r2,10,3\r2,20,5\r")
    X, users, items = mixrec.load_ratings(path)
    np.testing.assert_array_equal(X.toarray(), [[4, 0], [3, 5]])
    path.write_bytes(b"1,10,4\r\n2,10,3\r\n2,20,x\r\n")  # Windows endings: lines counted right
    with pytest.raises(ValueError, match="mac.csv, line 3: rating 'x'"):
        mixrec.load_ratings(path)


# ---------------------------------------------------------------------------------------
# Any ratings file, exactly as written (each a regression of what a practitioner met)

@pytest.mark.parametrize("fast", [True, False])
def test_every_line_is_a_rating_zero_and_negative_ones_included(tmp_path, fast):
    path = tmp_path / "jester.csv"
    path.write_text("1,10,0.00\n1,20,-9.5\n2,10,7.25\n2,30,0\n")
    X, users, items = mixrec.load_ratings(path, fast=fast)
    assert X.nnz == 4 and sorted(X.data) == [-9.5, 0, 0, 7.25]
    X_train, hidden = mixrec.holdout(X, 0.5, seed=0)
    assert X_train.nnz + len(hidden.values) == 4  # the zeros are split, not dropped


def test_ids_are_the_files_own_text(tmp_path):
    path = tmp_path / "books.csv"
    path.write_text("0345339703,7,4\n007,7,5\n7,8,3\n\u0661,8,2\n")
    X, users, items = mixrec.load_ratings(path)
    assert list(users) == ["007", "0345339703", "7", "\u0661"]  # four users, as written
    assert users.dtype == object and list(items) == [7, 8] and items.dtype == np.int64
    assert list(mixrec.index_of(users, ["007", "7", "0345339703", "345339703"])) == [0, 2, 1, -1]
    assert list(mixrec.index_of(items, ["7", "07", "+7"])) == [0, -1, -1]


def test_integer_ids_are_a_fast_path_only_when_lossless(tmp_path, monkeypatch):
    calls = []
    real = ratingsfile._read_slow
    monkeypatch.setattr(ratingsfile, "_read_slow", lambda *a: calls.append(1) or real(*a))
    for text, slow in [("1,10,4\n22,3,5\n", False), ("01,10,4\n22,3,5\n", True),
                       ("1,+10,4\n", True), ("1, 10,4\n", True), ("1,10,4\n-2,3,5\n", True)]:
        calls.clear()
        path = tmp_path / "r.csv"
        path.write_text(text)
        X, users, items = mixrec.load_ratings(path)
        assert bool(calls) == slow, text
        assert ratingsfile.load_ratings(path, fast=False)[1].tolist() == users.tolist()


def test_string_ids_cost_their_own_length(tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("".join(f"user{u},item{u % 7},3\n" for u in range(2000)) +
                    "u" * 20_000 + ",item1,4\n")
    X, users, items = mixrec.load_ratings(path)
    assert users.dtype == object  # not a fixed-width <U20000 array of 2001 ids (160 MB)
    assert sum(len(u) for u in users) < 40_000


@pytest.mark.parametrize("text, error", [
    ("1,10,four\n2,10,3\n", "line 1: rating 'four' is not a number"),
    ("userId,movieId,rating\n1,10,four\n", "line 2: rating 'four' is not a number"),
])
def test_a_first_line_is_a_header_only_when_it_names_the_columns(tmp_path, text, error):
    path = tmp_path / "r.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=error):
        mixrec.load_ratings(path)


def test_the_separator_comes_from_the_data_lines_not_a_comment_or_header(tmp_path):
    path = tmp_path / "r.txt"
    path.write_text("# exported 2026, user;item;score, do not edit\n"
                    "user;item;score\n1;10;4\n2;10;3.5\n# a comment\n2;20;1\n")
    X, users, items = mixrec.load_ratings(path)
    np.testing.assert_array_equal(X.toarray(), [[4, 0], [3.5, 1]])
    assert ratingsfile.sniff(path).header == "user;item;score"


def test_regression_a_line_over_a_mebibyte_is_refused_as_soon_as_it_is_seen(tmp_path):
    path = tmp_path / "long.csv"
    with open(path, "w") as f:
        f.write("1,2,3\n" + "x" * (3 << 20) + ",2,3\n")
    for fast in (True, False):
        with pytest.raises(ValueError, match="long.csv, line 2: longer than 1 MiB"):
            mixrec.load_ratings(path, fast=fast)


def test_pairs_files_take_the_same_headers_and_keep_a_first_pair_of_known_ids(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("userId,movieId\n1,10\n2,20\n")
    users, items = mixrec.load_pairs(path)
    assert list(users) == [1, 2]
    path.write_text("alice,book\nbob,film\n")  # looks like a header, but names known ids
    known = (np.array(["alice", "bob"], dtype=object), np.array(["book", "film"], dtype=object))
    users, _ = mixrec.load_pairs(path, known=known)
    assert list(users) == ["alice", "bob"]
    path.write_text("userId,movieId\n")
    with pytest.raises(ValueError, match="holds no pairs"):
        mixrec.load_pairs(path)


@pytest.mark.parametrize("what, match", [
    ("dir", "is a directory, not a ratings file"),
    ("fifo", "is a FIFO, not a regular ratings file"),
    ("/dev/zero", "is a device, not a regular ratings file"),
])
def test_regression_a_directory_fifo_or_device_is_named_as_such(tmp_path, what, match):
    import os
    path = {"dir": tmp_path, "/dev/zero": "/dev/zero"}.get(what)
    if what == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    with pytest.raises(ValueError, match=match):
        mixrec.load_ratings(path)


def test_regression_utf32_is_called_utf32(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes("1,2,3\n".encode("utf-32"))
    with pytest.raises(ValueError, match="is UTF-32 text"):
        mixrec.load_ratings(path)


def test_timestamps_are_read_as_seconds_or_iso_dates(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("1,10,4,86400\n1,20,3,1970-01-03\n2,10,5\n")
    X, users, items, times = mixrec.load_ratings(path, timestamps=True)
    assert list(times[:2]) == [86400, 2 * 86400] and np.isnan(times[2])
    path.write_text("1,10,4,soon\n")
    with pytest.raises(ValueError, match="line 1: timestamp 'soon' is neither seconds"):
        mixrec.load_ratings(path, timestamps=True)


# ---------------------------------------------------------------------------------------
# From columns (a data frame's)

def test_from_triples_gives_what_load_ratings_gives(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("b,x,3\na,y,0\n007,x,-1\n")
    from_file = mixrec.load_ratings(path)
    from_columns = mixrec.from_triples(["b", "a", "007"], ["x", "y", "x"], [3, 0, -1])
    assert (from_file[0] != from_columns[0]).nnz == 0 and from_columns[0].nnz == 3
    for a, b in zip(from_file[1:], from_columns[1:]):
        assert list(a) == list(b)
    X, users, items = mixrec.from_triples(np.array([5, 3, 5]), [10, 10, 20], [1, 2, 3])
    assert users.dtype == np.int64 and list(users) == [3, 5]


def test_from_triples_takes_pandas_columns():
    pd = pytest.importorskip("pandas", reason="pandas is optional")
    frame = pd.DataFrame({"user": pd.array([1, 2, 2], dtype="Int64"),
                          "item": ["a", "b", "a"], "rating": [4.0, 0.0, 5.0]})
    X, users, items = mixrec.from_triples(frame.user, frame.item, frame.rating)
    assert list(users) == [1, 2] and list(items) == ["a", "b"] and X.nnz == 3


@pytest.mark.parametrize("users, items, ratings, match", [
    ([1, 1], [2, 2], [3, 4], r"the pair \(users\[0\], items\[0\]\) = \(1, 2\) is given again"),
    ([1, 2], [2, 2], [3, np.nan], r"ratings\[1\] is nan"),
    ([1, 2], [2], [3, 4], "must have the same length"),
    ([1, None], [2, 3], [3, 4], r"users\[1\] is None"),
    ([1.5, 2], [2, 3], [3, 4], "users must hold integer or string ids"),
    ([], [], [], "ratings is empty"),
])
def test_from_triples_refuses_what_load_ratings_refuses(users, items, ratings, match):
    with pytest.raises(ValueError, match=match):
        mixrec.from_triples(np.array(users, dtype=object) if None in users else users, items,
                            ratings, duplicates="refuse")


def test_holdout_leaves_a_read_only_sparse_input_untouched():
    S = sparse.csr_array(random_ratings(20, 6, seed=8))
    before = (S.data.copy(), S.indices.copy(), S.indptr.copy())
    S.data.flags.writeable = S.indices.flags.writeable = S.indptr.flags.writeable = False
    mixrec.holdout(S, 0.2)
    for a, b in zip(before, (S.data, S.indices, S.indptr)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("fmt", ["coo", "csr", "csc"])
def test_regression_a_sparse_x_storing_a_pair_twice_is_refused_not_summed(fmt):
    if fmt == "coo":
        X = sparse.coo_array((np.array([5.0, 3.0, 4.0]), (np.array([0, 1, 0]),
                                                          np.array([0, 1, 0]))), shape=(2, 2))
    else:  # the repeat stored by hand (scipy's conversions would sum it)
        X = {"csr": sparse.csr_array, "csc": sparse.csc_array}[fmt](
            (np.array([5.0, 4.0, 3.0]), np.array([0, 0, 1]), np.array([0, 2, 3])), shape=(2, 2))
    with pytest.raises(ValueError, match=r"X stores the pair \(row 0, column 0\) twice"):
        mixrec.as_ratings_matrix(X)
    with pytest.raises(ValueError, match="twice"):
        mixrec.fit(X, n_seeds=1, item_components=1, user_components=1, item_stages=1,
                   max_iter=1)
    kept = sparse.csr_array((np.array([5.0, 0.0]), np.array([0, 1]), np.array([0, 1, 2])),
                            shape=(2, 2))
    assert mixrec.as_ratings_matrix(kept).nnz == 2  # a stored 0 is a rating, not a repeat


def test_holdout_refuses_what_the_course_refuses():
    S = sparse.csr_array((np.array([1e308, 1e308, 3.]), np.array([0, 0, 1]),
                          np.array([0, 2, 3])), shape=(2, 2))
    with pytest.raises(ValueError, match="X must be finite"):
        mixrec.holdout(S, 0.5)  # duplicates summed before the finiteness check
    for seed in (1.5, "x", np.random.RandomState(0), True, -1):
        with pytest.raises(ValueError, match="seed must be an integer >= 0"):
            mixrec.holdout(X_OK, .2, seed)

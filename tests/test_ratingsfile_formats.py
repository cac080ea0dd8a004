"""Tests of ratings files as practitioners have them (mixrec/ratingsfile.py, textfiles.py):
pairs rated more than once, compressed files, columns by their names, and the hostile
passes' regressions on what a file may hold."""
import pytest

import mixrec
from mixrec import ratingsfile
from test_em import random_ratings


# ---------------------------------------------------------------------------------------
# Pairs rated more than once (issue 25): a documented policy

@pytest.mark.parametrize("fast", [True, False])
def test_a_pair_rated_twice_becomes_one_rating_by_the_policy(tmp_path, fast):
    path = tmp_path / "dup.csv"
    path.write_text("user,item,rating\n1,2,3\n1,3,4\n1,2,5\n2,2,1\n1,2,4\n")
    X, users, items = mixrec.load_ratings(path, fast=fast)  # no timestamps: the mean
    assert X.nnz == 3 and X[0, 0] == pytest.approx(4.0)
    assert mixrec.load_ratings(path, fast=fast, duplicates="first")[0][0, 0] == 3
    assert mixrec.load_ratings(path, fast=fast, duplicates="latest")[0][0, 0] == 4
    with pytest.raises(ValueError, match=r"dup.csv, line 4: the pair rated on line 2 is rated "
                                         "again"):
        mixrec.load_ratings(path, fast=fast, duplicates="refuse")
    found = ratingsfile.read(path, fast=fast)
    assert (found.merged, found.lines, found.policy) == (1, 5, "mean")


def test_with_timestamps_the_latest_rating_of_a_pair_is_kept_by_default(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("user,item,rating,timestamp\n1,2,3,300\n1,2,5,100\n1,2,4,\n2,2,1,5\n")
    X, _, _, times = mixrec.load_ratings(path, timestamps=True)
    assert X[0, 0] == 3 and times[0] == 300  # the line without a time is older than any
    X, _, _, times = mixrec.load_ratings(path, timestamps=True, duplicates="mean")
    assert X[0, 0] == pytest.approx(4.0) and times[0] == 300
    with pytest.raises(ValueError, match="duplicates must be one of latest, mean, first, "
                                         "refuse"):
        mixrec.load_ratings(path, duplicates="max")


# ---------------------------------------------------------------------------------------
# Compressed files, columns by name, one rule for a field's text (issues 25 and 26)

def _compressed(path, text, kind):
    import bz2
    import gzip
    import lzma
    import zipfile
    data = text.encode()
    if kind == "zip":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("ratings.csv", data)
    else:
        path.write_bytes({"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress}[kind](
            data))
    return path


@pytest.mark.parametrize("kind", ["gz", "bz2", "xz", "zip"])
def test_compressed_ratings_pairs_and_items_files_read_as_they_are(tmp_path, kind):
    text = "userId,movieId,rating,timestamp\n" + "".join(
        f"{u},{i},{(u + i) % 5 + 1},{1_000_000 + u}\n" for u in range(30) for i in range(7))
    plain = tmp_path / "plain.csv"
    plain.write_text(text)
    packed = _compressed(tmp_path / f"r.csv.{kind}", text, kind)
    for fast in (True, False):
        a, b = mixrec.load_ratings(plain, fast=fast), mixrec.load_ratings(packed, fast=fast)
        assert (a[0] != b[0]).nnz == 0 and list(a[1]) == list(b[1])
    users, items = mixrec.load_pairs(_compressed(tmp_path / f"p.{kind}", "user,item\n3,4\n",
                                                 kind))
    assert (users.tolist(), items.tolist()) == ([3], [4])
    ids_, titles = mixrec.load_items(_compressed(tmp_path / f"i.{kind}",
                                                 'movieId,title\n4,"A, film"\n', kind))
    assert titles.tolist() == ["A, film"]


def test_regression_a_decompression_bomb_is_refused_by_the_ratio_rule(tmp_path):
    import bz2
    path = tmp_path / "bomb.csv.bz2"
    path.write_bytes(bz2.compress(b"1,2,3\n" + b"#\n" * 2_000_000))  # 4 MB from ~100 bytes
    with pytest.raises(ValueError, match="decompresses to more than 1000 times its size"):
        mixrec.load_ratings(path)


def test_a_zip_of_several_files_or_a_zstd_file_is_refused_in_one_line(tmp_path):
    import zipfile
    path = tmp_path / "two.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("a.csv", "1,2,3\n")
        archive.writestr("b.csv", "1,2,3\n")
    with pytest.raises(ValueError, match="zip archive of 2 files; it must hold exactly one"):
        mixrec.load_ratings(path)
    zstd = tmp_path / "r.zst"
    zstd.write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 20)
    with pytest.raises(ValueError, match="zstd-compressed"):
        mixrec.load_ratings(zstd)


def test_regression_a_text_file_starting_with_bzh_is_text_not_bzip2(tmp_path):
    import bz2
    path = tmp_path / "bz.csv"
    path.write_text("BZhang,movie1,5\nalice,movie1,3\nBZh9,movie2,4\n")
    X, users, items = mixrec.load_ratings(path)[:3]
    assert sorted(users.tolist()) == ["BZh9", "BZhang", "alice"] and X.nnz == 3
    assert mixrec.load_pairs(tmp_path / "bz.csv")[0].tolist()[:1] == ["BZhang"]
    empty = tmp_path / "empty.bz2"  # an empty bzip2 stream is still bzip2
    empty.write_bytes(bz2.compress(b""))
    with pytest.raises(ValueError, match="empty.bz2") as found:
        mixrec.load_ratings(empty)
    assert "damaged" not in str(found.value)


@pytest.mark.parametrize("fast", [True, False])
def test_regression_a_header_in_another_order_is_honoured_not_taken_by_position(tmp_path,
                                                                               fast):
    path = tmp_path / "r.csv"
    path.write_text("movieId,rating,userId\n" + "".join(
        f"{10 + i},{(u * i) % 5 + 1},{u}\n" for u in range(1, 5) for i in range(3)))
    X, users, items = mixrec.load_ratings(path, fast=fast)
    assert users.tolist() == [1, 2, 3, 4] and items.tolist() == [10, 11, 12]
    assert X[1, 2] == (2 * 2) % 5 + 1
    pairs = tmp_path / "p.csv"
    pairs.write_text("movieId,userId\n11,3\n")
    assert [a.tolist() for a in mixrec.load_pairs(pairs)] == [[3], [11]]


def test_regression_columns_that_contradict_the_header_are_refused(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("userId,movieId,rating\n1,2,4\n2,2,3\n")
    with pytest.raises(ValueError, match=r"r.csv, line 1: the header names column 1 'userId' "
                                         r"\(a user\), but the columns given say it is the "
                                         r"item \(item,user,rating\)"):
        mixrec.load_ratings(path, columns="item,user,rating")
    assert mixrec.load_ratings(path, columns="user,item,rating")[0].nnz == 2  # agrees


def test_an_unknown_column_name_lists_the_known_ones_and_columns_names_them(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user,item,category,rating\n1,2,7,4\n2,2,7,3\n")
    with pytest.raises(ValueError, match=r"r.csv, line 1: the header names a column "
                                         r"'category'.*known names.*--columns"):
        mixrec.load_ratings(path)
    X, users, items = mixrec.load_ratings(path, columns="user,item,-,rating")
    assert X.toarray().tolist() == [[4.0], [3.0]]
    with pytest.raises(ValueError, match="names no rating column"):
        mixrec.load_ratings(path, columns="user,item,-,-")
    with pytest.raises(ValueError, match="columns names 'stars'"):
        mixrec.load_ratings(path, columns="user,item,-,stars")


@pytest.mark.parametrize("fast", [True, False])
def test_regression_an_id_is_the_same_text_on_every_line_and_in_every_file(tmp_path, fast):
    path = tmp_path / "r.csv"
    # no-break space, ideographic space, line separator, next line: never stripped; the
    # ASCII spaces around a field always are, whichever path a line takes
    path.write_text("a\xa0,1,4\na\xa0,2, 3\nb\u3000,1,2\nb\u3000 ,2,2\nc\u2028,1,1\nd\x85,1,1\n")
    X, users, items = mixrec.load_ratings(path, fast=fast)
    assert users.tolist() == ["a\xa0", "b\u3000", "c\u2028", "d\x85"]
    assert X.shape == (4, 2)
    pairs = tmp_path / "p.csv"
    pairs.write_text("a\xa0, 2\n")
    assert mixrec.load_pairs(pairs)[0].tolist() == ["a\xa0"]


def test_regression_a_nul_byte_past_the_first_64_kib_is_refused_naming_its_line(tmp_path):
    path = tmp_path / "r.csv"
    lines = [f"u{k},i{k % 7},3\n" for k in range(20_000)]
    lines[15_000] = "u1\x00x,i1,3\n"
    path.write_text("".join(lines))
    assert path.stat().st_size > 1 << 16
    with pytest.raises(ValueError, match="r.csv, line 15001: holds a NUL byte"):
        mixrec.load_ratings(path)


@pytest.mark.parametrize("text", ["NaT", "now", "today", "1e15", "-4e9", "2005-13-45"])
def test_regression_timestamps_out_of_range_or_not_dates_are_refused(tmp_path, text):
    path = tmp_path / "r.csv"
    path.write_text(f"1,2,3,{text}\n")
    with pytest.raises(ValueError, match="timestamp .* is neither seconds since 1970 nor an "
                                         "ISO date"):
        mixrec.load_ratings(path, timestamps=True)


def test_items_titles_may_span_lines_in_quotes_but_a_record_is_bounded(tmp_path):
    path = tmp_path / "movies.csv"
    path.write_text('movieId,title\n1,"Two\nlines"\n2,"Quote ""this"""\n')
    ids_, titles = mixrec.load_items(path)
    assert titles.tolist() == ["Two\nlines", 'Quote "this"']
    path.write_text('movieId,title\n1,"open\n' + ("x" * 1000 + "\n") * 2000)
    with pytest.raises(ValueError, match="movies.csv, line 2: a record runs past 1 MiB"):
        mixrec.load_items(path)
    path.write_text("movieId,title\n1," + "y" * (2 << 20) + "\n")  # one 2 MB line
    with pytest.raises(ValueError, match="movies.csv, line 2: longer than 1 MiB"):
        mixrec.load_items(path)


def test_regression_a_file_descriptor_or_none_is_refused_and_left_open(tmp_path):
    import os
    path = tmp_path / "r.csv"
    path.write_text("1,1,5\n1,2,4\n2,1,3\n")
    with open(path, "rb") as f:
        for call in (mixrec.load_ratings, mixrec.load_pairs, mixrec.load_items,
                     mixrec.load_user_ratings, mixrec.load):
            for bad in (f.fileno(), None):
                with pytest.raises(ValueError, match="file's path must be a str or path-like, "
                                                     f"got {type(bad).__name__}"):
                    call(bad)
        os.fstat(f.fileno())  # still the caller's
        assert f.read(5) == b"1,1,5"


def test_regression_the_mean_of_a_pairs_huge_ratings_does_not_overflow(tmp_path):
    import warnings
    path = tmp_path / "o.csv"
    path.write_text("1,1,1e308\n1,1,1.5e308\n1,2,3\n1,2,4\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "overflow encountered in reduceat"
        X = mixrec.load_ratings(path)[0]
        found = mixrec.from_triples([1, 1, 1], [2, 2, 3], [-1e308, -1.5e308, 5.0])[0]
    assert X.data.tolist() == [1.25e308, 3.5]  # a pair without overflow: summed, then divided
    assert found.data.tolist() == [-1.25e308, 5.0]


@pytest.mark.parametrize("fast", [True, False])
@pytest.mark.parametrize("line, match", [
    ("1,7,1_0", "rating '1_0' is not a number"),
    ("1,7,\uff13", "rating '\uff13' is not a number"),  # a fullwidth 3
    ("1,7,\u0663", "rating '\u0663' is not a number"),  # an Arabic-Indic 3
    ("1,7,3,1_000_000_000", "timestamp '1_000_000_000' is neither"),
])
def test_regression_numbers_are_ascii_only_as_np_loadtxt_reads_them(tmp_path, fast, line,
                                                                     match):
    path = tmp_path / "r.csv"
    path.write_text(f"{line}\n1,8,3" + (",1000000000" if line.count(",") == 3 else "") + "\n",
                    encoding="utf-8")
    with pytest.raises(ValueError, match="r.csv, line 1: " + match):
        mixrec.load_ratings(path, fast=fast)
    mine = tmp_path / "mine.csv"
    mine.write_text(line.split(",", 1)[1] + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="mine.csv, line 1: "):
        mixrec.load_user_ratings(mine)


def test_regression_sniffing_steps_over_blank_runs_at_once(tmp_path):
    import lzma
    import time
    from mixrec import textfiles
    path = tmp_path / "blank.csv"
    path.write_bytes(b"# a comment\n" + b"\n" * 5_000_000 + b"  \r\n1,7,5\n2,7,3\n")
    began = time.process_time()
    layout = textfiles.sniff(path)  # was a Python iteration per line: about 7 s
    assert time.process_time() - began < 2
    assert layout.data_offset == 12 + 5_000_000 + 4 and layout.n_fields == 3
    bomb = tmp_path / "bomb.csv.xz"
    bomb.write_bytes(lzma.compress(b"1,1,5\n" + b"\n" * 5_000_000, preset=0))  # 864 bytes
    began = time.process_time()
    with pytest.raises(ValueError, match="decompresses to more than 1000 times its size"):
        textfiles.sniff(bomb)
    assert time.process_time() - began < 2


def test_regression_bad_arguments_of_the_readers_are_value_errors_naming_them(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("1,1,5\n1,2,4\n2,1,3\n")
    for call, match in [
            (lambda: mixrec.load_ratings(path, columns=3), "columns must be a str"),
            (lambda: mixrec.load_ratings(path, progress=3), "progress must be a callable"),
            (lambda: mixrec.load_pairs(path, known=(1,)), r"known must be \(user_ids, item_"),
            (lambda: mixrec.load_test_ratings(path, None, None), "user_ids must be one-dim"),
            (lambda: mixrec.from_triples([1], [1], [1.0], duplicates=["mean"]),
             "duplicates must be one of")]:
        with pytest.raises(ValueError, match=match):
            call()


def test_regression_an_empty_zip_or_a_model_file_is_named_for_what_it_is(tmp_path):
    import zipfile
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w"):
        pass
    with pytest.raises(ValueError, match="empty.zip is an empty zip archive"):
        mixrec.load_ratings(empty)
    model = tmp_path / "m.npz"
    mixrec.save(mixrec.fit(random_ratings(20, 6, seed=3), n_seeds=1, item_stages=1,
                           user_stages=1, max_iter=1, blend_holdout=0), model)
    for call, what in ((mixrec.load_ratings, "ratings"), (mixrec.load_pairs, "pairs")):
        with pytest.raises(ValueError, match=r"m.npz is a model file \(written by fit or "
                                             rf"save\), not a {what} file"):
            call(model)

"""Tests of main.py, the command line: it prints what the library computes."""
import re

import numpy as np
import pytest

import data
import main
import recommender
from test_em import DATA, course_file


def test_main_reports_every_figure_matching(capsys):
    course_file("test_solutions.txt")
    course_file("netflix_incomplete.txt")
    assert main.main(["--data-dir", DATA, "--k", "1", "--seeds", "0"]) == 0
    out = capsys.readouterr().out
    assert "MISMATCH" not in out and out.count(" match ") == 18
    assert "All figures match." in out


def test_main_without_course_files_runs_the_synthetic_default(tmp_path, capsys):
    assert main.main(["--data-dir", str(tmp_path), "--k", "1", "3", "--seeds", "0"]) == 0
    out = capsys.readouterr().out
    assert "Course files missing" in out and "netflix_incomplete.txt" in out
    assert "Synthetic default" in out and "planted mixture itself" in out


def test_main_fits_a_ratings_file_and_compares_with_baselines(tmp_path, capsys):
    X, _ = data.planted_sparse_ratings(400, 60, 8000, K=3, seed=1)
    rows, cols = X.nonzero()
    path = tmp_path / "ratings.csv"
    path.write_text("".join(f"u{r},i{c},{v:g}\n" for r, c, v in zip(rows, cols, X.data)))
    assert main.main(["--ratings", str(path), "--k", "1", "3", "--seeds", "0"]) == 0
    captured = capsys.readouterr()
    assert "400 users x 60 items, 8000 ratings; 800 held out" in captured.out
    assert "Held-out RMSE of the global mean" in captured.out and "item means" in captured.out
    assert re.search(r"^\s+3\s+-\d+\.\d+\s+-\d+\.\d+\s+\d\.\d{4}\s+\d+", captured.out, re.M)
    assert re.search(r"Best held-out RMSE: K = [13]", captured.out)
    assert "loses here" not in captured.out  # on planted mixture data the course's model wins
    assert "K = 3 seed 0 iteration 1: log-likelihood" in captured.err


def test_main_reports_a_bad_ratings_file_without_a_traceback(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("1,2,3\n1,2\n")
    assert main.main(["--ratings", str(path)]) == 2
    assert "bad.csv, line 2: expected" in capsys.readouterr().err
    assert main.main(["--ratings", str(tmp_path / "none.csv")]) == 2
    assert "ratings file not found" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------
# Subcommands: fit, recommend, predict, groups

def write_ratings(path, X, user=lambda r: r + 1, item=lambda c: 10 * (c + 1)):
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
    path.write_text("userId,movieId,rating,timestamp\n" + "".join(
        f"{user(r)},{item(c)},{v:g},{1000 + k}\n"
        for k, (r, c, v) in enumerate(zip(rows, X.indices, X.data))))
    return path


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A ratings file, a movies.csv and a u.item for it, and a model fitted by `fit`."""
    folder = tmp_path_factory.mktemp("cli")
    X, _ = data.planted_sparse_ratings(300, 50, 6000, K=3, seed=5)
    ratings = write_ratings(folder / "ratings.csv", X)
    (folder / "movies.csv").write_text("movieId,title,genres\n" + "".join(
        f'{10 * (c + 1)},"Film {c}, The ({1950 + c})",Drama|Comedy\n' for c in range(50)),
        encoding="utf-8")
    (folder / "u.item").write_bytes("".join(
        f"{10 * (c + 1)}|Caf\u00e9 {c} (1995)|01-Jan-1995||http://x|0|1\n"
        for c in range(50)).encode("latin-1"))
    model = folder / "model.npz"
    assert main.main(["fit", str(ratings), "--out", str(model), "-q"]) == 0
    return folder, ratings, model, X


def test_fit_prints_held_out_rmse_beside_the_baselines_and_saves_raw_ids(fitted, capsys,
                                                                         tmp_path):
    folder, ratings, _, _ = fitted
    out = tmp_path / "m.npz"
    assert main.main(["fit", str(ratings), "--out", str(out), "--holdout", "0.2"]) == 0
    captured = capsys.readouterr()
    found = dict(re.findall(r"^  (mixture recommender|baseline \(mean \+ user and item "
                            r"biases\)|item mean|global mean)\s+(\d\.\d{4})$",
                            captured.out, re.M))
    assert len(found) == 4
    assert float(found["mixture recommender"]) < float(found["item mean"])
    assert "within one predicted standard deviation" in captured.out
    assert "stage 1/6, items as rows: EM run 1/20" in captured.err  # progress on stderr
    assert "loading" in captured.err
    model, extras = recommender.load(out, extras=True)
    np.testing.assert_array_equal(extras["user_ids"], np.arange(1, 301))
    np.testing.assert_array_equal(extras["item_ids"], 10 * np.arange(1, 51))


def test_fit_with_a_test_file_counts_the_cold_ratings(fitted, capsys, tmp_path):
    folder, ratings, _, _ = fitted
    test = tmp_path / "test.csv"
    test.write_text("1,10,4\n1,20,3\n9999,10,2\n2,777,5\n")
    assert main.main(["fit", str(ratings), "--test", str(test), "--out",
                      str(tmp_path / "m.npz"), "-q"]) == 0
    captured = capsys.readouterr()
    assert "(2 with a user or item the training ratings lack" in captured.out
    assert captured.err == ""  # -q: no progress


def test_recommend_names_unrated_items_with_titles_from_either_items_format(fitted, capsys):
    folder, _, model, X = fitted
    for items, title in (("movies.csv", "Film"), ("u.item", "Caf\u00e9")):
        assert main.main(["recommend", str(model), "--user", "7", "-n", "3", "--items",
                          str(folder / items)]) == 0
        lines = [line for line in capsys.readouterr().out.splitlines()
                 if re.match(r"\s+\d+\. item", line)]
        assert len(lines) == 3 and all(title in line for line in lines)
    rated = set(10 * (X.indices[X.indptr[6]:X.indptr[7]] + 1))
    shown = {int(m) for m in re.findall(r"item (\d+):", "\n".join(lines))}
    assert not shown & rated
    assert main.main(["recommend", str(model), "--user", "7", "--cautious", "-n", "2"]) == 0
    assert "ranked by prediction - 1 std" in capsys.readouterr().out


def test_predict_writes_user_item_prediction_lines(fitted, capsys, tmp_path):
    _, _, model, _ = fitted
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1 10\n3\t20\n99999 10\n")
    assert main.main(["predict", str(model), str(pairs)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert [line.rsplit(",", 1)[0] for line in lines] == ["1,10", "3,20", "99999,10"]
    values = [float(line.rsplit(",", 1)[1]) for line in lines]
    saved = recommender.load(model)
    expected = recommender.predict(saved, [0, 2, -1], [0, 1, 0], unknown=True)
    np.testing.assert_allclose(values, expected, atol=1e-4)
    assert "1 pairs name a user or item the model lacks" in captured.err


def test_groups_show_weights_and_items_above_and_below(fitted, capsys):
    folder, _, model, _ = fitted
    assert main.main(["groups", str(model), "--items", str(folder / "movies.csv"), "-n", "2"]) == 0
    out = capsys.readouterr().out
    weights = [int(w) for w in re.findall(r"^Group \d+: (\d+)% of users", out, re.M)]
    assert len(weights) == recommender.DEFAULTS["n_components"]
    assert weights == sorted(weights, reverse=True) and 97 <= sum(weights) <= 103
    assert out.count("rates higher: Film") == len(weights)


@pytest.mark.parametrize("argv, message", [
    (["recommend", "{model}", "--user", "123456"], "user '123456' is not in the model"),
    (["recommend", "{folder}/none.npz", "--user", "1"], "model file not found"),
    (["recommend", "{folder}/ratings.csv", "--user", "1"], "is not a model file"),
    (["recommend", "{model}", "--user", "1", "--items", "{folder}/none.csv"],
     "items file not found"),
    (["predict", "{model}", "{folder}/none.txt"], "pairs file not found"),
    (["fit", "{folder}/none.csv", "--out", "{folder}/x.npz"], "ratings file not found"),
    (["fit", "{folder}/ratings.csv", "--out", "{folder}/x.npz", "--holdout", "1.5"],
     "--holdout must be in"),
    (["recommend", "{model}"], "the following arguments are required: --user"),
    (["groups", "{model}", "-n", "x"], "invalid int value"),
])
def test_user_errors_print_one_line_and_exit_2(fitted, capsys, argv, message):
    folder, _, model, _ = fitted
    argv = [a.format(model=model, folder=folder) for a in argv]
    assert main.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_fit_draws_a_plot(fitted, tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="matplotlib is optional; CI installs it")
    _, ratings, _, _ = fitted
    png = tmp_path / "fit.png"
    assert main.main(["fit", str(ratings), "--out", str(tmp_path / "m.npz"), "--plot",
                      str(png), "-q"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


def test_plot_without_matplotlib_says_how_to_get_it(fitted, tmp_path, capsys, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    _, ratings, _, _ = fitted
    assert main.main(["fit", str(ratings), "--out", str(tmp_path / "m.npz"), "--plot",
                      str(tmp_path / "f.png"), "-q"]) == 2
    assert "--plot needs matplotlib: pip install matplotlib" in capsys.readouterr().err


def test_sweep_says_plainly_when_the_courses_model_loses(tmp_path, capsys):
    # sparse ratings (15 of 200 items a user): most means stay at init's raw rows, as on
    # MovieLens, and the course's model loses to the item means
    X, _ = data.planted_sparse_ratings(300, 200, 4500, K=3, seed=1)
    path = write_ratings(tmp_path / "r.csv", X)
    assert main.main(["sweep", str(path), "--k", "4", "--seeds", "0", "-q"]) == 0
    out = capsys.readouterr().out
    assert "The course's model loses here to a baseline above" in out
    assert "main.py fit FILE --out model.npz" in out


@pytest.mark.parametrize("argv", [["--ratings", "{path}", "--holdout", "0"],
                                  ["sweep", "{path}", "--holdout", "0"]])
def test_a_sweep_with_nothing_held_out_says_so(tmp_path, capsys, argv):
    path = tmp_path / "r.csv"
    path.write_text("1,1,3\n1,2,4\n2,1,5\n")
    assert main.main([a.format(path=path) for a in argv] + ["-q"]) == 2
    assert "is held out" in capsys.readouterr().err

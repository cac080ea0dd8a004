"""Tests of main.py, the command line: it prints what the library computes."""
import re

import data
import main
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
    assert "K = 3 seed 0 iteration 1: log-likelihood" in captured.err


def test_main_reports_a_bad_ratings_file_without_a_traceback(tmp_path, capsys):
    path = tmp_path / "bad.csv"
    path.write_text("1,2,3\n1,2\n")
    assert main.main(["--ratings", str(path)]) == 2
    assert "bad.csv, line 2: expected" in capsys.readouterr().err
    assert main.main(["--ratings", str(tmp_path / "none.csv")]) == 2
    assert "ratings file not found" in capsys.readouterr().err

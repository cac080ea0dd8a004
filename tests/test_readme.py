"""The README's figures are what the code prints: each block of shell commands it shows
(``$ python main.py ...`` and the output below it) is run, and the output compared.

Numbers are compared to the precision they are printed to (within 1.5 units in the last
printed place; the course's full-precision figures within 1e-12 relative, as two correct
orders of the same sums differ in the last digits); timings, which vary, are not compared.
"""
import os
import re
import shlex
import subprocess
import sys

import pytest

from test_em import course_file

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout's root
MOVIELENS = os.path.join(HERE, "..", "shared", "data", "ml-latest-small")
_NUMBER = re.compile(r"[-+]?\d[\d,]*\.?\d*(?:e[-+]?\d+)?")
_TIMING = re.compile(r"[-+]?\d[\d,]*\.?\d*(?= ?(?:ms|s)\b)")


def blocks():
    """Each README code block that shows commands: a list of (command, expected lines)."""
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        text = f.read()
    found, fenced, inside = [], [], None
    for line in text.split("\n"):
        if line.startswith("```"):
            if inside is None:
                inside = []
            else:
                fenced.append(inside)
                inside = None
        elif inside is not None:
            inside.append(line)
    for lines in fenced:
        if not lines or not lines[0].startswith("$ "):
            continue
        steps = []
        for line in lines:
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line)
        found.append(steps)
    return found


def normalise(line):
    """A line without what varies from run to run: timings, the course's tiny differences."""
    line = re.sub(r"\s*\(largest difference [^)]*\)", "", line)
    line = re.sub(r", \d+\.\d+ s$", "", line)
    return _TIMING.sub("<time>", line).rstrip()


def same_line(expected, actual, relative):
    """Whether two lines match: the same words, and numbers equal to their printing."""
    expected, actual = normalise(expected), normalise(actual)
    if _NUMBER.sub("#", expected) != _NUMBER.sub("#", actual):
        return False
    for want, got in zip(_NUMBER.findall(expected), _NUMBER.findall(actual)):
        w, g = float(want.replace(",", "")), float(got.replace(",", ""))
        decimals = len(want.partition(".")[2].partition("e")[0]) if "." in want else 0
        if "." not in want and "e" not in want.lower():
            if w != g:
                return False
        elif abs(w - g) > max(1.5 * 10.0 ** -decimals, relative * abs(w)):
            return False
    return True


def run(command, cwd):
    """A README command, as a shell runs it after the set-up (D set), in cwd."""
    command = re.sub(r"^python (\S+)", lambda m: f"{shlex.quote(sys.executable)} "
                     f"{shlex.quote(os.path.join(HERE, m.group(1)))}", command)
    result = subprocess.run(command, shell=True, capture_output=True, text=True, cwd=cwd,
                            timeout=600, env={**os.environ, "D": MOVIELENS})
    assert result.returncode in (0, 1), result.stderr
    out = result.stdout.replace(MOVIELENS, "../shared/data/ml-latest-small")  # as D reads
    return out.rstrip("\n").split("\n") if out.strip() else []


def check(steps, cwd, relative):
    for command, expected in steps:
        actual = run(command, cwd)
        if not expected:
            continue
        assert len(actual) == len(expected), (command, actual)
        for want, got in zip(expected, actual):
            assert same_line(want, got, relative), (command, want, got)


def test_the_readme_shows_commands_to_check():
    assert len(blocks()) >= 3


def test_the_courses_figures_in_the_readme_are_printed_ones():
    for name in ("test_solutions.txt", "netflix_incomplete.txt", "netflix_complete.txt"):
        course_file(name)
    course = [steps for steps in blocks() if steps[0][0] == "python main.py"]
    assert course, "the README shows `python main.py` and its output"
    check(course[0], HERE, relative=1e-12)


@pytest.mark.skipif(not os.path.isdir(MOVIELENS), reason="MovieLens ml-latest-small not in "
                                                         "../shared/data (benchmark data)")
def test_the_walk_through_runs_as_written_and_prints_its_figures(tmp_path):
    for steps in blocks():
        if steps[0][0] != "python main.py":
            check(steps, tmp_path, relative=0.0)

"""The README runs as written: every code block of it, shell and Python, is run here, in
order, in a folder of its own, and what it shows is what the code prints.

- A block of ``$ command`` lines and their output is run line by line and its output
  compared: numbers to the precision they are printed to (within 1.5 units in the last
  printed place; the course's full-precision figures within 1e-12 relative, as two correct
  orders of the same sums differ in the last digits); timings, which vary, are not compared.
- A ``sh`` block of plain commands is run line by line, except the test command itself,
  which CI runs (``.ci/run`` must end with it).
- A ``python`` block is run as a script, from the same folder, with the checkout importable.
- A ``text`` block is a synopsis, not code, and is not run.

The README's table of contents names every section, each with an anchor that resolves.
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
TEST_COMMAND = "python -m pytest -q"


def readme():
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        return f.read()


def fenced():
    """Each fenced block of the README: (its language, its lines)."""
    found, inside, language = [], None, None
    for line in readme().split("\n"):
        if line.startswith("```"):
            if inside is None:
                inside, language = [], line[3:].strip()
            else:
                found.append((language, inside))
                inside = None
        elif inside is not None:
            inside.append(line)
    return found


def steps_of(lines):
    """A block of ``$ command`` lines as [(command, expected output lines)]."""
    steps = []
    for line in lines:
        if line.startswith("$ "):
            steps.append((line[2:], []))
        else:
            steps[-1][1].append(line)
    return steps


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


def environment():
    paths = [HERE] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return {**os.environ, "D": MOVIELENS, "PYTHONPATH": os.pathsep.join(paths)}


def run(command, cwd, allowed=(0, 1)):
    """A README command, as a shell runs it after the set-up (D set), in cwd: the
    checkout's scripts and requirements named where they are."""
    python = shlex.quote(sys.executable)
    command = re.sub(r"(^|&& )python (\S+\.py)", lambda m: f"{m.group(1)}{python} "
                     f"{shlex.quote(os.path.join(HERE, m.group(2)))}", command)
    command = re.sub(r"(^|&& )python -m", lambda m: f"{m.group(1)}{python} -m", command)
    command = re.sub(r"(^|&& )pip install", lambda m: f"{m.group(1)}{python} -m pip install "
                     "--quiet --disable-pip-version-check", command)
    command = re.sub(r"-r (requirements\S*\.txt)",
                     lambda m: f"-r {shlex.quote(os.path.join(HERE, m.group(1)))}", command)
    result = subprocess.run(command, shell=True, capture_output=True, text=True, cwd=cwd,
                            timeout=600, env=environment())
    assert result.returncode in allowed, (command, result.stderr)
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


def test_the_readme_shows_commands_to_check_and_runs_every_kind_of_block():
    languages = {language for language, _ in fenced()}
    assert languages <= {"", "sh", "python", "text"}, languages
    assert sum(1 for language, lines in fenced() if lines and lines[0].startswith("$ ")) >= 3
    assert sum(1 for language, _ in fenced() if language == "python") >= 3


def test_the_table_of_contents_names_every_section_and_its_anchors_resolve():
    text = readme()
    sections = re.findall(r"^## (.+)$", text, re.M)
    contents = text.split("## ", 1)[0]
    links = re.findall(r"\[([^\]]+)\]\(#([^)]+)\)", contents)
    assert [title for title, _ in links] == sections
    for title, anchor in links:  # GitHub's rule: lower case, punctuation out, spaces to -
        expected = re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")
        assert anchor == expected, (title, anchor)


def test_the_courses_figures_in_the_readme_are_printed_ones():
    for name in ("test_solutions.txt", "netflix_incomplete.txt", "netflix_complete.txt"):
        course_file(name)
    course = [steps_of(lines) for _, lines in fenced()
              if lines and lines[0] == "$ python main.py"]
    assert course, "the README shows `python main.py` and its output"
    check(course[0], HERE, relative=1e-12)


def test_the_readmes_test_command_is_what_ci_runs():
    assert any(TEST_COMMAND in line for language, lines in fenced() if language == "sh"
               for line in lines)
    with open(os.path.join(HERE, ".ci", "run")) as f:
        assert f.read().strip().splitlines()[-1] == TEST_COMMAND.replace("python", "python3")


@pytest.mark.skipif(not os.path.isdir(MOVIELENS), reason="MovieLens ml-latest-small not in "
                                                         "../shared/data (benchmark data)")
def test_every_block_runs_as_written_and_prints_its_figures(tmp_path):
    for language, lines in fenced():
        if language == "text" or not lines:
            continue
        if lines[0].startswith("$ "):
            if lines[0] != "$ python main.py":  # the course's: in the checkout, above
                check(steps_of(lines), tmp_path, relative=0.0)
        elif language == "sh":
            for line in lines:
                command = line.split("#")[0].strip()
                if command and TEST_COMMAND not in command and not command.startswith("D="):
                    run(command, tmp_path, allowed=(0,))
        elif language == "python":
            script = tmp_path / "block.py"
            script.write_text("\n".join(lines) + "\n")
            result = subprocess.run([sys.executable, str(script)], capture_output=True,
                                    text=True, cwd=tmp_path, timeout=600, env=environment())
            assert result.returncode == 0, ("\n".join(lines), result.stderr[-3000:])

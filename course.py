"""The course's files and reference figures: its matrices, test_solutions.txt, and ours
checked against it.

``load_solutions`` parses the printed figures with the tolerance their printing implies;
``reproduce_test_case`` computes the same figures with this module; ``compare`` pairs them
up. ``python main.py`` prints the comparison, ``test_em.py`` asserts it.
"""
import os
import re
from typing import NamedTuple

import numpy as np

import common
import em
import products

TEST_FILES = ("test_incomplete.txt", "test_complete.txt", "test_solutions.txt")
NETFLIX_FILES = ("netflix_incomplete.txt", "netflix_complete.txt")


class Printed(NamedTuple):
    """A figure read from a printed reference, with the tolerance its printing implies."""

    value: object  # float or ndarray
    atol: object  # same shape as value


# Section headers of test_solutions.txt and the keys they are stored under.
_SECTIONS = {
    "Input": "input",
    "After first E-step": "estep",
    "After first M-step": "mstep",
    "After a run": "run",
}
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def load_solutions(path):
    """Parse the course's ``test_solutions.txt``.

    Returns
    -------
    dict
        ``{"input": {"X", "K", "Mu", "Var", "P"}, "estep": {"post", "LL"},
        "mstep": {"Mu", "Var", "P"}, "run": {"Mu", "Var", "P", "post", "LL", "X_gold",
        "X_pred", "RMSE"}}``, each figure a ``Printed(value, atol)`` whose ``atol`` is half
        a unit in the last place numpy printed it to (see ``printed_atol``).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"solutions file not found: {path}")
    with open(path) as f:
        lines = f.read().splitlines()
    solutions, section, name, chunks = {}, None, None, []

    def flush():
        if name is not None:
            section[name] = _parse_printed(" ".join(chunks), path, name)

    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        header = stripped.rstrip(":")
        if header in _SECTIONS:
            flush()
            name, chunks = None, []
            section = solutions.setdefault(_SECTIONS[header], {})
        elif re.match(r"^[A-Za-z_]+:", stripped):
            if section is None:
                raise ValueError(f"{path}, line {number}: figure before any section header")
            flush()
            name, rest = stripped.split(":", 1)
            chunks = [rest]
        elif stripped:
            if name is None:
                raise ValueError(f"{path}, line {number}: unexpected text {stripped!r}")
            chunks.append(stripped)
    flush()
    missing = [s for s in _SECTIONS.values() if s not in solutions]
    if missing:
        raise ValueError(f"{path} lacks the sections {missing}")
    return solutions


def _parse_printed(text, path, name):
    """One figure: an int, a repr'd float, or a numpy-printed array (1-D or 2-D)."""
    text = text.strip()
    tokens = _NUMBER.findall(text)
    if not tokens:
        raise ValueError(f"{path}: figure {name!r} holds no number")
    for token in tokens:  # 5.93e400 is a damaged file, not a figure that does not match
        if not np.isfinite(float(token)):
            raise ValueError(f"{path}: figure {name!r} holds {token[:40]}, which is not a "
                             "finite number: the file is damaged")
    if not text.startswith("["):
        value = float(tokens[0])
        if re.fullmatch(r"[-+]?\d+", tokens[0]):
            return Printed(int(tokens[0]), 0)
        return Printed(value, printed_atol(tokens[0], precision=None))
    rows = [r for r in re.split(r"\]\s*\[", text.strip("[] ")) if r.strip()]
    grid = [_NUMBER.findall(r) for r in rows]
    if len({len(r) for r in grid}) != 1:
        raise ValueError(f"{path}: figure {name!r} is not a rectangular array")
    value = np.array([[float(t) for t in r] for r in grid])
    atol = np.array([[printed_atol(t, precision=8) for t in r] for r in grid])
    if not text.startswith("[["):
        value, atol = value[0], atol[0]
    return Printed(value, atol)


def printed_atol(token, precision):
    """Half a unit in the last place a number was printed to.

    numpy prints arrays with ``precision`` (8) digits after the point, in the mantissa in
    scientific notation, and drops trailing zeros, so "0.25" in an array means 0.25000000.
    A scalar printed by ``repr`` (precision None) shows every digit of a double, and two
    correct orders of the same sums differ in the last few, so it is held to 1e-13 relative.
    """
    mantissa, _, exponent = token.lower().partition("e")
    if precision is None:
        decimals = len(mantissa.partition(".")[2])
        return max(0.5 * 10.0 ** (int(exponent or 0) - decimals), 1e-13 * abs(float(token)))
    return 0.5 * 10.0 ** (int(exponent or 0) - precision)


# ---------------------------------------------------------------------------------------
# The course's matrix files

def load_matrix(path):
    """Read a whitespace-separated matrix file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    ndarray of shape (n, d)

    Raises
    ------
    FileNotFoundError
        When the file does not exist (the message names it).
    ValueError
        When it is not a rectangular matrix of numbers (the message names it).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"matrix file not found: {path}")
    try:
        X = np.loadtxt(path, ndmin=2)
    except ValueError as err:
        raise ValueError(f"{path} is not a whitespace-separated matrix of numbers: {err}") from err
    if X.size == 0:
        raise ValueError(f"{path} holds no numbers")
    return X


# ---------------------------------------------------------------------------------------
# Our figures, and the comparison

def reproduce_test_case(X, X_gold, K):
    """Every figure of test_solutions.txt, computed, in its sections and under its names."""
    ratings = products.summarise(X)  # once, for the four calls below
    mixture, post = common.init(X, K, seed=0)
    post_1, ll_1 = em.estep(ratings, mixture)
    mixture_1 = em.mstep(ratings, post_1, mixture)
    final, post_n, ll_n = em.run(ratings, mixture, post)
    X_pred = em.fill_matrix(ratings, final)
    return {
        "input": {"X": X, "K": K, "Mu": mixture.mu, "Var": mixture.var, "P": mixture.p},
        "estep": {"post": post_1, "LL": ll_1},
        "mstep": {"Mu": mixture_1.mu, "Var": mixture_1.var, "P": mixture_1.p},
        "run": {"Mu": final.mu, "Var": final.var, "P": final.p, "post": post_n, "LL": ll_n,
                "X_gold": X_gold, "X_pred": X_pred, "RMSE": common.rmse(X_gold, X_pred)},
    }


def matches(value, printed):
    """Whether a computed figure equals a printed one to the precision it was printed to."""
    value = np.asarray(value, dtype=float)
    return value.shape == np.shape(printed.value) and bool(
        np.all(np.abs(value - printed.value) <= printed.atol))


class Comparison(NamedTuple):
    """One figure of test_solutions.txt beside ours."""

    section: str
    name: str
    ok: bool
    largest_difference: float


def compare(data_dir):
    """Reproduce the test case from the files in data_dir and compare every figure.

    Returns
    -------
    K : int
    comparisons : list of Comparison
        One per figure of test_solutions.txt, in the file's order.
    """
    solutions = load_solutions(os.path.join(data_dir, "test_solutions.txt"))
    X = load_matrix(os.path.join(data_dir, "test_incomplete.txt"))
    X_gold = load_matrix(os.path.join(data_dir, "test_complete.txt"))
    K = solutions["input"]["K"].value
    ours = reproduce_test_case(X, X_gold, K)
    return K, [Comparison(section, name, matches(ours[section][name], printed),
                          float(np.max(np.abs(np.asarray(ours[section][name]) - printed.value))))
               for section, figures in solutions.items() for name, printed in figures.items()]


def rmse_missing(X, X_gold, X_pred):
    """RMSE over the entries that X leaves missing (and X_gold knows)."""
    hidden = (X == 0) & (X_gold != 0)
    return float(np.sqrt(np.mean((X_gold[hidden] - X_pred[hidden]) ** 2)))

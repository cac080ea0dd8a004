"""Ratings files, read exactly as written: nothing dropped, nothing invented.

A ratings file holds one rating a line: a user, an item, a rating and, if there is such a
column, a timestamp (seconds or an ISO date). Every such line is a rating, whatever its
value: 0 and negative ratings included (the course's "0 = missing" is a convention of dense
matrices, not of files). The matrix ``load_ratings`` returns stores every rating, zeros too,
so everything downstream reads a stored entry as a rating. What the text may hold
(compression, separators, a header naming the columns in any order, comments, quotes, line
ends) is ``textfiles.py``'s; ids are kept verbatim (``ids.py``); a pair rated more than once
becomes one rating by ``ratings.DUPLICATES``' policy.

Refused, naming the file and line: a line without the fields the columns need, an empty
field, a rating that is not a finite number, a timestamp that is not one, a line longer than
1 MiB (as soon as it is seen), text that is not UTF-8, a NUL byte; and, naming the file, one
that is not a regular file, holds no rating, or is UTF-16/32, zstd or binary.

Files whose ids are all lossless integers take a fast path (``fastpath.py``); every other
file, and any file with an error, takes the line-by-line path here, which names the line.
"""
import math
from array import array
from typing import NamedTuple

import numpy as np
from scipy import sparse

from mixrec import fastpath, ids
from mixrec.ratings import RepeatedPair, build, check_duplicates
from mixrec.textfiles import (each_data_line, expected_fields, is_blank_or_comment,
                              line_chunks, number_of, parse_time, shown, sniff,
                              split_fields)


class RatingsFile(NamedTuple):
    """A ratings file, read (``read``)."""

    X: sparse.csr_array  # (n, d), a stored entry for every rating, 0 included
    user_ids: np.ndarray  # (n,)
    item_ids: np.ndarray  # (d,)
    times: np.ndarray  # (nnz,) seconds, in X's storage order; NaN where a line has none
    lines: int  # the ratings lines read
    merged: int  # pairs rated more than once, each now one rating
    policy: str  # how they were merged (ratings.DUPLICATES)
    columns: tuple  # each column's role, as the header (or columns=) said


def read(path, *, columns=None, duplicates=None, progress=None, fast=True):
    """Read a ratings file into a sparse user x item matrix, with what was found.

    Parameters
    ----------
    path : str or path-like
        Plain text, or gzip, bzip2, xz or a zip of one file.
    columns : str, sequence or None
        Each column's role in order (``"user,item,rating,timestamp"``, ``"-"`` to leave a
        column out); None reads the header's names, or takes the columns in that order.
    duplicates : str or None
        A pair rated more than once: "latest", "mean", "first" or "refuse"
        (``ratings.DUPLICATES``); None: the latest where there are timestamps, else the mean.
    progress : callable or None
        Called as ``progress(bytes_read, bytes_total)`` as the file is read.
    fast : bool, default True
        False reads every file line by line, as the slow path does (the same result).

    Returns
    -------
    RatingsFile
    """
    check_duplicates(duplicates)
    if progress is not None and not callable(progress):  # said now, not midway
        raise ValueError(f"progress must be a callable or None, got {type(progress).__name__}")
    layout = sniff(path, kind="ratings", columns=columns)
    triples = None
    if fast:
        try:
            triples = fastpath.read(path, layout, progress)
        except fastpath.NotFast:
            pass
    if triples is None:
        triples = _read_slow(path, layout, progress)
    shape = (len(triples.user_ids), len(triples.item_ids))
    try:
        built = build(triples.rows, triples.cols, triples.values, shape, triples.times,
                      duplicates)
    except RepeatedPair as repeat:
        if triples.lines is None:  # the fast path keeps no line numbers: read them
            return read(path, columns=columns, duplicates=duplicates, fast=False)
        raise ValueError(f"{path}, line {triples.lines[repeat.second]}: the pair rated on "
                         f"line {triples.lines[repeat.first]} is rated again (duplicates "
                         "'refuse'; 'latest', 'mean' or 'first' would merge them)") from None
    times = built.times if built.times is not None else np.full(built.X.nnz, np.nan)
    return RatingsFile(built.X, triples.user_ids, triples.item_ids, times, len(triples.rows),
                       built.merged, built.policy, layout.columns)


def load_ratings(path, *, progress=None, fast=True, timestamps=False, columns=None,
                 duplicates=None):
    """Read a ratings file into a sparse user x item matrix (see ``read``).

    Returns
    -------
    X : csr_array of shape (n, d)
        ``X[u, l]`` the rating of user ``user_ids[u]`` for item ``item_ids[l]``; every
        rating is a stored entry, a rating of 0 too.
    user_ids : ndarray of shape (n,)
    item_ids : ndarray of shape (d,)
        Sorted distinct ids, int64 when lossless, else strings (see ``ids.py``).
    times : ndarray of shape (nnz,), only with ``timestamps``
        In the order of ``X.data``; NaN for a line without a timestamp.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        Naming the file and line of the first malformed line, or the file when it is not a
        readable ratings file (see the module's docstring).
    """
    found = read(path, columns=columns, duplicates=duplicates, progress=progress, fast=fast)
    out = (found.X, found.user_ids, found.item_ids)
    return out + (found.times,) if timestamps else out


# ---------------------------------------------------------------------------------------
# The line-by-line path: any ids, quoted fields, and the exact line of any error

def _read_slow(path, layout, progress):
    """Every line parsed in Python; ValueError naming file and line at the first bad one."""
    user_codes, item_codes = {}, {}
    # compact growing columns: 8 bytes a rating, not a Python object
    rows, cols, values, lines, times = (array("q"), array("q"), array("d"), array("q"),
                                        array("d"))
    separator, header_line, roles = layout.separator, layout.header_line, layout.columns
    u, i, r = (roles.index(role) for role in ("user", "item", "rating"))
    t = roles.index("timestamp") if "timestamp" in roles else None
    n_roles, n_needed = len(roles), 1 + max(u, i, r)
    # a line with none of these needs no stripping, unquoting or second look
    suspects = ('"', "#") + tuple(c for c in " \t" if c != separator)
    for first, chunk, done, total in line_chunks(path, layout.bom):
        for number, line in enumerate(chunk, first):
            fields = line.split(separator)
            if not n_needed <= len(fields) <= n_roles or "" in fields or any(
                    c in line for c in suspects):
                # blank, comment, quoted, padded, short or long: the general path
                if number == header_line or is_blank_or_comment(line):
                    continue
                fields = split_fields(line, separator)
                check_rating_fields(fields, line, path, number, layout)
            elif number == header_line:
                continue
            try:
                value = number_of(fields[r])
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                check_rating_fields(fields, line, path, number, layout)  # raises
            rows.append(user_codes.setdefault(fields[u], len(user_codes)))
            cols.append(item_codes.setdefault(fields[i], len(item_codes)))
            values.append(value)
            lines.append(number)
            if t is not None:
                times.append(parse_time(fields[t], path, number) if t < len(fields)
                             else math.nan)
        if progress is not None:
            progress(done, total)
    if not values:
        raise ValueError(f"{path} holds no ratings")
    user_ids, rows = _renumber(user_codes, rows)
    item_ids, cols = _renumber(item_codes, cols)
    return fastpath.Triples(user_ids, rows, item_ids, cols, np.frombuffer(values),
                            np.frombuffer(times) if t is not None else None,
                            np.frombuffer(lines, dtype=np.int64))


def _renumber(first_seen, codes):
    """Sorted typed ids from a {text: code in order of first appearance} dict, and the
    codes renumbered to positions among them."""
    distinct = ids.typed(first_seen)
    order = np.argsort(distinct, kind="stable")
    rank = np.empty(len(order), dtype=np.int32 if len(order) < 2 ** 31 else np.int64)
    rank[order] = np.arange(len(order))
    return distinct[order], rank[np.frombuffer(codes, dtype=np.int64)]


_SEPARATOR_NAMES = {",": "commas", "\t": "tabs", "::": "'::'", ";": "semicolons",
                    "|": "'|'", " ": "spaces"}


def check_rating_fields(fields, line, path, number, layout):
    """ValueError naming file and line unless the fields hold the columns' user, item and
    rating (and, if there is one, a timestamp or nothing)."""
    roles = layout.columns
    needed = 1 + max(roles.index(role) for role in ("user", "item", "rating"))
    if not needed <= len(fields) <= len(roles):
        expected = expected_fields(roles, "ratings")
        raise ValueError(f"{path}, line {number}: expected '{expected}', got {len(fields)} "
                         f"field{'s' * (len(fields) != 1)} (split by "
                         f"{_SEPARATOR_NAMES[layout.separator]}): {shown(line)}")
    empty = [k + 1 for k, field in enumerate(fields) if not field and roles[k] != "-"]
    if empty:
        raise ValueError(f"{path}, line {number}: field {empty[0]} is empty: {shown(line)}")
    text = fields[roles.index("rating")]
    try:
        rating = number_of(text)
    except ValueError:
        raise ValueError(f"{path}, line {number}: rating {text[:40]!r} is not a "
                         "number") from None
    if not np.isfinite(rating):
        raise ValueError(f"{path}, line {number}: rating must be a finite number, got "
                         f"{text[:40]!r}")
    if "timestamp" in roles and roles.index("timestamp") < len(fields):
        parse_time(fields[roles.index("timestamp")], path, number)


# ---------------------------------------------------------------------------------------
# Whole lines for a split; test files against a training file's ids

def data_lines(path, *, columns=None):
    """The header (as written, or "") and every data line of a ratings file, verbatim,
    with each line's user and item id texts; blank and comment lines are left out.

    Every data line is checked as ``load_ratings`` checks it, so that a split writes only
    files that load.

    Returns
    -------
    header : str
    lines : list of str
    users, items : list of str
    numbers : list of int
        Each line's number in the file (for messages: blank and comment lines count).
    """
    layout = sniff(path, kind="ratings", columns=columns)
    u, i = layout.columns.index("user"), layout.columns.index("item")
    lines, users, items, numbers = [], [], [], []
    for number, line, fields in each_data_line(path, layout, layout.header_line):
        check_rating_fields(fields, line, path, number, layout)
        lines.append(line)
        users.append(fields[u])
        items.append(fields[i])
        numbers.append(number)
    if not lines:
        raise ValueError(f"{path} holds no ratings")
    return layout.header, lines, users, items, numbers


def load_test_ratings(path, user_ids, item_ids, *, timestamps=False, columns=None):
    """Read a test ratings file against a training file's ids: every line a rating to score
    (a pair rated twice there is scored twice).

    Parameters
    ----------
    path : str or path-like
        A ratings file, in any format ``load_ratings`` reads.
    user_ids, item_ids : ndarray
        The training file's ids, as ``load_ratings`` returned them.
    timestamps : bool, default False
        Also return each rating's timestamp.
    columns : str, sequence or None
        As ``read``'s.

    Returns
    -------
    rows, cols : ndarray of int, shape (m,)
        The training matrix's row and column of each test rating, -1 for an id it lacks.
    values : ndarray of shape (m,)
        Every test rating, zeros included, in the file's order.
    times : ndarray of shape (m,), only with ``timestamps``
    """
    user_ids, item_ids = ids.as_known(user_ids, "user_ids"), ids.as_known(item_ids, "item_ids")
    layout = sniff(path, kind="ratings", columns=columns)
    try:
        triples = fastpath.read(path, layout, None)
    except fastpath.NotFast:
        triples = _read_slow(path, layout, None)
    rows = ids.index_of(user_ids, triples.user_ids)[triples.rows]
    cols = ids.index_of(item_ids, triples.item_ids)[triples.cols]
    found = (rows, cols, triples.values)
    if not timestamps:
        return found
    return found + (triples.times if triples.times is not None
                    else np.full(len(rows), np.nan),)

"""Ratings files, read exactly as written: nothing dropped, nothing invented.

A ratings file holds one rating a line, ``user item rating [timestamp]``. Every such line is
a rating, whatever its value: 0 and negative ratings included (the course's "0 = missing"
is a convention of dense matrices, not of files). The matrix ``load_ratings`` returns
stores every rating, zeros too, so everything downstream reads a stored entry as a rating.
What the text may hold (separators, headers, comments, quotes, line ends) is
``textfiles.py``'s; ids are kept verbatim (``ids.py``); timestamps are numbers or ISO dates.

Refused, naming the file and line: a wrong number of fields, an empty field, a rating that
is not a finite number, a (user, item) pair rated twice, a line longer than 1 MiB (as soon
as it is seen), text that is not UTF-8; and, naming the file, one that is not a regular
file, holds no rating, or is compressed, UTF-16/32 or binary.

Files whose ids are all lossless integers take a fast path (``np.loadtxt`` a block at a
time, then a check that every id's text is its integer's); every other file, and any file
with an error, takes the line-by-line path, which names the line.
"""
import io
import math
import os
from array import array
from typing import NamedTuple

import numpy as np
from scipy import sparse

from mixrec import ids
from mixrec.textfiles import (MAX_LINE, check_regular_file, each_data_line, line_chunks,
                              parse_time, shown, sniff, split_fields)


# Bytes the fast path reads at a time: 16 MiB, so that a block's temporaries stay small.
BLOCK_BYTES = 1 << 24


class Ratings(NamedTuple):
    """What ``load_ratings`` reads (with ``timestamps=True``)."""

    X: sparse.csr_array  # (n, d), a stored entry for every rating, 0 included
    user_ids: np.ndarray  # (n,)
    item_ids: np.ndarray  # (d,)
    times: np.ndarray  # (nnz,) seconds, in X's storage order; NaN where a line has none


def load_ratings(path, *, progress=None, fast=True, timestamps=False):
    """Read a ratings file into a sparse user x item matrix (see the module's docstring).

    Parameters
    ----------
    path : str or path-like
    progress : callable or None
        Called as ``progress(bytes_read, bytes_total)`` as the file is read.
    fast : bool, default True
        False reads every file line by line, as the slow path does (the same result).
    timestamps : bool, default False
        Also return each rating's timestamp (the fourth field, seconds or an ISO date).

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
    check_regular_file(path, "ratings")
    layout = sniff(path)
    result = None
    if fast:
        try:
            result = _load_fast(path, layout, progress, timestamps)
        except _NotFast:
            pass
    if result is None:
        result = _load_slow(path, layout, progress, timestamps)
    return result if timestamps else result[:3]


# ---------------------------------------------------------------------------------------
# The fast path: lossless integer ids, one clean separator

class _NotFast(Exception):
    """The fast path cannot read this file; the slow one reads it or says what is wrong."""


def _load_fast(path, layout, progress, timestamps):
    """``np.loadtxt`` a block at a time, or _NotFast for anything it cannot read exactly."""
    if layout.n_fields not in (3, 4):
        raise _NotFast
    capacity = _count_lines(path, layout.data_offset)
    users = np.empty(capacity, np.int64)
    items = np.empty(capacity, np.int64)
    ratings = np.empty(capacity)
    times = np.empty(capacity, np.int64) if timestamps and layout.n_fields == 4 else None
    filled = 0
    for block in _blocks(path, layout, progress):
        parsed, checked = _parse_block(block, layout)
        m = len(parsed)
        if filled + m > capacity or not _lossless_ids(checked, parsed, layout):
            raise _NotFast  # more rows than newlines ("\r" line ends), or an id's text lost
        users[filled:filled + m] = parsed["user"]
        items[filled:filled + m] = parsed["item"]
        ratings[filled:filled + m] = parsed["rating"]
        if times is not None:
            times[filled:filled + m] = parsed["time"]
        filled += m
    if filled == 0 or not np.isfinite(ratings[:filled]).all():
        raise _NotFast  # the slow path names the line
    user_ids, rows = ids.number(users[:filled])
    del users
    item_ids, cols = ids.number(items[:filled])
    del items
    try:
        X, order = build_matrix(rows, cols, ratings[:filled], (len(user_ids), len(item_ids)))
    except RepeatedPair:
        raise _NotFast from None  # the slow path names both lines
    if times is None:
        return Ratings(X, user_ids, item_ids, np.full(filled, np.nan))
    return Ratings(X, user_ids, item_ids, times[order].astype(float))


def _count_lines(path, offset):
    """Lines in a file from offset, the last one counted even without its newline (an upper
    bound on the ratings it holds)."""
    count = 0
    with open(path, "rb") as f:
        f.seek(offset)
        while chunk := f.read(BLOCK_BYTES):
            count += chunk.count(b"\n")
    return count + 1


def _blocks(path, layout, progress):
    """The file's text from the first data line, in blocks of whole lines."""
    total = os.path.getsize(path)
    rest = b""
    with open(path, "rb") as f:
        f.seek(layout.data_offset)
        done = layout.data_offset
        while chunk := f.read(BLOCK_BYTES):
            done += len(chunk)
            chunk = rest + chunk
            end = chunk.rfind(b"\n") + 1  # 0 when a line is longer than a block: read on
            block, rest = chunk[:end], chunk[end:]
            if len(rest) > MAX_LINE:
                raise _NotFast  # the slow path refuses the line as soon as it sees it
            if block:
                yield block
            if progress is not None:
                progress(done, total)
    if rest.strip():  # a last line without its newline
        yield rest + b"\n"


def _parse_block(block, layout):
    """A block of lines as records of (user, item, rating[, time]), and the bytes whose
    separators ``_lossless_ids`` checks; or _NotFast.

    ``np.loadtxt`` refuses any line whose number of fields differs from the first's, and
    any field that is not an integer id, a number or an integer time: such files take the
    slow path, which accepts what it can (empty trailing fields, string ids) and names the
    line of what it cannot.
    """
    separator = layout.separator
    if separator == "::":
        if b"," in block:
            raise _NotFast
        block = block.replace(b"::", b",")
        separator = ","
    try:
        parsed = np.loadtxt(io.BytesIO(block), encoding="utf-8", ndmin=1, comments=None,
                            delimiter=None if separator == " " else separator, quotechar=None,
                            dtype=_RECORD[layout.n_fields])
    except (ValueError, UnicodeDecodeError, KeyError) as err:
        raise _NotFast from err
    return parsed, block


_RECORD = {3: np.dtype([("user", np.int64), ("item", np.int64), ("rating", np.float64)]),
           4: np.dtype([("user", np.int64), ("item", np.int64), ("rating", np.float64),
                        ("time", np.int64)])}
_POW10 = 10 ** np.arange(19, dtype=np.int64)


def _lossless_ids(block, parsed, layout):
    """Whether every user and item field of the block is its integer's own text.

    ``np.loadtxt`` reads ``007``, ``+7`` and `` 7`` as 7. The separators and line ends of a
    block of m well-formed lines are m * n_fields bytes, whose positions give each id
    field's length; a field is its integer's canonical text exactly when that length is
    the integer's number of digits. One vectorised pass over the block.
    """
    m = len(parsed)
    if m == 0:
        return True
    separator = {"::": ",", " ": " "}.get(layout.separator, layout.separator)
    raw = np.frombuffer(block, dtype=np.uint8)
    marks = raw == ord(separator)
    marks |= raw == ord("\n")
    cuts = np.flatnonzero(marks)
    if len(cuts) != m * layout.n_fields:
        return False  # blank lines, runs of spaces, separators inside fields
    cuts = cuts.reshape(m, layout.n_fields)
    starts = np.empty(m, dtype=np.int64)
    starts[0] = 0
    starts[1:] = cuts[:-1, -1] + 1
    return (_is_decimal_length(parsed["user"], cuts[:, 0] - starts)
            and _is_decimal_length(parsed["item"], cuts[:, 1] - cuts[:, 0] - 1))


def _is_decimal_length(values, lengths):
    """Whether each non-negative value has exactly ``lengths`` decimal digits (0 has one)."""
    if values.min() < 0 or lengths.min() < 1 or lengths.max() > 19:
        return False
    low = np.where(lengths == 1, 0, _POW10[np.minimum(lengths, 19) - 1])
    fits = (lengths == 19) | (values < _POW10[np.minimum(lengths, 18)])
    return bool(np.all(values >= low) and np.all(fits))


# ---------------------------------------------------------------------------------------
# The line-by-line path: any ids, quoted fields, and the exact line of any error

def _load_slow(path, layout, progress, timestamps):
    """Every line parsed in Python; ValueError naming file and line at the first bad one."""
    user_codes, item_codes = {}, {}
    # compact growing columns: 8 bytes a rating, not a Python object
    rows, cols, values, lines, times = (array("q"), array("q"), array("d"), array("q"),
                                        array("d"))
    separator, header_line = layout.separator, layout.header_line
    # a line with none of these needs no stripping, unquoting or second look
    suspects = ('"', "#") + tuple(c for c in " \t" if c != separator)
    for first, chunk, done, total in line_chunks(path, layout.bom):
        for number, line in enumerate(chunk, first):
            fields = line.split() if separator == " " else line.split(separator)
            if (len(fields) != 3 and len(fields) != 4) or "" in fields or any(
                    c in line for c in suspects):
                # blank, comment, quoted, padded, short or long: the general path
                if number == header_line or not line.strip() or line.lstrip().startswith("#"):
                    continue
                fields = split_fields(line, separator)
                check_rating_fields(fields, line, path, number, separator)
            elif number == header_line:
                continue
            try:
                value = float(fields[2])
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                check_rating_fields(fields, line, path, number, separator)  # raises
            rows.append(user_codes.setdefault(fields[0], len(user_codes)))
            cols.append(item_codes.setdefault(fields[1], len(item_codes)))
            values.append(value)
            lines.append(number)
            if timestamps:
                times.append(parse_time(fields[3], path, number) if len(fields) == 4
                             else math.nan)
        if progress is not None:
            progress(done, total)
    if not values:
        raise ValueError(f"{path} holds no ratings")
    user_ids, rows = _renumber(user_codes, rows)
    item_ids, cols = _renumber(item_codes, cols)
    try:
        X, order = build_matrix(rows, cols, np.frombuffer(values), (len(user_ids),
                                                                    len(item_ids)))
    except RepeatedPair as repeat:
        raise ValueError(f"{path}, line {lines[repeat.second]}: the pair rated on line "
                         f"{lines[repeat.first]} is rated again") from None
    times = np.frombuffer(times)[order] if timestamps else np.full(len(order), np.nan)
    return Ratings(X, user_ids, item_ids, times)


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


def check_rating_fields(fields, line, path, number, separator):
    """ValueError naming file and line unless the fields are user, item, rating [, time]."""
    if len(fields) not in (3, 4):
        raise ValueError(f"{path}, line {number}: expected 'user item rating [timestamp]', "
                         f"got {len(fields)} field{'s' * (len(fields) != 1)} (split by "
                         f"{_SEPARATOR_NAMES[separator]}): {shown(line)}")
    empty = [i + 1 for i, field in enumerate(fields) if not field]
    if empty:
        raise ValueError(f"{path}, line {number}: field {empty[0]} is empty: {shown(line)}")
    try:
        rating = float(fields[2])
    except ValueError:
        raise ValueError(f"{path}, line {number}: rating {fields[2][:40]!r} is not a "
                         "number") from None
    if not np.isfinite(rating):
        raise ValueError(f"{path}, line {number}: rating must be a finite number, got "
                         f"{fields[2][:40]!r}")


def data_lines(path):
    """The header (as written, or "") and every data line of a ratings file, verbatim,
    with each line's user id text; blank and comment lines are left out.

    Every data line is checked as ``load_ratings`` checks it, so that a split writes only
    files that load.

    Returns
    -------
    header : str
    lines : list of str
    users : list of str
    """
    check_regular_file(path, "ratings")
    layout = sniff(path)
    lines, users = [], []
    for number, line, fields in each_data_line(path, layout, layout.header_line):
        check_rating_fields(fields, line, path, number, layout.separator)
        lines.append(line)
        users.append(fields[0])
    if not lines:
        raise ValueError(f"{path} holds no ratings")
    return layout.header, lines, users


# ---------------------------------------------------------------------------------------
# Triples to a matrix, shared by both paths and ratings.from_triples

class RepeatedPair(ValueError):
    """A (user, item) pair given twice: at positions ``first`` and ``second`` (later)."""

    def __init__(self, first, second):
        super().__init__(f"the pair at position {first} is given again at {second}")
        self.first, self.second = first, second


def build_matrix(rows, cols, values, shape):
    """A CSR array with one stored entry per triple, zeros included, in canonical form.

    Parameters
    ----------
    rows, cols : ndarray of int, shape (m,)
    values : ndarray of shape (m,)
    shape : (int, int)

    Returns
    -------
    X : csr_array of shape ``shape``
    order : ndarray of int, shape (m,)
        The position among the triples of each stored entry: ``X.data == values[order]``.

    Raises
    ------
    RepeatedPair
        When two triples name the same (row, col), with the earliest repeat.
    """
    m = len(rows)
    # numbering the triples from 1 keeps every entry stored: a sum of positions is never 0
    position = sparse.coo_array((np.arange(1, m + 1, dtype=np.int64), (rows, cols)),
                                shape=shape).tocsr()
    if position.nnz != m:  # tocsr summed a pair given twice into one entry
        raise RepeatedPair(*_first_repeat(rows, cols, shape[1]))
    order = position.data - 1
    return sparse.csr_array((values[order], position.indices, position.indptr),
                            shape=shape), order


def _first_repeat(rows, cols, d):
    """Positions (first, second) of the pair whose second appearance comes earliest."""
    key = np.asarray(rows, dtype=np.int64) * d + cols
    order = np.argsort(key, kind="stable")  # a pair's appearances stay in file order
    repeat = np.flatnonzero(key[order][1:] == key[order][:-1]) + 1
    second = repeat[np.argmin(order[repeat])]
    group_start = np.searchsorted(key[order], key[order][second])
    return int(order[group_start]), int(order[second])


# ---------------------------------------------------------------------------------------
# Test files against a training file's ids

def load_test_ratings(path, user_ids, item_ids, *, timestamps=False):
    """Read a test ratings file against a training file's ids.

    Parameters
    ----------
    path : str or path-like
        A ratings file, in any format ``load_ratings`` reads.
    user_ids, item_ids : ndarray
        The training file's ids, as ``load_ratings`` returned them.
    timestamps : bool, default False
        Also return each rating's timestamp.

    Returns
    -------
    rows, cols : ndarray of int, shape (m,)
        The training matrix's row and column of each test rating, -1 for an id it lacks.
    values : ndarray of shape (m,)
        Every test rating, zeros included.
    times : ndarray of shape (m,), only with ``timestamps``
    """
    T, test_users, test_items, times = load_ratings(path, timestamps=True)
    rows = np.repeat(np.arange(T.shape[0]), np.diff(T.indptr))  # every stored entry
    found = (ids.index_of(user_ids, test_users)[rows], ids.index_of(item_ids, test_items)[T.indices],
             T.data)
    return found + (times,) if timestamps else found

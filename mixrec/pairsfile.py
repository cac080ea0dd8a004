"""Pairs, items and one user's files, and ratings files as whole lines for a split: the
files around a ratings file, read by its rules (``ratingsfile.py``: separators, headers,
comments, line ends, bounded lines, errors naming file and line)."""
import csv
import math

import numpy as np

import ids
from ratingsfile import (MAX_LINE, check_rating_fields, check_regular_file, line_chunks,
                         names_columns, parse_time, shown, sniff, split_fields)


# ---------------------------------------------------------------------------------------
# Pairs files (user, item)

def load_pairs(path, *, known=None, timestamps=False):
    """Read ``user item`` lines (or ratings lines: the rating is ignored, the fourth field
    is the timestamp), with the separators and headers of ratings files.

    Parameters
    ----------
    path : str or path-like
    known : (user_ids, item_ids) or None
        A model's ids: a first line that names columns is still data when its user or item
        is one of them (string ids such as ``alice,book`` look like column names).
    timestamps : bool, default False
        Also return each pair's timestamp (NaN where a line has none).

    Returns
    -------
    users, items : ndarray of shape (m,)
        The ids, typed as ``load_ratings`` types them (``ids.typed``, per column).
    times : ndarray of shape (m,), only with ``timestamps``
    """
    check_regular_file(path, "pairs")
    layout = sniff(path, min_fields=2)
    header_line = layout.header_line
    if header_line and known is not None:
        fields = split_fields(layout.header, layout.separator)
        if (ids.index_of(known[0], ids.typed(fields[:1]))[0] >= 0
                or len(fields) > 1 and ids.index_of(known[1], ids.typed(fields[1:2]))[0] >= 0):
            header_line = 0
    users, items, times = [], [], []
    for number, line, fields in _data_lines(path, layout, header_line):
        if not 2 <= len(fields) <= 4 or not all(fields[:2]):
            raise ValueError(f"{path}, line {number}: expected 'user item' (or 'user "
                             f"item rating [timestamp]'), got {shown(line)}")
        users.append(fields[0])
        items.append(fields[1])
        if timestamps:
            times.append(parse_time(fields[3], path, number) if len(fields) == 4
                         and fields[3] else np.nan)
    if not users:
        raise ValueError(f"{path} holds no pairs" + (f" (only the header {layout.header!r})"
                                                     if layout.header else ""))
    out = (ids.typed(users), ids.typed(items))
    return out + (np.array(times, dtype=float),) if timestamps else out


# ---------------------------------------------------------------------------------------
# Items files: titles

def _records(reader, path, start):
    """The rows of a csv reader; its errors (a quote open at the end) name their line."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise ValueError(f"{path}, line {start()}: a quote is left open or a field is "
                             f"malformed ({err})") from None


def load_items(path):
    """Read an items file: each item's id and title.

    MovieLens ``movies.csv`` (``movieId,title,genres``: a header, titles quoted where they
    hold commas, UTF-8) or ``u.item`` (``id|title|date|...``, ``|``-separated, latin-1, no
    header), told apart by their content; semicolon- or tab-separated files too. An id
    given twice keeps its first title. A quote left open is an error naming its line,
    never a title that swallows the rest of the file.

    Returns
    -------
    item_ids : ndarray of shape (m,)
        Typed as ``load_ratings`` types them.
    titles : ndarray of object (str), shape (m,)
    """
    check_regular_file(path, "items")
    with open(path, "rb") as f:
        first = f.readline(MAX_LINE + 1)
    pipe = first.split(b"|")[0].strip().isdigit()
    counts = {d: first.count(d.encode()) for d in (",", ";", "\t")}
    delimiter = "|" if pipe else max(counts, key=counts.get)
    encoding = "latin-1" if pipe else "utf-8-sig"
    titles = {}
    try:
        with open(path, newline="", encoding=encoding) as f:
            reader = csv.reader(f, delimiter=delimiter, strict=True,
                                quoting=csv.QUOTE_NONE if pipe else csv.QUOTE_MINIMAL)
            start = 1  # the line the next record starts on
            for row in _records(reader, path, lambda: start):
                if reader.line_num > start and any("\n" in field or "\r" in field
                                                   for field in row):
                    raise ValueError(f"{path}, line {start}: a quote is left open (its field "
                                     f"runs on to line {reader.line_num})")
                number, start = start, reader.line_num + 1
                if not row or not "".join(row).strip():
                    continue
                if len(row) < 2:
                    raise ValueError(f"{path}, line {number}: expected 'id{delimiter}"
                                     f"title...', got {len(row)} field")
                if number == 1 and not pipe and names_columns([c.strip() for c in row]):
                    continue  # the header, "movieId,title,genres"
                titles.setdefault(row[0].strip(), row[1].strip())
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text ({err.reason}); movies.csv is UTF-8, "
                         "u.item latin-1") from None
    if not titles:
        raise ValueError(f"{path} holds no items")
    item_ids = ids.typed(titles)
    out = np.empty(len(titles), dtype=object)
    out[:] = list(titles.values())
    return item_ids, out


# ---------------------------------------------------------------------------------------
# Whole lines (for a split that writes them as they are) and one user's ratings

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
    for number, line, fields in _data_lines(path, layout, layout.header_line):
        check_rating_fields(fields, line, path, number, layout.separator)
        lines.append(line)
        users.append(fields[0])
    if not lines:
        raise ValueError(f"{path} holds no ratings")
    return layout.header, lines, users


def load_user_ratings(path):
    """One user's ratings: ``item rating [timestamp]`` lines (a header is allowed).

    Returns
    -------
    items : ndarray of shape (m,)
        Typed ids (``ids.typed``).
    ratings : ndarray of shape (m,)
    times : ndarray of shape (m,) or None
        None when no line has a timestamp.
    """
    check_regular_file(path, "ratings")
    layout = sniff(path, min_fields=2)
    items, ratings, times = [], [], []
    for number, line, fields in _data_lines(path, layout, layout.header_line):
        if len(fields) not in (2, 3) or not all(fields):
            raise ValueError(f"{path}, line {number}: expected 'item rating [timestamp]', "
                             f"got {shown(line)}")
        try:
            rating = float(fields[1])
        except ValueError:
            rating = math.nan
        if not math.isfinite(rating):
            raise ValueError(f"{path}, line {number}: rating {fields[1][:40]!r} is not a "
                             "finite number")
        items.append(fields[0])
        ratings.append(rating)
        times.append(parse_time(fields[2], path, number) if len(fields) == 3 else math.nan)
    if not items:
        raise ValueError(f"{path} holds no ratings")
    if len(set(items)) != len(items):
        raise ValueError(f"{path}: an item is rated twice")
    times = np.array(times)
    return ids.typed(items), np.array(ratings), times if np.isfinite(times).any() else None


def _data_lines(path, layout, header_line):
    """Each data line of a sniffed file as (number, line, fields): the header line (0 for
    none), blank lines and comment lines skipped."""
    for first, chunk, _, _ in line_chunks(path, layout.bom):
        for number, line in enumerate(chunk, first):
            if number == header_line or not line.strip() or line.lstrip().startswith("#"):
                continue
            yield number, line, split_fields(line, layout.separator)

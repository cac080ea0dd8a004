"""Pairs files (``user item`` lines, to predict) and one user's own ratings (``item rating``
lines, to place a new user), read by the rules of ratings files (``ratingsfile.py``:
separators, headers, comments, line ends, bounded lines, errors naming file and line)."""
import math

import numpy as np

from mixrec import ids
from mixrec.textfiles import (check_regular_file, each_data_line, parse_time, shown, sniff,
                              split_fields)


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
    for number, line, fields in each_data_line(path, layout, header_line):
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
# One user's ratings

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
    for number, line, fields in each_data_line(path, layout, layout.header_line):
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

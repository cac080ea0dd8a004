"""Pairs files (``user item`` lines, to predict) and one user's own ratings (``item rating``
lines, to place a new user), read by the rules of ratings files (``textfiles.py``:
compression, separators, a header naming the columns in any order, comments, line ends,
bounded lines, errors naming file and line)."""
import math

import numpy as np

from mixrec import ids
from mixrec.textfiles import (each_data_line, expected_fields, number_of, parse_time, shown,
                              sniff)

# Pairs read at a time by ``iter_pairs``: what a chunk costs is bounded, whatever the file.
PAIRS_PER_CHUNK = 1 << 18


# ---------------------------------------------------------------------------------------
# Pairs files (user, item)

def iter_pairs(path, *, known=None, columns=None, per_chunk=PAIRS_PER_CHUNK):
    """Read ``user item`` lines (or ratings lines: the rating is ignored, a timestamp
    column kept) a chunk at a time, with the separators and headers of ratings files.

    Parameters
    ----------
    path : str or path-like
    known : (user_ids, item_ids) or None
        A model's ids: a first line that looks like a header is still data when its user or
        item is one of them (string ids such as ``alice,book`` look like column names).
    columns : str, sequence or None
        Each column's role (``"item,user"``); None reads the header's names.
    per_chunk : int
        Pairs per chunk.

    Yields
    ------
    users, items : ndarray of shape (m,)
        The ids, typed as ``load_ratings`` types them (``ids.typed``, per chunk).
    times : ndarray of shape (m,)
        Each pair's timestamp, NaN where it has none.
    """
    if known is not None and not (isinstance(known, (tuple, list)) and len(known) == 2):
        raise ValueError("known must be (user_ids, item_ids), the ids a model was fitted on")
    layout = sniff(path, kind="pairs", columns=columns,
                   is_data=None if known is None else lambda fields: _names_known(fields,
                                                                                 known))
    roles = layout.columns
    u, i = roles.index("user"), roles.index("item")
    t = roles.index("timestamp") if "timestamp" in roles else None
    needed = max(u, i) + 1
    users, items, times, found = [], [], [], False
    for number, line, fields in each_data_line(path, layout, layout.header_line, "pairs"):
        if not needed <= len(fields) <= len(roles) or not (fields[u] and fields[i]):
            raise ValueError(f"{path}, line {number}: expected "
                             f"'{expected_fields(roles, 'pairs')}', got {shown(line)}")
        users.append(fields[u])
        items.append(fields[i])
        times.append(parse_time(fields[t], path, number) if t is not None and t < len(fields)
                     and fields[t] else np.nan)
        if len(users) == per_chunk:
            yield ids.typed(users), ids.typed(items), np.array(times, dtype=float)
            users, items, times, found = [], [], [], True
    if users:
        yield ids.typed(users), ids.typed(items), np.array(times, dtype=float)
    elif not found:
        raise ValueError(f"{path} holds no pairs" + (f" (only the header {layout.header!r})"
                                                     if layout.header else ""))


def _names_known(fields, known):
    """Whether the first two fields of a header-looking line are a known user or item."""
    return (ids.index_of(known[0], ids.typed(fields[:1]))[0] >= 0
            or len(fields) > 1 and ids.index_of(known[1], ids.typed(fields[1:2]))[0] >= 0)


def load_pairs(path, *, known=None, timestamps=False, columns=None):
    """Every pair of a pairs file at once (see ``iter_pairs``): ``(users, items[, times])``,
    each of shape (m,), typed as ``load_ratings`` types ids."""
    chunks = list(iter_pairs(path, known=known, columns=columns, per_chunk=1 << 62))
    users, items, times = chunks[0]
    out = (users, items)
    return out + (times,) if timestamps else out


# ---------------------------------------------------------------------------------------
# One user's ratings

def load_user_ratings(path, *, columns=None):
    """One user's ratings: ``item rating [timestamp]`` lines (a header naming them, in any
    order, is allowed).

    Returns
    -------
    items : ndarray of shape (m,)
        Typed ids (``ids.typed``).
    ratings : ndarray of shape (m,)
    times : ndarray of shape (m,) or None
        None when no line has a timestamp.
    """
    layout = sniff(path, kind="user ratings", columns=columns)
    roles = layout.columns
    i, r = roles.index("item"), roles.index("rating")
    t = roles.index("timestamp") if "timestamp" in roles else None
    items, ratings, times, first_line = [], [], [], {}
    for number, line, fields in each_data_line(path, layout, layout.header_line):
        if not max(i, r) + 1 <= len(fields) <= len(roles) or not (fields[i] and fields[r]):
            raise ValueError(f"{path}, line {number}: expected "
                             f"'{expected_fields(roles, 'user ratings')}', got {shown(line)}")
        try:
            rating = number_of(fields[r])
        except ValueError:
            rating = math.nan
        if not math.isfinite(rating):
            raise ValueError(f"{path}, line {number}: rating {fields[r][:40]!r} is not a "
                             "finite number")
        if fields[i] in first_line:
            raise ValueError(f"{path}, line {number}: item {fields[i][:40]!r} is rated again "
                             f"(first on line {first_line[fields[i]]})")
        first_line[fields[i]] = number
        items.append(fields[i])
        ratings.append(rating)
        times.append(parse_time(fields[t], path, number) if t is not None and t < len(fields)
                     and fields[t] else math.nan)
    if not items:
        raise ValueError(f"{path} holds no ratings")
    times = np.array(times)
    return ids.typed(items), np.array(ratings), times if np.isfinite(times).any() else None

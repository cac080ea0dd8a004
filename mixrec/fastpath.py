"""The fast path of ratings files: ``np.loadtxt`` a block at a time, for files whose ids are
all lossless integers and whose lines are all alike.

Anything it cannot read exactly (string ids, ``007``, quoted fields, blank or comment
lines, a line with more or fewer fields, a non-finite rating) raises ``NotFast``, and the
line-by-line path of ``ratingsfile.py`` reads the file instead, naming the line of any
error. Both give the same result.
"""
import io
from typing import NamedTuple

import numpy as np

from mixrec import ids
from mixrec.baseline import TIME_RANGE
from mixrec.textfiles import MAX_LINE, open_text, skip

# Bytes read at a time: 16 MiB, so that a block's temporaries stay small.
BLOCK_BYTES = 1 << 24
_POW10 = 10 ** np.arange(19, dtype=np.int64)


class NotFast(Exception):
    """The fast path cannot read this file; the slow one reads it or says what is wrong."""


class Triples(NamedTuple):
    """A ratings file's lines as triples, ids numbered (``ids.number``)."""

    user_ids: np.ndarray  # (n,) sorted distinct ids
    rows: np.ndarray  # (m,) each line's user, an index into user_ids
    item_ids: np.ndarray  # (d,)
    cols: np.ndarray  # (m,)
    values: np.ndarray  # (m,) the ratings
    times: np.ndarray  # (m,) seconds, NaN where a line has none; None without the column
    lines: np.ndarray  # (m,) each triple's line number, or None (the fast path)


def read(path, layout, progress):
    """The file's triples, or NotFast for anything np.loadtxt cannot read exactly."""
    roles = layout.columns[:layout.n_fields]  # a file may leave its last columns out
    if layout.data_offset is None or layout.n_fields > len(layout.columns) or \
            not {"user", "item", "rating"} <= set(roles):
        raise NotFast
    use = [roles.index(role) for role in ("user", "item", "rating", "timestamp")
           if role in roles]
    record = np.dtype([(name, kind) for name, kind in (("user", np.int64), ("item", np.int64),
                                                       ("rating", np.float64),
                                                       ("time", np.int64))][:len(use)])
    capacity = _count_lines(path, layout.data_offset)
    out = {name: np.empty(capacity, record[name]) for name in record.names}
    filled = 0
    for block in _blocks(path, layout, progress):
        parsed, checked = _parse_block(block, layout, use, record)
        m = len(parsed)
        if filled + m > capacity or not _lossless_ids(checked, parsed, layout, use):
            raise NotFast  # more rows than newlines ("\r" line ends), or an id's text lost
        for name in record.names:
            out[name][filled:filled + m] = parsed[name]
        filled += m
    if filled == 0 or not np.isfinite(out["rating"][:filled]).all():
        raise NotFast  # the slow path names the line
    times = out["time"][:filled].astype(float) if "time" in out else None
    if times is not None and not np.all((times >= TIME_RANGE[0]) & (times <= TIME_RANGE[1])):
        raise NotFast  # a time out of range: the slow path names its line
    user_ids, rows = ids.number(out.pop("user")[:filled])
    item_ids, cols = ids.number(out.pop("item")[:filled])
    return Triples(user_ids, rows, item_ids, cols, out["rating"][:filled], times, None)


def _count_lines(path, offset):
    """Lines of a file from offset, the last one counted even without its newline (an upper
    bound on the ratings it holds)."""
    count = 0
    with open_text(path, "ratings") as stream:
        skip(stream, offset)
        while chunk := stream.read(BLOCK_BYTES):
            count += chunk.count(b"\n")
    return count + 1


def _blocks(path, layout, progress):
    """The file's text from the first data line, in blocks of whole lines."""
    rest = b""
    with open_text(path, "ratings") as stream:
        skip(stream, layout.data_offset)
        while chunk := stream.read(BLOCK_BYTES):
            chunk = rest + chunk
            end = chunk.rfind(b"\n") + 1  # 0 when a line is longer than a block: read on
            block, rest = chunk[:end], chunk[end:]
            if len(rest) > MAX_LINE:
                raise NotFast  # the slow path refuses the line as soon as it sees it
            if block:
                yield block
            if progress is not None:
                progress(stream.consumed(), stream.size)
    if rest.strip():  # a last line without its newline
        yield rest + b"\n"


def _parse_block(block, layout, use, record):
    """A block of lines as records of (user, item, rating[, time]), and the bytes whose
    separators ``_lossless_ids`` checks; or NotFast.

    ``np.loadtxt`` refuses any line whose number of fields differs from the first's, and
    any field that is not an integer id, a number or an integer time: such files take the
    slow path, which accepts what it can (empty trailing fields, string ids) and names the
    line of what it cannot.
    """
    separator = layout.separator
    if separator == "::":
        if b"," in block:
            raise NotFast
        block = block.replace(b"::", b",")
        separator = ","
    try:
        parsed = np.loadtxt(io.BytesIO(block), encoding="utf-8", ndmin=1, comments=None,
                            delimiter=None if separator == " " else separator, quotechar=None,
                            usecols=use, dtype=record)
    except (ValueError, UnicodeDecodeError, KeyError, IndexError) as err:
        raise NotFast from err
    return parsed, block


def _lossless_ids(block, parsed, layout, use):
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
    line_starts = np.empty(m, dtype=np.int64)
    line_starts[0] = 0
    line_starts[1:] = cuts[:-1, -1] + 1

    def length(field):  # bytes of each line's field number ``field``
        start = line_starts if field == 0 else cuts[:, field - 1] + 1
        return cuts[:, field] - start
    return (_is_decimal_length(parsed["user"], length(use[0]))
            and _is_decimal_length(parsed["item"], length(use[1])))


def _is_decimal_length(values, lengths):
    """Whether each non-negative value has exactly ``lengths`` decimal digits (0 has one)."""
    if values.min() < 0 or lengths.min() < 1 or lengths.max() > 19:
        return False
    low = np.where(lengths == 1, 0, _POW10[np.minimum(lengths, 19) - 1])
    fits = (lengths == 19) | (values < _POW10[np.minimum(lengths, 18)])
    return bool(np.all(values >= low) and np.all(fits))

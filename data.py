"""Ratings data: files, held-out splits and synthetic matrices drawn from planted mixtures.

Ratings files hold "user item rating [timestamp]" lines (the MovieLens formats);
``load_ratings`` turns one into a sparse user x item matrix. ``holdout`` hides a fraction of
the ratings for an honest test. ``load_matrix`` reads the course's whitespace-separated
matrices. ``synthetic_ratings`` and ``planted_sparse_ratings`` draw Netflix-like matrices
from a planted mixture, dense and at scale, for tests, benchmarks and the course's default.
"""
import csv
import io
import os
import re
from typing import NamedTuple

import numpy as np
from scipy import sparse

from common import GaussianMixture, check_ratings, check_seed, is_real


# ---------------------------------------------------------------------------------------
# Ratings files: "user item rating [timestamp]" lines

def load_ratings(path, *, progress=None, fast=True):
    """Read a ratings file into a sparse user x item matrix.

    One rating a line, ``user item rating`` with an optional fourth column (a timestamp,
    ignored), separated by commas, tabs, ``::`` or whitespace (the MovieLens formats: the
    separator is read off the first line). A first line whose rating is not a number is
    taken for a header and skipped; blank lines and empty trailing fields (as a spreadsheet
    exports them) are skipped; a comma-separated field may be quoted. The file is UTF-8
    (a byte-order mark is dropped). Ids are numbered in sorted order: numerically when they
    are all integers, else as strings.

    Files of integer ids are parsed in C (``np.loadtxt``, a block at a time), at about the
    speed of ``np.loadtxt`` on the whole file and within its memory. Files of string ids,
    quoted fields or empty trailing fields take a slower line-by-line path (about 15x
    slower); so does any file with an error, which that path then reports.

    Parameters
    ----------
    path : str or path-like
    progress : callable or None
        Called as ``progress(bytes_read, bytes_total)`` as the file is read.
    fast : bool, default True
        False reads every file line by line, as the slow path does (the same result).

    Returns
    -------
    X : csr_array of shape (n, d)
        ``X[u, l]`` the rating of user ``user_ids[u]`` for item ``item_ids[l]``, 0 = missing.
    user_ids : ndarray of shape (n,)
    item_ids : ndarray of shape (d,)

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        Naming the file and line of the first malformed line: a wrong number of fields, an
        empty field, a rating that is not a finite non-zero number (0 means "missing"), a
        (user, item) pair rated twice, text that is not UTF-8; or a file that holds no
        rating (empty, blank, header only), is compressed, UTF-16 or binary.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"ratings file not found: {path}")
    layout = _sniff(path)
    if fast:
        try:
            return _load_fast(path, layout, progress)
        except _NotFast:
            pass
    return _load_slow(path, layout, progress)


class _Layout(NamedTuple):
    """What the first line of a ratings file says about the rest."""

    separator: str  # ",", "\t", "::" or " " (any whitespace)
    header: bool
    bom: int  # bytes of the UTF-8 byte-order mark to skip, 0 or 3
    n_fields: int  # of the first rating line: 3 or 4 on the fast path


_BOM = b"\xef\xbb\xbf"


def _sniff(path):
    """The separator and header of a ratings file, from its first non-blank line."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError(f"{path} is UTF-16 text; save it as UTF-8")
    if head.startswith(b"\x1f\x8b"):
        raise ValueError(f"{path} is gzip-compressed; decompress it first")
    if b"\x00" in head:
        raise ValueError(f"{path} is not a text file (it holds NUL bytes)")
    bom = len(_BOM) if head.startswith(_BOM) else 0
    lines = [line for line in head[bom:].splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{path} holds no ratings")
    first = lines[0]
    separator = ("::" if b"::" in first else "," if b"," in first else
                 "\t" if b"\t" in first else " ")
    fields = _split(first.decode("utf-8", "replace"), separator)
    try:
        float(fields[2] if len(fields) > 2 else "")
        header = False
    except ValueError:
        header = True
    data_line = lines[1] if header and len(lines) > 1 else first
    n_fields = len(_split(data_line.decode("utf-8", "replace"), separator))
    return _Layout(separator, header, bom, n_fields)


def _numbered_lines(f):
    """``(number, line)`` of a binary file, lines ended by "\\n", "\\r\\n" or "\\r" alone."""
    number = 0
    for raw in f:
        for line in raw.rstrip(b"\r\n").split(b"\r"):
            number += 1
            yield number, line


def _split(line, separator):
    """The fields of one line, stripped, empty trailing ones dropped."""
    if separator == ",":
        try:
            fields = next(csv.reader([line.rstrip("\r\n")]), [])
        except csv.Error:  # an unbalanced quote: split as it stands
            fields = line.split(",")
    elif separator == " ":
        fields = line.split()
    else:
        fields = line.split(separator)
    fields = [field.strip() for field in fields]
    while fields and not fields[-1]:
        fields.pop()
    return fields


class _NotFast(Exception):
    """The fast path cannot read this file; the slow one reads it or says what is wrong."""


# Bytes the fast path reads at a time: 16 MiB, so that a block's temporaries stay small.
BLOCK_BYTES = 1 << 24


def _load_fast(path, layout, progress):
    """Integer ids, clean separators: ``np.loadtxt`` a block at a time, or _NotFast."""
    total = os.path.getsize(path)
    capacity = _count_lines(path)
    users = np.empty(capacity, np.int64)
    items = np.empty(capacity, np.int64)
    ratings = np.empty(capacity)
    filled = 0
    for block in _blocks(path, layout, progress, total):
        if not block.strip():  # e.g. nothing after the header
            continue
        parsed = _parse_block(block, layout)
        m = len(parsed)
        if filled + m > capacity:  # more rows than newlines: lines ended by "\r" alone
            raise _NotFast
        users[filled:filled + m] = parsed["user"]
        items[filled:filled + m] = parsed["item"]
        ratings[filled:filled + m] = parsed["rating"]
        filled += m
    users, items, ratings = users[:filled], items[:filled], ratings[:filled]
    if filled == 0 or not (np.isfinite(ratings).all() and ratings.all()):
        raise _NotFast  # the slow path names the line
    user_ids, rows = _number_int_ids(users)
    del users
    item_ids, cols = _number_int_ids(items)
    del items
    X = sparse.coo_array((ratings, (rows, cols)), shape=(len(user_ids), len(item_ids)))
    del ratings, rows, cols
    X = X.tocsr()  # sums repeated pairs: fewer entries than lines means one was rated twice
    if X.nnz != filled:
        raise _NotFast
    return X, user_ids, item_ids


def _count_lines(path):
    """Lines in a file, the last one counted even without its newline (an upper bound)."""
    count = 0
    with open(path, "rb") as f:
        while chunk := f.read(BLOCK_BYTES):
            count += chunk.count(b"\n")
    return count + 1


def _blocks(path, layout, progress, total):
    """The file's text in blocks of whole lines, byte-order mark and header dropped."""
    done, rest, header_pending = 0, b"", layout.header
    with open(path, "rb") as f:
        f.read(layout.bom)
        while chunk := f.read(BLOCK_BYTES):
            done += len(chunk)
            chunk = rest + chunk
            end = chunk.rfind(b"\n") + 1  # 0 when a line is longer than a block: read on
            block, rest = chunk[:end], chunk[end:]
            if header_pending:
                block, header_pending = _drop_header(block)
            yield block
            if progress is not None:
                progress(done, total)
    if rest.strip():  # a last line without its newline
        yield _drop_header(rest + b"\n")[0] if header_pending else rest + b"\n"


def _drop_header(block):
    """The block after its first non-blank line, and whether the block still had to drop it
    (False once it is dropped; True, with nothing left, if the block is all blank)."""
    start = 0
    while (end := block.find(b"\n", start)) >= 0:
        if block[start:end].strip():
            return block[end + 1:], False
        start = end + 1
    return b"", True


def _parse_block(block, layout):
    """A block of lines as records of (user, item, rating[, time]), or _NotFast.

    ``np.loadtxt`` refuses any line whose number of fields differs from the first's, and
    any field that is not an integer id, a number or an integer time: such files take the
    slow path, which accepts what it can (empty trailing fields, string ids) and names the
    line of what it cannot.
    """
    separator = layout.separator
    if separator == "::":
        if b"," in block or b"\t" in block:
            raise _NotFast
        block = block.replace(b"::", b",")
        separator = ","
    try:
        return np.loadtxt(io.BytesIO(block), encoding="utf-8", ndmin=1, comments=None,
                          delimiter=None if separator == " " else separator, quotechar=None,
                          dtype=_RECORD[layout.n_fields])
    except (ValueError, UnicodeDecodeError, KeyError) as err:
        raise _NotFast from err


_RECORD = {3: np.dtype([("user", np.int64), ("item", np.int64), ("rating", np.float64)]),
           4: np.dtype([("user", np.int64), ("item", np.int64), ("rating", np.float64),
                        ("time", np.int64)])}


def _number_int_ids(ids):
    """Sorted distinct integer ids and each id's number (int32 where it fits)."""
    low, high = ids.min(), ids.max()
    if 0 <= low and high < max(4 * len(ids), 1 << 24):
        # small non-negative ids, as MovieLens and Netflix have: a lookup table, no sort
        present = np.zeros(high + 1, dtype=bool)
        present[ids] = True
        distinct = np.flatnonzero(present)
        number = np.zeros(high + 1, dtype=np.int32 if len(distinct) < 2 ** 31 else np.int64)
        number[distinct] = np.arange(len(distinct))
        return distinct.astype(np.int64), number[ids]
    distinct, numbers = np.unique(ids, return_inverse=True)
    return distinct, numbers.astype(np.int32 if len(distinct) < 2 ** 31 else np.int64)


def _load_slow(path, layout, progress):
    """Line by line in Python: any ids, quoted fields, and the exact line of any error."""
    users, items, values, lines = [], [], [], []
    total, done = os.path.getsize(path), 0
    header = _first_line(path, layout) if layout.header else 0
    with open(path, "rb") as f:
        f.read(layout.bom)
        for number, raw in _numbered_lines(f):
            done += len(raw)
            if progress is not None and number % 1_000_000 == 0:
                progress(done, total)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise ValueError(f"{path}, line {number}: not UTF-8 text ({err.reason} at byte "
                                 f"{err.start} of the line); save the file as UTF-8") from None
            fields = _split(line, layout.separator)
            if not fields or number == header:
                continue
            _check_fields(fields, line, path, number)
            users.append(fields[0])
            items.append(fields[1])
            values.append(float(fields[2]))
            lines.append(number)
    if progress is not None:
        progress(total, total)
    if not values:
        raise ValueError(f"{path} holds no ratings")
    user_ids, rows = _number_ids(users)
    item_ids, cols = _number_ids(items)
    _check_no_repeated_pairs(rows, cols, len(item_ids), lines, path)
    X = sparse.coo_array((values, (rows, cols)), shape=(len(user_ids), len(item_ids)))
    return X.tocsr(), user_ids, item_ids


def _first_line(path, layout):
    """The number of the file's first non-blank line (where a header would be)."""
    with open(path, "rb") as f:
        f.read(layout.bom)
        for number, raw in _numbered_lines(f):
            if raw.strip():
                return number
    return 0


def _check_fields(fields, line, path, number):
    """ValueError naming file and line unless the fields are user, item, rating [, time]."""
    shown = line.strip()
    shown = repr(shown if len(shown) <= 80 else shown[:80] + "...")  # not a 200 MB message
    if len(fields) not in (3, 4):
        raise ValueError(f"{path}, line {number}: expected 'user item rating [timestamp]', "
                         f"got {len(fields)} fields: {shown}")
    empty = [i + 1 for i, field in enumerate(fields) if not field]
    if empty:
        raise ValueError(f"{path}, line {number}: field {empty[0]} is empty: {shown}")
    try:
        rating = float(fields[2])
    except ValueError:
        raise ValueError(f"{path}, line {number}: rating {fields[2][:40]!r} is not a "
                         "number") from None
    if not np.isfinite(rating) or rating == 0:
        raise ValueError(f"{path}, line {number}: rating must be a finite non-zero "
                         f"number (0 means missing), got {fields[2][:40]!r}")


_INTEGER = re.compile(r"[+-]?\d+")


def index_of(known_ids, ids):
    """The position of each id among ``known_ids`` (as ``load_ratings`` returns them), or -1.

    Parameters
    ----------
    known_ids : ndarray of shape (n,)
        Sorted distinct ids, e.g. the ``user_ids`` of a training file.
    ids : array_like of shape (m,)
        Ids to look up, e.g. those of a test file.

    Returns
    -------
    ndarray of int, shape (m,)
        ``known_ids[index] == ids`` where found, -1 where not.
    """
    known_ids = np.asarray(known_ids)
    ids = np.asarray(ids)
    if known_ids.dtype.kind != ids.dtype.kind:  # integer ids on one side, strings on the other
        known_ids, ids = known_ids.astype(str), ids.astype(str)
        order = np.argsort(known_ids)
        found = index_of(known_ids[order], ids)
        return np.where(found >= 0, order[np.maximum(found, 0)], -1)
    position = np.minimum(np.searchsorted(known_ids, ids), max(len(known_ids) - 1, 0))
    hit = (known_ids[position] == ids) if len(known_ids) else np.zeros(len(ids), dtype=bool)
    return np.where(hit, position, -1)


def _number_ids(ids):
    """Sorted distinct ids (as integers when they all are) and each id's number."""
    return np.unique(_typed_ids(ids), return_inverse=True)


def _check_no_repeated_pairs(rows, cols, d, lines, path):
    """Raise ValueError naming the line that rates a (user, item) pair a second time."""
    key = rows.astype(np.int64) * d + cols
    order = np.argsort(key, kind="stable")
    repeated = np.flatnonzero(key[order][1:] == key[order][:-1])
    if len(repeated):
        first, second = lines[order[repeated[0]]], lines[order[repeated[0] + 1]]
        raise ValueError(f"{path}, line {second}: the pair rated on line {first} is rated "
                         "again")


# ---------------------------------------------------------------------------------------
# Items files (titles) and pairs files (user, item)

def load_items(path):
    """Read an items file: each item's id and title.

    Two formats, told apart by their content: MovieLens ``movies.csv`` (``movieId,title,
    genres``, a header, titles quoted where they hold commas, UTF-8) and ``u.item``
    (``id|title|date|...``, ``|``-separated, latin-1, no header).

    Returns
    -------
    item_ids : ndarray of shape (m,)
        As ``load_ratings`` numbers them: integers when they all are, else strings.
    titles : ndarray of str, shape (m,)
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"items file not found: {path}")
    with open(path, "rb") as f:
        first = f.readline()
    pipe = first.split(b"|")[0].strip().isdigit()
    encoding = "latin-1" if pipe else "utf-8-sig"
    ids, titles = [], []
    try:
        with open(path, newline="", encoding=encoding) as f:
            rows = csv.reader(f, delimiter="|" if pipe else ",",
                              quoting=csv.QUOTE_NONE if pipe else csv.QUOTE_MINIMAL)
            for number, row in enumerate(rows, 1):
                if not row or not "".join(row).strip():
                    continue
                if len(row) < 2:
                    raise ValueError(f"{path}, line {number}: expected 'id{'|' if pipe else ','}"
                                     f"title...', got {len(row)} field")
                if number == 1 and not pipe and not _INTEGER.fullmatch(row[0].strip()):
                    continue  # the header, "movieId,title,genres"
                ids.append(row[0].strip())
                titles.append(row[1].strip())
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text ({err.reason}); movies.csv is UTF-8, "
                         "u.item latin-1") from None
    except csv.Error as err:
        raise ValueError(f"{path}: {err}") from None
    if not ids:
        raise ValueError(f"{path} holds no items")
    return _typed_ids(ids), np.array(titles)


def load_pairs(path):
    """Read ``user item`` pairs, one a line, with the separators of ratings files.

    Returns
    -------
    users, items : ndarray of shape (m,)
        The raw ids, typed as ``load_ratings`` types them (integers when they all are).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"pairs file not found: {path}")
    layout = _sniff(path)
    users, items = [], []
    with open(path, "rb") as f:
        f.read(layout.bom)
        for number, raw in _numbered_lines(f):
            try:
                fields = _split(raw.decode("utf-8"), layout.separator)
            except UnicodeDecodeError:
                raise ValueError(f"{path}, line {number}: not UTF-8 text") from None
            if not fields:
                continue
            if len(fields) < 2 or not all(fields[:2]):
                raise ValueError(f"{path}, line {number}: expected 'user item', got "
                                 f"{raw.decode('utf-8').strip()[:80]!r}")
            users.append(fields[0])
            items.append(fields[1])
    if not users:
        raise ValueError(f"{path} holds no pairs")
    return _typed_ids(users), _typed_ids(items)


def load_test_ratings(path, user_ids, item_ids):
    """Read a test ratings file against a training file's ids.

    Parameters
    ----------
    path : str or path-like
        A ratings file, in any format ``load_ratings`` reads.
    user_ids, item_ids : ndarray
        The training file's ids, as ``load_ratings`` returned them.

    Returns
    -------
    Hidden
        ``rows``, ``cols`` (the training matrix's, -1 for an id it lacks) and ``values``,
        each of shape (m,).
    """
    T, test_users, test_items = load_ratings(path)
    rows, cols = T.nonzero()
    return Hidden(index_of(user_ids, test_users[rows]), index_of(item_ids, test_items[cols]),
                  T.data)


def _typed_ids(ids):
    """Ids as an array: int64 when they are all integers (Python ints beyond int64, still in
    numeric order), else strings."""
    if all(_INTEGER.fullmatch(i) for i in ids):
        numbers = [int(i) for i in ids]
        try:
            return np.array(numbers, dtype=np.int64)
        except OverflowError:
            return np.array(numbers, dtype=object)
    return np.array(ids)


# ---------------------------------------------------------------------------------------
# Held-out evaluation

class Hidden(NamedTuple):
    """Entries hidden from a ratings matrix: ``X[rows[i], cols[i]] == values[i]``."""

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray


def holdout(X, fraction, seed=0):
    """Hide a random fraction of the observed entries of X, for an honest test.

    Every user keeps at least one rating (so a user with a single rating keeps it); of the
    others, ``round(fraction * n_observed)`` entries are hidden, or all of them if there
    are fewer.

    Parameters
    ----------
    X : array_like or sparse array of shape (n, d)
        Ratings, 0 = missing.
    fraction : float
        In [0, 1).
    seed : int
        Seed of the ``RandomState`` that picks the entries.

    Returns
    -------
    X_train : ndarray or csr_array of shape (n, d)
        X with the hidden entries set to 0 (removed, when X is sparse); X is not changed.
    hidden : Hidden
        ``rows``, ``cols``, ``values``, each of shape (m,), in row-major order.
    """
    if not (is_real(fraction) and 0 <= fraction < 1):
        raise ValueError(f"fraction must be a number in [0, 1), got {fraction!r}")
    X = check_ratings(X)
    if sparse.issparse(X):
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        cols, values = X.indices, X.data
    else:
        rows, cols = np.nonzero(X)
        values = X[rows, cols]
    rng = np.random.RandomState(check_seed(seed))
    # each user keeps the rating that draws the smallest key
    key = rng.uniform(size=len(rows))
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if len(rows) else np.array([], int)
    kept_key = np.minimum.reduceat(key, starts) if len(rows) else key
    protected = key == np.repeat(kept_key, np.diff(np.r_[starts, len(rows)]))
    candidates = np.flatnonzero(~protected)
    n_hidden = min(int(round(fraction * len(rows))), len(candidates))
    hide = np.zeros(len(rows), dtype=bool)
    hide[rng.permutation(candidates)[:n_hidden]] = True
    hidden = Hidden(rows[hide], cols[hide].astype(np.intp), values[hide])
    if sparse.issparse(X):
        keep = ~hide
        indptr = np.r_[0, np.cumsum(np.bincount(rows[keep], minlength=X.shape[0]))]
        X_train = sparse.csr_array((values[keep], cols[keep], indptr), shape=X.shape)
    else:
        X_train = X.copy()
        X_train[hidden.rows, hidden.cols] = 0
    return X_train, hidden


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
# The embedded default: a synthetic ratings matrix drawn from a planted mixture.

def synthetic_ratings(n=1200, d=1200, K=12, observed=0.77, seed=0):
    """Draw a Netflix-like ratings matrix from a planted mixture of spherical Gaussians.

    Each user belongs to one of K taste groups; a rating is the group's mean for the item
    plus Gaussian noise, rounded and clipped to the stars 1..5.  Users rate a fraction of
    the items that varies from user to user (Beta-distributed around ``observed``), the
    rest is hidden (0), as in the course's 1200 x 1200 matrix, 77% of which is rated.

    Parameters
    ----------
    n, d : int
        Users and items.
    K : int
        Planted groups.
    observed : float
        Mean fraction of rated entries, in (0, 1).
    seed : int
        Seed of the ``RandomState`` that draws everything.

    Returns
    -------
    X : ndarray of shape (n, d)
        The incomplete ratings, 0 = missing.
    X_complete : ndarray of shape (n, d)
        Every rating.
    planted : GaussianMixture
        The mixture the ratings were drawn from (before rounding).
    """
    rng = np.random.RandomState(seed)
    mu = rng.uniform(1.5, 4.5, size=(K, d))
    var = rng.uniform(0.3, 0.8, size=K)
    p = rng.dirichlet(np.full(K, 5.0))
    group = rng.choice(K, size=n, p=p)
    noise = rng.standard_normal((n, d)) * np.sqrt(var)[group, None]
    X_complete = np.clip(np.rint(mu[group] + noise), 1, 5)
    concentration = 4.0
    rate = rng.beta(concentration * observed, concentration * (1 - observed), size=n)
    X = np.where(rng.uniform(size=(n, d)) < rate[:, None], X_complete, 0.0)
    return X, X_complete, GaussianMixture(mu, var, p)


def planted_sparse_ratings(n, d, n_ratings, K=12, seed=0, users_per_chunk=50_000):
    """A CSR matrix of exactly ``n_ratings`` ratings 1..5 drawn from a planted mixture.

    Users rate a heavy-tailed (log-normal) number of items; user u's items are
    ``(offset_u + k * stride_u) mod d``, k < count_u, with stride_u prime to d, so they are
    distinct without rejection; each rating is its group's mean for the item plus noise,
    rounded and clipped. Built in chunks of users to bound the temporaries.

    Returns
    -------
    X : csr_array of shape (n, d)
    planted : GaussianMixture
    """
    rng = np.random.RandomState(seed)
    weights = rng.lognormal(0.0, 1.0, size=n)
    counts = np.minimum(1 + np.floor(weights / weights.sum() * (n_ratings - n)), d).astype(np.int64)
    while counts.sum() < n_ratings:  # top up the rounding shortfall, users with room first
        room = np.flatnonzero(counts < d)[: n_ratings - counts.sum()]
        counts[room] += 1
    mu = rng.uniform(1.5, 4.5, size=(K, d))
    var = rng.uniform(0.3, 0.8, size=K)
    p = rng.dirichlet(np.full(K, 5.0))
    group = rng.choice(K, size=n, p=p)
    coprime = np.flatnonzero(np.gcd(np.arange(d), d) == 1)
    offset, stride = rng.randint(0, d, size=n), rng.choice(coprime, size=n)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    indices = np.empty(n_ratings, dtype=np.int32)
    data = np.empty(n_ratings)
    for first in range(0, n, users_per_chunk):
        users = np.arange(first, min(first + users_per_chunk, n))
        lo, hi = indptr[users[0]], indptr[users[-1] + 1]
        row = np.repeat(users, counts[users])
        k = np.arange(hi - lo) - np.repeat(indptr[users] - lo, counts[users])
        items = (offset[row] + k * stride[row]) % d
        items = np.sort((row - first) * d + items) % d  # sort each user's items
        indices[lo:hi] = items
        noise = rng.standard_normal(hi - lo) * np.sqrt(var)[group[row]]
        data[lo:hi] = np.clip(np.rint(mu[group[row], items] + noise), 1, 5)
    X = sparse.csr_array((data, indices, indptr), shape=(n, d))
    return X, GaussianMixture(mu, var, p)

"""User and item ids exactly as a ratings file writes them: typed, numbered, looked up, stored.

An id is the text in the file. Integers are only a fast path, taken when they are lossless:
ASCII digits without a sign or a leading zero, within int64, so that ``str(int(text)) ==
text``. Otherwise ids stay strings, each one printed back exactly as it was read: ``007``
and ``7`` are two users, an ISBN ``0345339703`` keeps its zero, and one id beyond int64
makes its column text, not numbers. The rule is per column: user ids may be integers while
item ids are text.

Typed ids come as an int64 ndarray, or an object ndarray of ``str`` (memory in proportion to
each id's length, not to the longest one, as a fixed-width ``<U`` array would cost).
``number`` sorts them (numerically, or by text) and numbers the rows of a ratings matrix;
``index_of`` finds given ids among them by the same rule; ``encode`` / ``decode`` store
them in a model file as one UTF-8 byte string and offsets.
"""
import re

import numpy as np

INT64_MAX = 2 ** 63 - 1

# ASCII digits only ("\d" would take Arabic-Indic digits too), no sign, no leading zero
_LOSSLESS = re.compile(r"0|[1-9][0-9]{0,18}")
# the text of any int64, negative ones included (a model file may hold them): "-5", not "-05"
_SIGNED = re.compile(r"0|-?[1-9][0-9]{0,18}")


def is_lossless_integer(text):
    """Whether a text is an integer that int64 holds and ``str`` gives back unchanged."""
    return _LOSSLESS.fullmatch(text) is not None and int(text) <= INT64_MAX


def typed(texts):
    """Ids from their texts: int64 when every text is a lossless integer, else strings.

    Parameters
    ----------
    texts : sequence of str

    Returns
    -------
    ndarray of shape (m,)
        int64, or object holding the texts themselves.
    """
    texts = list(texts)
    if all(is_lossless_integer(text) for text in texts):
        return np.array([int(text) for text in texts], dtype=np.int64)
    return _object_array(texts)


def from_values(values, name):
    """Ids from a column of values (numbers or strings, e.g. a pandas Series), or ValueError.

    Non-negative integers within int64 are integer ids; strings follow ``typed``'s rule;
    negative integers, which a file would write with a sign, become their text. Anything
    else (floats, booleans, missing values) is refused, naming the column and position.

    Returns
    -------
    ndarray of shape (m,)
    """
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {array.shape}")
    kind = array.dtype.kind
    if kind in "iu":
        if array.size == 0 or (array.min() >= 0 and int(array.max()) <= INT64_MAX):
            return array.astype(np.int64)
        return _object_array([str(v) for v in array.tolist()])
    if kind == "U":
        return typed(array.tolist())
    if kind == "O":
        return _from_objects(array, name)
    raise ValueError(f"{name} must hold integer or string ids, got dtype {array.dtype}"
                     + (" (convert whole-number floats with .astype('int64'))"
                        if kind == "f" else ""))


def _from_objects(array, name):
    """Ids from an object array of integers and strings: each one's text, then ``typed``."""
    texts = []
    for position, item in enumerate(array.tolist()):
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, (int, np.integer)) and not isinstance(item, bool):
            texts.append(str(int(item)))
        else:
            raise ValueError(f"{name}[{position}] is {item!r}: ids must be integers or "
                             "strings (no missing values)")
    return typed(texts)


def _object_array(texts):
    """An object ndarray holding these strings (np.array would make fixed-width <U)."""
    out = np.empty(len(texts), dtype=object)
    out[:] = texts
    return out


def number(ids):
    """Sorted distinct ids, and each id's position among them.

    Parameters
    ----------
    ids : ndarray of shape (m,)
        Typed ids (int64 or object strings).

    Returns
    -------
    distinct : ndarray of shape (k,)
        Sorted: numerically for integers, by text (code point) for strings.
    codes : ndarray of int, shape (m,)
        ``distinct[codes] == ids``; int32 when k allows.
    """
    code_type = np.int32 if len(ids) < 2 ** 31 else np.int64
    if ids.dtype.kind == "i":
        return _number_integers(ids, code_type)
    first_seen = {}
    codes = np.fromiter((first_seen.setdefault(text, len(first_seen)) for text in ids),
                        dtype=np.int64, count=len(ids))
    distinct = _object_array(list(first_seen))
    order = np.argsort(distinct, kind="stable")
    rank = np.empty(len(order), dtype=code_type)
    rank[order] = np.arange(len(order))
    return distinct[order], rank[codes]


def _number_integers(ids, code_type):
    """``number`` of int64 ids: a lookup table for small non-negative ones, else a sort."""
    if len(ids) == 0:
        return ids.copy(), np.zeros(0, dtype=code_type)
    low, high = ids.min(), ids.max()
    if 0 <= low and high < max(4 * len(ids), 1 << 24):
        # small non-negative ids, as MovieLens and Netflix have: a lookup table, no sort
        present = np.zeros(high + 1, dtype=bool)
        present[ids] = True
        distinct = np.flatnonzero(present)
        table = np.zeros(high + 1, dtype=code_type)
        table[distinct] = np.arange(len(distinct))
        return distinct.astype(np.int64), table[ids]
    distinct, codes = np.unique(ids, return_inverse=True)
    return distinct, codes.astype(code_type)


def index_of(known_ids, ids):
    """The position of each id among ``known_ids`` (sorted distinct typed ids), or -1.

    Ids match when their texts are equal: the integer 7 matches the text ``"7"``, never
    ``"007"``.

    Parameters
    ----------
    known_ids : ndarray of shape (n,)
        Sorted distinct ids, as ``number`` or ``load_ratings`` give them.
    ids : array_like of shape (m,)
        Ids to look up: typed ids, strings (e.g. from the command line) or integers.

    Returns
    -------
    ndarray of int, shape (m,)
    """
    known_ids, ids = as_known(known_ids, "known_ids"), np.asarray(ids)
    if ids.dtype.kind not in "iuOU":
        raise ValueError(f"ids must be integers or strings, got dtype {ids.dtype}")
    if known_ids.dtype.kind == "i" and ids.dtype.kind in "iu":
        return _search(known_ids, ids)
    if known_ids.dtype.kind == "i":
        # texts against integer ids: only the exact text of an int64 can match
        as_int = [_integer_value(t) for t in ids.tolist()]
        valid = np.array([v is not None for v in as_int], dtype=bool)
        found = _search(known_ids, np.array([0 if v is None else v for v in as_int],
                                            dtype=np.int64))
        return np.where(valid, found, -1)
    position = {text: i for i, text in enumerate(known_ids.tolist())}
    return np.fromiter((position.get(t if isinstance(t, str) else str(t), -1)
                        for t in ids.tolist()), dtype=np.intp, count=len(ids))


def as_known(known_ids, name):
    """Known ids as ``index_of`` compares them, or ValueError naming them: any integer dtype
    that int64 holds becomes int64 (uint32 ids would otherwise be compared as text and
    never match), strings stay; floats and booleans are refused."""
    known_ids = np.asarray(known_ids)
    if known_ids.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {known_ids.shape}")
    kind = known_ids.dtype.kind
    if kind == "u" and (known_ids.size == 0 or int(known_ids.max()) <= INT64_MAX):
        return known_ids.astype(np.int64)
    if kind in "iOU":
        return known_ids
    raise ValueError(f"{name} must hold integer (int64) or string ids, got dtype "
                     f"{known_ids.dtype}")


def _integer_value(t):
    """The int64 an id given as text or integer stands for, or None (no int64 id's text)."""
    if isinstance(t, str):
        return int(t) if _SIGNED.fullmatch(t) and -INT64_MAX - 1 <= int(t) <= INT64_MAX \
            else None
    if isinstance(t, (int, np.integer)) and not isinstance(t, bool):
        return int(t) if -INT64_MAX - 1 <= int(t) <= INT64_MAX else None
    return None


def _search(known, ids):
    """index_of for integer ids on both sides, by binary search."""
    if len(known) == 0:
        return np.full(len(ids), -1, dtype=np.intp)
    position = np.minimum(np.searchsorted(known, ids), len(known) - 1)
    return np.where(known[position] == ids, position, -1).astype(np.intp)


def texts(ids):
    """Each id's text, as the file wrote it (a list of str)."""
    return [str(i) for i in np.asarray(ids).tolist()]


# ---------------------------------------------------------------------------------------
# Storage: a model file holds ids as plain arrays, without pickle and without fixed width

def encode(ids):
    """Ids as arrays a model file stores: ``{"ints": int64}`` or ``{"utf8", "offsets"}``.

    String ids become one UTF-8 byte string (uint8) and the (m + 1,) int64 offsets of
    each id in it, so that they cost their own length.
    """
    ids = np.asarray(ids)
    if ids.dtype.kind == "i":
        return {"ints": ids.astype(np.int64)}
    encoded = [text.encode("utf-8") for text in texts(ids)]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return {"utf8": np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), "offsets": offsets}


def decode(utf8, offsets, name):
    """String ids back from ``encode``'s arrays, or ValueError naming them (a bad file)."""
    offsets, utf8 = np.asarray(offsets), np.asarray(utf8)
    if offsets.dtype.kind not in "iu" or utf8.dtype != np.uint8 or utf8.ndim != 1:
        raise ValueError(f"{name}: the ids must be stored as UTF-8 bytes (uint8) and integer "
                         f"offsets, got {utf8.dtype} and {offsets.dtype}")
    offsets = offsets.astype(np.int64)  # differences of a narrow type would wrap around
    if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or \
            offsets[-1] != len(utf8) or np.any(np.diff(offsets) < 0):
        raise ValueError(f"{name}: offsets must rise from 0 to the length of the text")
    raw = bytes(np.asarray(utf8, dtype=np.uint8))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{name}: the ids are not UTF-8 text ({err.reason})") from None
    if len(text) == len(raw):  # ASCII: byte offsets are character offsets
        cuts = offsets.tolist()
        return _object_array([text[a:b] for a, b in zip(cuts[:-1], cuts[1:])])
    try:
        return _object_array([raw[a:b].decode("utf-8")
                              for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist())])
    except UnicodeDecodeError:
        raise ValueError(f"{name}: an offset cuts a character in two") from None


def check_sorted_distinct(ids, name):
    """ValueError naming the array unless its ids are sorted and distinct (as ``number``)."""
    ids = np.asarray(ids)
    if len(ids) < 2:
        return
    if ids.dtype.kind == "i":
        ok = bool(np.all(ids[1:] > ids[:-1]))
    else:
        listed = ids.tolist()
        ok = all(a < b for a, b in zip(listed[:-1], listed[1:]))
    if not ok:
        raise ValueError(f"{name} must be sorted and distinct")

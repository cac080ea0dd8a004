"""The text of ratings, pairs and items files: what any of them may hold, read by one set
of rules.

- a regular file of UTF-8 text, or that text compressed by gzip, bzip2, xz or in a zip
  archive of one file, read as it is: a member that decompresses more than ``MAX_RATIO``-fold
  is refused as soon as it does, as a model file's would be (a directory, FIFO or device,
  UTF-16/32, zstd or binary content is refused, naming the file);
- separators: commas, tabs, ``::``, semicolons, ``|`` or runs of spaces and tabs, inferred
  from the first data lines (``sniff``);
- a header: the first line, when it names the columns (every field a name such as
  ``userId`` and none a number); the names say which column is which, in any order
  (``ROLES``), or ``columns`` does; without a header the columns are positional;
- blank lines, comment lines starting with ``#``, empty trailing fields, quoted fields, a
  UTF-8 byte-order mark, and "\\n", "\\r\\n" or "\\r" line ends;
- a field is the text between separators, without the ASCII spaces and tabs around it,
  the same on every line and in every kind of file (no other character is stripped: an id
  ending in a no-break space keeps it);
- a line longer than ``MAX_LINE``, or holding a NUL byte, is refused as soon as it is seen,
  naming its line.
"""
import bz2
import contextlib
import csv
import gzip
import lzma
import os
import re
import stat
import struct
import zipfile
import zlib
from typing import NamedTuple

import numpy as np

from mixrec.baseline import TIME_RANGE

# A line longer than this is refused as soon as it is seen, not after it has been read.
MAX_LINE = 1 << 20
# Bytes read at a time.
READ_BYTES = 1 << 20
# Data lines the separator is inferred from.
SAMPLE_LINES = 64
# A compressed file may hold at most this many times its own size: past it, it is a bomb.
MAX_RATIO = 1000
# In the order they are tried: the first that splits every sampled line right wins.
SEPARATORS = ("::", "\t", ",", ";", "|", " ")

# What a header may call each column (compared lower case, without "_", "-", " " or "."),
# and "-" for a column to leave out.
ROLES = {
    "user": ("user", "userid", "uid", "users", "customer", "customerid", "reviewer",
             "reviewerid", "member", "memberid"),
    "item": ("item", "itemid", "iid", "items", "movie", "movieid", "isbn", "product",
             "productid", "asin", "book", "bookid", "title", "titleid", "tconst", "song",
             "songid", "track", "trackid", "artist", "artistid", "business", "businessid"),
    "rating": ("rating", "ratings", "score", "stars", "value", "bookrating", "preference",
               "grade"),
    "timestamp": ("timestamp", "time", "date", "datetime", "ratingtimestamp", "unixtime",
                  "ratingtime", "ts"),
}
SKIP = "-"
# The roles each kind of file needs, and those it may hold.
KINDS = {"ratings": (("user", "item", "rating"), ("timestamp",)),
         "pairs": (("user", "item"), ("rating", "timestamp")),
         "user ratings": (("item", "rating"), ("timestamp",))}


class Layout(NamedTuple):
    """What the first lines of a ratings (or pairs) file say about the rest."""

    separator: str  # one of SEPARATORS; " " means any run of ASCII spaces and tabs
    header: str  # the header line as written ("" without one)
    header_line: int  # its line number (0 without one)
    data_offset: int  # offset in the (decompressed) text of the first line after the header
    bom: int  # bytes of the UTF-8 byte-order mark, 0 or 3
    n_fields: int  # fields of the first data line
    columns: tuple  # each field's role ("user", "item", "rating", "timestamp" or "-")


def check_regular_file(path, what):
    """FileNotFoundError if path does not exist; ValueError unless it is a regular file."""
    if not isinstance(path, (str, bytes, os.PathLike)):
        # an int is a file descriptor to os.stat and open: reading would close the caller's
        raise ValueError(f"the {what} file's path must be a str or path-like, got "
                         f"{type(path).__name__}")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} file not found: {path}") from None
    except OSError as err:
        raise ValueError(f"{path}: cannot be read ({err.strerror})") from None
    if stat.S_ISDIR(mode):
        raise ValueError(f"{path} is a directory, not a {what} file")
    if not stat.S_ISREG(mode):
        kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode)
                or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a file")
        raise ValueError(f"{path} is {kind}, not a regular {what} file")


# ---------------------------------------------------------------------------------------
# Plain or compressed: one stream of the file's text bytes

_COMPRESSIONS = [(b"\x1f\x8b", "gzip"), (b"\xfd7zXZ\x00", "xz"),
                 (b"PK\x03\x04", "zip"), (b"\x28\xb5\x2f\xfd", "zstd")]
# bzip2's "BZh" is text (a user "BZhang"): a bzip2 stream is "BZh", a block size 1-9, then
# a block's magic (the digits of pi) or the end-of-stream one (those of sqrt(pi)).
_BZIP2 = re.compile(rb"BZh[1-9](1AY&SY|\x17rE8P\x90)", re.DOTALL)
_DAMAGED = (OSError, EOFError, lzma.LZMAError, zlib.error, zipfile.BadZipFile,
            NotImplementedError, RuntimeError)


class Stream:
    """A file's text bytes, decompressed when it is compressed: ``read(n)``, and how much of
    the file itself has been read (``consumed``, for progress against ``size``)."""

    def __init__(self, path, inner, raw, size, limit):
        self.path, self._inner, self._raw, self.size, self._limit = path, inner, raw, size, limit
        self._given = 0

    def read(self, n):
        try:
            data = self._inner.read(n)
        except _DAMAGED as err:
            raise ValueError(f"{self.path}: its compressed data is damaged ({err})") from None
        self._given += len(data)
        if self._limit is not None and self._given > self._limit:
            raise ValueError(f"{self.path} decompresses to more than {MAX_RATIO} times its "
                             "size: refused as a decompression bomb")
        return data

    def consumed(self):
        return self._raw.tell()


@contextlib.contextmanager
def open_text(path, what):
    """A ``Stream`` of a file's text bytes: as they are, or decompressed (gzip, bzip2, xz,
    or the one file of a zip archive), never more than MAX_RATIO times the file's size."""
    check_regular_file(path, what)
    size = os.path.getsize(path)
    with open(path, "rb") as raw:
        magic = raw.read(10)
        raw.seek(0)
        kind = "bzip2" if _BZIP2.match(magic) else next(
            (name for signature, name in _COMPRESSIONS if magic.startswith(signature)), None)
        if kind is None:
            yield Stream(path, raw, raw, size, None)
            return
        if kind == "zstd":
            raise ValueError(f"{path} is zstd-compressed, which Python cannot read; "
                             "decompress it first (gzip, bzip2, xz and zip files are read as "
                             "they are)")
        limit = MAX_RATIO * size + MAX_LINE
        if kind == "zip":
            with _zip_member(path, raw, what) as member:
                yield Stream(path, member, raw, size, limit)
            return
        opener = {"gzip": lambda f: gzip.GzipFile(fileobj=f), "bzip2": bz2.BZ2File,
                  "xz": lzma.LZMAFile}[kind]
        with opener(raw) as inner:
            yield Stream(path, inner, raw, size, limit)


@contextlib.contextmanager
def _zip_member(path, raw, what="ratings"):
    """The one file of a zip archive, checked before it is read: one file, a small
    directory, no encryption, a known compression, a declared ratio within MAX_RATIO."""
    members, directory = zip_directory(path)
    if members > 64 or directory > 1 << 16:
        raise ValueError(f"{path} is a zip archive of {members} members; give one ratings "
                         "file (a zip of one file is read as it is)")
    try:
        with zipfile.ZipFile(raw) as archive:
            files = [info for info in archive.infolist() if not info.is_dir()]
            if {"format.npy", "header.npy"} <= {info.filename for info in files}:
                raise ValueError(f"{path} is a model file (written by fit or save), not a "
                                 f"{what} file")
            if len(files) != 1:
                raise ValueError(f"{path} is a zip archive of {len(files)} files; it must "
                                 "hold exactly one")
            info = files[0]
            if info.flag_bits & 0x1 or info.compress_type not in (
                    zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                    zipfile.ZIP_LZMA):
                raise ValueError(f"{path}: {info.filename} is encrypted or compressed in a "
                                 f"way zip files are not read here ({info.compress_type})")
            if info.file_size > MAX_RATIO * max(info.compress_size, 1) + MAX_LINE:
                raise ValueError(f"{path} decompresses to more than {MAX_RATIO} times its "
                                 "size: refused as a decompression bomb")
            with archive.open(info) as member:
                yield member
    except _DAMAGED as err:
        raise ValueError(f"{path} is not a readable zip archive ({err})") from None


def zip_directory(path, search=22 + 65535 + 20):
    """``(members, directory bytes)`` a zip archive's end record declares, read from the
    file's tail before anything parses its directory (which costs a member's worth of
    memory and time for each member it lists)."""
    size = os.path.getsize(path)
    damaged = ValueError(f"{path} is not a readable zip archive (no directory at its end)")
    with open(path, "rb") as f:
        f.seek(max(0, size - search))
        tail = f.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            raise damaged
        members, directory = struct.unpack("<HI", tail[at + 10:at + 16])
        if members == 0xFFFF or directory == 0xFFFFFFFF:  # zip64: its own record says
            locator = tail.rfind(b"PK\x06\x07", 0, at)
            if locator < 0:
                raise damaged
            (record,) = struct.unpack("<Q", tail[locator + 8:locator + 16])
            if record > size - 56:
                raise damaged
            f.seek(record)
            head = f.read(56)
            if head[:4] != b"PK\x06\x06":
                raise damaged
            members, directory = struct.unpack("<QQ", head[32:48])
    return members, directory


# ---------------------------------------------------------------------------------------
# The layout: encoding, separator, header, columns

_SIGNATURES = [  # longest first: a UTF-32 little-endian mark starts like UTF-16's
    (b"\xff\xfe\x00\x00", "is UTF-32 text; save it as UTF-8"),
    (b"\x00\x00\xfe\xff", "is UTF-32 text; save it as UTF-8"),
    (b"\xff\xfe", "is UTF-16 text; save it as UTF-8"),
    (b"\xfe\xff", "is UTF-16 text; save it as UTF-8"),
    (b"PK\x05\x06", "is an empty zip archive"),  # its end record, and nothing before it
]
_BOM = b"\xef\xbb\xbf"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ ./()-]{0,63}")


def sniff(path, *, kind="ratings", columns=None, is_data=None):
    """The layout of a ratings, pairs or one user's ratings file, from its first lines.

    Parameters
    ----------
    path : str or path-like
    kind : "ratings", "pairs" or "user ratings"
        Which roles the columns must cover (``KINDS``).
    columns : str, sequence of str or None
        Each column's role, in order (``"user,item,rating"``; ``"-"`` leaves one out): then
        a header line is skipped and its names are not read.
    is_data : callable or None
        ``is_data(fields)``: whether a first line that looks like a header is data after
        all (a pairs file whose first pair is ``alice,book``, known ids).

    Returns
    -------
    Layout

    Raises
    ------
    ValueError
        When the file is not UTF-8 text (UTF-16/32, binary), holds no data line, or a
        header names a column no role is known by.
    """
    required, optional = KINDS[kind]
    given = parse_columns(columns, kind) if columns is not None else None
    with open_text(path, kind) as stream:
        head = stream.read(1 << 16)
        for signature, message in _SIGNATURES:
            if head.startswith(signature):
                raise ValueError(f"{path} {message}")
        if b"\x00" in head:
            raise ValueError(f"{path} is not a text file (it holds NUL bytes: binary, or "
                             "UTF-16/32 without a byte-order mark)")
    bom = len(_BOM) if head.startswith(_BOM) else 0
    sample = []  # (number, text, start offset) of the first data lines
    with open_text(path, kind) as stream:
        skip(stream, bom)
        for number, line, start, _ in content_lines(stream, path, offset=bom):
            text = line.decode("utf-8", "replace")
            if text.strip(" \t") and not text.lstrip(" \t").startswith("#"):
                sample.append((number, text, start))
                if len(sample) > SAMPLE_LINES:
                    break
    if not sample:
        raise ValueError(f"{path} holds no {kind}")
    separator = _infer_separator([text for _, text, _ in sample], len(required))
    number, text, start = sample[0]
    fields = split_fields(text, separator)
    if names_columns(fields) and not (is_data is not None and is_data(fields)):
        rest = sample[1:]
        data_offset = rest[0][2] if rest else None
        n_fields = len(split_fields(rest[0][1], separator)) if rest else len(fields)
        roles = given or column_roles(fields, path, number, kind)
        if given:
            _check_header_agrees(fields, given, f"{path}, line {number}")
        return Layout(separator, text.strip(" \t\r\n"), number, data_offset, bom, n_fields,
                      roles)
    return Layout(separator, "", 0, start, bom, len(fields), given or required + optional)


def parse_columns(columns, kind):
    """Roles given as ``"user,item,rating"`` (or a sequence): each known, the required
    ones present, none twice (but "-")."""
    if not isinstance(columns, (str, list, tuple)):
        raise ValueError(f"columns must be a str such as 'user,item,rating' or a sequence of "
                         f"roles, got {type(columns).__name__}")
    names = columns.split(",") if isinstance(columns, str) else list(columns)
    names = [str(name).strip(" \t").lower() for name in names]
    required, optional = KINDS[kind]
    known = set(required) | set(optional) | {SKIP}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"columns names {unknown[0]!r}: the roles of a {kind} file's columns "
                         f"are {', '.join(required + optional)} (or '-' to leave one out)")
    _check_roles(tuple(names), kind, "columns")
    return tuple(names)


def column_roles(fields, path, number, kind):
    """Each header field's role, by its name (``ROLES``), or ValueError listing the names
    known, and saying how to name the columns instead."""
    required, optional = KINDS[kind]
    roles = []
    for field in fields:
        key = re.sub(r"[\s_.\-]", "", field.lower())
        role = next((role for role, names in ROLES.items() if key in names), None)
        if role is None or role not in required + optional:
            known = "; ".join(f"{r}: {', '.join(ROLES[r][:6])}" for r in required + optional)
            raise ValueError(
                f"{path}, line {number}: the header names a column {field[:40]!r} that a "
                f"{kind} file does not have (known names, any case: {known}); say which "
                "column is which with --columns (columns= in Python), e.g. "
                + ",".join(list(required + optional)[:len(fields)] + [SKIP] * max(
                    0, len(fields) - len(required + optional))))
        roles.append(role)
    _check_roles(tuple(roles), kind, f"{path}, line {number}: the header")
    return tuple(roles)


def _check_header_agrees(fields, given, where):
    """ValueError when a header skipped for ``columns`` names a column's role otherwise (a
    test file whose header says user,item beside --columns item,user): its pairs would be
    read swapped, silently. Names no role is known by are the reason for columns: passed."""
    for position, (field, role) in enumerate(zip(fields, given)):
        key = re.sub(r"[\s_.\-]", "", field.lower())
        named = next((known for known, names in ROLES.items() if key in names), None)
        if named is not None and role != SKIP and named != role:
            raise ValueError(f"{where}: the header names column {position + 1} "
                             f"{field[:40]!r} (a {named}), but the columns given say it is "
                             f"the {role} ({','.join(given)}); give the columns this file "
                             "holds, or none to read its header")


def expected_fields(roles, kind):
    """The fields a line of these columns holds, for a message: 'user item rating
    [timestamp]' (optional ones bracketed, a left-out one as '(left out)')."""
    required, _ = KINDS[kind]
    return " ".join(role if role in required else "(left out)" if role == SKIP else
                    f"[{role}]" for role in roles)


def _check_roles(roles, kind, where):
    required, _ = KINDS[kind]
    for role in set(roles) - {SKIP}:
        if roles.count(role) > 1:
            raise ValueError(f"{where} names the {role} column twice")
    missing = [role for role in required if role not in roles]
    if missing:
        raise ValueError(f"{where} names no {' and no '.join(missing)} column: a {kind} "
                         f"file needs {', '.join(required)}")


def names_columns(fields):
    """Whether a line's fields name columns (``userId``, ``rating``): a header, not data."""
    return bool(fields) and all(_NAME.fullmatch(f) and not _is_number(f) for f in fields)


def _is_number(text):
    try:
        number_of(text)
    except ValueError:
        return False
    return True


def _infer_separator(sample, min_fields, max_fields=8):
    """The first separator that splits every sampled line into min_fields..max_fields
    fields; else, of those that split the first line at all, the one that splits most
    lines so (the others' errors then name them)."""
    def fits(line, separator):
        return min_fields <= len(split_fields(line, separator)) <= max_fields
    body = sample[1:] or sample  # the first line may be a header with its own look
    for separator in SEPARATORS:
        if all(fits(line, separator) for line in body) and fits(sample[0], separator):
            return separator
    splitting = [s for s in SEPARATORS if len(split_fields(sample[0], s)) > 1] or [" "]
    return max(splitting, key=lambda s: sum(fits(line, s) for line in sample))


_BLANKS = re.compile(r"[ \t]+")


def split_fields(line, separator):
    """The fields of one line, without the ASCII spaces and tabs around them, empty trailing
    ones dropped.

    Fields may be quoted ("user 1") where the separator is one character; an unbalanced
    quote leaves the line as it stands (its error then names it).
    """
    line = line.rstrip("\r\n")
    if '"' in line and len(separator) == 1 and separator != " ":
        try:
            fields = next(csv.reader([line], delimiter=separator, strict=True), [])
        except csv.Error:
            fields = line.split(separator)
    elif separator == " ":
        fields = _BLANKS.split(line.strip(" \t"))
    else:
        fields = line.split(separator)
    fields = [field.strip(" \t") for field in fields]
    while fields and not fields[-1]:
        fields.pop()
    return fields


# ---------------------------------------------------------------------------------------
# Lines

_LINE_END = re.compile(rb"\r\n|\r|\n")


def skip(stream, n):
    """Read and drop the first n bytes of a stream (a compressed one cannot seek cheaply)."""
    while n > 0:
        chunk = stream.read(min(n, READ_BYTES))
        if not chunk:
            return
        n -= len(chunk)


def numbered_lines(f, path, offset=0, first_number=1):
    """``(number, line, start, end)`` for each line of a binary stream read from ``offset``:
    the byte offsets where the line starts and just after its ending. Lines end with
    "\\n", "\\r\\n" or "\\r".

    A line longer than MAX_LINE raises ValueError naming it as soon as that many bytes of
    it have been read.
    """
    number, rest, position = first_number - 1, b"", offset
    while chunk := f.read(READ_BYTES):
        data = rest + chunk
        # a "\r" that ends the data may be the first half of "\r\n": decide it next time
        cut = len(data) - 1 if data.endswith(b"\r") else len(data)
        start = 0
        for match in _LINE_END.finditer(data, 0, cut):
            number += 1
            line = data[start:match.start()]
            if len(line) > MAX_LINE:
                raise too_long(path, number)
            yield number, line, position + start, position + match.end()
            start = match.end()
        position += start
        rest = data[start:]
        if len(rest) > MAX_LINE + 1:
            raise too_long(path, number + 1)
    line = rest[:-1] if rest.endswith(b"\r") else rest
    if rest:
        yield number + 1, line, position, position + len(rest)


# A run of blank and comment lines, or one line: what ``content_lines`` steps over at once.
# (a run of bare line ends is one [\r\n]+, which the regex engine steps over in C)
_RUN_OR_LINE = re.compile(rb"(?P<blank>(?:[ \t]*(?:#[^\r\n]*)?[\r\n]+)+)"
                          rb"|(?P<line>[^\r\n]*)(?:\r\n|\r|\n)")


def content_lines(f, path, offset=0):
    """``numbered_lines`` without its blank and comment lines, which are stepped over a run
    at a time by one regex match (a 30 KB xz of 200 MB of newlines took a Python iteration
    per line, about a minute, before the ratio rule could refuse it)."""
    number, rest, position = 0, b"", offset
    while chunk := f.read(READ_BYTES):
        data = rest + chunk
        cut = len(data) - 1 if data.endswith(b"\r") else len(data)  # maybe half a "\r\n"
        start = 0
        # matched where the last match ended, never searched for: a search would try
        # every later offset of a line without an end (a 1 MiB one: quadratic)
        while match := _RUN_OR_LINE.match(data, start, cut):
            if match.group("blank") is not None:
                run = match.group("blank")
                number += run.count(b"\n") + run.count(b"\r") - run.count(b"\r\n")
            else:
                number += 1
                if match.end("line") - match.start() > MAX_LINE:
                    raise too_long(path, number)
                yield number, match.group("line"), position + start, position + match.end()
            start = match.end()
        position += start
        rest = data[start:]
        if len(rest) > MAX_LINE + 1:
            raise too_long(path, number + 1)
    line = rest[:-1] if rest.endswith(b"\r") else rest
    if line.strip(b" \t") and not line.lstrip(b" \t").startswith(b"#"):
        yield number + 1, line, position, position + len(rest)


def too_long(path, number):
    """The error of a line longer than MAX_LINE."""
    return ValueError(f"{path}, line {number}: longer than {MAX_LINE // 2 ** 20} MiB; a line "
                      "of these files holds a few short fields")


def line_chunks(path, offset, what="ratings"):
    """The file's lines from offset (the byte-order mark's length), decoded, a chunk at a
    time.

    Yields ``(number of the chunk's first line, list of str lines, bytes of the file read,
    bytes in the file)``. Lines end with "\\n", "\\r\\n" or "\\r". A line longer than
    MAX_LINE, one that is not UTF-8 or one that holds a NUL byte raises ValueError naming it
    as soon as it is read.
    """
    number, rest = 1, b""
    with open_text(path, what) as stream:
        skip(stream, offset)
        while True:
            chunk = stream.read(READ_BYTES)
            data = rest + chunk
            if not data:
                return
            if chunk:
                # cut after the last complete line end; a "\r" at the very end may be the
                # first half of "\r\n"
                cut = max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1)) + 1
                if cut == 0:
                    if len(data) > MAX_LINE:
                        raise too_long(path, number)
                    rest = data
                    continue
                body, rest = data[:cut], data[cut:]
            else:  # the end of the file: what is left is the last line
                body, rest = data, b""
            lines = _decode(body, path, number)
            yield number, lines, stream.consumed(), stream.size
            number += len(lines)
            if not chunk:
                return


def _decode(body, path, number):
    """The lines of a block of whole lines (the first numbered ``number``), or ValueError
    naming the line that is not UTF-8, holds a NUL byte or is too long."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = number + len(_LINE_END.findall(body, 0, err.start))
        raise ValueError(f"{path}, line {bad}: not UTF-8 text ({err.reason}); save the file "
                         "as UTF-8") from None
    if "\x00" in text:
        bad = number + len(_LINE_END.findall(body, 0, body.index(b"\x00")))
        raise ValueError(f"{path}, line {bad}: holds a NUL byte (binary data, not text)")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    long = [i for i, line in enumerate(lines) if len(line) > MAX_LINE]
    if long:
        raise too_long(path, number + long[0])
    return lines


def each_data_line(path, layout, header_line, what="ratings"):
    """Each data line of a sniffed file as (number, line, fields): the header line (0 for
    none), blank lines and comment lines skipped."""
    for first, chunk, _, _ in line_chunks(path, layout.bom, what):
        for number, line in enumerate(chunk, first):
            if number == header_line or is_blank_or_comment(line):
                continue
            yield number, line, split_fields(line, layout.separator)


def is_blank_or_comment(line):
    """Whether a line holds nothing but spaces and tabs, or starts with #."""
    stripped = line.strip(" \t")
    return not stripped or stripped.startswith("#")


def shown(line):
    """At most 80 characters of a line, for a message (not a 200 MB one)."""
    text = line.strip(" \t\r\n")
    return repr(text if len(text) <= 80 else text[:80] + "...")


# ISO 8601 dates and date-times, as ratings files write them: 2005-09-06, 2005-09-06 14:03,
# 2005-09-06T14:03:27.5Z (never "now", "today" or "NaT", which numpy would take)
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?Z?)?")


def number_of(text):
    """float(text) for the ASCII syntax of a number only, as np.loadtxt reads it (the fast
    path): float() alone also takes 1_0 as 10, fullwidth and Arabic-Indic digits, and
    whitespace other than spaces and tabs around it. ValueError otherwise."""
    if not text.isascii() or "_" in text or text != text.strip():
        raise ValueError(f"not a number: {text!r}")
    return float(text)


def parse_time(text, path, number):
    """A timestamp in seconds: a number (seconds since 1970) or an ISO date or date-time,
    within ``baseline.TIME_RANGE`` (1900 to 2200)."""
    try:
        value = number_of(text)
    except ValueError:
        if not _ISO.fullmatch(text):
            value = None
        else:
            try:
                value = float(np.datetime64(text.rstrip("Z").replace(" ", "T"), "s")
                              .astype(np.int64))
            except ValueError:
                value = None
    if value is None or not TIME_RANGE[0] <= value <= TIME_RANGE[1]:
        raise ValueError(f"{path}, line {number}: timestamp {text[:40]!r} is neither seconds "
                         "since 1970 nor an ISO date (2005-09-06), between 1900 and 2200")
    return value

"""The text of ratings, pairs and items files: what any of them may hold, read by one set
of rules.

- a regular file of UTF-8 text (a directory, FIFO or device, UTF-16/32, compressed or binary
  content is refused, naming the file);
- separators: commas, tabs, ``::``, semicolons, ``|`` or runs of spaces, inferred from the
  first data lines (``sniff``);
- a header: the first line, when it names the columns (every field a name such as
  ``userId`` and none a number);
- blank lines, comment lines starting with ``#``, empty trailing fields, quoted fields, a
  UTF-8 byte-order mark, and "\\n", "\\r\\n" or "\\r" line ends;
- a line longer than ``MAX_LINE`` is refused as soon as it is seen, naming its line.
"""
import csv
import os
import re
import stat
from typing import NamedTuple

import numpy as np

# A line longer than this is refused as soon as it is seen, not after it has been read.
MAX_LINE = 1 << 20
# Bytes the line-by-line path reads at a time.
READ_BYTES = 1 << 20
# Data lines the separator is inferred from.
SAMPLE_LINES = 64

# In the order they are tried: the first that splits every sampled line right wins.
SEPARATORS = ("::", "\t", ",", ";", "|", " ")


class Layout(NamedTuple):
    """What the first lines of a ratings (or pairs) file say about the rest."""

    separator: str  # one of SEPARATORS; " " means any run of whitespace
    header: str  # the header line as written ("" without one)
    header_line: int  # its line number (0 without one)
    data_offset: int  # byte offset of the first line after the header, blank and comments
    bom: int  # bytes of the UTF-8 byte-order mark, 0 or 3
    n_fields: int  # fields of the first data line



def check_regular_file(path, what):
    """FileNotFoundError if path does not exist; ValueError unless it is a regular file."""
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
# The layout: encoding, separator, header

_SIGNATURES = [  # longest first: a UTF-32 little-endian mark starts like UTF-16's
    (b"\xff\xfe\x00\x00", "is UTF-32 text; save it as UTF-8"),
    (b"\x00\x00\xfe\xff", "is UTF-32 text; save it as UTF-8"),
    (b"\xff\xfe", "is UTF-16 text; save it as UTF-8"),
    (b"\xfe\xff", "is UTF-16 text; save it as UTF-8"),
    (b"\x1f\x8b", "is gzip-compressed; decompress it first"),
    (b"BZh", "is bzip2-compressed; decompress it first"),
    (b"\xfd7zXZ\x00", "is xz-compressed; decompress it first"),
    (b"\x28\xb5\x2f\xfd", "is zstd-compressed; decompress it first"),
    (b"PK\x03\x04", "is a zip archive; extract the ratings file first"),
]
_BOM = b"\xef\xbb\xbf"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ ./()-]{0,63}")


def sniff(path, *, min_fields=3):
    """The layout of a ratings file (``min_fields=2``: a pairs file), from its first lines.

    Returns
    -------
    Layout

    Raises
    ------
    ValueError
        When the file is not UTF-8 text (compressed, UTF-16/32, binary) or holds no data line.
    """
    with open(path, "rb") as f:
        head = f.read(1 << 16)
    for signature, message in _SIGNATURES:
        if head.startswith(signature):
            raise ValueError(f"{path} {message}")
    if b"\x00" in head:
        raise ValueError(f"{path} is not a text file (it holds NUL bytes: binary, or "
                         "UTF-16/32 without a byte-order mark)")
    bom = len(_BOM) if head.startswith(_BOM) else 0
    sample = []  # (number, text, start offset) of the first data lines
    with open(path, "rb") as f:
        f.seek(bom)
        for number, line, start, _ in numbered_lines(f, path, offset=bom):
            text = line.decode("utf-8", "replace")
            if text.strip() and not text.lstrip().startswith("#"):
                sample.append((number, text, start))
                if len(sample) > SAMPLE_LINES:
                    break
    if not sample:
        raise ValueError(f"{path} holds no {'ratings' if min_fields == 3 else 'pairs'}")
    texts = [text for _, text, _ in sample]
    separator = _infer_separator(texts, min_fields)
    number, text, start = sample[0]
    fields = split_fields(text, separator)
    if names_columns(fields):
        rest = sample[1:]
        data_offset = rest[0][2] if rest else os.path.getsize(path)
        n_fields = len(split_fields(rest[0][1], separator)) if rest else len(fields)
        return Layout(separator, text.strip(), number, data_offset, bom, n_fields)
    return Layout(separator, "", 0, start, bom, len(fields))


def names_columns(fields):
    """Whether a line's fields name columns (``userId``, ``rating``): a header, not data."""
    return bool(fields) and all(_NAME.fullmatch(f) and not _is_number(f) for f in fields)


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _infer_separator(sample, min_fields):
    """The first separator that splits every sampled line into min_fields..4 fields; else,
    of those that split the first line at all, the one that splits most lines so (the
    others' errors then name them)."""
    def fits(line, separator):
        return min_fields <= len(split_fields(line, separator)) <= 4
    body = sample[1:] or sample  # the first line may be a header with its own look
    for separator in SEPARATORS:
        if all(fits(line, separator) for line in body) and fits(sample[0], separator):
            return separator
    splitting = [s for s in SEPARATORS if len(split_fields(sample[0], s)) > 1] or [" "]
    return max(splitting, key=lambda s: sum(fits(line, s) for line in sample))


_LINE_END = re.compile(rb"\r\n|\r|\n")


def numbered_lines(f, path, offset=0, first_number=1):
    """``(number, line, start, end)`` for each line of a binary file read from ``offset``:
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
                raise _too_long(path, number)
            yield number, line, position + start, position + match.end()
            start = match.end()
        position += start
        rest = data[start:]
        if len(rest) > MAX_LINE + 1:
            raise _too_long(path, number + 1)
    line = rest[:-1] if rest.endswith(b"\r") else rest
    if rest:
        yield number + 1, line, position, position + len(rest)


def _too_long(path, number):
    return ValueError(f"{path}, line {number}: longer than {MAX_LINE // 2 ** 20} MiB; a "
                      "ratings line holds a few short fields")


def split_fields(line, separator):
    """The fields of one line, stripped, empty trailing ones dropped.

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
        fields = line.split()
    else:
        fields = line.split(separator)
    fields = [field.strip() for field in fields]
    while fields and not fields[-1]:
        fields.pop()
    return fields


def line_chunks(path, offset):
    """The file's lines from offset, decoded, a chunk at a time.

    Yields ``(number of the chunk's first line, list of str lines, bytes read, bytes in
    the file)``. Lines end with "\\n", "\\r\\n" or "\\r". A line longer than MAX_LINE, or
    one that is not UTF-8, raises ValueError naming it as soon as it is read.
    """
    total = os.path.getsize(path)
    number, rest, done = 1, b"", offset
    with open(path, "rb") as f:
        f.seek(offset)
        while True:
            chunk = f.read(READ_BYTES)
            done += len(chunk)
            data = rest + chunk
            if not data:
                return
            if chunk:
                # cut after the last complete line end; a "\r" at the very end may be the
                # first half of "\r\n"
                cut = max(data.rfind(b"\n"), data.rfind(b"\r", 0, len(data) - 1)) + 1
                if cut == 0:
                    if len(data) > MAX_LINE:
                        raise _too_long(path, number)
                    rest = data
                    continue
                body, rest = data[:cut], data[cut:]
            else:  # the end of the file: what is left is the last line
                body, rest = data, b""
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as err:
                bad = number + len(_LINE_END.findall(body, 0, err.start))
                raise ValueError(f"{path}, line {bad}: not UTF-8 text ({err.reason}); save "
                                 "the file as UTF-8") from None
            if "\r" in text:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            lines = text.split("\n")
            if text.endswith("\n"):
                lines.pop()
            long = [i for i, line in enumerate(lines) if len(line) > MAX_LINE]
            if long:
                raise _too_long(path, number + long[0])
            yield number, lines, done, total
            number += len(lines)
            if not chunk:
                return


def shown(line):
    """At most 80 characters of a line, for a message (not a 200 MB one)."""
    text = line.strip()
    return repr(text if len(text) <= 80 else text[:80] + "...")


def parse_time(text, path, number):
    """A timestamp in seconds: a number (Unix time) or an ISO date or date-time."""
    try:
        value = float(text)
    except ValueError:
        try:
            value = float(np.datetime64(text.replace(" ", "T"), "s").astype(np.int64))
        except ValueError:
            raise ValueError(f"{path}, line {number}: timestamp {text[:40]!r} is neither a "
                             "number (seconds) nor an ISO date (2005-09-06)") from None
    if not np.isfinite(value):
        raise ValueError(f"{path}, line {number}: timestamp {text[:40]!r} is not finite")
    return value


def each_data_line(path, layout, header_line):
    """Each data line of a sniffed file as (number, line, fields): the header line (0 for
    none), blank lines and comment lines skipped."""
    for first, chunk, _, _ in line_chunks(path, layout.bom):
        for number, line in enumerate(chunk, first):
            if number == header_line or not line.strip() or line.lstrip().startswith("#"):
                continue
            yield number, line, split_fields(line, layout.separator)

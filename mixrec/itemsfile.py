"""Items files: each item's id and title (MovieLens ``movies.csv``, ``u.item``, or any
semicolon- or tab-separated file of ids and titles), for lists shown with their titles.

Read as CSV (RFC 4180): a quoted title may hold separators, quotes doubled and line breaks;
a record is bounded as a line of any other file is (``MAX_LINE``), so a quote left open is
an error naming the line it opened on, as soon as it runs past that bound or the file's
end, never a title that swallows the file. Compressed files are read as they are.
"""
import csv

import numpy as np

from mixrec import ids
from mixrec.textfiles import MAX_LINE, names_columns, numbered_lines, open_text


class _Records:
    """A file's decoded lines, with their ends, for ``csv.reader``: it counts the lines and
    the characters of the record being read, and refuses one longer than MAX_LINE."""

    def __init__(self, stream, path, encoding):
        self.lines = numbered_lines(stream, path)
        self.path, self.encoding = path, encoding
        self.number = self.start = 0  # the last line read; the line the record started on
        self.length = 0

    def __iter__(self):
        return self

    def __next__(self):
        number, line, _, _ = next(self.lines)
        self.number = number
        self.start = self.start or number
        self.length += len(line) + 1
        if self.length > MAX_LINE:
            raise ValueError(f"{self.path}, line {self.start}: a record runs past "
                             f"{MAX_LINE // 2 ** 20} MiB (a quote left open?)")
        try:
            text = line.decode(self.encoding)
        except UnicodeDecodeError as err:
            raise ValueError(f"{self.path}, line {number}: not UTF-8 text ({err.reason}); "
                             "movies.csv is UTF-8, u.item latin-1") from None
        if "\x00" in text:
            raise ValueError(f"{self.path}, line {number}: holds a NUL byte")
        if number == 1:
            text = text.removeprefix("\ufeff")  # a UTF-8 byte-order mark
        return text + "\n"

    def record_done(self):
        self.start, self.length = 0, 0


def load_items(path):
    """Read an items file: each item's id and title.

    MovieLens ``movies.csv`` (``movieId,title,genres``: a header, titles quoted where they
    hold commas, UTF-8) or ``u.item`` (``id|title|date|...``, ``|``-separated, latin-1, no
    header), told apart by their content; semicolon- or tab-separated files too. An id
    given twice keeps its first title.

    Returns
    -------
    item_ids : ndarray of shape (m,)
        Typed as ``load_ratings`` types them.
    titles : ndarray of object (str), shape (m,)
    """
    with open_text(path, "items") as stream:
        first = next(numbered_lines(stream, path), (1, b"", 0, 0))[1]
    pipe = first.split(b"|")[0].strip(b" \t").isdigit()
    counts = {d: first.count(d.encode()) for d in (",", ";", "\t")}
    delimiter = "|" if pipe else max(counts, key=counts.get)
    limit = csv.field_size_limit()
    try:
        # a title may be as long as a line may: the record's bound is _Records' (csv's own
        # limit, 128 KiB, is set back as it was once the file is read)
        csv.field_size_limit(MAX_LINE + 1)
        with open_text(path, "items") as stream:
            records = _Records(stream, path, "latin-1" if pipe else "utf-8")
            titles = _titles(records, path, delimiter, pipe)
    finally:
        csv.field_size_limit(limit)
    if not titles:
        raise ValueError(f"{path} holds no items")
    item_ids = ids.typed(titles)
    out = np.empty(len(titles), dtype=object)
    out[:] = list(titles.values())
    return item_ids, out


def _titles(records, path, delimiter, pipe):
    """{id text: title} of an items file's records (a header, blank records left out)."""
    reader = csv.reader(records, delimiter=delimiter, strict=True,
                        quoting=csv.QUOTE_NONE if pipe else csv.QUOTE_MINIMAL)
    titles = {}
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return titles
        except csv.Error as err:
            raise ValueError(f"{path}, line {records.start or records.number}: a quote is left "
                             f"open or a field is malformed ({err})") from None
        number = records.start
        records.record_done()
        if not row or not "".join(row).strip(" \t"):
            continue
        if len(row) < 2:
            raise ValueError(f"{path}, line {number}: expected 'id{delimiter}title...', got "
                             f"{len(row)} field")
        if number == 1 and not pipe and names_columns([c.strip(" \t") for c in row]):
            continue  # the header, "movieId,title,genres"
        titles.setdefault(row[0].strip(" \t"), row[1].strip(" \t"))

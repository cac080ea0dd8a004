"""Items files: each item's id and title (MovieLens ``movies.csv``, ``u.item``, or any
semicolon- or tab-separated file of ids and titles), for lists shown with their titles."""
import csv

import numpy as np

from mixrec import ids
from mixrec.textfiles import MAX_LINE, check_regular_file, names_columns


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

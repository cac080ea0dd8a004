"""The model file: written atomically, read as if an attacker had written it.

A model file is a zip archive of ``.npy`` members, stored uncompressed, that ``np.load``
also reads (never with pickle):

- ``format.npy``: the text ``em-recommender-3``;
- ``header.npy``: JSON declaring every other member's dtype and shape, and each extra's kind;
- one member per array of the ``Model`` (``last_support`` is derived, not stored; the
  rating pattern's indices are uint16 when the items allow), and the extras the caller
  added (the ratings file's ids: integers, or text as UTF-8 bytes and offsets, so that an
  id costs its own length).

Reading checks before it allocates: the header's shapes must fit together as a model's
(``model.check_shapes``), their total must fit in the memory available, and each member's
own ``.npy`` header and zip size must be exactly what the header declares, before its
bytes are read, in chunks, into an array of that size. Members the header does not name
are never read; extras only when asked for. The values are checked last
(``model.check_model``). Anything else is a ``ValueError`` naming the file and what is
wrong, never a crash, a pickle or an unbounded allocation.
"""
import json
import os
import re
import struct
import zipfile

import numpy as np

import products
from mixrec import ids
from mixrec import model as model_room
from mixrec.model import Model, check_model
from mixrec.outputs import atomic_write, check_output_path
from mixrec.textfiles import check_regular_file

FORMAT = "em-recommender-4"
_STORED = [name for name in Model._fields if name != "last_support"]
# Format 3 (before the neighbour stages and the blend) is read too, its model the same as
# before: without them (``model.without_blend``).
_ADDED_IN_4 = list(model_room.without_blend(0, 0))
_STORED_IN = {FORMAT: _STORED,
              "em-recommender-3": [name for name in _STORED if name not in _ADDED_IN_4]}
# The dtypes each array is written in, and only those are read (no objects, no structures,
# nothing that unpickles, no narrow integers whose differences would wrap around): floats as
# float64, or float32 for the factors; each integer array in its own type.
_FLOATS = ("<f8", "<f4")
_DTYPES = {name: _FLOATS for name in Model._fields}
_DTYPES.update(day_users=("<i4", "<i8"), days=("<i8",), stage_columns=("<i8",),
               stage_sides=("|i1",), n_components=("<i8",), rated_indptr=("<i8",),
               rated_indices=("<u2", "<i4"), knn_item_indptr=("<i8",), knn_item_index=("<i4",),
               knn_user_indptr=("<i8",), knn_user_index=("<i4",))
_EXTRA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_MAX_HEADER = 1 << 20  # bytes of the header member
_MAX_MEMBERS = 256
_MAX_DIRECTORY = 1 << 20  # bytes of the zip's central directory
_EOCD_SEARCH = 22 + 65535 + 20  # the end record, its longest comment, a zip64 locator
_MAX_JSON_DEPTH = 8  # the header is {"arrays": {name: {"shape": [...]}}, "extras": {...}}
# how a member may be stored: as save writes it, or deflated (np.savez_compressed)
_COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_READ_CHUNK = 1 << 24


def save(model, path, **extras):
    """Check the path and the model in full (``model.check_model``), then ``write`` it and
    its extras."""
    path = check_output_path(path, "model")
    model = check_model(model)
    # ids that load_with_ids would refuse (or compare wrongly) are refused now, not after
    # the fit is on disk and can't be read back
    extras = {**extras, **_checked_ids(model, extras, "mixrec.save")}
    write(model, path, **extras)


def write(model, path, **extras):
    """Write a model (unchecked: ``save`` checks) and extras to ``path``, atomically.

    Parameters
    ----------
    model : Model
    path : str or path-like
        Written exactly there (no extension is added), replacing any regular file
        atomically; a directory, a device or a symbolic link there is refused.
    **extras
        Arrays of numbers or strings (e.g. the ratings file's ``user_ids``), read back by
        ``load``. Names are identifiers that are not the model's own.
    """
    path = check_output_path(path, "model")
    members, header = _members(model, extras)
    with atomic_write(path) as f:
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as archive:
            for name, array in [("format", np.array(FORMAT)),
                                ("header", np.array(json.dumps(header)))] + members:
                with archive.open(name + ".npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, _c_order(array), allow_pickle=False)


def _all_text(value):
    return all(isinstance(v, str) for v in value.tolist())


def _c_order(array):
    """The array in C order (what ``load`` reads), 0-d arrays kept 0-d."""
    array = np.asarray(array)
    return array if array.flags.c_contiguous else np.ascontiguousarray(array)


def _members(model, extras):
    """The (name, array) members of a model file and the header declaring them."""
    arrays = {name: getattr(model, name) for name in _STORED}
    d = len(model.item_bias)
    arrays["rated_indices"] = model.rated_indices.astype(np.uint16 if d <= 65536 else np.int32)
    kinds = {}
    for name, value in extras.items():
        if not _EXTRA_NAME.fullmatch(name) or name in Model._fields or \
                name in ("format", "header") or "." in name:
            raise ValueError(f"extras must be named by identifiers other than the model's "
                             f"arrays, got {name!r}")
        value = np.asarray(value)
        if value.dtype.kind in "biuf":
            kinds[name], arrays[name] = "numbers", value
        elif value.ndim == 1 and value.dtype.kind in "OU" and _all_text(value):
            kinds[name] = "text"  # one UTF-8 string and offsets: each id costs its length
            encoded = ids.encode(value)
            arrays[name + ".utf8"], arrays[name + ".offsets"] = (encoded["utf8"],
                                                                 encoded["offsets"])
        else:
            raise ValueError(f"extras[{name!r}] must be an array of numbers or a 1-D array of "
                             f"strings, got dtype {value.dtype} of shape {value.shape}")
    header = {"arrays": {name: {"dtype": np.asarray(a).dtype.str, "shape": list(np.shape(a))}
                         for name, a in arrays.items()}, "extras": kinds}
    return list(arrays.items()), header


def load(path, *, extras=False):
    """Read a model file written by ``save``: the Model, or ``(Model, extras)``.

    Returns
    -------
    model : Model
        Checked in full (``model.check_model``), ``last_support`` derived.
    extras : dict, only with ``extras``
        The extras the header declares: numbers as arrays, text as object arrays of str
        (read only when asked for).

    Raises
    ------
    FileNotFoundError, ValueError
    """
    check_regular_file(path, "model")
    with open(path, "rb") as f:
        if f.read(4) != b"PK\x03\x04":  # every .npz is a zip archive
            raise ValueError(f"{path} is not a model file (not a .npz archive)")
    _check_directory(path)
    try:
        with zipfile.ZipFile(path) as archive:
            model, found = _read(archive, path, extras)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError,
            NotImplementedError, RuntimeError) as err:
        raise ValueError(f"{path} is not a readable model file: {err}") from None
    return (model, found) if extras else model


def _check_directory(path):
    """ValueError unless the zip's end-of-directory record declares at most _MAX_MEMBERS
    members in at most _MAX_DIRECTORY bytes: read from the file's tail before zipfile
    parses the directory (a million listed members cost zipfile seconds and hundreds of MB)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        f.seek(max(0, size - _EOCD_SEARCH))
        tail = f.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            raise ValueError(f"{path} is not a readable model file: no zip directory at its end")
        members, directory = struct.unpack("<HI", tail[at + 10:at + 16])
        if members == 0xFFFF or directory == 0xFFFFFFFF:  # zip64: its own record says
            locator = tail.rfind(b"PK\x06\x07", 0, at)
            if locator < 0:
                raise ValueError(f"{path} is not a readable model file: a damaged zip64 "
                                 "directory")
            (record,) = struct.unpack("<Q", tail[locator + 8:locator + 16])
            if record > size - 56:
                raise ValueError(f"{path} is not a readable model file: a damaged zip64 "
                                 "directory")
            f.seek(record)
            head = f.read(56)
            if head[:4] != b"PK\x06\x06":
                raise ValueError(f"{path} is not a readable model file: a damaged zip64 "
                                 "directory")
            members, directory = struct.unpack("<QQ", head[32:48])
    if members > _MAX_MEMBERS or directory > _MAX_DIRECTORY:
        raise ValueError(f"{path} holds {members} members in a {directory}-byte directory; a "
                         f"model file holds a few dozen")


def load_with_ids(path):
    """``(model, user_ids, item_ids)`` from a file `fit` (or ``Recommender.save``) wrote: the
    model, and its ratings' ids, checked against it (1-D, as many as its users and items,
    sorted and distinct)."""
    model, extras = load(path, extras=True)
    if not {"user_ids", "item_ids"} <= set(extras):
        raise ValueError(f"{path} is a model without its ratings file's ids: write it with "
                         "`fit` (or Recommender.save)")
    checked = _checked_ids(model, extras, path)
    return model, checked["user_ids"], checked["item_ids"]


def _checked_ids(model, extras, where):
    """The ``user_ids`` and ``item_ids`` among extras, as ``ids.index_of`` compares them
    (any integer dtype as int64), or ValueError naming ``where``: 1-D, integers or strings,
    one per user (item) of the model, sorted and distinct."""
    checked = {}
    for name, size in (("user_ids", len(model.user_bias)), ("item_ids", len(model.item_bias))):
        if name not in extras:
            continue
        try:
            values = ids.as_known(extras[name], name)
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from None
        if values.dtype.kind == "O" and not _all_text(values):
            raise ValueError(f"{where}: {name} must hold integer or string ids, not a mix")
        if len(values) != size:
            raise ValueError(f"{where}: {name} holds {len(values)} ids, but the model has "
                             f"{size} {name.split('_')[0]}s")
        ids.check_sorted_distinct(values, f"{where}: {name}")
        checked[name] = values
    return checked


def _read(archive, path, extras):
    """The model and its extras from an open archive (see ``load``)."""
    infos = archive.infolist()
    if len(infos) > _MAX_MEMBERS:
        raise ValueError(f"{path} holds {len(infos)} members; a model file holds a few dozen")
    by_name = {info.filename: info for info in infos}
    fmt = _read_member(archive, by_name, "format", None, path, text_limit=4096)
    if fmt not in _STORED_IN:
        older = isinstance(fmt, str) and fmt.startswith("em-recommender-")
        raise ValueError(f"{path} is a model of format {fmt!r}, written by an older version: "
                         f"refit it" if older else f"{path} is not a model saved by "
                         "mixrec.save")
    stored = _STORED_IN[fmt]
    declared, kinds = _parse_header(
        _read_member(archive, by_name, "header", None, path, text_limit=_MAX_HEADER), path,
        stored)
    shapes = {name: tuple(spec["shape"]) for name, spec in declared.items()}
    n, d = (shapes[name][0] if len(shapes.get(name, ())) else 0
            for name in ("user_bias", "item_bias"))  # check_shapes names what is missing
    added = [name for name in _ADDED_IN_4 if name not in stored]  # format 3's: filled in
    added_shapes = {name: shape for name, shape in model_room.shapes(
        n, d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0).items() if name in added}
    try:
        model_room.check_shapes({**shapes, **added_shapes}, _STORED)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    _check_memory(declared, path)
    arrays = {name: _read_member(archive, by_name, name, declared[name], path)
              for name in stored}
    if added:
        arrays.update({name: value for name, value in model_room.without_blend(n, d).items()
                       if name in added})
    arrays["rated_indices"] = arrays["rated_indices"].astype(np.int32)
    try:
        # the pattern first: deriving the supports reads it
        model_room.check_pattern(arrays["rated_indptr"], arrays["rated_indices"], n, d,
                                 "model.rated")
        found = model_room.check_model(model_room.with_support(
            Model(**arrays, last_support=np.zeros((d, 0)))))
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    return found, _read_extras(archive, by_name, declared, kinds, path) if extras else {}


def _parse_header(text, path, stored):
    """The header's declared members ({name: {"dtype", "shape"}}) and extras' kinds."""
    try:
        if _json_depth(text) > _MAX_JSON_DEPTH:  # json.loads would recurse to a crash
            raise ValueError(f"nested deeper than {_MAX_JSON_DEPTH}")
        header = json.loads(text)
        declared, kinds = header["arrays"], header["extras"]
        if not (isinstance(declared, dict) and isinstance(kinds, dict)):
            raise TypeError("not objects")
        for name, spec in declared.items():
            if not (isinstance(name, str) and isinstance(spec, dict)
                    and isinstance(spec.get("dtype"), str)
                    and isinstance(spec.get("shape"), list)
                    and all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2 ** 40
                            for s in spec["shape"]) and len(spec["shape"]) <= 2
                    and _plain_dtype(spec["dtype"])):
                raise TypeError(f"member {name!r} is declared as {str(spec)[:200]}")
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: the model's header is damaged ({err})") from None
    for name in stored:
        if name not in declared:
            raise ValueError(f"{path} lacks the array {name}")
        if declared[name]["dtype"] not in _DTYPES[name]:
            raise ValueError(f"{path}: model.{name} is declared as {declared[name]['dtype']}, "
                             f"not as a model writes it ({' or '.join(_DTYPES[name])})")
    return declared, kinds


def _json_depth(text):
    """How deep a JSON text's brackets nest (brackets inside strings counted too: an upper
    bound, which is all the check needs)."""
    depth = deepest = 0
    for match in re.finditer(r"[\[\]{}]", text):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _check_memory(declared, path):
    """ValueError if the declared arrays would not fit in the memory available."""
    total = sum(np.dtype(spec["dtype"]).itemsize * int(np.prod(spec["shape"], dtype=np.int64))
                for spec in declared.values())
    available = products.available_memory()
    if available is not None and total > available:
        raise ValueError(f"{path} declares {total / 2 ** 30:.1f} GiB of arrays but only "
                         f"{available / 2 ** 30:.1f} GiB is available")


def _plain_dtype(text):
    """Whether a declared dtype is a plain little-endian number (or byte) type."""
    try:
        dtype = np.dtype(text)
    except (TypeError, ValueError):
        return False
    return dtype.kind in "biuf" and dtype.fields is None and dtype.str == text and \
        dtype.itemsize <= 8


def _read_member(archive, by_name, name, spec, path, text_limit=None):
    """One member, checked against its declaration before its data is read.

    With ``spec`` None, the member is a 0-d text (format, header) of at most text_limit
    bytes, returned as a str.
    """
    info = by_name.get(name + ".npy")
    if info is None:
        raise ValueError(f"{path} lacks the member {name}.npy")
    if info.compress_type not in _COMPRESSIONS or info.flag_bits & 0x1 or \
            info.extract_version > zipfile.MAX_EXTRACT_VERSION:
        raise ValueError(f"{path}: {name}.npy is stored in a way a model file never is "
                         f"(compression {info.compress_type}, flags {info.flag_bits:#x}, "
                         f"version {info.extract_version / 10:g}): not written by save")
    if info.compress_type != zipfile.ZIP_STORED and info.compress_size > 0 and \
            info.file_size // max(info.compress_size, 1) > 1000:
        raise ValueError(f"{path}: {name}.npy decompresses {info.file_size // info.compress_size}"
                         "-fold; a model's arrays do not compress like that")
    with archive.open(info) as member:
        shape, dtype, offset = _npy_header(member, name, path)
        if spec is None:
            if dtype.kind != "U" or shape != () or dtype.itemsize > text_limit:
                raise ValueError(f"{path}: {name}.npy is not a short text")
            expected_dtype, expected_shape = dtype, ()
        else:
            expected_dtype, expected_shape = np.dtype(spec["dtype"]), tuple(spec["shape"])
            if dtype != expected_dtype or shape != expected_shape:
                raise ValueError(f"{path}: {name}.npy holds {dtype.str} of shape {shape}, but "
                                 f"the header declares {expected_dtype.str} of shape "
                                 f"{expected_shape}")
        nbytes = expected_dtype.itemsize * int(np.prod(expected_shape, dtype=np.int64))
        if info.file_size != offset + nbytes:
            raise ValueError(f"{path}: {name}.npy is {info.file_size} bytes, not the "
                             f"{offset + nbytes} its header declares")
        array = np.empty(expected_shape, dtype=expected_dtype)
        _read_into(member, array, nbytes, name, path)
    return str(array) if spec is None else array


def _npy_header(member, name, path):
    """(shape, dtype, bytes up to the data) of an .npy stream, or ValueError."""
    try:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise ValueError(f"npy version {version}")
    except Exception as err:  # noqa: BLE001  (hostile bytes: numpy's parser raises anything)
        raise ValueError(f"{path}: {name}.npy is not an .npy array "
                         f"({type(err).__name__}: {str(err)[:200]})") from None
    if fortran and len(shape) > 1:
        raise ValueError(f"{path}: {name}.npy is in Fortran order; a model's are in C order")
    if dtype.hasobject or dtype.fields is not None:
        raise ValueError(f"{path}: {name}.npy holds {dtype}, not plain numbers")
    return tuple(shape), dtype, member.tell()


def _read_into(member, array, nbytes, name, path):
    """Read exactly nbytes of member into array, in chunks; nothing may follow."""
    view = memoryview(array.reshape(-1).view(np.uint8)) if nbytes else memoryview(b"")
    done = 0
    while done < nbytes:
        chunk = member.read(min(_READ_CHUNK, nbytes - done))
        if not chunk:
            raise ValueError(f"{path}: {name}.npy ends after {done} of its {nbytes} bytes")
        view[done:done + len(chunk)] = chunk
        done += len(chunk)
    if member.read(1):  # also makes zipfile check the member's CRC
        raise ValueError(f"{path}: {name}.npy holds more than its header declares")


def _read_extras(archive, by_name, declared, kinds, path):
    """The extras the header declares: numbers as arrays, text as object arrays of str."""
    out = {}
    for name, kind in kinds.items():
        if not (isinstance(name, str) and _EXTRA_NAME.fullmatch(name)):
            raise ValueError(f"{path}: the header names an extra {name!r}")
        try:
            if kind == "numbers":
                out[name] = _read_member(archive, by_name, name, declared[name], path)
            elif kind == "text":
                utf8 = _read_member(archive, by_name, name + ".utf8", declared[name + ".utf8"],
                                    path)
                offsets = _read_member(archive, by_name, name + ".offsets",
                                       declared[name + ".offsets"], path)
                out[name] = ids.decode(utf8, offsets, f"{path}: {name}")
            else:
                raise ValueError(f"{path}: extra {name!r} is of an unknown kind {kind!r}")
        except KeyError as err:
            raise ValueError(f"{path}: the header does not declare {err}") from None
    return out


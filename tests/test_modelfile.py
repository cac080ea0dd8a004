"""Tests of modelfile.py and outputs.py: a model file survives kills and full disks, and
reading one is safe whatever its bytes (each hostile case named after what it guards)."""
import io
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

import mixrec
from mixrec import modelfile, outputs
from test_em import random_ratings
from test_fit import FAST


MODEL = mixrec.fit(random_ratings(20, 6, seed=3), **FAST)
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the checkout's root


def saved(tmp_path, name="m.npz", model=MODEL, **extras):
    path = tmp_path / name
    mixrec.save(model, path, **extras)
    return path


def members_of(path):
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def npy(array):
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def rewritten(tmp_path, change, name="hostile.npz", compression=zipfile.ZIP_STORED):
    """A copy of a good model file with its members changed by ``change(members, header)``."""
    members = members_of(saved(tmp_path))
    header = json.loads(str(np.load(io.BytesIO(members["header.npy"]))))
    change(members, header)
    members["header.npy"] = npy(np.array(json.dumps(header)))
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    return path


def test_save_and_load_are_bit_exact(tmp_path):
    again = mixrec.load(saved(tmp_path))
    for name, a, b in zip(MODEL._fields, MODEL, again):
        np.testing.assert_array_equal(a, b, err_msg=name)
        assert np.asarray(a).dtype == np.asarray(b).dtype, name
    # np.load reads it too, without pickle
    with np.load(saved(tmp_path), allow_pickle=False) as f:
        np.testing.assert_array_equal(f["item_bias"], MODEL.item_bias)


def test_extras_keep_ids_verbatim_and_cost_their_own_length(tmp_path):
    texts = np.empty(1000, dtype=object)
    texts[:] = [f"{i:04d}" for i in range(999)] + ["x" * 20_000]  # one 20 KB id
    path = saved(tmp_path, user_ids=np.arange(20) * 7, item_ids=texts[:6], long=texts)
    _, extras = mixrec.load(path, extras=True)
    np.testing.assert_array_equal(extras["user_ids"], np.arange(20) * 7)
    assert list(extras["long"]) == list(texts) and extras["long"].dtype == object
    assert os.path.getsize(path) < os.path.getsize(saved(tmp_path, "plain.npz")) + 40_000
    with pytest.raises(ValueError, match="extras must be named by identifiers"):
        mixrec.save(MODEL, tmp_path / "x.npz", mean=np.ones(1))
    with pytest.raises(ValueError, match="extras must be named by identifiers"):
        mixrec.save(MODEL, tmp_path / "x.npz", **{"../evil": np.ones(1)})
    with pytest.raises(ValueError, match="must be an array of numbers or a 1-D array of strings"):
        mixrec.save(MODEL, tmp_path / "x.npz", ids=np.array([object()]))


def test_the_path_written_is_the_path_given(tmp_path):
    path = tmp_path / "no_extension"
    mixrec.save(MODEL, path)
    assert path.is_file() and not (tmp_path / "no_extension.npz").exists()
    mixrec.load(path)


def test_files_that_are_not_models_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="model file not found"):
        mixrec.load(tmp_path / "none.npz")
    with pytest.raises(ValueError, match="is a directory"):
        mixrec.load(tmp_path)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="junk.npz is not a model file"):
        mixrec.load(junk)
    damaged = saved(tmp_path, "damaged.npz")
    damaged.write_bytes(damaged.read_bytes()[:200])  # a truncated archive
    with pytest.raises(ValueError, match="damaged.npz is not a readable model file"):
        mixrec.load(damaged)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.ones(3))
    with pytest.raises(ValueError, match="other.npz lacks the member format.npy"):
        mixrec.load(other)
    old = tmp_path / "old.npz"
    np.savez(old, format=np.array("em-recommender-2"))
    with pytest.raises(ValueError, match="written by an older version: refit it"):
        mixrec.load(old)


def test_regression_a_format_member_that_is_not_npy_is_a_value_error(tmp_path):
    def change(members, header):
        members["format.npy"] = b"this is not an npy file"
    with pytest.raises(ValueError, match="format.npy is not an .npy array"):
        mixrec.load(rewritten(tmp_path, change))


def test_regression_declared_shapes_are_checked_before_any_array_is_read(tmp_path):
    def change(members, header):  # a billion users, and files that say so consistently
        header["arrays"]["user_bias"]["shape"] = [10 ** 9]
    with pytest.raises(ValueError, match="model.user_factors must have shape"):
        mixrec.load(rewritten(tmp_path, change))


def test_regression_a_member_declaring_a_trillion_floats_is_refused_unread(tmp_path):
    def change(members, header):
        for name, spec in header["arrays"].items():
            if name in ("user_bias", "user_factors", "rated_indptr", "knn_user_indptr"):
                spec["shape"][0] = 10 ** 12 + name.endswith("indptr")
    path = rewritten(tmp_path, change)
    with pytest.raises(ValueError, match="GiB of arrays but only"):
        mixrec.load(path)


def test_regression_a_member_whose_npy_header_disagrees_is_refused(tmp_path):
    def change(members, header):
        members["item_bias.npy"] = npy(np.zeros(7))
    with pytest.raises(ValueError, match=r"item_bias.npy holds <f8 of shape \(7,\), but the header"):
        mixrec.load(rewritten(tmp_path, change))


def test_regression_a_member_longer_than_declared_is_refused(tmp_path):
    def change(members, header):
        members["item_bias.npy"] += b"\x00" * 64
    with pytest.raises(ValueError, match="item_bias.npy is .* bytes, not the"):
        mixrec.load(rewritten(tmp_path, change))


def test_regression_a_compressed_bomb_is_refused_unread(tmp_path):
    members = members_of(saved(tmp_path))
    header = json.loads(str(np.load(io.BytesIO(members["header.npy"]))))
    header["extras"]["bomb"] = "numbers"
    header["arrays"]["bomb"] = {"dtype": "<f8", "shape": [20_000_000]}
    members["header.npy"] = npy(np.array(json.dumps(header)))
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)
        archive.writestr("bomb.npy", npy(np.zeros(20_000_000)),  # 160 MB that zip to 150 KB
                         compress_type=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 2_000_000
    mixrec.load(path)  # without extras, the bomb is never touched
    with pytest.raises(ValueError, match="bomb.npy decompresses"):
        mixrec.load(path, extras=True)


def test_regression_object_and_structured_dtypes_never_load(tmp_path):
    def change(members, header):
        header["arrays"]["item_bias"]["dtype"] = "|O"
    with pytest.raises(ValueError, match="the model's header is damaged"):
        mixrec.load(rewritten(tmp_path, change))


def test_regression_members_the_header_does_not_name_are_never_read(tmp_path):
    def change(members, header):
        members["unknown.npy"] = b"\x93NUMPY garbage that would fail if it were read"
    mixrec.load(rewritten(tmp_path, change))


@pytest.mark.parametrize("field, value, match", [
    ("rating_range", lambda m: m.rating_range[::-1].copy(), "rating_range must be"),
    ("mixture_var", lambda m: -m.mixture_var, "mixture_var must be positive"),
    ("group_p", lambda m: m.group_p - 1, r"group_p must hold weights in \[0, 1\]"),
    ("mixture_p", lambda m: m.mixture_p * 2, "mixture_p must hold weights"),
    ("rated_indices", lambda m: m.rated_indices + 100, r"rated: indices must lie in 0..5"),
    ("rated_indices", lambda m: m.rated_indices * 0 - 1, r"rated: indices must lie"),
    ("rated_indptr", lambda m: m.rated_indptr[::-1].copy(), "rated: indptr must rise"),
    ("scale", lambda m: np.array(0.0), "scale must lie in"),
    ("cold_var", lambda m: np.array(-1.0), "cold_var must be >= 0"),
    ("stage_columns", lambda m: m.stage_columns + 1, "stage_columns must rise from 0"),
    ("user_factors", lambda m: m.user_factors * 3, "are posteriors and must lie in"),
    ("item_bias", lambda m: m.item_bias * np.nan, "item_bias must be finite"),
])
def test_regression_model_values_are_checked_naming_the_array(tmp_path, field, value, match):
    bad = MODEL._replace(**{field: value(MODEL)})
    with pytest.raises(ValueError, match=match):
        mixrec.model.check_model(bad)
    path = tmp_path / "bad.npz"
    modelfile.write(bad, path)  # written without the check, as an attacker would
    with pytest.raises(ValueError, match="bad.npz: .*" + match):
        mixrec.load(path)


# ---------------------------------------------------------------------------------------
# Nothing lost: kills, full disks and Ctrl-C during a save

CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, {here!r})
    import numpy as np, mixrec
    from test_em import random_ratings
    model = mixrec.fit(random_ratings(300, 200, seed=1), n_seeds=40, item_stages=2,
                       user_stages=1, max_iter=2, stage_rank=200, blend_holdout=0)
    print("ready", flush=True)
    while True:
        mixrec.save(model, sys.argv[1])
""")


def test_regression_a_kill_during_a_save_leaves_the_old_file_or_the_new(tmp_path):
    target = saved(tmp_path, "model.npz")
    old = target.read_bytes()
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(here=HERE))
    rng = np.random.RandomState(0)
    for _ in range(6):
        child = subprocess.Popen([sys.executable, str(script), str(target)],
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.01, 0.3))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        mixrec.load(target)  # old or new: never partial
    assert target.read_bytes() != old  # some saves completed
    mixrec.save(MODEL, target)  # the next save clears any temporary a kill left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["child.py", "model.npz"]


def test_regression_a_full_disk_during_a_save_leaves_the_old_file(tmp_path):
    target = saved(tmp_path, "model.npz")
    old = target.read_bytes()
    script = tmp_path / "full.py"
    script.write_text(textwrap.dedent(f"""
        import resource, signal, sys
        sys.path.insert(0, {HERE!r})
        import mixrec
        from test_em import random_ratings
        model = mixrec.fit(random_ratings(300, 200, seed=1), n_seeds=10, item_stages=1,
                           user_stages=1, max_iter=2, stage_rank=200, blend_holdout=0)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit: EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))
        try:
            mixrec.save(model, sys.argv[1])
        except OSError as err:
            print("refused", err.errno)
    """))
    result = subprocess.run([sys.executable, str(script), str(target)], capture_output=True,
                            text=True, timeout=120)
    assert "refused" in result.stdout, result.stderr
    assert target.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["full.py", "model.npz"]


def test_regression_ctrl_c_during_a_save_leaves_nothing_half_written(tmp_path, monkeypatch):
    target = saved(tmp_path, "model.npz")
    old = target.read_bytes()
    calls = []
    real = np.lib.format.write_array

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    monkeypatch.setattr(np.lib.format, "write_array", interrupted)
    with pytest.raises(KeyboardInterrupt):
        mixrec.save(MODEL, target)
    assert target.read_bytes() == old and [p.name for p in tmp_path.iterdir()] == ["model.npz"]


@pytest.mark.parametrize("path, match", [
    ("{tmp}", "is a directory"),
    ("/dev/null", "is not a regular file"),
    ("{tmp}/missing/m.npz", "does not exist"),
    ("{tmp}/m.txt", r"must end in \.npz"),
    ("", "path is empty"),
])
def test_output_paths_are_checked_before_any_work(tmp_path, path, match):
    with pytest.raises(ValueError, match=match):
        outputs.check_output_path(path.format(tmp=tmp_path), "model", (".npz",))


# ---------------------------------------------------------------------------------------
# Hostile model files, fourth pass: each gives one ValueError naming the file, never a
# crash, a traceback or a wrong answer

def patched_zip(path, member, field, value):
    """A model file whose zip records for ``member`` say ``value`` in ``field`` (the local
    header's and the central directory's): "method", "flags" or "version"."""
    local, central = {"version": (4, 6), "flags": (6, 8), "method": (8, 10)}[field]
    data = bytearray(path.read_bytes())
    name = member.encode()
    for signature, offset in ((b"PK\x03\x04", local), (b"PK\x01\x02", central)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            name_at = start + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at:name_at + len(name)] == name:
                data[start + offset:start + offset + 2] = value.to_bytes(2, "little")
            start += 4
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("name, dtype, values", [
    ("rated_indptr", np.uint8, None),  # [0, 250, 24, 36]: np.diff "rises" in uint8
    ("rated_indptr", np.uint16, None),
    ("rated_indptr", np.int8, None),
    ("stage_columns", np.uint8, None),
])
def test_regression_narrow_integer_arrays_are_refused_never_wrapped_around(tmp_path, name,
                                                                          dtype, values):
    def change(members, header):
        array = np.asarray(getattr(MODEL, name)).astype(dtype)
        header["arrays"][name]["dtype"] = array.dtype.str
        members[name + ".npy"] = npy(array)
    with pytest.raises(ValueError, match=f"model.{name} is declared as .*, not as a model "
                                         "writes it"):
        mixrec.load(rewritten(tmp_path, change))


def test_regression_a_wrapped_index_pointer_in_memory_is_refused():
    bad = MODEL._replace(rated_indptr=np.array([0, 250, 24, 36] + [36] * 17, dtype=np.uint8),
                         rated_indices=np.zeros(36, dtype=np.uint8))
    with pytest.raises(ValueError, match="indptr must rise"):
        mixrec.model.check_model(bad)
    falling = MODEL._replace(stage_columns=np.array(MODEL.stage_columns, dtype=np.uint8)[::-1])
    with pytest.raises(ValueError, match="stage_columns must rise"):
        mixrec.model.check_model(falling)


def test_regression_a_header_nested_5000_deep_is_a_value_error(tmp_path):
    def change(members, header):
        pass
    path = rewritten(tmp_path, change)
    members = members_of(path)
    members["header.npy"] = npy(np.array("[" * 5000 + "]" * 5000))
    with zipfile.ZipFile(path, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    with pytest.raises(ValueError, match="header is damaged .*nested deeper"):
        mixrec.load(path)


@pytest.mark.parametrize("field, value, match", [
    ("method", 99, "compression 99"),
    ("flags", 1, "flags 0x1"),  # the encrypted flag
    ("version", 99, "version 9.9"),
])
def test_regression_unknown_compression_encryption_and_versions_are_refused(tmp_path, field,
                                                                           value, match):
    path = patched_zip(saved(tmp_path), "item_bias.npy", field, value)
    with pytest.raises(ValueError, match=f"m.npz.*{match}"):
        mixrec.load(path)


def test_regression_an_npy_header_with_an_unclosed_parenthesis_is_refused(tmp_path):
    text = b"{'descr': '<f8', 'fortran_order': False, 'shape': (6, }"
    padding = 64 - (10 + len(text) + 1) % 64
    raw = (b"\x93NUMPY\x01\x00" + (len(text) + padding + 1).to_bytes(2, "little") + text
           + b" " * padding + b"\n" + bytes(48))

    def change(members, header):
        members["item_bias.npy"] = raw
    with pytest.raises(ValueError, match="item_bias.npy is not an .npy array"):
        mixrec.load(rewritten(tmp_path, change))


def test_regression_float_or_0_d_ids_are_refused(tmp_path):
    path = saved(tmp_path, user_ids=np.array(sorted(f"u{i}" for i in range(20)), dtype=object),
                 item_ids=np.arange(6))

    def floats(members, header):
        offsets = np.load(io.BytesIO(members["user_ids.offsets.npy"])).astype(float)
        members["user_ids.offsets.npy"] = npy(offsets)
        header["arrays"]["user_ids.offsets"]["dtype"] = "<f8"
    members = members_of(path)
    header = json.loads(str(np.load(io.BytesIO(members["header.npy"]))))
    floats(members, header)
    members["header.npy"] = npy(np.array(json.dumps(header)))
    with zipfile.ZipFile(path, "w") as archive:
        for member, content in members.items():
            archive.writestr(member, content)
    with pytest.raises(ValueError, match="integer offsets"):
        mixrec.load(path, extras=True)


def test_regression_a_directory_of_a_million_members_is_refused_unparsed(tmp_path):
    path = saved(tmp_path)
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    data[end + 8:end + 12] = (0xFFFF).to_bytes(2, "little") * 2  # zip64: ask its record
    record = data.rfind(b"PK\x06\x06")
    if record < 0:  # a small file has no zip64 record: claim a million members directly
        data[end + 8:end + 12] = (60_000).to_bytes(2, "little") * 2
    else:
        data[record + 24:record + 40] = (10 ** 6).to_bytes(8, "little") * 2
    path.write_bytes(bytes(data))
    start = time.perf_counter()
    with pytest.raises(ValueError, match="members in a .*-byte directory; a model file holds"):
        mixrec.load(path)
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize("change, match", [
    (lambda m: m._replace(mixture_var=np.full_like(m.mixture_var, 1e-320)),
     "model.mixture_var must be positive and, in units of model.scale"),
    (lambda m: m._replace(scale=np.array(1e-308)), r"model.scale must lie in \[1e-15"),
    (lambda m: m._replace(group_mu=m.group_mu + 1e200), "model.group_mu must lie within"),
])
def test_regression_values_that_would_give_nan_later_are_refused(tmp_path, change, match):
    bad = change(MODEL)
    with pytest.raises(ValueError, match=match):
        mixrec.model.check_model(bad)
    path = tmp_path / "bad.npz"
    modelfile.write(bad, path)
    with pytest.raises(ValueError, match="bad.npz: " + match):
        mixrec.load(path)


# ---------------------------------------------------------------------------------------
# What sits at an output's path, and two files as one (the adversarial pass's D1, D2)

def test_regression_a_save_never_replaces_a_fifo_a_link_or_a_directory(tmp_path):
    fifo, link, target = tmp_path / "fifo", tmp_path / "link.npz", tmp_path / "target.npz"
    os.mkfifo(fifo)
    target.write_bytes(b"old")
    link.symlink_to(target)
    for path, match in ((fifo, "fifo is not a regular file"),
                        (link, "link.npz is a symbolic link .*target.npz"),
                        (tmp_path, "is a directory"), (None, "must be a str or path-like")):
        with pytest.raises(ValueError, match=match):
            mixrec.save(MODEL, path)
    assert os.path.islink(link) and target.read_bytes() == b"old"
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    # a link to standard output (/dev/stdout is one) is refused on the command line too
    (tmp_path / "pairs.csv").write_text("user,item\n0,1\n")
    model = saved(tmp_path, user_ids=np.arange(20), item_ids=np.arange(6))
    out = tmp_path / "out.csv"
    out.symlink_to("/proc/self/fd/1")
    from mixrec import cli
    assert cli.main(["predict", str(model), str(tmp_path / "pairs.csv"), "--out",
                     str(out)]) == 2
    assert os.readlink(out) == "/proc/self/fd/1"


def test_regression_bytes_paths_are_saved_like_str_paths(tmp_path):
    mixrec.save(MODEL, os.fsencode(tmp_path / "b.npz"))
    mixrec.load(tmp_path / "b.npz")


def _two_old_files(tmp_path):
    paths = [tmp_path / "a.csv", tmp_path / "b.csv"]
    for path in paths:
        path.write_text("old\n")
    return paths


def test_regression_a_rename_cut_between_two_files_puts_the_first_back(tmp_path, monkeypatch):
    paths = _two_old_files(tmp_path)
    real, calls = os.replace, []

    def cut(source, target):
        calls.append(target)
        if len(calls) == 2:  # the second file's rename: Ctrl-C, or any failure
            raise KeyboardInterrupt
        return real(source, target)
    monkeypatch.setattr(os, "replace", cut)
    with pytest.raises(KeyboardInterrupt):
        with outputs.atomic_writes(paths) as files:
            for f in files:
                f.write("new\n")
    monkeypatch.setattr(os, "replace", real)
    assert [p.read_text() for p in paths] == ["old\n", "old\n"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv"]


def test_regression_ctrl_c_between_two_renames_waits_for_the_second(tmp_path, monkeypatch):
    paths = _two_old_files(tmp_path)
    real, calls = os.replace, []

    def interrupted(source, target):
        calls.append(target)
        result = real(source, target)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, right after the first
            time.sleep(0.05)
        return result
    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        with outputs.atomic_writes(paths) as files:
            for f in files:
                f.write("new\n")
    assert [p.read_text() for p in paths] == ["new\n", "new\n"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "b.csv"]


# ---------------------------------------------------------------------------------------
# The ids a model file holds (D3)

@pytest.mark.parametrize("dtype", [np.uint8, np.uint32, np.uint64])
def test_regression_unsigned_ids_are_stored_as_integers_and_found(tmp_path, dtype, capsys):
    path = saved(tmp_path, user_ids=np.arange(1, 21).astype(dtype),
                 item_ids=np.arange(1, 7).astype(dtype))
    model, user_ids, item_ids = modelfile.load_with_ids(path)
    assert user_ids.dtype == np.int64
    assert mixrec.Recommender.load(path).predict([1], [2]).prediction.shape == (1,)
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("user,item\n1,2\n")
    from mixrec import cli
    assert cli.main(["predict", str(path), str(pairs)]) == 0
    assert "lacks" not in capsys.readouterr().err


def test_regression_negative_integer_ids_are_found_from_the_command_line(tmp_path, capsys):
    path = saved(tmp_path, user_ids=np.arange(-10, 10), item_ids=np.arange(6))
    assert list(mixrec.index_of(np.arange(-10, 10), ["-5", "-05", "5", "-0"])) == [5, -1, 15,
                                                                                  -1]
    from mixrec import cli
    assert cli.main(["recommend", str(path), "--user=-5", "-n", "2"]) == 0


@pytest.mark.parametrize("user_ids, match", [
    (np.arange(20)[::-1], "user_ids must be sorted and distinct"),
    (np.arange(20.0), "user_ids must hold integer .* got dtype float64"),
    (np.arange(19), "user_ids holds 19 ids, but the model has 20 users"),
    (np.arange(20).reshape(4, 5), "user_ids must be one-dimensional"),
    (np.array([1, "a"] * 10, dtype=object), "user_ids must hold integer or string ids"),
])
def test_regression_save_refuses_ids_that_load_would_refuse(tmp_path, user_ids, match):
    with pytest.raises(ValueError, match="mixrec.save: " + match):
        saved(tmp_path, user_ids=user_ids, item_ids=np.arange(6))
    assert not (tmp_path / "m.npz").exists()

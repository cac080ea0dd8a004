"""Files the module writes (models, plots, predictions): checked before any work, written
atomically, to exactly the path given.

``check_output_path`` runs before a fit starts, so that a bad ``--out`` costs nothing:
the folder must exist and be writable, the path must not be a directory, a device or a
symbolic link (a rename would replace the link itself, ``/dev/stdout`` included), and its
extension must be one the writer produces; every write checks the path again.
``atomic_write`` then writes to a temporary file in the target's folder, flushes and
fsyncs it, and ``os.replace``s it onto the target: a kill, a Ctrl-C or a full disk at any moment leaves either the old file or the new
one, never a partial one. Where Linux lets an unnamed file (``O_TMPFILE``) be named later,
the temporary has no name until the instant before the rename, so a kill leaves nothing
behind; elsewhere it is a hidden ``.NAME.tmp-PID-*`` file, removed on any error or Ctrl-C,
and, after a kill (SIGKILL cannot be caught), by the next write to the same target.
"""
import contextlib
import os
import signal
import stat
import tempfile
import threading

_TEMP_MARK = ".tmp-"


def check_output_path(path, what, suffixes=()):
    """Return path as a str if a file can be written there, or raise ValueError saying why.

    Parameters
    ----------
    path : str, bytes or path-like
    what : str
        What is written, for the message ("model", "plot").
    suffixes : tuple of str
        Accepted extensions (lower case, with the dot); empty accepts any.
    """
    path = as_path(path, f"the {what} file's path")
    if not path:
        raise ValueError(f"the {what} file's path is empty")
    check_replaceable(path, what)
    if suffixes and not path.lower().endswith(suffixes):
        raise ValueError(f"{path}: a {what} file's name must end in "
                         f"{' or '.join(suffixes)} (nothing is added to the path given)")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"{path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{path}: the folder {folder} is not writable")
    return path


def as_path(path, name):
    """A path given as str, bytes or path-like, as a str; ValueError naming it otherwise
    (None, or a file descriptor, which a write would not leave open)."""
    if isinstance(path, (str, bytes, os.PathLike)):
        path = os.fspath(path)
        return os.fsdecode(path) if isinstance(path, bytes) else path
    raise ValueError(f"{name} must be a str or path-like, got {type(path).__name__}")


def check_replaceable(path, what="output"):
    """ValueError unless path is absent or a regular file: a write renames a new file onto
    the path itself, so a directory, a device, a FIFO or a symbolic link (``/dev/stdout``
    is one) there would be replaced, not written to."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as err:
        raise ValueError(f"{path}: cannot write the {what} there ({err.strerror})") from None
    if stat.S_ISDIR(mode):
        raise ValueError(f"{path} is a directory; give the {what} file's name")
    if stat.S_ISLNK(mode):
        raise ValueError(f"{path} is a symbolic link (to {os.readlink(path)}); the {what} "
                         "would replace the link, not write to what it points to: give the "
                         "file's own path")
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path} is not a regular file (a device, FIFO or socket); the "
                         f"{what} is written as a file")


def check_not_an_input(path, option, inputs):
    """ValueError when an output path is (or would replace) one of the command's inputs:
    ``inputs`` maps each input's option to its path. Compared as files (the same file under
    another name, a link), and as paths for an output that does not exist yet."""
    out = os.path.realpath(path)
    for name, source in inputs.items():
        if source is None:
            continue
        same = out == os.path.realpath(source)
        with contextlib.suppress(OSError):
            same = same or os.path.samefile(path, source)
        if same:
            raise ValueError(f"{option} {path} is the {name} file this command reads: write "
                             "the output elsewhere (it would replace its own input)")


@contextlib.contextmanager
def atomic_writes(paths, mode="w"):
    """Write several files all at once: yields a list of file objects; only when every one
    is complete are they renamed over their targets, so a failure (a full disk) or an
    interruption while writing any of them leaves every target as it was.

    The renames themselves run with Ctrl-C held back until they are done, and a rename
    that fails puts back the targets already replaced: the files stay a set, all old or
    all new."""
    paths = [os.path.abspath(as_path(p, "an output file's path")) for p in paths]
    if len(set(paths)) != len(paths):
        raise ValueError("the output files must be different files")
    for path in paths:
        check_replaceable(path)
    with contextlib.ExitStack() as stack:
        files = [stack.enter_context(_deferred(path, mode)) for path in paths]
        yield [f for f, _ in files]
        commits = [commit for _, commit in files]
        for commit in commits:
            commit.prepare()
        with interrupts_deferred():
            _rename_all(commits)
        for folder in dict.fromkeys(commit.folder for commit in commits):
            _sync_folder(folder)


@contextlib.contextmanager
def interrupts_deferred():
    """Hold Ctrl-C (SIGINT) back inside the block, and raise it just after: a few renames
    are never cut in two. Only the main thread can install a handler; elsewhere, or under
    a handler other than Python's, the block runs as it is."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    caught = []
    signal.signal(signal.SIGINT, lambda number, frame: caught.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if caught:
        raise KeyboardInterrupt


def _rename_all(commits):
    """Rename every prepared temporary over its target; if one rename fails, put the
    targets already replaced back as they were (from hard links to the old files)."""
    backups = [_backup(commit.path) for commit in commits]
    done = []
    try:
        for commit in commits:
            done.append(commit)  # put back even if the rename happened and then was cut
            commit.rename()
    except BaseException:
        for commit, backup in zip(done, backups):
            with contextlib.suppress(OSError):
                if backup is None:
                    os.unlink(commit.path)
                else:
                    os.replace(backup, commit.path)
        raise
    finally:
        for backup in backups:
            if backup is not None:
                with contextlib.suppress(OSError):
                    os.unlink(backup)


def _backup(path):
    """A hidden hard link to the file at path (None when there is none, or links fail)."""
    folder, name = os.path.split(path)
    backup = os.path.join(folder, f".{name}{_TEMP_MARK}{os.getpid()}-{os.urandom(4).hex()}")
    try:
        os.link(path, backup, follow_symlinks=False)
    except OSError:
        return None
    return backup


class _Commit:
    """The last steps of one deferred write: flush and name it, then rename it in place."""

    def __init__(self, f, fd, folder, name, path, temporary):
        self.f, self.fd, self.folder, self.name = f, fd, folder, name
        self.path, self.temporary = path, temporary

    def prepare(self):
        self.f.flush()
        os.fsync(self.f.fileno())
        _keep_mode(self.path, self.f.fileno())
        if self.temporary is None:
            self.temporary = _link_unnamed(self.f.fileno(), self.folder, self.name)

    def rename(self):
        check_replaceable(self.path)  # nothing put there since the check before the work
        os.replace(self.temporary, self.path)
        self.temporary = None


@contextlib.contextmanager
def _deferred(path, mode):
    """A temporary file for path and its _Commit; removed unless the commit renamed it."""
    folder, name = os.path.split(path)
    _remove_stale_temporaries(folder, name)
    fd, temporary = _open_temporary(folder, name)
    text = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
    commit = None
    try:
        with os.fdopen(fd, mode, **text) as f:
            commit = _Commit(f, fd, folder, name, path, temporary)
            yield f, commit
    finally:
        leftover = commit.temporary if commit is not None else temporary
        if leftover is not None:
            with contextlib.suppress(OSError):
                os.unlink(leftover)


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Write ``path`` all at once: yields a file object; on success the file replaces the
    target, on any error (or interruption) the target is untouched and nothing is left.

    Parameters
    ----------
    path : str or path-like
    mode : "wb" or "w"
        Binary, or text (UTF-8, "\\n" line ends).
    """
    path = os.path.abspath(as_path(path, "the output file's path"))
    check_replaceable(path)
    folder, name = os.path.split(path)
    _remove_stale_temporaries(folder, name)
    fd, temporary = _open_temporary(folder, name)
    try:
        text = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
        with os.fdopen(fd, mode, **text) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            _keep_mode(path, f.fileno())
            if temporary is None:  # unnamed: give it a name only now, then move it in place
                temporary = _link_unnamed(f.fileno(), folder, name)
            check_replaceable(path)  # nothing put there while the file was written
            os.replace(temporary, path)
            temporary = None
        _sync_folder(folder)
    finally:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)


def _open_temporary(folder, name):
    """An unnamed file in folder (Linux O_TMPFILE) and None, or a named one and its path."""
    if _unnamed_files_work(folder):
        return os.open(folder, os.O_TMPFILE | os.O_RDWR, 0o666), None
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}{_TEMP_MARK}{os.getpid()}-")
    os.fchmod(fd, 0o666 & ~_umask())
    return fd, temporary


_UNNAMED_WORK = {}  # st_dev of a folder -> whether O_TMPFILE files can be linked there


def _unnamed_files_work(folder):
    """Whether an O_TMPFILE file made in folder can later be given a name (some kernels,
    sandboxes and filesystems refuse either step); probed once per filesystem."""
    if not hasattr(os, "O_TMPFILE") or not os.path.isdir("/proc/self/fd"):
        return False
    device = os.stat(folder).st_dev
    if device not in _UNNAMED_WORK:
        try:
            fd = os.open(folder, os.O_TMPFILE | os.O_RDWR, 0o600)
        except OSError:
            _UNNAMED_WORK[device] = False
        else:
            try:
                probe = _link_unnamed(fd, folder, "probe")
                os.unlink(probe)
                _UNNAMED_WORK[device] = True
            except OSError:
                _UNNAMED_WORK[device] = False
            finally:
                os.close(fd)
    return _UNNAMED_WORK[device]


def _link_unnamed(fd, folder, name):
    """Give an O_TMPFILE file a (temporary) name in folder, for os.replace."""
    temporary = os.path.join(folder, f".{name}{_TEMP_MARK}{os.getpid()}-{os.urandom(4).hex()}")
    os.link(f"/proc/self/fd/{fd}", temporary, follow_symlinks=True)
    return temporary


def _keep_mode(path, fd):
    """The new file gets the old one's permissions, or the usual ones for a new file."""
    try:
        os.fchmod(fd, stat.S_IMODE(os.stat(path).st_mode))
    except FileNotFoundError:
        os.fchmod(fd, 0o666 & ~_umask())


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _sync_folder(folder):
    """fsync the folder, so that the rename itself survives a crash (where supported)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove_stale_temporaries(folder, name):
    """Remove temporaries of this target left by processes that no longer run (a kill in
    the instant between naming a temporary and renaming it, or off Linux)."""
    prefix = f".{name}{_TEMP_MARK}"
    with contextlib.suppress(OSError):
        for entry in os.listdir(folder):
            if not entry.startswith(prefix):
                continue
            pid = entry[len(prefix):].split("-")[0]
            if pid.isdigit() and not _running(int(pid)):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, entry))


def _running(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

"""Files the module writes (models, plots, predictions): checked before any work, written
atomically, to exactly the path given.

``check_output_path`` runs before a fit starts, so that a bad ``--out`` costs nothing:
the folder must exist and be writable, the path must not be a directory or a device, and
its extension must be one the writer produces. ``atomic_write`` then writes to a temporary
file in the target's folder, flushes and fsyncs it, and ``os.replace``s it onto the
target: a kill, a Ctrl-C or a full disk at any moment leaves either the old file or the new
one, never a partial one. Where Linux lets an unnamed file (``O_TMPFILE``) be named later,
the temporary has no name until the instant before the rename, so a kill leaves nothing
behind; elsewhere it is a hidden ``.NAME.tmp-PID-*`` file, removed on any error or Ctrl-C,
and, after a kill (SIGKILL cannot be caught), by the next write to the same target.
"""
import contextlib
import os
import stat
import tempfile

_TEMP_MARK = ".tmp-"


def check_output_path(path, what, suffixes=()):
    """Return path as a str if a file can be written there, or raise ValueError saying why.

    Parameters
    ----------
    path : str or path-like
    what : str
        What is written, for the message ("model", "plot").
    suffixes : tuple of str
        Accepted extensions (lower case, with the dot); empty accepts any.
    """
    path = os.fspath(path)
    if not path:
        raise ValueError(f"the {what} file's path is empty")
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as err:
        raise ValueError(f"{path}: cannot write the {what} there ({err.strerror})") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise ValueError(f"{path} is a directory; give the {what} file's name")
    if mode is not None and not stat.S_ISREG(mode):
        raise ValueError(f"{path} is not a regular file (a device, FIFO or socket); the "
                         f"{what} is written as a file")
    if suffixes and not path.lower().endswith(suffixes):
        raise ValueError(f"{path}: a {what} file's name must end in "
                         f"{' or '.join(suffixes)} (nothing is added to the path given)")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"{path}: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(f"{path}: the folder {folder} is not writable")
    return path


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
    path = os.path.abspath(os.fspath(path))
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

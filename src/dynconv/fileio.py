"""Files that are never half-written, and run folders that belong to one run.

* :func:`atomic_path` — every file dynconv writes (checkpoints, weights, logs, figures, images,
  tables) is written to a uniquely named temporary file beside its target, flushed to disk, then
  renamed into place: a reader sees the old file or the new one, never a partial one, and two
  writers never share a temporary name.
* :class:`RunLock` — a training run holds ``<out>/.lock`` (an advisory ``flock`` with the holder's
  pid inside) for its lifetime. A second run into the same folder is refused at once, naming the
  holder; the kernel drops the lock when its process dies, so a killed run never leaves a lock
  that blocks the next one.
* :func:`clean_temporaries` — temporaries left by a killed writer are removed by the next owner.
* :func:`safe_open` — the one rule for the files dynconv creates beside others' files (locks,
  temporaries): a symbolic link is never followed, a temporary is always a new file, and a file
  that is not a plain file of its own is refused, never truncated.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import stat
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: fall back to exclusive creation
    fcntl = None

__all__ = ["atomic_path", "check_writable", "clean_temporaries", "safe_open", "Terminated", "Sigterm", "sigterm_raises", "RunLock", "RunFolderBusy", "LOCK_NAME"]

#: The lock file of a run folder.
LOCK_NAME = ".lock"
_TMP_MARK = ".tmp-"


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_RANDOM_LEN = 8  # the random part tempfile.mkstemp adds


def safe_open(path, *, new: bool = False, mode: int = 0o644) -> int:
    """Open ``path`` read-write for a lock or a temporary; return the file descriptor.

    Parameters
    ----------
    path : str or Path
        The file; a symbolic link there is refused, never followed (``O_NOFOLLOW``).
    new : bool
        The file must not exist yet (``O_EXCL``: a temporary); otherwise it is created if missing.
    mode : int
        Permissions of a created file.

    Raises
    ------
    FileExistsError
        ``new`` and the path exists (a file, or a link, of anybody's).
    OSError
        The path is a symbolic link, or not a plain file with a single name (a hard link to a file
        elsewhere would be written through): the message names the path.
    """
    path = Path(path)
    flags = os.O_RDWR | os.O_CREAT | _NOFOLLOW | (os.O_EXCL if new else 0)
    if not _NOFOLLOW and path.is_symlink():  # pragma: no cover - platform without O_NOFOLLOW
        raise OSError(f"{path} is a symbolic link; refusing to follow it (delete it)")
    try:
        fd = os.open(path, flags, mode)
    except OSError as exc:
        if not new and path.is_symlink():  # ELOOP from O_NOFOLLOW
            raise OSError(f"{path} is a symbolic link; refusing to follow it (delete it)") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise OSError(f"{path} is not a plain file of its own (a device, fifo or hard link); "
                      "refusing to write it (delete it)")
    return fd


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # no pathconf (Windows) or unknown folder
        return 255


def _tmp_name(path: Path) -> tuple[str, str]:
    # ".<name>.tmp-<random>" + the target's suffix, so writers that pick a format by extension
    # (Pillow, matplotlib) still see it; the leading dot keeps it out of globs like "*.png".
    # A legal long name must still give a legal temporary: the copy of the name is shortened
    # (the random part keeps it unique, the mark keeps it visible to clean_temporaries).
    suffix = path.suffix if len(path.suffix) <= 16 else ""
    room = _name_max(path.parent) - 1 - len(_TMP_MARK) - _RANDOM_LEN - len(suffix)
    return f".{path.name[:max(room, 1)]}{_TMP_MARK}", suffix


class Terminated(BaseException):
    """SIGTERM arrived (raised in the main thread, so writers can clean up; exit status 143)."""


class Sigterm:
    """What :func:`sigterm_raises` saw: ``terminated`` once SIGTERM arrived, whatever became of
    its exception. An extension module's import turns an exception raised inside it into another
    (pybind11's ``ImportError: initialization failed``), and code that catches that one can
    swallow it, so the record, not the exception, says whether the process was asked to stop."""

    def __init__(self):
        self.terminated = False

    def _raise(self, signum, frame):
        self.terminated = True
        raise Terminated()


@contextmanager
def sigterm_raises(*, only_default: bool = False):
    """While the body runs, SIGTERM raises :class:`Terminated` instead of killing the process.

    Yields a :class:`Sigterm` that records the signal. Signals reach only the main thread:
    elsewhere this installs nothing. With ``only_default`` a handler somebody else installed (a
    training run's) is left in place, and the record then stays unset.
    """
    seen = Sigterm()
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return
    old = signal.getsignal(signal.SIGTERM)
    if only_default and old is not signal.SIG_DFL:
        yield seen
        return
    signal.signal(signal.SIGTERM, seen._raise)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGTERM, old)


@contextmanager
def atomic_path(path):
    """Yield a unique temporary path beside ``path``; on success move it onto ``path``.

    The body writes the temporary path (any way it likes). On normal exit the file is fsynced and
    renamed over ``path`` (atomic on POSIX and Windows for the same folder) and keeps the usual
    permissions of a new file; on an exception, Ctrl-C or SIGTERM (which raises
    :class:`Terminated` while the temporary exists) it is removed and ``path`` is untouched.
    """
    with sigterm_raises(only_default=True):
        with _atomic_path(Path(path)) as tmp:
            yield tmp


def check_writable(path) -> Path:
    """Refuse, before any work, an output ``path`` that :func:`atomic_path` could not write.

    Raises ``FileNotFoundError`` when its folder does not exist, ``IsADirectoryError`` when it
    names a folder and ``PermissionError`` when the folder cannot be written; each names
    ``path``, never a temporary. Returns ``path`` as a ``Path``.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder, not a file to write")
    folder = path.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"{path}: cannot be written: the folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{path}: cannot be written: no permission to write in {folder}")
    return path


@contextmanager
def _atomic_path(path: Path):
    prefix, suffix = _tmp_name(path)
    try:  # mkstemp opens with O_CREAT | O_EXCL | O_NOFOLLOW: the same rule as safe_open
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    except OSError as exc:  # name the file the user asked for, not our temporary
        raise type(exc)(exc.errno, f"{path}: cannot be written: {exc.strerror}") from None
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a written file is normally 0644
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    try:  # make the rename itself durable; not possible on every platform
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def clean_temporaries(folder, *, older_than_seconds=0.0) -> list[Path]:
    """Remove the temporaries :func:`atomic_path` left in ``folder`` (a writer killed mid-write).

    Call it only while no other process writes there (e.g. holding the folder's :class:`RunLock`).
    Returns the removed paths.
    """
    removed = []
    now = time.time()
    for p in Path(folder).glob(f".*{_TMP_MARK}*"):
        try:
            if p.is_file() and now - p.stat().st_mtime >= older_than_seconds:
                p.unlink()
                removed.append(p)
        except FileNotFoundError:  # another cleaner was faster
            pass
    return removed


class RunFolderBusy(RuntimeError):
    """Another live process holds the run folder."""


class RunLock:
    """Exclusive use of a folder for as long as the lock is held (a context manager).

    Raises
    ------
    RunFolderBusy
        From :meth:`acquire` when another process holds it; the message names its pid, host and
        start time.
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._fd = None

    def _holder(self) -> str:
        try:
            info = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            info = {}
        started = info.get("started")
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)) if started else "unknown time"
        return f"pid {info.get('pid', '?')} on {info.get('host', '?')}, started {when}"

    def acquire(self) -> "RunLock":
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                fd = safe_open(self.path, new=fcntl is None)
            except FileExistsError:  # no flock on this platform: the file itself is the lock
                raise RunFolderBusy(f"{self.folder} is in use by another run ({self._holder()}); "
                                    f"if that process is gone, delete {self.path}") from None
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    raise RunFolderBusy(f"{self.folder} is in use by another run ({self._holder()}); "
                                        "wait for it to finish or choose another `out`") from None
                try:  # the file may have been unlinked by its previous owner after we opened it
                    same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    os.close(fd)
                    continue
            break
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "started": time.time()}).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.unlink(self.path)  # still locked by us: nobody else can be using it
        except FileNotFoundError:
            pass
        os.close(self._fd)  # closing drops the flock
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
        return False

"""Atomic file output: write to a temporary file in the same folder, fsync, then rename.

A killed process therefore never leaves a half-written file under the final name, and a
full disk never leaves a partial row: every write loops until all bytes are out (``os.write``
may write fewer), a failed append is cut back to where it started, and ``ENOSPC``/``EDQUOT``
become :class:`~bonenet.errors.DiskFullError` (exit status 3) naming the file.

Durability: whole files are fsynced before the rename and their folder after it; appended
rows are fsynced one by one (what the resumable writers promise: a row on disk is complete).

CSV cells that a spreadsheet would run as a formula (text starting with ``=``, ``+``, ``-``,
``@``, tab or carriage return) are neutralised by :func:`csv_safe` (OWASP "CSV Injection":
prefix a single quote). Numbers, including negative ones, are never changed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import DiskFullError

__all__ = ["append_line_atomic", "atomic_path", "csv_safe", "csv_safe_frame", "fsync_dir", "output_lock",
           "write_all", "write_bytes_atomic", "write_text_atomic"]

_FULL = (errno.ENOSPC, errno.EDQUOT)


def _disk_full(path: Path, exc: OSError) -> DiskFullError:
    return DiskFullError(
        exc.errno, f"{path}: disk full while writing ({os.strerror(exc.errno or errno.ENOSPC)}); "
        "free space on that disk (or choose another output folder) and re-run: complete files "
        "and rows already written are kept, nothing partial is left behind")


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to descriptor ``fd`` (``os.write`` may write fewer)."""
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        if n <= 0:  # pragma: no cover - os.write raises rather than returning 0 on a full disk
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[n:]


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a folder so a rename or a new file in it survives a power loss (no-op where
    folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    Use it with writers that want a file name (``nib.save``, ``fig.savefig``, ``torch.save``).
    ``suffix`` defaults to the target's own suffixes so format detection by extension works.
    On an exception the temporary file is removed and ``path`` is left untouched; a full disk
    raises :class:`~bonenet.errors.DiskFullError`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix is None:
        suffix = "".join(path.suffixes)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=suffix or ".tmp", dir=path.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    # mkstemp creates 0600 files; outputs should get the usual permissions (0666 & ~umask).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
        fsync_dir(path.parent)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        if isinstance(exc, OSError) and not isinstance(exc, DiskFullError) and exc.errno in _FULL:
            raise _disk_full(path, exc) from exc
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_TRUNC)
        try:
            write_all(fd, data)
        finally:
            os.close(fd)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    return write_bytes_atomic(path, text.encode(encoding))


def append_line_atomic(path: str | os.PathLike[str], line: str, *, header: str | None = None) -> None:
    """Append one complete line to a log-like file so that a crash never leaves a torn line.

    The line goes out on an ``O_APPEND`` descriptor (looping over short writes) and is
    fsynced. If the write fails part-way (disk full), the file is cut back to its length
    before the call, so the next row never glues onto a partial one, and
    :class:`~bonenet.errors.DiskFullError` is raised. Readers should ignore a final line
    without a trailing newline (only possible if the machine itself lost power mid-write).
    ``header`` is written first when the file is new.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not line.endswith("\n"):
        line += "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        start = os.fstat(fd).st_size
        payload = ((header.rstrip("\n") + "\n") if (start == 0 and header) else "") + line
        try:
            write_all(fd, payload.encode("utf-8"))
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            if exc.errno in _FULL:
                raise _disk_full(path, exc) from exc
            raise
    finally:
        os.close(fd)


# --------------------------------------------------------------------------- CSV injection
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def csv_safe(value: Any) -> Any:
    """Neutralise a CSV cell a spreadsheet would evaluate as a formula (OWASP CSV Injection).

    Text starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return gets a leading
    single quote (``=HYPERLINK(...)`` → ``'=HYPERLINK(...)``). Numbers and text that is a
    plain decimal number (``-0.25``, ``+3e-2``) are returned unchanged; so is anything that is
    not a string. Applying it twice changes nothing more.
    """
    if not isinstance(value, str) or not value or not value.startswith(_FORMULA_START):
        return value
    if _NUMBER.fullmatch(value):
        return value
    return "'" + value


def csv_safe_frame(df: Any) -> Any:
    """A copy of pandas DataFrame ``df`` with :func:`csv_safe` applied to every text cell and
    to the column names (numeric columns are left as they are)."""
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object or str(out[c].dtype).startswith("string"):
            out[c] = out[c].map(csv_safe)
    out.columns = [csv_safe(c) for c in out.columns]
    return out


# --------------------------------------------------------------------------- output lock
LOCK_NAME = ".lock"


@contextlib.contextmanager
def output_lock(folder: str | os.PathLike[str], *, wait: bool = False,
                command: str = "bonenet", name: str = LOCK_NAME) -> Iterator[Path]:
    """Hold an exclusive lock on output ``folder`` (``folder/.lock``) for the duration.

    Two runs writing the same resumable outputs would both skip the same finished studies
    and both append the rest, duplicating rows. The lock is ``fcntl.flock`` on
    ``folder/.lock`` (released by the kernel when the process dies, even by SIGKILL, so a
    crashed run never leaves a stale lock). A second run raises
    :class:`~bonenet.errors.OutputLockedError` naming the holder's pid, or with ``wait``
    blocks until the first run ends. Where ``fcntl`` does not exist (Windows) no lock is
    taken. The lock file is left in place (deleting it would race with a waiting run).
    ``name`` picks another lock file, e.g. ``.features.csv.lock`` for a command whose output
    is one file in a shared folder.
    """
    from .errors import OutputLockedError

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield folder / name
        return
    path = folder / name
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            raise OutputLockedError(
                f"{folder} is being written by another bonenet run (pid {holder}); wait for it to "
                f"finish, re-run `{command}` with --wait-lock to wait, or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield path
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)

"""Atomic file output: write to a temporary file in the same folder, fsync, then rename.

A killed process therefore never leaves a half-written file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["append_line_atomic", "atomic_path", "write_bytes_atomic", "write_text_atomic"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    Use it with writers that want a file name (``nib.save``, ``fig.savefig``, ``torch.save``).
    ``suffix`` defaults to the target's own suffixes so format detection by extension works.
    On an exception the temporary file is removed and ``path`` is left untouched.
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
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically and return the path."""
    return write_bytes_atomic(path, text.encode(encoding))


def append_line_atomic(path: str | os.PathLike[str], line: str, *, header: str | None = None) -> None:
    """Append one complete line to a log-like file so that a crash never leaves a torn line.

    The line is written with a single ``os.write`` on an ``O_APPEND`` descriptor and fsynced.
    Readers should ignore a final line without a trailing newline (only possible if the
    machine itself lost power mid-write). ``header`` is written first when the file is new.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not line.endswith("\n"):
        line += "\n"
    new = not path.exists() or path.stat().st_size == 0
    payload = ((header.rstrip("\n") + "\n") if (new and header) else "") + line
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, payload.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)

"""Resumable, row-atomic CSV output (``predictions.csv``, ``errors.csv``) and shard merging.

Each row is appended with one ``write`` on an ``O_APPEND`` descriptor and fsynced
(:func:`bonenet._atomic.append_line_atomic`), so a killed run leaves only complete rows. A
torn final line (possible only if the machine lost power mid-write) is cut off when the file
is reopened. The keys already written are read back so a re-run skips them.

Every text cell goes through :func:`bonenet._atomic.csv_safe` (formula injection: text
starting with ``=``, ``+``, ``-``, ``@``, tab or CR gets a leading ``'``; numbers unchanged).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ._atomic import append_line_atomic, csv_safe, write_text_atomic
from .errors import ConfigError

__all__ = ["ResumableCSV", "format_row", "merge_shards", "read_rows"]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        return f"{value:.9g}"  # 9 significant digits: float32 risks round-trip exactly
    text = csv_safe(str(value))  # before the newline scrub, so a leading CR/tab is seen
    return text.replace("\r", " ").replace("\n", " ")


def format_row(values: Sequence[Any]) -> str:
    """One CSV line (no newline) with RFC-4180 quoting; newlines inside cells become spaces."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow([_cell(v) for v in values])
    return buf.getvalue()


def _complete_text(path: Path, *, repair: bool) -> str:
    """The file's text up to its last newline; with ``repair`` a torn tail is cut off on disk."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        if repair:
            with open(path, "r+b") as fh:
                fh.truncate(cut)
                os.fsync(fh.fileno())
        data = data[:cut]
    return data.decode("utf-8")


def read_rows(path: str | os.PathLike[str]) -> tuple[list[str], list[dict[str, str]]]:
    """Header and complete rows of a CSV written by :class:`ResumableCSV` (torn tail ignored)."""
    path = Path(path)
    if not path.exists():
        return [], []
    text = _complete_text(path, repair=False)
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    rows = [dict(zip(header, r, strict=False)) for r in reader if r]
    return header, rows


class ResumableCSV:
    """A CSV file that grows one complete row at a time and remembers which keys it holds.

    Parameters
    ----------
    path : path-like
        The CSV file; created with ``columns`` as header on the first row.
    columns : sequence of str
        Column names, in order. Reopening a file written with other columns raises
        :class:`~bonenet.errors.ConfigError` (a different model or option set wrote it).
    key : str
        Column whose values identify rows (``subject_id``).
    """

    def __init__(self, path: str | os.PathLike[str], columns: Sequence[str], *,
                 key: str = "subject_id") -> None:
        self.path = Path(path)
        self.columns = list(columns)
        self.key = key
        if key not in self.columns:
            raise ValueError(f"key column {key!r} is not among the columns {self.columns}")
        self.done: set[str] = set()
        self._header = format_row(self.columns)
        if self.path.exists() and self.path.stat().st_size:
            text = _complete_text(self.path, repair=True)
            reader = csv.reader(io.StringIO(text))
            header = next(reader, None)
            if header is not None and header != self.columns:
                raise ConfigError(
                    f"{self.path} was written with columns {header}, this run writes "
                    f"{self.columns}; resume only with the same checkpoint and options, or "
                    "choose a new --out folder"
                )
            k = self.columns.index(key)
            self.done = {r[k] for r in reader if len(r) > k}

    def append(self, row: Mapping[str, Any]) -> None:
        """Append one row (missing columns are blank); its key joins :attr:`done`."""
        unknown = set(row) - set(self.columns)
        if unknown:
            raise ValueError(f"row has columns not in the header: {sorted(unknown)}")
        append_line_atomic(self.path, format_row([row.get(c) for c in self.columns]),
                           header=self._header)
        self.done.add(str(row[self.key]))

    def remove_keys(self, keys: Iterable[str]) -> int:
        """Rewrite the file atomically without the rows whose key is in ``keys``."""
        keys = set(keys)
        header, rows = read_rows(self.path)
        if not header:
            return 0
        kept = [r for r in rows if r.get(self.key) not in keys]
        lines = [format_row(header)] + [format_row([r.get(c, "") for c in header]) for r in kept]
        write_text_atomic(self.path, "\n".join(lines) + "\n")
        self.done -= keys
        return len(rows) - len(kept)


def merge_shards(target: str | os.PathLike[str], shards: Sequence[str | os.PathLike[str]], *,
                 columns: Sequence[str], key: str = "subject_id") -> int:
    """Merge per-rank shard files into ``target`` atomically, dropping duplicate keys.

    Rows already in ``target`` come first, then each shard's rows in order. The shards are
    deleted after the merged file is in place. Returns the number of rows in ``target``.
    """
    target = Path(target)
    seen: set[str] = set()
    lines = [format_row(columns)]
    for src in [target, *map(Path, shards)]:
        header, rows = read_rows(src)
        if header and header != list(columns):
            raise ConfigError(f"{src} has columns {header}, expected {list(columns)}; cannot merge")
        for r in rows:
            if r.get(key) in seen:
                continue
            seen.add(r[key])
            lines.append(format_row([r.get(c, "") for c in columns]))
    if len(lines) > 1 or target.exists():
        write_text_atomic(target, "\n".join(lines) + "\n")
    for s in shards:
        Path(s).unlink(missing_ok=True)
    return len(seen)

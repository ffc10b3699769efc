"""Checks of output paths given on the command line, made before any work starts."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ConfigError

__all__ = ["output_file", "output_folder"]


def output_folder(path: str | os.PathLike[str], *, option: str = "--out") -> Path:
    """``path`` as a folder to write into; refuse an existing file (or a file on the way)."""
    p = Path(path)
    for q in (p, *p.parents):
        if q.exists() and not q.is_dir():
            raise ConfigError(f"{option} {str(p)!r}: {str(q)!r} is an existing file, not a folder; "
                              f"give a folder path for {option}")
        if q.exists():
            break
    return p


def output_file(path: str | os.PathLike[str], *, option: str) -> Path:
    """``path`` as a file to write; refuse an existing folder (or a file where a folder must be)."""
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{option} {str(p)!r} is a folder; give a file name, e.g. "
                          f"{str(p / 'scan.csv')!r}")
    output_folder(p.parent, option=option)
    return p

"""Choose a reader or writer from the path (extension, folder, file signature)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import ImageFormatError
from ..volume import Volume

_NIFTI = (".nii", ".nii.gz")


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def load(path: str | os.PathLike[str], *, series: str | None = None, **opts: Any) -> Volume:
    """Read the image at ``path`` into a Volume with LPS geometry and explicit units."""
    p = Path(path)
    if not p.exists():
        raise ImageFormatError(f"{p}: no such file or folder; check the path")
    suffix = _suffix(p)
    if suffix in _NIFTI:
        from .nifti import read_nifti

        return read_nifti(p, **opts)
    raise ImageFormatError(
        f"{p}: unrecognised image format {suffix or '(no extension)'!r}; "
        "bonenet reads .nii/.nii.gz"
    )


def save(volume: Volume, path: str | os.PathLike[str], *, format: str | None = None,
         **opts: Any) -> Path:
    """Write ``volume`` to ``path`` atomically; the format follows the extension."""
    p = Path(path)
    fmt = (format or "").lower() or {".nii": "nifti", ".nii.gz": "nifti"}.get(_suffix(p), "")
    if fmt == "nifti":
        from .nifti import write_nifti

        return write_nifti(volume, p, **opts)
    raise ImageFormatError(f"{p}: cannot choose a writer for this path; use a .nii or .nii.gz name")

"""NIfTI-1/2 reading and writing through nibabel (RAS on disk, LPS in the Volume)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._atomic import atomic_path
from ..errors import ImageFormatError, VolumeError
from ..volume import Volume

__all__ = ["read_nifti", "write_nifti"]


def read_nifti(path: Path, *, units: str | None = None, modality: str | None = None,
               **_: Any) -> Volume:
    """Read a .nii/.nii.gz file; units come from ``units=`` or bonenet's header note."""
    import nibabel as nib

    try:
        img = nib.load(str(path))
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise ImageFormatError(f"{path}: not a readable NIfTI file ({exc}); re-export it") from exc
    try:
        return Volume.from_nibabel(img, units=units, modality=modality,
                                   meta={"source": [str(path)], "format": "nifti"})
    except VolumeError as exc:  # readable file, content bonenet cannot use: say what, not "corrupt"
        raise ImageFormatError(f"{path}: {exc}") from exc


def write_nifti(volume: Volume, path: Path, **_: Any) -> Path:
    """Write ``volume`` as NIfTI (float32, RAS affine, units noted in the header)."""
    import nibabel as nib

    with atomic_path(path) as tmp:
        nib.save(volume.to_nibabel(), str(tmp))
    return path

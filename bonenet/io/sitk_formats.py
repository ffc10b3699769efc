"""NRRD and MetaImage (.nrrd/.nhdr/.mha/.mhd) through SimpleITK (LPS, like the Volume)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._atomic import atomic_path
from ..errors import ImageFormatError
from ..volume import UNITS, Volume

__all__ = ["read_sitk", "write_sitk"]

_UNITS_KEY = "bonenet_units"
_MODALITY_KEY = "bonenet_modality"


def read_sitk(path: Path, *, units: str | None = None, modality: str | None = None,
              **_: Any) -> Volume:
    """Read an NRRD/MetaImage file; units from ``units=`` or the header bonenet writes."""
    import SimpleITK as sitk

    try:
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        img = reader.Execute()
    except RuntimeError as exc:
        raise ImageFormatError(f"{path}: not a readable NRRD/MetaImage file ({str(exc).strip()[:200]}); "
                               "re-export it") from exc
    keys = set(img.GetMetaDataKeys())
    file_units = img.GetMetaData(_UNITS_KEY) if _UNITS_KEY in keys else None
    file_mod = img.GetMetaData(_MODALITY_KEY) if _MODALITY_KEY in keys else None
    if img.GetNumberOfComponentsPerPixel() != 1:
        raise ImageFormatError(f"{path}: has {img.GetNumberOfComponentsPerPixel()} components per "
                               "voxel (colour/vector); bonenet reads grayscale images only")
    if img.GetDimension() not in (2, 3):
        raise ImageFormatError(f"{path}: is {img.GetDimension()}-D; bonenet reads 2-D or 3-D images")
    return Volume.from_sitk(
        img, units=units or (file_units if file_units in UNITS else "raw"),
        modality=modality or file_mod or "OT",
        meta={"source": [str(path)], "format": path.suffix.lower().lstrip(".")},
    )


def write_sitk(volume: Volume, path: Path, *, compress: bool = True, **_: Any) -> Path:
    """Write ``volume`` as NRRD/MetaImage (float32), recording units and modality."""
    import SimpleITK as sitk

    img = volume.to_sitk()
    img.SetMetaData(_UNITS_KEY, volume.units)
    img.SetMetaData(_MODALITY_KEY, volume.modality)
    if path.suffix.lower() in (".mhd", ".nhdr"):
        raise ImageFormatError(f"{path}: detached-header formats are not written atomically; use .mha or .nrrd")
    with atomic_path(path) as tmp:
        sitk.WriteImage(img, str(tmp), useCompression=compress)
    return path

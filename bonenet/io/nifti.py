"""NIfTI-1/2 reading and writing through nibabel (RAS on disk, LPS in the Volume).

Before any voxel is read, the header's claimed array is checked against the memory ceiling
and against what the file can hold (:mod:`bonenet.io._limits`): a crafted or truncated header
fails with a clear error instead of allocating gigabytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._atomic import atomic_path
from ..errors import ImageFormatError, MemoryLimitError, VolumeError
from ..volume import Volume
from ._limits import DEFLATE_MAX_RATIO, check_claim, check_decompressed_size

__all__ = ["read_nifti", "write_nifti"]


def read_nifti(path: Path, *, units: str | None = None, modality: str | None = None,
               **_: Any) -> Volume:
    """Read a .nii/.nii.gz file; units come from ``units=`` or bonenet's header note."""
    import nibabel as nib

    try:
        img = nib.load(str(path))
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise ImageFormatError(f"{path}: not a readable NIfTI file ({type(exc).__name__}: {exc}); "
                               "re-export it") from exc
    check_nifti_claim(Path(path), img)
    try:
        vol = Volume.from_nibabel(img, units=units, modality=modality,
                                  meta={"source": [str(path)], "format": "nifti"})
    except ImageFormatError:
        raise
    except VolumeError as exc:  # readable file, content bonenet cannot use: say what, not "corrupt"
        raise ImageFormatError(f"{path}: {exc}") from exc
    except MemoryError as exc:
        raise MemoryLimitError(f"{path}: out of memory reading the NIfTI image "
                               f"({img.header.get_data_shape()}); lower $BONENET_MAX_VOXELS or "
                               "free memory") from exc
    except Exception as exc:  # nibabel raises many types for corrupt files
        raise ImageFormatError(f"{path}: not a readable NIfTI file ({type(exc).__name__}: {exc}); "
                               "re-export it") from exc
    return vol


def check_nifti_claim(path: Path, img: Any) -> None:
    """Refuse a header whose array exceeds the memory ceiling or what the file can hold."""
    shape = img.header.get_data_shape()
    check_claim(path, shape or (0,), what="NIfTI")
    n = 1
    for d in shape:
        n *= int(d)
    itemsize = img.header.get_data_dtype().itemsize
    offset = int(getattr(img.dataobj, "offset", 0) or 0)
    expected = offset + n * itemsize
    size = path.stat().st_size
    name = path.name.lower()
    if name.endswith((".nii", ".img", ".hdr")):
        data_file = path.with_suffix(".img") if name.endswith(".hdr") else path
        have = data_file.stat().st_size if data_file.exists() else 0
        if have < expected:
            raise ImageFormatError(f"{path}: the NIfTI header claims {expected:,} bytes of data "
                                   f"but the file has {have:,}; the file is truncated or the "
                                   "header damaged, re-export it")
    elif name.endswith(".gz"):
        if size * DEFLATE_MAX_RATIO < expected:
            raise ImageFormatError(
                f"{path}: the NIfTI header claims {expected:,} bytes of data, more than a "
                f"{size:,}-byte gzip file can hold (at most {DEFLATE_MAX_RATIO}:1); the header is "
                "damaged or crafted, re-export the image")
    else:  # .bz2, .zst: no useful bound on the ratio, so decompress with a byte limit
        check_decompressed_size(path, expected, what="NIfTI")


def write_nifti(volume: Volume, path: Path, **_: Any) -> Path:
    """Write ``volume`` as NIfTI (float32, RAS affine, units noted in the header)."""
    import nibabel as nib

    with atomic_path(path) as tmp:
        nib.save(volume.to_nibabel(), str(tmp))
    return path

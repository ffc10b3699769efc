"""Choose a reader or writer from the path (extension, folder, file signature)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from ..errors import ConfigError, ImageFormatError
from ..volume import UNITS, Volume

_NIFTI = (".nii", ".nii.gz")
_SITK = (".nrrd", ".nhdr", ".mha", ".mhd")
_DICOM_SUFFIXES = (".dcm", ".dicom", ".ima", "")
_SCANCO = (".aim", ".isq")

#: File endings :func:`load` reads as one image each (a folder is a DICOM series). The one
#: list every study finder uses (``bonenet predict``, masks matched by name...).
IMAGE_SUFFIXES = (*_NIFTI, *_SITK, *_SCANCO, ".dcm", ".dicom", ".ima")
#: Formats whose files do not say what their values mean: their units are declared by the user
#: (``units=``) unless bonenet wrote the file (its NIfTI header note).
UNIT_FREE_SUFFIXES = (*_NIFTI, *_SITK)


def image_stem(path: str | os.PathLike[str]) -> str | None:
    """The file name without its image suffix (``a.nii.gz`` → ``a``), None if not an image file.

    An OpenVMS version suffix goes too (``C0001234.AIM;1`` → ``C0001234``).
    """
    name = re.sub(r";\d+$", "", Path(path).name)
    for suf in sorted(IMAGE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suf):
            return name[: -len(suf)]
    return None


def declares_units(path: str | os.PathLike[str]) -> bool:
    """True for formats whose units the user declares (NIfTI, NRRD, MetaImage)."""
    p = Path(path)
    return p.is_file() and _suffix(p) in UNIT_FREE_SUFFIXES


class LoadOptions(TypedDict, total=False):
    """The reader options :func:`load` takes (each reader uses those that apply to it).

    ``units``: NIfTI/NRRD/MHA — what the values are ("HU", "mgHA/cm3"...), for files that do
    not record it. ``modality``: NIfTI/NRRD — the modality to record. ``allow_gaps``: DICOM —
    interpolate missing slices onto a uniform grid instead of refusing. ``gantry_tilt``: DICOM —
    ``"resample"`` or ``"refuse"``. ``threads``: DICOM decoding
    threads. ``native``: Scanco — keep native units (no density calibration).
    ``mu_scaling``/``density_slope``/``density_intercept``: Scanco calibration overrides.
    ``max_voxels``: refuse images that claim more voxels (memory ceiling).
    """

    units: str
    modality: str
    allow_gaps: bool
    gantry_tilt: Literal["resample", "refuse"]
    threads: int
    native: bool
    mu_scaling: float
    density_slope: float
    density_intercept: float
    max_voxels: int


if TYPE_CHECKING:  # pragma: no cover
    from typing_extensions import Unpack


def _suffix(path: Path) -> str:
    name = re.sub(r";\d+$", "", path.name.lower())  # OpenVMS version suffix: C0001234.AIM;1
    return ".nii.gz" if name.endswith(".nii.gz") else Path(name).suffix


def _is_dicom_file(path: Path) -> bool:
    """True when the file has the DICM preamble or starts like a DICOM data set."""
    from ._headers import looks_like_dicom

    return looks_like_dicom(path) is not False


def _check_units(units: Any, path: Path) -> None:
    """Refuse a bad ``units=`` as the argument error it is (never as a damaged file)."""
    if units is None or units in UNITS:
        return
    if str(units).lower() in ("label", "labels", "mask"):
        raise ConfigError(
            f"{path}: units={units!r}: a label map is not an image; read it with "
            "bonenet.io.load_mask(path, like=image), which returns integer labels on the image's grid")
    raise ConfigError(f"{path}: units={units!r} unknown; declare one of {', '.join(UNITS)} "
                      "(a NIfTI CT in Hounsfield units: units='HU')")


def load(path: str | os.PathLike[str], *, series: str | int | None = None,
         **opts: Unpack[LoadOptions]) -> Volume:
    """Read the image at ``path`` into a :class:`~bonenet.volume.Volume`.

    Parameters
    ----------
    path : path
        A DICOM folder (searched recursively, best series chosen — see
        :func:`bonenet.io.dicom.load_dicom`), a DICOM file (single- or multi-frame), a
        NIfTI (``.nii``/``.nii.gz``), NRRD/MetaImage (``.nrrd``/``.nhdr``/``.mha``/``.mhd``)
        or Scanco (``.aim``, ``.isq``, also with an OpenVMS ``;N`` version suffix) file.
    series : str or int, optional
        DICOM folders only: the SeriesInstanceUID (or ``SeriesInfo.key``, or SeriesNumber)
        to read instead of the automatic choice.
    **opts
        Reader options, e.g. ``allow_gaps=True``, ``gantry_tilt="refuse"`` (DICOM),
        ``native=True`` (Scanco), ``units=`` (NIfTI/NRRD: the one way to declare what a
        file's values are, e.g. ``units="HU"`` for a NIfTI CT; one of
        :data:`bonenet.volume.UNITS`; DICOM CT carries its units and ignores it). A bad
        ``units`` raises :class:`~bonenet.errors.ConfigError`; label maps are read with
        :func:`bonenet.io.load_mask`.

    Returns
    -------
    Volume
        float32 array (P, R, C), spacing in mm, LPS geometry, explicit units, provenance in
        ``meta``.
    """
    p = Path(path)
    _check_units(opts.get("units"), p)
    if not p.exists():
        raise ImageFormatError(f"{p}: no such file or folder; check the path")
    if p.is_dir():
        from .dicom import load_dicom

        return load_dicom(p, series=series, **opts)
    suffix = _suffix(p)
    if suffix in _NIFTI:
        from .nifti import read_nifti

        return read_nifti(p, **opts)
    if suffix in _SITK:
        from .sitk_formats import read_sitk

        return read_sitk(p, **opts)
    if suffix == ".aim":
        from .aim import read_aim

        return read_aim(p, **opts)
    if suffix == ".isq":
        from .isq import read_isq

        return read_isq(p, **opts)
    if suffix in _DICOM_SUFFIXES or _is_dicom_file(p):
        from .dicom import load_dicom

        return load_dicom(p, series=series, **opts)
    raise ImageFormatError(
        f"{p}: unrecognised image format {suffix or '(no extension)'!r}; bonenet reads DICOM "
        "folders/files, .nii/.nii.gz, .nrrd/.nhdr/.mha/.mhd, .aim and .isq"
    )


def save(volume: Volume, path: str | os.PathLike[str], *, format: str | None = None,
         **opts: Any) -> Path:
    """Write ``volume`` to ``path`` atomically; the format follows ``format`` or the extension.

    Parameters
    ----------
    volume : Volume
        What to write.
    path : path
        ``.nii``/``.nii.gz`` → NIfTI; ``.nrrd``/``.mha``/``.mhd`` → via SimpleITK; ``.aim`` →
        Scanco AIM with calibration header; a path without suffix (or ``format="dicom"``) →
        a folder holding a DICOM series (see :func:`bonenet.io.dicom_write.write_dicom_series`).
    format : {"nifti", "dicom", "aim", "nrrd", "mha"}, optional
        Overrides the choice by extension.
    **opts
        Writer options (DICOM: ``uid_seed``, ``patient_id``, ``series_number``...; AIM:
        ``mu_scaling``, ``density_slope``, ``density_intercept``, ``version``...).

    Returns
    -------
    Path
        The file or folder written.
    """
    p = Path(path)
    by_suffix = {".nii": "nifti", ".nii.gz": "nifti", ".aim": "aim", ".nrrd": "nrrd",
                 ".nhdr": "nrrd", ".mha": "mha", ".mhd": "mha", "": "dicom"}
    fmt = (format or "").lower() or by_suffix.get(_suffix(p), "")
    if fmt == "nifti":
        from .nifti import write_nifti

        return write_nifti(volume, p, **opts)
    if fmt == "dicom":
        from .dicom_write import write_dicom_series

        return write_dicom_series(volume, p, **opts)
    if fmt == "aim":
        from .aim import write_aim

        return write_aim(volume, p, **opts)
    if fmt in ("nrrd", "mha"):
        from .sitk_formats import write_sitk

        return write_sitk(volume, p, **opts)
    raise ImageFormatError(
        f"{p}: cannot choose a writer for this path (format={format!r}); use .nii/.nii.gz, "
        ".nrrd, .mha, .aim, or a folder path without suffix / format='dicom' for a DICOM series"
    )

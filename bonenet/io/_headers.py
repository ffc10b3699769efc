"""Read each DICOM file's header once into a small record (no pixel data decoded).

The record keeps what series grouping, geometry and fast pixel reading need, including the
byte offset of uncompressed pixel data so the loader can read it straight into its buffer.
Patient identifiers are never kept.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["FileHeader", "read_header"]

#: Transfer syntaxes whose pixel bytes sit uncompressed in the file, with their byte order.
UNCOMPRESSED = {
    "1.2.840.10008.1.2": "<",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.1": "<",  # Explicit VR Little Endian
    "1.2.840.10008.1.2.2": ">",  # Explicit VR Big Endian (retired)
}
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
#: SOP classes that carry pixel data but are not images bonenet can measure.
NOT_IMAGES = {
    SEG_CLASS: "a segmentation (SEG) object",
    "1.2.840.10008.5.1.4.1.1.481.2": "an RT Dose grid",
    "1.2.840.10008.5.1.4.1.1.66.5": "a surface segmentation",
}
PROJECTION_MODALITIES = {"CR", "DX", "MG", "RF", "XA", "PX", "IO", "RG", "BMD"}


@dataclass(slots=True)
class FileHeader:
    """What bonenet needs from one DICOM file's header (no patient identifiers)."""

    path: Path
    sop_uid: str = ""
    sop_class: str = ""
    series_uid: str = ""
    study_uid: str = ""
    for_uid: str = ""
    modality: str = ""
    image_type: tuple[str, ...] = ()
    series_number: int | None = None
    series_description: str = ""
    transfer_syntax: str = ""
    rows: int = 0
    columns: int = 0
    n_frames: int = 1
    samples_per_pixel: int = 1
    photometric: str = ""
    bits_allocated: int = 0
    bits_stored: int = 0
    pixel_representation: int = 0
    slope: float = 1.0
    intercept: float = 0.0
    rescale_type: str = ""
    ipp: tuple[float, float, float] | None = None
    iop: tuple[float, ...] | None = None
    pixel_spacing: tuple[float, float] | None = None
    imager_pixel_spacing: tuple[float, float] | None = None
    slice_thickness: float | None = None
    spacing_between_slices: float | None = None
    instance_number: int | None = None
    acquisition_number: int | None = None
    gantry_tilt: float = 0.0
    patient_orientation: tuple[str, ...] = ()
    has_pixels: bool = False
    pixel_offset: int | None = None
    pixel_length: int | None = None
    enhanced: bool = False
    file_size: int = 0
    frame_index: int | None = None  # set for per-frame records of enhanced multi-frame files
    patient_id: str = field(default="", repr=False)

    @property
    def is_uncompressed(self) -> bool:
        return (self.transfer_syntax in UNCOMPRESSED and self.pixel_offset is not None
                and self.pixel_length not in (None, 0xFFFFFFFF))

    @property
    def expected_pixel_bytes(self) -> int:
        return self.rows * self.columns * self.samples_per_pixel * self.n_frames * (self.bits_allocated // 8)

    def problem(self) -> str | None:
        """Why this file cannot become a grayscale Volume (None when it can)."""
        if self.sop_class == DICOMDIR_CLASS:
            return "is a DICOMDIR index, not an image"
        if self.sop_class in NOT_IMAGES:
            return f"is {NOT_IMAGES[self.sop_class]} ({_sop_name(self.sop_class)}), not an image"
        if not self.has_pixels:
            return f"has no pixel data ({_sop_name(self.sop_class)}, modality {self.modality or '?'})"
        if self.samples_per_pixel != 1 or self.photometric not in ("MONOCHROME1", "MONOCHROME2"):
            return (f"is a colour image (PhotometricInterpretation={self.photometric or '?'}, "
                    f"SamplesPerPixel={self.samples_per_pixel}); bonenet reads grayscale only")
        if self.bits_allocated not in (8, 16, 32) or self.rows < 1 or self.columns < 1:
            return (f"has unsupported pixel layout (BitsAllocated={self.bits_allocated}, "
                    f"{self.rows}x{self.columns})")
        if self.is_uncompressed and (
            self.pixel_length < self.expected_pixel_bytes  # type: ignore[operator]
            or self.pixel_offset + self.pixel_length > self.file_size  # type: ignore[operator]
        ):
            have = max(0, min(self.pixel_length, self.file_size - self.pixel_offset))  # type: ignore[operator]
            return f"is truncated: {have} of {self.expected_pixel_bytes} pixel bytes present"
        return None


def _sop_name(uid: str) -> str:
    from pydicom.uid import UID

    name = UID(uid).name if uid else ""
    return name if name and name != uid else (uid or "unknown SOP class")


def _floats(value: Any, n: int, *, positive: bool = False) -> tuple[float, ...] | None:
    if value is None:
        return None
    try:
        vals = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if positive and not all(v > 0 for v in vals):
        return None
    return vals if len(vals) == n else None


def _float(value: Any, default: float | None = None) -> float | None:
    try:
        return float(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def looks_like_dicom(path: Path) -> bool | None:
    """True: DICM preamble; None: maybe (no preamble but starts like a data set); False: no."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    if len(head) >= 132 and head[128:132] == b"DICM":
        return True
    if len(head) >= 8 and head[:2] in (b"\x08\x00", b"\x02\x00", b"\x00\x08", b"\x00\x02"):
        return None
    return False


def read_header(path: Path, *, with_patient: bool = False, fast: bool = True) -> FileHeader | None:
    """Parse ``path``'s header; None when it is not a DICOM file.

    Raises
    ------
    DicomError
        When the file claims to be DICOM but its header cannot be parsed.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    from ..errors import DicomError
    from ._fastheader import fast_header

    quick = fast_header(path, with_patient=with_patient) if fast else None
    if quick is not None:
        return quick
    kind = looks_like_dicom(path)
    if kind is False:
        return None
    try:
        with warnings.catch_warnings():  # pydicom warns about sloppy-but-readable headers
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, defer_size=2048, force=kind is None)
        sop_class = str(ds.get("SOPClassUID", "") or ds.file_meta.get("MediaStorageSOPClassUID", "") or "")
        if kind is None and not sop_class and "Modality" not in ds:
            return None
        if not any(0x0004 <= tag >> 16 <= 0x7FE0 for tag in ds.keys()):  # nothing but garbage
            raise DicomError(f"{path}: DICOM preamble but no readable data set (truncated or damaged "
                             "header); re-export or remove the file")
        return _from_dataset(ds, path, sop_class, with_patient=with_patient)
    except InvalidDicomError:
        return None
    except DicomError:
        raise
    except Exception as exc:  # pydicom raises many types on damaged headers
        raise DicomError(f"{path}: damaged DICOM header ({type(exc).__name__}: {str(exc)[:160]}); "
                         "re-export or remove the file") from exc


def _from_dataset(ds: Any, path: Path, sop_class: str, *, with_patient: bool) -> FileHeader:
    g = ds.get
    ts = str(ds.file_meta.get("TransferSyntaxUID", "") or "1.2.840.10008.1.2")
    px = ds.get_item(0x7FE00010, keep_deferred=True)
    offset = length = None
    if px is not None:
        offset = getattr(px, "value_tell", None)
        length = getattr(px, "length", None)
        if offset is None and getattr(px, "value", None) is not None:  # small value read eagerly
            length = len(px.value)
    h = FileHeader(
        path=path,
        sop_uid=str(g("SOPInstanceUID", "") or ""),
        sop_class=sop_class,
        series_uid=str(g("SeriesInstanceUID", "") or ""),
        study_uid=str(g("StudyInstanceUID", "") or ""),
        for_uid=str(g("FrameOfReferenceUID", "") or ""),
        modality=str(g("Modality", "") or "").upper(),
        image_type=tuple(str(v).strip().upper() for v in (_as_list(g("ImageType")) or ()) if str(v).strip()),
        series_number=_int(g("SeriesNumber")),
        series_description=str(g("SeriesDescription", "") or ""),
        transfer_syntax=ts,
        rows=_int(g("Rows")) or 0,
        columns=_int(g("Columns")) or 0,
        n_frames=_int(g("NumberOfFrames")) or 1,
        samples_per_pixel=_int(g("SamplesPerPixel")) or 1,
        photometric=str(g("PhotometricInterpretation", "") or "").upper(),
        bits_allocated=_int(g("BitsAllocated")) or 0,
        bits_stored=_int(g("BitsStored")) or _int(g("BitsAllocated")) or 0,
        pixel_representation=_int(g("PixelRepresentation")) or 0,
        slope=_float(g("RescaleSlope"), 1.0) or 1.0,
        intercept=_float(g("RescaleIntercept"), 0.0) or 0.0,
        rescale_type=str(g("RescaleType", "") or ""),
        ipp=_floats(g("ImagePositionPatient"), 3),  # type: ignore[arg-type]
        iop=_floats(g("ImageOrientationPatient"), 6),
        pixel_spacing=_floats(g("PixelSpacing"), 2, positive=True),  # type: ignore[arg-type]
        imager_pixel_spacing=_floats(g("ImagerPixelSpacing"), 2, positive=True),  # type: ignore[arg-type]
        slice_thickness=_float(g("SliceThickness")),
        spacing_between_slices=_float(g("SpacingBetweenSlices")),
        instance_number=_int(g("InstanceNumber")),
        acquisition_number=_int(g("AcquisitionNumber")),
        gantry_tilt=_float(g("GantryDetectorTilt"), 0.0) or 0.0,
        patient_orientation=tuple(str(v).strip().upper() for v in (_as_list(g("PatientOrientation")) or ()) if str(v).strip()),
        has_pixels=px is not None,
        pixel_offset=offset,
        pixel_length=length,
        enhanced="PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds,
        file_size=os.path.getsize(path),
        patient_id=str(g("PatientID", "") or "") if with_patient else "",
    )
    return h


def _as_list(v: Any) -> list[Any] | None:
    if v is None:
        return None
    if isinstance(v, (str, bytes)):
        return [v]
    try:
        return list(v)
    except TypeError:
        return [v]

"""Write a :class:`~bonenet.volume.Volume` as a DICOM CT (or MR) image series.

One file per slice along the Volume's P axis. Geometry comes straight from the Volume's LPS
frame, so any orientation (axial, coronal, sagittal, oblique, feet-first) is written exactly:

* ``ImageOrientationPatient`` = (direction of increasing column index, direction of increasing
  row index) = ``(direction[:, 2], direction[:, 1])``;
* ``ImagePositionPatient`` of slice ``k`` = ``origin + k * spacing[0] * direction[:, 0]``;
* ``PixelSpacing`` = (row spacing, column spacing) = ``(spacing[1], spacing[2])``;
  ``SliceThickness`` and ``SpacingBetweenSlices`` = ``spacing[0]``.

Values are stored as int16 (or uint16) with ``RescaleSlope``/``RescaleIntercept`` chosen so
that ``stored * slope + intercept`` reproduces the float values: exactly when they are
integers that fit, otherwise to within ``slope / 2`` (about 1/65534 of the value range).
``RescaleType`` carries the Volume's units (``HU`` for CT), so :func:`bonenet.io.load` gives
back the same units.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from ..errors import DicomError
from ..volume import Volume

__all__ = ["choose_rescale", "write_dicom_series"]

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
_UID_ROOT = "2.25."


def _ds_float(x: float) -> float:
    """Round ``x`` to what a DICOM DS (16 characters) can hold, so writer and reader agree."""
    from pydicom.valuerep import format_number_as_ds

    return float(format_number_as_ds(float(x)))


def _ds_str(x: float) -> str:
    from pydicom.valuerep import format_number_as_ds

    return str(format_number_as_ds(float(x)))


def choose_rescale(values: np.ndarray, *, dtype: str = "int16") -> tuple[float, float]:
    """Pick ``(slope, intercept)`` so that ``values`` fit ``dtype`` stored integers.

    Integer-valued data that fits is stored exactly (slope 1; intercept 0 when possible, else
    an integer shift). Other data is spread over the full integer range.

    Parameters
    ----------
    values : ndarray
        The float values to encode (any shape).
    dtype : {"int16", "uint16"}
        The stored integer type.

    Returns
    -------
    slope, intercept : float
        DS-representable rescale parameters.
    """
    info = np.iinfo(np.dtype(dtype))
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 1.0, 0.0
    lo, hi = float(finite.min()), float(finite.max())
    integral = bool(np.all(finite == np.round(finite)))
    if integral and hi - lo <= info.max - info.min:
        if lo >= info.min and hi <= info.max:
            return 1.0, 0.0
        return 1.0, float(np.floor(lo) - info.min)
    span = max(hi - lo, 1e-6)
    slope = _ds_float(span / (info.max - info.min - 2))
    # centre the data on the stored range, then round the intercept to DS precision
    intercept = _ds_float(lo - (info.min + 1) * slope)
    return slope, intercept


def _uid(seed: str | None, *parts: object) -> str:
    """A valid DICOM UID: deterministic from ``seed`` and ``parts``, else random."""
    if seed is None:
        from pydicom.uid import generate_uid

        return str(generate_uid())
    digest = hashlib.sha256("|".join(str(p) for p in (seed, *parts)).encode()).digest()
    return _UID_ROOT + str(int.from_bytes(digest[:16], "big"))


def write_dicom_series(
    volume: Volume,
    folder: str | Path,
    *,
    uid_seed: str | int | None = None,
    patient_id: str = "ANONYMOUS",
    patient_name: str = "Anonymous",
    study_description: str = "",
    series_description: str = "bonenet",
    series_number: int = 1,
    modality: str | None = None,
    dtype: str = "int16",
    rescale: tuple[float, float] | None = None,
    per_slice_rescale: bool = False,
    compression: str | None = None,
    prefix: str = "IM",
    study_date: str = "20000101",
) -> Path:
    """Write ``volume`` as a DICOM image series, one file per P slice, into ``folder``.

    Parameters
    ----------
    volume : Volume
        The image; its LPS geometry becomes ImagePositionPatient/ImageOrientationPatient.
    folder : path
        Output folder (created). Files are named ``{prefix}00001.dcm``... and each is
        written atomically (temporary file, then rename).
    uid_seed : str or int, optional
        Makes Study/Series/FrameOfReference/SOP Instance UIDs deterministic.
    patient_id, patient_name, study_description, series_description : str
        Header text. The defaults carry no identifiers.
    series_number : int
        SeriesNumber.
    modality : str, optional
        DICOM Modality (default the Volume's when it is a DICOM modality, else ``"CT"``).
        ``"MR"`` writes MR Image Storage objects; every other value CT Image Storage.
    dtype : {"int16", "uint16"}
        Stored pixel type.
    rescale : (slope, intercept), optional
        Force the rescale; by default :func:`choose_rescale` picks it.
    per_slice_rescale : bool
        Choose slope/intercept per slice rather than once for the series.
    compression : {None, "jpeg2000", "rle"}, optional
        Encode pixel data (lossless) with pydicom's encoders; default uncompressed
        Explicit VR Little Endian.
    prefix : str
        File name prefix.
    study_date : str
        StudyDate/SeriesDate (YYYYMMDD).

    Returns
    -------
    Path
        The folder.
    """
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (
        PYDICOM_IMPLEMENTATION_UID,
        ExplicitVRLittleEndian,
        JPEG2000Lossless,
        RLELossless,
    )

    if dtype not in ("int16", "uint16"):
        raise DicomError(f"DICOM writer dtype {dtype!r} unsupported; use 'int16' or 'uint16'")
    codecs = {None: None, "jpeg2000": JPEG2000Lossless, "rle": RLELossless}
    if compression not in codecs:
        raise DicomError(f"DICOM writer compression {compression!r} unknown; use None, 'jpeg2000' or 'rle'")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arr = volume.array
    if not np.all(np.isfinite(arr)):
        raise DicomError(f"{folder}: the volume has NaN/inf values; DICOM cannot store them — fill them first")
    mod = (modality or (volume.modality if volume.modality in ("CT", "MR", "OT") else "CT")).upper()
    sop_class = MR_IMAGE_STORAGE if mod == "MR" else CT_IMAGE_STORAGE
    seed = None if uid_seed is None else str(uid_seed)
    study_uid = _uid(seed, "study")
    series_uid = _uid(seed, "series", series_number)
    for_uid = _uid(seed, "frame-of-reference")
    info = np.iinfo(np.dtype(dtype))
    if rescale is None and not per_slice_rescale:
        rescale = choose_rescale(arr, dtype=dtype)

    d = volume.direction
    row_cos, col_cos = d[:, 2], d[:, 1]
    normal = np.cross(row_cos, col_cos)
    step = d[:, 0] * volume.spacing[0]
    units = volume.units
    now = _dt.datetime.now().strftime("%H%M%S")
    width = max(5, len(str(volume.shape[0])))

    for k in range(volume.shape[0]):
        sl = arr[k]
        slope, intercept = rescale if rescale is not None else choose_rescale(sl, dtype=dtype)
        slope, intercept = _ds_float(slope), _ds_float(intercept)
        stored = np.round((sl.astype(np.float64) - intercept) / slope)
        if stored.min() < info.min or stored.max() > info.max:
            raise DicomError(
                f"{folder}: slice {k} values {sl.min():g}..{sl.max():g} do not fit {dtype} with "
                f"slope {slope:g} / intercept {intercept:g}; pass another rescale= or leave it automatic"
            )
        stored = stored.astype(dtype)
        ipp = np.asarray(volume.origin) + k * step
        sop_uid = _uid(seed, "sop", series_number, k) if seed is not None else _uid(None)

        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        ds = Dataset()
        ds.file_meta = meta
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = sop_uid
        ds.StudyDate = ds.SeriesDate = ds.ContentDate = study_date
        ds.StudyTime = ds.SeriesTime = ds.ContentTime = now
        ds.AccessionNumber = ""
        ds.Modality = mod
        ds.Manufacturer = "bonenet"
        ds.StudyDescription = study_description
        ds.SeriesDescription = series_description
        ds.PatientName = patient_name
        ds.PatientID = patient_id
        ds.PatientBirthDate = ""
        ds.PatientSex = ""
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = "1"
        ds.SeriesNumber = int(series_number)
        ds.AcquisitionNumber = 1
        ds.InstanceNumber = k + 1
        ds.FrameOfReferenceUID = for_uid
        ds.PositionReferenceIndicator = ""
        ds.ImagePositionPatient = [_ds_str(v) for v in ipp]
        ds.ImageOrientationPatient = [_ds_str(v) for v in (*row_cos, *col_cos)]
        ds.SliceLocation = _ds_str(float(ipp @ normal))
        ds.SliceThickness = _ds_str(volume.spacing[0])
        ds.SpacingBetweenSlices = _ds_str(volume.spacing[0])
        ds.PixelSpacing = [_ds_str(volume.spacing[1]), _ds_str(volume.spacing[2])]
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = int(sl.shape[0]), int(sl.shape[1])
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1 if dtype == "int16" else 0
        ds.RescaleIntercept = _ds_str(intercept)
        ds.RescaleSlope = _ds_str(slope)
        ds.RescaleType = "HU" if units == "HU" else units
        if mod == "CT":
            ds.KVP = ""
        if mod == "MR":
            ds.ScanningSequence = "RM"
            ds.SequenceVariant = "NONE"
            ds.ScanOptions = ""
            ds.MRAcquisitionType = "3D"
            ds.EchoTime = ""
            ds.RepetitionTime = ""
            ds.EchoTrainLength = ""
        ds.PixelData = np.ascontiguousarray(stored).astype(stored.dtype.newbyteorder("<")).tobytes()
        if codecs[compression] is not None:
            try:
                ds.compress(codecs[compression], stored)
            except Exception as exc:  # encoder plugins raise RuntimeError/ValueError
                raise DicomError(
                    f"{folder}: cannot encode slice {k} as {compression} ({str(exc).strip()[:160]}); "
                    "JPEG 2000 needs images of at least 32x32 pixels — write uncompressed instead"
                ) from exc
        path = folder / f"{prefix}{k + 1:0{width}d}.dcm"
        with atomic_path(path) as tmp:
            pydicom.dcmwrite(tmp, ds, enforce_file_format=True)
    return folder


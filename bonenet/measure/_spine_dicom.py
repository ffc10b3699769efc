"""Spine results back to PACS: a DICOM SEG of the trabecular VOIs and a Comprehensive 3D SR
(TID 1500 measurement report) with one measurement group per vertebra, written with
highdicom and referencing the source CT series.

Both objects copy the patient and study modules of the source series, as DICOM requires
for them to file under the same patient and study; nothing else from the source (no free
text) is added. Quantities without a standard code (anterior/middle/posterior height,
vBMD, Genant grade, the levels) use the private coding scheme ``99BONENET``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import DicomError

if TYPE_CHECKING:  # pragma: no cover
    from .spine import SpineResult

__all__ = ["BONENET_SCHEME", "read_spine_sr", "write_spine_dicom"]

BONENET_SCHEME = "99BONENET"
_MEASURES = (  # column, code value, meaning, UCUM unit
    ("hu_mean", "hu_mean", "Mean trabecular attenuation", "[hnsf'U]"),
    ("hu_median", "hu_median", "Median trabecular attenuation", "[hnsf'U]"),
    ("voi_ml", "voi_ml", "Trabecular VOI volume", "ml"),
    ("vbmd_mg_cm3", "vbmd", "Volumetric bone mineral density", "mg/cm3"),
    ("height_anterior_mm", "height_anterior", "Anterior vertebral body height", "mm"),
    ("height_middle_mm", "height_middle", "Middle vertebral body height", "mm"),
    ("height_posterior_mm", "height_posterior", "Posterior vertebral body height", "mm"),
    ("genant_grade", "genant_grade", "Genant semiquantitative grade", "{grade}"),
)


def _sources(result: SpineResult) -> list[Any]:
    import pydicom

    vol = result.volume
    files = vol.meta.get("source") or []
    if vol.meta.get("format") != "dicom" or not files:
        raise DicomError("DICOM SEG/SR need a DICOM input (the SEG and SR reference its series); "
                         "this study was read from a non-DICOM file")
    dss = [pydicom.dcmread(f) for f in files]
    missing = sorted({k for ds in dss for k in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID",
                                                "SOPClassUID", "FrameOfReferenceUID")
                      if not str(getattr(ds, k, "") or "")})
    if missing:
        raise DicomError(
            f"{Path(files[0]).parent}: the source series lacks {', '.join(missing)} (anonymised "
            "without new UIDs?); DICOM SEG/SR must reference its instances: re-export the series "
            "with UIDs, or omit --dicom")
    return dss


def _code(value: str, meaning: str) -> Any:
    from highdicom.sr import CodedConcept

    return CodedConcept(value=value, scheme_designator=BONENET_SCHEME, meaning=meaning)


def write_spine_dicom(result: SpineResult, out: str | os.PathLike[str], *,
                      series_number: int = 9901) -> tuple[Path, Path]:
    """Write ``out/spine_seg.dcm`` (VOIs, one segment per vertebra) and ``out/spine_sr.dcm``.

    Raises
    ------
    DicomError
        The study was not read from DICOM, or its instances lack the UIDs to reference.
    """
    import highdicom as hd
    from pydicom.sr.codedict import codes

    from .. import __version__
    from .._atomic import atomic_path

    dss = _sources(result)
    vol = result.volume
    # highdicom wants source images in the order of the pixel array's frames
    order = {f: i for i, f in enumerate(vol.meta["source"])}
    dss = sorted(dss, key=lambda d: order[str(d.filename)])
    if len(dss) != vol.shape[0]:
        raise DicomError(f"{len(dss)} source files for {vol.shape[0]} slices; cannot map the SEG frames")
    levels = list(result.geometry)
    pixels = np.zeros((*vol.shape, len(levels)), dtype=bool)
    for k, lv in enumerate(levels):
        pixels[..., k] = result.geometry[lv].voi
    algo = hd.AlgorithmIdentificationSequence(name="bonenet spine", version=__version__,
                                              family=codes.DCM.ArtificialIntelligence)
    descs = [hd.seg.SegmentDescription(
        segment_number=k + 1, segment_label=f"{lv} trabecular VOI",
        segmented_property_category=codes.SCT.Tissue, segmented_property_type=codes.SCT.Bone,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm_identification=algo,
        tracking_uid=hd.UID(), tracking_id=f"{lv} trabecular VOI") for k, lv in enumerate(levels)]
    seg = hd.seg.Segmentation(
        source_images=dss, pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descs, series_instance_uid=hd.UID(), series_number=series_number,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="bonenet",
        manufacturer_model_name="bonenet spine", software_versions=__version__,
        device_serial_number="0", series_description="bonenet spine VOIs")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    seg_path, sr_path = out / "spine_seg.dcm", out / "spine_sr.dcm"
    with atomic_path(seg_path) as tmp:
        seg.save_as(tmp)
    groups = []
    rows = {r["vertebra"]: r for r in result.rows}
    for k, lv in enumerate(levels):
        row = rows[lv]
        ms = []
        for col, value, meaning, unit in _MEASURES:
            v = row.get(col)
            if v is None or (isinstance(v, float) and not np.isfinite(v)):
                continue
            ms.append(hd.sr.Measurement(
                name=_code(value, meaning), value=float(v),
                unit=hd.sr.CodedConcept(value=unit, scheme_designator="UCUM", meaning=unit)))
        groups.append(hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"{lv} trabecular VOI"),
            referenced_segment=hd.sr.ReferencedSegment.from_segmentation(seg, segment_number=k + 1),
            finding_type=codes.SCT.Bone,
            finding_sites=[hd.sr.FindingSite(anatomic_location=_code(f"vertebra_{lv}", f"Vertebra {lv}"))],
            measurements=ms))
    context = hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(
            observer_type=codes.DCM.Device,
            observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                uid=hd.UID(), name="bonenet spine")))
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=_code("opportunistic_spine_ct", "Opportunistic spine CT measurement"),
        imaging_measurements=groups)
    sr = hd.sr.Comprehensive3DSR(
        evidence=[*dss, seg], content=report, series_instance_uid=hd.UID(), series_number=series_number + 1,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="bonenet",
        series_description="bonenet spine measurements")
    with atomic_path(sr_path) as tmp:
        sr.save_as(tmp)
    return seg_path, sr_path


def read_spine_sr(path: str | os.PathLike[str]) -> dict[str, dict[str, float]]:
    """``{level: {column: value}}`` read back from a bonenet spine SR (for checks and tests)."""
    import highdicom as hd
    import pydicom

    sr = hd.sr.srread(str(path)) if hasattr(hd.sr, "srread") else hd.sr.Comprehensive3DSR.from_dataset(
        pydicom.dcmread(str(path)))
    report = sr.content
    by_value = {value: col for col, value, _, _ in _MEASURES}
    out: dict[str, dict[str, float]] = {}
    for g in report.get_volumetric_roi_measurement_groups():
        lv = g.finding_sites[0].value.value[len("vertebra_"):]
        out[lv] = {by_value[m.name.value]: float(m.value) for m in g.get_measurements()
                   if m.name.value in by_value}
    return out

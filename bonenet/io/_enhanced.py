"""Enhanced multi-frame CT/MR: one header per frame from the functional groups.

Plane position, plane orientation, pixel measures and the pixel-value transformation (where
the rescale of enhanced CT often lives) are taken from each frame's Per-Frame Functional
Groups item, falling back to the Shared Functional Groups and then the top-level data set.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..errors import DicomError
from ._headers import FileHeader, read_header

__all__ = ["enhanced_frame_headers"]


def enhanced_frame_headers(path: Path, h: FileHeader | None = None) -> tuple[list[FileHeader], list[str]]:
    """One header per frame of an enhanced multi-frame file, from its functional groups.

    Returns the frames of the largest stack (same orientation, StackID and temporal
    position) and notes about any others.
    """
    import pydicom

    if h is None:
        h = read_header(Path(path))
        if h is None:
            raise DicomError(f"{path}: not a DICOM file")
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as exc:
        raise DicomError(f"{path}: damaged DICOM header ({exc})") from exc
    shared = ds.SharedFunctionalGroupsSequence[0] if ds.get("SharedFunctionalGroupsSequence") else None
    per = ds.get("PerFrameFunctionalGroupsSequence") or []
    n = h.n_frames
    if per and len(per) != n:
        raise DicomError(f"{path}: {len(per)} per-frame functional groups for {n} frames; the file is inconsistent")
    fb = h.rows * h.columns * (h.bits_allocated // 8)

    def get(i: int, seq: str, attr: str) -> Any:
        for src in ((per[i] if per else None), shared):
            if src is not None and src.get(seq):
                item = src[seq][0]
                if attr in item and item[attr].value not in (None, ""):
                    return item[attr].value
        return ds.get(attr)

    frames, keys = [], []
    for i in range(n):
        ipp, iop = get(i, "PlanePositionSequence", "ImagePositionPatient"), get(i, "PlaneOrientationSequence", "ImageOrientationPatient")
        ps = get(i, "PixelMeasuresSequence", "PixelSpacing")
        slope = get(i, "PixelValueTransformationSequence", "RescaleSlope")
        icpt = get(i, "PixelValueTransformationSequence", "RescaleIntercept")
        rtype = get(i, "PixelValueTransformationSequence", "RescaleType")
        if ipp is None or iop is None:
            raise DicomError(f"{path}: frame {i + 1} has no plane position/orientation in its functional groups")
        fr = dataclasses.replace(
            h, ipp=tuple(float(v) for v in ipp), iop=tuple(float(v) for v in iop),
            pixel_spacing=tuple(float(v) for v in ps) if ps else h.pixel_spacing,
            slice_thickness=_f(get(i, "PixelMeasuresSequence", "SliceThickness")),
            spacing_between_slices=_f(get(i, "PixelMeasuresSequence", "SpacingBetweenSlices")),
            slope=_f(slope) or 1.0, intercept=_f(icpt) or 0.0, rescale_type=str(rtype or h.rescale_type),
            frame_index=i, n_frames=1,
            pixel_offset=None if h.pixel_offset is None else h.pixel_offset + i * fb,
            pixel_length=fb if h.is_uncompressed else h.pixel_length,
        )
        frames.append(fr)
        keys.append((tuple(round(float(v), 3) for v in iop), get(i, "FrameContentSequence", "StackID"),
                     get(i, "FrameContentSequence", "TemporalPositionIndex")))
    groups: dict[Any, list[FileHeader]] = {}
    for k, fr in zip(keys, frames, strict=True):
        groups.setdefault(k, []).append(fr)
    best = max(groups.values(), key=len)
    notes = []
    if len(groups) > 1:
        notes.append(f"{path.name} holds {len(groups)} stacks/temporal positions; read the largest "
                     f"({len(best)} of {n} frames)")
    return best, notes


def _f(v: Any) -> float | None:
    try:
        return float(v) if v not in (None, "") else None
    except (TypeError, ValueError):
        return None

"""Opportunistic spine measurement on routine CT, one study: per-vertebra trabecular HU,
calibrated vBMD, body heights and Genant grades from TotalSegmentator-style masks.

``measure_spine(image, masks)`` → :class:`SpineResult` (rows for ``spine.csv``, the VOIs,
the calibration); ``SpineResult.write(out)`` writes ``spine.csv``, ``spine.json`` and the QA
picture ``spine_qa.png``. The rules (body, axis, heights, VOI) are in
:mod:`bonenet.measure._vertebra`; density, contrast and flags in
:mod:`bonenet.measure._spine_density`; both are documented in docs/spine.md.
Research software: the flags are research categories, not diagnoses.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..calibrate import Calibration, acr_category
from ..errors import ConfigError, SegmentationError
from ..volume import Volume
from ._spine_density import (
    CONTRAST_CORRECTION_HU,
    check_phase,
    genant_grade,
    pickhardt_flag,
    spine_internal_calibration,
    spine_phantom_calibration,
)
from ._spine_masks import LEVELS, SpineMasks, read_spine_masks
from ._vertebra import VertebraGeometry, find_body, measure_vertebra

__all__ = ["SPINE_COLUMNS", "SpineResult", "load_spine_image", "measure_spine"]

#: Columns of ``spine.csv`` (one row per vertebra; batch runs add ``subject_id`` first).
SPINE_COLUMNS = (
    "vertebra", "hu_mean", "hu_median", "hu_sd", "voi_ml", "voi_margin_mm", "phase",
    "hu_median_native", "vbmd_mg_cm3", "vbmd_units", "calibration",
    "height_anterior_mm", "height_middle_mm", "height_posterior_mm", "height_reduction",
    "genant_grade", "deformity", "pickhardt_l1", "acr_category", "qa_flags",
)
CALIBRATIONS = (None, "internal", "phantom")


@dataclass
class SpineResult:
    """One study's spine measurement.

    Attributes
    ----------
    rows : list of dict
        One per vertebra (cranial first), keys :data:`SPINE_COLUMNS`.
    volume : Volume
        The CT measured (HU).
    masks : SpineMasks
        The masks read.
    geometry : dict of level → VertebraGeometry
        Bodies, VOIs, axes and heights.
    calibration : Calibration or None
        The density calibration applied, if any.
    phase : str
        The declared contrast phase.
    warnings : list of str
        Study-level notes (no identifiers).
    """

    rows: list[dict[str, Any]]
    volume: Volume
    masks: SpineMasks
    geometry: dict[str, VertebraGeometry]
    calibration: Calibration | None
    phase: str
    warnings: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """JSON-friendly run record (calibration, masks form, warnings; no identifiers)."""
        return {"phase": self.phase, "masks": self.masks.source,
                "levels": [r["vertebra"] for r in self.rows],
                "calibration": self.calibration.as_dict() if self.calibration else None,
                "warnings": list(self.warnings)}

    def write(self, out: str | os.PathLike[str], *, qa: bool = True) -> Path:
        """Write ``spine.csv``, ``spine.json`` and (``qa``) ``spine_qa.png`` into ``out``."""
        from .._atomic import write_text_atomic
        from ._spine_qa import save_qa_png, spine_csv_text

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out / "spine.csv", spine_csv_text(self.rows, SPINE_COLUMNS))
        write_text_atomic(out / "spine.json", json.dumps(self.record(), indent=2, default=float) + "\n")
        if qa:
            save_qa_png(self, out / "spine_qa.png")
        return out / "spine.csv"


def load_spine_image(image: str | os.PathLike[str] | Volume, *, units: str | None = None) -> Volume:
    """Read the CT (DICOM carries HU; a NIfTI needs ``units="HU"``) and check it is in HU."""
    from ..io import load

    vol = image if isinstance(image, Volume) else load(image, **({"units": units} if units else {}))
    if vol.units != "HU":
        src = "the Volume" if isinstance(image, Volume) else str(image)
        raise ConfigError(
            f"{src}: image units are {vol.units!r}; spine measurement needs CT in HU. DICOM CT "
            "carries its units; for a NIfTI declare them (units='HU', CLI --units HU)")
    return vol


def _axes(centroids: Mapping[str, np.ndarray]) -> dict[str, np.ndarray | None]:
    """The spine curve's cranial direction at each level from the neighbours' centroids."""
    order = [lv for lv in LEVELS if lv in centroids]  # cranial → caudal
    out: dict[str, np.ndarray | None] = {}
    for i, lv in enumerate(order):
        up = centroids[order[i - 1]] if i > 0 and _adjacent(order[i - 1], lv) else None
        down = centroids[order[i + 1]] if i + 1 < len(order) and _adjacent(lv, order[i + 1]) else None
        a, b = (up if up is not None else centroids[lv]), (down if down is not None else centroids[lv])
        v = a - b
        out[lv] = v / np.linalg.norm(v) if (up is not None or down is not None) and np.linalg.norm(v) > 1 else None
    return out


def _anchor(vol: Volume, vertebra: np.ndarray, body: np.ndarray,
            box: tuple[slice, slice, slice]) -> np.ndarray:
    """Where the spine curve passes a vertebra: its posterior elements' centroid (a body
    fracture does not move it), or the body's when the mask has no posterior elements."""
    v, b = vertebra[box], body[box]
    post = v & ~b
    use = post if post.sum() >= 0.1 * v.sum() else b
    lo = np.array([sl.start for sl in box])
    return vol.index_to_world(np.argwhere(use).mean(axis=0, keepdims=True) + lo)[0]


def _touches_border(mask: np.ndarray, box: tuple[slice, slice, slice] | None) -> bool:
    if box is None:
        return False
    for k, (sl, n) in enumerate(zip(box, mask.shape, strict=True)):
        for i in {0, n - 1} & {sl.start, sl.stop - 1}:
            if np.take(mask[box], i - sl.start, axis=k).any():
                return True
    return False


def _header_contrast(vol: Volume) -> bool:
    """True when the first DICOM file names a contrast agent (ContrastBolusAgent)."""
    files = vol.meta.get("source") or []
    if vol.meta.get("format") != "dicom" or not files:
        return False
    import pydicom

    try:
        ds = pydicom.dcmread(files[0], stop_before_pixels=True, specific_tags=["ContrastBolusAgent"])
    except Exception:
        return False
    return bool(str(getattr(ds, "ContrastBolusAgent", "") or "").strip())


def _adjacent(upper: str, lower: str) -> bool:
    return LEVELS.index(lower) - LEVELS.index(upper) == 1


def _bodies(volume: Volume, masks: SpineMasks) -> dict[str, np.ndarray]:
    out = {}
    for lv, vm in masks.vertebrae.items():
        if lv in masks.bodies:
            out[lv] = masks.bodies[lv]
            continue
        box = masks.box(lv)
        b = np.zeros(vm.shape, dtype=bool)
        b[box] = find_body(vm[box], volume.spacing)
        out[lv] = b
    return out


def _calibrate(volume: Volume, masks: SpineMasks, how: str | None, phase: str,
               phantom: Mapping[str, Any] | None) -> Calibration | None:
    if how is None:
        return None
    if how == "internal":
        allv = np.zeros(volume.shape, dtype=bool)
        for m in masks.vertebrae.values():
            allv |= m
        return spine_internal_calibration(volume, allv, tissues=masks.tissues, phase=phase)
    if how == "phantom":
        ph = dict(phantom or {})
        if "densities" not in ph or "radius_mm" not in ph:
            raise ConfigError("calibrate='phantom' needs phantom={'densities': [...mg/cm³], "
                              "'radius_mm': rod radius} (CLI --phantom-densities, --rod-radius-mm)")
        return spine_phantom_calibration(volume, ph["densities"], radius_mm=float(ph["radius_mm"]),
                                         material=ph.get("material", "K2HPO4"))
    raise ConfigError(f"calibrate={how!r} unknown; use None, 'internal' or 'phantom'")


def measure_spine(image: str | os.PathLike[str] | Volume, masks: str | os.PathLike[str] | SpineMasks, *,
                  body: str | os.PathLike[str] | None = None, units: str | None = None,
                  calibrate: str | None = None, phase: str = "native",
                  phantom: Mapping[str, Any] | None = None, margin_mm: float = 4.0,
                  levels: Sequence[str] | None = None,
                  label_map: Mapping[str, int] | None = None,
                  max_grade_voxel_mm: float = 1.5) -> SpineResult:
    """Measure every vertebra present: trabecular HU (and vBMD), heights, Genant grade.

    Parameters
    ----------
    image : path or Volume
        CT: a DICOM folder/file or NIfTI/NRRD (declare ``units="HU"`` for NIfTI).
    masks : path or SpineMasks
        TotalSegmentator output: multilabel file, folder of per-structure files, DICOM SEG
        (see :func:`bonenet.measure.read_spine_masks`).
    body : path, optional
        TotalSegmentator ``vertebrae_body`` mask, combined with ``masks``.
    units : str, optional
        Units of a NIfTI/NRRD image (``"HU"``).
    calibrate : {None, "internal", "phantom"}
        Add ``vbmd_mg_cm3`` from internal (air/fat/muscle/blood) or phantom calibration.
    phase : {"native", "portal", "arterial"}
        Declared contrast phase: portal is corrected by −11.2 HU (Pickhardt 2016);
        arterial-phase density categories and vBMD are refused (flagged, left blank).
    phantom : mapping, optional
        ``{"densities": [...], "radius_mm": r, "material": "K2HPO4"}`` for phantom calibration.
    margin_mm : float
        VOI distance from the body surface (cortex, endplates), mm.
    levels : sequence of str, optional
        Measure only these levels (default all present).
    label_map : mapping, optional
        Name → id for a multilabel file not in TotalSegmentator's ``total`` ids.
    max_grade_voxel_mm : float
        Largest voxel extent along the spine (mm) at which a Genant grade is given: a
        height is ± one voxel, so 3 mm slices make a 25 mm height ± 12 % and the grade
        meaningless (heights are still reported, flagged).
    """
    phase = check_phase(phase)
    if calibrate not in CALIBRATIONS:
        raise ConfigError(f"calibrate={calibrate!r} unknown; use None, 'internal' or 'phantom'")
    vol = load_spine_image(image, units=units)
    sm = masks if isinstance(masks, SpineMasks) else read_spine_masks(masks, vol, body=body,
                                                                      label_map=label_map)
    if levels is not None:
        unknown = [lv for lv in levels if lv not in LEVELS]
        if unknown:
            raise ConfigError(f"levels {unknown} unknown; use names like T12, L1")
        sm = SpineMasks({k: v for k, v in sm.vertebrae.items() if k in levels},
                        {k: v for k, v in sm.bodies.items() if k in levels}, sm.tissues, sm.source,
                        {k: v for k, v in sm.boxes.items() if k in levels})
        if not sm.vertebrae:
            raise SegmentationError(f"none of the levels {list(levels)} is in the masks")
    warnings: list[str] = list(vol.meta.get("warnings", []))
    if phase == "native" and _header_contrast(vol):
        warnings.append("phase declared native but the DICOM header names a contrast agent "
                        "(ContrastBolusAgent); check --phase")
    cal = _calibrate(vol, sm, calibrate, phase, phantom)
    if cal is not None and cal.details.get("warning"):
        warnings.append(str(cal.details["warning"]))
    bodies = _bodies(vol, sm)
    # the spine curve only through vertebrae seen whole (a cut one's centroid is biased)
    centroids = {lv: _anchor(vol, sm.vertebrae[lv], b, sm.box(lv)) for lv, b in bodies.items()
                 if not _touches_border(sm.vertebrae[lv], sm.box(lv))}
    axes = _axes(centroids)
    geometry: dict[str, VertebraGeometry] = {}
    for lv in [lv for lv in LEVELS if lv in sm.vertebrae]:
        geometry[lv] = measure_vertebra(vol, sm.vertebrae[lv], body=bodies.get(lv),
                                        axis=axes.get(lv), margin_mm=margin_mm, box=sm.box(lv))
    rows = _rows(vol, geometry, cal, phase, max_grade_voxel_mm)
    return SpineResult(rows=rows, volume=vol, masks=sm, geometry=geometry, calibration=cal,
                       phase=phase, warnings=warnings)


def _rows(vol: Volume, geometry: Mapping[str, VertebraGeometry], cal: Calibration | None,
          phase: str, max_grade_voxel_mm: float = 1.5) -> list[dict[str, Any]]:
    corr = CONTRAST_CORRECTION_HU[phase]
    voxel_ml = float(np.prod(vol.spacing)) / 1000.0
    rows = []
    order = list(geometry)
    for i, lv in enumerate(order):
        g = geometry[lv]
        vals = vol.array[g.box][g.voi[g.box]].astype(np.float64)
        flags = list(g.flags)
        neigh = [max(geometry[n].heights_mm) for n in (order[i - 1] if i else None,
                                                         order[i + 1] if i + 1 < len(order) else None)
                 if n is not None and _adjacent(*sorted((n, lv), key=LEVELS.index))
                 and np.all(np.isfinite(geometry[n].heights_mm))]
        grade, red, kind = genant_grade(g.heights_mm, neighbour_height=float(np.mean(neigh)) if neigh else None)
        if grade is not None and g.axis_voxel_mm > max_grade_voxel_mm:
            flags.append(f"voxels {g.axis_voxel_mm:.1f} mm along the spine (> {max_grade_voxel_mm:g}): "
                         "heights too coarse for a Genant grade")
            grade, kind = None, ""
        hu_mean, hu_median = float(vals.mean()), float(np.median(vals))
        native = hu_median - corr if corr is not None else float("nan")
        vbmd = float("nan")
        if cal is not None and corr is not None:
            vbmd = float(cal(hu_mean - corr))
        if corr is None:
            flags.append("arterial phase: no published correction, density categories not given")
        row = {
            "vertebra": lv, "hu_mean": hu_mean, "hu_median": hu_median, "hu_sd": float(vals.std()),
            "voi_ml": vals.size * voxel_ml, "voi_margin_mm": g.margin_mm, "phase": phase,
            "hu_median_native": native, "vbmd_mg_cm3": vbmd,
            "vbmd_units": cal.units if cal is not None and corr is not None else "",
            "calibration": cal.method if cal is not None else "",
            "height_anterior_mm": g.heights_mm[0], "height_middle_mm": g.heights_mm[1],
            "height_posterior_mm": g.heights_mm[2], "height_reduction": red,
            "genant_grade": grade, "deformity": kind,
            "pickhardt_l1": pickhardt_flag(native) if lv == "L1" else "",
            "acr_category": (acr_category(vbmd) if cal is not None and cal.units == "mgHA/cm3"
                             and np.isfinite(vbmd) else ""),
            "qa_flags": "; ".join(flags),
        }
        rows.append(row)
    return rows

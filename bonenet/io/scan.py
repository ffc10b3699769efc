"""Find the DICOM series under a folder from headers only, and choose the best one.

``scan(path)`` reads every file's header once (pixel data is never decoded), skips files
that are not DICOM and DICOMDIR indexes, groups images by SeriesInstanceUID and splits a
series whose FrameOfReferenceUID, ImageOrientationPatient or image size changes inside it.
Each part becomes a :class:`SeriesInfo` with its problems: ``localizer``, ``derived``,
``projection``, ``single_slice``, ``not_image``, ``missing_slices``,
``non_uniform_spacing``, ``gantry_tilt``, ``duplicate_positions``, ``no_geometry``.

Series choice (:func:`choose_series`), used by :func:`bonenet.io.load` on a folder, ranks
series by, in order: is a readable grayscale image; is volumetric (≥ 3 slices, not a
projection); is not a localizer; is ORIGINAL (not DERIVED/SECONDARY); has no geometry
problem (gaps, duplicates, non-uniform spacing); is CT; has the most slices; has the
thinnest slices; then the lowest SeriesNumber. The reason is recorded in
``Volume.meta["series_choice"]``.
"""

from __future__ import annotations

import dataclasses
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DicomError
from ._geometry import StackGeometry, analyse_stack, orientation_class
from ._headers import DICOMDIR_CLASS, PROJECTION_MODALITIES, FileHeader, read_header

__all__ = ["SeriesInfo", "choose_series", "scan"]

_BLOCKING = ("missing_slices", "non_uniform_spacing", "duplicate_positions")


@dataclass
class SeriesInfo:
    """One image series (or one consistent part of a split series) found by :func:`scan`.

    ``spacing`` is (slice, row, column) mm; ``key`` is what ``load(folder, series=key)``
    accepts (the SeriesInstanceUID, with ``#k`` appended for the k-th part of a split one).
    Patient identifiers are absent unless ``scan(..., with_patient=True)``.
    """

    key: str
    series_uid: str
    study_uid: str
    frame_of_reference_uid: str
    modality: str
    image_type: tuple[str, ...]
    series_number: int | None
    series_description: str
    orientation: str
    n_files: int
    n_slices: int
    rows: int
    columns: int
    spacing: tuple[float, float, float] | None
    transfer_syntax: str
    problems: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list, repr=False)
    patient_id: str | None = field(default=None, repr=False)

    def as_row(self) -> dict[str, Any]:
        """A flat dict for CSV/JSON (files summarised by count and first file)."""
        row = dataclasses.asdict(self)
        row["image_type"] = "\\".join(self.image_type)
        row["spacing"] = "" if self.spacing is None else "x".join(f"{s:.4g}" for s in self.spacing)
        row["problems"] = ";".join(self.problems)
        row["details"] = " | ".join(self.details)
        row["first_file"] = self.files[0] if self.files else ""
        del row["files"]
        if self.patient_id is None:
            del row["patient_id"]
        return row


@dataclass
class _Part:
    """A SeriesInfo with the file headers behind it (what the loader needs)."""

    info: SeriesInfo
    headers: list[FileHeader]
    geometry: StackGeometry | None = None


def _iter_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        out += [Path(dirpath) / f for f in sorted(filenames) if not f.startswith(".")]
    return out


def read_headers(root: Path, *, with_patient: bool = False) -> tuple[list[FileHeader], list[str]]:
    """Headers of every DICOM image file under ``root`` and ``path: reason`` for bad ones."""
    from .._progress import progress

    files = _iter_files(root)
    headers, bad = [], []
    for f in progress(files, desc="reading DICOM headers", total=len(files), unit="file",
                      disable=None if len(files) > 200 else True):
        if f.name.upper() == "DICOMDIR":
            continue
        try:
            h = read_header(f, with_patient=with_patient)
        except DicomError as exc:
            bad.append(str(exc))
            continue
        if h is None or h.sop_class == DICOMDIR_CLASS:
            continue
        headers.append(h)
    return headers, bad


def _split_key(h: FileHeader) -> tuple[Any, ...]:
    iop = None if h.iop is None else tuple(round(v, 3) for v in h.iop)
    return (h.for_uid, iop, h.rows, h.columns, h.enhanced and h.path)


def group_parts(headers: list[FileHeader]) -> list[_Part]:
    """Group headers into series parts and describe each (headers only)."""
    by_series: dict[str, list[FileHeader]] = defaultdict(list)
    for h in headers:
        by_series[h.series_uid or f"(no SeriesInstanceUID) {h.path.parent}"].append(h)
    parts: list[_Part] = []
    for uid, hs in by_series.items():
        sub: dict[tuple[Any, ...], list[FileHeader]] = defaultdict(list)
        for h in hs:
            sub[_split_key(h)].append(h)
        groups = sorted(sub.values(), key=lambda g: (-len(g), str(g[0].path)))
        for k, g in enumerate(groups, start=1):
            key = uid if len(groups) == 1 else f"{uid}#{k}"
            parts.append(_describe(key, uid, g))
    parts.sort(key=lambda p: (p.info.study_uid, p.info.series_number or 0, p.info.key))
    return parts


def _describe(key: str, uid: str, hs: list[FileHeader]) -> _Part:
    h0 = hs[0]
    problems: list[str] = []
    details: list[str] = []
    geo = None
    if "LOCALIZER" in h0.image_type:
        problems.append("localizer")
    if h0.image_type[:1] == ("DERIVED",) or h0.image_type[1:2] == ("SECONDARY",):
        problems.append("derived")
    why = h0.problem()
    if why:
        problems.append("not_image")
        details.append(f"{h0.path.name} {why}")
    n_slices = sum(h.n_frames for h in hs)
    spacing = None
    orient = orientation_class(h0.iop)
    if h0.enhanced and not why:
        from ._enhanced import enhanced_frame_headers

        try:
            frames, notes = enhanced_frame_headers(h0.path)
            hs_geo = frames
            details += notes
            orient = orientation_class(frames[0].iop) if frames else "unknown"
        except DicomError as exc:
            hs_geo = []
            problems.append("not_image")
            details.append(str(exc))
    else:
        hs_geo = hs
    if h0.modality in PROJECTION_MODALITIES or (not h0.enhanced and h0.ipp is None and not why):
        problems.append("projection")
        ps = h0.pixel_spacing or h0.imager_pixel_spacing
        spacing = None if ps is None else (1.0, ps[0], ps[1])
    elif hs_geo and all(h.ipp is not None and h.iop is not None for h in hs_geo):
        ps = hs_geo[0].pixel_spacing or (1.0, 1.0)
        if hs_geo[0].pixel_spacing is None:
            problems.append("no_pixel_spacing")
        geo = analyse_stack(np.array([h.ipp for h in hs_geo]), hs_geo[0].iop, ps,  # type: ignore[arg-type]
                            default_spacing=hs_geo[0].spacing_between_slices or hs_geo[0].slice_thickness)
        problems += geo.problems
        details += geo.details
        spacing = (geo.slice_spacing, *geo.pixel_spacing)
        if len(hs_geo) == 1:
            problems.append("single_slice")
    elif not why:
        problems.append("no_geometry")
    info = SeriesInfo(
        key=key, series_uid=uid, study_uid=h0.study_uid, frame_of_reference_uid=h0.for_uid,
        modality=h0.modality, image_type=h0.image_type, series_number=h0.series_number,
        series_description=h0.series_description, orientation=orient, n_files=len(hs),
        n_slices=n_slices, rows=h0.rows, columns=h0.columns, spacing=spacing,
        transfer_syntax=_ts_name(h0.transfer_syntax), problems=problems, details=details,
        files=[str(h.path) for h in hs], patient_id=h0.patient_id or None,
    )
    return _Part(info, hs, geo)


def _ts_name(uid: str) -> str:
    from pydicom.uid import UID

    return UID(uid).name if uid else ""


def scan(path: str | os.PathLike[str], *, with_patient: bool = False) -> list[SeriesInfo]:
    """List the DICOM image series under ``path`` (recursive), from headers only.

    Parameters
    ----------
    path : path
        A folder (searched recursively) or a single DICOM file.
    with_patient : bool
        Also fill ``SeriesInfo.patient_id`` (off by default: identifiers stay out of outputs).

    Returns
    -------
    list of SeriesInfo
        One per series part, sorted by study, SeriesNumber and key. Files that claim to be
        DICOM but cannot be parsed appear as one ``SeriesInfo`` with problem ``unreadable``.
    """
    root = Path(path)
    if not root.exists():
        raise DicomError(f"{root}: no such file or folder; check the path")
    headers, bad = read_headers(root, with_patient=with_patient)
    infos = [p.info for p in group_parts(headers)]
    if bad:
        infos.append(SeriesInfo(
            key="(unreadable)", series_uid="", study_uid="", frame_of_reference_uid="", modality="",
            image_type=(), series_number=None, series_description="", orientation="unknown",
            n_files=len(bad), n_slices=0, rows=0, columns=0, spacing=None, transfer_syntax="",
            problems=["unreadable"], details=bad, files=[b.split(": ", 1)[0] for b in bad]))
    return infos


def _rank(p: _Part) -> tuple[Any, ...]:
    i = p.info
    pr = set(i.problems)
    return (
        "not_image" not in pr and "no_geometry" not in pr,
        i.n_slices >= 3 and "projection" not in pr,
        "localizer" not in pr,
        "derived" not in pr,
        not (pr & set(_BLOCKING)),
        i.modality == "CT",
        i.n_slices,
        -(i.spacing[0] if i.spacing else 1e9),
        -(i.series_number or 0),
    )


def choose_series(parts: list[_Part]) -> tuple[_Part, str]:
    """Pick the best series part by the documented rules; returns it and the reason."""
    if not parts:
        raise DicomError("no DICOM image series found")
    ranked = sorted(parts, key=_rank, reverse=True)
    best = ranked[0]
    i = best.info
    facts = [i.modality or "?", "ORIGINAL" if "derived" not in i.problems else "DERIVED",
             f"{i.n_slices} slices", i.orientation]
    reason = (f"chose series {i.series_number} {i.series_description!r} ({i.key}): "
              f"{', '.join(facts)}; best of {len(parts)} by the rules image > volumetric > "
              "not localizer > ORIGINAL > no gaps > CT > most slices > thinnest slices")
    if len(ranked) > 1:
        others = "; ".join(f"{p.info.series_number} {p.info.series_description!r} "
                           f"[{p.info.n_slices} slices{', ' + ','.join(p.info.problems) if p.info.problems else ''}]"
                           for p in ranked[1:6])
        reason += f"; passed over: {others}"
    return best, reason

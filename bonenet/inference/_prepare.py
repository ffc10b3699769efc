"""Per-study work done in decoding worker processes: read, check, preprocess, encode.

Everything here must be picklable (it crosses into DataLoader workers) and must never raise
for a bad study: :meth:`StudyDataset.__getitem__` turns every failure into a :class:`Failed`
record so the batch goes on.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import BoneNetError
from ..volume import Volume
from ._pseudo import Pseudonymizer
from ._studies import IMAGE_SUFFIXES, Study

__all__ = ["Failed", "Prepared", "StudyDataset", "StudyError", "StudyPreparer", "load_study_image",
           "qc_flags"]


class StudyError(BoneNetError):
    """One study cannot be predicted; ``stage`` says where (read, qc, clinical, preprocess)."""

    def __init__(self, message: str, *, stage: str) -> None:
        super().__init__(message)
        self.stage = stage


@dataclass
class Prepared:
    """A study ready for the model (tensors without the batch axis)."""

    sid: str
    images: torch.Tensor | None           # (K, C, *spatial)
    clinical: torch.Tensor | None         # (F,)
    clinical_observed: torch.Tensor | None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Failed:
    """A study that could not be prepared, with the stage and a reason free of identifiers."""

    sid: str
    stage: str
    reason: str


def _is_image_file(p: Path) -> bool:
    name = p.name.lower()
    return any(name.endswith(s) for s in IMAGE_SUFFIXES if s != ".dcm")


def load_study_image(path: Path, *, threads: int | None = None) -> Volume:
    """Read one study image: a file, a folder holding one image file, or a DICOM folder.

    DICOM folders go to :func:`bonenet.io.load`, which chooses the series by its rules
    (CT over others, the largest axial series, localizers and derived images skipped).
    ``threads`` caps the DICOM reader's threads (1 inside decoding worker processes, which
    already run in parallel).
    """
    from .. import io as bio

    path = Path(path)
    if not path.exists():
        raise StudyError(f"{path}: no such file or folder", stage="read")
    if path.is_dir():
        entries = [e for e in path.iterdir() if not e.name.startswith(".")]
        if not entries:
            raise StudyError(f"{path}: empty folder, no images to read", stage="read")
        files = [e for e in entries if e.is_file()]
        dirs = [e for e in entries if e.is_dir()]
        images = [f for f in files if _is_image_file(f)]
        if len(images) == 1 and len(files) == 1 and not dirs:
            path = images[0]
        elif not files and len(dirs) == 1:
            return load_study_image(dirs[0], threads=threads)
        elif len(images) > 1:
            raise StudyError(
                f"{path}: holds {len(images)} image files; keep one image per study folder or "
                "list the images in a manifest", stage="read")
    if threads is not None and (path.is_dir() or path.suffix.lower() == ".dcm"):
        return bio.load(path, threads=threads)
    return bio.load(path)


def _series_meta(vol: Volume) -> tuple[str, str]:
    m = vol.meta
    uid = m.get("series_uid") or m.get("SeriesInstanceUID") or ""
    desc = m.get("series_description") or m.get("SeriesDescription") or ""
    return str(uid), str(desc)


def qc_flags(vol: Volume, *, expected_units: Sequence[str] = ("HU", "mgHA/cm3")) -> list[str]:
    """Quality flags of a loaded volume (short machine-readable tokens).

    ``units:<u>`` unexpected units; ``few_slices`` fewer than 16 slices; ``anisotropic``
    spacing ratio above 3; ``thick_slices`` slice spacing above 3 mm; ``intensity_range``
    median outside the physical range of the units; ``reader_warnings`` the reader noted
    problems (see the warnings column).
    """
    flags = []
    if expected_units and vol.units not in expected_units:
        flags.append(f"units:{vol.units}")
    if vol.shape[0] < 16:
        flags.append("few_slices")
    sp = np.asarray(vol.spacing, dtype=float)
    if sp.max() / max(sp.min(), 1e-6) > 3:
        flags.append("anisotropic")
    if sp[0] > 3:
        flags.append("thick_slices")
    sample = vol.array[:: max(1, vol.shape[0] // 8), ::4, ::4]
    med = float(np.median(sample)) if sample.size else 0.0
    if vol.units == "HU" and not -1100 <= med <= 3100:
        flags.append("intensity_range")
    if vol.units == "mgHA/cm3" and not -500 <= med <= 2500:
        flags.append("intensity_range")
    if vol.meta.get("warnings"):
        flags.append("reader_warnings")
    return flags


@dataclass
class StudyPreparer:
    """Turns a :class:`Study` into a :class:`Prepared` record (runs in worker processes).

    Parameters
    ----------
    preprocess : callable Volume → Tensor (C, *spatial), optional
        The training preprocessing (``bonenet.data.Preprocess`` from the checkpoint);
        ``None`` for clinical-only models.
    encoder : object, optional
        Fitted clinical encoder with ``transform(df) -> (values, observed)`` and
        ``feature_names``; ``None`` for image-only models.
    parse_clinical : callable DataFrame → DataFrame, optional
        Parses and range-checks raw clinical rows (``bonenet.clinical.parse_clinical``).
    n_images : int
        Image slots per study the model expects.
    missing : {"indicator", "error"}
        Missing clinical values: predict with the missing-value indicator the model was
        trained with (and say so in the output), or fail the study.
    expected_modality : tuple of str
        Modalities accepted; others (an MR series where CT is expected) fail the study.
    measure : callable Volume → dict, optional
        Measurements added to the output (``--measure``).
    loader : callable (Path, *, threads) → Volume
        Image reader (default :func:`load_study_image`).
    io_threads : int, optional
        Reader threads per study (the predict loop sets 1 when it decodes in workers).
    """

    preprocess: Callable[[Volume], torch.Tensor] | None = None
    encoder: Any = None
    parse_clinical: Callable[..., Any] | None = None
    n_images: int = 1
    missing: str = "indicator"
    expected_modality: tuple[str, ...] = ("CT", "HRPQCT", "QCT", "OT")
    measure: Callable[[Volume], dict[str, float]] | None = None
    loader: Callable[..., Volume] = load_study_image
    min_slices: int = 2
    io_threads: int | None = None

    def _image(self, path: Path, series_p: Pseudonymizer, info: dict[str, Any]) -> torch.Tensor:
        try:
            vol = self.loader(path, threads=self.io_threads)
        except StudyError:
            raise
        except BoneNetError as exc:
            raise StudyError(str(exc), stage="read") from exc
        modality = (vol.modality or "OT").upper()
        if self.expected_modality and modality not in self.expected_modality:
            raise StudyError(
                f"the series is {modality}, the model expects {'/'.join(self.expected_modality)}",
                stage="qc")
        if vol.shape[0] < self.min_slices:
            raise StudyError(
                f"only {vol.shape[0]} slice(s) (a localizer or single image?); the model needs a "
                "volume", stage="qc")
        uid, desc = _series_meta(vol)
        info.setdefault("series", []).append(series_p(uid) if uid else vol.meta.get("format", ""))
        info.setdefault("series_description", []).append(desc)
        info.setdefault("qc_flags", []).extend(qc_flags(vol))
        info.setdefault("warnings", []).extend(vol.meta.get("warnings", []))
        if self.measure is not None:
            try:
                info.setdefault("measurements", {}).update(self.measure(vol))
            except BoneNetError as exc:
                info["warnings"].append(f"measurement failed: {exc}")
                info["qc_flags"].append("measure_failed")
        try:
            x = self.preprocess(vol)  # type: ignore[misc]
        except BoneNetError as exc:
            raise StudyError(str(exc), stage="preprocess") from exc
        x = torch.as_tensor(x, dtype=torch.float32)
        if not torch.isfinite(x).all():
            raise StudyError("non-finite values after preprocessing", stage="preprocess")
        return x

    def _clinical(self, study: Study, sid: str, info: dict[str, Any]
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        import pandas as pd

        variables = list(getattr(self.encoder, "variables", None) or [])
        raw = dict(study.clinical or {})
        df = pd.DataFrame([{"subject_id": sid, **raw}])
        if self.parse_clinical is not None:
            try:
                src, line = study.clinical_source
                df = self.parse_clinical(df, source=src, first_line=line)
            except BoneNetError as exc:
                raise StudyError(str(exc), stage="clinical") from exc
        for flag in ("fn_tscore_assumed_hologic", "frax_age_out_of_range"):  # clinical.FLAG_COLUMNS
            if flag in df.columns and df[flag].iloc[0] == 1:
                info["qc_flags"].append(flag)
        for v in variables:
            if v not in df.columns:
                df[v] = math.nan
        values, observed = self.encoder.transform(df)
        missing = [v for v in variables if pd.isna(df[v].iloc[0])] if variables else [
            n for n, o in zip(self.encoder.feature_names, observed[0], strict=False) if o == 0]
        if study.clinical is None:
            info["warnings"].append("no clinical row for this study")
        if missing and self.missing == "error":
            raise StudyError(f"missing clinical values: {', '.join(missing)} (--missing error)",
                             stage="clinical")
        info["clinical_missing"] = missing
        info["clinical_handling"] = "missing-indicator" if missing else "complete"
        return (torch.as_tensor(np.asarray(values[0], dtype=np.float32)),
                torch.as_tensor(np.asarray(observed[0], dtype=np.float32)))

    def check_studies(self, studies: Sequence[Study]) -> None:
        """Refuse, before any study runs, clinical tables that lack a column the model's
        declared variables mark ``required`` (:func:`bonenet.clinical.check_required`)."""
        declared = [d for d in getattr(self.encoder, "declared", ()) if d.required]
        if not declared:
            return
        from ..clinical import check_required

        tables: dict[str, set[str]] = {}
        for s in studies:
            if s.clinical is not None:
                tables.setdefault(s.clinical_source[0], set()).update(s.clinical)
        if not tables:
            check_required([], declared, source="the studies (no clinical table given: --clinical)")
        for name, columns in tables.items():
            check_required(sorted(columns), declared, source=name)

    def __call__(self, study: Study, sid: str, series_p: Pseudonymizer) -> Prepared:
        info: dict[str, Any] = {"series": [], "series_description": [], "qc_flags": [],
                                "warnings": [], "extra": dict(study.extra)}
        images = None
        if self.preprocess is not None:
            if len(study.images) == 0:
                raise StudyError("no image given for this study", stage="read")
            if len(study.images) > self.n_images:
                raise StudyError(f"{len(study.images)} images, the model takes at most "
                                 f"{self.n_images}", stage="read")
            images = torch.stack([self._image(p, series_p, info) for p in study.images])
        clinical = observed = None
        if self.encoder is not None:
            clinical, observed = self._clinical(study, sid, info)
        return Prepared(sid, images, clinical, observed, info)


def _scrub(text: str, study: Study, sid: str) -> str:
    """Remove the study's paths and original identifier from a message."""
    for p in sorted({str(q) for q in study.images} | {str(q.parent) for q in study.images},
                    key=len, reverse=True):
        if p and p not in (".", os.sep):
            text = text.replace(p, "<study>")
    if study.key:
        text = text.replace(study.key, sid)
    return " ".join(text.split())


class StudyDataset(torch.utils.data.Dataset):
    """Map-style dataset over studies; items are :class:`Prepared` or :class:`Failed`."""

    def __init__(self, studies: Sequence[Study], preparer: StudyPreparer,
                 pseudonymizer: Pseudonymizer) -> None:
        self.studies = list(studies)
        self.preparer = preparer
        self.pseudo = pseudonymizer
        self.series_pseudo = pseudonymizer.with_prefix("ser")

    def __len__(self) -> int:
        return len(self.studies)

    def __getitem__(self, i: int) -> Prepared | Failed:
        study = self.studies[i]
        sid = self.pseudo(study.key)
        try:
            return self.preparer(study, sid, self.series_pseudo)
        except StudyError as exc:
            return Failed(sid, exc.stage, _scrub(str(exc), study, sid))
        except BoneNetError as exc:
            return Failed(sid, "read", _scrub(str(exc), study, sid))
        except Exception as exc:  # a bug or an unforeseen file problem: record and go on
            return Failed(sid, "internal", _scrub(f"{type(exc).__name__}: {exc}", study, sid))

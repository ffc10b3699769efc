"""Per-study work done in decoding worker processes: read, check, preprocess, encode.

The reading, masking, preprocessing and clinical encoding are
:class:`bonenet.data.StudyInput`'s — the same calls :class:`bonenet.data.BoneDataset` makes
at training time, with the settings saved in the checkpoint. This module adds what serving
needs around them: QC flags, optional measurements, per-study failure records.

Everything here must be picklable (it crosses into DataLoader workers) and must never raise
for a bad study: :meth:`StudyDataset.__getitem__` turns every failure into a :class:`Failed`
record so the batch goes on.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._pseudo import Pseudonymizer
from ..data import Sample, StudyError, StudyInput, load_study_image
from ..errors import BoneNetError
from ..io import IMAGE_SUFFIXES
from ..volume import Volume
from ._studies import Study

__all__ = ["MIN_ROI_COVERAGE", "Failed", "StudyDataset", "StudyError", "StudyPreparer",
           "load_study_image", "qc_flags"]

#: Smallest share of the model's input region, along each in-plane axis (rows, columns), that a
#: study's field of view must cover. Below it the network would see mostly padding: the study is
#: refused (stage ``qc``) instead of being scored. Between it and 1 the study is scored and
#: flagged ``smaller_than_roi``. (A design rule of bonenet, not a published constant.)
MIN_ROI_COVERAGE = 0.5


@dataclass
class Failed:
    """A study that could not be prepared, with the stage and a reason free of identifiers."""

    sid: str
    stage: str
    reason: str


def _series_meta(vol: Volume) -> tuple[str, str]:
    m = vol.meta
    uid = m.get("series_uid") or m.get("SeriesInstanceUID") or ""
    desc = m.get("series_description") or m.get("SeriesDescription") or ""
    return str(uid), str(desc)


def roi_coverage(vol: Volume, roi_size: Sequence[int],
                 target_spacing_mm: float | Sequence[float] | None) -> np.ndarray:
    """Share of the model's input region (``roi_size`` voxels on the ``target_spacing_mm``
    grid, or on the image's own grid when None) that ``vol`` covers along each axis."""
    shape = np.asarray(vol.shape, float)
    spacing = np.asarray(vol.spacing, float)
    roi = np.asarray(roi_size, float)
    if roi.size == 2:
        shape, spacing = shape[1:], spacing[1:]
    if target_spacing_mm is None:
        extent = shape
    else:
        extent = shape * spacing / np.broadcast_to(np.asarray(target_spacing_mm, float), roi.shape)
    return extent / roi


def qc_flags(vol: Volume, *, expected_units: Sequence[str] = ("HU", "mgHA/cm3"),
             coverage: np.ndarray | None = None) -> list[str]:
    """Quality flags of a loaded volume (short machine-readable tokens).

    ``units:<u>`` unexpected units; ``few_slices`` fewer than 16 slices; ``anisotropic``
    spacing ratio above 3; ``thick_slices`` slice spacing above 3 mm; ``intensity_range``
    median outside the physical range of the units; ``reader_warnings`` the reader noted
    problems (see the warnings column); ``smaller_than_roi`` the image covers less than the
    model's input region along some axis (``coverage`` < 1, see :func:`roi_coverage`), so it
    was padded.
    """
    flags = []
    if coverage is not None and np.any(coverage < 1 - 1e-6):
        flags.append("smaller_than_roi")
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
    """Turns a :class:`Study` into a :class:`bonenet.data.Sample` — the record training's
    dataset yields — with serving's notes in ``Sample.info`` (runs in worker processes).

    Parameters
    ----------
    input : StudyInput
        How a study becomes a model input — read, mask, preprocess, encode — as saved in the
        checkpoint (:meth:`bonenet.data.StudyInput.from_state`): the very calls training made.
    n_images : int
        Image slots per study the model expects.
    missing : {"indicator", "error"}
        Missing clinical values: predict with the missing-value indicator the model was
        trained with (and say so in the output), or fail the study.
    expected_modality : tuple of str
        Modalities accepted; others (an MR series where CT is expected) fail the study.
    measure : callable Volume → dict, optional
        Measurements added to the output (``--measure``).
    min_slices : int
        Fewer slices fail the study (a localizer where a volume is expected).
    min_roi_coverage : float
        Share of the model's input region each in-plane axis must cover
        (:data:`MIN_ROI_COVERAGE`); below it the study is refused, above it but under 1 it is
        flagged ``smaller_than_roi``.
    io_threads : int, optional
        Reader threads per study (the predict loop sets 1 when it decodes in workers).
    keep_text : bool
        Keep the series description (free text typed at the scanner, which can hold names)
        and file names in outputs; off by default.
    """

    input: StudyInput
    n_images: int = 1
    missing: str = "indicator"
    expected_modality: tuple[str, ...] = ("CT", "HRPQCT", "QCT", "OT")
    measure: Callable[[Volume], dict[str, float]] | None = None
    min_slices: int = 2
    min_roi_coverage: float = MIN_ROI_COVERAGE
    io_threads: int | None = None
    keep_text: bool = False

    def _image(self, path: Path, mask: Path | None, study: Study, series_p: Pseudonymizer,
               info: dict[str, Any]) -> torch.Tensor:
        vol = self.input.read(path, units=study.units, threads=self.io_threads)
        modality = (vol.modality or "OT").upper()
        if self.expected_modality and modality not in self.expected_modality:
            raise StudyError(
                f"the series is {modality}, the model expects {'/'.join(self.expected_modality)}",
                stage="qc")
        if vol.shape[0] < self.min_slices:
            raise StudyError(
                f"only {vol.shape[0]} slice(s) (a localizer or single image?); the model needs a "
                "volume", stage="qc")
        pre = self.input.preprocess
        cover = None if pre is None else roi_coverage(vol, pre.roi_size, pre.target_spacing_mm)
        if cover is not None and cover[-2:].min() < self.min_roi_coverage:
            fov = np.asarray(vol.shape[1:], float) * np.asarray(vol.spacing[1:], float)
            raise StudyError(
                f"the image ({vol.shape[1]} x {vol.shape[2]} pixels, {fov[0]:.1f} x {fov[1]:.1f} mm "
                f"in-plane) covers only {100 * cover[-2:].min():.0f} % of the model's input region "
                f"(minimum {100 * self.min_roi_coverage:.0f} %); it is not an image of the region "
                "the model reads", stage="qc")
        uid, desc = _series_meta(vol)
        info.setdefault("series", []).append(series_p(uid) if uid else vol.meta.get("format", ""))
        if self.keep_text:  # free text typed at the scanner: only when asked for (--keep-text)
            info.setdefault("series_description", []).append(desc)
        info.setdefault("qc_flags", []).extend(qc_flags(vol, coverage=cover))
        info.setdefault("warnings", []).extend(vol.meta.get("warnings", []))
        if self.measure is not None:
            try:
                info.setdefault("measurements", {}).update(self.measure(vol))
            except BoneNetError as exc:
                info["warnings"].append(f"measurement failed: {exc}")
                info["qc_flags"].append("measure_failed")
        try:
            label = study.mask_label if study.mask_label is not None else \
                self.input.mask_label_for(None, None)
            arr = self.input.image(vol, mask=mask, mask_label=label)
        except StudyError:
            raise
        except BoneNetError as exc:
            raise StudyError(str(exc), stage="preprocess") from exc
        return torch.from_numpy(arr).unsqueeze(0)

    def _clinical(self, study: Study, sid: str, info: dict[str, Any]
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        import pandas as pd

        raw = dict(study.clinical or {})
        df = pd.DataFrame([{"subject_id": sid, **raw}])
        src, line = study.clinical_source
        try:
            values, observed, missing_rows, flag_rows = self.input.clinical(
                df, source=src, first_line=line)
        except BoneNetError as exc:
            raise StudyError(str(exc), stage="clinical") from exc
        missing = missing_rows[0]
        info["qc_flags"].extend(flag_rows[0])  # fn_tscore_assumed_hologic, frax_age_out_of_range
        if study.clinical is None:
            info["warnings"].append("no clinical row for this study")
        if missing and self.missing == "error":
            raise StudyError(f"missing clinical values: {', '.join(missing)} (--missing error)",
                             stage="clinical")
        info["clinical_missing"] = missing
        info["clinical_handling"] = "missing-indicator" if missing else "complete"
        return torch.from_numpy(values[0]), torch.from_numpy(observed[0])

    def check_studies(self, studies: Sequence[Study]) -> None:
        """Refuse, before any study runs, clinical tables that lack a column the model's
        declared variables mark ``required`` (:func:`bonenet.clinical.check_required`)."""
        declared = [d for d in getattr(self.input.encoder, "declared", ()) if d.required]
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

    def __call__(self, study: Study, sid: str, series_p: Pseudonymizer) -> Sample:
        info: dict[str, Any] = {"series": [], "qc_flags": [], "warnings": [],
                                "extra": dict(study.extra)}
        images = present = None
        if self.input.preprocess is not None:
            if len(study.images) == 0:
                raise StudyError("no image given for this study", stage="read")
            if len(study.images) > self.n_images:
                raise StudyError(f"{len(study.images)} images, the model takes at most "
                                 f"{self.n_images}", stage="read")
            masks = study.masks or (None,) * len(study.images)
            images = torch.stack([self._image(p, m, study, series_p, info)
                                  for p, m in zip(study.images, masks, strict=True)])
            present = torch.ones(images.shape[0], dtype=torch.bool)
        clinical = observed = None
        if self.input.encoder is not None:
            clinical, observed = self._clinical(study, sid, info)
        return Sample(subject_id=sid, images=images, clinical=clinical, clinical_observed=observed,
                      image_present=present, info=info)


def _scrub(text: str, study: Study, sid: str, *, keep_names: bool = False) -> str:
    """Remove the study's paths, file names and original identifier from a message.

    Paths under the study's images and masks become ``<study>`` (``<mask>``); any other
    absolute path keeps only ``<file>``; whole-word occurrences of the original identifier
    become its pseudonym. ``keep_names`` keeps file names (``--keep-names``).
    """
    import re

    if keep_names:
        return " ".join(text.split())
    roots = {str(q) for q in study.images} | {str(q.parent) for q in study.images}
    roots |= {str(m) for m in (study.masks or ()) if m is not None}
    for p in sorted(roots, key=len, reverse=True):
        if p and p not in (".", os.sep):
            text = re.sub(re.escape(p) + r"(?:/[^\s:;,'\"]*)?", "<study>", text)
    text = re.sub(r"(?<![\w<])/[^\s:;,'\"]+", "<file>", text)
    suffixes = "|".join(re.escape(s.lstrip(".")) for s in sorted(IMAGE_SUFFIXES, key=len, reverse=True))
    text = re.sub(rf"(?<![\w<])[^\s/:;,'\"()<>]+\.(?:{suffixes})\b", "<file>", text, flags=re.IGNORECASE)
    if study.key:
        text = re.sub(rf"(?<![\w]){re.escape(study.key)}(?![\w])", sid, text)
    return " ".join(text.split())


class StudyDataset(torch.utils.data.Dataset):
    """Map-style dataset over studies; items are :class:`bonenet.data.Sample` or :class:`Failed`."""

    def __init__(self, studies: Sequence[Study], preparer: StudyPreparer,
                 pseudonymizer: Pseudonymizer, *, keep_names: bool | None = None) -> None:
        self.studies = list(studies)
        self.preparer = preparer
        self.pseudo = pseudonymizer
        self.keep_names = preparer.keep_text if keep_names is None else keep_names
        self.series_pseudo = pseudonymizer.with_prefix("ser")

    def __len__(self) -> int:
        return len(self.studies)

    def __getitem__(self, i: int) -> Sample | Failed:
        study = self.studies[i]
        sid = self.pseudo(study.key)
        try:
            return self.preparer(study, sid, self.series_pseudo)
        except StudyError as exc:
            return Failed(sid, exc.stage, _scrub(str(exc), study, sid, keep_names=self.keep_names))
        except BoneNetError as exc:
            return Failed(sid, "read", _scrub(str(exc), study, sid, keep_names=self.keep_names))
        except Exception as exc:  # a bug or an unforeseen file problem: record and go on
            return Failed(sid, "internal", _scrub(f"{type(exc).__name__}: {exc}", study, sid,
                                                  keep_names=self.keep_names))

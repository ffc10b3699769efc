"""Find the studies to predict: one folder (or image file) per study, or manifest rows.

A :class:`Study` keeps its original identifier in memory only; outputs get its pseudonym.
Manifests and clinical tables are read by :func:`bonenet.tables.read_subject_table` (one set
of rules for ids, encodings, delimiters and duplicates); a clinical table's rows that match no
study, and studies without a clinical row, are counted in :attr:`Studies.clinical_match`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ManifestError
from ..io import image_stem
from ..io.scanco_masks import is_scanco_mask_file
from ..io.totalseg import vertebra_label
from ..tables import MatchReport, SubjectTable, match_subjects, read_subject_table

__all__ = ["PASSTHROUGH_COLUMNS", "Studies", "Study", "discover_studies", "find_mask",
           "read_clinical"]

#: Manifest columns copied to ``predictions.csv`` (no identifiers among them).
PASSTHROUGH_COLUMNS = ("site", "split", "fracture", "time_years", "event")
_BOOKKEEPING = {"subject_id", "image", "units", "mask_label", "vertebra", "_line",
                *PASSTHROUGH_COLUMNS}


@dataclass(frozen=True)
class Study:
    """One study to predict.

    Attributes
    ----------
    key : str
        Original identifier (folder name or manifest ``subject_id``). Never written out.
    images : tuple of Path
        One path per image slot: a study folder (DICOM series, or one image file inside) or a
        file. Empty for clinical-only prediction.
    clinical : dict of str → str or None
        The raw clinical row (strings as in the spreadsheet), ``None`` if the study has none.
    extra : dict of str → str
        Pass-through columns (:data:`PASSTHROUGH_COLUMNS`) from the manifest.
    clinical_source : (str, int)
        File name and line of the clinical row, for error messages.
    masks : tuple of Path or None
        VOI mask per image slot (``crop: mask`` models), or empty.
    units : str, optional
        Units declared for this study (manifest ``units`` column or ``--units``).
    mask_label : int, optional
        Label of a multilabel mask to use (manifest ``mask_label`` column, or the
        TotalSegmentator id of its ``vertebra`` column / ``--vertebra``).
    """

    key: str
    images: tuple[Path, ...]
    clinical: dict[str, str] | None = None
    extra: dict[str, str] = field(default_factory=dict)
    clinical_source: tuple[str, int] = ("clinical.csv", 2)
    masks: tuple[Path | None, ...] = ()
    units: str | None = None
    mask_label: int | None = None


class Studies(list):  # type: ignore[type-arg]
    """A list of :class:`Study` plus how a clinical table matched them (or None)."""

    clinical_match: MatchReport | None = None


def read_clinical(path: str | os.PathLike[str]) -> dict[str, tuple[dict[str, str], int]]:
    """Read a clinical spreadsheet into ``{subject_id: (raw row, line)}`` unparsed.

    Values are parsed and range-checked per study later, so one impossible value fails only
    that study. Identifier, encoding, delimiter and duplicate rules:
    :func:`bonenet.tables.read_subject_table`.
    """
    return _rows(read_subject_table(path, what="clinical table"))


def _rows(t: SubjectTable) -> dict[str, tuple[dict[str, str], int]]:
    out = {}
    for row in t.table.to_dict("records"):
        line = int(row.pop("_line"))
        sid = row.pop("subject_id")
        out[sid] = (row, line)
    return out


def find_mask(masks_dir: Path, key: str) -> Path | None:
    """The mask of study ``key`` in ``masks_dir``: ``<key>.<image suffix>`` or a folder
    ``<key>/`` holding one image file (TotalSegmentator writes one folder per study)."""
    if not masks_dir.is_dir():
        raise ManifestError(f"--masks {masks_dir}: not a folder; give the folder of mask files "
                            "named like the studies (e.g. P001.nii.gz)")
    hits = [p for p in masks_dir.iterdir() if image_stem(p) == key and p.is_file()]
    sub = masks_dir / key
    if sub.is_dir():
        hits += [p for p in sub.iterdir() if p.is_file() and image_stem(p) is not None]
    if len(hits) > 1:
        raise ManifestError(f"--masks {masks_dir}: {len(hits)} masks match study {key!r}; keep one")
    return hits[0] if hits else None


def _from_folder(root: Path) -> list[Study]:
    studies = []
    for child in sorted(root.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_dir():
            studies.append(Study(key=child.name, images=(child,)))
        elif is_scanco_mask_file(child):
            continue  # a Scanco mask beside its grey AIM, not a study
        elif (stem := image_stem(child)) is not None:
            studies.append(Study(key=stem, images=(child,)))
    keys = [s.key for s in studies]
    if len(set(keys)) != len(keys):
        n_dup = len(keys) - len(set(keys))
        raise ManifestError(
            f"{root}: {n_dup} study name(s) appear twice (a folder and an image file with the "
            "same name, e.g. X/ and X.nii.gz); keep one entry per study")
    if not studies:
        raise ManifestError(
            f"{root}: no study folders or image files found; pass a folder holding one "
            "subfolder (or image file) per study, or a manifest CSV"
        )
    return studies


def _resolve(base: Path, cell: str) -> Path:
    p = Path(cell).expanduser()
    return p if p.is_absolute() else (base / p).resolve()


def _from_manifest(path: Path, image_columns: tuple[str, ...], mask_column: str | None) -> list[Study]:
    t = read_subject_table(path, what="manifest",
                           required=(*image_columns, *((mask_column,) if mask_column else ())))
    df = t.table
    skip = _BOOKKEEPING | set(image_columns) | ({mask_column} if mask_column else set())
    clinical_cols = [c for c in df.columns if c not in skip]
    studies = []
    for row in df.to_dict("records"):
        images = tuple(_resolve(path.parent, row[c]) for c in image_columns if row[c])
        masks: tuple[Path | None, ...] = ()
        if mask_column:
            m = _resolve(path.parent, row[mask_column]) if row[mask_column] else None
            masks = (m,) * len(images)
        label = row.get("mask_label") or None
        if not label and row.get("vertebra"):
            label = str(vertebra_label(row["vertebra"]))
        clinical = {c: row[c] for c in clinical_cols} if clinical_cols else None
        extra = {c: row[c] for c in PASSTHROUGH_COLUMNS if c in row}
        studies.append(Study(key=row["subject_id"], images=images, clinical=clinical, extra=extra,
                             clinical_source=(path.name, int(row["_line"])), masks=masks,
                             units=row.get("units") or None,
                             mask_label=int(float(label)) if label else None))
    return studies


def discover_studies(source: str | os.PathLike[str], *,
                     clinical: str | os.PathLike[str] | None = None,
                     image_columns: tuple[str, ...] = ("image",),
                     mask_column: str | None = None,
                     masks: str | os.PathLike[str] | None = None,
                     units: str | None = None, vertebra: str | None = None) -> Studies:
    """List the studies under ``source``.

    Parameters
    ----------
    source : path-like
        A folder with one subfolder (DICOM series, or a folder holding one image file) or one
        image file per study; or a manifest CSV with ``subject_id`` and image column(s).
    clinical : path-like, optional
        A clinical CSV keyed by ``subject_id`` (matching the folder names or manifest ids,
        exactly, after stripping surrounding spaces); it replaces clinical columns of the
        manifest. Rows matching no study and studies without a row are counted in
        ``clinical_match``.
    image_columns : tuple of str
        Manifest columns holding image paths (one image slot each).
    mask_column : str, optional
        Manifest column of VOI masks (the model's ``mask_column``).
    masks : path-like, optional
        A folder of masks matched to the studies by name (:func:`find_mask`); a study
        without one gets no mask (and fails if its model crops around a mask).
    units : str, optional
        Units declared for studies whose files do not record theirs (``--units``); a
        manifest ``units`` cell wins for its row.
    vertebra : str, optional
        Level (``L1``…) whose TotalSegmentator label is each study's VOI in multilabel masks
        (``--vertebra``); a manifest ``vertebra``/``mask_label`` cell wins for its row.

    Returns
    -------
    Studies
        Sorted by folder name (folder mode) or in manifest order.
    """
    src = Path(source)
    if src.is_dir():
        found = _from_folder(src)
    elif src.is_file() and src.suffix.lower() in (".csv", ".tsv", ".txt"):
        found = _from_manifest(src, tuple(image_columns), mask_column)
    else:
        raise ManifestError(
            f"{src}: not a folder of studies or a manifest .csv; check --studies"
        )
    if masks is not None:
        mdir = Path(masks)
        found = [Study(s.key, s.images, s.clinical, s.extra, s.clinical_source,
                       masks=(find_mask(mdir, s.key),) * len(s.images), units=s.units,
                       mask_label=s.mask_label) for s in found]
    if units is not None:
        found = [s if s.units else Study(s.key, s.images, s.clinical, s.extra, s.clinical_source,
                                         s.masks, units, s.mask_label) for s in found]
    if vertebra is not None:
        label = vertebra_label(vertebra)
        found = [s if s.mask_label is not None else Study(
            s.key, s.images, s.clinical, s.extra, s.clinical_source, s.masks, s.units, label)
            for s in found]
    out = Studies(found)
    if clinical is not None:
        table = read_subject_table(clinical, what="clinical table")
        rows = _rows(table)
        name = Path(clinical).name
        out = Studies(Study(s.key, s.images, rows[s.key][0], s.extra, (name, rows[s.key][1]),
                            s.masks, s.units, s.mask_label)
                      if s.key in rows else Study(s.key, s.images, None, s.extra, masks=s.masks,
                                                  units=s.units, mask_label=s.mask_label)
                      for s in found)
        out.clinical_match = match_subjects(table, [s.key for s in found])
    return out

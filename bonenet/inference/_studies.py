"""Find the studies to predict: one folder (or image file) per study, or manifest rows.

A :class:`Study` keeps its original identifier in memory only; outputs get its pseudonym.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ManifestError

__all__ = ["IMAGE_SUFFIXES", "PASSTHROUGH_COLUMNS", "Study", "discover_studies", "read_clinical"]

#: File endings read as one image each (a folder is a DICOM series or holds one such file).
IMAGE_SUFFIXES = (".nii.gz", ".nii", ".aim", ".isq", ".mha", ".mhd", ".nrrd", ".dcm")
#: Manifest columns copied to ``predictions.csv`` (no identifiers among them).
PASSTHROUGH_COLUMNS = ("site", "split", "fracture", "time_years", "event")
_NOT_CLINICAL = {"subject_id", "image", *PASSTHROUGH_COLUMNS}


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
    clinical_source : str
        File name and line of the clinical row, for error messages.
    """

    key: str
    images: tuple[Path, ...]
    clinical: dict[str, str] | None = None
    extra: dict[str, str] = field(default_factory=dict)
    clinical_source: tuple[str, int] = ("clinical.csv", 2)


def _image_stem(path: Path) -> str | None:
    name = path.name
    for suf in IMAGE_SUFFIXES:
        if name.lower().endswith(suf):
            return name[: -len(suf)]
    return None


def read_clinical(path: str | os.PathLike[str]) -> dict[str, tuple[dict[str, str], int]]:
    """Read a clinical spreadsheet (CSV) into ``{subject_id: (raw row, line)}`` unparsed.

    Values are parsed and range-checked per study later, so one impossible value fails only
    that study.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: clinical file not found; check --clinical")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.columns = [str(c).strip() for c in df.columns]
    if "subject_id" not in df.columns:
        raise ManifestError(
            f"{path}: no 'subject_id' column (found {list(df.columns)[:12]}); the clinical "
            "file needs one row per study keyed by subject_id"
        )
    dup = df["subject_id"].duplicated(keep=False)
    if dup.any():
        lines = [int(i) + 2 for i in df.index[dup][:5]]
        raise ManifestError(f"{path}: duplicate subject_id on lines {lines}; keep one row per study")
    return {r["subject_id"]: ({k: v for k, v in r.items() if k != "subject_id"}, line)
            for line, r in enumerate(df.to_dict("records"), start=2)}


def _from_folder(root: Path) -> list[Study]:
    studies = []
    for child in sorted(root.iterdir()):
        if child.name.startswith("."):
            continue
        if child.is_dir():
            studies.append(Study(key=child.name, images=(child,)))
        elif (stem := _image_stem(child)) is not None:
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


def _from_manifest(path: Path, image_columns: tuple[str, ...]) -> list[Study]:
    import pandas as pd

    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in ("subject_id", *image_columns) if c not in df.columns]
    if missing:
        raise ManifestError(
            f"{path}: missing column(s) {missing}; a manifest needs subject_id and the image "
            f"column(s) {list(image_columns)} (paths relative to the manifest's folder)"
        )
    dup = df["subject_id"].duplicated(keep=False)
    if dup.any():
        lines = [int(i) + 2 for i in df.index[dup][:5]]
        raise ManifestError(f"{path}: duplicate subject_id on lines {lines}; keep one row per study")
    clinical_cols = [c for c in df.columns if c not in _NOT_CLINICAL and c not in image_columns]
    studies = []
    for line, row in enumerate(df.to_dict("records"), start=2):
        images = tuple((path.parent / row[c]).resolve() if not Path(row[c]).is_absolute()
                       else Path(row[c]) for c in image_columns if row[c].strip())
        clinical = {c: row[c] for c in clinical_cols} if clinical_cols else None
        extra = {c: row[c] for c in PASSTHROUGH_COLUMNS if c in row}
        studies.append(Study(key=row["subject_id"], images=images, clinical=clinical, extra=extra,
                             clinical_source=(path.name, line)))
    return studies


def discover_studies(source: str | os.PathLike[str], *,
                     clinical: str | os.PathLike[str] | None = None,
                     image_columns: tuple[str, ...] = ("image",)) -> list[Study]:
    """List the studies under ``source``.

    Parameters
    ----------
    source : path-like
        A folder with one subfolder (DICOM series, or a folder holding one image file) or one
        image file per study; or a manifest CSV with ``subject_id`` and image column(s).
    clinical : path-like, optional
        A clinical CSV keyed by ``subject_id`` (matching the folder names or manifest ids);
        it replaces clinical columns of the manifest.
    image_columns : tuple of str
        Manifest columns holding image paths (one image slot each).

    Returns
    -------
    list of Study
        Sorted by folder name (folder mode) or in manifest order.
    """
    src = Path(source)
    if src.is_dir():
        studies = _from_folder(src)
    elif src.is_file() and src.suffix.lower() in (".csv", ".tsv"):
        studies = _from_manifest(src, tuple(image_columns))
    else:
        raise ManifestError(
            f"{src}: not a folder of studies or a manifest .csv; check --studies"
        )
    if clinical is not None:
        rows = read_clinical(clinical)
        name = Path(clinical).name
        studies = [Study(s.key, s.images, rows[s.key][0], s.extra, (name, rows[s.key][1]))
                   if s.key in rows else Study(s.key, s.images, None, s.extra) for s in studies]
    return studies

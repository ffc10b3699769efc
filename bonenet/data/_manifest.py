"""The manifest CSV: one row per subject with image paths, clinical columns and outcomes.

Columns: ``subject_id``; one or more image path columns (relative to the
manifest's folder unless absolute, or to ``root``); clinical columns (any header
:func:`bonenet.clinical.parse_clinical` recognises); outcomes ``fracture`` (0/1),
``time_years`` (≥ 0), ``event`` (0 censored, 1 fracture, 2 competing death); optional
``site``, ``split`` (train/val/test/external) and ``bmd_change``. Everything is checked up front so a
bad row fails before any training starts, with its line, column and value named.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ManifestError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["SPLITS", "Manifest", "read_manifest", "read_manifest_header"]

#: Canonical split labels and the spellings accepted for them ("external": a held-out
#: external-validation set, e.g. another site, kept apart from the internal test set).
SPLITS = ("train", "val", "test", "external")
_SPLIT_ALIASES = {"train": "train", "training": "train", "trn": "train", "val": "val",
                  "valid": "val", "validation": "val", "dev": "val", "test": "test",
                  "testing": "test", "holdout": "test", "tst": "test", "external": "external",
                  "ext": "external", "external_validation": "external"}
_MAX_LISTED = 20


@dataclass
class Manifest:
    """A validated manifest.

    Attributes
    ----------
    table : DataFrame
        One row per subject; clinical columns canonical (parsed), outcomes numeric,
        ``split`` canonical, image columns holding absolute path strings ("" where absent).
        Column ``_line`` holds the CSV line number of each row.
    path : Path
        The manifest file.
    root : Path
        Folder relative image paths are resolved against.
    image_columns : tuple of str
    """

    table: pd.DataFrame
    path: Path
    root: Path
    image_columns: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.table)


def _suggest(name: str, columns: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(columns), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def read_manifest_header(path: str | os.PathLike[str], *, image_columns: Sequence[str] = ("image",),
                         require_images: bool = True) -> list[str]:
    """Read a manifest with :func:`bonenet.tables.read_subject_table` and check the required
    columns are there (the identifier column may be spelt ``Patient ID``, ``study_id``…).

    Returns the column names (identifier as ``subject_id``). Raises :class:`ManifestError`
    naming a missing column and its close match.
    """
    rows_checked_later: list[str] = []  # row problems are reported by read_manifest, all together
    t = _read(path, required=tuple(image_columns) if require_images else (), problems=rows_checked_later)
    return [c for c in t.table.columns if c != "_line"]


def _read(path: str | os.PathLike[str], *, required: Sequence[str] = (),  # type: ignore[no-untyped-def]
          problems: list[str] | None = None):
    from ..tables import read_subject_table

    p = Path(path)
    if not p.is_file():
        raise ManifestError(f"manifest {p}: no such file; check the path (make one with `bonenet synth` "
                            "or write a CSV with subject_id, image, clinical and outcome columns)")
    return read_subject_table(p, what="manifest", required=required, problems=problems)


def _problem_text(path: Path, problems: list[str]) -> str:
    more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
    return (f"manifest {path}: {len(problems)} problem(s):\n  " + "\n  ".join(problems[:_MAX_LISTED])
            + more)


def read_manifest(
    path: str | os.PathLike[str],
    *,
    image_columns: Sequence[str] = ("image",),
    root: str | os.PathLike[str] | None = None,
    require_images: bool = True,
    check_files: bool = True,
    require_split: bool = False,
    clinical_required: Sequence[str] = (),
    mask_column: str | None = None,
    units: str | None = None,
    clinical_declared: Sequence[Any] = (),
) -> Manifest:
    """Read and validate a manifest CSV (through :func:`bonenet.tables.read_subject_table`).

    Parameters
    ----------
    path : path
        The CSV file (comma, semicolon or tab; UTF-8 or Windows-1252).
    image_columns : sequence of str
        Columns holding image paths (a file, or a folder for a DICOM series). A blank cell
        means that image is absent for the subject; a subject with no image at all is an
        error when ``require_images``.
    root : path, optional
        Folder relative image paths are resolved against (default: the manifest's folder).
    require_images : bool
        Whether the image columns must exist and every subject needs at least one image.
    check_files : bool
        Whether every image (and mask) path must exist now.
    require_split : bool
        Whether a ``split`` column with a label on every row is required.
    clinical_required : sequence of str
        Canonical clinical variables whose column must be present.
    mask_column : str, optional
        Column of VOI mask paths (resolved like image paths; required on rows with an image).
    units : str, optional
        The images' declared units; when None, every NIfTI/NRRD image needs a ``units`` cell.
    clinical_declared : sequence of ClinicalVariable or dict
        User-declared clinical variables (:class:`bonenet.clinical.ClinicalVariable`),
        parsed and range-checked like the schema's.

    Raises
    ------
    ManifestError
        Missing column, blank or duplicate ``subject_id``, missing image file, bad ``split``
        label, an outcome outside its values, undeclared units — every problem listed with
        line and column.
    ClinicalValueError
        An impossible clinical value (from :func:`bonenet.clinical.parse_clinical`).
    """
    from ..clinical import parse_clinical
    from ..volume import UNITS
    from ._study_input import UNITS_COLUMN, check_units_declared

    p = Path(path)
    problems: list[str] = []
    t = _read(p, required=(*(image_columns if require_images else ()),
                           *((mask_column,) if mask_column else ())), problems=problems)
    df = t.table.drop(columns="_line")
    cols = list(df.columns)
    base = Path(root) if root is not None else p.parent
    lines = list(t.table["_line"])

    def where(i: int) -> str:
        return f"line {lines[i]} (subject_id {df['subject_id'].iloc[i]})"

    present_imgs = [c for c in image_columns if c in df.columns]
    for col in [*present_imgs, *([mask_column] if mask_column else [])]:
        resolved = []
        for i, raw in enumerate(df[col]):
            if not raw:
                if col == mask_column and any(df[c].iloc[i] for c in present_imgs):
                    problems.append(f"{where(i)}, column {col!r}: blank; every study with an image "
                                    "needs its VOI mask (crop: mask)")
                resolved.append("")
                continue
            f = Path(raw).expanduser()
            f = f if f.is_absolute() else base / f
            if check_files and not f.exists():
                what = "mask" if col == mask_column else "image"
                problems.append(f"{where(i)}, column {col!r}: {what} {raw!r} not found (looked for {f}); "
                                "fix the path (relative paths are resolved against the manifest's "
                                "folder or root=)")
            resolved.append(str(f))
        df[col] = resolved
    if require_images and present_imgs:
        none = (df[present_imgs] == "").all(axis=1)
        for i in none.to_numpy().nonzero()[0]:
            problems.append(f"{where(int(i))}, column(s) {', '.join(present_imgs)}: no image given; "
                            "add the path or drop the row")
    if UNITS_COLUMN in df.columns:
        for i, u in enumerate(df[UNITS_COLUMN]):
            if u and u not in UNITS:
                problems.append(f"{where(i)}, column {UNITS_COLUMN!r}: {u!r} is not a unit; use one of "
                                f"{', '.join(UNITS)}")

    if "split" in df.columns:
        labels = []
        for i, raw in enumerate(df["split"].str.lower()):
            if not raw:
                if require_split:
                    problems.append(f"{where(i)}, column 'split': blank; use train, val, test or external")
                labels.append("")
            elif raw in _SPLIT_ALIASES:
                labels.append(_SPLIT_ALIASES[raw])
            else:
                problems.append(f"{where(i)}, column 'split': {raw!r} is not a split label; use "
                                "train, val, test or external")
                labels.append("")
        df["split"] = labels
    elif require_split:
        problems.append(f"column 'split' is missing{_suggest('split', cols)}; add it or use split='stratified'")

    _check_outcomes(df, where, problems)
    if problems:
        raise ManifestError(_problem_text(p, problems))
    if require_images and check_files:
        per_row = list(df[UNITS_COLUMN]) if UNITS_COLUMN in df.columns else [None] * len(df)
        for col in present_imgs:
            check_units_declared(list(df[col]), units=units, per_row=per_row, source=f"manifest {p}")
    df.attrs["source"] = str(p)
    table = parse_clinical(df, source=f"manifest {p}", required=clinical_required,
                           variables=clinical_declared)
    table["_line"] = lines
    table.attrs["source"] = str(p)
    return Manifest(table=table.reset_index(drop=True), path=p, root=base,
                    image_columns=tuple(image_columns))


def _check_outcomes(df: pd.DataFrame, where, problems: list[str]) -> None:  # type: ignore[no-untyped-def]
    """Parse outcome columns to float in place, listing values outside their allowed sets."""
    rules = {
        "fracture": ({0.0, 1.0}, "0 (no fracture) or 1 (fracture), blank if unknown"),
        "event": ({0.0, 1.0, 2.0}, "0 censored, 1 fracture or 2 death, blank if unknown"),
        "time_years": (None, "a follow-up time ≥ 0 in years, blank if unknown"),
        "bmd_change": (None, "a number (BMD change, e.g. % per year), blank if unknown"),
    }
    for col, (allowed, hint) in rules.items():
        if col not in df.columns:
            continue
        out = []
        for i, raw in enumerate(df[col].astype(str).str.strip()):
            if raw.lower() in ("", "na", "nan", "n/a"):
                out.append(math.nan)
                continue
            low = raw.lower()
            if col == "fracture" and low in ("yes", "y", "true"):
                low = "1"
            if col == "fracture" and low in ("no", "n", "false"):
                low = "0"
            try:
                v = float(low)
            except ValueError:
                v = math.nan
                ok = False
            else:
                ok = math.isfinite(v) and (v in allowed if allowed is not None else
                                           (v >= 0 if col == "time_years" else True))
            if not ok:
                problems.append(f"{where(i)}, column {col!r}: value {raw!r} not allowed; use {hint}")
            out.append(v if ok else math.nan)
        df[col] = out

"""The manifest CSV: one row per subject with image paths, clinical columns and outcomes.

Columns (DESIGN.md): ``subject_id``; one or more image path columns (relative to the
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
    """Read only the header of a manifest and check the required columns are there.

    Returns the column names. Raises :class:`ManifestError` naming a missing column.
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise ManifestError(f"manifest {p}: no such file; check the path (make one with `bonenet synth` "
                            "or write a CSV with subject_id, image, clinical and outcome columns)")
    try:
        cols = [str(c) for c in pd.read_csv(p, nrows=0).columns]
    except Exception as exc:
        raise ManifestError(f"manifest {p}: not a readable CSV ({exc}); save it as comma-separated text") from exc
    from ..clinical import resolve_id_column

    id_col = resolve_id_column(cols, source=f"manifest {p}")  # "Patient ID", "study_id"... → subject_id
    cols = ["subject_id" if c == id_col else c for c in cols]
    needed = ["subject_id", *(image_columns if require_images else ())]
    for col in needed:
        if col not in cols:
            raise ManifestError(
                f"manifest {p}: required column {col!r} is missing{_suggest(col, cols)}; columns "
                f"present: {', '.join(cols)}. Add it, or point image_columns at the right column"
            )
    return cols


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
    clinical_declared: Sequence[Any] = (),
) -> Manifest:
    """Read and validate a manifest CSV.

    Parameters
    ----------
    path : path
        The CSV file.
    image_columns : sequence of str
        Columns holding image paths (a file, or a folder for a DICOM series). A blank cell
        means that image is absent for the subject; a subject with no image at all is an
        error when ``require_images``.
    root : path, optional
        Folder relative image paths are resolved against (default: the manifest's folder).
    require_images : bool
        Whether the image columns must exist and every subject needs at least one image.
    check_files : bool
        Whether every image path must exist now.
    require_split : bool
        Whether a ``split`` column with a label on every row is required.
    clinical_required : sequence of str
        Canonical clinical variables whose column must be present.
    clinical_declared : sequence of ClinicalVariable or dict
        User-declared clinical variables (:class:`bonenet.clinical.ClinicalVariable`),
        parsed and range-checked like the schema's.

    Raises
    ------
    ManifestError
        Missing column, blank or duplicate ``subject_id``, missing image file, bad ``split``
        label, or an outcome outside its values — every problem listed with line and column.
    ClinicalValueError
        An impossible clinical value (from :func:`bonenet.clinical.parse_clinical`).
    """
    import pandas as pd

    from ..clinical import parse_clinical

    p = Path(path)
    cols = read_manifest_header(p, image_columns=image_columns, require_images=require_images)
    df = pd.read_csv(p, dtype=str, keep_default_na=False)
    df.columns = cols
    base = Path(root) if root is not None else p.parent
    problems: list[str] = []
    lines = list(range(2, len(df) + 2))

    def where(i: int) -> str:
        sid = str(df["subject_id"].iloc[i]).strip()
        return f"line {lines[i]} (subject_id {sid})" if sid else f"line {lines[i]}"

    ids = df["subject_id"].astype(str).str.strip()
    first_seen: dict[str, int] = {}
    for i, sid in enumerate(ids):
        if not sid:
            problems.append(f"line {lines[i]}, column 'subject_id': blank; give every row an identifier")
        elif sid in first_seen:
            problems.append(f"{where(i)}, column 'subject_id': duplicate of line {first_seen[sid]}; "
                            "one row per subject (merge or rename)")
        else:
            first_seen[sid] = lines[i]
    df["subject_id"] = ids

    present_imgs = [c for c in image_columns if c in df.columns]
    for col in present_imgs:
        resolved = []
        for i, raw in enumerate(df[col].astype(str).str.strip()):
            if not raw:
                resolved.append("")
                continue
            f = Path(raw).expanduser()
            f = f if f.is_absolute() else base / f
            if check_files and not f.exists():
                problems.append(f"{where(i)}, column {col!r}: image {raw!r} not found (looked for {f}); "
                                "fix the path (relative paths are resolved against the manifest's "
                                "folder or root=)")
            resolved.append(str(f))
        df[col] = resolved
    if require_images and present_imgs:
        none = (df[present_imgs] == "").all(axis=1)
        for i in none.to_numpy().nonzero()[0]:
            problems.append(f"{where(int(i))}, column(s) {', '.join(present_imgs)}: no image given; "
                            "add the path or drop the row")

    if "split" in df.columns:
        labels = []
        for i, raw in enumerate(df["split"].astype(str).str.strip().str.lower()):
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

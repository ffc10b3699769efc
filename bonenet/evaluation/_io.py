"""Read and check predictions CSVs (the common format: subject_id, outcomes, p_<model>)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import EvaluationError

__all__ = ["load_predictions", "model_columns"]

_SHARED = ("site", "split", "fracture", "time_years", "event", "sex", "age")


def model_columns(df: pd.DataFrame) -> list[str]:
    """Model names found as ``p_<model>`` columns (a survival-only model's ``risk10y_<model>``
    column — see :func:`bonenet.models.head_column` — is renamed ``p_<model>`` on reading)."""
    return [c[2:] for c in df.columns if c.startswith("p_")]


def _survival_as_probability(df: pd.DataFrame) -> pd.DataFrame:
    """``risk10y_<m>`` → ``p_<m>`` where the model has no fracture-probability column: the
    10-year cumulative risk is the probability evaluated against the 0/1 outcome."""
    ren = {c: "p_" + c[len("risk10y_"):] for c in df.columns
           if c.startswith("risk10y_") and "p_" + c[len("risk10y_"):] not in df.columns}
    return df.rename(columns=ren)


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise EvaluationError(f"{path}: predictions file not found")
    try:
        df = pd.read_csv(path, dtype={"subject_id": str, "site": str, "split": str})
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise EvaluationError(f"{path}: not a readable CSV ({exc})") from exc
    if "subject_id" not in df.columns:
        raise EvaluationError(f"{path}: no 'subject_id' column (columns: {', '.join(map(str, df.columns))}); "
                              "predictions CSVs must have one row per subject keyed by subject_id")
    dup = df["subject_id"].duplicated()
    if dup.any():
        raise EvaluationError(f"{path}: {int(dup.sum())} duplicated subject_id value(s) (first at row "
                              f"{int(np.argmax(dup.to_numpy()))}); keep one prediction row per subject")
    return _survival_as_probability(df)


def _filter_split(frames: list[tuple[Path, pd.DataFrame]], splits: Sequence[str]) -> list[tuple[Path, pd.DataFrame]]:
    want = {s.lower() for s in splits}
    with_split = [(p, d) for p, d in frames if "split" in d.columns]
    if not with_split:
        raise EvaluationError(f"--split {','.join(splits)}: no predictions file has a 'split' column")
    out, keep_ids = [], None
    for p, d in frames:
        if "split" in d.columns:
            d = d[d["split"].astype(str).str.lower().isin(want)]
            if d.empty:
                raise EvaluationError(f"{p}: no rows with split in {sorted(want)} "
                                      f"(splits present: {sorted(set(frames[0][1].get('split', pd.Series(dtype=str)).astype(str)))})")
            keep_ids = set(d["subject_id"]) if keep_ids is None else keep_ids
        out.append((p, d))
    # files without a split column keep the subjects selected in the others
    return [(p, d if "split" in d.columns else d[d["subject_id"].isin(keep_ids)]) for p, d in out]


def load_predictions(paths: Sequence[str | Path], *, outcome: str, splits: Sequence[str] | None = None) -> pd.DataFrame:
    """Read one or more predictions CSVs and join them on ``subject_id``.

    ``splits`` keeps only rows whose ``split`` column is one of them (for example
    ``["test"]``, so models are never scored on their training subjects). Each file must
    then hold the same subjects. Shared columns (outcomes, site, split) must agree
    between files; ``p_<model>`` columns must be unique across files. Raises
    :class:`EvaluationError` naming the file, the column and the problem.
    """
    frames = [(Path(p), _read(Path(p))) for p in paths]
    if not frames:
        raise EvaluationError("no predictions file given")
    if splits:
        frames = _filter_split(frames, splits)
    path0, df = frames[0]
    for path, other in frames[1:]:
        a, b = set(df["subject_id"]), set(other["subject_id"])
        if a != b:
            raise EvaluationError(
                f"{path}: subject ids do not match {path0}: {len(b - a)} only in {path.name}, "
                f"{len(a - b)} only in {path0.name}; predict every model on the same subjects "
                "(or filter both files to the common subjects first). Files from `bonenet predict` "
                "hold pseudonyms: write them with the same --salt, or with --keep-ids to join raw ids")
        clash = [c for c in other.columns if c.startswith("p_") and c in df.columns]
        if clash:
            raise EvaluationError(f"{path}: model column(s) {clash} also in an earlier file; rename one model")
        # bookkeeping columns (model name, checksum, QC flags...) of later files are dropped;
        # columns describing the subjects must agree
        other = other.drop(columns=[c for c in other.columns if c in df.columns and c != "subject_id"
                                    and not c.startswith("p_") and c not in _SHARED])
        merged = df.merge(other, on="subject_id", how="inner", suffixes=("", "__other"), validate="one_to_one")
        for c in [c for c in other.columns if c != "subject_id" and c in df.columns]:
            left, right = merged[c], merged[f"{c}__other"]
            ln, rn = pd.to_numeric(left, errors="coerce"), pd.to_numeric(right, errors="coerce")
            if ln.notna().eq(left.notna()).all() and rn.notna().eq(right.notna()).all():
                same = np.isclose(ln, rn, rtol=1e-5, atol=1e-8, equal_nan=True)  # numbers written differently
            else:
                same = ((left.astype(str) == right.astype(str)) | (left.isna() & right.isna())).to_numpy()
            differ = pd.Series(~same)
            if differ.any():
                raise EvaluationError(f"{path}: column {c!r} disagrees with {path0} for {int(differ.sum())} "
                                      "subject(s); the files must describe the same outcomes/sites")
            merged = merged.drop(columns=f"{c}__other")
        df = merged
    if outcome not in df.columns:
        raise EvaluationError(f"outcome column {outcome!r} not found (columns: {', '.join(map(str, df.columns))}); "
                              "pass --outcome with the 0/1 outcome column name")
    if not model_columns(df):
        raise EvaluationError("no model columns: predictions must be in columns named p_<model> (e.g. p_fused)")
    return df

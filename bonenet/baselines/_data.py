"""Assemble the tabular design matrix of the baselines: clinical + morphometric features.

Features CSV (``bonenet features``), clinical CSV and/or manifest CSV are joined on
``subject_id``. Clinical columns are parsed with :func:`bonenet.clinical.parse_clinical`
(canonical names, units, impossible values refused); every other numeric column of the
features CSV is a morphometric feature. Columns that are outcomes, bookkeeping, or other
models' risk scores (``frax_mof``, ``frax_hip``) are never model inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ManifestError

__all__ = ["NON_FEATURES", "TabularData", "load_tabular"]

NON_FEATURES = frozenset({"subject_id", "image", "site", "split", "fracture", "time_years", "event",
                          "frax_mof", "frax_hip", "dxa_manufacturer", "fn_tscore_assumed_hologic",
                          "frax_age_out_of_range"})


@dataclass
class TabularData:
    """Joined table plus the names of its clinical and morphometric feature columns."""

    table: pd.DataFrame
    clinical: list[str]
    frax: list[str]
    morphometry: list[str]
    #: input columns of the user-declared variables (categoricals one-hot as ``name=level``)
    declared: list[str] = field(default_factory=list)
    #: declared binary/categorical variables, kept in the predictions for subgroup metrics
    groups: list[str] = field(default_factory=list)


def _read(path: Path, what: str) -> pd.DataFrame:
    """One input table through bonenet's one subject-table reader
    (:func:`bonenet.tables.read_subject_table`); blank cells become missing."""
    from ..tables import read_subject_table

    if not path.is_file():
        raise ManifestError(f"{path}: {what} file not found")
    df = read_subject_table(path, what=what).table.drop(columns="_line")
    blank = df.isin(["", "NA", "NaN", "nan"])
    return df.mask(blank)


def load_tabular(*, features: str | Path | None = None, clinical: str | Path | None = None,
                 manifest: str | Path | None = None, outcome: str = "fracture",
                 clinical_variables: Iterable[Any | Mapping[str, Any]] = ()) -> TabularData:
    """Read and join the given CSVs on ``subject_id`` (inner join, with a clear error if empty).

    ``clinical_variables`` are user-declared variables (:class:`bonenet.clinical.ClinicalVariable`
    or their dicts): parsed and range-checked, and inputs of every model, ``clinical_lr``
    included.

    Raises :class:`ManifestError` when a file, the id column or the outcome is missing, or
    when the files share no subject.
    """
    from ..clinical import SCHEMA, declare_variables, parse_clinical

    declared = declare_variables(clinical_variables)

    frames = [(p, _read(Path(p), w)) for p, w in ((features, "features"), (clinical, "clinical"),
                                                   (manifest, "manifest")) if p is not None]
    if not frames:
        raise ManifestError("no input: pass --features and/or --clinical/--manifest")
    table = frames[0][1]
    for path, df in frames[1:]:
        shared = [c for c in df.columns if c != "subject_id" and c in table.columns]
        df = df.drop(columns=shared)  # first file wins for shared columns (e.g. clinical in manifest)
        before = len(table)
        table = table.merge(df, on="subject_id", how="inner")
        if table.empty:
            raise ManifestError(f"{path}: no subject_id in common with {frames[0][0]}; "
                                "check that the files describe the same cohort")
        if len(table) < before:
            import logging

            logging.getLogger(__name__).warning("%s: %d subject(s) of %s have no row here and are left out",
                                                path, before - len(table), frames[0][0])
    table = parse_clinical(table, source=str(frames[0][0]), required=(), variables=declared)
    if outcome not in table.columns:
        raise ManifestError(f"outcome column {outcome!r} not found in {', '.join(str(p) for p, _ in frames)}; "
                            "pass --manifest (which holds the outcomes) or name the column with --outcome")
    y = pd.to_numeric(table[outcome], errors="coerce")
    if y.isna().any() or not y.isin([0, 1]).all():
        bad = int((y.isna() | ~y.isin([0, 1])).sum())
        raise ManifestError(f"{outcome}: {bad} row(s) not 0/1; outcomes must be known 0/1 for every subject")
    table[outcome] = y.astype(int)
    clin = [c for c in table.columns if c in SCHEMA and c not in NON_FEATURES]
    frax = [c for c in clin if SCHEMA[c].group == "frax"]
    user, groups = [], []
    for d in declared:
        if d.name not in table.columns:
            continue
        if d.kind == "categorical":  # fixed, declared levels: one-hot here leaks nothing
            for level in d.categories:
                col = f"{d.name}={level}"
                table[col] = np.where(table[d.name].isna(), np.nan, (table[d.name] == level).astype(float))
                user.append(col)
        else:
            user.append(d.name)
        if d.kind != "continuous":
            groups.append(d.name)
    skip = {d.name for d in declared} | set(user)
    morph = []
    for c in table.columns:
        if c in NON_FEATURES or c in SCHEMA or c == outcome or c in skip:
            continue
        v = pd.to_numeric(table[c], errors="coerce")
        if v.notna().sum() >= max(1, int(0.5 * table[c].notna().sum())):
            table[c] = v
            morph.append(c)
    return TabularData(table, [*clin, *user], frax, morph, user, groups)

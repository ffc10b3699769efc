"""Parse real spreadsheets of clinical variables into canonical columns and units."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..errors import ClinicalValueError
from ._declare import ClinicalVariable, declare_variables, declared_schema
from ._dxa import fn_bmd_to_hologic, parse_manufacturer
from ._schema import (
    AMBIGUOUS_HEADERS,
    DXA_MANUFACTURERS,
    FRAX_AGE_RANGE,
    SCHEMA,
    Variable,
    canonical_header,
    fn_tscore_from_bmd,
    header_name,
)

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["FLAG_COLUMNS", "clinical_columns", "parse_clinical"]

#: Columns :func:`parse_clinical` adds to describe how a row was read (never model inputs):
#: ``fn_tscore_assumed_hologic`` is 1 where ``fn_tscore`` was derived from ``fn_bmd`` with no
#: ``dxa_manufacturer`` (Hologic scale assumed), 0 where the manufacturer was known, blank where
#: nothing was derived; ``frax_age_out_of_range`` is 1 where age lies outside FRAX's 40–90 years.
FLAG_COLUMNS = ("fn_tscore_assumed_hologic", "frax_age_out_of_range")

_MISSING = {"", "na", "n/a", "nan", "null", "missing", "unknown", "unk", "?", "-", ".", "nd",
            "not available", "not known", "<na>"}
_YES = {"1", "1.0", "yes", "y", "true", "t", "ja", "oui", "si", "sí", "present", "positive", "+"}
_NO = {"0", "0.0", "no", "n", "false", "f", "nein", "non", "absent", "negative", "never"}
_SEX = {"f": "F", "female": "F", "woman": "F", "w": "F", "fem": "F", "women": "F",
        "m": "M", "male": "M", "man": "M", "men": "M"}
_TREATMENT_ALIASES = {
    "no": "none", "untreated": "none", "no_treatment": "none", "0": "none", "nil": "none",
    "hormone_replacement_therapy": "hrt", "oestrogen": "estrogen",
    "oestrogen+calcitriol": "estrogen+calcitriol", "bisphosphonates": "bisphosphonate",
    "alendronate": "bisphosphonate", "risedronate": "bisphosphonate",
    "zoledronate": "bisphosphonate", "zoledronic_acid": "bisphosphonate",
    "ibandronate": "bisphosphonate", "etidronate+hrt": "hrt+etidronate",
    "calcitriol+estrogen": "estrogen+calcitriol", "calcitriol+oestrogen": "estrogen+calcitriol",
}
_MAX_LISTED = 20


def clinical_columns(headers: Iterable[str], *, declared: dict[str, Variable] | None = None
                     ) -> dict[str, tuple[str, str | None]]:
    """Map each recognised header to ``(canonical name, unit in header or None)``;
    ``declared`` adds user-declared variables (see :func:`declared_schema`)."""
    out = {}
    for h in headers:
        name, unit = canonical_header(str(h), declared=declared)
        if name is not None:
            out[str(h)] = (name, unit)
    return out


def _is_missing(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, float) and math.isnan(raw):
        return True
    return str(raw).strip().lower() in _MISSING


def _parse_one(var: Variable, raw: Any, factor: float) -> tuple[Any, str | None]:
    """Return ``(value, None)`` or ``(None, reason-and-fix)``; missing → NaN."""
    if var.name == "treatment" and str(raw).strip().lower() == "none":
        return "none", None
    if _is_missing(raw):
        return math.nan, None
    s = str(raw).strip()
    low = s.lower()
    if var.kind == "binary":
        if low in _YES:
            return 1.0, None
        if low in _NO:
            return 0.0, None
        return None, "is not a yes/no value; write 1/0, yes/no, Y/N or true/false (blank if unknown)"
    if var.name == "sex":
        if low in _SEX:
            return _SEX[low], None
        return None, ('is not a sex code; write "F" or "M" (female/male), blank if unknown '
                      "(numeric codes like 1/2 are ambiguous: recode them)")
    if var.name == "dxa_manufacturer":
        man = parse_manufacturer(s)
        if man is not None:
            return man, None
        return None, (f"is not a DXA manufacturer bonenet can convert; use one of "
                      f"{', '.join(DXA_MANUFACTURERS)} (GE = lunar), blank if unknown")
    if var.kind == "categorical" and var.group == "user":
        key = low
        try:
            num = float(low)
            if num.is_integer():
                key = str(int(num))
        except ValueError:
            pass
        for c in var.categories:
            if c.lower() == key:
                return c, None
        return None, f"is not a declared category; use one of {', '.join(var.categories)}"
    if var.kind == "categorical":
        key = low.replace(" and ", "+").replace("&", "+").replace(" + ", "+").replace(" ", "_")
        key = _TREATMENT_ALIASES.get(key, key)
        if key in var.categories:
            return key, None
        return None, f"is not a known category; use one of {', '.join(var.categories)}"
    try:
        value = float(s.replace(",", ".")) if s.count(",") == 1 and "." not in s else float(s)
    except ValueError:
        return None, f"is not a number in {var.unit}; correct it or leave the cell blank if unknown"
    if not math.isfinite(value):
        return None, "is not a finite number; leave the cell blank if unknown"
    value *= factor
    lo, hi = var.valid_range  # type: ignore[misc]
    if not lo <= value <= hi:
        unit = f" {var.unit}" if var.unit else ""
        shown = f"{value:g}{unit}" if factor == 1.0 else f"{value:g}{unit} after unit conversion"
        return None, (f"({shown}) is impossible: {var.name} must lie in [{lo:g}, {hi:g}]{unit}; "
                      "fix the value (or its unit in the header), or leave it blank if unknown")
    return value, None


def _label(df: pd.DataFrame, pos: int, id_column: str, first_line: int) -> str:
    line = pos + first_line
    if id_column in df.columns:
        sid = df[id_column].iloc[pos]
        return f"line {line} ({id_column} {sid!s})"
    return f"line {line}"


def parse_clinical(
    df: pd.DataFrame,
    *,
    source: str = "clinical.csv",
    id_column: str = "subject_id",
    first_line: int = 2,
    required: Iterable[str] | None = None,
    derive: bool = True,
    variables: Iterable[ClinicalVariable | dict[str, Any]] = (),
) -> pd.DataFrame:
    """Rename recognised clinical headers to canonical names and parse their values.

    Parameters
    ----------
    df : DataFrame
        A table read with ``pd.read_csv(..., dtype=str)`` or already canonical. Columns that
        are not clinical variables (``subject_id``, ``image``, outcomes...) pass through.
    source : str
        File name used in error messages.
    id_column : str
        Column holding subject identifiers, quoted in error messages.
    first_line : int
        File line number of the first data row (2 for a CSV with one header line).
    required : iterable of str, optional
        Canonical variables whose column must exist (default: the schema's required ones,
        ``age`` and ``sex``). Pass ``()`` to require nothing.
    derive : bool
        Compute ``bmi`` from ``weight_kg`` and ``height_cm`` and ``fn_tscore`` from ``fn_bmd``
        where they are blank (``fn_bmd`` first converted to the Hologic scale with the row's
        ``dxa_manufacturer``, Lu et al. 2001; Hologic assumed and flagged without one), and
        add the :data:`FLAG_COLUMNS`. How many values were derived is in
        ``out.attrs["clinical_derived"]``.
    variables : iterable of ClinicalVariable or dict
        User-declared variables, parsed like schema ones; their ``required`` columns must be
        present whatever ``required`` says, and blank cells of a ``missing="error"`` variable
        are refused.

    Returns
    -------
    DataFrame
        Same rows and index; clinical columns canonical (continuous and binary as float with
        NaN for missing, ``sex`` "F"/"M", ``treatment`` one of :data:`TREATMENTS`); units
        converted to the schema's.

    Raises
    ------
    ClinicalValueError
        Naming line, subject_id, column and value for every impossible or unparseable value
        (first 20 listed), a missing required column, a header with an unknown unit, two
        headers that mean the same variable, or an ambiguous header (``t_score``,
        ``alcohol``, ``steroids``...) with the exact names accepted instead.
    """
    import pandas as pd

    declared = declare_variables(variables)
    schema: dict[str, Variable] = {**SCHEMA, **declared_schema(declared)}
    mapping = clinical_columns(df.columns, declared=declared_schema(declared) or None)
    _refuse_ambiguous([str(c) for c in df.columns if str(c) not in mapping], source)
    seen: dict[str, str] = {}
    problems: list[str] = []
    for header, (name, unit) in mapping.items():
        if name in seen:
            raise ClinicalValueError(
                f"{source}: columns {seen[name]!r} and {header!r} both mean {name!r}; "
                "keep one of them"
            )
        seen[name] = header
        var = schema[name]
        if unit is not None and var.kind == "continuous" and unit not in var.units_in_header:
            raise ClinicalValueError(
                f"{source}: column {header!r} gives unit {unit!r} for {name}; bonenet knows "
                f"{', '.join(sorted(var.units_in_header))} (canonical {var.unit}); "
                "convert the column or rename its header"
            )
    need = [v.name for v in SCHEMA.values() if v.required] if required is None else list(required)
    need += [d.name for d in declared if d.required and d.name not in need]
    for name in need:
        derivable = (name == "bmi" and {"weight_kg", "height_cm"} <= seen.keys()) or (
            name == "fn_tscore" and "fn_bmd" in seen)
        if name not in seen and not derivable:
            aliases = ", ".join(repr(a) for a in schema[name].aliases[:4]) if name in schema else ""
            raise ClinicalValueError(
                f"{source}: required clinical column {name!r} is missing (headers accepted: "
                f"{aliases}...); add it (blank cells allowed) or drop {name!r} from the variables"
            )

    out = df.copy()
    error_if_blank = {d.name for d in declared if d.missing == "error"}
    for header, (name, unit) in mapping.items():
        var = schema[name]
        factor = var.units_in_header.get(unit, 1.0) if (unit and var.kind == "continuous") else 1.0
        col = df[header]
        parsed: dict[Any, Any] = {}
        values = []
        for pos, raw in enumerate(col.tolist()):
            key = (type(raw).__name__, str(raw))
            if key not in parsed:
                parsed[key] = _parse_one(var, raw, factor)
            value, reason = parsed[key]
            if reason is None and name in error_if_blank and _is_missing(raw):
                reason = ("is blank, and this variable is declared missing: error; fill it in "
                          "(or declare missing: indicator)")
            if reason is not None:
                problems.append(f"{source} {_label(df, pos, id_column, first_line)}, column "
                                f"{header!r} ({name}): value {raw!r} {reason}")
                value = math.nan
            values.append(value)
        series = pd.Series(values, index=df.index,
                           dtype=object if var.kind == "categorical" else "float64")
        out = out.drop(columns=[header])
        out[name] = series
    derived = {}
    if derive and not problems:
        derived = _derive(out, source, id_column, first_line, problems, df)
    if problems:
        more = f"\n  ... and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
        raise ClinicalValueError(
            f"{len(problems)} impossible or unreadable clinical value(s):\n  "
            + "\n  ".join(problems[:_MAX_LISTED]) + more
        )
    flag_cols = [c for c in FLAG_COLUMNS if c in out.columns]
    if flag_cols:  # flags last, so that parsing a parsed table gives the same table
        attrs = dict(out.attrs)
        out = out[[c for c in out.columns if c not in flag_cols] + flag_cols]
        out.attrs.update(attrs)
    out.attrs["clinical_derived"] = derived
    out.attrs.setdefault("clinical_flags", {})
    out.attrs["clinical_columns"] = [n for n in schema if n in out.columns]
    return out


def _refuse_ambiguous(headers: list[str], source: str) -> None:
    """Raise for headers that look like a FRAX variable without saying what FRAX needs."""
    bad = []
    for h in headers:
        hit = AMBIGUOUS_HEADERS.get(header_name(h))
        if hit is not None:
            target, why = hit
            names = ", ".join(repr(a) for a in SCHEMA[target].aliases[:4])
            bad.append(f"column {h!r} is {why}: if it is that, rename it to {names}; if it is "
                       "something else, rename it or declare it as your own variable "
                       "(clinical_variables)")
    if bad:
        raise ClinicalValueError(f"{source}: ambiguous clinical header(s), not used as FRAX "
                                 "variables:\n  " + "\n  ".join(bad))


def _derive(out: pd.DataFrame, source: str, id_column: str, first_line: int,
            problems: list[str], original: pd.DataFrame) -> dict[str, int]:
    """Fill blank ``bmi`` / ``fn_tscore`` from their defining variables and add the
    :data:`FLAG_COLUMNS` (in place)."""
    import numpy as np
    import pandas as pd

    derived: dict[str, int] = {}
    flags: dict[str, int] = {}
    if {"weight_kg", "height_cm"} <= set(out.columns):
        bmi = out["weight_kg"] / (out["height_cm"] / 100.0) ** 2
        cur = out["bmi"] if "bmi" in out.columns else _nan_like(out)
        fill = cur.isna() & bmi.notna()
        lo, hi = SCHEMA["bmi"].valid_range  # type: ignore[misc]
        for pos in np.flatnonzero(fill.to_numpy() & ~bmi.between(lo, hi).to_numpy()):
            problems.append(
                f"{source} {_label(original, int(pos), id_column, first_line)}: weight_kg "
                f"{out['weight_kg'].iloc[pos]:g} and height_cm {out['height_cm'].iloc[pos]:g} give "
                f"BMI {bmi.iloc[pos]:.1f} kg/m², outside [{lo:g}, {hi:g}]; check both values and "
                "their units")
        out["bmi"] = cur.where(~fill, bmi)
        derived["bmi"] = int(fill.sum())
    if "fn_bmd" in out.columns:
        cur = out["fn_tscore"] if "fn_tscore" in out.columns else _nan_like(out)
        fill = cur.isna() & out["fn_bmd"].notna()
        if "dxa_manufacturer" in out.columns:
            man = out["dxa_manufacturer"].where(out["dxa_manufacturer"].notna(), "hologic")
            known = out["dxa_manufacturer"].notna()
        else:
            man = pd.Series("hologic", index=out.index, dtype=object)
            known = pd.Series(False, index=out.index)
        hologic = fn_bmd_to_hologic(out["fn_bmd"].to_numpy(float), man.to_numpy(object))
        out["fn_tscore"] = cur.where(~fill, fn_tscore_from_bmd(pd.Series(hologic, index=out.index)))
        flag = pd.Series(np.where(fill, np.where(known, 0.0, 1.0), np.nan), index=out.index)
        if "fn_tscore_assumed_hologic" in out.columns:  # a table parsed before keeps its flags
            old = pd.to_numeric(out["fn_tscore_assumed_hologic"], errors="coerce")
            flag = old.where(old.notna(), flag)
        out["fn_tscore_assumed_hologic"] = flag
        derived["fn_tscore"] = int(fill.sum())
        flags["fn_tscore_assumed_hologic"] = int((fill & ~known).sum())
    if "age" in out.columns:
        lo, hi = FRAX_AGE_RANGE
        age = out["age"].to_numpy(float)
        out["frax_age_out_of_range"] = np.where(np.isnan(age), np.nan,
                                                ((age < lo) | (age > hi)).astype(float))
        flags["frax_age_out_of_range"] = int(np.nansum(out["frax_age_out_of_range"]))
    out.attrs["clinical_flags"] = flags
    return derived


def _nan_like(df: pd.DataFrame) -> pd.Series:
    """A float Series of NaN on ``df``'s index."""
    import pandas as pd

    return pd.Series(math.nan, index=df.index, dtype="float64")


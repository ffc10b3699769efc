"""Screen a clinical table against a regimen's rules: one row per subject with status and reasons.

Status, in this order of precedence:

- ``excluded``: an exclusion rule is met;
- ``not_indicated``: no exclusion is met and no indication is met (all decided "no");
- ``unknown``: missing values leave an exclusion or the indication undecided (never "eligible");
- ``eligible``: indicated, and every exclusion decided "not met".

Cautions do not change the status; they are listed (with the value that fired them) beside it.
Logic is three-valued (Kleene): ``any`` is met when one child is met, not met when all are not
met, otherwise undecided; ``all`` the reverse. A research tool for defining study populations,
not a prescribing aid.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ClinicalValueError, ConfigError
from ._rules import (
    Condition,
    Node,
    Regimen,
    Rule,
    default_rules,
    leaves,
    load_rules,
    parse_regimen,
    set_params,
    unit_factor,
)
from ._schema import SCHEMA

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["DISCLAIMER", "STATUSES", "ScreeningResult", "screen"]

STATUSES = ("eligible", "excluded", "not_indicated", "unknown")
DISCLAIMER = ("bonenet screening is a research tool for defining study populations, not a prescribing "
              "aid: the rules restate selected label contraindications and guideline thresholds and are "
              "not a complete assessment of any person's treatment.")
#: Relative tolerance of threshold comparisons (a value converted from mg/dL that equals the
#: threshold up to rounding counts as equal).
_RTOL = 1e-9


@dataclass
class ScreeningResult:
    """What :func:`screen` found.

    Attributes
    ----------
    table : DataFrame
        One row per subject (the content of ``screening.csv``): ``subject_id``, ``regimen``,
        ``status``, ``eligible_<regimen>`` (1/0/blank), ``indicated`` (yes/no/unknown),
        ``indication_reason``, ``exclusions``, ``cautions`` (each rule with the value that
        fired it), ``missing`` (variables whose absence leaves the decision open),
        ``monitoring`` (rule names), counts, and ``rule_<name>`` flags (1 met, 0 not met,
        blank undecided).
    summary : DataFrame
        One row per rule: kind, component, variables, parameters, met / not met / undecided
        counts, source.
    flow : list of dict
        The eligibility-flow steps with counts (for the diagram).
    regimen : Regimen
    rules : tuple of Rule
        The rules applied (parameters as used).
    """

    table: pd.DataFrame
    summary: pd.DataFrame
    flow: list[dict[str, Any]]
    regimen: Regimen
    rules: tuple[Rule, ...]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        """Subjects per status (every status present, zeros included)."""
        vc = self.table["status"].value_counts()
        return {s: int(vc.get(s, 0)) for s in STATUSES}

    def eligible_ids(self) -> list[str]:
        """subject_id of the eligible subjects."""
        return self.table.loc[self.table["status"] == "eligible", "subject_id"].astype(str).tolist()


# ------------------------------------------------------------------------------ evaluation
def _fmt(x: float) -> str:
    return f"{x:.4g}"


class _Data:
    """Canonical columns as float arrays (categoricals as object arrays), NaN for missing."""

    def __init__(self, df: pd.DataFrame, source: str) -> None:
        self.df, self.source, self.n = df, source, len(df)
        self._cache: dict[str, np.ndarray] = {}

    def get(self, var: str, rule: Rule) -> np.ndarray:
        if var in self._cache:
            return self._cache[var]
        import pandas as pd

        if var not in self.df.columns:
            if var not in SCHEMA:
                raise ClinicalValueError(
                    f"{self.source}: rule {rule.name!r} ({rule.origin}) reads column {var!r}, which is "
                    "neither a bonenet clinical variable nor a column of the table; add the column or fix "
                    "the rule")
            categorical = var in SCHEMA and SCHEMA[var].kind == "categorical"
            col = np.full(self.n, None, dtype=object) if categorical else np.full(self.n, np.nan)
        elif var in SCHEMA and SCHEMA[var].kind == "categorical":
            col = np.asarray([v if isinstance(v, str) else None for v in self.df[var]], dtype=object)
        elif pd.api.types.is_float_dtype(self.df[var]):  # parsed by parse_clinical
            col = self.df[var].to_numpy(dtype=np.float64)
        else:
            num = pd.to_numeric(self.df[var], errors="coerce")
            bad = num.isna() & self.df[var].notna() & (self.df[var].astype(str).str.strip() != "")
            if bad.any():
                raise ClinicalValueError(
                    f"{self.source}: column {var!r} read by rule {rule.name!r} has non-numeric value "
                    f"{self.df[var][bad].iloc[0]!r} ({int(bad.sum())} row(s)); write numbers or leave blank")
            col = num.to_numpy(dtype=np.float64)
        self._cache[var] = col
        return col


def _leaf(leaf: Condition, rule: Rule, data: _Data) -> tuple[np.ndarray, np.ndarray, str]:
    """Tri-state truth (1, 0, NaN), the missing mask, and the threshold text."""
    x = data.get(leaf.var, rule)
    value, unit = rule.threshold(leaf)
    if x.dtype == object:
        missing = np.asarray([not isinstance(v, str) for v in x], dtype=bool)
        eq = (x == value).astype(np.float64)
        truth = eq if leaf.op == "==" else 1.0 - eq
        shown = f"{value}"
    else:
        missing = np.isnan(x)
        t = float(value) * unit_factor(leaf.var, unit)  # type: ignore[arg-type]
        tol = _RTOL * max(1.0, abs(t))
        with np.errstate(invalid="ignore"):
            truth = {">": x > t + tol, ">=": x >= t - tol, "<": x < t - tol, "<=": x <= t + tol,
                     "==": np.abs(x - t) <= tol, "!=": np.abs(x - t) > tol}[leaf.op].astype(np.float64)
        shown = _fmt(t)
    fill = {"unknown": np.nan, "false": 0.0, "true": 1.0}[leaf.if_missing]
    truth = np.where(missing, fill, truth)
    return truth, missing, shown


def _combine(op: str, parts: list[np.ndarray]) -> np.ndarray:
    m = np.vstack(parts)
    if op == "not":
        return 1.0 - m[0]
    if op == "any":
        return np.where((m == 1).any(0), 1.0, np.where((m == 0).all(0), 0.0, np.nan))
    return np.where((m == 0).any(0), 0.0, np.where((m == 1).all(0), 1.0, np.nan))


def _eval(node: Node | Condition, rule: Rule, data: _Data, leaf_out: dict[int, Any]) -> np.ndarray:
    if isinstance(node, Condition):
        res = _leaf(node, rule, data)
        leaf_out[id(node)] = res
        return res[0]
    return _combine(node.op, [_eval(c, rule, data, leaf_out) for c in node.children])


def _leaf_text(leaf: Condition, x: Any, shown: str) -> str:
    var = SCHEMA.get(leaf.var)
    if var is not None and var.kind == "binary":
        return f"{leaf.var}={'yes' if x == 1 else 'no'}"
    if isinstance(x, str):
        return f"{leaf.var}={x}"
    unit = f" {var.unit}" if var is not None and var.unit else ""
    return f"{leaf.var}={_fmt(float(x))}{unit} ({leaf.op} {shown})"


def _evaluate(rule: Rule, data: _Data) -> tuple[np.ndarray, list[str], list[list[str]]]:
    """Truth per subject, the evidence text of met rows, the missing variables of undecided rows."""
    n = data.n
    if rule.when is None:
        return np.ones(n), [""] * n, [[] for _ in range(n)]
    leaf_out: dict[int, Any] = {}
    truth = _eval(rule.when, rule, data, leaf_out)
    evidence = [""] * n
    missing: list[list[str]] = [[] for _ in range(n)]
    signed = [(leaf, neg, *leaf_out[id(leaf)], data.get(leaf.var, rule))
              for leaf, neg in leaves(rule.when, with_sign=True)]
    for i in np.flatnonzero(truth == 1):
        parts = [_leaf_text(leaf, x[i], shown) for leaf, neg, lt, miss, shown, x in signed
                 if lt[i] == (0.0 if neg else 1.0) and not miss[i]]
        evidence[i] = ", ".join(dict.fromkeys(parts))
    for i in np.flatnonzero(np.isnan(truth)):
        missing[i] = list(dict.fromkeys(leaf.var for leaf, _, _, miss, _, _ in signed
                                        if miss[i] and leaf.if_missing == "unknown"))
    return truth, evidence, missing


# ------------------------------------------------------------------------------ screen
def _rules_for(rules: Sequence[Rule] | str | Path | None, extra: Iterable[str | Path],
               use_defaults: bool) -> tuple[tuple[Rule, ...], list[str]]:
    base = list(default_rules()) if use_defaults else []
    replaced: list[str] = []
    sources: list[Any] = []
    if isinstance(rules, (str, Path)):
        sources.append(rules)
    elif rules is not None:
        base.extend(rules)
    sources.extend(extra)
    for src in sources:
        for r in load_rules(src):
            names = [b.name for b in base]
            if r.name in names:
                base[names.index(r.name)] = r
                replaced.append(r.name)
            else:
                base.append(r)
    if not base:
        raise ConfigError("no screening rules: keep the default rules or pass a rules file (--rules FILE)")
    return tuple(base), replaced


def screen(df: pd.DataFrame, regimen: str | Regimen, *, rules: Sequence[Rule] | str | Path | None = None,
           rule_files: Iterable[str | Path] = (), use_default_rules: bool = True,
           params: Mapping[str, float | str] | None = None, source: str = "clinical table",
           id_column: str = "subject_id") -> ScreeningResult:
    """Screen every subject of ``df`` for ``regimen``.

    Parameters
    ----------
    df : DataFrame
        Clinical table (spreadsheet headers and units are accepted: ``Serum calcium (mg/dL)``
        is converted to mmol/L by :func:`parse_clinical`), one row per subject, with ``id_column``.
    regimen : str or Regimen
        E.g. ``"estrogen+calcitriol"``, ``"alendronate"``, ``"denosumab"``.
    rules : sequence of Rule, or a rules file path, optional
        Rules added to (or, with the same name, replacing) the defaults.
    rule_files : iterable of path
        More rule files, applied in order.
    use_default_rules : bool
        Start from the shipped rules (``screening_rules.yaml``).
    params : mapping, optional
        Threshold overrides, ``{"hypercalcaemia.upper_limit": "10.5 mg/dL"}``.
    source : str
        Name used in error messages.
    id_column : str

    Returns
    -------
    ScreeningResult

    Raises
    ------
    ConfigError
        Bad regimen name, rules file or parameter.
    ClinicalValueError
        Missing id column, duplicated ids, impossible clinical values.
    """
    import pandas as pd

    from ._parse import parse_clinical

    reg = regimen if isinstance(regimen, Regimen) else parse_regimen(regimen)
    all_rules, replaced = _rules_for(rules, rule_files, use_default_rules)
    if params:
        all_rules = set_params(all_rules, params)
    used = tuple(r for r in all_rules if reg.applies(r))
    if id_column not in df.columns:
        raise ClinicalValueError(f"{source}: no {id_column!r} column; screening writes one row per subject "
                                 "and needs their ids")
    ids = df[id_column].astype(str)
    if ids.duplicated().any():
        raise ClinicalValueError(f"{source}: subject_id {ids[ids.duplicated()].iloc[0]!r} appears more than "
                                 "once; keep one row per subject")
    data = _Data(parse_clinical(df, source=source, id_column=id_column, required=()), source)
    n = len(df)
    flags: dict[str, np.ndarray] = {}
    evid: dict[str, list[str]] = {}
    miss: dict[str, list[list[str]]] = {}
    for r in used:
        flags[r.name], evid[r.name], miss[r.name] = _evaluate(r, data)

    kinds = {k: [r for r in used if r.kind == k] for k in ("indication", "exclusion", "caution", "monitoring")}

    def agg(kind: str) -> np.ndarray:
        rs = kinds[kind]
        return _combine("any", [flags[r.name] for r in rs]) if rs else np.zeros(n)

    excl, ind = agg("exclusion"), agg("indication")
    status = np.where(excl == 1, "excluded", np.where(ind == 0, "not_indicated",
                      np.where(np.isnan(excl) | np.isnan(ind), "unknown", "eligible")))
    rows = _rows(ids.tolist(), status.tolist(), ind.tolist(), reg, kinds,
                 {k: v.tolist() for k, v in flags.items()}, evid, miss)
    table = pd.DataFrame(rows, index=df.index)
    table[f"eligible_{reg.slug}"] = table[f"eligible_{reg.slug}"].astype("Int64")
    for r in used:
        if r.kind != "monitoring":
            table[f"rule_{r.name}"] = pd.array([None if math.isnan(v) else int(v) for v in flags[r.name]],
                                               dtype="Int64")
    summary = _summary(used, flags, n)
    flow = _flow(table, used, flags)
    info = {"replaced_default_rules": replaced, "n_subjects": n,
            "rules_not_applied": [r.name for r in all_rules if r not in used]}
    return ScreeningResult(table.reset_index(drop=True), summary, flow, reg, used, info)


def _rows(ids: list[str], status: list[str], ind: list[float], reg: Regimen, kinds: Mapping[str, list[Rule]],
          flags: Mapping[str, list[float]], evid: Mapping[str, list[str]],
          miss: Mapping[str, list[list[str]]]) -> list[dict[str, Any]]:
    """The screening.csv rows (text columns) from the per-rule flags, evidence and missing lists."""
    nan = math.isnan

    def joined(kind: str, i: int) -> str:
        return "; ".join(f"{r.name}: {evid[r.name][i]}" if evid[r.name][i] else r.name
                         for r in kinds[kind] if flags[r.name][i] == 1)

    rows = []
    for i, sid in enumerate(ids):
        blocking: list[Rule] = []
        if status[i] == "unknown":
            scope = kinds["exclusion"] if ind[i] == 1 else kinds["exclusion"] + kinds["indication"]
            blocking = [r for r in scope if nan(flags[r.name][i])]
        mvars = dict.fromkeys(v for r in blocking for v in miss[r.name][i])
        if ind[i] == 1:
            indicated, reason = "yes", joined("indication", i)
        elif ind[i] == 0:
            indicated, reason = "no", "no indication criterion met"
        else:
            indicated = "unknown"
            reason = "undecided: missing " + ", ".join(dict.fromkeys(
                v for r in kinds["indication"] for v in miss[r.name][i]))
        rows.append({
            "subject_id": sid, "regimen": reg.text, "status": status[i],
            f"eligible_{reg.slug}": 1 if status[i] == "eligible" else (None if status[i] == "unknown" else 0),
            "indicated": indicated, "indication_reason": reason,
            "exclusions": joined("exclusion", i), "cautions": joined("caution", i),
            "missing": "; ".join(mvars),
            "undecided_rules": "; ".join(r.name for r in blocking),
            "cautions_unassessed": "; ".join(r.name for r in kinds["caution"] if nan(flags[r.name][i])),
            "monitoring": "; ".join(r.name for r in kinds["monitoring"] if flags[r.name][i] != 0),
            "n_exclusions": sum(flags[r.name][i] == 1 for r in kinds["exclusion"]),
            "n_cautions": sum(flags[r.name][i] == 1 for r in kinds["caution"]),
        })
    return rows


def _summary(used: Sequence[Rule], flags: Mapping[str, np.ndarray], n: int) -> pd.DataFrame:
    import pandas as pd

    rows = []
    for r in used:
        f = flags[r.name]
        rows.append({
            "rule": r.name, "kind": r.kind, "component": "+".join(r.components),
            "variables": ", ".join(f"{v} ({SCHEMA[v].unit})" if v in SCHEMA and SCHEMA[v].unit else v
                                   for v in r.variables),
            "parameters": "; ".join(f"{k}={p.value:g} {p.unit}".strip() if isinstance(p.value, float)
                                    else f"{k}={p.value}" for k, p in r.params.items()),
            "met": int((f == 1).sum()), "not_met": int((f == 0).sum()), "undecided": int(np.isnan(f).sum()),
            "description": r.action if r.kind == "monitoring" else r.description, "source": r.source,
        })
    return pd.DataFrame(rows)


def _flow(table: pd.DataFrame, used: Sequence[Rule],
          flags: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    """Eligibility-flow steps: screened → excluded → not indicated → undecided → eligible."""
    st = table["status"].to_numpy()
    n = len(st)

    def by_rule(mask: np.ndarray, kind: str) -> dict[str, int]:
        out = {r.name: int(((flags[r.name] == 1) & mask).sum()) for r in used if r.kind == kind}
        return {k: v for k, v in sorted(out.items(), key=lambda kv: -kv[1]) if v}

    unk = st == "unknown"
    missing: dict[str, int] = {}
    for i in np.flatnonzero(unk):
        for v in (table["missing"].iloc[i] or "").split("; "):
            if v:
                missing[v] = missing.get(v, 0) + 1
    elig = st == "eligible"
    n_ex = int((st == "excluded").sum())
    n_ni = int((st == "not_indicated").sum())
    return [
        {"step": "screened", "label": "Subjects screened", "n": n},
        {"step": "excluded", "label": "Excluded: exclusion criterion met", "n": n_ex,
         "by": by_rule(st == "excluded", "exclusion"), "side": True},
        {"step": "remaining", "label": "No exclusion criterion met", "n": n - n_ex},
        {"step": "not_indicated", "label": "Not indicated", "n": n_ni, "side": True},
        {"step": "assessed", "label": "Indicated or undecided", "n": n - n_ex - n_ni},
        {"step": "unknown", "label": "Undecided: missing data", "n": int(unk.sum()),
         "by": dict(sorted(missing.items(), key=lambda kv: -kv[1])), "side": True},
        {"step": "eligible", "label": "Eligible", "n": int(elig.sum()),
         "by": {"with ≥1 caution": int((elig & (table["n_cautions"].to_numpy() > 0)).sum())}},
    ]

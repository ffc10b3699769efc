"""Screening outputs: CSV tables, the eligibility-flow diagram (PNG), an HTML page, run.json;
and the population filter that ``bonenet evaluate`` / ``bonenet baseline`` apply.

A research tool for defining study populations, not a prescribing aid.
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._atomic import atomic_path, write_text_atomic
from ..errors import ClinicalValueError
from ._screen import DISCLAIMER, STATUSES, ScreeningResult

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = ["filter_population", "flow_figure", "population_ids", "read_screening", "write_screening"]


_FORMULA = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def _csv_safe(v: Any) -> Any:
    """OWASP CSV-injection guard: text a spreadsheet would run as a formula gets a leading '."""
    if isinstance(v, str) and v.startswith(_FORMULA) and not _NUMBER.fullmatch(v):
        return "'" + v
    return v


def _csv(df: pd.DataFrame) -> str:
    out = df.copy()
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].map(_csv_safe)
    return out.to_csv(index=False, float_format="%.6g", lineterminator="\n")


def flow_figure(result: ScreeningResult, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Draw the eligibility flow (CONSORT style: main column, exclusions to the side) as a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    steps = {s["step"]: s for s in result.flow}
    main = [steps["screened"], steps["remaining"], steps["assessed"], steps["eligible"]]
    side = [steps["excluded"], steps["not_indicated"], steps["unknown"]]

    def text(s: dict[str, Any], top: int = 6) -> str:
        lines = [f"{s['label']} (n = {s['n']})"]
        by = list((s.get("by") or {}).items())
        if s["step"] == "excluded" and sum(v for _, v in by) > s["n"]:
            lines.append("  (a subject may meet several)")
        if s["step"] == "unknown" and by:
            lines.append("  subjects missing:")
        for k, v in by[:top]:
            lines.append(f"  {k}: {v}")
        if len(by) > top:
            lines.append(f"  … {len(by) - top} more")
        return "\n".join(lines)

    fig, ax = plt.subplots(figsize=(10, 8.2))
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    ax.axis("off")
    ys = [9.1, 6.5, 3.9, 1.1]
    box = {"boxstyle": "round,pad=0.5", "fc": "#eef3fb", "ec": "#2b4c7e", "lw": 1.2}
    sbox = {"boxstyle": "round,pad=0.5", "fc": "#fbf1ea", "ec": "#9c4a1a", "lw": 1.2}
    for s, y in zip(main, ys, strict=True):
        ax.text(2.6, y, text(s), ha="center", va="center", fontsize=10, bbox=box)
    for a, b in itertools.pairwise(ys):
        ax.annotate("", xy=(2.6, b + 0.55), xytext=(2.6, a - 0.45),
                    arrowprops={"arrowstyle": "-|>", "color": "#2b4c7e", "lw": 1.3})
    for s, y in zip(side, [(ys[0] + ys[1]) / 2, (ys[1] + ys[2]) / 2, (ys[2] + ys[3]) / 2], strict=True):
        ax.annotate("", xy=(5.4, y), xytext=(2.6, y),
                    arrowprops={"arrowstyle": "-|>", "color": "#9c4a1a", "lw": 1.1})
        ax.text(5.5, y, text(s), ha="left", va="center", fontsize=9, bbox=sbox)
    ax.set_title(title or f"Eligibility flow: {result.regimen.text}", fontsize=12, loc="left")
    fig.text(0.01, 0.01, "bonenet screening: a research tool for defining study populations, "
                         "not a prescribing aid", fontsize=7.5, color="#555555")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def _table_html(df: pd.DataFrame, max_rows: int | None = None) -> str:
    shown = df if max_rows is None else df.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape('' if _blank(v) else str(v))}</td>" for v in row)
                   + "</tr>" for row in shown.itertuples(index=False))
    more = (f"<p>… {len(df) - max_rows} more rows in screening.csv</p>"
            if max_rows is not None and len(df) > max_rows else "")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def _blank(v: Any) -> bool:
    try:
        return v is None or bool(v != v)  # NaN / NA
    except TypeError:
        return v is None


def _params_table(result: ScreeningResult) -> pd.DataFrame:
    import pandas as pd

    rows = [{"rule": r.name, "parameter": k, "value": p.value, "unit": p.unit, "source": p.source}
            for r in result.rules for k, p in r.params.items()]
    return pd.DataFrame(rows, columns=["rule", "parameter", "value", "unit", "source"])


def _html(result: ScreeningResult, png: bytes, input_name: str) -> str:
    c = result.counts
    counts = " · ".join(f"{k.replace('_', ' ')}: <b>{v}</b>" for k, v in c.items())
    mon = [r for r in result.rules if r.kind == "monitoring"]
    mon_html = "".join(f"<li><b>{html.escape(r.name)}</b>: {html.escape(r.action)} "
                       f"<i>({html.escape(r.source)})</i></li>" for r in mon) or "<li>none</li>"
    img = base64.b64encode(png).decode("ascii")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>bonenet screening: {html.escape(result.regimen.text)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1200px}}
table{{border-collapse:collapse;font-size:12px;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 6px;vertical-align:top}}
th{{background:#f3f3f3}}.warn{{background:#fff4e5;border:1px solid #e0a050;padding:0.8em;border-radius:4px}}</style>
</head><body>
<h1>Regimen screening: {html.escape(result.regimen.text)}</h1>
<p class="warn"><b>Not a prescribing aid.</b> {html.escape(DISCLAIMER)}</p>
<p>Input: {html.escape(input_name)} · components: {html.escape(', '.join(result.regimen.components))}
 · subjects: {len(result.table)}</p>
<p>{counts}</p>
<h2>Eligibility flow</h2>
<img alt="eligibility flow" src="data:image/png;base64,{img}" style="max-width:100%">
<h2>Rules applied</h2>
{_table_html(result.summary)}
<h2>Thresholds and their sources</h2>
{_table_html(_params_table(result))}
<h2>Monitoring the regimen calls for</h2><ul>{mon_html}</ul>
<h2>Subjects (first 200)</h2>
{_table_html(result.table.drop(columns=[c for c in result.table.columns if c.startswith('rule_')]), 200)}
</body></html>
"""


def write_screening(result: ScreeningResult, out: str | os.PathLike[str], *,
                    input_name: str = "clinical table") -> dict[str, Path]:
    """Write ``screening.csv``, ``summary.csv``, ``flow.png``, ``screening.html`` and ``run.json``.

    Every file is written atomically. The CSVs hold data only (one header line, no comment
    lines); the disclaimer, rules, parameters and sources go to ``run.json`` and the HTML page.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "screening.csv", "summary": out / "summary.csv", "png": out / "flow.png",
             "html": out / "screening.html", "json": out / "run.json"}
    write_text_atomic(paths["csv"], _csv(result.table))
    write_text_atomic(paths["summary"], _csv(result.summary))
    flow_figure(result, paths["png"])
    png = paths["png"].read_bytes()
    write_text_atomic(paths["html"], _html(result, png, input_name))
    info = {
        "bonenet_version": __import__("bonenet").__version__,
        "disclaimer": DISCLAIMER,
        "input": input_name,
        "regimen": {"text": result.regimen.text, "drugs": list(result.regimen.drugs),
                    "components": list(result.regimen.components)},
        "counts": result.counts,
        "flow": result.flow,
        "eligible_column": f"eligible_{result.regimen.slug}",
        "rules": [{"name": r.name, "kind": r.kind, "components": list(r.components), "drugs": list(r.drugs),
                   "variables": list(r.variables), "description": r.description, "action": r.action,
                   "params": {k: {"value": p.value, "unit": p.unit, "source": p.source} for k, p in r.params.items()},
                   "note": r.note, "source": r.source, "origin": r.origin} for r in result.rules],
        **result.info,
        "files": {k: v.name for k, v in paths.items()},
    }
    write_text_atomic(paths["json"], json.dumps(info, indent=2, ensure_ascii=False, default=str) + "\n")
    return paths


def read_screening(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a ``screening.csv`` written by :func:`write_screening` (ids as strings)."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise ClinicalValueError(f"{path}: screening file not found; make it with `bonenet screen`")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    if "subject_id" in df.columns:  # undo the CSV-injection guard of _csv for joining
        guarded = df["subject_id"].str.match(r"^'[=+\-@\t\r]")
        df.loc[guarded, "subject_id"] = df.loc[guarded, "subject_id"].str[1:]
    for col in ("subject_id", "status"):
        if col not in df.columns:
            raise ClinicalValueError(f"{path}: no {col!r} column; is this a screening.csv from `bonenet screen`?")
    bad = sorted(set(df["status"]) - set(STATUSES))
    if bad:
        raise ClinicalValueError(f"{path}: unknown status value(s) {bad}; expected {', '.join(STATUSES)}")
    return df


def population_ids(path: str | os.PathLike[str], statuses: Sequence[str] = ("eligible",)) -> set[str]:
    """subject_ids of ``path`` (a screening.csv) whose status is one of ``statuses``."""
    bad = [s for s in statuses if s not in STATUSES]
    if bad:
        raise ClinicalValueError(f"population status {bad[0]!r} unknown; use one of {', '.join(STATUSES)}")
    df = read_screening(path)
    return set(df.loc[df["status"].isin(list(statuses)), "subject_id"])


def filter_population(df: pd.DataFrame, path: str | os.PathLike[str], statuses: Sequence[str] = ("eligible",),
                      *, what: str = "table", id_column: str = "subject_id") -> pd.DataFrame:
    """Keep the rows of ``df`` whose subject is in the screened population.

    Raises :class:`ClinicalValueError` when ``df`` has no ``subject_id``, when the screening file
    and ``df`` share no subject (e.g. pseudonymised predictions), or when the population is empty.
    """
    if id_column not in df.columns:
        raise ClinicalValueError(f"{what}: no {id_column!r} column to match against the screening file {path}")
    screened = read_screening(path)
    keep = population_ids(path, statuses)
    ids = df[id_column].astype(str)
    if not ids.isin(set(screened["subject_id"])).any():
        raise ClinicalValueError(
            f"{path}: no subject_id in common with the {what}; screen the same cohort (files from "
            "`bonenet predict` hold pseudonyms unless written with --keep-ids)")
    out = df[ids.isin(keep)]
    if out.empty:
        raise ClinicalValueError(f"{path}: no subject of the {what} has status {', '.join(statuses)}; "
                                 "nothing to evaluate in that population")
    out = out.copy()
    out.attrs["population"] = {"file": str(path), "statuses": list(statuses), "n_before": len(df),
                               "n_after": len(out), "not_screened": int((~ids.isin(set(screened['subject_id']))).sum())}
    return out

"""Turn the metrics dict into Markdown and self-contained HTML tables (plots as base64 PNG)."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

__all__ = ["render_html", "render_markdown", "tables"]


def _f(v: Any, d: int = 3) -> str:
    if isinstance(v, dict) and "undefined" in v:
        return "undefined"
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{d}f}"
    return str(v)


def _ci(e: Any, d: int = 3) -> str:
    if not isinstance(e, dict) or e.get("value") is None:
        return "undefined" if isinstance(e, dict) and "undefined" in e else "–"
    s = _f(e["value"], d)
    if e.get("lower") is not None and e.get("upper") is not None:
        s += f" ({_f(e['lower'], d)}–{_f(e['upper'], d)})"
    return s


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _threshold_note(m: dict[str, Any]) -> str:
    defs = m.get("threshold_definitions", [])
    parts = ["Positive when predicted risk ≥ threshold."]
    for d in defs:
        if d["kind"] == "published":
            parts.append(f"{d['threshold'] * 100:g} %: {d['label']} — {d['source']}.")
        else:
            parts.append(f"{d['label']}.")
    if not defs:
        parts.append(f"No fixed threshold: a generic outcome ({m.get('outcome_type', 'fracture')}) has no "
                     "published threshold; give yours with --thresholds.")
    parts.append("A published threshold applies only to the outcome it was defined for "
                 "(hip ≥ 3 % for 10-year hip fracture, ≥ 20 % for 10-year major osteoporotic fracture).")
    return " ".join(parts)


def tables(m: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]], str]]:
    """(title, header, rows, note) for every table of the report."""
    out = []
    rows = []
    for name, mm in m["models"].items():
        b = mm.get("bootstrap", {})
        a = mm.get("auc_delong", {})
        cal = mm.get("calibration", {})
        auc = "undefined" if "undefined" in a else f"{a['auc']:.3f} ({a['lower']:.3f}–{a['upper']:.3f})"
        citl = "undefined" if "undefined" in cal else f"{cal['citl']:+.3f} ({cal['citl_lower']:+.3f}–{cal['citl_upper']:+.3f})"
        slope = "undefined" if "undefined" in cal else f"{cal['slope']:.3f} ({cal['slope_lower']:.3f}–{cal['slope_upper']:.3f})"
        rows.append([name, auc, _ci(_get(b, "auc")), _ci(_get(b, "auprc")), _ci(_get(b, "brier")),
                     _ci(_get(b, "scaled_brier")), citl, slope, _ci(_get(b, "eo_ratio")),
                     _f(_get(mm, "ici", "ici")), _ci(_get(b, "ece"))])
    out.append(("Discrimination and calibration",
                ["model", "AUC (DeLong CI)", "AUC (bootstrap CI)", "AUPRC", "Brier", "scaled Brier",
                 "calibration-in-the-large", "calibration slope", "E/O", "ICI", "ECE"], rows,
                f"n = {m['n']}, events = {m['events']} (prevalence {m['prevalence']:.3f}); "
                f"{m['n_boot']} stratified bootstrap resamples, seed {m['seed']}. "
                "Ideal: CITL 0, slope 1, E/O 1. ECE is biased upwards under resampling, so its percentile "
                "interval can lie above the point estimate."))
    rows = []
    defs = {f"{d['threshold']:g}": d for d in m.get("threshold_definitions", [])}
    for name, mm in m["models"].items():
        for key, tm in [*mm.get("thresholds", {}).items(), ("Youden", mm.get("youden"))]:
            if not isinstance(tm, dict) or "undefined" in tm:
                rows.append([name, key, *(["undefined"] * 6)])
                continue
            b = mm.get("bootstrap", {})
            lab = key if key == "Youden" else f"{float(key) * 100:g} %"
            if key in defs:
                lab += " (" + ("published: " + defs[key]["label"] if defs[key]["kind"] == "published"
                               else "user-chosen") + ")"
            if key == "Youden":
                lab = f"Youden ({tm['threshold'] * 100:.1f} %)"
            cells = [_ci(_get(b, f"{s}@{key}")) if key != "Youden" else _f(tm.get(s))
                     for s in ("sensitivity", "specificity", "ppv", "npv", "f1")]
            rows.append([name, lab, *cells, _f(tm.get("positive_fraction"))])
    out.append(("Classification at clinical thresholds",
                ["model", "threshold", "sensitivity", "specificity", "PPV", "NPV", "F1", "flagged"], rows,
                _threshold_note(m)))
    rows = []
    for name, mm in m["models"].items():
        b = mm.get("bootstrap", {})
        ia = mm.get("interventions_avoided_per_100", {})
        rows.append([name, *[_ci(_get(b, f"net_benefit@{t}"), 4) for t in ("0.03", "0.1", "0.2")],
                     *[_f(ia.get(t), 1) for t in ("0.03", "0.1", "0.2")]])
    out.append(("Clinical usefulness (decision curve)",
                ["model", "NB @3 %", "NB @10 %", "NB @20 %", "avoided/100 @3 %", "avoided/100 @10 %",
                 "avoided/100 @20 %"], rows,
                "Net benefit against treat-all; interventions avoided per 100 subjects compared with treating all."))
    rows = []
    for name, mm in m["models"].items():
        s = mm.get("survival")
        if not s:
            continue
        c10 = s.get("calibration_10y", {})
        rows.append([name, _ci(s["harrell_c"]), _ci(s.get("wolbers_c")), _ci(s["uno_c_10y"]), _ci(s["td_auc_5y"]),
                     _ci(s["td_auc_10y"]), _ci(s.get("td_auc_cr_10y")),
                     _f(c10.get("observed")) if "undefined" not in c10 else "undefined",
                     _f(c10.get("expected")) if "undefined" not in c10 else "undefined",
                     _f(c10.get("eo_ratio")) if "undefined" not in c10 else "undefined"])
    if rows:
        out.append(("Time to fracture", ["model", "Harrell's C", "Wolbers' C", "Uno's C (τ=10 y)", "AUC(5 y)",
                                         "AUC(10 y)", "AUC(10 y), deaths as controls",
                                         "observed 10-y risk (Aalen–Johansen)", "mean predicted",
                                         "E/O at 10 y"], rows,
                    "Observed risk: Aalen–Johansen cumulative incidence, deaths competing. Harrell's C, Uno's C "
                    "and the cumulative/dynamic AUC (IPCW) treat deaths as censoring (cause-specific); "
                    "Wolbers' C and the competing-risk AUC (Blanche 2013, definition 2; shown when deaths occur) "
                    "keep those who died as fracture-free controls. "
                    "Bootstrap CIs (at most 200 resamples)."))
    rows = []
    for key, comp in m.get("comparisons", {}).items():
        d = comp.get("delong", {})
        r = comp.get("reclassification", {})
        dl = "undefined" if "undefined" in d else f"{d['difference']:+.3f} ({d['lower']:+.3f}–{d['upper']:+.3f}), p={d['p_value']:.3g}"
        rows.append([key.replace("_vs_", " vs "), dl, _ci(_get(r, "nri")), _ci(_get(r, "nri_events")),
                     _ci(_get(r, "nri_non_events")), _ci(_get(r, "cnri")), _ci(_get(r, "idi"), 4)])
    if rows:
        out.append(("Comparison with the reference model",
                    ["comparison", "ΔAUC (DeLong)", "NRI (categorical)", "NRI events", "NRI non-events",
                     "NRI (continuous)", "IDI"], rows, "Categorical NRI uses the risk categories of the table below."))
    for key, comp in m.get("comparisons", {}).items():
        t = comp["table"]
        cats = t["categories"]
        rows = []
        for which in ("events", "non_events"):
            for i, c in enumerate(cats):
                rows.append([which.replace("_", "-"), c, *[str(v) for v in t[which][i]]])
        new, ref = key.split("_vs_")
        out.append((f"Reclassification: {ref} (rows) → {new} (columns)", ["outcome", f"{ref} category", *cats],
                    rows, "Counts of subjects; off-diagonal cells moved category."))
    for gname, per in m.get("subgroups", {}).items():
        rows = []
        for name, groups in per.items():
            for g, gm in groups.items():
                a = gm["auc"]
                cal = gm["calibration"]
                rows.append([g, name, str(gm["n"]), str(gm["events"]),
                             a["undefined"] if "undefined" in a else f"{a['auc']:.3f} ({a['lower']:.3f}–{a['upper']:.3f})",
                             "undefined" if "undefined" in cal else f"{cal['citl']:+.3f}",
                             "undefined" if "undefined" in cal else f"{cal['slope']:.3f}", _f(gm["eo_ratio"])])
        out.append((f"Per {gname.replace('_', ' ')}", [gname, "model", "n", "events", "AUC (DeLong CI)",
                                                      "CITL", "slope", "E/O"], rows, ""))
    rows = []
    for name, ev in m.get("external_validation", {}).items():
        for site, e in ev["external"].items():
            d = e["drift"]
            rows.append([name, site, str(e["n"]), _f(d["auc_retention"]), _f(d["citl_change"]),
                         _f(d["slope_change"]), _f(d["eo_change"])])
    if rows:
        out.append(("External validation: drift from development sites",
                    ["model", "external site", "n", "AUC retention", "ΔCITL", "Δslope", "ΔE/O"], rows,
                    "Retention = AUC(external)/AUC(development); Δ = external − development."))
    out.append(("TRIPOD+AI items covered", ["item", "what this report gives"],
                [[t["item"], t["what"]] for t in m["tripod_ai_items"]],
                "Item numbers per the TRIPOD+AI checklist (Collins et al., BMJ 2024); the other items "
                "(data, participants, model development) belong in the paper itself."))
    return out


_PLOT_TITLES = {"roc": "ROC curves", "calibration": "Calibration", "decision": "Decision curve",
                "risk": "Risk distributions by outcome", "sites": "Per-site discrimination"}


def render_markdown(m: dict[str, Any], pngs: dict[str, Path]) -> str:
    lines = [f"# bonenet evaluation — outcome `{m['outcome']}`", ""]
    if m.get("notice"):
        lines += [f"> {m['notice']}", ""]
    if m.get("warning"):
        lines += [f"> **Warning:** {m['warning']}", ""]
    for title, header, rows, note in tables(m):
        lines += [f"## {title}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        lines += ["", note, ""] if note else [""]
    lines += ["## Plots", ""]
    lines += [f"![{_PLOT_TITLES.get(k, k)}]({p.name})" for k, p in pngs.items()]
    return "\n".join(lines) + "\n"


_CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1300px;color:#222}
table{border-collapse:collapse;margin:.5em 0 .3em;font-size:13px}th,td{border:1px solid #ccc;padding:3px 7px;
text-align:right}th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}p.note{color:#555;
font-size:12px;margin-top:0}img{max-width:100%;border:1px solid #eee;margin:4px}.plots{display:flex;
flex-wrap:wrap}.warn{background:#fff3cd;padding:.5em}"""


def render_html(m: dict[str, Any], pngs: dict[str, Path]) -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>bonenet evaluation</title>"
             f"<style>{_CSS}</style></head><body><h1>bonenet evaluation — outcome <code>{e(m['outcome'])}</code></h1>"]
    if m.get("notice"):
        parts.append(f"<p class='warn'><strong>{e(m['notice'])}</strong></p>")
    if m.get("warning"):
        parts.append(f"<p class='warn'>{e(m['warning'])}</p>")
    parts.append("<div class='plots'>")
    for k, p in pngs.items():
        b64 = base64.b64encode(p.read_bytes()).decode("ascii")
        parts.append(f"<figure><img alt='{e(k)}' src='data:image/png;base64,{b64}'>"
                     f"<figcaption>{e(_PLOT_TITLES.get(k, k))}</figcaption></figure>")
    parts.append("</div>")
    for title, header, rows, note in tables(m):
        parts.append(f"<h2>{e(title)}</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows]
        parts.append("</table>" + (f"<p class='note'>{e(note)}</p>" if note else ""))
    parts.append("</body></html>")
    return "\n".join(parts)

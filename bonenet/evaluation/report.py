"""Evaluate one or more models' predictions and write metrics.json, report.md and report.html.

:func:`evaluate_predictions` computes every metric (with intervals) for every ``p_<model>``
column of a predictions table; :func:`write_report` writes the files, with plots embedded
as base64 PNG so ``report.html`` is self-contained.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._atomic import write_text_atomic
from .._research import OUTCOMES, RESEARCH_NOTICE, default_thresholds, describe_threshold
from ..errors import EvaluationError
from ._checks import as_outcome, as_probability
from .bootstrap import bootstrap_indices, bootstrap_metrics
from .calibration import (
    calibration_curve_binned,
    calibration_curve_lowess,
    calibration_intercept_slope,
    integrated_calibration_index,
)
from .decision import DEFAULT_THRESHOLDS, decision_curve
from .discrimination import (
    delong_auc,
    delong_compare,
    roc_curve,
    threshold_metrics,
    youden_threshold,
)
from .reclassification import DEFAULT_CUTOFFS, reclassification, reclassification_table
from .subgroups import age_bands, external_validation, metrics_by_group, safe_metric
from .survival import calibration_at_horizon, survival_metrics

__all__ = ["TRIPOD_AI_ITEMS", "evaluate_predictions", "write_report"]

TRIPOD_AI_ITEMS = [
    ("12e", "Performance measures used (discrimination, calibration, clinical utility) and for comparing models"),
    ("20b", "Number of participants and outcome events in the evaluation data (per site)"),
    ("23a", "Model performance with confidence intervals, including key subgroups (sex, age band)"),
    ("23b", "Heterogeneity of performance across clusters (sites) and external validation drift"),
    ("12f/24", "Calibration intercept and slope (the quantities a logistic recalibration would update)"),
]


def _roc_band(y: np.ndarray, p: np.ndarray, *, n_boot: int, seed: int, level: float) -> dict[str, list[float]]:
    grid = np.linspace(0, 1, 101)
    tprs = []
    for idx in bootstrap_indices(y, n_boot=n_boot, seed=seed):
        for i in idx:
            fpr, tpr, _ = roc_curve(y[i], p[i])
            tprs.append(np.interp(grid, fpr, tpr))
    a = (1 - level) / 2
    t = np.asarray(tprs)
    return {"fpr": grid.tolist(), "lower": np.quantile(t, a, axis=0).tolist(),
            "upper": np.quantile(t, 1 - a, axis=0).tolist()}


def _model(y: np.ndarray, p: np.ndarray, df: pd.DataFrame, *, n_boot: int, seed: int, level: float,
           thresholds: Sequence[float]) -> tuple[dict[str, Any], dict[str, Any]]:
    m: dict[str, Any] = {}
    curves: dict[str, Any] = {}
    boot = safe_metric(bootstrap_metrics, y, p, n_boot=n_boot, seed=seed, level=level, thresholds=thresholds)
    m["bootstrap"] = boot.to_dict() if hasattr(boot, "to_dict") else boot
    auc = safe_metric(delong_auc, y, p, level=level)
    m["auc_delong"] = auc.to_dict() if hasattr(auc, "to_dict") else auc
    m["calibration"] = safe_metric(calibration_intercept_slope, y, p, level=level)
    m["ici"] = safe_metric(integrated_calibration_index, y, p)
    yt = safe_metric(youden_threshold, y, p)
    if isinstance(yt, tuple):
        m["youden"] = {"j": yt[1], **threshold_metrics(y, p, yt[0])}
    else:
        m["youden"] = yt
    m["thresholds"] = {f"{t:g}": threshold_metrics(y, p, t) for t in thresholds}
    dc = decision_curve(y, p, DEFAULT_THRESHOLDS)
    curves["decision"] = {k: v.tolist() for k, v in dc.items()}
    m["interventions_avoided_per_100"] = {f"{t:g}": float(dc["interventions_avoided_per_100"][i])
                                         for i, t in enumerate(dc["threshold"]) if round(t, 2) in (0.03, 0.1, 0.2)}
    if int(y.sum()) not in (0, y.shape[0]):
        fpr, tpr, _ = roc_curve(y, p)
        curves["roc"] = {"fpr": fpr.tolist(), "tpr": tpr.tolist(),
                         "band": _roc_band(y, p, n_boot=min(n_boot, 200), seed=seed, level=level)}
        curves["calibration_binned"] = {k: v.tolist() for k, v in calibration_curve_binned(y, p, level=level).items()}
        lw = safe_metric(calibration_curve_lowess, y, p, n_boot=min(n_boot, 100), seed=seed, level=level)
        if "undefined" not in lw:
            curves["calibration_lowess"] = {k: v.tolist() for k, v in lw.items()}
    curves["risk"] = {"events": p[y == 1].tolist(), "non_events": p[y == 0].tolist()}
    if {"time_years", "event"} <= set(df.columns):
        t, e = df["time_years"].to_numpy(float), df["event"].to_numpy(float)
        m["survival"] = {
            **survival_metrics(t, e, p, horizons=(5.0, 10.0), tau=10.0, n_boot=min(n_boot, 200), seed=seed,
                               level=level),
            "calibration_10y": safe_metric(calibration_at_horizon, t, e, p, horizon=10.0),
            "note": "observed 10-year risk: Aalen-Johansen cumulative incidence with deaths (event=2) "
                    "competing; Harrell's C, Uno's C and time-dependent AUC treat deaths as censoring "
                    "(cause-specific); Wolbers' C and td_auc_cr (Blanche 2013, definition 2) keep the dead as "
                    "fracture-free controls; CIs from "
                    f"{min(n_boot, 200)} stratified bootstrap resamples",
        }
    return m, curves


def evaluate_predictions(df: pd.DataFrame, *, outcome: str = "fracture", models: Sequence[str] | None = None,
                         reference: str | None = None, site_column: str | None = None,
                         external_sites: Sequence[str] = (), n_boot: int = 1000, seed: int = 0,
                         level: float = 0.95, thresholds: Sequence[float] | None = None,
                         outcome_type: str = "fracture",
                         cutoffs: Sequence[float] = DEFAULT_CUTOFFS,
                         subgroup_columns: Sequence[str] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
    """Compute the full evaluation of every model in a predictions table.

    Parameters
    ----------
    df : DataFrame
        Predictions in the common format: ``subject_id``, the 0/1 ``outcome`` column,
        ``p_<model>`` probability columns, optionally ``site``, ``time_years``, ``event``,
        ``sex``, ``age``.
    outcome : str
        Outcome column (0/1).
    models : sequence of str, optional
        Model names (without ``p_``); default every ``p_`` column.
    reference : str, optional
        Reference model for paired DeLong tests and NRI/IDI of every other model.
    site_column : str, optional
        Column of site labels for per-site metrics.
    external_sites : sequence of str
        Sites held out as external validation (drift is reported against the others).
    n_boot, seed, level : int, int, float
        Bootstrap resamples, their seed, and the confidence level.
    thresholds : sequence of float, optional
        Fixed risk thresholds (probabilities). Default: the published treatment threshold of
        ``outcome_type`` (0.20 for ``"mof"``, 0.03 for ``"hip"``, none for ``"fracture"``).
        Each is labelled with the outcome it was defined for; any other value is labelled as
        the user's (``metrics["threshold_definitions"]``).
    outcome_type : {"fracture", "mof", "hip"}
        What the predictions are the probability of: a 10-year major osteoporotic fracture,
        a 10-year hip fracture, or a generic fracture outcome (no published threshold).
    cutoffs : sequence of float
        Risk-category boundaries of the categorical NRI.
    subgroup_columns : sequence of str
        Further columns to report metrics by (for example a user-declared binary or
        categorical clinical variable such as ``diabetes`` or ``ecog``); blank cells form
        the group ``unknown``, numbers print as integers where they are (``1.0`` → ``1``).

    Returns
    -------
    (metrics, curves)
        ``metrics`` is JSON-ready; ``curves`` holds the arrays the plots are drawn from.
    """
    names = list(models) if models else [c[2:] for c in df.columns if c.startswith("p_")]
    missing = [n for n in names if f"p_{n}" not in df.columns]
    if missing:
        have = [c[2:] for c in df.columns if c.startswith("p_")]
        raise EvaluationError(f"model column(s) {', '.join('p_' + m for m in missing)} not in the predictions; "
                              f"available models: {', '.join(have) or 'none'}")
    if reference is not None and reference not in names:
        if f"p_{reference}" not in df.columns:
            raise EvaluationError(f"--reference {reference!r}: no column p_{reference} in the predictions")
        names.append(reference)
    if df.shape[0] == 0:
        raise EvaluationError("the predictions table has no rows")
    if outcome_type not in OUTCOMES:
        raise EvaluationError(f"outcome type {outcome_type!r} unknown; use one of {', '.join(OUTCOMES)} "
                              "(mof: 10-year major osteoporotic fracture, hip: 10-year hip fracture)")
    thresholds = default_thresholds(outcome_type) if thresholds is None else tuple(thresholds)
    if outcome not in df.columns:
        raise EvaluationError(f"outcome column {outcome!r} not in the predictions "
                              f"(columns: {', '.join(map(str, df.columns))})")
    y = as_outcome(df[outcome].to_numpy(), name=outcome)
    if y.sum() in (0, y.shape[0]):
        raise EvaluationError(
            f"outcome column {outcome!r}: all {y.shape[0]} subjects have {outcome}={int(y[0])}, so "
            "discrimination and calibration are undefined; evaluate a table with both events and "
            "non-events (or check that the right column was given with --outcome)")
    preds = {n: as_probability(df[f"p_{n}"].to_numpy(), name=f"p_{n}", n=y.shape[0]) for n in names}
    metrics: dict[str, Any] = {
        "outcome": outcome, "n": int(y.shape[0]), "events": int(y.sum()),
        "prevalence": float(y.mean()), "n_boot": n_boot, "seed": seed, "level": level,
        "notice": RESEARCH_NOTICE, "outcome_type": outcome_type,
        "thresholds": list(thresholds),
        "threshold_definitions": [describe_threshold(t, outcome_type) for t in thresholds],
        "models": {}, "comparisons": {}, "subgroups": {},
        "tripod_ai_items": [{"item": i, "what": w} for i, w in TRIPOD_AI_ITEMS],
    }
    curves: dict[str, Any] = {"models": {}}
    from .._progress import progress

    for name in progress(names, desc="evaluate models", unit="model"):
        metrics["models"][name], curves["models"][name] = _model(
            y, preds[name], df, n_boot=n_boot, seed=seed, level=level, thresholds=thresholds)
    if reference is not None:
        for name in names:
            if name == reference:
                continue
            comp: dict[str, Any] = {}
            d = safe_metric(delong_compare, y, preds[name], preds[reference], level=level)
            comp["delong"] = d.to_dict() if hasattr(d, "to_dict") else d
            comp["reclassification"] = safe_metric(reclassification, y, preds[name], preds[reference],
                                                   cutoffs=cutoffs, n_boot=n_boot, seed=seed, level=level)
            comp["table"] = reclassification_table(y, preds[name], preds[reference], cutoffs=cutoffs)
            metrics["comparisons"][f"{name}_vs_{reference}"] = comp
    groupings: dict[str, np.ndarray] = {}
    if site_column:
        if site_column not in df.columns:
            raise EvaluationError(f"--site-column {site_column!r} not in the predictions "
                                  f"(columns: {', '.join(map(str, df.columns))})")
        groupings["site"] = df[site_column].to_numpy(dtype=object)
    if "sex" in df.columns:
        groupings["sex"] = df["sex"].fillna("unknown").to_numpy(dtype=object)
    if "age" in df.columns:
        groupings["age_band"] = age_bands(df["age"].to_numpy(float))
    for col in subgroup_columns:
        if col not in df.columns:
            raise EvaluationError(f"--subgroup-column {col!r} not in the predictions (columns: "
                                  f"{', '.join(map(str, df.columns))}); join it from the clinical table")
        groupings[col] = np.array([_group_label(v) for v in df[col].tolist()], dtype=object)
    for gname, g in groupings.items():
        expected = list(external_sites) if gname == "site" else None
        metrics["subgroups"][gname] = {n: metrics_by_group(y, preds[n], g, name=gname, expected=expected)
                                       for n in names}
    if external_sites:
        if not site_column:
            raise EvaluationError("--external-site needs --site-column to know which subjects belong to which site")
        metrics["external_validation"] = {n: external_validation(y, preds[n], groupings["site"],
                                                                 external=list(external_sites)) for n in names}
    return metrics, curves


def _group_label(v: Any) -> str:
    """A subgroup label: blank → ``unknown``; ``1.0`` → ``1``; text as it is."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)) or str(v).strip() == "":
        return "unknown"
    if isinstance(v, float | np.floating) and float(v).is_integer():
        return str(int(v))
    return str(v)


def _jsonable(o: Any) -> Any:
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_jsonable(v) for v in o]
    if isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def _md_text(o: Any) -> Any:
    """``o`` with every string made inert in Markdown: HTML escaped (ids and site names are
    data, never markup), ``|`` escaped (table cells) and line breaks flattened."""
    import html

    if isinstance(o, str):
        return html.escape(o, quote=False).replace("|", "\\|").replace("\r", " ").replace("\n", " ")
    if isinstance(o, dict):
        return {_md_text(k): _md_text(v) for k, v in o.items()}
    if isinstance(o, tuple):
        return tuple(_md_text(v) for v in o)
    if isinstance(o, list):
        return [_md_text(v) for v in o]
    return o


def write_report(metrics: dict[str, Any], curves: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write ``metrics.json``, ``report.md``, ``report.html`` and the PNG plots into ``out_dir``."""
    from ._plots import make_plots
    from ._render import render_html, render_markdown

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pngs = make_plots(metrics, curves, out)
    paths = {"metrics": write_text_atomic(out / "metrics.json", json.dumps(_jsonable(metrics), indent=2))}
    paths["markdown"] = write_text_atomic(out / "report.md", render_markdown(_md_text(metrics), pngs))
    paths["html"] = write_text_atomic(out / "report.html", render_html(metrics, pngs))
    return paths


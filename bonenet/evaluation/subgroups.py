"""Per-subgroup and per-site metrics, and the drift from development to external sites.

A group too small or with one outcome class gets its metrics reported as undefined with
the reason, never dropped silently and never given a made-up number.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import EvaluationError
from ._checks import MetricUndefinedError, as_outcome, as_probability
from .calibration import brier_score, calibration_intercept_slope, expected_observed_ratio
from .discrimination import delong_auc

__all__ = ["age_bands", "external_validation", "metrics_by_group", "safe_metric"]


def safe_metric(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call a metric; if it is undefined for these data return ``{"undefined": reason}``."""
    try:
        return fn(*args, **kwargs)
    except MetricUndefinedError as exc:
        return {"undefined": str(exc)}


def _core(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {"n": int(y.shape[0]), "events": int(y.sum())}
    if y.shape[0] == 0:
        reason = "no subjects in this group"
        return {**out, "auc": {"undefined": reason}, "calibration": {"undefined": reason},
                "eo_ratio": {"undefined": reason}, "brier": {"undefined": reason}}
    auc = safe_metric(delong_auc, y, p)
    out["auc"] = auc.to_dict() if hasattr(auc, "to_dict") else auc
    out["calibration"] = safe_metric(calibration_intercept_slope, y, p)
    out["eo_ratio"] = safe_metric(expected_observed_ratio, y, p)
    out["brier"] = safe_metric(brier_score, y, p)
    out["mean_predicted"] = float(p.mean())
    out["observed_rate"] = float(y.mean())
    return out


def metrics_by_group(y: object, p: object, groups: object, *, name: str = "group",
                     expected: Sequence[object] | None = None) -> dict[str, dict[str, Any]]:
    """AUROC (DeLong CI), calibration intercept/slope, E/O and Brier for each group.

    ``expected`` lists groups that must be reported even when no subject belongs to them
    (for example every site of the study); they appear with undefined metrics.
    """
    yy = as_outcome(y)
    pp = as_probability(p, n=yy.shape[0])
    g = np.asarray(groups, dtype=object)
    if g.shape[0] != yy.shape[0]:
        raise EvaluationError(f"{name}: {g.shape[0]} labels for {yy.shape[0]} subjects")
    missing = np.array([v is None or (isinstance(v, float) and np.isnan(v)) or str(v) == "" for v in g])
    if missing.any():
        raise EvaluationError(f"{name}: {int(missing.sum())} subject(s) without a {name} value "
                              f"(first at row {int(np.argmax(missing))}); fill it in or drop --{name}-column")
    labels = sorted({str(v) for v in g} | {str(v) for v in (expected or ())})
    gs = np.array([str(v) for v in g])
    return {lab: _core(yy[gs == lab], pp[gs == lab]) for lab in labels}


def age_bands(age: object, *, edges: Sequence[float] = (50, 60, 70, 80)) -> np.ndarray:
    """Label ages (years) with bands such as ``"<50"``, ``"50–59"``, ..., ``"≥80"``."""
    a = np.asarray(age, dtype=float)
    e = list(edges)
    names = [f"<{e[0]:g}"] + [f"{lo:g}–{hi - 1:g}" for lo, hi in itertools.pairwise(e)] + [f"≥{e[-1]:g}"]
    idx = np.searchsorted(np.asarray(e), a, side="right")
    out = np.array([names[i] for i in idx], dtype=object)
    out[~np.isfinite(a)] = "unknown"
    return out


def external_validation(y: object, p: object, site: object, *, external: Sequence[str]) -> dict[str, Any]:
    """Compare development sites (all others) with each external site and all external pooled.

    Reports AUROC retention (AUC_external / AUC_development) and calibration drift (change of
    calibration-in-the-large, slope and E/O) from development to external.
    """
    yy = as_outcome(y)
    pp = as_probability(p, n=yy.shape[0])
    s = np.array([str(v) for v in np.asarray(site, dtype=object)])
    ext = [str(e) for e in external]
    unknown = [e for e in ext if e not in set(s)]
    is_ext = np.isin(s, ext)
    dev = _core(yy[~is_ext], pp[~is_ext])
    res: dict[str, Any] = {"development": dev, "external": {}}
    for name, mask in [*((e, s == e) for e in ext), *((("pooled external", is_ext),) if len(ext) > 1 else ())]:
        cur = _core(yy[mask], pp[mask])
        if name in unknown:
            cur["note"] = f"site {name!r} has no subjects in the predictions"
        drift: dict[str, Any] = {}
        a_dev, a_ext = dev["auc"].get("auc"), cur["auc"].get("auc")
        drift["auc_retention"] = a_ext / a_dev if a_dev and a_ext is not None else None
        for key in ("citl", "slope"):
            vd, ve = dev["calibration"].get(key), cur["calibration"].get(key)
            drift[f"{key}_change"] = ve - vd if vd is not None and ve is not None else None
        ed, ee = dev["eo_ratio"], cur["eo_ratio"]
        drift["eo_change"] = ee - ed if isinstance(ed, float) and isinstance(ee, float) else None
        res["external"][name] = {**cur, "drift": drift}
    return res

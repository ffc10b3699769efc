"""Time-to-event metrics: Harrell's and Uno's C, time-dependent AUC, calibration at a horizon.

Inputs: ``time`` (years to fracture or censoring), ``event`` (1 = fracture; 0 = censored;
2 = death, a competing event) and ``risk`` (a predicted risk, higher = earlier fracture,
for example the 10-year probability). Deaths are treated as censoring (cause-specific
analysis): observed risks from Kaplan–Meier then somewhat overstate the cumulative
incidence when deaths are common — say so when reporting.

Censoring weights use the Kaplan–Meier estimate G of the censoring distribution (every
non-fracture counts as censored), evaluated just before each time (G(t−)).
"""

from __future__ import annotations

import numba
import numpy as np
from scipy import stats

from ..errors import EvaluationError
from ._checks import MetricUndefinedError, as_probability

__all__ = ["calibration_at_horizon", "harrell_c", "kaplan_meier", "survival_metrics", "time_dependent_auc",
           "uno_c"]


def _inputs(time: object, event: object, risk: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float)
    if t.ndim != 1 or t.shape != e.shape:
        raise EvaluationError(f"time and event must be 1-D arrays of one length, got {t.shape} and {e.shape}")
    bad = ~np.isfinite(t) | (t < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise EvaluationError(f"time_years: {int(bad.sum())} missing or negative value(s) (first at row {i}: "
                              f"{t[i]!r}); follow-up times must be known and ≥ 0 years")
    badev = ~np.isin(e, (0, 1, 2))
    if badev.any():
        i = int(np.argmax(badev))
        raise EvaluationError(f"event: value {e[i]!r} at row {i}; use 0 (censored), 1 (fracture), 2 (death)")
    r = np.asarray(risk, dtype=float)
    if r.shape != t.shape or not np.all(np.isfinite(r)):
        raise EvaluationError("risk: expected one finite predicted risk per subject")
    return t, (e == 1).astype(np.int64), r


def kaplan_meier(time: np.ndarray, event: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kaplan–Meier survival: (distinct event times, S(t) just after each, Greenwood variance)."""
    t = np.asarray(time, dtype=float)
    d = np.asarray(event, dtype=np.int64)
    ut, inv = np.unique(t, return_inverse=True)
    deaths = np.bincount(inv, weights=d, minlength=ut.shape[0])
    leaving = np.bincount(inv, minlength=ut.shape[0]).astype(float)
    at_risk = leaving[::-1].cumsum()[::-1]
    keep = deaths > 0
    h = deaths[keep] / at_risk[keep]
    s = np.cumprod(1 - h)
    with np.errstate(divide="ignore", invalid="ignore"):
        gw = np.cumsum(np.where(at_risk[keep] > deaths[keep],
                                deaths[keep] / (at_risk[keep] * (at_risk[keep] - deaths[keep])), 0.0))
    return ut[keep], s, s * s * gw


def _step(times: np.ndarray, surv: np.ndarray, at: np.ndarray, *, left: bool) -> np.ndarray:
    """Evaluate a right-continuous step function S at ``at`` (or its left limit S(at−))."""
    i = np.searchsorted(times, at, side="left" if left else "right")
    return np.r_[1.0, surv][i]


def _censoring_weights(t: np.ndarray, d: np.ndarray) -> np.ndarray:
    gt, gs, _ = kaplan_meier(t, 1 - d)
    return _step(gt, gs, t, left=True)


@numba.njit(cache=True)
def _concordance(t, d, rrank, w, tau, n_ranks):
    order = np.argsort(-t, kind="mergesort")
    tree = np.zeros(n_ranks + 1)
    num = 0.0
    den = 0.0
    n = t.shape[0]
    s = 0
    while s < n:
        e = s
        while e + 1 < n and t[order[e + 1]] == t[order[s]]:
            e += 1
        for q in range(s, e + 1):  # censored at this time: assumed to outlive fractures at it
            i = order[q]
            if d[i] == 0:
                k = rrank[i] + 1
                while k <= n_ranks:
                    tree[k] += 1.0
                    k += k & (-k)
        total = 0.0
        k = n_ranks
        while k > 0:
            total += tree[k]
            k -= k & (-k)
        for q in range(s, e + 1):
            i = order[q]
            if d[i] == 1 and t[i] < tau:
                lower = 0.0
                k = rrank[i]
                while k > 0:
                    lower += tree[k]
                    k -= k & (-k)
                upto = 0.0
                k = rrank[i] + 1
                while k > 0:
                    upto += tree[k]
                    k -= k & (-k)
                num += w[i] * (lower + 0.5 * (upto - lower))
                den += w[i] * total
        for q in range(s, e + 1):
            i = order[q]
            if d[i] == 1:
                k = rrank[i] + 1
                while k <= n_ranks:
                    tree[k] += 1.0
                    k += k & (-k)
        s = e + 1
    return num, den


def _c(t: np.ndarray, d: np.ndarray, r: np.ndarray, w: np.ndarray, tau: float, what: str) -> float:
    _, rrank = np.unique(r, return_inverse=True)
    num, den = _concordance(t, d, rrank.astype(np.int64), w, tau, int(rrank.max()) + 1)
    if den == 0:
        raise MetricUndefinedError(f"{what} is undefined: no comparable pairs (no fractures before the horizon)")
    return float(num / den)


def harrell_c(time: object, event: object, risk: object) -> float:
    """Harrell's concordance: P(risk_i > risk_j | subject i fractures before j's time).

    Risk ties count one half; a subject censored at the same time as a fracture is assumed
    to outlive it (as lifelines does).
    """
    t, d, r = _inputs(time, event, risk)
    return _c(t, d, r, np.ones_like(t), np.inf, "Harrell's C")


def uno_c(time: object, event: object, risk: object, *, tau: float = 10.0) -> float:
    """Uno's C (Uno et al., Stat Med 2011): IPCW-weighted concordance truncated at ``tau`` years.

    Unlike Harrell's C it does not depend on the censoring distribution.
    """
    t, d, r = _inputs(time, event, risk)
    g = _censoring_weights(t, d)
    with np.errstate(divide="ignore"):
        w = np.where(g > 0, 1.0 / (g * g), 0.0)
    return _c(t, d, r, w, tau, "Uno's C")


def time_dependent_auc(time: object, event: object, risk: object, *, horizon: float) -> float:
    """Cumulative/dynamic AUC at ``horizon`` years with IPCW (Uno et al. 2007; Blanche et al. 2013).

    Cases fractured by the horizon (weight 1/G(T−)); controls are still fracture-free after it.
    """
    t, d, r = _inputs(time, event, risk)
    g = _censoring_weights(t, d)
    case = (t <= horizon) & (d == 1) & (g > 0)
    ctrl = t > horizon
    if not case.any() or not ctrl.any():
        raise MetricUndefinedError(f"time-dependent AUC at {horizon:g} years is undefined: "
                                   f"{int(case.sum())} cases and {int(ctrl.sum())} controls")
    rc = np.sort(r[ctrl])
    below = np.searchsorted(rc, r[case], side="left")
    ties = np.searchsorted(rc, r[case], side="right") - below
    w = 1.0 / g[case]
    return float(np.sum(w * (below + 0.5 * ties)) / (w.sum() * rc.shape[0]))


def calibration_at_horizon(time: object, event: object, risk: object, *, horizon: float = 10.0,
                           n_bins: int = 10, level: float = 0.95) -> dict[str, object]:
    """Predicted risk against Kaplan–Meier observed risk at ``horizon`` per risk group.

    ``risk`` must be the predicted probability of fracture by ``horizon`` years. Returns the
    per-group mean predicted risk, observed 1 − KM(horizon) with a Greenwood interval, and
    overall observed/expected.
    """
    t, d, r = _inputs(time, event, risk)
    p = as_probability(r, name="risk")
    edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    b = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    z = stats.norm.ppf(0.5 + level / 2)
    rows = []
    for q in np.unique(b):
        m = b == q
        kt, ks, kv = kaplan_meier(t[m], d[m])
        s = float(_step(kt, ks, np.array([horizon]), left=False)[0])
        v = float(_step(kt, kv, np.array([horizon]), left=False)[0]) if kt.size else 0.0
        se = np.sqrt(max(v, 0.0))
        rows.append({"n": int(m.sum()), "mean_predicted": float(p[m].mean()), "observed": 1 - s,
                     "lower": max(0.0, 1 - s - z * se), "upper": min(1.0, 1 - s + z * se)})
    kt, ks, _ = kaplan_meier(t, d)
    obs = 1 - float(_step(kt, ks, np.array([horizon]), left=False)[0])
    exp = float(p.mean())
    return {"horizon_years": horizon, "groups": rows, "observed": obs, "expected": exp,
            "eo_ratio": exp / obs if obs > 0 else None}


def survival_metrics(time: object, event: object, risk: object, *, horizons: tuple[float, ...] = (5.0, 10.0),
                     tau: float = 10.0, n_boot: int = 200, seed: int = 0, level: float = 0.95) -> dict[str, dict[str, object]]:
    """Harrell's C, Uno's C and time-dependent AUCs with stratified-bootstrap percentile CIs.

    Resamples are stratified by fracture status and recompute the censoring weights each
    time. A metric undefined on the full data is reported as ``{"undefined": reason}``.
    """
    from .bootstrap import bootstrap_indices

    t, d, r = _inputs(time, event, risk)
    fns = {"harrell_c": lambda tt, dd, rr: harrell_c(tt, dd, rr),
           f"uno_c_{tau:g}y": lambda tt, dd, rr: uno_c(tt, dd, rr, tau=tau)}
    for h in horizons:
        fns[f"td_auc_{h:g}y"] = lambda tt, dd, rr, h=h: time_dependent_auc(tt, dd, rr, horizon=h)
    out: dict[str, dict[str, object]] = {}
    samples: dict[str, list[float]] = {}
    for name, fn in fns.items():
        try:
            out[name] = {"value": fn(t, d, r)}
            samples[name] = []
        except MetricUndefinedError as exc:
            out[name] = {"undefined": str(exc)}
    if n_boot and samples:
        for blk in bootstrap_indices(d, n_boot=n_boot, seed=seed):
            for i in blk:
                for name in samples:
                    try:
                        samples[name].append(fns[name](t[i], d[i], r[i]))
                    except MetricUndefinedError:
                        samples[name].append(float("nan"))
        a = (1 - level) / 2
        for name, s in samples.items():
            v = np.asarray(s)
            fin = v[np.isfinite(v)]
            if fin.size:
                out[name]["lower"], out[name]["upper"] = float(np.quantile(fin, a)), float(np.quantile(fin, 1 - a))
            if fin.size < v.size:
                out[name]["undefined_resamples"] = int(v.size - fin.size)
    return out

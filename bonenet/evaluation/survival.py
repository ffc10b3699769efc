"""Time-to-event metrics: Harrell's and Uno's C, time-dependent AUC, calibration at a horizon.

Inputs: ``time`` (years to fracture or censoring), ``event`` (1 = fracture; 0 = censored;
2 = death, a competing event) and ``risk`` (a predicted risk, higher = earlier fracture,
for example the 10-year probability).

How competing deaths are treated:

- ``calibration_at_horizon`` compares predictions with the **Aalen–Johansen cumulative
  incidence** of fracture (deaths are a competing event, not censoring): 1 − Kaplan–Meier
  with deaths censored would estimate the risk in a world without death and overstate it.
- ``harrell_c``, ``uno_c`` and ``time_dependent_auc`` are *cause-specific*: a death counts as
  censoring at the time of death, so a subject who died is compared only with fractures
  before their death. ``wolbers_c`` is the competing-risk concordance (Wolbers et al.,
  Epidemiology 2009): a subject who died stays comparable with every later fracture (they
  never fractured), which is what a cumulative-incidence prediction should be judged on.
  The two differ when deaths are common among people with high predicted risk.
  ``competing_td_auc`` is the competing-risk cumulative/dynamic AUC of Blanche et al.
  (Stat Med 2013): cases fractured by the horizon; controls either everyone without a
  fracture by then, the dead included (definition 2, the default, the one that matches a
  cumulative-incidence prediction), or only those alive and fracture-free (definition 1);
  censoring weights from the censoring distribution alone (deaths are not censoring).

Censoring weights use the Kaplan–Meier estimate G of the censoring distribution (every
non-fracture counts as censored), evaluated just before each time (G(t−)).
"""

from __future__ import annotations

import numba
import numpy as np
from scipy import stats

from ..errors import EvaluationError
from ._checks import MetricUndefinedError, as_probability

__all__ = ["aalen_johansen", "calibration_at_horizon", "competing_td_auc", "harrell_c", "kaplan_meier",
           "survival_metrics", "time_dependent_auc", "uno_c", "wolbers_c"]


def _numbers(values: object, name: str) -> np.ndarray:
    """``values`` as a float array, or an EvaluationError naming the column and the first bad cell."""
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        cells = np.asarray(values, dtype=object).ravel()
        for i, v in enumerate(cells):
            try:
                float(v)
            except (TypeError, ValueError):
                raise EvaluationError(f"{name}: value {str(v)[:40]!r} at row {i} is not a number; "
                                      f"the column must hold numbers only") from None
        raise EvaluationError(f"{name}: expected a 1-D column of numbers") from None


def _inputs(time: object, event: object, risk: object, *, codes: bool = False
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Checked (time, event, risk); ``event`` is 0/1 fracture unless ``codes`` (then 0/1/2)."""
    t, e = (_numbers(v, name) for v, name in ((time, "time_years"), (event, "event")))
    if t.ndim != 1 or t.shape != e.shape:
        raise EvaluationError(f"time and event must be 1-D arrays of one length, got {t.shape} and {e.shape}")
    bad = ~np.isfinite(t) | (t < 0)
    if bad.any():
        i = int(np.argmax(bad))
        raise EvaluationError(f"time_years: {int(bad.sum())} missing or negative value(s) (first at row {i}: "
                              f"{float(t[i]):g}); follow-up times must be known and ≥ 0 years")
    badev = ~np.isin(e, (0, 1, 2))
    if badev.any():
        i = int(np.argmax(badev))
        raise EvaluationError(f"event: value {float(e[i]):g} at row {i}; use 0 (censored), 1 (fracture), "
                              "2 (death)")
    r = _numbers(risk, "risk")
    if r.shape != t.shape or not np.all(np.isfinite(r)):
        raise EvaluationError("risk: expected one finite predicted risk per subject")
    return t, (e.astype(np.int64) if codes else (e == 1).astype(np.int64)), r


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


def aalen_johansen(time: object, event: object, *, cause: int = 1
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Aalen–Johansen cumulative incidence of ``cause`` with competing events.

    ``event``: 0 censored, 1 fracture, 2 death (any other non-zero code competes with
    ``cause``). ``F(t) = Σ_{t_j ≤ t} S(t_{j−1}) d_{cj} / n_j`` with S the all-cause
    Kaplan–Meier survival; the variance is the delta-method estimator of Marubini &
    Valsecchi (Analysing Survival Data from Clinical Trials, 1995, §10.2).

    Returns
    -------
    times, cif, variance : ndarray
        The distinct event times (any cause) and F and Var(F) just after each.
    """
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=np.int64)
    ut, inv = np.unique(t, return_inverse=True)
    d_all = np.bincount(inv, weights=(e != 0), minlength=ut.shape[0])
    d_c = np.bincount(inv, weights=(e == cause), minlength=ut.shape[0])
    leaving = np.bincount(inv, minlength=ut.shape[0]).astype(float)
    at_risk = leaving[::-1].cumsum()[::-1]
    keep = d_all > 0
    n, d, dc = at_risk[keep], d_all[keep], d_c[keep]
    s = np.cumprod(1.0 - d / n)
    s_prev = np.r_[1.0, s[:-1]]
    f = np.cumsum(s_prev * dc / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(n > d, d / (n * (n - d)), 0.0)
    a = s_prev * s_prev * dc * (n - dc) / n ** 3
    b = s_prev * dc / (n * n)
    # Var F(t_k) = Σ_{j≤k} [(F_k − F_j)² g_j + a_j − 2 (F_k − F_j) b_j], expanded in cumulative sums
    c_g, c_fg, c_ffg = np.cumsum(g), np.cumsum(f * g), np.cumsum(f * f * g)
    c_a, c_b, c_fb = np.cumsum(a), np.cumsum(b), np.cumsum(f * b)
    var = f * f * c_g - 2 * f * c_fg + c_ffg + c_a - 2 * (f * c_b - c_fb)
    return ut[keep], f, np.maximum(var, 0.0)


def _cif_at(times: np.ndarray, values: np.ndarray, at: float) -> float:
    """A right-continuous step function that is 0 before its first time, evaluated at ``at``."""
    i = int(np.searchsorted(times, at, side="right"))
    return float(np.r_[0.0, values][i])


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


def wolbers_c(time: object, event: object, risk: object, *, tau: float = np.inf) -> float:
    """Competing-risk concordance (Wolbers et al., Epidemiology 2009;20:555–561).

    A pair (i, j) is comparable when i fractures at T_i < tau and j is known to be free of
    fracture at T_i: T_j > T_i, or T_j ≤ T_i with j dead (event 2) before or at T_i — a death
    keeps j fracture-free for ever. Concordant when risk_i > risk_j; risk ties count one half.
    Censored subjects are compared only up to their censoring time (no IPCW: this is the
    Harrell-type estimator of the paper, eq. 3). With no deaths it equals :func:`harrell_c`.
    """
    t, e, r = _inputs(time, event, risk, codes=True)
    case = np.flatnonzero((e == 1) & (t < tau))
    if case.size == 0:
        raise MetricUndefinedError("Wolbers' C is undefined: no fractures before the horizon")
    num = den = 0.0
    for i in case:
        s = t[i]
        ctrl = (t > s) | ((t == s) & (e == 0)) | ((t <= s) & (e == 2))
        rc = r[ctrl]
        num += float(np.sum(r[i] > rc) + 0.5 * np.sum(r[i] == rc))
        den += float(rc.size)
    if den == 0:
        raise MetricUndefinedError("Wolbers' C is undefined: no comparable pairs")
    return num / den


def _weighted_auc(r_case: np.ndarray, w_case: np.ndarray, r_ctrl: np.ndarray, w_ctrl: np.ndarray) -> float:
    """Σ_ij w_i w_j (1[r_i > r_j] + ½ 1[r_i = r_j]) / (Σ w_i Σ w_j), in O(n log n)."""
    order = np.argsort(r_ctrl, kind="mergesort")
    rc, wc = r_ctrl[order], w_ctrl[order]
    cum = np.concatenate([[0.0], np.cumsum(wc)])
    lo = np.searchsorted(rc, r_case, side="left")
    hi = np.searchsorted(rc, r_case, side="right")
    below = cum[lo] + 0.5 * (cum[hi] - cum[lo])
    return float(np.sum(w_case * below) / (w_case.sum() * cum[-1]))


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
    return _weighted_auc(r[case], 1.0 / g[case], r[ctrl], np.ones(int(ctrl.sum())))


def competing_td_auc(time: object, event: object, risk: object, *, horizon: float, definition: int = 2) -> float:
    """Competing-risk cumulative/dynamic AUC at ``horizon`` years with IPCW.

    Blanche P, Dartigues J-F, Jacqmin-Gadda H. Estimating and comparing time-dependent areas
    under receiver operating characteristic curves for censored event times with competing
    risks. Stat Med 2013;32:5381–5397 (R package ``timeROC``). Cases: fracture (event 1) at
    T ≤ horizon, weight 1/G(T−). Controls, ``definition=2`` (default): everyone known to be
    fracture-free at the horizon — alive at it (weight 1/G(horizon)) or dead before it
    (event 2, weight 1/G(T−)); ``definition=1``: only those alive and fracture-free at the
    horizon. G is the Kaplan–Meier estimate of the censoring distribution in which only
    event 0 is censoring. Without censoring it is the plain AUC of cases against controls;
    without deaths both definitions equal :func:`time_dependent_auc`.
    """
    if definition not in (1, 2):
        raise EvaluationError(f"competing_td_auc: definition must be 1 or 2, got {definition!r}")
    t, e, r = _inputs(time, event, risk, codes=True)
    gt, gs, _ = kaplan_meier(t, (e == 0).astype(np.int64))
    g_before = _step(gt, gs, t, left=True)
    g_h = float(_step(gt, gs, np.array([float(horizon)]), left=False)[0])
    case = (t <= horizon) & (e == 1) & (g_before > 0)
    alive = t > horizon
    dead = (t <= horizon) & (e == 2) & (g_before > 0) if definition == 2 else np.zeros_like(alive)
    if not case.any() or not (alive.any() or dead.any()) or (g_h <= 0 and not dead.any()):
        raise MetricUndefinedError(f"competing-risk AUC at {horizon:g} years is undefined: {int(case.sum())} "
                                   f"cases and {int(alive.sum() + dead.sum())} controls")
    w_ctrl = np.concatenate([np.full(int(alive.sum()), 1.0 / g_h if g_h > 0 else 0.0), 1.0 / g_before[dead]])
    r_ctrl = np.concatenate([r[alive], r[dead]])
    return _weighted_auc(r[case], 1.0 / g_before[case], r_ctrl, w_ctrl)


def calibration_at_horizon(time: object, event: object, risk: object, *, horizon: float = 10.0,
                           n_bins: int = 10, level: float = 0.95) -> dict[str, object]:
    """Predicted risk against the observed cumulative incidence at ``horizon`` per risk group.

    ``risk`` must be the predicted probability of fracture by ``horizon`` years with death
    competing (a cumulative incidence). The observed risk is the Aalen–Johansen cumulative
    incidence of fracture (event 1) with death (event 2) as a competing event — not
    1 − Kaplan–Meier with deaths censored, which overstates it (see the module docstring);
    with no deaths the two are identical. Returns per-group mean predicted and observed risk
    with a delta-method interval, and overall observed/expected.
    """
    t, e, r = _inputs(time, event, risk, codes=True)
    p = as_probability(r, name="risk")
    edges = np.unique(np.quantile(p, np.linspace(0, 1, n_bins + 1)))
    b = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, max(len(edges) - 2, 0))
    z = stats.norm.ppf(0.5 + level / 2)
    rows = []
    for q in np.unique(b):
        m = b == q
        at_t, f, v = aalen_johansen(t[m], e[m])
        obs = _cif_at(at_t, f, horizon)
        se = float(np.sqrt(_cif_at(at_t, v, horizon)))
        rows.append({"n": int(m.sum()), "mean_predicted": float(p[m].mean()), "observed": obs,
                     "lower": max(0.0, obs - z * se), "upper": min(1.0, obs + z * se)})
    at_t, f, _ = aalen_johansen(t, e)
    obs_all = _cif_at(at_t, f, horizon)
    exp = float(p.mean())
    return {"horizon_years": horizon, "observed_method": "Aalen-Johansen (death competing)",
            "groups": rows, "observed": obs_all, "expected": exp,
            "eo_ratio": exp / obs_all if obs_all > 0 else None}


def survival_metrics(time: object, event: object, risk: object, *, horizons: tuple[float, ...] = (5.0, 10.0),
                     tau: float = 10.0, n_boot: int = 200, seed: int = 0, level: float = 0.95) -> dict[str, dict[str, object]]:
    """Harrell's C, Uno's C, time-dependent AUCs (and, when deaths are present, Wolbers' C and
    the competing-risk AUCs ``td_auc_cr_<h>y``) with stratified-bootstrap percentile CIs.

    Resamples are stratified by fracture status and recompute the censoring weights each
    time. A metric undefined on the full data is reported as ``{"undefined": reason}``.
    """
    from .bootstrap import bootstrap_indices

    t, d, r = _inputs(time, event, risk, codes=True)
    fns = {"harrell_c": lambda tt, dd, rr: harrell_c(tt, dd, rr),
           f"uno_c_{tau:g}y": lambda tt, dd, rr: uno_c(tt, dd, rr, tau=tau)}
    deaths = bool(np.any(d == 2))
    if deaths:  # deaths compete: add the competing-risk concordance beside Harrell's
        fns["wolbers_c"] = lambda tt, dd, rr: wolbers_c(tt, dd, rr)
    for h in horizons:
        fns[f"td_auc_{h:g}y"] = lambda tt, dd, rr, h=h: time_dependent_auc(tt, dd, rr, horizon=h)
        if deaths:  # and the competing-risk AUC (Blanche 2013, definition 2) beside the cause-specific one
            fns[f"td_auc_cr_{h:g}y"] = lambda tt, dd, rr, h=h: competing_td_auc(tt, dd, rr, horizon=h)
    out: dict[str, dict[str, object]] = {}
    samples: dict[str, list[float]] = {}
    for name, fn in fns.items():
        try:
            out[name] = {"value": fn(t, d, r)}
            samples[name] = []
        except MetricUndefinedError as exc:
            out[name] = {"undefined": str(exc)}
    if n_boot and samples:
        for blk in bootstrap_indices((d == 1).astype(np.int64), n_boot=n_boot, seed=seed):
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

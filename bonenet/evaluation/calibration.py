"""Calibration: Brier score, calibration-in-the-large and slope, E/O, ICI/ECE, curves.

Follows Van Calster et al. (BMC Med 2019, "Calibration: the Achilles heel of predictive
analytics"): weak calibration is summarised by the calibration intercept (calibration-in-
the-large, slope fixed at 1) and the calibration slope (logistic recalibration); moderate
calibration by a smoothed calibration curve — loess of degree 2 with span 0.75, the smoother
Austin & Steyerberg (Stat Med 2019) used for the ICI (:mod:`bonenet.evaluation._loess`); no
Hosmer–Lemeshow test.
Probabilities of exactly 0 or 1 are moved ``EPS`` inside (0, 1) before taking logits.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from ..errors import EvaluationError
from ._checks import MetricUndefinedError, as_outcome, as_probability, check_both_classes
from ._loess import SMOOTHER, loess

__all__ = [
    "EPS",
    "brier_score",
    "calibration_curve_binned",
    "calibration_curve_lowess",
    "calibration_intercept_slope",
    "expected_calibration_error",
    "expected_observed_ratio",
    "integrated_calibration_index",
    "logit",
    "scaled_brier_score",
]

EPS = 1e-8


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 − p)) with p moved ``EPS`` inside (0, 1)."""
    q = np.clip(p, EPS, 1 - EPS)
    return np.log(q) - np.log1p(-q)


def _yp(y: object, p: object) -> tuple[np.ndarray, np.ndarray]:
    yy = as_outcome(y)
    return yy, as_probability(p, n=yy.shape[0])


def brier_score(y: object, p: object) -> float:
    """Mean squared difference between predicted probability and outcome (0 = perfect)."""
    yy, pp = _yp(y, p)
    if yy.shape[0] == 0:
        raise MetricUndefinedError("Brier score is undefined for zero subjects")
    return float(np.mean((pp - yy) ** 2))


def scaled_brier_score(y: object, p: object) -> float:
    """1 − Brier / Brier of predicting the prevalence for everyone (1 = perfect, 0 = no skill)."""
    yy, pp = _yp(y, p)
    check_both_classes(yy, metric="scaled Brier score")
    ybar = yy.mean()
    return float(1.0 - np.mean((pp - yy) ** 2) / (ybar * (1 - ybar)))


def expected_observed_ratio(y: object, p: object) -> float:
    """E/O: sum of predicted risks over number of events (1 = right on average, >1 = over-predicts)."""
    yy, pp = _yp(y, p)
    n_ev = int(yy.sum())
    if n_ev == 0:
        raise MetricUndefinedError("E/O ratio is undefined: no events observed")
    return float(pp.sum() / n_ev)


def _newton_logistic(x: np.ndarray, y: np.ndarray, offset: np.ndarray, *, max_iter: int = 50) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood logistic regression y ~ x (+ offset); returns (coef, covariance)."""
    beta = np.zeros(x.shape[1])
    for _ in range(max_iter):
        eta = x @ beta + offset
        mu = 1.0 / (1.0 + np.exp(-eta))
        w = mu * (1 - mu)
        grad = x.T @ (y - mu)
        hess = (x * w[:, None]).T @ x
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError as exc:
            raise MetricUndefinedError(
                "calibration fit is undefined: predictions separate the outcomes perfectly"
            ) from exc
        beta = beta + step
        if np.max(np.abs(step)) < 1e-10:
            break
    eta = x @ beta + offset
    mu = 1.0 / (1.0 + np.exp(-eta))
    hess = (x * (mu * (1 - mu))[:, None]).T @ x
    try:
        cov = np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        cov = np.full((x.shape[1], x.shape[1]), np.nan)
    return beta, cov


def calibration_intercept_slope(y: object, p: object, *, level: float = 0.95) -> dict[str, float]:
    """Calibration-in-the-large and calibration slope by logistic recalibration.

    ``citl`` is α in logit P(y=1) = α + logit(p) (slope fixed at 1; 0 is ideal, >0 means the
    model under-predicts). ``slope`` is β in logit P(y=1) = a + β·logit(p) (1 is ideal,
    <1 means predictions are too extreme, as after overfitting). Wald intervals at ``level``.
    """
    yy, pp = _yp(y, p)
    check_both_classes(yy, metric="calibration slope")
    lp = logit(pp)
    if float(np.ptp(lp)) == 0.0:
        raise MetricUndefinedError(
            "calibration slope is undefined: every subject has the same predicted risk "
            f"({pp[0]:.4g}); the model does not rank subjects at all")
    if lp[yy == 0].max() <= lp[yy == 1].min() or lp[yy == 1].max() <= lp[yy == 0].min():
        raise MetricUndefinedError(
            "calibration slope is undefined: the predictions separate events from non-events "
            "perfectly, so logistic recalibration has no finite maximum-likelihood fit")
    yf = yy.astype(float)
    n = yy.shape[0]
    (a1,), cov1 = _newton_logistic(np.ones((n, 1)), yf, lp)
    (a2, b2), cov2 = _newton_logistic(np.column_stack([np.ones(n), lp]), yf, np.zeros(n))
    z = stats.norm.ppf(0.5 + level / 2)
    se_a, se_b = float(np.sqrt(cov1[0, 0])), float(np.sqrt(cov2[1, 1]))
    return {
        "citl": float(a1), "citl_se": se_a, "citl_lower": float(a1 - z * se_a), "citl_upper": float(a1 + z * se_a),
        "slope": float(b2), "slope_se": se_b, "slope_lower": float(b2 - z * se_b), "slope_upper": float(b2 + z * se_b),
        "recalibration_intercept": float(a2),
    }


def integrated_calibration_index(y: object, p: object, *, frac: float = 0.75) -> dict[str, object]:
    """ICI, E50, E90 and Emax (Austin & Steyerberg, Stat Med 2019) from a loess calibration curve.

    The absolute difference between each prediction and the loess-smoothed observed risk at
    that prediction (degree 2, span ``frac``, as R's ``loess`` defaults the paper used),
    averaged (ICI), its median (E50), 90th percentile and maximum. ``smoother`` names the fit.
    """
    yy, pp = _yp(y, p)
    check_both_classes(yy, metric="ICI")
    smooth = loess(pp, yy.astype(float), pp, span=frac)
    d = np.abs(pp - smooth)
    return {"ici": float(d.mean()), "e50": float(np.median(d)), "e90": float(np.quantile(d, 0.9)),
            "emax": float(d.max()), "smoother": SMOOTHER.replace("span 0.75", f"span {frac:g}")}


def expected_calibration_error(y: object, p: object, *, n_bins: int = 10) -> float:
    """ECE: bin-size-weighted mean |mean predicted − observed rate| over equal-width bins."""
    yy, pp = _yp(y, p)
    if yy.shape[0] == 0:
        raise MetricUndefinedError("ECE is undefined for zero subjects")
    b = np.minimum((pp * n_bins).astype(np.int64), n_bins - 1)
    np.bincount(b, minlength=n_bins)
    sp = np.bincount(b, weights=pp, minlength=n_bins)
    sy = np.bincount(b, weights=yy.astype(float), minlength=n_bins)
    return float(np.sum(np.abs(sp - sy)) / yy.shape[0])


def calibration_curve_binned(y: object, p: object, *, n_bins: int = 10, strategy: str = "quantile",
                             level: float = 0.95) -> dict[str, np.ndarray]:
    """Observed event rate against mean predicted risk per bin, with Wilson intervals.

    ``strategy`` is ``"quantile"`` (equal-count bins, the usual risk-group plot) or
    ``"uniform"`` (equal-width bins on [0, 1]). Empty bins are dropped.
    """
    yy, pp = _yp(y, p)
    if strategy == "quantile":
        edges = np.unique(np.quantile(pp, np.linspace(0, 1, n_bins + 1)))
    elif strategy == "uniform":
        edges = np.linspace(0, 1, n_bins + 1)
    else:
        raise EvaluationError(f"strategy must be 'quantile' or 'uniform', not {strategy!r}")
    b = np.clip(np.searchsorted(edges, pp, side="right") - 1, 0, max(len(edges) - 2, 0))
    nb = max(len(edges) - 1, 1)
    cnt = np.bincount(b, minlength=nb).astype(float)
    keep = cnt > 0
    mp = np.bincount(b, weights=pp, minlength=nb)[keep] / cnt[keep]
    k = np.bincount(b, weights=yy.astype(float), minlength=nb)[keep]
    n = cnt[keep]
    obs = k / n
    z = stats.norm.ppf(0.5 + level / 2)
    centre = (obs + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(obs * (1 - obs) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # Wilson bounds contain the observed rate; clip away rounding at rates of exactly 0 or 1
    return {"mean_predicted": mp, "observed": obs, "lower": np.clip(np.minimum(centre - half, obs), 0, 1),
            "upper": np.clip(np.maximum(centre + half, obs), 0, 1),
            "n": n.astype(np.int64)}


def calibration_curve_lowess(y: object, p: object, *, grid: np.ndarray | None = None, frac: float = 0.75,
                             n_boot: int = 100, level: float = 0.95, seed: int = 0,
                             max_points: int = 20000) -> dict[str, np.ndarray]:
    """Loess-smoothed (degree 2) observed risk on a grid of predicted risks, with a bootstrap band.

    The grid spans the 1st–99th percentile of ``p`` unless given. Above ``max_points``
    subjects, the smoother (not the metrics) runs on a random subsample of that size.
    """
    yy, pp = _yp(y, p)
    check_both_classes(yy, metric="smoothed calibration curve")
    rng = np.random.default_rng(seed)
    if yy.shape[0] > max_points:
        sub = rng.choice(yy.shape[0], max_points, replace=False)
        yy, pp = yy[sub], pp[sub]
    if grid is None:
        lo, hi = np.quantile(pp, [0.01, 0.99])
        grid = np.linspace(lo, hi, 50)
    yf = yy.astype(float)
    curve = np.clip(loess(pp, yf, grid, span=frac), 0.0, 1.0)
    boots = np.full((n_boot, grid.shape[0]), np.nan)
    for b in range(n_boot):
        i = rng.integers(0, yy.shape[0], yy.shape[0])
        try:
            boots[b] = np.clip(loess(pp[i], yf[i], grid, span=frac), 0.0, 1.0)
        except MetricUndefinedError:
            continue
    a = (1 - level) / 2
    return {"grid": grid, "observed": curve, "lower": np.nanquantile(boots, a, axis=0),
            "upper": np.nanquantile(boots, 1 - a, axis=0)}

"""Local quadratic regression (loess, degree 2) — the smoother of Austin & Steyerberg's ICI.

Austin & Steyerberg (Stat Med 2019;38:4051–4065) compute the integrated calibration index
from R's ``loess(y ~ p)`` with its defaults: degree 2, span 0.75, tricube weights, Gaussian
family (no robustness iterations). This is that fit computed directly at each point (R's
``surface = "direct"``): at x0 the ⌊span·n⌋ nearest predictions get tricube weights
``(1 − (d/h)³)³`` (h the distance to the farthest of them) and a weighted least-squares
quadratic in ``x − x0`` gives the smoothed value. Above :data:`DIRECT_LIMIT` points the fit is
evaluated on :data:`GRID_POINTS` quantiles of x and linearly interpolated (R's default
``surface = "interpolate"`` also interpolates, on a k-d tree with cubic blending).
"""

from __future__ import annotations

import numpy as np

from ._checks import MetricUndefinedError

__all__ = ["DIRECT_LIMIT", "GRID_POINTS", "SMOOTHER", "loess"]

DIRECT_LIMIT = 2000
GRID_POINTS = 200
SMOOTHER = ("loess, local quadratic (degree 2), span 0.75, tricube weights, no robustness iterations "
            "(R loess defaults, as Austin & Steyerberg 2019)")


def _fit_at(x: np.ndarray, y: np.ndarray, x0: float, q: int) -> float:
    d = np.abs(x - x0)
    h = float(np.partition(d, q - 1)[q - 1])
    if h <= 0.0:  # q or more predictions equal x0: their mean
        return float(y[d == 0].mean())
    u = d / h
    w = np.where(u < 1.0, (1.0 - u ** 3) ** 3, 0.0)
    keep = w > 0
    dx = x[keep] - x0
    a = np.column_stack([np.ones_like(dx), dx, dx * dx]) * np.sqrt(w[keep])[:, None]
    coef, *_ = np.linalg.lstsq(a, y[keep] * np.sqrt(w[keep]), rcond=None)
    return float(coef[0])


def loess(x: np.ndarray, y: np.ndarray, at: np.ndarray, *, span: float = 0.75) -> np.ndarray:
    """Loess (degree 2) fit of ``y`` on ``x`` evaluated at ``at``.

    Raises
    ------
    MetricUndefinedError
        Every ``x`` is the same, or fewer than 3 distinct values (a quadratic needs 3).
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    at = np.asarray(at, dtype=float)
    if float(np.ptp(x)) == 0.0:
        raise MetricUndefinedError("smoothed calibration is undefined: every prediction has the same value")
    if np.unique(x).shape[0] < 3:
        raise MetricUndefinedError("smoothed calibration is undefined: fewer than 3 distinct predictions "
                                   "for a local quadratic fit")
    q = max(3, min(x.shape[0], int(np.floor(span * x.shape[0]))))
    pts = np.unique(at)
    if pts.shape[0] > DIRECT_LIMIT:
        pts = np.unique(np.quantile(at, np.linspace(0.0, 1.0, GRID_POINTS)))
    fit = np.array([_fit_at(x, y, float(p), q) for p in pts])
    return np.interp(at, pts, fit)

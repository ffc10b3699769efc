"""Decision-curve analysis (Vickers & Elkin 2006): net benefit against treat-all and treat-none.

Net benefit at threshold probability t counts true positives and charges each false
positive t/(1 − t) of a true positive: NB = TP/n − FP/n · t/(1 − t). Treat-none has NB 0;
treat-all has NB = prevalence − (1 − prevalence) · t/(1 − t).
"""

from __future__ import annotations

import numpy as np

from .._fmt import plain
from ..errors import ConfigError
from ._checks import as_outcome, as_probability

__all__ = ["DEFAULT_THRESHOLDS", "decision_curve", "net_benefit"]

DEFAULT_THRESHOLDS = np.round(np.arange(0.01, 0.51, 0.01), 2)


def net_benefit(y: object, p: object, thresholds: object = DEFAULT_THRESHOLDS) -> np.ndarray:
    """Net benefit of treating subjects with ``p >= t``, for each threshold t in (0, 1)."""
    yy = as_outcome(y)
    pp = as_probability(p, n=yy.shape[0])
    t = np.asarray(thresholds, dtype=float)
    if np.any((t <= 0) | (t >= 1)):
        bad = plain(t[(t <= 0) | (t >= 1)][:3])
        raise ConfigError(f"decision thresholds must lie strictly between 0 and 1; got {bad} "
                          "(give probabilities, e.g. 0.1, not percentages)")
    n = yy.shape[0]
    if n == 0:
        return np.full(t.shape, np.nan)
    order = np.argsort(pp, kind="mergesort")
    ps, ys = pp[order], yy[order]
    below = np.searchsorted(ps, t, side="left")
    cum_pos = np.r_[0, np.cumsum(ys)]
    n_pos = cum_pos[-1]
    tp = n_pos - cum_pos[below]
    fp = (n - below) - tp
    return tp / n - fp / n * (t / (1 - t))


def decision_curve(y: object, p: object, thresholds: object = DEFAULT_THRESHOLDS) -> dict[str, np.ndarray]:
    """Net benefit of the model, treat-all and treat-none, and interventions avoided.

    ``interventions_avoided_per_100`` is the number of treatments per 100 subjects the
    model saves compared with treating everyone, at no loss of true positives:
    (NB_model − NB_all) / (t / (1 − t)) · 100.
    """
    yy = as_outcome(y)
    t = np.asarray(thresholds, dtype=float)
    nb = net_benefit(yy, p, t)
    prev = float(yy.mean()) if yy.shape[0] else float("nan")
    nb_all = prev - (1 - prev) * t / (1 - t)
    return {
        "threshold": t,
        "net_benefit": nb,
        "treat_all": nb_all,
        "treat_none": np.zeros_like(t),
        "interventions_avoided_per_100": (nb - nb_all) / (t / (1 - t)) * 100,
    }

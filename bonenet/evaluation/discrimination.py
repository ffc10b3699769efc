"""Discrimination: AUROC with DeLong confidence intervals, AUPRC, threshold metrics.

All functions take ``y`` (0/1 outcomes) and ``p`` (predicted probabilities in [0, 1]) as
1-D arrays of equal length. Ties in ``p`` count one half, as in the Mann–Whitney statistic.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from ._checks import as_outcome, as_probability, check_both_classes

__all__ = [
    "AUCResult",
    "DeLongComparison",
    "average_precision",
    "delong_auc",
    "delong_compare",
    "roc_auc",
    "roc_curve",
    "threshold_metrics",
    "youden_threshold",
]


@dataclass(frozen=True)
class AUCResult:
    """An AUROC with its DeLong standard error and two-sided confidence interval."""

    auc: float
    se: float
    lower: float
    upper: float
    level: float
    n_events: int
    n_non_events: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class DeLongComparison:
    """Paired DeLong test of two AUROCs measured on the same subjects."""

    auc_new: float
    auc_ref: float
    difference: float
    se: float
    lower: float
    upper: float
    z: float
    p_value: float
    correlation: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _midranks(x: np.ndarray) -> np.ndarray:
    return stats.rankdata(x, method="average")


def _structural_components(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sun & Xu (2014) fast DeLong: AUCs, V10 (events) and V01 (non-events) per score row.

    ``scores`` has shape (k, n). Returns ``auc`` (k,), ``v10`` (k, m) and ``v01`` (k, n0).
    Cost O(k n log n) instead of DeLong's O(k m n0).
    """
    pos = y == 1
    m = int(pos.sum())
    n0 = int(y.shape[0] - m)
    k = scores.shape[0]
    auc = np.empty(k)
    v10 = np.empty((k, m))
    v01 = np.empty((k, n0))
    for r in range(k):
        s = scores[r]
        tz = _midranks(s)
        tx = _midranks(s[pos])
        ty = _midranks(s[~pos])
        tz_pos = tz[pos]
        auc[r] = (tz_pos.sum() - m * (m + 1) / 2.0) / (m * n0)
        v10[r] = (tz_pos - tx) / n0
        v01[r] = 1.0 - (tz[~pos] - ty) / m
    return auc, v10, v01


def _delong_cov(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    auc, v10, v01 = _structural_components(y, scores)
    m, n0 = v10.shape[1], v01.shape[1]
    s10 = np.atleast_2d(np.cov(v10)) if m > 1 else np.zeros((len(auc), len(auc)))
    s01 = np.atleast_2d(np.cov(v01)) if n0 > 1 else np.zeros((len(auc), len(auc)))
    return auc, s10 / m + s01 / n0


def roc_auc(y: object, p: object) -> float:
    """Area under the ROC curve (the probability that an event outranks a non-event).

    Parameters
    ----------
    y : array of shape (n,)
        Outcomes, 0/1.
    p : array of shape (n,)
        Predicted probabilities (or any score where higher means more risk).

    Returns
    -------
    float
        AUROC in [0, 1]. Raises :class:`MetricUndefinedError` with one outcome class.
    """
    yy = as_outcome(y)
    pp = as_probability(p, n=yy.shape[0])
    m, n0 = check_both_classes(yy, metric="AUROC")
    r = _midranks(pp)
    return float((r[yy == 1].sum() - m * (m + 1) / 2.0) / (m * n0))


def delong_auc(y: object, p: object, *, level: float = 0.95) -> AUCResult:
    """AUROC with DeLong's (1988) variance, computed with Sun & Xu's (2014) O(n log n) algorithm.

    The interval is ``auc ± z * se`` truncated to [0, 1] (as pROC reports it).
    """
    yy = as_outcome(y)
    pp = as_probability(p, n=yy.shape[0])
    m, n0 = check_both_classes(yy, metric="AUROC")
    auc, cov = _delong_cov(yy, pp[None, :])
    se = float(np.sqrt(max(cov[0, 0], 0.0)))
    z = stats.norm.ppf(0.5 + level / 2.0)
    a = float(auc[0])
    return AUCResult(a, se, float(max(0.0, a - z * se)), float(min(1.0, a + z * se)), level, m, n0)


def delong_compare(y: object, p_new: object, p_ref: object, *, level: float = 0.95) -> DeLongComparison:
    """Paired DeLong test of AUROC(p_new) − AUROC(p_ref) on the same subjects."""
    yy = as_outcome(y)
    a = as_probability(p_new, name="new model", n=yy.shape[0])
    b = as_probability(p_ref, name="reference model", n=yy.shape[0])
    check_both_classes(yy, metric="AUROC difference")
    auc, cov = _delong_cov(yy, np.vstack([a, b]))
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    se = float(np.sqrt(max(var, 0.0)))
    diff = float(auc[0] - auc[1])
    zq = stats.norm.ppf(0.5 + level / 2.0)
    if se > 0:
        z = diff / se
        pv = float(2 * stats.norm.sf(abs(z)))
    else:
        z, pv = 0.0, 1.0
    denom = np.sqrt(cov[0, 0] * cov[1, 1])
    corr = float(cov[0, 1] / denom) if denom > 0 else float("nan")
    return DeLongComparison(float(auc[0]), float(auc[1]), diff, se, diff - zq * se, diff + zq * se,
                            float(z), pv, corr)


def roc_curve(y: object, p: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve points: (false-positive rate, true-positive rate, thresholds), descending thresholds.

    The first point is (0, 0) at threshold +inf; a subject counts as positive when ``p >= threshold``.
    """
    yy = as_outcome(y)
    pp = as_probability(p, n=yy.shape[0])
    m, n0 = check_both_classes(yy, metric="ROC curve")
    order = np.argsort(-pp, kind="mergesort")
    ps, ys = pp[order], yy[order]
    last = np.r_[np.nonzero(np.diff(ps))[0], ps.shape[0] - 1]
    tp = np.cumsum(ys)[last]
    fp = (last + 1) - tp
    return np.r_[0.0, fp / n0], np.r_[0.0, tp / m], np.r_[np.inf, ps[last]]


def average_precision(y: object, p: object) -> float:
    """Area under the precision–recall curve as average precision (scikit-learn's definition)."""
    yy = as_outcome(y)
    pp = as_probability(p, n=yy.shape[0])
    m, _ = check_both_classes(yy, metric="AUPRC")
    order = np.argsort(-pp, kind="mergesort")
    ps, ys = pp[order], yy[order]
    last = np.r_[np.nonzero(np.diff(ps))[0], ps.shape[0] - 1]
    tp = np.cumsum(ys)[last].astype(float)
    precision = tp / (last + 1)
    recall_step = np.diff(np.r_[0.0, tp]) / m
    return float(np.sum(recall_step * precision))


def threshold_metrics(y: object, p: object, threshold: float) -> dict[str, float | int | None]:
    """Sensitivity, specificity, PPV, NPV, F1 and counts when ``p >= threshold`` means positive.

    A ratio with a zero denominator (for example PPV when nobody is above the threshold) is
    returned as ``None`` rather than a made-up number.
    """
    yy = as_outcome(y)
    pp = as_probability(p, n=yy.shape[0])
    pred = pp >= threshold
    tp = int(np.sum(pred & (yy == 1)))
    fp = int(np.sum(pred & (yy == 0)))
    fn = int(np.sum(~pred & (yy == 1)))
    tn = int(np.sum(~pred & (yy == 0)))

    def ratio(a: int, b: int) -> float | None:
        return a / b if b else None

    sens, ppv = ratio(tp, tp + fn), ratio(tp, tp + fp)
    f1 = ratio(2 * tp, 2 * tp + fp + fn)
    return {
        "threshold": float(threshold), "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "sensitivity": sens, "specificity": ratio(tn, tn + fp), "ppv": ppv,
        "npv": ratio(tn, tn + fn), "f1": f1, "positive_fraction": ratio(tp + fp, yy.shape[0]),
    }


def youden_threshold(y: object, p: object) -> tuple[float, float]:
    """Threshold that maximises Youden's J = sensitivity + specificity − 1, and that J.

    Among equal J the highest threshold is returned (fewest people flagged).
    """
    fpr, tpr, thr = roc_curve(y, p)
    j = tpr - fpr
    j[0] = -np.inf  # threshold +inf flags nobody
    i = int(np.argmax(j))
    return float(thr[i]), float(j[i])

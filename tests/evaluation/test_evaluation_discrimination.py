"""Discrimination metrics against scikit-learn and a published worked example."""

import numpy as np
import pytest
from sklearn import metrics as skm

from bonenet.evaluation import (
    MetricUndefinedError,
    average_precision,
    delong_auc,
    delong_compare,
    roc_auc,
    roc_curve,
    threshold_metrics,
    youden_threshold,
)

# Hanley & McNeil (1982), Radiology 143:29-36, Table 1: CT ratings (1 = definitely normal ...
# 5 = definitely abnormal) of 58 normal and 51 abnormal patients. Published AUC 0.893,
# standard error 0.032 (their exponential approximation).
HM_NORMAL = {1: 33, 2: 6, 3: 6, 4: 11, 5: 2}
HM_ABNORMAL = {1: 3, 2: 2, 3: 2, 4: 11, 5: 33}


def _hanley_mcneil():
    y = np.r_[np.zeros(58), np.ones(51)].astype(int)
    s = np.r_[np.repeat(list(HM_NORMAL), list(HM_NORMAL.values())),
              np.repeat(list(HM_ABNORMAL), list(HM_ABNORMAL.values()))]
    return y, s / 5.0


def _delong_bruteforce(y, scores):
    """DeLong et al. (1988) structural components by the O(m n) definition."""
    x = [s[y == 1] for s in scores]
    z = [s[y == 0] for s in scores]
    psi = [(xi[:, None] > zi[None, :]) + 0.5 * (xi[:, None] == zi[None, :]) for xi, zi in zip(x, z, strict=True)]
    v10 = np.array([p.mean(axis=1) for p in psi])
    v01 = np.array([p.mean(axis=0) for p in psi])
    return np.array([p.mean() for p in psi]), np.atleast_2d(np.cov(v10)) / v10.shape[1] + np.atleast_2d(np.cov(v01)) / v01.shape[1]


def _data(n=800, seed=0, ties=True):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(1.2 * x - 1.5)))).astype(int)
    p = 1 / (1 + np.exp(-(x - 1.4)))
    return y, np.round(p, 2) if ties else p


@pytest.mark.parametrize("ties", [True, False])
def test_auc_ap_roc_match_sklearn(ties):
    y, p = _data(ties=ties)
    assert roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert average_precision(y, p) == pytest.approx(skm.average_precision_score(y, p), abs=1e-12)
    fpr, tpr, thr = roc_curve(y, p)
    f2, t2, th2 = skm.roc_curve(y, p, drop_intermediate=False)
    np.testing.assert_allclose(fpr, f2)
    np.testing.assert_allclose(tpr, t2)
    np.testing.assert_allclose(thr[1:], th2[1:])


def test_delong_hanley_mcneil_worked_example():
    y, s = _hanley_mcneil()
    r = delong_auc(y, s)
    assert r.auc == pytest.approx(0.893, abs=5e-4)          # published AUC
    _auc_bf, cov_bf = _delong_bruteforce(y, [s])
    assert r.se == pytest.approx(np.sqrt(cov_bf[0, 0]), rel=1e-10)  # DeLong definition
    assert r.se == pytest.approx(0.032, abs=0.003)           # close to the published HM SE
    # Stata's `roctab disease rating` on these data (hanley.dta, the example of the [R] roc
    # manual entry; roctab's default SE is DeLong's) prints ROC area 0.8932, Std. Err. 0.0307,
    # asymptotic normal 95 % CI 0.83295–0.95339. (Quoted from the manual example, not fetched.)
    assert (round(r.auc, 4), round(r.se, 4)) == (0.8932, 0.0307)
    assert (round(r.lower, 5), round(r.upper, 5)) == (0.83295, 0.95339)
    assert r.lower < r.auc < r.upper <= 1.0


def test_delong_compare_matches_bruteforce_covariance():
    y, p = _data(n=300, seed=3)
    rng = np.random.default_rng(4)
    q = np.clip(p + rng.normal(0, 0.1, p.shape), 0, 1)
    c = delong_compare(y, q, p)
    auc, cov = _delong_bruteforce(y, [q, p])
    assert c.difference == pytest.approx(auc[0] - auc[1], abs=1e-12)
    assert c.se == pytest.approx(np.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]), rel=1e-9)
    same = delong_compare(y, p, p)
    assert same.difference == 0 and same.p_value == 1.0


def test_delong_se_agrees_with_bootstrap():
    from bonenet.evaluation import bootstrap_metrics

    y, p = _data(n=2000, seed=5, ties=False)
    r = delong_auc(y, p)
    b = bootstrap_metrics(y, p, n_boot=400, seed=1, full=False)
    assert np.std(b.samples["auc"]) == pytest.approx(r.se, rel=0.15)


def test_threshold_metrics_and_youden():
    y, p = _data()
    t = threshold_metrics(y, p, 0.2)
    tn, fp, fn, tp = skm.confusion_matrix(y, p >= 0.2).ravel()
    assert (t["tp"], t["fp"], t["fn"], t["tn"]) == (tp, fp, fn, tn)
    assert t["sensitivity"] == pytest.approx(tp / (tp + fn))
    assert t["f1"] == pytest.approx(skm.f1_score(y, p >= 0.2))
    _thr, j = youden_threshold(y, p)
    best = max((skm.recall_score(y, p >= c) + skm.recall_score(1 - y, p < c) - 1) for c in np.unique(p))
    assert j == pytest.approx(best)
    none = threshold_metrics(y, p, 1.01)
    assert none["ppv"] is None and none["sensitivity"] == 0


def test_single_class_is_undefined_with_reason():
    with pytest.raises(MetricUndefinedError, match="both outcome classes"):
        roc_auc(np.zeros(10, int), np.linspace(0, 1, 10))

"""Time-to-event metrics against lifelines and against the uncensored special cases."""

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import concordance_index
from sklearn.metrics import roc_auc_score

from bonenet.evaluation import (
    calibration_at_horizon,
    harrell_c,
    kaplan_meier,
    survival_metrics,
    time_dependent_auc,
    uno_c,
)


def _cohort(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t_true = rng.exponential(15 * np.exp(-0.8 * x))
    c = rng.uniform(1, 14, n)
    t = np.round(np.minimum(t_true, c), 1)  # rounding makes tied times
    e = (t_true <= c).astype(int)
    e[(e == 0) & (rng.random(n) < 0.2)] = 2  # some deaths
    risk = np.round(1 / (1 + np.exp(-(x - 1.5))), 3)
    return t, e, risk, t_true, x


def test_harrell_matches_lifelines_with_ties():
    t, e, r, *_ = _cohort()
    assert harrell_c(t, e, r) == pytest.approx(concordance_index(t, -r, e == 1), abs=1e-12)


def test_uno_and_td_auc_reduce_to_known_cases_without_censoring():
    _, _, r, t_true, _ = _cohort(seed=1)
    ones = np.ones_like(t_true)
    assert uno_c(t_true, ones, r, tau=np.inf) == pytest.approx(concordance_index(t_true, -r, ones), abs=1e-12)
    assert time_dependent_auc(t_true, ones, r, horizon=10) == pytest.approx(roc_auc_score(t_true <= 10, r))
    cal = calibration_at_horizon(t_true, ones, r, horizon=10)
    assert cal["observed"] == pytest.approx(np.mean(t_true <= 10))


def test_kaplan_meier_matches_lifelines():
    t, e, *_ = _cohort(seed=2)
    kt, ks, _ = kaplan_meier(t, e == 1)
    kmf = KaplanMeierFitter().fit(t, e == 1)
    np.testing.assert_allclose(ks, kmf.survival_function_at_times(kt).to_numpy(), atol=1e-12)


def test_censored_metrics_are_sensible():
    t, e, r, *_ = _cohort(seed=3)
    for h in (5, 10):
        assert 0.6 < time_dependent_auc(t, e, r, horizon=h) < 0.9
    assert 0.6 < uno_c(t, e, r, tau=10) < 0.9


def test_survival_metrics_bootstrap_intervals():
    t, e, r, *_ = _cohort(n=600, seed=4)
    m = survival_metrics(t, e, r, n_boot=40, seed=0)
    assert m["harrell_c"]["value"] == pytest.approx(harrell_c(t, e, r))
    for k in ("harrell_c", "uno_c_10y", "td_auc_5y", "td_auc_10y"):
        assert m[k]["lower"] < m[k]["value"] < m[k]["upper"]
    none = survival_metrics(t, np.zeros_like(e), r, n_boot=5)
    assert "undefined" in none["harrell_c"]

"""Time-to-event metrics against lifelines and against the uncensored special cases."""

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.utils import concordance_index
from sklearn.metrics import roc_auc_score

from bonenet.errors import EvaluationError
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


# ---------------------------------------------------------------- competing risks
def _competing(n=2000, seed=5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t_f = rng.exponential(1 / (0.03 * np.exp(0.7 * x)))
    t_d = rng.exponential(1 / 0.04, n)
    c = rng.uniform(2, 15, n)
    t = np.minimum(np.minimum(t_f, t_d), c)
    e = np.where(t == t_f, 1, np.where(t == t_d, 2, 0))
    return t, e, x


def test_aalen_johansen_matches_lifelines():
    from lifelines import AalenJohansenFitter

    from bonenet.evaluation import aalen_johansen

    t, e, _ = _competing()
    at, f, var = aalen_johansen(t, e)
    ajf = AalenJohansenFitter(calculate_variance=True).fit(t, e, event_of_interest=1)
    ref = ajf.cumulative_density_.iloc[:, 0]
    np.testing.assert_allclose(f, ref.reindex(at).to_numpy(), atol=1e-10)
    # lifelines' variance is the same delta-method (Marubini-Valsecchi) estimator
    np.testing.assert_allclose(var[-50:], ajf.variance_.reindex(at).to_numpy()[-50:],
                               rtol=1e-6)
    # with no competing event it is 1 - Kaplan-Meier
    e1 = np.where(e == 2, 0, e)
    at1, f1, _ = aalen_johansen(t, e1)
    kt, ks, _ = kaplan_meier(t, e1 == 1)
    np.testing.assert_allclose(f1[np.isin(at1, kt)], 1 - ks, atol=1e-12)


def test_calibration_at_horizon_uses_cumulative_incidence():
    t, e, x = _competing(n=4000, seed=6)
    lam_f, lam_d = 0.03 * np.exp(0.7 * x), 0.04
    cif = lam_f / (lam_f + lam_d) * (1 - np.exp(-10 * (lam_f + lam_d)))  # the true risk
    cal = calibration_at_horizon(t, e, cif, horizon=10, n_bins=5)
    assert cal["observed_method"].startswith("Aalen-Johansen")
    assert 0.93 < cal["eo_ratio"] < 1.07
    for g in cal["groups"]:
        assert g["lower"] <= g["observed"] <= g["upper"]
        assert abs(g["observed"] - g["mean_predicted"]) < 0.05
    # deaths censored (1 - KM) would overstate the observed risk
    kt, ks, _ = kaplan_meier(t, e == 1)
    km_obs = 1 - ks[np.searchsorted(kt, 10, side="right") - 1]
    assert km_obs > cal["observed"] + 0.02


def test_oracle_eo_within_5_percent_on_synthetic_cohort():
    from bonenet.synth import make_cohort

    c = make_cohort(5000, seed=21, images=False, show_progress=False)
    m, truth = c.manifest, c.truth
    cal = calibration_at_horizon(m["time_years"], m["event"], truth["oracle_risk_10y"], horizon=10)
    assert 0.95 <= cal["eo_ratio"] <= 1.05, cal["eo_ratio"]


def test_wolbers_c_hand_computed():
    from bonenet.evaluation import wolbers_c

    # subject: time, event, risk
    #  A 1 fracture 0.9 | B 2 death 0.8 | C 3 fracture 0.3 | D 4 censored 0.5 | E 5 death 0.1
    t = [1, 2, 3, 4, 5]
    e = [1, 2, 1, 0, 2]
    r = [0.9, 0.8, 0.3, 0.5, 0.1]
    # case A (t=1): controls B, C, D, E (all later)      -> 4 concordant of 4
    # case C (t=3): controls D, E (later) + B (died at 2) -> risks 0.5, 0.1, 0.8: 1 of 3
    assert wolbers_c(t, e, r) == pytest.approx(5 / 7)
    # Harrell's (deaths censored) drops B as a control for C: A 4/4, C 1/2
    assert harrell_c(t, e, r) == pytest.approx(5 / 6)
    # without deaths Wolbers' C is Harrell's C
    tt, ee, rr, *_ = _cohort(seed=7)
    ee = np.where(ee == 2, 0, ee)
    assert wolbers_c(tt, ee, rr) == pytest.approx(harrell_c(tt, ee, rr), abs=1e-12)


def test_survival_metrics_add_wolbers_c_only_when_deaths_occur():
    t, e, x = _competing(n=400, seed=8)
    r = 1 / (1 + np.exp(-x))
    with_deaths = survival_metrics(t, e, r, n_boot=20)
    assert 0.5 < with_deaths["wolbers_c"]["value"] < 1.0 and "lower" in with_deaths["wolbers_c"]
    no_deaths = survival_metrics(t, np.where(e == 2, 0, e), r, n_boot=0)
    assert "wolbers_c" not in no_deaths


def _competing_latent(n, seed, censor=True):
    """Fracture and death both faster for high x (deaths among the high-risk make the
    cause-specific and competing-risk AUCs differ); optional independent censoring."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    t_f = rng.exponential(1 / (0.03 * np.exp(0.7 * x)))
    t_d = rng.exponential(1 / (0.04 * np.exp(0.6 * x)))
    c = rng.uniform(2, 15, n) if censor else np.full(n, np.inf)
    t = np.minimum(np.minimum(t_f, t_d), c)
    e = np.where(t == t_f, 1, np.where(t == t_d, 2, 0))
    return t, e, x


def test_competing_td_auc_without_censoring_is_the_plain_auc():
    from bonenet.evaluation import competing_td_auc

    t, e, x = _competing_latent(3000, seed=11, censor=False)
    r = np.round(x, 1)  # ties
    case = (t <= 8) & (e == 1)
    # definition 2: controls are everyone else (alive at 8 years, or dead first)
    assert competing_td_auc(t, e, r, horizon=8) == pytest.approx(roc_auc_score(case, r), abs=1e-12)
    # definition 1: controls only those alive and fracture-free at 8 years
    keep = case | (t > 8)
    assert competing_td_auc(t, e, r, horizon=8, definition=1) == pytest.approx(
        roc_auc_score(case[keep], r[keep]), abs=1e-12)


def test_competing_td_auc_equals_cause_specific_without_deaths():
    from bonenet.evaluation import competing_td_auc

    t, e, r, *_ = _cohort(seed=12)
    e = np.where(e == 2, 0, e)
    for d in (1, 2):
        assert competing_td_auc(t, e, r, horizon=7, definition=d) == pytest.approx(
            time_dependent_auc(t, e, r, horizon=7), abs=1e-12)


def test_competing_td_auc_ipcw_recovers_the_uncensored_value():
    """Same subjects with and without independent censoring: the IPCW estimate on the
    censored data is within sampling error of the uncensored AUC, and definition 2 differs
    from the cause-specific AUC (deaths are commoner among the high-risk)."""
    from bonenet.evaluation import competing_td_auc

    t0, e0, x = _competing_latent(20000, seed=13, censor=False)
    c = np.random.default_rng(99).uniform(2, 15, x.size)
    t = np.minimum(t0, c)
    e = np.where(t0 <= c, e0, 0)
    full = competing_td_auc(t0, e0, x, horizon=8)
    est = competing_td_auc(t, e, x, horizon=8)
    assert est == pytest.approx(full, abs=0.01)
    assert competing_td_auc(t, e, x, horizon=8, definition=1) == pytest.approx(
        competing_td_auc(t0, e0, x, horizon=8, definition=1), abs=0.01)
    assert abs(est - time_dependent_auc(t, e, x, horizon=8)) > 0.02


def test_competing_td_auc_brute_force_weights_and_errors():
    from bonenet.evaluation import competing_td_auc
    from bonenet.evaluation._checks import MetricUndefinedError

    # hand case: times, events, risks; censoring at 3 (event 0) halves the weight after it
    t = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    e = np.array([1, 2, 0, 1, 0, 2])
    r = np.array([0.9, 0.8, 0.1, 0.5, 0.3, 0.5])
    # censoring KM: G = 1 before 3, 1 - 1/4 = 0.75 after 3 (4 at risk at t=3), then 0.75*(1-1/2)=0.375 after 5
    # horizon 4.5: cases 1 (w 1) and 4 (w 1/0.75); controls: dead at 2 (w 1), alive after 4.5: subjects 5, 6 (w 1/0.75)
    wc = np.array([1.0, 1 / 0.75])
    rc, wk = np.array([0.8, 0.3, 0.5]), np.array([1.0, 1 / 0.75, 1 / 0.75])
    num = sum(wi * wj * ((ri > rj) + 0.5 * (ri == rj)) for ri, wi in zip([0.9, 0.5], wc, strict=True)
              for rj, wj in zip(rc, wk, strict=True))
    expect = num / (wc.sum() * wk.sum())
    assert competing_td_auc(t, e, r, horizon=4.5) == pytest.approx(expect, abs=1e-12)
    with pytest.raises(MetricUndefinedError, match="undefined"):
        competing_td_auc(t, np.where(e == 1, 0, e), r, horizon=4.5)
    with pytest.raises(EvaluationError, match="definition"):
        competing_td_auc(t, e, r, horizon=4.5, definition=3)
    # a text cell in a column is named with its row, not a numpy ValueError
    with pytest.raises(EvaluationError, match=r"time_years: value '5 y' at row 1 is not a number"):
        competing_td_auc([1.0, "5 y", 3.0], [1, 0, 2], [0.1, 0.2, 0.3], horizon=4.5)
    with pytest.raises(EvaluationError, match=r"risk: value 'high' at row 0"):
        competing_td_auc([1.0, 5.0, 3.0], [1, 0, 2], ["high", 0.2, 0.3], horizon=4.5)


def test_survival_metrics_add_competing_auc_when_deaths_occur():
    t, e, x = _competing_latent(600, seed=14)
    out = survival_metrics(t, e, x, n_boot=10)
    assert {"td_auc_cr_5y", "td_auc_cr_10y"} <= set(out) and "lower" in out["td_auc_cr_10y"]
    assert "td_auc_cr_10y" not in survival_metrics(t, np.where(e == 2, 0, e), x, n_boot=0)

"""Calibration and decision-curve metrics against statsmodels, scikit-learn and dcurves."""

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from sklearn.metrics import brier_score_loss

from bonenet.evaluation import (
    brier_score,
    calibration_curve_binned,
    calibration_curve_lowess,
    calibration_intercept_slope,
    decision_curve,
    expected_calibration_error,
    expected_observed_ratio,
    integrated_calibration_index,
    net_benefit,
    scaled_brier_score,
)
from bonenet.evaluation.calibration import logit


def _cohort(n=4000, seed=0, shrink=1.0, shift=0.0):
    rng = np.random.default_rng(seed)
    lp = rng.normal(-1.8, 1.0, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    p = 1 / (1 + np.exp(-(shrink * lp + shift)))
    return y, p


def test_intercept_slope_match_statsmodels_glm():
    y, p = _cohort(shrink=1.6, shift=0.3)
    r = calibration_intercept_slope(y, p)
    lp = logit(p)
    fam = sm.families.Binomial()
    citl = sm.GLM(y, np.ones((y.size, 1)), family=fam, offset=lp).fit()
    slope = sm.GLM(y, sm.add_constant(lp), family=fam).fit()
    assert r["citl"] == pytest.approx(citl.params[0], abs=1e-8)
    assert r["citl_se"] == pytest.approx(citl.bse[0], rel=1e-5)
    assert r["slope"] == pytest.approx(slope.params[1], abs=1e-8)
    assert r["slope_se"] == pytest.approx(slope.bse[1], rel=1e-5)
    assert r["recalibration_intercept"] == pytest.approx(slope.params[0], abs=1e-8)
    assert r["slope"] == pytest.approx(1 / 1.6, abs=0.08)  # over-extreme predictions → slope < 1


def test_well_calibrated_model_looks_calibrated():
    y, p = _cohort(n=20000, seed=1)
    r = calibration_intercept_slope(y, p)
    assert abs(r["citl"]) < 0.06 and abs(r["slope"] - 1) < 0.06
    assert expected_observed_ratio(y, p) == pytest.approx(1, abs=0.05)
    assert integrated_calibration_index(y, p)["ici"] < 0.01
    assert expected_calibration_error(y, p) < 0.015
    ici_bad = integrated_calibration_index(y, np.clip(p * 1.5, 0, 1))["ici"]
    assert ici_bad > 0.03


def test_brier_and_scaled_brier():
    y, p = _cohort()
    assert brier_score(y, p) == pytest.approx(brier_score_loss(y, p))
    ybar = y.mean()
    assert scaled_brier_score(y, np.full(y.shape, ybar)) == pytest.approx(0, abs=1e-12)
    assert scaled_brier_score(y, y.astype(float)) == 1.0


def test_calibration_curves_are_consistent():
    y, p = _cohort(seed=2)
    b = calibration_curve_binned(y, p, n_bins=10)
    assert b["n"].sum() == y.size
    assert np.all(b["lower"] <= b["observed"] + 1e-12) and np.all(b["observed"] <= b["upper"] + 1e-12)
    lw = calibration_curve_lowess(y, p, n_boot=20)
    assert np.all(lw["lower"] <= lw["upper"])
    assert np.max(np.abs(lw["observed"] - lw["grid"])) < 0.08


def test_net_benefit_matches_dcurves():
    import dcurves

    y, p = _cohort(n=3000, seed=3)
    thr = np.round(np.arange(0.01, 0.5, 0.01), 2)
    df = pd.DataFrame({"y": y, "m": p})
    ref = dcurves.dca(data=df, outcome="y", modelnames=["m"], thresholds=list(thr))
    got = decision_curve(y, p, thr)
    m = ref[ref.model == "m"].sort_values("threshold")
    al = ref[ref.model == "all"].sort_values("threshold")
    keep = np.isin(np.round(m.threshold.to_numpy(), 2), thr)
    np.testing.assert_allclose(got["net_benefit"], m.net_benefit.to_numpy()[keep], atol=1e-10)
    np.testing.assert_allclose(got["treat_all"], al.net_benefit.to_numpy()[keep], atol=1e-10)
    # and by hand at 20 %
    t = 0.2
    tp, fp = np.sum((p >= t) & (y == 1)), np.sum((p >= t) & (y == 0))
    assert net_benefit(y, p, [t])[0] == pytest.approx(tp / y.size - fp / y.size * t / (1 - t))


def test_perfect_separation_is_undefined_not_a_huge_slope():
    from bonenet.evaluation import MetricUndefinedError, bootstrap_metrics

    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    with pytest.raises(MetricUndefinedError, match="separate events from non-events"):
        calibration_intercept_slope(y, p)
    r = bootstrap_metrics(y, p, n_boot=20, seed=0)
    assert np.isnan(r.point["slope"]) and r.to_dict()["slope"]["undefined_resamples"] == 20
    assert np.isfinite(r.point["citl"])


def test_binned_curve_bounds_hold_at_observed_rates_of_zero_and_one(tmp_path):
    from bonenet.evaluation._plots import make_plots
    from bonenet.evaluation.report import evaluate_predictions

    y = np.r_[np.zeros(40, int), np.ones(40, int)]
    p = np.r_[np.linspace(0.01, 0.3, 40), np.linspace(0.6, 0.99, 40)]  # deciles of pure 0s and pure 1s
    b = calibration_curve_binned(y, p, n_bins=8)
    assert np.all(b["lower"] <= b["observed"]) and np.all(b["observed"] <= b["upper"])
    df = pd.DataFrame({"subject_id": np.arange(80).astype(str), "fracture": y, "p_m": p})
    m, c = evaluate_predictions(df, n_boot=10)
    assert set(make_plots(m, c, tmp_path)) >= {"roc", "calibration", "decision", "risk"}


def test_loess_is_a_local_quadratic_weighted_fit():
    """The ICI smoother is Austin & Steyerberg's loess (degree 2, span 0.75, tricube)."""
    from bonenet.evaluation._loess import loess

    rng = np.random.default_rng(3)
    x = np.sort(rng.uniform(0, 1, 400))
    # a quadratic is reproduced exactly (degree 2; a LOWESS of degree 1 is not)
    quad = 0.1 + 0.5 * x - 0.3 * x ** 2
    np.testing.assert_allclose(loess(x, quad, x), quad, atol=1e-10)
    # one point by hand: tricube weights on the 300 nearest, weighted quadratic via np.polyfit
    y = (rng.random(400) < x).astype(float)
    x0 = 0.37
    d = np.abs(x - x0)
    h = np.sort(d)[299]
    w = np.clip(1 - (d / h) ** 3, 0, None) ** 3
    ref = np.polyval(np.polyfit(x - x0, y, 2, w=np.sqrt(w)), 0.0)
    assert loess(x, y, np.array([x0]))[0] == pytest.approx(ref, abs=1e-10)


def test_ici_names_its_smoother():
    rng = np.random.default_rng(4)
    p = rng.uniform(0.02, 0.6, 3000)
    y = (rng.random(3000) < p).astype(int)
    out = integrated_calibration_index(y, p)
    assert "degree 2" in out["smoother"] and "span 0.75" in out["smoother"]

"""The vectorised bootstrap gives, resample for resample, what a plain scikit-learn loop gives."""

import numpy as np
import pytest
from sklearn import metrics as skm

from bonenet.evaluation import (
    bootstrap_indices,
    bootstrap_metrics,
    calibration_intercept_slope,
    expected_calibration_error,
    net_benefit,
    reclassification,
)


def _data(n=1500, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(x - 1.7)))).astype(int)
    return y, np.round(1 / (1 + np.exp(-(0.8 * x - 1.5))), 3)


def test_each_resample_matches_direct_computation():
    y, p = _data()
    r = bootstrap_metrics(y, p, n_boot=60, seed=7, thresholds=(0.03, 0.2), nb_thresholds=(0.1, 0.2))
    idx = np.vstack(list(bootstrap_indices(y, n_boot=60, seed=7)))
    for b in (0, 17, 59):
        i = idx[b]
        yi, pi = y[i], p[i]
        assert r.samples["auc"][b] == pytest.approx(skm.roc_auc_score(yi, pi), abs=1e-12)
        assert r.samples["auprc"][b] == pytest.approx(skm.average_precision_score(yi, pi), abs=1e-12)
        assert r.samples["brier"][b] == pytest.approx(skm.brier_score_loss(yi, pi), abs=1e-12)
        cal = calibration_intercept_slope(yi, pi)
        assert r.samples["citl"][b] == pytest.approx(cal["citl"], abs=1e-7)
        assert r.samples["slope"][b] == pytest.approx(cal["slope"], abs=1e-7)
        assert r.samples["ece"][b] == pytest.approx(expected_calibration_error(yi, pi), abs=1e-12)
        assert r.samples["eo_ratio"][b] == pytest.approx(pi.sum() / yi.sum(), abs=1e-12)
        assert r.samples["sensitivity@0.2"][b] == pytest.approx(skm.recall_score(yi, pi >= 0.2), abs=1e-12)
        assert r.samples["ppv@0.03"][b] == pytest.approx(skm.precision_score(yi, pi >= 0.03), abs=1e-12)
        assert r.samples["net_benefit@0.1"][b] == pytest.approx(net_benefit(yi, pi, [0.1])[0], abs=1e-12)


def test_point_estimates_stratification_and_reproducibility():
    y, p = _data(seed=1)
    r = bootstrap_metrics(y, p, n_boot=120, seed=3)
    assert r.point["auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    for idx in bootstrap_indices(y, n_boot=120, seed=3):
        assert np.all(y[idx].sum(axis=1) == y.sum())  # stratified by outcome
    again = bootstrap_metrics(y, p, n_boot=120, seed=3)
    assert again.lower == r.lower and again.upper == r.upper
    for k in ("auc", "brier", "slope", "net_benefit@0.2"):
        assert r.lower[k] <= r.point[k] <= r.upper[k]
    fast = bootstrap_metrics(y, p, n_boot=120, seed=3, full=False)
    np.testing.assert_array_equal(fast.samples["auc"], r.samples["auc"])


def test_other_strata_recount_events():
    y, p = _data(seed=2)
    site = np.arange(y.size) % 3
    r = bootstrap_metrics(y, p, n_boot=40, seed=0, strata=site)
    idx = np.vstack(list(bootstrap_indices(site, n_boot=40, seed=0)))
    b = 5
    assert r.samples["sensitivity@0.2"][b] == pytest.approx(skm.recall_score(y[idx[b]], p[idx[b]] >= 0.2))


def test_reclassification_by_hand():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    ref = np.array([0.05, 0.15, 0.25, 0.05, 0.15, 0.25, 0.12, 0.30])
    new = np.array([0.15, 0.25, 0.25, 0.02, 0.25, 0.15, 0.05, 0.35])
    r = reclassification(y, new, ref, cutoffs=(0.1, 0.2), n_boot=0)
    # events: 2 up, 0 down of 3; non-events: up 1 (0.15→0.25), down 2 (0.25→0.15, 0.12→0.05)
    assert r["nri_events"]["value"] == pytest.approx(2 / 3)
    assert r["nri_non_events"]["value"] == pytest.approx((2 - 1) / 5)
    assert r["cnri_events"]["value"] == pytest.approx(2 / 3)
    assert r["cnri_non_events"]["value"] == pytest.approx((3 - 2) / 5)
    idi = (new[y == 1].mean() - ref[y == 1].mean()) - (new[y == 0].mean() - ref[y == 0].mean())
    assert r["idi"]["value"] == pytest.approx(idi)
    rb = reclassification(y, new, ref, n_boot=200, seed=1)
    assert rb["idi"]["lower"] <= rb["idi"]["value"] <= rb["idi"]["upper"]


def test_bad_configuration_is_a_config_error():
    import numpy as np
    import pytest

    from bonenet.errors import ConfigError
    from bonenet.evaluation import bootstrap_metrics, net_benefit

    y = np.array([0, 1, 0, 1, 1, 0])
    p = np.array([0.1, 0.8, 0.3, 0.6, 0.7, 0.2])
    with pytest.raises(ConfigError, match="n_boot=0"):
        bootstrap_metrics(y, p, n_boot=0)
    with pytest.raises(ConfigError, match=r"got \[20.0\]"):
        net_benefit(y, p, thresholds=[0.1, 20.0])


def test_saturated_predictions_give_undefined_resamples_not_a_crash():
    """Predictions of 1e-58 and 1 - 4e-14 (an overfitted logistic model) made the calibration
    Newton step divide by zero; such resamples are now undefined."""
    import numpy as np

    from bonenet.evaluation import bootstrap_metrics

    # the demo's external site (12 subjects) scored by an overfitted clinical logistic model
    y = np.array([1, 0, 0, 0, 0, 1, 0, 1, 0, 1, 0, 0])
    p = np.array([2.761404519538733e-58, 3.5976740758466326e-16, 2.1595480891234204e-24,
                  6.894551485953855e-42, 2.8487615579603567e-32, 0.9999999999999596, 0.9141777348276542,
                  0.9999999768918364, 5.7326986206239884e-27, 9.757649458420114e-16,
                  3.1259700094820857e-10, 1.3287877382009157e-06])
    r = bootstrap_metrics(y, p, n_boot=200, seed=0, thresholds=(0.2,)).to_dict()
    assert r["auc"]["value"] is not None
    assert r["citl"].get("undefined_resamples", 0) < 200

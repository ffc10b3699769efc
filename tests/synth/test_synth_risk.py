"""Risk model: marginals as documented, FRAX-range clinical AUC, oracle gap, treatments."""

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from bonenet.errors import SynthError
from bonenet.synth import (
    FRAX_COLUMNS,
    RISK_FACTORS,
    TREATMENTS,
    CaseMix,
    RiskModel,
    make_cohort,
    oracle_risk,
    simulate_clinical,
)


@pytest.fixture(scope="module")
def big():
    return make_cohort(30000, modality="hrpqct", seed=11, images=False, show_progress=False)


def _design(df: pd.DataFrame) -> np.ndarray:
    x = df[list(FRAX_COLUMNS)].copy()
    x["sex"] = (x["sex"] == "F").astype(int)
    return x.to_numpy(dtype=float)


def test_clinical_auc_in_frax_range_and_oracle_gap(big):
    m, t = big.manifest, big.truth
    y = m["fracture"].to_numpy()
    x = _design(m)
    half = len(m) // 2
    lr = LogisticRegression(max_iter=3000).fit(x[:half], y[:half])
    auc_clin = roc_auc_score(y[half:], lr.predict_proba(x[half:])[:, 1])
    auc_oracle = roc_auc_score(y[half:], t["oracle_risk_10y"].to_numpy()[half:])
    assert 0.62 <= auc_clin <= 0.72, auc_clin
    assert auc_oracle >= auc_clin + 0.08, (auc_clin, auc_oracle)


def test_oracle_is_calibrated(big):
    m, t = big.manifest, big.truth
    # observed 10-year fractures (censoring before 10 y is ~8 %) vs mean oracle risk
    obs = m["fracture"].mean()
    exp = t["oracle_risk_10y"].mean()
    assert abs(obs - exp) < 0.03
    # by decile, observed tracks predicted
    q = pd.qcut(t["oracle_risk_10y"], 5, labels=False)
    g = pd.DataFrame({"q": q, "y": m["fracture"], "p": t["oracle_risk_10y"]}).groupby("q").mean()
    assert np.all(np.diff(g["y"].to_numpy()) > 0)
    assert np.max(np.abs(g["y"] - g["p"])) < 0.05


def test_marginals_as_documented(big):
    c = big.clinical
    assert c["age"].between(50, 90).all()
    assert 0.78 <= (c["sex"] == "F").mean() <= 0.92
    assert 24 <= c["bmi"].mean() <= 30
    assert 0.10 <= c["prior_fracture"].mean() <= 0.25
    for col, lo, hi in [("parent_hip_fracture", 0.08, 0.18), ("current_smoking", 0.07, 0.2),
                        ("glucocorticoids", 0.02, 0.08), ("rheumatoid_arthritis", 0.015, 0.07),
                        ("alcohol_3plus", 0.015, 0.08)]:
        assert lo <= c[col].mean() <= hi, col
    # T-score falls with age, about -0.5 SD per decade
    slope = np.polyfit(c["age"], c["fn_tscore"], 1)[0] * 10
    assert -0.7 < slope < -0.35
    # the latent quality is independent of BMD
    r = np.corrcoef(big.truth["bone_quality"], c["fn_tscore"])[0, 1]
    assert abs(r) < 0.03
    # deaths compete: some subjects die before fracturing
    assert 0.1 < (big.manifest["event"] == 2).mean() < 0.35
    assert set(big.manifest["split"]) == {"train", "val", "test", "external"}


def test_bmd_gradient_and_quality_effect_in_published_range():
    rr = {r[0]: r[1] for r in RISK_FACTORS}
    assert 1.4 <= rr["fn_tscore"] <= 2.0
    assert 1.5 <= rr["prior_fracture"] <= 2.2
    assert rr["bone_quality"] > 1.5


def test_treatment_arms_lower_risk_by_literature_bmd_change():
    assert TREATMENTS["hrt"][0] == 7.0 and TREATMENTS["etidronate"][0] == 7.3
    assert TREATMENTS["hrt+etidronate"][0] == 10.4
    assert TREATMENTS["estrogen+calcitriol"][0] > max(TREATMENTS["estrogen"][0],
                                                      TREATMENTS["calcitriol"][0])
    df = simulate_clinical(4000, seed=3, case_mix=CaseMix(female_fraction=1.0))
    model = RiskModel()
    base = oracle_risk(df.assign(treatment="none"), model=model, baseline=0.02)[0]
    combo = oracle_risk(df.assign(treatment="hrt+etidronate"), model=model, baseline=0.02)[0]
    hrt = oracle_risk(df.assign(treatment="hrt"), model=model, baseline=0.02)[0]
    assert np.all(combo < hrt) and np.all(hrt < base)
    c = make_cohort(400, seed=2, images=False, treatments=("none", "hrt", "etidronate",
                                                           "hrt+etidronate"), show_progress=False)
    assert set(c.clinical["treatment"]) == {"none", "hrt", "etidronate", "hrt+etidronate"}


def test_bad_arguments_raise_synth_error():
    with pytest.raises(SynthError, match="modality"):
        make_cohort(5, modality="mri", images=False)
    with pytest.raises(SynthError, match="treatment"):
        make_cohort(5, images=False, treatments=("magic",))
    with pytest.raises(SynthError, match="fracture_rate"):
        oracle_risk(simulate_clinical(10), model=RiskModel(fracture_rate=0.95))

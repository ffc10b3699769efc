"""Baselines fit on a small synthetic clinical + morphometry cohort and feed `bonenet evaluate`."""

import json

import numpy as np
import pandas as pd
import pytest

from bonenet.baselines import MODELS, fit_baseline, load_baseline, load_tabular, save_baseline
from bonenet.cli import main
from bonenet.errors import CheckpointError, ConfigError, ManifestError
from bonenet.evaluation import roc_auc


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    rng = np.random.default_rng(0)
    n = 500
    d = tmp_path_factory.mktemp("cohort")
    age = rng.uniform(50, 90, n)
    sex = np.where(rng.random(n) < 0.75, "F", "M")
    prior = (rng.random(n) < 0.2).astype(int)
    bv_tv = np.clip(rng.normal(0.15, 0.04, n) - 0.001 * (age - 70), 0.02, 0.4)
    noise = rng.normal(size=(n, 3))
    lin = -2.2 + 0.05 * (age - 70) + 1.0 * prior - 25 * (bv_tv - 0.15) + 0.4 * (sex == "F")
    y = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(int)
    site = rng.choice(["A", "B", "C"], n, p=[0.45, 0.35, 0.2])
    split = np.where(rng.random(n) < 0.7, "train", "test")
    manifest = pd.DataFrame({
        "subject_id": [f"SYN{i:04d}" for i in range(n)], "image": "x.nii.gz", "site": site, "split": split,
        "fracture": y, "time_years": rng.uniform(1, 10, n).round(2), "event": y,
        "age": age.round(1), "sex": sex, "bmi": rng.normal(26, 4, n).round(1), "prior_fracture": prior,
        "parent_hip_fracture": (rng.random(n) < 0.1).astype(int), "current_smoking": (rng.random(n) < 0.15).astype(int),
        "glucocorticoids": (rng.random(n) < 0.05).astype(int),
        "treatment": rng.choice(["none", "bisphosphonate", "denosumab"], n, p=[0.8, 0.15, 0.05]),
    })
    feats = pd.DataFrame({"subject_id": manifest.subject_id, "bv_tv": bv_tv.round(4),
                          "tb_th_mm": rng.normal(0.2, 0.02, n).round(4),
                          "noise_a": noise[:, 0], "noise_b": noise[:, 1], "noise_c": noise[:, 2]})
    feats.loc[rng.random(n) < 0.1, "tb_th_mm"] = np.nan  # missing morphometry
    manifest.loc[rng.random(n) < 0.05, "bmi"] = np.nan
    manifest.to_csv(d / "manifest.csv", index=False)
    feats.to_csv(d / "features.csv", index=False)
    return d


def test_load_tabular_finds_clinical_and_morphometry(cohort):
    data = load_tabular(features=cohort / "features.csv", manifest=cohort / "manifest.csv")
    assert {"bv_tv", "tb_th_mm", "noise_a"} <= set(data.morphometry)
    assert {"age", "sex", "prior_fracture", "treatment"} <= set(data.clinical)
    assert "treatment" not in data.frax and "age" in data.frax
    assert not {"fracture", "event", "time_years", "site", "split"} & set(data.morphometry)


@pytest.mark.parametrize("model", MODELS)
def test_every_baseline_fits_and_discriminates(cohort, model):
    data = load_tabular(features=cohort / "features.csv", manifest=cohort / "manifest.csv")
    res = fit_baseline(data, model, seed=0, external_sites=["C"])
    pred = res.predictions
    p = pred[f"p_{model}"]
    assert p.between(0, 1).all() and len(pred) == 500
    assert res.info["n_train"] == int(((pred.split == "train") & (pred.site != "C")).sum())
    test = pred.split == "test"
    assert roc_auc(pred.fracture[test], p[test]) > 0.6
    if model == "mrmr":
        assert len(res.info["explain"]["coefficients"]) == 10
    if model == "lasso":
        assert res.info["explain"]["n_selected"] < len(res.info["explain"]["coefficients"])


def test_save_load_roundtrip_and_tamper_check(cohort, tmp_path):
    data = load_tabular(features=cohort / "features.csv", manifest=cohort / "manifest.csv")
    res = fit_baseline(data, "lasso", seed=1)
    paths = save_baseline(res, tmp_path / "m")
    pipe, meta = load_baseline(tmp_path / "m")
    np.testing.assert_allclose(pipe.predict_proba(data.table[res.columns])[:, 1],
                               res.predictions["p_lasso"], rtol=0, atol=1e-12)
    assert meta["model"] == "lasso" and "bv_tv" in meta["inputs"]
    paths["model"].write_bytes(paths["model"].read_bytes() + b"x")
    with pytest.raises(CheckpointError, match="SHA-256"):
        load_baseline(tmp_path / "m")


def test_bad_inputs(cohort, tmp_path):
    with pytest.raises(ManifestError, match="outcome column 'fracture'"):
        load_tabular(features=cohort / "features.csv")
    data = load_tabular(features=cohort / "features.csv", manifest=cohort / "manifest.csv")
    with pytest.raises(ConfigError, match="no such site"):
        fit_baseline(data, "rf", external_sites=["Z"])
    with pytest.raises(ConfigError, match="choose one of"):
        fit_baseline(data, "svm")
    other = pd.DataFrame({"subject_id": ["nobody"], "bv_tv": [0.1]})
    other.to_csv(tmp_path / "f.csv", index=False)
    with pytest.raises(ManifestError, match="no subject_id in common"):
        load_tabular(features=tmp_path / "f.csv", manifest=cohort / "manifest.csv")


def test_cli_baselines_then_one_evaluation_report(cohort, tmp_path):
    for model in ("clinical_lr", "lasso", "xgboost"):
        rc = main(["baseline", "--features", str(cohort / "features.csv"), "--manifest", str(cohort / "manifest.csv"),
                   "--model", model, "--out", str(tmp_path / model), "--seed", "0"])
        assert rc == 0
    rc = main(["evaluate", *[str(tmp_path / m / "predictions.csv") for m in ("clinical_lr", "lasso", "xgboost")],
               "--split", "test", "--reference", "clinical_lr", "--site-column", "site",
               "--n-boot", "50", "--report", str(tmp_path / "eval")])
    assert rc == 0
    m = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert set(m["models"]) == {"clinical_lr", "lasso", "xgboost"}
    assert m["n"] == int((pd.read_csv(cohort / "manifest.csv").split == "test").sum())
    assert "lasso_vs_clinical_lr" in m["comparisons"]

"""Baselines + evaluation on a `bonenet.synth` cohort (its manifest format, sites and splits)."""

import json

import numpy as np
import pandas as pd
import pytest

from bonenet.cli import main

synth = pytest.importorskip("bonenet.synth")


def test_synth_cohort_baselines_and_report(tmp_path):
    c = tmp_path / "cohort"
    synth.make_cohort(900, modality="hrpqct", seed=3, out=c, images=False, show_progress=False)
    manifest = pd.read_csv(c / "manifest.csv")
    truth = pd.read_csv(c / "truth.csv")
    # stand-in for `bonenet features`: the true morphometry with 5 % measurement noise
    rng = np.random.default_rng(0)
    feats = truth[["subject_id"]].copy()
    for col in ("bv_tv", "tb_th_mm", "tb_sp_mm", "tb_n_per_mm", "ct_th_mm", "ct_po", "tb_vbmd_mgcm3"):
        feats[col] = truth[col] * np.exp(rng.normal(0, 0.05, len(truth)))
    feats.to_csv(c / "features.csv", index=False)
    external = sorted(manifest.site.unique())[-1]
    for model in ("clinical_lr", "lasso"):
        assert main(["baseline", "--features", str(c / "features.csv"), "--manifest", str(c / "manifest.csv"),
                     "--model", model, "--external-site", external, "--out", str(tmp_path / model)]) == 0
    pred = pd.read_csv(tmp_path / "lasso" / "predictions.csv")
    assert set(pred.columns) >= {"subject_id", "fracture", "site", "split", "time_years", "event", "p_lasso"}
    assert main(["evaluate", str(tmp_path / "clinical_lr" / "predictions.csv"), str(tmp_path / "lasso" / "predictions.csv"),
                 "--split", "test,external", "--reference", "clinical_lr", "--site-column", "site",
                 "--external-site", external, "--n-boot", "30", "--report", str(tmp_path / "eval")]) == 0
    m = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    held = manifest.split.isin(["test", "external"])
    assert m["n"] == int(held.sum()) and m["events"] == int(manifest.fracture[held].sum())
    assert external in m["external_validation"]["lasso"]["external"]
    td = m["models"]["lasso"]["survival"]["td_auc_10y"]
    assert td["lower"] < td["value"] < td["upper"] and td["value"] > 0.5

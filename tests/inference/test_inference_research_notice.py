"""run.json says bonenet is research software and what the risk categories are, with sources."""

from __future__ import annotations

import json

from inference_helpers import make_nifti_studies, tiny_predictor

from bonenet.inference import Pseudonymizer, discover_studies, predict_studies


def test_run_json_carries_notice_and_category_sources(tmp_path):
    studies_dir, clinical = make_nifti_studies(tmp_path / "c", 3)
    studies = discover_studies(studies_dir, clinical=clinical)
    out = tmp_path / "out"
    predict_studies(studies, tiny_predictor(), out, pseudonymizer=Pseudonymizer("salt-0123456789abcdef"),
                    batch_size=4, num_workers=0)
    run = json.loads((out / "run.json").read_text())
    assert "not a medical device" in run["notice"]
    cats = run["risk_categories"]
    assert cats["kind"].startswith("research categories")
    assert cats["cutoffs"] == {"low": "< 0.1", "moderate": "0.1 to < 0.2", "high": ">= 0.2"}
    assert "Papaioannou" in cats["source"] and "Cosman" in cats["source"]
    assert "major osteoporotic" in cats["meaning"]
    out2 = tmp_path / "out2"
    predict_studies(studies, tiny_predictor(), out2, pseudonymizer=Pseudonymizer("salt-0123456789abcdef"),
                    batch_size=4, num_workers=0, thresholds=(0.05, 0.3))
    cats = json.loads((out2 / "run.json").read_text())["risk_categories"]
    assert cats["meaning"] == "user-chosen cut-offs" and cats["source"].startswith("the user")

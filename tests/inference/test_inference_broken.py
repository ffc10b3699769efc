"""A study set with broken inputs: one errors.csv row with a reason each, predictions for the rest."""

from __future__ import annotations

import pandas as pd
import pytest
from inference_helpers import has_dicom_io, make_broken_study_set, tiny_predictor

from bonenet.inference import Pseudonymizer, discover_studies, predict_studies

pytestmark = pytest.mark.skipif(not has_dicom_io(), reason="needs bonenet.io DICOM support")
SALT = "broken-set-salt-01"


def test_broken_inputs_each_get_an_error_row(tmp_path):
    studies_dir, clinical, broken = make_broken_study_set(tmp_path)
    studies = discover_studies(studies_dir, clinical=clinical)
    p = Pseudonymizer(SALT)
    s = predict_studies(studies, tiny_predictor(), tmp_path / "out", pseudonymizer=p,
                        num_workers=1, batch_size=2)
    err = pd.read_csv(tmp_path / "out" / "errors.csv").set_index("subject_id")
    pred = pd.read_csv(tmp_path / "out" / "predictions.csv", keep_default_na=False)
    assert sorted(err.index) == sorted(p(k) for k in broken), err.to_string()
    assert sorted(pred["subject_id"]) == sorted(p(f"GOOD{i}") for i in range(4))
    assert (s.n_predicted, s.n_failed) == (4, 5)
    reason = {k: err.loc[p(k), "reason"].lower() for k in broken}
    assert "empty folder" in reason["EMPTY"]
    assert "mr" in reason["MRSERIES"]
    assert "localizer" in reason["LOCALIZER"] or "slice" in reason["LOCALIZER"]
    assert "age" in reason["BADCLIN"] and "250" in reason["BADCLIN"]
    assert reason["TRUNCATED"]
    for k in broken:  # no identifiers or paths in the reasons
        assert k not in err.loc[p(k), "reason"] and str(studies_dir) not in err.loc[p(k), "reason"]
    # the series used is pseudonymised; its free-text description and the DICOM file names
    # stay out of the outputs unless asked for (--keep-text); patient ids never appear
    assert pred["series"].str.startswith("ser-").all()
    assert "series_description" not in pred.columns
    text = (tmp_path / "out" / "predictions.csv").read_text()
    assert "GOOD" not in text and "bone axial" not in text
    assert ".dcm" not in (tmp_path / "out" / "errors.csv").read_text()


def test_keep_text_keeps_the_series_description(tmp_path):
    import dataclasses

    studies_dir, clinical, _ = make_broken_study_set(tmp_path)
    studies = [s for s in discover_studies(studies_dir, clinical=clinical) if s.key.startswith("GOOD")]
    pred = tiny_predictor()
    pred.preparer = dataclasses.replace(pred.preparer, keep_text=True)
    predict_studies(studies, pred, tmp_path / "out", pseudonymizer=Pseudonymizer(SALT), num_workers=0)
    df = pd.read_csv(tmp_path / "out" / "predictions.csv", keep_default_na=False)
    assert (df["series_description"] == "bone axial").all()

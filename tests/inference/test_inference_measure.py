"""`--measure`: measurements join the prediction row; a study that cannot be measured keeps
its prediction and is flagged."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
from inference_helpers import tiny_predictor

from bonenet.inference import Pseudonymizer, discover_studies, predict_studies
from bonenet.volume import Volume

pytestmark = pytest.mark.skipif(importlib.util.find_spec("bonenet.segment") is None,
                                reason="needs bonenet.segment and bonenet.morphometry")


def test_measurements_and_unmeasurable_studies(tmp_path):
    from bonenet.measure import feature_columns as measure_columns
    from bonenet.measure import measure_study as measure_volume
    from bonenet.io import save

    arr = np.full((32, 32, 32), 50.0, np.float32)
    for k in range(2, 32, 6):  # plates 2 voxels thick every 6 voxels (0.1 mm voxels)
        arr[k:k + 2] = 900.0
    save(Volume(arr, spacing=(0.1, 0.1, 0.1), units="mgHA/cm3", modality="HRPQCT"),
         tmp_path / "studies" / "A" / "image.nii.gz")
    save(Volume(arr - 1000, spacing=(0.1, 0.1, 0.1), units="HU", modality="CT"),
         tmp_path / "studies" / "B" / "image.nii.gz")
    pred = tiny_predictor(measure=measure_volume, measure_columns=measure_columns())
    p = Pseudonymizer(None)
    s = predict_studies(discover_studies(tmp_path / "studies"), pred, tmp_path / "out",
                        pseudonymizer=p, num_workers=0)
    assert s.n_predicted == 2
    df = pd.read_csv(tmp_path / "out" / "predictions.csv", keep_default_na=False).set_index("subject_id")
    assert set(measure_columns()) <= set(df.columns)
    assert float(df.loc["A", "bv_tv"]) == pytest.approx(1 / 3, abs=0.05)
    assert float(df.loc["A", "tb_th_mm"]) == pytest.approx(0.2, abs=0.05)
    assert "measure_failed" not in df.loc["A", "qc_flags"]
    assert df.loc["B", "bv_tv"] == "" and "measure_failed" in df.loc["B", "qc_flags"]
    assert "calibrate" in df.loc["B", "warnings"]

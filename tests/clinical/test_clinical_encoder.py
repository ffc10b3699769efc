import io
import json

import numpy as np
import pandas as pd
import pytest

from bonenet.clinical import SCHEMA, ClinicalEncoder
from bonenet.errors import CheckpointError, ClinicalValueError


def table(csv: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(csv), dtype=str, keep_default_na=False)


TRAIN = table("subject_id,Age (years),Sex,Prior fracture,Treatment\n"
              "a,60,F,yes,none\nb,70,M,no,hrt\nc,80,F,,\n")
TEST = table("subject_id,age,sex,prior_fracture,treatment\nd,90,M,1,denosumab\ne,,,,\n")


def test_n_features_is_fixed_by_the_schema_before_fit():
    enc = ClinicalEncoder(["age", "sex", "prior_fracture", "treatment"])
    assert enc.n_features == 1 + 2 + 1 + 9 == len(enc.feature_names)
    assert enc.feature_names[:4] == ["age", "sex=F", "sex=M", "prior_fracture"]
    full = ClinicalEncoder()
    assert full.variables == [n for n, v in SCHEMA.items() if v.group != "device"]
    assert full.n_features == len(full.feature_names)


def test_fit_uses_training_split_only_and_masks_missing_values():
    enc = ClinicalEncoder(["age", "sex", "prior_fracture", "treatment"]).fit(TRAIN)
    assert enc.mean_["age"] == pytest.approx(70.0) and enc.sd_["age"] == pytest.approx(10.0)
    values, observed = enc.transform(TEST)
    assert values.dtype == observed.dtype == np.float32 and values.shape == (2, enc.n_features)
    assert values[0, 0] == pytest.approx(2.0)  # (90 - 70) / 10 with train statistics
    assert values[0, 1:3].tolist() == [0.0, 1.0] and observed[0, 1:3].tolist() == [1.0, 1.0]
    assert values[0, 3] == 1.0
    assert values[0, 4 + 8] == 1.0 and values[0, 4:].sum() == 1.0  # denosumab one-hot
    assert not values[1].any() and not observed[1].any()  # all missing: zeros, never imputed


def test_to_dict_round_trip_through_json_gives_identical_output():
    enc = ClinicalEncoder().fit(TRAIN)
    again = ClinicalEncoder.from_dict(json.loads(json.dumps(enc.to_dict())))
    for a, b in zip(enc.transform(TEST), again.transform(TEST), strict=True):
        np.testing.assert_array_equal(a, b)


def test_errors():
    with pytest.raises(ClinicalValueError, match="unknown clinical variable"):
        ClinicalEncoder(["age", "shoe_size"])
    with pytest.raises(ClinicalValueError, match="before fit"):
        ClinicalEncoder(["age"]).transform(TEST)
    state = ClinicalEncoder(["age"]).fit(TRAIN).to_dict()
    state["feature_names"] = ["age", "extra"]
    with pytest.raises(CheckpointError, match="layout"):
        ClinicalEncoder.from_dict(state)
    with pytest.raises(ClinicalValueError, match="'Q'"):
        ClinicalEncoder(["sex"]).fit(TRAIN).transform(table("subject_id,sex\nz,Q\n"))

"""The clinical part of batch prediction: declarations from the encoder, flags in qc_flags,
required declared columns checked before any study runs."""

from __future__ import annotations

import pandas as pd
import pytest

from bonenet.clinical import ClinicalEncoder
from bonenet.data import StudyInput
from bonenet.errors import ClinicalValueError
from bonenet.inference._prepare import StudyPreparer
from bonenet.inference._studies import Study

NLR = {"name": "nlr", "kind": "continuous", "valid_range": [0, 100], "aliases": ["NLR"],
       "required": True}


def _preparer() -> StudyPreparer:
    train = pd.DataFrame({"age": ["60", "70"], "sex": ["F", "M"], "fn_bmd": ["0.8", "0.7"],
                          "NLR": ["2", "3"]})
    enc = ClinicalEncoder(["age", "sex", "fn_tscore", "nlr"], declared=[NLR]).fit(train)
    enc = ClinicalEncoder.from_dict(enc.to_dict())  # as load_predictor rebuilds it
    return StudyPreparer(input=StudyInput(encoder=enc))  # parses with enc.declared


def test_flags_reach_qc_flags_and_declared_values_are_encoded():
    prep = _preparer()
    row = {"age": "35", "sex": "F", "fn_bmd": "0.8", "NLR": "2.5"}
    got = prep(Study("a", (), row, {}, ("clin.csv", 2)), "sid", None)
    assert {"frax_age_out_of_range", "fn_tscore_assumed_hologic"} <= set(got.info["qc_flags"])
    assert got.info["clinical_missing"] == []
    assert got.clinical_observed.tolist() == [1.0, 1.0, 1.0, 1.0, 1.0]
    ok = prep(Study("b", (), {**row, "age": "65", "dxa_manufacturer": "Hologic"}, {}, ("clin.csv", 3)),
              "sid", None)
    assert ok.info["qc_flags"] == []


def test_required_declared_column_refused_per_table_before_any_study():
    prep = _preparer()
    good = Study("a", (), {"age": "70", "sex": "F", "NLR": ""}, {}, ("good.csv", 2))
    bad = Study("b", (), {"age": "70", "sex": "F"}, {}, ("bad.csv", 2))
    prep.check_studies([good])
    with pytest.raises(ClinicalValueError, match=r"bad\.csv: required clinical column\(s\) missing: 'nlr'"):
        prep.check_studies([good, bad])
    with pytest.raises(ClinicalValueError, match="no clinical table given"):
        prep.check_studies([Study("c", (), None)])

"""User-declared clinical variables: validation, parsing, encoding, checkpoint state,
required columns, YAML files; and the subject-identifier column aliases."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import pandas as pd
import pytest

from bonenet.clinical import (
    ClinicalEncoder,
    ClinicalVariable,
    check_required,
    declare_variables,
    load_declarations,
    parse_clinical,
    resolve_id_column,
    split_spec,
)
from bonenet.errors import CheckpointError, ClinicalValueError, ConfigError, ManifestError

NLR = {"name": "nlr", "kind": "continuous", "unit": "", "valid_range": [0, 100],
       "aliases": ["NLR", "neutrophil lymphocyte ratio"], "required": True}
ECOG = {"name": "ecog", "kind": "categorical", "categories": ["0", "1", "2", "3", "4"],
        "aliases": ["ECOG PS"]}
DIAB = {"name": "diabetes", "kind": "binary", "missing": "error"}
CALCIUM = {"name": "calcium_active_vitd", "kind": "continuous", "unit": "mmol/L",
           "valid_range": [0.5, 5.0], "units": {"mg/dL": 0.2495}, "aliases": ["Ca on vitamin D"]}


def table(csv: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(csv), dtype=str, keep_default_na=False)


@pytest.mark.parametrize("spec,match", [
    ({"name": "nlr", "kind": "continous"}, "kind 'continous' unknown"),
    ({"name": "nlr", "kind": "continuous", "valid_rnage": [0, 1]}, "did you mean 'valid_range'"),
    ({"name": "age", "kind": "continuous"}, "already a schema variable"),
    ({"name": "fracture", "kind": "binary"}, "reserved column"),
    ({"name": "NLR ratio", "kind": "continuous"}, "snake_case"),
    ({"name": "ecog", "kind": "categorical", "categories": ["0"]}, "≥ 2 distinct categories"),
    ({"name": "nlr", "kind": "continuous", "valid_range": [5, 1]}, "low < high"),
    ({"name": "nlr", "kind": "binary", "valid_range": [0, 1]}, "only for kind 'continuous'"),
    ({"name": "nlr", "kind": "continuous", "missing": "drop"}, "missing='drop' unknown"),
    ({"kind": "continuous"}, "'name' is missing"),
    ({"name": "tbs", "kind": "continuous", "aliases": ["bmi"]}, "already means schema variable 'bmi'"),
])
def test_bad_declarations_are_config_errors_naming_the_key(spec, match):
    with pytest.raises(ConfigError, match=match):
        declare_variables([spec])


def test_two_declarations_cannot_share_a_name_or_alias():
    with pytest.raises(ConfigError, match="declared twice"):
        declare_variables([NLR, NLR])
    with pytest.raises(ConfigError, match="also belongs to 'nlr'"):
        declare_variables([NLR, {"name": "nlr2", "kind": "continuous", "aliases": ["NLR"]}])


def test_declared_variables_are_parsed_with_aliases_units_and_categories():
    df = table("Patient ID,Age,Sex,NLR,ECOG PS,diabetes,Ca on vitamin D (mg/dL)\n"
               "a,70,F,3.5,1.0,yes,9.6\nb,65,M,,3,no,\n")
    out = parse_clinical(df, id_column="Patient ID", variables=[NLR, ECOG, DIAB, CALCIUM])
    assert out["nlr"].tolist()[0] == 3.5 and math.isnan(out["nlr"][1])
    assert out["ecog"].tolist() == ["1", "3"]  # "1.0" is category "1"
    assert out["diabetes"].tolist() == [1.0, 0.0]
    assert out["calcium_active_vitd"][0] == pytest.approx(9.6 * 0.2495)
    assert out.attrs["clinical_columns"][-4:] == ["nlr", "ecog", "diabetes", "calcium_active_vitd"]
    # undeclared, the same headers pass through untouched
    plain = parse_clinical(df)
    assert "NLR" in plain.columns and "nlr" not in plain.columns


@pytest.mark.parametrize("column,value,expect", [
    ("NLR", "250", ["line 3", "Patient ID b", "'NLR'", "'250'", "nlr must lie in [0, 100]"]),
    ("NLR", "high", ["line 3", "'high'", "not a number"]),
    ("ECOG PS", "5", ["line 3", "'5'", "not a declared category", "0, 1, 2, 3, 4"]),
    ("diabetes", "", ["line 3", "'diabetes'", "declared missing: error"]),
])
def test_bad_declared_values_name_row_column_value_and_fix(column, value, expect):
    df = table("Patient ID,Age,Sex,NLR,ECOG PS,diabetes\na,70,F,3.5,1,yes\nb,65,M,2,3,no\n")
    df.loc[1, column] = value
    with pytest.raises(ClinicalValueError) as exc:
        parse_clinical(df, id_column="Patient ID", variables=[NLR, ECOG, DIAB])
    for text in expect:
        assert text in str(exc.value)


def test_required_declared_column_is_refused_when_absent():
    df = table("subject_id,age,sex\na,70,F\n")
    with pytest.raises(ClinicalValueError, match="required clinical column 'nlr' is missing"):
        parse_clinical(df, required=(), variables=[NLR])
    with pytest.raises(ClinicalValueError) as exc:
        check_required(df, declare_variables([NLR, ECOG]), source="clin.csv")
    msg = str(exc.value)
    assert "clin.csv" in msg and "'nlr'" in msg and "'NLR'" in msg and "ecog" not in msg
    check_required(["subject_id", "Neutrophil-lymphocyte ratio"], declare_variables([NLR]))  # alias ok


def test_encoder_carries_declarations_through_json_state():
    train = table("subject_id,age,sex,NLR,ECOG PS\na,70,F,3.5,1\nb,65,M,,3\nc,80,F,1.5,0\n")
    enc = ClinicalEncoder(["age", "nlr", "ecog"], declared=[NLR, ECOG]).fit(train)
    assert enc.feature_names == ["age", "nlr", "ecog=0", "ecog=1", "ecog=2", "ecog=3", "ecog=4"]
    values, observed = enc.transform(train)
    assert observed[1].tolist() == [1, 0, 1, 1, 1, 1, 1]  # blank NLR: missing indicator
    assert values[0, 1] == pytest.approx((3.5 - 2.5) / math.sqrt(2.0))
    assert values[2, 2] == 1.0 and values[1, 5] == 1.0
    state = json.loads(json.dumps(enc.to_dict()))
    back = ClinicalEncoder.from_dict(state)
    assert [d.name for d in back.declared] == ["nlr", "ecog"] and back.declared[0].required
    np.testing.assert_array_equal(back.transform(train)[0], values)
    # the default selection is every non-device schema variable plus the declared ones
    assert ClinicalEncoder(declared=[NLR]).variables[-1] == "nlr"
    state["declared"] = [{"name": "nlr", "kind": "nonsense"}]
    with pytest.raises(CheckpointError, match="not valid here"):
        ClinicalEncoder.from_dict(state)


def test_missing_error_policy_refuses_an_absent_column_at_encoding():
    enc = ClinicalEncoder(["age", "diabetes"], declared=[DIAB]).fit(table("age,diabetes\n70,1\n60,0\n"))
    with pytest.raises(ClinicalValueError, match="declared missing: error"):
        enc.transform(table("age\n70\n"))


def test_yaml_declarations_from_a_list_or_a_training_config(tmp_path):
    import yaml

    cfg = {"data": {"class_path": "bonenet.data.BoneDataModule",
                    "init_args": {"clinical_variables": ["age", "sex", NLR, ECOG]}}}
    p = tmp_path / "exp.yaml"
    p.write_text(yaml.safe_dump(cfg))
    assert [d.name for d in load_declarations(p)] == ["nlr", "ecog"]
    q = tmp_path / "vars.yaml"
    q.write_text(yaml.safe_dump([DIAB]))
    assert load_declarations(q)[0] == ClinicalVariable("diabetes", "binary", missing="error")
    names, declared = split_spec(["age", "sex", NLR])
    assert names == ["age", "sex", "nlr"] and declared[0].name == "nlr"
    assert split_spec([NLR])[0] is None  # no strings: the default selection plus declared
    (tmp_path / "bad.yaml").write_text("data: {init_args: {}}\n")
    with pytest.raises(ConfigError, match="no list of clinical variables"):
        load_declarations(tmp_path / "bad.yaml")


@pytest.mark.parametrize("columns,expect", [
    (["subject_id", "ID", "age"], "subject_id"),
    (["Patient ID", "age"], "Patient ID"),
    (["patient_id", "age"], "patient_id"),
    (["study_id", "image"], "study_id"),
    (["\ufeffID", "age"], "\ufeffID"),
    (["Subject", "age"], "Subject"),
])
def test_identifier_column_aliases(columns, expect):
    assert resolve_id_column(columns) == expect


def test_identifier_column_missing_or_ambiguous_names_the_fix():
    with pytest.raises(ManifestError, match=r"name it 'subject_id'.*'Patient ID'"):
        resolve_id_column(["name", "age"], source="clin.csv")
    with pytest.raises(ManifestError, match="'Patient ID', 'study_id' all look like"):
        resolve_id_column(["Patient ID", "study_id", "age"])

import io
import json
import math

import numpy as np
import pandas as pd
import pytest

from bonenet.clinical import SCHEMA, canonical_header, fn_tscore_from_bmd, parse_clinical
from bonenet.errors import ClinicalValueError


def table(csv: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(csv), dtype=str, keep_default_na=False)


@pytest.mark.parametrize("header,name,unit", [
    ("Age (years)", "age", "years"), ("AGE", "age", None), ("Age, years", "age", None),
    ("BMI [kg/m²]", "bmi", "kg/m2"), ("Weight (kg)", "weight_kg", "kg"), ("weight_kg", "weight_kg", None),
    ("Height (m)", "height_cm", "m"), ("Prior fracture", "prior_fracture", None),
    ("Sex", "sex", None), ("Gender", "sex", None), ("Parent fractured hip", "parent_hip_fracture", None),
    ("Current smoking", "current_smoking", None), ("Alcohol ≥3 units/day", "alcohol_3plus", None),
    ("Femoral neck BMD (g/cm2)", "fn_bmd", "g/cm2"), ("FN T-score", "fn_tscore", None),
    ("25(OH)D (ng/mL)", "vitd_25oh", "ng/ml"), ("P1NP", "p1np", None), ("subject_id", None, None),
    ("fracture", None, None), ("image", None, None),
])
def test_headers_map_to_canonical_names(header, name, unit):
    assert canonical_header(header) == (name, unit)


def test_every_schema_variable_has_kind_unit_and_range():
    for v in SCHEMA.values():
        assert v.kind in ("continuous", "binary", "categorical")
        if v.kind == "continuous":
            assert v.unit and v.valid_range[0] < v.valid_range[1]
        if v.kind == "categorical":
            assert v.categories
    assert [v.name for v in SCHEMA.values() if v.required] == ["age", "sex"]


def test_parses_yes_no_blanks_units_and_derives_bmi_and_tscore():
    df = table(
        "subject_id,Age (years),Sex,Weight (lb),Height (m),Prior fracture,Current smoking,fn_bmd,Treatment\n"
        "a,65,female,154.32,1.60,yes,FALSE,0.738,none\n"
        "b,,M,176.4,1.80,N,1,,alendronate\n"
        "c,70,F,,,,t,,\n")
    out = parse_clinical(df)
    assert out["sex"].tolist() == ["F", "M", "F"]
    assert out["prior_fracture"].tolist()[:2] == [1.0, 0.0] and math.isnan(out["prior_fracture"][2])
    assert out["current_smoking"].tolist() == [0.0, 1.0, 1.0]
    assert out["height_cm"][0] == pytest.approx(160.0)
    assert out["weight_kg"][0] == pytest.approx(70.0, abs=0.01)
    assert out["bmi"][0] == pytest.approx(out["weight_kg"][0] / 1.6**2)
    assert math.isnan(out["bmi"][2])  # nothing to derive from: stays missing
    assert math.isnan(out["age"][1])  # blank is missing, never filled
    assert out["fn_tscore"][0] == pytest.approx(-1.0, abs=1e-6)  # (0.738-0.858)/0.120
    assert math.isnan(out["fn_tscore"][1])
    assert out["treatment"].tolist()[:2] == ["none", "bisphosphonate"]
    assert out.attrs["clinical_derived"] == {"bmi": 2, "fn_tscore": 1}
    assert out["subject_id"].tolist() == ["a", "b", "c"]  # other columns pass through


def test_tscore_reference_is_nhanes_iii_young_women():
    assert fn_tscore_from_bmd(0.858) == 0.0
    assert fn_tscore_from_bmd(0.858 - 2.5 * 0.120) == pytest.approx(-2.5)


@pytest.mark.parametrize("column,value,expect", [
    ("Age (years)", "250", ["line 3", "subject_id b", "'Age (years)'", "'250'", "[0, 120]"]),
    ("BMI", "3", ["line 3", "subject_id b", "'BMI'", "'3'", "bmi must lie"]),
    ("Weight (kg)", "-70", ["line 3", "'Weight (kg)'", "'-70'"]),
    ("Sex", "X", ["line 3", "'Sex'", "'X'", '"F" or "M"']),
    ("Treatment", "vitamin pills", ["line 3", "'Treatment'", "'vitamin pills'", "denosumab"]),
    ("Prior fracture", "maybe", ["line 3", "'Prior fracture'", "'maybe'", "yes/no"]),
    ("Age (years)", "sixty", ["'sixty'", "not a number"]),
])
def test_impossible_values_name_row_column_value_and_fix(column, value, expect):
    df = table("subject_id,Age (years),Sex,Weight (kg),BMI,Prior fracture,Treatment\n"
               "a,60,F,60,22,no,none\nb,61,M,70,24,yes,hrt\n")
    df.loc[1, column] = value
    with pytest.raises(ClinicalValueError) as err:
        parse_clinical(df, source="clinic.csv")
    msg = str(err.value)
    assert "clinic.csv" in msg
    for piece in expect:
        assert piece in msg


def test_every_bad_value_is_listed_at_once():
    df = table("subject_id,age,sex\na,250,F\nb,61,Q\nc,-3,M\n")
    with pytest.raises(ClinicalValueError, match="3 impossible") as err:
        parse_clinical(df)
    assert all(f"line {n}" in str(err.value) for n in (2, 3, 4))


def test_derived_bmi_out_of_range_names_weight_and_height():
    df = table("subject_id,age,sex,weight_kg,height_cm\na,60,F,300,110\n")
    with pytest.raises(ClinicalValueError, match="weight_kg 300 and height_cm 110"):
        parse_clinical(df)


def test_unknown_unit_duplicate_and_missing_required_columns():
    with pytest.raises(ClinicalValueError, match="unit 'stone'"):
        parse_clinical(table("subject_id,age,sex,Weight (stone)\na,60,F,11\n"))
    with pytest.raises(ClinicalValueError, match="both mean 'age'"):
        parse_clinical(table("subject_id,age,Age (years),sex\na,60,60,F\n"))
    with pytest.raises(ClinicalValueError, match="required clinical column 'sex'"):
        parse_clinical(table("subject_id,age\na,60\n"))
    out = parse_clinical(table("subject_id,age\na,60\n"), required=())
    assert out["age"][0] == 60


def test_parsing_is_idempotent_and_json_friendly():
    df = table("subject_id,Age (years),Sex,BMI,Treatment\na,60,F,22.5,hrt\n")
    once = parse_clinical(df)
    twice = parse_clinical(once)
    pd.testing.assert_frame_equal(once, twice)
    row = json.loads(json.dumps({k: (None if isinstance(v, float) and np.isnan(v) else v)
                                 for k, v in once.iloc[0].to_dict().items()}))
    assert row["subject_id"] == "a" and row["age"] == 60 and row["bmi"] == 22.5
    assert row["sex"] in ("F", 0, 1) and row["treatment"] == "hrt"

"""DXA devices (Lu et al. 2001 femoral-neck cross-calibration before the NHANES III T-score),
ambiguous FRAX headers, and FRAX's 40–90 age range."""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest

from bonenet.clinical import (
    FN_SBMD_EQUATIONS,
    SCHEMA,
    canonical_header,
    fn_bmd_to_hologic,
    fn_tscore_from_bmd,
    parse_clinical,
    parse_manufacturer,
)
from bonenet.errors import ClinicalValueError


def table(csv: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(csv), dtype=str, keep_default_na=False)


def test_lunar_worked_example_by_hand_from_the_published_equations():
    # Lu et al. 2001: sBMD = 0.939 × Lunar − 0.023 = 0.7282; Hologic = (0.7282 − 0.019) / 1.087
    assert FN_SBMD_EQUATIONS == {"hologic": (1.087, 0.019), "lunar": (0.939, -0.023),
                                 "norland": (0.985, 0.006)}
    h = fn_bmd_to_hologic(0.80, "lunar")
    assert h == pytest.approx(0.7092 / 1.087, abs=1e-12) and h == pytest.approx(0.6524, abs=1e-4)
    # the T-score error the issue describes: about +1.2 SD if the Lunar value is used as is
    assert fn_tscore_from_bmd(0.80) - fn_tscore_from_bmd(h) == pytest.approx(1.23, abs=0.01)
    # Norland: sBMD = 0.985 × 0.80 + 0.006 = 0.794 → (0.794 − 0.019) / 1.087
    assert fn_bmd_to_hologic(0.80, "norland") == pytest.approx(0.775 / 1.087, abs=1e-12)
    # Hologic is the identity; both routes through sBMD agree (Lunar → sBMD == Hologic → sBMD)
    assert fn_bmd_to_hologic(0.80, "hologic") == pytest.approx(0.80, abs=1e-12)
    assert 1.087 * h + 0.019 == pytest.approx(0.939 * 0.80 - 0.023, abs=1e-12)
    arr = fn_bmd_to_hologic(np.array([0.8, 0.8, 0.8]), np.array(["lunar", "norland", "hologic"]))
    np.testing.assert_allclose(arr, [h, 0.775 / 1.087, 0.8])


@pytest.mark.parametrize("raw,expect", [
    ("GE Healthcare", "lunar"), ("Lunar Prodigy", "lunar"), ("iDXA", "lunar"), ("HOLOGIC", "hologic"),
    ("QDR 4500", "hologic"), ("Discovery A", "hologic"), ("Norland XR-46", "norland"),
    ("Medilink", None), ("Hologic / Lunar", None),
])
def test_manufacturer_spellings(raw, expect):
    assert parse_manufacturer(raw) == expect


def test_tscore_uses_the_manufacturer_and_flags_the_hologic_assumption():
    df = table("subject_id,age,sex,fn_bmd,DXA manufacturer\n"
               "a,65,F,0.80,GE Lunar\nb,65,F,0.80,Hologic\nc,65,F,0.80,\nd,65,F,,Lunar\n")
    out = parse_clinical(df)
    assert out["dxa_manufacturer"].tolist()[:2] == ["lunar", "hologic"]
    t_lunar = fn_tscore_from_bmd(fn_bmd_to_hologic(0.80, "lunar"))
    assert out["fn_tscore"].tolist()[:3] == pytest.approx([t_lunar, fn_tscore_from_bmd(0.80),
                                                            fn_tscore_from_bmd(0.80)])
    assert out["fn_tscore"][0] == pytest.approx(-1.713, abs=1e-3)
    flag = out["fn_tscore_assumed_hologic"].tolist()
    assert flag[:3] == [0.0, 0.0, 1.0] and math.isnan(flag[3])  # d: nothing derived
    assert out["fn_bmd"][0] == 0.80  # the measured value is kept as measured
    # no manufacturer column: every derived T-score is flagged
    plain = parse_clinical(table("subject_id,age,sex,fn_bmd\na,65,F,0.738\n"))
    assert plain["fn_tscore"][0] == pytest.approx(-1.0) and plain["fn_tscore_assumed_hologic"][0] == 1.0
    # a given T-score is the device's own and is never changed
    given = parse_clinical(table("subject_id,fn_bmd,fn_tscore,dxa_manufacturer\na,0.80,-0.4,lunar\n"),
                           required=())
    assert given["fn_tscore"][0] == -0.4 and math.isnan(given["fn_tscore_assumed_hologic"][0])
    # parsing a parsed table keeps the flags
    again = parse_clinical(out)
    np.testing.assert_array_equal(again["fn_tscore_assumed_hologic"], out["fn_tscore_assumed_hologic"])


def test_unknown_manufacturer_is_refused_with_the_choices():
    with pytest.raises(ClinicalValueError, match=r"'Medilink'.*hologic, lunar, norland"):
        parse_clinical(table("subject_id,fn_bmd,dxa_manufacturer\na,0.8,Medilink\n"), required=())


@pytest.mark.parametrize("header,accepted", [
    ("T-score", "'fn_tscore'"), ("tscore", "'fn_tscore'"), ("T score (SD)", "'fn_tscore'"),
    ("Alcohol", "'alcohol_3plus'"), ("alcohol use", "'alcohol_3plus'"),
    ("Steroids", "'glucocorticoids'"), ("glucocorticoid", "'glucocorticoids'"),
    ("Corticosteroids", "'glucocorticoids'"),
])
def test_ambiguous_frax_headers_are_refused_with_the_exact_names(header, accepted):
    df = table(f"subject_id,age,sex,{header}\na,70,F,1\n")
    with pytest.raises(ClinicalValueError) as exc:
        parse_clinical(df)
    msg = str(exc.value)
    assert repr(header) in msg and accepted in msg and "declare it" in msg
    assert canonical_header(header) == (None, None)


def test_unambiguous_spellings_still_map_and_a_declaration_can_claim_an_ambiguous_header():
    for header, name in [("Alcohol ≥3 units/day", "alcohol_3plus"), ("FN T-score", "fn_tscore"),
                         ("Femoral neck T-score", "fn_tscore"), ("Oral glucocorticoids", "glucocorticoids")]:
        assert canonical_header(header)[0] == name
    df = table("subject_id,age,sex,Alcohol\na,70,F,12\n")
    out = parse_clinical(df, variables=[{"name": "alcohol_units_week", "kind": "continuous",
                                         "unit": "units/week", "valid_range": [0, 300],
                                         "aliases": ["alcohol"]}])
    assert out["alcohol_units_week"][0] == 12.0 and "alcohol_3plus" not in out.columns


def test_frax_age_range_is_flagged_not_refused():
    out = parse_clinical(table("subject_id,age,sex\na,35,F\nb,40,F\nc,90,M\nd,93,F\ne,,F\n"))
    flag = out["frax_age_out_of_range"].tolist()
    assert flag[:4] == [1.0, 0.0, 0.0, 1.0] and math.isnan(flag[4])
    assert out.attrs["clinical_flags"]["frax_age_out_of_range"] == 2


def test_secondary_osteoporosis_is_described_as_frax_defines_it():
    text = SCHEMA["secondary_osteoporosis"].description
    for item in ("type I", "osteogenesis imperfecta", "hyperthyroidism", "premature menopause",
                 "malnutrition", "malabsorption", "chronic liver disease"):
        assert item in text
    assert SCHEMA["dxa_manufacturer"].group == "device"

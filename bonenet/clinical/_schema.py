"""The clinical variable schema: FRAX inputs and optional extras, with units and valid ranges.

Every variable has one canonical snake_case name (used as-is in manifests and outputs), a
kind (continuous, binary or
categorical), a unit, the range of values that are physically possible (values outside it are
data-entry errors, not outliers), the spreadsheet headers it is recognised under, and the unit
spellings a header may carry with the factor that converts them to the canonical unit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "AMBIGUOUS_HEADERS",
    "DXA_MANUFACTURERS",
    "FN_BMD_REFERENCE",
    "FRAX_AGE_RANGE",
    "SCHEMA",
    "SCREENING_VARIABLES",
    "TREATMENTS",
    "Variable",
    "canonical_header",
    "fn_tscore_from_bmd",
    "header_name",
]

#: Femoral-neck BMD reference used by FRAX for T-scores: NHANES III non-Hispanic white women
#: aged 20–29 (Looker et al., Osteoporos Int 1998;8:468–489), Hologic scale, g/cm².
FN_BMD_REFERENCE = {"mean_g_cm2": 0.858, "sd_g_cm2": 0.120}

#: DXA manufacturers whose femoral-neck BMD can be put on the Hologic scale (one-hot order).
DXA_MANUFACTURERS = ("hologic", "lunar", "norland")

#: FRAX is defined for ages 40–90 years (Kanis et al., FRAX® and the assessment of fracture
#: probability in men and women from the UK, Osteoporos Int 2008;19:385–397): rows outside
#: get the ``frax_age_out_of_range`` flag, never refused.
FRAX_AGE_RANGE = (40.0, 90.0)

#: Headers that look like a FRAX variable but do not say what FRAX needs; they are refused
#: (normalised header → why, and the exact names accepted instead).
AMBIGUOUS_HEADERS: dict[str, tuple[str, str]] = {
    "t_score": ("fn_tscore", "a T-score without its site (FRAX needs the femoral neck)"),
    "tscore": ("fn_tscore", "a T-score without its site (FRAX needs the femoral neck)"),
    "alcohol": ("alcohol_3plus", "alcohol without its amount (FRAX means ≥ 3 units a day)"),
    "alcohol_use": ("alcohol_3plus", "alcohol without its amount (FRAX means ≥ 3 units a day)"),
    "steroids": ("glucocorticoids", "steroids without route, dose and duration (FRAX means oral "
                 "glucocorticoids ≥ 5 mg/day prednisolone-equivalent for ≥ 3 months)"),
    "steroid": ("glucocorticoids", "steroids without route, dose and duration (FRAX means oral "
                "glucocorticoids ≥ 5 mg/day prednisolone-equivalent for ≥ 3 months)"),
    "glucocorticoid": ("glucocorticoids", "glucocorticoids without dose and duration (FRAX means "
                       "oral ≥ 5 mg/day prednisolone-equivalent for ≥ 3 months)"),
    "glucocorticoid_use": ("glucocorticoids", "glucocorticoids without dose and duration (FRAX "
                           "means oral ≥ 5 mg/day prednisolone-equivalent for ≥ 3 months)"),
    "corticosteroids": ("glucocorticoids", "corticosteroids without route, dose and duration "
                        "(FRAX means oral ≥ 5 mg/day prednisolone-equivalent for ≥ 3 months)"),
}

#: Treatment categories (fixed order: the one-hot layout depends on it).
TREATMENTS = (
    "none", "hrt", "etidronate", "hrt+etidronate", "estrogen", "calcitriol",
    "estrogen+calcitriol", "bisphosphonate", "denosumab",
)


@dataclass(frozen=True)
class Variable:
    """One clinical variable.

    Attributes
    ----------
    name : str
        Canonical column name.
    kind : {"continuous", "binary", "categorical"}
    unit : str
        Canonical unit ("" for binary/categorical).
    valid_range : (float, float) or None
        Inclusive range of possible values in ``unit``; outside → ``ClinicalValueError``.
    aliases : tuple of str
        Normalised header spellings (see :func:`canonical_header`) that mean this variable.
    units_in_header : dict of str → float
        Unit spellings a header may carry (normalised) and the factor to the canonical unit.
    categories : tuple of str
        Categorical levels in one-hot order.
    required : bool
        Whether a clinical table must have this column (age and sex for FRAX).
    group : {"frax", "extra", "device", "user"}
        ``"device"`` describes the measurement (not a risk factor; not encoded by default),
        ``"user"`` a variable declared with :class:`bonenet.clinical.ClinicalVariable`.
    description : str
    """

    name: str
    kind: str
    unit: str = ""
    valid_range: tuple[float, float] | None = None
    aliases: tuple[str, ...] = ()
    units_in_header: dict[str, float] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    required: bool = False
    group: str = "frax"
    description: str = ""


_YES_NO = "0/1 (also yes/no, y/n, true/false)"


def _binary(name: str, aliases: tuple[str, ...], description: str, group: str = "frax") -> Variable:
    return Variable(name, "binary", "", (0, 1), (name, *aliases), {}, (), False, group,
                    f"{description}; {_YES_NO}")


_VARIABLES = (
    Variable("age", "continuous", "years", (0.0, 120.0),
             ("age", "age_years", "age_at_scan", "age_at_baseline", "age_yrs"),
             {"years": 1.0, "year": 1.0, "yrs": 1.0, "yr": 1.0, "y": 1.0, "a": 1.0},
             required=True, description="age in years"),
    Variable("sex", "categorical", "", None, ("sex", "gender", "sex_f_m", "sex_m_f"),
             categories=("F", "M"), required=True, description='"F" or "M" (also female/male)'),
    Variable("weight_kg", "continuous", "kg", (2.0, 350.0),
             ("weight_kg", "weight", "body_weight", "wt"),
             {"kg": 1.0, "lb": 0.45359237, "lbs": 0.45359237, "g": 0.001},
             description="body weight in kg"),
    Variable("height_cm", "continuous", "cm", (50.0, 250.0),
             ("height_cm", "height", "body_height", "ht", "stature"),
             {"cm": 1.0, "m": 100.0, "mm": 0.1, "in": 2.54, "inch": 2.54, "inches": 2.54},
             description="standing height in cm"),
    Variable("bmi", "continuous", "kg/m2", (8.0, 90.0),
             ("bmi", "body_mass_index", "bmi_kg_m2"), {"kg/m2": 1.0, "kg_m2": 1.0},
             description="body-mass index in kg/m²; derived from weight_kg and height_cm when blank"),
    _binary("prior_fracture", ("previous_fracture", "prior_fragility_fracture", "fracture_history",
                               "prior_fx", "previous_fragility_fracture"),
            "prior fragility fracture in adult life"),
    _binary("parent_hip_fracture", ("parent_fractured_hip", "parental_hip_fracture",
                                    "parent_fractured_hip_", "parent_hip_fx", "parents_hip_fracture"),
            "a parent fractured a hip"),
    _binary("current_smoking", ("current_smoker", "smoker", "smoking", "current_smoking_"),
            "currently smokes tobacco"),
    _binary("glucocorticoids", ("oral_glucocorticoids", "glucocorticoids_frax",
                                "oral_glucocorticoids_5mg_3months", "oral_steroids_5mg_3_months"),
            "oral glucocorticoids ≥ 3 months at ≥ 5 mg/day prednisolone-equivalent (FRAX's "
            "definition; plain 'steroids' / 'glucocorticoid' headers are refused as ambiguous)"),
    _binary("rheumatoid_arthritis", ("ra", "rheumatoid"), "confirmed rheumatoid arthritis"),
    _binary("secondary_osteoporosis", ("secondary_op", "secondary_causes"),
            "a disorder strongly associated with osteoporosis as FRAX defines it: type I "
            "(insulin-dependent) diabetes, osteogenesis imperfecta in adults, untreated long-standing "
            "hyperthyroidism, hypogonadism or premature menopause (< 45 years), chronic malnutrition "
            "or malabsorption, chronic liver disease"),
    _binary("alcohol_3plus", ("alcohol_3_or_more_units_day", "alcohol_3_units",
                              "alcohol_3_or_more_units", "alcohol_3plus_units_day",
                              "alcohol_3_units_day"),
            "alcohol ≥ 3 units/day"),
    Variable("fn_bmd", "continuous", "g/cm2", (0.1, 2.5),
             ("fn_bmd", "femoral_neck_bmd", "bmd_fn", "neck_bmd", "bmd_femoral_neck", "fn_bmd_g_cm2"),
             {"g/cm2": 1.0, "g_cm2": 1.0, "mg/cm2": 0.001},
             description="femoral-neck areal BMD (DXA) in g/cm²"),
    Variable("fn_tscore", "continuous", "SD", (-10.0, 10.0),
             ("fn_tscore", "fn_t_score", "femoral_neck_t_score", "femoral_neck_tscore", "t_score_fn",
              "fn_tscore_sd"), {"sd": 1.0},
             description="femoral-neck T-score; derived from fn_bmd (converted to the Hologic scale "
                         "for Lunar/Norland, then NHANES III women 20–29) when blank"),
    Variable("dxa_manufacturer", "categorical", "", None,
             ("dxa_manufacturer", "dxa_vendor", "dxa_device", "dxa_scanner", "dxa_make",
              "densitometer", "dxa_system"),
             categories=DXA_MANUFACTURERS, group="device",
             description="manufacturer of the DXA scanner that measured fn_bmd: hologic, lunar "
                         "(GE) or norland; used to convert fn_bmd to the Hologic scale before the "
                         "T-score, not a model input unless listed"),
    Variable("ctx", "continuous", "ng/mL", (0.0, 20.0),
             ("ctx", "s_ctx", "serum_ctx", "ctx_1", "beta_ctx", "b_ctx"),
             {"ng/ml": 1.0, "ug/l": 1.0, "µg/l": 1.0, "pg/ml": 0.001}, group="extra",
             description="serum C-terminal telopeptide of type I collagen, ng/mL"),
    Variable("p1np", "continuous", "ng/mL", (0.0, 3000.0),
             ("p1np", "pinp", "s_p1np", "serum_p1np"),
             {"ng/ml": 1.0, "ug/l": 1.0, "µg/l": 1.0}, group="extra",
             description="procollagen type 1 N-terminal propeptide, ng/mL"),
    Variable("balp", "continuous", "ug/L", (0.0, 1000.0),
             ("balp", "bone_alp", "bone_alkaline_phosphatase", "bsap"),
             {"ug/l": 1.0, "µg/l": 1.0, "ng/ml": 1.0}, group="extra",
             description="bone-specific alkaline phosphatase, µg/L"),
    Variable("vitd_25oh", "continuous", "nmol/L", (0.0, 800.0),
             ("vitd_25oh", "25ohd", "25_oh_d", "vitamin_d", "vit_d", "25_hydroxyvitamin_d", "vitd"),
             {"nmol/l": 1.0, "ng/ml": 2.496}, group="extra",
             description="serum 25-hydroxyvitamin D, nmol/L"),
    Variable("falls_last_year", "continuous", "count", (0.0, 365.0),
             ("falls_last_year", "falls", "falls_past_year", "n_falls", "number_of_falls"),
             {"count": 1.0, "n": 1.0}, group="extra",
             description="number of falls in the previous 12 months"),
    Variable("treatment", "categorical", "", None,
             ("treatment", "current_treatment", "therapy", "osteoporosis_treatment"),
             categories=TREATMENTS, group="extra", description="current anti-osteoporosis treatment"),
    Variable("frax_mof", "continuous", "%", (0.0, 100.0),
             ("frax_mof", "frax_major", "frax_major_osteoporotic", "frax_major_osteoporotic_fracture"),
             {"%": 1.0, "percent": 1.0, "pct": 1.0}, group="extra",
             description="externally computed FRAX 10-year major osteoporotic fracture probability, %"),
    Variable("frax_hip", "continuous", "%", (0.0, 100.0),
             ("frax_hip", "frax_hip_fracture"), {"%": 1.0, "percent": 1.0, "pct": 1.0},
             group="extra", description="externally computed FRAX 10-year hip fracture probability, %"),
)

#: The schema: canonical name → :class:`Variable`, in the fixed order used by the encoder.
SCHEMA: dict[str, Variable] = {v.name: v for v in _VARIABLES}

_UNIT_RE = re.compile(r"^(?P<name>.*?)\s*(?:[\(\[](?P<unit>[^\)\]]*)[\)\]])\s*$")


def _norm_unit(unit: str) -> str:
    u = unit.strip().lower().replace("²", "2").replace("³", "3").replace(" ", "")
    return u.replace("μ", "µ").replace("^", "")


def _norm_name(name: str) -> str:
    n = name.strip().lower().replace("≥", "").replace("+", "plus")
    n = re.sub(r"[^0-9a-zµ]+", "_", n).strip("_")
    return n


_INDEX_CACHE: list[tuple[tuple[str, ...], dict[str, str]]] = []


def _alias_index() -> dict[str, str]:
    """Normalised alias → canonical name over :data:`SCHEMA` (rebuilt if SCHEMA grows)."""
    key = tuple(SCHEMA)
    if not _INDEX_CACHE or _INDEX_CACHE[0][0] != key:
        index: dict[str, str] = {}
        for v in SCHEMA.values():
            for a in (v.name, *v.aliases):
                index.setdefault(_norm_name(a), v.name)
        _INDEX_CACHE[:] = [(key, index)]
    return _INDEX_CACHE[0][1]


def header_name(header: str) -> str:
    """The normalised name part of a header (unit in brackets removed): ``"T score (SD)"`` →
    ``"t_score"``."""
    m = _UNIT_RE.match(header.strip())
    return _norm_name(m.group("name") if m else header)


def canonical_header(header: str, *, declared: Mapping[str, Variable] | None = None
                     ) -> tuple[str | None, str | None]:
    """Map a spreadsheet header to ``(canonical name, normalised unit)``.

    Case, spaces, punctuation and a trailing unit in parentheses or brackets are tolerated:
    ``"Age (years)"`` → ``("age", "years")``, ``"BMI [kg/m²]"`` → ``("bmi", "kg/m2")``,
    ``"Prior fracture"`` → ``("prior_fracture", None)``. A header ending in a known unit token
    (``"weight_kg"``) is matched whole first. Returns ``(None, None)`` for a non-clinical
    column. ``declared`` adds user-declared variables (name → :class:`Variable`, see
    :class:`bonenet.clinical.ClinicalVariable`) to the schema's.
    """
    schema: Mapping[str, Variable] = SCHEMA
    index = _alias_index()
    if declared:
        schema = {**SCHEMA, **declared}
        index = dict(index)
        for v in declared.values():
            for a in (v.name, *v.aliases):
                index.setdefault(_norm_name(a), v.name)
    whole = _norm_name(header)
    if whole in index and not _UNIT_RE.match(header.strip()):
        return index[whole], None
    m = _UNIT_RE.match(header.strip())
    if m:
        name = _norm_name(m.group("name"))
        if name in index:
            return index[name], _norm_unit(m.group("unit"))
        return None, None
    # "Age, years" / "weight lb": unit after a comma or as the last token
    for sep in (",", " "):
        if sep in header:
            head, _, tail = header.strip().rpartition(sep)
            name = _norm_name(head)
            if name in index and _norm_unit(tail) in schema[index[name]].units_in_header:
                return index[name], _norm_unit(tail)
    return None, None


def fn_tscore_from_bmd(fn_bmd_g_cm2: float) -> float:
    """Femoral-neck T-score from areal BMD (g/cm²) against :data:`FN_BMD_REFERENCE`.

    ``T = (BMD − 0.858) / 0.120``, the NHANES III young white women reference that FRAX uses
    for both sexes.
    """
    return (fn_bmd_g_cm2 - FN_BMD_REFERENCE["mean_g_cm2"]) / FN_BMD_REFERENCE["sd_g_cm2"]


# ---------------------------------------------------------------------------------------------
# Screening variables (issue 19): what the regimen-screening rules in ``_rules.py`` /
# ``screening_rules.yaml`` read. Appended as one block so the rest of the schema stays as is;
# ``group="screening"`` keeps them out of the FRAX set. Calcium: 1 mmol/L = 4.008 mg/dL
# (molar mass 40.078 g/mol); 1 mEq/L = 0.5 mmol/L. 24-h urine calcium: 1 mmol = 40.08 mg.
# ---------------------------------------------------------------------------------------------

_HIST = "screening"


def _history(name: str, aliases: tuple[str, ...], description: str) -> Variable:
    return _binary(name, aliases, description, group=_HIST)


_SCREENING_VARIABLES = (
    _history("history_breast_cancer", ("breast_cancer", "breast_ca", "hx_breast_cancer"),
             "known, suspected or past breast cancer"),
    _history("history_endometrial_cancer", ("endometrial_cancer", "estrogen_dependent_neoplasia",
                                            "hx_endometrial_cancer"),
             "known or suspected endometrial cancer / other estrogen-dependent neoplasia"),
    _history("endometrial_hyperplasia", ("hx_endometrial_hyperplasia",),
             "endometrial hyperplasia (current or untreated)"),
    _history("unexplained_vaginal_bleeding", ("undiagnosed_genital_bleeding", "vaginal_bleeding",
                                              "abnormal_genital_bleeding"),
             "undiagnosed abnormal genital (vaginal) bleeding"),
    _history("history_vte", ("vte", "venous_thromboembolism", "dvt_pe", "hx_vte"),
             "deep-vein thrombosis or pulmonary embolism, active or past"),
    _history("thrombophilia", ("thrombophilic_disorder", "known_thrombophilia"),
             "known protein C/S or antithrombin deficiency or other thrombophilic disorder"),
    _history("history_stroke", ("stroke", "hx_stroke", "cerebrovascular_accident"),
             "stroke, active or past"),
    _history("history_chd", ("coronary_heart_disease", "chd", "myocardial_infarction", "hx_chd",
                             "coronary_disease"),
             "coronary heart disease / myocardial infarction, active or past"),
    _history("liver_disease", ("active_liver_disease", "hepatic_impairment", "liver_impairment"),
             "known liver impairment or disease"),
    _history("kidney_stones", ("nephrolithiasis", "renal_stones", "hx_kidney_stones"),
             "history of kidney stones (nephrolithiasis)"),
    _history("esophageal_disorder", ("oesophageal_disorder", "esophageal_abnormality",
                                     "oesophageal_abnormality"),
             "oesophageal abnormality delaying emptying (stricture, achalasia)"),
    _history("cannot_sit_upright_30min", ("unable_to_sit_upright", "cannot_sit_upright"),
             "unable to stand or sit upright for at least 30 minutes"),
    _history("hysterectomy", ("prior_hysterectomy", "no_uterus"), "uterus removed"),
    Variable("years_since_menopause", "continuous", "years", (0.0, 80.0),
             ("years_since_menopause", "yrs_since_menopause", "time_since_menopause"),
             {"years": 1.0, "year": 1.0, "yrs": 1.0, "y": 1.0}, group=_HIST,
             description="years since the final menstrual period"),
    Variable("serum_calcium", "continuous", "mmol/L", (0.5, 5.0),
             ("serum_calcium", "s_ca", "serum_ca", "total_calcium", "total_serum_calcium",
              "corrected_calcium", "albumin_corrected_calcium"),
             {"mmol/l": 1.0, "mg/dl": 1.0 / 4.008, "mg/100ml": 1.0 / 4.008, "meq/l": 0.5},
             group=_HIST,
             description="total serum calcium (albumin-corrected where available), mmol/L; "
                         "mg/dL ÷ 4.008"),
    Variable("urine_calcium_24h", "continuous", "mg/24h", (0.0, 2000.0),
             ("urine_calcium_24h", "urine_calcium", "u_ca_24h", "urinary_calcium", "24h_urine_calcium",
              "urine_ca_24h"),
             {"mg/24h": 1.0, "mg/24hr": 1.0, "mg/d": 1.0, "mg/day": 1.0, "mmol/24h": 40.08,
              "mmol/24hr": 40.08, "mmol/d": 40.08, "mmol/day": 40.08}, group=_HIST,
             description="24-hour urine calcium, mg/24 h; mmol/24 h × 40.08"),
    Variable("egfr", "continuous", "mL/min/1.73m2", (1.0, 200.0),
             ("egfr", "e_gfr", "gfr", "estimated_gfr", "egfr_ckd_epi", "crcl", "creatinine_clearance"),
             {"ml/min/1.73m2": 1.0, "ml/min": 1.0}, group=_HIST,
             description="estimated glomerular filtration rate (or creatinine clearance), "
                         "mL/min/1.73 m²"),
    Variable("ls_tscore", "continuous", "SD", (-10.0, 10.0),
             ("ls_tscore", "ls_t_score", "lumbar_spine_t_score", "spine_t_score", "lumbar_tscore",
              "spine_tscore"), {"sd": 1.0}, group=_HIST,
             description="lumbar-spine (L1–L4) DXA T-score"),
    Variable("th_tscore", "continuous", "SD", (-10.0, 10.0),
             ("th_tscore", "th_t_score", "total_hip_t_score", "total_hip_tscore", "hip_t_score"),
             {"sd": 1.0}, group=_HIST, description="total-hip DXA T-score"),
)

for _v in _SCREENING_VARIABLES:
    if _v.name in SCHEMA:  # pragma: no cover - guards a merge that declares a name twice
        raise RuntimeError(f"clinical schema declares {_v.name!r} twice")
    SCHEMA[_v.name] = _v  # the alias index rebuilds itself when SCHEMA grows (_alias_index)

#: Names of the screening variables (``group == "screening"``), in schema order.
SCREENING_VARIABLES: tuple[str, ...] = tuple(v.name for v in _SCREENING_VARIABLES)

"""Synthetic screening variables (history, calcium, renal function) and eligibility-gated arms.

:func:`simulate_screening` draws the variables the regimen-screening rules read
(:mod:`bonenet.clinical` ``screening_rules.yaml``) with plausible prevalences for people aged
50–90; :func:`assign_eligible_arms` gives each subject an arm drawn only among the arms whose
regimen the subject is *eligible* for (``bonenet.clinical.screen``), "none" when there is none.
The variables are independent of fracture risk in the synthetic risk model (they act on who is
treated, not on bone), so adding them never changes a subject's oracle risk directly.

Prevalences (:data:`SCREENING_PREVALENCE`): where a source is named, the value is taken from
it; the others are stated ASSUMPTIONS chosen to be of the right order for an older population
— a synthetic-data convenience, not epidemiology.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["SCREENING_PREVALENCE", "assign_eligible_arms", "simulate_screening"]

#: variable → (women, men, note/source). Probabilities at age 70; ``None`` = not applicable
#: (left blank). "assumption" marks values not taken from a source.
SCREENING_PREVALENCE: dict[str, tuple[float | None, float | None, str]] = {
    "history_breast_cancer": (0.05, None, "assumption (order of US breast-cancer survivors among women ≥ 65, ACS Breast Cancer Facts & Figures)"),
    "history_endometrial_cancer": (0.01, None, "assumption"),
    "endometrial_hyperplasia": (0.01, None, "assumption"),
    "unexplained_vaginal_bleeding": (0.01, None, "assumption"),
    "history_vte": (0.03, 0.03, "assumption (lifetime VTE of a few % by age 70)"),
    "thrombophilia": (0.02, 0.02, "assumption (diagnosed thrombophilia; factor V Leiden carriage alone ~5 % in white US adults, Ridker et al., JAMA 1997;277:1305)"),
    "history_stroke": (0.04, 0.05, "assumption (order of AHA Heart Disease and Stroke Statistics, ages 60–79)"),
    "history_chd": (0.08, 0.15, "assumption (order of AHA Heart Disease and Stroke Statistics, ages 60–79)"),
    "liver_disease": (0.02, 0.03, "assumption"),
    "kidney_stones": (0.071, 0.106, "Scales et al., Eur Urol 2012;62:160-165 (NHANES 2007–2010: women 7.1 %, men 10.6 %)"),
    "esophageal_disorder": (0.01, 0.01, "assumption"),
    "cannot_sit_upright_30min": (0.01, 0.01, "assumption (rises 50 % per decade over 70)"),
    "hysterectomy": (0.35, None, "assumption (order of US women ≥ 60)"),
}
#: Continuous variables: (model, source).
SCREENING_CONTINUOUS: dict[str, tuple[str, str]] = {
    "serum_calcium": ("normal, mean 2.38 mmol/L, SD 0.10 (≈1.4 % > 2.60, ≈1.4 % < 2.20)",
                      "assumption centred in the 2.20–2.60 mmol/L reference interval (MSD Manual)"),
    "urine_calcium_24h": ("log-normal, mean 140 mg/24 h (women) / 178 (men), log-SD 0.40; missing in 20 %",
                          "means: Hodgkinson & Pyrah, Br J Surg 1958 (normal subjects); spread and missingness: assumption"),
    "egfr": ("normal, mean 100 − 0.9 × (age − 40) mL/min/1.73 m², SD 16, clipped 5–150",
             "assumption; gives ≈ 25–40 % < 60 over 70, the order of Coresh et al., JAMA 2007;298:2038 (NHANES)"),
    "years_since_menopause": ("age − N(51, 4) years, ≥ 0 (women)",
                              "mean age at natural menopause ≈ 51 (Gold, Am J Epidemiol 2013 review / SWAN)"),
}


def simulate_screening(df: pd.DataFrame, *, rng: np.random.Generator) -> pd.DataFrame:
    """Screening variables for the subjects of ``df`` (needs ``age`` and ``sex``).

    Returns a DataFrame on ``df``'s index: the 0/1 history variables of
    :data:`SCREENING_PREVALENCE` (blank where not applicable to the sex), ``serum_calcium``
    (mmol/L), ``urine_calcium_24h`` (mg/24 h), ``egfr`` (mL/min/1.73 m²) and
    ``years_since_menopause`` (women).
    """
    n = len(df)
    female = df["sex"].to_numpy() == "F"
    age = df["age"].to_numpy(dtype=float)
    out: dict[str, np.ndarray] = {}
    for name, (p_f, p_m, _) in SCREENING_PREVALENCE.items():
        p = np.where(female, np.nan if p_f is None else p_f, np.nan if p_m is None else p_m)
        if name == "cannot_sit_upright_30min":
            p = p * 1.5 ** np.clip((age - 70.0) / 10.0, 0, None)
        draw = (rng.random(n) < np.nan_to_num(p)).astype(float)
        out[name] = np.where(np.isnan(p), np.nan, draw)
    out["serum_calcium"] = np.round(rng.normal(2.38, 0.10, n), 2)
    mean = np.where(female, 140.0, 178.0)
    uca = np.exp(rng.normal(np.log(mean) - 0.08, 0.40, n))  # log-normal with that mean
    out["urine_calcium_24h"] = np.where(rng.random(n) < 0.20, np.nan, np.round(uca, 0))
    out["egfr"] = np.round(np.clip(rng.normal(100.0 - 0.9 * (age - 40.0), 16.0), 5.0, 150.0), 0)
    ysm = np.clip(age - rng.normal(51.0, 4.0, n), 0.0, None)
    out["years_since_menopause"] = np.where(female, np.round(ysm, 1), np.nan)
    return pd.DataFrame(out, index=df.index)


def assign_eligible_arms(df: pd.DataFrame, arms: Sequence[str], *, rng: np.random.Generator) -> np.ndarray:
    """Draw each subject's arm among the ``arms`` whose regimen the subject is eligible for.

    "none" is always allowed when listed, and is the arm of a subject eligible for no listed
    treatment. Eligibility is :func:`bonenet.clinical.screen` with the default rules (status
    "eligible"; "unknown" is not eligible). Returns an array of arm names.
    """
    from ..clinical import screen

    ok = {}
    table = df.copy()
    for arm in arms:
        if arm == "none":
            ok[arm] = np.ones(len(df), dtype=bool)
            continue
        res = screen(table, arm, source=f"synthetic cohort (arm {arm})")
        ok[arm] = (res.table["status"] == "eligible").to_numpy()
    allowed = np.column_stack([ok[a] for a in arms])
    out = np.empty(len(df), dtype=object)
    u = rng.random(len(df))
    for i in range(len(df)):
        idx = np.flatnonzero(allowed[i])
        out[i] = arms[idx[int(u[i] * len(idx))]] if idx.size else "none"
    return out.astype(str)

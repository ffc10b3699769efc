"""Clinical variables, the fracture risk model, and outcomes with death as a competing event.

The risk model is a proportional-hazards model for a first major osteoporotic fracture (MOF):

``λ_fracture = h0 · exp(Σ log(RR_k) · x_k) · RR_treatment``, ``λ_death = d0 · exp(...)``,
constant over 10 years, so the true 10-year fracture probability with death competing is

``CIF(10) = λf / (λf + λd) · (1 − exp(−10 (λf + λd)))``  (the *oracle* risk).

Relative risks (:data:`RISK_FACTORS`) are the ones published *at given femoral-neck BMD*,
because BMD is in the model: FRAX's meta-analyses (Kanis et al., Osteoporos Int 2004–2005;
Kanis, FRAX technical report 2008), the BMD gradient (Marshall et al., BMJ 1996; Johnell et
al., JBMR 2005), BMI with BMD in the model (De Laet et al., Osteoporos Int 2005: RR ≈ 1.00
per kg/m² for any osteoporotic fracture), and secondary osteoporosis with no weight once
femoral-neck BMD is entered (as FRAX). The latent ``bone_quality`` (standard normal,
independent of BMD) stands for microstructure and material properties that areal BMD misses;
its relative risk is an HR-pQCT estimate *adjusted for femoral-neck aBMD*: 1.60 per SD
(STRAMBO, Szulc et al., JBMR 2018;33:1470–1479: distal-radius Tb.N 1.63/SD after aBMD;
BoMIC 2-year fractures, Sarfati et al., JBMR 2024;39:1574–1583: radius cortical measures
1.28–1.61/SD and, in women, trabecular measures 1.21–1.55/SD after FN-aBMD adjustment).
Samelson et al. (BoMIC, Lancet Diabetes Endocrinol 2019;7:34–43) report the *unadjusted*
HRs (tibia failure load 2.40, radius 2.13 per SD) and only that aBMD adjustment attenuates
them. It drives the phantom microstructure, so images carry risk information the clinical
variables lack.

Treatments act through their trials' anti-fracture efficacy (:mod:`bonenet.synth.treatments`).
Age-specific incidence: ``h0`` is solved so that the mean 10-year MOF probability of the
reference population equals ``fracture_rate`` (0.20, about a FRAX-eligible referral cohort);
the age gradient is the one *at given BMD* (1.35 per decade) plus the BMD decline with age
(−0.55 T-score per decade), and the resulting 10-year probabilities by age decade are
tabulated in docs/synth.md beside the Malmö and SOF 10-year probabilities (Ettinger et al.,
Osteoporos Int 2010;21:25–33, Table 5) and FRAX UK (Kanis et al., Osteoporos Int
2008;19:385–397, Table 3) — ``benchmarks/synth_incidence_vs_literature.py``: the synthetic
referral cohort is 1.06–1.53× Malmö women (ages 50–85) and its age gradient is flatter. No registry
incidence is built in: a cohort made to stand for a particular country should set
``fracture_rate`` to that country's figure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from ..errors import SynthError
from .treatments import TREATMENTS

__all__ = [
    "BONE_QUALITY_RR",
    "DEATH_FACTORS",
    "FN_BMD_REF_MEAN",
    "FN_BMD_REF_SD",
    "FRAX_COLUMNS",
    "RISK_FACTORS",
    "TREATMENTS",
    "CaseMix",
    "RiskModel",
    "oracle_risk",
    "simulate_clinical",
    "simulate_outcomes",
]

#: Default latent bone-quality hazard ratio per SD decrease, adjusted for femoral-neck aBMD
#: (Szulc et al., JBMR 2018, STRAMBO: Tb.N 1.63/SD; Sarfati et al., JBMR 2024, BoMIC: 1.21–1.61/SD
#: after FN-aBMD adjustment; Samelson et al. 2019, BoMIC: 2.40/SD is the *unadjusted* failure load).
BONE_QUALITY_RR = 1.60

#: NHANES III femoral-neck young white women (Hologic), the FRAX T-score reference, g/cm².
FN_BMD_REF_MEAN = 0.858
FN_BMD_REF_SD = 0.120

#: FRAX input columns, canonical names (bonenet.clinical).
FRAX_COLUMNS = (
    "age", "sex", "weight_kg", "height_cm", "bmi", "prior_fracture", "parent_hip_fracture",
    "current_smoking", "glucocorticoids", "rheumatoid_arthritis", "secondary_osteoporosis",
    "alcohol_3plus", "fn_bmd", "fn_tscore",
)

#: (variable, relative risk, per what, published range and source) — the risk-model table.
#: Every RR is the one *at given femoral-neck BMD* (BMD is in the model).
RISK_FACTORS: tuple[tuple[str, float, str, str], ...] = (
    ("age", 1.35, "per 10 years",
     "1.3–1.6 per decade at given BMD (cited to Kanis, Osteoporos Int 2001; the range is not in "
     "its abstract: unverified)"),
    ("sex F", 1.15, "female vs male", "1.0–1.3 at given BMD (Kanis, FRAX technical report 2008)"),
    ("bmi", 1.00, "per kg/m²",
     "≈1.00 for osteoporotic fracture with BMD in the model (hip 0.98; 0.97 is without BMD) "
     "(De Laet, Osteoporos Int 2005)"),
    ("prior_fracture", 1.80, "yes vs no", "1.6–2.2 at given BMD (Kanis, Bone 2004)"),
    ("parent_hip_fracture", 1.50, "yes vs no", "1.2–1.7 (Kanis, Bone 2004)"),
    ("current_smoking", 1.20, "yes vs no", "1.1–1.3 at given BMD (Kanis, Osteoporos Int 2005)"),
    ("glucocorticoids", 1.65, "yes vs no", "1.5–2.3 at given BMD (Kanis, JBMR 2004)"),
    ("rheumatoid_arthritis", 1.35, "yes vs no", "1.2–1.6 (Kanis, FRAX technical report 2008)"),
    ("secondary_osteoporosis", 1.00, "yes vs no",
     "no weight once femoral-neck BMD is entered (FRAX; Kanis, FRAX technical report 2008)"),
    ("alcohol_3plus", 1.40, "yes vs no", "1.2–1.7 (Kanis, Osteoporos Int 2005)"),
    ("fn_tscore", 1.50, "per SD decrease",
     "any osteoporotic fracture at 65: 1.38 (women) / 1.41 (men) per SD, rising with age "
     "(Johnell, JBMR 2005); Marshall, BMJ 1996"),
    ("bone_quality", BONE_QUALITY_RR, "per SD decrease (latent, image only)",
     "1.2–1.8 HR-pQCT per SD adjusted for FN aBMD (Szulc, JBMR 2018: Tb.N 1.63; "
     "Sarfati, JBMR 2024: 1.21–1.61; Samelson, Lancet Diabetes Endocrinol 2019)"),
)
_RR = {name: rr for name, rr, _, _ in RISK_FACTORS}

#: The competing death hazard: (term, value, per what, source).
DEATH_FACTORS: tuple[tuple[str, float, str, str], ...] = (
    ("death_rate_70", 0.017, "per year, woman aged 70 without risk factors",
     "period life tables, women aged 70: q ≈ 0.010–0.017 (Sweden–USA)"),
    ("death_per_year_of_age", 0.10, "log hazard per year (Gompertz slope)",
     "0.08–0.11 in adult life tables (mortality doubles every 7–8 years)"),
    ("male", 1.6, "men vs women", "male/female mortality ratio at ages 60–80 in life tables, 1.4–1.8"),
    ("current_smoking", 1.8, "yes vs no", "1.7–2.5 all-cause, current vs never (Doll, BMJ 2004)"),
    ("glucocorticoids", 1.5, "yes vs no", "assumption: chronic oral glucocorticoid users' excess mortality"),
    ("rheumatoid_arthritis", 1.3, "yes vs no", "SMR 1.3–1.6 (Sokka, Clin Exp Rheumatol 2008)"),
)

@dataclass(frozen=True)
class CaseMix:
    """Who a site recruits: age, sex and risk-factor prevalence multipliers.

    Parameters
    ----------
    age_mean, age_sd : float
        Years; ages are truncated to 50–90.
    female_fraction : float
        Share of women.
    risk_factor_odds : float
        Odds multiplier applied to every binary FRAX risk factor's prevalence.
    treatments : tuple of str
        Arms assigned at random (equal shares) to this site's subjects (keys of
        :data:`TREATMENTS`); ``("none",)`` for an untreated cohort.
    """

    age_mean: float = 70.0
    age_sd: float = 9.0
    female_fraction: float = 0.85
    risk_factor_odds: float = 1.0
    treatments: tuple[str, ...] = ("none",)


@dataclass(frozen=True)
class RiskModel:
    """Relative risks of the fracture and death hazards (see module docstring).

    ``relative_risks`` maps the names in :data:`RISK_FACTORS` to RRs; ``fracture_rate`` is
    the target mean 10-year fracture probability; ``death_rate_70`` the annual death hazard
    of a 70-year-old woman without risk factors.
    """

    relative_risks: dict[str, float] = field(default_factory=lambda: dict(_RR))
    fracture_rate: float = 0.20
    death_rate_70: float = 0.017
    death_per_year_of_age: float = 0.10

    def fracture_log_hazard(self, df: pd.DataFrame) -> np.ndarray:
        """Linear predictor without the intercept (log relative hazard) per subject."""
        rr = {k: np.log(v) for k, v in self.relative_risks.items()}
        # treatment: the trials' anti-fracture efficacy on MOF (total ITT effect, which
        # already includes the BMD-mediated part, so the BMD gain is not added again)
        treat = np.log([TREATMENTS[t].rr_mof for t in df["treatment"]])
        lp = (rr["age"] * (df["age"].to_numpy() - 70.0) / 10.0
              + rr["sex F"] * (df["sex"].to_numpy() == "F")
              + rr["bmi"] * (df["bmi"].to_numpy() - 27.0)
              + treat
              - rr["fn_tscore"] * (df["fn_tscore"].to_numpy() + 1.5)
              - rr["bone_quality"] * df["bone_quality"].to_numpy())
        for col in ("prior_fracture", "parent_hip_fracture", "current_smoking", "glucocorticoids",
                    "rheumatoid_arthritis", "secondary_osteoporosis", "alcohol_3plus"):
            lp = lp + rr[col] * df[col].to_numpy()
        return lp

    def reference_baseline(self) -> float:
        """Baseline annual fracture hazard solved on a fixed reference population.

        The reference is 20 000 subjects of the default :class:`CaseMix` (seed 20240), so a
        subject's oracle risk does not depend on the size or mix of the cohort it is in.
        """
        key = (tuple(sorted(self.relative_risks.items())), self.fracture_rate,
               self.death_rate_70, self.death_per_year_of_age)
        if key not in _BASELINE_CACHE:
            ref = simulate_clinical(20000, seed=20240)
            _BASELINE_CACHE[key] = oracle_risk(ref, model=self)[1]
        return _BASELINE_CACHE[key]

    def death_hazard(self, df: pd.DataFrame) -> np.ndarray:
        """Annual death hazard per subject (Gompertz in age; :data:`DEATH_FACTORS` for sources)."""
        f = {name: v for name, v, _, _ in DEATH_FACTORS}
        lp = (self.death_per_year_of_age * (df["age"].to_numpy() - 70.0)
              + np.log(f["male"]) * (df["sex"].to_numpy() == "M")
              + np.log(f["current_smoking"]) * df["current_smoking"].to_numpy()
              + np.log(f["glucocorticoids"]) * df["glucocorticoids"].to_numpy()
              + np.log(f["rheumatoid_arthritis"]) * df["rheumatoid_arthritis"].to_numpy())
        return self.death_rate_70 * np.exp(lp)


_BASELINE_CACHE: dict[tuple[Any, ...], float] = {}


def _cif(lam_f: np.ndarray, lam_d: np.ndarray, years: float) -> np.ndarray:
    tot = lam_f + lam_d
    return lam_f / tot * (1.0 - np.exp(-years * tot))


def oracle_risk(df: pd.DataFrame, *, model: RiskModel | None = None, years: float = 10.0,
                baseline: float | None = None) -> tuple[np.ndarray, float]:
    """True ``years``-year fracture probability per subject, with death competing.

    Returns the probabilities and the baseline annual hazard ``h0`` used (solved so that the
    mean probability is ``model.fracture_rate`` unless ``baseline`` is given).
    """
    model = model or RiskModel()
    lp = model.fracture_log_hazard(df)
    lam_d = model.death_hazard(df)
    if baseline is None:
        if not 0.005 <= model.fracture_rate <= 0.8:
            raise SynthError(f"fracture_rate={model.fracture_rate}: use a 10-year rate in 0.005–0.8")

        def gap(log_h0: float) -> float:
            return float(_cif(np.exp(log_h0 + lp), lam_d, years).mean() - model.fracture_rate)

        baseline = float(np.exp(optimize.brentq(gap, -20.0, 5.0, xtol=1e-10)))
    return _cif(baseline * np.exp(lp), lam_d, years), baseline


def _binary(rng: np.random.Generator, logit: np.ndarray) -> np.ndarray:
    return (rng.random(logit.shape) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)


def simulate_clinical(n: int, *, seed: int = 0, case_mix: CaseMix | None = None,
                      rng: np.random.Generator | None = None) -> pd.DataFrame:
    """Simulate ``n`` subjects' FRAX variables, treatment and latent bone quality.

    Parameters
    ----------
    n : int
        Number of subjects.
    seed : int
        Seed used when ``rng`` is not given.
    case_mix : CaseMix, optional
        Age/sex/risk-factor mix and treatment arms.

    Returns
    -------
    DataFrame
        Canonical clinical columns (``age`` years, ``sex`` F/M, ``weight_kg``, ``height_cm``,
        ``bmi`` kg/m², the eight 0/1 FRAX factors, ``fn_bmd`` g/cm², ``fn_tscore``,
        ``treatment``) plus ``bone_quality`` (latent, SD units; goes to truth, not to models).
    """
    if n < 1:
        raise SynthError(f"n={n}: the number of subjects must be at least 1")
    cm = case_mix or CaseMix()
    rng = rng or np.random.default_rng(seed)
    for t in cm.treatments:
        if t not in TREATMENTS:
            raise SynthError(f"treatment {t!r} unknown; use one of {', '.join(TREATMENTS)}")
    female = rng.random(n) < cm.female_fraction
    age = np.empty(n)
    todo = np.arange(n)
    while todo.size:  # truncated normal 50–90 by rejection
        draw = rng.normal(cm.age_mean, cm.age_sd, todo.size)
        ok = (draw >= 50) & (draw <= 90)
        age[todo[ok]] = draw[ok]
        todo = todo[~ok]
    a10 = (age - 70.0) / 10.0
    height = np.where(female, 162.0, 176.0) - 1.2 * a10 + rng.normal(0, 6.5, n)
    bmi = np.clip(np.exp(rng.normal(np.log(np.where(female, 26.8, 27.3)), 0.16, n)), 16, 48)
    weight = bmi * (height / 100.0) ** 2
    lo = np.log(cm.risk_factor_odds)
    smoke = _binary(rng, -1.9 - 0.35 * a10 + lo)
    gc = _binary(rng, -3.2 + 0.1 * a10 + lo)
    ra = _binary(rng, -3.6 + 0.5 * female + lo)
    sec = _binary(rng, -2.6 + 0.1 * a10 + lo)
    alcohol = _binary(rng, -3.4 + 0.9 * (~female) - 0.2 * a10 + lo)
    parent = _binary(rng, np.full(n, -1.9 + lo))
    tscore = (-1.45 - 0.55 * a10 + 0.07 * (bmi - 27.0) + 0.5 * (~female) - 0.3 * gc - 0.2 * ra
              - 0.2 * sec - 0.15 * smoke - 0.1 * alcohol + rng.normal(0.0, 0.9, n))
    quality = rng.standard_normal(n)
    prior = _binary(rng, -1.75 + 0.3 * a10 - 0.35 * (tscore + 1.5) - 0.3 * quality + lo)
    treatment = np.asarray(cm.treatments, dtype=object)[rng.integers(0, len(cm.treatments), n)]
    hormone = np.isin(treatment, ["hrt", "hrt+etidronate", "estrogen", "estrogen+calcitriol"])
    treatment[hormone & ~female] = "none"  # hormone arms are for women
    fn_bmd = FN_BMD_REF_MEAN + FN_BMD_REF_SD * tscore
    return pd.DataFrame({
        "age": np.round(age, 1),
        "sex": np.where(female, "F", "M"),
        "weight_kg": np.round(weight, 1),
        "height_cm": np.round(height, 1),
        "bmi": np.round(bmi, 2),
        "prior_fracture": prior,
        "parent_hip_fracture": parent,
        "current_smoking": smoke,
        "glucocorticoids": gc,
        "rheumatoid_arthritis": ra,
        "secondary_osteoporosis": sec,
        "alcohol_3plus": alcohol,
        "fn_bmd": np.round(fn_bmd, 4),
        "fn_tscore": np.round(tscore, 2),
        "treatment": treatment.astype(str),
        "bone_quality": quality,
    })


def simulate_outcomes(df: pd.DataFrame, *, seed: int = 0, model: RiskModel | None = None,
                      rng: np.random.Generator | None = None, years: float = 10.0,
                      baseline: float | None = None,
                      follow_up: tuple[float, float] = (10.0, 12.0),
                      loss_to_follow_up: float = 0.08) -> pd.DataFrame:
    """Draw fracture and death times and the observed outcome for each subject.

    Returns a DataFrame (same index) with ``oracle_risk_10y``, ``time_years`` (time to the
    first of fracture, death or censoring), ``event`` (0 censored, 1 fracture, 2 death),
    ``fracture`` (1 when a fracture is observed within ``years``), and the latent times
    ``t_fracture_years`` / ``t_death_years`` (truth only).
    """
    model = model or RiskModel()
    rng = rng or np.random.default_rng(seed)
    risk, h0 = oracle_risk(df, model=model, years=years,
                           baseline=model.reference_baseline() if baseline is None else baseline)
    lam_f = h0 * np.exp(model.fracture_log_hazard(df))
    lam_d = model.death_hazard(df)
    n = len(df)
    t_f = rng.exponential(1.0 / lam_f)
    t_d = rng.exponential(1.0 / lam_d)
    cens = rng.uniform(*follow_up, n)
    lost = rng.random(n) < loss_to_follow_up
    cens = np.where(lost, rng.uniform(0.0, years, n), cens)
    time = np.minimum(np.minimum(t_f, t_d), cens)
    event = np.where(time == t_f, 1, np.where(time == t_d, 2, 0))
    return pd.DataFrame({
        "oracle_risk_10y": risk,
        "time_years": np.round(time, 3),
        "event": event.astype(np.int64),
        "fracture": ((event == 1) & (time <= years)).astype(np.int64),
        "t_fracture_years": t_f,
        "t_death_years": t_d,
    }, index=df.index)

"""Clinical categories: ACR lumbar QCT, DXA T- and Z-scores, WHO categories."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import CalibrationError

__all__ = ["NHANES3_FN_WHITE_WOMEN_20_29", "acr_category", "t_score", "who_category", "z_score"]

#: NHANES III femoral-neck reference (non-Hispanic white women aged 20–29, Looker et al.
#: 1998), g/cm²: the reference FRAX uses for T-scores of women and men.
NHANES3_FN_WHITE_WOMEN_20_29 = (0.858, 0.120)


def _finite(x: float, name: str, lo: float, hi: float, unit: str) -> float:
    v = float(x)
    if not np.isfinite(v) or not lo <= v <= hi:
        raise CalibrationError(f"{name} = {x!r} {unit} is outside the plausible range [{lo}, {hi}]")
    return v


def acr_category(vbmd: float | Sequence[float]) -> str:
    """ACR (2018) lumbar QCT category from trabecular vBMD (mg/cm³, mean of two vertebrae).

    ``> 120`` normal, ``80–120`` low bone mass (osteopenia), ``< 80`` osteoporosis.
    Pass the two (or more) vertebral values to average them, or their mean.

    Returns
    -------
    str
        ``"normal"``, ``"osteopenia"`` or ``"osteoporosis"``.
    """
    vals = np.atleast_1d(np.asarray(vbmd, dtype=np.float64))
    if vals.size == 0:
        raise CalibrationError("acr_category needs at least one vBMD value (mg/cm³)")
    mean = _finite(vals.mean(), "vBMD", -100.0, 600.0, "mg/cm³")
    if mean > 120.0:
        return "normal"
    if mean >= 80.0:
        return "osteopenia"
    return "osteoporosis"


def t_score(bmd: float, *, reference: tuple[float, float] = NHANES3_FN_WHITE_WOMEN_20_29) -> float:
    """DXA T-score = (aBMD − young-adult mean) / young-adult SD.

    Parameters
    ----------
    bmd : float
        Femoral-neck areal BMD, g/cm².
    reference : (mean, sd)
        Young-adult reference in g/cm²; default NHANES III white women 20–29 (FRAX).
    """
    b = _finite(bmd, "aBMD", 0.05, 3.0, "g/cm²")
    mean, sd = reference
    if not sd > 0:
        raise CalibrationError(f"reference SD must be positive; got {sd}")
    return (b - mean) / sd


def z_score(bmd: float, *, age_mean: float, age_sd: float) -> float:
    """DXA Z-score = (aBMD − age- and sex-matched mean) / its SD (all g/cm²).

    The age-matched reference must come from the same population and device family as the
    measurement (e.g. the NHANES III age-band tables of Looker et al. 1998).
    """
    b = _finite(bmd, "aBMD", 0.05, 3.0, "g/cm²")
    if not age_sd > 0:
        raise CalibrationError(f"age-matched SD must be positive; got {age_sd}")
    return (b - float(age_mean)) / float(age_sd)


def who_category(tscore: float) -> str:
    """WHO category: ``T ≥ −1`` normal, ``−2.5 < T < −1`` osteopenia, ``T ≤ −2.5`` osteoporosis."""
    t = round(_finite(tscore, "T-score", -10.0, 10.0, "SD"), 9)  # -2.4999999997 is -2.5
    if t >= -1.0:
        return "normal"
    if t > -2.5:
        return "osteopenia"
    return "osteoporosis"

"""Clinical categories: ACR lumbar QCT, DXA T- and Z-scores, WHO categories."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import CalibrationError

__all__ = [
    "GOODSITT_K2HPO4_PER_HA",
    "NHANES3_FN_WHITE_WOMEN_20_29",
    "acr_category",
    "calibration_material",
    "k2hpo4_to_ha",
    "t_score",
    "who_category",
    "z_score",
]

#: Ratio BMD(K2HPO4-referenced) / BMD(hydroxyapatite-referenced) of the same vertebral
#: inserts, single-energy QCT, by tube voltage (kVp): Goodsitt MM, "Conversion relations for
#: quantitative CT bone mineral densities measured with solid and liquid calibration
#: standards", Bone Miner 1992;19:145–158 (GE 9600, Image Analysis liquid K2HPO4 and solid
#: HA standards; slopes about the same for three body sizes, intercepts ≈ 0, r > 0.999).
#: Only the voltages the paper measured are offered.
GOODSITT_K2HPO4_PER_HA = {80: 0.86, 140: 0.81}

_MATERIAL_OF_UNITS = {"mgHA/cm3": "HA", "mgK2HPO4/cm3": "K2HPO4"}

#: NHANES III femoral-neck reference (non-Hispanic white women aged 20–29, Looker et al.
#: 1998), g/cm²: the reference FRAX uses for T-scores of women and men.
NHANES3_FN_WHITE_WOMEN_20_29 = (0.858, 0.120)


def _finite(x: float, name: str, lo: float, hi: float, unit: str) -> float:
    v = float(x)
    if not np.isfinite(v) or not lo <= v <= hi:
        raise CalibrationError(f"{name} = {x!r} {unit} is outside the plausible range [{lo}, {hi}]")
    return v


def calibration_material(units: str) -> str:
    """Calibration material of a density unit: ``"HA"`` or ``"K2HPO4"``; ``""`` otherwise."""
    return _MATERIAL_OF_UNITS.get(units, "")


def k2hpo4_to_ha(vbmd: float | Sequence[float] | np.ndarray, *, kvp: int) -> np.ndarray:
    """Convert K2HPO4-equivalent vBMD (mg/cm³) to hydroxyapatite-equivalent.

    ``HA = K2HPO4 / r`` with ``r`` = :data:`GOODSITT_K2HPO4_PER_HA` (0.86 at 80 kVp, 0.81 at
    140 kVp; Goodsitt 1992, single-energy QCT, intercept ≈ 0). The relation was measured on
    one scanner and phantom pair; other scanners may differ by a few per cent. Prefer
    scanning with an HA phantom when ACR categories are wanted.

    Parameters
    ----------
    vbmd : float or array
        vBMD in mg K2HPO4/cm³.
    kvp : {80, 140}, keyword-only
        Tube voltage of the scan.

    Raises
    ------
    CalibrationError
        A tube voltage without a published ratio.
    """
    if kvp not in GOODSITT_K2HPO4_PER_HA:
        raise CalibrationError(
            f"no published K2HPO4→HA conversion for kvp={kvp!r}: Goodsitt (1992) gives "
            f"{sorted(GOODSITT_K2HPO4_PER_HA)} kVp only; calibrate the scan with an HA phantom "
            "(phantom_calibration(..., material='HA')) instead"
        )
    return np.asarray(vbmd, dtype=np.float64) / GOODSITT_K2HPO4_PER_HA[kvp]


def acr_category(vbmd: float | Sequence[float], *, units: str = "mgHA/cm3") -> str:
    """ACR (2018) lumbar QCT category from trabecular vBMD (mg/cm³ HA, mean of two vertebrae).

    ``> 120`` normal, ``80–120`` low bone mass (osteopenia), ``< 80`` osteoporosis, in mg/cm³
    of calcium hydroxyapatite (ACR–SPR–SSR practice parameter for QCT, 2018). Pass the two
    (or more) vertebral values to average them, or their mean.

    Parameters
    ----------
    vbmd : float or sequence of floats
        Trabecular vBMD of the vertebrae.
    units : str, keyword-only
        Units of ``vbmd`` (a ``Volume.units`` string). Only ``"mgHA/cm3"`` is accepted:
        K2HPO4-equivalent values are refused (the thresholds would be off by 14–19 %,
        Goodsitt 1992); convert them first with :func:`k2hpo4_to_ha`.

    Returns
    -------
    str
        ``"normal"``, ``"osteopenia"`` or ``"osteoporosis"``.

    Raises
    ------
    CalibrationError
        Units other than mgHA/cm3, no value, or a value outside −100…600 mg/cm³.
    """
    if units == "mgK2HPO4/cm3":
        raise CalibrationError(
            "acr_category: vBMD is K2HPO4-equivalent (units 'mgK2HPO4/cm3') but the ACR "
            "thresholds (80 / 120 mg/cm³) are calcium hydroxyapatite; convert it with "
            "bonenet.calibrate.k2hpo4_to_ha(vbmd, kvp=80 or 140) (Goodsitt 1992) or calibrate "
            "with an HA phantom, then pass units='mgHA/cm3'"
        )
    if units != "mgHA/cm3":
        raise CalibrationError(
            f"acr_category: units {units!r} are not a hydroxyapatite density; the ACR "
            "thresholds need vBMD in 'mgHA/cm3' (calibrate the image first)"
        )
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

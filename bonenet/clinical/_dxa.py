"""DXA devices: femoral-neck BMD from Hologic, GE Lunar and Norland scanners on one scale.

The three manufacturers calibrate areal BMD differently: the same femoral neck reads about
0.12 g/cm² higher on a GE Lunar than on a Hologic. FRAX's T-score reference (NHANES III,
:data:`bonenet.clinical.FN_BMD_REFERENCE`) is on the Hologic scale, so a Lunar or Norland
``fn_bmd`` must be converted before its T-score is computed.

The conversion goes through the standardised BMD (sBMD) of the International Committee for
Standards in Bone Measurement, with the femoral-neck equations of Lu Y, Fuerst T, Hui S,
Genant HK, "Standardization of bone mineral density at femoral neck, trochanter and Ward's
triangle", Osteoporos Int 2001;12:438–444 (100 women scanned on a Hologic QDR 2000, a Lunar
DPX and a Norland XR26 Mark II), in g/cm²:

=========  =====  =========
device     slope  intercept
=========  =====  =========
Hologic    1.087   0.019
Lunar      0.939  −0.023
Norland    0.985   0.006
=========  =====  =========

``sBMD = slope × BMD + intercept``; a device's BMD on the Hologic scale is
``(sBMD − 0.019) / 1.087``. A Lunar 0.80 g/cm² → sBMD 0.7282 → Hologic 0.6525 g/cm², a
T-score 1.23 SD lower than the unconverted value gives.

Where the numbers were checked (two search passes; the paper's own table was not available):

- The abstract (PubMed PMID 11446558 and OpenAIRE records, doi:10.1007/s001980170087)
  confirms the cohort (100 healthy women aged 20–80, the same women as the ICSBM total-hip
  standardisation), the three devices, that subregion-specific formulas were derived "using
  the same statistical method as that used for total hip BMD", and that the *total-hip*
  formulas applied to subregions increase the Hologic–Norland difference — so the Norland
  femoral-neck equation must differ from Norland's total-hip one (1.012, 0.026). It gives no
  coefficients. The page range 438–444 was not shown by any record found (unverified).
- Hologic (1.087, 0.019) and Lunar (0.939, −0.023): quoted, citing Lu et al., by Fan B, Lu Y,
  Genant H, Fuerst T, Shepherd J, "Does standardized BMD still remove differences between
  Hologic and GE-Lunar state-of-the-art DXA systems?", Osteoporos Int 2010;21(7)
  (doi:10.1007/s00198-009-1062-3), with the total-hip equations Hologic (1.008, 0.006) and
  Lunar (0.979, −0.031); it compares only those two makers.
- Norland (0.985, 0.006): only the table "sBMD = 1000 (a + b × BMD)" of the University of
  Washington bone-physiology course page (courses.washington.edu/bonephys/opBMDs.html), which
  lists femoral neck, trochanter and total hip for all three makers; its Hologic and Lunar
  femoral-neck *and* total-hip entries match Fan et al. exactly, and its Norland total hip
  (1.012, 0.026) differs from its Norland femoral neck, as the abstract implies. The page
  names Hui SL et al., J Bone Miner Res 1997;12:1463–1470 as its reference (a reanalysis of
  the IDSC cross-calibration data, 100 subjects on all three machines; its abstract gives no
  coefficients). The
  Norland equation therefore rests on a secondary source only.

No worked example from the paper was found, so the tests check the equations by hand. The
equations were derived on pencil-beam scanners; Fan et al. found residual differences on
fan-beam systems, and their standard error (4–7 %) makes them a tool for pooling cohorts,
not for one patient.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from ._schema import DXA_MANUFACTURERS

__all__ = ["FN_SBMD_EQUATIONS", "fn_bmd_to_hologic", "parse_manufacturer"]

#: Femoral-neck sBMD equations (Lu et al. 2001): manufacturer → (slope, intercept g/cm²).
FN_SBMD_EQUATIONS: dict[str, tuple[float, float]] = {
    "hologic": (1.087, 0.019),
    "lunar": (0.939, -0.023),
    "norland": (0.985, 0.006),
}

#: Spellings seen in DXA reports and DICOM Manufacturer / model names → manufacturer.
_TOKENS = {
    "hologic": "hologic", "qdr": "hologic", "discovery": "hologic", "horizon": "hologic",
    "delphi": "hologic", "apex": "hologic",
    "lunar": "lunar", "ge": "lunar", "gehc": "lunar", "prodigy": "lunar", "idxa": "lunar",
    "dpx": "lunar", "encore": "lunar", "ge_lunar": "lunar", "ge_healthcare": "lunar",
    "norland": "norland", "xr": "norland", "stratec": "norland",
}


def parse_manufacturer(raw: Any) -> str | None:
    """Return ``"hologic"``, ``"lunar"`` or ``"norland"`` for a manufacturer cell, else None.

    Accepts the manufacturer (``"GE Healthcare"``, ``"HOLOGIC"``) or a model name
    (``"Lunar Prodigy"``, ``"iDXA"``, ``"QDR 4500"``, ``"Discovery A"``, ``"Norland XR-46"``);
    a cell naming two manufacturers is not recognised.
    """
    tokens = [t for t in re.split(r"[^0-9a-z]+", str(raw).strip().lower()) if t]
    found = {_TOKENS[t] for t in tokens if t in _TOKENS}
    joined = "_".join(tokens)
    if joined in _TOKENS:
        found.add(_TOKENS[joined])
    return found.pop() if len(found) == 1 else None


def fn_bmd_to_hologic(fn_bmd_g_cm2: Any, manufacturer: Any) -> Any:
    """Femoral-neck BMD (g/cm²) measured on ``manufacturer``'s scanner, on the Hologic scale.

    Parameters
    ----------
    fn_bmd_g_cm2 : float or array
        Areal BMD as the scanner reported it, g/cm².
    manufacturer : str or array of str
        One of :data:`DXA_MANUFACTURERS` per value (broadcast when a single string).

    Returns
    -------
    float or ndarray
        ``(slope_m × BMD + intercept_m − 0.019) / 1.087`` with :data:`FN_SBMD_EQUATIONS`;
        Hologic values are returned unchanged.
    """
    hs, hi = FN_SBMD_EQUATIONS["hologic"]
    if isinstance(manufacturer, str):
        if manufacturer not in FN_SBMD_EQUATIONS:
            raise ValueError(f"manufacturer {manufacturer!r} not one of {DXA_MANUFACTURERS}")
        s, i = FN_SBMD_EQUATIONS[manufacturer]
        out = (np.asarray(fn_bmd_g_cm2, dtype=float) * s + i - hi) / hs
        return float(out) if np.ndim(out) == 0 else out
    bmd = np.asarray(fn_bmd_g_cm2, dtype=float)
    man = np.asarray(manufacturer, dtype=object)
    slope = np.array([FN_SBMD_EQUATIONS.get(m, (math.nan, math.nan))[0] for m in man.ravel()])
    icpt = np.array([FN_SBMD_EQUATIONS.get(m, (math.nan, math.nan))[1] for m in man.ravel()])
    return (bmd * slope.reshape(man.shape) + icpt.reshape(man.shape) - hi) / hs

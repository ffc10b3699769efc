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

Where the numbers were checked (the paper's own table was not available to us; its abstract,
PMID 11446558, doi:10.1007/s001980170087, confirms the cohort and the three devices): the
Hologic (1.087, 0.019) and Lunar (0.939, −0.023) femoral-neck equations are quoted, citing Lu
et al., by Fan B, Lu Y, Genant H, Fuerst T, Shepherd J, "Does standardized BMD still remove
differences between Hologic and GE-Lunar state-of-the-art DXA systems?", Osteoporos Int
2010;21(7) (doi:10.1007/s00198-009-1062-3), which compares only those two makers; all three
femoral-neck equations, Norland (0.985, 0.006) included, appear in the table "sBMD = 1000 (a +
b × BMD)" of the University of Washington bone-physiology course page
(courses.washington.edu/bonephys/opBMDs.html), whose femoral-neck column matches Fan et al.
for Hologic and Lunar. The Norland equation therefore rests on a secondary source only. The
equations were derived on pencil-beam scanners; Fan et al. found residual differences on
fan-beam systems, and their standard error (4–7 %) makes them a tool for pooling cohorts, not
for one patient.
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

"""Density calibration (HU or Scanco native → mg/cm³) and clinical BMD categories.

- :func:`phantom_calibration` — rods of known K2HPO4/HA density, found or given; linear fit
  with R² and residuals; :class:`~bonenet.errors.CalibrationError` on a poor fit or a
  missing rod.
- :func:`internal_calibration` — phantomless, from air/fat/muscle/blood ROIs (5–10 % error).
- :func:`scanco_calibration` / :func:`scanco_native` — the AIM header constants, both ways.
- :func:`apply_calibration` — a calibrated Volume; every calibration is recorded in
  ``meta["history"]`` (via :meth:`Volume.rescaled`) and ``meta["calibration"]``.
- :func:`acr_category` (mg HA/cm³ only; K2HPO4 values refused), :func:`k2hpo4_to_ha`
  (Goodsitt 1992), :func:`calibration_material`, :func:`t_score`, :func:`z_score`,
  :func:`who_category`.
"""

from __future__ import annotations

from ._internal import (
    HU_PER_MG_K2HPO4,
    INTERNAL_EXPECTED_ERROR,
    INTERNAL_REFERENCE_HU,
    internal_calibration,
)
from ._model import Calibration, apply_calibration
from ._phantom import find_rods, fit_linear, phantom_calibration, rod_mask
from ._scanco import scanco_calibration, scanco_native
from ._scores import (
    GOODSITT_K2HPO4_PER_HA,
    NHANES3_FN_WHITE_WOMEN_20_29,
    acr_category,
    calibration_material,
    k2hpo4_to_ha,
    t_score,
    who_category,
    z_score,
)

__all__ = [
    "GOODSITT_K2HPO4_PER_HA",
    "HU_PER_MG_K2HPO4",
    "INTERNAL_EXPECTED_ERROR",
    "INTERNAL_REFERENCE_HU",
    "NHANES3_FN_WHITE_WOMEN_20_29",
    "Calibration",
    "acr_category",
    "apply_calibration",
    "calibration_material",
    "find_rods",
    "fit_linear",
    "internal_calibration",
    "k2hpo4_to_ha",
    "phantom_calibration",
    "rod_mask",
    "scanco_calibration",
    "scanco_native",
    "t_score",
    "who_category",
    "z_score",
]

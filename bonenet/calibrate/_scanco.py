"""Scanco native values (scaled linear attenuation) to mg HA/cm³ from the header constants."""

from __future__ import annotations

import numpy as np

from ..errors import CalibrationError
from ..volume import Volume
from ._model import Calibration

__all__ = ["scanco_calibration", "scanco_native"]


def scanco_calibration(*, mu_scaling: float, density_slope: float, density_intercept: float) -> Calibration:
    """The header's calibration as a :class:`Calibration` (native → mg HA/cm³).

    Scanco stores ``native = µ · mu_scaling`` (µ in 1/cm) and the density calibration
    ``HA = density_slope · µ + density_intercept``, so
    ``HA = native · density_slope / mu_scaling + density_intercept``.

    Raises
    ------
    CalibrationError
        ``mu_scaling`` or ``density_slope`` not positive.
    """
    if not mu_scaling > 0:
        raise CalibrationError(f"mu_scaling must be positive (header 'Mu_Scaling'); got {mu_scaling}")
    if not density_slope > 0:
        raise CalibrationError(f"density_slope must be positive (header 'Density: slope'); got {density_slope}")
    return Calibration(density_slope / mu_scaling, float(density_intercept), "mgHA/cm3", "scanco",
                       r2=1.0, expected_error=0.0,
                       details={"mu_scaling": float(mu_scaling), "density_slope": float(density_slope),
                                "density_intercept": float(density_intercept)})


def scanco_native(density: Volume | np.ndarray, *, mu_scaling: float, density_slope: float,
                  density_intercept: float) -> np.ndarray:
    """Inverse of :func:`scanco_calibration`: mg HA/cm³ → native integer values (int16 range).

    Returns
    -------
    ndarray of int16
    """
    cal = scanco_calibration(mu_scaling=mu_scaling, density_slope=density_slope,
                             density_intercept=density_intercept)
    arr = density.array if isinstance(density, Volume) else np.asarray(density)
    native = np.rint(cal.inverse(arr.astype(np.float64)))
    return np.clip(native, -32768, 32767).astype(np.int16)

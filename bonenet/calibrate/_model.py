"""The :class:`Calibration` record and applying it to a Volume."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import CalibrationError
from ..volume import Volume

__all__ = ["Calibration", "apply_calibration"]

_MATERIAL_UNITS = {"HA": "mgHA/cm3", "K2HPO4": "mgK2HPO4/cm3"}


@dataclass(frozen=True)
class Calibration:
    """A linear map from image values to density: ``density = slope * value + intercept``.

    Attributes
    ----------
    slope : float
        mg/cm³ per input unit (per HU for CT).
    intercept : float
        mg/cm³.
    units : str
        Output units, ``"mgHA/cm3"`` or ``"mgK2HPO4/cm3"``.
    method : str
        ``"phantom"``, ``"internal"`` or ``"scanco"``.
    r2 : float
        Coefficient of determination of the fit (NaN when not fitted).
    residuals : tuple of float
        Density residuals (mg/cm³) of the calibration points (reference − fitted).
    expected_error : float
        Stated relative accuracy of the method (0.05–0.10 for internal calibration).
    details : dict
        Method-specific record (rod means, ROI means, header constants...).
    """

    slope: float
    intercept: float
    units: str
    method: str
    r2: float = float("nan")
    residuals: tuple[float, ...] = ()
    expected_error: float = float("nan")
    details: dict[str, Any] = field(default_factory=dict)

    def __call__(self, values: np.ndarray | float) -> np.ndarray | float:
        """Convert image values to density (mg/cm³)."""
        return np.asarray(values, dtype=np.float64) * self.slope + self.intercept

    def inverse(self, density: np.ndarray | float) -> np.ndarray | float:
        """Convert density (mg/cm³) back to image values."""
        return (np.asarray(density, dtype=np.float64) - self.intercept) / self.slope

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly record (stored in ``Volume.meta["calibration"]``)."""
        d = asdict(self)
        d["residuals"] = list(self.residuals)
        return d


def units_for(material: str) -> str:
    try:
        return _MATERIAL_UNITS[material]
    except KeyError:
        raise CalibrationError(
            f"material {material!r} unknown; use one of {', '.join(_MATERIAL_UNITS)}"
        ) from None


def apply_calibration(volume: Volume, calibration: Calibration) -> Volume:
    """Return ``volume`` converted to density, the calibration recorded in its meta.

    The conversion goes through :meth:`Volume.rescaled`, which appends it to
    ``meta["history"]``; the full record is also stored under ``meta["calibration"]``.

    Raises
    ------
    CalibrationError
        The volume is already in density units.
    """
    if volume.units in ("mgHA/cm3", "mgK2HPO4/cm3"):
        raise CalibrationError(
            f"volume is already calibrated ({volume.units}); calibrate the original image"
        )
    out = volume.rescaled(calibration.slope, calibration.intercept, units=calibration.units,
                          note=f"{calibration.method} calibration (R²={calibration.r2:.4f})")
    out.meta["calibration"] = calibration.as_dict()
    return out

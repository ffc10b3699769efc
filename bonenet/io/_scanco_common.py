"""What AIM and ISQ share: the processing log, the calibration, geometry, and size checks.

The processing log carries the calibration: ``Mu_Scaling``, ``Density: slope``,
``Density: intercept`` (``mg HA/ccm`` per unit of linear attenuation ``mu`` in 1/cm),
``HU: mu water``. So ``density = slope * native / mu_scaling + intercept``.

The Volume's geometry: Scanco x, y, z map to LPS x, y, z (ITK's convention), so the array
(z, y, x) has direction columns (S, P, L) = ``[[0,0,1],[0,1,0],[1,0,0]]``; files written by
bonenet also carry the exact origin/direction in the processing log and get them back.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import CalibrationError, ImageFormatError
from ..volume import Volume
from . import _limits

#: Typical XtremeCT calibration (mg HA/cm3 per 1/cm) used when the caller gives none.
DEFAULT_MU_SCALING = 8192
DEFAULT_DENSITY_SLOPE = 1603.51904
DEFAULT_DENSITY_INTERCEPT = -391.209015
DEFAULT_MU_WATER = 0.2409
CANONICAL = np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])

def check_claim(path: Path, dim: tuple[int, ...], *, limit: int | None, what: str) -> int:
    """Refuse Scanco dimensions that are invalid or above the memory ceiling, before any
    allocation (the one ceiling of :mod:`bonenet.io._limits`; a Scanco image is 3-D)."""
    if len(dim) != 3:
        raise ImageFormatError(f"{path}: {what} dimensions {tuple(dim)} are invalid; the file is damaged")
    return _limits.check_claim(path, dim, what=what, limit=limit)


def parse_log(text: str) -> dict[str, str]:
    """``key  value`` lines (two or more spaces apart); ``!`` lines are comments."""
    out: dict[str, str] = {}
    for line in text.replace("\r", "").split("\n"):
        if not line or line.startswith("!"):
            continue
        parts = re.split(r"\s{2,}", line.strip(), maxsplit=1)
        if len(parts) == 2:
            out[parts[0]] = parts[1].strip()
    return out


def log_float(log: dict[str, str], key: str, path: Path) -> float | None:
    """A number from the processing log, or None when the key is absent."""
    if key not in log:
        return None
    try:
        return float(log[key].split()[0])
    except (ValueError, IndexError) as exc:
        raise ImageFormatError(f"{path}: processing-log entry {key!r} = {log[key]!r} is not a number") from exc


def calibrated(path: Path, native: np.ndarray, *, mu_scaling: float | None, slope: float | None,
               intercept: float | None, want_native: bool, spacing: tuple[float, float, float],
               origin: tuple[float, float, float], direction: np.ndarray, meta: dict[str, Any]) -> Volume:
    """Build the Volume in mg HA/cm3 (or native units) from native integer values."""
    meta = {**meta, "source": [str(path)], "calibration": {
        "mu_scaling": mu_scaling, "density_slope": slope, "density_intercept": intercept}}
    if want_native:
        return Volume(native, spacing=spacing, origin=origin, direction=direction, units="raw",
                      modality="HRPQCT", meta=meta)
    if not mu_scaling or mu_scaling <= 0:
        raise CalibrationError(f"{path}: Mu_Scaling is missing or {mu_scaling!r}; cannot convert to "
                               "density — pass mu_scaling= or native=True")
    if slope is None or intercept is None:
        raise CalibrationError(
            f"{path}: no density calibration (Density: slope/intercept) in the header; pass "
            "density_slope= and density_intercept= (mg HA/cm3 per 1/cm), or native=True")
    # one float32 array, scaled in place (what Volume.rescaled computes, without two temporaries)
    dens = native.astype(np.float32)
    dens *= np.float32(slope / mu_scaling)
    dens += np.float32(intercept)
    vol = Volume(dens, spacing=spacing, origin=origin, direction=direction, units="mgHA/cm3",
                 modality="HRPQCT", meta=meta)
    vol.meta.setdefault("history", []).append(
        {"op": "rescale", "slope": float(slope / mu_scaling), "intercept": float(intercept), "from": "raw",
         "to": "mgHA/cm3",
         "note": f"Scanco calibration: density = {slope:g} * native / {mu_scaling:g} + {intercept:g}"})
    return vol


def bonenet_geometry(log: dict[str, str], default_origin: tuple[float, float, float]
                     ) -> tuple[tuple[float, float, float], np.ndarray]:
    """Origin/direction bonenet wrote into the log, else ``default_origin`` and the canonical axes."""
    origin, direction = default_origin, CANONICAL
    try:
        if "bonenet origin [mm]" in log:
            origin = tuple(float(x) for x in log["bonenet origin [mm]"].split())  # type: ignore[assignment]
        if "bonenet direction" in log:
            direction = np.array([float(x) for x in log["bonenet direction"].split()]).reshape(3, 3)
    except ValueError:
        pass
    return origin, direction


def native_from_volume(volume: Volume, *, mu_scaling: float, slope: float, intercept: float,
                       path: Path) -> np.ndarray:
    """Convert a Volume to Scanco native int16 (mgHA/cm3 via calibration; raw as is)."""
    a = volume.array.astype(np.float64)
    if volume.units == "mgHA/cm3":
        native = (a - intercept) / slope * mu_scaling
    elif volume.units == "mu":
        native = a * mu_scaling
    elif volume.units == "raw":
        native = a
    else:
        raise CalibrationError(f"{path}: cannot write a {volume.units} volume as Scanco data; convert "
                               "it to mgHA/cm3 (or mu) first with bonenet.calibrate")
    native = np.round(native)
    if native.min() < -32768 or native.max() > 32767:
        raise CalibrationError(
            f"{path}: values {a.min():g}..{a.max():g} {volume.units} overflow int16 with "
            f"Mu_Scaling {mu_scaling:g}; choose a smaller mu_scaling")
    return native.astype("<i2")

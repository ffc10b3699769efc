"""Phantom calibration: rods of known K2HPO4 or hydroxyapatite density in the image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._fmt import plain
from ..errors import CalibrationError
from ..volume import Volume
from ._model import Calibration, units_for

__all__ = ["find_rods", "fit_linear", "phantom_calibration", "rod_mask"]

Circle = tuple[float, float, float]  # (row, column, radius) in voxels


def rod_mask(shape: Sequence[int], circle: Circle, *, slices: slice | None = None) -> np.ndarray:
    """A cylinder along P through ``circle`` = (row, column, radius in voxels)."""
    r0, c0, rad = circle
    rr = np.arange(shape[1])[:, None] - r0
    cc = np.arange(shape[2])[None, :] - c0
    disk = rr * rr + cc * cc <= rad * rad
    m = np.zeros(tuple(shape), dtype=bool)
    m[slices if slices is not None else slice(None)] = disk
    return m


def fit_linear(values: Sequence[float], densities: Sequence[float]) -> tuple[float, float, float, np.ndarray]:
    """Least-squares ``density = slope * value + intercept``; returns slope, intercept, R², residuals."""
    x = np.asarray(values, dtype=np.float64)
    y = np.asarray(densities, dtype=np.float64)
    if x.size < 2 or np.ptp(x) == 0:
        raise CalibrationError(
            f"need at least two calibration points with different image values; got {x.tolist()}"
        )
    slope, intercept = np.polyfit(x, y, 1)
    fitted = slope * x + intercept
    ss_res = float(np.sum((y - fitted) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")
    return float(slope), float(intercept), r2, y - fitted


def find_rods(volume: Volume, *, n: int, radius_mm: float, search: np.ndarray | None = None,
              min_contrast: float = 3.0) -> list[Circle]:
    """Find ``n`` calibration rods running along P (slice axis) in the image.

    The slices are averaged; a disk-minus-ring filter of the rod radius responds to round,
    uniform objects of that size that differ from a uniform surround (the phantom body); the ``n`` strongest,
    non-overlapping responses inside ``search`` (a 2D (R, C) or 3D mask; default: the lower
    third of the image, where phantoms lie under the patient) are returned, sorted by
    column.

    Raises
    ------
    CalibrationError
        Fewer than ``n`` rods stand out by at least ``min_contrast`` image units.
    """
    from scipy import ndimage as ndi

    img = volume.array.mean(axis=0)
    rad = radius_mm / volume.spacing[2]
    if rad < 1.5:
        raise CalibrationError(f"rod radius {radius_mm} mm is under 1.5 pixels; cannot detect rods")
    k = int(np.ceil(1.6 * rad))
    yy, xx = np.mgrid[-k:k + 1, -k:k + 1]
    rr = np.hypot(yy, xx)
    disk = (rr <= 0.7 * rad).astype(np.float64)
    ring = ((rr >= 1.25 * rad) & (rr <= 1.6 * rad)).astype(np.float64)
    inner = ndi.correlate(img.astype(np.float64), disk / disk.sum(), mode="nearest")
    outer = ndi.correlate(img.astype(np.float64), ring / ring.sum(), mode="nearest")
    sq = img.astype(np.float64) ** 2
    sd_in = np.sqrt(np.maximum(ndi.correlate(sq, disk / disk.sum(), mode="nearest") - inner**2, 0))
    sd_out = np.sqrt(np.maximum(ndi.correlate(sq, ring / ring.sum(), mode="nearest") - outer**2, 0))
    # a rod is a uniform disk inside a uniform surround: edges and corners have a mixed ring
    resp = np.abs(inner - outer) - 2.0 * (sd_in + sd_out)
    if search is None:
        allowed = np.zeros(img.shape, dtype=bool)
        allowed[2 * img.shape[0] // 3:, :] = True
    else:
        s = np.asarray(search, dtype=bool)
        allowed = s.any(axis=0) if s.ndim == 3 else s
    resp = np.where(allowed, resp, -np.inf)
    found: list[Circle] = []
    work = resp.copy()
    for _ in range(n):
        idx = np.unravel_index(int(np.argmax(work)), work.shape)
        if not np.isfinite(work[idx]) or work[idx] < min_contrast:
            break
        found.append((float(idx[0]), float(idx[1]), 0.7 * rad))
        sup = (np.arange(img.shape[0])[:, None] - idx[0]) ** 2 + (np.arange(img.shape[1])[None, :] - idx[1]) ** 2
        work[sup <= (2.5 * rad) ** 2] = -np.inf
    if len(found) < n:
        raise CalibrationError(
            f"found {len(found)} of {n} calibration rods (radius {radius_mm} mm) standing out by "
            f"≥ {min_contrast} units; check the phantom is in the field of view, or pass the "
            "rods explicitly as masks or (row, column, radius) circles"
        )
    return sorted(found, key=lambda c: c[1])


def phantom_calibration(
    volume: Volume,
    densities: Sequence[float],
    *,
    rods: Sequence[np.ndarray | Circle] | None = None,
    radius_mm: float | None = None,
    material: str = "K2HPO4",
    base_density: float | None = None,
    min_r2: float = 0.99,
    max_residual: float | None = None,
) -> Calibration:
    """Fit image value → density from calibration rods of known density.

    Parameters
    ----------
    volume : Volume
        CT image in HU (any units are accepted and recorded).
    densities : sequence of float
        Rod densities in mg/cm³ of ``material``, in the order of ``rods`` (or, for found
        rods, ascending with their mean image value).
    rods : sequence of masks or (row, column, radius) circles, optional
        Rod ROIs; 3D bool masks of the volume's shape, or circles in voxels applied to every
        slice. If omitted, rods are found with :func:`find_rods` (needs ``radius_mm``).
    material : {"K2HPO4", "HA"}
        Rod material; the result is in mgK2HPO4/cm3 or mgHA/cm3.
    base_density : float, optional
        Density of the phantom body the rods sit in (0 for water-equivalent resin). When
        given, the body around the found rods is one more calibration point, and a rod of
        that density (which has no contrast) need not be found.
    min_r2 : float
        Smallest acceptable R² of the linear fit.
    max_residual : float, optional
        Largest acceptable absolute residual (mg/cm³); default 5 % of the density range.

    Returns
    -------
    Calibration
        ``density = slope · HU + intercept``, with R², residuals and rod means.

    Raises
    ------
    CalibrationError
        A rod is missing or empty, the numbers of rods and densities differ, or the fit is
        poor (R² below ``min_r2`` or a residual above ``max_residual``).
    """
    units = units_for(material)
    try:
        dens = [float(x) for x in densities]
    except (TypeError, ValueError):
        raise CalibrationError(
            f"rod densities must be numbers in mg/cm³; got {plain(densities)!r}"
        ) from None
    if len(dens) < 2:
        raise CalibrationError(f"need at least 2 rod densities; got {dens}")
    found = rods is None
    base_point: tuple[float, float] | None = None
    if rods is None:
        if radius_mm is None:
            raise CalibrationError("pass the rods, or radius_mm so they can be found in the image")
        if base_density is not None and float(base_density) in dens:
            dens.remove(float(base_density))
        rods = find_rods(volume, n=len(dens), radius_mm=radius_mm)
    if base_density is not None and found:
        body = np.zeros(volume.shape[1:], dtype=bool)
        rad_px = radius_mm / volume.spacing[2]  # type: ignore[operator]
        rr, cc = np.mgrid[0:volume.shape[1], 0:volume.shape[2]]
        for r0, c0, _ in rods:  # type: ignore[misc]
            d2 = (rr - r0) ** 2 + (cc - c0) ** 2
            body |= (d2 >= (1.25 * rad_px) ** 2) & (d2 <= (1.5 * rad_px) ** 2)
        base_point = (float(np.median(volume.array[:, body])), float(base_density))
    if len(rods) != len(dens):
        raise CalibrationError(
            f"{len(rods)} rods but {len(dens)} densities; give one density per rod"
        )
    means, sds, counts = [], [], []
    for i, rod in enumerate(rods):
        if isinstance(rod, np.ndarray):
            m = np.asarray(rod, dtype=bool)
            if m.shape != volume.shape:
                raise CalibrationError(f"rod {i} mask has shape {m.shape}, image has {volume.shape}")
        else:
            m = rod_mask(volume.shape, tuple(float(v) for v in rod))  # type: ignore[arg-type]
        vals = volume.array[m]
        if vals.size < 10:
            raise CalibrationError(f"rod {i} ROI holds {vals.size} voxels; it is missing or outside the image")
        means.append(float(vals.mean()))
        sds.append(float(vals.std()))
        counts.append(int(vals.size))
    if found:
        order = np.argsort(means)
        means = [means[j] for j in order]
        sds = [sds[j] for j in order]
        counts = [counts[j] for j in order]
        dens = sorted(dens)
    if base_point is not None:
        means = [base_point[0], *means]
        dens = [base_point[1], *dens]
        sds = [float("nan"), *sds]
        counts = [0, *counts]
    slope, intercept, r2, resid = fit_linear(means, dens)
    limit = max_residual if max_residual is not None else 0.05 * (max(dens) - min(dens))
    if not (r2 >= min_r2) or np.max(np.abs(resid)) > limit:
        raise CalibrationError(
            f"phantom fit is poor: R²={r2:.4f} (need ≥ {min_r2}), largest residual "
            f"{np.max(np.abs(resid)):.1f} mg/cm³ (limit {limit:.1f}); rod means {np.round(means, 1).tolist()} "
            f"for densities {dens}. Check the rod order, ROIs and densities"
        )
    return Calibration(slope, intercept, units, "phantom", r2=r2,
                       residuals=tuple(float(r) for r in resid),
                       details={"material": material, "densities": dens, "rod_means": means,
                                "rod_sds": sds, "rod_voxels": counts, "input_units": volume.units})

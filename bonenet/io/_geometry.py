"""Slice-stack geometry from DICOM positions: sort order, spacing, gaps, duplicates, tilt.

Slices are ordered by ImagePositionPatient projected on the slice normal
``n = row_cos × col_cos`` (never by InstanceNumber). The Volume's direction is
``[n, col_cos, row_cos]`` (array axes P, R, C) and its origin the first slice's position.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["StackGeometry", "analyse_stack", "orientation_class"]

#: Positions closer than this along the normal (mm) are the same slice position.
DUPLICATE_TOL_MM = 1e-3


@dataclass
class StackGeometry:
    """Geometry of a stack of parallel slices, sorted along the slice normal."""

    order: np.ndarray  # indices into the input, sorted along the normal
    positions: np.ndarray  # sorted positions along the normal (mm)
    row_cos: np.ndarray
    col_cos: np.ndarray
    normal: np.ndarray
    origin: np.ndarray  # LPS position of the first sorted slice's first pixel
    slice_spacing: float  # mm; uniform spacing (from positions) or the median step
    pixel_spacing: tuple[float, float]  # (between rows, between columns) mm
    problems: list[str] = field(default_factory=list)  # codes
    details: list[str] = field(default_factory=list)  # human-readable, one per problem
    tilt_deg: float = 0.0
    shifts_mm: np.ndarray | None = None  # (N, 2) in-plane offset (R, C) of each sorted slice
    gaps: list[tuple[int, int, float]] = field(default_factory=list)  # (i, j, distance) sorted idx
    duplicates: list[tuple[int, int]] = field(default_factory=list)

    @property
    def direction(self) -> np.ndarray:
        return np.column_stack([self.normal, self.col_cos, self.row_cos])


def orientation_class(iop: tuple[float, ...] | np.ndarray | None, *, tol_deg: float = 1.0) -> str:
    """``"axial"``, ``"coronal"``, ``"sagittal"``, ``"oblique"`` (or ``"unknown"``) from IOP."""
    if iop is None:
        return "unknown"
    r, c = np.asarray(iop[:3], float), np.asarray(iop[3:], float)
    n = np.cross(r, c)
    norm = np.linalg.norm(n)
    if norm < 1e-6:
        return "unknown"
    n = np.abs(n / norm)
    k = int(np.argmax(n))
    if n[k] < np.cos(np.deg2rad(tol_deg)):
        return "oblique"
    return ("sagittal", "coronal", "axial")[k]


def analyse_stack(ipps: np.ndarray, iop: tuple[float, ...], pixel_spacing: tuple[float, float], *,
                  default_spacing: float | None = None, rel_tol: float = 0.01,
                  abs_tol_mm: float = 0.01) -> StackGeometry:
    """Sort slices along the normal and find spacing, gaps, duplicates and gantry tilt.

    Parameters
    ----------
    ipps : (N, 3) array
        ImagePositionPatient of each slice (LPS mm), in any order.
    iop : 6 floats
        ImageOrientationPatient shared by the slices.
    pixel_spacing : (row, column) mm
        PixelSpacing.
    default_spacing : float, optional
        Slice spacing for a single slice (SliceThickness), mm.
    rel_tol, abs_tol_mm : float
        Steps within ``max(abs_tol_mm, rel_tol * median step)`` of the median are uniform.

    Returns
    -------
    StackGeometry
    """
    ipps = np.asarray(ipps, dtype=np.float64).reshape(-1, 3)
    r = np.asarray(iop[:3], float)
    c = np.asarray(iop[3:], float)
    r /= np.linalg.norm(r)
    c /= np.linalg.norm(c)
    n = np.cross(r, c)
    n /= np.linalg.norm(n)
    d = ipps @ n
    order = np.argsort(d, kind="stable")
    d_sorted = d[order]
    geo = StackGeometry(order=order, positions=d_sorted, row_cos=r, col_cos=c, normal=n,
                        origin=ipps[order[0]].copy(), slice_spacing=default_spacing or 1.0,
                        pixel_spacing=(float(pixel_spacing[0]), float(pixel_spacing[1])))
    if len(d) < 2:
        return geo
    steps = np.diff(d_sorted)
    dup = np.nonzero(steps < DUPLICATE_TOL_MM)[0]
    if dup.size:
        geo.duplicates = [(int(i), int(i + 1)) for i in dup]
        geo.problems.append("duplicate_positions")
        geo.details.append(f"{dup.size} slice position(s) occur twice (e.g. at {d_sorted[dup[0]]:.3f} mm "
                           "along the normal): several acquisitions or echoes in one series")
        steps = steps[steps >= DUPLICATE_TOL_MM]
        if steps.size == 0:
            return geo
    median = float(np.median(steps))
    tol = max(abs_tol_mm, rel_tol * median)
    multiples = np.round(steps / median)
    missing = (multiples >= 2) & (np.abs(steps - multiples * median) <= tol * multiples)
    irregular = (np.abs(steps - median) > tol) & ~missing
    uniq_pos = np.concatenate([[d_sorted[0]], d_sorted[1:][np.diff(d_sorted) >= DUPLICATE_TOL_MM]])
    if missing.any():
        idx = np.nonzero(missing)[0]
        geo.gaps = [(int(i), int(i + 1), float(steps[i])) for i in idx]
        geo.problems.append("missing_slices")
        n_missing = int(sum(multiples[i] - 1 for i in idx))
        i0 = idx[0]
        geo.details.append(
            f"{n_missing} slice(s) missing: gap of {steps[i0]:.3f} mm ({multiples[i0]:.0f}x the "
            f"{median:.3f} mm spacing) between positions {uniq_pos[i0]:.3f} and {uniq_pos[i0 + 1]:.3f} mm")
    if irregular.any():
        i0 = int(np.nonzero(irregular)[0][0])
        geo.problems.append("non_uniform_spacing")
        geo.details.append(f"slice steps vary from {steps.min():.3f} to {steps.max():.3f} mm (median "
                           f"{median:.3f}; first odd step {steps[i0]:.3f} mm after position {uniq_pos[i0]:.3f})")
        geo.gaps += [(i0, i0 + 1, float(steps[i0]))]
    if missing.any() or irregular.any():
        geo.slice_spacing = median
    else:
        geo.slice_spacing = float((uniq_pos[-1] - uniq_pos[0]) / (len(uniq_pos) - 1))
    # gantry tilt: slice origins drift in-plane as they move along the normal
    off = ipps[order] - ipps[order[0]]
    along = off @ n
    inplane = off - np.outer(along, n)
    shifts = np.column_stack([inplane @ c, inplane @ r])  # (R, C) mm
    drift = float(np.abs(shifts).max())
    if drift > max(abs_tol_mm, 0.02 * min(pixel_spacing)):
        geo.shifts_mm = shifts
        span = float(along[-1] - along[0]) or 1.0
        geo.tilt_deg = float(np.degrees(np.arctan(np.linalg.norm(inplane[-1]) / abs(span))))
        geo.problems.append("gantry_tilt")
        geo.details.append(f"slices are sheared: in-plane drift {drift:.2f} mm over {span:.1f} mm "
                           f"(gantry tilt about {geo.tilt_deg:.1f} degrees)")
    return geo

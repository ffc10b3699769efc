"""Local thickness (Hildebrand & Rüegsegger 1997) with sub-voxel sphere fitting.

The thickness at a point is the diameter of the largest sphere that contains the point and
fits inside the structure. Two conventions (``docs/morphometry.md``, "Conventions"):

``"subvoxel"`` (default), in five steps:

1. an anisotropic Euclidean distance map (``edt`` package, multi-threaded) giving, for every
   structure voxel, the distance in mm to the nearest background voxel centre;
2. the distance ridge: voxels whose inscribed ball is not (to within 50 % of a step)
   contained in a neighbour's ball — the only sphere centres that matter;
3. for each ridge voxel the apex height of the tent the distance map forms across the
   ridge (per axis), its local codimension (flat: plates; curved: rods, spheres), with a
   rim test so that the end of a flat ridge (a plate's edge, or where the array edge cuts
   it) is not read as a cone apex. Flat ridges also get their half-thickness from the two
   neighbours along each axis, ``½(d(p+e_i) + d(p−e_i)) + |n_i|·s_i`` minus the lattice gap
   given each neighbour's observed distance (``_gap.gap_by_distance``; the formula is exact
   for a plane whatever the sub-voxel position of its mid-surface, and the neighbours,
   unlike the ridge voxel, are not selected for being high), with the normal n from the
   gradient structure tensor of the distance map around the voxel (used where it agrees
   with the voxel's own slopes to within 60°);
   curved ridges the cone apex from the per-axis rises scaled by the axis slopes (an axis
   crossing a rod obliquely sees the offset to its axis stretched), minus the curved gap:
   along a lattice axis whose cross-section is a square lattice (cubic voxels, or a rod
   along the odd axis of 0.5 × 0.5 × 1 mm voxels) the lattice-exact mean for the apex voxel's d²
   (``_gap.axis_rod_gap``: the cross-section is the plane lattice, whose gap is 0.1–0.5
   voxel and swings with the radius), elsewhere a fitted 0.06 voxel; along a ridge line
   (a rod's axis, told from a sphere's centre by the least slope) the mean of the curved
   estimates near the apex, so painting's max does not select the scatter;
4. a neighbourhood vote: curvedness and flat half-thickness are averaged over the 3×3×3
   ridge neighbourhood (painting keeps the largest value, so scatter would bias upwards);
5. sphere painting, parallel over output slices, every voxel keeping the largest diameter of
   the spheres that cover it (numba).

``"hildebrand"``: the plain maximal-sphere map on the voxel grid (spheres on voxel centres,
radius = distance to the nearest background voxel centre), as in BoneJ and porespy and the
direct indices of Scanco's software; identical to a brute-force computation (tested).

Voxel-centred sphere fitting (ORMIR-XCT, BoneJ, porespy with integer radii) is biased by
about one voxel — 15–25 % at the 3–4 voxel trabeculae of HR-pQCT. The sub-voxel estimator
reads plates of 4–12 voxels in any orientation within 0.06 voxel (mean over positions;
anisotropic 1 × 0.5 × 0.5 mm voxels within 0.17 in-plane voxel), spheres of 4–20 voxels
and rods of 4–20 voxels along an axis or oblique within 5 %
(``benchmarks/validate_morphometry.py``, ``tests/morphometry``). Known limits (numbers in
``docs/morphometry.md``): oblique rods of 6–8 voxels come close (+4 to +5 %), oblique rods under two slices thick
along a coarse axis (+44 %), square plate rims (the band within N/2 of the edge reads
+0.2–0.7 voxel above its exact local thickness, whose square corners no ball of diameter N
reaches).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from ..errors import MorphometryError
from ._gap import axis_rod_gap, gap_by_distance, gap_table
from ._validate import binary, spacing3

__all__ = ["CONVENTIONS", "local_thickness", "thickness_stats"]

#: Thickness conventions: sub-voxel spheres (default) and plain Hildebrand–Rüegsegger.
CONVENTIONS = ("subvoxel", "hildebrand")

#: Ridge tolerance: a voxel stays a sphere centre unless a neighbour one step v away is higher
#: by at least (1 - _SLACK)·|v| (it then lies on the flank of a ridge, not on it).
_SLACK = 0.5
#: Second pass on the sub-voxel radii: same test with slack 0.7.
_PRUNE = 0.7
#: Digitisation gap in voxels for flat ridges (fallback) and curved ridges off the lattice axes
#: (fitted, docs/morphometry.md), and the codimension breakpoints.
_GAP = (0.5, 0.06, 1.15, 1.4)
#: Neighbourhood vote on curvedness: mean curvedness below the first reads flat, above the
#: second curved.
_VOTE = (0.3, 0.6, 5)


def _threads() -> int:
    try:
        import numba

        return max(1, int(numba.get_num_threads()))
    except Exception:  # pragma: no cover - numba always present
        return os.cpu_count() or 1


def local_thickness(
    mask: np.ndarray,
    *,
    spacing: float | Sequence[float],
    border: str = "background",
    convention: str = "subvoxel",
) -> np.ndarray:
    """Local thickness map: diameter (mm) of the largest inscribed sphere covering each voxel.

    Parameters
    ----------
    mask : ndarray of shape (P, R, C), bool or 0/1
        The structure (bone for Tb.Th / Ct.Th, marrow for Tb.Sp).
    spacing : float or (3,) floats, keyword-only
        Voxel size in mm along (P, R, C); anisotropic allowed.
    border : {"background", "continue"}
        What lies beyond the array edge: ``"background"`` (default) — the edge is a surface,
        as in IPL and BoneJ; ``"continue"`` — the edge is no surface and distances are
        measured to background voxels inside the array only (for structures known to cross
        the field of view; a structure touching the edge then reads thicker).
    convention : {"subvoxel", "hildebrand"}
        ``"subvoxel"`` (default): sub-voxel spheres, unbiased against the continuous shape
        the image was sampled from (module docstring; ``docs/morphometry.md``).
        ``"hildebrand"``: the plain Hildebrand & Rüegsegger (1997) maximal-sphere thickness
        on the voxel grid — spheres centred on voxel centres, radius = the Euclidean
        distance to the nearest background voxel centre, diameter = twice that (no gap
        correction; the convention of BoneJ, porespy and the published HR-pQCT reference
        data measured with Scanco's software). It reads a digital plate of N voxel layers
        as N voxels, rods and spheres about one voxel thinner than the continuous shape.

    Returns
    -------
    ndarray of float32, shape (P, R, C)
        Thickness in mm inside ``mask``, 0 outside.

    Raises
    ------
    MorphometryError
        Empty or non-binary mask, bad spacing, unknown ``border`` or ``convention``, or
        (with ``border="continue"``) a mask with no background voxel at all.
    """
    from . import _kernels as K

    sp = spacing3(spacing)
    m = binary(mask, name="mask")
    if border not in ("continue", "background"):
        raise MorphometryError(f"border must be 'continue' or 'background'; got {border!r}")
    zero_edge = border == "background"
    if not zero_edge and m.all():
        raise MorphometryError(
            "mask has every voxel set and border='continue': no surface to measure from; "
            "use border='background' or a mask with background voxels"
        )
    if convention not in CONVENTIONS:
        raise MorphometryError(
            f"convention must be one of {', '.join(CONVENTIONS)}; got {convention!r}")
    hmin = min(sp)
    if convention == "hildebrand":
        d, (cz, cy, cx), peak, value = _ridge_plain(m, sp, zero_edge)
        gap = np.float32(0.0)
    else:
        d, (cz, cy, cx), peak, value = _ridge(m, sp, zero_edge)
        gap = np.float32(_GAP[0] * hmin)
    # the distance map's buffer becomes the output (peak memory: mask + one float32 map)
    K.to_fallback(m, d, gap, np.float32(hmin))
    K.paint(m.view(np.uint8), cz, cy, cx, peak, value, sp[0], sp[1], sp[2], d)
    K.finish(d)
    return d


def _ridge_plain(m: np.ndarray, sp: tuple[float, float, float], zero_edge: bool):
    """Distance map and the voxel-centred maximal spheres (``convention="hildebrand"``).

    A sphere is dropped only when a neighbour's sphere contains it exactly (slack 0), so
    painting the rest gives the same map as painting every voxel's sphere.
    """
    import edt

    from . import _kernels as K

    d = edt.edt(m, anisotropy=sp, black_border=zero_edge, parallel=_threads())
    d = np.asarray(d, dtype=np.float32)
    flags = np.empty(m.shape, np.uint8)
    K.ridge_counts(d, sp[0], sp[1], sp[2], 0.0, zero_edge, flags)
    cz, cy, cx = (a.astype(np.int32) for a in np.nonzero(flags))  # raster order: cz sorted
    del flags
    peak = d[cz, cy, cx]
    return d, (cz, cy, cx), peak, (2.0 * peak).astype(np.float32)


def _ridge(m: np.ndarray, sp: tuple[float, float, float], zero_edge: bool):
    """Distance map and the sub-voxel ridge spheres.

    Returns ``(d, (cz, cy, cx), radius_mm, diameter_mm)``.

    ``cz`` is sorted ascending (ridge voxels are collected slice by slice).
    """
    import edt

    from . import _kernels as K

    d = edt.edt(m, anisotropy=sp, black_border=zero_edge, parallel=_threads())
    d = np.asarray(d, dtype=np.float32)
    flags = np.empty(m.shape, np.uint8)
    counts = K.ridge_counts(d, sp[0], sp[1], sp[2], _SLACK, zero_edge, flags)
    n = int(counts.sum())
    starts = np.zeros(counts.shape[0], dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    cz = np.empty(n, np.int32)
    cy = np.empty(n, np.int32)
    cx = np.empty(n, np.int32)
    pk_f, pk_c, heffs, curved = (np.empty(n, np.float32) for _ in range(4))
    nrm2 = np.empty((n, 3), np.float32)
    pa = np.empty(n, np.float32)
    gcv = np.empty(n, np.float32)
    line = np.empty(n, np.float32)
    # the axis-rod gap table (square-lattice, voxel units) applies where a rod's cross-section
    # is a square lattice; the kernel checks that per ridge voxel (_kernels._curved_gap)
    rod_tab = axis_rod_gap()
    K.ridge_collect(d, sp[0], sp[1], sp[2], zero_edge, flags, starts, cz, cy, cx,
                    pk_f, pk_c, heffs, nrm2, curved, _GAP[2], _GAP[3], gap_by_distance(), pa,
                    _GAP[1], rod_tab, gcv, line)
    shape = np.array(m.shape, np.int64)
    rows = K.raster_rows(cz, cy, shape)
    peak = np.empty(n, np.float32)
    value = np.empty(n, np.float32)
    K.blend(d, cz, cy, cx, rows, shape, curved, _VOTE[0], _VOTE[1], _VOTE[2], pk_f, pk_c, heffs, nrm2,
            gap_table(), gcv, peak, value, pa, line)
    del pk_f, pk_c, heffs, curved, rows, nrm2, pa, gcv, line
    # second, sub-voxel pass: drop spheres a neighbour's sphere nearly contains (fewer,
    # equally placed spheres to paint; measured effect on Tb.Sp ≈ −0.5 %). The radii are
    # written into the distance map at the ridge voxels (no extra array): a ridge voxel is
    # always covered by its own or its containing neighbour's sphere, so its distance is
    # not needed afterwards.
    d[cz, cy, cx] = peak
    keep = np.ones(n, dtype=np.bool_)
    K.prune_contained(d, flags, cz, cy, cx, peak, sp[0], sp[1], sp[2], 1.0 - _PRUNE, keep)
    del flags
    return d, (cz[keep], cy[keep], cx[keep]), peak[keep], value[keep]


def thickness_stats(thickness: np.ndarray, where: np.ndarray) -> dict[str, float]:
    """Mean, SD and max (mm) of a thickness map over the voxels of ``where``.

    Parameters
    ----------
    thickness : ndarray of shape (P, R, C)
        A map from :func:`local_thickness` (mm).
    where : ndarray of bool, same shape
        The voxels to average over (the structure, optionally within an ROI).

    Returns
    -------
    dict
        ``{"mean": mm, "sd": mm, "max": mm, "n": voxels}``.
    """
    vals = thickness[where]
    if vals.size == 0:
        raise MorphometryError("no structure voxel inside the region: thickness undefined")
    v = vals.astype(np.float64)
    return {"mean": float(v.mean()), "sd": float(v.std()), "max": float(v.max()), "n": int(v.size)}

"""Digitisation gap of a flat surface on the cubic lattice (private table for local thickness).

A voxel-centre-sampled structure is bounded by its background voxel centres, which lie on
average some way *beyond* the true surface; a distance map to background centres therefore
overstates every inscribed radius by that gap. For a flat surface of unit normal ``n`` and
a point at depth δ below it, the gap is ``min |q − p| − δ`` over the lattice points q
beyond the surface. It is ½ voxel when ``n`` is a lattice axis (whole rows of background
centres sit half a step out on average), about half the lattice-plane spacing ``1/|(a, b, c)|``
for low-index directions ((1,1,0): ≈ 0.37, (1,1,1): ≈ 0.33) and, for generic directions, it
shrinks with depth (≈ ½/√δ: deeper points see more lattice points almost on the surface).

:func:`gap_table` tabulates the gap, averaged over depths δ ± 1 voxel (the surface's
position against the lattice is arbitrary and the ridge depth is known to about a voxel), on a grid over the fundamental
domain of normals ``|n₁| ≥ |n₂| ≥ |n₃|`` — ``u = |n₂|/|n₁|``, ``v = |n₃|/|n₁|`` — and
depths δ in voxels. It is computed exactly from the lattice, once per process (≈ 1 s).
:func:`gap_by_distance` tabulates the same gap by the *observed* distance instead of the
depth (for points whose distance is known and depth is not: the axis-pair estimate of
local thickness), once per process (≈ 0.2 s). :func:`axis_rod_gap` is the curved
counterpart for rods along a lattice axis, whose cross-section is the plane lattice: the
mean overshoot of the estimator's cone apex at digital disks, by the apex voxel's d².
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

import numpy as np

#: Grid of the table: u, v in steps of 1/_NUV; depth 0 … _DMAX voxels in steps of 1/_ND.
_NUV = 16
_ND = 2
_DMAX = 16.0
_SUB = 32  # depth samples averaged per table entry (over ±1 voxel)


def _lattice() -> tuple[np.ndarray, np.ndarray]:
    """Lattice points q (integer offsets) within reach of the table, and their lengths."""
    r = int(_DMAX) + 3
    g = np.arange(-r, r + 1, dtype=np.float64)
    q = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    ln = np.linalg.norm(q, axis=1)
    keep = ln <= _DMAX + 2.5
    return q[keep], ln[keep]


def _normals() -> Iterator[tuple[int, int, np.ndarray]]:
    """(i, j, unit normal) over the fundamental domain u = i/_NUV ≥ v = j/_NUV."""
    for i in range(_NUV + 1):
        for j in range(i + 1):
            n = np.array([1.0, i / _NUV, j / _NUV])
            yield i, j, n / np.linalg.norm(n)


def _nearest_beyond(q: np.ndarray, ln: np.ndarray, n: np.ndarray, depths: np.ndarray) -> np.ndarray:
    """Distance from a point at each depth δ below a plane of normal n (through the origin's
    side) to the nearest lattice point beyond the plane: min |q| over q·n ≥ δ."""
    proj = q @ n
    order = np.argsort(proj)
    # suffix minimum of |q| over points with projection ≥ each threshold
    sm = np.minimum.accumulate(ln[order][::-1])[::-1]
    return sm[np.searchsorted(proj[order], depths - 1e-9, side="left")]


@lru_cache(maxsize=1)
def gap_table() -> np.ndarray:
    """Gap (voxels), shape ``(_NUV + 1, _NUV + 1, n_depth)`` indexed by (u, v, δ)."""
    q, ln = _lattice()
    depths = np.arange(0, int(_DMAX * _ND) + 1) / _ND
    sub = 2.0 * ((np.arange(_SUB) + 0.5) / _SUB - 0.5)
    dd = np.maximum(depths[:, None] + sub[None, :], 0.0).ravel()
    out = np.zeros((_NUV + 1, _NUV + 1, depths.size), dtype=np.float64)
    for i, j, n in _normals():
        gap = (_nearest_beyond(q, ln, n, dd) - dd).reshape(depths.size, _SUB).mean(axis=1)
        out[i, j] = gap
        out[j, i] = gap
    return out.astype(np.float32)


#: Distance bins per voxel of :func:`gap_by_distance` and depth samples per voxel behind it.
_NDD = 8
_SUBD = 64


@lru_cache(maxsize=1)
def gap_by_distance() -> np.ndarray:
    """Mean gap (voxels) given the *observed* distance, shape ``(_NUV + 1, _NUV + 1, n_bins)``.

    ``E[d − δ | d]`` over points at uniformly distributed depths δ below a plane of normal
    (u, v), binned by their distance d to the nearest lattice point beyond the plane (bins
    of 1/``_NDD`` voxel; empty bins interpolated along d). :func:`gap_table` gives the gap
    at a known depth; a point whose distance d is observed but whose depth is not needs
    this one: on low-index planes the gap depends on the depth modulo the lattice period
    and d tells which case applies — a (1,1,1) point with d = √3 has its nearest background
    centre straight along the normal, gap ½ plane spacing (0.29), where the depth average
    gives 0.33 and more.
    """
    q, ln = _lattice()
    dd = (np.arange(int(_DMAX * _SUBD)) + 0.5) / _SUBD
    nb = int(_DMAX * _NDD) + 1
    out = np.zeros((_NUV + 1, _NUV + 1, nb), dtype=np.float64)
    centres = np.arange(nb) / _NDD
    for i, j, n in _normals():
        dist = _nearest_beyond(q, ln, n, dd)
        b = np.clip(np.rint(dist * _NDD).astype(np.int64), 0, nb - 1)
        s = np.bincount(b, weights=dist - dd, minlength=nb)
        c = np.bincount(b, minlength=nb)
        full = c > 0
        row = np.interp(centres, centres[full], s[full] / c[full])
        out[i, j] = row
        out[j, i] = row
    return out.astype(np.float32)


#: Radii (voxels) and positions of the digital disks behind :func:`axis_rod_gap`.
_ROD_R = (1.0, 9.0, 0.05)
_ROD_POS = 6
#: Largest squared distance (voxels²) tabulated: beyond it the disks of the table do not
#: reach every radius that can produce it.
_ROD_K = 56


@lru_cache(maxsize=1)
def axis_rod_gap() -> np.ndarray:
    """Curved-ridge gap (voxels) of a rod along a lattice axis, by the apex voxel's d².

    A rod along a lattice axis is sampled on the *plane* square lattice in its
    cross-section, whose background centres sit much further beyond a circle than those of
    a generic 3-D lattice around a sphere or an oblique rod (the plane has fewer lattice
    points near any curve): at the apex voxel, ``d − (R − offset)`` is 0.2–0.4 voxel and
    swings with the radius (circles through lattice points), so one constant curved gap
    cannot serve rods along an axis and spheres alike (with 0.06, 4-voxel axis rods read
    +12 %, 3-voxel ones −8 %). On the lattice the apex voxel's squared distance d² is an
    integer and says which case applies, as the observed distance does for planes
    (:func:`gap_by_distance`).

    The table is ``E[apex − R | d²]``: the apex of the sub-voxel estimator (the same
    kernels as :func:`bonenet.morphometry.local_thickness`: distance map, ridge, per-axis
    rises scaled by the axis slopes) at the highest ridge voxel of digital disks of radius
    R (uniform over ``_ROD_R``, voxels) at ``_ROD_POS²`` positions spread over a voxel,
    minus R; bins with no sample are interpolated. Computed once per process (≈ 0.6 s).
    Entry k for ``k = round(d²)``, ``k ≤ _ROD_K``.
    """
    import edt

    from . import _kernels as K

    radii = np.arange(_ROD_R[0], _ROD_R[1] + 1e-9, _ROD_R[2])
    cell = int(2 * _ROD_R[1]) + 6
    offs = (np.arange(_ROD_POS) + 0.5) / _ROD_POS - 0.5
    oy, ox = (a.ravel() for a in np.meshgrid(offs, offs, indexing="ij"))
    g = np.arange(cell, dtype=np.float64) - (cell - 1) / 2.0
    r2 = ((g[None, :, None] - oy[:, None, None]) ** 2
          + (g[None, None, :] - ox[:, None, None]) ** 2)  # (positions, cell, cell)
    disks = r2[None] < (radii ** 2)[:, None, None, None]  # (radii, positions, cell, cell)
    n_disk = radii.size * oy.size
    truth = np.repeat(radii, oy.size)
    cols = 64
    rows = -(-n_disk // cols)
    tiles = np.zeros((rows * cols, cell, cell), dtype=bool)
    tiles[:n_disk] = disks.reshape(n_disk, cell, cell)
    canvas = tiles.reshape(rows, cols, cell, cell).transpose(0, 2, 1, 3).reshape(rows * cell, cols * cell)
    # rods along the first axis: three identical slices of the plane distance map (with the
    # edge continued, the 3-D map of such a stack is the plane map)
    d2d = np.asarray(edt.edt(canvas, black_border=False), dtype=np.float32)
    d = np.ascontiguousarray(np.broadcast_to(d2d, (3, *d2d.shape)))
    apex, d2 = K.disk_apexes(d, cell, cols, n_disk)
    k = np.rint(d2).astype(np.int64)
    ok = (apex > 0) & (k <= _ROD_K)
    s = np.bincount(k[ok], weights=apex[ok] - truth[ok], minlength=_ROD_K + 1)
    c = np.bincount(k[ok], minlength=_ROD_K + 1)
    full = c > 0
    idx = np.arange(_ROD_K + 1)
    return np.interp(idx, idx[full], s[full] / c[full]).astype(np.float32)

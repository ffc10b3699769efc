"""numba kernels behind :func:`bonenet.morphometry.local_thickness` (private).

Three passes over a Euclidean distance map ``d`` (mm to the nearest background voxel centre):

1. ``ridge_counts`` / ``ridge_collect``: the distance ridge — voxels whose inscribed ball is
   not (nearly) contained in a neighbour's ball — with a sub-voxel peak estimate per axis;
2. ``paint``: every ridge ball paints its diameter into the voxels it covers (max wins),
   parallel over output slices so no two threads write the same voxel;
3. ``to_fallback`` / ``finish``: the distance buffer is reused as the output, so foreground
   voxels no ball reached keep their own ball's value (one float32 array in all).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

_NB = {"cache": True, "nogil": True, "fastmath": False}


@nb.njit(**_NB)
def _at(d, z, y, x, zero_edge):
    """d[z, y, x]; outside the array 0 (edge is background) or the nearest edge value."""
    nz, ny, nx = d.shape
    zi = np.int64(z)
    yi = np.int64(y)
    xi = np.int64(x)
    if zi < 0 or yi < 0 or xi < 0 or zi >= nz or yi >= ny or xi >= nx:
        if zero_edge:
            return np.float32(0.0)
        zi = min(max(zi, np.int64(0)), np.int64(nz - 1))
        yi = min(max(yi, np.int64(0)), np.int64(ny - 1))
        xi = min(max(xi, np.int64(0)), np.int64(nx - 1))
    return d[zi, yi, xi]


@nb.njit(**_NB)
def _is_ridge(d, z, y, x, s0, s1, s2, slack, ze):
    """True unless a 26-neighbour one step v away is higher by ≥ (1 - slack)·|v|."""
    v = d[z, y, x]
    if v <= 0.0:
        return False
    nz, ny, nx = d.shape
    f = 1.0 - slack
    interior = 0 < z < nz - 1 and 0 < y < ny - 1 and 0 < x < nx - 1
    for dz in range(-1, 2):
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                if dz == 0 and dy == 0 and dx == 0:
                    continue
                if interior:
                    q = d[z + dz, y + dy, x + dx]
                else:
                    q = _at(d, z + dz, y + dy, x + dx, ze)
                if q <= v:
                    continue
                dist = math.sqrt((dz * s0) ** 2 + (dy * s1) ** 2 + (dx * s2) ** 2)
                if q >= v + dist * f:
                    return False
    return True


@nb.njit(parallel=True, **_NB)
def ridge_counts(d, s0, s1, s2, slack, ze, flags):
    """Mark ridge voxels in ``flags`` (uint8) and return the count per slice."""
    nz, ny, nx = d.shape
    counts = np.zeros(nz, dtype=np.int64)
    for z in nb.prange(nz):
        c = 0
        for y in range(ny):
            for x in range(nx):
                if d[z, y, x] > 0.0 and _is_ridge(d, z, y, x, s0, s1, s2, slack, ze):
                    flags[z, y, x] = 1
                    c += 1
                else:
                    flags[z, y, x] = 0
        counts[z] = c
    return counts


@nb.njit(**_NB)
def _axis_rise(dm, d0, dp, h):
    """Height (mm) of the tent apex above d0 along one axis, at most half a step."""
    return min(0.5 * abs(dp - dm), 0.5 * h)


@nb.njit(**_NB)
def _peak(d, z, y, x, s0, s1, s2, ze):
    """Sub-voxel apex of the distance ridge through voxel (z, y, x).

    Along each axis the distance map near a ridge is a tent with its apex between the two
    neighbours; the apex height is ``d0 + |d(+1) - d(-1)| / 2`` (exact for a tent whose apex
    lies within one step), each capped at half a voxel. Across a flat ridge (a plate) every
    axis that crosses it sees the whole rise, so the largest one is the apex; near the apex
    of a cone (sphere centre, rod axis) each axis sees one component of the offset to the
    apex, so their Euclidean norm is. Returns (d0 + max rise, d0 + norm of rises), mm.
    (The sphere itself stays centred on the voxel: shifting it by per-axis apex offsets was
    tried and is biased on oblique plates.)
    """
    d0 = d[z, y, x]
    r0 = _axis_rise(_at(d, z - 1, y, x, ze), d0, _at(d, z + 1, y, x, ze), s0)
    r1 = _axis_rise(_at(d, z, y - 1, x, ze), d0, _at(d, z, y + 1, x, ze), s1)
    r2 = _axis_rise(_at(d, z, y, x - 1, ze), d0, _at(d, z, y, x + 1, ze), s2)
    return d0 + max(r0, r1, r2), d0 + math.sqrt(r0 * r0 + r1 * r1 + r2 * r2)


@nb.njit(**_NB)
def _codim_heff(d, z, y, x, s0, s1, s2, ze):
    """Local ridge codimension k, the spacing along the normal and its lattice alignment.

    k is about 1 on a plate's mid-surface and larger on the axes of rods and centres of
    spheres; ``align = max|n_i|`` of the ridge normal n (1 when the normal is a lattice axis,
    1/√2 for (1,1,0), 1/√3 for (1,1,1)).

    For each of the 13 neighbour directions v the steeper-side drop
    ``s_v = max(d0 - d(p+v), d0 - d(p-v)) / |v|`` is the slope of the distance map across
    the ridge along v (exact for a tent whose apex lies within one step): ``|n·v̂|`` for a plate of normal n, ``|v̂⊥|`` for a rod, 1 for a sphere.
    With the frame ``F = Σ v̂v̂ᵀ`` (13/3 I for cubic voxels, diagonal for any spacing),
    ``k = Σ s_v² / (nᵀ F n)`` — n estimated from the three axis slopes — is 1 on a plate
    and about 2 and 3 on rods and spheres, for isotropic and anisotropic voxels alike.
    """
    d0 = d[z, y, x]
    acc = 0.0
    w0 = 0.0
    w1 = 0.0
    w2 = 0.0
    f0 = 0.0
    f1 = 0.0
    f2 = 0.0
    for dz in range(-1, 2):
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                # one representative per antipodal pair
                if dz * 9 + dy * 3 + dx <= 0:
                    continue
                ln = math.sqrt((dz * s0) ** 2 + (dy * s1) ** 2 + (dx * s2) ** 2)
                f0 += (dz * s0 / ln) ** 2
                f1 += (dy * s1 / ln) ** 2
                f2 += (dx * s2 / ln) ** 2
                a = _at(d, z + dz, y + dy, x + dx, ze)
                b = _at(d, z - dz, y - dy, x - dx, ze)
                sv = max(d0 - a, d0 - b) / ln
                sv = min(max(sv, 0.0), 1.0)
                acc += sv * sv
                if dy == 0 and dx == 0:
                    w0 = sv * sv
                elif dz == 0 and dx == 0:
                    w1 = sv * sv
                elif dz == 0 and dy == 0:
                    w2 = sv * sv
    wt = w0 + w1 + w2
    if wt > 0.0:
        heff = (w0 * s0 + w1 * s1 + w2 * s2) / wt
        align = math.sqrt(max(w0, w1, w2) / wt)
        # a plate of normal n gives Σ s_v² = nᵀ F n with F = Σ v̂v̂ᵀ (diagonal by symmetry)
        plate = (w0 * f0 + w1 * f1 + w2 * f2) / wt
    else:
        heff = (s0 + s1 + s2) / 3.0
        align = 1.0
        plate = (f0 + f1 + f2) / 3.0
    k = acc / plate
    return k, heff, align


@nb.njit(**_NB)
def _curvedness(k, k_flat, k_curved):
    """0 for a flat ridge (plate), 1 for a curved one (rod, sphere), linear in between."""
    if k <= k_flat:
        return 0.0
    if k >= k_curved:
        return 1.0
    return (k - k_flat) / (k_curved - k_flat)


@nb.njit(**_NB)
def _beta(c, heff, align, b_flat, b_curved):
    """Digitisation gap (mm) between the background-centre distance and the true surface.

    A flat surface meets the lattice along whole rows of background centres, so the nearest
    centre lies on average half a voxel beyond the surface; a curved surface (rods, spheres)
    meets some background centre almost exactly. An oblique flat surface crosses lattice
    planes spaced ``align`` voxels apart and, off the lattice directions, meets nearer
    centres still: the flat gap is scaled by ``align**1.5`` (between the lattice-plane
    spacing ``align`` and the denser off-axis estimate ``align²``; 1 for axis-aligned
    plates). ``c`` is the curvedness (0 flat … 1 curved).
    """
    bf = b_flat * align * math.sqrt(align)
    return (bf + c * (b_curved - bf)) * heff


@nb.njit(parallel=True, **_NB)
def ridge_collect(d, s0, s1, s2, ze, flags, starts, cz, cy, cx, peak, value,
                  b_flat, b_curved, k_flat, k_curved):
    nz, ny, nx = d.shape
    for z in nb.prange(nz):
        i = starts[z]
        for y in range(ny):
            for x in range(nx):
                if flags[z, y, x]:
                    cz[i] = z
                    cy[i] = y
                    cx[i] = x
                    pk_flat, pk_cone = _peak(d, z, y, x, s0, s1, s2, ze)
                    k, heff, align = _codim_heff(d, z, y, x, s0, s1, s2, ze)
                    c = _curvedness(k, k_flat, k_curved)
                    pk = pk_flat + c * (pk_cone - pk_flat)
                    peak[i] = pk
                    value[i] = 2.0 * (pk - _beta(c, heff, align, b_flat, b_curved))
                    i += 1


@nb.njit(parallel=True, **_NB)
def paint(mask, cz, cy, cx, rcover, value, s0, s1, s2, out):
    """out[q] = max value[i] over balls i covering q (q in mask).

    Ball i is centred at voxel (cz, cy, cx) with radius ``rcover[i]`` mm. ``cz`` must be sorted ascending. Parallel over output slices: each
    thread owns slice z, so no two threads write the same voxel.
    """
    nz, ny, nx = mask.shape
    n = cz.shape[0]
    if n == 0:
        return
    rmax = 0.0
    for i in range(n):
        rmax = max(rmax, rcover[i])
    wz = int(rmax / s0) + 2
    for z in nb.prange(nz):
        lo = np.searchsorted(cz, z - wz)
        hi = np.searchsorted(cz, z + wz, side="right")
        for i in range(lo, hi):
            dz = (z - cz[i]) * s0
            r2 = rcover[i] * rcover[i] - dz * dz
            if r2 < 0.0:
                continue
            v = value[i]
            yc = cy[i]
            xc = cx[i]
            ry = int(math.sqrt(r2) / s1)
            y0 = max(0, yc - ry)
            y1 = min(ny - 1, yc + ry)
            for y in range(y0, y1 + 1):
                dy = (y - yc) * s1
                r2y = r2 - dy * dy
                if r2y < 0.0:
                    continue
                rx = int(math.sqrt(r2y) / s2)
                x0 = max(0, xc - rx)
                x1 = min(nx - 1, xc + rx)
                for x in range(x0, x1 + 1):
                    out[z, y, x] = max(out[z, y, x], v * mask[z, y, x])


@nb.njit(parallel=True, **_NB)
def to_fallback(mask, d, beta, floor):
    """In place: d → −(own-ball diameter) inside the mask, 0 outside.

    The distance map's buffer then doubles as the output of :func:`paint`: painted voxels
    get positive diameters (any positive value beats a negative one), the rare voxel no
    ridge sphere reaches keeps its own ball's diameter, recovered by :func:`finish`.
    """
    nz, ny, nx = mask.shape
    for z in nb.prange(nz):
        for y in range(ny):
            for x in range(nx):
                if mask[z, y, x]:
                    d[z, y, x] = -max(2.0 * (d[z, y, x] - beta), floor)
                else:
                    d[z, y, x] = 0.0


@nb.njit(parallel=True, **_NB)
def finish(out):
    """In place: absolute value (uncovered voxels keep their fallback diameter)."""
    nz, ny, nx = out.shape
    for z in nb.prange(nz):
        for y in range(ny):
            for x in range(nx):
                out[z, y, x] = abs(out[z, y, x])

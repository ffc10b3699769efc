"""numba kernels behind :func:`bonenet.morphometry.local_thickness` (private).

Three passes over a Euclidean distance map ``d`` (mm to the nearest background voxel centre):

1. ``ridge_counts`` / ``ridge_collect`` / ``blend``: the distance ridge — voxels whose
   inscribed ball is not (nearly) contained in a neighbour's ball — with a sub-voxel apex
   per axis, the plate/rod call, the curved gap (``_curved_gap``: the axis-rod lattice table
   along a lattice axis, ``disk_apexes`` builds it), and on flat ridges the axis-pair half-thickness at the
   gradient-tensor normal (``_flat_half``, ``_tensor_normal``), voted over the 3×3×3 ridge
   neighbourhood;
2. ``paint``: every ridge ball paints its diameter into the voxels it covers (max wins),
   parallel over output slices so no two threads write the same voxel;
3. ``to_fallback`` / ``finish``: the distance buffer is reused as the output, so foreground
   voxels no ball reached keep their own ball's value (one float32 array in all).

The module is longer than 450 lines on purpose: it is one algorithm whose three passes share
the same numba helpers and ridge model (the plate/rod call of a ridge voxel, its normal and
sub-voxel apex); splitting it would scatter one estimator over several files (the lattice
surface-gap tables already live in :mod:`._gap`).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from ._gap import _ND, _NDD

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
def _nbr(d, z, y, x, interior, zero_edge):
    """d[z, y, x] for a neighbour of an interior voxel (no bounds test), else :func:`_at`."""
    if interior:
        return d[z, y, x]
    return _at(d, z, y, x, zero_edge)


@nb.njit(**_NB)
def _is_ridge(d, z, y, x, thr, ze):
    """True unless a 26-neighbour one step v away is higher by ≥ (1 - slack)·|v|.

    ``thr[(dz+1)·9 + (dy+1)·3 + dx+1] = (1 - slack)·|v|`` (from :func:`_thresholds`).
    """
    v = d[z, y, x]
    if v <= 0.0:
        return False
    nz, ny, nx = d.shape
    interior = 0 < z < nz - 1 and 0 < y < ny - 1 and 0 < x < nx - 1
    t = -1
    for dz in range(-1, 2):
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                t += 1
                if dz == 0 and dy == 0 and dx == 0:
                    continue
                q = _nbr(d, z + dz, y + dy, x + dx, interior, ze)
                if q <= v:
                    continue
                if q >= v + thr[t]:
                    return False
    return True


@nb.njit(**_NB)
def _thresholds(s0, s1, s2, f):
    """f·|v| for the 27 steps v of the 3×3×3 block (once per call, not per voxel)."""
    thr = np.zeros(27)
    t = 0
    for dz in range(-1, 2):
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                dist = math.sqrt((dz * s0) ** 2 + (dy * s1) ** 2 + (dx * s2) ** 2)
                thr[t] = dist * f
                t += 1
    return thr


@nb.njit(parallel=True, **_NB)
def ridge_counts(d, s0, s1, s2, slack, ze, flags):
    """Mark ridge voxels in ``flags`` (uint8) and return the count per slice."""
    nz, ny, nx = d.shape
    counts = np.zeros(nz, dtype=np.int64)
    thr = _thresholds(s0, s1, s2, 1.0 - slack)
    for z in nb.prange(nz):
        c = 0
        for y in range(ny):
            for x in range(nx):
                if d[z, y, x] > 0.0 and _is_ridge(d, z, y, x, thr, ze):
                    flags[z, y, x] = 1
                    c += 1
                else:
                    flags[z, y, x] = 0
        counts[z] = c
    return counts


#: A drop of less than this fraction of a step counts as "no drop" in the rim test.
_RIM_EPS = 0.1
#: The rim test applies only at ridge depths of at least this many voxels.
_RIM_MIN_DEPTH = 1.5


@nb.njit(**_NB)
def _rim(d, d0, a, b, z, y, x, dz, dy, dx, ln, ze):
    """True when the ridge through p runs on flat along one side of ±v and ends on the other.

    ``a = d(p + v)``, ``b = d(p − v)``. At the rim of a plate (where the medial sheet ends,
    e.g. at a finite plate's edge or where the array edge cuts it) the distance map along
    an in-sheet direction v reads ``d0 − 1, d0, d0, d0`` — a one-sided drop that a 3-point
    stencil mistakes for the slope of a cone (rod or sphere apex) and that made the rim
    spheres up to 0.9 voxel too large. A cone apex one step away drops again two steps away
    (by ≥ ½ step for an apex within ¾ step, the most a ridge voxel allows); a sheet does
    not. So: one side not lower than d0 − ε, the other lower, and two steps out on the
    first side still not lower than d0 − ε (ε = :data:`_RIM_EPS` step). Within
    :data:`_RIM_MIN_DEPTH` voxels of the surface the stencil cannot tell a rim from the
    apex of a thin rod, and the test is off.
    """
    e = _RIM_EPS * ln
    if a >= d0 - e:
        if b >= d0 - e:
            return False
        s = 1
    elif b >= d0 - e:
        s = -1
    else:
        return False
    if d0 < _RIM_MIN_DEPTH * ln / math.sqrt(dz * dz + dy * dy + dx * dx):
        return False
    return _at(d, z + 2 * s * dz, y + 2 * s * dy, x + 2 * s * dx, ze) >= d0 - e


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
    r0 = 0.0
    r1 = 0.0
    r2 = 0.0
    a = _at(d, z + 1, y, x, ze)
    b = _at(d, z - 1, y, x, ze)
    if not _rim(d, d0, a, b, z, y, x, 1, 0, 0, s0, ze):
        r0 = _axis_rise(b, d0, a, s0)
    a = _at(d, z, y + 1, x, ze)
    b = _at(d, z, y - 1, x, ze)
    if not _rim(d, d0, a, b, z, y, x, 0, 1, 0, s1, ze):
        r1 = _axis_rise(b, d0, a, s1)
    a = _at(d, z, y, x + 1, ze)
    b = _at(d, z, y, x - 1, ze)
    if not _rim(d, d0, a, b, z, y, x, 0, 0, 1, s2, ze):
        r2 = _axis_rise(b, d0, a, s2)
    return r0, r1, r2


#: Exponent of the normal components weighting the per-axis apex rises on flat ridges.
_RISE_POW = 2.0


@nb.njit(**_NB)
def _flat_rise(r0, r1, r2, n0, n1, n2):
    """Apex rise of a flat ridge: the per-axis rises weighted by |n_i|^_RISE_POW.

    Every axis that crosses a plate sees the whole apex, but an axis nearly parallel to the
    plate sees the apex more than one step away (its 3-point tent estimate is then wrong),
    and the largest of three noisy estimates is biased upwards; weighting by the normal's
    components trusts the axes that cross the plate most steeply.
    """
    w0 = abs(n0) ** _RISE_POW if _RISE_POW != 2.0 else n0 * n0
    w1 = abs(n1) ** _RISE_POW if _RISE_POW != 2.0 else n1 * n1
    w2 = abs(n2) ** _RISE_POW if _RISE_POW != 2.0 else n2 * n2
    wt = w0 + w1 + w2
    if wt <= 0.0:
        return max(r0, r1, r2)
    return (w0 * r0 + w1 * r1 + w2 * r2) / wt


@nb.njit(**_NB)
def _cone_rise(r0, r1, r2, k0, k1, k2):
    """Apex rise of a curved ridge from the per-axis rises r_i and the axis slopes k_i.

    Near the axis of a rod of direction a, the 3-point tent along axis i sees the offset
    o to the axis as ``r_i = |o_i| / √(1 − a_i²)`` (the axis crosses the rod obliquely), and
    the slope of the distance map along axis i is ``k_i = √(1 − a_i²)``, so
    ``|o| = √Σ (r_i k_i)²``; near a sphere's centre k_i = 1 and this is the plain norm.
    The slopes are the steeper-side axis slopes of :func:`_codim_heff` (read at the ridge
    voxel, so a digital sphere's centre reads 0.5–0.9 rather than 1: spheres read about
    2 % thinner than with the plain norm, compensated by the smaller fitted curved gap).
    The plain norm read oblique rods up to +7 % thick.
    """
    k0 = min(max(k0, 0.0), 1.0)
    k1 = min(max(k1, 0.0), 1.0)
    k2 = min(max(k2, 0.0), 1.0)
    return math.sqrt((r0 * k0) ** 2 + (r1 * k1) ** 2 + (r2 * k2) ** 2)


@nb.njit(**_NB)
def _directions(s0, s1, s2):
    """The 13 neighbour directions of :func:`_codim_heff` (one per antipodal pair): length
    (mm) and squared direction cosines, computed once per call instead of per voxel."""
    geo = np.empty((13, 4))
    t = 0
    for dz in range(-1, 2):
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                if dz * 9 + dy * 3 + dx <= 0:
                    continue
                ln = math.sqrt((dz * s0) ** 2 + (dy * s1) ** 2 + (dx * s2) ** 2)
                geo[t, 0] = ln
                geo[t, 1] = (dz * s0 / ln) ** 2
                geo[t, 2] = (dy * s1 / ln) ** 2
                geo[t, 3] = (dx * s2 / ln) ** 2
                t += 1
    return geo


@nb.njit(**_NB)
def _codim_heff(d, z, y, x, s0, s1, s2, ze, geo):
    """Local ridge codimension k, the spacing along the normal and the ridge normal.

    k is about 1 on a plate's mid-surface and larger on the axes of rods and centres of
    spheres; also returned: the spacing along the normal, the ridge normal (n0, n1, n2)
    in voxel units (from the three axis slopes) and the least of the 13 slopes (near 0
    along a rod, ≥ 0.4 at most sphere centres).

    For each of the 13 neighbour directions v the steeper-side drop
    ``s_v = max(d0 - d(p+v), d0 - d(p-v)) / |v|`` is the slope of the distance map across
    the ridge along v (exact for a tent whose apex lies within one step): ``|n·v̂|`` for a plate of normal n, ``|v̂⊥|`` for a rod, 1 for a sphere.
    With the frame ``F = Σ v̂v̂ᵀ`` (13/3 I for cubic voxels, diagonal for any spacing),
    ``k = Σ s_v² / (nᵀ F n)`` — n estimated from the three axis slopes — is 1 on a plate
    and about 2 and 3 on rods and spheres, for isotropic and anisotropic voxels alike.
    """
    d0 = d[z, y, x]
    nz, ny, nx = d.shape
    interior = 0 < z < nz - 1 and 0 < y < ny - 1 and 0 < x < nx - 1
    acc = 0.0
    smin = 1.0
    w0 = 0.0
    w1 = 0.0
    w2 = 0.0
    f0 = 0.0
    f1 = 0.0
    f2 = 0.0
    t = -1
    for dz in range(-1, 2):
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                # one representative per antipodal pair
                if dz * 9 + dy * 3 + dx <= 0:
                    continue
                t += 1
                ln = geo[t, 0]
                f0 += geo[t, 1]
                f1 += geo[t, 2]
                f2 += geo[t, 3]
                a = _nbr(d, z + dz, y + dy, x + dx, interior, ze)
                b = _nbr(d, z - dz, y - dy, x - dx, interior, ze)
                if _rim(d, d0, a, b, z, y, x, dz, dy, dx, ln, ze):
                    sv = 0.0  # runs along the ridge: the drop is its end, not a slope across
                else:
                    sv = max(d0 - a, d0 - b) / ln
                    sv = min(max(sv, 0.0), 1.0)
                smin = min(smin, sv)
                acc += sv * sv
                if dy == 0 and dx == 0:
                    w0 = sv * sv
                elif dz == 0 and dx == 0:
                    w1 = sv * sv
                elif dz == 0 and dy == 0:
                    w2 = sv * sv
    wt = w0 + w1 + w2
    # ridge normal in voxel units: the axis slopes are |n_i| (mm normal), times the spacing
    n0 = math.sqrt(w0) * s0
    n1 = math.sqrt(w1) * s1
    n2 = math.sqrt(w2) * s2
    if wt > 0.0:
        heff = (w0 * s0 + w1 * s1 + w2 * s2) / wt
        # a plate of normal n gives Σ s_v² = nᵀ F n with F = Σ v̂v̂ᵀ (diagonal by symmetry)
        plate = (w0 * f0 + w1 * f1 + w2 * f2) / wt
    else:
        heff = (s0 + s1 + s2) / 3.0
        n0 = 1.0
        plate = (f0 + f1 + f2) / 3.0
    k = acc / plate
    return k, heff, n0, n1, n2, smin


@nb.njit(**_NB)
def _curvedness(k, k_flat, k_curved):
    """0 for a flat ridge (plate), 1 for a curved one (rod, sphere), linear in between."""
    if k <= k_flat:
        return 0.0
    if k >= k_curved:
        return 1.0
    return (k - k_flat) / (k_curved - k_flat)


@nb.njit(**_NB)
def _gap_cell(table, nz_, ny_, nx_):
    """Cell of :func:`bonenet.morphometry._gap.gap_table` for a surface normal (voxel units).

    Sorts the absolute normal components (the lattice's symmetries) and returns the
    (u, v) cell and its bilinear weights ``(i0, j0, tu, tv)``; ``i0 = -1`` for a zero normal.
    """
    a = abs(nz_)
    b = abs(ny_)
    c = abs(nx_)
    if a < b:
        a, b = b, a
    if b < c:
        b, c = c, b
    if a < b:
        a, b = b, a
    if a <= 0.0:
        return -1, 0, 0.0, 0.0
    nuv = table.shape[0] - 1
    fu = b / a * nuv
    fv = c / a * nuv
    i0 = min(int(fu), nuv - 1)
    j0 = min(int(fv), nuv - 1)
    return i0, j0, fu - i0, fv - j0


@nb.njit(**_NB)
def _gap_at(table, i0, j0, tu, tv, depth):
    """Gap (voxels) at ``depth`` voxels in the cell from :func:`_gap_cell` (trilinear)."""
    if i0 < 0:
        return 0.5
    nd = table.shape[2] - 1
    fd = min(max(depth * _ND_PER_VOXEL, 0.0), float(nd))
    k0 = min(int(fd), nd - 1)
    td = fd - k0
    acc = 0.0
    for di in range(2):
        wu = tu if di else 1.0 - tu
        for dj in range(2):
            wv = tv if dj else 1.0 - tv
            r = table[i0 + di, j0 + dj]
            acc += wu * wv * ((1.0 - td) * r[k0] + td * r[k0 + 1])
    return acc


@nb.njit(**_NB)
def _flat_gap(table, nz_, ny_, nx_, depth):
    """Gap (voxels) of a flat surface of normal (nz_, ny_, nx_) at ``depth`` voxels."""
    i0, j0, tu, tv = _gap_cell(table, nz_, ny_, nx_)
    return _gap_at(table, i0, j0, tu, tv, depth)


#: Least cosine between the gradient-tensor normal and the voxel's own slope normal for the
#: axis-pair estimate to apply (a guard against sheet ends; chosen, 60°, not fitted).
_AGREE = 0.5
#: Depth samples per voxel in the gap table (``_gap._ND``).
_ND_PER_VOXEL = float(_ND)
#: Distance bins per voxel in the gap-by-distance table (``_gap._NDD``).
_NDD_PER_VOXEL = float(_NDD)


@nb.njit(**_NB)
def _tensor_normal(d, z, y, x, s0, s1, s2):
    """Plate normal (|components|, mm) from the gradient structure tensor around (z, y, x).

    Central differences at the six face neighbours of the voxel (those whose own face
    neighbours are all in the structure; voxels within two of the array edge get none); on
    the flanks of a plate the gradient is ±n, so the principal eigenvector of ``Σ g gᵀ`` is
    the plate normal — unlike slopes read at the ridge voxel itself, whose distance is
    selected for being high. (0, 0, 0) when no gradient is available.
    """
    nz, ny, nx = d.shape
    if z < 2 or y < 2 or x < 2 or z >= nz - 2 or y >= ny - 2 or x >= nx - 2:
        return 0.0, 0.0, 0.0
    h0 = 0.5 / s0
    h1 = 0.5 / s1
    h2 = 0.5 / s2
    t0 = 0.0
    t1 = 0.0
    t2 = 0.0
    t3 = 0.0
    t4 = 0.0
    t5 = 0.0
    for k in range(6):
        ax = k >> 1
        sg = 1 if (k & 1) else -1
        qz = z + (sg if ax == 0 else 0)
        qy = y + (sg if ax == 1 else 0)
        qx = x + (sg if ax == 2 else 0)
        az = d[qz + 1, qy, qx]
        bz = d[qz - 1, qy, qx]
        ay = d[qz, qy + 1, qx]
        by = d[qz, qy - 1, qx]
        ax_ = d[qz, qy, qx + 1]
        bx = d[qz, qy, qx - 1]
        if min(min(az, bz), min(min(ay, by), min(ax_, bx))) <= 0.0:
            continue
        gz = (az - bz) * h0
        gy = (ay - by) * h1
        gx = (ax_ - bx) * h2
        t0 += gz * gz
        t1 += gy * gy
        t2 += gx * gx
        t3 += gz * gy
        t4 += gz * gx
        t5 += gy * gx
    return _principal(t0, t1, t2, t3, t4, t5)


@nb.njit(**_NB)
def _principal(t0, t1, t2, t3, t4, t5):
    """|components| of the unit principal eigenvector of a 3×3 PSD tensor.

    Power iteration from the tensor's column of largest diagonal — for the nearly rank-one
    tensor of a plate that column already points along the normal — with three products.
    Returns (0, 0, 0) for a zero tensor.
    """
    if t0 >= t1 and t0 >= t2:
        v0, v1, v2 = t0, t3, t4
    elif t1 >= t2:
        v0, v1, v2 = t3, t1, t5
    else:
        v0, v1, v2 = t4, t5, t2
    tr = t0 + t1 + t2
    if tr <= 0.0:
        return 0.0, 0.0, 0.0
    for _ in range(3):
        w0 = (t0 * v0 + t3 * v1 + t4 * v2) / tr
        w1 = (t3 * v0 + t1 * v1 + t5 * v2) / tr
        w2 = (t4 * v0 + t5 * v1 + t2 * v2) / tr
        v0, v1, v2 = w0, w1, w2
    nn = math.sqrt(v0 * v0 + v1 * v1 + v2 * v2)
    if nn <= 0.0:
        return 0.0, 0.0, 0.0
    return abs(v0) / nn, abs(v1) / nn, abs(v2) / nn


#: Axis-slope ratio (least / largest) of a curved ridge up to which it reads as a rod along
#: a lattice axis (the rod gap table applies in full) and from which as a generic curved
#: ridge (the constant curved gap); linear in between (chosen, not fitted: a rod tilted by
#: less than about 6° from an axis still sees the plane lattice over its contact length).
_TILT = (0.1, 0.3)


#: Anisotropy of a rod's cross-section (larger / smaller of the two spacings across the rod,
#: minus 1) at which the axis-rod table has faded out entirely: the table is a square-lattice
#: table (linear from a square cross-section; chosen, not fitted).
_ROD_ANISO = 0.05


@nb.njit(**_NB)
def _curved_gap(d0, k0, k1, k2, h, b_curved, rod_tab, s0, s1, s2):
    """Gap (mm) of a curved ridge voxel of distance ``d0`` (mm) and axis slopes k.

    Where the ridge runs along a lattice axis (least / largest axis slope below
    :data:`_TILT`) whose cross-section is a square lattice (the two other spacings equal,
    fading out by :data:`_ROD_ANISO`: a rod along the slice axis of 0.5 × 0.5 × 1 mm voxels
    qualifies, one across the slices does not) the axis-rod table of
    :func:`bonenet.morphometry._gap.axis_rod_gap` at ``round((d0/h)²)``, blended into the
    constant ``b_curved`` voxels by the slope ratio; elsewhere ``b_curved``; times h.
    """
    g = b_curved
    nt = rod_tab.shape[0]
    if nt > 0:
        kmax = max(k0, max(k1, k2))
        kmin = min(k0, min(k1, k2))
        tilt = kmin / kmax if kmax > 0.0 else 1.0
        if tilt < _TILT[1]:
            if k0 <= k1 and k0 <= k2:  # the rod runs along axis 0
                a, b = s1, s2
            elif k1 <= k2:
                a, b = s0, s2
            else:
                a, b = s0, s1
            square = 1.0 - (max(a, b) / min(a, b) - 1.0) / _ROD_ANISO
            q = d0 / h
            k = int(q * q + 0.5)
            if square > 0.0 and k < nt:
                w = min(1.0, (_TILT[1] - tilt) / (_TILT[1] - _TILT[0])) * min(1.0, square)
                g = b_curved + w * (rod_tab[k] - b_curved)
    return g * h


@nb.njit(parallel=True, **_NB)
def disk_apexes(d, cell, cols, n):
    """Sub-voxel cone apex (voxels) and its d² at the highest voxel of each disk of a canvas.

    ``d``: distance map of three identical slices of a canvas of ``n`` digital disks in
    square cells of ``cell`` voxels, ``cols`` to a row (:func:`._gap.axis_rod_gap`); the
    apex is the curved-ridge apex of :func:`ridge_collect` (largest over tied voxels).
    """
    geo = _directions(1.0, 1.0, 1.0)
    apex = np.zeros(n)
    d2 = np.zeros(n)
    for i in nb.prange(n):
        y0 = (i // cols) * cell
        x0 = (i % cols) * cell
        top = 0.0
        for y in range(y0, y0 + cell):
            for x in range(x0, x0 + cell):
                top = max(top, d[1, y, x])
        if top <= 0.0:
            continue
        best = 0.0
        for y in range(y0, y0 + cell):
            for x in range(x0, x0 + cell):
                if d[1, y, x] == top:
                    r0, r1, r2 = _peak(d, 1, y, x, 1.0, 1.0, 1.0, False)
                    _k, _h, n0, n1, n2, _s = _codim_heff(d, 1, y, x, 1.0, 1.0, 1.0, False, geo)
                    best = max(best, top + _cone_rise(r0, r1, r2, n0, n1, n2))
        apex[i] = best
        d2[i] = top * top
    return apex, d2


@nb.njit(parallel=True, **_NB)
def ridge_collect(d, s0, s1, s2, ze, flags, starts, cz, cy, cx, pk_f, pk_c, heffs, nrm2, curved,
                  k_flat, k_curved, tabd, pa, b_curved, rod_tab, gcv, line):
    """Ridge voxels in raster order, each with what :func:`blend` needs to size its sphere.

    ``pk_f``/``pk_c``: sub-voxel apex height (mm) if the ridge is flat / curved there;
    ``heffs``: spacing along the ridge normal (mm); ``nrm2``: squared components of the
    ridge normal in voxel units; ``curved``: the voxel's own curvedness (0 … 1);
    ``pa``: the half-thickness (mm) if the ridge is flat there, from the axis pairs around
    the voxel with the normal of the gradient structure tensor (:func:`_flat_half`); −1
    where the voxel's own curvedness is 1 (it then carries no weight in the flat estimate)
    or no axis pair applies; ``gcv``: the curved-ridge gap (mm, :func:`_curved_gap`);
    ``line``: 1 where the ridge reads as a line (least slope, :data:`_LINE`), 0 as a point.
    """
    geo = _directions(s0, s1, s2)
    nz, ny, nx = d.shape
    for z in nb.prange(nz):
        i = starts[z]
        for y in range(ny):
            for x in range(nx):
                if flags[z, y, x]:
                    cz[i] = z
                    cy[i] = y
                    cx[i] = x
                    r0, r1, r2 = _peak(d, z, y, x, s0, s1, s2, ze)
                    k, heff, n0, n1, n2, smin = _codim_heff(d, z, y, x, s0, s1, s2, ze, geo)
                    line[i] = min(1.0, max(0.0, (_LINE[1] - smin) / (_LINE[1] - _LINE[0])))
                    d0 = d[z, y, x]
                    pk_c[i] = d0 + _cone_rise(r0, r1, r2, n0 / s0, n1 / s1, n2 / s2)
                    pk_f[i] = d0 + _flat_rise(r0, r1, r2, n0, n1, n2)
                    heffs[i] = heff
                    gcv[i] = _curved_gap(d0, n0 / s0, n1 / s1, n2 / s2, heff, b_curved, rod_tab, s0, s1, s2)
                    nn = n0 * n0 + n1 * n1 + n2 * n2
                    if nn > 0.0:
                        nrm2[i, 0] = n0 * n0 / nn
                        nrm2[i, 1] = n1 * n1 / nn
                        nrm2[i, 2] = n2 * n2 / nn
                    else:
                        nrm2[i, 0] = 1.0
                        nrm2[i, 1] = 0.0
                        nrm2[i, 2] = 0.0
                    c = _curvedness(k, k_flat, k_curved)
                    curved[i] = c
                    pa[i] = -1.0
                    if c < 1.0:
                        m0, m1, m2 = _tensor_normal(d, z, y, x, s0, s1, s2)
                        # the tensor normal must agree with the voxel's own axis slopes:
                        # near a surface that ends the sheet (a plate's edge, the array
                        # edge) the neighbours' gradients point along the sheet
                        k0 = n0 / s0
                        k1 = n1 / s1
                        k2 = n2 / s2
                        kk = math.sqrt(k0 * k0 + k1 * k1 + k2 * k2)
                        if m0 * k0 + m1 * k1 + m2 * k2 >= _AGREE * kk > 0.0:
                            pa[i] = _flat_half(d, z, y, x, ze, m0, m1, m2, tabd, s0, s1, s2)
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
            # float64, with a relative tolerance: voxel-grid radii are lattice distances
            # (√2, √5, ...) whose float32 square falls just short of the integer
            rc = np.float64(rcover[i]) * (1.0 + 1e-6)
            r2 = rc * rc - dz * dz
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


@nb.njit(parallel=True, **_NB)
def prune_contained(pmap, flags, cz, cy, cx, peak, s0, s1, s2, f, keep):
    """keep[i] = False when a neighbouring sphere nearly contains sphere i.

    ``pmap`` holds each ridge voxel's sub-voxel radius where ``flags`` is set. Sphere i is dropped
    when a 26-neighbour one step v away has a radius ≥ r_i + f·|v|: its own sphere then
    covers all of sphere i but a crescent thinner than (1 − f)·|v| at the surface.
    """
    nz, ny, nx = pmap.shape
    thr = _thresholds(s0, s1, s2, f)
    for i in nb.prange(cz.shape[0]):
        z = cz[i]
        y = cy[i]
        x = cx[i]
        r = peak[i]
        t = -1
        for dz in range(-1, 2):
            for dy in range(-1, 2):
                for dx in range(-1, 2):
                    t += 1
                    if dz == 0 and dy == 0 and dx == 0:
                        continue
                    zz = z + dz
                    yy = y + dy
                    xx = x + dx
                    if zz < 0 or yy < 0 or xx < 0 or zz >= nz or yy >= ny or xx >= nx:
                        continue
                    if not flags[zz, yy, xx]:
                        continue
                    q = pmap[zz, yy, xx]
                    if q > r and q >= r + thr[t]:
                        keep[i] = False


@nb.njit(**_NB)
def raster_rows(cz, cy, shape):
    """Start of each raster row (z, y) in the ridge arrays (ridge voxels in raster order).

    Returns an int64 array of ``nz·ny + 1`` offsets: row ``z·ny + y`` is
    ``rows[r]:rows[r + 1]``.
    """
    ny = shape[1]
    nrow = shape[0] * ny
    rows = np.zeros(nrow + 1, np.int64)
    for i in range(cz.shape[0]):
        rows[np.int64(cz[i]) * ny + cy[i] + 1] += 1
    for r in range(nrow):
        rows[r + 1] += rows[r]
    return rows


@nb.njit(**_NB)
def _gapd_at(tabd, i0, j0, tu, tv, dist):
    """Gap (voxels) given the observed distance ``dist`` (voxels), in the cell from
    :func:`_gap_cell` of :func:`bonenet.morphometry._gap.gap_by_distance` (nearest distance
    bin, as the table was binned; bilinear in the normal)."""
    if i0 < 0:
        return 0.5
    nb_ = tabd.shape[2] - 1
    k = min(max(int(dist * _NDD_PER_VOXEL + 0.5), 0), nb_)
    return ((1.0 - tu) * ((1.0 - tv) * tabd[i0, j0, k] + tv * tabd[i0, j0 + 1, k])
            + tu * ((1.0 - tv) * tabd[i0 + 1, j0, k] + tv * tabd[i0 + 1, j0 + 1, k]))


@nb.njit(**_NB)
def _flat_half(d, z, y, x, ze, n0, n1, n2, tabd, s0, s1, s2):
    """Surface-corrected half-thickness (mm) of a flat ridge from the axis pairs at (z, y, x).

    Along axis i the two neighbours p ± e_i lie on opposite flanks of the tent when the
    apex lies between them, and then ``½(d(p+e_i) + d(p−e_i)) + |n_i|·s_i`` is the apex
    height whatever its sub-voxel offset (the offset cancels). Unlike the ridge voxel's own
    distance — selected for being high, which biased thin oblique plates by up to +0.4
    voxel — the neighbours are not selected, so the digitisation gap subtracted from each
    is the lattice mean given its observed distance
    (:func:`bonenet.morphometry._gap.gap_by_distance`). The axes are weighted by n_i²
    (steep crossings; a shallow axis may see the apex more than a step away). ``n``:
    |components| of the unit normal in mm. Returns −1 when no axis applies.
    """
    # normal in voxel units and the spacing along it, for the voxel-unit gap table
    u0 = n0 * s0
    u1 = n1 * s1
    u2 = n2 * s2
    h = n0 * n0 * s0 + n1 * n1 * s1 + n2 * n2 * s2
    i0, j0, tu, tv = _gap_cell(tabd, u0, u1, u2)
    nz, ny, nx = d.shape
    interior = 0 < z < nz - 1 and 0 < y < ny - 1 and 0 < x < nx - 1
    acc = 0.0
    wt = 0.0
    for ax in range(3):
        dz = 1 if ax == 0 else 0
        dy = 1 if ax == 1 else 0
        dx = 1 if ax == 2 else 0
        ni = n0 if ax == 0 else (n1 if ax == 1 else n2)
        si = s0 if ax == 0 else (s1 if ax == 1 else s2)
        if ni <= 0.0:
            continue
        a = _nbr(d, z + dz, y + dy, x + dx, interior, ze)
        b = _nbr(d, z - dz, y - dy, x - dx, interior, ze)
        w = ni * ni
        if w <= 0.0 or a <= 0.0 or b <= 0.0:
            continue
        ga = _gapd_at(tabd, i0, j0, tu, tv, a / h) * h
        gb = _gapd_at(tabd, i0, j0, tu, tv, b / h) * h
        acc += w * (0.5 * (a - ga + b - gb) + ni * si)
        wt += w
    if wt <= 0.0:
        return -1.0
    return acc / wt


#: Least steeper-side slope (over the 13 directions) of a curved ridge voxel below which its
#: ridge reads as a line (a rod's axis: along the rod the distance map is nearly flat) and
#: above which as a point (a sphere's centre), linear in between. Chosen between the least
#: slopes measured at the apex voxels of oblique rods of 4–12 voxels (0.12–0.37) and at the
#: centres of digital spheres (0.29–0.93, 45 of 48 at ≥ 0.42); not fitted to the errors.
_LINE = (0.3, 0.42)
#: Offset (voxels) from the apex, as the voxel's own rise estimates it, up to which a curved
#: ridge voxel counts in the along-the-line mean (weight ``_NEAR_AXIS − rise``; chosen).
_NEAR_AXIS = 0.5


@nb.njit(parallel=True, **_NB)
def blend(d, cz, cy, cx, rows, shape, curved, vote_lo, vote_hi, min_sheet, pk_f, pk_c, heffs,
          nrm2, table, gcv, peak, value, pa, line):
    """Size each ridge sphere from its 3×3×3 ridge neighbourhood.

    Two per-voxel estimates are noisy on oblique plates, where the binary lattice makes the
    distance map step unevenly: the codimension (up to half the voxels of an oblique
    plate's ridge read "curved" on their own) and the ridge normal (an axis slope may read
    0 or twice its value). Both are averaged over the voxel and its 26-neighbour ridge
    voxels: the mean curvedness is mapped linearly from ``vote_lo`` (flat) to ``vote_hi``
    (curved) — a plate with scattered curved votes stays flat, a rod's axis or a sphere's
    centre, all of whose ridge voxels are curved, stays curved. Where the voxel has fewer
    than ``min_sheet`` ridge voxels in its 3×3×3 neighbourhood (itself included: the ridge
    there is a line or a point, not a sheet) any curved vote makes it curved. The mean squared normal
    components give the normal at which the flat-surface gap is looked up in ``table``
    (:func:`bonenet.morphometry._gap.gap_table`), and the flat diameter uses the mean apex
    height of the neighbours, weighted by their own flatness (painting keeps the *largest*
    covering value, so scatter along the ridge — which the lattice causes on oblique
    surfaces — would bias the painted mean upwards). Writes the sphere radius ``peak`` (mm,
    the voxel's own apex: it decides which voxels the sphere covers) and its diameter
    ``value`` (mm).

    Curved diameters along a ridge *line* (a rod's axis; ``line`` from the least slope,
    :data:`_LINE`) are the mean of the curved estimates of the ridge voxels around that are
    at least as high and, by their own rise, within :data:`_NEAR_AXIS` of the apex: along a
    digital oblique line those estimates scatter (unbiased near the axis, −0.01 voxel at 6
    voxels) and painting keeps the largest covering one, which read 6-voxel oblique rods
    +0.34 voxel thick. Sphere centres (a point ridge) keep their own estimate (the mean
    there read 4-voxel spheres −6 %).
    """
    nz = shape[0]
    ny = shape[1]
    for i in nb.prange(cz.shape[0]):
        acc = 0.0
        cnt = 0
        m0 = 0.0
        m1 = 0.0
        m2 = 0.0
        sp_f = 0.0
        sw_f = 0.0
        sp_a = 0.0
        sw_a = 0.0
        sp_c = 0.0
        sw_c = 0.0
        d_i = d[cz[i], cy[i], cx[i]]
        for dz in range(-1, 2):
            z = cz[i] + dz
            if z < 0 or z >= nz:
                continue
            for dy in range(-1, 2):
                y = cy[i] + dy
                if y < 0 or y >= ny:
                    continue
                # one scan of the row for the columns x - 1 … x + 1 (ascending in the row)
                r = np.int64(z) * ny + y
                x0 = cx[i] - 1
                for j in range(rows[r], rows[r + 1]):
                    c = cx[j]
                    if c < x0:
                        continue
                    if c > x0 + 2:
                        break
                    cj = curved[j]
                    acc += cj
                    cnt += 1
                    m0 += nrm2[j, 0]
                    m1 += nrm2[j, 1]
                    m2 += nrm2[j, 2]
                    sp_f += (1.0 - cj) * pk_f[j]
                    sw_f += 1.0 - cj
                    if pa[j] > 0.0:
                        sp_a += (1.0 - cj) * pa[j]
                        sw_a += 1.0 - cj
                    dj = d[z, y, c]
                    if dj >= d_i:
                        wc = cj * max(0.0, _NEAR_AXIS - (pk_c[j] - dj) / heffs[j])
                        sp_c += wc * (pk_c[j] - gcv[j])
                        sw_c += wc
        cm = acc / cnt
        lo = vote_lo
        hi = vote_hi
        if cnt < min_sheet:
            # too few ridge neighbours for a sheet (a rod's axis, a sphere's centre): any
            # curved vote makes it curved
            lo = 0.0
            hi = 1e-6
        if cm <= lo:
            c = 0.0
        elif cm >= hi:
            c = 1.0
        else:
            c = (cm - lo) / (hi - lo)
        h = heffs[i]
        # flat diameter: the mean surface-corrected half-thickness of the flat-looking
        # neighbours (painting keeps the largest covering value, so scatter along the ridge
        # would bias it upwards); where no axis pair applies (ridges within a voxel of the
        # surface), the mean apex height minus the lattice gap at the voted normal
        vf = 0.0
        if c < 1.0:
            if sw_a > 0.0:
                vf = 2.0 * sp_a / sw_a
            else:
                bf = _flat_gap(table, math.sqrt(m0), math.sqrt(m1), math.sqrt(m2), pk_f[i] / h)
                pf = sp_f / sw_f if sw_f > 0.0 else pk_f[i]
                vf = 2.0 * (pf - bf * h)
        own = pk_c[i] - gcv[i]
        if sw_c > 0.0:
            own += line[i] * (sp_c / sw_c - own)
        vc = 2.0 * own
        peak[i] = pk_f[i] + c * (pk_c[i] - pk_f[i])
        value[i] = vf + c * (vc - vf)

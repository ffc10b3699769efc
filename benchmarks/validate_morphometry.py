"""Analytic validation of local thickness: bonenet vs porespy vs ORMIR-XCT, one table.

Plates, rods and spheres of known thickness (3–20 voxels) in several orientations, placed
at random sub-voxel positions (voxel-centre sampling), isotropic and anisotropic voxels.
Plates are placed at positions spread evenly along their normal over one lattice period
(1/|v| voxel for an integer normal v, 1 voxel otherwise; random sideways): a binary plate
of a low-index normal is ambiguous to one lattice-plane spacing, so single positions
scatter by up to ±0.4 voxel and eight random ones would add ±0.15 voxel of sampling noise
to the mean; evenly spread ones measure the bias. Rods and spheres get Latin-hypercube
positions (each coordinate stratified over one voxel): a digital rod along an axis has the
same cross-section all along, so its single positions scatter by ±8 %.
Each cell is the mean over positions of the relative error of the mean thickness
(plates also in voxels). "plate rim" rows: a finite square-edged plate (T × 3T × 3T) read
only within T/2 of one edge, against the exact local thickness there (T, less in the
square corners of its cross-section; percentages relative to T). Plates and rods cross the array and are measured in its central
half (border="continue" for bonenet; the others have no such option, which is why only the
central half is read); spheres are measured over their whole volume.

    python benchmarks/validate_morphometry.py            # full table (minutes)
    python benchmarks/validate_morphometry.py --quick    # fewer sizes/positions
    python benchmarks/validate_morphometry.py --skip-ormir

porespy labels voxels by integer sphere radius (diameter = 2 r); ORMIR-XCT (GPL) is only
called here, when installed, with ``oversample=False`` (its IPL-consistent setting; the
default reads an N-layer plate N − 1) and its default skeleton option, averaged over the
voxels its map gives a value. Neither
supports anisotropic voxels in the same way (porespy: none), so those rows are bonenet only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from bonenet.morphometry import analytic as A
from bonenet.morphometry import local_thickness

ORIENT = {"axis": (1, 0, 0), "(0,1,1)": (0, 1, 1), "(1,1,1)": (1, 1, 1), "oblique": (0.3, 0.5, 0.81)}


def _central(m: np.ndarray) -> np.ndarray:
    c = np.zeros_like(m)
    c[tuple(slice(n // 4, n - n // 4) for n in m.shape)] = True
    return c & m


def _along_normal(off: np.ndarray, normal, k: int, positions: int, h: float) -> np.ndarray:
    """Replace the offset's component along the normal by the k-th of evenly spread ones."""
    v = np.asarray(normal, float)
    n = v / np.linalg.norm(v)
    period = 1.0 / np.linalg.norm(v) if np.allclose(v, np.round(v)) else 1.0
    return off - n * (n @ off) + n * ((k + 0.5) / positions - 0.5) * period * h


def _rim_exact(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Exact local thickness near a straight square edge of a slab of thickness t.

    In the cross-section the slab near its edge is the half-strip ``|w| < t/2, u > 0``
    (u: distance inside the edge face, w: offset from the mid-plane). A disc of radius r
    in it has its centre at ``u ≥ r, |w| ≤ t/2 − r``; the point (a, |b|) lies in one when
    ``max(r − a, 0)² + max(|b| − (t/2 − r), 0)² ≤ r²``. Largest such r by bisection
    (feasible radii form an interval [0, r*]); the thickness is 2 r* (t away from the
    edge, less in the two square corners of the cross-section, where no ball of diameter t
    reaches).
    """
    b = np.abs(b)
    lo = np.zeros_like(a)
    hi = np.full_like(a, t / 2.0)
    ok = np.maximum(hi - a, 0) ** 2 + np.maximum(b - (t / 2.0 - hi), 0) ** 2 <= hi**2
    lo[ok] = hi[ok]
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        f = np.maximum(mid - a, 0) ** 2 + np.maximum(b - (t / 2.0 - mid), 0) ** 2 <= mid**2
        lo = np.where(f, mid, lo)
        hi = np.where(f, hi, mid)
    return 2.0 * lo


def _finite_plate(t: float, normal, off) -> tuple[np.ndarray, np.ndarray, float]:
    """Square-edged finite plate (t × 3t × 3t, its edges cut square to the plate).

    Returns the mask, the rim band read (voxels within t/2 of one edge, at least t from
    the square's corners, where the cross-section is the half-strip of
    :func:`_rim_exact`) and the mean exact local thickness over that band (below t: no
    ball of diameter t reaches into the square edges' corners).
    """
    n_ = np.asarray(normal, float) / np.linalg.norm(normal)
    u = np.cross(n_, [0.0, 0.0, 1.0] if abs(n_[2]) < 0.9 else [1.0, 0.0, 0.0])
    u /= np.linalg.norm(u)
    v = np.cross(n_, u)
    side = 3.0 * t
    size = int(np.ceil(side * 1.8)) + 6
    c = (size - 1) / 2.0 + np.asarray(off)
    z, y, x = np.meshgrid(*(np.arange(size) - c[i] for i in range(3)), indexing="ij")
    w = z * n_[0] + y * n_[1] + x * n_[2]
    pu = np.abs(z * u[0] + y * u[1] + x * u[2])
    pv = np.abs(z * v[0] + y * v[1] + x * v[2])
    m = (np.abs(w) < t / 2.0) & (pu < side / 2.0) & (pv < side / 2.0)
    band = m & (side / 2.0 - pu < t / 2.0) & (side / 2.0 - pv >= t)
    exact = _rim_exact(side / 2.0 - pu[band], w[band], t)
    return m, band, float(exact.mean())


def _methods(skip_ormir: bool, skip_porespy: bool):
    meths = {"bonenet": None}
    if not skip_porespy:
        try:
            import porespy

            def ps(m, sp, whole):
                return 2.0 * porespy.filters.local_thickness(m).astype(np.float64)

            meths["porespy"] = ps
        except ImportError:
            print("porespy not installed: skipped")
    if not skip_ormir:
        from _ormir import load_ormir

        fn = load_ormir()
        if fn is None:
            print("ORMIR-XCT not installed (pip install ormir-xct): skipped")
        else:
            def ox(m, sp, whole):
                # oversample=False: "for consistency with IPL" (ORMIR-XCT's docstring; the
                # default oversampling reads an N-layer plate N - 1). Its map is 0 on
                # voxels it gives no value (with skeletonize=True, most of a finite plate):
                # those are left out of the mean, as ORMIR-XCT's own statistics do
                th = fn(m, np.asarray(sp, float), 0.0, oversample=False)[4].astype(np.float64)
                th[th <= 0] = np.nan
                return th

            meths["ORMIR-XCT"] = ox
    return meths


def run_table(sizes, positions, skip_ormir=False, skip_porespy=False, seed=0):
    rng = np.random.default_rng(seed)
    meths = _methods(skip_ormir, skip_porespy)
    names = list(meths)
    rows = []
    cases = []
    for t in sizes:
        n = max(32, int(3 * t))
        for oname, normal in ORIENT.items():
            cases.append(("plate", oname, t, (1.0, 1.0, 1.0), lambda off, t=t, n=n, v=normal:
                          A.plate(t, v, shape=(n, n, n), offset=off), False, normal))
        for oname in ("axis", "oblique"):
            cases.append(("rod", oname, t, (1.0, 1.0, 1.0), lambda off, t=t, n=n, v=ORIENT[oname]:
                          A.rod(t, v, shape=(n, n, n), offset=off), False, None))
        cases.append(("sphere", "-", t, (1.0, 1.0, 1.0), lambda off, t=t:
                      A.sphere(t, shape=(t + 8,) * 3, offset=off), True, None))
        # finite square-edged plates, read only within T/2 of their rim (whole: the array
        # edge is background); Latin-hypercube positions like rods
        for oname in ("axis", "oblique"):
            cases.append(("plate rim", oname, t, (1.0, 1.0, 1.0), lambda off, t=t, v=ORIENT[oname]:
                          _finite_plate(t, v, off), True, None))
        # anisotropic: 1 mm slices, 0.5 mm pixels, sizes in in-plane voxels
        sp = (1.0, 0.5, 0.5)
        tm = t * 0.5
        na = max(16, int(3 * tm))
        cases.append(("rod aniso", "oblique", t, sp, lambda off, tm=tm, na=na, sp=sp:
                      A.rod(tm, ORIENT["oblique"], shape=(na, 2 * na, 2 * na), spacing=sp, offset=off),
                      False, None))
        cases.append(("plate aniso", "oblique", t, sp, lambda off, tm=tm, na=na, sp=sp:
                      A.plate(tm, ORIENT["oblique"], shape=(na, 2 * na, 2 * na), spacing=sp, offset=off),
                      False, ORIENT["oblique"]))
    times = dict.fromkeys(names, 0.0)
    for shape, orient, t, sp, make, whole, normal in cases:
        truth = t * (0.5 if sp[0] != sp[1] else 1.0)
        errs: dict[str, list[float]] = {k: [] for k in names}
        lhs = np.stack([(rng.permutation(positions) + rng.uniform(0, 1, positions)) / positions - 0.5
                        for _ in range(3)], axis=1) * np.asarray(sp)
        for k in range(positions):
            off = lhs[k]
            if normal is not None:
                off = _along_normal(off, normal, k, positions, min(sp))
            m = make(off)
            ref = truth
            if isinstance(m, tuple):  # (mask, region read, its exact mean thickness)
                m, where, ref = m
            else:
                where = m if whole else _central(m)
            for name, fn in meths.items():
                aniso = sp[0] != sp[1]
                if name != "bonenet" and aniso:
                    continue
                t0 = time.perf_counter()
                if name == "bonenet":
                    th = local_thickness(m, spacing=sp, border="background" if whole else "continue")
                else:
                    th = fn(m, sp, whole)
                times[name] += time.perf_counter() - t0
                errs[name].append(float(np.nanmean(th[where])) - ref)
        row = {"shape": shape, "orient": orient, "size_vox": t}
        for name in names:
            e = errs[name]
            row[name] = (float(np.mean(e)) / truth * 100.0, float(np.mean(e)) / (truth / t)) if e else None
        rows.append(row)
    return rows, names, times


def print_table(rows, names) -> None:
    head = f"{'shape':12s} {'orient':9s} {'size':>4s} | " + " | ".join(f"{n:>17s}" for n in names)
    print(head)
    print("-" * len(head))
    for r in rows:
        cells = []
        for n in names:
            v = r[n]
            if v is None:
                cells.append(f"{'n/a':>17s}")
            elif not np.isfinite(v[0]):
                cells.append(f"{'no value':>17s}")  # ORMIR-XCT's map is empty there
            else:
                cells.append(f"{v[0]:+7.1f}% {v[1]:+6.2f}vx")
        print(f"{r['shape']:12s} {r['orient']:9s} {r['size_vox']:4d} | " + " | ".join(cells))


def summary(rows, names) -> None:
    print("\nmean |error| (%) by size class (plate rims left out)")
    for lo, hi, label in [(3, 7, "3-7 vx"), (8, 99, ">=8 vx")]:
        parts = []
        for n in names:
            v = [abs(r[n][0]) for r in rows if r[n] is not None and lo <= r["size_vox"] <= hi
                 and np.isfinite(r[n][0]) and r["shape"] != "plate rim"]
            parts.append(f"{n} {np.mean(v):.1f}%" if v else f"{n} n/a")
        print(f"  {label:7s}: " + ",  ".join(parts))
    pl = [abs(r["bonenet"][1]) for r in rows if r["shape"] in ("plate", "plate aniso")]
    print(f"  bonenet plates: max |mean error| {max(pl):.2f} voxel")
    rim = [abs(r["bonenet"][1]) for r in rows if r["shape"] == "plate rim" and r["size_vox"] >= 4]
    print(f"  bonenet plate rims (4-20 vx): max |mean error| {max(rim):.2f} voxel")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--skip-ormir", action="store_true")
    p.add_argument("--skip-porespy", action="store_true")
    p.add_argument("--positions", type=int, default=None)
    args = p.parse_args(argv)
    sizes = [3, 4, 8, 12] if args.quick else [3, 4, 6, 8, 12, 20]
    positions = args.positions or (4 if args.quick else 16)
    rows, names, times = run_table(sizes, positions, args.skip_ormir, args.skip_porespy)
    print_table(rows, names)
    summary(rows, names)
    print("\ntotal time: " + ", ".join(f"{n} {t:.1f} s" for n, t in times.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

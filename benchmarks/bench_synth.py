"""Speed of the synthetic engine, beside porespy's blobs generator on the same volume.

Prints:
1. a 200-subject HR-pQCT cohort (64³ trabecular regions, AIM studies written) — target < 60 s
   on 2 cores;
2. one full XtremeCT II-like distal radius stack (168 × 512 × 512 at 60.7 µm: phantom +
   scanner model) — target < 10 s;
3. porespy.generators.blobs for the same 168 × 512 × 512 volume (binary only, no scanner),
   and the ratio blobs time / bonenet time last.

Run: ``PYTHONPATH=. python benchmarks/bench_synth.py [--n 200] [--workers 2]``
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

os.environ.setdefault("BONENET_PROGRESS", "0")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-baseline", action="store_true")
    args = ap.parse_args()

    from bonenet.synth import distal_section, make_cohort, simulate_hrpqct

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs visible")
    make_cohort(2, modality="hrpqct", seed=99, roi_size=32, workers=1, show_progress=False)  # warm
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        c = make_cohort(args.n, modality="hrpqct", seed=0, out=tmp, roi_size=64,
                        workers=args.workers, show_progress=False)
        t_cohort = time.perf_counter() - t0
    print(f"cohort: {args.n} HR-pQCT subjects, 64^3 ROIs + AIM files, {args.workers} workers: "
          f"{t_cohort:.1f} s ({len(c.failed)} failed)  [target < 60 s]")

    shape = (168, 512, 512)
    sp = (0.0607,) * 3
    t0 = time.perf_counter()
    sec = distal_section(shape, spacing=sp, bone="radius", seed=1)
    vol = simulate_hrpqct(sec.fraction, spacing=sp, scanner="xtremect2", seed=2)
    t_stack = time.perf_counter() - t0
    print(f"full stack: distal radius {shape} at 60.7 um, phantom + scanner: {t_stack:.2f} s  "
          f"[target < 10 s]  (mean {vol.array.mean():.0f} mgHA/cm3)")
    if args.skip_baseline:
        return
    import porespy as ps

    t0 = time.perf_counter()
    ps.generators.blobs(shape=list(shape), porosity=0.84, blobiness=[1, 2, 2], seed=1)
    t_blobs = time.perf_counter() - t0
    print(f"baseline porespy.generators.blobs {shape} (binary only): {t_blobs:.2f} s")
    print(f"ratio porespy blobs / bonenet full stack (phantom + scanner): {t_blobs / t_stack:.2f}x")


if __name__ == "__main__":
    main()

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
    ap.add_argument("--signal", type=int, default=0,
                    help="also make an N-subject cohort and report how much one image feature "
                         "(mean ROI density) adds to a clinical logistic model (AUC)")
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
    t0, c0 = time.perf_counter(), time.process_time()
    sec = distal_section(shape, spacing=sp, bone="radius", seed=1)
    vol = simulate_hrpqct(sec.fraction, spacing=sp, scanner="xtremect2", seed=2)
    t_stack, c_stack = time.perf_counter() - t0, time.process_time() - c0
    print(f"full stack: distal radius {shape} at 60.7 um, phantom + scanner: {t_stack:.2f} s "
          f"wall, {c_stack:.2f} s CPU (all threads)  [target < 10 s]  "
          f"(mean {vol.array.mean():.0f} mgHA/cm3)")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.signal:
        image_signal(args.signal, args.workers)
    if args.skip_baseline:
        return
    import porespy as ps

    t0, c0 = time.perf_counter(), time.process_time()
    ps.generators.blobs(shape=list(shape), porosity=0.84, blobiness=[1, 2, 2], seed=1)
    t_blobs, c_blobs = time.perf_counter() - t0, time.process_time() - c0
    print(f"baseline porespy.generators.blobs {shape} (binary only): {t_blobs:.2f} s wall, "
          f"{c_blobs:.2f} s CPU")
    print(f"ratio porespy blobs / bonenet full stack (phantom + scanner), CPU time: "
          f"{c_blobs / c_stack:.2f}x (wall {t_blobs / t_stack:.2f}x)")


def image_signal(n: int, workers: int) -> None:
    """AUC of clinical-only vs clinical + mean ROI density (a crude image feature), CV."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from bonenet.synth import FRAX_COLUMNS, make_cohort

    c = make_cohort(n, modality="hrpqct", seed=1, roi_size=64, workers=workers,
                    show_progress=False)
    m = c.manifest
    x = m[list(FRAX_COLUMNS)].copy()
    x["sex"] = (x["sex"] == "F").astype(int)
    dens = np.array([c.images[s].array.mean() for s in m["subject_id"]])
    y = m["fracture"].to_numpy()
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    p_clin = cross_val_predict(lr, x.to_numpy(float), y, cv=5, method="predict_proba")[:, 1]
    xi = np.c_[x.to_numpy(float), dens]
    p_img = cross_val_predict(lr, xi, y, cv=5, method="predict_proba")[:, 1]
    q = c.truth["bone_quality"].to_numpy()
    print(f"image signal ({n} subjects, 64^3 ROIs): corr(latent quality, mean ROI density) = "
          f"{np.corrcoef(q, dens)[0, 1]:.2f}; corr(quality, true BV/TV) = "
          f"{np.corrcoef(q, c.truth['bv_tv'])[0, 1]:.2f}")
    print(f"  5-fold AUC clinical-only {roc_auc_score(y, p_clin):.3f}, clinical + mean ROI "
          f"density {roc_auc_score(y, p_img):.3f}, oracle "
          f"{roc_auc_score(y, c.truth['oracle_risk_10y']):.3f}")


if __name__ == "__main__":
    main()

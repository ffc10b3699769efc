"""Benchmark: bootstrap confidence intervals, bonenet's vectorised engine vs a scikit-learn loop.

Both sides use the very same stratified resamples (``bootstrap_indices``), so the point
estimates must be identical and every resample's metrics must agree; the script asserts
both, then prints the timings and the speed-up ratio last.

    PYTHONPATH=. python benchmarks/bench_eval.py            # 100,000 predictions × 1,000 resamples
    PYTHONPATH=. python benchmarks/bench_eval.py --quick    # 20,000 × 100

The reference "full metric set" loop computes, per resample: roc_auc_score,
average_precision_score, brier_score_loss, scaled Brier, E/O, calibration-in-the-large
(statsmodels GLM with offset), calibration slope (statsmodels GLM), ECE, confusion-matrix
metrics at 3 % and 20 %, and net benefit at five thresholds. It is slow, so by default it is
timed on ``--reference-resamples`` resamples and its per-resample time scaled to the same
count (printed as such); pass ``--reference-resamples`` equal to ``--n-boot`` to run it all.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

os.environ.setdefault("BONENET_PROGRESS", "0")

THRESHOLDS = (0.03, 0.20)
NB_THRESHOLDS = (0.03, 0.05, 0.10, 0.20, 0.30)


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lp = rng.normal(-1.9, 1.1, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(np.int64)
    p = np.round(1 / (1 + np.exp(-(0.9 * lp - 0.1 + rng.normal(0, 0.5, n)))), 4)  # realistic ties
    return y, p


def reference_full(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """The straightforward per-resample computation with scikit-learn / statsmodels."""
    import statsmodels.api as sm
    from sklearn import metrics as skm

    out = {"auc": skm.roc_auc_score(y, p), "auprc": skm.average_precision_score(y, p),
           "brier": skm.brier_score_loss(y, p)}
    ybar = y.mean()
    out["scaled_brier"] = 1 - out["brier"] / (ybar * (1 - ybar))
    out["eo_ratio"] = p.sum() / y.sum()
    q = np.clip(p, 1e-8, 1 - 1e-8)
    lp = np.log(q / (1 - q))
    fam = sm.families.Binomial()
    out["citl"] = sm.GLM(y, np.ones((y.size, 1)), family=fam, offset=lp).fit().params[0]
    out["slope"] = sm.GLM(y, sm.add_constant(lp), family=fam).fit().params[1]
    b = np.minimum((p * 10).astype(int), 9)
    out["ece"] = sum(abs(p[b == k].sum() - y[b == k].sum()) for k in range(10)) / y.size
    for t in THRESHOLDS:
        tn, fp, fn, tp = skm.confusion_matrix(y, p >= t, labels=[0, 1]).ravel()
        out[f"sensitivity@{t:g}"] = tp / (tp + fn)
        out[f"specificity@{t:g}"] = tn / (tn + fp)
        out[f"ppv@{t:g}"] = tp / (tp + fp) if tp + fp else np.nan
        out[f"npv@{t:g}"] = tn / (tn + fn) if tn + fn else np.nan
        out[f"f1@{t:g}"] = skm.f1_score(y, p >= t)
    n = y.size
    for t in NB_THRESHOLDS:
        tp = np.sum((p >= t) & (y == 1))
        fp = np.sum((p >= t) & (y == 0))
        out[f"net_benefit@{t:g}"] = tp / n - fp / n * t / (1 - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="20,000 predictions × 100 resamples")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--n-boot", type=int, default=None)
    ap.add_argument("--reference-resamples", type=int, default=None,
                    help="resamples the slow full-metric reference loop runs (default 50, quick 20)")
    args = ap.parse_args()
    n = args.n or (20_000 if args.quick else 100_000)
    n_boot = args.n_boot or (100 if args.quick else 1000)
    n_ref = min(args.reference_resamples or (20 if args.quick else 50), n_boot)

    from sklearn.metrics import roc_auc_score

    from bonenet.evaluation import bootstrap_indices, bootstrap_metrics

    y, p = make_data(n)
    print(f"data: {n:,} predictions, {int(y.sum()):,} events; {n_boot:,} stratified resamples")
    t0 = time.perf_counter()
    bootstrap_metrics(y[:500], p[:500], n_boot=2, seed=0)  # numba compile (cached on disk after first run)
    print(f"warm-up/compile: {time.perf_counter() - t0:.2f} s (not counted)")

    # ---- AUROC only
    t0 = time.perf_counter()
    fast_auc = bootstrap_metrics(y, p, n_boot=n_boot, seed=0, full=False)
    t_fast_auc = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref_auc = np.array([roc_auc_score(y[i], p[i]) for blk in bootstrap_indices(y, n_boot=n_boot, seed=0) for i in blk])
    t_ref_auc = time.perf_counter() - t0
    assert fast_auc.point["auc"] == roc_auc_score(y, p) or abs(fast_auc.point["auc"] - roc_auc_score(y, p)) < 1e-12
    np.testing.assert_allclose(fast_auc.samples["auc"], ref_auc, rtol=0, atol=1e-12)
    lo, hi = np.quantile(ref_auc, [0.025, 0.975])
    assert abs(lo - fast_auc.lower["auc"]) < 1e-12 and abs(hi - fast_auc.upper["auc"]) < 1e-12
    print(f"AUROC CI   bonenet {t_fast_auc:8.2f} s   sklearn loop {t_ref_auc:8.2f} s   "
          f"AUC {fast_auc.point['auc']:.4f} ({fast_auc.lower['auc']:.4f}–{fast_auc.upper['auc']:.4f}), "
          f"identical to the loop   ratio {t_ref_auc / t_fast_auc:.1f}x")

    # ---- full metric set
    t0 = time.perf_counter()
    fast = bootstrap_metrics(y, p, n_boot=n_boot, seed=0, thresholds=THRESHOLDS, nb_thresholds=NB_THRESHOLDS)
    t_fast = time.perf_counter() - t0
    ref_point = reference_full(y, p)
    for k, v in ref_point.items():
        assert abs(fast.point[k] - v) < 1e-7, (k, fast.point[k], v)
    t0 = time.perf_counter()
    done = 0
    for blk in bootstrap_indices(y, n_boot=n_boot, seed=0):
        for i in blk:
            if done >= n_ref:
                break
            r = reference_full(y[i], p[i])
            for k, v in r.items():
                assert abs(fast.samples[k][done] - v) < 1e-6 or (np.isnan(v) and np.isnan(fast.samples[k][done])), k
            done += 1
        if done >= n_ref:
            break
    t_ref_each = (time.perf_counter() - t0) / n_ref
    t_ref = t_ref_each * n_boot
    scaled = "" if n_ref == n_boot else f" (measured on {n_ref} resamples, {t_ref_each:.3f} s each, scaled to {n_boot})"
    print(f"full set   bonenet {t_fast:8.2f} s   sklearn/statsmodels loop {t_ref:8.2f} s{scaled}")
    print(f"           {len(fast.point)} metrics; point estimates identical to the reference (|Δ| < 1e-7); "
          f"resample metrics agree (|Δ| < 1e-6) on the {n_ref} compared resamples")
    print(f"ratio AUROC-only {t_ref_auc / t_fast_auc:.1f}x; ratio full metric set {t_ref / t_fast:.1f}x")


if __name__ == "__main__":
    main()

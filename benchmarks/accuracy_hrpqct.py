"""Must-show accuracy: fused vs clinical-only vs image-only vs the oracle on a synthetic HR-pQCT cohort.

Trains the three experiment configs on the CPU (same data, split and seed), then computes
test AUCs from each run's ``predictions_test.csv`` and the oracle AUC (the cohort's true
10-year risk, ``truth.csv:oracle_risk_10y``) on the same test subjects.

    bonenet synth --n 500 --modality hrpqct --out cohorts/hrpqct     # once
    PYTHONPATH=. python benchmarks/accuracy_hrpqct.py [--cohort cohorts/hrpqct] [--set trainer.max_epochs=10]

Targets (issue 5): fused AUC ≥ clinical-only + 0.05 and ≥ oracle − 0.05, fused training ≤ 10 min.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

from bonenet.device import select_device
from bonenet.training.run import train

CONFIGS = {
    "fused": "configs/experiment/hrpqct_fused.yaml",
    "clinical": "configs/experiment/hrpqct_clinical.yaml",
    "image": "configs/experiment/hrpqct_image.yaml",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", default="cohorts/hrpqct", help="folder made by `bonenet synth`")
    ap.add_argument("--runs", default="runs", help="where run folders go")
    ap.add_argument("--models", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--set", action="append", default=[], help="extra KEY=VALUE overrides for every run")
    args = ap.parse_args()
    cohort = Path(args.cohort)
    truth = pd.read_csv(cohort / "truth.csv")[["subject_id", "oracle_risk_10y"]]
    rows = []
    preds = {}
    for name in args.models:
        sets = [f"data.init_args.manifest={cohort / 'manifest.csv'}",
                f"data.init_args.cache_dir={cohort / '.cache'}",
                f"trainer.default_root_dir={Path(args.runs) / ('hrpqct_' + name)}", *args.set]
        t0 = time.perf_counter()
        res = train([CONFIGS[name]], sets=sets, name=name, device="cpu")
        wall = time.perf_counter() - t0
        df = pd.read_csv(res.predictions_csv)
        preds[name] = df
        rows.append((name, CONFIGS[name], res.seconds, wall, roc_auc_score(df["fracture"], df[f"p_{name}"])))
    ref = next(iter(preds.values())).merge(truth, on="subject_id")
    oracle = roc_auc_score(ref["fracture"], ref["oracle_risk_10y"])
    print(f"\ndevice: {select_device('cpu')}; test subjects: {len(ref)} ({int(ref['fracture'].sum())} fractures)")
    print(f"{'model':<10} {'config':<42} {'fit s':>7} {'total s':>8} {'test AUC':>9}")
    for name, cfg, fit_s, wall, auc in rows:
        print(f"{name:<10} {cfg:<42} {fit_s:7.1f} {wall:8.1f} {auc:9.3f}")
    print(f"{'oracle':<10} {'truth.csv:oracle_risk_10y':<42} {'':>7} {'':>8} {oracle:9.3f}")
    aucs = {r[0]: r[4] for r in rows}
    if "fused" in aucs and "clinical" in aucs:
        print(f"fused - clinical = {aucs['fused'] - aucs['clinical']:+.3f} (target >= +0.05); "
              f"oracle - fused = {oracle - aucs['fused']:+.3f} (target <= 0.05)")


if __name__ == "__main__":
    main()

"""Must-show accuracy: fused vs clinical-only vs image-only vs the oracle on a synthetic HR-pQCT cohort.

Trains the three experiment configs on the CPU (same data, split and seed), then computes
test AUCs from each run's ``predictions_test.csv`` and the oracle AUC (the cohort's true
10-year risk, ``truth.csv:oracle_risk_10y``) on the same test subjects. With several
``--seeds`` every seed is a new stratified split *and* new weights (the one ``seed`` drives
both), so the spread shows how much of a difference is the split and the initialisation.

    bonenet synth --n 1000 --modality hrpqct --out cohorts/hrpqct1000     # once
    PYTHONPATH=. python benchmarks/accuracy_hrpqct.py --cohort cohorts/hrpqct1000 [--seeds 0 1 2]

Targets (issue 5): fused AUC ≥ clinical-only + 0.05 and ≥ oracle − 0.05, fused training ≤ 10 min.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from bonenet.device import select_device
from bonenet.models import FusionEnsemble, FusionModel
from bonenet.training import load_for_inference
from bonenet.training.run import train

CONFIGS = {
    "fused": "configs/experiment/hrpqct_fused.yaml",
    "clinical": "configs/experiment/hrpqct_clinical.yaml",
    "image": "configs/experiment/hrpqct_image.yaml",
}


def run_seed(cohort: Path, runs: Path, seed: int, models: list[str], extra: list[str]) -> dict[str, Any]:
    """Train ``models`` with one seed; return test AUCs, fit seconds and the oracle AUC."""
    truth = pd.read_csv(cohort / "truth.csv")[["subject_id", "oracle_risk_10y"]]
    out: dict[str, Any] = {}
    ref = None
    for name in models:
        sets = [f"seed={seed}", f"data.init_args.manifest={cohort / 'manifest.csv'}",
                f"data.init_args.cache_dir={cohort / '.cache'}",
                f"trainer.default_root_dir={runs / f'seed{seed}' / ('hrpqct_' + name)}", *extra]
        t0 = time.perf_counter()
        res = train([CONFIGS[name]], sets=sets, name=name, device="cpu")
        out[f"{name}_total_s"] = time.perf_counter() - t0
        out[f"{name}_fit_s"] = res.seconds
        if res.best_checkpoint is not None:  # networks in the model (model.ensemble)
            net, _, _ = load_for_inference(res.best_checkpoint)
            out[f"{name}_members"] = len(net) if isinstance(net, FusionEnsemble) else 1
            if isinstance(net, FusionEnsemble):
                out[f"{name}_member_aucs"] = member_aucs(net, CONFIGS[name], sets)
        df = pd.read_csv(res.predictions_csv)
        out[name] = roc_auc_score(df["fracture"], df[f"p_{name}"])
        ref = df if ref is None else ref
    assert ref is not None
    ref = ref.merge(truth, on="subject_id")
    out["oracle"] = roc_auc_score(ref["fracture"], ref["oracle_risk_10y"])
    out["n_test"], out["n_events"] = len(ref), int(ref["fracture"].sum())
    return out


def member_aucs(net: FusionEnsemble, config: str, sets: list[str]) -> list[float]:
    """Test AUC of each member of a trained ensemble on its run's own test split."""
    from bonenet.training.cli import build_cli

    dm = build_cli(["--config", config, *(f"--{s}" for s in sets), "--device", "cpu"]).datamodule
    dm.setup("test")
    ys, ps = [], []
    with torch.no_grad():
        for b in dm.test_dataloader():
            outs = net.forward_members(images=b.images if net.has_image else None,
                                       image_present=b.image_present if net.has_image else None,
                                       clinical=b.clinical if net.has_clinical else None,
                                       clinical_observed=b.clinical_observed if net.has_clinical else None)
            ys.append(b.targets["fracture"])
            ps.append(torch.stack([FusionModel.risk(o)["fracture"] for o in outs]))
    y, p = torch.cat(ys).numpy(), torch.cat(ps, dim=1).numpy()
    return [float(roc_auc_score(y, pk)) for pk in p]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", default="cohorts/hrpqct", help="folder made by `bonenet synth`")
    ap.add_argument("--runs", default="runs/accuracy_hrpqct", help="where run folders go")
    ap.add_argument("--models", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0], help="one run (split + weights) per seed")
    ap.add_argument("--set", action="append", default=[], help="extra KEY=VALUE overrides for every run")
    args = ap.parse_args()
    cohort, runs = Path(args.cohort), Path(args.runs)
    results = {s: run_seed(cohort, runs, s, args.models, args.set) for s in args.seeds}

    cols = [*args.models, "oracle"]
    first = next(iter(results.values()))
    print(f"\ndevice: {select_device('cpu')}; cohort: {cohort}; configs: "
          + ", ".join(f"{m}={CONFIGS[m]} ({first.get(m + '_members', 1):.0f} network(s))"
                      for m in args.models))
    print(f"{'seed':>4} {'test (events)':>14} " + " ".join(f"{c:>9}" for c in cols)
          + f" {'fused fit s':>12} {'fused-clin':>10} {'oracle-fused':>12}")
    for s, r in results.items():
        gaps = (f" {r['fused'] - r['clinical']:>+10.3f}" if {"fused", "clinical"} <= set(r) else f" {'':>10}")
        gaps += f" {r['oracle'] - r['fused']:>+12.3f}" if "fused" in r else f" {'':>12}"
        fit = f"{r['fused_fit_s']:12.1f}" if "fused" in r else f"{'':>12}"
        n = f"{r['n_test']:.0f} ({r['n_events']:.0f})"
        print(f"{s:>4} {n:>14} "
              + " ".join(f"{r[c]:9.3f}" for c in cols) + f" {fit}{gaps}")
    for m in args.models:
        for s, r in results.items():
            if f"{m}_member_aucs" in r:
                a = r[f"{m}_member_aucs"]
                print(f"{m} seed {s}: members " + " ".join(f"{x:.3f}" for x in a)
                      + f" (mean {statistics.mean(a):.3f}); ensemble {r[m]:.3f}")
    if len(results) > 1:
        def ms(vals: list[float]) -> str:
            return f"{statistics.mean(vals):.3f}±{statistics.stdev(vals):.3f}"
        print(f"{'mean±SD':>19} " + " ".join(f"{ms([r[c] for r in results.values()]):>9}" for c in cols))
        rs = list(results.values())
        if {"fused", "clinical"} <= set(args.models):
            print(f"fused - clinical: {ms([r['fused'] - r['clinical'] for r in rs])} (target >= +0.05)")
        if "fused" in args.models:
            print(f"oracle - fused:   {ms([r['oracle'] - r['fused'] for r in rs])} (target <= 0.05); "
                  f"fused fit: max {max(r['fused_fit_s'] for r in rs):.0f} s (target <= 600 s)")


if __name__ == "__main__":
    main()

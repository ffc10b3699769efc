"""Accuracy: models trained with a user-declared clinical variable vs the same models without it.

Two cohorts whose outcome depends on declared variables, each written down so the truth is
known:

* clinical (``tests/clinical/clinical_custom_cohort.py``): 1 200 subjects, outcome from a
  logistic model in age, prior fracture, femoral-neck T-score, NLR and ECOG ≥ 2; models:
  clinical logistic regression (``clinical_lr``) and the clinical-only network;
* fused (:func:`fused_cohort` below): a ``bonenet synth`` HR-pQCT cohort (16³ trabecular
  cubes) whose outcome is ``logit(oracle_risk_10y) + 1.5 (NLR − 2.7) / 1.3``; model: the fused
  image + clinical network (trabecular CNN, concat fusion).

Each seed is a new cohort and split (same split for every model of that seed). Prints the
test AUC of every model with and without the declaration, and the mean difference last.

    PYTHONPATH=. python benchmarks/accuracy_declared_variables.py [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from sklearn.metrics import roc_auc_score

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "clinical"))

from clinical_custom_cohort import DECLARATIONS, write_cohort  # noqa: E402

from bonenet.baselines import fit_baseline, load_tabular  # noqa: E402
from bonenet.training.run import train  # noqa: E402

NLR = {"name": "nlr", "kind": "continuous", "valid_range": [0.0, 100.0], "aliases": ["NLR"],
       "required": True}


def fused_cohort(folder: Path, n: int, seed: int, roi_size: int = 16) -> Path:
    """A synth HR-pQCT cohort with an NLR column and an outcome that depends on it."""
    from bonenet.synth import make_cohort

    c = make_cohort(n, modality="hrpqct", seed=seed, out=folder, roi_size=roi_size,
                    show_progress=False, workers=1)
    rng = np.random.default_rng(seed + 1000)
    m = c.manifest.drop(columns=["time_years", "event"])
    risk = c.truth.set_index("subject_id").loc[m["subject_id"], "oracle_risk_10y"].to_numpy()
    risk = np.clip(risk, 1e-4, 1 - 1e-4)
    nlr = np.clip(np.exp(rng.normal(np.log(2.5), 0.45, n)), 0.3, 40)
    logit = np.log(risk / (1 - risk)) + 1.5 * (nlr - 2.7) / 1.3
    m["fracture"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    m["NLR"] = np.round(nlr, 2)
    u = rng.permutation(n)
    split = np.array(["train"] * n, dtype=object)
    split[u[int(0.5 * n):int(0.7 * n)]] = "val"
    split[u[int(0.7 * n):]] = "test"
    m["split"] = split
    path = folder / "manifest_nlr.csv"
    m.to_csv(path, index=False)
    return path


def _train(tmp: Path, root: str, init: dict[str, Any], model: dict[str, Any], epochs: int) -> float:
    cfg = {"seed": 0, "data": {"class_path": "bonenet.data.BoneDataModule", "init_args": init},
           "model": model,
           "trainer": {"max_epochs": epochs, "default_root_dir": str(tmp / root),
                       "enable_model_summary": False, "enable_progress_bar": False,
                       "log_every_n_steps": 5},
           "checkpoint": {"monitor": "val/auroc", "mode": "max"}}
    p = tmp / f"{root}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return float(train([p], name=root).test_metrics["test/auroc"])


def run_seed(tmp: Path, seed: int, *, n_clinical: int, n_fused: int, epochs: int) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    man = write_cohort(tmp / f"clin{seed}", n=n_clinical, seed=seed)
    aucs = []
    for decl in ((), DECLARATIONS):
        res = fit_baseline(load_tabular(manifest=man, clinical_variables=decl), "clinical_lr")
        t = res.predictions[res.predictions["split"] == "test"]
        aucs.append(roc_auc_score(t["fracture"], t["p_clinical_lr"]))
    out["clinical_lr"] = (aucs[0], aucs[1])
    clin_model = {"backbone": None, "heads": ["fracture"], "hidden": 32, "dropout": 0.1, "lr": 0.005,
                  "weight_decay": 0.0001, "warmup_steps": 5}
    base = {"manifest": str(man), "use_images": False, "augment": False, "split": "column",
            "batch_size": 64, "num_workers": 0, "seed": seed}
    out["clinical network"] = (
        _train(tmp, f"clin_without{seed}", base, clin_model, 12),
        _train(tmp, f"clin_with{seed}", {**base, "clinical_variables": DECLARATIONS}, clin_model, 12))
    fman = fused_cohort(tmp / f"fused{seed}", n_fused, seed)
    init = {"manifest": str(fman), "spatial_dims": 3, "roi_size": [16, 16, 16],
            "intensity_window": [-200, 1200], "units": "mgHA/cm3", "normalize": "unit",
            "crop": "center", "augment": False, "split": "column", "batch_size": 32,
            "num_workers": 0, "seed": seed, "cache_dir": str(tmp / f"cache{seed}")}
    fmodel = {"backbone": "trabecular_cnn", "backbone_kwargs": {"channels": [8, 16, 32]},
              "fusion": "concat", "heads": ["fracture"], "hidden": 32, "dropout": 0.1, "lr": 0.003,
              "warmup_steps": 5}
    out["fused network"] = (
        _train(tmp, f"fused_without{seed}", init, fmodel, epochs),
        _train(tmp, f"fused_with{seed}", {**init, "clinical_variables": [NLR]}, fmodel, epochs))
    return out


def _sd(x: list[float]) -> float:
    return statistics.stdev(x) if len(x) > 1 else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--n-clinical", type=int, default=1200)
    ap.add_argument("--n-fused", type=int, default=400)
    ap.add_argument("--epochs", type=int, default=6, help="fused network epochs")
    args = ap.parse_args()
    os.environ.setdefault("BONENET_PROGRESS", "0")
    torch.set_num_threads(2)
    t0 = time.time()
    rows: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as d:
        for seed in args.seeds:
            for k, v in run_seed(Path(d), seed, n_clinical=args.n_clinical, n_fused=args.n_fused,
                                 epochs=args.epochs).items():
                rows.setdefault(k, []).append(v)
                print(f"seed {seed}  {k:<17} without {v[0]:.3f}  with {v[1]:.3f}", file=sys.__stdout__,
                      flush=True)
    print(f"\n{'model':<17} {'without':>15} {'with':>15} {'difference':>15}   ({time.time() - t0:.0f} s)",
          file=sys.__stdout__)
    for k, v in rows.items():
        a0, a1 = [x[0] for x in v], [x[1] for x in v]
        d = [b - a for a, b in v]
        print(f"{k:<17} {statistics.mean(a0):.3f}±{_sd(a0):.3f}    {statistics.mean(a1):.3f}±{_sd(a1):.3f}"
              f"    {statistics.mean(d):+.3f}±{_sd(d):.3f}", file=sys.__stdout__)


if __name__ == "__main__":
    main()

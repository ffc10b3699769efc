"""Accuracy on user-style cohorts (issue 20): the shipped configs against a logistic regression.

    python benchmarks/accuracy_own_cohort.py --sizes 300 600 1000 --splits 3
    python benchmarks/accuracy_own_cohort.py --sizes 300 --splits 1 --epochs 5          # a quick look
    python benchmarks/accuracy_own_cohort.py --sizes 300 --splits 3 --models clinical clinical_reg

For every size a cohort is written by ``scripts/make_user_cohort.py`` (NIfTI texture carrying a
latent bone quality, a spreadsheet in the user's own spelling, an outcome from a written-down
logistic model; not ``bonenet synth``). For every split seed ``s`` each model is trained with
``bonenet.training.train`` on the same stratified train/val/test split (``seed=s``) and scored
on the test split:

* ``fused`` — ``configs/experiment/hrpqct_fused.yaml`` (images + clinical),
* ``clinical`` — ``configs/experiment/hrpqct_clinical.yaml`` (the clinical-only network),
* variants (``VARIANTS`` below): the clinical-only network as it was before ``clinical_path``
  (``clinical_mlp``), more regularised (``clinical_reg``), wide & deep, linear at the old and
  the new learning rate, with the checkpoint on the validation loss (``*_loss``); the fused
  model as one network (``fused_single``), with additive fusion, or with the old choice of
  best.ckpt on the raw per-epoch val/auroc (``fused_raw``),
* ``LR`` — the run's yardstick: logistic regression on the same encoded clinical variables and
  split (``yardstick.json``), with the paired bootstrap interval of fused − LR,
* ``oracle`` — the true probabilities of the generating model on the same test subjects.

Only the fracture head is trained (the cohort has no follow-up times). Results go to
``--out`` (default ``benchmarks/results_accuracy_own_cohort.json`` and a ``.txt`` table).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {"fused": "hrpqct_fused.yaml", "clinical": "hrpqct_clinical.yaml"}
#: choose the checkpoint on the smoothed validation loss instead of the smoothed AUROC
_ON_LOSS = ["early_stopping.monitor=val/loss", "early_stopping.mode=min", "checkpoint.monitor=val/loss_smooth",
            "checkpoint.mode=min"]
#: the clinical-only config before clinical_path existed (an MLP, lr 0.002, 5-member ensemble)
_OLD_CLIN = ["model.lr=0.002", "model.ensemble=5"]
#: model name -> (base config, extra --set overrides). ``fused`` and ``clinical`` are the
#: shipped configs as they are; the variants spell out every setting they change.
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "fused": ("fused", []),
    "clinical": ("clinical", []),
    "clinical_mlp": ("clinical", ["model.clinical_path=mlp", *_OLD_CLIN]),
    "clinical_reg": ("clinical", ["model.clinical_path=mlp", *_OLD_CLIN, "model.hidden=16", "model.dropout=0.5",
                                  "model.weight_decay=0.05"]),
    "clinical_wide_deep": ("clinical", ["model.clinical_path=wide_deep", *_OLD_CLIN]),
    "clinical_wide_deep_loss": ("clinical", ["model.clinical_path=wide_deep", *_OLD_CLIN, *_ON_LOSS]),
    "clinical_linear": ("clinical", ["model.clinical_path=linear", *_OLD_CLIN]),
    "clinical_linear_loss": ("clinical", ["model.clinical_path=linear", *_OLD_CLIN, *_ON_LOSS]),
    "clinical_linear_fast": ("clinical", ["model.clinical_path=linear", "model.lr=0.02", "model.ensemble=5"]),
    "clinical_linear_fast_loss": ("clinical", ["model.clinical_path=linear", "model.lr=0.02", "model.ensemble=5",
                                               *_ON_LOSS]),
    "fused_single": ("fused", ["model.ensemble=1"]),
    "fused_additive": ("fused", ["model.fusion=additive"]),
    "fused_raw": ("fused", ["checkpoint.monitor=val/auroc", "early_stopping.patience=0"]),
}


def _cohort_module():
    spec = importlib.util.spec_from_file_location("make_user_cohort", REPO / "scripts/make_user_cohort.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def run_one(model: str, manifest: Path, work: Path, seed: int, epochs: int | None, oracle: pd.DataFrame,
            device: str) -> dict[str, float | int | None]:
    from bonenet.evaluation import roc_auc
    from bonenet.training.run import train

    base, extra = VARIANTS[model]
    root = work / f"{model}_s{seed}"
    sets = [f"data.init_args.manifest={manifest}", f"data.init_args.cache_dir={manifest.parent / '.cache'}",
            f"trainer.default_root_dir={root}", f"seed={seed}", "model.heads=[fracture]",
            "trainer.enable_progress_bar=false", *extra]
    if epochs:
        sets.append(f"trainer.max_epochs={epochs}")
    t0 = time.perf_counter()
    res = train([REPO / "configs/experiment" / CONFIGS[base]], sets=sets, name=model, device=device)
    secs = time.perf_counter() - t0
    preds = pd.read_csv(res.predictions_csv).merge(oracle, left_on="subject_id", right_on="Patient ID")
    ys = res.yardstick
    test = next(s for s in ys.splits if s.split == "test")
    val = next((s for s in ys.splits if s.split == "val"), None)
    return {"model": model, "seed": seed, "n_test": len(preds), "auc": test.model_auc["value"],
            "auc_lower": test.model_auc["lower"], "auc_upper": test.model_auc["upper"],
            "lr_auc": test.clinical_lr_auc["value"], "diff_lower": test.difference["lower"],
            "diff_upper": test.difference["upper"],
            "val_auc": None if val is None else val.model_auc["value"],
            "oracle_auc": roc_auc(preds["fracture"], preds["p_true"]),
            "selected_epoch": ys.selected_epoch, "warnings": len(ys.warnings), "seconds": secs}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[300, 600, 1000])
    ap.add_argument("--splits", type=int, default=3, help="split seeds per size (0..N-1)")
    ap.add_argument("--seeds", type=int, nargs="+", default=None, help="these split seeds instead of 0..N-1")
    ap.add_argument("--append", action="store_true",
                    help="keep the runs already in --out's .json (same size, model and seed are replaced)")
    ap.add_argument("--models", nargs="+", default=["fused", "clinical"], choices=list(VARIANTS))
    ap.add_argument("--epochs", type=int, default=None, help="override trainer.max_epochs (default: the config's)")
    ap.add_argument("--work", type=Path, default=Path("bench_own_cohort"), help="cohorts and run folders")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results_accuracy_own_cohort")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    os.environ.setdefault("BONENET_PROGRESS", "0")
    import torch

    torch.set_num_threads(a.threads)
    mk = _cohort_module()
    rows: list[dict] = []
    out_json = a.out.with_suffix(".json")
    if a.append and out_json.is_file():
        rows = json.loads(out_json.read_text())["runs"]
    seeds = a.seeds if a.seeds is not None else list(range(a.splits))
    for n in a.sizes:
        cdir = a.work / f"cohort_{n}"
        if not (cdir / "manifest.csv").is_file():
            mk.write_cohort(cdir, n, seed=n)
        oracle = pd.read_csv(cdir / "oracle.csv")
        for s in seeds:
            for model in a.models:
                r = run_one(model, cdir / "manifest.csv", a.work / f"runs_{n}", s, a.epochs, oracle, a.device)
                r["size"] = n
                rows = [x for x in rows if (x["size"], x["model"], x["seed"]) != (n, model, s)] + [r]
                _write(a, rows)
                print(json.dumps(r), flush=True)
    text = _write(a, rows)
    print(text)
    df = pd.DataFrame(rows)
    ratio = df.groupby("model")["auc"].mean() - float(np.mean(df["lr_auc"]))
    print("mean AUROC minus mean LR AUROC:", ratio.round(3).to_dict())
    return 0


def _write(a: argparse.Namespace, rows: list[dict]) -> str:
    """Write the runs so far (.json) and their table (.txt); return the table."""
    df = pd.DataFrame(rows).sort_values(["size", "model", "seed"], kind="stable")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"argv": __import__("sys").argv[1:], "epochs": a.epochs, "models": sorted(set(df["model"])),
            "sizes": sorted(set(int(x) for x in df["size"]))}
    a.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "runs": rows}, indent=2) + "\n")
    lines = [f"# accuracy_own_cohort {' '.join(meta['argv'])}", "",
             f"{'size':<5} {'model':<26} {'test AUROC mean ± sd':<22} {'splits':>6} {'LR':>6} {'model−LR':>9} "
             f"{'oracle':>7} {'CI<0':>5}  best epochs, seconds"]
    for (n, model), g in df.groupby(["size", "model"], sort=False):
        below = int((g["diff_upper"] < 0).sum())
        sd = g["auc"].std(ddof=1) if len(g) > 1 else 0.0
        lines.append(f"{n:<5} {model:<26} {g['auc'].mean():.3f} ± {sd:.3f}{'':<9} {len(g):>6} "
                     f"{g['lr_auc'].mean():>6.3f} {(g['auc'] - g['lr_auc']).mean():>+9.3f} "
                     f"{g['oracle_auc'].mean():>7.3f} {below:>3}/{len(g)}  {list(g['selected_epoch'])} "
                     f"{g['seconds'].sum():.0f} s")
    text = "\n".join(lines) + "\n"
    a.out.with_suffix(".txt").write_text(text)
    return text


if __name__ == "__main__":
    raise SystemExit(main())

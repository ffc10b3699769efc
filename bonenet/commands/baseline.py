"""Fit a classical baseline (LR on FRAX factors, LASSO, mRMR→LR, XGBoost, random forest) on
clinical + morphometric features and write predictions.csv (column p_<model>) and the model.

The model is saved as OUT/model.skops (no pickle: loading it can instantiate only scikit-learn,
numpy, XGBoost and bonenet types, never run code from the file) with OUT/model.json (inputs,
coefficients or importances, versions, SHA-256; the hash detects damage, not tampering).
Models saved by older versions as model.joblib are pickles and are loaded only on request.

Example:
  bonenet baseline --features features.csv --manifest manifest.csv --model lasso --out out/lasso
  bonenet evaluate out/*/predictions.csv --split test --reference clinical_lr --report out/eval
--population screening.csv (from `bonenet screen`) fits and predicts only within the subjects of
the given screening status (default eligible).
"""

from __future__ import annotations

import argparse

HELP = "fit a classical baseline (clinical_lr, lasso, mrmr, xgboost, rf) and write its predictions"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--features", default=None, help="features CSV (subject_id + morphometry columns)")
    parser.add_argument("--clinical", default=None, help="clinical CSV (subject_id + clinical columns)")
    parser.add_argument("--manifest", default=None, help="manifest CSV (outcomes, site, split, clinical columns)")
    parser.add_argument("--model", required=True, choices=["clinical_lr", "lasso", "mrmr", "xgboost", "rf"])
    parser.add_argument("--name", default=None, help="model name in the p_<name> column (default: --model)")
    parser.add_argument("--outcome", default="fracture", help="0/1 outcome column (default: fracture)")
    parser.add_argument("--external-site", action="append", default=[], metavar="SITE",
                        help="site never used for training (repeatable)")
    parser.add_argument("--mrmr-k", type=int, default=10, help="features kept by mRMR (default 10)")
    parser.add_argument("--population", default=None, metavar="SCREENING_CSV",
                        help="screening.csv from `bonenet screen`: use only subjects with --population-status")
    parser.add_argument("--population-status", default="eligible",
                        help="comma-separated statuses kept with --population (default eligible)")
    parser.add_argument("--clinical-variables", default=None, metavar="YAML",
                        help="user-declared clinical variables: a YAML list, or the training config "
                             "(data.init_args.clinical_variables); see docs/clinical.md")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True,
                        help="output folder (predictions.csv, model.skops: no pickle, model.json)")


def run(args: argparse.Namespace) -> int:
    from ..baselines import fit_baseline, load_tabular, save_baseline
    from ..clinical import load_declarations
    from ..evaluation import roc_auc

    declared = load_declarations(args.clinical_variables) if args.clinical_variables else ()
    data = load_tabular(features=args.features, clinical=args.clinical, manifest=args.manifest,
                        outcome=args.outcome, clinical_variables=declared)
    if args.population:
        from dataclasses import replace

        from ..clinical import filter_population

        table = filter_population(data.table, args.population,
                                  [s.strip() for s in args.population_status.split(",")], what="baseline inputs")
        print(f"population {args.population_status} from {args.population}: {len(table)} of {len(data.table)} subjects")
        data = replace(data, table=table)
    res = fit_baseline(data, args.model, outcome=args.outcome, external_sites=args.external_site, seed=args.seed,
                       name=args.name, mrmr_k=args.mrmr_k)
    paths = save_baseline(res, args.out)
    pred = res.predictions
    held = pred["split"].astype(str).str.lower().ne("train") if "split" in pred else None
    msg = f"{res.name}: trained on {res.info['n_train']} subjects ({res.info['events_train']} events), " \
          f"{len(res.columns)} inputs"
    if held is not None and held.any() and pred.loc[held, args.outcome].nunique() == 2:
        msg += f"; AUC on the non-training rows {roc_auc(pred.loc[held, args.outcome], pred.loc[held, f'p_{res.name}']):.3f}"
    print(msg)
    print(f"predictions: {paths['predictions']}")
    return 0

"""Evaluate predictions: discrimination, calibration, decision curves, reclassification,
time-to-event metrics, per-site and external validation; writes metrics.json, report.md and
a self-contained report.html.

Example:
  bonenet evaluate preds.csv --outcome fracture --models fused,clinical --reference clinical \\
      --site-column site --report out/eval
Several predictions files (one per model, same subjects) are joined on subject_id.
--population screening.csv (from `bonenet screen`) keeps only the subjects with the given
screening status (default eligible), so metrics describe the population a regimen would treat.
"""

from __future__ import annotations

import argparse

HELP = "evaluate p_<model> predictions against outcomes and write a report with plots"


def _floats(s: str) -> list[float]:
    try:
        return [float(v) for v in s.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {s!r}") from exc


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("predictions", nargs="+", help="predictions CSV(s) with subject_id, outcome and p_<model> columns")
    parser.add_argument("--outcome", default="fracture", help="0/1 outcome column (default: fracture)")
    parser.add_argument("--models", default=None, help="comma-separated model names (default: every p_ column)")
    parser.add_argument("--reference", default=None, help="reference model for ΔAUC, NRI and IDI (e.g. clinical)")
    parser.add_argument("--site-column", default=None, help="column with site labels for per-site metrics")
    parser.add_argument("--external-site", action="append", default=[], metavar="SITE",
                        help="site held out as external validation (repeatable)")
    parser.add_argument("--split", default=None,
                        help="evaluate only rows whose split column is one of these (comma-separated, e.g. test)")
    parser.add_argument("--population", default=None, metavar="SCREENING_CSV",
                        help="screening.csv from `bonenet screen`: evaluate only subjects with --population-status")
    parser.add_argument("--population-status", default="eligible",
                        help="comma-separated statuses kept with --population (default eligible; also "
                             "excluded, not_indicated, unknown)")
    parser.add_argument("--report", required=True, metavar="OUT_DIR", help="folder for metrics.json, report.md, report.html")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--outcome-type", choices=("fracture", "mof", "hip"), default="fracture",
                        help="what the predictions are the probability of: mof = 10-year major "
                             "osteoporotic fracture, hip = 10-year hip fracture, fracture = generic "
                             "(default; no published threshold)")
    parser.add_argument("--thresholds", type=_floats, default=None,
                        help="risk thresholds as probabilities (default: the published one of "
                             "--outcome-type: mof 0.20, hip 0.03; none for a generic fracture outcome; "
                             "other values are labelled user-chosen)")
    parser.add_argument("--nri-cutoffs", type=_floats, default=[0.10, 0.20],
                        help="risk-category cut-offs of the categorical NRI (default 0.10,0.20)")
    parser.add_argument("--subgroup-column", action="append", default=[], metavar="COLUMN",
                        help="also report metrics by this column (e.g. a declared clinical "
                             "variable such as diabetes); repeatable")


def run(args: argparse.Namespace) -> int:
    from ..evaluation import evaluate_predictions, load_predictions, write_report
    from ._outputs import output_folder

    output_folder(args.report, option="--report")

    splits = [s.strip() for s in args.split.split(",")] if args.split else None
    df = load_predictions(args.predictions, outcome=args.outcome, splits=splits)
    if args.population:
        from ..clinical import filter_population

        df = filter_population(df, args.population, [s.strip() for s in args.population_status.split(",")],
                               what="predictions")
    models = [m.strip() for m in args.models.split(",")] if args.models else None
    metrics, curves = evaluate_predictions(
        df, outcome=args.outcome, models=models, reference=args.reference, site_column=args.site_column,
        external_sites=args.external_site, n_boot=args.n_boot, seed=args.seed, thresholds=args.thresholds,
        outcome_type=args.outcome_type, cutoffs=args.nri_cutoffs,
        subgroup_columns=args.subgroup_column)
    if args.population:
        metrics["population"] = df.attrs["population"]
        pop = df.attrs["population"]
        print(f"population {', '.join(pop['statuses'])} from {pop['file']}: {pop['n_after']} of {pop['n_before']} subjects")
    paths = write_report(metrics, curves, args.report)
    for name, mm in metrics["models"].items():
        a = mm["auc_delong"]
        auc = f"AUC {a['auc']:.3f} ({a['lower']:.3f}–{a['upper']:.3f})" if "auc" in a else "AUC undefined"
        cal = mm["calibration"]
        c = f"slope {cal['slope']:.2f}, CITL {cal['citl']:+.2f}" if "slope" in cal else "calibration undefined"
        print(f"{name:<14} {auc}  {c}")
    print(f"report: {paths['html']}")
    return 0

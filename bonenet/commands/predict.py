"""Predict fracture risk for a folder of studies (or a manifest) with a trained checkpoint.

Writes OUT/predictions.csv (one row per study: pseudonymised subject_id, risk per head, risk
category, series used, QC flags, missing clinical values and how they were handled, model name
and checksum) and OUT/errors.csv (one row with a reason per study that failed). A re-run with
the same --out resumes: studies already written are skipped.

Exit status: 0 when every study was predicted; 1 when some failed in this run (the others are
written, the failures are in errors.csv, and the run goes on past them); 2 for bad arguments
or when another run is writing the same --out (see --wait-lock); 3 when the disk is full.

Identifiers are replaced by a salted HMAC-SHA256 pseudonym: give the salt with $BONENET_SALT
or --salt-file (keep it secret, reuse it to join runs; --salt works but shows in `ps`), or
pass --keep-ids. The salt needs about 48 bits of entropy (a random 32-hex-digit string).

example:
  export BONENET_SALT=$(python -c "import secrets; print(secrets.token_hex(16))")
  bonenet predict --checkpoint runs/demo/fused/best.ckpt --studies study_folders/ \\
      --clinical clinical.csv --out predictions/
"""

from __future__ import annotations

import argparse

HELP = "predict fracture risk for a folder of studies with a trained checkpoint (resumable)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="checkpoint written by bonenet train")
    parser.add_argument("--studies", required=True,
                        help="folder with one subfolder (or image file) per study, or a manifest CSV")
    parser.add_argument("--clinical", default=None,
                        help="clinical CSV keyed by subject_id (= study folder names)")
    parser.add_argument("--out", required=True, help="output folder (resumed if it holds a run)")
    parser.add_argument("--salt-file", default=None, metavar="FILE",
                        help="file whose first line is the secret salt for pseudonyms")
    parser.add_argument("--salt", default=None,
                        help="secret salt on the command line (visible in `ps`: prefer "
                             "$BONENET_SALT or --salt-file)")
    parser.add_argument("--keep-ids", action="store_true", help="write original identifiers")
    parser.add_argument("--missing", choices=("indicator", "error"), default="indicator",
                        help="missing clinical values: predict with the model's missing-value "
                             "indicator and report them (default), or fail the study")
    parser.add_argument("--measure", action="store_true",
                        help="add bone measurements (BV/TV, Tb.Th, ... vBMD) per study")
    parser.add_argument("--batch-size", type=int, default=8, help="studies per model call")
    parser.add_argument("--workers", type=int, default=None,
                        help="decoding processes (default: one per core, at most 8)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:N (default: auto)")
    parser.add_argument("--devices", type=int, default=1,
                        help="processes for Lightning DDP prediction (GPUs, or CPU processes)")
    parser.add_argument("--num-nodes", type=int, default=1, help="nodes for DDP prediction")
    parser.add_argument("--wait-lock", action="store_true",
                        help="if another run is writing --out, wait for it instead of refusing")
    parser.add_argument("--retry-errors", action="store_true",
                        help="retry studies listed in errors.csv")
    parser.add_argument("--thresholds", default="0.10,0.20",
                        help="risk category cut-offs low<t1<=moderate<t2<=high (default 0.10,0.20)")
    parser.add_argument("--name", default=None, help="model name in columns (default fused/clinical/image)")
    parser.add_argument("--image-columns", default="image",
                        help="manifest image column(s), comma-separated")
    parser.add_argument("--masks", default=None,
                        help="folder of VOI masks named like the studies (P001.nii.gz or P001/…), "
                             "for models trained with crop: mask; a manifest gives them in the "
                             "model's mask column instead")
    parser.add_argument("--units", default=None, choices=["HU", "mgHA/cm3", "mgK2HPO4/cm3", "raw"],
                        help="declare the units of NIfTI/NRRD studies that do not record them "
                             "(default: the units the model was trained with); a manifest "
                             "'units' column declares them per study")
    parser.add_argument("--vertebra", default=None,
                        help="with multilabel TotalSegmentator masks: the level (L1, T12 ...) to "
                             "crop around (default: the level the model was trained on); a "
                             "manifest 'vertebra' column sets it per study")
    parser.add_argument("--keep-text", action="store_true",
                        help="keep series descriptions and file names in outputs (free text "
                             "that can hold patient names; off by default)")


def _thresholds(text: str) -> tuple[float, float]:
    from ..errors import ConfigError

    try:
        lo, hi = (float(t) for t in text.split(","))
    except ValueError:
        raise ConfigError(f"--thresholds {text!r}: give two risks like 0.10,0.20") from None
    if not 0 < lo < hi < 1:
        raise ConfigError(f"--thresholds {text!r}: need 0 < low < high < 1")
    return lo, hi


def run(args: argparse.Namespace) -> int:
    import sys

    from ..device import select_device
    from ..inference import (
        Pseudonymizer,
        discover_studies,
        load_predictor,
        predict_studies,
        resolve_salt,
    )
    from ..measure import feature_columns, measure_study
    from ._outputs import output_folder

    output_folder(args.out)
    thresholds = _thresholds(args.thresholds)
    salt = resolve_salt(args.salt, keep_ids=args.keep_ids, salt_file=args.salt_file)
    device = select_device(args.device)
    predictor = load_predictor(
        args.checkpoint, device=device if args.devices == 1 else "cpu", name=args.name,
        missing=args.missing, measure=measure_study if args.measure else None,
        measure_columns=feature_columns() if args.measure else (), amp=device.startswith("cuda"),
        keep_text=args.keep_text)
    spec = predictor.preparer.input
    columns = tuple(c.strip() for c in args.image_columns.split(","))
    if args.image_columns == "image" and spec.image_columns:
        columns = spec.image_columns  # the model's own columns unless the user names others
    studies = discover_studies(args.studies, clinical=args.clinical, image_columns=columns,
                               mask_column=spec.mask_column if args.masks is None else None,
                               masks=args.masks, units=args.units, vertebra=args.vertebra)
    if studies.clinical_match is not None and studies.clinical_match.message():
        print(f"predict: {studies.clinical_match.message()} (ids matched exactly after stripping "
              "spaces; pseudonyms listed in OUT/run.json)", file=sys.stderr)
    pseudo = Pseudonymizer(salt)
    if args.devices > 1 or args.num_nodes > 1:
        from ..inference._ddp import predict_studies_ddp

        summary = predict_studies_ddp(
            studies, predictor, args.out, pseudonymizer=pseudo, devices=args.devices,
            num_nodes=args.num_nodes, accelerator="gpu" if device.startswith("cuda") else "cpu",
            batch_size=args.batch_size, num_workers=args.workers if args.workers is not None else 2,
            retry_errors=args.retry_errors, thresholds=thresholds, wait_lock=args.wait_lock)
        if summary is None:  # not rank 0
            return 0
    else:
        summary = predict_studies(studies, predictor, args.out, pseudonymizer=pseudo,
                                  batch_size=args.batch_size, num_workers=args.workers,
                                  retry_errors=args.retry_errors, thresholds=thresholds,
                                  wait_lock=args.wait_lock)
    print(summary.message())
    from .._research import describe_categories

    cats = describe_categories(thresholds)
    print(f"risk_category: {cats['kind']} — {cats['meaning']}; source: {cats['source']}. "
          f"{cats['notice']}")
    return 1 if summary.n_failed else 0

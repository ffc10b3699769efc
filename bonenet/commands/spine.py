"""Measure the spine on routine CT: per-vertebra trabecular HU (vBMD), heights, Genant grade.

One study:   bonenet spine IMAGE --masks MASKS --out OUT
Batch:       bonenet spine --studies DIR --masks DIR --out OUT [--workers N] [--shard i/n]

MASKS is TotalSegmentator v2 output: the multilabel file of the `total` task (--ml), a folder
of per-structure files (vertebrae_L1.nii.gz ...), or its DICOM SEG; --body adds the
`vertebrae_body` task's mask. Writes OUT/spine.csv (one row per vertebra), spine.json and
spine_qa.png (batch: spine.csv with pseudonymised subject_id, studies.csv, errors.csv,
qa/). A batch re-run with the same --out resumes; --shard i/n splits a batch across
processes or machines (merge with `bonenet spine --merge OUT`).

Exit status: 0 all measured; 1 some studies failed (reasons in errors.csv); 2 bad arguments.
Research software, not a medical device: flags are research categories, not diagnoses.

example (the real CT shipped with the tests):
  bonenet spine tests/realdata/totalsegmentator/example_ct_sm.nii.gz --units HU \\
      --masks tests/realdata/totalsegmentator/example_seg.nii.gz --calibrate internal --out spine_out/
"""

from __future__ import annotations

import argparse

HELP = "measure vertebrae on routine CT from TotalSegmentator masks (HU, vBMD, heights, Genant)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", nargs="?", default=None, help="one study: DICOM folder/file or NIfTI")
    parser.add_argument("--studies", default=None, help="batch: folder with one entry per study")
    parser.add_argument("--masks", default=None, help="masks of IMAGE, or (batch) a folder of masks by study name")
    parser.add_argument("--body", default=None, help="TotalSegmentator vertebrae_body mask (or folder, batch)")
    parser.add_argument("--out", default=None, help="output folder")
    parser.add_argument("--units", default=None, help="units of a NIfTI/NRRD image (HU); DICOM carries them")
    parser.add_argument("--calibrate", choices=("internal", "phantom"), default=None,
                        help="add vBMD (mg/cm³) from internal tissues or a phantom in the scan")
    parser.add_argument("--phantom-densities", default=None,
                        help="phantom rod densities, mg/cm³, comma-separated (with --calibrate phantom)")
    parser.add_argument("--rod-radius-mm", type=float, default=None, help="phantom rod radius, mm")
    parser.add_argument("--material", choices=("K2HPO4", "HA"), default="K2HPO4",
                        help="density material (internal: HU per mg/cm³ K2HPO4; ACR categories need HA)")
    parser.add_argument("--phase", choices=("native", "portal", "arterial"), default="native",
                        help="contrast phase of the scan (portal: -11.2 HU; arterial: no categories)")
    parser.add_argument("--margin-mm", type=float, default=4.0, help="VOI distance from cortex/endplates, mm")
    parser.add_argument("--dicom", action="store_true",
                        help="DICOM input: also write a DICOM SEG of the VOIs and a Comprehensive 3D SR")
    parser.add_argument("--segment", choices=("totalsegmentator",), default=None,
                        help="make the masks with a locally installed TotalSegmentator (no download)")
    parser.add_argument("--workers", type=int, default=None, help="batch worker processes (default: cores, max 8)")
    parser.add_argument("--shard", default=None, help="batch: measure shard i of n (i/n), default $SLURM_PROCID/$SLURM_NTASKS")
    parser.add_argument("--merge", default=None, metavar="OUT", help="merge the shards of a sharded batch in OUT")
    parser.add_argument("--retry-errors", action="store_true", help="batch: retry studies in errors.csv")
    parser.add_argument("--no-qa", action="store_true", help="skip the QA pictures")
    parser.add_argument("--salt", default=None, help="batch: secret salt for pseudonyms (default $BONENET_SALT)")
    parser.add_argument("--keep-ids", action="store_true", help="batch: write study names as subject_id")


def _options(args: argparse.Namespace) -> dict:
    from ..errors import ConfigError

    opts: dict = {"units": args.units, "calibrate": args.calibrate, "phase": args.phase,
                  "margin_mm": args.margin_mm}
    if args.calibrate == "phantom":
        if not args.phantom_densities or args.rod_radius_mm is None:
            raise ConfigError("--calibrate phantom needs --phantom-densities D1,D2,... and --rod-radius-mm R")
        try:
            dens = [float(v) for v in args.phantom_densities.split(",")]
        except ValueError:
            raise ConfigError(f"--phantom-densities {args.phantom_densities!r}: give numbers like 0,50,100,200") from None
        opts["phantom"] = {"densities": dens, "radius_mm": args.rod_radius_mm, "material": args.material}
    return opts


def run(args: argparse.Namespace) -> int:
    import os

    from ..errors import ConfigError

    if args.merge:
        from ..measure import merge_spine_shards

        print(f"spine: {merge_spine_shards(args.merge)} studies in {args.merge}/spine.csv")
        return 0
    if args.out is None:
        raise ConfigError("--out is required: the folder to write spine.csv into")
    if (args.image is None) == (args.studies is None):
        raise ConfigError("give one study (IMAGE) or a batch (--studies DIR), not both or neither")
    opts = _options(args)
    if args.studies is not None:
        from ..inference import Pseudonymizer, resolve_salt
        from ..measure import measure_spine_batch, parse_shard

        if args.masks is None:
            raise ConfigError("--masks DIR is required with --studies (masks matched by study name)")
        pseudo = Pseudonymizer(resolve_salt(args.salt, keep_ids=args.keep_ids))
        workers = args.workers or max(1, min(os.cpu_count() or 1, 8))
        summary = measure_spine_batch(args.studies, args.masks, args.out, pseudonymizer=pseudo,
                                      body=args.body, workers=workers, shard=parse_shard(args.shard),
                                      retry_errors=args.retry_errors, qa=not args.no_qa, options=opts)
        print(summary.message())
        return 1 if summary.n_failed else 0
    from ..measure import measure_spine, run_totalsegmentator

    masks = args.masks
    if args.segment:
        masks = run_totalsegmentator(args.image, args.out)
    if masks is None:
        raise ConfigError("--masks is required (TotalSegmentator output), or --segment totalsegmentator")
    res = measure_spine(args.image, masks, body=args.body, **opts)
    csv = res.write(args.out, qa=not args.no_qa)
    if args.dicom:
        from ..measure import write_spine_dicom

        seg, sr = write_spine_dicom(res, args.out)
        print(f"spine: DICOM SEG {seg}, SR {sr}")
    for row in res.rows:
        grade = "" if row["genant_grade"] is None else f" Genant {row['genant_grade']}"
        print(f"{row['vertebra']:>4}: median {row['hu_median']:.0f} HU{grade}")
    print(f"spine: {len(res.rows)} vertebrae -> {csv}")
    return 0

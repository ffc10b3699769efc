"""Make a synthetic cohort (images, clinical variables, outcomes, true risk) in a folder."""

from __future__ import annotations

import argparse

HELP = "make a synthetic cohort with known true fracture risk (images + clinical + outcomes)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=int, default=200, help="number of subjects (default 200)")
    parser.add_argument("--modality", choices=("hrpqct", "qct", "dxa"), default="hrpqct",
                        help="image kind (default hrpqct)")
    parser.add_argument("--out", required=True, help="cohort folder to write")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--roi", choices=("trabecular", "section"), default="trabecular",
                        help="HR-pQCT region: trabecular cube or whole distal radius section")
    parser.add_argument("--roi-size", type=int, default=64,
                        help="cube edge / slices (HR-pQCT), in-plane pixels (QCT, DXA)")
    parser.add_argument("--sites", default=None,
                        help="comma-separated built-in sites (default site_a,site_b,site_c)")
    parser.add_argument("--treatments", default="none",
                        help="comma-separated treatment arms, e.g. none,hrt,etidronate,"
                             "hrt+etidronate")
    parser.add_argument("--fracture-rate", type=float, default=0.20,
                        help="mean 10-year fracture probability (default 0.20)")
    parser.add_argument("--format", choices=("nifti", "dicom", "aim"), default=None,
                        help="study format (default: AIM for hrpqct, DICOM for qct, NIfTI for dxa)")
    parser.add_argument("--no-images", action="store_true",
                        help="tables only (fast; for risk-model studies)")
    parser.add_argument("--screening-variables", action="store_true",
                        help="add the regimen-screening variables (VTE, breast cancer, calcium, eGFR...)")
    parser.add_argument("--eligible-arms", action="store_true",
                        help="give treatment arms only to subjects eligible for them (bonenet screen "
                             "rules; implies --screening-variables)")
    parser.add_argument("--workers", type=int, default=None,
                        help="processes for image generation (default: up to 2)")


def run(args: argparse.Namespace) -> int:
    from ..synth import default_sites, make_cohort
    from ._outputs import output_folder

    output_folder(args.out)

    sites = None
    if args.sites:
        sites = default_sites(names=tuple(s.strip() for s in args.sites.split(",") if s.strip()))
    treatments = tuple(t.strip() for t in args.treatments.split(",") if t.strip())
    c = make_cohort(args.n, modality=args.modality, seed=args.seed, out=args.out, sites=sites,
                    roi=args.roi, roi_size=args.roi_size, images=not args.no_images,
                    fracture_rate=args.fracture_rate, treatments=treatments,
                    format=args.format, workers=args.workers,
                    screening=args.screening_variables, eligible_arms=args.eligible_arms)
    m = c.manifest
    print(f"wrote {len(m) - len(c.failed)} subjects to {c.out}")
    print(f"  sites: {', '.join(f'{k} {v}' for k, v in m['site'].value_counts().sort_index().items())}")
    print(f"  splits: {', '.join(f'{k} {v}' for k, v in m['split'].value_counts().sort_index().items())}")
    print(f"  10-year fractures: {int(m['fracture'].sum())} ({m['fracture'].mean():.1%}); "
          f"deaths: {int((m['event'] == 2).sum())}")
    print(f"  manifest: {c.manifest_path}")
    if c.failed:
        print(f"  {len(c.failed)} studies failed; details in {c.out / 'failed.tsv'}")
        return 1
    return 0

"""Measure every study of a cohort manifest into a features CSV.

Reads MANIFEST (CSV with ``subject_id`` and ``image``, image paths relative to the
manifest's folder), loads each study with ``bonenet.io.load``, segments it and measures
bone density and microstructure in parallel worker processes, and writes one row per
subject (columns with units in their names: bv_tv, tb_th_mm, tb_sp_mm, tb_n_per_mm,
conn_d_per_mm3, da, smi, ct_th_mm, ct_po, tt_vbmd_mgcm3, ...). Studies that fail are
listed in an errors CSV and the rest go on. Each study's row is appended whole as soon as it
is measured, so a killed run resumes: re-running with the same --out skips the studies already
in either file (--retry-errors measures the failed ones again). Exit status: 0 when every
study was measured, 1 when some failed (the rest are written), 2 for bad arguments, 3 when a
resource ran out (disk full, memory ceiling).

HR-pQCT: Scanco's compartment masks are used when a row names them (optional columns
trab_mask, cort_mask, periosteal_mask) or when they lie beside a grey AIM by Scanco's naming
(C0001234_TRAB_MASK.AIM, C0001234_CORT_MASK.AIM); the masks_source column says scanco or
autocontour.

CT images still in HU are calibrated first when the phantom is described
(--phantom-rods, --rod-radius-mm); otherwise they are reported as errors.

Examples:
  bonenet features cohort/manifest.csv --out features.csv --workers 2
  bonenet features qct/manifest.csv --out qct_features.csv --phantom-rods 0,50,100,200 --rod-radius-mm 3.4
"""

from __future__ import annotations

import argparse

HELP = "measure every study of a manifest (density, trabecular and cortical morphometry) into a CSV"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", help="cohort manifest CSV (subject_id, image, ...)")
    parser.add_argument("--out", required=True, help="features CSV to write")
    parser.add_argument("--errors", default=None,
                        help="CSV listing failed studies (default: <out stem>_errors.csv)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--modality", choices=["auto", "hrpqct", "qct"], default="auto")
    parser.add_argument("--no-smi", action="store_true", help="skip SMI (the slowest index)")
    parser.add_argument("--retry-errors", action="store_true",
                        help="measure again the studies listed in the errors CSV")
    parser.add_argument("--wait-lock", action="store_true",
                        help="wait for another run writing the same --out instead of refusing")
    parser.add_argument("--units", default=None, choices=["HU", "mgHA/cm3", "mgK2HPO4/cm3", "raw"],
                        help="declare the units of NIfTI/NRRD images that do not say (DICOM and "
                             "AIM carry theirs)")
    ph = parser.add_argument_group("phantom calibration of CT images in HU (QCT)")
    ph.add_argument("--phantom-rods", default=None,
                    help="rod densities in mg/cm3, comma-separated (e.g. 0,50,100,200); rods are "
                         "found in each image and the image calibrated before measuring")
    ph.add_argument("--rod-radius-mm", default=None,
                    help="rod radius in mm, or several comma-separated candidates (best fit wins)")
    ph.add_argument("--phantom-material", choices=["HA", "K2HPO4"], default="HA")
    ph.add_argument("--phantom-base", type=float, default=0.0,
                    help="density of the phantom body around the rods (default 0: water-equivalent)")


def _phantom(args: argparse.Namespace) -> dict | None:
    from ..errors import ManifestError

    if not args.phantom_rods:
        return None
    try:
        rods = [float(x) for x in args.phantom_rods.split(",") if x.strip()]
    except ValueError as exc:
        raise ManifestError(f"--phantom-rods {args.phantom_rods!r}: give numbers like 0,50,100,200") from exc
    try:
        radii = [float(x) for x in str(args.rod_radius_mm or "").split(",") if x.strip()]
    except ValueError as exc:
        raise ManifestError(f"--rod-radius-mm {args.rod_radius_mm!r}: give mm values like 3.4") from exc
    if not radii or min(radii) <= 0:
        raise ManifestError("--phantom-rods needs --rod-radius-mm (the rods' radius in mm, > 0)")
    return {"densities": rods, "radius_mm": radii, "material": args.phantom_material,
            "base_density": args.phantom_base}


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from ..errors import ManifestError
    from ..measure import measure_batch, read_measure_manifest

    manifest, out = Path(args.manifest), Path(args.out)
    if out.exists() and manifest.exists() and out.resolve() == manifest.resolve():
        raise ManifestError(f"--out {out} is the manifest itself; write the features to another file")
    studies = read_measure_manifest(manifest, with_masks=True)
    load_options = {"units": args.units} if args.units else None
    res = measure_batch(studies, out, errors=args.errors, workers=args.workers,
                        modality=args.modality, smi=not args.no_smi, phantom=_phantom(args),
                        load_options=load_options, retry_errors=args.retry_errors,
                        wait_lock=args.wait_lock)
    done = f" ({res.n_skipped} already done)" if res.n_skipped else ""
    print(f"features: {res.n_measured} of {res.n_studies} studies measured{done} -> {res.features}",
          file=sys.stderr)
    if res.failed:
        print(f"features: {res.n_failed} failed; details in {res.errors}", file=sys.stderr)
        return 1
    return 0

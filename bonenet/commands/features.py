"""Measure every study of a cohort manifest into a features CSV.

Reads MANIFEST (CSV with ``subject_id`` and ``image``, image paths relative to the
manifest's folder), loads each study with ``bonenet.io.load``, segments it and measures
bone density and microstructure in parallel worker processes, and writes one row per
subject (columns with units in their names: bv_tv, tb_th_mm, tb_sp_mm, tb_n_per_mm,
conn_d_per_mm3, da, smi, ct_th_mm, ct_po, tt_vbmd_mgcm3, ...). Studies that fail are
listed in an errors CSV and the rest go on. Both files are written atomically. Exit status:
0 when every study was measured, 1 when some failed (the rest are written), 2 for bad
arguments.

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
    ph = parser.add_argument_group("phantom calibration of CT images in HU (QCT)")
    ph.add_argument("--phantom-rods", default=None,
                    help="rod densities in mg/cm3, comma-separated (e.g. 0,50,100,200); rods are "
                         "found in each image and the image calibrated before measuring")
    ph.add_argument("--rod-radius-mm", default=None,
                    help="rod radius in mm, or several comma-separated candidates (best fit wins)")
    ph.add_argument("--phantom-material", choices=["HA", "K2HPO4"], default="HA")
    ph.add_argument("--phantom-base", type=float, default=0.0,
                    help="density of the phantom body around the rods (default 0: water-equivalent)")


def _work(job: tuple) -> tuple[str, dict | None, tuple[str, str] | None]:
    sid, path, modality, smi, phantom, masks = job
    try:
        import numba

        numba.set_num_threads(1)
    except Exception:  # pragma: no cover
        pass
    try:
        from ._measure import measure_study

        return sid, measure_study(path, modality=modality, smi=smi, phantom=phantom, masks=masks), None
    except Exception as exc:  # one bad study must not stop the batch
        return sid, None, (type(exc).__name__, str(exc).replace("\n", " "))


def run(args: argparse.Namespace) -> int:
    import concurrent.futures as cf
    import io
    import multiprocessing as mp
    import sys
    from pathlib import Path

    import pandas as pd

    from .._atomic import write_text_atomic
    from .._progress import progress
    from ..errors import ManifestError

    manifest = Path(args.manifest)
    if not manifest.is_file():
        raise ManifestError(f"{manifest}: no such manifest file; pass the cohort's manifest.csv")
    try:
        df = pd.read_csv(manifest, dtype={"subject_id": str, "image": str})
    except Exception as exc:
        raise ManifestError(f"{manifest}: cannot be read as CSV ({exc})") from exc
    missing = [c for c in ("subject_id", "image") if c not in df.columns]
    if missing:
        raise ManifestError(
            f"{manifest}: missing column(s) {missing}; a manifest needs subject_id and image "
            f"(found {list(df.columns)})"
        )
    if df["subject_id"].isna().any() or df["subject_id"].duplicated().any():
        dup = df["subject_id"][df["subject_id"].duplicated()].tolist()[:5]
        raise ManifestError(f"{manifest}: subject_id must be present and unique (duplicates: {dup})")
    if args.workers < 1:
        raise ManifestError(f"--workers must be ≥ 1; got {args.workers}")
    phantom = None
    if args.phantom_rods:
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
        phantom = {"densities": rods, "radius_mm": radii,
                   "material": args.phantom_material, "base_density": args.phantom_base}
    root = manifest.parent
    jobs = []
    mask_cols = [c for c in ("trab_mask", "cort_mask", "periosteal_mask") if c in df.columns]
    for i, (sid, img) in enumerate(zip(df["subject_id"], df["image"], strict=True)):
        path = "" if pd.isna(img) else str(root / str(img))
        masks = {c: str(root / str(df[c].iloc[i])) for c in mask_cols
                 if not pd.isna(df[c].iloc[i]) and str(df[c].iloc[i]).strip()}
        jobs.append((str(sid), path, args.modality, not args.no_smi, phantom, masks))
    rows: dict[str, dict] = {}
    errors: list[dict] = []
    if args.workers == 1:
        it = (_work(j) for j in jobs)
        for sid, res, err in progress(it, desc="features", total=len(jobs), unit="study"):
            (rows.__setitem__(sid, res) if res is not None else
             errors.append({"subject_id": sid, "error": err[0], "message": err[1]}))
    else:
        ctx = mp.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=args.workers, mp_context=ctx) as pool:
            futs = [pool.submit(_work, j) for j in jobs]
            for fut in progress(cf.as_completed(futs), desc="features", total=len(futs), unit="study"):
                sid, res, err = fut.result()
                if res is not None:
                    rows[sid] = res
                else:
                    errors.append({"subject_id": sid, "error": err[0], "message": err[1]})
    out = Path(args.out)
    err_path = Path(args.errors) if args.errors else out.with_name(f"{out.stem}_errors.csv")
    order = [j[0] for j in jobs if j[0] in rows]
    feats = pd.DataFrame([{"subject_id": sid, **rows[sid]} for sid in order])
    if feats.empty:
        feats = pd.DataFrame(columns=["subject_id"])
    buf = io.StringIO()
    feats.to_csv(buf, index=False, float_format="%.6g")
    write_text_atomic(out, buf.getvalue())
    ebuf = io.StringIO()
    pd.DataFrame(errors, columns=["subject_id", "error", "message"]).to_csv(ebuf, index=False)
    write_text_atomic(err_path, ebuf.getvalue())
    print(f"features: {len(rows)} of {len(jobs)} studies measured -> {out}", file=sys.stderr)
    if errors:
        print(f"features: {len(errors)} failed; details in {err_path}", file=sys.stderr)
        return 1
    return 0

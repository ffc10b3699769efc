"""Speed of `bonenet spine`.

1. One CT (default 512 × 512 × ~290 slices, DICOM series on disk) with its multilabel mask
   (NIfTI): bonenet's measure_spine + write against a straightforward nibabel + SimpleITK
   + NumPy script doing the same job (read the series and mask, per vertebra a trabecular
   VOI = the vertebra eroded by 4 mm, mean/median/volume, a CSV). Both run in this process,
   after one warm-up each; the ratio is printed last.
2. A batch of N small studies (the shipped real 30-slice CT): `bonenet spine --studies`
   (one process, a worker pool) against a loop of N single-study `bonenet spine` commands.

    PYTHONPATH=$PWD python benchmarks/bench_spine.py [--slices 290] [--studies 50] [--workers 2]

Pin to 2 cores with `taskset -c 0,1` for the figures in docs/spine.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "realdata" / "totalsegmentator"


def make_case(tmp: Path, slices: int) -> tuple[Path, Path]:
    import nibabel as nib

    from bonenet import io
    from bonenet.synth.spine import synth_spine_ct

    levels = ("T5", "T6", "T7", "T8", "T9", "T10", "T11", "T12", "L1", "L2", "L3", "L4", "L5")
    n = max(1, min(len(levels), int((slices - 24) / 33.0)))
    s = synth_spine_ct(levels[-n:], spacing=(1.0, 0.7, 0.7), fov_mm=(358.4, 358.4), noise_hu=15.0)
    io.save(s.volume, tmp / "ct", format="dicom", uid_seed="bench")
    ref = s.volume.replace(array=s.labels.astype(np.float32)).to_nibabel()
    nib.save(nib.Nifti1Image(s.labels.transpose(2, 1, 0).astype(np.uint8), ref.affine), str(tmp / "seg.nii.gz"))
    print(f"case: {s.volume.shape} voxels, {n} vertebrae, DICOM series + multilabel NIfTI", flush=True)
    return tmp / "ct", tmp / "seg.nii.gz"


def plain_script(ct: Path, seg: Path, out: Path) -> None:
    """What a user writes without bonenet: SimpleITK for DICOM, nibabel for the mask."""
    import nibabel as nib
    import SimpleITK as sitk
    from scipy import ndimage as ndi

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(ct)))
    img = reader.Execute()
    hu = sitk.GetArrayFromImage(img).astype(np.float32)  # (z, y, x)
    # bring the RAS NIfTI onto the image grid (here: same grid, axes x,y,z -> z,y,x)
    lab = np.asarray(nib.load(str(seg)).dataobj).transpose(2, 1, 0)
    sp = np.asarray(img.GetSpacing()[::-1])
    r = np.ceil(4.0 / sp).astype(int)
    g = np.mgrid[-r[0]:r[0] + 1, -r[1]:r[1] + 1, -r[2]:r[2] + 1]
    ball = sum((g[k] * sp[k]) ** 2 for k in range(3)) <= 16.0
    names = {**{32 - i: f"L{i}" for i in range(1, 6)}, **{44 - i: f"T{i}" for i in range(1, 13)}}
    rows = []
    for box_i, box in enumerate(ndi.find_objects(lab), start=1):
        if box is None or box_i not in names:
            continue
        m = lab[box] == box_i
        core = ndi.binary_erosion(m, structure=ball)
        v = hu[box][core]
        rows.append([names[box_i], float(v.mean()), float(np.median(v)), v.size * float(np.prod(sp)) / 1000])
    with open(out, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["vertebra", "hu_mean", "hu_median", "voi_ml"])
        w.writerows(rows)


def bonenet_single(ct: Path, seg: Path, out: Path) -> None:
    from bonenet.measure import measure_spine

    measure_spine(ct, seg).write(out, qa=False)


def best_of(fn, *args, repeat: int = 2) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t)
    return min(times)


def batch(tmp: Path, n: int, workers: int) -> tuple[float, float]:
    studies, masks = tmp / "studies", tmp / "masks"
    studies.mkdir()
    masks.mkdir()
    for i in range(n):
        shutil.copy(DATA / "example_ct_sm.nii.gz", studies / f"s{i:03d}.nii.gz")
        shutil.copy(DATA / "example_seg.nii.gz", masks / f"s{i:03d}.nii.gz")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BONENET_PROGRESS": "0"}
    cmd = [sys.executable, "-m", "bonenet", "spine"]
    t = time.perf_counter()
    subprocess.run([*cmd, "--studies", str(studies), "--masks", str(masks), "--units", "HU", "--out",
                    str(tmp / "batch"), "--keep-ids", "--no-qa", "--workers", str(workers)],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    t_batch = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(n):
        subprocess.run([*cmd, str(studies / f"s{i:03d}.nii.gz"), "--masks", str(masks / f"s{i:03d}.nii.gz"),
                        "--units", "HU", "--out", str(tmp / "loop" / f"s{i:03d}"), "--no-qa"],
                       check=True, env=env, stdout=subprocess.DEVNULL)
    t_loop = time.perf_counter() - t
    return t_batch, t_loop


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slices", type=int, default=290)
    ap.add_argument("--studies", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-single", action="store_true")
    ap.add_argument("--skip-batch", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if not a.skip_single:
            ct, seg = make_case(tmp, a.slices)
            t_plain = best_of(plain_script, ct, seg, tmp / "plain.csv")
            t_bn = best_of(bonenet_single, ct, seg, tmp / "bn")
            print(f"single CT -> spine.csv: plain nibabel+SimpleITK+NumPy {t_plain:.2f} s, "
                  f"bonenet {t_bn:.2f} s, ratio plain/bonenet = {t_plain / t_bn:.2f}x", flush=True)
        if not a.skip_batch:
            t_batch, t_loop = batch(tmp, a.studies, a.workers)
            print(f"batch of {a.studies} studies: loop of single commands {t_loop:.1f} s, "
                  f"bonenet spine --studies {t_batch:.1f} s, ratio loop/batch = {t_loop / t_batch:.2f}x")


if __name__ == "__main__":
    main()

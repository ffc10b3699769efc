"""Tiny cohorts written by the data tests themselves (NIfTI volumes + a manifest CSV)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from bonenet import Volume, io


def write_cohort(root: Path, n: int = 24, *, shape=(20, 20, 20), spacing=(0.5, 0.5, 0.5),
                 units: str = "HU", seed: int = 0, split: bool = False, two_images: bool = False,
                 masks: bool = False) -> Path:
    """Write ``n`` subjects with a bright off-centre 'bone' block; return the manifest path."""
    rng = np.random.default_rng(seed)
    (root / "studies").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        sid = f"S{i:03d}"
        arr = rng.normal(0.0, 20.0, shape).astype(np.float32)
        c = rng.integers(6, 14, size=3)
        arr[c[0] - 4:c[0] + 4, c[1] - 3:c[1] + 3, c[2] - 3:c[2] + 3] += 900.0
        img = root / "studies" / f"{sid}.nii.gz"
        io.save(Volume(arr, spacing=spacing, units=units, modality="CT"), img)
        row = {"subject_id": sid, "image": f"studies/{sid}.nii.gz",
               "Age (years)": f"{int(rng.integers(50, 90))}", "Sex": "F" if i % 3 else "male",
               "Weight (kg)": f"{rng.normal(68, 10):.1f}", "Height (cm)": f"{rng.normal(162, 7):.1f}",
               "Prior fracture": ["yes", "no", "", "Y", "0"][i % 5],
               "fn_bmd": "" if i % 4 == 0 else f"{rng.normal(0.7, 0.1):.3f}",
               "fracture": str(i % 2), "time_years": f"{rng.uniform(1, 10):.2f}",
               "event": str(i % 2), "site": "A" if i < n // 2 else "B"}
        if split:
            row["split"] = ["train", "train", "val", "test"][i % 4]
        if two_images:
            if i % 5 == 0:
                row["image2"] = ""
            else:
                img2 = root / "studies" / f"{sid}_b.nii.gz"
                io.save(Volume(arr[::-1].copy(), spacing=spacing, units=units), img2)
                row["image2"] = str(img2)  # absolute path
        if masks:
            m = np.zeros(shape, np.float32)
            m[2:8, 2:8, 2:8] = 1
            mp = root / "studies" / f"{sid}_mask.nii.gz"
            io.save(Volume(m, spacing=spacing, units="raw"), mp)
            row["mask"] = f"studies/{sid}_mask.nii.gz"
        rows.append(row)
    path = root / "manifest.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def edit_manifest(path: Path, row: int, column: str, value: str) -> None:
    """Set one cell (``row`` 0-based data row) of a manifest in place."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    rows[row][column] = value
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

#!/usr/bin/env python
"""Write a cohort the way a user would have one — without ``bonenet synth``.

    python scripts/make_user_cohort.py --n 400 --out my_cohort [--new 20] [--seed 0]

Writes, with NumPy/SciPy and nibabel only:

* ``my_cohort/images/<Patient ID>.nii.gz`` — a 32³ HR-pQCT-like trabecular cube (0.12 mm
  voxels, mg HA/cm³; NIfTI does not record units, so the manifest declares them in a
  ``units`` column). The texture carries a latent bone quality ``q ~ N(0, 1)``: Gaussian-smoothed
  noise thresholded at a bone volume fraction ``BV/TV = 0.18 + 0.05 q`` (clipped to
  [0.05, 0.35]) and a smoothing length ``0.8 + 0.15 q`` voxels (thicker, better-connected
  trabeculae when ``q`` is high); bone 800 ± 60, marrow 0 ± 40 mg HA/cm³, plus 25 mg HA/cm³ noise.
* ``my_cohort/manifest.csv`` — the user's spreadsheet with an image column:
  ``Patient ID, Age (years), Sex (F/M), BMI, image, units, fracture`` (BMI 3 % missing).
* ``my_cohort/oracle.csv`` — ``Patient ID`` and the true fracture probability (the best any
  model can do: the oracle AUROC of the benchmark).
* with ``--new K``: ``my_cohort/new/manifest.csv`` + images of K further subjects without
  outcomes, to predict.

The outcome is drawn from this written-down logistic model (a deliberately simple model; the
coefficients are illustrative, not literature values)::

    logit P(fracture) = -1.6 + 0.04 (age - 65) + 0.5 [female] - 0.04 (BMI - 26) - 1.0 q

Age ~ U(50, 85) years, 70 % female, BMI ~ N(26, 4) kg/m², independent of ``q``.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

SHAPE = (32, 32, 32)
SPACING_MM = 0.12
COEF = {"intercept": -1.6, "age": 0.04, "female": 0.5, "bmi": -0.04, "q": -1.0}


def texture(q: float, rng: np.random.Generator) -> np.ndarray:
    """A trabecular-like cube (mg HA/cm³) whose bone fraction and thickness rise with ``q``."""
    from scipy.ndimage import gaussian_filter

    sigma = 0.8 + 0.15 * q
    field = gaussian_filter(rng.standard_normal(SHAPE), sigma=max(sigma, 0.3), mode="wrap")
    bvtv = float(np.clip(0.18 + 0.05 * q, 0.05, 0.35))
    bone = field > np.quantile(field, 1.0 - bvtv)
    img = np.where(bone, rng.normal(800.0, 60.0, SHAPE), rng.normal(0.0, 40.0, SHAPE))
    return (img + rng.normal(0.0, 25.0, SHAPE)).astype(np.float32)


def probability(age: np.ndarray, female: np.ndarray, bmi: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The written-down outcome model (module docstring)."""
    z = (COEF["intercept"] + COEF["age"] * (age - 65) + COEF["female"] * female
         + COEF["bmi"] * (bmi - 26) + COEF["q"] * q)
    return 1.0 / (1.0 + np.exp(-z))


def write_cohort(out: Path, n: int, *, seed: int = 0, outcomes: bool = True, prefix: str = "P") -> Path:
    """Write ``n`` subjects under ``out``; returns the manifest path."""
    import nibabel as nib

    rng = np.random.default_rng(seed)
    (out / "images").mkdir(parents=True, exist_ok=True)
    age = rng.uniform(50, 85, n)
    female = (rng.random(n) < 0.7).astype(float)
    bmi = rng.normal(26, 4, n)
    q = rng.standard_normal(n)
    p = probability(age, female, bmi, q)
    y = (rng.random(n) < p).astype(int)
    affine = np.diag([SPACING_MM, SPACING_MM, SPACING_MM, 1.0])
    rows, oracle = [], []
    for i in range(n):
        pid = f"{prefix}{seed:02d}{i:05d}"
        rel = f"images/{pid}.nii.gz"
        nib.save(nib.Nifti1Image(texture(float(q[i]), rng), affine), str(out / rel))
        row = {"Patient ID": pid, "Age (years)": f"{age[i]:.1f}", "Sex": "F" if female[i] else "M",
               "BMI": "" if rng.random() < 0.03 else f"{bmi[i]:.1f}", "image": rel, "units": "mgHA/cm3"}
        if outcomes:
            row["fracture"] = int(y[i])
        rows.append(row)
        oracle.append({"Patient ID": pid, "p_true": f"{p[i]:.6f}", "q": f"{q[i]:.4f}"})
    for name, table in (("manifest.csv", rows), ("oracle.csv", oracle)):
        with open(out / name, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, fieldnames=list(table[0]))
            w.writeheader()
            w.writerows(table)
    return out / "manifest.csv"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=400, help="subjects with outcomes")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--new", type=int, default=0, help="further subjects without outcomes, in OUT/new/")
    a = ap.parse_args(argv)
    m = write_cohort(a.out, a.n, seed=a.seed)
    print(f"wrote {m} ({a.n} subjects)")
    if a.new:
        m2 = write_cohort(a.out / "new", a.new, seed=a.seed + 1000, outcomes=False, prefix="N")
        print(f"wrote {m2} ({a.new} subjects without outcomes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

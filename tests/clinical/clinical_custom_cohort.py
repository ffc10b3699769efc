"""A cohort whose fracture outcome depends on two user-declared clinical variables.

Written down here (no ``bonenet.synth``), so the truth is known and independent of bonenet:

* age ~ U(50, 90) years; sex F with probability 0.7; weight ~ N(68, 12) kg in [40, 120];
  height ~ N(163, 8) cm; prior fracture ~ Bernoulli(0.2);
  fn_bmd ~ N(0.75 − 0.004 (age − 70), 0.11) g/cm² in [0.35, 1.2] (Hologic scale);
* NLR (neutrophil-to-lymphocyte ratio) = exp(N(log 2.5, 0.45)) in [0.3, 40], 5 % blank;
* ECOG performance status ∈ {0, 1, 2, 3} with probabilities (0.4, 0.3, 0.2, 0.1);
* logit P(fracture) = −1.6 + 0.04 (age − 70) + 0.7 prior − 0.9 (T + 1.5)
  + 1.0 (NLR − 2.7) / 1.3 + 0.8 [ECOG ≥ 2], with T the femoral-neck T-score
  (NHANES III, (fn_bmd − 0.858) / 0.120); a blank NLR enters as 2.7 (no effect).

Headers are spelt as a user's spreadsheet would (``Patient ID``, ``Age (years)``, ``NLR``,
``ECOG``); the split column is fixed (60/20/20) so every model sees the same split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: the declarations a user writes (the YAML under data.init_args.clinical_variables)
DECLARATIONS = [
    {"name": "nlr", "kind": "continuous", "unit": "", "valid_range": [0.0, 100.0],
     "aliases": ["NLR", "neutrophil_lymphocyte_ratio"], "required": True,
     "description": "neutrophil-to-lymphocyte ratio"},
    {"name": "ecog", "kind": "categorical", "categories": ["0", "1", "2", "3", "4"],
     "aliases": ["ECOG", "ecog_ps"], "description": "ECOG performance status"},
]


def custom_cohort(n: int, seed: int) -> pd.DataFrame:
    """The cohort above as a manifest-like table (strings as in a spreadsheet)."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(50, 90, n)
    sex = np.where(rng.random(n) < 0.7, "F", "M")
    weight = np.clip(rng.normal(68, 12, n), 40, 120)
    height = rng.normal(163, 8, n)
    prior = (rng.random(n) < 0.2).astype(int)
    bmd = np.clip(rng.normal(0.75 - 0.004 * (age - 70), 0.11), 0.35, 1.2)
    nlr = np.clip(np.exp(rng.normal(np.log(2.5), 0.45, n)), 0.3, 40)
    ecog = rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1])
    blank = rng.random(n) < 0.05
    tscore = (bmd - 0.858) / 0.120
    logit = (-1.6 + 0.04 * (age - 70) + 0.7 * prior - 0.9 * (tscore + 1.5)
             + 1.0 * (np.where(blank, 2.7, nlr) - 2.7) / 1.3 + 0.8 * (ecog >= 2))
    fracture = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    split = np.array(["train"] * n, dtype=object)
    order = rng.permutation(n)
    split[order[int(0.6 * n):int(0.8 * n)]] = "val"
    split[order[int(0.8 * n):]] = "test"
    return pd.DataFrame({
        "Patient ID": [f"P{i:05d}" for i in range(n)],
        "image": "",
        "Age (years)": np.round(age, 1), "Sex": sex, "Weight (kg)": np.round(weight, 1),
        "Height (cm)": np.round(height, 1), "Prior fracture": np.where(prior == 1, "yes", "no"),
        "fn_bmd": np.round(bmd, 3),
        "NLR": np.where(blank, "", np.round(nlr, 2).astype(str)),
        "ECOG": ecog.astype(str),
        "fracture": fracture, "split": split,
    })


def write_cohort(folder: Path, n: int = 1200, seed: int = 3) -> Path:
    """Write the cohort's manifest CSV into ``folder`` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "manifest.csv"
    custom_cohort(n, seed).to_csv(path, index=False)
    return path

"""A tiny fusion model, preprocessing and clinical encoder for inference tests, plus study
fixtures (NIfTI and DICOM) written by the tests themselves."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from bonenet.errors import ClinicalValueError
from bonenet.inference import ModelRunner, Predictor, StudyPreparer
from bonenet.volume import Volume

ROI = 16


class TinyPreprocess:
    """Centre crop/pad to ROI³ and window [-200, 1200] → [0, 1]; optional delay (seconds)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    def __call__(self, vol: Volume) -> torch.Tensor:
        if self.delay:
            time.sleep(self.delay)
        a = vol.array
        out = np.zeros((ROI, ROI, ROI), np.float32)
        src = [slice(max(0, (s - ROI) // 2), max(0, (s - ROI) // 2) + min(s, ROI)) for s in a.shape]
        dst = [slice(max(0, (ROI - s) // 2), max(0, (ROI - s) // 2) + min(s, ROI)) for s in a.shape]
        out[tuple(dst)] = a[tuple(src)]
        return torch.from_numpy(np.clip((out + 200) / 1400, 0, 1))[None]


class TinyEncoder:
    variables = ("age", "bmi", "prior_fracture")
    feature_names = variables

    def transform(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        x = df[list(self.variables)].astype(float).to_numpy(np.float32)
        obs = np.isfinite(x).astype(np.float32)
        x = np.nan_to_num((x - [70, 25, 0.3]) / [10, 4, 0.5]).astype(np.float32) * obs
        return x, obs


def tiny_parse(df: pd.DataFrame, *, source: str = "clinical.csv") -> pd.DataFrame:
    out = df.copy()
    for c in TinyEncoder.variables:
        if c in out:
            out[c] = pd.to_numeric(out[c].where(out[c] != "", math.nan))
    for _, r in out.iterrows():
        if "age" in r and not (math.isnan(r["age"]) or 18 <= r["age"] <= 110):
            raise ClinicalValueError(f"{source}: subject {r['subject_id']}: column 'age' value "
                                     f"{r['age']} outside 18-110 years")
    return out


class TinyFusion(nn.Module):
    def __init__(self, n_clinical: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv3d(1, 4, 3, padding=1)
        self.head = nn.Linear(4 + 2 * n_clinical, 1)
        self.surv = nn.Linear(4 + 2 * n_clinical, 10)

    def forward(self, images=None, image_present=None, clinical=None, clinical_observed=None):
        b, k = images.shape[:2]
        f = self.conv(images.flatten(0, 1)).relu().mean((2, 3, 4)).view(b, k, -1)
        w = image_present.float().unsqueeze(-1)
        f = (f * w).sum(1) / w.sum(1).clamp(min=1)
        h = torch.cat([f, clinical, clinical_observed], 1)
        return {"fracture": self.head(h).squeeze(1), "survival": self.surv(h)}


def tiny_predictor(*, delay: float = 0.0, missing: str = "indicator", measure=None,
                   measure_columns=()) -> Predictor:
    torch.manual_seed(0)
    prep = StudyPreparer(preprocess=TinyPreprocess(delay), encoder=TinyEncoder(),
                         parse_clinical=tiny_parse, missing=missing, measure=measure)
    return Predictor(name="tiny", checksum="ab" * 32, heads=("fracture", "survival"),
                     preparer=prep, runner=ModelRunner(TinyFusion()),
                     measure_columns=tuple(measure_columns))


def make_nifti_studies(root: Path, n: int, *, seed: int = 0) -> tuple[Path, Path]:
    """``root/studies/P####/image.nii.gz`` (HU volumes) and ``root/clinical.csv``."""
    from bonenet.io import save

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        key = f"P{i:04d}"
        arr = rng.normal(300, 200, (20, 18, 18)).astype(np.float32)
        vol = Volume(arr, spacing=(0.5, 0.5, 0.5), units="HU", modality="CT")
        save(vol, root / "studies" / key / "image.nii.gz")
        rows.append({"subject_id": key, "age": int(rng.integers(50, 90)),
                     "bmi": round(float(rng.normal(25, 3)), 1), "prior_fracture": int(rng.integers(0, 2))})
    pd.DataFrame(rows).to_csv(root / "clinical.csv", index=False)
    return root / "studies", root / "clinical.csv"

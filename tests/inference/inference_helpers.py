"""A tiny fusion model, preprocessing and clinical encoder for inference tests, plus study
fixtures (NIfTI and DICOM) written by the tests themselves."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from bonenet.data import Preprocess, StudyInput
from bonenet.inference import Predictor
from bonenet.inference._prepare import StudyPreparer
from bonenet.inference._runner import ModelRunner
from bonenet.volume import Volume

ROI = 16


class SlowPreprocess(Preprocess):
    """bonenet's real Preprocess (centre crop/pad to ROI³, window [-200, 1200] HU → [0, 1]) that
    also waits ``delay`` seconds per study, to keep studies in flight in kill tests."""

    def __init__(self, delay: float = 0.0) -> None:
        super().__init__(3, None, (ROI, ROI, ROI), (-200.0, 1200.0), None, "unit", "center")
        self.delay = delay

    def apply_numpy(self, volume, *, mask=None, source=None):
        if self.delay:
            time.sleep(self.delay)
        return super().apply_numpy(volume, mask=mask, source=source)


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


def real_encoder():
    """bonenet.clinical's encoder over three variables, fitted on a fixed table."""
    from bonenet.clinical import ClinicalEncoder

    fit = pd.DataFrame({"age": [60, 70, 80], "bmi": [22.0, 25.0, 28.0], "prior_fracture": [0, 1, 0]})
    return ClinicalEncoder(["age", "bmi", "prior_fracture"]).fit(fit)


def tiny_predictor(*, delay: float = 0.0, missing: str = "indicator", measure=None,
                   measure_columns=()) -> Predictor:
    """A small real FusionModel behind bonenet's real Preprocess, parser and encoder."""
    from bonenet.models import build_fusion_model

    torch.manual_seed(0)
    spec = StudyInput(preprocess=SlowPreprocess(delay), encoder=real_encoder())
    prep = StudyPreparer(input=spec, missing=missing, measure=measure)
    net = build_fusion_model(backbone="trabecular_cnn", spatial_dims=3,
                             clinical_features=spec.encoder.n_features,
                             heads=("fracture", "survival"), hidden=8)
    return Predictor(name="tiny", checksum="ab" * 32, heads=("fracture", "survival"),
                     preparer=prep, runner=ModelRunner(net), measure_columns=tuple(measure_columns))


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


def has_dicom_io() -> bool:
    """True once bonenet.io reads and writes DICOM series (the io room has landed)."""
    import bonenet.io

    return hasattr(bonenet.io, "scan")


def write_ct_study(folder: Path, *, seed: int = 0, shape=(20, 18, 18), modality: str = "CT",
                   patient_id: str = "ANON", series_description: str = "bone axial") -> Path:
    """A DICOM series (one file per slice) with a bright cylinder, written by bonenet.io."""
    from bonenet.io import save

    rng = np.random.default_rng(seed)
    arr = rng.normal(0, 30, shape).astype(np.float32)
    yy, xx = np.mgrid[: shape[1], : shape[2]]
    arr[:, (yy - shape[1] / 2) ** 2 + (xx - shape[2] / 2) ** 2 < (shape[1] / 3) ** 2] += 700
    vol = Volume(arr, spacing=(0.6, 0.5, 0.5), units="HU", modality=modality)
    save(vol, folder, format="dicom", modality=modality, patient_id=patient_id,
         series_description=series_description, uid_seed=f"{seed}-{folder.name}")
    return folder


def make_broken_study_set(root: Path, n_good: int = 4) -> tuple[Path, Path, list[str]]:
    """Good DICOM studies plus one each: truncated file, empty folder, MR series, only a
    localizer, impossible clinical value. Returns (studies, clinical.csv, broken keys)."""
    import pydicom

    studies = root / "studies"
    rows = []
    for i in range(n_good):
        write_ct_study(studies / f"GOOD{i}", seed=i, patient_id=f"GOOD{i}")
    write_ct_study(studies / "TRUNCATED", seed=10)
    files = sorted((studies / "TRUNCATED").glob("*.dcm"))
    victim = files[len(files) // 2]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 3])
    (studies / "EMPTY").mkdir(parents=True)
    write_ct_study(studies / "MRSERIES", seed=11, modality="MR", series_description="t1 mr")
    write_ct_study(studies / "LOCALIZER", seed=12, shape=(1, 18, 18), series_description="scout")
    for f in (studies / "LOCALIZER").glob("*.dcm"):
        ds = pydicom.dcmread(f)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
        ds.save_as(f)
    write_ct_study(studies / "BADCLIN", seed=13)
    keys = [f"GOOD{i}" for i in range(n_good)] + ["TRUNCATED", "EMPTY", "MRSERIES", "LOCALIZER",
                                                    "BADCLIN"]
    for k in keys:
        rows.append({"subject_id": k, "age": 250 if k == "BADCLIN" else 70, "bmi": 24.0,
                     "prior_fracture": 0})
    pd.DataFrame(rows).to_csv(root / "clinical.csv", index=False)
    return studies, root / "clinical.csv", ["TRUNCATED", "EMPTY", "MRSERIES", "LOCALIZER", "BADCLIN"]

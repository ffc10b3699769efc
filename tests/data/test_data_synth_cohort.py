"""The data configs on tiny cohorts made by bonenet.synth (the COMMON.md cohort folder)."""

from pathlib import Path

import pytest
import torch
import yaml

synth = pytest.importorskip("bonenet.synth", reason="bonenet.synth not merged yet")

from bonenet.data import BoneDataModule  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "data"


@pytest.mark.parametrize("modality,config,shape", [
    ("hrpqct", "hrpqct", (1, 64, 64, 64)), ("qct", "qct", (1, 32, 64, 64)), ("dxa", "dxa", (1, 64, 64)),
])
def test_configs_fit_a_synthetic_cohort(tmp_path, modality, config, shape):
    cohort = synth.make_cohort(4, modality=modality, seed=1, out=tmp_path / "c", workers=1,
                               show_progress=False)
    args = yaml.safe_load((CONFIGS / f"{config}.yaml").read_text())["data"]["init_args"]
    args |= {"cache_dir": str(tmp_path / "cache"), "num_workers": 0, "batch_size": 4}
    dm = BoneDataModule(str(cohort.out / "manifest.csv"), **args)
    # every FRAX column the cohort writes is recognised, encoded with its missing-value mask
    assert {"age", "sex", "bmi", "fn_bmd", "fn_tscore", "prior_fracture"} <= set(dm.clinical_variables)
    dm.setup()
    held = sum(len(dm.datasets[n]) for n in ("val", "test", "external"))
    assert len(dm.datasets["train"]) + held == len(cohort.manifest)
    batch = next(iter(dm.train_dataloader()))
    assert batch.images.shape[2:] == shape and torch.isfinite(batch.images).all()
    assert float(batch.images.std()) > 0.05  # bone, not padding
    assert batch.clinical.shape == (len(batch), dm.n_clinical_features)
    assert set(batch.targets) >= {"fracture", "time_years", "event"}

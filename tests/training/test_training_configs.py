"""The shipped experiment configs load and run one step (fast_dev_run) on the real
BoneDataModule over a tiny cohort written here (lightning-hydra-template's smoke test)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from bonenet import Volume, io
from bonenet.errors import ConfigError
from bonenet.training.run import train

REPO = Path(__file__).resolve().parents[2]
EXTRA: list[str] = []
EXPERIMENTS = sorted((REPO / "configs" / "experiment").glob("*.yaml"))


def _write_cohort(root: Path, n: int = 24) -> Path:
    rng = np.random.default_rng(0)
    (root / "studies").mkdir(parents=True)
    rows = []
    for i in range(n):
        sid = f"T{i:03d}"
        arr = rng.normal(250.0, 150.0, (36, 36, 36)).astype(np.float32)  # mg HA/cm³
        io.save(Volume(arr, spacing=(0.12, 0.12, 0.12), units="mgHA/cm3", modality="CT"),
                root / "studies" / f"{sid}.nii.gz")
        rows.append({"subject_id": sid, "image": f"studies/{sid}.nii.gz", "site": "A" if i % 2 else "B",
                     "fracture": str(i % 3 == 0), "time_years": f"{rng.uniform(1, 10):.2f}",
                     "event": str(int(i % 3 == 0)), "age": str(int(rng.integers(50, 90))),
                     "sex": "F" if i % 4 else "M", "weight_kg": f"{rng.normal(68, 10):.1f}",
                     "height_cm": f"{rng.normal(162, 7):.1f}", "prior_fracture": str(i % 2),
                     "fn_bmd": f"{rng.normal(0.7, 0.1):.3f}"})
    for r in rows:
        r["fracture"] = "1" if r["fracture"] == "True" else "0"
    path = root / "manifest.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    return _write_cohort(tmp_path_factory.mktemp("cohort"))


def test_there_are_experiment_configs():
    names = {p.stem for p in EXPERIMENTS}
    assert {"hrpqct_fused", "hrpqct_clinical", "hrpqct_image"} <= names


@pytest.mark.parametrize("cfg", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_experiment_config_runs_one_step(cfg, manifest, tmp_path, monkeypatch):
    monkeypatch.setenv("BONENET_PROGRESS", "0")
    torch.set_num_threads(1)
    res = train([cfg], name="smoke", sets=[
        f"data.init_args.manifest={manifest}", f"data.init_args.cache_dir={tmp_path / 'cache'}",
        "data.init_args.batch_size=4", f"trainer.default_root_dir={tmp_path / 'run'}",
        "trainer.fast_dev_run=1", "trainer.enable_progress_bar=false",
    ])
    assert np.isfinite(res.test_metrics["test/loss"])
    assert res.predictions_csv is not None and res.predictions_csv.is_file()


def test_misspelt_key_in_shipped_config_is_named(tmp_path, manifest):
    with pytest.raises(ConfigError, match="max_epoch"):  # no argparse prefix abbreviation
        train([EXPERIMENTS[0]], sets=[f"data.init_args.manifest={manifest}", "trainer.max_epoch=3"])
    bad = tmp_path / "bad.yaml"
    bad.write_text((REPO / "configs/experiment/hrpqct_fused.yaml").read_text()
                   .replace("intensity_window:", "intensity_windw:"))
    with pytest.raises(ConfigError, match="intensity_windw"):
        train([bad], sets=[f"data.init_args.manifest={manifest}"])


def test_kill_and_resume_with_bone_datamodule_is_exact(manifest, tmp_path, monkeypatch):
    """The real DataModule's resumable loader + our RNG restore: no double skip, same weights."""
    monkeypatch.setenv("BONENET_PROGRESS", "0")
    torch.set_num_threads(1)
    cfg = REPO / "configs/experiment/hrpqct_fused.yaml"

    def sets(root):
        return [f"data.init_args.manifest={manifest}", f"data.init_args.cache_dir={tmp_path / 'cache'}",
                "data.init_args.batch_size=4", f"trainer.default_root_dir={root}", "trainer.max_epochs=2",
                "trainer.enable_progress_bar=false", "resume_checkpoint.every_n_train_steps=3",
                "model.warmup_steps=0", *EXTRA]

    full = train([cfg], sets=sets(tmp_path / "full"), test=False)
    steps_per_epoch = torch.load(full.last_checkpoint, weights_only=True)["global_step"] // 2
    assert steps_per_epoch >= 3
    kill = tmp_path / "kill.yaml"
    kill.write_text("trainer:\n  callbacks:\n    - class_path: tiny_dm.KillAtStep\n"
                    f"      init_args: {{step: {steps_per_epoch + 2}}}\n")
    with pytest.raises((SystemExit, KeyboardInterrupt)):
        train([cfg, kill], sets=sets(tmp_path / "killed"), test=False)
    res = train([cfg], sets=sets(tmp_path / "killed"), test=False, resume="last")
    a = torch.load(full.last_checkpoint, weights_only=True)["state_dict"]
    b = torch.load(res.last_checkpoint, weights_only=True)["state_dict"]
    for k in a:
        assert torch.equal(a[k], b[k]), k

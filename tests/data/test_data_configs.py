from pathlib import Path

import numpy as np
import pytest
import yaml
from data_cohort_helpers import write_cohort
from jsonargparse import ActionConfigFile, ArgumentParser

from bonenet import Volume, io
from bonenet.data import BoneDataModule

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "data"


def _args(name: str, tmp_path: Path) -> dict:
    args = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())["data"]["init_args"]
    return args | {"cache_dir": str(tmp_path / "cache"), "num_workers": 0, "batch_size": 2}


def _dxa_cohort(root: Path) -> Path:
    rng = np.random.default_rng(0)
    (root / "studies").mkdir(parents=True)
    rows = ["subject_id,image,fracture,age,sex"]
    for i in range(6):
        a = rng.normal(100, 10, (1, 90, 80)).astype(np.float32)
        a[0, 30:60, 20:50] += 400
        io.save(Volume(a, spacing=(1.0, 0.6, 0.6), units="raw"), root / "studies" / f"d{i}.nii.gz")
        rows.append(f"d{i},studies/d{i}.nii.gz,{i % 2},{60 + i},F")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


@pytest.mark.parametrize("name,units", [("hrpqct", "mgHA/cm3"), ("qct", "HU"), ("clinical_only", "HU")])
def test_3d_configs_build_batches(tmp_path, name, units):
    man = write_cohort(tmp_path / "c", n=8, units=units, shape=(16, 16, 16))
    dm = BoneDataModule(str(man), **_args(name, tmp_path))
    dm.setup()
    batch = next(iter(dm.train_dataloader()))
    if dm.use_images:
        assert batch.images.shape == (2, 1, 1, *dm.preprocess.roi_size)
        assert float(batch.images.min()) >= -0.5  # windowed to [0, 1] then jittered
    else:
        assert batch.images is None
    assert batch.clinical.shape == (2, dm.n_clinical_features)


def test_dxa_config_builds_2d_batches(tmp_path):
    dm = BoneDataModule(str(_dxa_cohort(tmp_path / "c")), **_args("dxa", tmp_path))
    dm.setup()
    batch = next(iter(dm.val_dataloader()))
    assert dm.spatial_dims == 2 and batch.images.shape[2:] == (1, 64, 64)


def test_a_misspelt_config_key_is_named(tmp_path):
    bad = yaml.safe_load((CONFIGS / "hrpqct.yaml").read_text())
    bad["data"]["init_args"]["roi_sise"] = bad["data"]["init_args"].pop("roi_size")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad))
    parser = ArgumentParser(exit_on_error=False)
    parser.add_argument("--config", action=ActionConfigFile)
    parser.add_subclass_arguments(BoneDataModule, "data", required=True)
    from jsonargparse import ArgumentError

    with pytest.raises(ArgumentError, match="roi_sise"):
        parser.parse_args(["--config", str(path), "--data.init_args.manifest", "m.csv"])
    good = parser.parse_args(["--config", str(CONFIGS / "hrpqct.yaml"), "--data.init_args.manifest", "m.csv"])
    assert good.data.init_args.roi_size == [64, 64, 64]


def test_data_config_overrides_an_experiment_config(tmp_path):
    pytest.importorskip("bonenet.training")
    from bonenet.training.cli import build_cli

    experiment = CONFIGS.parent / "experiment" / "hrpqct_fused.yaml"
    if not experiment.is_file():
        pytest.skip("no hrpqct_fused experiment config")
    man = write_cohort(tmp_path / "c", n=8, units="mgHA/cm3")
    cli = build_cli(["--config", str(experiment), "--config", str(CONFIGS / "hrpqct.yaml"),
                     f"--data.init_args.manifest={man}", f"--data.init_args.cache_dir={tmp_path}/cache",
                     f"--trainer.default_root_dir={tmp_path}/run"])
    dm = cli.datamodule
    assert type(dm) is BoneDataModule and dm.manifest == str(man)
    assert dm.units == "mgHA/cm3" and dm.preprocess.units == "mgHA/cm3"
    assert dm.preprocess.roi_size == (64, 64, 64) and dm.test_fraction == 0.15  # the later file wins
    assert cli.model.hparams["clinical_features"] == dm.n_clinical_features > 0  # linked at instantiate

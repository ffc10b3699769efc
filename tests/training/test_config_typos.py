"""Every misspelt config key, at any depth, in a YAML file or a --set, is a ConfigError naming the
key, its close matches and where it came from — before any model or data is built."""

from __future__ import annotations

from pathlib import Path

import pytest

from bonenet.cli import main
from bonenet.errors import ConfigError
from bonenet.training._validate import validate_config
from bonenet.training.run import train

REPO = Path(__file__).resolve().parents[2]
FUSED = REPO / "configs/experiment/hrpqct_fused.yaml"


def _typo(tmp_path: Path, old: str, new: str) -> Path:
    text = FUSED.read_text()
    assert old in text
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace(old, new, 1))
    return bad


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*/*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_config_passes(path):
    validate_config([path])


@pytest.mark.parametrize(("old", "new", "key", "suggestion"), [
    ("model:", "modle:", "'modle'", "'model'"),                                     # top-level section
    ("  fusion: film", "  fusoin: film", "'model.fusoin'", "'fusion'"),             # model key
    ("intensity_window:", "intensity_windw:", "'data.init_args.intensity_windw'", "'intensity_window'"),
    ("  max_epochs: 15", "  max_epoch: 15", "'trainer.max_epoch'", "'max_epochs'"),  # trainer key
    ("rotate_deg: 10.0", "rotate_degs: 10.0", "'data.init_args.augment_options.rotate_degs'", "'rotate_deg'"),
    ("loss_weights: {fracture: 1.0", "loss_weights: {fractures: 1.0", "'model.loss_weights.fractures'",
     "'fracture'"),
    ("  every_n_train_steps: 50", "  every_n_train_step: 50", "'resume_checkpoint.every_n_train_step'",
     "'every_n_train_steps'"),
])
def test_yaml_typo_at_every_depth_names_key_match_and_file(tmp_path, old, new, key, suggestion):
    bad = _typo(tmp_path, old, new)
    with pytest.raises(ConfigError) as e:
        validate_config([FUSED, bad])
    msg = str(e.value)
    assert key in msg and suggestion in msg and str(bad) in msg
    assert "did you mean" in msg


@pytest.mark.parametrize(("item", "key", "suggestion"), [
    ("modell.fusion=concat", "'modell'", "'model'"),
    ("model.fusoin=concat", "'model.fusoin'", "'fusion'"),
    ("data.init_args.intensity_windw=[0,1]", "'data.init_args.intensity_windw'", "'intensity_window'"),
    ("data.batch_sise=4", "'data.batch_sise'", "'batch_size'"),
    ("trainer.max_epoch=3", "'trainer.max_epoch'", "'max_epochs'"),
    ("data.init_args.augment_options.nosie_std=0.1", "'data.init_args.augment_options.nosie_std'", "'noise_std'"),
    ("data.init_args.load_options.allow_gap=true", "'data.init_args.load_options.allow_gap'", "'allow_gaps'"),
    ("early_stopping.windw=3", "'early_stopping.windw'", "'window'"),
    ("checkpoint.monitr=val/auroc", "'checkpoint.monitr'", "'monitor'"),
])
def test_set_typo_at_every_depth_names_key_match_and_the_set(item, key, suggestion):
    with pytest.raises(ConfigError) as e:
        validate_config([FUSED], [item])
    msg = str(e.value)
    assert key in msg and suggestion in msg and f"--set {item}" in msg


def test_callback_init_args_and_unmatched_keys(tmp_path):
    cb = tmp_path / "cb.yaml"
    cb.write_text("trainer:\n  callbacks:\n    - class_path: lightning.pytorch.callbacks.EarlyStopping\n"
                  "      init_args: {monitor: val/loss, patiense: 3}\n")
    with pytest.raises(ConfigError, match=r"trainer\.callbacks\[0\]\.init_args\.patiense.*'patience'"):
        validate_config([cb])
    with pytest.raises(ConfigError, match=r"'model\.zzzz' \(no close match\)"):
        validate_config([FUSED], ["model.zzzz=1"])
    validate_config([FUSED], ["data.init_args.manifest=x.csv", "model.fusion=concat", "seed=3",
                              "trainer.max_epochs=2", "early_stopping.window=3",
                              "trainer.callbacks+=lightning.pytorch.callbacks.RichModelSummary"])


def test_train_and_cli_refuse_before_building_anything(tmp_path, capsys):
    # the manifest does not exist: the typo is reported first, so nothing was read or built
    sets = [f"data.init_args.manifest={tmp_path / 'none.csv'}", "model.fusoin=concat"]
    with pytest.raises(ConfigError, match=r"fusoin.*'fusion'"):
        train([FUSED], sets=sets)
    bad = _typo(tmp_path, "intensity_window:", "intensity_windw:")
    assert main(["train", "--config", str(bad), "--set", f"data.init_args.manifest={tmp_path / 'none.csv'}"]) == 2
    err = capsys.readouterr().err
    assert "intensity_windw" in err and "intensity_window" in err and str(bad) in err
    assert "Expected a NoneType" not in err


def test_undeclared_nifti_units_fail_before_training_naming_the_declaration(tmp_path):
    import csv
    import subprocess
    import sys

    from bonenet.errors import BoneNetError

    subprocess.run([sys.executable, str(REPO / "scripts/make_user_cohort.py"), "--n", "12", "--out",
                    str(tmp_path / "c")], check=True, capture_output=True)
    rows = list(csv.DictReader(open(tmp_path / "c/manifest.csv", encoding="utf-8")))
    for r in rows:
        r.pop("units")
    with open(tmp_path / "c/no_units.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(BoneNetError, match=r"does not record its units.*data\.init_args\.units") as e:
        train([FUSED], sets=[f"data.init_args.manifest={tmp_path / 'c/no_units.csv'}", "data.init_args.units=null",
                             f"trainer.default_root_dir={tmp_path / 'run'}", "trainer.enable_progress_bar=false"])
    assert "no_units.csv" in str(e.value)
    assert not (tmp_path / "run/checkpoints").exists()  # refused before the first training step

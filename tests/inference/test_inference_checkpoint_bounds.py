"""Crafted weights-only checkpoints: absurd sizes, unknown heads and settings that do not
match the weights are a CheckpointError before any network is built (no gigabytes allocated)."""

from __future__ import annotations

import pytest
import torch

from bonenet.cli import main
from bonenet.errors import CheckpointError
from bonenet.inference import load_predictor
from bonenet.inference._checkpoint import validate_checkpoint
from bonenet.models import build_fusion_model

CFG = {"backbone": "trabecular_cnn", "spatial_dims": 3, "in_channels": 1, "clinical_features": 3,
       "backbone_kwargs": None, "fusion": "concat", "heads": ["fracture"], "n_intervals": 10,
       "hidden": 16, "dropout": 0.1, "ensemble": 1}


def _write(path, cfg, *, weights_cfg=None):
    torch.manual_seed(0)
    net = build_fusion_model(**(weights_cfg or cfg))
    ckpt = {"state_dict": {f"network.{k}": v for k, v in net.state_dict().items()},
            "hyper_parameters": dict(cfg), "bonenet": {"network": dict(cfg)}, "epoch": 1}
    torch.save(ckpt, path)
    return path


def test_a_genuine_configuration_passes(tmp_path):
    validate_checkpoint(_write(tmp_path / "ok.ckpt", CFG))


@pytest.mark.parametrize(("change", "match"), [
    ({"hidden": 10_000_000}, r"hidden = 10000000 is outside 1\.\.8192"),
    ({"heads": ["fracture", "pwned"]}, "unknown head"),
    ({"fusion": "exec"}, "unknown fusion"),
    ({"backbone": "os.system"}, "unknown backbone"),
    ({"ensemble": 10**6}, "ensemble"),
    ({"backbone_kwargs": {"channels": [10**9]}}, "out of range"),
    ({"pretrained": "/etc/passwd"}, "unknown network setting"),
    ({"hidden": 4096}, "do not match its weights"),  # within bounds, but not these weights
])
def test_crafted_settings_are_refused_before_building(tmp_path, change, match):
    bad = _write(tmp_path / "bad.ckpt", {**CFG, **change}, weights_cfg=CFG)
    with pytest.raises(CheckpointError, match=match):
        validate_checkpoint(bad)
    with pytest.raises(CheckpointError, match=match):
        load_predictor(bad)


def test_cli_reports_a_crafted_checkpoint_without_a_traceback(tmp_path, capsys):
    bad = _write(tmp_path / "bad.ckpt", {**CFG, "hidden": 10_000_000}, weights_cfg=CFG)
    assert main(["export", str(bad), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "hidden" in err and "bad.ckpt" in err
    (tmp_path / "studies").mkdir()
    assert main(["predict", "--checkpoint", str(bad), "--studies", str(tmp_path / "studies"),
                 "--keep-ids", "--out", str(tmp_path / "p")]) == 2
    assert "outside" in capsys.readouterr().err

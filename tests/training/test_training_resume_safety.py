"""`bonenet train --resume` never unpickles code: the checkpoint is read weights-only before
Lightning sees it, even with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from bonenet.errors import CheckpointError
from bonenet.training.run import train


class _Payload:
    """Unpickling this creates ``marker``: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _config(tmp: Path) -> Path:
    cfg = {
        "seed": 7,
        "data": {"class_path": "tiny_dm.TinyDataModule", "init_args": {"n": 40, "batch_size": 8}},
        "model": {"backbone": "trabecular_cnn", "fusion": "concat", "heads": ["fracture"]},
        "trainer": {"max_epochs": 1, "default_root_dir": str(tmp / "run"),
                    "enable_model_summary": False, "enable_progress_bar": False},
    }
    p = tmp / "run.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_resume_refuses_a_pickled_checkpoint_even_when_torch_is_told_not_to(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    monkeypatch.setenv("BONENET_PROGRESS", "0")
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "epoch": 0, "global_step": 0, "x": _Payload(marker)}, evil)
    with pytest.raises(CheckpointError, match=r"evil\.ckpt.*weights_only=True"):
        train([_config(tmp_path)], resume=str(evil), test=False)
    assert not marker.exists()


def test_safe_resume_arguments_ask_lightning_for_weights_only(tmp_path):
    from bonenet.training.resume import safe_resume_kwargs

    ok = tmp_path / "ok.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 1}, ok)
    assert safe_resume_kwargs(ok) == {"weights_only": True}

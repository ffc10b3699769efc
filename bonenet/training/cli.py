"""LightningCLI wiring for ``bonenet train`` and ``scripts/train.py``.

Config layout (YAML, ``configs/experiment/*.yaml``)::

    seed: 0                      # the one seed (weights, splits, shuffling, dropout)
    data:                        # any LightningDataModule; normally bonenet.data.BoneDataModule
      class_path: bonenet.data.BoneDataModule
      init_args: {manifest: ..., roi_size: [64, 64, 64], ...}
    model:                       # FractureRiskModule arguments (network + loss + optimiser)
      backbone: trabecular_cnn
      fusion: film
    trainer: {max_epochs: 20}    # lightning.Trainer arguments
    checkpoint: {...}            # best.ckpt (ModelCheckpoint, monitor val/auroc_smooth)
    early_stopping: {window: 5, patience: 10}      # moving average of val/auroc; stop when flat
    resume_checkpoint: {every_n_train_steps: 50}   # last.ckpt every N steps and each epoch (exact resume)

``model.clinical_features``, ``model.spatial_dims`` and ``model.in_channels`` are linked from
the DataModule (``n_clinical_features``, ``spatial_dims``, ``in_channels``) and must not be set.
A misspelt key at any depth is a ConfigError naming it, its close matches and its file
(:func:`bonenet.training._validate.validate_config`, run by :func:`bonenet.training.train`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from lightning.pytorch import LightningDataModule, Trainer, seed_everything
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

from ..errors import ConfigError
from .module import FractureRiskModule
from .resume import ExactResume, LastCheckpoint
from .smoothing import SmoothedEarlyStopping

__all__ = ["BoneNetCLI", "build_cli"]


def _n_clinical(dm: Any) -> int:
    if not getattr(dm, "use_clinical", True):
        return 0
    return int(getattr(dm, "n_clinical_features", 0) or 0)


class BoneNetCLI(LightningCLI):
    """LightningCLI with bonenet's links, checkpoints, loggers, device and precision defaults."""

    def add_default_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument("--seed", type=int, default=0,
                            help="The one seed: weights, data splits and order, dropout.")

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("data", "model.clinical_features", compute_fn=_n_clinical,
                              apply_on="instantiate")
        parser.link_arguments("data", "model.spatial_dims",
                              compute_fn=lambda dm: int(getattr(dm, "spatial_dims", 3)), apply_on="instantiate")
        parser.link_arguments("data", "model.in_channels",
                              compute_fn=lambda dm: int(getattr(dm, "in_channels", 1)), apply_on="instantiate")
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.add_lightning_class_args(SmoothedEarlyStopping, "early_stopping")
        parser.set_defaults({
            "checkpoint.monitor": "val/auroc_smooth", "checkpoint.mode": "max", "checkpoint.filename": "best",
            "checkpoint.save_top_k": 1, "checkpoint.save_last": False, "checkpoint.auto_insert_metric_name": False,
        })
        parser.add_lightning_class_args(LastCheckpoint, "resume_checkpoint")
        parser.add_argument("--device", type=str, default="auto",
                            help="auto (CUDA if present, else CPU), cpu, cuda, cuda:N")

    def _set_seed(self) -> None:  # one `seed` key instead of Lightning's seed_everything
        seed = int(self._get(self.config, "seed"))
        seed_everything(seed, workers=True)
        data = self._get(self.config, "data")
        init = getattr(data, "init_args", None)
        if init is not None and "seed" in init:
            init["seed"] = seed

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        from ..device import select_device

        cfg = self._get(self.config_init, "trainer", default={})
        device = select_device(self._get(self.config_init, "device"))
        cuda = device.startswith("cuda")
        if cfg.get("accelerator") in (None, "auto"):
            kwargs["accelerator"] = "gpu" if cuda else ("mps" if device == "mps" else "cpu")
            if cuda and ":" in device and cfg.get("devices") in (None, "auto"):
                kwargs["devices"] = [int(device.split(":")[1])]
        if cfg.get("precision") is None:
            kwargs["precision"] = "16-mixed" if cuda else "32-true"
        if cfg.get("deterministic") is None and not cuda:
            kwargs["deterministic"] = True
        root = cfg.get("default_root_dir") or os.getcwd()
        if cfg.get("logger") in (None, True):
            from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

            kwargs["logger"] = [TensorBoardLogger(root, name="tensorboard", version=""),
                                CSVLogger(root, name="csv", version="")]
        for key in ("checkpoint", "resume_checkpoint"):
            ckpt = self._get(self.config_init, key)
            if ckpt.dirpath is None:
                ckpt.dirpath = os.path.join(root, "checkpoints")
        user_cbs = cfg.get("callbacks") or []
        if not isinstance(user_cbs, list):
            user_cbs = [user_cbs]
        # ExactResume first: it restores the RNG states before any other callback draws from them
        kwargs["callbacks"] = [ExactResume(), *user_cbs, LearningRateMonitor(logging_interval="step")]
        return super().instantiate_trainer(**kwargs)


def build_cli(args: Sequence[str], *, run: bool = False) -> BoneNetCLI:
    """Parse ``args`` (e.g. ``["--config", "exp.yaml", "--trainer.max_epochs=3"]``) and instantiate.

    Raises
    ------
    ConfigError
        Unknown or misspelt keys, wrong types, missing required values (message names the key).
    """
    import warnings

    from jsonargparse import ArgumentError

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*LightningCLI's args parameter is intended.*")
            return BoneNetCLI(
                FractureRiskModule,
                LightningDataModule,
                subclass_mode_data=True,
                args=list(args),
                run=run,
                save_config_kwargs={"overwrite": True},
                parser_kwargs={"exit_on_error": False, "default_env": False, "allow_abbrev": False},
                auto_configure_optimizers=False,
            )
    except ArgumentError as exc:
        raise ConfigError(f"invalid training config: {exc}") from exc

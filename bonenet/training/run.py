"""``train(...)``: fit, test and write test predictions from config files (what ``bonenet
train`` and ``scripts/train.py`` call)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CheckpointError, ConfigError

__all__ = ["TrainResult", "train"]

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a training run produced."""

    root: Path
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    test_metrics: dict[str, float] = field(default_factory=dict)
    predictions_csv: Path | None = None
    seconds: float = 0.0
    yardstick: Any = None
    yardstick_json: Path | None = None


def _overrides(sets: Sequence[str]) -> list[str]:
    out = []
    for s in sets:
        if "=" not in s:
            raise ConfigError(f"--set {s!r}: expected KEY=VALUE, e.g. --set trainer.max_epochs=5")
        out.append(f"--{s}")
    return out


def train(
    configs: Sequence[str | Path],
    *,
    sets: Sequence[str] = (),
    resume: str | None = None,
    test: bool = True,
    name: str | None = None,
    device: str | None = None,
    yardstick: bool = True,
) -> TrainResult:
    """Train from YAML configs (later files and ``sets`` override earlier ones).

    Parameters
    ----------
    configs : sequence of path
        LightningCLI YAML files (``configs/experiment/*.yaml``).
    sets : sequence of str
        ``KEY=VALUE`` overrides, e.g. ``trainer.max_epochs=5`` or ``model.fusion=gated``.
    resume : str, optional
        ``"last"`` (the run folder's ``checkpoints/last.ckpt``) or a checkpoint path.
    test : bool
        After fitting, evaluate the best checkpoint on the test split and write
        ``predictions_test.csv`` (``subject_id``, outcomes, and the columns of
        :func:`bonenet.models.head_column`: ``p_<name>``, ``risk10y_<name>``...).
    name : str, optional
        Model name in the predictions columns (default what the model looks at: ``fused``,
        ``clinical`` or ``image`` — the same default as ``bonenet predict``).
    device : str, optional
        ``auto``/``cpu``/``cuda``/``cuda:N`` (default auto: CUDA if present).
    yardstick : bool
        After fitting, compare the model's validation (and, with ``test``, test) AUROC with a
        logistic regression on the same clinical variables and split, with bootstrap intervals
        (:mod:`bonenet.training.yardstick`): ``<run>/yardstick.json``, ``result.yardstick``,
        and logged warnings when the selected epoch is the first or the validation AUROC is
        within its bootstrap noise of (or below) the regression.
    """
    from ._validate import validate_config
    from .cli import build_cli

    for c in configs:
        if not Path(c).is_file():
            raise ConfigError(f"config file {str(c)!r} does not exist")
    overrides = _overrides(sets)  # KEY=VALUE form first, then every key against the schema
    validate_config(configs, sets)
    args: list[str] = []
    for c in configs:
        args += ["--config", str(c)]
    args += overrides
    if device:
        args += ["--device", device]
    cli = build_cli(args)
    trainer, model, dm = cli.trainer, cli.model, cli.datamodule
    root = Path(trainer.default_root_dir)
    ckpt_cb = cli.config_init["resume_checkpoint"]
    ckpt_path = None
    safe_load: dict[str, Any] = {}
    if resume:
        ckpt_path = Path(ckpt_cb.dirpath) / "last.ckpt" if resume == "last" else Path(resume)
        if not ckpt_path.is_file():
            raise CheckpointError(f"cannot resume: checkpoint {str(ckpt_path)!r} does not exist")
        # refuse pickled code before Lightning opens the file, and have Lightning load it
        # weights-only too (issue 17 item 5)
        from .resume import safe_resume_kwargs

        safe_load = safe_resume_kwargs(ckpt_path)
    t0 = time.perf_counter()
    trainer.fit(model, datamodule=dm, ckpt_path=None if ckpt_path is None else str(ckpt_path),
                **safe_load)
    seconds = time.perf_counter() - t0
    best_cb = cli.config_init["checkpoint"]
    best = Path(best_cb.best_model_path) if best_cb.best_model_path else None
    last = Path(ckpt_cb.dirpath) / "last.ckpt"
    result = TrainResult(root=root, best_checkpoint=best, last_checkpoint=last if last.is_file() else None,
                         seconds=seconds)
    test_preds = None
    label = "model"
    if test and getattr(trainer, "interrupted", False) is False and _has_loader(dm, "test_dataloader"):
        which = str(best) if best is not None else None
        metrics = trainer.test(model, datamodule=dm, ckpt_path=which, verbose=True, weights_only=True)
        result.test_metrics = {k: float(v) for k, v in (metrics[0] if metrics else {}).items()}
        if trainer.world_size == 1 and _has_loader(dm, "predict_dataloader"):
            preds = trainer.predict(model, datamodule=dm, ckpt_path=which, weights_only=True)
            from ..models import model_name

            label = name or model_name(model.network_config(), dm.state_dict() if dm is not None else None)
            result.predictions_csv = write_predictions(preds or [], root / "predictions_test.csv", label)
            if getattr(dm, "predict_manifest", None) is None:  # the test split: reuse for the yardstick
                test_preds = preds or []
    if yardstick and getattr(trainer, "interrupted", False) is False and trainer.world_size == 1:
        _write_yardstick(result, trainer, model, dm, best=best, test=test, test_preds=test_preds,
                         label=name or label)
    return result


def _write_yardstick(result: TrainResult, trainer: Any, model: Any, dm: Any, *, best: Path | None, test: bool,
                     test_preds: list[dict[str, Any]] | None, label: str) -> None:
    import json

    from .._atomic import write_text_atomic
    from .yardstick import format_yardstick, run_yardstick

    if dm is not None and not test and isinstance(getattr(dm, "datasets", None), dict):
        dm = _NoTest(dm)
    ys = run_yardstick(trainer, model, dm, best=best, label=label, test_preds=test_preds)
    result.yardstick = ys
    result.yardstick_json = write_text_atomic(result.root / "yardstick.json",
                                              json.dumps(ys.to_dict(), indent=2) + "\n")
    for w in ys.warnings:
        log.warning("%s", w)
    log.info("%s", format_yardstick(ys))


class _NoTest:
    """A view of a DataModule without its test split (``test=False`` must not look at it)."""

    def __init__(self, dm: Any) -> None:
        self._dm = dm
        self.datasets = {k: v for k, v in dm.datasets.items() if k != "test"}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._dm, name)


def _has_loader(dm: Any, hook: str) -> bool:
    import lightning.pytorch as pl

    fn = getattr(type(dm), hook, None)
    return fn is not None and fn is not getattr(pl.LightningDataModule, hook)


def write_predictions(preds: list[dict[str, Any]], path: Path, label: str) -> Path:
    """Write predict_step outputs as a predictions CSV, atomically: ``subject_id``, the
    outcomes, and one column per head named by :func:`bonenet.models.head_column` — the schema
    of ``bonenet predict``."""
    import pandas as pd

    from .._atomic import atomic_path, csv_safe_frame
    from ..models import head_column

    rows: list[dict[str, Any]] = []
    for p in preds:
        n = len(p["subject_ids"])
        for i in range(n):
            row: dict[str, Any] = {"subject_id": p["subject_ids"][i]}
            for k, v in p["targets"].items():
                val = v[i].item()
                row[k] = val
            for head in ("fracture", "survival", "bmd_change"):
                if head in p:
                    row[head_column(head, label)] = float(p[head][i])
            rows.append(row)
    df = pd.DataFrame(rows)
    if "event" in df:
        df["event"] = df["event"].astype("Int64").where(df["event"] >= 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        csv_safe_frame(df).to_csv(tmp, index=False)
    return path

"""Distributed prediction through Lightning's ``Trainer.predict`` (DDP, several GPUs or nodes).

Each rank decodes and predicts its share of the studies (Lightning's unrepeated distributed
sampler for prediction), appends rows to its own shard (``OUT/.shards/predictions.rank<r>.csv``,
row-atomic like the single-process writer), and after a barrier rank 0 merges the shards into
``predictions.csv`` / ``errors.csv``, dropping duplicates. A killed distributed run resumes
from the merged files plus any shards left behind.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from .._research import describe_categories
from ._loop import (
    ERROR_COLUMNS,
    PredictSummary,
    _error_row,
    _write_summary,
    make_loader,
    output_columns,
    prepare_output,
    rows_for_batch,
)
from ._prepare import StudyDataset
from ._pseudo import Pseudonymizer
from ._runner import RISK_THRESHOLDS, Predictor, StudyBatch
from ._studies import Study
from ._writer import ResumableCSV, merge_shards

__all__ = ["predict_studies_ddp"]


class _PredictModule(L.LightningModule):
    def __init__(self, predictor: Predictor) -> None:
        super().__init__()
        self.predictor = predictor
        self.network = predictor.runner.network  # registered so Lightning places it

    def transfer_batch_to_device(self, batch: StudyBatch, device: torch.device,
                                 dataloader_idx: int) -> StudyBatch:
        return batch  # the runner moves tensors itself

    def predict_step(self, batch: StudyBatch, batch_idx: int) -> dict[str, Any]:
        self.predictor.runner.device = str(self.device)
        risks = self.predictor.runner(batch) if len(batch) else {}
        return risks


class _ShardWriter(BasePredictionWriter):
    def __init__(self, preds: ResumableCSV, errors: ResumableCSV, predictor: Predictor,
                 thresholds: Sequence[float]) -> None:
        super().__init__(write_interval="batch")
        self.preds, self.errors, self.predictor = preds, errors, predictor
        self.thresholds = thresholds
        self.n_ok = self.n_fail = 0

    def write_on_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           prediction: Any, batch_indices: Sequence[int] | None,
                           batch: StudyBatch, batch_idx: int, dataloader_idx: int) -> None:
        for row in rows_for_batch(batch, prediction, self.predictor, thresholds=self.thresholds):
            self.preds.append(row)
            self.n_ok += 1
        for f in batch.failed:
            self.errors.append(_error_row(f, self.predictor))
            self.n_fail += 1


def predict_studies_ddp(studies: Sequence[Study], predictor: Predictor,
                        out: str | os.PathLike[str], *, pseudonymizer: Pseudonymizer,
                        devices: int | str = "auto", num_nodes: int = 1,
                        accelerator: str = "auto", strategy: str = "ddp", batch_size: int = 8,
                        num_workers: int = 2, retry_errors: bool = False,
                        thresholds: Sequence[float] = RISK_THRESHOLDS) -> PredictSummary | None:
    """Predict with Lightning DDP; same outputs as :func:`predict_studies`.

    Run it from a script or the ``bonenet predict --devices N`` command (Lightning relaunches
    the command once per device), or under ``torchrun``/SLURM (Lightning reads the cluster
    environment). Returns the summary on rank 0 and ``None`` on the other ranks.
    """
    out = Path(out)
    t0 = time.perf_counter()
    trainer = L.Trainer(accelerator=accelerator, devices=devices, num_nodes=num_nodes,
                        strategy=strategy, logger=False, enable_checkpointing=False,
                        enable_model_summary=False, use_distributed_sampler=True,
                        enable_progress_bar=os.environ.get("BONENET_PROGRESS", "1") != "0",
                        inference_mode=True)
    rank = trainer.global_rank
    # Lightning launches the other processes inside Trainer.predict (subprocess launcher), so
    # every rank opens its own shard here, after the Trainer knows its rank.
    preds, errors, todo, skip = prepare_output(out, predictor, studies, pseudonymizer,
                                               retry_errors=retry_errors,
                                               suffix=f".rank{rank}")
    columns = output_columns(predictor, studies)
    writer = _ShardWriter(preds, errors, predictor, thresholds)
    trainer.callbacks.append(writer)
    loader = make_loader(StudyDataset(todo, predictor.preparer, pseudonymizer),
                         num_workers=num_workers, batch_size=batch_size)
    trainer.predict(_PredictModule(predictor), dataloaders=loader, return_predictions=False)
    counts = torch.tensor([writer.n_ok, writer.n_fail], dtype=torch.long)
    counts = trainer.strategy.reduce(counts, reduce_op="sum") if trainer.world_size > 1 else counts
    trainer.strategy.barrier("bonenet-predict-merge")
    if not trainer.is_global_zero:
        return None
    shard_dir = out / ".shards"
    merge_shards(out / "predictions.csv", sorted(shard_dir.glob("predictions*.csv")),
                 columns=columns)
    merge_shards(out / "errors.csv", sorted(shard_dir.glob("errors*.csv")), columns=ERROR_COLUMNS)
    if shard_dir.exists() and not any(shard_dir.iterdir()):
        shard_dir.rmdir()
    summary = PredictSummary(out, len(studies), len(skip & {pseudonymizer(s.key) for s in studies}),
                             int(counts[0]), int(counts[1]), time.perf_counter() - t0,
                             extra={"world_size": trainer.world_size,
                                    "risk_categories": describe_categories(thresholds)})
    _write_summary(out, summary)
    return summary

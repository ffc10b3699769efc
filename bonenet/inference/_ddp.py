"""Distributed prediction through Lightning's ``Trainer.predict`` (DDP, several GPUs or nodes).

Each rank decodes and predicts its share of the studies (every ``world_size``-th study from
its rank on, decoded by a :class:`bonenet._pool.RobustPool` that survives a killed worker),
appends rows to its own shard (``OUT/.shards/predictions.rank<r>.csv``,
row-atomic like the single-process writer), and after a barrier rank 0 merges the shards into
``predictions.csv`` / ``errors.csv``, dropping duplicates. A killed distributed run resumes
from the merged files plus any shards left behind.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter

from .._atomic import output_lock
from .._pseudo import Pseudonymizer
from .._research import describe_categories
from .._writer import ResumableCSV, merge_shards
from ..data import Batch, Sample
from ._loop import (
    ERROR_COLUMNS,
    PredictSummary,
    _error_row,
    _identity,
    _write_summary,
    clinical_match_summary,
    decode_studies,
    output_columns,
    prepare_output,
    rows_for_batch,
)
from ._prepare import StudyDataset
from ._runner import RISK_THRESHOLDS, Predictor, collate_studies
from ._studies import Study

__all__ = ["predict_studies_ddp"]


class _PredictModule(L.LightningModule):
    def __init__(self, predictor: Predictor) -> None:
        super().__init__()
        self.predictor = predictor
        self.network = predictor.runner.network  # registered so Lightning places it

    def transfer_batch_to_device(self, batch: Batch, device: torch.device,
                                 dataloader_idx: int) -> Batch:
        return batch  # the runner moves tensors itself

    def predict_step(self, batch: Batch, batch_idx: int) -> dict[str, Any]:
        self.predictor.runner.device = str(self.device)
        risks = self.predictor.runner(batch) if len(batch) else {}
        return risks


class _DecodedBatches(torch.utils.data.IterableDataset):
    """Collated :class:`bonenet.data.Batch` es of one rank's studies, decoded by
    :func:`~bonenet.inference._loop.decode_studies` (a RobustPool when ``num_workers > 0``)."""

    def __init__(self, dataset: StudyDataset, studies: Sequence[Study], pseudonymizer: Pseudonymizer,
                 *, num_workers: int, batch_size: int) -> None:
        self.dataset, self.studies, self.pseudo = dataset, list(studies), pseudonymizer
        self.num_workers, self.batch_size = num_workers, max(1, batch_size)

    def __iter__(self) -> Any:
        pending: list[Any] = []
        for item in decode_studies(self.dataset, self.studies, self.pseudo,
                                   num_workers=self.num_workers):
            pending.append(item)
            if sum(isinstance(p, Sample) for p in pending) >= self.batch_size:
                yield collate_studies(pending)
                pending = []
        if pending:
            yield collate_studies(pending)


class _ShardWriter(BasePredictionWriter):
    def __init__(self, preds: ResumableCSV, errors: ResumableCSV, predictor: Predictor,
                 thresholds: Sequence[float]) -> None:
        super().__init__(write_interval="batch")
        self.preds, self.errors, self.predictor = preds, errors, predictor
        self.thresholds = thresholds
        self.n_ok = self.n_fail = 0

    def write_on_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           prediction: Any, batch_indices: Sequence[int] | None,
                           batch: Batch, batch_idx: int, dataloader_idx: int) -> None:
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
                        thresholds: Sequence[float] = RISK_THRESHOLDS,
                        wait_lock: bool = False) -> PredictSummary | None:
    """Predict with Lightning DDP; same outputs as :func:`predict_studies`.

    Run it from a script or the ``bonenet predict --devices N`` command (Lightning relaunches
    the command once per device), or under ``torchrun``/SLURM (Lightning reads the cluster
    environment). Returns the summary on rank 0 and ``None`` on the other ranks. Rank 0 holds
    the lock on ``out`` (``out/.lock``) for the whole run; ``wait_lock`` waits for another run
    that holds it instead of raising :class:`~bonenet.errors.OutputLockedError`.
    """
    out = Path(out)
    t0 = time.perf_counter()
    trainer = L.Trainer(accelerator=accelerator, devices=devices, num_nodes=num_nodes,
                        strategy=strategy, logger=False, enable_checkpointing=False,
                        enable_model_summary=False, use_distributed_sampler=True,
                        enable_progress_bar=os.environ.get("BONENET_PROGRESS", "1") != "0",
                        inference_mode=True)
    rank = trainer.global_rank
    with contextlib.ExitStack() as stack:
        if rank == 0:
            stack.enter_context(output_lock(out, wait=wait_lock, command="bonenet predict"))
        return _run_ddp(trainer, studies, predictor, out, pseudonymizer=pseudonymizer,
                        batch_size=batch_size, num_workers=num_workers,
                        retry_errors=retry_errors, thresholds=thresholds, t0=t0)


def _run_ddp(trainer: L.Trainer, studies: Sequence[Study], predictor: Predictor, out: Path, *,
             pseudonymizer: Pseudonymizer, batch_size: int, num_workers: int,
             retry_errors: bool, thresholds: Sequence[float], t0: float) -> PredictSummary | None:
    rank = trainer.global_rank
    # Lightning launches the other processes inside Trainer.predict (subprocess launcher), so
    # every rank opens its own shard here, after the Trainer knows its rank.
    predictor.preparer.check_studies(studies)  # a table without a required declared column
    preds, errors, todo, skip = prepare_output(out, predictor, studies, pseudonymizer,
                                               retry_errors=retry_errors,
                                               suffix=f".rank{rank}")
    columns = output_columns(predictor, studies)
    writer = _ShardWriter(preds, errors, predictor, thresholds)
    trainer.callbacks.append(writer)
    # this rank's share, decoded by a RobustPool: a killed decoding worker fails its study
    # (errors.csv) instead of aborting the rank, and workers die with the rank
    share = list(todo)[rank::max(1, trainer.world_size)]
    loader = torch.utils.data.DataLoader(
        _DecodedBatches(StudyDataset(share, predictor.preparer, pseudonymizer), share,
                        pseudonymizer, num_workers=num_workers, batch_size=batch_size),
        batch_size=None, num_workers=0, collate_fn=_identity)
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
                                    **clinical_match_summary(studies, pseudonymizer),
                                    "risk_categories": describe_categories(thresholds)})
    _write_summary(out, summary)
    return summary

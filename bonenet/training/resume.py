"""Exact mid-epoch resume: a callback that records the batch position and RNG states in every
checkpoint and, on resume, skips the consumed part of the epoch and restores the RNGs.

Lightning restores weights, optimiser, scheduler and loop counters from a mid-epoch
checkpoint but (with a plain ``DataLoader``) restarts the epoch's data from its first batch and
does not restore random-number generators. :class:`ExactResume` closes both gaps when the
training loader's sampler is deterministic per epoch (its order a pure function of
``(seed, epoch)``, or no shuffling). A loader that is itself resumable (``state_dict`` /
``load_state_dict``, like the ``BoneDataModule``'s ``ResumableLoader``) is left to Lightning,
which restores its position; the RNG states are restored either way: a run killed at step k and resumed from the checkpoint sees the same
batches and the same dropout masks as an uninterrupted run. Data-augmentation randomness
drawn inside DataLoader worker processes is outside this guarantee unless it is seeded per
(seed, epoch, index).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

__all__ = ["ExactResume", "LastCheckpoint"]

log = logging.getLogger(__name__)


class _SkipOnce:
    """Wraps a loader's sampler so that its next pass over ``epoch`` skips the first ``n`` indices,
    then puts the original sampler back. Delegates ``set_epoch``/``__len__``."""

    def __init__(self, owner: Any, inner: Any, *, epoch: int, n: int) -> None:
        self.owner, self.inner, self.epoch, self.n = owner, inner, epoch, n

    def set_epoch(self, epoch: int) -> None:
        if hasattr(self.inner, "set_epoch"):
            self.inner.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.inner)

    def __iter__(self) -> Iterator[int]:
        self.owner.sampler = self.inner  # one pass only
        it = iter(self.inner)
        if int(getattr(self.inner, "epoch", self.epoch)) == self.epoch:
            for _ in range(self.n):
                next(it, None)
        return it


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()  # noqa: NPY002 (the global state is what we save)
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"key": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "python": _to_lists(random.getstate()),
    }


def _to_lists(v: Any) -> Any:
    return [_to_lists(x) for x in v] if isinstance(v, (tuple, list)) else v


def _to_tuples(v: Any) -> Any:
    return tuple(_to_tuples(x) for x in v) if isinstance(v, list) else v


def _set_rng_state(s: dict[str, Any]) -> None:
    torch.set_rng_state(s["torch"])
    n = s["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))  # noqa: NPY002
    random.setstate(_to_tuples(s["python"]))


def _train_loader(trainer: pl.Trainer) -> Any:
    dl = trainer.train_dataloader
    if isinstance(dl, (list, tuple)):
        dl = dl[0] if dl else None
    return dl


def _stateful_loader(trainer: pl.Trainer) -> bool:
    dl = _train_loader(trainer)
    return callable(getattr(dl, "state_dict", None)) and callable(getattr(dl, "load_state_dict", None))


def _batch_sampler(trainer: pl.Trainer) -> Any:
    dl = trainer.train_dataloader
    if isinstance(dl, (list, tuple)):
        dl = dl[0] if dl else None
    bs = getattr(dl, "batch_sampler", None)
    return bs if bs is not None and hasattr(bs, "sampler") else None


class ExactResume(pl.Callback):
    """Record, at every training step, what a mid-epoch checkpoint needs to resume exactly.

    Pair it with a ``ModelCheckpoint(every_n_train_steps=N, save_last=True)``; its state (batch
    position within the epoch and the torch/numpy/python RNG states) rides in that checkpoint
    as plain tensors and numbers (``weights_only=True`` safe).
    """

    def __init__(self) -> None:
        self._trainer: pl.Trainer | None = None
        self._consumed = 0
        self._epoch = 0
        self._batch_size = 0
        self._rng: dict[str, Any] | None = None
        self._pending: dict[str, Any] | None = None
        self._loader_states: list[Any] | None = None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        # Runs before ModelCheckpoint (Lightning orders checkpoint callbacks last).
        self._consumed = batch_idx + 1
        self._epoch = trainer.current_epoch
        dl = trainer.train_dataloader
        self._batch_size = int(getattr(dl, "batch_size", 0) or len(batch))
        self._rng = _rng_state()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._rng = None  # an end-of-epoch checkpoint resumes at a fresh epoch

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def state_dict(self) -> dict[str, Any]:
        t = self._trainer
        if t is not None and not t.training:
            # saved at validation end (end of epoch): resume starts the next epoch with the RNG
            # as it is now, before the next epoch's loader iterator is created
            return {"epoch_end": True, "rng": _rng_state()}
        if self._rng is None:
            return {}
        return {"epoch": self._epoch, "consumed_batches": self._consumed,
                "batch_size": self._batch_size, "rng": self._rng}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = dict(state_dict) if state_dict else None

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        fit = (checkpoint.get("loops") or {}).get("fit_loop") or {}
        self._loader_states = (fit.get("state_dict") or {}).get("combined_loader")

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        p = self._pending
        if not p:
            return
        if p.get("epoch_end"):
            _set_rng_state(p["rng"])
            self._pending = None
            return
        if _stateful_loader(trainer):
            # A resumable loader: hand it the position Lightning saved. Lightning loads it too,
            # but not when the loader was built earlier for ``estimated_stepping_batches``
            # (our cosine schedule); the loader's ``load_state_dict`` must be idempotent.
            states = self._loader_states or []
            if states:
                _train_loader(trainer).load_state_dict(states[0])
            return
        bs = _batch_sampler(trainer)
        inner = getattr(bs, "sampler", None)
        if bs is None or type(inner).__name__ == "RandomSampler" or trainer.world_size > 1:
            log.warning("resuming mid-epoch with a sampler whose order is not a function of (seed, "
                        "epoch) or under DDP: the epoch restarts, the result will not match an "
                        "uninterrupted run exactly")
        if bs is not None:
            bs.sampler = _SkipOnce(bs, inner, epoch=int(p["epoch"]),
                                   n=int(p["consumed_batches"]) * int(p["batch_size"]))

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        # Restore RNGs after the loader iterator exists (creating it draws from the torch RNG).
        if self._pending:
            _set_rng_state(self._pending["rng"])
            self._pending = None


class LastCheckpoint(ModelCheckpoint):
    """``last.ckpt`` every ``every_n_train_steps`` steps *and* after every validation.

    Lightning's ModelCheckpoint triggers are exclusive (steps or epochs); exact resume wants
    both: mid-epoch checkpoints to survive a kill and one at each epoch end.
    """

    def __init__(self, dirpath: str | None = None, every_n_train_steps: int = 50,
                 filename: str | None = None) -> None:
        super().__init__(dirpath=dirpath, filename=filename, save_top_k=0, save_last=True,
                         every_n_train_steps=every_n_train_steps)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or trainer.fast_dev_run:
            return
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

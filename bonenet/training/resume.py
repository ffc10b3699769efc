"""Exact mid-epoch resume: a callback that records the batch position and RNG states in every
checkpoint and, on resume, skips the consumed part of the epoch and restores the RNGs.

Lightning restores weights, optimiser, scheduler and loop counters from a mid-epoch
checkpoint but (with a plain ``DataLoader``) restarts the epoch's data from its first batch and
does not restore random-number generators. :class:`ExactResume` closes both gaps when the
training loader's sampler is deterministic per epoch (its order a pure function of
``(seed, epoch)``, like :class:`bonenet.data.EpochShuffleSampler`, or no shuffling). A loader
that is itself resumable (``state_dict`` / ``load_state_dict``) is left to Lightning, which
restores its position; the RNG states are restored either way: a run killed at step k and
resumed from the checkpoint sees the same batches and the same dropout masks as an
uninterrupted run.

Under DDP each rank's sampler is Lightning's ``DistributedSamplerWrapper`` around the
deterministic one; each rank skips its own consumed share, and the checkpoint carries every
rank's RNG states (gathered when the checkpoint is written, which Lightning does on all ranks),
so a pre-empted multi-process job resumes exactly too (tested with two CPU processes killed by
SIGKILL). Resuming on a different number of processes restarts the interrupted epoch's
remaining data for the new sharding and uses rank 0's RNG states everywhere, with a warning.
Data-augmentation randomness drawn inside DataLoader worker processes is outside this
guarantee unless it is seeded per (seed, epoch, index), as bonenet's is.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

__all__ = ["ExactResume", "LastCheckpoint", "for_this_rank", "safe_resume_kwargs", "with_all_ranks"]

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
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"key": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "python": _to_lists(random.getstate()),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()  # this process's device (dropout on the GPU)
    return state


def _to_lists(v: Any) -> Any:
    return [_to_lists(x) for x in v] if isinstance(v, (tuple, list)) else v


def _to_tuples(v: Any) -> Any:
    return tuple(_to_tuples(x) for x in v) if isinstance(v, list) else v


def _set_rng_state(s: dict[str, Any]) -> None:
    torch.set_rng_state(s["torch"])
    n = s["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))  # noqa: NPY002
    random.setstate(_to_tuples(s["python"]))
    if "cuda" in s and torch.cuda.is_available():
        torch.cuda.set_rng_state(s["cuda"])


def _world() -> tuple[int, int]:
    """(rank, world size) of the initialised process group, (0, 1) without one."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


_WARNED: set[tuple[int, int]] = set()


def with_all_ranks(value: Any, key: str = "rng") -> dict[str, Any]:
    """``{key: value}`` in one process; under DDP ``{key: rank 0's value, key + "_ranks": every
    rank's}``, gathered. A collective: every rank must call it, as every rank builds the
    checkpoint (Lightning writes rank 0's)."""
    _, world = _world()
    if world == 1:
        return {key: value}
    gathered: list[Any] = [None] * world
    torch.distributed.all_gather_object(gathered, value)
    return {key: gathered[0], f"{key}_ranks": gathered}


def for_this_rank(saved: dict[str, Any], key: str = "rng") -> Any:
    """This rank's value from what :func:`with_all_ranks` saved; rank 0's (with a warning) when
    the checkpoint came from a different number of processes."""
    ranks = saved.get(f"{key}_ranks")
    rank, world = _world()
    if ranks is None:
        if world > 1:
            log.warning("resuming on %d processes from a checkpoint that holds one process's %s "
                        "state: every rank continues with it", world, key)
        return saved.get(key)
    if len(ranks) != world:
        if (world, len(ranks)) not in _WARNED:
            _WARNED.add((world, len(ranks)))
            log.warning("resuming on %d processes from a checkpoint written by %d: every rank continues "
                        "with rank 0's random-number states, the result will not match an uninterrupted "
                        "run exactly", world, len(ranks))
        return saved.get(key)
    return ranks[rank]


def _order_source(sampler: Any) -> Any:
    """The sampler that decides the order: the one Lightning's ``DistributedSamplerWrapper``
    wraps under DDP, else ``sampler`` itself."""
    inner = getattr(getattr(sampler, "dataset", None), "_sampler", None)
    return inner if inner is not None else sampler


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
    """Record what a mid-epoch checkpoint needs to resume exactly.

    Pair it with a ``ModelCheckpoint(every_n_train_steps=N, save_last=True)``; its state (batch
    position within the epoch and the torch/numpy/python/CUDA RNG states of every rank) rides
    in that checkpoint as plain tensors and numbers (``weights_only=True`` safe). The RNG states
    are taken when the checkpoint is written (Lightning runs checkpoint callbacks after all
    others) and restored at the next batch start; put this callback first in the trainer's list
    (``bonenet train`` does) so that it restores before any other callback draws.
    """

    def __init__(self) -> None:
        self._trainer: pl.Trainer | None = None
        self._consumed = 0
        self._epoch = 0
        self._batch_size = 0
        self._mid_epoch = False
        self._pending: dict[str, Any] | None = None
        self._loader_states: list[Any] | None = None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        self._consumed = batch_idx + 1
        self._epoch = trainer.current_epoch
        dl = trainer.train_dataloader
        self._batch_size = int(getattr(dl, "batch_size", 0) or len(batch))
        self._mid_epoch = True

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._mid_epoch = False  # an end-of-epoch checkpoint resumes at a fresh epoch

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer

    def state_dict(self) -> dict[str, Any]:
        t = self._trainer
        if t is not None and not t.training:
            # saved at validation end (end of epoch): resume starts the next epoch with the RNG
            # as it is now, before the next epoch's loader iterator is created
            return {"epoch_end": True, **with_all_ranks(_rng_state())}
        if not self._mid_epoch:
            return {}
        return {"epoch": self._epoch, "consumed_batches": self._consumed,
                "batch_size": self._batch_size, "world_size": _world()[1], **with_all_ranks(_rng_state())}

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
            _set_rng_state(for_this_rank(p))
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
        if bs is None or type(_order_source(inner)).__name__ == "RandomSampler":
            log.warning("resuming mid-epoch with a sampler whose order is not a function of (seed, "
                        "epoch): the result will not match an uninterrupted run exactly")
        elif int(p.get("world_size", 1)) != trainer.world_size:
            log.warning("resuming mid-epoch on %d processes from a checkpoint written by %s: the "
                        "interrupted epoch's data are re-sharded, the result will not match an "
                        "uninterrupted run exactly", trainer.world_size, p.get("world_size", 1))
        if bs is not None:
            # items this rank skips: what all ranks consumed, over the processes now sharing it
            consumed = int(p["consumed_batches"]) * int(p["batch_size"]) * int(p.get("world_size", 1))
            bs.sampler = _SkipOnce(bs, inner, epoch=int(p["epoch"]), n=consumed // trainer.world_size)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        # Restore RNGs after the loader iterator exists (creating it draws from the torch RNG).
        if self._pending:
            _set_rng_state(for_this_rank(self._pending))
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


def safe_resume_kwargs(ckpt_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Check a checkpoint to resume from and return the safe-loading arguments of ``fit``.

    The file is read first with an explicit ``torch.load(weights_only=True)`` (memory-mapped:
    no tensor data is read), which neither ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` nor an old
    torch default can turn off: a checkpoint holding pickled code is refused with a
    :class:`~bonenet.errors.CheckpointError` before Lightning opens it. The returned
    ``{"weights_only": True}`` makes Lightning (2.6 or later) load it the same way, so the
    bytes it loads are held to the same rule.
    """
    import inspect

    from ..errors import CheckpointError

    path = Path(ckpt_path)
    try:
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise CheckpointError(
            f"cannot resume from {str(path)!r}: torch.load(weights_only=True) refuses it "
            f"({type(exc).__name__}: {first}); bonenet checkpoints hold only tensors and plain "
            "values, so this file is damaged or holds pickled code — resume from a checkpoint "
            "your own run wrote") from exc
    fit_params = inspect.signature(pl.Trainer.fit).parameters
    return {"weights_only": True} if "weights_only" in fit_params else {}

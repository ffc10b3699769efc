"""Samplers that yield ``(index, epoch)`` so order *and* augmentation depend only on
``(seed, epoch, index)`` — a resumed run repeats them, whatever the number of workers."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import DataLoader, Sampler

__all__ = ["EpochShuffleSampler", "ResumableLoader"]


class EpochShuffleSampler(Sampler[tuple[int, int]]):
    """Random permutation of ``range(n)`` drawn from ``(seed, epoch)``, yielded as ``(index, epoch)``.

    Lightning calls :meth:`set_epoch` at the start of every epoch (as for
    ``DistributedSampler``); when nobody does (a plain loop, or a wrapping distributed
    sampler) the epoch advances by one per pass. :meth:`skip` drops the first items of the
    next pass (mid-epoch resume). ``shuffle=False`` keeps manifest order.
    """

    def __init__(self, n: int, *, seed: int = 0, shuffle: bool = True) -> None:
        self.n = int(n)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.epoch = 0
        self._explicit = False
        self._skip: tuple[int, int] | None = None

    def skip(self, n_items: int, *, epoch: int) -> None:
        """Start the pass of ``epoch`` after its first ``n_items`` items (mid-epoch resume)."""
        self.epoch = int(epoch)
        self._explicit = True
        self._skip = (int(epoch), max(0, int(n_items)))

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s permutation for the next pass."""
        self.epoch = int(epoch)
        self._explicit = True

    def __iter__(self) -> Iterator[tuple[int, int]]:
        if not self._explicit and getattr(self, "_passes", 0) > 0:
            self.epoch += 1
        self._explicit = False
        self._passes = getattr(self, "_passes", 0) + 1
        order = (np.random.default_rng([self.seed, self.epoch]).permutation(self.n) if self.shuffle
                 else np.arange(self.n))
        start = 0
        if self._skip is not None:
            if self._skip[0] == self.epoch:
                start = self._skip[1]
            self._skip = None
        return iter([(int(i), self.epoch) for i in order[start:]])

    def __len__(self) -> int:
        return self.n


class ResumableLoader(DataLoader):
    """A ``DataLoader`` over an :class:`EpochShuffleSampler` that Lightning can resume mid-epoch.

    ``state_dict()`` records the sampler's epoch and how many samples of it training has
    consumed (read from the attached trainer's batch progress — not from the loader, which
    prefetches); ``load_state_dict()`` makes the next pass start after them. Lightning calls
    both for the training loader (it checks for them), so a run killed mid-epoch and resumed
    sees exactly the batches an uninterrupted run would.

    Parameters
    ----------
    *args, **kwargs
        As for ``DataLoader``; ``sampler`` must be an :class:`EpochShuffleSampler`.
    progress : callable, optional
        Returns the number of batches of the current epoch already processed.
    """

    def __init__(self, *args, progress=None, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.progress = progress

    def _epoch_sampler(self) -> EpochShuffleSampler | None:
        s = self.sampler
        return s if isinstance(s, EpochShuffleSampler) else None

    def state_dict(self) -> dict[str, int]:
        """``{"epoch", "samples"}`` consumed so far in this epoch."""
        s = self._epoch_sampler()
        done = int(self.progress()) if self.progress is not None else 0
        return {"epoch": 0 if s is None else s.epoch, "samples": done * int(self.batch_size or 1)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Resume after ``state["samples"]`` samples of epoch ``state["epoch"]``."""
        s = self._epoch_sampler()
        if s is not None and state:
            s.skip(int(state.get("samples", 0)), epoch=int(state.get("epoch", 0)))

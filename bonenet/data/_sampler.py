"""A sampler whose order depends only on ``(seed, epoch)`` and which can tell the dataset the
epoch, so order *and* augmentation depend only on ``(seed, epoch, index)``: a resumed run
(``bonenet.training.ExactResume`` skips the consumed part of the epoch) repeats them exactly,
whatever the number of workers."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

__all__ = ["EpochShuffleSampler"]


class EpochShuffleSampler(Sampler):
    """Random permutation of ``range(n)`` drawn from ``(seed, epoch)``.

    Yields plain indices, or ``(index, epoch)`` pairs with ``with_epoch=True`` (what
    :class:`BoneDataset` uses to seed its augmentation per epoch and index).

    Lightning calls :meth:`set_epoch` at the start of every epoch (as for
    ``DistributedSampler``); when nobody does (a plain loop, or a wrapping distributed
    sampler) the epoch advances by one per pass. :meth:`skip` drops the first items of the
    next pass (mid-epoch resume). ``shuffle=False`` keeps manifest order.
    """

    def __init__(self, n: int, *, seed: int = 0, shuffle: bool = True, with_epoch: bool = False) -> None:
        self.n = int(n)
        self.with_epoch = with_epoch
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

    def __iter__(self) -> Iterator[int | tuple[int, int]]:
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
        if not self.with_epoch:
            return iter([int(i) for i in order[start:]])
        return iter([(int(i), self.epoch) for i in order[start:]])

    def __len__(self) -> int:
        return self.n


"""A shuffling sampler whose order depends only on (seed, epoch), so a resumed run repeats it."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler

__all__ = ["EpochShuffleSampler"]


class EpochShuffleSampler(Sampler[int]):
    """Random permutation of ``range(n)`` drawn from ``(seed, epoch)``.

    Lightning calls :meth:`set_epoch` at the start of every epoch (as for
    ``DistributedSampler``); when nobody does (a plain loop, or a wrapping distributed
    sampler) the epoch advances by one per pass.
    """

    def __init__(self, n: int, *, seed: int = 0) -> None:
        self.n = int(n)
        self.seed = int(seed)
        self.epoch = 0
        self._explicit = False

    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch``'s permutation for the next pass."""
        self.epoch = int(epoch)
        self._explicit = True

    def __iter__(self) -> Iterator[int]:
        if not self._explicit and getattr(self, "_passes", 0) > 0:
            self.epoch += 1
        self._explicit = False
        self._passes = getattr(self, "_passes", 0) + 1
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.n

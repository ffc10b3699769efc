"""One progress-bar helper for every long-running loop (tqdm on stderr, rate and ETA)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

__all__ = ["progress"]


def progress(
    iterable: Iterable[T],
    *,
    desc: str,
    total: int | None = None,
    unit: str = "it",
    disable: bool | None = None,
) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar on stderr.

    Set ``BONENET_PROGRESS=0`` to silence bars (logs of batch jobs); when stderr is not a
    terminal the bar still prints, at most every few seconds, so CI logs show the rate.
    """
    from tqdm.auto import tqdm

    if disable is None:
        disable = os.environ.get("BONENET_PROGRESS", "1") == "0"
    mininterval = 0.1 if sys.stderr.isatty() else 5.0
    yield from tqdm(
        iterable,
        desc=desc,
        total=total,
        unit=unit,
        file=sys.stderr,
        disable=disable,
        mininterval=mininterval,
        dynamic_ncols=True,
    )

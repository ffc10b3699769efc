"""The phantom a trabecular generator returns, and the argument checks they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._fmt import plain
from ..errors import SynthError

__all__ = ["Microstructure"]


@dataclass(frozen=True)
class Microstructure:
    """A trabecular phantom.

    Attributes
    ----------
    mask : ndarray of bool, shape (P, R, C)
        Bone voxels.
    fraction : ndarray of float32, shape (P, R, C)
        Partial-volume bone fraction per voxel in [0, 1].
    spacing : tuple of 3 floats
        Voxel size in mm (P, R, C).
    truth : dict
        Ground truth in physical units: ``bv_tv``, ``tb_th_mm``, ``tb_sp_mm``,
        ``tb_n_per_mm`` and the generator's own parameters.
    """

    mask: np.ndarray
    fraction: np.ndarray
    spacing: tuple[float, float, float]
    truth: dict[str, Any] = field(default_factory=dict)


def _check_shape(shape: tuple[int, ...], spacing: tuple[float, ...]) -> tuple[tuple[int, int, int],
                                                                             tuple[float, float, float]]:
    shp = tuple(int(s) for s in shape)
    sp = tuple(float(s) for s in spacing)
    if len(shp) != 3 or min(shp) < 4:
        raise SynthError(f"shape={plain(shape)!r}: give 3 axis lengths (P, R, C) of at least 4 voxels")
    if len(sp) != 3 or min(sp) <= 0:
        raise SynthError(f"spacing={plain(spacing)!r}: give 3 positive voxel sizes in mm (P, R, C)")
    return shp, sp  # type: ignore[return-value]

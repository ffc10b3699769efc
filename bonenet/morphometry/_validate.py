"""Input checks shared by the morphometry functions (private)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import MorphometryError


def spacing3(spacing: float | Sequence[float] | None, *, what: str = "spacing") -> tuple[float, float, float]:
    """Return three positive finite voxel sizes in mm (P, R, C) or raise MorphometryError."""
    if spacing is None:
        raise MorphometryError(f"{what} is required: pass the voxel size in mm as (P, R, C)")
    arr = np.atleast_1d(np.asarray(spacing, dtype=np.float64)).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, 3)
    if arr.size != 3:
        raise MorphometryError(f"{what} must be one or three mm values (P, R, C); got {spacing!r}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise MorphometryError(
            f"{what} must be positive and finite (mm per voxel); got {tuple(arr.tolist())}. "
            "Use the image's voxel size, e.g. Volume.spacing"
        )
    return (float(arr[0]), float(arr[1]), float(arr[2]))


def binary(mask: object, *, name: str = "mask", allow_empty: bool = False,
           allow_full: bool = True) -> np.ndarray:
    """Return ``mask`` as a C-contiguous 3D bool array, or raise MorphometryError.

    A binary mask holds only 0 and 1 (or False/True); anything else (a grey-level image,
    a label map) is refused rather than guessed at.
    """
    arr = np.asarray(mask)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    if arr.ndim != 3:
        raise MorphometryError(f"{name} must be a 3D (P, R, C) array; got shape {arr.shape}")
    if arr.size == 0:
        raise MorphometryError(f"{name} is empty (shape {arr.shape})")
    if arr.dtype != np.bool_:
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise MorphometryError(f"{name} must be numeric or bool; got dtype {arr.dtype}")
        bad = (arr != 0) & (arr != 1)
        if np.any(bad):
            vals = np.unique(arr[bad])[:5].tolist()
            raise MorphometryError(
                f"{name} is not binary: it holds values {vals} besides 0 and 1. "
                "Threshold or segment the image first (e.g. bonenet.segment)"
            )
        arr = arr.astype(bool)
    arr = np.ascontiguousarray(arr)
    if not allow_empty and not arr.any():
        raise MorphometryError(f"{name} is empty: no voxel is set, so there is nothing to measure")
    if not allow_full and arr.all():
        raise MorphometryError(
            f"{name} has every voxel set: there is no background, so spaces between structures "
            "cannot be measured; pass an ROI that also contains non-bone voxels"
        )
    return arr


def same_shape(a: np.ndarray, b: np.ndarray, *, names: tuple[str, str]) -> None:
    """Raise MorphometryError unless the two arrays have the same shape."""
    if a.shape != b.shape:
        raise MorphometryError(
            f"{names[0]} has shape {a.shape} but {names[1]} has shape {b.shape}; "
            "they must cover the same voxels"
        )

"""``Preprocess``: the named, parameterised Volume → network-tensor transform.

Everything happens in physical units: resample to a target spacing in mm, crop or pad a
region of ``roi_size`` voxels around the bone (largest connected component above a
threshold given in the Volume's units, or a given VOI mask), clip to an intensity window in
the Volume's units (HU or mg/cm³), then normalise. Its parameters (``to_dict``) travel in
checkpoints so inference repeats it exactly; a Volume in other units is refused, never
rescaled silently.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._fmt import plain
from ..errors import ConfigError, SegmentationError, VolumeError
from ..volume import UNITS, Volume

__all__ = ["Preprocess", "crop_or_pad", "largest_component_center"]

_FORMAT = "bonenet.Preprocess/1"
_NORMALIZE = ("unit", "zscore", "none")
_CROP = ("bone", "mask", "center")


def largest_component_center(array: np.ndarray, *, threshold: float | None = None) -> np.ndarray:
    """Centre (voxel index, float) of the bounding box of the largest component above ``threshold``.

    Parameters
    ----------
    array : ndarray of shape (P, R, C) or (R, C)
        Intensities in the image's units.
    threshold : float, optional
        In the image's units (e.g. 250 HU, 300 mg HA/cm³); default Otsu's threshold.

    Raises
    ------
    SegmentationError
        When nothing lies above the threshold (a blank image or a window in the wrong units).
    """
    from scipy import ndimage

    if threshold is None:
        from skimage.filters import threshold_otsu

        if float(array.max()) <= float(array.min()):
            raise SegmentationError("cannot find bone in a constant image; check the scan")
        threshold = float(threshold_otsu(array))
    fg = array > threshold
    if not fg.any():
        raise SegmentationError(
            f"no voxel above the bone threshold {threshold:g} (image range {array.min():g}..{array.max():g}); "
            "check the units or set bone_threshold / crop='center'"
        )
    labels, n = ndimage.label(fg)
    if n > 1:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        fg = labels == int(np.argmax(sizes))
    idx = [np.flatnonzero(fg.any(axis=tuple(a for a in range(fg.ndim) if a != k)))
           for k in range(fg.ndim)]
    return np.array([(i[0] + i[-1]) / 2.0 for i in idx])


def crop_or_pad(array: np.ndarray, center: Sequence[float], size: Sequence[int], *,
                fill: float) -> np.ndarray:
    """Take a ``size`` window centred on ``center`` (voxels), padding with ``fill`` outside."""
    out = np.full(tuple(size), fill, dtype=np.float32)
    src, dst = [], []
    for c, s, n in zip(center, size, array.shape, strict=True):
        start = int(np.floor(c - (s - 1) / 2.0 + 0.5))
        lo, hi = max(start, 0), min(start + s, n)
        if hi <= lo:
            return out
        src.append(slice(lo, hi))
        dst.append(slice(lo - start, hi - start))
    out[tuple(dst)] = array[tuple(src)]
    return out


class Preprocess:
    """Turn a :class:`~bonenet.volume.Volume` into a float32 tensor of shape (1, *roi_size).

    Parameters
    ----------
    spatial_dims : {2, 3}
        3 for CT/HR-pQCT volumes; 2 for one-slice (DXA-like) Volumes, giving (1, R, C).
    target_spacing_mm : float or sequence, optional
        Voxel size to resample to, mm, per spatial axis ((P, R, C) for 3-D, (R, C) for 2-D);
        None keeps the native spacing.
    roi_size : sequence of int
        Output size in voxels per spatial axis.
    intensity_window : (float, float), optional
        ``(lo, hi)`` in the Volume's units; values are clipped to it.
    units : str, optional
        Units the Volume must carry (one of ``bonenet.volume.UNITS``); None accepts any.
    normalize : {"unit", "zscore", "none"}
        "unit" maps the window linearly to [0, 1] (needs ``intensity_window``); "zscore"
        subtracts the ROI's mean and divides by its SD; "none" keeps the units.
    crop : {"bone", "mask", "center"}
        Centre of the ROI: the largest component above ``bone_threshold``, the bounding box
        of a given VOI mask, or the image centre.
    bone_threshold : float, optional
        In the Volume's units; default Otsu's threshold.
    mask_outside : bool
        With a mask, set voxels outside it to the window's low end before normalising.
    antialias : bool
        Gaussian-prefilter before downsampling (sigma = (new/old spacing − 1)/2 voxels).
    """

    def __init__(self, spatial_dims: int = 3, target_spacing_mm: float | Sequence[float] | None = None,
                 roi_size: Sequence[int] = (64, 64, 64),
                 intensity_window: Sequence[float] | None = None, units: str | None = None,
                 normalize: str = "unit", crop: str = "bone", bone_threshold: float | None = None,
                 mask_outside: bool = False, antialias: bool = True) -> None:
        if spatial_dims not in (2, 3):
            raise ConfigError(f"Preprocess: spatial_dims must be 2 or 3; got {spatial_dims!r}")
        roi = tuple(int(s) for s in roi_size)
        if len(roi) != spatial_dims or any(s < 1 for s in roi):
            raise ConfigError(f"Preprocess: roi_size must be {spatial_dims} positive voxel counts; got {roi_size!r}")
        sp = None
        if target_spacing_mm is not None:
            sp = tuple(float(s) for s in np.broadcast_to(np.asarray(target_spacing_mm, float), (spatial_dims,)))
            if any(not np.isfinite(s) or s <= 0 for s in sp):
                raise ConfigError(f"Preprocess: target_spacing_mm must be positive mm; got {plain(target_spacing_mm)!r}")
        win = None
        if intensity_window is not None:
            win = tuple(float(w) for w in intensity_window)
            if len(win) != 2 or not win[0] < win[1]:
                raise ConfigError(f"Preprocess: intensity_window must be (lo, hi) with lo < hi; got {plain(intensity_window)!r}")
        if units is not None and units not in UNITS:
            raise ConfigError(f"Preprocess: units {units!r} unknown; use one of {', '.join(UNITS)}")
        if normalize not in _NORMALIZE:
            raise ConfigError(f"Preprocess: normalize {normalize!r} unknown; use one of {', '.join(_NORMALIZE)}")
        if normalize == "unit" and win is None:
            raise ConfigError("Preprocess: normalize='unit' maps the intensity window to [0, 1]; "
                              "give intensity_window=(lo, hi) in the scan's units, or use 'zscore'")
        if crop not in _CROP:
            raise ConfigError(f"Preprocess: crop {crop!r} unknown; use one of {', '.join(_CROP)}")
        self.spatial_dims = spatial_dims
        self.target_spacing_mm = sp
        self.roi_size = roi
        self.intensity_window = win
        self.units = units
        self.normalize = normalize
        self.crop = crop
        self.bone_threshold = None if bone_threshold is None else float(bone_threshold)
        self.mask_outside = bool(mask_outside)
        self.antialias = bool(antialias)

    # ------------------------------------------------------------ persist
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable parameters (checkpoint / export)."""
        return {
            "format": _FORMAT, "spatial_dims": self.spatial_dims,
            "target_spacing_mm": None if self.target_spacing_mm is None else list(self.target_spacing_mm),
            "roi_size": list(self.roi_size),
            "intensity_window": None if self.intensity_window is None else list(self.intensity_window),
            "units": self.units, "normalize": self.normalize, "crop": self.crop,
            "bone_threshold": self.bone_threshold, "mask_outside": self.mask_outside,
            "antialias": self.antialias,
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Preprocess:
        """Rebuild from :meth:`to_dict` output."""
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise ConfigError(f"not a bonenet Preprocess state (expected format {_FORMAT!r})")
        kw = {k: v for k, v in state.items() if k != "format"}
        return cls(**kw)

    @property
    def key(self) -> str:
        """SHA-256 of the parameters (part of every cache key)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    @property
    def output_shape(self) -> tuple[int, ...]:
        """(C, *roi_size) with C = 1."""
        return (1, *self.roi_size)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Preprocess) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "format")
        return f"Preprocess({args})"

    # -------------------------------------------------------------- apply
    def __call__(self, volume: Volume, *, mask: Volume | None = None, source: str | None = None) -> Any:
        """Apply to ``volume`` (and its VOI ``mask`` when ``crop='mask'``) → torch (1, *roi_size)."""
        import torch

        return torch.from_numpy(self.apply_numpy(volume, mask=mask, source=source)[np.newaxis])

    def apply_numpy(self, volume: Volume, *, mask: Volume | None = None,
                    source: str | None = None) -> np.ndarray:
        """As :meth:`__call__` but returns a float32 ndarray of shape ``roi_size``."""
        where = source or (volume.meta.get("source") or ["volume"])[0]
        if self.units is not None and volume.units != self.units:
            raise VolumeError(
                f"{where}: image units are {volume.units!r} but this Preprocess expects {self.units!r} "
                f"(its intensity window {self.intensity_window} is in {self.units}); bonenet never "
                "rescales silently — calibrate or convert the scan explicitly (Volume.rescaled / "
                f"bonenet.calibrate), or configure units={volume.units!r} with a window in those units"
            )
        if self.spatial_dims == 2 and volume.shape[0] != 1:
            raise VolumeError(
                f"{where}: a 2-D Preprocess takes one-slice (DXA-like) images; this one has "
                f"{volume.shape[0]} slices — use spatial_dims=3 or extract the slice first"
            )
        if self.crop == "mask" and mask is None:
            raise SegmentationError(f"{where}: crop='mask' needs a VOI mask; give the manifest a mask column")
        vol, msk = self._resample(volume, mask)
        arr = vol.array[0] if self.spatial_dims == 2 else vol.array
        m = None if msk is None else ((msk.array[0] if self.spatial_dims == 2 else msk.array) > 0.5)
        if m is not None and m.shape != arr.shape:
            raise SegmentationError(f"{where}: mask shape {m.shape} differs from image shape {arr.shape}; "
                                    "the VOI mask must be on the image's grid")
        if self.crop == "mask":
            if m is None or not m.any():
                raise SegmentationError(f"{where}: the VOI mask is empty; check the mask file")
            center = largest_component_center(m.astype(np.float32), threshold=0.5)
        elif self.crop == "bone":
            try:
                center = largest_component_center(arr, threshold=self.bone_threshold)
            except SegmentationError as exc:
                raise SegmentationError(f"{where}: {exc}") from None
        else:
            center = (np.asarray(arr.shape) - 1) / 2.0
        low = self.intensity_window[0] if self.intensity_window else float(arr.min())
        if m is not None and self.mask_outside:
            arr = np.where(m, arr, np.float32(low))
        out = crop_or_pad(arr, center, self.roi_size, fill=low)
        if self.intensity_window is not None:
            np.clip(out, *self.intensity_window, out=out)
        if self.normalize == "unit":
            lo, hi = self.intensity_window  # type: ignore[misc]
            out = (out - np.float32(lo)) * np.float32(1.0 / (hi - lo))
        elif self.normalize == "zscore":
            sd = float(out.std())
            out = (out - np.float32(out.mean())) / np.float32(sd if sd > 1e-12 else 1.0)
        return np.ascontiguousarray(out, dtype=np.float32)

    def _resample(self, volume: Volume, mask: Volume | None) -> tuple[Volume, Volume | None]:
        if self.target_spacing_mm is None:
            return volume, mask
        target = self.target_spacing_mm
        if self.spatial_dims == 2:
            target = (volume.spacing[0], *target)
        if np.allclose(volume.spacing, target, rtol=1e-6, atol=1e-9):
            return volume, mask
        src = volume
        factor = np.asarray(target) / np.asarray(volume.spacing)
        if self.antialias and np.any(factor > 1.0 + 1e-6):
            from scipy import ndimage

            # Gaussian prefilter before downsampling (scikit-image's rule: sigma = (factor-1)/2
            # voxels per axis) so trabecular texture finer than the new grid does not alias.
            sigma = np.maximum(0.0, (factor - 1.0) / 2.0)
            if self.spatial_dims == 2:
                sigma[0] = 0.0
            src = volume.replace(array=ndimage.gaussian_filter(volume.array, sigma, mode="nearest"))
        out = src.resample(target, order=1)
        m = None if mask is None else mask.resample(target, order=0, fill=0.0)
        return out, m

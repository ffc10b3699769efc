"""Making masks locally (TotalSegmentator, never downloaded) and per-vertebra crops."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ConfigError, SegmentationError
from ..volume import Volume

__all__ = ["run_totalsegmentator", "vertebra_crop"]

_HOW = ("provide masks instead: run TotalSegmentator yourself (`TotalSegmentator -i CT -o seg --ml`) "
        "and pass --masks seg.nii.gz (or the folder of per-structure files, or its DICOM SEG)")


def run_totalsegmentator(image: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Run a locally installed TotalSegmentator (task ``total``, multilabel) on ``image``.

    Weights must already be on this machine (``$TOTALSEG_HOME_DIR`` or
    ``~/.totalsegmentator``); bonenet never lets it download. Returns the multilabel file.

    Raises
    ------
    SegmentationError
        TotalSegmentator is not importable or its weights are not on this machine; the
        message says how to provide masks instead.
    """
    try:
        from totalsegmentator.python_api import totalsegmentator  # type: ignore[import-not-found]
    except ImportError:
        raise SegmentationError(f"--segment totalsegmentator: TotalSegmentator is not installed; {_HOW}") from None
    home = Path(os.environ.get("TOTALSEG_HOME_DIR", Path.home() / ".totalsegmentator"))
    weights = home / "nnunet" / "results"
    if not weights.is_dir() or not any(weights.iterdir()):
        raise SegmentationError(
            f"--segment totalsegmentator: no TotalSegmentator weights under {weights} and bonenet "
            f"does not download; copy them there (or set TOTALSEG_HOME_DIR), or {_HOW}")
    target = Path(out) / "totalsegmentator_total.nii.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    totalsegmentator(str(image), str(target), ml=True, task="total", quiet=True)
    if not target.exists():
        raise SegmentationError(f"TotalSegmentator wrote no {target}; {_HOW}")
    return target


def vertebra_crop(volume: Volume, mask: np.ndarray, *, size_mm: float | tuple[float, float, float] = 64.0,
                  spacing_mm: float | None = None, fill: float = -1024.0) -> Volume:
    """A cube of side ``size_mm`` centred on a vertebra's mask centroid, as a Volume.

    The crop keeps the image's axes and geometry (origin moved to the crop's first voxel);
    parts outside the image hold ``fill``. With ``spacing_mm`` the crop is resampled
    (linear) to that isotropic spacing first. Used to give QCT models per-vertebra inputs
    taken from masks at training and at predict time alike.

    Raises
    ------
    ConfigError
        ``mask`` does not match the volume or is empty.
    """
    m = np.asarray(mask).astype(bool)
    if m.shape != volume.shape:
        raise ConfigError(f"vertebra_crop: mask shape {m.shape} differs from the image's {volume.shape}")
    if not m.any():
        raise ConfigError("vertebra_crop: the vertebra mask is empty")
    vol = volume
    if spacing_mm is not None:
        from ..io.masks import resample_labels

        vol = volume.resample(float(spacing_mm), order=1)
        m = resample_labels(m.astype(np.int32), volume, vol) > 0
    size = np.broadcast_to(np.asarray(size_mm, dtype=np.float64), (3,))
    n = np.maximum(1, np.round(size / np.asarray(vol.spacing))).astype(int)
    centre = np.argwhere(m).mean(axis=0)
    start = np.round(centre - (n - 1) / 2).astype(int)
    out = np.full(tuple(n), fill, dtype=np.float32)
    src = tuple(slice(max(s, 0), min(s + k, dim)) for s, k, dim in zip(start, n, vol.shape, strict=True))
    dst = tuple(slice(sl.start - s, sl.stop - s) for sl, s in zip(src, start, strict=True))
    out[dst] = vol.array[src]
    origin = vol.index_to_world(start[None].astype(float))[0]
    meta = {"source": vol.meta.get("source", []), "crop": {"start": start.tolist(), "size_mm": size.tolist()}}
    return Volume(out, spacing=vol.spacing, origin=tuple(origin), direction=vol.direction,
                  units=vol.units, modality=vol.modality, meta=meta)

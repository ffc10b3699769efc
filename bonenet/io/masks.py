"""Read segmentation masks (label maps) onto an image's voxel grid.

:func:`load_mask` reads a binary or multilabel NIfTI / NRRD / MetaImage file, a folder of
per-structure binary files (TotalSegmentator's default output), or a DICOM SEG object
(through highdicom), and returns integer labels on the grid of a reference image. When
the mask was saved on another grid it is resampled nearest-neighbour in patient (LPS)
space, so labels are never blended; a mask that does not overlap the image is refused with
its file named. Scanco AIM masks have their own reader (:mod:`bonenet.io.aim`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError, ImageFormatError
from ..volume import Volume

__all__ = ["MASK_SUFFIXES", "load_mask", "resample_labels", "segment_names"]

#: File endings :func:`load_mask` reads as label maps (besides DICOM SEG and folders).
MASK_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
_GRID_ATOL_MM = 1e-3


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suf in MASK_SUFFIXES:
        if name.endswith(suf):
            return suf
    return path.suffix.lower()


def _check_like(like: Any) -> Volume:
    if not isinstance(like, Volume):
        raise ConfigError(
            f"load_mask(like=...) must be the bonenet Volume the mask belongs to (e.g. "
            f"bonenet.io.load(image)); got {type(like).__name__}")
    return like


_LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0])


def _grid(shape: tuple[int, ...], spacing: Any, origin: Any, direction: np.ndarray) -> Volume:
    """A geometry-only Volume (its array is a read-only broadcast zero: no memory)."""
    return Volume(np.broadcast_to(np.float32(0), tuple(int(n) for n in shape)), spacing=tuple(spacing),
                  origin=tuple(origin), direction=direction, units="raw")


def _read_label_file(path: Path) -> tuple[np.ndarray, Volume]:
    """A label-map file's values (P, R, C) and its grid; integer files stay integer."""
    suf = _suffix(path)
    if suf in (".nii", ".nii.gz"):
        import nibabel as nib

        try:
            img = nib.load(str(path))
            data = np.asanyarray(img.dataobj)
        except Exception as exc:  # nibabel raises many types for corrupt files
            raise ImageFormatError(f"{path}: not a readable NIfTI file ({exc}); re-export it") from exc
        if data.ndim == 4 and data.shape[3] == 1:
            data = data[..., 0]
        if data.ndim == 2:
            data = data[..., np.newaxis]
        if data.ndim != 3:
            raise ImageFormatError(
                f"{path}: mask of shape {data.shape} (4-D, one channel per structure?); save it as "
                "one multilabel 3-D label map, or one binary file per structure")
        aff = np.asarray(img.affine, dtype=np.float64)
        lin, off = _LPS_TO_RAS @ aff[:3, :3], _LPS_TO_RAS @ aff[:3, 3]
        sp = np.linalg.norm(lin, axis=0)
        if np.any(sp <= 0):
            raise ImageFormatError(f"{path}: NIfTI affine has a zero-length axis; the header is broken")
        arr = data.transpose(2, 1, 0)
        return arr, _grid(arr.shape, sp[::-1], off, (lin / sp)[:, ::-1])
    if suf in (".nrrd", ".nhdr", ".mha", ".mhd"):
        import SimpleITK as sitk

        try:
            img = sitk.ReadImage(str(path))
        except RuntimeError as exc:
            raise ImageFormatError(f"{path}: not a readable NRRD/MetaImage file ({str(exc).strip()[:200]}); "
                                   "re-export it") from exc
        if img.GetDimension() != 3 or img.GetNumberOfComponentsPerPixel() != 1:
            raise ImageFormatError(f"{path}: a mask must be a 3-D single-component label map")
        arr = sitk.GetArrayFromImage(img)
        direction = np.asarray(img.GetDirection(), dtype=np.float64).reshape(3, 3)[:, ::-1]
        return arr, _grid(arr.shape, img.GetSpacing()[::-1], img.GetOrigin(), direction)
    raise ImageFormatError(
        f"{path}: not a mask format bonenet reads ({suf or 'no extension'}); give a NIfTI, "
        "NRRD/MetaImage, DICOM SEG file, or a folder of per-structure NIfTI files")


def _as_labels(arr: np.ndarray, path: Path) -> np.ndarray:
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool:
        if arr.dtype != bool and arr.size and int(arr.min()) < 0:
            raise ImageFormatError(f"{path}: mask holds negative label {int(arr.min())}; labels are ≥ 0")
        # reorder in the file's own (small) dtype first: a strided copy moves 4x fewer bytes
        return np.ascontiguousarray(arr).astype(np.int32, copy=False)
    if not np.all(np.isfinite(arr)):
        raise ImageFormatError(f"{path}: mask holds NaN/inf values; a label map holds integers")
    rounded = np.rint(arr)
    off = np.abs(arr - rounded) > 1e-3
    if off.any():
        raise ImageFormatError(
            f"{path}: mask holds non-integer value {float(arr[off].flat[0]):g}; it looks like a "
            "probability map or an image: threshold it into labels first (e.g. p > 0.5)")
    if rounded.min() < 0:
        raise ImageFormatError(f"{path}: mask holds negative label {int(rounded.min())}; labels are ≥ 0")
    return np.ascontiguousarray(rounded, dtype=np.int32)


def _same_grid(a: Volume, b: Volume) -> bool:
    return a.shape == b.shape and np.allclose(a.affine, b.affine, atol=_GRID_ATOL_MM, rtol=0)


def _overlaps(labels: np.ndarray, grid: Volume, like: Volume) -> bool:
    """True when the bounding box of the labelled voxels meets the image's extent."""
    nz = np.nonzero(labels.any(axis=(1, 2)))[0], np.nonzero(labels.any(axis=(0, 2)))[0], \
        np.nonzero(labels.any(axis=(0, 1)))[0]
    lo = np.array([n[0] for n in nz], dtype=float) - 0.5
    hi = np.array([n[-1] for n in nz], dtype=float) + 0.5
    corners = np.array([[(lo, hi)[i][0], (lo, hi)[j][1], (lo, hi)[k][2]]
                        for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    idx = like.world_to_index(grid.index_to_world(corners))
    box_lo, box_hi = idx.min(axis=0), idx.max(axis=0)
    return bool(np.all(box_hi >= -0.5) and np.all(box_lo <= np.asarray(like.shape) - 0.5))


def resample_labels(labels: np.ndarray, grid: Volume, like: Volume) -> np.ndarray:
    """Nearest-neighbour resampling of integer ``labels`` on ``grid``'s geometry onto ``like``'s.

    Both geometries are in patient LPS millimetres; voxels of ``like`` outside the mask's
    extent get label 0.
    """
    import SimpleITK as sitk

    if _same_grid(grid, like):
        return np.asarray(labels, dtype=np.int32)
    src = sitk.GetImageFromArray(np.ascontiguousarray(labels, dtype=np.int32))
    src.SetSpacing([float(s) for s in grid.spacing[::-1]])
    src.SetOrigin([float(o) for o in grid.origin])
    src.SetDirection([float(d) for d in grid.direction[:, ::-1].reshape(-1)])
    ref = sitk.Image([int(s) for s in like.shape[::-1]], sitk.sitkInt32)
    ref.SetSpacing([float(s) for s in like.spacing[::-1]])
    ref.SetOrigin([float(o) for o in like.origin])
    ref.SetDirection([float(d) for d in like.direction[:, ::-1].reshape(-1)])
    out = sitk.Resample(src, ref, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkInt32)
    return sitk.GetArrayFromImage(out).astype(np.int32)


def _norm(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def _check_labels(labels: Any) -> Mapping[str, int] | Sequence[int] | None:
    if labels is None:
        return None
    if isinstance(labels, Mapping):
        bad = {k: v for k, v in labels.items()
               if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, (int, np.integer))
               or v <= 0}
        if bad:
            raise ConfigError(f"load_mask(labels=...): a mapping must be name -> positive int label; "
                              f"bad entries {dict(list(bad.items())[:5])}")
        return labels
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
        raise ConfigError(f"load_mask(labels=...) must be a mapping name -> label or a list of "
                          f"label ids to keep; got {labels!r}")
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in labels):
        raise ConfigError(f"load_mask(labels=...) ids must be positive integers; got {list(labels)}")
    return labels


def _folder(path: Path, labels: Mapping[str, int] | Sequence[int] | None) -> tuple[np.ndarray, Volume]:
    if not isinstance(labels, Mapping):
        raise ConfigError(
            f"{path} is a folder of per-structure masks: pass labels={{'file stem': id, ...}} "
            "(e.g. {'vertebrae_L1': 31}) so each file gets a label")
    files: dict[str, Path] = {}
    for f in sorted(path.iterdir()):
        suf = _suffix(f)
        if suf in MASK_SUFFIXES:
            files[_norm(f.name[: -len(suf)])] = f
    out: np.ndarray | None = None
    grid: Volume | None = None
    for name, value in labels.items():
        f = files.get(_norm(name))
        if f is None:
            continue
        raw, vol = _read_label_file(f)
        lab = _as_labels(raw, f) > 0
        if grid is None:
            grid, out = vol, np.zeros(vol.shape, dtype=np.int32)
        elif not _same_grid(vol, grid):
            lab = resample_labels(lab.astype(np.int32), vol, grid) > 0
        out[lab] = int(value)  # type: ignore[index]
    if out is None or grid is None:
        raise ImageFormatError(
            f"{path}: none of the expected mask files found (looked for "
            f"{', '.join(list(labels)[:6])}{' ...' if len(labels) > 6 else ''} with .nii.gz/.nii/.nrrd); "
            "check the folder or the names")
    return out, grid


def segment_names(path: str | os.PathLike[str]) -> dict[int, str]:
    """``{segment number: segment label}`` of a DICOM SEG file."""
    seg = _read_seg(Path(path))
    return {int(s.SegmentNumber): str(s.SegmentLabel) for s in seg.SegmentSequence}


def _read_seg(path: Path) -> Any:
    import highdicom as hd
    import pydicom

    try:
        ds = pydicom.dcmread(str(path))
    except Exception as exc:
        raise ImageFormatError(f"{path}: not a readable DICOM file ({exc}); re-export it") from exc
    if str(getattr(ds, "SOPClassUID", "")) != "1.2.840.10008.5.1.4.1.1.66.4":
        raise ImageFormatError(
            f"{path}: a DICOM file but not a Segmentation object (SOP class "
            f"{getattr(ds, 'SOPClassUID', 'missing')}); give a DICOM SEG, or load images with io.load")
    try:
        return hd.seg.Segmentation.from_dataset(ds, copy=False)
    except Exception as exc:
        raise ImageFormatError(f"{path}: DICOM SEG that highdicom cannot parse ({exc})") from exc


def _dicom_seg(path: Path, labels: Mapping[str, int] | Sequence[int] | None) -> tuple[np.ndarray, Volume]:
    seg = _read_seg(path)
    numbers = {int(s.SegmentNumber): str(s.SegmentLabel) for s in seg.SegmentSequence}
    if isinstance(labels, Mapping):
        wanted = {_norm(k): int(v) for k, v in labels.items()}
        value_of = {n: wanted[_norm(name)] for n, name in numbers.items() if _norm(name) in wanted}
    else:
        value_of = {n: n for n in numbers}
    if not value_of:
        raise ImageFormatError(
            f"{path}: none of its segments ({', '.join(list(numbers.values())[:8])}) match the "
            "labels asked for; pass labels={segment label: id}")
    try:
        hvol = seg.get_volume(segment_numbers=sorted(value_of), combine_segments=False,
                              allow_missing_positions=True)
    except Exception as exc:
        raise ImageFormatError(
            f"{path}: DICOM SEG frames do not form a regular 3-D volume ({exc}); bonenet reads "
            "SEG objects whose frames lie on one regularly spaced grid") from exc
    arr = np.asarray(hvol.array)  # (slices, rows, columns, segments)
    out = np.zeros(arr.shape[:3], dtype=np.int32)
    for k, n in enumerate(sorted(value_of)):
        out[arr[..., k] > 0] = value_of[n]
    aff = np.asarray(hvol.affine, dtype=np.float64)
    sp = np.linalg.norm(aff[:3, :3], axis=0)
    grid = _grid(out.shape, sp, aff[:3, 3], aff[:3, :3] / sp)
    return out, grid


def load_mask(path: str | os.PathLike[str], like: Volume, *,
              labels: Mapping[str, int] | Sequence[int] | None = None) -> np.ndarray:
    """Read a mask and return its integer labels on the voxel grid of ``like``.

    Parameters
    ----------
    path : path
        A binary or multilabel label-map file (``.nii``/``.nii.gz``/``.nrrd``/``.nhdr``/
        ``.mha``/``.mhd``), a DICOM SEG file, or a folder of per-structure binary files
        (one structure per file, named by the structure: ``vertebrae_L1.nii.gz`` ...).
    like : Volume
        The image the mask belongs to; the result has its shape (P, R, C).
    labels : mapping of name to int, or sequence of int, optional
        Label-map file: the ids to keep (others become 0); a mapping keeps its values.
        Folder: required, ``{file stem: label}`` (files not named are ignored). DICOM SEG:
        ``{segment label: label}`` matched case- and punctuation-insensitively; by default
        each segment's number is its label.

    Returns
    -------
    ndarray of int32, shape ``like.shape``
        0 is background.

    Raises
    ------
    ImageFormatError
        The file cannot be read, holds non-integer values, or does not overlap ``like``
        in patient space (the message names the mask file).
    ConfigError
        ``like`` or ``labels`` is not what this function takes.
    """
    like = _check_like(like)
    labels = _check_labels(labels)
    p = Path(path)
    if not p.exists():
        raise ImageFormatError(f"{p}: no such mask file or folder; check the path")
    if p.is_dir():
        arr, grid = _folder(p, labels)
    elif _suffix(p) in MASK_SUFFIXES:
        raw, grid = _read_label_file(p)
        arr = _as_labels(raw, p)
        if labels is not None:
            keep = list(labels.values()) if isinstance(labels, Mapping) else list(labels)
            arr = np.where(np.isin(arr, keep), arr, 0).astype(np.int32)
    else:
        arr, grid = _dicom_seg(p, labels)
    if not arr.any():
        raise ImageFormatError(f"{p}: the mask holds no labelled voxel{' of the labels asked for' if labels else ''}")
    if not _overlaps(arr, grid, like):
        raise ImageFormatError(
            f"{p}: the mask does not overlap the image in patient space (mask origin "
            f"{tuple(round(o, 1) for o in grid.origin)} mm, image origin "
            f"{tuple(round(o, 1) for o in like.origin)} mm); is it the mask of another scan?")
    out = resample_labels(arr, grid, like)
    if not out.any():
        raise ImageFormatError(
            f"{p}: no labelled voxel falls on the image grid after resampling to it; is it the "
            "mask of another scan or of a thin slab between image slices?")
    return out

"""Scanco's own masks (standard evaluation) found next to a grey AIM and put on its grid.

Naming rules (:func:`find_scanco_masks`). For a grey-value AIM ``<stem>.AIM`` (optionally with an
OpenVMS version suffix, ``<stem>.AIM;1``), these files in the same folder are recognised, case
ignored, the highest ``;N`` version winning:

==================  ===========================  =============================================
key                 file                         what Scanco's standard evaluation stores
==================  ===========================  =============================================
``trab_mask``       ``<stem>_TRAB_MASK.AIM``     trabecular compartment (endosteal contour fill)
``cort_mask``       ``<stem>_CORT_MASK.AIM``     cortical compartment
``periosteal_mask`` ``<stem>_PERI_MASK.AIM`` or  whole bone inside the periosteal contour
                    ``<stem>_MASK.AIM``
``seg``             ``<stem>_SEG.AIM``           the binarised bone (``/seg_gauss``), not a
                                                 compartment
==================  ===========================  =============================================

The ``_TRAB_MASK``/``_CORT_MASK``/``_SEG`` names are those the XtremeCT standard evaluation
writes beside the measurement ``C0001234.AIM`` (e.g. ``C0001234_TRAB_MASK.AIM``), as public
HR-pQCT pipelines list them. Scanco keeps the periosteal contour as a GOBJ, so without a
periosteal AIM :func:`load_scanco_masks` uses the union of the two compartments.

Masks are usually cropped to their bounding box: the header's ``position`` says where their
first voxel sits on the scanner grid, and :func:`load_scanco_mask` pastes them there on the grey
image's grid.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import ImageFormatError
from ..volume import Volume
from ._scanco_common import CANONICAL
from .aim import read_aim_array

__all__ = ["MASK_KEYS", "find_scanco_masks", "is_scanco_mask_file", "load_scanco_mask", "load_scanco_masks"]

#: The mask roles bonenet knows; also the manifest column names for explicit mask files.
MASK_KEYS = ("trab_mask", "cort_mask", "periosteal_mask")
_SUFFIXES = {"TRAB_MASK": "trab_mask", "CORT_MASK": "cort_mask", "PERI_MASK": "periosteal_mask",
             "MASK": "periosteal_mask", "SEG": "seg"}
_VERSION = re.compile(r";\d+$")


def _stem(path: Path) -> str:
    name = _VERSION.sub("", path.name)
    return name[:-4] if name.lower().endswith(".aim") else Path(name).stem


_MASK_NAME = re.compile(r"_(TRAB_MASK|CORT_MASK|PERI_MASK|MASK|SEG)\.AIM(?:;\d+)?$", re.IGNORECASE)


def is_scanco_mask_file(path: str | Path) -> bool:
    """True when the name is one of Scanco's mask/segmentation AIMs (``*_TRAB_MASK.AIM``...).

    Study finders use it so that the masks beside a grey AIM are not taken for studies.
    """
    return bool(_MASK_NAME.search(Path(path).name))


def find_scanco_masks(grey_aim_path: str | Path) -> dict[str, Path]:
    """The Scanco mask files beside a grey AIM, by Scanco's naming (see the module table).

    Returns
    -------
    dict
        Keys among ``trab_mask``, ``cort_mask``, ``periosteal_mask``, ``seg``; only those found.
        ``_PERI_MASK`` wins over ``_MASK`` for the periosteal role.
    """
    grey = Path(grey_aim_path)
    folder = grey.parent if str(grey.parent) else Path(".")
    pattern = re.compile(rf"^{re.escape(_stem(grey))}_(TRAB_MASK|CORT_MASK|PERI_MASK|MASK|SEG)\.AIM(?:;(\d+))?$",
                         re.IGNORECASE)
    best: dict[str, tuple[int, int, Path]] = {}
    try:
        entries = list(folder.iterdir())
    except OSError:
        return {}
    for entry in entries:
        m = pattern.match(entry.name)
        if not m or not entry.is_file():
            continue
        kind = m.group(1).upper()
        key = _SUFFIXES[kind]
        rank = (1 if kind != "MASK" else 0, int(m.group(2) or 0))
        if key not in best or rank > best[key][:2]:
            best[key] = (*rank, entry)
    return {k: v[2] for k, v in sorted(best.items())}


def load_scanco_mask(mask_path: str | Path, like: Volume, *, max_voxels: int | None = None) -> np.ndarray:
    """Read a Scanco mask AIM onto the grid of ``like`` (the grey image it belongs to).

    Parameters
    ----------
    mask_path : path
        A mask or segmentation AIM (any voxel type; compressed types are usual).
    like : Volume
        The grey image, e.g. from :func:`bonenet.io.load` of the measurement AIM.
    max_voxels : int, optional
        Memory ceiling in voxels for the mask file.

    Returns
    -------
    ndarray of bool, shape ``like.shape``
        True where the stored value is non-zero; the mask's ``position`` places it (a mask
        cropped to its bounding box lands where it belongs); voxels outside the mask file are
        False.

    Raises
    ------
    ImageFormatError
        The mask has another voxel size or orientation than the grey image, is not on its
        voxel grid, or does not overlap it at all — the message names the file.
    """
    path = Path(mask_path)
    arr, hdr = read_aim_array(path, max_voxels=max_voxels)
    sp_zyx = np.asarray(hdr.element_size_mm[::-1], dtype=float)
    if not np.allclose(sp_zyx, like.spacing, rtol=1e-3, atol=1e-6):
        raise ImageFormatError(
            f"{path}: mask voxel size {tuple(round(float(s), 6) for s in sp_zyx)} mm differs from the grey "
            f"image's {tuple(round(float(s), 6) for s in like.spacing)} mm; use the mask written for this "
            "measurement (same scan, same resolution)")
    if not np.allclose(like.direction, CANONICAL, atol=1e-6):
        raise ImageFormatError(
            f"{path}: the grey image is not in Scanco's scanner orientation (direction "
            f"{np.round(like.direction, 3).tolist()}); load the grey AIM itself, not a reoriented copy")
    origin_xyz = np.asarray(hdr.position, dtype=float) * np.asarray(hdr.element_size_mm, dtype=float)
    start = like.world_to_index(origin_xyz[None, :])[0]
    first = np.round(start).astype(int)
    if np.abs(start - first).max() > 0.01:
        raise ImageFormatError(
            f"{path}: the mask's position {tuple(hdr.position)} is not on the grey image's voxel grid "
            f"(index {np.round(start, 3).tolist()}); the mask belongs to another scan")
    if np.all(first == 0) and arr.shape == like.shape:
        return arr != 0
    out = np.zeros(like.shape, dtype=bool)
    lo = np.maximum(first, 0)
    hi = np.minimum(first + np.asarray(arr.shape), np.asarray(like.shape))
    if np.any(hi <= lo):
        raise ImageFormatError(
            f"{path}: the mask (position {tuple(hdr.position)}, dimensions {tuple(hdr.dimensions)} voxels, "
            f"x y z) starts at index {first[::-1].tolist()} (x y z) of the grey image's grid and does not "
            f"overlap its {like.shape[::-1]} voxels; "
            "it belongs to another scan or another grey AIM")
    src = tuple(slice(int(a - f), int(b - f)) for a, b, f in zip(lo, hi, first, strict=True))
    dst = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    np.not_equal(arr[src], 0, out=out[dst])
    return out


def load_scanco_masks(like: Volume, *, grey_path: str | Path | None = None,
                      trab_mask: str | Path | None = None, cort_mask: str | Path | None = None,
                      periosteal_mask: str | Path | None = None,
                      max_voxels: int | None = None) -> dict[str, np.ndarray]:
    """Scanco's compartment masks on ``like``'s grid: explicit files first, then found ones.

    Parameters
    ----------
    like : Volume
        The grey image.
    grey_path : path, optional
        The grey AIM; masks not given explicitly are looked up beside it with
        :func:`find_scanco_masks`.
    trab_mask, cort_mask, periosteal_mask : path, optional
        Mask files (e.g. from the manifest columns of the same names). Blank strings count as
        not given.

    Returns
    -------
    dict
        ``trab_mask``, ``cort_mask``, ``periosteal_mask`` boolean arrays (shape ``like.shape``),
        only those available; ``periosteal_mask`` is the union of the two compartments when no
        periosteal file exists. Empty when no mask was given or found.
    """
    given = {"trab_mask": trab_mask, "cort_mask": cort_mask, "periosteal_mask": periosteal_mask}
    paths = {k: Path(v) for k, v in given.items() if v is not None and str(v).strip()}
    if grey_path is not None:
        for key, found in find_scanco_masks(grey_path).items():
            if key in MASK_KEYS:
                paths.setdefault(key, found)
    out = {key: load_scanco_mask(p, like, max_voxels=max_voxels) for key, p in paths.items()}
    if "periosteal_mask" not in out and "trab_mask" in out and "cort_mask" in out:
        out["periosteal_mask"] = np.logical_or(out["trab_mask"], out["cort_mask"])
    return out

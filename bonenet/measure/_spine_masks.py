"""Spine masks as users have them: TotalSegmentator v2 output in its usual forms.

Forms read by :func:`read_spine_masks` (all matched to the image in patient space by
:func:`bonenet.io.load_mask`):

* one multilabel NIfTI/NRRD of the ``total`` task (``--ml``; class ids in :data:`TS_TOTAL`),
* a folder of per-structure files (``vertebrae_L1.nii.gz`` ...), TotalSegmentator's default,
* a DICOM SEG whose segment labels name the structures (``vertebrae_L1``, ``L1 vertebra``,
  ``L1`` ...),
* optionally the ``vertebrae_body`` task output (one binary mask of all vertebral bodies),
  combined with any of the above: the body of level X is vertebra X ∩ body mask.

The ``total`` class ids (TotalSegmentator v2, ``totalsegmentator/map_to_binary.py``,
``class_map["total"]``): 25 sacrum, 26 S1, 27 L5 … 31 L1, 32 T12 … 43 T1, 44 C7 … 50 C1,
52 aorta, 79 spinal cord, 86/87 autochthon (paraspinal erector muscles) left/right, 88/89
iliopsoas left/right.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SegmentationError
from ..io import MASK_SUFFIXES, load_mask
from ..volume import Volume

__all__ = ["LEVELS", "TS_TOTAL", "SpineMasks", "read_spine_masks", "spine_masks_from_labels",
           "ts_vertebra_ids"]

from ..io.totalseg import LEVELS, TS_TOTAL, ts_vertebra_ids

_TISSUES = {"aorta": ("aorta",), "muscle": ("autochthon_left", "autochthon_right",
                                            "iliopsoas_left", "iliopsoas_right")}


@dataclass
class SpineMasks:
    """Per-level vertebra masks (and bodies, tissues) on an image's grid.

    Attributes
    ----------
    vertebrae : dict of level → bool ndarray (P, R, C)
        Whole-vertebra masks of the levels present (``"T12"``, ``"L1"`` ...).
    bodies : dict of level → bool ndarray
        Vertebral-body masks when a ``vertebrae_body`` mask was given (else empty).
    tissues : dict of name → bool ndarray
        ``"aorta"`` and ``"muscle"`` (paraspinal + psoas) when the masks hold them.
    source : str
        Which form was read (for the run record).
    """

    vertebrae: dict[str, np.ndarray]
    bodies: dict[str, np.ndarray] = field(default_factory=dict)
    tissues: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""
    boxes: dict[str, tuple[slice, slice, slice]] = field(default_factory=dict)

    def box(self, level: str) -> tuple[slice, slice, slice] | None:
        """Bounding box (2 voxels wider) of a level's vertebra mask, computed once."""
        if level not in self.boxes:
            from ._vertebra import mask_box

            b = mask_box(self.vertebrae[level])
            if b is None:
                return None
            self.boxes[level] = b
        return self.boxes[level]


def _aliases(level: str) -> list[str]:
    return [f"vertebrae_{level}", f"vertebra_{level}", f"{level}_vertebra", f"{level} vertebra", level]


def _name_labels(label_map: Mapping[str, int]) -> dict[str, int]:
    """Names (with the usual aliases for vertebrae) → ids, for folders and DICOM SEG."""
    out: dict[str, int] = {}
    for name, i in label_map.items():
        out[name] = i
        if name.startswith("vertebrae_"):
            for a in _aliases(name[len("vertebrae_"):]):
                out.setdefault(a, i)
    return out


def _split(labels: np.ndarray, label_map: Mapping[str, int]) -> tuple[dict[str, np.ndarray],
                                                                       dict[str, np.ndarray],
                                                                       dict[str, tuple[slice, ...]]]:
    """Per-level and per-tissue bool masks, each built inside its label's bounding box
    (one pass over the label map; the rest of each mask stays untouched zero pages)."""
    from scipy import ndimage as ndi

    lab = np.ascontiguousarray(labels)
    top = int(lab.max()) if lab.size else 0
    boxes = ndi.find_objects(lab.astype(np.int32, copy=False), max_label=max(top, 1))

    def mask_of(ids: list[int]) -> tuple[np.ndarray, tuple[slice, ...]] | None:
        bs = [boxes[i - 1] for i in ids if 0 < i <= len(boxes) and boxes[i - 1] is not None]
        if not bs:
            return None
        box = tuple(slice(max(min(b[k].start for b in bs) - 2, 0), min(max(b[k].stop for b in bs) + 2, n))
                    for k, n in enumerate(lab.shape))
        m = np.zeros(lab.shape, dtype=bool)
        m[box] = np.isin(lab[box], ids)
        return m, box

    vertebrae, vboxes = {}, {}
    for lv in LEVELS:
        i = label_map.get(f"vertebrae_{lv}")
        got = mask_of([i]) if i is not None else None
        if got is not None:
            vertebrae[lv], vboxes[lv] = got
    tissues = {}
    for t, names in _TISSUES.items():
        got = mask_of([label_map[n] for n in names if n in label_map])
        if got is not None:
            tissues[t] = got[0]
    return vertebrae, tissues, vboxes


def spine_masks_from_labels(labels: np.ndarray, *, label_map: Mapping[str, int] | None = None,
                            source: str = "label array") -> SpineMasks:
    """:class:`SpineMasks` from an integer label array already on the image grid
    (TotalSegmentator ``total`` ids by default)."""
    vertebrae, tissues, boxes = _split(np.asarray(labels), dict(label_map or TS_TOTAL))
    return SpineMasks(vertebrae=vertebrae, tissues=tissues, source=source, boxes=boxes)


def read_spine_masks(path: str | os.PathLike[str], like: Volume, *,
                     body: str | os.PathLike[str] | None = None,
                     label_map: Mapping[str, int] | None = None) -> SpineMasks:
    """Read vertebra (and body, tissue) masks for ``like`` from TotalSegmentator-style output.

    Parameters
    ----------
    path : path
        Multilabel file (NIfTI/NRRD), folder of per-structure files, or DICOM SEG.
    like : Volume
        The CT the masks belong to.
    body : path, optional
        The ``vertebrae_body`` task's binary mask (all bodies); when ``path`` is a folder
        holding ``vertebrae_body.nii.gz`` it is used without being named.
    label_map : mapping, optional
        Structure name → label id of a multilabel file; default :data:`TS_TOTAL`.

    Raises
    ------
    SegmentationError
        No vertebra of a known level is in the masks.
    """
    p = Path(path)
    lmap = dict(label_map or TS_TOTAL)
    if p.is_dir():
        labels = load_mask(p, like, labels=_name_labels(lmap))
        form = "folder of per-structure masks"
        if body is None:
            for suf in MASK_SUFFIXES:
                if (p / f"vertebrae_body{suf}").exists():
                    body = p / f"vertebrae_body{suf}"
                    break
    elif any(p.name.lower().endswith(s) for s in MASK_SUFFIXES):
        labels = load_mask(p, like)
        form = "multilabel file"
    else:
        labels = load_mask(p, like, labels=_name_labels(lmap))
        form = "DICOM SEG"
    vertebrae, tissues, boxes = _split(labels, lmap)
    if not vertebrae:
        found = sorted(int(v) for v in np.unique(labels) if v)[:12]
        raise SegmentationError(
            f"{p}: no vertebra label found (labels present: {found}); bonenet expects "
            "TotalSegmentator v2 'total' ids (L1 = 31, T12 = 32 ...) or per-structure files "
            "named vertebrae_L1.nii.gz ...; pass label_map for another labelling")
    bodies: dict[str, np.ndarray] = {}
    if body is not None:
        bmask = load_mask(body, like) > 0
        for lv, m in vertebrae.items():
            b = np.zeros(m.shape, dtype=bool)
            bx = boxes[lv]
            b[bx] = m[bx] & bmask[bx]
            if b[bx].any():
                bodies[lv] = b
        form += " + vertebrae_body"
    return SpineMasks(vertebrae=vertebrae, bodies=bodies, tissues=tissues, source=form, boxes=boxes)

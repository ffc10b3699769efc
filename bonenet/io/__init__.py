"""Find, select and read scans into :class:`~bonenet.volume.Volume`; write them back.

``load(path)`` reads a DICOM folder or file, NIfTI, NRRD/MHA, or Scanco AIM/ISQ;
``load_mask(path, like=image)`` reads a label map (NIfTI/NRRD/DICOM SEG/folder) onto an
image's grid; ``scan(path)`` lists the DICOM series under a folder from headers only; ``save(volume, path)``
writes NIfTI, NRRD/MHA, Scanco AIM, or (a path without suffix / ``format="dicom"``) a DICOM
series. Format modules: :mod:`.dicom`, :mod:`.dicom_write`, :mod:`.scan`, :mod:`.scanco`
(re-exports :mod:`.aim`, :mod:`.isq`), :mod:`.nifti`, :mod:`.sitk_formats`.
``find_scanco_masks(grey_aim)`` / ``load_scanco_mask(mask_aim, like=grey)`` /
``load_scanco_masks(grey, grey_path=...)`` put Scanco's standard-evaluation masks on a grey
image's grid (:mod:`.scanco_masks`).
"""

from __future__ import annotations

from ._dispatch import (
    IMAGE_SUFFIXES,
    UNIT_FREE_SUFFIXES,
    LoadOptions,
    declares_units,
    image_stem,
    load,
    save,
)
from .masks import MASK_SUFFIXES, load_mask, segment_names
from .scan import SeriesInfo, scan
from .scanco_masks import find_scanco_masks, load_scanco_mask, load_scanco_masks

__all__ = ["IMAGE_SUFFIXES", "MASK_SUFFIXES", "UNIT_FREE_SUFFIXES", "LoadOptions", "SeriesInfo", "declares_units",
           "find_scanco_masks", "image_stem", "load", "load_mask", "load_scanco_mask",
           "load_scanco_masks", "save", "scan", "segment_names"]

"""Find, select and read scans into :class:`~bonenet.volume.Volume`; write them back.

``load(path)`` reads a DICOM folder or file, NIfTI, NRRD/MHA, or Scanco AIM/ISQ;
``load_mask(path, like=image)`` reads a label map (NIfTI/NRRD/DICOM SEG/folder) onto an
image's grid; ``scan(path)`` lists the DICOM series under a folder from headers only; ``save(volume, path)``
writes NIfTI, NRRD/MHA, Scanco AIM, or (a path without suffix / ``format="dicom"``) a DICOM
series. Format modules: :mod:`.dicom`, :mod:`.dicom_write`, :mod:`.scan`, :mod:`.scanco`,
:mod:`.nifti`, :mod:`.sitk_formats`.
"""

from __future__ import annotations

from ._dispatch import load, save
from .masks import MASK_SUFFIXES, load_mask, segment_names
from .scan import SeriesInfo, scan

__all__ = ["MASK_SUFFIXES", "SeriesInfo", "load", "load_mask", "save", "scan", "segment_names"]

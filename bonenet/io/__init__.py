"""Find, select and read scans into :class:`~bonenet.volume.Volume`; write them back.

``load(path)`` reads a DICOM folder or file, NIfTI, NRRD/MHA, or Scanco AIM/ISQ;
``scan(path)`` lists the DICOM series under a folder from headers only; ``save(volume, path)``
writes NIfTI, NRRD/MHA, Scanco AIM, or (a path without suffix / ``format="dicom"``) a DICOM
series. Format modules: :mod:`.dicom`, :mod:`.dicom_write`, :mod:`.scan`, :mod:`.scanco`,
:mod:`.nifti`, :mod:`.sitk_formats`.
"""

from __future__ import annotations

from ._dispatch import IMAGE_SUFFIXES, UNIT_FREE_SUFFIXES, declares_units, image_stem, load, save
from .scan import SeriesInfo, scan

__all__ = ["IMAGE_SUFFIXES", "UNIT_FREE_SUFFIXES", "SeriesInfo", "declares_units", "image_stem", "load",
           "save", "scan"]

"""Find, select and read scans into :class:`~bonenet.volume.Volume`; write NIfTI and DICOM.

``load(path)`` reads a DICOM folder or file, NIfTI, NRRD/MHA, or Scanco AIM/ISQ;
``scan(path)`` lists the DICOM series under a folder from headers only; ``save(volume, path)``
writes NIfTI or a DICOM series.
"""

from __future__ import annotations

from ._dispatch import load, save
from .scan import SeriesInfo, scan

__all__ = ["SeriesInfo", "load", "save", "scan"]

"""Bone, cortical and trabecular masks from calibrated images; QCT volumes of interest.

- :func:`gaussian_segment` — the standard HR-pQCT evaluation (Gaussian σ 0.8, support 1,
  XtremeCT II thresholds 320 / 450 mg HA/cm³; XtremeCT I conventions documented).
- :func:`autocontour` — periosteal and endosteal contours (dual threshold, after Buie 2007):
  cortical and trabecular compartments.
- :func:`vertebral_voi`, :func:`voi_stats` — QCT trabecular VOI in a vertebral body.
"""

from __future__ import annotations

from .hrpqct import SCANNER_PRESETS, Compartments, autocontour, gaussian_segment, xtremect1_derived
from .qct import vertebral_voi, voi_stats

__all__ = [
    "SCANNER_PRESETS",
    "Compartments",
    "autocontour",
    "gaussian_segment",
    "vertebral_voi",
    "voi_stats",
    "xtremect1_derived",
]

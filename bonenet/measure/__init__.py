"""Measurement pipelines: one study → measurements (spine on routine CT, per vertebra).

Spine (issue 16): :func:`measure_spine` (one study → :class:`SpineResult`, one row per
vertebra), :func:`measure_spine_batch` (a folder of studies, resumable, pseudonymised,
sharded), :func:`read_spine_masks` (TotalSegmentator output in its usual forms),
:func:`vertebra_crop` (per-vertebra crops for QCT models), :func:`write_spine_dicom`
(DICOM SEG + Comprehensive 3D SR back to PACS).
"""

from __future__ import annotations

from ._spine_batch import (
    SpineBatchSummary,
    find_spine_studies,
    measure_spine_batch,
    merge_spine_shards,
    parse_shard,
)
from ._spine_density import GENANT_THRESHOLDS, PHASES, PICKHARDT_L1_HU, genant_grade, tissue_rois
from ._spine_dicom import read_spine_sr, write_spine_dicom
from ._spine_masks import LEVELS, TS_TOTAL, SpineMasks, read_spine_masks, spine_masks_from_labels
from ._spine_segment import run_totalsegmentator, vertebra_crop
from ._vertebra import VertebraGeometry, find_body, measure_vertebra
from .spine import SPINE_COLUMNS, SpineResult, load_spine_image, measure_spine

__all__ = [
    "GENANT_THRESHOLDS",
    "LEVELS",
    "PHASES",
    "PICKHARDT_L1_HU",
    "SPINE_COLUMNS",
    "TS_TOTAL",
    "SpineBatchSummary",
    "SpineMasks",
    "SpineResult",
    "VertebraGeometry",
    "find_body",
    "find_spine_studies",
    "genant_grade",
    "load_spine_image",
    "measure_spine",
    "measure_spine_batch",
    "measure_vertebra",
    "merge_spine_shards",
    "parse_shard",
    "read_spine_masks",
    "read_spine_sr",
    "run_totalsegmentator",
    "spine_masks_from_labels",
    "tissue_rois",
    "vertebra_crop",
    "write_spine_dicom",
]

"""Measure studies: load → calibrate → segment → morphometry, one study or a batch; and the
spine on routine clinical CT, per vertebra.

Bone microstructure and density: ``measure_study`` turns one study (a path or a loaded
:class:`bonenet.Volume`) into one feature row whose column names carry their units
(:func:`feature_columns`); ``measure_batch`` does a manifest's studies in worker processes with
an errors CSV. ``bonenet features``, ``bonenet predict --measure`` and the demo all call these.

Spine on routine CT: :func:`measure_spine` (one study → :class:`SpineResult`, one row per
vertebra), :func:`measure_spine_batch` (a folder of studies, resumable, pseudonymised,
sharded), :func:`read_spine_masks` (TotalSegmentator output in its usual forms),
:func:`vertebra_crop` (per-vertebra crops for QCT models), :func:`write_spine_dicom`
(DICOM SEG + Comprehensive 3D SR back to PACS). ``bonenet spine`` calls these.
"""

from __future__ import annotations

from ._batch import ERROR_COLUMNS, MeasureSummary, measure_batch, read_measure_manifest
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
from ._study import (
    FEATURE_COLUMNS,
    QCT_COLUMNS,
    detect_modality,
    feature_columns,
    measure_study,
    measure_volume,
)
from ._vertebra import VertebraGeometry, find_body, measure_vertebra
from .spine import SPINE_COLUMNS, SpineResult, load_spine_image, measure_spine

__all__ = [
    "ERROR_COLUMNS",
    "FEATURE_COLUMNS",
    "GENANT_THRESHOLDS",
    "LEVELS",
    "PHASES",
    "PICKHARDT_L1_HU",
    "QCT_COLUMNS",
    "SPINE_COLUMNS",
    "TS_TOTAL",
    "MeasureSummary",
    "SpineBatchSummary",
    "SpineMasks",
    "SpineResult",
    "VertebraGeometry",
    "detect_modality",
    "feature_columns",
    "find_body",
    "find_spine_studies",
    "genant_grade",
    "load_spine_image",
    "measure_batch",
    "measure_spine",
    "measure_spine_batch",
    "measure_study",
    "measure_vertebra",
    "measure_volume",
    "merge_spine_shards",
    "parse_shard",
    "read_measure_manifest",
    "read_spine_masks",
    "read_spine_sr",
    "run_totalsegmentator",
    "spine_masks_from_labels",
    "tissue_rois",
    "vertebra_crop",
    "write_spine_dicom",
]

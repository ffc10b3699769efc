"""Measure studies: load → calibrate → segment → morphometry, one study or a batch.

``measure_study`` turns one study (a path or a loaded :class:`bonenet.Volume`) into one feature
row whose column names carry their units (:func:`feature_columns`); ``measure_batch`` does a
manifest's studies in worker processes with an errors CSV. ``bonenet features``, ``bonenet
predict --measure`` and the demo all call these.
"""

from __future__ import annotations

from ._batch import ERROR_COLUMNS, MeasureSummary, measure_batch, read_measure_manifest
from ._study import (
    FEATURE_COLUMNS,
    QCT_COLUMNS,
    detect_modality,
    feature_columns,
    measure_study,
    measure_volume,
)

__all__ = [
    "ERROR_COLUMNS",
    "FEATURE_COLUMNS",
    "QCT_COLUMNS",
    "MeasureSummary",
    "detect_modality",
    "feature_columns",
    "measure_batch",
    "measure_study",
    "measure_volume",
    "read_measure_manifest",
]

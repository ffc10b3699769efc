"""Batch prediction over folders of studies, resumable writers, and model export.

``discover_studies`` finds the studies, ``load_predictor`` rebuilds a trained model with its
preprocessing from a checkpoint, ``predict_studies`` writes ``predictions.csv`` and
``errors.csv`` (resumable, row-atomic, pseudonymised, decoded in worker processes), and
``export_model`` writes TorchScript or ONNX with a parity check.
"""

from __future__ import annotations

from ._checkpoint import file_sha256, load_predictor, model_name
from ._export import FORMATS, ExportResult, export_checkpoint, export_network
from ._loop import ERROR_COLUMNS, PredictSummary, output_columns, predict_studies
from ._prepare import (
    Failed,
    Prepared,
    StudyDataset,
    StudyError,
    StudyPreparer,
    load_study_image,
    qc_flags,
)
from ._pseudo import SALT_ENV, Pseudonymizer, resolve_salt
from ._runner import (
    RISK_THRESHOLDS,
    ModelRunner,
    Predictor,
    StudyBatch,
    collate_studies,
    head_column,
    risk_category,
)
from ._studies import PASSTHROUGH_COLUMNS, Study, discover_studies, read_clinical
from ._writer import ResumableCSV, merge_shards, read_rows

__all__ = [
    "ERROR_COLUMNS",
    "FORMATS",
    "PASSTHROUGH_COLUMNS",
    "RISK_THRESHOLDS",
    "SALT_ENV",
    "ExportResult",
    "Failed",
    "ModelRunner",
    "PredictSummary",
    "Predictor",
    "Prepared",
    "Pseudonymizer",
    "ResumableCSV",
    "Study",
    "StudyBatch",
    "StudyDataset",
    "StudyError",
    "StudyPreparer",
    "collate_studies",
    "discover_studies",
    "export_checkpoint",
    "export_network",
    "file_sha256",
    "head_column",
    "load_predictor",
    "load_study_image",
    "merge_shards",
    "model_name",
    "output_columns",
    "predict_studies",
    "qc_flags",
    "read_clinical",
    "read_rows",
    "resolve_salt",
    "risk_category",
]

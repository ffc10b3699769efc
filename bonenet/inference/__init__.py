"""Batch prediction over folders of studies, resumable writers, and model export.

``discover_studies`` finds the studies, ``load_predictor`` rebuilds a trained model with its
study-input settings (:class:`bonenet.data.StudyInput`) from a checkpoint, ``predict_studies``
writes ``predictions.csv`` and ``errors.csv`` (resumable, row-atomic, pseudonymised, decoded
in worker processes), and ``export_checkpoint`` writes TorchScript or ONNX with a parity check.
The building blocks (``StudyPreparer``, ``ModelRunner``, ``collate_studies``…) stay importable
from their modules for pipelines that assemble their own loop.
"""

from __future__ import annotations

from .._pseudo import SALT_ENV, Pseudonymizer, resolve_salt
from .._writer import ResumableCSV, merge_shards, read_rows
from ._checkpoint import load_predictor
from ._export import FORMATS, ExportResult, export_checkpoint, export_network
from ._loop import ERROR_COLUMNS, PredictSummary, predict_studies
from ._runner import RISK_THRESHOLDS, Predictor
from ._studies import Studies, Study, discover_studies

__all__ = [
    "ERROR_COLUMNS",
    "FORMATS",
    "RISK_THRESHOLDS",
    "SALT_ENV",
    "ExportResult",
    "PredictSummary",
    "Predictor",
    "Pseudonymizer",
    "ResumableCSV",
    "Studies",
    "Study",
    "discover_studies",
    "export_checkpoint",
    "export_network",
    "load_predictor",
    "merge_shards",
    "predict_studies",
    "read_rows",
    "resolve_salt",
]

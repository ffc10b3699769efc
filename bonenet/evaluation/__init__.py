"""Evaluation of fracture-risk predictions: discrimination, calibration, decision curves,
reclassification, time-to-event metrics, subgroups and external validation, and reports.

Every metric is a plain function on arrays (``y`` 0/1 outcomes, ``p`` probabilities).
Bad input raises :class:`bonenet.EvaluationError`; a metric that has no value for the data
(one outcome class, an empty site) raises :class:`MetricUndefinedError`, which reports
record as "undefined" with the reason.
"""

from __future__ import annotations

from ._checks import MetricUndefinedError
from ._io import load_predictions
from .bootstrap import BootstrapResult, bootstrap_counts, bootstrap_indices, bootstrap_metrics
from .calibration import (
    brier_score,
    calibration_curve_binned,
    calibration_curve_lowess,
    calibration_intercept_slope,
    expected_calibration_error,
    expected_observed_ratio,
    integrated_calibration_index,
    scaled_brier_score,
)
from .decision import decision_curve, net_benefit
from .discrimination import (
    AUCResult,
    DeLongComparison,
    average_precision,
    delong_auc,
    delong_compare,
    roc_auc,
    roc_curve,
    threshold_metrics,
    youden_threshold,
)
from .reclassification import reclassification, reclassification_table
from .report import evaluate_predictions, write_report
from .subgroups import age_bands, external_validation, metrics_by_group
from .survival import (
    aalen_johansen,
    calibration_at_horizon,
    competing_td_auc,
    harrell_c,
    kaplan_meier,
    survival_metrics,
    time_dependent_auc,
    uno_c,
    wolbers_c,
)

__all__ = [
    "AUCResult",
    "BootstrapResult",
    "DeLongComparison",
    "MetricUndefinedError",
    "aalen_johansen",
    "age_bands",
    "average_precision",
    "bootstrap_counts",
    "bootstrap_indices",
    "bootstrap_metrics",
    "brier_score",
    "calibration_at_horizon",
    "calibration_curve_binned",
    "calibration_curve_lowess",
    "calibration_intercept_slope",
    "competing_td_auc",
    "decision_curve",
    "delong_auc",
    "delong_compare",
    "evaluate_predictions",
    "expected_calibration_error",
    "expected_observed_ratio",
    "external_validation",
    "harrell_c",
    "integrated_calibration_index",
    "kaplan_meier",
    "load_predictions",
    "metrics_by_group",
    "net_benefit",
    "reclassification",
    "reclassification_table",
    "roc_auc",
    "roc_curve",
    "scaled_brier_score",
    "survival_metrics",
    "threshold_metrics",
    "time_dependent_auc",
    "uno_c",
    "wolbers_c",
    "write_report",
    "youden_threshold",
]

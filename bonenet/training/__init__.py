"""Lightning training for bonenet fusion models.

``FractureRiskModule`` (losses, metrics, AdamW + cosine), the LightningCLI wiring behind
``bonenet train``, exact mid-epoch resume, :func:`load_for_inference`, the config-key check, the smoothed
early stopping and the end-of-run yardstick (model vs clinical logistic regression).
"""

from __future__ import annotations

from ._inference import load_for_inference
from ._validate import validate_config
from .losses import (
    binary_loss,
    discrete_competing_targets,
    discrete_survival_targets,
    huber_loss,
    survival_nll,
)
from .module import FractureRiskModule
from .resume import ExactResume, LastCheckpoint
from .smoothing import SmoothedEarlyStopping
from .yardstick import Yardstick, compare_aucs

__all__ = [
    "ExactResume",
    "FractureRiskModule",
    "LastCheckpoint",
    "SmoothedEarlyStopping",
    "Yardstick",
    "binary_loss",
    "compare_aucs",
    "discrete_competing_targets",
    "discrete_survival_targets",
    "huber_loss",
    "load_for_inference",
    "survival_nll",
    "validate_config",
]

"""Lightning training for bonenet fusion models.

``FractureRiskModule`` (losses, metrics, AdamW + cosine), the LightningCLI wiring behind
``bonenet train``, exact mid-epoch resume, and :func:`load_for_inference`.
"""

from __future__ import annotations

from ._inference import load_for_inference
from .losses import (
    binary_loss,
    discrete_competing_targets,
    discrete_survival_targets,
    huber_loss,
    survival_nll,
)
from .module import FractureRiskModule
from .resume import ExactResume, LastCheckpoint

__all__ = [
    "ExactResume",
    "FractureRiskModule",
    "LastCheckpoint",
    "binary_loss",
    "discrete_competing_targets",
    "discrete_survival_targets",
    "huber_loss",
    "load_for_inference",
    "survival_nll",
]

"""Feature extractors (2D/3D), the clinical encoder MLP and the fusion network.

Plain ``nn.Module``s; training lives in :mod:`bonenet.training`.

>>> from bonenet.models import build_fusion_model, create_model, FusionModel
>>> enc = create_model("trabecular_cnn", spatial_dims=3)
>>> net = FusionModel(enc, clinical_features=20, fusion="film", heads=("fracture", "survival"))
>>> ens = build_fusion_model(backbone="trabecular_cnn", clinical_features=20, ensemble=5)
"""

from __future__ import annotations

from ._contract import FusionNetwork, head_column, model_name, network_risk, prediction_columns
from ._registry import create_model, list_models, register_model
from .ensemble import FusionEnsemble
from .fusion import HEADS, ClinicalMLP, FusionModel, build_fusion_model
from .pretrained import LoadReport, load_pretrained, read_state_dict
from .trabecular import TrabecularCNN

__all__ = [
    "HEADS",
    "ClinicalMLP",
    "FusionEnsemble",
    "FusionModel",
    "FusionNetwork",
    "LoadReport",
    "TrabecularCNN",
    "build_fusion_model",
    "create_model",
    "head_column",
    "list_models",
    "load_pretrained",
    "model_name",
    "network_risk",
    "prediction_columns",
    "read_state_dict",
    "register_model",
]

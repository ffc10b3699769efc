"""Build a fusion network — one :class:`FusionModel` or a :class:`FusionEnsemble` of them —
from plain values (what configs and checkpoints store). Kept apart from both classes so that
neither imports the other's module."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..errors import ConfigError
from .ensemble import FusionEnsemble
from .fusion import FusionModel

__all__ = ["build_fusion_model"]


def build_fusion_model(
    *,
    backbone: str | None = "trabecular_cnn",
    spatial_dims: int = 3,
    in_channels: int = 1,
    clinical_features: int = 0,
    pretrained: str | None = None,
    backbone_kwargs: dict | None = None,
    fusion: str = "concat",
    heads: Sequence[str] = ("fracture",),
    n_intervals: int = 10,
    hidden: int = 64,
    dropout: float = 0.2,
    ensemble: int = 1,
    clinical_path: str = "mlp",
) -> nn.Module:
    """Build a :class:`FusionModel` from plain values (what checkpoints store).

    ``backbone=None`` builds a clinical-only model. ``ensemble=K`` (K ≥ 2) builds a
    :class:`~bonenet.models.FusionEnsemble` of K such networks, each with its own initial
    weights (drawn one after another from the global RNG, so one ``seed`` fixes them all);
    ``pretrained`` weights are loaded into every member's backbone.
    """
    from ._registry import create_model

    k = int(ensemble)
    if k < 1:
        raise ConfigError(f"model.ensemble must be ≥ 1 (1 = a single network), got {ensemble!r}")

    def one() -> FusionModel:
        encoder = None
        if backbone:
            encoder = create_model(backbone, spatial_dims=spatial_dims, in_channels=in_channels,
                                   pretrained=pretrained, **(backbone_kwargs or {}))
        return FusionModel(encoder, clinical_features, fusion=fusion, heads=heads,
                           n_intervals=n_intervals, hidden=hidden, dropout=dropout,
                           clinical_path=clinical_path)

    if k == 1:
        return one()
    return FusionEnsemble([one() for _ in range(k)])

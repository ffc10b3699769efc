"""Model registry: backbones register a builder under a name (timm's ``_registry`` idea).

Private machinery; the public entry points are :func:`bonenet.models.create_model` and
:func:`bonenet.models.list_models`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from ..errors import ConfigError

__all__ = ["create_model", "list_models", "register_model"]

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_SPATIAL_DIMS: dict[str, tuple[int, ...]] = {}


def register_model(name: str, *, spatial_dims: tuple[int, ...] = (2, 3)):
    """Decorator registering ``builder(spatial_dims=, in_channels=, **kw) -> nn.Module``.

    The built module must expose ``feature_dim: int`` and ``forward_features(x) -> (B, feature_dim)``.
    """

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS:
            raise ValueError(f"model name {name!r} is registered twice")
        _BUILDERS[name] = fn
        _SPATIAL_DIMS[name] = tuple(spatial_dims)
        return fn

    return deco


def list_models(*, spatial_dims: int | None = None) -> list[str]:
    """Sorted names of the registered extractors (optionally only those supporting ``spatial_dims``)."""
    _ensure_loaded()
    return sorted(n for n in _BUILDERS if spatial_dims is None or spatial_dims in _SPATIAL_DIMS[n])


def create_model(
    name: str,
    *,
    spatial_dims: int,
    in_channels: int = 1,
    pretrained: str | None = None,
    **kw: Any,
) -> nn.Module:
    """Build the feature extractor ``name``.

    Parameters
    ----------
    name : str
        A name from :func:`list_models`, e.g. ``"trabecular_cnn"``, ``"resnet18"``, ``"densenet121"``.
    spatial_dims : int
        2 (DXA-like projections, slices) or 3 (CT / HR-pQCT volumes).
    in_channels : int
        Image channels (1 for a calibrated density volume).
    pretrained : str, optional
        Path of a local weights file (``.pt``/``.pth`` state dict, MedicalNet format accepted, or
        ``.safetensors``). Nothing is ever downloaded.
    **kw
        Builder-specific options (e.g. ``channels`` for the trabecular CNN).

    Returns
    -------
    nn.Module
        With ``feature_dim`` and ``forward_features(x: (B, C, *spatial)) -> (B, feature_dim)``.

    Raises
    ------
    ConfigError
        Unknown name (the message lists the known ones) or unsupported ``spatial_dims``.
    """
    _ensure_loaded()
    if name not in _BUILDERS:
        raise ConfigError(
            f"unknown model {name!r}; known models: {', '.join(list_models())} "
            "(set model.backbone to one of these)"
        )
    if spatial_dims not in _SPATIAL_DIMS[name]:
        raise ConfigError(
            f"model {name!r} supports spatial_dims {_SPATIAL_DIMS[name]}, got {spatial_dims!r}"
        )
    if int(in_channels) < 1:
        raise ConfigError(f"in_channels must be >= 1, got {in_channels!r}")
    model = _BUILDERS[name](spatial_dims=spatial_dims, in_channels=int(in_channels), **kw)
    if pretrained:
        from .pretrained import load_pretrained

        load_pretrained(model, pretrained)
    return model


def _ensure_loaded() -> None:
    # Importing the modules registers their builders.
    from . import backbones, trabecular  # noqa: F401

"""MONAI backbones wrapped to the bonenet extractor contract.

Each wrapper exposes ``feature_dim`` and ``forward_features(x) -> (B, feature_dim)`` (the
globally pooled features before the classifier), for ``spatial_dims`` 2 and 3.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ._registry import register_model

__all__ = ["DenseNetFeatures", "ResNetFeatures", "SENetFeatures"]


class ResNetFeatures(nn.Module):
    """A MONAI ``ResNet`` without its fully connected layer (``feed_forward=False``).

    Parameter names match the MONAI (and, with ``medicalnet=True``, MedicalNet) state dicts, so
    MedicalNet weights load with :func:`bonenet.models.load_pretrained`.
    """

    def __init__(self, depth: int, *, spatial_dims: int, in_channels: int, medicalnet: bool = False,
                 **kw: Any) -> None:
        super().__init__()
        from monai.networks.nets import resnet

        builders = {10: resnet.resnet10, 18: resnet.resnet18, 34: resnet.resnet34, 50: resnet.resnet50}
        if medicalnet:
            bias_downsample, shortcut_type = resnet.get_medicalnet_pretrained_resnet_args(depth)
            kw.setdefault("bias_downsample", bias_downsample)
            kw.setdefault("shortcut_type", shortcut_type)
        self.net = builders[depth](
            pretrained=False, spatial_dims=spatial_dims, n_input_channels=in_channels,
            feed_forward=False, **kw,
        )
        self.feature_dim = int(self.net.in_planes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, *spatial) → (B, feature_dim)."""
        return self.net(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)


class DenseNetFeatures(nn.Module):
    """MONAI ``DenseNet121`` whose classifier is replaced by ReLU → global average pool → flatten."""

    def __init__(self, *, spatial_dims: int, in_channels: int, **kw: Any) -> None:
        super().__init__()
        from monai.networks.nets import DenseNet121

        net = DenseNet121(spatial_dims=spatial_dims, in_channels=in_channels, out_channels=1, **kw)
        self.feature_dim = int(net.class_layers.out.in_features)
        net.class_layers.out = nn.Identity()
        self.net = net

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, *spatial) → (B, feature_dim)."""
        return self.net(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)


class SENetFeatures(nn.Module):
    """MONAI ``SEResNet50`` / ``SEResNeXt50`` trunk with global average pooling."""

    def __init__(self, variant: str, *, spatial_dims: int, in_channels: int, **kw: Any) -> None:
        super().__init__()
        from monai.networks import nets

        cls = {"seresnet50": nets.SEResNet50, "seresnext50": nets.SEResNext50}[variant]
        net = cls(spatial_dims=spatial_dims, in_channels=in_channels, num_classes=1, **kw)
        self.feature_dim = int(net.last_linear.in_features)
        net.last_linear = nn.Identity()
        self.net = net

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, *spatial) → (B, feature_dim)."""
        x = self.net.features(x)
        x = self.net.adaptive_avg_pool(x)
        return torch.flatten(x, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)


def _register_resnet(depth: int) -> None:
    @register_model(f"resnet{depth}")
    def _build(*, spatial_dims: int, in_channels: int, **kw: Any) -> nn.Module:
        return ResNetFeatures(depth, spatial_dims=spatial_dims, in_channels=in_channels, **kw)


for _d in (10, 18, 34, 50):
    _register_resnet(_d)


@register_model("densenet121")
def _densenet121(*, spatial_dims: int, in_channels: int, **kw: Any) -> nn.Module:
    return DenseNetFeatures(spatial_dims=spatial_dims, in_channels=in_channels, **kw)


@register_model("seresnet50")
def _seresnet50(*, spatial_dims: int, in_channels: int, **kw: Any) -> nn.Module:
    return SENetFeatures("seresnet50", spatial_dims=spatial_dims, in_channels=in_channels, **kw)

"""bonenet's compact trabecular CNN for 64³–128³ HR-pQCT/QCT regions and 2D DXA-like images.

Small enough to train on a CPU: about 0.1 GMAC per 64³ sample with the default widths. The
stem downsamples by 2 (trabeculae are 1–3 voxels thick at HR-pQCT resolution, so one strided
3-voxel convolution still sees them); four residual stages follow, and the features are the
global mean and standard deviation of the last two stages (texture statistics, which is what
microstructure such as BV/TV, Tb.Th and Tb.Sp shows up as). ``input_stats=True`` adds the mean
and standard deviation of the input itself — for a calibrated, absolutely windowed region, its
volumetric BMD. It is off by default: on the synthetic HR-pQCT benchmark it did not raise the
internal test AUC over three splits, and it lowered the external-site AUC of the demo, whose
external scanner has a different tissue density — an absolute-level feature is the first thing a
calibration difference between sites moves (``docs/training.md``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ConfigError
from ._registry import register_model

__all__ = ["TrabecularCNN"]


def _conv(spatial_dims: int) -> type[nn.Module]:
    return nn.Conv3d if spatial_dims == 3 else nn.Conv2d


def _norm(spatial_dims: int) -> type[nn.Module]:
    return nn.BatchNorm3d if spatial_dims == 3 else nn.BatchNorm2d


class _Stage(nn.Module):
    """Strided conv → BN → ReLU, then a residual conv → BN, ReLU."""

    def __init__(self, spatial_dims: int, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        conv, norm = _conv(spatial_dims), _norm(spatial_dims)
        self.down = nn.Sequential(
            conv(cin, cout, 3, stride=stride, padding=1, bias=False), norm(cout), nn.ReLU(inplace=True)
        )
        self.res = nn.Sequential(conv(cout, cout, 3, padding=1, bias=False), norm(cout))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(x)
        return self.act(x + self.res(x))


class TrabecularCNN(nn.Module):
    """Compact residual CNN with mean+SD pooled features.

    Parameters
    ----------
    spatial_dims : int
        2 or 3.
    in_channels : int
        Input channels.
    channels : sequence of int
        Widths of the stages; the first stage has stride 2, the others stride 2 as well.
    dropout : float
        Dropout on the pooled features.
    input_stats : bool
        Append the per-channel mean and SD of the input (the region's density level and
        heterogeneity) to the features. Meaningful only when intensities are kept absolute
        (``normalize: unit`` or ``none``; with per-image z-scoring they are constants), and
        sensitive to calibration differences between sites.

    Attributes
    ----------
    feature_dim : int
        ``2 * (channels[-2] + channels[-1])`` (mean and SD of the last two stages), plus
        ``2 * in_channels`` with ``input_stats``.
    """

    def __init__(
        self,
        spatial_dims: int = 3,
        in_channels: int = 1,
        channels: Sequence[int] = (8, 16, 32, 64),
        dropout: float = 0.0,
        input_stats: bool = False,
    ) -> None:
        super().__init__()
        if spatial_dims not in (2, 3):
            raise ConfigError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
        if len(channels) < 2:
            raise ConfigError("backbone_kwargs.channels needs at least two stages")
        self.spatial_dims = spatial_dims
        chans = [int(c) for c in channels]
        stages = []
        cin = in_channels
        for c in chans:
            stages.append(_Stage(spatial_dims, cin, c, stride=2))
            cin = c
        self.stages = nn.ModuleList(stages)
        self.dropout = nn.Dropout(dropout)
        self.input_stats = bool(input_stats)
        self.feature_dim = 2 * (chans[-2] + chans[-1]) + (2 * int(in_channels) if self.input_stats else 0)

    @staticmethod
    def _mean_sd(x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(2)
        mean = flat.mean(dim=2)
        sd = (flat.var(dim=2, unbiased=False) + 1e-6).sqrt()
        return torch.cat([mean, sd], dim=1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, *spatial) → (B, feature_dim)."""
        n = len(self.stages)
        pooled: list[torch.Tensor] = [self._mean_sd(x)] if self.input_stats else []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i >= n - 2:
                pooled.append(self._mean_sd(x))
        return self.dropout(torch.cat(pooled, dim=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)


@register_model("trabecular_cnn")
def _trabecular_cnn(*, spatial_dims: int, in_channels: int, **kw) -> nn.Module:
    return TrabecularCNN(spatial_dims=spatial_dims, in_channels=in_channels, **kw)


@register_model("trabecular_cnn_wide")
def _trabecular_cnn_wide(*, spatial_dims: int, in_channels: int, **kw) -> nn.Module:
    kw.setdefault("channels", (16, 32, 64, 128))
    return TrabecularCNN(spatial_dims=spatial_dims, in_channels=in_channels, **kw)

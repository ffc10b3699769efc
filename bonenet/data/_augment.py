"""Training-time augmentation through MONAI: flips, small rotations, intensity and noise jitter.

Applied only to the training split, after the cache (the cache holds un-augmented tensors).
Every random draw comes from one seeded generator per process: ``seed`` in the main process,
and in each DataLoader worker a seed derived from PyTorch's per-worker seed (itself drawn
from the loader's seeded generator), so runs with the same ``seed`` and ``num_workers``
repeat exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..errors import ConfigError

__all__ = ["Augment"]


class Augment:
    """Random augmentation of a (C, *spatial) tensor with MONAI array transforms.

    Parameters
    ----------
    spatial_dims : {2, 3}
    flip_axes : sequence of int
        Spatial axes (0-based, of the *spatial* dims) that may be mirrored, each with
        probability ``prob`` — only where anatomy allows (e.g. left/right for a radius
        that may be either side); empty = no flips.
    rotate_deg : float
        Maximum rotation about each axis, degrees (0 disables).
    scale : float
        Intensity scale jitter: multiply by ``1 + U(-scale, scale)``.
    shift : float
        Intensity shift jitter: add ``U(-shift, shift)`` (normalised units).
    noise_std : float
        Standard deviation of added Gaussian noise (normalised units; 0 disables).
    prob : float
        Probability each transform is applied.
    seed : int
    """

    def __init__(self, spatial_dims: int = 3, *, flip_axes: Sequence[int] = (), rotate_deg: float = 10.0,
                 scale: float = 0.1, shift: float = 0.05, noise_std: float = 0.02, prob: float = 0.5,
                 seed: int = 0) -> None:
        if spatial_dims not in (2, 3):
            raise ConfigError(f"Augment: spatial_dims must be 2 or 3; got {spatial_dims!r}")
        bad = [a for a in flip_axes if not 0 <= int(a) < spatial_dims]
        if bad:
            raise ConfigError(f"Augment: flip_axes {list(flip_axes)} must be spatial axes 0..{spatial_dims - 1}")
        if not 0.0 <= prob <= 1.0:
            raise ConfigError(f"Augment: prob must be in [0, 1]; got {prob}")
        if rotate_deg < 0 or scale < 0 or shift < 0 or noise_std < 0:
            raise ConfigError("Augment: rotate_deg, scale, shift and noise_std must be ≥ 0")
        self.spatial_dims = spatial_dims
        self.flip_axes = tuple(int(a) for a in flip_axes)
        self.rotate_deg = float(rotate_deg)
        self.scale = float(scale)
        self.shift = float(shift)
        self.noise_std = float(noise_std)
        self.prob = float(prob)
        self.seed = int(seed)
        self._compose: Any = None

    def to_dict(self) -> dict[str, Any]:
        """Parameters (JSON-serialisable)."""
        return {"spatial_dims": self.spatial_dims, "flip_axes": list(self.flip_axes),
                "rotate_deg": self.rotate_deg, "scale": self.scale, "shift": self.shift,
                "noise_std": self.noise_std, "prob": self.prob, "seed": self.seed}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Augment:
        """Rebuild from :meth:`to_dict` output."""
        kw = dict(state)
        return cls(kw.pop("spatial_dims"), **kw)

    def _build(self) -> Any:
        from monai.transforms import (
            Compose,
            RandFlip,
            RandGaussianNoise,
            RandRotate,
            RandScaleIntensity,
            RandShiftIntensity,
        )

        ts: list[Any] = [RandFlip(prob=self.prob, spatial_axis=a) for a in self.flip_axes]
        if self.rotate_deg > 0:
            r = math.radians(self.rotate_deg)
            rng = {"range_x": r} if self.spatial_dims == 2 else {"range_x": r, "range_y": r, "range_z": r}
            ts.append(RandRotate(**rng, prob=self.prob, keep_size=True, mode="bilinear",
                                 padding_mode="border"))
        if self.scale > 0:
            ts.append(RandScaleIntensity(factors=self.scale, prob=self.prob))
        if self.shift > 0:
            ts.append(RandShiftIntensity(offsets=self.shift, prob=self.prob))
        if self.noise_std > 0:
            ts.append(RandGaussianNoise(prob=self.prob, mean=0.0, std=self.noise_std))
        comp = Compose(ts)
        comp.set_random_state(seed=self.seed % (2**32))
        return comp

    def reseed(self, seed: int) -> None:
        """Restart the random stream from ``seed`` (used per DataLoader worker)."""
        if self._compose is None:
            self._compose = self._build()
        self._compose.set_random_state(seed=int(seed) % (2**32))

    def __call__(self, image: Any) -> Any:
        """Augment a (C, *spatial) float tensor; returns a plain ``torch.Tensor``."""
        import torch

        if self._compose is None:
            self._compose = self._build()
        out = self._compose(image)
        if hasattr(out, "as_tensor"):
            out = out.as_tensor()
        return torch.as_tensor(out, dtype=torch.float32).contiguous()

    def __repr__(self) -> str:
        return "Augment(" + ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items()) + ")"

"""Training-time augmentation through MONAI: flips, small rotations, intensity and noise jitter.

Applied only to the training split, after the cache (the cache holds un-augmented tensors).
Every random draw comes from a seeded generator: the loader stage uses ``seed`` in the main
process and, in each DataLoader worker, a seed derived from PyTorch's per-worker seed (itself
drawn from the loader's generator seeded with ``seed``); the batch stage uses ``seed + 1``
(rotations) and ``seed + 2`` (noise). Runs with the same ``seed`` and ``num_workers`` repeat.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ConfigError

__all__ = ["Augment", "derive_seed"]


class Augment:
    """Random augmentation with MONAI transforms, in two stages.

    The *loader stage* (:meth:`__call__`, per sample in DataLoader workers) does the cheap
    voxel-exact transforms: flips along allowed axes and intensity scale/shift jitter. The
    *batch stage* (:meth:`augment_batch`, on the batch after it reaches the training device)
    does the resampling and noise transforms — small rotations (MONAI ``RandRotate``) and
    Gaussian noise — which cost 10–50× more per voxel and would make a CPU loader the
    bottleneck of GPU training. With ``batch_stage=False`` everything runs in the loader.

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
    batch_stage : bool
        Run rotation and noise in :meth:`augment_batch` (on the device) instead of the loader.
    seed : int
    """

    def __init__(self, spatial_dims: int = 3, *, flip_axes: Sequence[int] = (), rotate_deg: float = 10.0,
                 scale: float = 0.1, shift: float = 0.05, noise_std: float = 0.02, prob: float = 0.5,
                 batch_stage: bool = True, seed: int = 0) -> None:
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
        self.batch_stage = bool(batch_stage)
        self.seed = int(seed)
        self._loader: Any = None
        self._batch: Any = None
        self._gen: dict[str, Any] = {}

    def to_dict(self) -> dict[str, Any]:
        """Parameters (JSON-serialisable)."""
        return {"spatial_dims": self.spatial_dims, "flip_axes": list(self.flip_axes),
                "rotate_deg": self.rotate_deg, "scale": self.scale, "shift": self.shift,
                "noise_std": self.noise_std, "prob": self.prob, "batch_stage": self.batch_stage,
                "seed": self.seed}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Augment:
        """Rebuild from :meth:`to_dict` output."""
        kw = dict(state)
        return cls(kw.pop("spatial_dims"), **kw)

    @property
    def has_batch_stage(self) -> bool:
        """Whether :meth:`augment_batch` does anything."""
        return self.batch_stage and (self.rotate_deg > 0 or self.noise_std > 0)

    def _rotate(self) -> Any:
        from monai.transforms import RandRotate

        r = math.radians(self.rotate_deg)
        rng = {"range_x": r} if self.spatial_dims == 2 else {"range_x": r, "range_y": r, "range_z": r}
        return RandRotate(**rng, prob=self.prob, keep_size=True, mode="bilinear", padding_mode="border")

    def _build_loader(self) -> Any:
        from monai.transforms import (
            Compose,
            RandFlip,
            RandGaussianNoise,
            RandScaleIntensity,
            RandShiftIntensity,
        )

        ts: list[Any] = [RandFlip(prob=self.prob, spatial_axis=a) for a in self.flip_axes]
        if self.scale > 0:
            ts.append(RandScaleIntensity(factors=self.scale, prob=self.prob))
        if self.shift > 0:
            ts.append(RandShiftIntensity(offsets=self.shift, prob=self.prob))
        if not self.batch_stage:
            if self.rotate_deg > 0:
                ts.append(self._rotate())
            if self.noise_std > 0:
                ts.append(RandGaussianNoise(prob=self.prob, mean=0.0, std=self.noise_std,
                                            dtype=np.float32))
        comp = Compose(ts)
        comp.set_random_state(seed=self.seed % (2**32))
        return comp

    def reseed(self, seed: int) -> None:
        """Restart the loader-stage random stream from ``seed`` (used per DataLoader worker)."""
        if self._loader is None:
            self._loader = self._build_loader()
        self._loader.set_random_state(seed=int(seed) % (2**32))

    def __call__(self, image: Any) -> Any:
        """Loader stage on a (C, *spatial) float tensor; returns a plain ``torch.Tensor``."""
        if self._loader is None:
            self._loader = self._build_loader()
        return _plain(self._loader(image))

    def augment_batch(self, images: Any, present: Any = None, *, key: Sequence[int] | None = None) -> Any:
        """Batch stage on (B, K, C, *spatial) images on any device (only present slots).

        Rotations use MONAI ``RandRotate`` (``torch.grid_sample`` on the tensor's device);
        noise is drawn with a seeded ``torch.Generator`` on that device. With ``key`` (e.g.
        ``(epoch, batch hash)``) the draws depend only on ``(seed, *key)``, so a resumed run
        repeats them; without it they continue one stream per process.
        """
        import torch

        if not self.has_batch_stage:
            return images
        if self._batch is None:
            self._batch = self._rotate() if self.rotate_deg > 0 else None
            if self._batch is not None:
                self._batch.set_random_state(seed=(self.seed + 1) % (2**32))
        dev = str(images.device)
        if dev not in self._gen:
            self._gen[dev] = torch.Generator(device=images.device).manual_seed(self.seed + 2)
        gen = self._gen[dev]
        if key is not None:
            s1, s2 = derive_seed(self.seed, *key, n=2)
            if self._batch is not None:
                self._batch.set_random_state(seed=s1)
            gen.manual_seed(s2)
        out = images.clone()
        b, k = images.shape[:2]
        for i in range(b):
            for j in range(k):
                if present is not None and not bool(present[i, j]):
                    continue
                x = out[i, j]
                if self._batch is not None:
                    x = _plain(self._batch(x)).to(images.device)
                if self.noise_std > 0 and float(torch.rand((), generator=gen, device=images.device)) < self.prob:
                    x = x + self.noise_std * torch.randn(x.shape, generator=gen, device=images.device,
                                                         dtype=x.dtype)
                out[i, j] = x
        return out

    def __repr__(self) -> str:
        return "Augment(" + ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items()) + ")"


def derive_seed(*parts: int, n: int = 1) -> Any:
    """``n`` 32-bit seeds that depend only on the integers ``parts`` (NumPy SeedSequence)."""
    state = np.random.SeedSequence([int(p) % (2**63) for p in parts]).generate_state(n)
    return int(state[0]) if n == 1 else [int(v) for v in state]


def _plain(out: Any) -> Any:
    import torch

    if hasattr(out, "as_tensor"):
        out = out.as_tensor()
    return torch.as_tensor(out, dtype=torch.float32).contiguous()

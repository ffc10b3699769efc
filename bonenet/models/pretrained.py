"""Load backbone weights from a local file (never downloaded).

Accepts a plain state dict, a ``{"state_dict": ...}`` wrapper (MedicalNet's ``.pth`` files),
DataParallel ``module.`` prefixes, and ``.safetensors`` files. Loading is safe:
``torch.load(weights_only=True)`` or safetensors.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError

__all__ = ["LoadReport", "load_pretrained", "read_state_dict"]

log = logging.getLogger(__name__)


@dataclass
class LoadReport:
    """What :func:`load_pretrained` did: keys loaded, missing from the file, unexpected in it."""

    loaded: list[str]
    missing: list[str]
    unexpected: list[str]


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict from ``path`` (``.safetensors`` or a torch file) without running code."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"pretrained weights file {str(p)!r} does not exist; give a local path")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(p))
        else:
            sd = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors, corrupt files
        raise CheckpointError(
            f"cannot read weights from {str(p)!r}: {exc}. Give a state dict saved with torch.save "
            "(tensors only) or a .safetensors file"
        ) from exc
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise CheckpointError(f"{str(p)!r} does not hold a state dict of tensors")
    return sd


def _strip(key: str) -> str:
    for prefix in ("module.", "model.", "net."):
        while key.startswith(prefix):
            key = key[len(prefix):]
    return key


def load_pretrained(model: nn.Module, path: str | Path, *, strict: bool = False) -> LoadReport:
    """Load local weights into ``model`` (a bonenet extractor), matching names after prefixes.

    Keys are compared with ``module.``/``model.``/``net.`` prefixes removed on both sides, so a
    MedicalNet ``resnet_18.pth`` loads into ``create_model("resnet18", spatial_dims=3,
    medicalnet=True)``. Classifier weights absent from the extractor are reported as unexpected.

    Raises
    ------
    CheckpointError
        File missing/unreadable, a tensor shape mismatch, no key matching at all, or any missing
        key when ``strict=True``.
    """
    src = {_strip(k): v for k, v in read_state_dict(path).items()}
    own = model.state_dict()
    by_stripped = {_strip(k): k for k in own}
    new: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    for k, v in src.items():
        target = by_stripped.get(k)
        if target is None:
            unexpected.append(k)
            continue
        if tuple(own[target].shape) != tuple(v.shape):
            raise CheckpointError(
                f"{path}: weight {k!r} has shape {tuple(v.shape)} but the model expects "
                f"{tuple(own[target].shape)}; check spatial_dims/in_channels/depth (and medicalnet=True "
                "for MedicalNet files)"
            )
        new[target] = v
    missing = [k for k in own if k not in new and not k.endswith("num_batches_tracked")]
    if not new:
        raise CheckpointError(
            f"{path}: none of its {len(src)} weights match the model's parameter names "
            f"(file has e.g. {list(src)[:3]}, model e.g. {list(own)[:3]})"
        )
    if strict and missing:
        raise CheckpointError(f"{path}: missing weights for {missing[:10]} ({len(missing)} in all)")
    model.load_state_dict(new, strict=False)
    if missing or unexpected:
        log.warning("pretrained %s: %d loaded, %d missing (e.g. %s), %d unexpected (e.g. %s)",
                    path, len(new), len(missing), missing[:3], len(unexpected), unexpected[:3])
    return LoadReport(loaded=sorted(new), missing=missing, unexpected=unexpected)

"""The one place where bonenet chooses a compute device."""

from __future__ import annotations

import os

from .errors import ConfigError

__all__ = ["select_device"]


def select_device(device: str | None = None) -> str:
    """Return ``"cuda"``, ``"cuda:N"``, ``"mps"`` or ``"cpu"``.

    ``device=None`` (or ``"auto"``) picks CUDA when present, else CPU; the environment
    variable ``BONENET_DEVICE`` overrides the automatic choice. An explicit request for a
    device that is not there raises :class:`~bonenet.errors.ConfigError` instead of silently
    falling back.
    """
    import torch

    requested = device or os.environ.get("BONENET_DEVICE") or "auto"
    requested = requested.strip().lower()
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cpu":
        return "cpu"
    if requested.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {requested!r} was requested but no CUDA device is visible; "
                "use --device cpu or install a CUDA build of torch"
            )
        return requested
    if requested == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise ConfigError("device 'mps' was requested but MPS is not available; use --device cpu")
        return "mps"
    raise ConfigError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'")

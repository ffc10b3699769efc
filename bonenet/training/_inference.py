"""Rebuild a trained network from a Lightning checkpoint without running pickled code."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from ..models import FusionEnsemble, FusionModel, build_fusion_model
from .module import NETWORK_KEYS

__all__ = ["load_for_inference"]


def load_for_inference(ckpt_path: str | Path, *, map_location: str = "cpu"
                       ) -> tuple[FusionModel | FusionEnsemble, dict[str, Any] | None, dict[str, Any]]:
    """Load ``(network, datamodule_state, meta)`` from a bonenet training checkpoint.

    The file is read with ``torch.load(weights_only=True)``: only tensors and plain Python
    values are accepted, so a checkpoint from elsewhere cannot run code.

    Returns
    -------
    network : FusionModel or FusionEnsemble
        In eval mode, on ``map_location`` (an ensemble checkpoint gives the averaging module).
    datamodule_state : dict or None
        What the DataModule's ``state_dict()`` returned at save time (fitted clinical encoder,
        preprocessing parameters) — feed it to ``BoneDataModule.load_state_dict`` or read it
        directly.
    meta : dict
        ``network`` (the rebuild arguments), ``hyper_parameters``, ``epoch``, ``global_step``,
        ``datamodule_class``, ``lightning_version``.

    Raises
    ------
    CheckpointError
        Missing/unreadable file, not a bonenet checkpoint, or weights that do not fit.
    """
    p = Path(ckpt_path)
    if not p.is_file():
        raise CheckpointError(f"checkpoint {str(p)!r} does not exist")
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        if "unsupported global" in str(exc).lower():  # a pickled class or function, refused
            raise CheckpointError(
                f"{str(p)!r} holds Python objects that torch.load(weights_only=True) refuses to "
                "unpickle; bonenet checkpoints hold only tensors and plain values — use "
                "one written by `bonenet train`, or re-save the weights from a trusted source"
            ) from exc
        raise CheckpointError(
            f"{str(p)!r} is not a readable PyTorch checkpoint ({type(exc).__name__}: {first}); "
            "pass best.ckpt or last.ckpt from the run's checkpoints/ folder"
        ) from exc
    hp = ckpt.get("hyper_parameters") or {}
    info = ckpt.get("bonenet") or {}
    net_cfg = info.get("network") or {k: hp[k] for k in NETWORK_KEYS if k in hp}
    if not net_cfg or "state_dict" not in ckpt:
        raise CheckpointError(f"{str(p)!r} is not a bonenet training checkpoint (no network config/state_dict)")
    network = build_fusion_model(**net_cfg)
    sd = {k[len("network."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("network.")}
    try:
        network.load_state_dict(sd, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{str(p)!r}: weights do not fit the stored network config: {exc}") from exc
    network.to(map_location).eval()
    dm_key = info.get("datamodule_key")
    dm_state = ckpt.get(dm_key) if dm_key else None
    meta = {
        "network": net_cfg,
        "hyper_parameters": dict(hp),
        "epoch": ckpt.get("epoch"),
        "global_step": ckpt.get("global_step"),
        "datamodule_class": info.get("datamodule_class"),
        "lightning_version": ckpt.get("pytorch-lightning_version"),
    }
    return network, dm_state, meta

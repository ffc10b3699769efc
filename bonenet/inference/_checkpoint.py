"""Rebuild a :class:`Predictor` from a bonenet training checkpoint (weights-only loading)."""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import CheckpointError
from ._prepare import StudyPreparer
from ._runner import ModelRunner, Predictor

__all__ = ["file_sha256", "load_predictor", "model_name"]


def file_sha256(path: str | os.PathLike[str], *, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def model_name(network_config: dict[str, Any], data_state: dict[str, Any] | None) -> str:
    """``fused``, ``clinical`` or ``image``: what the model looks at (used in ``p_<name>``)."""
    uses_images = bool((data_state or {}).get("use_images", network_config.get("backbone")))
    uses_clinical = bool((data_state or {}).get("use_clinical",
                                                network_config.get("clinical_features", 0)))
    if uses_images and uses_clinical:
        return "fused"
    return "image" if uses_images else "clinical"


def _heads(network: Any, meta: dict[str, Any]) -> tuple[str, ...]:
    heads = (meta.get("network") or {}).get("heads") or getattr(network, "heads", None)
    if not heads:
        raise CheckpointError("the checkpoint's network names no heads; re-save it with bonenet")
    return tuple(heads)


def load_predictor(checkpoint: str | os.PathLike[str], *, device: str = "cpu",
                   name: str | None = None, missing: str = "indicator",
                   measure: Callable[..., dict[str, float]] | None = None,
                   measure_columns: tuple[str, ...] = (), amp: bool = False) -> Predictor:
    """Load ``checkpoint`` into a :class:`Predictor` that repeats the training preprocessing.

    The network, the fitted clinical encoder and the :class:`bonenet.data.Preprocess`
    parameters all come from the checkpoint (``bonenet.training.load_for_inference``,
    ``torch.load(weights_only=True)``), so inference cannot drift from training.

    Parameters
    ----------
    checkpoint : path-like
        A ``.ckpt`` written by ``bonenet train``.
    device : str
        Where the network runs (``bonenet.device.select_device``).
    name : str, optional
        Model name in the output columns; default from what the model uses (``fused``,
        ``clinical``, ``image``).
    missing : {"indicator", "error"}
        See :class:`StudyPreparer`.
    measure, measure_columns
        Optional measurement function and its output columns (``--measure``).
    amp : bool
        Autocast on CUDA.
    """
    from ..training import load_for_inference

    path = Path(checkpoint)
    network, data_state, meta = load_for_inference(path, map_location="cpu")
    if data_state is None:
        raise CheckpointError(
            f"{path}: the checkpoint holds no data state (preprocessing and clinical encoder); "
            "it was not written by `bonenet train` with a BoneDataModule")
    from ..clinical import ClinicalEncoder, parse_clinical
    from ..data import Preprocess

    use_images = bool(data_state.get("use_images"))
    use_clinical = bool(data_state.get("use_clinical"))
    pre = data_state.get("preprocess")
    enc = data_state.get("encoder")
    if use_images and pre is None:
        raise CheckpointError(f"{path}: image model without preprocessing parameters in its data state")
    if use_clinical and enc is None:
        raise CheckpointError(f"{path}: clinical model without a fitted encoder in its data state")
    preprocess = Preprocess.from_dict(pre) if use_images else None
    encoder = ClinicalEncoder.from_dict(enc) if use_clinical else None
    preparer = StudyPreparer(
        preprocess=preprocess,
        encoder=encoder,
        parse_clinical=functools.partial(parse_clinical, required=(), variables=encoder.declared)
        if encoder is not None else None,
        n_images=len(data_state.get("image_columns") or ("image",)),
        missing=missing,
        measure=measure,
        min_slices=1 if (preprocess is not None and preprocess.spatial_dims == 2) else 2,
    )
    net_cfg = meta.get("network") or {}
    return Predictor(
        name=name or model_name(net_cfg, data_state),
        checksum=file_sha256(path),
        heads=_heads(network, meta),
        preparer=preparer,
        runner=ModelRunner(network, device=device, amp=amp),
        measure_columns=tuple(measure_columns),
        meta={"network": net_cfg, "data_state": data_state, "checkpoint": path.name,
              "epoch": meta.get("epoch")},
    )

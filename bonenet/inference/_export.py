"""Export a trained network to TorchScript or ONNX, with its preprocessing JSON and a parity check.

The exported graph takes the preprocessed tensors (the JSON says how to make them) and
returns risks (probabilities), one output per head. Export fails — and leaves no model file —
when the exported model's outputs differ from the checkpoint's by ``atol`` or more on a batch
of a size other than the one traced.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._atomic import atomic_path, write_text_atomic
from ..errors import CheckpointError, ConfigError
from ..models import network_risk

__all__ = ["FORMATS", "ExportResult", "export_checkpoint", "export_network"]

FORMATS = ("torchscript", "onnx")


class _RiskWrapper(nn.Module):
    """Positional inputs → tuple of risks per head (what the exported graph computes)."""

    def __init__(self, network: nn.Module, heads: tuple[str, ...], inputs: tuple[str, ...]) -> None:
        super().__init__()
        self.network = network
        self.heads = heads
        self.inputs = inputs

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        kw: dict[str, Any] = {"images": None, "image_present": None, "clinical": None,
                              "clinical_observed": None}
        kw.update(zip(self.inputs, args, strict=True))
        out = self.network(**kw)
        risks = network_risk(self.network, out)
        return tuple(risks[h].float() for h in self.heads)


@dataclass
class ExportResult:
    """Paths written and the parity measured."""

    model: Path
    config: Path
    format: str
    max_abs_diff: float
    batch_size: int


def _example(n: int, *, inputs: tuple[str, ...], image_shape: tuple[int, ...], n_clinical: int,
             seed: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    t: dict[str, torch.Tensor] = {}
    if "images" in inputs:
        t["images"] = torch.rand((n, *image_shape), generator=g)
        t["image_present"] = torch.ones((n, image_shape[0]), dtype=torch.bool)
    if "clinical" in inputs:
        obs = (torch.rand((n, n_clinical), generator=g) > 0.2).float()
        t["clinical"] = torch.randn((n, n_clinical), generator=g) * obs
        t["clinical_observed"] = obs
    return tuple(t[k] for k in inputs)


def export_network(network: nn.Module, data_state: dict[str, Any], out: str | os.PathLike[str], *,
                   format: str = "torchscript", heads: tuple[str, ...],
                   meta: dict[str, Any] | None = None, atol: float = 1e-4,
                   batch_size: int = 4) -> ExportResult:
    """Export ``network`` with the preprocessing/encoding of ``data_state`` into ``out``.

    Parameters
    ----------
    network : nn.Module
        Fusion network (``forward(images=, image_present=, clinical=, clinical_observed=)``).
    data_state : dict
        ``BoneDataModule.state_dict()``: ``preprocess``, ``encoder``, ``use_images``,
        ``use_clinical``, ``image_columns``.
    out : path-like
        Folder for ``model.pt`` (TorchScript) or ``model.onnx`` and ``model.json``.
    format : {"torchscript", "onnx"}
    heads : tuple of str
        Output order.
    meta : dict, optional
        Extra provenance written to the JSON (checkpoint name and sha256...).
    atol : float
        Largest allowed absolute difference between exported and checkpoint risks.
    batch_size : int
        Batch traced; parity is checked on a batch of ``batch_size + 1``.

    Raises
    ------
    CheckpointError
        Parity fails (no model file is left behind).
    """
    if format not in FORMATS:
        raise ConfigError(f"export format {format!r} unknown; use one of {', '.join(FORMATS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    use_images = bool(data_state.get("use_images"))
    use_clinical = bool(data_state.get("use_clinical"))
    inputs = (("images", "image_present") if use_images else ()) + \
             (("clinical", "clinical_observed") if use_clinical else ())
    k = len(data_state.get("image_columns") or ("image",))
    pre = data_state.get("preprocess") or {}
    image_shape = (k, 1, *pre.get("roi_size", ())) if use_images else ()
    enc = data_state.get("encoder") or {}
    n_clin = len(enc.get("feature_names", ())) if use_clinical else 0
    network = network.to("cpu").eval()
    wrapper = _RiskWrapper(network, heads, inputs).eval()
    example = _example(batch_size, inputs=inputs, image_shape=image_shape, n_clinical=n_clin, seed=0)
    check = _example(batch_size + 1, inputs=inputs, image_shape=image_shape, n_clinical=n_clin, seed=1)
    with torch.inference_mode():
        ref = [r.numpy() for r in wrapper(*check)]
    target = out / ("model.pt" if format == "torchscript" else "model.onnx")
    with atomic_path(target) as tmp:
        if format == "torchscript":
            got = _torchscript(wrapper, example, check, tmp)
        else:
            got = _onnx(wrapper, example, check, tmp, inputs=inputs, heads=heads)
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(ref, got, strict=True))
        if not np.isfinite(diff) or diff >= atol:
            raise CheckpointError(
                f"exported {format} model differs from the checkpoint by {diff:.3g} (limit {atol:g}) "
                "on a parity batch; nothing was written. Try the other --format or report this")
    config = {
        "format": format, "file": target.name, "inputs": list(inputs), "outputs": list(heads),
        "output_meaning": {h: ("10-year cumulative risk" if h == "survival" else
                               "probability" if h == "fracture" else "predicted value")
                           for h in heads},
        "input_shapes": {"images": ["batch", *image_shape] if use_images else None,
                         "image_present": ["batch", k] if use_images else None,
                         "clinical": ["batch", n_clin] if use_clinical else None,
                         "clinical_observed": ["batch", n_clin] if use_clinical else None},
        "preprocess": pre if use_images else None,
        "clinical_encoder": enc if use_clinical else None,
        "parity": {"max_abs_diff": diff, "atol": atol, "batch_size": batch_size + 1},
        **(meta or {}),
    }
    cfg_path = write_text_atomic(out / "model.json", json.dumps(config, indent=2) + "\n")
    return ExportResult(target, cfg_path, format, diff, batch_size + 1)


def _torchscript(wrapper: nn.Module, example: tuple[torch.Tensor, ...],
                 check: tuple[torch.Tensor, ...], tmp: Path) -> list[np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarnings about shape-dependent Python ints
        traced = torch.jit.trace(wrapper, example, check_trace=False)
        torch.jit.save(traced, str(tmp))
        loaded = torch.jit.load(str(tmp), map_location="cpu")
    with torch.inference_mode():
        return [r.numpy() for r in loaded(*check)]


def _onnx(wrapper: nn.Module, example: tuple[torch.Tensor, ...], check: tuple[torch.Tensor, ...],
          tmp: Path, *, inputs: tuple[str, ...], heads: tuple[str, ...]) -> list[np.ndarray]:
    import onnxruntime as ort

    names = [f"risk_{h}" for h in heads]
    dyn = {n: {0: "batch"} for n in (*inputs, *names)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, example, str(tmp), input_names=list(inputs), output_names=names,
                          dynamic_axes=dyn, opset_version=17, dynamo=False)
    sess = ort.InferenceSession(str(tmp), providers=["CPUExecutionProvider"])
    feeds = {n: t.numpy() for n, t in zip(inputs, check, strict=True)}
    return list(sess.run(names, feeds))


def export_checkpoint(checkpoint: str | os.PathLike[str], out: str | os.PathLike[str], *,
                      format: str = "torchscript", atol: float = 1e-4) -> ExportResult:
    """Export a ``bonenet train`` checkpoint (see :func:`export_network`)."""
    from ..models import model_name, prediction_columns
    from ..training import load_for_inference
    from ._checkpoint import _heads, file_sha256, validate_checkpoint

    path = Path(checkpoint)
    validate_checkpoint(path)  # bounds and weight shapes before anything is built
    network, data_state, meta = load_for_inference(path, map_location="cpu")
    if data_state is None:
        raise CheckpointError(f"{path}: no data state (preprocessing, encoder) in the checkpoint")
    net_cfg = meta.get("network") or {}
    heads = _heads(network, meta)
    name = model_name(net_cfg, data_state)
    return export_network(
        network, data_state, out, format=format, heads=heads, atol=atol,
        meta={"model": name, "checkpoint": path.name, "checkpoint_sha256": file_sha256(path),
              "network": net_cfg,
              # the predictions schema of bonenet train / bonenet predict for these outputs
              "prediction_columns": dict(zip(heads, prediction_columns(heads, name), strict=True)),
              # how a study became the input (bonenet.data.StudyInput): masks, units, vertebra
              "study_input": {k: data_state.get(k) for k in ("image_columns", "mask_column",
                                                             "units", "load_options", "vertebra")}})

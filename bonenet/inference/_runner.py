"""The model side of prediction: batches of prepared studies → probabilities per head."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ._prepare import Failed, Prepared, StudyPreparer

__all__ = ["RISK_THRESHOLDS", "ModelRunner", "Predictor", "StudyBatch", "collate_studies",
           "head_column", "risk_category"]

#: Default 10-year risk category cut-offs: < 10 % low, 10-20 % moderate, >= 20 % high — research
#: categories for a 10-year major-osteoporotic-fracture probability (Osteoporosis Canada bands,
#: Papaioannou et al., CMAJ 2010; 20 % is also the NOF/BHOF treatment threshold, Cosman et al.
#: 2014). They mean nothing for another outcome; ``run.json`` records them with their source.
RISK_THRESHOLDS = (0.10, 0.20)


def head_column(head: str, model: str) -> str:
    """Output column of a head: ``p_<model>`` (fracture probability), ``risk10y_<model>``
    (10-year cumulative risk from the survival head), ``bmd_change_<model>``."""
    return {"fracture": f"p_{model}", "survival": f"risk10y_{model}"}.get(head, f"{head}_{model}")


def risk_category(risk: float, thresholds: Sequence[float] = RISK_THRESHOLDS) -> str:
    """``"low"``, ``"moderate"`` or ``"high"`` for a 10-year risk in [0, 1]."""
    lo, hi = thresholds
    if not np.isfinite(risk):
        return ""
    return "low" if risk < lo else ("moderate" if risk < hi else "high")


@dataclass
class StudyBatch:
    """Prepared studies stacked for the model, plus the studies that failed to prepare."""

    prepared: list[Prepared]
    failed: list[Failed]
    images: torch.Tensor | None = None             # (B, K, C, *spatial)
    image_present: torch.Tensor | None = None      # (B, K) bool
    clinical: torch.Tensor | None = None           # (B, F)
    clinical_observed: torch.Tensor | None = None  # (B, F)

    def __len__(self) -> int:
        return len(self.prepared)

    def to(self, device: torch.device | str) -> StudyBatch:
        def mv(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device, non_blocking=True)

        return StudyBatch(self.prepared, self.failed, mv(self.images), mv(self.image_present),
                          mv(self.clinical), mv(self.clinical_observed))


def collate_studies(items: Sequence[Prepared | Failed]) -> StudyBatch:
    """Stack :class:`Prepared` items (padding the image-slot axis); keep :class:`Failed` aside.

    A study whose image shape differs from the batch's first one fails (``preprocess``) rather
    than breaking the batch.
    """
    ok = [i for i in items if isinstance(i, Prepared)]
    failed = [i for i in items if isinstance(i, Failed)]
    images = present = None
    with_img = [p for p in ok if p.images is not None]
    if with_img:
        ref = with_img[0].images.shape[1:]  # type: ignore[union-attr]
        bad = [p for p in with_img if p.images.shape[1:] != ref]  # type: ignore[union-attr]
        for p in bad:
            failed.append(Failed(p.sid, "preprocess",
                                 f"preprocessed image shape {tuple(p.images.shape[1:])} differs "  # type: ignore[union-attr]
                                 f"from the batch's {tuple(ref)}; check the preprocessing roi"))
        ok = [p for p in ok if p not in bad]
        k = max(p.images.shape[0] for p in ok)  # type: ignore[union-attr]
        images = torch.zeros((len(ok), k, *ref), dtype=torch.float32)
        present = torch.zeros((len(ok), k), dtype=torch.bool)
        for b, p in enumerate(ok):
            images[b, : p.images.shape[0]] = p.images  # type: ignore[union-attr]
            present[b, : p.images.shape[0]] = True  # type: ignore[union-attr]
    clinical = observed = None
    if ok and ok[0].clinical is not None:
        clinical = torch.stack([p.clinical for p in ok])  # type: ignore[misc]
        observed = torch.stack([p.clinical_observed for p in ok])  # type: ignore[misc]
    slim = [Prepared(p.sid, None, None, None, p.info) for p in ok]
    return StudyBatch(slim, failed, images, present, clinical, observed)


def _risk(outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in outputs.items():
        if k == "fracture":
            out[k] = torch.sigmoid(v)
        elif k == "survival" and v.ndim == 3:  # competing risks (B, J, 2): fracture CIF
            from ..models.fusion import competing_cumulative_incidence

            out[k] = competing_cumulative_incidence(v)[0][:, -1]
        elif k == "survival":  # single-cause hazards (B, J)
            out[k] = 1 - torch.prod(1 - torch.sigmoid(v), dim=-1)
        else:
            out[k] = v
    return out


class ModelRunner:
    """Calls a fusion network on :class:`StudyBatch` es and returns risks per head.

    Parameters
    ----------
    network : nn.Module
        ``forward(images=, image_present=, clinical=, clinical_observed=) -> dict`` of logits
        (``bonenet.models.FusionModel``); its ``risk(outputs)`` converts them when present.
    device : str
        Where the network runs; batches are moved there.
    amp : bool
        bfloat16/float16 autocast on CUDA.
    """

    def __init__(self, network: torch.nn.Module, *, device: str = "cpu", amp: bool = False) -> None:
        self.network = network.to(device).eval()
        self.device = device
        self.amp = amp and device.startswith("cuda")

    @torch.inference_mode()
    def __call__(self, batch: StudyBatch) -> dict[str, np.ndarray]:
        b = batch.to(self.device)
        with torch.autocast("cuda", enabled=self.amp):
            outputs = self.network(images=b.images, image_present=b.image_present,
                                   clinical=b.clinical, clinical_observed=b.clinical_observed)
        risk_fn = getattr(self.network, "risk", None)
        risks = risk_fn(outputs) if callable(risk_fn) else _risk(outputs)
        return {k: v.float().cpu().numpy() for k, v in risks.items()}


@dataclass
class Predictor:
    """Everything prediction needs from a trained model.

    Attributes
    ----------
    name : str
        Model name used in column names (``p_<name>``) and the ``model`` column.
    checksum : str
        SHA-256 of the checkpoint file.
    heads : tuple of str
        Heads written, in order (``fracture``, ``survival``, ``bmd_change``).
    preparer : StudyPreparer
        Worker-side reading, checks, preprocessing and clinical encoding.
    runner : ModelRunner
        Model-side batch call.
    measure_columns : tuple of str
        Measurement columns (when ``preparer.measure`` is set).
    meta : dict
        Anything else from the checkpoint (training config, encoder variables...).
    """

    name: str
    checksum: str
    heads: tuple[str, ...]
    preparer: StudyPreparer
    runner: ModelRunner
    measure_columns: tuple[str, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def head_columns(self) -> list[str]:
        return [head_column(h, self.name) for h in self.heads]

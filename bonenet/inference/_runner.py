"""The model side of prediction: batches of prepared studies → probabilities per head."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..data import Batch, Sample, collate
from ..models import head_column, network_risk
from ._prepare import Failed, StudyPreparer

__all__ = ["RISK_THRESHOLDS", "ModelRunner", "Predictor", "collate_studies", "head_column",
           "risk_category"]

#: Default 10-year risk category cut-offs: < 10 % low, 10-20 % moderate, >= 20 % high — research
#: categories for a 10-year major-osteoporotic-fracture probability (Osteoporosis Canada bands,
#: Papaioannou et al., CMAJ 2010; 20 % is also the NOF/BHOF treatment threshold, Cosman et al.
#: 2014). They mean nothing for another outcome; ``run.json`` records them with their source.
RISK_THRESHOLDS = (0.10, 0.20)


def risk_category(risk: float, thresholds: Sequence[float] = RISK_THRESHOLDS) -> str:
    """``"low"``, ``"moderate"`` or ``"high"`` for a 10-year risk in [0, 1]."""
    lo, hi = thresholds
    if not np.isfinite(risk):
        return ""
    return "low" if risk < lo else ("moderate" if risk < hi else "high")


def collate_studies(items: Sequence[Sample | Failed]) -> Batch:
    """Collate prepared studies into the one :class:`bonenet.data.Batch` type (padding the
    image-slot axis); :class:`Failed` records ride along in ``Batch.failed``.

    A study whose image shape differs from the batch's first one fails (``preprocess``) rather
    than breaking the batch.
    """
    ok = [i for i in items if isinstance(i, Sample)]
    failed = [i for i in items if isinstance(i, Failed)]
    with_img = [p for p in ok if p.images is not None]
    if with_img:
        ref = with_img[0].images.shape[1:]  # type: ignore[union-attr]
        bad = [p for p in with_img if p.images.shape[1:] != ref]  # type: ignore[union-attr]
        for p in bad:
            failed.append(Failed(p.subject_id, "preprocess",
                                 f"preprocessed image shape {tuple(p.images.shape[1:])} differs "  # type: ignore[union-attr]
                                 f"from the batch's {tuple(ref)}; check the preprocessing roi"))
        ok = [p for p in ok if all(p is not q for q in bad)]
    batch = collate(ok) if ok else Batch(subject_ids=[])
    batch.failed = failed
    return batch


class ModelRunner:
    """Calls a fusion network on :class:`bonenet.data.Batch` es and returns risks per head.

    Parameters
    ----------
    network : FusionNetwork
        Any network of the :class:`bonenet.models.FusionNetwork` contract
        (``forward(images=, image_present=, clinical=, clinical_observed=) -> dict`` of
        logits, ``risk(outputs)``).
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
    def __call__(self, batch: Batch) -> dict[str, np.ndarray]:
        b = batch.to(self.device)
        with torch.autocast("cuda", enabled=self.amp):
            outputs = self.network(images=b.images, image_present=b.image_present,
                                   clinical=b.clinical, clinical_observed=b.clinical_observed)
        risks = network_risk(self.network, outputs)
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

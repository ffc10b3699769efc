"""The contract every fusion network keeps, and the one predictions schema.

Inference, export and training talk to a network only through :class:`FusionNetwork`:
``forward(images=, image_present=, clinical=, clinical_observed=) -> {head: logits}`` and
``risk(outputs) -> {head: probability}``. :func:`head_column` names the predictions column of
each head, the same in training's ``predictions_test.csv``, ``bonenet predict`` and export.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

__all__ = ["FusionNetwork", "head_column", "model_name", "network_risk", "prediction_columns"]


@runtime_checkable
class FusionNetwork(Protocol):
    """What bonenet needs of a fusion network (``FusionModel``, ``FusionEnsemble``, yours).

    ``images`` (B, K, C, *spatial) with ``image_present`` (B, K); ``clinical`` and
    ``clinical_observed`` (B, F); any of them None when the network does not use it. The
    output maps head names (``fracture``, ``survival``, ``bmd_change``) to raw outputs, and
    :meth:`risk` turns them into probabilities (``survival``: the 10-year cumulative risk).
    """

    def __call__(self, *, images: torch.Tensor | None = None,
                 image_present: torch.Tensor | None = None,
                 clinical: torch.Tensor | None = None,
                 clinical_observed: torch.Tensor | None = None) -> dict[str, torch.Tensor]: ...

    def risk(self, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]: ...


def network_risk(network: object, outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``network.risk(outputs)``, or :meth:`FusionModel.risk` for a network without one."""
    fn = getattr(network, "risk", None)
    if callable(fn):
        return fn(outputs)
    from .fusion import FusionModel

    return FusionModel.risk(outputs)


def head_column(head: str, model: str) -> str:
    """Predictions column of a head: ``p_<model>`` (fracture probability), ``risk10y_<model>``
    (10-year cumulative risk from the survival head), ``bmd_change_<model>``."""
    return {"fracture": f"p_{model}", "survival": f"risk10y_{model}"}.get(head, f"{head}_{model}")


def prediction_columns(heads: tuple[str, ...] | list[str], model: str) -> list[str]:
    """The model columns of a predictions table, in head order."""
    return [head_column(h, model) for h in heads]


def model_name(network_config: dict[str, Any], data_state: dict[str, Any] | None) -> str:
    """``fused``, ``clinical`` or ``image``: what the model looks at — the default model name in
    predictions columns (``p_<name>``), at training and at predict time alike."""
    uses_images = bool((data_state or {}).get("use_images", network_config.get("backbone")))
    uses_clinical = bool((data_state or {}).get("use_clinical",
                                                network_config.get("clinical_features", 0)))
    if uses_images and uses_clinical:
        return "fused"
    return "image" if uses_images else "clinical"

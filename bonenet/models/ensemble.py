"""A deep ensemble of fusion networks, trained together and served as one module.

K :class:`~bonenet.models.FusionModel` members with independent initial weights and dropout
see the same batches; each has its own loss (the training module averages them), so with a
per-parameter optimiser such as AdamW and no global gradient clipping every member follows
exactly the trajectory it would follow alone. At prediction time the ensemble is one
``nn.Module`` with the FusionModel interface, so checkpoints, ``bonenet predict`` and
``bonenet export`` treat it like a single network.

The members' *risks* are averaged (the deep-ensemble rule of Lakshminarayanan et al., NeurIPS
2017): ``forward`` returns raw outputs whose :meth:`FusionModel.risk` is the mean of the
members' risks — the logit of the mean fracture probability, and per-interval cause logits
whose cumulative incidence curves (fracture and death) are the means of the members' curves (so
the ensemble's 10-year risk is the members' mean 10-year risk); ``bmd_change`` is the mean value. Everything is computed in
log space and in float32, so it is exact and stable for risks near 0 or 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from .fusion import FusionModel, survival_logits_of_mean_incidence

__all__ = ["FusionEnsemble"]


class FusionEnsemble(nn.Module):
    """K fusion networks of one design whose outputs are averaged.

    Parameters
    ----------
    members : sequence of FusionModel
        At least two networks with the same heads, clinical width and inputs (built with
        different initial weights: :func:`bonenet.models.build_fusion_model` with
        ``ensemble=K`` does that).
    """

    def __init__(self, members: Sequence[FusionModel]) -> None:
        super().__init__()
        members = list(members)
        if len(members) < 2:
            raise ConfigError(f"an ensemble needs at least 2 members, got {len(members)}")
        first = members[0]
        for i, m in enumerate(members[1:], start=1):
            if (m.head_names, m.clinical_features, m.has_image, m.n_intervals) != (
                    first.head_names, first.clinical_features, first.has_image, first.n_intervals):
                raise ConfigError(f"ensemble member {i} differs from member 0 in heads, inputs or intervals")
        self.members = nn.ModuleList(members)

    # the FusionModel attributes that training, inference and export read
    @property
    def has_image(self) -> bool:
        return self.members[0].has_image

    @property
    def has_clinical(self) -> bool:
        return self.members[0].has_clinical

    @property
    def head_names(self) -> tuple[str, ...]:
        return self.members[0].head_names

    @property
    def n_intervals(self) -> int:
        return self.members[0].n_intervals

    @property
    def clinical_features(self) -> int:
        return self.members[0].clinical_features

    @property
    def fusion(self) -> str:
        return self.members[0].fusion

    def __len__(self) -> int:
        return len(self.members)

    def forward_members(
        self,
        images: torch.Tensor | None = None,
        image_present: torch.Tensor | None = None,
        clinical: torch.Tensor | None = None,
        clinical_observed: torch.Tensor | None = None,
    ) -> list[dict[str, torch.Tensor]]:
        """Each member's raw head outputs (what the training loss is computed on)."""
        return [m(images=images, image_present=image_present, clinical=clinical,
                  clinical_observed=clinical_observed) for m in self.members]

    def forward(
        self,
        images: torch.Tensor | None = None,
        image_present: torch.Tensor | None = None,
        clinical: torch.Tensor | None = None,
        clinical_observed: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Raw head outputs (layout of :class:`FusionModel`) whose risks are the members' mean risks."""
        outs = self.forward_members(images, image_present, clinical, clinical_observed)
        combined: dict[str, torch.Tensor] = {}
        for k in outs[0]:
            z = torch.stack([o[k].float() for o in outs])  # (K, B) or (K, B, J)
            if k == "fracture":
                combined[k] = _logit_of_mean_probability(z)
            elif k == "survival":  # (K, B, J, 2): cumulative incidences averaged
                combined[k] = survival_logits_of_mean_incidence(z)
            else:
                combined[k] = z.mean(dim=0)
        return combined

    risk = staticmethod(FusionModel.risk)


def _logmeanexp(x: torch.Tensor) -> torch.Tensor:
    return torch.logsumexp(x, dim=0) - math.log(x.shape[0])


def _logit_of_mean_probability(z: torch.Tensor) -> torch.Tensor:
    """(K, B) logits → (B,) logit of the mean probability: log p̄ − log(1 − p̄)."""
    return _logmeanexp(F.logsigmoid(z)) - _logmeanexp(F.logsigmoid(-z))

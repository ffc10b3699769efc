"""Image + clinical fusion network with fracture, survival and regression heads.

One class serves every ablation: image-only (``clinical_features=0``), clinical-only
(``image_encoder=None``) and fused (both), with concatenation, gating, FiLM or additive fusion.
The clinical variables reach the heads through an MLP, a linear ("wide") term, or both
(``clinical_path``): the linear term is the log-linear form of logistic regression, which a
small cohort can estimate where an MLP overfits.

The ``survival`` head is a discrete-time *competing-risks* model: per yearly interval j a
softmax over {no event, fracture, death} (logit of "no event" fixed at 0), so its 10-year
risk is the cumulative incidence of fracture with death competing,
``CIF_f(J) = Σ_j S(j−1) · p_fracture(j)`` with ``S(j) = Π_{i≤j} p_none(i)`` — not
``1 − Π(1 − h)``, which treats deaths as censoring and overstates the risk of the old.
Checkpoints written before the competing-risks head (fracture hazards only) still load: their
weights become the fracture logits and the death logits are set to −30 (no death), which
reproduces their old outputs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ConfigError

__all__ = ["CLINICAL_PATHS", "HEADS", "ClinicalMLP", "FusionModel", "competing_cumulative_incidence",
           "survival_logits_of_mean_incidence"]

#: Heads a FusionModel can carry.
HEADS = ("fracture", "survival", "bmd_change")
FUSIONS = ("concat", "gated", "film", "additive")
#: How clinical values reach the heads: MLP embedding, linear term, or both.
CLINICAL_PATHS = ("mlp", "linear", "wide_deep")


def _masked(clinical: torch.Tensor, observed: torch.Tensor | None) -> torch.Tensor:
    """``[x * m, m]``: missing values enter as 0 with their indicator 0."""
    if observed is None:
        observed = torch.ones_like(clinical)
    return torch.cat([torch.nan_to_num(clinical, nan=0.0) * observed, observed], dim=1)


class ClinicalMLP(nn.Module):
    """Encode clinical values with their observed-mask: ``[x * m, m]`` → MLP → (B, hidden).

    Missing values enter as 0 with their indicator 0, so the network can tell "missing" from
    "average" (the encoder standardises, so 0 is also the training mean).
    """

    def __init__(self, n_features: int, hidden: int = 64, dropout: float = 0.2) -> None:
        super().__init__()
        self.n_features = int(n_features)
        self.net = nn.Sequential(
            nn.Linear(2 * self.n_features, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
        )

    def forward(self, clinical: torch.Tensor, observed: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(_masked(clinical, observed))


class FusionModel(nn.Module):
    """Fracture-risk network over images and/or clinical variables.

    Parameters
    ----------
    image_encoder : nn.Module or None
        An extractor from :func:`bonenet.models.create_model` (``feature_dim``,
        ``forward_features``); ``None`` for a clinical-only model.
    clinical_features : int
        Width F of the encoded clinical vector; 0 for an image-only model.
    fusion : {"concat", "gated", "film", "additive"}
        ``concat``: concatenate projected image and clinical embeddings; ``gated``: a learned
        per-feature sigmoid gate mixes them; ``film``: clinical embedding produces a scale and
        shift applied to the image embedding (feature-wise linear modulation), concatenated with
        the clinical embedding; ``additive`` (late fusion, "wide and deep"): every head's output
        is the deep image term plus a *linear* term in the clinical values and their
        observed-mask, the log-linear form in which FRAX-style clinical models (logistic, Poisson
        and Cox regression) combine risk factors; it has the fewest clinical parameters and its
        clinical coefficients stay readable (:meth:`clinical_coefficients`). Ignored when only
        one modality is present.
    heads : sequence of str
        Any of ``"fracture"`` (binary logit), ``"survival"`` (discrete-time hazard logits for
        ``n_intervals`` yearly intervals, two causes: fracture and competing death),
        ``"bmd_change"`` (regression).
    n_intervals : int
        Number of yearly survival intervals (10 → risk to 10 years).
    hidden : int
        Embedding width.
    dropout : float
        Dropout in the fused trunk and the clinical MLP.
    clinical_path : {"mlp", "linear", "wide_deep"}
        ``"mlp"`` (default): the clinical values are embedded by :class:`ClinicalMLP` and fused
        as ``fusion`` says. ``"linear"`` (clinical-only models): each head is one linear map of
        the clinical values and their observed-mask — logistic regression on the encoded
        variables for the fracture head. ``"wide_deep"``: a linear clinical term is added to
        every head's output beside the deep path (Cheng et al., "Wide & Deep Learning for
        Recommender Systems", DLRS 2016); the deep heads start at zero, so training starts from
        the linear model and the deep path only adds what the data support. For image +
        clinical models ``"wide_deep"`` keeps ``fusion`` and adds the linear term;
        ``fusion="additive"`` is the variant without a clinical MLP.
    """

    def __init__(
        self,
        image_encoder: nn.Module | None,
        clinical_features: int = 0,
        *,
        fusion: str = "concat",
        heads: Sequence[str] = ("fracture",),
        n_intervals: int = 10,
        hidden: int = 64,
        dropout: float = 0.2,
        clinical_path: str = "mlp",
    ) -> None:
        super().__init__()
        heads = tuple(heads)
        bad = [h for h in heads if h not in HEADS]
        if bad or not heads:
            raise ConfigError(f"heads must be a non-empty subset of {HEADS}, got {heads}")
        if fusion not in FUSIONS:
            raise ConfigError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        if image_encoder is None and clinical_features <= 0:
            raise ConfigError("a FusionModel needs an image encoder, clinical features, or both")
        if clinical_path not in CLINICAL_PATHS:
            raise ConfigError(f"clinical_path must be one of {CLINICAL_PATHS}, got {clinical_path!r}")
        if clinical_path == "linear" and image_encoder is not None:
            raise ConfigError("clinical_path='linear' is for clinical-only models (backbone: null); with images "
                              "use fusion='additive' (linear clinical term, no clinical MLP) or "
                              "clinical_path='wide_deep'")
        self.clinical_path = clinical_path if clinical_features > 0 else "mlp"
        self.fusion = fusion
        self.head_names = heads
        self.n_intervals = int(n_intervals)
        self.clinical_features = int(clinical_features)
        self.has_image = image_encoder is not None
        self.has_clinical = self.clinical_features > 0

        self.image_encoder = image_encoder
        if image_encoder is not None:
            self.image_proj = nn.Sequential(
                nn.Linear(int(image_encoder.feature_dim), hidden), nn.LayerNorm(hidden), nn.ReLU(inplace=True)
            )
        self.clinical_encoder = ClinicalMLP(self.clinical_features, hidden, dropout) if self.has_clinical else None

        both = self.has_image and self.has_clinical
        self.additive = both and fusion == "additive"
        #: no deep path at all: every head is a linear map of the clinical values
        self.linear_only = self.clinical_path == "linear"
        #: a linear clinical term is added to every head's output
        self.wide = self.additive or self.clinical_path in ("linear", "wide_deep")
        out_dims = {"fracture": 1, "survival": 2 * self.n_intervals, "bmd_change": 1}
        if self.additive or self.linear_only:
            # the clinical side is only the linear term; the deep trunk (if any) sees the image
            self.clinical_encoder = None
        if self.wide:
            self.clinical_linear = nn.ModuleDict(
                {h: nn.Linear(2 * self.clinical_features, out_dims[h]) for h in heads})
        if self.linear_only:
            return
        trunk_in = hidden
        if both and fusion == "concat":
            trunk_in = 2 * hidden
        elif both and fusion == "gated":
            self.gate = nn.Linear(2 * hidden, hidden)
        elif both and fusion == "film":
            self.film = nn.Linear(hidden, 2 * hidden)
            nn.init.zeros_(self.film.weight)
            nn.init.zeros_(self.film.bias)
            trunk_in = 2 * hidden
        self.trunk = nn.Sequential(nn.Dropout(dropout), nn.Linear(trunk_in, hidden), nn.ReLU(inplace=True))
        self.heads = nn.ModuleDict({h: nn.Linear(hidden, out_dims[h]) for h in heads})
        if self.clinical_path == "wide_deep":
            for head in self.heads.values():  # start from the linear model
                nn.init.zeros_(head.weight)
                nn.init.zeros_(head.bias)

    # ------------------------------------------------------------------ parts
    def encode_images(self, images: torch.Tensor, image_present: torch.Tensor | None = None) -> torch.Tensor:
        """(B, K, C, *spatial) → (B, hidden): per-image features averaged over present slots."""
        assert self.image_encoder is not None
        b, k = images.shape[0], images.shape[1]
        feats = self.image_encoder.forward_features(images.flatten(0, 1))  # (B*K, D)
        feats = self.image_proj(feats).view(b, k, -1)
        if image_present is None:
            return feats.mean(dim=1)
        w = image_present.to(feats.dtype).unsqueeze(-1)
        return (feats * w).sum(dim=1) / w.sum(dim=1).clamp_min(1.0)

    def embed(
        self,
        images: torch.Tensor | None = None,
        image_present: torch.Tensor | None = None,
        clinical: torch.Tensor | None = None,
        clinical_observed: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The fused (B, hidden) representation the heads read.

        With ``additive`` fusion this is the image representation only; the clinical term is
        added to the head outputs in :meth:`forward`. A ``clinical_path='linear'`` model has no
        representation (its heads read the clinical values directly).
        """
        if self.linear_only:
            raise ConfigError("a clinical_path='linear' model has no embedding: its heads are linear in the "
                              "clinical values (see clinical_coefficients)")
        img = clin = None
        if self.has_image:
            if images is None:
                raise ValueError("this FusionModel has an image encoder: pass images (B, K, C, *spatial)")
            img = self.encode_images(images, image_present)
        if self.clinical_encoder is not None:
            clin = self.clinical_encoder(self._check_clinical(clinical), clinical_observed)
        if img is not None and clin is not None:
            if self.fusion == "concat":
                z = torch.cat([img, clin], dim=1)
            elif self.fusion == "gated":
                g = torch.sigmoid(self.gate(torch.cat([img, clin], dim=1)))
                z = g * img + (1.0 - g) * clin
            else:  # film
                gamma, beta = self.film(clin).chunk(2, dim=1)
                z = torch.cat([img * (1.0 + gamma) + beta, clin], dim=1)
        elif img is not None:
            z = img
        else:
            assert clin is not None
            z = clin
        return self.trunk(z)

    def _check_clinical(self, clinical: torch.Tensor | None) -> torch.Tensor:
        if clinical is None:
            raise ValueError(f"this FusionModel expects clinical (B, {self.clinical_features})")
        if clinical.shape[-1] != self.clinical_features:
            raise ValueError(
                f"clinical has {clinical.shape[-1]} features, the model was built for {self.clinical_features}"
            )
        return clinical

    def clinical_coefficients(self, head: str = "fracture") -> torch.Tensor:
        """The (n_outputs, 2F) weights of the linear clinical term for ``head`` (first F columns
        per standardised value, last F per observed-indicator): models with
        ``fusion='additive'`` or ``clinical_path`` ``'linear'``/``'wide_deep'``."""
        if not self.wide:
            raise ConfigError("clinical coefficients exist for fusion='additive' or clinical_path 'linear'/"
                              f"'wide_deep' only; this model has fusion {self.fusion!r}, clinical_path "
                              f"{self.clinical_path!r}")
        return self.clinical_linear[head].weight.detach()

    def forward(
        self,
        images: torch.Tensor | None = None,
        image_present: torch.Tensor | None = None,
        clinical: torch.Tensor | None = None,
        clinical_observed: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Raw head outputs: ``fracture`` (B,) logits, ``survival`` (B, n_intervals, 2) logits of
        fracture and death against "no event" per interval, ``bmd_change`` (B,)."""
        wide = _masked(self._check_clinical(clinical), clinical_observed) if self.wide else None
        z = None if self.linear_only else self.embed(images, image_present, clinical, clinical_observed)
        out: dict[str, torch.Tensor] = {}
        for name in self.head_names:
            if z is None:
                y = self.clinical_linear[name](wide)
            else:
                y = self.heads[name](z)
                if wide is not None:
                    y = y + self.clinical_linear[name](wide)
            out[name] = y.view(y.shape[0], self.n_intervals, 2) if name == "survival" else y.squeeze(-1)
        return out

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,  # type: ignore[override]
                              unexpected_keys, error_msgs) -> None:
        # a checkpoint from before the competing-risks head: (J, ·) fracture hazard logits
        for key in (f"{prefix}heads.survival.", f"{prefix}clinical_linear.survival."):
            w, b = state_dict.get(key + "weight"), state_dict.get(key + "bias")
            if w is not None and b is not None and w.shape[0] == self.n_intervals:
                state_dict[key + "weight"] = _interleave_no_death(w, 0.0)
                state_dict[key + "bias"] = _interleave_no_death(b, _NO_DEATH_LOGIT)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    @staticmethod
    def risk(outputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Convert raw outputs to probabilities.

        ``fracture`` → sigmoid; ``survival`` → the cumulative incidence of fracture by the end
        of the last interval with death competing (10-year risk with yearly intervals; a
        single-cause (B, J) hazard output gives ``1 - prod(1 - h_j)``), and
        ``survival_curve`` → (B, n_intervals) cumulative incidence of fracture at the end of
        each year (:func:`competing_cumulative_incidence`); ``bmd_change`` passes through.
        """
        out: dict[str, torch.Tensor] = {}
        if "fracture" in outputs:
            out["fracture"] = torch.sigmoid(outputs["fracture"])
        if "survival" in outputs:
            z = outputs["survival"]
            if z.ndim == 2:  # a single-cause (B, J) hazard head (a network of the older contract)
                curve = 1.0 - torch.nn.functional.logsigmoid(-z.float()).cumsum(dim=1).exp()
            else:
                curve, _ = competing_cumulative_incidence(z)
            out["survival_curve"] = curve
            out["survival"] = curve[:, -1]
        if "bmd_change" in outputs:
            out["bmd_change"] = outputs["bmd_change"]
        return out


# ---------------------------------------------------------------- competing-risks survival head
_NO_DEATH_LOGIT = -30.0


def _interleave_no_death(fracture: torch.Tensor, death_value: float) -> torch.Tensor:
    """(J, ...) fracture rows → (2J, ...) rows [f_0, d_0, f_1, d_1, ...] (the (J, 2) layout)."""
    death = torch.full_like(fracture, death_value)
    return torch.stack([fracture, death], dim=1).flatten(0, 1)


def _interval_log_probs(logits: torch.Tensor) -> torch.Tensor:
    """(..., J, 2) cause logits → (..., J, 3) log P(none, fracture, death) per interval."""
    z = torch.cat([torch.zeros_like(logits[..., :1]), logits.float()], dim=-1)
    return torch.log_softmax(z, dim=-1)


def competing_cumulative_incidence(logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Cumulative incidence curves of fracture and death from (B, J, 2) interval logits.

    ``S(j) = Π_{i≤j} p_none(i)``, ``CIF_c(j) = Σ_{i≤j} S(i−1) p_c(i)`` (discrete-time
    competing risks). Returns ``(cif_fracture, cif_death)``, each (B, J), in float32.
    """
    lp = _interval_log_probs(logits)
    log_s = lp[..., 0].cumsum(dim=-1)
    log_s_prev = torch.cat([torch.zeros_like(log_s[..., :1]), log_s[..., :-1]], dim=-1)
    cif_f = (log_s_prev + lp[..., 1]).exp().cumsum(dim=-1)
    cif_d = (log_s_prev + lp[..., 2]).exp().cumsum(dim=-1)
    return cif_f, cif_d


def survival_logits_of_mean_incidence(z: torch.Tensor) -> torch.Tensor:
    """(K, B, J, 2) members' interval logits → (B, J, 2) logits whose cumulative incidences of
    fracture and of death are the members' mean curves (the deep-ensemble rule, exactly).

    The mean curves define a mean all-cause survival ``S̄``; interval j's probabilities are
    ``p_c = ΔCIF̄_c(j) / S̄(j−1)`` and ``p_none = S̄(j) / S̄(j−1)``, computed in log space.
    """
    lp = _interval_log_probs(z)  # (K, B, J, 3)
    log_s = lp[..., 0].cumsum(dim=-1)
    log_s_prev = torch.cat([torch.zeros_like(log_s[..., :1]), log_s[..., :-1]], dim=-1)
    k = z.shape[0]
    # mean over members of S(j-1) p_c(j) (the CIF increments) and of S(j), in log space
    log_inc = torch.logsumexp(log_s_prev.unsqueeze(-1) + lp[..., 1:], dim=0) - math.log(k)  # (B, J, 2)
    log_sbar = torch.logsumexp(log_s, dim=0) - math.log(k)  # (B, J)
    return log_inc - log_sbar.unsqueeze(-1)  # log p_c - log p_none (the S̄(j-1) cancels)

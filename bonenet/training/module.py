"""The LightningModule: builds the network from plain hyperparameters, owns losses, metrics,
optimiser and schedule (composition, as in lightning-hydra-template: the network is a :class:`bonenet.models.FusionModel`
built by :func:`bonenet.models.build_fusion_model`; the data stay in the DataModule).
"""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
import torch
from torchmetrics.classification import BinaryAUROC, BinaryAveragePrecision, BinaryCalibrationError

from ..data import Batch
from ..errors import ConfigError
from ..models import HEADS, FusionEnsemble, FusionModel, build_fusion_model, network_risk
from .losses import binary_loss, huber_loss, survival_nll
from .resume import for_this_rank, with_all_ranks

__all__ = ["NETWORK_KEYS", "FractureRiskModule"]

#: Hyperparameters that define the network (what inference needs to rebuild it).
NETWORK_KEYS = ("backbone", "spatial_dims", "in_channels", "clinical_features", "backbone_kwargs",
                "fusion", "heads", "n_intervals", "hidden", "dropout", "ensemble", "clinical_path")


class FractureRiskModule(pl.LightningModule):
    """Fracture-risk training: multi-task losses, AUROC/AUPRC/calibration error, AdamW + cosine.

    Parameters
    ----------
    backbone : str or None
        Extractor name from :func:`bonenet.models.list_models`; ``None`` → clinical-only model.
    spatial_dims, in_channels : int
        Image dimensionality and channels (linked from the DataModule by ``bonenet train``).
    clinical_features : int
        Encoded clinical width F (linked from ``data.n_clinical_features``); 0 → image-only.
    pretrained : str, optional
        Local backbone weights file (not stored in the checkpoint: the trained weights are).
    backbone_kwargs : dict, optional
        Extra builder options (e.g. ``{"channels": [8, 16, 32, 64]}``).
    fusion : {"concat", "gated", "film", "additive"}
    heads : list of str
        Any of ``fracture``, ``survival``, ``bmd_change``.
    n_intervals : int
        Yearly survival intervals (10 → 10-year risk).
    hidden, dropout : network width and dropout.
    clinical_path : {"mlp", "linear", "wide_deep"}
        How the clinical values reach the heads (:class:`bonenet.models.FusionModel`):
        ``"mlp"`` (default) an MLP embedding; ``"linear"`` (clinical-only) one linear map per
        head — logistic regression for the fracture head, the shipped clinical-only config,
        which at 300–1000 subjects stays level with a scikit-learn logistic regression where
        the MLP fell below it (docs/training.md, "Small cohorts"); ``"wide_deep"`` a linear
        term beside the deep path, which training starts from.
    ensemble : int
        K ≥ 2 trains a deep ensemble of K networks with independent initial weights and
        dropout on the same batches (:class:`bonenet.models.FusionEnsemble`): the training loss
        is the members' mean loss, validation, test and prediction use the averaged outputs.
        Costs K× the compute of one network; 1 (default) = a single network.
    loss_weights : dict, optional
        Per-head multipliers, default 1 each.
    pos_weight : float, optional
        Positive-class weight of the fracture BCE (class weighting).
    focal_gamma : float
        > 0 uses focal loss for the fracture head instead of BCE.
    huber_delta : float
        Huber transition point for ``bmd_change`` (its units, e.g. %).
    lr, weight_decay : float
        AdamW settings.
    warmup_steps : int
        Linear warm-up steps before the cosine decay to ``lr * min_lr_ratio``.
    min_lr_ratio : float
    """

    def __init__(
        self,
        backbone: str | None = "trabecular_cnn",
        spatial_dims: int = 3,
        in_channels: int = 1,
        clinical_features: int = 0,
        pretrained: str | None = None,
        backbone_kwargs: dict[str, Any] | None = None,
        fusion: str = "concat",
        heads: list[str] | tuple[str, ...] = ("fracture",),
        n_intervals: int = 10,
        hidden: int = 64,
        dropout: float = 0.2,
        ensemble: int = 1,
        clinical_path: str = "mlp",
        loss_weights: dict[str, float] | None = None,
        pos_weight: float | None = None,
        focal_gamma: float = 0.0,
        huber_delta: float = 1.0,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        warmup_steps: int = 0,
        min_lr_ratio: float = 0.01,
    ) -> None:
        super().__init__()
        heads = list(heads)
        bad = [h for h in heads if h not in HEADS]
        if bad:
            raise ConfigError(f"model.heads: unknown head(s) {bad}; choose from {list(HEADS)}")
        self.save_hyperparameters(ignore=["pretrained"])
        try:
            self.network: FusionModel | FusionEnsemble = build_fusion_model(
                backbone=backbone, spatial_dims=spatial_dims, in_channels=in_channels,
                clinical_features=clinical_features, pretrained=pretrained,
                backbone_kwargs=backbone_kwargs, fusion=fusion, heads=heads,
                n_intervals=n_intervals, hidden=hidden, dropout=dropout, ensemble=ensemble,
                clinical_path=clinical_path,
            )
        except ValueError as exc:
            raise ConfigError(f"model: {exc}") from exc
        self.loss_weights = {h: float((loss_weights or {}).get(h, 1.0)) for h in heads}
        self.val_metrics = self._metrics()
        self._rng_cpu: torch.Tensor | None = None
        self._rng_cuda: torch.Tensor | None = None
        self.test_metrics = self._metrics()

    @staticmethod
    def _metrics() -> torch.nn.ModuleDict:
        return torch.nn.ModuleDict({
            "auroc": BinaryAUROC(), "auprc": BinaryAveragePrecision(),
            "ece": BinaryCalibrationError(n_bins=10, norm="l1"),
        })

    def network_config(self) -> dict[str, Any]:
        """The plain values that rebuild :attr:`network` (stored in every checkpoint)."""
        return {k: self.hparams[k] for k in NETWORK_KEYS}

    # ------------------------------------------------------------------ forward
    def _inputs(self, batch: Batch) -> dict[str, torch.Tensor | None]:
        use_img = self.network.has_image
        use_clin = self.network.has_clinical
        return {"images": batch.images if use_img else None,
                "image_present": batch.image_present if use_img else None,
                "clinical": batch.clinical if use_clin else None,
                "clinical_observed": batch.clinical_observed if use_clin else None}

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Raw head outputs (an ensemble's averaged over its members)."""
        return self.network(**self._inputs(batch))

    def _member_outputs(self, batch: Batch) -> list[dict[str, torch.Tensor]]:
        """Training outputs: one dict per ensemble member (a single network is one member)."""
        if isinstance(self.network, FusionEnsemble):
            return self.network.forward_members(**self._inputs(batch))
        return [self(batch)]

    def _losses(self, out: dict[str, torch.Tensor], batch: Batch) -> dict[str, torch.Tensor]:
        hp = self.hparams
        t = batch.targets
        losses: dict[str, torch.Tensor] = {}
        nan = torch.full((len(batch),), math.nan, device=self.device)
        if "fracture" in out:
            losses["fracture"] = binary_loss(out["fracture"], t.get("fracture", nan),
                                             pos_weight=hp.pos_weight, focal_gamma=hp.focal_gamma)
        if "survival" in out:
            ev = t.get("event", torch.full((len(batch),), -1, device=self.device, dtype=torch.long))
            losses["survival"] = survival_nll(out["survival"], t.get("time_years", nan), ev)
        if "bmd_change" in out:
            losses["bmd_change"] = huber_loss(out["bmd_change"], t.get("bmd_change", nan),
                                              delta=hp.huber_delta)
        return losses

    def _risk(self, out: dict[str, torch.Tensor]) -> torch.Tensor:
        r = FusionModel.risk({k: v.float() for k, v in out.items()})
        return r["fracture"] if "fracture" in r else r["survival"]

    # ------------------------------------------------------------------ steps
    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        # Dropout draws from the module's own RNG stream, so data loading that touches the
        # global RNG (prefetching one batch ahead) cannot shift it: exact resume stays exact.
        cuda = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            if self._rng_cpu is not None:
                torch.set_rng_state(self._rng_cpu)
                if cuda and self._rng_cuda is not None:
                    torch.cuda.set_rng_state(self._rng_cuda, self.device)
            outs = self._member_outputs(batch)
            self._rng_cpu = torch.get_rng_state()
            self._rng_cuda = torch.cuda.get_rng_state(self.device) if cuda else None
        # an ensemble's members each get their own loss; their mean keeps the scale of one network
        per_member = [self._losses(out, batch) for out in outs]
        losses = {k: sum(m[k] for m in per_member) / len(per_member) for k in per_member[0]}
        loss = sum(self.loss_weights[k] * v for k, v in losses.items())
        bs = len(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=bs)
        for k, v in losses.items():
            self.log(f"train/loss_{k}", v, batch_size=bs)
        return loss

    def _eval_step(self, batch: Batch, stage: str, metrics: torch.nn.ModuleDict) -> None:
        out = self(batch)
        losses = self._losses(out, batch)
        loss = sum(self.loss_weights[k] * v for k, v in losses.items())
        self.log(f"{stage}/loss", loss, prog_bar=True, batch_size=len(batch), sync_dist=True)
        y = batch.targets.get("fracture")
        if y is not None:
            known = ~torch.isnan(y)
            if bool(known.any()):
                p = self._risk(out)[known]
                yy = y[known].long()
                for m in metrics.values():
                    m.update(p, yy)

    def _eval_epoch_end(self, stage: str, metrics: torch.nn.ModuleDict) -> None:
        for name, m in metrics.items():
            if m.update_count > 0:
                self.log(f"{stage}/{name}", m.compute(), prog_bar=name == "auroc", sync_dist=False)
            m.reset()

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, "val", self.val_metrics)

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val", self.val_metrics)

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, "test", self.test_metrics)

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test", self.test_metrics)

    def predict_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> dict[str, Any]:
        out = self(batch)
        risk = network_risk(self.network, {k: v.float() for k, v in out.items()})
        return {"subject_ids": list(batch.subject_ids),
                **{k: v.detach().cpu() for k, v in risk.items()},
                "targets": {k: v.detach().cpu() for k, v in batch.targets.items()}}

    # ------------------------------------------------------------------ optimiser
    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        decay, no_decay = [], []
        for n, p in self.network.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.ndim <= 1 or n.endswith(".bias") else decay).append(p)
        opt = torch.optim.AdamW(
            [{"params": decay, "weight_decay": hp.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=hp.lr,
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warm, floor = int(hp.warmup_steps), float(hp.min_lr_ratio)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, _CosineWithWarmup(total, warm, floor))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        dm = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        checkpoint["bonenet"] = {
            "format": 1,
            "network": _plain(self.network_config()),
            "datamodule_key": None if dm is None else type(dm).__qualname__,
            "datamodule_class": None if dm is None else f"{type(dm).__module__}.{type(dm).__qualname__}",
            # the dropout stream of every DDP rank (a collective: all ranks build the checkpoint)
            **with_all_ranks({"cpu": self._rng_cpu, "cuda": self._rng_cuda}),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Lightning restores after the process group is up: each DDP rank takes its own stream
        rng = for_this_rank(checkpoint.get("bonenet") or {}) or {}
        self._rng_cpu = rng.get("cpu")
        self._rng_cuda = rng.get("cuda")


class _CosineWithWarmup:
    """Picklable LR multiplier: linear warm-up then cosine from 1 to ``floor``."""

    def __init__(self, total: int, warmup: int, floor: float) -> None:
        self.total, self.warmup, self.floor = total, warmup, floor

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        frac = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return self.floor + (1 - self.floor) * 0.5 * (1 + math.cos(math.pi * frac))


def _plain(v: Any) -> Any:
    """Convert to JSON-like plain types (tuples → lists) so ``weights_only=True`` loads it."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v

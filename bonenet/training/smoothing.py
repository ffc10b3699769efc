"""Early stopping and checkpoint choice on a smoothed validation metric.

With 50–100 validation subjects the per-epoch validation AUROC moves by ±0.05 from noise alone
(its bootstrap standard error), so the epoch where it peaks is often an accident — at 400
subjects the raw peak was the first epoch, a barely trained network (issue 20).
:class:`SmoothedEarlyStopping` publishes the trailing moving average of the monitored metric
over ``window`` epochs as ``<monitor>_smooth`` (``val/auroc_smooth``), which ``best.ckpt``
monitors, and stops training when it has not improved for ``patience`` epochs. Until ``window``
epochs have been seen the smoothed value is undefined (NaN), so the checkpoint cannot settle on
one of the first, noisiest epochs unless training is shorter than the window.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback

__all__ = ["SmoothedEarlyStopping", "smoothed_name"]

log = logging.getLogger(__name__)


def smoothed_name(monitor: str) -> str:
    """The logged name of the smoothed metric (``val/auroc`` → ``val/auroc_smooth``)."""
    return f"{monitor}_smooth"


class SmoothedEarlyStopping(Callback):
    """Trailing moving average of a validation metric; early stopping on it.

    Parameters
    ----------
    monitor : str
        The raw per-epoch metric (default ``val/auroc``).
    mode : {"max", "min"}
    window : int
        Epochs averaged (1 = no smoothing). The smoothed value is NaN until
        ``min(window, trainer.max_epochs)`` epochs have been validated.
    patience : int
        Epochs without improvement of the smoothed value (by more than ``min_delta``) before
        training stops; 0 disables stopping (the smoothed metric is still published).
    min_delta : float
        Smallest change that counts as an improvement, in the metric's units.
    """

    def __init__(self, monitor: str = "val/auroc", mode: str = "max", window: int = 5,
                 patience: int = 10, min_delta: float = 0.0) -> None:
        if mode not in ("max", "min"):
            from ..errors import ConfigError

            raise ConfigError(f"early_stopping.mode={mode!r}: use 'max' or 'min'")
        if window < 1 or patience < 0:
            from ..errors import ConfigError

            raise ConfigError("early_stopping: window must be ≥ 1 and patience ≥ 0")
        self.monitor, self.mode, self.window = monitor, mode, int(window)
        self.patience, self.min_delta = int(patience), float(min_delta)
        self.history: list[float] = []
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.stopped_epoch: int | None = None

    @property
    def name(self) -> str:
        return smoothed_name(self.monitor)

    def _better(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "max":
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        raw = trainer.callback_metrics.get(self.monitor)
        if raw is None:
            return
        self.history.append(float(raw))
        need = self.window
        if trainer.max_epochs is not None and trainer.max_epochs > 0:
            need = min(need, int(trainer.max_epochs))
        recent = [v for v in self.history[-self.window:] if math.isfinite(v)]
        smooth = float(sum(recent) / len(recent)) if len(self.history) >= need and recent else math.nan
        # ModelCheckpoint (run after every other callback) reads callback_metrics
        trainer.callback_metrics[self.name] = torch.tensor(smooth)
        for lg in trainer.loggers:
            lg.log_metrics({self.name: smooth}, step=trainer.global_step)
        if not math.isfinite(smooth):
            return
        if self._better(smooth):
            self.best, self.best_epoch, self.wait = smooth, trainer.current_epoch, 0
        else:
            self.wait += 1
            if self.patience and self.wait >= self.patience:
                trainer.should_stop = True
                self.stopped_epoch = trainer.current_epoch
                log.info("early stopping at epoch %d: %s has not improved for %d epochs (best %.4f at epoch %d)",
                         trainer.current_epoch, self.name, self.wait, self.best, self.best_epoch)

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history), "best": self.best, "best_epoch": self.best_epoch,
                "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))
        self.best = state_dict.get("best")
        self.best_epoch = state_dict.get("best_epoch")
        self.wait = int(state_dict.get("wait", 0))
        self.stopped_epoch = state_dict.get("stopped_epoch")

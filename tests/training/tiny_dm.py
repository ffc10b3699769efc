"""A tiny in-test LightningDataModule producing bonenet.data.Batch via bonenet.data.collate.

Images carry signal (their mean shifts with a latent risk), clinical values another part of it,
so training has something to learn. Importable by class_path ``tiny_dm.TinyDataModule`` when
``tests/training`` is on PYTHONPATH (the CLI and DDP tests put it there).
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset

from bonenet.data import EpochShuffleSampler, Sample, collate


class _Set(Dataset):
    def __init__(self, samples):
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        if isinstance(i, tuple):  # EpochShuffleSampler yields (index, epoch)
            i = i[0]
        return self.samples[i]


class TinyDataModule(pl.LightningDataModule):
    def __init__(self, n: int = 48, spatial_dims: int = 3, roi: int = 16, n_clinical_features: int = 4,
                 images_per_subject: int = 1, batch_size: int = 8, use_clinical: bool = True,
                 use_images: bool = True, seed: int = 0) -> None:
        super().__init__()
        self.n, self.roi, self.batch_size, self.seed = n, roi, batch_size, seed
        self.spatial_dims = spatial_dims
        self.in_channels = 1
        self.images_per_subject = images_per_subject
        self.n_clinical_features = n_clinical_features
        self.use_clinical, self.use_images = use_clinical, use_images
        self.fitted: dict | None = None

    def _make(self, idx: range, g: torch.Generator):
        out = []
        for i in idx:
            z = torch.randn((), generator=g)
            k = self.images_per_subject
            img = torch.randn((k, 1, *([self.roi] * self.spatial_dims)), generator=g) * 0.5 + z
            c = torch.randn(self.n_clinical_features, generator=g)
            c[0] = c[0] + z
            obs = (torch.rand(self.n_clinical_features, generator=g) > 0.1).float()
            y = float(z + 0.3 * torch.randn((), generator=g) > 0)
            out.append(Sample(
                subject_id=f"S{i:04d}",
                images=img if self.use_images else None,
                clinical=(c * obs) if self.use_clinical else None,
                clinical_observed=obs if self.use_clinical else None,
                targets={"fracture": torch.tensor(y), "time_years": torch.tensor(2.0 + 8 * float(torch.rand((), generator=g))),
                         "event": torch.tensor(int(y)), "bmd_change": z * 2},
            ))
        return out

    def setup(self, stage: str | None = None) -> None:
        g = torch.Generator().manual_seed(self.seed)
        samples = self._make(range(self.n), g)
        n_val = max(4, self.n // 4)
        self.train_set = _Set(samples[n_val:])
        self.val_set = _Set(samples[:n_val])
        self.fitted = {"means": torch.zeros(self.n_clinical_features), "note": "tiny"}

    def train_dataloader(self):
        return DataLoader(self.train_set, batch_size=self.batch_size, collate_fn=collate,
                          sampler=EpochShuffleSampler(len(self.train_set), seed=self.seed))

    def val_dataloader(self):
        return DataLoader(self.val_set, batch_size=self.batch_size, collate_fn=collate)

    def test_dataloader(self):
        return self.val_dataloader()

    def predict_dataloader(self):
        return self.val_dataloader()

    def state_dict(self):
        return dict(self.fitted or {})

    def load_state_dict(self, state_dict):
        self.fitted = dict(state_dict)


class KillAtStep(pl.Callback):
    """Simulates a kill: interrupts training when ``global_step`` reaches ``step``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            raise KeyboardInterrupt(f"killed at step {self.step}")


class HardKillAtStep(pl.Callback):
    """Simulates a pre-empted job: when ``global_step`` reaches ``step``, rank 0 sends SIGKILL to
    its whole process group (itself, the other DDP ranks, any loader workers). No graceful
    shutdown, no final checkpoint: only what was already on disk survives."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step and trainer.global_rank == 0:
            import os
            import signal

            os.killpg(os.getpgrp(), signal.SIGKILL)


class RankDependentDraws(pl.Callback):
    """Draws ``1 + rank`` numbers from the global torch RNG before every training batch, so the
    DDP ranks' RNG streams (and their dropout masks) differ, as they do when augmentation on the
    device draws per-sample amounts. A resume that gave every rank rank 0's RNG states would then
    train differently from the uninterrupted run."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        torch.rand(1 + trainer.global_rank)


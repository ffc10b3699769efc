"""Training-loop throughput: bonenet's Lightning loop vs a plain PyTorch + MONAI loop.

Same network (FusionModel over a registry backbone), same data (one in-memory dataset of
``bonenet.data.Sample`` through ``bonenet.data.collate``), same optimiser, loss and schedule,
same process, same determinism setting (on CPU both run with deterministic algorithms, as
``bonenet train`` does). Measurements alternate plain/bonenet; on a shared machine contention
only ever slows a run down, so the best of the repeats is the figure (timeit's rule), medians
are printed too. Prints samples/s of both and the ratio (bonenet / plain) last; target ≥ 0.95.

    PYTHONPATH=. python benchmarks/bench_train.py                 # trabecular_cnn, 48³, CPU
    PYTHONPATH=. python benchmarks/bench_train.py --backbone densenet121 --roi 96 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Dataset

from bonenet.data import EpochShuffleSampler, Sample, collate
from bonenet.device import select_device
from bonenet.training import ExactResume, FractureRiskModule, LastCheckpoint
from bonenet.training.losses import binary_loss


class _Mem(Dataset):
    def __init__(self, n: int, roi: int, dims: int, n_clin: int) -> None:
        g = torch.Generator().manual_seed(0)
        self.items = []
        for i in range(n):
            z = torch.randn((), generator=g)
            self.items.append(Sample(
                subject_id=f"B{i:05d}",
                images=torch.randn((1, 1, *([roi] * dims)), generator=g) + 0.3 * z,
                clinical=torch.randn(n_clin, generator=g), clinical_observed=torch.ones(n_clin),
                targets={"fracture": torch.tensor(float(z > 0))},
            ))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int | tuple[int, int]) -> Sample:
        if isinstance(i, tuple):  # EpochShuffleSampler yields (index, epoch)
            i = i[0]
        return self.items[i]


class _DM(pl.LightningDataModule):
    def __init__(self, ds: Dataset, batch_size: int) -> None:
        super().__init__()
        self.ds, self.bs = ds, batch_size

    def train_dataloader(self) -> DataLoader:
        return _loader(self.ds, self.bs)


def _loader(ds: Dataset, bs: int) -> DataLoader:
    return DataLoader(ds, batch_size=bs, sampler=EpochShuffleSampler(len(ds), seed=0), collate_fn=collate)


class _EpochTimer(pl.Callback):
    def __init__(self) -> None:
        self.times: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._t = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.times.append(time.perf_counter() - self._t)


def _module(args: argparse.Namespace) -> FractureRiskModule:
    torch.manual_seed(0)
    return FractureRiskModule(backbone=args.backbone, spatial_dims=args.dims, clinical_features=args.clinical,
                              fusion="concat", heads=["fracture"], lr=1e-3)


def run_lightning(args: argparse.Namespace, ds: Dataset, device: str) -> float:
    """bonenet's loop: FractureRiskModule + the callbacks and logger `bonenet train` adds."""
    from lightning.pytorch.loggers import CSVLogger

    timer = _EpochTimer()
    with tempfile.TemporaryDirectory() as tmp:
        trainer = pl.Trainer(
            max_epochs=args.epochs, accelerator="gpu" if device.startswith("cuda") else "cpu", devices=1,
            precision="16-mixed" if device.startswith("cuda") else "32-true",
            logger=CSVLogger(tmp, name="csv"), enable_progress_bar=False, enable_model_summary=False,
            callbacks=[timer, ExactResume(), LastCheckpoint(dirpath=tmp, every_n_train_steps=10_000)],
            num_sanity_val_steps=0, limit_val_batches=0, deterministic=not device.startswith("cuda"),
        )
        trainer.fit(_module(args), datamodule=_DM(ds, args.batch_size))
    sec = sum(timer.times[1:])  # first epoch is warm-up
    return len(ds) * (args.epochs - 1) / sec


def run_plain(args: argparse.Namespace, ds: Dataset, device: str) -> float:
    """A plain PyTorch + MONAI loop: the same network, AdamW, cosine schedule, loss, data."""
    if not device.startswith("cuda"):
        torch.use_deterministic_algorithms(True)
    module = _module(args)
    net = module.network.to(device).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    loader = _loader(ds, args.batch_size)
    steps = args.epochs * len(loader)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    cuda = device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=cuda)
    times = []
    for epoch in range(args.epochs):
        loader.sampler.set_epoch(epoch)
        t = time.perf_counter()
        for batch in loader:
            b = batch.to(device)
            with torch.autocast("cuda", enabled=cuda):
                out = net(b.images, b.image_present, b.clinical, b.clinical_observed)
            loss = binary_loss(out["fracture"], b.targets["fracture"])
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            sched.step()
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return len(ds) * (args.epochs - 1) / sum(times[1:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbone", default="trabecular_cnn")
    ap.add_argument("--dims", type=int, default=3)
    ap.add_argument("--roi", type=int, default=48)
    ap.add_argument("--n", type=int, default=64, help="subjects in the in-memory dataset")
    ap.add_argument("--clinical", type=int, default=20, help="clinical features")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=3, help="per measurement; the first is warm-up")
    ap.add_argument("--repeats", type=int, default=5, help="alternating repeats; medians reported")
    ap.add_argument("--device", default=None)
    args = ap.parse_args()
    device = select_device(args.device)
    ds = _Mem(args.n, args.roi, args.dims, args.clinical)
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    light, plain = [], []
    for r in range(args.repeats):
        plain.append(run_plain(args, ds, device))
        light.append(run_lightning(args, ds, device))
        print(f"repeat {r + 1}: plain {plain[-1]:.1f} samples/s, bonenet {light[-1]:.1f} samples/s", flush=True)
    name = torch.cuda.get_device_name() if device.startswith("cuda") else f"CPU ({torch.get_num_threads()} threads)"
    p, lt = max(plain), max(light)
    print(f"device: {name}; {args.backbone} {args.dims}D {args.roi}^{args.dims}, batch {args.batch_size}, "
          f"{args.n} subjects, AMP {'on' if device.startswith('cuda') else 'off'}")
    print(f"median of repeats: plain {statistics.median(plain):.2f}, bonenet {statistics.median(light):.2f} "
          f"samples/s (ratio {statistics.median(light) / statistics.median(plain):.3f})")
    print(f"plain PyTorch+MONAI loop : {p:8.2f} samples/s (best of {args.repeats})")
    print(f"bonenet Lightning loop   : {lt:8.2f} samples/s (best of {args.repeats})")
    print(f"ratio bonenet/plain      : {lt / p:.3f}")


if __name__ == "__main__":
    main()

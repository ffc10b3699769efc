"""Data-pipeline throughput: is the loader ever the bottleneck of training?

Measured in one process on the same synthetic HR-pQCT-like cohort (NIfTI volumes in mg HA/cm³
resampled to 0.1 mm and cropped around the bone to ``roi``³):

1. uncached loader — read NIfTI + resample + crop + window + loader-stage augmentation;
2. cached loader — the same from bonenet's on-disk cache (``.npy``) + loader-stage augmentation;
3. all-in-loader — cached, but rotations and noise done per sample in the loader too
   (``Augment(batch_stage=False)``), to show why they run on the batch instead;
4. model — samples/s a small 3-D CNN consumes in training (batch-stage augmentation +
   forward + backward + AdamW step) on the chosen device, same batch size.

The last line is the ratio cached-loader / model (target ≥ 3: the loader is never the
bottleneck). Run: ``PYTHONPATH=. python benchmarks/bench_data.py [--n 48] [--roi 64]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("BONENET_PROGRESS", "0")

import numpy as np
import torch
from torch.utils.data import DataLoader

from bonenet import Volume, io
from bonenet.data import (
    Augment,
    BoneDataset,
    Preprocess,
    SampleCache,
    collate,
    worker_init_fn,
)


def make_cohort(root: Path, n: int, roi: int, seed: int = 0) -> Path:
    """Write ``n`` bone-like volumes (cortical shell + trabecular texture, mg HA/cm³)."""
    rng = np.random.default_rng(seed)
    side = int(roi * 1.5)
    z, y, x = np.mgrid[:side, :side, :side].astype(np.float32)
    rows = ["subject_id,image,fracture,age,sex"]
    (root / "studies").mkdir(parents=True)
    for i in range(n):
        cy, cx = side / 2 + rng.normal(0, 4, 2)
        r = np.hypot(y - cy, x - cx)
        tex = rng.normal(0, 1, (side, side, side)).astype(np.float32)
        tex = np.where(np.sin(x / 2.1) * np.sin(y / 2.3) * np.sin(z / 1.9) + 0.3 * tex > 0.35, 650.0, 60.0)
        arr = np.where(r < side * 0.33, tex, -50.0) + np.where(abs(r - side * 0.33) < 3, 1100.0, 0.0)
        arr = (arr + rng.normal(0, 40, arr.shape)).astype(np.float32)
        io.save(Volume(arr, spacing=(0.082,) * 3, units="mgHA/cm3", modality="CT"),
                root / "studies" / f"s{i}.nii.gz")
        rows.append(f"s{i},studies/s{i}.nii.gz,{i % 2},{60 + i % 30},F")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


def loader_rate(ds: BoneDataset, batch_size: int, workers: int, epochs: int) -> float:
    """Samples per second over ``epochs`` passes (workers started before timing)."""
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=workers,
                        collate_fn=collate, worker_init_fn=worker_init_fn,
                        persistent_workers=workers > 0, generator=torch.Generator().manual_seed(0))
    if workers:
        next(iter(loader))  # start workers outside the timed region
    n = 0
    t = time.perf_counter()
    for _ in range(epochs):
        for batch in loader:
            n += len(batch)
    return n / (time.perf_counter() - t)


def tiny_cnn() -> torch.nn.Module:
    """A small 3-D CNN of the size bonenet trains on a CPU (≈ 0.1 M parameters)."""
    def block(i: int, o: int) -> list[torch.nn.Module]:
        return [torch.nn.Conv3d(i, o, 3, stride=2, padding=1), torch.nn.BatchNorm3d(o), torch.nn.ReLU()]

    return torch.nn.Sequential(*block(1, 16), *block(16, 32), *block(32, 64), *block(64, 64),
                               torch.nn.AdaptiveAvgPool3d(1), torch.nn.Flatten(), torch.nn.Linear(64, 1))


def model_rate(batch, aug: Augment, device: torch.device, steps: int) -> tuple[float, float]:
    """(samples/s with batch-stage augmentation, samples/s without) of training steps."""
    net = tiny_cnn().to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    b = batch.to(device)
    y = b.targets["fracture"]

    def step(augment: bool) -> None:
        x = aug.augment_batch(b.images, b.image_present) if augment else b.images
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x[:, 0]).squeeze(1), y)
        loss.backward()
        opt.step()

    rates = []
    for augment in (True, False):
        step(augment)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(steps):
            step(augment)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates.append(steps * len(b) / (time.perf_counter() - t))
    return rates[0], rates[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=48, help="subjects")
    ap.add_argument("--roi", type=int, default=64, help="ROI side, voxels")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers")
    ap.add_argument("--steps", type=int, default=6, help="timed training steps")
    ap.add_argument("--device", default="auto", help="cpu, cuda or auto")
    a = ap.parse_args()
    device = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if a.device == "auto" else a.device))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        man = make_cohort(root / "cohort", a.n, a.roi)
        pre = Preprocess(3, 0.1, (a.roi,) * 3, (-100.0, 1200.0), "mgHA/cm3", bone_threshold=400.0)
        aug = Augment(3, flip_axes=(2,), rotate_deg=10, seed=0)
        inline = Augment(3, flip_axes=(2,), rotate_deg=10, batch_stage=False, seed=0)
        uncached = BoneDataset(man, preprocess=pre, augment=aug)
        r_uncached = loader_rate(uncached, a.batch_size, a.workers, 1)
        cached = BoneDataset(man, preprocess=pre, augment=aug, cache=SampleCache(root / "cache"))
        cached.warm_cache()
        r_cached = loader_rate(cached, a.batch_size, a.workers, 2)
        cached.augment = inline
        r_inline = loader_rate(cached, a.batch_size, a.workers, 1)
        cached.augment = aug
        batch = collate([cached[i] for i in range(a.batch_size)])
        r_model_aug, r_model = model_rate(batch, Augment(3, flip_axes=(2,), rotate_deg=10, seed=0),
                                          device, a.steps)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"cohort: {a.n} subjects, ROI {a.roi}^3 at 0.1 mm, batch {a.batch_size}, workers {a.workers}, "
          f"model on {name}")
    print(f"uncached loader (read+resample+crop+aug)   {r_uncached:9.1f} samples/s")
    print(f"cached loader (+ loader-stage aug)          {r_cached:9.1f} samples/s")
    print(f"cached, rotation+noise in loader            {r_inline:9.1f} samples/s")
    print(f"model train step (+ batch-stage aug)        {r_model_aug:9.1f} samples/s")
    print(f"model train step (no aug)                   {r_model:9.1f} samples/s")
    print(f"cached / uncached loader                    {r_cached / r_uncached:9.2f} x")
    print(f"rotation+noise in loader / model            {r_inline / r_model_aug:9.2f} x")
    print(f"cached loader / model (target >= 3)         {r_cached / r_model_aug:9.2f} x")


if __name__ == "__main__":
    main()

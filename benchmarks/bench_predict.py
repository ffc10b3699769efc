"""Batch prediction speed and memory: bonenet predict against a straightforward loop.

200 synthetic DICOM CT studies (one file per slice) are predicted end to end on the CPU with
the same network and the same preprocessing parameters by

* the straightforward loop: for each study, SimpleITK series read, MONAI transforms
  (orientation-free channel-first, Spacing, intensity window, foreground crop, pad/crop),
  one model call with a batch of one;
* bonenet: ``predict_studies`` (decoding in worker processes with bounded prefetch, batched
  model calls, row-atomic resumable CSV output, pseudonymised ids).

It prints studies per minute for both and their ratio (last line), and the peak resident
memory (main process + decoding workers) of bonenet at 50 and 200 studies (flat within 10 %
means memory does not grow with the number of studies).

    PYTHONPATH=. python benchmarks/bench_predict.py [--n 200] [--workers N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROI = (64, 64, 64)
SPACING = 0.5          # mm, isotropic target spacing
WINDOW = (-200.0, 1500.0)  # HU


def make_studies(root: Path, n: int, *, shape=(48, 128, 128), seed: int = 0) -> Path:
    """``root/studies/S####/`` DICOM CT series: a trabecular-ish cylinder in soft tissue."""
    from bonenet.io import save
    from bonenet.volume import Volume

    studies = root / "studies"
    rng = np.random.default_rng(seed)
    _zz, yy, xx = np.mgrid[: shape[0], : shape[1], : shape[2]]
    r2 = (yy - shape[1] / 2) ** 2 + (xx - shape[2] / 2) ** 2
    for i in range(n):
        arr = rng.normal(40, 25, shape).astype(np.float32)
        bone = r2 < (shape[1] / 4 + rng.normal(0, 3)) ** 2
        arr[bone] = 250 + 500 * (rng.random(int(bone.sum())) < rng.uniform(0.2, 0.4))
        arr[bone & (r2 > (shape[1] / 4 - 4) ** 2)] = 1200
        save(Volume(arr, spacing=(0.6, 0.5, 0.5), units="HU", modality="CT"),
             studies / f"S{i:04d}", format="dicom", uid_seed=i, patient_id=f"S{i:04d}")
    return studies


def build_network() -> torch.nn.Module:
    from bonenet.models import build_fusion_model

    torch.manual_seed(0)
    return build_fusion_model(backbone="trabecular_cnn", spatial_dims=3, clinical_features=0,
                              heads=("fracture",)).eval()


def build_preprocess():
    from bonenet.data import Preprocess

    return Preprocess(spatial_dims=3, target_spacing_mm=SPACING, roi_size=ROI,
                      intensity_window=WINDOW, units="HU", normalize="unit", crop="bone")


# ----------------------------------------------------------------- straightforward loop
def baseline(studies: list[Path], network: torch.nn.Module) -> list[float]:
    import SimpleITK as sitk
    from monai.data import MetaTensor
    from monai.transforms import (
        Compose,
        CropForeground,
        EnsureChannelFirst,
        ResizeWithPadOrCrop,
        ScaleIntensityRange,
        Spacing,
    )

    tf = Compose([
        EnsureChannelFirst(channel_dim="no_channel"),
        Spacing(pixdim=(SPACING,) * 3, mode="bilinear"),
        ScaleIntensityRange(a_min=WINDOW[0], a_max=WINDOW[1], b_min=0.0, b_max=1.0, clip=True),
        CropForeground(select_fn=lambda x: x > (400 - WINDOW[0]) / (WINDOW[1] - WINDOW[0]),
                       margin=8, allow_smaller=True),
        ResizeWithPadOrCrop(ROI),
    ])
    out = []
    for d in studies:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(d)))
        img = reader.Execute()
        arr = sitk.GetArrayFromImage(img).astype(np.float32)  # (z, y, x)
        sp = img.GetSpacing()[::-1]
        affine = np.diag([*sp, 1.0])
        x = tf(MetaTensor(torch.from_numpy(arr), affine=torch.as_tensor(affine)))
        with torch.inference_mode():
            logits = network(images=x.as_tensor()[None, None], image_present=torch.ones(1, 1, dtype=torch.bool))
        out.append(float(torch.sigmoid(logits["fracture"])[0]))
    return out


# ------------------------------------------------------------------------------ bonenet
class PeakMemory:
    """Peak memory of this process and its children (decoding workers), sampled every 50 ms.

    Proportional set size (PSS) where the OS reports it, so pages shared by forked workers
    are counted once; resident set size otherwise.
    """

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _mem(p) -> int:
        try:
            return p.memory_full_info().pss
        except (AttributeError, OSError):
            return p.memory_info().rss

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for p in [self.proc, *self.proc.children(recursive=True)]:
                try:
                    total += self._mem(p)
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            time.sleep(0.05)

    def __enter__(self) -> PeakMemory:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()


def bonenet_predict(studies_dir: Path, network, preprocess, out: Path, *, workers: int,
                    batch_size: int, start: int = 0, n: int) -> tuple[float, int]:
    from bonenet.inference import (
        ModelRunner,
        Predictor,
        Pseudonymizer,
        StudyPreparer,
        discover_studies,
        predict_studies,
    )

    studies = discover_studies(studies_dir)[start:start + n]
    predictor = Predictor(name="bench", checksum="-", heads=("fracture",),
                          preparer=StudyPreparer(preprocess=preprocess),
                          runner=ModelRunner(network))
    shutil.rmtree(out, ignore_errors=True)
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        s = predict_studies(studies, predictor, out, pseudonymizer=Pseudonymizer("bench-salt-000"),
                            batch_size=batch_size, num_workers=workers)
        dt = time.perf_counter() - t0
    assert s.n_predicted == n, s.message()
    return dt, mem.peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--workers", type=int, default=None,
                    help="decoding workers (default bonenet's: one per core, at most 8)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3,
                    help="alternating whole runs of each pipeline; the best is the figure (timeit's rule:"
                         " on a shared machine contention only ever slows a run down)")
    ap.add_argument("--keep", default=None, help="reuse/keep the synthetic studies in this folder")
    args = ap.parse_args()
    os.environ.setdefault("BONENET_PROGRESS", "0")
    from bonenet.inference._loop import default_workers

    workers = default_workers() if args.workers is None else args.workers
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench_predict_"))
    try:
        studies_dir = root / "studies"
        have = len(list(studies_dir.iterdir())) if studies_dir.exists() else 0
        if have < args.n:
            t0 = time.perf_counter()
            shutil.rmtree(studies_dir, ignore_errors=True)
            make_studies(root, args.n)
            print(f"wrote {args.n} DICOM studies in {time.perf_counter() - t0:.0f} s", flush=True)
        network, preprocess = build_network(), build_preprocess()
        dirs = sorted(studies_dir.iterdir())[: args.n]
        print(f"cpu cores {os.cpu_count()}, load average {os.getloadavg()[0]:.1f}, torch threads "
              f"{torch.get_num_threads()}, decoding workers {workers}, batch {args.batch_size}, "
              f"study 48x128x128 int16 DICOM slices -> {ROI[0]}^3 at {SPACING} mm", flush=True)

        # memory: one bonenet run over 50 studies, one over all of them
        n_small = min(50, args.n)
        t_small, peak_small = bonenet_predict(studies_dir, network, preprocess, root / "out50",
                                              n=n_small, workers=workers, batch_size=args.batch_size)
        t_full, peak_full = bonenet_predict(studies_dir, network, preprocess, root / "out",
                                            n=args.n, workers=workers, batch_size=args.batch_size)
        # speed: whole runs over all studies (worker start-up included, as a user sees it),
        # the two pipelines alternating so both see the same load; best and median of repeats
        t_base_runs, t_bn_runs = [], []
        for r in range(args.repeats):
            t0 = time.perf_counter()
            assert len(baseline(dirs, network)) == args.n
            t_base_runs.append(time.perf_counter() - t0)
            t_bn_runs.append(bonenet_predict(studies_dir, network, preprocess, root / f"run{r}",
                                             n=args.n, workers=workers, batch_size=args.batch_size)[0])
            print(f"repeat {r + 1}: straightforward {60 * args.n / t_base_runs[-1]:.1f}, bonenet "
                  f"{60 * args.n / t_bn_runs[-1]:.1f} studies/min", flush=True)
        t_base, t_bn = min(t_base_runs), min(t_bn_runs)
        med = statistics.median(t_base_runs) / statistics.median(t_bn_runs)

        mib = 2**20
        print(f"peak memory bonenet (main + workers, PSS): {peak_small / mib:.0f} MiB at {n_small} "
              f"studies, {peak_full / mib:.0f} MiB at {args.n} studies (ratio "
              f"{peak_full / peak_small:.3f}; flat within 10 %: {peak_full / peak_small <= 1.10})")
        print(f"bonenet single runs: {60 * n_small / t_small:.1f} studies/min over {n_small}, "
              f"{60 * args.n / t_full:.1f} studies/min over {args.n}")
        rate_s, rate_b = 60 * args.n / t_base, 60 * args.n / t_bn
        print(f"straightforward loop (SimpleITK read + MONAI transforms + model, batch 1): "
              f"{rate_s:.1f} studies/min ({t_base:.1f} s for {args.n}, best of {args.repeats})")
        print(f"bonenet predict ({workers} decoding workers, batch {args.batch_size}): "
              f"{rate_b:.1f} studies/min ({t_bn:.1f} s for {args.n}, best of {args.repeats})")
        print(f"speed-up of the medians: {med:.2f}x")
        print(f"speed-up bonenet / straightforward: {rate_b / rate_s:.2f}x")
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: compressed-DICOM decoding workers from a fork server (what bonenet does) against
plain-fork workers (what it did before 0.1.x), in one process, interleaved.

bonenet never forks a process whose thread pools have run (numba's GNU OpenMP layer kills such
a child at its first parallel kernel; a child forked while another thread holds a lock can
block forever). This measures what that costs on a JPEG 2000 lossless series: the fork server
starts once per process with pydicom and the pylibjpeg plugins preloaded, so each read only
forks fresh workers from it. The first read of each method is left out (one-time start-up).

Usage::

    PYTHONPATH=. python benchmarks/bench_worker_start.py             # 100 slices 512x512
    PYTHONPATH=. python benchmarks/bench_worker_start.py --slices 40
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("BONENET_PROGRESS", "0")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_io import make_series

import bonenet.io.dicom as dicom
from bonenet import io
from bonenet._pool import worker_context


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--slices", type=int, default=100)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    methods = {"fork server": worker_context,
               "plain fork": lambda preload=(), **kw: mp.get_context("fork")}
    times: dict[str, list[float]] = {k: [] for k in methods}
    print(f"python {sys.version.split()[0]}, cpus {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="bonenet_bench_") as tmp:
        folder = Path(tmp) / "j2k"
        make_series(folder, args.slices, args.size, compression="jpeg2000")
        ref = None
        for r in range(args.repeat + 1):
            for name, ctx in methods.items():
                dicom.worker_context = ctx
                t = time.perf_counter()
                arr = io.load(folder, threads=2).array
                dt = time.perf_counter() - t
                if ref is None:
                    ref = arr
                elif not (arr == ref).all():
                    raise SystemExit(f"{name}: values differ")
                if r:
                    times[name].append(dt)
        dicom.worker_context = worker_context
    print(f"JPEG 2000 lossless, {args.slices} x {args.size} x {args.size}, 2 decoding workers, "
          f"median of {args.repeat}:")
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print(f"  {k:12s} {v:.3f} s")
    print(f"ratio fork server / plain fork: {med['fork server'] / med['plain fork']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

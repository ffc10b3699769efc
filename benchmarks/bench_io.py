"""Benchmark: bonenet.io.load on a DICOM CT series vs SimpleITK and MONAI, in one process.

Writes a synthetic 300-slice 512x512 uncompressed CT series (bonenet's own writer, uint16
stored values with intercept -1024 like most scanners) to a temporary folder, then times,
interleaved and repeated:

* ``bonenet.io.load(folder)`` (discovery, header parsing, sorting, rescale to float32 HU);
* SimpleITK ``ImageSeriesReader`` with ``GetGDCMSeriesFileNames`` discovery;
* MONAI ``LoadImage(reader="PydicomReader")``.

Values are checked identical (and the geometry against SimpleITK). Peak memory of a bonenet
load is measured in a fresh subprocess (peak RSS above the post-import baseline) and
reported relative to the float32 volume. A JPEG 2000 (lossless) series is timed too.
Ratios (SimpleITK time / bonenet time, ...) are printed last.

Usage::

    PYTHONPATH=. python benchmarks/bench_io.py            # 300 slices, J2K 100 slices
    PYTHONPATH=. python benchmarks/bench_io.py --quick    # 60 slices, J2K 20 slices
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

os.environ.setdefault("BONENET_PROGRESS", "0")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bonenet import Volume, io


def make_series(folder: Path, n: int, size: int, *, compression: str | None = None) -> Volume:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size]
    body = -1000 + 1040 * (((y - size / 2) ** 2 + (x - size / 2) ** 2) < (0.4 * size) ** 2)
    arr = np.empty((n, size, size), np.float32)
    for k in range(n):
        bone = 700 * (((y - size / 2) ** 2 + (x - size / 2 - 20 * np.sin(k / 9)) ** 2) < (0.08 * size) ** 2)
        arr[k] = np.maximum(body + bone + rng.integers(-25, 25, (size, size)), -1024)
    vol = Volume(arr, spacing=(0.625, 0.7, 0.7), origin=(-180.0, -180.0, -300.0),
                 direction=np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], float), units="HU", modality="CT")
    io.save(vol, folder, uid_seed=0, rescale=(1.0, -1024.0), dtype="uint16", compression=compression)
    return vol


def load_bonenet(folder: Path) -> np.ndarray:
    return io.load(folder).array


def load_sitk(folder: Path):
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def load_monai(folder: Path):
    from monai.transforms import LoadImage

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return LoadImage(reader="PydicomReader", image_only=True)(str(folder))


def time_all(folder: Path, funcs: dict, repeat: int) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in funcs}
    for _ in range(repeat):
        for name, fn in funcs.items():  # interleaved so load on the machine hits all alike
            t = time.perf_counter()
            fn(folder)
            times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def check_same(folder: Path, ref: Volume) -> list[str]:
    import SimpleITK as sitk

    notes = []
    b = io.load(folder)
    img = load_sitk(folder)
    s = Volume.from_sitk(img)
    if not np.array_equal(b.array, sitk.GetArrayViewFromImage(img).astype(np.float32)):
        raise SystemExit("values differ from SimpleITK")
    if not (np.allclose(b.affine, s.affine, atol=1e-4)):
        raise SystemExit(f"geometry differs from SimpleITK:\n{b.affine}\n{s.affine}")
    if not np.array_equal(b.array, ref.array):
        raise SystemExit("values differ from the volume written")
    notes.append("bonenet == SimpleITK (values and affine) == written volume")
    try:
        m = load_monai(folder)
        marr = np.asarray(m)  # MONAI: spatial axes (x, y, z) = (C, R, P)
        marr = np.transpose(marr, (2, 1, 0))
        if np.array_equal(marr.astype(np.float32), b.array):
            notes.append("MONAI PydicomReader values == bonenet")
        elif np.array_equal(marr[::-1].astype(np.float32), b.array):
            notes.append("MONAI PydicomReader values == bonenet with slices reversed")
        else:
            notes.append("MONAI PydicomReader values DIFFER from bonenet")
    except Exception as exc:  # pragma: no cover - report, do not die
        notes.append(f"MONAI failed: {type(exc).__name__}: {exc}")
    return notes


_MEM_SNIPPET = """
import os, sys, threading, time
os.environ["BONENET_PROGRESS"] = "0"
sys.path.insert(0, {root!r})
import numpy, psutil, pydicom, SimpleITK
from bonenet import io
import bonenet.io.dicom, bonenet.io.scan, bonenet.io._fastheader  # imports out of the baseline
proc = psutil.Process()
base = proc.memory_info().rss
peak = [base]
running = [True]
def sample():
    while running[0]:
        peak[0] = max(peak[0], proc.memory_info().rss)
        time.sleep(0.001)
t = threading.Thread(target=sample, daemon=True)
t.start()
{call}
running[0] = False
t.join()
peak[0] = max(peak[0], proc.memory_info().rss)
print(peak[0] - base)
"""


def peak_rss(folder: Path, which: str) -> int:
    """Peak RSS growth (bytes) of one load in a fresh interpreter, sampled every ~1 ms."""
    root = str(Path(__file__).resolve().parents[1])
    call = {"bonenet": f"v = io.load({str(folder)!r})",
            "sitk": ("r = SimpleITK.ImageSeriesReader(); "
                     f"r.SetFileNames(r.GetGDCMSeriesFileNames({str(folder)!r})); img = r.Execute()")}[which]
    out = subprocess.run([sys.executable, "-c", _MEM_SNIPPET.format(root=root, call=call)],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="60 slices (J2K 20) instead of 300 (J2K 100)")
    ap.add_argument("--slices", type=int, default=None)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--j2k-slices", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--no-monai", action="store_true")
    args = ap.parse_args(argv)
    n = args.slices or (60 if args.quick else 300)
    nj = args.j2k_slices if args.j2k_slices is not None else (20 if args.quick else 100)
    repeat = args.repeat or (3 if args.quick else 5)
    funcs = {"bonenet": load_bonenet, "simpleitk": load_sitk}
    if not args.no_monai:
        funcs["monai"] = load_monai
    print(f"python {sys.version.split()[0]}, cpus {os.cpu_count()}, threads bonenet default")
    with tempfile.TemporaryDirectory(prefix="bonenet_bench_") as tmp:
        folder = Path(tmp) / "ct"
        t = time.perf_counter()
        ref = make_series(folder, n, args.size)
        print(f"wrote {n} slices {args.size}x{args.size} uncompressed in {time.perf_counter() - t:.1f} s")
        for note in check_same(folder, ref):
            print("check:", note)
        times = time_all(folder, funcs, repeat)
        vol_bytes = n * args.size * args.size * 4
        mem_b = peak_rss(folder, "bonenet")
        mem_s = peak_rss(folder, "sitk")
        j2k: dict[str, float] = {}
        if nj:
            jfolder = Path(tmp) / "j2k"
            try:
                t = time.perf_counter()
                jref = make_series(jfolder, nj, args.size, compression="jpeg2000")
                print(f"wrote {nj} slices JPEG 2000 lossless in {time.perf_counter() - t:.1f} s")
                for note in check_same(jfolder, jref):
                    print("check (J2K):", note)
                j2k = time_all(jfolder, funcs, max(1, repeat // 2))
            except Exception as exc:
                print(f"JPEG 2000 series not timed: {type(exc).__name__}: {exc}")
    print()
    print(f"uncompressed series, {n} x {args.size} x {args.size}, median of {repeat}:")
    for k, v in times.items():
        print(f"  {k:<10} {v:7.3f} s")
    print(f"peak memory above baseline: bonenet {mem_b / 2**20:.0f} MiB = {mem_b / vol_bytes:.2f}x the "
          f"float32 volume ({vol_bytes / 2**20:.0f} MiB); SimpleITK {mem_s / 2**20:.0f} MiB = {mem_s / vol_bytes:.2f}x")
    if j2k:
        print(f"JPEG 2000 lossless series, {nj} slices:")
        for k, v in j2k.items():
            print(f"  {k:<10} {v:7.3f} s")
        print(f"ratio J2K simpleitk/bonenet: {j2k['simpleitk'] / j2k['bonenet']:.2f}x"
              + (f", monai/bonenet: {j2k['monai'] / j2k['bonenet']:.2f}x" if "monai" in j2k else ""))
    if "monai" in times:
        print(f"ratio monai/bonenet: {times['monai'] / times['bonenet']:.2f}x")
    print(f"ratio simpleitk/bonenet: {times['simpleitk'] / times['bonenet']:.2f}x (target >= 3x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

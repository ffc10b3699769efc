"""Read speed of Scanco AIMs: bonenet's reader beside aimio-py (Numerics88 AimIO, C++) in one process.

Writes a synthetic HR-pQCT measurement as a clinic stores it — a grey-value AIM (short, v030,
written by aimio-py) and its three masks, ``_TRAB_MASK``, ``_CORT_MASK`` and ``_SEG``, as
binary run-length AIMs (0x00150001) on the full grid — plus the SEG also as char run-length
(0x00080002) and packed bits (0x00060001), then reads each file with both readers (median of
``--repeats``), checks the arrays are identical, and prints seconds and the ratio
aimio-py / bonenet (> 1: bonenet faster). The last block times a whole study: the calibrated
grey Volume plus the three masks on its grid (``io.load`` + ``io.load_scanco_masks``) against
aimio-py's ``read_aim(density=True)`` plus three ``read_aim``.

Default size: 1536 × 1536 × 168 voxels (x, y, z), an XtremeCT II distal-tibia stack;
``--shape 168 512 512`` for a quick run. Needs ~8 GB of memory and ~1 GB in ``--dir`` at full size.

    python benchmarks/bench_aim.py [--shape Z Y X] [--repeats 3] [--dir /tmp/bench_aim]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bonenet import io
from bonenet.io import aim

SPACING = 0.0607
CAL_LOG = ("Mu_Scaling                            8192\n"
           "Density: unit                 mg HA/ccm\n"
           "Density: slope                  1.6035190430e+03\n"
           "Density: intercept             -3.9120901489e+02\n"
           "HU: mu water                         0.24090\n")


def _phantom_slices(shape: tuple[int, int, int]):
    """Per slice (z): native grey int16, trabecular, cortical and segmented bone masks."""
    nz, ny, nx = shape
    y, x = np.meshgrid(np.arange(ny, dtype=np.float32), np.arange(nx, dtype=np.float32), indexing="ij")
    r = np.hypot(x - nx / 2, (y - ny / 2) * 1.15)
    outer = 0.42 * min(nx, ny)
    trab = r < outer - 0.03 * min(nx, ny)
    cort = (r < outer) & ~trab
    rng = np.random.default_rng(0)
    for z in range(nz):
        plates = (np.sin(x * 0.55) + np.sin(y * 0.45 + 0.3 * z) + np.sin(0.5 * z + x * 0.1)) > 1.0
        dens = np.where(cort, 1000.0, np.where(trab & plates, 700.0, np.where(trab, 120.0, 0.0)))
        dens = dens + rng.normal(0.0, 20.0, dens.shape)
        native = np.round((dens + 391.209015) / 1603.51904 * 8192).astype(np.int16)
        yield native, trab, cort, (dens > 450.0) & (trab | cort)


def write_study(folder: Path, shape: tuple[int, int, int]) -> dict[str, Path]:
    """Write the grey AIM and the masks; return their paths by role."""
    import py_aimio

    grey = np.empty(shape, np.int16)
    masks = {k: np.empty(shape, bool) for k in ("trab", "cort", "seg")}
    for z, (g, t, c, s) in enumerate(_phantom_slices(shape)):
        grey[z], masks["trab"][z], masks["cort"][z], masks["seg"][z] = g, t, c, s
    paths = {"grey (short)": folder / "C0000001.AIM"}
    py_aimio.write_aim(str(paths["grey (short)"]), grey, {"element_size": (SPACING,) * 3,
                                                          "processing_log": CAL_LOG})
    del grey
    sp = (SPACING,) * 3
    for key, name in (("trab", "TRAB_MASK"), ("cort", "CORT_MASK"), ("seg", "SEG")):
        p = folder / f"C0000001_{name}.AIM"
        aim.write_aim_mask(masks[key], p, spacing_mm=sp, storage="bincmp", version="v030")
        paths[f"{name} (bin run-length)"] = p
    for storage, label in (("charcmp", "char run-length"), ("bit8", "packed bits")):
        p = folder / f"seg_{storage}.aim"
        aim.write_aim_mask(masks["seg"], p, spacing_mm=sp, storage=storage, version="v030")
        paths[f"SEG ({label})"] = p
    return paths


def _median_time(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
        del out
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", type=int, nargs=3, default=[168, 1536, 1536], metavar=("Z", "Y", "X"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--dir", type=Path, default=None, help="where to write the files (default: a temp dir)")
    args = ap.parse_args(argv)
    import py_aimio

    folder = args.dir or Path(tempfile.mkdtemp(prefix="bench_aim_"))
    folder.mkdir(parents=True, exist_ok=True)
    shape = tuple(args.shape)
    t0 = time.perf_counter()
    paths = write_study(folder, shape)  # type: ignore[arg-type]
    print(f"wrote {shape[2]} x {shape[1]} x {shape[0]} voxels (x y z) in {time.perf_counter() - t0:.1f} s to {folder}")
    print(f"{'file':32s} {'MB':>8s} {'bonenet s':>10s} {'aimio-py s':>11s} {'ratio':>7s}  exact")
    try:
        for label, p in paths.items():
            mine, _ = aim.read_aim_array(p)
            ref, _ = py_aimio.read_aim(str(p))
            exact = bool(np.array_equal(mine, ref))
            del mine, ref
            tb = _median_time(lambda p=p: aim.read_aim_array(p), args.repeats)
            ta = _median_time(lambda p=p: py_aimio.read_aim(str(p)), args.repeats)
            print(f"{label:32s} {p.stat().st_size / 1e6:8.1f} {tb:10.3f} {ta:11.3f} {ta / tb:6.2f}x  {exact}")
        grey = paths["grey (short)"]
        mask_paths = [p for k, p in paths.items() if "MASK" in k or k.startswith("SEG (bin")]

        def bonenet_study():
            vol = io.load(grey)
            return vol, io.load_scanco_masks(vol, grey_path=grey)

        def aimio_study():
            return py_aimio.read_aim(str(grey), density=True), [py_aimio.read_aim(str(p)) for p in mask_paths]

        tb = _median_time(bonenet_study, args.repeats)
        ta = _median_time(aimio_study, args.repeats)
        print(f"{'study: grey mg HA/cm3 + 3 masks':32s} {'':8s} {tb:10.3f} {ta:11.3f} {ta / tb:6.2f}x")
    finally:
        if args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

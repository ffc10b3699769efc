"""Speed and memory of bonenet Tb.Th + Tb.Sp against ORMIR-XCT and porespy, same run.

A trabecular-like volume (BV/TV ≈ 0.15) is made from Gaussian-filtered white noise. Each
method runs in its own fresh process (so peak memory is its own): the time of Tb.Th (bone)
+ Tb.Sp (marrow) local thickness, the peak resident memory above the process baseline
(sampled every 2 ms; the input mask itself is in the baseline),
and the mean Tb.Th / Tb.Sp each reports (diameters, voxels). Ratios come last.

    python benchmarks/bench_morphometry.py            # 256³
    python benchmarks/bench_morphometry.py --quick    # 128³
    python benchmarks/bench_morphometry.py --skip-ormir
    python benchmarks/bench_morphometry.py --quick --baseline /tmp/old   # vs an older bonenet

ORMIR-XCT (GPL) is used only here, when installed; porespy ships with the dev extra.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))


def make_volume(n: int, *, seed: int = 0, bvtv: float = 0.15, sigma: float = 2.0) -> np.ndarray:
    """Trabecular-like bool volume: smoothed white noise above its (1 - bvtv) quantile."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    f = ndi.gaussian_filter(rng.standard_normal((n, n, n), dtype=np.float32), sigma, mode="wrap")
    return f > np.quantile(f, 1.0 - bvtv)


class _PeakRSS:
    """Samples this process's resident memory every 2 ms; ``peak_mb`` above the start."""

    def __enter__(self) -> _PeakRSS:
        import threading

        import psutil

        self._proc = psutil.Process()
        self.base = self._proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(0.002)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def peak_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def _mean_inside(th: np.ndarray, n: int) -> float:
    """Mean of a thickness map over its n structure voxels (0 outside), without a copy."""
    return float(th.sum(dtype=np.float64) / n)


def _run_bonenet(m: np.ndarray) -> tuple[float, float]:
    from bonenet.morphometry import local_thickness

    nb = int(m.sum())
    th = local_thickness(m, spacing=1.0)
    a = _mean_inside(th, nb)
    del th
    marrow = ~m
    sp = local_thickness(marrow, spacing=1.0)
    b = _mean_inside(sp, m.size - nb)
    return a, b


def _run_porespy(m: np.ndarray) -> tuple[float, float]:
    import porespy

    nb = int(m.sum())
    th = porespy.filters.local_thickness(m)
    a = 2.0 * _mean_inside(th, nb)  # porespy labels voxels by sphere radius
    del th
    sp = porespy.filters.local_thickness(~m)
    b = 2.0 * _mean_inside(sp, m.size - nb)
    return a, b


def _run_ormir(m: np.ndarray) -> tuple[float, float]:
    from _ormir import load_ormir

    fn = load_ormir()
    a = fn(m, 1.0, 0.0)[0]
    b = fn(~m, 1.0, 0.0)[0]
    return float(a), float(b)


RUNNERS = {"bonenet": _run_bonenet, "porespy": _run_porespy, "ORMIR-XCT": _run_ormir,
           "baseline": _run_bonenet}


def _child(name: str, n: int, warm: bool, q: mp.Queue, baseline: str | None = None) -> None:
    if name == "baseline" and baseline:
        sys.path.insert(0, baseline)  # another bonenet checkout, imported first
    try:
        m = make_volume(n)
        if warm:  # compile numba kernels outside the timed call
            RUNNERS[name](make_volume(24, seed=1))
        import gc

        gc.collect()
        with _PeakRSS() as mem:
            t0 = time.perf_counter()
            c0 = time.process_time()
            th, sp = RUNNERS[name](m)
            cpu = time.process_time() - c0
            dt = time.perf_counter() - t0
        peak = mem.peak_mb
        q.put((name, dt, peak, th, sp, float(m.mean()), None, cpu))
    except Exception as exc:  # report, do not hide
        q.put((name, float("nan"), float("nan"), float("nan"), float("nan"), float("nan"), repr(exc),
               float("nan")))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="128³ instead of 256³")
    p.add_argument("--size", type=int, default=None)
    p.add_argument("--skip-ormir", action="store_true")
    p.add_argument("--skip-porespy", action="store_true")
    p.add_argument("--repeat", type=int, default=None,
                   help="interleaved rounds of the fast methods (default 3 with --quick, else 2); "
                        "the best round counts, as the machine is shared. ORMIR-XCT runs once")
    p.add_argument("--baseline", default=None, metavar="DIR",
                   help="also time bonenet from another checkout (a folder holding its bonenet/ "
                        "package, e.g. `git archive HEAD~1 bonenet | tar -x -C DIR`)")
    args = p.parse_args(argv)
    n = args.size or (128 if args.quick else 256)
    names = ["bonenet"]
    if args.baseline:
        names.append("baseline")
    if not args.skip_porespy:
        names.append("porespy")
    if not args.skip_ormir:
        sys.path.insert(0, os.path.dirname(__file__))
        from _ormir import load_ormir

        if load_ormir() is not None:
            names.append("ORMIR-XCT")
        else:
            print("ORMIR-XCT not installed (pip install ormir-xct): skipped")
    ctx = mp.get_context("spawn")
    print(f"volume {n}³ = {n**3 / 1e6:.1f} M voxels, {os.cpu_count()} CPUs visible")
    repeat = args.repeat or (3 if args.quick else 2)
    rounds = [[nm for nm in names if nm != "ORMIR-XCT"] for _ in range(repeat)]
    if "ORMIR-XCT" in names:
        rounds[-1].append("ORMIR-XCT")
    results: dict[str, tuple] = {}
    for r, rnames in enumerate(rounds):
        for name in rnames:
            q = ctx.Queue()
            proc = ctx.Process(target=_child, args=(name, n, True, q, args.baseline))
            proc.start()
            res = None
            while res is None:
                try:
                    res = q.get(timeout=2.0)
                except queue.Empty:
                    if not proc.is_alive():  # killed (e.g. out of memory) before reporting
                        res = (name, float("nan"), float("nan"), float("nan"), float("nan"),
                               float("nan"), f"worker died with exit code {proc.exitcode} (out of memory?)",
                               float("nan"))
            proc.join()
            _, dt, peak, th, sp, bvtv, err, cpu = res
            if err:
                print(f"round {r + 1} {name:10s} FAILED: {err}")
            else:
                print(f"round {r + 1} {name:10s} Tb.Th+Tb.Sp {dt:7.2f} s wall {cpu:7.2f} s CPU   peak +{peak:6.0f} MB"
                      f" = {peak * 2**20 / n**3:5.1f} B/voxel   Tb.Th {th:5.2f} vx  Tb.Sp {sp:5.2f} vx"
                      f"  (BV/TV {bvtv:.3f})", flush=True)
            best = results.get(name)
            if best is None or best[6] or (not err and dt < best[1]):
                results[name] = res
    b = results["bonenet"]
    print(f"best of {repeat} rounds (ORMIR-XCT: one run); wall time is noisy on a shared machine, "
          "CPU time less so")
    for other in names[1:]:
        o = results[other]
        if not o[6] and not b[6]:
            print(f"speed-up bonenet vs {other}: {o[1] / b[1]:.2f}x wall, {o[7] / b[7]:.2f}x CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Worker pools start from a fork server, never a plain fork of a process whose thread pools
have run: numba's GNU OpenMP layer sends SIGTERM to a forked child at its first parallel kernel,
and a child forked while another thread holds a lock can block forever."""

import numpy as np

from bonenet import io
from bonenet._pool import worker_context
from bonenet.morphometry import local_thickness
from bonenet.volume import Volume


def _run_parallel_kernel_here():
    ball = np.zeros((24, 24, 24), bool)
    z, y, x = np.mgrid[:24, :24, :24]
    ball[(z - 12) ** 2 + (y - 12) ** 2 + (x - 12) ** 2 < 36] = True
    assert local_thickness(ball, spacing=1.0).max() > 0


def test_worker_context_is_never_plain_fork():
    assert worker_context().get_start_method() in ("forkserver", "spawn")
    assert worker_context(["numpy"]).get_start_method() in ("forkserver", "spawn")


def _thickness_max(n: int) -> float:
    ball = np.zeros((n, n, n), bool)
    z, y, x = np.mgrid[:n, :n, :n]
    ball[(z - n // 2) ** 2 + (y - n // 2) ** 2 + (x - n // 2) ** 2 < (n // 4) ** 2] = True
    return float(local_thickness(ball, spacing=1.0).max())


def test_workers_run_parallel_kernels_after_this_process_did():
    """A plain-forked child is killed with SIGTERM at its first numba parallel kernel once the
    parent has run one ("fork() called from a process already using GNU OpenMP")."""
    from concurrent.futures import ProcessPoolExecutor

    _run_parallel_kernel_here()
    with ProcessPoolExecutor(2, mp_context=worker_context(["bonenet.morphometry"])) as ex:
        got = list(ex.map(_thickness_max, [20, 24]))
    assert got == [_thickness_max(20), _thickness_max(24)]


def test_compressed_series_decoded_by_workers_after_parallel_kernels(tmp_path, monkeypatch):
    """The decoding pool really ran (a broken pool would fall back to decoding in-process)."""
    import concurrent.futures as cf

    decoded = []

    class Spy(cf.ProcessPoolExecutor):
        def map(self, fn, *its, **kw):
            for r in super().map(fn, *its, **kw):
                decoded.append(r.shape)
                yield r

    monkeypatch.setattr(cf, "ProcessPoolExecutor", Spy)
    _run_parallel_kernel_here()
    rng = np.random.default_rng(1)
    arr = rng.integers(-1000, 1500, (6, 32, 32)).astype(np.float32)
    vol = Volume(arr, spacing=(1.0, 0.5, 0.5), units="HU", modality="CT")
    io.save(vol, tmp_path / "rle", uid_seed=3, rescale=(1.0, -1024.0), dtype="uint16",
            compression="rle")
    back = io.load(tmp_path / "rle", threads=2)
    assert decoded == [(32, 32)] * 6
    np.testing.assert_array_equal(back.array, io.load(tmp_path / "rle", threads=1).array)
    np.testing.assert_array_equal(np.sort(back.array, axis=None), np.sort(arr, axis=None))


def test_a_script_without_a_main_guard_decodes_and_synthesises_with_workers(tmp_path):
    """Pools that run only bonenet's functions do not re-run the caller's script in their
    workers: an unguarded script works as it did under fork (no 'bootstrapping phase' error,
    no silent fall-back to decoding in one process)."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent(f"""
        import concurrent.futures as cf
        import numpy as np
        from bonenet import io
        from bonenet.synth import make_cohort
        from bonenet.volume import Volume

        decoded = []

        class Spy(cf.ProcessPoolExecutor):
            def map(self, fn, *its, **kw):
                for r in super().map(fn, *its, **kw):
                    decoded.append(1)
                    yield r

        cf.ProcessPoolExecutor = Spy
        arr = np.random.default_rng(2).integers(-1000, 1500, (6, 32, 32)).astype(np.float32)
        io.save(Volume(arr, spacing=(1.0, 0.5, 0.5), units="HU", modality="CT"),
                {str(tmp_path / "rle")!r}, uid_seed=3, rescale=(1.0, -1024.0), dtype="uint16",
                compression="rle")
        io.load({str(tmp_path / "rle")!r}, threads=2)
        print("decoded by workers", len(decoded))
        c = make_cohort(4, modality="hrpqct", seed=7, out={str(tmp_path / "c")!r}, roi_size=24,
                        workers=2, show_progress=False)
        print("cohort failed", len(c.failed))
    """))
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path, env={**__import__("os").environ, "PYTHONPATH": str(root),
                                          "BONENET_PROGRESS": "0"})
    assert r.returncode == 0, r.stderr[-3000:]
    assert "bootstrapping" not in r.stderr and "Traceback" not in r.stderr, r.stderr[-3000:]
    assert "decoded by workers 6" in r.stdout and "cohort failed 0" in r.stdout, r.stdout

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

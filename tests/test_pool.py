"""RobustPool: a killed worker costs one item, not the run; errors come back as values."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal

import pytest

from bonenet._pool import RobustPool, WorkerDied


def _work(x: int) -> int:
    if x == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # what the OOM killer does
    if x == 5:
        raise ValueError("bad item 5")
    return x * x


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_a_killed_worker_fails_its_item_and_is_replaced(method):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"no {method} here")
    with RobustPool(_work, workers=2, context=mp.get_context(method)) as pool:
        got = {i: (ok, v) for i, ok, v in pool.imap(range(10))}
        assert pool.restarts == 1
    assert sorted(got) == list(range(10))
    ok, died = got[3]
    assert not ok and isinstance(died, WorkerDied) and died.exitcode == -signal.SIGKILL
    assert "SIGKILL" in died.reason and "out-of-memory" in died.reason
    ok, err = got[5]
    assert not ok and isinstance(err, ValueError) and "bad item 5" in str(err)
    assert {i: v for i, (ok, v) in got.items() if ok} == {i: i * i for i in range(10) if i not in (3, 5)}


def test_every_item_can_kill_its_worker_and_the_pool_still_finishes():
    with RobustPool(_work, workers=1, context=mp.get_context("spawn")) as pool:
        got = list(pool.imap([3, 3, 3, 2]))
    assert [ok for _, ok, _ in got] == [False, False, False, True] and got[-1][2] == 4


def _kill_multiples_of_three(x: int) -> int:
    if x % 3 == 0:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def test_only_the_items_whose_worker_died_fail():
    """Many deaths with several workers: a replaced worker's stale pipe or sentinel never
    fails the next item (each failure is the item that killed its worker)."""
    with RobustPool(_kill_multiples_of_three, workers=3, context=mp.get_context("spawn")) as pool:
        got = {i: ok for i, ok, _ in pool.imap(range(24))}
    assert {i for i, ok in got.items() if not ok} == set(range(0, 24, 3))
    assert len(got) == 24

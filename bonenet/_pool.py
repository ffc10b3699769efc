"""A process pool that survives a killed worker and dies with its parent.

``concurrent.futures.ProcessPoolExecutor`` turns one worker killed by the OOM killer into a
``BrokenProcessPool`` for every pending task, and torch's DataLoader aborts the whole loop
("DataLoader worker exited unexpectedly"). :class:`RobustPool` instead gives each worker
exactly one task at a time over its own pipe, so when a worker dies the parent knows which
item it held: that item comes back as :class:`WorkerDied` (the caller records the study as
failed), a fresh worker is started, and the run goes on.

Workers never outlive the run: on Linux each sets ``PR_SET_PDEATHSIG`` (SIGKILL when its
parent process — the fork server or the main process — exits), and on every platform a
watchdog thread ends the worker within about half a second once the process that created
the pool is gone (the fork server itself exits when that process does).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing.context
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

log = logging.getLogger(__name__)

__all__ = ["RobustPool", "WorkerDied", "die_with_parent", "pid_alive", "worker_context"]

_PR_SET_PDEATHSIG = 1
_WATCH_INTERVAL_S = 0.5


@dataclass(frozen=True)
class WorkerDied:
    """What comes back for an item whose worker process died while handling it."""

    exitcode: int | None

    @property
    def reason(self) -> str:
        """Human-readable cause (``signal 9 (SIGKILL)``: most often the out-of-memory killer)."""
        code = self.exitcode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            hint = " — most often the out-of-memory killer" if -code == signal.SIGKILL else ""
            return f"decoding worker killed by {name}{hint}; the study was skipped"
        return f"decoding worker exited unexpectedly (exit code {code}); the study was skipped"


_PREP_LOCK = threading.Lock()


def _without_main(prep: Callable[[str], dict[str, Any]]) -> Callable[[str], dict[str, Any]]:
    def get_preparation_data(name: str) -> dict[str, Any]:
        data = prep(name)
        data.pop("init_main_from_path", None)
        data.pop("init_main_from_name", None)
        return data

    return get_preparation_data


class _NoMainProcess(multiprocessing.context.ForkServerProcess):
    """A fork-server process that does not re-import the caller's ``__main__``.

    multiprocessing has no switch for this: the preparation data of this one start omits the
    main module (``spawn.get_preparation_data`` is wrapped for the duration of the start,
    under a lock, and restored; a process started meanwhile by another thread outside
    bonenet would miss its main module too, for that instant).
    """

    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        from multiprocessing import popen_forkserver, spawn

        with _PREP_LOCK:
            real = spawn.get_preparation_data
            spawn.get_preparation_data = _without_main(real)
            try:
                return popen_forkserver.Popen(process_obj)
            finally:
                spawn.get_preparation_data = real


class _NoMainContext(multiprocessing.context.ForkServerContext):
    Process = _NoMainProcess


def worker_context(preload: Iterable[str] = (), *, import_main: bool = True) -> Any:
    """The start method for every bonenet worker pool: ``forkserver`` where available, else
    ``spawn``; never plain ``fork``.

    Forking a process whose thread pools have run is unsafe, and bonenet's processes have
    usually run them: numba's GNU OpenMP layer sends SIGTERM to a forked child at its first
    parallel kernel ("fork() called from a process already using GNU OpenMP"), and a child
    forked while another thread holds a lock (a logger, torch's intra-op pool, pytest-xdist's
    channel) can block forever. The fork server is a fresh interpreter that has run nothing;
    ``preload`` names modules it imports once, so each worker forked from it starts in a
    fraction of a second. The preload list takes effect only when this process's fork server
    is first started; later lists only add import time in the workers.

    ``import_main=False`` (pools that only run bonenet's own functions) keeps the workers from
    re-running the caller's script: a plain script without an ``if __name__ == "__main__":``
    guard can then read a compressed series or synthesise a cohort with several workers, as it
    could under ``fork``. Pools that may run the caller's own classes (a custom preprocessing
    in ``__main__``) keep the default and need the guard, as with any spawn or fork-server
    pool.
    """
    import multiprocessing as mp

    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver") if import_main else _NoMainContext()
        if preload:
            mp.get_context("forkserver").set_forkserver_preload(list(preload))
        return ctx
    return mp.get_context("spawn")


def pid_alive(pid: int) -> bool:
    """True when a process with id ``pid`` exists (zombies count as gone where psutil says so)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        import psutil

        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except Exception:  # psutil missing or the process vanished meanwhile
        return True


def die_with_parent(owner_pid: int | None = None) -> None:
    """Make this process end when its parent does (Linux) or when ``owner_pid`` is gone.

    Sets ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` where available and starts a daemon thread
    that checks every 0.5 s whether the parent changed or ``owner_pid`` (the process that
    started the pool, which may be the fork server's parent) has gone; then it calls
    ``os._exit`` — no clean-up that could block on a queue nobody reads any more.
    """
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # parent died before prctl took effect
            os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(_WATCH_INTERVAL_S)
            if os.getppid() != parent or (owner_pid is not None and not pid_alive(owner_pid)):
                os._exit(1)

    threading.Thread(target=watch, name="bonenet-parent-watchdog", daemon=True).start()


def _worker_main(conn: Connection, fn: Callable[[Any], Any], owner_pid: int,
                 initializer: Callable[..., None] | None, initargs: tuple[Any, ...]) -> None:
    die_with_parent(owner_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if initializer is not None:
        initializer(*initargs)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        idx, item = msg
        try:
            result = (idx, True, fn(item))
        except BaseException as exc:  # sent back; the caller decides what an error means
            result = (idx, False, exc)
        try:
            conn.send(result)
        except Exception as exc:  # unpicklable result or exception
            conn.send((idx, False, RuntimeError(f"{type(exc).__name__}: {exc}")))


class RobustPool:
    """``workers`` processes mapping ``fn`` over items, one item per worker at a time.

    Parameters
    ----------
    fn : callable
        Picklable (module-level) function applied to each item in a worker.
    workers : int
        Number of worker processes (at least 1).
    context : multiprocessing context, optional
        Start method; default ``forkserver`` where available, else ``spawn`` (never plain
        ``fork``: forking a process with running thread pools can deadlock).
    initializer, initargs
        Called once in each worker (also in replacements).

    Use it as a context manager; :meth:`imap` yields ``(index, ok, value)`` in completion
    order, where ``value`` is ``fn(item)`` (``ok``), the exception ``fn`` raised, or a
    :class:`WorkerDied` when the worker was killed while holding the item.
    """

    def __init__(self, fn: Callable[[Any], Any], *, workers: int, context: Any = None,
                 initializer: Callable[..., None] | None = None,
                 initargs: tuple[Any, ...] = ()) -> None:
        if context is None:
            context = worker_context()
        self.fn, self.n, self.ctx = fn, max(1, int(workers)), context
        self.initializer, self.initargs = initializer, initargs
        self._procs: list[Any] = []
        self._conns: list[Connection] = []
        self.restarts = 0

    def _start(self) -> tuple[Any, Connection]:
        parent, child = self.ctx.Pipe(duplex=True)
        p = self.ctx.Process(target=_worker_main, daemon=True,
                             args=(child, self.fn, os.getpid(), self.initializer, self.initargs))
        p.start()
        child.close()
        return p, parent

    def __enter__(self) -> RobustPool:
        for _ in range(self.n):
            p, c = self._start()
            self._procs.append(p)
            self._conns.append(c)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (politely, then by force after 5 s)."""
        for c in self._conns:
            with contextlib.suppress(Exception):
                c.send(None)
        deadline = time.monotonic() + 5
        for p in self._procs:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(1)
        for c in self._conns:
            with contextlib.suppress(Exception):
                c.close()
        self._procs, self._conns = [], []

    def _replace(self, slot: int) -> None:
        proc = self._procs[slot]
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        with contextlib.suppress(Exception):
            self._conns[slot].close()
        self._procs[slot], self._conns[slot] = self._start()
        self.restarts += 1

    def imap(self, items: Iterable[Any]) -> Iterator[tuple[int, bool, Any]]:
        """Apply ``fn`` to ``items`` in the workers; see the class docstring for what is yielded."""
        if not self._procs:
            raise RuntimeError("RobustPool.imap outside `with RobustPool(...) as pool:`")
        source = iter(enumerate(items))
        busy: dict[int, tuple[int, Any]] = {}  # worker slot -> (index, item)
        exhausted = False

        def feed(slot: int) -> None:
            nonlocal exhausted
            if exhausted:
                return
            nxt = next(source, None)
            if nxt is None:
                exhausted = True
                return
            if not self._procs[slot].is_alive():  # died idle (after its last result): replace
                self._replace(slot)
            busy[slot] = nxt
            try:
                self._conns[slot].send(nxt)
            except (BrokenPipeError, ConnectionResetError, EOFError):
                pass  # the worker is dead; its sentinel reports it below

        for slot in range(len(self._procs)):
            feed(slot)
        while busy:
            waitables = {}
            for slot in busy:
                waitables[self._conns[slot]] = slot
                waitables[self._procs[slot].sentinel] = slot
            for ready in wait(list(waitables)):
                slot = waitables[ready]
                # skip objects of a worker already replaced in this round (its pipe and its
                # sentinel can both be ready) and slots that went idle
                if slot not in busy or (ready is not self._conns[slot]
                                        and ready is not self._procs[slot].sentinel):
                    continue
                got = None
                if ready is self._conns[slot]:
                    with contextlib.suppress(EOFError, OSError):
                        got = self._conns[slot].recv()
                if got is not None:
                    idx, ok, value = got
                    busy.pop(slot)
                    yield idx, ok, value
                    feed(slot)
                    continue
                proc = self._procs[slot]
                proc.join(5)
                if proc.is_alive():  # pipe broke but the process lingers: end it
                    proc.kill()
                    proc.join(5)
                idx, _item = busy.pop(slot)
                died = WorkerDied(proc.exitcode)
                log.warning("%s (item %d); starting a new worker", died.reason, idx)
                self._replace(slot)
                yield idx, False, died
                feed(slot)

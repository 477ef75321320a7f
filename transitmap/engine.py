"""Where the heavy stages run: in this process, in local worker processes (``ProcessEngine``, ``map_local``: what
``build`` uses on a machine with more than one core), or on a Dask cluster (``DaskEngine``).

Reading a file and checking its traces needs nothing but the file (see ``docs/partitioning.md``), so those
stages are sent to Dask workers in chunks of files; a build keeps the results there, cleans the traces where
they were read, and sends each region's rides to a worker to be matched (``map_calls``). The survey-level
checks, the merging of the regions and everything after run in the calling process. Results come back in
order, so a build with an engine writes the same bytes as one without.

Needs the ``dask`` extra: ``pip install 'transitmap[dask]'``.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import partial
from itertools import repeat
from typing import Any

try:
    import resource
except ImportError:  # not on Unix
    resource = None  # type: ignore[assignment]



def chunks(files: Sequence, max_files: int, max_bytes: int) -> list[list]:
    """The files in chunks of at most ``max_files`` files or about ``max_bytes`` bytes, in order."""
    out: list[list] = []
    size = 0
    for f in files:
        if not out or len(out[-1]) >= max_files or size >= max_bytes:
            out.append([])
            size = 0
        out[-1].append(f)
        size += f.size or 0
    return out


_NOTHING = object()
_inherited: list = []  # what ``map_local``'s forked workers find in the memory they inherit


def map_local(fn: Callable[..., Any], args: Sequence, workers: int | None = None, *, shared: Any = _NOTHING) -> list:
    """``fn`` of each of ``args`` (``fn(shared, arg)`` with ``shared``), in order: here for a single one or
    a single worker, else in ``workers`` (default: one per core) processes forked from this one.

    ``shared`` is not sent to the workers: they find it in the memory they inherited (where processes cannot
    be forked, it is sent with each task). Each worker first freezes what it inherited out of its garbage
    collector's reach: a full collection writes to every object it goes through, and each page written to
    is copied. (Without freezing, all the processes of the scale benchmark's full build once held 3.7 GB,
    during the statistics; with it, at most 2.9 GB over the whole build.)"""
    return list(imap_local(fn, args, workers, shared=shared))


def imap_local(fn: Callable[..., Any], args: Sequence, workers: int | None = None, *,
               shared: Any = _NOTHING) -> Iterator:
    """``map_local``, each result as soon as it and those before it are done: the caller works on one while
    the workers make the next."""
    call = fn if shared is _NOTHING else partial(fn, shared)
    workers = workers or os.cpu_count() or 1
    if workers <= 1 or len(args) <= 1:
        yield from map(call, args)
        return
    fork = "fork" in multiprocessing.get_all_start_methods()
    _inherited[:] = [shared] if fork and shared is not _NOTHING else []
    try:
        with ProcessPoolExecutor(min(workers, len(args)), initializer=_worker_frozen,
                                 mp_context=multiprocessing.get_context("fork") if fork else None) as pool:
            yield from (pool.map(_with_inherited, repeat(fn), args) if _inherited else pool.map(call, args))
    finally:
        _inherited.clear()


def _worker() -> None:
    """A worker process leaves at once and quietly on Ctrl-C (the terminal interrupts the whole process group):
    the command that started it says so once and exits 130; a worker's traceback would say nothing more."""
    signal.signal(signal.SIGINT, lambda *_: os._exit(130))


def _worker_frozen() -> None:
    _worker()
    gc.freeze()  # the parent's objects, inherited, stay out of the worker's garbage collections


def _with_inherited(fn: Callable[..., Any], arg: Any) -> Any:
    return fn(_inherited[0], arg)


class ProcessEngine:
    """Runs tasks in ``workers`` local processes (``concurrent.futures``), no service needed. At most two
    chunks a worker are under way at once, so results wait in memory only as long as the caller takes them.

    Use as a context manager, like ``DaskEngine``."""

    def __init__(self, workers: int | None = None, *, chunk_files: int = 16, chunk_bytes: int = 8 * 2**20) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.chunk_files = chunk_files
        self.chunk_bytes = chunk_bytes
        self.pool = None

    def __enter__(self) -> ProcessEngine:
        self.pool = ProcessPoolExecutor(self.workers, initializer=_worker)
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
        self.pool = None

    def map_files(self, fn: Callable[..., list], files: Sequence, *args: Any) -> Iterator[tuple[int, list]]:
        """(files done so far, ``fn(chunk, *args)``) for each chunk of ``files``, in order."""
        if self.pool is None:
            raise RuntimeError("use the engine as a context manager: with ProcessEngine() as engine: ...")
        pending: deque = deque()
        done = 0
        for chunk in chunks(files, self.chunk_files, self.chunk_bytes):
            pending.append((len(chunk), self.pool.submit(fn, chunk, *args)))
            while len(pending) > 2 * self.workers:
                n, future = pending.popleft()
                done += n
                yield done, future.result()
        while pending:
            n, future = pending.popleft()
            done += n
            yield done, future.result()


#: a worker started with ``dask worker ADDRESS --preload transitmap.engine`` imports what the build's tasks need as
#: it starts (``dask_setup``), not in its first tasks
PRELOAD = "transitmap.engine"


def dask_setup(worker: Any) -> None:
    """Called by a Dask worker that preloads this module (``PRELOAD``): imports the modules of the build's tasks,
    including those they import on first use (scipy's, charset_normalizer), as the worker starts rather than
    in the first build's tasks."""
    import charset_normalizer  # noqa: F401
    import scipy.sparse.csgraph  # noqa: F401
    import scipy.spatial  # noqa: F401

    from . import pipeline  # noqa: F401


class DaskEngine:
    """Runs tasks on a Dask cluster: the scheduler at ``address`` (``tcp://host:8786``), or, without one, a
    local cluster of ``n_workers`` processes (default: one per core) started for the engine's lifetime.

    Use as a context manager::

        with DaskEngine() as engine:
            result = build_network(["uploads/"], engine=engine)
    """

    def __init__(self, address: str | None = None, *, n_workers: int | None = None,
                 chunk_files: int = 32, chunk_bytes: int = 8 * 2**20) -> None:
        self.address = address
        self.n_workers = n_workers
        self.chunk_files = chunk_files
        self.chunk_bytes = chunk_bytes
        self.client = None
        self._cluster = None
        self.kept: list = []  # the results of ``map_files(..., keep=True)`` on the cluster, chunk by chunk

    def __enter__(self) -> DaskEngine:
        from distributed import Client, LocalCluster  # Dask is an optional extra (0.2 s to import)

        if self.address:
            self.client = Client(self.address, timeout="10s")
        else:
            self._cluster = LocalCluster(n_workers=self.n_workers or os.cpu_count() or 1, threads_per_worker=1,
                                         processes=True, dashboard_address=":0",  # any free port
                                         preload=[PRELOAD])
            self.client = Client(self._cluster)
        return self

    def __exit__(self, *exc) -> None:
        if self.client is not None:
            self.release_kept()
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
        self.client = self._cluster = None

    def map_files(self, fn: Callable[..., list], files: Sequence, *args: Any, keep: bool = False
                  ) -> Iterator[tuple[int, list]]:
        """(files done so far, ``fn(chunk, *args)``) for each chunk of ``files``, in order, computed on the
        cluster (all chunks are submitted at once; results are taken one by one, in order). ``keep``: the
        results also stay on the cluster, in ``kept`` (futures, chunk by chunk: arguments of ``map_calls``),
        until ``release_kept``."""
        if self.client is None:
            raise RuntimeError("use the engine as a context manager: with DaskEngine() as engine: ...")
        parts = chunks(files, self.chunk_files, self.chunk_bytes)
        scattered = [self.client.scatter(a, broadcast=True) for a in args]
        futures = [self.client.submit(_task, fn, chunk, *scattered, key=_key(fn)) for chunk in parts]
        self.release_kept()
        if keep:
            self.kept = futures
        done = 0
        for chunk, future in zip(parts, futures):
            result = future.result()
            if not keep:
                future.release()
            done += len(chunk)
            yield done, result

    def release_kept(self) -> None:
        """Let go of the results ``map_files`` kept on the cluster."""
        for future in self.kept:
            future.release()
        self.kept = []

    def map_calls(self, fn: Callable[..., Any], calls: Sequence[tuple]) -> Iterator[Any]:
        """``fn(*call)`` of each call, computed on the cluster (all submitted at once), in the order of
        ``calls``; each result is let go on the cluster once taken. An argument that is a result kept on the
        cluster (``kept``) stays where it is; the others go to the workers straight (not through the
        scheduler, in the task graph)."""
        if self.client is None:
            raise RuntimeError("use the engine as a context manager: with DaskEngine() as engine: ...")
        from distributed import Future

        futures = []
        for call in calls:  # each call's data in one piece, sent before the next: its worker starts at once
            kept = [a for a in call if isinstance(a, Future)]
            [data] = self.client.scatter([tuple(_Kept if isinstance(a, Future) else a for a in call)], hash=False)
            futures.append(self.client.submit(_task, _unpacked, fn, data, *kept, key=_key(fn)))
        for future in futures:
            result = future.result()
            future.release()
            yield result


def _key(fn: Callable[..., Any]) -> str:
    """A task's key on the cluster: its function's name (what the dashboard shows), then a unique part."""
    import uuid

    return f"{getattr(fn, '__name__', 'task')}-{uuid.uuid4().hex}"


class _Kept:
    """In a call sent to the cluster, the place of a result kept there."""


def _unpacked(fn: Callable[..., Any], data: tuple, *kept: Any) -> Any:
    """``fn`` of a call sent in one piece (``data``, ``_Kept`` in place of each result kept on the cluster)
    and of the kept results, in order."""
    kept_in = iter(kept)
    return fn(*(next(kept_in) if a is _Kept else a for a in data))


def _task(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` on a Dask worker, with full garbage collections as rare as in a build here
    (``rare_full_collections``): at Python's default, reading and checking the accuracy survey took the
    workers 9.5-10.5 s of CPU instead of 8.0."""
    with rare_full_collections():
        return fn(*args)


@contextmanager
def hand_started_cluster(workers: int = 2) -> Iterator[tuple[str, list[subprocess.Popen]]]:
    """A Dask scheduler and ``workers`` single-thread workers on this machine, each a process of its own, as
    a survey team starts them by hand (``dask scheduler``; ``dask worker ADDRESS --nthreads 1 --preload
    transitmap.engine``): yields the scheduler's address and the workers' processes once all workers have
    joined; stops them after."""
    import socket

    from distributed import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", str(port), "--dashboard-address", ":0"], **quiet)]
    try:
        procs += [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                                    "--preload", PRELOAD, "--no-dashboard"], **quiet) for _ in range(workers)]
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(workers, timeout=60)
        yield address, procs[1:]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


# ------------------------------------------------------------------ the build's clock and memory


def cpu_s() -> float:
    """CPU time (user and system) of this process and of the worker processes it has seen end."""
    if resource is None:  # not on Unix: this process only
        return time.process_time()
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


class Clock:
    """Logs (INFO: ``-v``) how long each stage of a build took, and its CPU time (worker processes included:
    each stage's workers end with it). ``lap`` ends a stage, and gives what it freed back to the system
    (``give_back_freed``); ``on_lap`` hears of it."""

    def __init__(self, on_lap: Callable[[str], None] | None = None) -> None:
        self.start = self.last = time.perf_counter()
        self.cpu = cpu_s()
        self.on_lap = on_lap  # told each stage's name as it ends (a progress display)

    def lap(self, what: str) -> None:
        now, cpu = time.perf_counter(), cpu_s()
        logging.getLogger("transitmap.build").info("%s in %.1f s, %.1f s of CPU", what, now - self.last,
                                                   cpu - self.cpu)
        self.last, self.cpu = now, cpu
        give_back_freed()
        if self.on_lap is not None:
            self.on_lap(what)


@contextmanager
def quiet_streams():
    """The process's standard output and error held back (to /dev/null) while a C++ library that logs to them
    works (nigiri, FMM): the library prints nothing of its own, the command line says what it has to."""
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)


def give_back_freed() -> None:
    """Hand the memory freed on the heap back to the system, where the C library is glibc. glibc keeps what a
    process frees for its next allocations, and workers forked later inherit it. With the rides let go before the
    tables are written and this at the end of each stage, all processes of the scale benchmark's full build
    held at most 1,731 MiB instead of 2,220. A few milliseconds; nothing elsewhere."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, musl, Windows)
        pass


@contextmanager
def rare_full_collections():
    """Full garbage collections only after a thousand of the middle generation's (instead of ten), for the
    time inside. A build keeps millions of objects that hold no reference cycles (traces, rides, notices), and
    Python's collector goes through all of them each time they have grown by a quarter: 16 times, 4 s of the
    scale benchmark's full build. Younger cycles are still collected as usual."""
    young, middle, full = gc.get_threshold()
    gc.set_threshold(young, middle, max(full, 1000))
    try:
        yield
    finally:
        gc.set_threshold(young, middle, full)

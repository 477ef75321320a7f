"""Where the per-trace stages run: in this process (the default, no engine), or on a Dask cluster.

Reading a file and checking its traces needs nothing but the file (see ``docs/partitioning.md``), so those
stages are sent to Dask workers in chunks of files; the survey-level checks, matching and everything after
run in the calling process on what comes back. Results come back in the order of the files, so a build
with an engine writes the same bytes as one without.

Needs the ``dask`` extra: ``pip install 'transitmap[dask]'``.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterator, Sequence


class DaskEngine:
    """Runs tasks on a Dask cluster: the scheduler at ``address`` (``tcp://host:8786``), or, without one, a
    local cluster of ``n_workers`` processes (default: one per core) started for the engine's lifetime.

    Use as a context manager::

        with DaskEngine() as engine:
            result = build_network(["uploads/"], engine=engine)
    """

    def __init__(self, address: str | None = None, *, n_workers: int | None = None,
                 chunk_files: int = 32, chunk_bytes: int = 32 * 2**20) -> None:
        self.address = address
        self.n_workers = n_workers
        self.chunk_files = chunk_files
        self.chunk_bytes = chunk_bytes
        self.client = None
        self._cluster = None

    def __enter__(self) -> "DaskEngine":
        from distributed import Client, LocalCluster

        if self.address:
            self.client = Client(self.address, timeout="10s")
        else:
            self._cluster = LocalCluster(n_workers=self.n_workers or os.cpu_count() or 1, threads_per_worker=1,
                                         processes=True, dashboard_address=":0")  # any free port
            self.client = Client(self._cluster)
        return self

    def __exit__(self, *exc) -> None:
        if self.client is not None:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
        self.client = self._cluster = None

    def chunks(self, files: Sequence) -> list[list]:
        """The files in chunks of at most ``chunk_files`` files or about ``chunk_bytes`` bytes, in order."""
        out: list[list] = []
        size = 0
        for f in files:
            if not out or len(out[-1]) >= self.chunk_files or size >= self.chunk_bytes:
                out.append([])
                size = 0
            out[-1].append(f)
            size += f.size or 0
        return out

    def map_files(self, fn: Callable[..., list], files: Sequence, *args: Any) -> Iterator[tuple[int, list]]:
        """(files done so far, ``fn(chunk, *args)``) for each chunk of ``files``, in order, computed on the
        cluster (all chunks are submitted at once; results are taken one by one, in order)."""
        if self.client is None:
            raise RuntimeError("use the engine as a context manager: with DaskEngine() as engine: ...")
        chunks = self.chunks(files)
        scattered = [self.client.scatter(a, broadcast=True) for a in args]
        futures = [self.client.submit(fn, chunk, *scattered, pure=False) for chunk in chunks]
        done = 0
        for chunk, future in zip(chunks, futures):
            result = future.result()
            future.release()
            done += len(chunk)
            yield done, result

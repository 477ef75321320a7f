"""How much of a build's CPU work a Dask cluster takes: a scheduler and two single-thread workers started as a
survey team starts them (``dask scheduler``, ``dask worker ADDRESS --nthreads 1``, processes of their own), a
build through ``--engine dask --dask-scheduler ADDRESS``, and the same build here.

    python benchmarks/cluster.py [FOLDER ...]   # default: the accuracy survey (python benchmarks/accuracy.py first)
    python benchmarks/cluster.py benchmarks/_work/scale/tile00 benchmarks/_work/scale/tile01   # the scale part 1/8

Reports the CPU seconds of the calling process (the build) and of the workers' processes (the worker and the
nanny that starts it, read from /proc before and after), the workers' share, the wall time of both builds, and
the largest memory a worker process held, and whether the two feeds are the same bytes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT = HERE / "_work" / "accuracy" / "survey-all-1"


def tree_cpu_s(pid: int) -> float:
    """User and system CPU seconds of a process and its living descendants (/proc)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    stack = [pid]
    while stack:
        p = stack.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                children = (task / "children").read_text().split()
                stack += [int(c) for c in children]
        except (OSError, IndexError, ValueError):
            continue
    return total


def tree_peak_mib(pid: int) -> float:
    """The largest peak resident memory (VmHWM) of a process and its living descendants, MiB."""
    peak, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return peak / 1024


def build(args: list[str], out: Path) -> tuple[float, float]:
    """(wall s, CPU s of the build's process and its children) of ``transitmap build``."""
    cmd = ["/usr/bin/time", "-f", "%U %S", sys.executable, "-m", "transitmap.cli", "build", *args, "--out",
           str(out), "--no-validate", "-q"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE.parent)
    wall = time.perf_counter() - t0
    user, system = map(float, proc.stderr.strip().splitlines()[-1].split())
    return wall, user + system


def main() -> None:
    folders = [Path(a) for a in sys.argv[1:]] or [DEFAULT]
    for folder in folders:
        if not folder.exists():
            sys.exit(f"{folder} not found: run python benchmarks/accuracy.py first, or name a survey folder")
    inputs = [str(f) for f in folders]
    from transitmap.engine import hand_started_cluster

    with hand_started_cluster(2) as (address, workers), tempfile.TemporaryDirectory() as tmp:
        local_wall, local_cpu = build(inputs, Path(tmp) / "here")
        before = sum(tree_cpu_s(w.pid) for w in workers)
        wall, caller_cpu = build([*inputs, "--engine", "dask", "--dask-scheduler", address], Path(tmp) / "there")
        workers_cpu = sum(tree_cpu_s(w.pid) for w in workers) - before
        worker_peak = max(tree_peak_mib(w.pid) for w in workers)
        same = (Path(tmp) / "here" / "gtfs.zip").read_bytes() == (Path(tmp) / "there" / "gtfs.zip").read_bytes()
    print(json.dumps({"survey": " ".join(f.name for f in folders), "local_wall_s": round(local_wall, 1),
                      "local_cpu_s": round(local_cpu, 1),
                      "cluster_wall_s": round(wall, 1), "caller_cpu_s": round(caller_cpu, 1),
                      "workers_cpu_s": round(workers_cpu, 1),
                      "workers_share": round(workers_cpu / max(workers_cpu + caller_cpu, 1e-9), 3),
                      "worker_peak_mib": round(worker_peak), "same_feed": same}, indent=2))


if __name__ == "__main__":
    main()

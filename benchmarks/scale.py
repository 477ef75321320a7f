"""A Gauteng-sized survey end to end: ``transitmap build`` on 1/8, 1/4, 1/2 and all of it, wall time and peak
memory.

    python benchmarks/scale.py generate [--tiles 16] [--rides 3]   # once: writes benchmarks/_work/scale/
    python benchmarks/scale.py run [--parts 1/8,1/4,1/2,1]          # /usr/bin/time -v transitmap build ...

    # one city, each direction ridden 11 times: a single region of 2,992 rides and 3.8 M fixes, as dense as a
    # survey of one of Gauteng's cities (what a build cannot spread over regions)
    python benchmarks/scale.py generate --tiles 1 --rides 11 --work benchmarks/_work/dense
    python benchmarks/scale.py run --parts 1 --work benchmarks/_work/dense

``TRANSITMAP_EXE=/path/to/transitmap`` times another installation on the same survey (an earlier commit).

The survey tiles the Nairobi 2019 network (../shared/data, 136 routes, 272 directions, 1,777 route-km) on a
4 x 4 grid 60 km apart: 16 tiles are 4,352 directions (2,176 routes), 28,400 route-km; each direction is
ridden ``--rides`` times by simulated collectors (transitmap.simulate: noise, spikes, gaps, waits, partial
rides, a fix every 1-5 s; route names as the network writes them, typos and missing names as collectors
leave them). A part of the survey is a number of whole tiles (1/8 = 2 tiles), so that every
part is a survey of the same kind. Inputs are JSON Lines files of 200 rides, one folder per tile.

Time: ``wall_s``, and ``cpu_s`` the CPU time of the build and its workers (``/usr/bin/time -v``, user and
system). The VM's speed swings: ``vm_steal_s`` is the time the hypervisor held the cores back during the run.
``idle_core_s``: the time the machine's cores stood idle during the run, all cores together (the build runs on
one core while it does what only the calling process can do): with no core ever idle, the build would have
taken ``wall_s - idle_core_s / cores``. ``stages``: [wall s, CPU s] of each stage of the build, from its ``-v``
log.

Against what reading costs: ``plain_parse_s`` is a plain standard-library ``json`` parse of the same files on
two processes (``plain_parse_s()``, measured just before the build, on the same machine in the same hour);
``build_over_parse`` the build's wall time over it.

Memory: ``peak_mib`` is what ``/usr/bin/time -v`` reports, the largest single process; the build runs
worker processes beside it, so ``peak_all_processes_mib`` samples the whole process tree every second, pages
shared by forked workers counted once (``tree_memory_kib``: the machine's anonymous memory above what it held
before the build, plus the main process's libraries), the most held over two samples in a row. A sample reads
three counters (0.5 ms). Summing each process's proportional set size instead, as earlier runs did, gives
the same figure within 2 % (715 against 728 MiB on two tiles) but walks each process's memory map: 20-60 ms a
sample, 5-10 s of CPU over a full build, which the build lost. ``sampler_cpu_s`` is what this process used
meanwhile. ``peak_all_processes_one_sample_mib``: the most in any one sample.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import DATA, load_network  # noqa: E402

from transitmap.simulate import RideProfile, RouteSpec, at, ride  # noqa: E402

WORK = Path(__file__).resolve().parent / "_work" / "scale"
SPACING_M = 60_000.0
SAMPLE_S = 1.0  # the memory of the process tree is read this often


def generate(tiles: int, rides: int, seed: int = 1) -> None:
    network, _ = load_network(DATA, None)
    rng = np.random.default_rng(seed)
    side = math.ceil(math.sqrt(tiles))
    totals = {"tiles": tiles, "rides": 0, "points": 0, "directions": 0, "route_km": 0.0}
    for tile in range(tiles):
        north, east = -(tile // side) * SPACING_M, (tile % side) * SPACING_M
        folder = WORK / f"tile{tile:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for t in network:
            lat0 = t["lat"][0]
            lat = t["lat"] + north / 110_574.0
            lon = t["lon"] + east / (111_320.0 * math.cos(math.radians(lat0)))
            spec = RouteSpec(f"{tile}-{t['trip_id']}", t["name"], tuple(zip(lat, lon)),
                             tuple(t["stop_names"]), tuple(t["stop_frac"]),
                             fare=float(50 + 10 * int(t["length_m"] // 5000)), currency="ZAR")
            profile = RideProfile(headway_s=t["headway_s"], fix_interval_s=(1.0, 5.0))
            for k in range(rides):
                start = at(2026, 3, 2 + int(rng.integers(0, 5)), int(rng.integers(6, 19)), int(rng.integers(0, 60)), 2)
                doc = ride(spec, start, rng, trace_id=f"{tile}-{t['trip_id']}-{k}",
                           collector_id=f"c{int(rng.integers(0, 40)):02d}", profile=profile,
                           name_variant=rng.choice(["same", "typo", None], p=[0.7, 0.15, 0.15]))
                lines.append(msgspec.json.encode(doc))
                totals["points"] += len(doc["points"])
            totals["directions"] += 1
            totals["route_km"] += t["length_m"] / 2000  # both directions listed: one direction's km
        totals["rides"] += len(lines)
        for i in range(0, len(lines), 200):
            (folder / f"part{i // 200:03d}.jsonl").write_bytes(b"\n".join(lines[i : i + 200]) + b"\n")
        print(f"tile {tile + 1}/{tiles}: {totals['rides']:,} rides, {totals['points']:,} points", flush=True)
    (WORK / "survey.json").write_text(json.dumps(totals, indent=2))


def _parse_file(path: str) -> int:
    """The fixes of one JSON Lines file, parsed with the standard library's json and nothing else."""
    with open(path, "rb") as fh:
        return sum(len(json.loads(line)["points"]) for line in fh if line.strip())


def plain_parse_s(inputs: list[str], processes: int = 2) -> tuple[float, int]:
    """(wall s, fixes) of a plain stdlib ``json`` parse of the survey's files on ``processes`` processes: the
    least any tool must spend to read the input, the reference a build's time is measured against."""
    from multiprocessing import Pool

    files = sorted(str(f) for folder in inputs for f in Path(folder).rglob("*") if f.is_file())
    t = time.perf_counter()
    with Pool(processes) as pool:
        fixes = sum(pool.map(_parse_file, files, chunksize=1))
    return time.perf_counter() - t, fixes


def run(parts: list[str]) -> None:
    survey = json.loads((WORK / "survey.json").read_text())
    # TRANSITMAP_EXE: another installation's command, to time two versions on the same survey
    exe = os.environ.get("TRANSITMAP_EXE") or str(Path(sys.executable).with_name("transitmap"))
    rows = []
    for part in parts:
        num, _, den = part.partition("/")
        n = survey["tiles"] * int(num) // int(den or 1)
        inputs = [str(WORK / f"tile{k:02d}") for k in range(n)]
        out = WORK / f"out-{n:02d}"
        parse_s, fixes = plain_parse_s(inputs)
        cmd = ["/usr/bin/time", "-v", exe, "build", *inputs, "--out", str(out), "--no-validate", "-v"]
        t, steal, idle, own, anon = time.perf_counter(), steal_s(), idle_s(), time.process_time(), anon_kib()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peak_tree = peak_raw = last = 0
        with ThreadPoolExecutor(1) as pool:
            talk = pool.submit(proc.communicate)
            while not talk.done():
                now = tree_memory_kib(proc.pid, anon)
                peak_raw = max(peak_raw, now)
                peak_tree = max(peak_tree, min(now, last))  # held over two samples in a row
                last = now
                time.sleep(SAMPLE_S)
            _, stderr = talk.result()
        wall, steal, idle = time.perf_counter() - t, steal_s() - steal, idle_s() - idle
        own = time.process_time() - own
        rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", stderr).group(1)) / 1024
        cpu = sum(float(re.search(rf"{kind} time \(seconds\): ([\d.]+)", stderr).group(1)) for kind
                  in ("User", "System"))
        ledger = (out / "traces.csv").read_text().splitlines()[1:] if (out / "traces.csv").exists() else []
        rows.append({"part": part, "tiles": n, "rides": len(ledger), "fixes": fixes, "wall_s": round(wall, 1),
                     "plain_parse_s": round(parse_s, 1), "build_over_parse": round(wall / parse_s, 2),
                     "cpu_s": round(cpu, 1),
                     "vm_steal_s": round(steal, 1), "idle_core_s": round(idle, 1), "cores": os.cpu_count(),
                     "sampler_cpu_s": round(own, 1), "peak_mib": round(rss),
                     "peak_all_processes_mib": round(peak_tree / 1024),
                     "peak_all_processes_one_sample_mib": round(peak_raw / 1024), "exit": proc.returncode,
                     "stages": stages(stderr)})
        print(json.dumps(rows[-1]), flush=True)
    (WORK / "results.json").write_text(json.dumps(rows, indent=2))


def stages(log: str) -> dict[str, list[float]]:
    """[wall s, CPU s] of each stage, from the build's ``-v`` log ("matched them into 2,156 routes ... in 60.0 s,
    113.6 s of CPU"), named without its counts."""
    found = re.finditer(r"INFO transitmap\.\w+: (.+?) in ([\d.]+) s, ([\d.]+) s of CPU", log)
    return {re.sub(r" ?\d[\d,]* ", " ", m.group(1)).strip(): [float(m.group(2)), float(m.group(3))] for m in found}


def steal_s() -> float:
    """CPU time the hypervisor gave to others while this VM wanted it, all cores together (/proc/stat)."""
    return _cpu_time_s(8)


def idle_s() -> float:
    """Time the cores stood idle (or waited for the disk), all cores together (/proc/stat)."""
    return _cpu_time_s(4, 5)


def _cpu_time_s(*fields: int) -> float:
    """The sum of fields of /proc/stat's "cpu" line (1 user, 2 nice, 3 system, 4 idle, 5 iowait, ..., 8 steal),
    in s."""
    try:
        line = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return sum(int(line[f]) for f in fields) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def tree_memory_kib(pid: int, anon_base_kib: int) -> int:
    """Memory (KiB) of a process and all its descendants now: worker processes count too (``/usr/bin/time``
    reports the largest single process), pages they share counted once.

    Three counters, read in microseconds: the machine's anonymous memory above ``anon_base_kib`` (what it
    held before the build started; ``anon_kib``), which counts each page once however many forked workers
    share it, plus the file-backed and shared memory of the main process (its libraries; the workers map
    the same). Summing each process's proportional set size instead (``smaps_rollup``) reads its memory
    map: 20-60 ms a sample for a build of the full survey, 5-10 s of CPU over the build, which the build
    lost (the machine has two cores)."""
    return max(anon_kib() - anon_base_kib, 0) + _kib(f"/proc/{pid}/status", "RssFile:") + \
        _kib(f"/proc/{pid}/status", "RssShmem:")


def anon_kib() -> int:
    """Anonymous memory in use on the machine (KiB, /proc/meminfo AnonPages)."""
    return _kib("/proc/meminfo", "AnonPages:")


def _kib(path: str, key: str) -> int:
    """The figure of a "key: value kB" line of a /proc file; 0 where there is none (a process that has ended)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def main() -> None:
    global WORK
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--tiles", type=int, default=16)
    g.add_argument("--rides", type=int, default=3)
    r = sub.add_parser("run")
    r.add_argument("--parts", default="1/8,1/4,1/2,1")
    for p in (g, r):
        p.add_argument("--work", type=Path, default=WORK, help="the survey's folder [default: %(default)s]")
    args = ap.parse_args()
    WORK = args.work.resolve()
    if args.cmd == "generate":
        generate(args.tiles, args.rides)
    else:
        run(args.parts.split(","))


if __name__ == "__main__":
    main()

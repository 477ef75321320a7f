"""Validation throughput (points per second) and peak memory on a survey of over a million points.

    python benchmarks/validate_throughput.py [--points 1000000] [--format json|jsonl]

Simulates rides (1 fix per second, noise, spikes, gaps) along synthetic routes, writes them as one file
per ride (json) or JSON Lines files of 100 rides (jsonl) under ``benchmarks/_work/``, then runs
``transitmap validate`` in a child process, once on a quarter of the survey and once on all of it, and
reports wall time, points per second and peak resident memory (the child's ``ru_maxrss``). If memory is
bounded by the largest trace and not by the survey, the two peaks are close.
The validation runs on one core (one process, no threads of ours).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import numpy as np

from transitmap.simulate import RideProfile, RouteSpec, at, ride

WORK = Path(__file__).resolve().parent / "_work"
PROFILE = RideProfile(fix_interval_s=(1.0, 1.0), rank_wait_s=(60.0, 300.0))


def make_survey(folder: Path, n_points: int, fmt: str, seed: int = 7) -> tuple[int, int]:
    """Rides until ``n_points`` fixes; returns (rides, points). Reuses an existing survey of that size."""
    stamp = folder / "survey.json"
    if stamp.exists():
        meta = json.loads(stamp.read_text())
        if meta.get("target") == n_points and meta.get("format") == fmt:
            return meta["rides"], meta["points"]
    if folder.exists():
        import shutil

        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    total = rides = 0
    batch: list[bytes] = []
    while total < n_points:
        lat0, lon0 = -1.30 + rng.uniform(-0.1, 0.1), 36.82 + rng.uniform(-0.1, 0.1)
        path = [(lat0, lon0)]
        for _ in range(6):
            path.append((path[-1][0] + rng.uniform(-0.02, 0.02), path[-1][1] + rng.uniform(-0.02, 0.02)))
        route = RouteSpec(f"R{rides}", f"Route {rides % 97}", tuple(path), stop_fraction=(0, 0.3, 0.6, 1.0),
                          currency="KES", fare=70)
        tr = ride(route, at(2026, 3, 2 + rides % 5, 6 + rides % 12, 0, 3), rng, trace_id=f"t{rides:06d}",
                  collector_id=f"c{rides % 40:02d}", profile=PROFILE)
        rides += 1
        total += len(tr["points"])
        data = msgspec.json.encode(tr)
        if fmt == "json":
            (folder / f"t{rides:06d}.json").write_bytes(data)
        else:
            batch.append(data)
            if len(batch) == 100:
                (folder / f"part{rides:06d}.jsonl").write_bytes(b"\n".join(batch) + b"\n")
                batch = []
    if batch:
        (folder / f"part{rides:06d}.jsonl").write_bytes(b"\n".join(batch) + b"\n")
    stamp.write_text(json.dumps({"target": n_points, "format": fmt, "rides": rides, "points": total}))
    return rides, total


def run_validate(paths: list[Path]) -> tuple[float, float, int, dict]:
    """(wall seconds of the process, seconds inside validation, peak RSS bytes, summary) of one validation
    in a fresh child process."""
    code = (
        "import sys, time, resource, msgspec\n"
        "from transitmap.pipeline import validate_inputs\n"
        "t0 = time.perf_counter(); r = validate_inputs(sys.argv[1:]); t = time.perf_counter() - t0\n"
        "rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024\n"
        "sys.stdout.write(msgspec.json.encode({'summary': r.summary(), 'seconds': t, 'rss': rss}).decode())\n"
    )
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *map(str, paths)], check=True, capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"})
    wall = time.perf_counter() - t0
    res = json.loads(out.stdout)
    return wall, res["seconds"], res["rss"], res["summary"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--format", choices=["json", "jsonl"], default="json")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each size; best and median are reported")
    args = ap.parse_args()
    folder = WORK / f"survey-{args.format}-{args.points}"
    rides, points = make_survey(folder, args.points, args.format)
    files = sorted(p for p in folder.iterdir() if p.suffix in (".json", ".jsonl") and p.name != "survey.json")
    print(f"survey: {rides} rides, {points:,} points, {len(files)} {args.format} files, "
          f"{sum(f.stat().st_size for f in files) / 1e6:.0f} MB")
    print("Interference on a shared machine only ever adds time: the best run estimates the cost of the code,"
          " the median what to expect.")
    for label, part in (("quarter", files[: len(files) // 4]), ("full", files)):
        runs = [run_validate(part) for _ in range(args.repeat)]
        inner = sorted(r[1] for r in runs)
        peak = max(r[2] for r in runs)
        summary = runs[0][3]
        n = summary["points"]
        print(f"{label:8s} {n:>10,} points  best {inner[0]:5.2f} s = {n / inner[0]:>8,.0f} points/s  "
              f"median {inner[len(inner) // 2]:5.2f} s = {n / inner[len(inner) // 2]:>8,.0f} points/s  "
              f"(start-up adds {runs[0][0] - runs[0][1]:.1f} s)  peak RSS {peak / 2**20:4.0f} MiB  "
              f"({summary['accepted']} accepted, {summary['quarantined']} quarantined)")


if __name__ == "__main__":
    main()

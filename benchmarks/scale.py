"""A Gauteng-sized survey end to end: ``transitmap build`` on 1/8, 1/4, 1/2 and all of it, wall time and peak
memory.

    python benchmarks/scale.py generate [--tiles 16] [--rides 3]   # once: writes benchmarks/_work/scale/
    python benchmarks/scale.py run [--parts 1/8,1/4,1/2,1]          # /usr/bin/time -v transitmap build ...

The survey tiles the Nairobi 2019 network (../shared/data, 136 routes, 272 directions, 1,777 route-km) on a
4 x 4 grid 60 km apart: 16 tiles are 4,352 directions (2,176 routes), 28,400 route-km; each direction is
ridden ``--rides`` times by simulated collectors (transitmap.simulate: noise, spikes, gaps, waits, partial
rides, a fix every 1-5 s). A part of the survey is a number of whole tiles (1/8 = 2 tiles), so that every
part is a survey of the same kind. Inputs are JSON Lines files of 200 rides, one folder per tile.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import DATA, load_network  # noqa: E402

from transitmap.simulate import RideProfile, RouteSpec, at, ride  # noqa: E402

WORK = Path(__file__).resolve().parent / "_work" / "scale"
SPACING_M = 60_000.0


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
            spec = RouteSpec(f"{tile}-{t['trip_id']}", f"T{tile} {t['name']}", tuple(zip(lat, lon)),
                             tuple(f"T{tile} {n}" for n in t["stop_names"]), tuple(t["stop_frac"]),
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


def run(parts: list[str]) -> None:
    survey = json.loads((WORK / "survey.json").read_text())
    exe = str(Path(sys.executable).with_name("transitmap"))
    rows = []
    for part in parts:
        num, _, den = part.partition("/")
        n = survey["tiles"] * int(num) // int(den or 1)
        inputs = [str(WORK / f"tile{k:02d}") for k in range(n)]
        out = WORK / f"out-{n:02d}"
        cmd = ["/usr/bin/time", "-v", exe, "build", *inputs, "--out", str(out), "--no-validate", "-q"]
        t = time.perf_counter()
        res = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t
        rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", res.stderr).group(1)) / 1024
        ledger = (out / "traces.csv").read_text().splitlines()[1:] if (out / "traces.csv").exists() else []
        rows.append({"part": part, "tiles": n, "rides": len(ledger), "wall_s": round(wall, 1), "peak_mib": round(rss),
                     "exit": res.returncode})
        print(json.dumps(rows[-1]), flush=True)
    (WORK / "results.json").write_text(json.dumps(rows, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--tiles", type=int, default=16)
    g.add_argument("--rides", type=int, default=3)
    r = sub.add_parser("run")
    r.add_argument("--parts", default="1/8,1/4,1/2,1")
    args = ap.parse_args()
    if args.cmd == "generate":
        generate(args.tiles, args.rides)
    else:
        run(args.parts.split(","))


if __name__ == "__main__":
    main()

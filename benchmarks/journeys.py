"""Journeys a rider's trip planner finds on a feed of the sample survey: the README's before/after.

    python benchmarks/journeys.py                  # builds sample_traces/ with this code
    python benchmarks/journeys.py --feed gtfs.zip  # a feed built otherwise (by an older version, say)

The planner is the tests' (``tests/planner.py``: nigiri, the routing core of MOTIS, frequencies expanded as consumers
expand them, the stops of one station linked on foot). It plans between stops by name on a Wednesday
and a Saturday of the survey's week, at 08:00 and 17:30, and prints one row per journey: when it leaves and
arrives, the vehicles taken, and the in-vehicle time against the median time the recorded rides took over the
same stretches (``tests/planner.observed_times``; in the same time band where one was ridden in it, else all).
Then, over every pattern end to end at both times on both days: how many journeys exist, and the median and
largest difference from the rides' time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import zipfile
from datetime import date
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from planner import Planner, observed_times  # noqa: E402

from transitmap.model import gtfs_time, time_band  # noqa: E402
from transitmap.pipeline import build_network  # noqa: E402

SAMPLE = ROOT / "sample_traces"
DAYS = {"Wed": date(2026, 3, 4), "Sat": date(2026, 3, 7)}
TIMES = {"08:00": 8 * 3600, "17:30": 17 * 3600 + 1800}
QUERIES = [("Randburg", "Bree Rank"), ("Bree Rank", "Diepkloof"), ("Noord Rank", "Alexandra"),
           ("Baragwanath", "Bree Rank"), ("Randburg", "Diepkloof")]


def _median(rides: list[tuple[str, float]], band: str) -> float | None:
    in_band = [s for b, s in rides if b == band]
    return statistics.median(in_band or [s for _, s in rides]) if rides else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--feed", type=Path, help="a GTFS zip of the sample survey (default: build it)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        feed = args.feed
        if feed is None:
            feed = Path(tmp) / "gtfs.zip"
            feed.write_bytes(build_network([SAMPLE]).feed)
        with zipfile.ZipFile(feed) as z:
            st = pd.read_csv(z.open("stop_times.txt"), dtype={"stop_id": str, "trip_id": str})
            routes = pd.read_csv(z.open("routes.txt"), dtype=str, keep_default_na=False)
            trips = pd.read_csv(z.open("trips.txt"), dtype=str)
        route_of = trips.set_index("trip_id").route_id.map(routes.set_index("route_id").route_long_name)
        ends = {t: (g.stop_id.iloc[0], g.stop_id.iloc[-1]) for t, g
                in st.sort_values("stop_sequence").groupby("trip_id")}
        planners = {d: Planner(feed, day) for d, day in DAYS.items()}
        planned = []
        for d, planner in planners.items():
            for at, at_s in TIMES.items():
                for a, b in QUERIES:
                    planned.append((d, at, a, b, planner.plan(planner.named[a], planner.named[b], at_s)))
        pairs = {(leg.from_stop, leg.to_stop) for *_, j in planned if j for leg in j.legs} | set(ends.values())
        observed = observed_times(SAMPLE, feed, sorted(pairs))

        print("| day | from | to | leaves | arrives | taxis | in vehicle | rides took |")
        print("|---|---|---|---|---|---|---|---|")
        for d, at, a, b, j in planned:
            if j is None:
                print(f"| {d} {at} | {a} | {b} | no journey | | | | |")
                continue
            took = [_median(observed[(leg.from_stop, leg.to_stop)], time_band(leg.depart_s)) for leg in j.legs]
            took_text = f"{sum(took) / 60:.0f} min" if None not in took else "-"
            print(f"| {d} {at} | {a} | {b} | {gtfs_time(j.depart_s)[:5]} | {gtfs_time(j.arrive_s)[:5]} | "
                  f"{' then '.join(route_of.get(leg.trip_id, leg.trip_id) for leg in j.legs)} | "
                  f"{j.in_vehicle_s / 60:.0f} min | {took_text} |")

        found, errors = 0, []
        for planner in planners.values():
            for at_s in TIMES.values():
                for a, b in sorted(set(ends.values())):
                    j = planner.plan(a, b, at_s)
                    found += j is not None
                    took = _median(observed[(a, b)], time_band(at_s))
                    if j is not None and took:
                        errors.append(abs(j.in_vehicle_s - took) / took)
        n = len(planners) * len(TIMES) * len(set(ends.values()))
        print(f"\nevery pattern end to end, {', '.join(DAYS)} at {', '.join(TIMES)}: {found} of {n} journeys found; "
              + (f"in-vehicle time vs the rides' median: median {statistics.median(errors):.1%}, "
                 f"largest {max(errors):.1%}" if errors else "no in-vehicle time to compare"))


if __name__ == "__main__":
    main()

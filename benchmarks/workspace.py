"""A survey workspace over five survey days: import speed, idempotent re-import, build from the workspace
against a build from the files, and the ids a rebuild with one more day keeps.

    python benchmarks/workspace.py [--routes N] [--seed 1]

The survey is the accuracy benchmark's (transitmap.simulate on the Nairobi 2019 network in ../shared/data,
JSON Lines files of 100 rides), imported in five parts as five evenings of a survey. Figures: traces and
points per second of each import (validation included), the second import of everything (adds nothing),
the two builds' wall times and whether their feeds are byte-identical, and for the rebuild after day 5: the
routes and stops of day 4's build that `transitmap diff` finds again, and how many of those keep their id.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import DATA, load_network, simulate  # noqa: E402

from transitmap import workspace as ws  # noqa: E402
from transitmap.compare import diff_feeds  # noqa: E402
from transitmap.pipeline import build_network  # noqa: E402

WORK = Path(__file__).resolve().parent / "_work" / "workspace"
DAY1 = datetime(2026, 3, 2, 17, 0, tzinfo=timezone.utc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--routes", type=int, default=None, help="only the first N routes (by route_id)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} not found: this benchmark needs ../shared/data")
    network, _ = load_network(DATA, args.routes)
    shutil.rmtree(WORK, ignore_errors=True)
    survey_files = WORK / "files"
    n_rides, n_points, _ = simulate(network, args.seed, survey_files)
    parts = sorted(survey_files.glob("*.jsonl"))
    days = [survey_files.parent / f"day{d + 1}" for d in range(5)]
    for k, part in enumerate(parts):  # a part to each evening, in turn
        days[k % 5].mkdir(parents=True, exist_ok=True)
        shutil.copy2(part, days[k % 5] / part.name)
    survey = WORK / "survey"
    ws.init_workspace(survey, name="benchmark", timezone_name="Africa/Nairobi", currency="KES", now=DAY1)
    figures: dict = {"rides": n_rides, "points": n_points, "imports": []}
    for d, folder in enumerate(days[:4]):
        r = ws.import_inputs(survey, [folder], now=DAY1 + timedelta(days=d))
        figures["imports"].append({k: r.summary()[k] for k in ("traces_added", "points", "seconds", "traces_per_s",
                                                               "points_per_s")})
    t0 = time.perf_counter()
    previous, reserved = ws.previous_build(survey)
    day4 = build_network(ws.workspace_inputs(survey), previous=previous, reserved_ids=reserved)
    ws.record_build(survey, now=DAY1 + timedelta(days=3, hours=1), out="day4", feed=day4.feed, ledger_csv=b"trace_id\n",
                    routes=day4.routes, stops=day4.stops)
    figures["build_day4_s"] = round(time.perf_counter() - t0, 1)
    r = ws.import_inputs(survey, [days[4]], now=DAY1 + timedelta(days=4))
    figures["imports"].append({k: r.summary()[k] for k in ("traces_added", "points", "seconds", "traces_per_s",
                                                           "points_per_s")})
    t0 = time.perf_counter()
    again = ws.import_inputs(survey, [survey_files.parent / f"day{d + 1}" for d in range(5)], now=DAY1 + timedelta(days=5))
    figures["reimport_all"] = {"seconds": round(time.perf_counter() - t0, 2), "traces_added": again.added,
                               "files_unchanged": again.files_unchanged}
    t0 = time.perf_counter()
    previous, reserved = ws.previous_build(survey)
    from_ws = build_network(ws.workspace_inputs(survey), previous=previous, reserved_ids=reserved)
    figures["build_from_workspace_s"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    from_files = build_network(days)
    figures["build_from_files_s"] = round(time.perf_counter() - t0, 1)
    fresh = build_network(ws.workspace_inputs(survey))  # without the previous build: ids numbered afresh
    figures["workspace_equals_files"] = {"feed_bytes": fresh.feed == from_files.feed,
                                         "ledger": fresh.ledger_rows == from_files.ledger_rows}
    d = diff_feeds(day4.feed, from_ws.feed)
    matched = d.routes[d.routes["status"].isin(["kept", "rerouted"])]
    figures["rebuild_after_day5"] = {
        "routes_day4": d.summary["old"]["routes"], "routes_day5": d.summary["new"]["routes"],
        "routes_found_again": int(len(matched)), "routes_keeping_id": int((matched["old_id"] == matched["new_id"]).sum()),
        "stops_day4": d.summary["old"]["stops"], "stop_places_found_again": d.summary["stops"]["kept"],
        "stops_keeping_id": _stops_keeping_id(day4.feed, from_ws.feed)}
    print(json.dumps(figures, indent=1))


def _stops_keeping_id(old: bytes, new: bytes) -> int:
    """Stops of the old feed with a stop of the new one within 30 m that carries the same id."""
    import io
    import zipfile

    import numpy as np
    import pandas as pd

    from transitmap.geo import geodesic_m

    def stops(feed):
        with zipfile.ZipFile(io.BytesIO(feed)) as z:
            table = pd.read_csv(z.open("stops.txt"), dtype={"stop_id": str})
            return table[table.get("location_type", 0) == 0].set_index("stop_id")  # not the stations of ranks

    a, b = stops(old), stops(new)
    both = a.index.intersection(b.index)
    d = geodesic_m(a.loc[both, "stop_lat"], a.loc[both, "stop_lon"], b.loc[both, "stop_lat"], b.loc[both, "stop_lon"])
    return int((np.asarray(d) <= 30).sum())


if __name__ == "__main__":
    main()

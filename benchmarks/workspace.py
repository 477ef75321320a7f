"""A survey workspace over five survey days: import speed, idempotent re-import, build from the workspace
against a build from the files, and the ids a rebuild with one more day keeps.

    python benchmarks/workspace.py [--routes N] [--seed 1]

The survey is the accuracy benchmark's (transitmap.simulate on the Nairobi 2019 network in ../shared/data,
JSON Lines files of 100 rides), imported in five parts as five evenings of a survey. Figures: traces and
points per second of each import (validation included), the second import of everything (adds nothing),
the two builds' wall times and whether their feeds are byte-identical, and for the rebuild after day 5: the
routes and stops of day 4's build that `transitmap diff` finds again, and how many of those keep their id.

    python benchmarks/workspace.py --review [--routes N] [--seed 1]

The review loop: the accuracy benchmark's hostile survey imported and built, then a coordinator who knows which
route each ride rode (the simulation's truth) corrects the wrong merges by hand, as with `transitmap review`: a
ride in a route of another truth route is put in the route that holds most rides of its own truth route (or in
a new one), and of two routes holding one truth route the smaller is merged into the larger. The workspace
rebuilds with the corrections. Figures, before and after: ride grouping against the truth (pairwise: of the
pairs of rides the feed puts in one route, the share that rode one truth route: precision; of the pairs that
rode one truth route, the share the feed puts in one route: recall), the accuracy benchmark's pattern recall
and precision, and the corrections made, applied and stale.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from accuracy import DATA, load_network, score, simulate  # noqa: E402

from transitmap import workspace as ws  # noqa: E402
from transitmap.compare import diff_feeds  # noqa: E402
from transitmap.config import BuildConfig
from transitmap.pipeline import build_network  # noqa: E402
from transitmap.review import Correction  # noqa: E402

WORK = Path(__file__).resolve().parent / "_work" / "workspace"
DAY1 = datetime(2026, 3, 2, 17, 0, tzinfo=timezone.utc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--routes", type=int, default=None, help="only the first N routes (by route_id)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--review", action="store_true", help="the review loop: wrong merges corrected by hand")
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} not found: this benchmark needs ../shared/data")
    network, epsg = load_network(DATA, args.routes)
    shutil.rmtree(WORK, ignore_errors=True)
    if args.review:
        print(json.dumps(review_loop(network, epsg, args.seed), indent=1))
        return
    survey_files = WORK / "files"
    n_rides, n_points, _ = simulate(network, args.seed, survey_files, hostile=False)  # JSON Lines, five evenings
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
    again = ws.import_inputs(survey, [survey_files.parent / f"day{d + 1}" for d in range(5)], now=DAY1
                             + timedelta(days=5))
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
        "routes_found_again": int(len(matched)),
        "routes_keeping_id": int((matched["old_id"] == matched["new_id"]).sum()),
        "stops_day4": d.summary["old"]["stops"], "stop_places_found_again": d.summary["stops"]["kept"],
        "stops_keeping_id": _stops_keeping_id(day4.feed, from_ws.feed)}
    print(json.dumps(figures, indent=1))


def review_loop(network: list[dict], epsg: int, seed: int) -> dict:
    """Build the hostile survey in a workspace, correct its wrong merges from the truth, rebuild: the figures."""
    files = WORK / "review-files"
    n_rides, _, fares = simulate(network, seed, files)
    rode = pd.read_csv(WORK / "review-files-truth.csv", dtype=str)
    truth_trip = dict(zip(rode.ride, rode.trip_id))
    route_of_trip = {t["trip_id"]: t["route_id"] for t in network}
    survey = WORK / "review-survey"
    ws.init_workspace(survey, name="review", timezone_name="Africa/Nairobi", currency="SLE", now=DAY1)
    ws.import_inputs(survey, [files], now=DAY1)
    config = BuildConfig(currency="SLE")
    before = build_network(ws.workspace_inputs(survey), config)
    ledger = pd.DataFrame(before.ledger_rows)
    used = ledger[ledger.status == "used"].copy()
    used["truth"] = [route_of_trip.get(truth_trip.get(f, "?"), "?") for f in used.file]
    made = _coordinator(used)
    ws.add_corrections(survey, made, now=DAY1 + timedelta(hours=1))
    t0 = time.perf_counter()
    after = build_network(ws.workspace_inputs(survey), config, previous=before.feed,
                          corrections=ws.corrections(survey), previous_routes=dict(zip(used.trace_id, used.route_id)))
    seconds = time.perf_counter() - t0
    figures = {"rides": n_rides, "truth_routes": len(set(route_of_trip.values())),
               "corrections": {"made": len(made), **{k: after.review[k] for k in ("applied", "stale")},
                               "rides_assigned": after.review["rides_assigned"],
                               "routes_merged": sum(c.action == "merge" for c in made),
                               "stale_why": sorted(why for outcome, why in after.review_outcomes.values()
                                                   if outcome == "stale")},
               "rebuild_with_corrections_s": round(seconds, 1)}
    for name, result in (("before", before), ("after", after)):
        led = pd.DataFrame(result.ledger_rows)
        led = led[led.status == "used"]
        truth = [route_of_trip.get(truth_trip.get(f, "?"), "?") for f in led.file]
        _, sc = score(network, epsg, result, fares, truth_trip)
        figures[name] = {"routes": result.routes, **_pairwise(list(led.route_id), truth),
                         **{k: round(sc[k], 3) for k in ("pattern_recall", "pattern_precision")}}
    return figures


def _coordinator(used: pd.DataFrame) -> list[Correction]:
    """What a coordinator who knows each ride's route corrects: rides in a route that mostly holds another
    truth route go to the route holding most of their own (or a new one), and of two routes mostly holding one
    truth route the smaller is merged into the larger."""
    majority = used.groupby("route_id").truth.agg(lambda t: t.value_counts().sort_index().idxmax())
    size = used.groupby("route_id").size()
    home: dict[str, str] = {}  # truth route: the output route holding most of its rides
    for truth, rows in used.groupby("truth"):
        home[truth] = rows.route_id.value_counts().sort_index().idxmax()
    made = []
    for r in used.itertuples():
        if r.truth != "?" and r.truth != majority[r.route_id]:
            to = home[r.truth] if majority.get(home[r.truth]) == r.truth and home[r.truth] != r.route_id \
                else f"new:{r.truth}"
            made.append(Correction("ride", r.trace_id, "assign", value=to, reason="rode another route"))
    for routes in majority.groupby(majority).groups.values():
        routes = sorted(routes, key=lambda k: (-size[k], k))
        made += [Correction("route", k, "merge", value=routes[0], reason="one route") for k in routes[1:]]
    return made


def _pairwise(routes: list[str], truth: list[str]) -> dict:
    """Pairwise precision and recall of a grouping of rides against the truth."""
    from collections import Counter

    pairs = lambda groups: sum(n * (n - 1) // 2 for n in Counter(groups).values())  # noqa: E731
    both = pairs(list(zip(routes, truth)))
    return {"pairwise_precision": round(both / max(pairs(routes), 1), 3),
            "pairwise_recall": round(both / max(pairs(truth), 1), 3)}


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

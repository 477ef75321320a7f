"""Routes, stops and fares from real stop events: the Accra trotro survey of 2015-16.

    python benchmarks/accra.py [--seed 1] [--misses]   # needs ../shared/data/accra-2016-*.zip
    python benchmarks/accra.py --unnamed --osm            # stop marks without names, built with the OSM extract

Field teams rode each of Accra's 651 trotro routes once and recorded 4,814 stop events: when the vehicle
stopped, where the phone put it (``stop_lat_orig``), how many people got on and off, and the fare paid. The
survey's own cleaning snapped the events to 2,565 stops shared by the routes and published them as a GTFS feed.
This benchmark gives transitmap what the collectors' phones recorded and scores the feed it builds against the
published one:

- each ride is the published shape driven at the observed times (the vehicle stands at each stop event for a
  dwell that grows with the boardings and alightings, 5-90 s; between events it drives at 15-35 km/h and
  stands in queues the rest of the time; a wait of 2-20 min at the start of the shape, and on at 20 km/h
  where the shape goes on before the first event or after the last), recorded
  with the simulated phone of ``transitmap.simulate`` (GPS noise, spikes, a signal gap): the only simulated part;
- each stop event is a mark at the position and time observed in the field, named as the survey named it;
- a ride is named by its two terminals as written in the survey (``37 Lorry Park - Osu Blow Up``: a place name
  that starts with a number), and carries the fare paid, in cedis (GHS).

``--unnamed`` drops the names of the stop marks (collectors who mark where the vehicle stops and name
nothing); ``--osm`` builds with ``../shared/data/accra-2017-osm-trotro.osm.pbf`` (OpenStreetMap contributors,
ODbL 1.0: the ways and stops of Accra's trotro routes mapped in 2017) and scores what the map gave: the
share of the feed's shape points within 3 m of a road of the extract (and, for comparison, of the published
feed's and of a build without the extract; the share of points 40 m or more from every road, where the map has
none and the recorded path stays, and of the other points the share within 3 m), the share of stops with a
real name (not "near X", "between X and Y", "600 m NE of X" or coordinates) and the share of those named after
the map.

Scores as in ``benchmarks/accuracy.py``: patterns (one per route ridden), stops within 40 m of a published
stop, fares exact per route, the median distance of our shapes to the published ones. Ridden once each, the
routes of a city that share roads and terminals must stay apart.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
from accuracy import score

from transitmap.config import BuildConfig
from transitmap.geo import along, project, utm_epsg
from transitmap.pipeline import build_network
from transitmap.simulate import HOSTILE, gps_fixes

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
WORK = Path(__file__).resolve().parent / "_work" / "accra"
GMT = timezone.utc  # Accra keeps GMT all year


def load(data: Path):
    """The observed trips (one frame of stop events each) and the published network, in UTM metres."""
    with zipfile.ZipFile(data / "accra-2016-observations.zip") as z:
        events = pd.read_csv(z.open("routes.csv"), dtype=str, keep_default_na=False)
        names = pd.read_csv(z.open("stops.csv"), dtype=str, keep_default_na=False)
    with zipfile.ZipFile(data / "accra-2016-gtfs.zip") as z:
        read = lambda n: pd.read_csv(z.open(n), dtype=str, keep_default_na=False)  # noqa: E731
        trips, shapes, stops = read("trips.txt"), read("shapes.txt"), read("stops.txt").set_index("stop_id")
    for c in ("stop_lat", "stop_lon", "stop_lat_orig", "stop_lon_orig", "brd_alt", "fare"):
        events[c] = pd.to_numeric(events[c], errors="coerce").where(lambda v: v != -9999)
    events["seq"] = events.stop_sequence.astype(int)
    name_of = dict(zip(zip(names.trip_id, names.stop_id_orig), names.stop_name))
    epsg = utm_epsg(5.6, -0.2)
    shapes["seq"] = shapes.shape_pt_sequence.astype(int)
    shape_xy = {}
    for sid, sh in shapes.groupby("shape_id"):
        sh = sh.sort_values("seq")
        x, y = project(sh.shape_pt_lat.astype(float).to_numpy(), sh.shape_pt_lon.astype(float).to_numpy(), epsg)
        shape_xy[sid] = np.column_stack([x, y])
    network = []
    for trip in trips.sort_values("trip_id").itertuples():
        ev = events[events.trip_id == trip.trip_id].sort_values("seq")
        if len(ev) < 2:
            continue
        ev = ev[ev.stop_lat_orig.notna() & ev.stop_lon_orig.notna()]  # the phone recorded no position: no event
        if len(ev) < 2:
            continue
        lat, lon = ev.stop_lat_orig.to_numpy(), ev.stop_lon_orig.to_numpy()
        ex, ey = project(lat, lon, epsg)
        xy = shape_xy[trip.shape_id]
        ends = np.hypot(*(xy[[0, -1]][:, None] - np.column_stack([ex, ey])[[0, -1]]).transpose(2, 0, 1))
        if ends[0, 0] + ends[1, 1] > ends[0, 1] + ends[1, 0]:  # some published shapes run backwards
            xy = xy[::-1]
        published = stops.loc[[s for s in ev.stop_id if s in stops.index]]
        px, py = project(published.stop_lat.astype(float).to_numpy(), published.stop_lon.astype(float).to_numpy(), epsg)
        network.append({
            "trip_id": trip.trip_id, "route_id": trip.route_id, "xy": xy,
            "stop_ids": list(published.index), "stop_xy": np.column_stack([px, py]), "bands": [],
            "events": ev, "event_xy": np.column_stack([ex, ey]),
            "event_names": [name_of.get((trip.trip_id, o), "") for o in ev.stop_id_orig],
            "name": f"{ev.from_terminal.iloc[0]} - {ev.to_terminal.iloc[0]}",
            "fare": float(ev.fare.dropna().iloc[0]) if ev.fare.notna().any() else None,
            "full_rides": 1,
        })
    return network, epsg


def _seconds(hhmmss: pd.Series) -> np.ndarray:
    """Seconds of the day, past midnight continued (23:59 then 00:02 is 86,520)."""
    parts = hhmmss.str.split(":", expand=True).astype(int).to_numpy()
    sec = parts[:, 0] * 3600 + parts[:, 1] * 60 + parts[:, 2]
    return sec + 86400 * np.concatenate([[0], np.cumsum(np.diff(sec) < -43200)])


def _along_in_order(xy: np.ndarray, events: np.ndarray) -> np.ndarray:
    """Metres along the path of each event, in order: the nearest point of the path at or after the previous
    event's (a little penalty for going further: a path that loops passes near a stop twice)."""
    dense = along(xy, 10.0)
    cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(dense, axis=0).T))])
    out, k = [], 0
    for e in events:
        cost = np.hypot(*(dense[k:] - e).T) + 0.05 * (cum[k:] - cum[k])
        k += int(np.argmin(cost))
        out.append(cum[k])
    return np.array(out)


def ride_of(t: dict, k: int, rng: np.random.Generator, epsg: int) -> dict:
    """One collector-schema ride of an observed trip (see the module docstring)."""
    ev, xy = t["events"], t["xy"]
    s = _along_in_order(xy, t["event_xy"])
    sec = _seconds(ev.timestamp).astype(float)
    sec = np.maximum.accumulate(sec)
    wait = float(rng.uniform(120, 1200))
    # the ride goes from one end of the published shape to the other (the first and last events may lie
    # inside it): a wait at its start, then on to the first event at 20 km/h
    lead = float(s[0]) / (20 / 3.6) if s[0] > 30 else 0.0
    t_obs = sec - sec[0] + wait + lead
    dwell = np.clip(5 + 3 * ev.brd_alt.fillna(1).to_numpy(), 5, 90)
    t_knots, s_knots = ([0.0, wait], [0.0, 0.0]) if lead else ([0.0], [float(s[0])])
    for i in range(len(s)):
        half = dwell[i] / 2 if 0 < i < len(s) - 1 else 0.0
        arrive = max(t_obs[i] - half, t_knots[-1] + 1.0) if i else t_obs[0]
        if i:  # traffic: driving at 15-35 km/h, standing in queues the rest of the time
            gap, run_m = arrive - t_knots[-1], s[i] - s_knots[-1]
            driving = run_m / (rng.uniform(15, 35) / 3.6)
            if run_m > 1 and driving < gap - 10:
                queues = np.sort(rng.uniform(s_knots[-1], s[i], 1 + int(run_m // 400)))
                stand = (gap - driving) * rng.dirichlet(np.ones(len(queues)))
                at, pos = t_knots[-1], s_knots[-1]
                for q, st in zip(queues, stand):
                    at += (q - pos) / run_m * driving
                    t_knots += [at, at + st]
                    s_knots += [float(q), float(q)]
                    at, pos = at + st, q
        leave = max(t_obs[i] + half, arrive + (1.0 if half else 0.0))
        t_knots += [arrive, leave]
        s_knots += [float(s[i]), float(s[i])]
    total = float(np.hypot(*np.diff(xy, axis=0).T).sum())
    if total - s[-1] > 30:
        t_knots.append(t_knots[-1] + (total - s[-1]) / (20 / 3.6))
        s_knots.append(total)
    t_knots.append(t_knots[-1] + float(rng.uniform(20, 90)))  # recording a little after arriving
    s_knots.append(s_knots[-1])
    fix_t, lat, lon, acc = gps_fixes(t_knots, s_knots, xy, epsg, HOSTILE, rng)
    day = datetime(2016, 1, 4 + k % 5, tzinfo=GMT) + timedelta(seconds=float(sec[0]) - wait)
    iso = lambda x: (day + timedelta(seconds=round(float(x)))).isoformat(timespec="seconds")  # noqa: E731
    marks = [{"time": iso(tm), "lat": round(float(a), 6), "lon": round(float(o), 6), "kind": "both",
              **({"name": n} if n else {})}
             for tm, a, o, n in zip(t_obs, ev.stop_lat_orig, ev.stop_lon_orig, t["event_names"])]
    doc = {
        "schema_version": "1.0", "trace_id": t["trip_id"], "collector_id": f"a{k % 12:02d}", "mode": "minibus",
        "route_name": t["name"], "origin": ev.from_terminal.iloc[0], "destination": ev.to_terminal.iloc[0],
        "points": [{"time": iso(ti), "lat": round(float(a), 6), "lon": round(float(o), 6),
                    "accuracy": round(float(c), 1)}
                   for ti, a, o, c in zip(fix_t, lat, lon, acc)],
        "stops": marks,
    }
    if t["fare"] is not None:
        doc["fares"] = [{"amount": t["fare"], "currency": "GHS"}]
    return doc


OSM = DATA / "accra-2017-osm-trotro.osm.pbf"
MADE_UP = re.compile(r"^(?:near |between |stop at )|^\d[\d.]* k?m [NESW]{1,2} of ")


def map_scores(result, epsg: int) -> dict:
    """What the extract gave (see the module docstring)."""
    import shapely

    from transitmap.gtfs import read_feed
    from transitmap.osm import read_extract

    roads = read_extract(OSM, epsg)
    tree = shapely.STRtree(shapely.linestrings(roads.xy.reshape(-1, 2), indices=np.repeat(np.arange(len(roads.xy)),
                                                                                            2)))

    def on_roads(lat, lon) -> float:
        pts = shapely.points(np.column_stack(project(np.asarray(lat, float), np.asarray(lon, float), epsg)))
        return len(np.unique(tree.query(pts, predicate="dwithin", distance=3.0)[0])) / max(len(pts), 1)

    def where_mapped(lat, lon) -> tuple[float, float]:
        """(the share of points 40 m or more from every road: the map has none there; of the others, the share
        within 3 m of one)"""
        pts = shapely.points(np.column_stack(project(np.asarray(lat, float), np.asarray(lon, float), epsg)))
        near = np.zeros(len(pts), bool)
        near[tree.query(pts, predicate="dwithin", distance=40.0)[0]] = True
        on = np.zeros(len(pts), bool)
        on[tree.query(pts, predicate="dwithin", distance=3.0)[0]] = True
        return 1 - float(near.mean()), float(on[near].mean())

    def length_on_roads(shapes) -> float:  # of the length: a point every 5 m along each shape
        from transitmap.geo import along

        pts = [along(np.column_stack(project(s["shape_pt_lat"].astype(float).to_numpy(),
                                             s["shape_pt_lon"].astype(float).to_numpy(), epsg)), 5.0)
               for _, s in shapes.groupby("shape_id") if len(s) >= 2]
        latlon = np.vstack(pts)
        hit = tree.query(shapely.points(latlon), predicate="dwithin", distance=3.0)[0]
        return len(np.unique(hit)) / len(latlon)

    feed = read_feed(result.feed, ("shapes", "stops"))
    with zipfile.ZipFile(DATA / "accra-2016-gtfs.zip") as z:
        published = pd.read_csv(z.open("shapes.txt"))
    names = feed.stops["stop_name"].astype(str)
    real = ~names.str.contains(MADE_UP)
    from_map = set(roads.stop_names) | {t.get("name", "").strip() for t in roads.way_tags.values()}
    mapped = names[real].map(lambda n: n in from_map or re.split(" at | near ", n)[0] in from_map)
    shapes = feed.shapes
    unmapped, on_where_mapped = where_mapped(shapes["shape_pt_lat"], shapes["shape_pt_lon"])
    return {"shape_points_within_3m_of_extract_roads": on_roads(shapes["shape_pt_lat"], shapes["shape_pt_lon"]),
            "shape_points_40m_or_more_from_every_road": unmapped,
            "shape_points_within_40m_of_a_road_that_are_within_3m": on_where_mapped,
            "published_shape_points_within_3m": on_roads(published["shape_pt_lat"], published["shape_pt_lon"]),
            "shape_length_within_3m_of_extract_roads": length_on_roads(shapes),
            "published_shape_length_within_3m": length_on_roads(published),
            "stops": len(names), "stops_with_a_real_name": float(real.mean()),
            "real_names_from_the_map": float(mapped.mean()) if len(mapped) else 0.0,
            "osm": result.osm, **routes_osm_scores(result, feed)}


def routes_osm_scores(result, feed) -> dict:
    """routes.osm: route relations against the feed's patterns, way members that are ways of the extract, and
    JOSM's validator where Debian's josm is installed (``java -jar /usr/share/josm/josm.jar validate``)."""
    import subprocess
    import xml.etree.ElementTree as ET

    if result.routes_osm is None:
        return {}
    path = WORK / "routes.osm"
    path.write_bytes(result.routes_osm)
    root = ET.fromstring(result.routes_osm)
    routes = [r for r in root.iter("relation") if any(t.get("k") == "type" and t.get("v") == "route" for t in r)
              and int(r.get("id")) < 0]
    ways = [int(m.get("ref")) for r in routes for m in r.iter("member") if m.get("type") == "way"]
    out = {"route_relations": len(routes), "patterns": int(feed.shapes["shape_id"].nunique()),
           "relations_per_pattern": len(routes) / max(feed.shapes["shape_id"].nunique(), 1),
           "way_members": len(ways), "way_members_existing": sum(w > 0 for w in ways) / max(len(ways), 1),
           "ways_split": sum(1 for w in root.iter("way") if int(w.get("id")) < 0),
           "existing_relations_updated": sum(1 for r in root.iter("relation") if int(r.get("id")) > 0)}
    josm = Path("/usr/share/josm/josm.jar")
    if josm.exists():
        found = WORK / "routes.osm.geojson"
        subprocess.run(["java", "-jar", str(josm), "validate", "-i", str(path), "-o", str(found)],
                       capture_output=True, timeout=600, cwd=WORK)
        features = [f for chunk in found.read_text().split("\x1e") if chunk.strip()
                    for f in json.loads(chunk)["features"]]
        severity = [f["properties"].get("severity") for f in features]
        out["josm_errors"], out["josm_warnings"] = severity.count("Errors"), severity.count("Warnings")
        out["josm_messages"] = sorted({f"{f['properties'].get('severity')}: {f['properties'].get('message')}"
                                       for f in features if f["properties"].get("severity")})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--misses", action="store_true", help="list the missed routes, unmatched outputs, wrong fares")
    ap.add_argument("--unnamed", action="store_true", help="stop marks without names")
    ap.add_argument("--osm", action="store_true", help="build with the OpenStreetMap extract of Accra's trotro roads")
    args = ap.parse_args()
    if not (DATA / "accra-2016-observations.zip").exists():
        sys.exit(f"{DATA} has no Accra data: this benchmark needs ../shared/data")
    network, epsg = load(DATA)
    rng = np.random.default_rng(args.seed)
    folder = WORK / f"survey-{args.seed}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for k, t in enumerate(network):
        doc = ride_of(t, k, rng, epsg)
        if args.unnamed:
            doc["stops"] = [{f: v for f, v in m.items() if f != "name"} for m in doc["stops"]]
        (folder / f"{t['trip_id']}.json").write_bytes(msgspec.json.encode(doc))
    print(f"network: {len(network)} routes ridden once each, {sum(len(t['events']) for t in network):,} stop events")
    t0 = time.perf_counter()
    result = build_network([folder], BuildConfig(currency="GHS", osm_extract=str(OSM) if args.osm else None))
    seconds = time.perf_counter() - t0
    fares = {t["route_id"]: t["fare"] for t in network}  # None: no fare recorded, not scored
    rode = {f"{t['trip_id']}.json": t["trip_id"] for t in network}
    misses, scores = score(network, epsg, result, fares, rode)
    scores = {k: v for k, v in scores.items() if not k.startswith(("headway", "od_", "patterns_recoverable"))
              and "recoverable" not in k}
    scores["build_s"] = round(seconds, 1)
    scores["rides_used"] = sum(1 for r in result.ledger_rows if r.status == "used")
    if args.osm or args.unnamed:
        scores.update(map_scores(result, epsg))
    print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in scores.items()}, indent=2))
    if args.misses:
        ledger = pd.DataFrame(result.ledger_rows)
        for trip_id in misses["truth_missed"]:
            print("missed", trip_id, list(ledger[ledger.trace_id == trip_id].trip_id))
        for trip_id in misses["output_unmatched"]:
            print("unmatched output", trip_id, list(ledger[ledger.trip_id == trip_id].trace_id))
        for route_id, price, truth_fare in misses["fare_wrong"]:
            print("fare", route_id, price, "truth", truth_fare, list(ledger[ledger.route_id == route_id].trace_id))


if __name__ == "__main__":
    main()

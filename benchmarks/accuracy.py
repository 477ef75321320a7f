"""Accuracy of `transitmap build` against a real network: simulated collectors ride the Nairobi 2019 matatu
network (Digital Matatus), the feed built from their traces is scored against the network.

    python benchmarks/accuracy.py [--routes N] [--seed 1] [--friendly]   # needs ../shared/data/nairobi-2019-gtfs.zip

Collectors behave as real ones do (see transitmap.simulate): GPS noise of 3-12 m correlated in time, 0.5 %
spikes of 100-800 m, signal gaps of 30-240 s, a fix every 1-10 s, waits of 2-20 min at the rank with the
departures seen meanwhile, stops at the marked stops and at unmarked traffic stops, 10 % partial rides, 3 %
fare typos (ten times the fare), route names misspelled (15 %) or missing (15 %); on average two rides per
direction, some directions with one. The network has no fares: each route gets a known fare as truth.

By default the survey is as hostile as real ones (``simulate.HOSTILE``): passengers' board and alight marks
all along, vehicles standing unmarked at the same junctions ride after ride, ad-hoc stops marked for one
passenger, rides named by their collector (6 %) or by their terminals (12 %), fares in Sierra Leonean leones
written in the withdrawn code (SLL, 1,000 times the SLE amount) in 40 % of the JSON rides, and a third of the
rides uploaded as OSMTracker GPX: no collector, route or fare field, the fare in a note in local notation
(``Le 5,000``), the file named ``<route>___<A|B>___<collector>___HP_<time>.gpx`` (60 %) or by the app's
clock; the JSON rides as ``<collector>/<collector>-<seq>.json``. ``--friendly`` rides as before (JSON Lines,
KES, no hostile behaviour).

Scores (the issue's definitions): a pattern matches when >= 80 % of each lies within 50 m of the other, in
the same direction; recall = truth patterns matched, precision = output patterns that are the best match of a
truth pattern (duplicates count against it); shape error = median distance of the output shape to the truth;
patterns are
matched one to one (best score first), so a duplicate output counts against precision;
stops within 40 m; headway error where departures were observed; fares exact, per route and per
origin-destination pair (riders of less than half a route pay 70 % of its fare). A pattern that nobody rode
in full cannot be recovered (its rides are published as ridden): `_recoverable` figures leave those patterns
out of recall, and the outputs made only of their rides out of precision.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import time
import zipfile
from dataclasses import replace
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
import shapely

from transitmap.config import BuildConfig
from transitmap.geo import Path as IndexedPath
from transitmap.geo import along, project, unproject, utm_epsg
from transitmap.model import TIME_BANDS, code_key
from transitmap.pipeline import build_network, validate_inputs
from transitmap.simulate import HOSTILE, NOTES, RideProfile, RouteSpec, at, fare_note, osmtracker_gpx, ride

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "nairobi-2019-gtfs.zip"
WORK = Path(__file__).resolve().parent / "_work" / "accuracy"


def load_network(path: Path, limit: int | None):
    z = zipfile.ZipFile(path)
    read = lambda n: pd.read_csv(z.open(n), dtype=str, keep_default_na=False)  # noqa: E731
    routes, trips, shapes = read("routes.txt"), read("trips.txt"), read("shapes.txt")
    stop_times, stops, freqs = read("stop_times.txt"), read("stops.txt"), read("frequencies.txt")
    route_ids = sorted(routes.route_id)[:limit] if limit else sorted(routes.route_id)
    trips = trips[trips.route_id.isin(route_ids)]
    shapes["seq"] = shapes.shape_pt_sequence.astype(int)
    stop_times["seq"] = stop_times.stop_sequence.astype(int)
    stops = stops.set_index("stop_id")
    epsg = utm_epsg(-1.29, 36.82)
    out = []
    for trip in trips.itertuples():
        sh = shapes[shapes.shape_id == trip.shape_id].sort_values("seq")
        lat, lon = sh.shape_pt_lat.astype(float).to_numpy(), sh.shape_pt_lon.astype(float).to_numpy()
        x, y = project(lat, lon, epsg)
        line = shapely.linestrings(np.column_stack([x, y]))
        st = stop_times[stop_times.trip_id == trip.trip_id].sort_values("seq")
        slat = stops.loc[st.stop_id, "stop_lat"].astype(float).to_numpy()
        slon = stops.loc[st.stop_id, "stop_lon"].astype(float).to_numpy()
        sx, sy = project(slat, slon, epsg)
        frac = shapely.line_locate_point(line, shapely.points(sx, sy)) / shapely.length(line)
        frac = np.maximum.accumulate(np.clip(frac, 0, 1))
        hw = freqs[freqs.trip_id == trip.trip_id].headway_secs.astype(float)
        r = routes[routes.route_id == trip.route_id].iloc[0]
        out.append({
            "trip_id": trip.trip_id, "route_id": trip.route_id, "direction": int(trip.direction_id),
            "name": f"{r.route_short_name} {r.route_long_name}".strip(), "short": r.route_short_name, "lat": lat,
            "lon": lon, "xy": np.column_stack([x, y]),
            "stop_ids": list(st.stop_id), "stop_names": list(stops.loc[st.stop_id, "stop_name"]), "stop_frac": frac,
            "stop_xy": np.column_stack([sx, sy]), "headway_s": float(hw.median()) if len(hw) else 600.0,
            "bands": [(_sec(a), _sec(b), float(h)) for a, b, h in freqs[freqs.trip_id == trip.trip_id][
                ["start_time", "end_time", "headway_secs"]].itertuples(index=False)],
            "length_m": float(shapely.length(line)),
        })
    return out, epsg


#: Places the siblings' new terminals are named after (made up: no real network has them)
_NEW_PLACES = ("Zone Stage", "Central Park", "Mwiki Junction", "Kwa Njenga", "Bondeni Market", "Githogoro",
               "Soko Mjinga", "Kamulu Stage", "Ruai Terminus", "Gachie", "Muthaiga North", "Kahawa Wendani",
               "Mlolongo Stage", "Ongata Line", "Kitengela Stage", "Dagoretti Market", "Riruta Satellite",
               "Njiru Shopping", "Utawala Gate", "Kamakis Corner")


def hostile_network(network: list[dict], epsg: int, rng: np.random.Generator) -> list[dict]:
    """The network made as hostile as West African trunk roads and their riders: a quarter of the routes
    numbered letters first (``QX012``), and for one route in six a sibling service (another number, another
    terminal) that runs its road for 82-90 % of its length before turning off to a terminal of its own (both
    ways): distinct services sharing a road. Siblings are ridden less (variants ridden once)."""
    out = []
    by_route: dict[str, list[dict]] = {}
    for t in network:
        by_route.setdefault(t["route_id"], []).append(t)
    for k, route_id in enumerate(sorted(by_route)):
        trips = by_route[route_id]
        if rng.random() < 0.25 and trips[0]["short"]:
            digits = "".join(ch for ch in trips[0]["short"] if ch.isdigit())[:3] or str(k)
            code = "".join(rng.choice(list("ABCDEFGHJKLMNPQRSTUVWXZ"), 2)) + digits.zfill(3)
            for t in trips:
                t["name"] = t["name"].replace(t["short"], code, 1) if t["short"] else t["name"]
                t["short"] = code
        out += trips
        if rng.random() < 1 / 6:
            out += _siblings(trips, epsg, rng, f"{route_id}S", _NEW_PLACES[k % len(_NEW_PLACES)])
    return out


def _siblings(trips: list[dict], epsg: int, rng: np.random.Generator, route_id: str, place: str) -> list[dict]:
    """A service that runs the road of ``trips[0]`` for 82-90 % of it, then turns off to ``place``; both ways."""
    t = min(trips, key=lambda x: x["direction"])
    xy = t["xy"]
    cum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])
    cut = float(rng.uniform(0.82, 0.9)) * cum[-1]
    k = int(np.searchsorted(cum, cut))
    head = xy[: max(k, 2)]
    d = head[-1] - head[-2]
    angle = np.arctan2(d[1], d[0]) + np.radians(rng.choice([-1, 1]) * rng.uniform(40, 70))
    leg_m = (cum[-1] - cut) * rng.uniform(1.0, 1.3)
    steps = np.linspace(0, 1, 12)[1:]
    bend = angle + np.radians(rng.uniform(-15, 15)) * steps  # a road that bends a little
    leg = head[-1] + np.cumsum(np.column_stack([np.cos(bend), np.sin(bend)]) * leg_m / len(steps), axis=0)
    path = np.vstack([head, leg])
    total = float(np.hypot(*np.diff(path, axis=0).T).sum())
    keep = [i for i, f in enumerate(t["stop_frac"]) if f * cum[-1] < cut - 100]
    fracs = [float(t["stop_frac"][i] * cum[-1] / total) for i in keep] + [
        (cut + 0.5 * leg_m) / total, 1.0]
    names = [t["stop_names"][i] for i in keep] + [f"{place} Road", place]
    ids = [t["stop_ids"][i] for i in keep] + [f"{route_id}_road", f"{route_id}_end"]  # the road's stops are shared
    code = "".join(rng.choice(list("ABCDEFGHJKLMNPQRSTUVWXZ"), 2)) + f"{int(rng.integers(1, 999)):03d}"
    lat, lon = unproject(path[:, 0], path[:, 1], epsg)
    pcum = np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(path, axis=0).T))])
    sxy = np.vstack([t["stop_xy"][keep].reshape(-1, 2)]
                    + [np.array([[np.interp(f * total, pcum, path[:, 0]), np.interp(f * total, pcum, path[:, 1])]])
                       for f in fracs[len(keep):]])
    out = []
    for direction, order in ((0, slice(None)), (1, slice(None, None, -1))):
        p_xy, p_lat, p_lon = path[order], lat[order], lon[order]
        f = np.array(fracs) if direction == 0 else (1.0 - np.array(fracs))[::-1]
        nm = names if direction == 0 else names[::-1]
        ends = (nm[0], nm[-1])
        out.append({
            "trip_id": f"{route_id}_{direction}", "route_id": route_id, "direction": direction,
            "name": f"{code} {ends[0]} - {ends[1]}", "short": code, "lat": p_lat, "lon": p_lon, "xy": p_xy,
            "stop_ids": ids if direction == 0 else ids[::-1],
            "stop_names": list(nm), "stop_frac": f, "stop_xy": sxy[order] if direction == 0 else sxy[::-1],
            "headway_s": t["headway_s"] * 1.5, "bands": [(a, b, h * 1.5) for a, b, h in t["bands"]],
            "length_m": total, "sibling": True,
        })
    return out


def _sec(hhmmss: str) -> int:
    h, m, s = map(int, hhmmss.split(":"))
    return h * 3600 + m * 60 + s


#: How hostile riders name their rides (``simulate.ride``'s name variants) and how often
VARIANTS = ["same", "code", "code_terminals", "lower", "word_code", "terminals", "terminals_typo", "typo", None,
            "collector"]
VARIANT_SHARES = [0.2, 0.12, 0.12, 0.06, 0.06, 0.1, 0.06, 0.08, 0.14, 0.06]


def simulate(network, seed: int, folder: Path, hostile: bool = True) -> tuple[int, int, dict]:
    rng = np.random.default_rng(seed)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    fares = {}
    lines, n_rides, n_points, truth = [], 0, 0, []
    currency = "SLE" if hostile else "KES"
    for t in network:
        base = float(5 + int(t["length_m"] // 5000)) if hostile else float(50 + 10 * int(t["length_m"] // 5000))
        fare = fares.setdefault(t["route_id"], base)
        spec = RouteSpec(t["trip_id"], t["name"], tuple(zip(t["lat"], t["lon"])), tuple(t["stop_names"]),
                         tuple(t["stop_frac"]), fare=fare, currency=currency, code=t["short"] or None)
        profile = replace(HOSTILE, headway_s=t["headway_s"]) if hostile else RideProfile(headway_s=t["headway_s"])
        rides = int(np.clip(rng.poisson(1.0), 1, 2)) if t.get("sibling") else int(np.clip(rng.poisson(2.0), 1, 4))
        for k in range(rides):
            if hostile:  # riders write one route's name many ways: the number alone, with its terminals, ...
                variant = rng.choice(VARIANTS, p=VARIANT_SHARES)
            else:
                variant = rng.choice(["same", "typo", None], p=[0.7, 0.15, 0.15])
            start = at(2026, 3, 2 + int(rng.integers(0, 5)), int(rng.integers(6, 19)), int(rng.integers(0, 60)), 3)
            # the departures seen at the rank are the network's in the band the ride starts in
            sec = start.hour * 3600 + start.minute * 60
            band = [h for a, b, h in t["bands"] if a <= sec < b]
            profile = replace(profile, headway_s=band[0] if band else t["headway_s"])
            collector = f"c{int(rng.integers(0, 40)):02d}"
            doc = ride(spec, start, rng, trace_id=f"{t['trip_id']}-{k}", collector_id=collector,
                       profile=profile, name_variant=variant)
            if rng.random() < 0.03:
                doc["fares"] = [{"amount": f["amount"] * 10, "currency": f["currency"]} for f in doc["fares"]]
            n_rides += 1
            t["full_rides"] = t.get("full_rides", 0) + int("origin" in doc and "destination" in doc)
            n_points += len(doc["points"])
            if not hostile:
                lines.append(msgspec.json.encode(doc))
                truth.append((doc["trace_id"], t["trip_id"]))
            elif rng.random() < 1 / 3:  # OSMTracker: the fare in a note on the first mark, names in the path
                note, _ = fare_note(doc["fares"][0]["amount"], currency, rng)
                when = start.strftime("%Y-%m-%d_%H-%M-%S")
                name = (f"{t['short'].replace('/', '-')}___{'AB'[t['direction']]}___{collector}___HP_{when}.gpx"
                        if t["short"] and rng.random() < 0.6 else f"{when}.gpx")
                (folder / "gpx").mkdir(exist_ok=True)
                (folder / "gpx" / name).write_bytes(osmtracker_gpx(doc, {0: note} if doc.get("stops") else {}))
                truth.append((f"gpx/{name}", t["trip_id"]))
            else:
                if rng.random() < 0.4:  # the withdrawn code, in old leones
                    doc["fares"] = [{"amount": f["amount"] * 1000, "currency": "SLL"} for f in doc["fares"]]
                (folder / collector).mkdir(exist_ok=True)
                (folder / collector / f"{collector}-{n_rides:04d}.json").write_bytes(msgspec.json.encode(doc))
                truth.append((f"{collector}/{collector}-{n_rides:04d}.json", t["trip_id"]))
    for i in range(0, len(lines), 100):
        (folder / f"part{i // 100:04d}.jsonl").write_bytes(b"\n".join(lines[i : i + 100]) + b"\n")
    # which truth pattern each ride rode (a file, or a trace_id in JSON Lines), beside the survey, for --misses
    (folder.parent / f"{folder.name}-truth.csv").write_text(
        "ride,trip_id\n" + "".join(f"{a},{b}\n" for a, b in truth))
    return n_rides, n_points, fares


def score(network, epsg: int, result, fares: dict, rode: dict | None = None) -> dict:
    z = zipfile.ZipFile(io.BytesIO(result.feed))
    read = lambda n: pd.read_csv(z.open(n), dtype=str, keep_default_na=False)  # noqa: E731
    trips, shapes, stops = read("trips.txt"), read("shapes.txt"), read("stops.txt")
    stops = stops[stops.get("location_type", "0").isin(["", "0"])]  # boarding points, not the stations of ranks
    fa = read("fare_attributes.txt") if "fare_attributes.txt" in z.namelist() else pd.DataFrame(columns=["fare_id",
                                                                                                         "price"])
    out = []
    # a pattern is a shape: a band's trip of a pattern (R001_0_am_peak, its own times) runs on the pattern's shape
    trips = trips.sort_values("trip_id").drop_duplicates("shape_id")
    for trip in trips.itertuples():
        sh = shapes[shapes.shape_id == trip.shape_id]
        x, y = project(sh.shape_pt_lat.astype(float).to_numpy(), sh.shape_pt_lon.astype(float).to_numpy(), epsg)
        out.append((trip.route_id, trip.trip_id, IndexedPath(along(np.column_stack([x, y]), 10.0))))
    truth = [IndexedPath(along(t["xy"], 10.0)) for t in network]

    def cover(a, b):
        idx, dist = b.nearest(a.xy)
        near = dist <= 50
        steps = np.diff(idx[near])
        steps = steps[steps != 0]
        return float(near.mean()), (float((steps > 0).mean()) if len(steps) else 0.0)

    # Patterns match one to one: each qualifying (truth, output) pair by score, best first, while both are
    # free. Near-identical truth patterns (two route numbers on one road) then need two outputs.
    tree = shapely.STRtree([shapely.linestrings(o[2].xy) for o in out])
    candidates = []
    for ti, tp in enumerate(truth):
        for oi in tree.query(shapely.linestrings(tp.xy), predicate="dwithin", distance=50):
            s1, f1 = cover(tp, out[oi][2])
            s2, f2 = cover(out[oi][2], tp)
            if s1 >= 0.8 and s2 >= 0.8 and f1 >= 0.7 and f2 >= 0.7:
                candidates.append((-(s1 + s2), ti, int(oi)))
    recoverable = [ti for ti, t in enumerate(network) if t.get("full_rides", 0) > 0]
    pairs: dict[int, int] = {}
    taken: set[int] = set()
    for _, ti, oi in sorted(candidates):
        if ti not in pairs and oi not in taken:
            pairs[ti] = oi
            taken.add(oi)
    matched = len(pairs)
    shape_err = [float(np.median(shapely.distance(shapely.points(out[oi][2].xy), shapely.linestrings(truth[ti].xy))))
                 for ti, oi in pairs.items()]
    # stops
    sx, sy = project(stops.stop_lat.astype(float).to_numpy(), stops.stop_lon.astype(float).to_numpy(), epsg)
    ours = shapely.points(sx, sy)
    truth_stops = {}
    for t in network:
        for sid, (a, b) in zip(t["stop_ids"], t["stop_xy"]):
            truth_stops[sid] = (a, b)
    tpts = shapely.points(np.array(list(truth_stops.values())))
    d_truth = shapely.STRtree(ours).query_nearest(tpts, return_distance=True)[1]
    d_ours = shapely.STRtree(tpts).query_nearest(ours, return_distance=True)[1]
    stop_pairs = one_to_one_stops(np.column_stack([sx, sy]), np.array(list(truth_stops.values())), 40.0)
    # per pattern: each matched output trip's stops against its truth pattern's, one to one (what a rider of the
    # trip meets; the two sides of a road are two stops there)
    st_all = read("stop_times.txt")
    st_all["seq"] = st_all.stop_sequence.astype(int)
    where = dict(zip(stops.stop_id, zip(sx, sy)))
    per_trip = {tid: np.array([where[s] for s in g.sort_values("seq").stop_id if s in where]).reshape(-1, 2)
                for tid, g in st_all.groupby("trip_id")}
    pp_match = pp_out = pp_truth = 0
    for ti, oi in pairs.items():
        mine = per_trip.get(out[oi][1], np.empty((0, 2)))
        pp_match += len(one_to_one_stops(mine, network[ti]["stop_xy"], 40.0))
        pp_out += len(mine)
        pp_truth += len(network[ti]["stop_xy"])
    # headways where departures were observed, and fares
    hw_err, hw_all = [], []
    rows = pd.DataFrame(result.headway_rows)
    for ti, oi in pairs.items():
        own = [out[oi][1]] + [f"{out[oi][1]}_{band}" for band, _, _ in TIME_BANDS]  # with its bands' trips
        for h in rows[rows.trip_id.isin(own)].itertuples():
            band = [hw for a, b, hw in network[ti]["bands"] if a <= h.start_time < b]
            if band:
                (hw_err if h.provenance == "observed" else []).append(abs(h.headway_s - band[0]) / band[0])
                hw_all.append(abs(h.headway_s - band[0]) / band[0])
    fare_ok = fare_n = 0
    fare_wrong = []
    price = dict(zip(fa.fare_id, fa.price.astype(float)))
    for ti, oi in pairs.items():
        if fares.get(network[ti]["route_id"]) is None:
            continue  # nobody recorded a fare (real surveys)
        fare_n += 1
        ok = abs(price.get(out[oi][0], -1) - fares[network[ti]["route_id"]]) < 0.005
        fare_ok += ok
        if not ok:
            fare_wrong.append((out[oi][0], price.get(out[oi][0]), fares[network[ti]["route_id"]]))
    # Origin-destination fares: riders of less than half the route pay 70 % (simulate.ride); scored on the
    # matched patterns, pairs near half the route left out (our stops are not exactly the network's)
    od_ok = od_n = 0
    rules = read("fare_rules.txt") if "fare_rules.txt" in z.namelist() else pd.DataFrame(columns=["fare_id"])
    st = read("stop_times.txt")
    st["dist"] = st.shape_dist_traveled.astype(float)
    od_rules = rules[rules["origin_id"].fillna("") != ""] if "origin_id" in rules else rules.iloc[0:0]
    for rule in od_rules.itertuples():
        for ti, oi in pairs.items():
            if out[oi][0] != rule.route_id:
                continue
            trip = st[st.trip_id == out[oi][1]].set_index("stop_id").dist
            if rule.origin_id in trip.index and rule.destination_id in trip.index:
                share = (trip[rule.destination_id] - trip[rule.origin_id]) / trip.max()
                if share <= 0 or 0.45 <= share <= 0.55:
                    continue
                full = fares[network[ti]["route_id"]]
                od_n += 1
                od_ok += abs(price[rule.fare_id] - (full if share > 0.5 else round(full * 0.7))) < 0.005
                break
    # outputs made only of rides of patterns nobody rode in full: published as ridden, and no tool could do
    # better; precision over the others (the recoverable recall's counterpart)
    unrecoverable = {t["trip_id"] for t in network if not t.get("full_rides", 0)}
    truths_of: dict[str, set] = {}
    for row in result.ledger_rows:
        if row.trip_id and rode:
            truths_of.setdefault(row.trip_id, set()).add(rode.get(row.file, rode.get(row.trace_id, "?")))
    partial_only = {oi for oi in range(len(out)) if truths_of.get(out[oi][1]) and truths_of[out[oi][1]]
                    <= unrecoverable}
    # route identity: the matched output's route_short_name is the route's number as the network has it
    routes_txt = read("routes.txt").set_index("route_id")
    codes_right = sum(code_key(str(routes_txt.at[out[oi][0], "route_short_name"])) == code_key(network[ti]["short"])
                      for ti, oi in pairs.items() if network[ti].get("short"))
    # names riders read: stop names, headsigns and long names that are notes a collector typed (simulate.NOTES)
    notes = {_fold(n.format(a=a, b=b)) for n in NOTES for a, b in [("", "")]} | {_fold(n) for n in NOTES if "{" not
                                                                                 in n}
    said = list(read("stops.txt").stop_name) + list(read("trips.txt").get("trip_headsign", pd.Series(dtype=str))) \
        + list(routes_txt.route_long_name)
    notes_published = sum(any(note and f" {note} " in f" {_fold(x)} " for note in notes) for x in said if x)
    misses = {"truth_missed": [network[ti]["trip_id"]
                               + ("" if network[ti].get("full_rides") else " (nobody rode it in full)")
                               for ti in range(len(truth)) if ti not in pairs],
              "name_wrong": [(network[ti]["short"], routes_txt.at[out[oi][0], "route_short_name"],
                              routes_txt.at[out[oi][0], "route_long_name"]) for ti, oi in pairs.items()
                             if network[ti].get("short")
                             and code_key(str(routes_txt.at[out[oi][0], "route_short_name"]))
                             != code_key(network[ti]["short"])],
              "output_unmatched": [out[oi][1] for oi in range(len(out)) if oi not in taken],
              "fare_wrong": sorted(set(fare_wrong))}
    return misses, {
        "patterns_truth": len(truth), "patterns_output": len(out),
        "pattern_recall": matched / len(truth), "pattern_precision": len(taken) / max(len(out), 1),
        "patterns_recoverable": len(recoverable),
        "pattern_recall_recoverable": sum(ti in pairs for ti in recoverable) / max(len(recoverable), 1),
        "pattern_precision_recoverable": len(taken - partial_only) / max(len(out) - len(partial_only), 1),
        "shape_error_median_m": float(np.median(shape_err)) if shape_err else None,
        "stops_truth": len(truth_stops), "stops_output": len(sx),
        "stop_recall": pp_match / max(pp_truth, 1), "stop_precision": pp_match / max(pp_out, 1),
        "stop_recall_network": len(stop_pairs) / max(len(truth_stops), 1),
        "stop_precision_network": len(stop_pairs) / max(len(sx), 1),
        "stop_recall_nearest": float((d_truth <= 40).mean()), "stop_precision_nearest": float((d_ours <= 40).mean()),
        "headway_error_median": float(np.median(hw_all)) if hw_all else None, "headway_bands_scored": len(hw_all),
        "headway_error_observed": float(np.median(hw_err)) if hw_err else None,
        "short_names_right": (codes_right / coded) if (coded := sum(1 for ti in pairs if network[ti].get("short")))
        else None,  # a network without route numbers (Accra) has none to get right
        "published_notes": notes_published,
        "fares_exact": fare_ok / max(fare_n, 1),
        "od_fares": od_n, "od_fares_exact": od_ok / max(od_n, 1),
    }


def marks_baseline(folder: Path, network, epsg: int, rode: dict) -> dict:
    """The stops of a tool that takes, for each pattern, the marks of its longest ride as they are (scored one
    to one as ours are): what inferring stops must beat."""
    run = validate_inputs([folder], keep_traces=True)
    longest: dict[str, object] = {}
    for c in run.checks:
        trip = rode.get(c.trace.source, rode.get(c.trace.trace_id))
        if trip and (trip not in longest or c.length_m > longest[trip].length_m):
            longest[trip] = c
    matched = n_marks = n_truth = 0
    for t in network:  # per pattern, as ours are scored
        c = longest.get(t["trip_id"])
        if c is None or not c.trace.stops:
            continue
        x, y = project(np.array([s.lat for s in c.trace.stops]), np.array([s.lon for s in c.trace.stops]), epsg)
        matched += len(one_to_one_stops(np.column_stack([x, y]), t["stop_xy"], 40.0))
        n_marks += len(x)
        n_truth += len(t["stop_xy"])
    return {"stop_recall_marks_of_longest_ride": matched / max(n_truth, 1),
            "stop_precision_marks_of_longest_ride": matched / max(n_marks, 1)}


def one_to_one_stops(ours: np.ndarray, truth: np.ndarray, within_m: float) -> list[tuple[int, int]]:
    """Stops matched one to one (the nearest pairs first, each stop at most once): a stop published twice at
    one place counts once, its double against precision."""
    if not len(ours) or not len(truth):
        return []
    tree = shapely.STRtree(shapely.points(truth))
    i, j = tree.query(shapely.points(ours), predicate="dwithin", distance=within_m)
    d = np.hypot(*(ours[i] - truth[j]).T)
    pairs, used_o, used_t = [], set(), set()
    for k in np.argsort(d, kind="stable"):
        a, b = int(i[k]), int(j[k])
        if a not in used_o and b not in used_t:
            pairs.append((a, b))
            used_o.add(a)
            used_t.add(b)
    return pairs


def _fold(text: str) -> str:
    return " ".join(str(text).casefold().replace(":", " ").split())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--routes", type=int, default=None, help="only the first N routes (by route_id)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--misses", action="store_true", help="list the missed truth patterns and unmatched outputs")
    ap.add_argument("--friendly", action="store_true", help="collectors and files without the hostile behaviour")
    ap.add_argument("--reuse", action="store_true", help="build the survey simulated before again (no new simulation)")
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} not found: this benchmark needs ../shared/data")
    network, epsg = load_network(DATA, args.routes)
    if not args.friendly:
        network = hostile_network(network, epsg, np.random.default_rng(args.seed + 1000))
    folder = WORK / f"survey-{args.routes or 'all'}-{args.seed}{'-friendly' if args.friendly else ''}"
    meta = folder.parent / f"{folder.name}-meta.json"
    if args.reuse and meta.exists():  # the survey as simulated before (the same seed makes the same survey)
        saved = json.loads(meta.read_text())
        n_rides, n_points, fares = saved["rides"], saved["points"], saved["fares"]
        for t in network:
            t["full_rides"] = saved["full_rides"].get(t["trip_id"], 0)
    else:
        n_rides, n_points, fares = simulate(network, args.seed, folder, hostile=not args.friendly)
        meta.write_text(json.dumps({"rides": n_rides, "points": n_points, "fares": fares,
                                    "full_rides": {t["trip_id"]: t.get("full_rides", 0) for t in network}}))
    print(f"network: {len({t['route_id'] for t in network})} routes, {len(network)} patterns, "
          f"{sum(t['length_m'] for t in network) / 1000:,.0f} km; survey: {n_rides} rides, {n_points:,} points")
    t0 = time.perf_counter()
    result = build_network([folder], BuildConfig(currency="KES" if args.friendly else "SLE"))
    seconds = time.perf_counter() - t0
    (folder / "feed").mkdir(exist_ok=True)
    (folder / "feed" / "gtfs.zip").write_bytes(result.feed)  # for ../shared/tools/feedcheck
    truth = pd.read_csv(folder.parent / f"{folder.name}-truth.csv", dtype=str)
    misses, scores = score(network, epsg, result, fares, dict(zip(truth.ride, truth.trip_id)))
    scores.update(marks_baseline(folder, network, epsg, dict(zip(truth.ride, truth.trip_id))))
    scores["build_s"] = round(seconds, 1)
    scores["rides_used"] = sum(1 for r in result.ledger_rows if r.status == "used")
    print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in scores.items()}, indent=2))
    print(f"feed: {folder / 'feed' / 'gtfs.zip'}")
    if args.misses:
        ledger = pd.DataFrame(result.ledger_rows)
        rode = dict(zip(truth.ride, truth.trip_id))
        ledger["truth"] = [rode.get(f, rode.get(t, "?")) for f, t in zip(ledger.file, ledger.trace_id)]
        for short, got, long_name in misses["name_wrong"]:
            print("name", short, "published", repr(got), repr(long_name))
        for trip_id in misses["truth_missed"]:
            rows = ledger[ledger.truth == trip_id.split(" ")[0]]
            print("missed", trip_id, [f"{r.file}:{r.trip_id}:{r.ride}" for r in rows.itertuples()])
        for trip_id in misses["output_unmatched"]:
            rows = ledger[ledger.trip_id == trip_id]
            print("unmatched output", trip_id, [f"{r.file}:{r.truth}:{r.ride}" for r in rows.itertuples()])
        for route_id, price, truth_fare in misses["fare_wrong"]:
            print("fare", route_id, price, "truth", truth_fare, list(ledger[ledger.route_id == route_id].file))


if __name__ == "__main__":
    main()

"""`transitmap build` on real recordings as collectors upload them (../shared/data), scored against the labels
they carry.

    python benchmarks/real.py [--out benchmarks/_work/real]      # needs ../shared/data

- **Alajuela** (`costa-rica-alajuela-2017-gpx.zip`): OSMTracker GPX in one folder per service and direction
  (`bus_alajuela-santabarbara/`, `tren_atlántico-alajuela/` ...), most under `asistentes/<first name>_<date>.gpx`.
  Pairwise ride assignment: over all pairs of rides used, two rides are "the same route and direction" in the
  truth when their service folders are the same, in the output when the ledger gives them the same route and
  direction; precision and recall of the output's "same" pairs. Also: routes, the train's route_type, and a
  scan of every output meant for others (all but the ledger `traces.csv` and `report.json`, which stay with
  the coordinator) for the collectors' first names from the file names.
- **Khartoum** (`khartoum-2023-gpx.zip`): 64 OSMTracker GPX, one ride of one route each, named by district and
  route number (`JBL_13.gpx`); 6 are byte copies of others; 11 write their times in Arabic-Indic digits.
  Rides used, copies found as duplicates, routes whose name carries the route number of their rides' files.
- **Xalapa** (`xalapa-mapaton-geojson.zip`): a mapping campaign's GeoJSON routes with no time per point, one
  folder per concession route (`009/ida/`, `009/vuelta/`), TransitWand stop files with stop-to-stop times and
  headways per period. The feed's shapes against the recorded lines (distance of each recorded point to its
  trip's shape), routes against folders (pairwise) and where the times come from.

Prints one JSON document of figures.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
import unicodedata
import zipfile
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import shapely
from click.testing import CliRunner

from transitmap.cli import main
from transitmap.geo import project, utm_epsg

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
PRIVATE_OUTPUTS = {"traces.csv", "report.json", ".transitmap-output"}


def build(source: Path, out: Path) -> tuple[int, float]:
    if out.exists():
        shutil.rmtree(out)
    t = time.perf_counter()
    res = CliRunner().invoke(main, ["build", str(source), "--out", str(out), "--no-validate", "-q"])
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, time.perf_counter() - t


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def public_text(out: Path) -> list[tuple[str, str]]:
    """(name, text) of every output meant for others, zip members one by one, folded."""
    found = []
    for p in sorted(out.rglob("*")):
        if not p.is_file() or p.name in PRIVATE_OUTPUTS:
            continue
        if p.suffix == ".zip":
            with zipfile.ZipFile(p) as z:
                found += [(f"{p.name}!{n}", fold(z.read(n).decode("utf-8", "replace"))) for n in z.namelist()]
        else:
            found.append((str(p.relative_to(out)), fold(p.read_bytes().decode("utf-8", "replace"))))
    return found


def pairwise(truth: list[str], found: list[tuple]) -> dict:
    tp = fp = fn = 0
    for (ta, fa), (tb, fb) in combinations(zip(truth, found), 2):
        same_t, same_f = ta == tb, fa == fb
        tp += same_t and same_f
        fp += same_f and not same_t
        fn += same_t and not same_f
    return {"pairs": len(truth) * (len(truth) - 1) // 2, "precision": round(tp / max(tp + fp, 1), 4),
            "recall": round(tp / max(tp + fn, 1), 4)}


def alajuela(out: Path) -> dict:
    src = DATA / "costa-rica-alajuela-2017-gpx.zip"
    code, seconds = build(src, out)
    ledger = pd.read_csv(out / "traces.csv", dtype=str, keep_default_na=False)
    used = ledger[ledger.status == "used"]
    folder = used.file.str.extract(r"!alajuela-2017/([^/]+)/")[0]
    figures = pairwise(list(folder), list(zip(used.route_id, used.direction_id)))
    with zipfile.ZipFile(out / "gtfs.zip") as z:
        routes = pd.read_csv(z.open("routes.txt"), dtype=str, keep_default_na=False)
    train = set(used[folder.str.startswith("tren_")].route_id)
    with zipfile.ZipFile(src) as z:
        names = {fold(m.group(1)) for n in z.namelist()
                 for m in [re.search(r"asistentes/([^\W\d_]+)_", n.encode("cp437").decode("utf-8", "replace"))] if m}
    leaks = sorted({(name, f) for f, text in public_text(out) for name in names
                    if re.search(rf"(?<![^\W\d_]){re.escape(name)}(?![^\W\d_])", text)})
    return {"exit_code": code, "build_s": round(seconds, 1), "traces": len(ledger), "used": len(used),
            "duplicates": int((ledger.status == "duplicate").sum()), "services": int(folder.nunique()),
            "routes": len(routes),
            "route_directions": int(used[["route_id", "direction_id"]].drop_duplicates().shape[0]),
            "pairwise": figures, "train_route_types": sorted(set(routes[routes.route_id.isin(train)].route_type)),
            "route_names": sorted(set(routes.route_short_name + " | " + routes.route_long_name)),
            "collector_names_in_public_outputs": [f"{n} in {f}" for n, f in leaks]}


def khartoum(out: Path) -> dict:
    src = DATA / "khartoum-2023-gpx.zip"
    code, seconds = build(src, out)
    ledger = pd.read_csv(out / "traces.csv", dtype=str, keep_default_na=False)
    with zipfile.ZipFile(out / "gtfs.zip") as z:
        routes = pd.read_csv(z.open("routes.txt"), dtype=str, keep_default_na=False).set_index("route_id")
    used = ledger[ledger.status == "used"]
    number = used.file.str.extract(r"!([A-Za-z]+)_(\d+)")
    carries = []
    for rid, group in used.assign(district=number[0].str.lower(), num=number[1]).groupby("route_id"):
        name = fold(f"{routes.loc[rid, 'route_short_name']} {routes.loc[rid, 'route_long_name']}")
        carries.append(any(re.search(rf"\b{d}\W*0*{int(n)}\b", name) for d, n in zip(group.district, group.num)))
    return {"exit_code": code, "build_s": round(seconds, 1), "files": len(ledger), "used": len(used),
            "duplicates": int((ledger.status == "duplicate").sum()),
            "quarantined": sorted(set(";".join(ledger[ledger.status == "quarantined"].codes).split(";")) - {""}),
            "routes": len(routes), "routes_named_with_their_number": int(sum(carries)),
            "examples": sorted(set(routes.route_short_name + " | " + routes.route_long_name))[:8]}


def xalapa(out: Path) -> dict:
    """The mapping campaign's routes, none with a time per point: the feed's shapes against the lines recorded
    (the distance from each recorded point to the shape of the trip its ride was given, in metres, UTM), the
    routes against the campaign's route folders (pairwise, folder = route, ``ida``/``vuelta`` its directions)
    and where the feed's times come from."""
    src = DATA / "xalapa-mapaton-geojson.zip"
    code, seconds = build(src, out)
    ledger = pd.read_csv(out / "traces.csv", dtype=str, keep_default_na=False)
    used = ledger[ledger.status == "used"]
    folder = used.file.str.extract(r"!xalapa-mapaton/(\d+)/(?:(ida|vuelta)/)?")
    with zipfile.ZipFile(out / "gtfs.zip") as z:
        shapes = pd.read_csv(z.open("shapes.txt"), dtype={"shape_id": str})
        trips = pd.read_csv(z.open("trips.txt"), dtype=str).set_index("trip_id")
        routes = pd.read_csv(z.open("routes.txt"), dtype=str, keep_default_na=False)
    lines = {sid: g.sort_values("shape_pt_sequence") for sid, g in shapes.groupby("shape_id")}
    epsg = utm_epsg(float(shapes.shape_pt_lat.mean()), float(shapes.shape_pt_lon.mean()))
    recorded = {}
    with zipfile.ZipFile(src) as z:
        for name in z.namelist():
            if name.endswith("route.geojson") and "/stops/" not in name:
                for feat in json.loads(z.read(name))["features"]:
                    if feat["properties"].get("id"):
                        recorded[(str(feat["properties"]["id"]),
                                  f"{src.name}!{name}")] = feat["geometry"]["coordinates"]
    distances = []
    for row in used.itertuples():
        line = lines[trips.loc[row.trip_id, "shape_id"]]
        sx, sy = project(line.shape_pt_lat.to_numpy(), line.shape_pt_lon.to_numpy(), epsg)
        pts = np.array(recorded[(row.trace_id, row.file)], float)
        px, py = project(pts[:, 1], pts[:, 0], epsg)
        distances.append(shapely.distance(shapely.points(px, py), shapely.linestrings(sx, sy)))
    d = np.concatenate(distances)
    headways = pd.read_csv(out / "headways.csv", dtype=str)
    per_trip = headways.drop_duplicates("trip_id")
    report = json.loads((out / "report.json").read_text())
    return {"exit_code": code, "build_s": round(seconds, 1), "traces": len(ledger), "used": len(used),
            "quarantined": int((ledger.status == "quarantined").sum()),
            "duplicates": int((ledger.status == "duplicate").sum()),
            "route_folders": int(folder[0].nunique()), "routes": len(routes),
            "pairwise": pairwise(list(folder[0]), list(used.route_id)),
            "shape_distance_m": {"median": round(float(np.median(d)), 1), "p90": round(float(np.percentile(d, 90)), 1),
                                 "points": int(len(d))},
            "trips_by_travel_times": per_trip.travel_times.value_counts().to_dict(),
            "headway_bands_by_provenance": headways.provenance.value_counts().to_dict(),
            "notices": {n["code"]: n["total_notices"] for n in report["notices"]
                        if n["code"] in ("no_timestamps", "travel_times_estimated", "reported_headways_uniform",
                                         "no_service_dates")}}


#: What these recordings' collectors typed that is no place (read off the raw files: notes about the GPS, the
#: app's buttons for photos and voice notes, stop kinds, the ride's start and end, a time): the oracle of the
#: "no name made of a note" check, independent of how transitmap tells notes
KNOWN_NOTES = ("problemas con", "gps", "voice recording", "grabación de voz", "صورة", "estoy en la parada",
               "ruta empezada", "tipo 1", "tipo 2", "tipo 3", "parada de bus tipo", "parada de autobús",
               "fin del trayecto", "ultima parada", "última parada", "parada tipo", "inicio de ruta",
               "inicio de la ruta", "fin de la ruta", "final de ruta", "ruta completa", "ruta terminada",
               "llegada a la parada", "bus cuenta con rampa", "esperando", "13:19:23", "inicia ", "termina en")
#: words a name cut off in the middle begins with ("de Noviembre - Pacho Nuevo", "y 2 Sefiplan")
CUT_OFF = ("de", "del", "y", "e", "and", "of", "et", "da", "do")


def rider_checks(out: Path) -> dict:
    """What a rider reads in a feed: stop names, headsigns and long names made of a note (``KNOWN_NOTES``), trips
    with more than two stops of one name, long names beginning with a cut-off word, the shortest headway of a
    train where no departure was seen, and the most departures an hour of a route direction, its patterns
    added up (from ``headways.csv``)."""
    with zipfile.ZipFile(out / "gtfs.zip") as z:
        read = lambda n: pd.read_csv(z.open(n), dtype=str, keep_default_na=False)  # noqa: E731
        stops, trips, routes, st = read("stops.txt"), read("trips.txt"), read("routes.txt"), read("stop_times.txt")
    is_note = lambda text: any(n in fold(text) for n in map(fold, KNOWN_NOTES))  # noqa: E731
    names = dict(zip(stops.stop_id, stops.stop_name))
    per_trip = st.assign(name=st.stop_id.map(names)).groupby("trip_id").name.agg(lambda v: v.value_counts().max())
    heads = trips.get("trip_headsign", pd.Series(dtype=str))
    hw = pd.read_csv(out / "headways.csv", dtype=str, keep_default_na=False)
    hw["per_hour"] = 3600 / hw.headway_s.astype(float)
    rail = set(routes[routes.route_type == "2"].route_id)
    train = hw[hw.route_id.isin(rail) & (hw.provenance != "observed")]
    busiest = hw.groupby(["route_id", "direction_id", "start_time"]).per_hour.sum()
    return {"stop_names_of_notes": sorted({n for n in stops.stop_name if is_note(n)})[:10],
            "headsigns_of_notes": sorted({h for h in heads if h and is_note(h)})[:10],
            "long_names_of_notes": sorted({n for n in routes.route_long_name if n and is_note(n)})[:10],
            "long_names_cut_off": sorted({n for n in routes.route_long_name if n and fold(n).split()[0] in CUT_OFF}),
            "trips_with_more_than_two_stops_of_one_name": int((per_trip > 2).sum()),
            "train_shortest_headway_min_unobserved": round(float(train.headway_s.astype(float).min()) / 60, 1)
            if len(train) else None,
            "route_direction_most_departures_per_hour": round(float(busiest.max()), 1) if len(busiest) else None}


def run(out: Path) -> dict:
    found = {"alajuela": alajuela(out / "alajuela"), "khartoum": khartoum(out / "khartoum"),
             "xalapa": xalapa(out / "xalapa")}
    for name in found:
        found[name]["rider_checks"] = rider_checks(out / name)
    return found


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "_work" / "real")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA} is not there: the real recordings are in ../shared/data")
    print(json.dumps(run(args.out), indent=2, ensure_ascii=False))

"""Generate ``sample_traces/``: a small, realistic minibus-taxi survey of central Johannesburg.

    python scripts/make_sample_traces.py [OUT_DIR]     # default: sample_traces/ (seed 2026, deterministic)

What it holds (one week of March 2026, six collectors, every file format transitmap reads):
- four routes: Bree - Baragwanath (Soweto), Noord - Alexandra, Bree - Randburg, and Bree - Diepkloof, a
  short route along the first 70 % of Bree - Baragwanath (the hard case for route building);
- both directions of each, two or three rides per direction, one of them partial (boarded late);
- faults real surveys have: GPS noise and spikes, a signal gap, times without UTC offset, a misspelled and a
  missing route name, a fare typo (ten times the price), a GPX from OSMTracker with notes "R15" and "wait 12 min";
- files that must be reported, not used: a truncated JSON, an empty file, a GPX with an XML external entity,
  a walk to the rank (not a ride), a test recording made at home in Durban, the same ride uploaded twice.

The routes follow the main roads approximately; they are drawn for this sample, not taken from a survey.
Run it again after changing it and commit the result: ``tests/test_sample.py`` checks that the committed
files are exactly what this script makes.
"""

from __future__ import annotations

import gzip
import io
import shutil
import sys
import zipfile
from pathlib import Path

import gpxpy.gpx
import msgspec
import numpy as np

from transitmap.simulate import RideProfile, RouteSpec, at, ride

SEED = 2026
ROUTES = [
    RouteSpec("BB", "Bree - Baragwanath",
              ((-26.2005, 28.0370), (-26.2045, 28.0290), (-26.2120, 28.0150), (-26.2240, 27.9990),
               (-26.2380, 27.9780), (-26.2500, 27.9600), (-26.2620, 27.9430)),
              ("Bree Rank", "Westgate", "Crown Mines", "Diepkloof", "Baragwanath"), (0, 0.2, 0.45, 0.7, 1.0),
              fare=15, operator="Soweto Taxi Association"),
    RouteSpec("NA", "Noord - Alexandra",
              ((-26.1985, 28.0465), (-26.1900, 28.0520), (-26.1700, 28.0600), (-26.1450, 28.0700),
               (-26.1250, 28.0850), (-26.1040, 28.0970)),
              ("Noord Rank", "Hillbrow", "Houghton", "Marlboro", "Alexandra"), (0, 0.15, 0.4, 0.75, 1.0),
              fare=14, operator="Alexandra Taxi Association"),
    RouteSpec("BR", "Bree - Randburg",
              ((-26.2005, 28.0370), (-26.1900, 28.0300), (-26.1650, 28.0150), (-26.1350, 28.0050),
               (-26.1100, 28.0000), (-26.0940, 28.0000)),
              ("Bree Rank", "Braamfontein", "Emmarentia", "Blairgowrie", "Randburg"), (0, 0.15, 0.5, 0.8, 1.0),
              fare=16, operator=None),
    RouteSpec("BD", "Bree - Diepkloof",
              ((-26.2005, 28.0370), (-26.2045, 28.0290), (-26.2120, 28.0150), (-26.2240, 27.9990),
               (-26.2340, 27.9840)),
              ("Bree Rank", "Westgate", "Crown Mines", "Diepkloof"), (0, 0.29, 0.64, 1.0),
              fare=12, operator="Soweto Taxi Association"),
]
PROFILE = RideProfile(fix_interval_s=(3.0, 10.0), rank_wait_s=(120.0, 600.0), partial_probability=0.0,
                      gap_probability=0.0)


def reverse(r: RouteSpec) -> RouteSpec:
    names = r.name.split(" - ")
    return RouteSpec(r.route_id + "r", " - ".join(reversed(names)), tuple(reversed(r.path)),
                     tuple(reversed(r.stop_names)), tuple(1 - f for f in reversed(r.stop_fraction)), r.fare,
                     r.currency, r.operator)


def dumps(obj) -> bytes:
    return msgspec.json.format(msgspec.json.encode(obj, order="sorted"), indent=2) + b"\n"


def to_gpx(trace: dict, notes: list[tuple[int, str]]) -> bytes:
    """An OSMTracker-for-Android style GPX of a trace: track points, waypoints for stops and notes."""
    gpx = gpxpy.gpx.GPX()
    gpx.creator = "OSMTracker for Android\u2122 - https://github.com/labexp/osmtracker-android"
    from datetime import datetime

    for s in trace.get("stops") or []:
        gpx.waypoints.append(gpxpy.gpx.GPXWaypoint(s["lat"], s["lon"], time=datetime.fromisoformat(s["time"]),
                                                   name=s.get("name")))
    for k, text in notes:
        p = trace["points"][k]
        gpx.waypoints.append(gpxpy.gpx.GPXWaypoint(p["lat"], p["lon"], time=datetime.fromisoformat(p["time"]),
                                                   name=text))
    trk = gpxpy.gpx.GPXTrack(name="Tracked with OSMTracker for Android\u2122")
    seg = gpxpy.gpx.GPXTrackSegment()
    for p in trace["points"]:
        seg.points.append(gpxpy.gpx.GPXTrackPoint(p["lat"], p["lon"], time=datetime.fromisoformat(p["time"])))
    trk.segments.append(seg)
    gpx.tracks.append(trk)
    return gpx.to_xml(version="1.1").encode()


def make(out: Path) -> None:
    rng = np.random.default_rng(SEED)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    collectors = ["amara", "sipho", "thabo", "lerato", "kagiso", "naledi"]
    rides: list[tuple[str, dict]] = []  # (folder, trace)
    n = 0
    for r in ROUTES:
        for spec in (r, reverse(r)):
            count = 3 if r.route_id in ("BB", "NA") else 2
            for k in range(count):
                n += 1
                day = 2 + (n % 5)
                hour = 6 + int(rng.integers(0, 11))
                collector = collectors[n % len(collectors)]
                variant = "typo" if n % 7 == 3 else (None if n % 9 == 5 else "same")
                trace = ride(spec, at(2026, 3, day, hour, int(rng.integers(0, 60)), 2), rng,
                             trace_id=f"{collector[:2]}-{day:02d}-{spec.route_id}-{k + 1}", collector_id=collector,
                             profile=PROFILE, name_variant=variant, partial=(spec.route_id == "BBr" and k == 2))
                rides.append((collector, trace))

    # Faults in otherwise good rides
    def find(tid_part: str) -> dict:
        return next(t for _, t in rides if tid_part in t["trace_id"])

    typo_fare = rides[4][1]
    typo_fare["fares"] = [{"amount": typo_fare["fares"][0]["amount"] * 10, "currency": "ZAR"}]
    naive = rides[7][1]
    for p in naive["points"]:
        p["time"] = p["time"][:19]  # the app forgot the offset
    spiky = rides[10][1]
    for k in (40, 41, 90):
        spiky["points"][k]["lat"] += 0.004  # ~450 m north
    gap = rides[13][1]
    del gap["points"][60:95]  # signal lost for a while

    # Files: JSON per ride for most collectors, JSON Lines (gzip) for sipho, GPX for thabo, CSV for kagiso.
    csv_traces = []
    jsonl: list[dict] = []
    for i, (collector, trace) in enumerate(rides):
        name = f"{trace['trace_id']}.json"
        if collector == "sipho":
            jsonl.append(trace)
        elif collector == "thabo":
            notes = [(len(trace["points"]) // 3, f"R{int(trace['fares'][0]['amount'])}"), (2, "wait 12 min")]
            del trace["fares"]
            (out / "thabo").mkdir(exist_ok=True)
            date = trace["points"][0]["time"][:10]
            route = (trace.get("route_name") or "ride").replace(" ", "")
            (out / "thabo" / f"{date}_{route}_{i:02d}.gpx").write_bytes(to_gpx(trace, notes))
        elif collector == "kagiso":
            csv_traces.append(trace)
        else:
            (out / collector).mkdir(exist_ok=True)
            (out / collector / name).write_bytes(dumps(trace))
    (out / "sipho").mkdir(exist_ok=True)
    with gzip.GzipFile(out / "sipho" / "rides-week10.jsonl.gz", "wb", mtime=0) as fh:
        for t in jsonl:
            fh.write(msgspec.json.encode(t, order="sorted") + b"\n")
    write_csv(out / "kagiso_export", csv_traces)

    # A zip uploaded by naledi: a new ride, plus one she had uploaded already (a duplicate).
    extra = ride(ROUTES[2], at(2026, 3, 6, 17, 5, 2), rng, trace_id="na-06-BR-9", collector_id="naledi",
                 profile=PROFILE)
    again = next(t for c, t in rides if c == "naledi")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for t in (extra, again):
            info = zipfile.ZipInfo(f"upload/{t['trace_id']}.json", date_time=(2026, 3, 6, 20, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, dumps(t))
    (out / "naledi").mkdir(exist_ok=True)
    (out / "naledi" / "upload-2026-03-06.zip").write_bytes(buf.getvalue())

    # Files that must be reported, not used.
    bad = out / "lerato"
    bad.mkdir(exist_ok=True)
    good = dumps(rides[1][1])
    (bad / "upload-interrupted.json").write_bytes(good[: len(good) // 2])
    (bad / "empty.json").write_bytes(b"")
    walk = ride(RouteSpec("W", "walk", ((-26.2005, 28.0370), (-26.2060, 28.0440))), at(2026, 3, 4, 6, 30, 2), rng,
                trace_id="le-04-walk", collector_id="lerato",
                profile=RideProfile(cruise_kph=(4.0, 5.0), rank_wait_s=(30.0, 60.0), spike_rate=0.0,
                                    gap_probability=0.0, fix_interval_s=(5.0, 5.0)))
    walk["route_name"] = None
    (bad / "le-04-walk.json").write_bytes(dumps(walk))
    home = ride(RouteSpec("D", "Durban test", ((-29.8587, 31.0218), (-29.8300, 31.0100), (-29.8000, 31.0000))),
                at(2026, 3, 1, 9, 0, 2), rng, trace_id="le-01-test", collector_id="lerato", profile=PROFILE)
    (bad / "le-01-test.json").write_bytes(dumps(home))
    (out / "thabo" / "evil.gpx").write_bytes(
        b'<?xml version="1.0"?>\n<!DOCTYPE gpx [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
        b'<gpx version="1.1" creator="x" xmlns="http://www.topografix.com/GPX/1/1"><trk><name>&xxe;</name>'
        b'<trkseg><trkpt lat="-26.2" lon="28.03"><time>2026-03-02T06:00:00Z</time></trkpt></trkseg></trk></gpx>\n')


def write_csv(folder: Path, traces: list[dict]) -> None:
    import csv

    folder.mkdir()
    tables = {
        "traces.csv": ["trace_id", "collector_id", "mode", "route_name", "operator", "origin", "destination"],
        "points.csv": ["trace_id", "time", "lat", "lon", "accuracy"],
        "stops.csv": ["trace_id", "time", "lat", "lon", "kind", "name"],
        "fares.csv": ["trace_id", "amount", "currency", "from_stop", "to_stop"],
        "departures.csv": ["trace_id", "time"],
    }
    rows: dict[str, list] = {k: [] for k in tables}
    for t in traces:
        tid = t["trace_id"]
        rows["traces.csv"].append({k: t.get(k) for k in tables["traces.csv"]})
        rows["points.csv"] += [{"trace_id": tid, **p} for p in t["points"]]
        rows["stops.csv"] += [{"trace_id": tid, **s} for s in t.get("stops") or []]
        rows["fares.csv"] += [{"trace_id": tid, **f} for f in t.get("fares") or []]
        rows["departures.csv"] += [{"trace_id": tid, "time": d} for d in t.get("departures") or []]
    for name, cols in tables.items():
        with open(folder / name, "w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, cols, extrasaction="ignore", lineterminator="\n")
            w.writeheader()
            w.writerows(rows[name])


if __name__ == "__main__":
    make(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "sample_traces")

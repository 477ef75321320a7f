"""Small builders for traces, so that a test reads like the situation it checks."""

from __future__ import annotations

import copy
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec

NAIROBI = (-1.2864, 36.8172)  # CBD
M_PER_DEG_LAT = 110_574.0  # a degree of latitude near the equator (WGS84)
M_PER_DEG_LON_EQ = 111_320.0  # a degree of longitude at the equator
EAT = timezone(timedelta(hours=3))
START = datetime(2026, 3, 2, 7, 0, tzinfo=EAT)


def ride(
    *,
    trace_id: str = "t1",
    collector_id: str | None = "c1",
    start: tuple[float, float] = NAIROBI,
    heading_deg: float = 90.0,
    speed_kph: float = 30.0,
    n: int = 120,
    dt_s: float = 5.0,
    t0: datetime = START,
    accuracy: float | None = 5.0,
    **fields,
) -> dict:
    """A trace of a vehicle driving straight at constant speed: ``n`` fixes every ``dt_s`` seconds.

    The defaults (30 km/h for 10 minutes, 5 km across Nairobi) pass every check.
    """
    lat0, lon0 = start
    step_m = speed_kph / 3.6 * dt_s
    dlat = step_m * math.cos(math.radians(heading_deg)) / M_PER_DEG_LAT
    dlon = step_m * math.sin(math.radians(heading_deg)) / (M_PER_DEG_LON_EQ * math.cos(math.radians(lat0)))
    points = []
    for i in range(n):
        p = {"time": (t0 + timedelta(seconds=i * dt_s)).isoformat(), "lat": round(lat0 + i * dlat, 7),
             "lon": round(lon0 + i * dlon, 7)}
        if accuracy is not None:
            p["accuracy"] = accuracy
        points.append(p)
    trace = {"schema_version": "1.0", "trace_id": trace_id, "points": points}
    if collector_id is not None:
        trace["collector_id"] = collector_id
    trace.update(fields)
    return trace


def stop_at(trace: dict, i: int, kind: str = "both", **fields) -> dict:
    """A stop marked at the position and time of point ``i``."""
    p = trace["points"][i]
    return {"time": p["time"], "lat": p["lat"], "lon": p["lon"], "kind": kind, **fields}


def osmtracker_gpx(trace: dict, waypoints: list[tuple[int, str]] = (), *, digits: str = "0123456789") -> bytes:
    """A trace as OSMTracker for Android writes it: waypoints (point index, label) first, the track named
    after the app; ``digits``: the ten digits its times are written in (a phone set to Arabic writes ``٠١٢...``)."""
    to = str.maketrans("0123456789", digits)
    wpts = "".join(
        f'<wpt lat="{trace["points"][i]["lat"]}" lon="{trace["points"][i]["lon"]}">'
        f'<time>{trace["points"][i]["time"]}</time>'
        f"<name><![CDATA[{text}]]></name><sat>0</sat></wpt>" for i, text in waypoints)
    pts = "".join(f'<trkpt lat="{p["lat"]}" lon="{p["lon"]}"><ele>1650.0</ele><time>{p["time"].translate(to)}</time>'
                  "</trkpt>" for p in trace["points"])
    return (
        "<?xml version='1.0' encoding='UTF-8' ?>\n"
        '<gpx xmlns="http://www.topografix.com/GPX/1/1" version="1.1" creator="OSMTracker for Android™ - '
        'https://github.com/labexp/osmtracker-android" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.topografix.com/GPX/1/1 http://www.topografix.com/GPX/1/1/gpx.xsd ">\n'
        f'{wpts}<trk><name><![CDATA[Tracked with OSMTracker for Android™]]></name><cmt><![CDATA[Warning: HDOP values '
        f'aren\'t the HDOP as returned by the GPS device.]]></cmt><trkseg>{pts}</trkseg></trk></gpx>'
    ).encode()


def moved(point: dict, north_m: float = 0.0, east_m: float = 0.0) -> dict:
    """The point moved by the given metres."""
    q = dict(point)
    q["lat"] = point["lat"] + north_m / M_PER_DEG_LAT
    q["lon"] = point["lon"] + east_m / (M_PER_DEG_LON_EQ * math.cos(math.radians(point["lat"])))
    return q


def edited(trace: dict, **changes) -> dict:
    out = copy.deepcopy(trace)
    out.update(changes)
    return out


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.encode(obj))
    return path


def _latlon(north_m: float, east_m: float, origin: tuple[float, float] = NAIROBI) -> tuple[float, float]:
    lat0, lon0 = origin
    return lat0 + north_m / M_PER_DEG_LAT, lon0 + east_m / (M_PER_DEG_LON_EQ * math.cos(math.radians(lat0)))


def gtfs_route(route_id: str, path: list[tuple[float, float]], *, stop_every_m: float = 500.0,
               speed_kph: float = 20.0, headways: list[tuple[str, str, int]] | None = None,
               departures: list[str] | None = None, both_directions: bool = True, fare: float | None = None,
               stop_prefix: str | None = None, shape: str = "own") -> dict:
    """A route for ``gtfs_feed``: a path of (north_m, east_m) waypoints from Nairobi's CBD, stops every
    ``stop_every_m`` along it (and at its end), driven at ``speed_kph``; run at ``headways`` (frequencies:
    start, end, headway_secs) or at explicit ``departures`` (one trip each). ``shape``: "own" (one shape per
    direction), "round_trip" (one out-and-back shape for both directions) or "reversed" (drawn against the
    stops' order)."""
    return {"route_id": route_id, "path": path, "stop_every_m": stop_every_m, "speed_kph": speed_kph,
            "headways": headways, "departures": departures, "both": both_directions, "fare": fare,
            "stop_prefix": stop_prefix or route_id, "shape": shape}


def gtfs_feed(*routes: dict, currency: str = "KES") -> bytes:
    """A small valid GTFS zip of straight-line routes whose figures are known by construction."""
    import io
    import zipfile

    def hms(s: float) -> str:
        s = int(round(s))
        return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"

    def seconds(t: str) -> int:
        h, m, s = map(int, t.split(":"))
        return h * 3600 + m * 60 + s

    tables = {k: [] for k in ("stops", "routes", "trips", "stop_times", "shapes", "frequencies", "fare_attributes",
                              "fare_rules")}
    for r in routes:
        tables["routes"].append(f"{r['route_id']},A,{r['route_id']},Route {r['route_id']},3")
        if r["fare"] is not None:
            tables["fare_attributes"].append(f"F{r['route_id']},{r['fare']},{currency},0,0,A")
            tables["fare_rules"].append(f"F{r['route_id']},{r['route_id']}")
        for d in (0, 1) if r["both"] else (0,):
            path = r["path"] if d == 0 else r["path"][::-1]
            seg = [math.dist(a, b) for a, b in zip(path, path[1:])]
            total = sum(seg)
            cum = [0.0]
            for s in seg:
                cum.append(cum[-1] + s)

            def at(dist: float, seg=seg, cum=cum, total=total, path=path):
                k = max(i for i in range(len(seg)) if cum[i] <= dist + 1e-9) if dist < total else len(seg) - 1
                f = min(1.0, (dist - cum[k]) / seg[k])
                a, b = path[k], path[k + 1]
                return a[0] + f * (b[0] - a[0]), a[1] + f * (b[1] - a[1])

            shape_id = f"{r['route_id']}_{0 if r['shape'] == 'round_trip' else d}"
            n_shape = int(total // 50)
            along = [i * 50.0 for i in range(n_shape + 1)] + ([total] if total % 50 else [])
            drawn = [at(x) for x in along]
            if r["shape"] == "round_trip":
                drawn += drawn[-2::-1]
            elif r["shape"] == "reversed":
                drawn = drawn[::-1]
            if d == 0 or r["shape"] != "round_trip":
                run = 0.0
                for k, p in enumerate(drawn):
                    run += math.dist(p, drawn[k - 1]) if k else 0.0
                    lat, lon = _latlon(*p)
                    tables["shapes"].append(f"{shape_id},{lat:.7f},{lon:.7f},{k + 1},{run:.1f}")
            stops = [i * r["stop_every_m"] for i in range(int(total // r["stop_every_m"]) + 1)]
            if total - stops[-1] > 1:
                stops.append(total)
            v = r["speed_kph"] / 3.6
            starts = ([r["headways"][0][0]] if r["headways"] else r["departures"])
            for n, start in enumerate(starts):
                trip_id = f"{r['route_id']}_{d}_{n}"
                tables["trips"].append(f"{r['route_id']},S,{trip_id},{d},{shape_id}")
                for seq, dist in enumerate(stops):
                    north, east = at(dist)
                    # the two directions share stops: name a stop by where it is
                    stop_id = f"{r['stop_prefix']}_{round(north)}_{round(east)}"
                    lat, lon = _latlon(north, east)
                    tables["stops"].append(f"{stop_id},{stop_id},{lat:.7f},{lon:.7f}")
                    t = hms(seconds(start) + dist / v)
                    tables["stop_times"].append(f"{trip_id},{t},{t},{stop_id},{seq + 1},{dist:.1f}")
                if r["headways"]:
                    for a, b, h in r["headways"]:
                        tables["frequencies"].append(f"{trip_id},{a},{b},{h},0")
    header = {
        "agency": "agency_id,agency_name,agency_url,agency_timezone", "stops": "stop_id,stop_name,stop_lat,stop_lon",
        "routes": "route_id,agency_id,route_short_name,route_long_name,route_type",
        "trips": "route_id,service_id,trip_id,direction_id,shape_id",
        "stop_times": "trip_id,arrival_time,departure_time,stop_id,stop_sequence,shape_dist_traveled",
        "shapes": "shape_id,shape_pt_lat,shape_pt_lon,shape_pt_sequence,shape_dist_traveled",
        "frequencies": "trip_id,start_time,end_time,headway_secs,exact_times",
        "fare_attributes": "fare_id,price,currency_type,payment_method,transfers,agency_id",
        "fare_rules": "fare_id,route_id", "calendar": "service_id,monday,tuesday,wednesday,thursday,friday,saturday,"
                                                      "sunday,start_date,end_date",
    }
    tables["agency"] = ["A,Test operators,https://example.com/,Africa/Nairobi"]
    tables["calendar"] = ["S,1,1,1,1,1,1,1,20260302,20260331"]
    tables["stops"] = sorted(set(tables["stops"]))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, rows in tables.items():
            if rows or name in ("stops", "routes", "trips", "stop_times", "agency", "calendar"):
                z.writestr(f"{name}.txt", "\n".join([header[name], *rows]) + "\n")
    return buf.getvalue()


def output_blobs(folder: Path, suffixes: tuple[str, ...] | None = None):
    """(path, bytes) of every file under ``folder`` (each member of a zip apart), optionally only those whose
    suffix is in ``suffixes``: what a scan of the outputs must look through."""
    import zipfile

    for path in sorted(folder.rglob("*")):
        if not path.is_file() or (suffixes is not None and path.suffix not in suffixes):
            continue
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as z:
                for name in z.namelist():
                    yield path, z.read(name)
        else:
            yield path, path.read_bytes()

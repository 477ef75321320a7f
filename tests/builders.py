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

"""The service a GTFS feed runs on a day, computed for all trips at once: each trip's figures, every
departure (frequency-based trips expanded: ``start_time + k * headway_secs`` before ``end_time``) and each
route's headways, span and peak. The trip and route figures are gtfs-kit's (``compute_trip_stats``,
``compute_route_stats_0``), which take a pandas call per trip and per route (3 ms a trip); here they are
computed with whole columns, and ``tests/test_stats.py`` checks that both give the same figures."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from .geo import project
from .model import gtfs_time, gtfs_times


def trip_stats(gfeed, lines: pd.DataFrame, epsg: int) -> pd.DataFrame:
    """gtfs-kit's trip stats (``gtfs_kit.compute_trip_stats(feed, compute_dist_from_shapes=True)``), the columns
    the statistics read, computed as gtfs-kit does but for all trips at once: route_id, direction_id (missing:
    0), trip_id, shape_id, num_stops, start_time and end_time (the first and last stop's departure, HH:MM:SS),
    duration (hours) and distance (km: along the shape from where the first stop lies on it to where the last
    does; the whole shape where that is not between 0 and the shape's length + 100 m, where a stop is unknown
    or where the shape crosses itself), sorted by route, direction, start time and trip. Shapes are ``lines``
    (``stats._pattern_lines``, in ``epsg``, projected with ``geo.project``); gtfs-kit projects with PROJ's exact
    transverse Mercator into a UTM zone of its own choosing (of the shapes' and of the stops' bounds), the same
    zone wherever the feed lies in one: distances agree within a millimetre."""
    routes = gfeed.routes["route_id"]
    trips = gfeed.trips[gfeed.trips["route_id"].isin(routes)].drop_duplicates("trip_id")
    st = gfeed.stop_times[["trip_id", "stop_sequence", "stop_id", "departure_time"]]
    st = st[st["trip_id"].isin(trips["trip_id"])].sort_values(["trip_id", "stop_sequence"], kind="stable")
    tid, stop = st["trip_id"].to_numpy(), st["stop_id"].to_numpy()
    if not len(tid):
        return pd.DataFrame(columns=["route_id", "direction_id", "trip_id", "shape_id", "num_stops", "start_time",
                                     "end_time", "duration", "distance"])
    first = np.flatnonzero(np.r_[True, tid[1:] != tid[:-1]])
    last = np.r_[first[1:], len(tid)] - 1
    dep = seconds(st["departure_time"])
    start_s, end_s = dep[first], dep[last]
    out = pd.DataFrame({"trip_id": tid[first], "num_stops": last - first + 1, "first_stop": stop[first],
                        "last_stop": stop[last], "start_time": _time_strings(start_s),
                        "end_time": _time_strings(end_s), "duration": (end_s - start_s) / 3600})
    out = trips.reindex(columns=["trip_id", "route_id", "direction_id", "shape_id"]).merge(out, on="trip_id")
    # distances: where the first and last stops lie along the shape
    line = out["shape_id"].map(lines.drop_duplicates("shape_id").set_index("shape_id")["geometry"]).to_numpy()
    has = pd.notna(line)
    stops = gfeed.stops.drop_duplicates("stop_id").set_index("stop_id")
    xy = pd.DataFrame(np.column_stack(project(stops["stop_lat"].to_numpy(float), stops["stop_lon"].to_numpy(float),
                                              epsg)), index=stops.index)
    where_first = shapely.points(xy.reindex(out["first_stop"]).to_numpy()[has])
    where_last = shapely.points(xy.reindex(out["last_stop"]).to_numpy()[has])
    length = np.full(len(out), np.nan)
    dist = np.full(len(out), np.nan)
    g = line[has]
    length[has] = shapely.length(g)
    along = shapely.line_locate_point(g, where_last) - shapely.line_locate_point(g, where_first)
    fits = shapely.is_simple(g) & (0 < along) & (along < length[has] + 100)
    dist[has] = np.where(fits, along, length[has])
    out["distance"] = 1 / 1000 * dist  # m to km, as gtfs-kit converts
    return sorted_trip_stats(out[["route_id", "direction_id", "trip_id", "shape_id", "num_stops", "start_time",
                                   "end_time", "duration", "distance"]])


def _time_strings(seconds: np.ndarray) -> np.ndarray:
    """HH:MM:SS of whole seconds, NaN where not finite (gtfs-kit's ``seconds_to_timestr``)."""
    out = np.full(len(seconds), np.nan, object)
    ok = np.isfinite(seconds)
    out[ok] = gtfs_times(seconds[ok])
    return out


def sorted_trip_stats(trip_stats: pd.DataFrame) -> pd.DataFrame:
    """Trip stats sorted by route, direction, start time and trip, a missing direction taken as 0."""
    out = trip_stats.sort_values(["route_id", "direction_id", "start_time", "trip_id"], kind="stable",
                                 ignore_index=True)
    out["direction_id"] = out["direction_id"].fillna(0).astype(int)
    return out


def seconds(times: pd.Series) -> np.ndarray:
    """HH:MM:SS (hours may pass 24) as seconds, NaN where empty."""
    parts = times.astype("string").str.strip().str.split(":", expand=True)
    if parts.shape[1] < 3:
        return np.full(len(times), np.nan)
    h, m, s = (pd.to_numeric(parts[i], errors="coerce").to_numpy(float) for i in range(3))
    return h * 3600 + m * 60 + s


def departures(gfeed, trip_stats: pd.DataFrame) -> pd.DataFrame:
    """Every departure of the day: route_id, direction_id, trip_id, shape_id, dep_s (first stop), duration_s.
    Frequency-based trips give one row per headway; other trips their own start."""
    ts = trip_stats.assign(dep_s=seconds(trip_stats["start_time"]), duration_s=trip_stats["duration"] * 3600)
    cols = ["route_id", "direction_id", "trip_id", "shape_id", "dep_s", "duration_s"]
    fr = gfeed.frequencies
    if fr is not None:
        fr = fr[fr["trip_id"].isin(ts["trip_id"])]  # the trips in trip_stats
    if fr is None or fr.empty:
        return ts[cols].dropna(subset=["dep_s"]).reset_index(drop=True)
    fr = fr.assign(s=seconds(fr["start_time"]), e=seconds(fr["end_time"]),
                   h=pd.to_numeric(fr["headway_secs"], errors="coerce"))
    fr = fr[(fr["h"] > 0) & (fr["e"] > fr["s"])].sort_values(["trip_id", "s"], kind="stable")
    fr = fr.assign(s=_continued(fr))
    fr = fr[fr["e"] > fr["s"]]
    n = np.ceil((fr["e"] - fr["s"]) / fr["h"]).astype(int).to_numpy()
    rep = fr.loc[fr.index.repeat(n), ["trip_id", "s", "h"]]
    rep["dep_s"] = rep["s"] + rep.groupby(level=0).cumcount().to_numpy() * rep["h"]
    freq = ts.drop(columns="dep_s").merge(rep[["trip_id", "dep_s"]], on="trip_id")
    plain = ts[~ts["trip_id"].isin(fr["trip_id"])]
    out = pd.concat([freq[cols], plain[cols]], ignore_index=True).dropna(subset=["dep_s"])
    return out.sort_values(["route_id", "direction_id", "dep_s", "trip_id"], kind="stable").reset_index(drop=True)


def _continued(fr: pd.DataFrame) -> np.ndarray:
    """The first departure of each frequency band (rows sorted by trip and start; columns s, e, h in seconds):
    where a band follows the trip's band before it without a gap, its first vehicle leaves a headway after the
    last one of that band, not at the band's start: 06:00 + 38 x 284 s leaves at 08:59:52, and a band from
    09:00 every 600 s then starts at 09:09:52, not 8 s after it (vectorised: one pass per band of the day)."""
    s, e, h = (fr[c].to_numpy(float).copy() for c in ("s", "e", "h"))
    trip = fr["trip_id"].to_numpy()
    rank = fr.groupby("trip_id", sort=False).cumcount().to_numpy()
    for r in range(1, int(rank.max()) + 1 if len(rank) else 0):
        at = np.flatnonzero(rank == r)
        prev = at - 1
        joined = (trip[prev] == trip[at]) & (e[prev] == s[at])
        last = s[prev] + (np.ceil((e[prev] - s[prev]) / h[prev]) - 1) * h[prev]
        s[at] = np.where(joined & (e[prev] > s[prev]), np.maximum(s[at], last + h[at]), s[at])
    return s


def route_stats(departures, trip_stats, window: tuple[str, str]) -> pd.DataFrame:
    """gtfs-kit's route stats (``gtfs_kit.compute_route_stats_0(..., split_directions=False)``) over the day's
    departures (frequency trips expanded; a route with a single departure has none), the figures the route table
    reads, computed as gtfs-kit does but for all routes at once: route_id, min_headway, mean_headway and
    max_headway (minutes, between departures in one direction within ``window``, both directions together),
    peak_num_trips (the most trips running at once), start_time and end_time (the first departure, the last
    arrival). Trips of no duration are left out. A departure starts and ends on whole seconds, as the feed
    writes them."""
    runs = departures.groupby("route_id")["dep_s"].transform("size")
    d = departures[runs >= 2]
    base = trip_stats.drop_duplicates("trip_id").set_index("trip_id")
    d = d.assign(direction_id=d["trip_id"].map(base["direction_id"]), duration=d["trip_id"].map(base["duration"]))
    d = d[d["duration"] > 0]
    if d.empty:
        return pd.DataFrame()
    start = np.trunc(d["dep_s"].to_numpy(float))
    end = np.trunc(np.round((d["dep_s"] + d["duration_s"]).to_numpy(float)))
    route = d["route_id"].to_numpy()
    # headways: consecutive departures of a direction within the window
    lo, hi = seconds(pd.Series(list(window)))
    inside = (start >= lo) & (start <= hi) & np.isin(d["direction_id"].to_numpy(), (0, 1))
    h = pd.DataFrame({"route_id": route[inside], "direction_id": d["direction_id"].to_numpy()[inside],
                      "s": start[inside]}).sort_values(["route_id", "direction_id", "s"], kind="stable")
    gap = h.groupby(["route_id", "direction_id"], sort=False)["s"].diff().dropna()
    heads = gap.groupby(h.loc[gap.index, "route_id"]).agg(["min", "max", "sum", "count"])
    # the most trips at once: +1 at each start, -1 at each end, summed at each time, in order of time
    events = pd.DataFrame({"route_id": np.r_[route, route], "t": np.r_[start, end],
                           "n": np.r_[np.ones(len(start), int), -np.ones(len(end), int)]}).dropna()
    at = events.groupby(["route_id", "t"], sort=True)["n"].sum()
    running = at.groupby(level=0).cumsum()
    out = pd.DataFrame({"route_id": pd.unique(np.sort(route))}).set_index("route_id")
    out["min_headway"] = heads["min"] / 60
    out["mean_headway"] = heads["sum"] / heads["count"] / 60
    out["max_headway"] = heads["max"] / 60
    out["peak_num_trips"] = running.groupby(level=0).max()
    out["start_time"] = pd.Series(start).groupby(route).min().map(gtfs_time)
    out["end_time"] = pd.Series(end).groupby(route).max().map(gtfs_time)
    return out.reset_index()

"""Network summary statistics of any GTFS feed (ours or anyone's), and the survey's coverage from a build ledger.

gtfs-kit's figures, as gtfs-kit defines them (``service``: computed for all trips at once): trip lengths from the
shapes, durations, stop counts, service span, headways over the day and the peak number of trips running at once
(the vehicles needed). transitmap adds what gtfs-kit does
not have: headways per time band, stop spacing, fares per km, cycle times, road-km with shared corridors
counted once, the corridors shared by most routes, the area served, and survey coverage; and it checks its own
figures against gtfs-kit's where both say the same thing (``NetworkStats.agreement``).

Figures describe one service day: the busiest day of the feed's first week of service. Frequency-based trips
are expanded into their departures (``start_time + k * headway_secs`` before ``end_time``).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely

from . import notices as N
from . import service
from .engine import map_local
from .errors import FeedError
from .geo import group_stats, metres_along, pairs_within, points_at, project, segment_distance, utm_epsg
from .model import TIME_BANDS, gtfs_time

#: The service day's time bands (name, start s, end s), ``model.TIME_BANDS``; all service after midnight
#: falls in the last, "night"
BANDS = tuple((name, lo * 3600, (hi if k < len(TIME_BANDS) - 1 else 48) * 3600)
              for k, (name, lo, hi) in enumerate(TIME_BANDS))
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


@dataclass(frozen=True)
class StatsConfig:
    corridor_tolerance_m: float = 25.0  # two routes share a road where their shapes run this close, side by side
    segment_m: float = 100.0  # shapes are compared in pieces this long
    corridor_min_m: float = 200.0  # shorter shared stretches (junctions) are not listed as corridors
    corridors_top: int = 20
    served_radius_m: float = 500.0  # the area served: this far around a stop
    headway_window: tuple[str, str] = ("07:00:00", "19:00:00")  # gtfs-kit's headway figures cover this window
    # the longest figures are computed side by side on ``workers`` processes (default: one per core)
    workers: int | None = None


@dataclass(eq=False)
class NetworkStats:
    """The statistics of one feed. Tables (units in column names):

    - ``routes``: one row per route: route_id, route_short_name, route_long_name, agency_name, directions,
      patterns, length_km (one direction: the mean of its directions), length_km_0/_1, stops_0/_1,
      stop_spacing_m, travel_time_min_0/_1, speed_kph, departures, headway_min_min/_mean_min/_max_min (gtfs-kit,
      over ``headway_window``), headway_peak_min (the shortest band median of bands with 4+ departures),
      service_start, service_end, service_span_h, fare, currency, fare_per_km, cycle_time_min, vehicles_needed
      (gtfs-kit: the most trips
      running at once; layovers not counted), patterns_per_direction,
      and with a ledger rides, rides_full, rides_partial, collectors, confidence;
    - ``headways``: route_id, direction_id, band, band_start, band_end, departures, headway_min_min,
      headway_median_min, headway_max_min;
    - ``distributions``: metric, unit, n, min, p10, p25, median, p75, p90, max, mean;
    - ``corridors``: corridor_id, routes, route_ids, length_m and ``corridor_geometry`` (UTM, same order);
    - ``network``, ``coverage`` (None without a ledger) and ``agreement`` are plain dicts.
    ``shapes`` (route_id, direction_id, shape_id, main, geometry) and ``stop_points`` (stop_id, stop_name,
    geometry) are in ``epsg`` for maps and layers; ``route_stops`` (route_id, stop_id) lists the stops of each route.
    """

    network: dict[str, Any]
    routes: pd.DataFrame
    headways: pd.DataFrame
    distributions: pd.DataFrame
    corridors: pd.DataFrame
    coverage: dict[str, Any] | None
    agreement: list[dict[str, Any]]
    epsg: int
    shapes: pd.DataFrame = field(repr=False)
    stop_points: pd.DataFrame = field(repr=False)
    corridor_geometry: np.ndarray = field(repr=False, default_factory=lambda: np.array([], dtype=object))
    route_stops: pd.DataFrame = field(repr=False, default_factory=lambda: pd.DataFrame(columns=["route_id", "stop_id"]))

    def to_dict(self) -> dict[str, Any]:
        """Everything but geometry, as JSON-ready values (NaN as None)."""
        def rows(df: pd.DataFrame) -> list[dict[str, Any]]:
            return [{k: json_plain(v) for k, v in r.items()} for r in df.to_dict("records")]

        return {"network": {k: json_plain(v) for k, v in self.network.items()}, "routes": rows(self.routes),
                "headways": rows(self.headways), "distributions": rows(self.distributions),
                "corridors": rows(self.corridors), "coverage": self.coverage, "agreement": self.agreement}


def json_plain(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return [json_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: json_plain(x) for k, x in v.items()}
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if not np.isfinite(v) else round(float(v), 4)
    if v is pd.NA or v is None:
        return None
    return v


def feed_stats(feed: bytes | str | os.PathLike, *, ledger: pd.DataFrame | None = None,
               config: StatsConfig = StatsConfig()) -> NetworkStats:
    """Statistics of a GTFS feed (zip bytes or path). ``ledger`` is a build's ``traces.csv`` (columns status,
    codes, route_id, direction_id, ride, collector) for the survey's coverage and each route's support."""
    import gtfs_kit as gk  # here, not at the top: gtfs-kit takes 0.3 s to import, every command would pay it

    try:
        gfeed = _read(feed)
    except Exception as e:  # gtfs-kit's own errors on what is not a feed
        raise FeedError(f"{type(e).__name__}: {e}") from e
    if any(getattr(gfeed, t) is None or getattr(gfeed, t).empty for t in ("routes", "trips", "stop_times", "stops")):
        raise FeedError("routes, trips, stop_times and stops are required")
    date = _typical_date(gfeed)
    listed = sorted(gfeed.routes["route_id"].dropna().astype(str).unique())
    active = set(gk.get_trips(gfeed, date)["trip_id"]) if date else set(gfeed.trips["trip_id"])
    gfeed = gk.restrict_to_trips(gfeed, sorted(active)) if active else gfeed
    if (gfeed.shapes is None or gfeed.shapes.empty or "shape_id" not in gfeed.trips
            or gfeed.trips["shape_id"].isna().any()):
        gfeed = gk.create_shapes(gfeed)  # straight lines between stops where the feed has no shapes
    gfeed.shapes = _in_order(gfeed.shapes)  # as _pattern_lines and _measure read them
    lat, lon = gfeed.stops["stop_lat"].to_numpy(float), gfeed.stops["stop_lon"].to_numpy(float)
    ok = np.isfinite(lat) & np.isfinite(lon)
    epsg = utm_epsg(float(np.median(lat[ok])), float(np.median(lon[ok])))
    lines = _pattern_lines(gfeed, epsg)
    ok &= gfeed.stops["stop_id"].isin(gfeed.stop_times["stop_id"]).to_numpy()  # the stops served that day
    stop_points = pd.DataFrame({"stop_id": gfeed.stops["stop_id"].to_numpy()[ok],
                                "stop_name": gfeed.stops.get("stop_name",
                                                             pd.Series([""] * len(ok)))[ok].fillna("").to_numpy(),
                                "geometry": shapely.points(*project(lat[ok], lon[ok], epsg))})
    # the two longest geometric figures and gtfs-kit's trip and route figures, on the cores at once
    shared = {"feed": gfeed, "lines": lines, "stops": stop_points["geometry"].to_numpy(), "epsg": epsg,
              "config": config}
    done = map_local(_stats_task, ["corridors", "served", "trips"], config.workers, shared=shared)
    (unique_km, corridors, corridor_geometry), served_km2, (trip_stats, departures, route_stats) = done
    shapes = _shapes(lines, trip_stats, departures)

    headways = _band_headways(departures)
    spacing = _measure(gfeed, shapes, epsg)
    routes = _route_table(gfeed, route_stats, departures, shapes, headways, spacing)
    support, coverage = _coverage(ledger, routes) if ledger is not None else (None, None)
    if support is not None:
        routes = routes.merge(support, on="route_id", how="left")
        for c in ("rides", "rides_full", "rides_partial", "collectors"):
            routes[c] = routes[c].fillna(0).astype(int)
        routes["confidence"] = _confidence(routes)
    agencies = sorted({a for a in routes["agency_name"] if a})  # of the routes run that day
    main = shapes[shapes["main"]]
    network = {
        "date": date, "routes": int(routes.shape[0]), "patterns": int(shapes.shape[0]),
        "directions": int(main.shape[0]), "stops": int(stop_points.shape[0]),
        "route_km": float(routes["length_km"].sum()),
        "route_km_both_directions": float(main["distance_m"].sum() / 1000),
        "unique_road_km": unique_km, "corridor_tolerance_m": config.corridor_tolerance_m,
        "corridor_min_m": config.corridor_min_m,
        "area_served_km2": served_km2, "served_radius_m": config.served_radius_m,
        "bbox": [float(lon[ok].min()), float(lat[ok].min()), float(lon[ok].max()), float(lat[ok].max())],
        "operators": len(agencies), "operator_names": agencies,
        "departures": int(routes["departures"].sum()),
        "vehicles_needed": int(routes["vehicles_needed"].sum(min_count=1)) if routes["vehicles_needed"].notna().any()
        else None,
        "routes_with_fare": int(routes["fare"].notna().sum()),
        "routes_with_headway": int(routes["headway_peak_min"].notna().sum()),
        "routes_without_service": sorted(set(listed) - set(routes["route_id"])),  # listed, but no trip that day
        "patterns_on_self_crossing_shapes": int((~shapely.is_simple(shapes["geometry"].to_numpy())).sum()),
    }
    distributions = _distributions(routes, headways, spacing)
    span = departures.groupby(["route_id", "direction_id"])["dep_s"].agg(["max", "min"])
    per_direction = span["max"] - span["min"]
    agreement = _agreement(trip_stats, shapes, stop_points, routes, network, per_direction.groupby(level=0).min())
    route_stops = (gfeed.stop_times[["trip_id", "stop_id"]].merge(gfeed.trips[["trip_id", "route_id"]], on="trip_id")
                   [["route_id", "stop_id"]].drop_duplicates().sort_values(["route_id",
                                                                            "stop_id"]).reset_index(drop=True))
    return NetworkStats(network, routes, headways, distributions, corridors, coverage, agreement, epsg, shapes,
                        stop_points, corridor_geometry, route_stops)


def _stats_task(shared: dict, task: str) -> Any:
    """One task of ``feed_stats``' parallel part: "corridors", "served", or "trips": the trip stats, the
    departures and the route stats (``trip_stats``, ``departures``, ``route_stats``)."""
    if task == "corridors":
        return _corridors(shared["lines"][["route_id", "geometry"]], shared["config"])
    if task == "served":
        return _served_km2(shared["stops"], shared["config"].served_radius_m)
    trip_stats = service.trip_stats(shared["feed"], shared["lines"], shared["epsg"])
    departures = service.departures(shared["feed"], trip_stats)
    return trip_stats, departures, service.route_stats(departures, trip_stats, shared["config"].headway_window)


def _read(feed):
    import gtfs_kit as gk

    if isinstance(feed, (bytes, bytearray)):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "feed.zip")
            with open(path, "wb") as fh:
                fh.write(feed)
            return gk.read_feed(path, dist_units="km")
    return gk.read_feed(os.fspath(feed), dist_units="km")


def _typical_date(gfeed) -> str | None:
    """The busiest day of the feed's first week of service (None for a feed without calendars)."""
    import gtfs_kit as gk

    dates = gfeed.get_dates()
    if not dates:
        return None
    return gk.compute_busiest_date(gfeed, dates[:7])


def _in_order(shapes: pd.DataFrame) -> pd.DataFrame:
    """The shape points sorted by shape and sequence (stable): as they are when they are in that order already
    (as transitmap writes them; checking takes a tenth of the time of sorting 2.6 million points)."""
    ids, seq = shapes["shape_id"], shapes["shape_pt_sequence"].to_numpy(float, na_value=np.nan)
    if ids.is_monotonic_increasing and not ids.isna().any():
        same = (ids.to_numpy()[1:] == ids.to_numpy()[:-1]).astype(bool)
        if not (same & ~(seq[1:] > seq[:-1])).any():  # within each shape, increasing sequence numbers
            return shapes
    return shapes.sort_values(["shape_id", "shape_pt_sequence"], kind="stable")


def _pattern_lines(gfeed, epsg: int) -> pd.DataFrame:
    """The trip patterns the day's trips run (those gtfs-kit gives figures for: with stop times, on a listed route)
    and their shapes: route_id, direction_id (missing: 0), shape_id, geometry (UTM), sorted by the first three;
    shapes with fewer than two points left out."""
    sh = gfeed.shapes  # in order (``_in_order``)
    x, y = project(sh["shape_pt_lat"].to_numpy(float), sh["shape_pt_lon"].to_numpy(float), epsg)
    ids, start = np.unique(sh["shape_id"].to_numpy(), return_index=True)
    counts = np.diff(np.append(start, len(sh)))
    good = counts >= 2
    index = np.repeat(np.arange(len(ids)), counts)
    keep = np.repeat(good, counts)
    lines = shapely.linestrings(np.column_stack([x[keep], y[keep]]), indices=index[keep]
                                - np.cumsum(~good)[index[keep]])
    trips = gfeed.trips
    trips = trips[trips["trip_id"].isin(gfeed.stop_times["trip_id"]) & trips["route_id"].isin(gfeed.routes["route_id"])]
    direction = trips["direction_id"].fillna(0).astype(int) if "direction_id" in trips else 0
    out = (pd.DataFrame({"route_id": trips["route_id"], "direction_id": direction, "shape_id": trips["shape_id"]})
           .drop_duplicates().sort_values(["route_id", "direction_id", "shape_id"], kind="stable", ignore_index=True))
    out = out[out["shape_id"].isin(ids[good])].reset_index(drop=True)
    out["geometry"] = out["shape_id"].map(dict(zip(ids[good], lines)))
    return out


def _shapes(lines: pd.DataFrame, trip_stats, departures) -> pd.DataFrame:
    """One row per trip pattern (shape) in use: route_id, direction_id, shape_id, trip_id, departures,
    distance_m (along the shape from the first stop to the last; set by ``_measure``), gk_distance_m (gtfs-kit's
    figure), length_m (the whole shape), duration_s, num_stops, main (the direction's pattern with most departures),
    geometry (UTM; ``lines``, ``_pattern_lines``)."""
    n_dep = departures.groupby("trip_id").size()
    pats = trip_stats.assign(departures=trip_stats["trip_id"].map(n_dep).fillna(0).astype(int))
    pats = pats[pats["shape_id"].isin(lines["shape_id"])]
    # a pattern is a route, direction and shape; its trip is the one run most often
    pats = pats.sort_values(["route_id", "direction_id", "shape_id", "departures", "trip_id"],
                            ascending=[True, True, True, False, True], kind="stable")
    agg = pats.groupby(["route_id", "direction_id", "shape_id"], sort=True).agg(
        trip_id=("trip_id", "first"), departures=("departures", "sum"), duration_s=("duration", "first"),
        num_stops=("num_stops", "first"), gk_distance_m=("distance", "first")).reset_index()
    agg["gk_distance_m"] *= 1000
    agg["duration_s"] *= 3600
    agg = agg.merge(lines, on=["route_id", "direction_id", "shape_id"], how="inner")
    agg["length_m"] = shapely.length(agg["geometry"].to_numpy())
    order = agg.sort_values(["route_id", "direction_id", "departures", "length_m", "shape_id"],
                            ascending=[True, True, False, False, True], kind="stable")
    agg["main"] = False
    agg.loc[order.groupby(["route_id", "direction_id"]).head(1).index, "main"] = True
    return agg


def _band_headways(departures: pd.DataFrame) -> pd.DataFrame:
    """Headways per route, direction and time band: gaps between consecutive departures (all patterns of the
    direction together), each gap in the band where it starts. Departures before the first band count in it."""
    cols = ["route_id", "direction_id", "band", "band_start", "band_end", "departures", "headway_min_min",
            "headway_median_min", "headway_max_min"]
    if departures.empty:
        return pd.DataFrame([], columns=cols)
    d = departures.dropna(subset=["route_id"]).sort_values(["route_id", "direction_id", "dep_s"], kind="stable")
    route, direction, dep = d["route_id"].to_numpy(), d["direction_id"].to_numpy(), d["dep_s"].to_numpy(float)
    new_group = np.r_[True, (route[1:] != route[:-1]) | (direction[1:] != direction[:-1])]
    group, first = np.cumsum(new_group) - 1, np.flatnonzero(new_group)
    nb = len(BANDS)
    edges = np.array([b[1] for b in BANDS] + [BANDS[-1][2]])
    count = np.bincount(group * nb + np.clip(np.searchsorted(edges, dep, side="right") - 1, 0, nb - 1),
                        minlength=len(first) * nb)
    # gaps within a direction, in the band where each starts (outside all bands: in none)
    inner = ~new_group[1:]
    gap, starts = (np.diff(dep) / 60)[inner], dep[:-1][inner]
    band = np.searchsorted(edges, starts, side="right") - 1
    ok = (band >= 0) & (band < nb)
    at, *least_median_most = group_stats(group[:-1][inner][ok] * nb + band[ok], gap[ok])
    stats = np.full((len(first) * nb, 3), np.nan)
    stats[at] = np.column_stack(least_median_most)
    cell = np.flatnonzero(count)  # (direction, band) with departures, in order
    g, k = cell // nb, cell % nb
    names, start, end = (np.array(v, object) for v in zip(*[(n, gtfs_time(a), gtfs_time(b)) for n, a, b in BANDS]))
    return pd.DataFrame({"route_id": route[first][g], "direction_id": direction[first][g].astype(int),
                         "band": names[k], "band_start": start[k], "band_end": end[k],
                         "departures": count[cell].astype(np.int64), "headway_min_min": stats[cell, 0],
                         "headway_median_min": stats[cell, 1], "headway_max_min": stats[cell, 2]}, columns=cols)


def _measure(gfeed, shapes: pd.DataFrame, epsg: int, near_m: float = 30.0) -> pd.DataFrame:
    """Place each pattern's stops along its shape, in order, and measure it from its first stop to its last
    (``shapes.distance_m``). Returns the distances between consecutive stops of the main patterns
    (trip_id, spacing_m).

    Stops are placed where the feed's shape_dist_traveled puts them, when that checks out against the shape
    (``_placed``: transitmap's own feeds, most others). Else in order along the shape (``_positions``), on the
    shape as drawn or, when the stops lie
    ``near_m`` closer to it that way, drawn the other way round. A shape that runs out and back along one road
    (one shape for both directions, as in Nairobi's 2014 feed) then gives each direction its own half; gtfs-kit
    measures such a shape, which crosses itself, as a whole for each direction, which doubles it."""
    st = gfeed.stop_times[gfeed.stop_times["trip_id"].isin(shapes["trip_id"])]
    st = st.sort_values(["trip_id", "stop_sequence"], kind="stable")
    stops = gfeed.stops.set_index("stop_id")
    sx, sy = project(stops["stop_lat"].to_numpy(float), stops["stop_lon"].to_numpy(float), epsg)
    where = pd.DataFrame({"x": sx, "y": sy}, index=stops.index)
    trip_ids, first = np.unique(st["trip_id"].to_numpy(), return_index=True)
    cuts = np.append(first, len(st))
    xy = where.reindex(st["stop_id"]).to_numpy()
    given = _given_distances(gfeed, st)
    by_trip = {t: (xy[a:b], None if given is None else given[0][a:b]) for t, a, b in zip(trip_ids, cuts[:-1], cuts[1:])}
    distance, rows = [], []
    for trip, shape_id, line, main in zip(shapes["trip_id"], shapes["shape_id"], shapes["geometry"], shapes["main"]):
        coords = np.asarray(line.coords)
        pts, stop_dist = by_trip.get(trip, (np.empty((0, 2)), None))
        pos = _placed(coords, pts, stop_dist, given[1].get(shape_id) if given else None, near_m)
        if pos is None:
            pos, off = _positions(coords, pts)
        else:
            off = 0.0
        if off > near_m:  # perhaps a shape drawn against the stops' order
            back, back_off = _positions(coords[::-1], pts)
            if back_off < off - near_m:
                pos = back
        distance.append(float(pos[-1] - pos[0]) if len(pos) >= 2 else np.nan)
        if main and len(pos) >= 2:
            rows.append((trip, np.diff(pos)))
    shapes["distance_m"] = distance
    if not rows:
        return pd.DataFrame({"trip_id": [], "spacing_m": []})
    return pd.DataFrame({"trip_id": np.repeat(np.array([t for t, _ in rows], object), [len(d) for _, d in rows]),
                         "spacing_m": np.concatenate([d for _, d in rows])})


def _given_distances(gfeed, st: pd.DataFrame):
    """The feed's own shape_dist_traveled: (of each stop time of ``st``, {shape_id: of each shape point in
    order}), or None where the feed leaves any out."""
    sh = gfeed.shapes
    if "shape_dist_traveled" not in st or "shape_dist_traveled" not in sh:
        return None
    stop_dist = pd.to_numeric(st["shape_dist_traveled"], errors="coerce").to_numpy(float)
    shape_dist = pd.to_numeric(sh["shape_dist_traveled"], errors="coerce").to_numpy(float)
    if not (np.isfinite(stop_dist).all() and np.isfinite(shape_dist).all()):
        return None
    ids, start = np.unique(sh["shape_id"].to_numpy(), return_index=True)
    return stop_dist, dict(zip(ids, np.split(shape_dist, start[1:])))


def _placed(line: np.ndarray, points: np.ndarray, stop_dist, shape_dist, near_m: float) -> np.ndarray | None:
    """Distances along ``line`` (metres) of ``points`` as the feed places them (shape_dist_traveled of the
    stops, read against that of the shape's points), when they check out: in order along the shape, and each
    stop within ``near_m`` of where it is placed. Else None (then ``_positions`` places them)."""
    if stop_dist is None or shape_dist is None or len(shape_dist) != len(line) or len(points) < 2:
        return None
    if not np.isfinite(points).all() or (np.diff(shape_dist) < 0).any() or (np.diff(stop_dist) < 0).any():
        return None
    if stop_dist[0] < shape_dist[0] - 1e-6 or stop_dist[-1] > shape_dist[-1] + 1e-6:
        return None
    cum = metres_along(line)
    pos = np.interp(stop_dist, shape_dist, cum)
    at = np.column_stack([np.interp(pos, cum, line[:, 0]), np.interp(pos, cum, line[:, 1])])
    return pos if (np.hypot(*(at - points).T) <= near_m).all() else None


def _positions(line: np.ndarray, points: np.ndarray, per_km_m: float = 2.0) -> tuple[np.ndarray, float]:
    """Distances along ``line`` (n x 2) of ``points`` (k x 2) taken in order, and the points' mean distance
    from where they were placed.

    The placement never goes back along the line and minimises the points' total distance from it, plus
    ``per_km_m`` metres for each km further along: of two places about as near (the two legs of an out-and-back
    shape on one road), the earlier is taken (dynamic programming over the line's segments)."""
    points = points[np.isfinite(points).all(axis=1)]
    if len(points) == 0 or len(line) < 2:
        return np.empty(0), np.inf
    a, b = line[:-1], line[1:]
    ab = b - a
    seg = np.hypot(ab[:, 0], ab[:, 1])
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.clip(np.einsum("knj,nj->kn", points[:, None, :] - a[None], ab) / np.maximum(seg**2, 1e-12), 0, 1)
    d = np.hypot(*(points[:, None, :] - (a + t[..., None] * ab)).transpose(2, 0, 1))
    pos = cum[:-1] + t * seg
    cost = d + pos * per_km_m / 1000
    idx = np.arange(len(seg))
    total, back = cost[0], []
    for k in range(1, len(points)):  # a few dozen stops per pattern, each a vector operation over the segments
        best = np.minimum.accumulate(total)
        earlier = np.concatenate([[np.inf], best[:-1]])
        back.append(np.maximum.accumulate(np.where(total < earlier, idx, 0)))
        total = cost[k] + best
    j = np.empty(len(points), int)
    j[-1] = int(np.argmin(total))
    for k in range(len(points) - 1, 0, -1):
        j[k - 1] = back[k - 1][j[k]]
    rows = np.arange(len(points))
    return np.maximum.accumulate(pos[rows, j]), float(d[rows, j].mean())


def _route_table(gfeed, route_stats, departures, shapes, headways, spacing) -> pd.DataFrame:
    """One row per route (``NetworkStats.routes``); ``route_stats``: gtfs-kit's (``route_stats``)."""
    routes = gfeed.routes.copy()
    for c in ("route_short_name", "route_long_name", "agency_id"):
        if c not in routes:
            routes[c] = ""
    if gfeed.agency is not None and "agency_id" in gfeed.agency:
        routes = routes.merge(gfeed.agency[["agency_id", "agency_name"]], on="agency_id", how="left")
    elif gfeed.agency is not None and len(gfeed.agency) == 1:
        routes["agency_name"] = gfeed.agency["agency_name"].iat[0]
    else:
        routes["agency_name"] = ""
    routes = routes[routes["route_id"].isin(shapes["route_id"])]
    out = routes[["route_id", "route_short_name", "route_long_name", "agency_name"]].fillna("").copy()
    main = shapes[shapes["main"]].set_index(["route_id", "direction_id"])
    out["directions"] = out["route_id"].map(main.reset_index().groupby("route_id").size()).fillna(0).astype(int)
    out["patterns"] = out["route_id"].map(shapes.groupby("route_id").size()).fillna(0).astype(int)
    for d in (0, 1):
        m = main.xs(d, level="direction_id") if d in main.index.get_level_values(1) else main.iloc[0:0].droplevel(1)
        out[f"length_km_{d}"] = out["route_id"].map(m["distance_m"] / 1000)
        out[f"stops_{d}"] = out["route_id"].map(m["num_stops"]).astype("Int64")
        out[f"travel_time_min_{d}"] = out["route_id"].map(m["duration_s"] / 60)
    out["length_km"] = out[["length_km_0", "length_km_1"]].mean(axis=1)
    both_m = main.groupby(level=0)["distance_m"].sum()
    both_s = main.groupby(level=0)["duration_s"].sum()
    out["speed_kph"] = out["route_id"].map(both_m / 1000 / (both_s / 3600).where(both_s > 0))
    sp = spacing.merge(shapes.loc[shapes["main"], ["trip_id", "route_id"]], on="trip_id")
    out["stop_spacing_m"] = out["route_id"].map(sp.groupby("route_id")["spacing_m"].mean())
    out["departures"] = out["route_id"].map(departures.groupby("route_id").size()).fillna(0).astype(int)
    # gtfs-kit: headways over the window, peak vehicles, service span
    rs = route_stats
    if not rs.empty:
        rs = rs.set_index("route_id")
        for ours, theirs in (("headway_min_min", "min_headway"), ("headway_mean_min", "mean_headway"),
                             ("headway_max_min", "max_headway"), ("vehicles_needed", "peak_num_trips"),
                             ("service_start", "start_time"), ("service_end", "end_time")):
            out[ours] = out["route_id"].map(rs[theirs])
    else:
        for c in ("headway_min_min", "headway_mean_min", "headway_max_min", "vehicles_needed", "service_start",
                  "service_end"):
            out[c] = np.nan
    # a route run once a day (no gtfs-kit route stats): its span is its one trip
    ends = departures.assign(end_s=departures["dep_s"] + departures["duration_s"]).groupby("route_id")
    for col, first in (("service_start", ends["dep_s"].min()), ("service_end", ends["end_s"].max().round())):
        out[col] = out[col].astype(object).fillna(out["route_id"].map(first.map(gtfs_time)).astype(object))
    out["service_span_h"] = (service.seconds(out["service_end"]) - service.seconds(out["service_start"])) / 3600
    # the peak: the shortest band median among bands with a few departures (two close ones are not a service)
    busy = headways[headways["departures"] >= 4]
    peak = busy.groupby("route_id")["headway_median_min"].min().combine_first(
        headways.groupby("route_id")["headway_median_min"].min())
    out["headway_peak_min"] = out["route_id"].map(peak)
    fares = _route_fares(gfeed)
    out["fare"] = out["route_id"].map(fares["price"]) if not fares.empty else np.nan
    out["currency"] = out["route_id"].map(fares["currency"]).fillna("") if not fares.empty else ""
    out["fare_per_km"] = out["fare"] / out["length_km"]
    # a vehicle runs out and back: the cycle is both directions' travel times (twice the one ridden)
    t0, t1 = out["travel_time_min_0"], out["travel_time_min_1"]
    out["cycle_time_min"] = t0.fillna(t1) + t1.fillna(t0)
    out["vehicles_needed"] = out["vehicles_needed"].astype("Int64")
    out["patterns_per_direction"] = out["patterns"] / out["directions"].where(out["directions"] > 0)
    return out.sort_values("route_id", kind="stable").reset_index(drop=True)


def _route_fares(gfeed) -> pd.DataFrame:
    """A route's fare: its fare rule without origin and destination, else the dearest of its fares."""
    fa, fr = gfeed.fare_attributes, gfeed.fare_rules
    if fa is None or fr is None or fa.empty or fr.empty or "route_id" not in fr:
        return pd.DataFrame(columns=["price", "currency"])
    fr = fr.copy()
    for c in ("origin_id", "destination_id", "contains_id"):
        if c not in fr:
            fr[c] = np.nan
    fr["whole"] = fr[["origin_id", "destination_id", "contains_id"]].isna().all(axis=1)
    m = fr.dropna(subset=["route_id"]).merge(fa[["fare_id", "price", "currency_type"]], on="fare_id")
    m["price"] = pd.to_numeric(m["price"], errors="coerce")
    m = m.sort_values(["route_id", "whole", "price"], ascending=[True, False, False], kind="stable")
    first = m.groupby("route_id").head(1).set_index("route_id")
    return pd.DataFrame({"price": first["price"], "currency": first["currency_type"]})


def _coverage(ledger: pd.DataFrame, routes: pd.DataFrame):
    """Each route's support (rides, collectors) and the survey's coverage, from a build ledger."""
    led = ledger.fillna("").astype(str)
    used = led[led["status"] == "used"]
    collector = used["collector"] if "collector" in used else pd.Series("", index=used.index)
    support = pd.DataFrame({
        "rides": used.groupby("route_id").size(),
        "rides_full": used[used["ride"] == "full"].groupby("route_id").size(),
        "rides_partial": used[used["ride"] == "partial"].groupby("route_id").size(),
        "collectors": used.assign(c=collector)[collector != ""].groupby("route_id")["c"].nunique(),
    }).rename_axis("route_id").reset_index()
    severity = {c.code(): c.severity.name for c in N.catalogue()}
    q = led[led["status"] == "quarantined"]
    reasons: dict[str, int] = {}
    for codes in q["codes"]:
        for code in filter(None, codes.split(";")):
            if severity.get(code) == "ERROR":
                reasons[code] = reasons.get(code, 0) + 1
    traces = led[led["trace_id"] != ""]
    total = int(len(led))
    rides = routes["route_id"].map(support.set_index("route_id")["rides"]).fillna(0)
    coverage = {
        "inputs": total, "used": int((led["status"] == "used").sum()),
        "quarantined": int(len(q)), "duplicate": int((led["status"] == "duplicate").sum()),
        "unreadable_files": int(total - len(traces)),
        "quarantined_share": round(len(q) / total, 4) if total else 0.0,
        "quarantine_reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        "rides_per_route_median": float(rides.median()) if len(rides) else None,
        "routes_seen_once": sorted(routes.loc[rides.to_numpy() == 1, "route_id"]),
        "routes_one_direction": sorted(routes.loc[routes["directions"] < 2, "route_id"]),
        "collectors": int(collector[collector != ""].nunique()),
    }
    return support, coverage


def _confidence(routes: pd.DataFrame) -> pd.Series:
    """high: both directions, at least 4 rides (2 full) by at least 2 collectors; low: a single ride or only
    partial rides; medium otherwise."""
    high = (routes["directions"] >= 2) & (routes["rides"] >= 4) & (routes["rides_full"] >= 2) & (routes["collectors"]
                                                                                                 >= 2)
    low = (routes["rides"] <= 1) | (routes["rides_full"] == 0)
    return pd.Series(np.where(high, "high", np.where(low, "low", "medium")), index=routes.index)


def _served_km2(points: np.ndarray, radius_m: float) -> float:
    """The area (km2) within ``radius_m`` of the points."""
    return float(shapely.area(shapely.union_all(shapely.buffer(points, radius_m, quad_segs=8))) / 1e6)


def _corridors(shapes: pd.DataFrame, config: StatsConfig):
    """Road-km with shared stretches counted once, and the stretches shared by most routes.

    Every shape is cut into pieces of ``segment_m``; a piece runs along another where the two are within
    ``corridor_tolerance_m`` and roughly parallel (not a crossing). A piece counts towards the road-km unless a
    piece of an earlier shape, or an earlier piece of its own shape, runs along it; those that count, with the set
    of routes running along them,
    joined end to end, are the corridors."""
    from scipy.spatial import cKDTree  # here: scipy takes 0.2 s to import (see geo.Path)

    geoms = shapes["geometry"].to_numpy()
    lengths = shapely.length(geoms)
    n = np.maximum(np.ceil(lengths / config.segment_m).astype(int), 1)
    owner = np.repeat(np.arange(len(geoms)), n)
    k = np.concatenate([np.arange(c) for c in n]) if len(n) else np.array([], int)
    step = np.repeat(lengths / n, n)
    (ax, ay), (bx, by) = points_at(geoms, owner, k * step).T, points_at(geoms, owner, (k + 1) * step).T
    pieces = len(ax)
    seg_len = np.hypot(bx - ax, by - ay)
    route_codes, route_of_shape = np.unique(shapes["route_id"].to_numpy(), return_inverse=True)
    route = route_of_shape[owner]
    # pieces along each other: the middle of one within the tolerance of the other, side by side. Candidates
    # come from a KD-tree of the middles: a piece within the tolerance of a middle has its own middle within the
    # tolerance and half its length (numpy and scipy: half the time of shapely's STRtree with "dwithin")
    mx, my = (ax + bx) / 2, (ay + by) / 2
    middles = np.column_stack([mx, my])
    tree = cKDTree(middles)
    reach = config.corridor_tolerance_m + (seg_len.max() / 2 if pieces else 0.0) + 1e-6
    ux, uy = (bx - ax) / np.maximum(seg_len, 1e-9), (by - ay) / np.maximum(seg_len, 1e-9)
    dup = np.zeros(pieces, bool)
    keys = []
    # in chunks of pieces: a busy network has tens of millions of pairs of pieces side by side
    for lo in range(0, pieces, 50_000):
        i, j = pairs_within(middles[lo : lo + 50_000], middles, reach, b_tree=tree)
        i = i + lo
        within = segment_distance(mx[i], my[i], ax[j], ay[j], bx[j], by[j]) <= config.corridor_tolerance_m
        i, j = i[within], j[within]
        parallel = np.abs(ux[i] * ux[j] + uy[i] * uy[j]) >= 0.8
        i, j = i[parallel], j[parallel]
        # ... of an earlier shape, or earlier on the same shape (the way back of an out-and-back shape)
        dup[i[(owner[j] < owner[i]) | ((owner[j] == owner[i]) & (j < i - 1))]] = True
        # routes along each piece: distinct (piece, route) pairs (hashed: faster than a sort here)
        keys.append(pd.unique(i.astype(np.int64) * len(route_codes) + route[j]))
    unique_km = float(seg_len[~dup].sum() / 1000)
    # ... counted and hashed into a set identity
    key = np.concatenate(keys) if keys else np.array([], np.int64)
    pairs = np.column_stack([key // len(route_codes), key % len(route_codes)])
    count = np.bincount(pairs[:, 0], minlength=pieces)
    salt = np.random.default_rng(7).integers(1, 2**62, size=len(route_codes), dtype=np.int64)
    ident = np.zeros(pieces, np.int64)
    np.add.at(ident, pairs[:, 0], salt[pairs[:, 1]])
    # join consecutive counted pieces of a shape with the same routes
    brk = np.ones(pieces, bool)
    brk[1:] = (owner[1:] != owner[:-1]) | (ident[1:] != ident[:-1]) | dup[1:] != dup[:-1]
    run = np.cumsum(brk) - 1
    cols = ["corridor_id", "routes", "route_ids", "length_m"]
    if not pieces:
        return unique_km, pd.DataFrame(columns=cols), np.array([], dtype=object)
    run_len = np.bincount(run, weights=seg_len)
    first = np.flatnonzero(brk)
    cand = [r for r in range(len(first)) if not dup[first[r]] and count[first[r]] >= 2 and run_len[r]
            >= config.corridor_min_m]
    cand.sort(key=lambda r: (-count[first[r]], -run_len[r], first[r]))
    cand = cand[: config.corridors_top]
    rows, geometry = [], []
    for n_, r in enumerate(cand):
        s = first[r]
        members = pairs[pairs[:, 0] == s, 1]
        pts = np.flatnonzero(run == r)
        coords = np.vstack([np.column_stack([ax[pts], ay[pts]]), [[bx[pts[-1]], by[pts[-1]]]]])
        rows.append({"corridor_id": f"C{n_ + 1:02d}", "routes": int(count[s]),
                     "route_ids": [str(route_codes[m]) for m in sorted(members)], "length_m": float(run_len[r])})
        geometry.append(shapely.linestrings(coords))
    return unique_km, pd.DataFrame(rows, columns=cols), np.array(geometry, dtype=object)


def _distributions(routes, headways, spacing) -> pd.DataFrame:
    series = {
        ("route_length", "km"): routes["length_km"],
        ("headway", "min"): headways["headway_median_min"],
        ("fare_per_km", (routes["currency"].replace("", np.nan).dropna().mode().tolist() or [""])[0] + "/km"):
            routes["fare_per_km"],
        ("stop_spacing", "m"): spacing["spacing_m"],
        ("speed", "kph"): routes["speed_kph"],
    }
    rows = []
    for (metric, unit), s in series.items():
        v = pd.to_numeric(s, errors="coerce").to_numpy(float)
        v = v[np.isfinite(v)]
        row = {"metric": metric, "unit": unit, "n": int(len(v))}
        q = np.quantile(v, QUANTILES) if len(v) else [np.nan] * len(QUANTILES)
        row.update({"min": v.min() if len(v) else np.nan, "p10": q[0], "p25": q[1], "median": q[2], "p75": q[3],
                    "p90": q[4], "max": v.max() if len(v) else np.nan, "mean": v.mean() if len(v) else np.nan})
        rows.append(row)
    return pd.DataFrame(rows)


def _agreement(trip_stats, shapes, stop_points, routes, network, span_s: pd.Series) -> list[dict[str, Any]]:
    """Our figures next to gtfs-kit's where both compute the same thing: a list of {figure, transitmap,
    gtfs_kit, agree}."""
    checks = []

    def check(figure: str, ours: float, theirs: float, rtol: float, atol: float = 1e-9) -> None:
        agree = bool(np.isclose(ours, theirs, rtol=rtol, atol=atol)) if np.isfinite([ours, theirs]).all() else False
        checks.append({"figure": figure, "transitmap": json_plain(ours), "gtfs_kit": json_plain(theirs),
                       "agree": agree})

    check("routes", network["routes"], float(trip_stats["route_id"].nunique()), 0)
    # each pattern from its first stop to its last, where gtfs-kit measured it so (otherwise, for a shape that
    # crosses itself or whose stops it cannot place, gtfs-kit takes the whole shape: see _measure)
    between = shapes["gk_distance_m"].to_numpy(float) < shapes["length_m"].to_numpy(float) - 1
    ours, theirs = shapes["distance_m"].to_numpy(float)[between], shapes["gk_distance_m"].to_numpy(float)[between]
    if between.any():
        check("route-km of the patterns gtfs-kit measures between stops (2 %)", float(ours.sum() / 1000),
              float(theirs.sum() / 1000), 0.02)
        # where a stop lies near two places of its shape (a loop, a hook at the end) the two rules can differ
        close = np.isclose(ours, theirs, rtol=0.05, atol=10)
        check("patterns within 5 % of gtfs-kit's length (at least 95 %)", float(close.sum()), float(len(close)), 0.05)
    # vehicles: the most trips running at once (gtfs-kit) vs the cycle time over the peak headway, rounded up,
    # on routes with one pattern a direction (with branches the headways of a direction mix patterns) that run
    # both ways for over a cycle (``span_s``: each route's shortest span of departures in one direction; a
    # shorter service never has a full cycle's vehicles out at once)
    plain = routes[routes["patterns_per_direction"] == 1].dropna(subset=["vehicles_needed", "headway_peak_min"])
    plain = plain[(plain["headway_peak_min"] > 0)
                  & (plain["route_id"].map(span_s).to_numpy() / 60 > plain["cycle_time_min"].to_numpy())]
    if len(plain):
        cycle = np.ceil(plain["cycle_time_min"] / plain["headway_peak_min"])
        check("vehicles needed: cycle time / peak headway (one pattern a direction, served both ways for over a "
              "cycle; 10 % + 1 a route)",
              float(cycle.sum()), float(plain["vehicles_needed"].sum()), 0.1, float(len(plain)))
    return checks

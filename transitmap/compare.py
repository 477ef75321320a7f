"""Compare two networks of one area: which routes and stops are the same, and what changed.

Routes are matched by their paths, not their ids (two surveys, or two builds, number routes as they
please): each path is sampled every ``sample_m`` metres and a route's *share* in another is the part of
its length within ``near_m`` of the other's path. Two routes are the same route when each holds at least
``same_route_share`` of the other; the pairs are taken best first, each route once. Stops are the same stop
place when within ``same_stop_m`` of each other, nearest first, each stop once.

Used by ``transitmap diff`` (what changed between two feeds) and by ``build`` to keep route and stop ids
stable across rebuilds. Everything here works in metres in one UTM zone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely

from .errors import FeedError
from .geo import distinct, pairs_within, points_at, project, reproject
from .gtfs import read_feed
from .stats import feed_stats, json_plain


@dataclass(frozen=True)
class CompareConfig:
    near_m: float = 100.0  # a path within this of the other path runs on the same road
    same_route_share: float = 0.5  # two routes are one when each has this share of its length on the other
    moved_km: float = 1.0  # a matched route changed its path when at least this much of it moved
    same_stop_m: float = 30.0  # two stops this close are the same stop place
    headway_change: float = 0.25  # relative change of the peak headway reported as a change
    sample_m: float = 40.0  # paths are compared at points this far apart


def sample_paths(lines: dict[str, list], sample_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Points every ``sample_m`` along each key's lines (shapely geometries in metres), each standing for
    the ``sample_m`` of path around it: (key of each point, (n, 2) coordinates)."""
    keys, geoms = [], []
    for key, gs in lines.items():
        for g in gs:
            if g is not None and not g.is_empty:
                keys.append(key)
                geoms.append(g)
    if not geoms:
        return np.array([], dtype=object), np.empty((0, 2))
    geoms = np.array(geoms, dtype=object)
    counts = np.maximum(np.ceil(shapely.length(geoms) / sample_m).astype(int), 1)
    which = np.repeat(np.arange(len(geoms)), counts)
    at = (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts) + 0.5) * sample_m
    return np.array(keys, dtype=object)[which], points_at(geoms, which, at)


def shares(a: dict[str, list], b: dict[str, list], config: CompareConfig = CompareConfig()) -> pd.DataFrame:
    """For every pair of an ``a`` route and a ``b`` route that share a road: a_id, b_id, a_km and b_km
    (their sampled length, all lines of the route together), a_share and b_share (the part of each within
    ``near_m`` of the other, 0..1). A point is near the other path when within ``near_m`` of the line
    between two of its samples: within hypot(near_m, sample_m / 2) of one of them (to 2 m at the defaults)."""
    ka, pa = sample_paths(a, config.sample_m)
    kb, pb = sample_paths(b, config.sample_m)
    cols = ["a_id", "b_id", "a_km", "b_km", "a_share", "b_share"]
    if len(pa) == 0 or len(pb) == 0:
        return pd.DataFrame(columns=cols)
    keys = np.unique(np.r_[ka, kb].astype(str))
    ca, cb = np.searchsorted(keys, ka.astype(str)), np.searchsorted(keys, kb.astype(str))
    n = len(keys)
    i, j = pairs_within(pa, pb, float(np.hypot(config.near_m, config.sample_m / 2)))

    def one_way(cx, x, cy, y) -> pd.Series:
        hit = distinct(x * n + cy[y])  # each point once per route
        pair, near = np.unique(cx[hit // n] * n + hit % n, return_counts=True)
        return pd.Series(near / np.bincount(cx, minlength=n)[pair // n],
                         index=pd.MultiIndex.from_arrays([keys[pair // n], keys[pair % n]]))

    ab = one_way(ca, i, cb, j).rename("a_share")
    ba = one_way(cb, j, ca, i).rename("b_share")
    ba.index = ba.index.swaplevel()
    out = pd.concat([ab, ba], axis=1).fillna(0.0).reset_index()
    out.columns = ["a_id", "b_id", "a_share", "b_share"]
    km_a = pd.Series(ka.astype(str)).value_counts() * config.sample_m / 1000
    km_b = pd.Series(kb.astype(str)).value_counts() * config.sample_m / 1000
    out["a_km"], out["b_km"] = out["a_id"].map(km_a), out["b_id"].map(km_b)
    return out[cols].sort_values(["a_id", "b_id"], kind="stable").reset_index(drop=True)


def match_routes(overlap: pd.DataFrame, config: CompareConfig = CompareConfig()) -> pd.DataFrame:
    """The pairs of ``shares`` that are one route: both shares at least ``same_route_share``; pairs with
    equal ids first (a feed series keeps its ids; the paths confirm them), then the best pair first (the
    smaller share, then the larger); each route in one pair at most."""
    ok = overlap[(overlap["a_share"] >= config.same_route_share) & (overlap["b_share"] >= config.same_route_share)]
    ok = ok.assign(score=np.minimum(ok["a_share"], ok["b_share"]), score2=np.maximum(ok["a_share"], ok["b_share"]),
                   same=(ok["a_id"].astype(str) == ok["b_id"].astype(str)))
    ok = ok.sort_values(["same", "score", "score2", "a_id", "b_id"], ascending=[False, False, False, True, True],
                        kind="stable")
    taken_a, taken_b, keep = set(), set(), []
    for k, a_id, b_id in zip(ok.index, ok["a_id"], ok["b_id"]):
        if a_id not in taken_a and b_id not in taken_b:
            taken_a.add(a_id)
            taken_b.add(b_id)
            keep.append(k)
    return overlap.loc[sorted(keep)].sort_values("a_id", kind="stable").reset_index(drop=True)


def match_points(a_xy: np.ndarray, b_xy: np.ndarray, within_m: float) -> dict[int, int]:
    """{index in a: index in b} of the points within ``within_m`` of each other, nearest pairs first, each
    point once."""
    if len(a_xy) == 0 or len(b_xy) == 0:
        return {}
    a_xy, b_xy = np.asarray(a_xy, float).reshape(-1, 2), np.asarray(b_xy, float).reshape(-1, 2)
    i, j = pairs_within(a_xy, b_xy, within_m)
    d = np.hypot(*(a_xy[i] - b_xy[j]).T)
    order = np.lexsort((j, i, d))
    out: dict[int, int] = {}
    used: set[int] = set()
    for k in order:
        if int(i[k]) not in out and int(j[k]) not in used:
            out[int(i[k])] = int(j[k])
            used.add(int(j[k]))
    return out


# --------------------------------------------------------------------------------------------------
# The difference of two feeds


#: what became of a route, in the order a diff lists them
STATUSES = ("rerouted", "added", "removed", "kept")


@dataclass
class FeedDiff:
    """What changed from an old feed to a new one.

    ``routes``: one row per route of either feed: status (rerouted: the path changed by ``moved_km`` or
    more; kept: the same path, perhaps with other changes; added; removed), old_id, new_id,
    old_name, new_name, old_km, new_km (one direction), old_share/new_share (the part of each path on the other),
    moved_km
    (old path no longer served, km), new_path_km (path not served before, km), stops_added, stops_removed
    (stop places of the route), headway_old_min/headway_new_min (peak), fare_old/fare_new, changes (what
    changed, ``;``-separated: path (moved: both), extended (new path only), shortened (old path only),
    stops, headway, fare, name (the short name)).
    ``summary``: counts of routes and stops by status, and the settings used.
    """

    summary: dict[str, Any]
    routes: pd.DataFrame
    epsg: int
    old_lines: dict[str, list] = field(repr=False, default_factory=dict)  # UTM, by old route_id
    new_lines: dict[str, list] = field(repr=False, default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary,
                "routes": [{k: json_plain(v) for k, v in row.items()} for row in self.routes.to_dict("records")]}


def diff_feeds(old, new, config: CompareConfig = CompareConfig()) -> FeedDiff:
    """The difference of two GTFS feeds (zip bytes or paths) of one area. Raises ``errors.FeedError`` on
    what is not a feed."""
    so, sn = feed_stats(old), feed_stats(new)
    epsg = so.epsg
    old_lines = _lines(so, epsg)
    new_lines = _lines(sn, epsg)
    overlap = shares(old_lines, new_lines, config)
    pairs = match_routes(overlap, config)
    ro, rn = so.routes.set_index("route_id"), sn.routes.set_index("route_id")
    stops_o, stops_n = _stop_xy(so, epsg), _stop_xy(sn, epsg)
    route_stops_o, route_stops_n = _route_stop_xy(so, stops_o), _route_stop_xy(sn, stops_n)
    none = np.empty((0, 2))
    rows = []
    for p in pairs.itertuples(index=False):
        o, n = ro.loc[p.a_id], rn.loc[p.b_id]
        old_km, new_km = _km(o), _km(n)
        moved, fresh = (1 - p.a_share) * old_km, (1 - p.b_share) * new_km
        added, removed = _stop_changes(route_stops_o.get(p.a_id, none), route_stops_n.get(p.b_id, none), config)
        changes = []
        if moved >= config.moved_km and fresh >= config.moved_km:
            changes.append("path")
        elif fresh >= config.moved_km:
            changes.append("extended")
        elif moved >= config.moved_km:
            changes.append("shortened")
        if added or removed:
            changes.append("stops")
        h0, h1 = o["headway_peak_min"], n["headway_peak_min"]
        if pd.notna(h0) and pd.notna(h1) and abs(h1 - h0) > config.headway_change * h0:
            changes.append("headway")
        f0, f1 = o["fare"], n["fare"]
        if pd.notna(f0) and pd.notna(f1) and (round(f0, 2) != round(f1, 2) or o["currency"] != n["currency"]):
            changes.append("fare")
        if _short_name(o) != _short_name(n):
            changes.append("name")
        rerouted = bool({"path", "extended", "shortened"} & set(changes))
        rows.append({"status": "rerouted" if rerouted else "kept", "old_id": p.a_id, "new_id": p.b_id,
                     "old_name": _name(o), "new_name": _name(n), "old_km": old_km, "new_km": new_km,
                     "old_share": p.a_share, "new_share": p.b_share, "moved_km": moved, "new_path_km": fresh,
                     "stops_added": added, "stops_removed": removed, "headway_old_min": h0, "headway_new_min": h1,
                     "fare_old": f0, "fare_new": f1, "changes": ";".join(changes)})
    for rid in sorted(set(ro.index) - set(pairs["a_id"])):
        rows.append({"status": "removed", "old_id": rid, "new_id": "", "old_name": _name(ro.loc[rid]),
                     "old_km": _km(ro.loc[rid]), "headway_old_min": ro.loc[rid, "headway_peak_min"],
                     "fare_old": ro.loc[rid, "fare"]})
    for rid in sorted(set(rn.index) - set(pairs["b_id"])):
        rows.append({"status": "added", "old_id": "", "new_id": rid, "new_name": _name(rn.loc[rid]),
                     "new_km": _km(rn.loc[rid]), "headway_new_min": rn.loc[rid, "headway_peak_min"],
                     "fare_new": rn.loc[rid, "fare"]})
    cols = ["status", "old_id", "new_id", "old_name", "new_name", "old_km", "new_km", "old_share", "new_share",
            "moved_km", "new_path_km", "stops_added", "stops_removed", "headway_old_min", "headway_new_min",
            "fare_old", "fare_new", "changes"]
    routes = pd.DataFrame(rows, columns=cols)
    for c in ("old_id", "new_id", "old_name", "new_name", "changes"):
        routes[c] = routes[c].fillna("")
    order = {s: k for k, s in enumerate(STATUSES)}
    routes = routes.sort_values(["status", "old_id", "new_id"], key=lambda s: s.map(order) if s.name == "status" else s,
                                kind="stable").reset_index(drop=True)
    same_stops = match_points(stops_o[1], stops_n[1], config.same_stop_m)
    counts = routes["status"].value_counts()
    change_counts = pd.Series([c for cs in routes["changes"] for c in cs.split(";") if c]).value_counts()
    summary = {
        "old": {"routes": int(len(ro)), "stops": int(len(stops_o[0])), "route_km": float(so.network["route_km"])},
        "new": {"routes": int(len(rn)), "stops": int(len(stops_n[0])), "route_km": float(sn.network["route_km"])},
        "routes": {s: int(counts.get(s, 0)) for s in STATUSES},
        "changes": {c: int(change_counts.get(c, 0)) for c in ("path", "extended", "shortened", "stops", "headway",
                                                             "fare", "name")},
        "matched_with_same_id": int((pairs["a_id"].astype(str) == pairs["b_id"].astype(str)).sum()),
        "stops": {"kept": len(same_stops), "added": len(stops_n[0]) - len(same_stops),
                  "removed": len(stops_o[0]) - len(same_stops)},
        "settings": {"near_m": config.near_m, "same_route_share": config.same_route_share,
                     "moved_km": config.moved_km, "same_stop_m": config.same_stop_m,
                     "headway_change": config.headway_change},
        "crs": f"EPSG:{epsg}",
    }
    return FeedDiff(summary, routes, epsg, old_lines, new_lines)


def _km(r) -> float:
    """A route's length, one direction (the stats' placement of its stops along its shapes)."""
    return float(r["length_km"]) if pd.notna(r["length_km"]) else 0.0


def _short_name(r) -> str:
    """The name riders know a route by: its short name, else its long name."""
    for key in ("route_short_name", "route_long_name"):
        if r[key] and str(r[key]) != "nan":
            return str(r[key]).strip()
    return ""


def _name(r) -> str:
    return " ".join(str(v) for v in (r["route_short_name"], r["route_long_name"]) if v and str(v) != "nan").strip()


def _lines(stats, epsg: int) -> dict[str, list]:
    """The route's main pattern shapes (one per direction), in the UTM zone ``epsg``."""
    main = stats.shapes[stats.shapes["main"]]
    geoms = main["geometry"].to_numpy()
    if stats.epsg != epsg:
        geoms = reproject(geoms, stats.epsg, epsg)
    out: dict[str, list] = {}
    for rid, g in zip(main["route_id"], geoms):
        out.setdefault(rid, []).append(g)
    return out


def _stop_xy(stats, epsg: int) -> tuple[np.ndarray, np.ndarray]:
    pts = stats.stop_points["geometry"].to_numpy()
    if stats.epsg != epsg:
        pts = reproject(pts, stats.epsg, epsg)
    return stats.stop_points["stop_id"].to_numpy(), shapely.get_coordinates(pts)


def _route_stop_xy(stats, stops: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
    """{route_id: coordinates of its stops} (``stops``: the feed's stop ids and coordinates)."""
    index = {s: k for k, s in enumerate(stops[0])}
    rs = stats.route_stops[stats.route_stops["stop_id"].isin(index)]
    return {rid: stops[1][[index[s] for s in ids]] for rid, ids in rs.groupby("route_id")["stop_id"]}


def _stop_changes(old_xy: np.ndarray, new_xy: np.ndarray, config) -> tuple[int, int]:
    """(stop places added, stop places removed) on a matched route, from its old and new stops."""
    same = match_points(old_xy, new_xy, config.same_stop_m)
    return len(new_xy) - len(same), len(old_xy) - len(same)


# --------------------------------------------------------------------------------------------------
# Stable identifiers across rebuilds


@dataclass(frozen=True)
class StableIds:
    """Ids for a new build that keep those of the previous one wherever the thing is the same.

    ``route_ids[r]`` and ``stop_ids[k]`` follow the order of the new routes and stops; ``flipped[r]`` says
    that route r runs the other way round than the previous build's direction 0, so its direction ids are
    swapped; ``kept_routes``/``kept_stops`` count the ids carried over."""

    route_ids: list[str]
    stop_ids: list[str]
    flipped: list[bool]
    kept_routes: int = 0
    kept_stops: int = 0


def stable_ids(previous: bytes | None, routes: list[dict[int, list]], stops_xy: np.ndarray, epsg: int, *,
               reserved: set[str] = frozenset(), config: CompareConfig = CompareConfig(),
               forced: dict[int, str] | None = None) -> StableIds:
    """Route and stop ids for a new build (``routes[r]``: {direction_id: [lines in metres]}; ``stops_xy``:
    the stops in metres, both in UTM ``epsg``), given the previous build's feed (zip bytes; None for a
    first build). A route keeps its old id when it is the same route (``match_routes``), a stop when it
    is within ``same_stop_m`` of an old stop; new ones are numbered after every id of the previous feed
    and of ``reserved`` (ids retired earlier), so an id never comes back for something else. ``forced``
    ({route index: id}): the ids routes take whatever the geometry says (rides put in them by hand)."""
    old = _previous_network(previous, epsg) if previous is not None else None
    taken = set(reserved) | (set(old["route_ids"]) | set(old["stop_ids"]) if old else set())
    route_ids: list[str | None] = [None] * len(routes)
    flipped = [False] * len(routes)
    stop_ids: list[str | None] = [None] * len(stops_xy)
    if old:
        new_lines = {f"#{r}": [g for gs in dirs.values() for g in gs] for r, dirs in enumerate(routes)}
        for p in match_routes(shares(old["lines"], new_lines, config), config).itertuples(index=False):
            r = int(p.b_id[1:])
            route_ids[r] = p.a_id
            flipped[r] = _runs_backwards(routes[r], old["directions"].get(p.a_id, {}))
        for k, j in match_points(np.asarray(stops_xy, float).reshape(-1, 2), old["stops_xy"],
                                 config.same_stop_m).items():
            stop_ids[k] = old["stop_ids"][j]
    forced = forced or {}
    taken |= set(forced.values())
    route_ids = [forced.get(r, None if i in forced.values() else i) for r, i in enumerate(route_ids)]
    fresh_r = _fresh("R", 3, taken, sum(i is None for i in route_ids))
    fresh_s = _fresh("S", 4, taken, sum(i is None for i in stop_ids))
    route_out = [i if i is not None else next(fresh_r) for i in route_ids]
    stop_out = [i if i is not None else next(fresh_s) for i in stop_ids]
    return StableIds(route_out, stop_out, flipped, sum(i is not None for i in route_ids),
                     sum(i is not None for i in stop_ids))


def _fresh(prefix: str, width: int, taken: set[str], count: int):
    """``count`` ids prefix + number, numbered after every such id in ``taken``."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)$")
    top = max((int(m.group(1)) for t in taken if (m := pattern.match(t))), default=0)
    return iter(f"{prefix}{n:0{width}d}" for n in range(top + 1, top + 1 + count))


def _runs_backwards(new: dict[int, list], old: dict[int, Any]) -> bool:
    """Whether the new route's direction 0 runs the way of the old route's direction 1 (or against its
    direction 0): where its first and last points fall along the old line."""
    d, lines = next(((d, gs) for d, gs in sorted(new.items()) if gs), (None, None))
    if d is None or not old:
        return False
    line = lines[0]
    a, b = shapely.points(line.coords[0]), shapely.points(line.coords[-1])
    for od, og in sorted(old.items()):
        la, lb = shapely.line_locate_point(og, a), shapely.line_locate_point(og, b)
        if la != lb:
            return (la > lb) == (od == d)
    return False


def _previous_network(feed: bytes, epsg: int) -> dict[str, Any]:
    """The routes (lines by route and direction, in UTM ``epsg``) and stops of a previous build's feed."""
    try:
        tables = read_feed(feed, ("routes", "trips", "stops", "shapes"))
        if not {"routes", "trips", "stops"} <= set(tables.tables):
            raise FeedError(f"it has no {', '.join(sorted({'routes', 'trips', 'stops'} - set(tables.tables)))}")
    except FeedError as e:
        raise FeedError(f"the previous feed cannot be read: {e}") from e
    # the stops riders board at; a station (a rank) follows its first stop's id
    routes, trips, stops, shapes = tables.routes, tables.trips, tables.stops, tables.shapes
    shapes = shapes.assign(seq=pd.to_numeric(shapes["shape_pt_sequence"], errors="coerce")).sort_values(
        ["shape_id", "seq"], kind="stable")
    x, y = project(pd.to_numeric(shapes["shape_pt_lat"]).to_numpy(float),
                   pd.to_numeric(shapes["shape_pt_lon"]).to_numpy(float), epsg)
    geoms = {}
    for sid, idx in shapes.groupby("shape_id", sort=True).indices.items():
        if len(idx) >= 2:
            geoms[sid] = shapely.linestrings(np.column_stack([x[idx], y[idx]]))
    if "direction_id" not in trips:
        trips["direction_id"] = "0"
    lines: dict[str, list] = {}
    directions: dict[str, dict[int, Any]] = {}
    for rid, d, sid in trips[["route_id", "direction_id", "shape_id"]].drop_duplicates().itertuples(index=False):
        if sid in geoms:
            lines.setdefault(rid, []).append(geoms[sid])
            directions.setdefault(rid, {}).setdefault(int(d or 0), geoms[sid])  # the direction's first pattern
    sx, sy = project(pd.to_numeric(stops["stop_lat"]).to_numpy(float), pd.to_numeric(stops["stop_lon"]).to_numpy(float),
                     epsg)
    return {"route_ids": list(routes["route_id"]), "stop_ids": list(stops["stop_id"]), "lines": lines,
            "directions": directions, "stops_xy": np.column_stack([sx, sy])}

"""OpenStreetMap, read from an extract (``.osm.pbf`` or ``.osm``) offline: the roads the patterns are snapped to
and the names of the stops nobody named.

- ``read_extract``: the extract's roads (ways tagged ``highway`` that vehicles use, cut into their segments
  between consecutive nodes) and its named stops and platforms, in the survey's UTM zone (pyosmium).
- ``on_the_map``: each pattern's path map-matched to those roads with FMM (``fastmm``: a hidden Markov
  model over the road graph, the road between two points by shortest path). Where no road of the extract lies
  near the path, or the matcher finds no way along the roads, the recorded path is kept there and a notice
  says so. The snapped path replaces the pattern's path; its stops keep their places along it.
- ``place_names``: a name for each stop nobody named, as the map names the place: the nearest named bus stop
  or platform within a short walk, else the street it stands on (with the crossing street where one is near).
- ``routes_osm``: the routes back to OpenStreetMap, as route relations for JOSM.

Data © OpenStreetMap contributors, ODbL 1.0: a feed built with an extract says so (``attributions.txt``, the
report, routes.osm).
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field, replace

import numpy as np
import shapely

from .engine import quiet_streams
from .errors import SettingsError
from .geo import metres_along, nearest, project

#: highway values of roads that carry no bus, minibus or shared taxi
NOT_ROADS = frozenset({"footway", "path", "cycleway", "steps", "pedestrian", "bridleway", "corridor", "elevator",
                       "construction", "proposed", "platform", "bus_stop", "escape", "raceway", "abandoned",
                       "disused", "via_ferrata", "services", "rest_area"})
ATTRIBUTION = "© OpenStreetMap contributors, ODbL 1.0"


@dataclass(frozen=True)
class OsmConfig:
    near_road_m: float = 40.0  # a point of a path this far from every road of the extract is off the map
    gps_error_m: float = 15.0  # how far a pattern's path strays from its road (its median: a few metres)
    max_detour_m: float = 150.0  # the longest way along the roads between two points of a path 10 m apart
    stop_name_m: float = 60.0  # a stop takes the name of a named bus stop or platform this close
    street_m: float = 30.0  # ... else of the named street this close
    crossing_m: float = 40.0  # ... with a crossing street this close ("Ring Road at Kojo Thompson Road")
    street_near_stop_m: float = 300.0  # a street naming three stops of a trip: each "near" a bus stop this close
    reverse_m: float = 30.0  # a point this far behind the one before it on a road is taken as there, no U-turn
    min_off_map_m: float = 50.0  # shorter stretches the matcher cannot place are bridged, longer ones kept
    stop_off_road_m: float = 40.0  # a stop this far from its snapped path is off the road (a rank, a yard) ...
    yard_m: float = 150.0  # ... and the recorded path this far before and after it is kept


@dataclass(frozen=True, eq=False)
class Extract:
    """An extract's roads and stops in a UTM zone. Road segments (one row per pair of consecutive nodes of a
    way): ``way``, ``index`` (of its first node in the way), ``a``/``b`` (node ids), ``xy`` ((n, 2, 2): the two
    ends, metres), ``oneway`` (1: only a to b, -1: only b to a, 0: both). ``way_nodes``: each road's node ids;
    ``way_tags``: its tags. Stops: ``stop_ids`` (node ids), ``stop_xy``, ``stop_names``."""

    epsg: int
    way: np.ndarray
    index: np.ndarray
    a: np.ndarray
    b: np.ndarray
    xy: np.ndarray
    oneway: np.ndarray
    way_nodes: dict[int, np.ndarray]
    way_tags: dict[int, dict[str, str]]
    node_xy: dict[int, tuple[float, float]]
    stop_ids: np.ndarray
    stop_xy: np.ndarray
    stop_names: list[str]
    stop_tags: list[dict[str, str]] = field(default_factory=list)
    #: for writing routes.osm: the version of each way and of each node of a road, the latitude and longitude
    #: of those nodes, and the relations with a road among their members: id: (version, tags, members as
    #: (type "n" | "w" | "r", ref, role))
    versions: dict[tuple[str, int], int] = field(default_factory=dict)
    node_latlon: dict[int, tuple[float, float]] = field(default_factory=dict)
    stop_latlon: list[tuple[float, float]] = field(default_factory=list)
    relations: dict[int, tuple[int, dict[str, str], list[tuple[str, int, str]]]] = field(default_factory=dict)


def read_extract(path: str | os.PathLike, epsg: int) -> Extract:
    """The roads and named stops of an OSM extract (``SettingsError`` for a file pyosmium cannot read, or
    without pyosmium and fastmm)."""
    try:
        import fastmm  # noqa: F401  (the matcher: said here, before the extract is read)
        import osmium
    except ImportError as e:
        raise SettingsError(f"osm_extract needs pyosmium and fastmm ({e.name} is missing): "
                            "pip install 'transitmap[osm]'") from None

    ways, stops, versions, relations = [], [], {}, {}
    try:
        for o in osmium.FileProcessor(os.fspath(path)).with_locations():
            if o.is_way():
                tags = dict(o.tags)
                if tags.get("highway") and tags["highway"] not in NOT_ROADS and tags.get("area") != "yes":
                    nodes = [(n.ref, n.lat, n.lon) for n in o.nodes if n.location.valid()]
                    if len(nodes) == len(o.nodes) >= 2:  # a way cut by the extract's edge is left out
                        ways.append((o.id, nodes, tags))
                        versions[("w", o.id)] = o.version
            elif o.is_relation():
                relations[o.id] = (o.version, dict(o.tags), [(m.type, m.ref, m.role) for m in o.members])
            elif o.is_node():
                tags = dict(o.tags)
                if tags.get("name") and (tags.get("highway") == "bus_stop"
                                         or tags.get("public_transport") in ("platform", "stop_position", "station")
                                         or tags.get("amenity") == "bus_station"):
                    stops.append((o.id, o.location.lat, o.location.lon, tags))
                    versions[("n", o.id)] = o.version
        node_latlon = {n[0]: (n[1], n[2]) for _, nodes, _ in ways for n in nodes}
        for o in osmium.FileProcessor(os.fspath(path), osmium.osm.NODE):  # again, for the versions of their nodes
            if o.id in node_latlon:
                versions[("n", o.id)] = o.version
    except (RuntimeError, OSError, ValueError) as e:
        raise SettingsError(f"osm_extract {os.fspath(path)!r} cannot be read as an OpenStreetMap extract: {e}") from e
    road_ids = {w[0] for w in ways}
    relations = {k: v for k, v in relations.items() if any(t == "w" and ref in road_ids for t, ref, _ in v[2])}
    ways.sort(key=lambda w: w[0])
    stops.sort(key=lambda s: s[0])
    way, index, a, b, ends, oneway = [], [], [], [], [], []
    way_nodes, way_tags, node_xy = {}, {}, {}
    for wid, nodes, tags in ways:
        ref = np.array([n[0] for n in nodes], np.int64)
        x, y = project(np.array([n[1] for n in nodes]), np.array([n[2] for n in nodes]), epsg)
        node_xy.update(zip(ref.tolist(), zip(x.tolist(), y.tolist())))
        way_nodes[wid], way_tags[wid] = ref, tags
        k = len(ref) - 1
        way.append(np.full(k, wid, np.int64))
        index.append(np.arange(k))
        a.append(ref[:-1])
        b.append(ref[1:])
        pts = np.column_stack([x, y])
        ends.append(np.stack([pts[:-1], pts[1:]], axis=1))
        one = tags.get("oneway", "")
        direction = -1 if one == "-1" else 1 if one in ("yes", "true", "1") or tags.get("junction") in (
            "roundabout", "circular") or tags.get("highway") in ("motorway",) and one != "no" else 0
        oneway.append(np.full(k, direction, np.int8))
    cat = lambda parts, dtype, shape=(0,): np.concatenate(parts) if parts else np.zeros(shape, dtype)  # noqa: E731
    if stops:
        sx, sy = project(np.array([s[1] for s in stops]), np.array([s[2] for s in stops]), epsg)
        stop_xy = np.column_stack([sx, sy])
    else:
        stop_xy = np.zeros((0, 2))
    return Extract(epsg, cat(way, np.int64), cat(index, np.int64), cat(a, np.int64), cat(b, np.int64),
                   cat(ends, float, (0, 2, 2)), cat(oneway, np.int8), way_nodes, way_tags, node_xy,
                   np.array([s[0] for s in stops], np.int64), stop_xy, [s[3]["name"].strip() for s in stops],
                   [s[3] for s in stops], versions, node_latlon, [(s[1], s[2]) for s in stops], relations)


class Matcher:
    """FMM over the extract's roads: each segment an edge, in both directions unless the road is one-way."""

    def __init__(self, extract: Extract, config: OsmConfig = OsmConfig()) -> None:
        import fastmm

        self.extract, self.config = extract, config
        forward = extract.oneway >= 0
        backward = extract.oneway <= 0
        seg = np.concatenate([np.flatnonzero(forward), np.flatnonzero(backward)])
        rev = np.concatenate([np.zeros(forward.sum(), bool), np.ones(backward.sum(), bool)])
        self.edge_segment, self.edge_reversed = seg, rev
        with quiet_streams(), tempfile.TemporaryDirectory() as cache:
            self.net = net = fastmm.Network()
            for e, (s, r) in enumerate(zip(seg.tolist(), rev.tolist())):
                (x0, y0), (x1, y1) = extract.xy[s].tolist()
                src, dst = (int(extract.b[s]), int(extract.a[s])) if r else (int(extract.a[s]), int(extract.b[s]))
                net.add_edge(e, src, dst, [(x1, y1), (x0, y0)] if r else [(x0, y0), (x1, y1)])
            net.finalize()
            # the matcher's table of shortest paths holds those up to ``max_detour_m``: at least one
            # (a road of a single segment longer than that would leave it empty, which FMM refuses)
            shortest = float(np.hypot(*(extract.xy[:, 1] - extract.xy[:, 0]).T).min())
            self.fmm = fastmm.FastMapMatch(net, fastmm.TransitionMode.SHORTEST, cache_dir=cache,
                                           max_distance_between_candidates=max(config.max_detour_m,
                                                                               1.01 * shortest + 1))
        ends = extract.xy[seg]
        self.edge_dir = np.where(rev[:, None], ends[:, 0] - ends[:, 1], ends[:, 1] - ends[:, 0])
        self.segments = shapely.linestrings(extract.xy.reshape(-1, 2), indices=np.repeat(np.arange(len(extract.xy)),
                                                                                          2))
        self.tree = shapely.STRtree(self.segments)

    def match(self, xy: np.ndarray, recorded: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, list[tuple[int, bool]], list[tuple[int, int]]]:
        """The path ``xy`` ((n, 2) metres) along the roads: (the snapped path, where each point of ``xy`` lies
        along it (m), the road segments it runs along in order as (segment, reversed), and the runs of points
        of ``xy`` (first, last) left as recorded: off the map, no way along the roads, or ``recorded`` (a
        mask of points to keep as they are))."""
        import fastmm

        near = self.tree.query(shapely.points(xy), predicate="dwithin", distance=self.config.near_road_m)
        on_map = np.zeros(len(xy), bool)
        on_map[near[0]] = True
        if recorded is not None:
            on_map &= ~recorded
        pieces: dict[int, tuple[int, np.ndarray, np.ndarray]] = {}  # first point: (last, path, offsets)
        along: list[tuple[int, bool]] = []
        for lo, hi in _runs(on_map):
            if hi == lo:
                continue
            with quiet_streams():
                result = self.fmm.match(fastmm.Trajectory.from_xy_tuples(list(map(tuple, xy[lo:hi + 1].tolist()))),
                                        max_candidates=8, candidate_search_radius=self.config.near_road_m,
                                        gps_error=self.config.gps_error_m, reverse_tolerance=self.config.reverse_m)
            for sub in result.subtrajectories:
                first, last = lo + sub.start_index, lo + sub.end_index
                if sub.error_code != fastmm.MatchErrorCode.SUCCESS or len(sub.segments) != last - first:
                    continue
                # the matched points, flat: (segment of the trajectory, edge, x, y)
                rows = np.array([(k, e.edge_id, p.x, p.y) for k, seg in enumerate(sub.segments) for e in seg.edges
                                 for p in e.points], float).reshape(-1, 4)
                pts, offsets, edges = self._ahead(rows, len(sub.segments))
                for edge in edges:
                    if not along or along[-1] != edge:
                        along.append(edge)
                pieces[first] = (last, pts, offsets)
        # the points no match covers stay as recorded
        covered = np.zeros(len(xy), bool)
        for first, (last, _, _) in pieces.items():
            covered[first:last + 1] = True
        kept, bridged = [], []
        for first, last in _runs(~covered):
            piece = xy[max(first - 1, 0):last + 2]  # with the matched points on either side
            if _length(piece) < self.config.min_off_map_m and 0 < first and last < len(xy) - 1:
                bridged.append((first, last))  # a point or two astray between matched ones: bridged
                continue
            piece = xy[first:last + 1]
            kept.append((first, last))
            pieces[first] = (last, piece, metres_along(piece))
        path, at, total = [], np.zeros(len(xy)), 0.0
        for first in sorted(pieces):
            last, pts, offsets = pieces[first]
            if path and len(pts):
                total += float(np.hypot(*(pts[0] - path[-1][-1])))
            at[first:last + 1] = total + offsets
            total += offsets[-1]
            if len(pts):
                path.append(pts)
        for first, last in bridged:  # evenly between the matched points on either side
            at[first:last + 1] = np.linspace(at[first - 1], at[last + 1], last - first + 3)[1:-1]
        return _joined(path), at, along, kept

    def _ahead(self, rows: np.ndarray, n_segments: int) -> tuple[np.ndarray, np.ndarray, list[tuple[int, bool]]]:
        """From the matched points of a trajectory (rows of segment, edge, x, y, in order): the path, where the
        end of each of its ``n_segments`` segments lies along it (0 first), and the road segments it runs along
        as (segment, reversed). A point behind the one before it on the same edge (the matcher lets a point
        fall back ``reverse_m``) is left out: the path never turns back on itself."""
        seg, edge, xy = rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 2:]
        if not len(rows):
            return np.zeros((0, 2)), np.zeros(n_segments + 1), []
        run = np.cumsum(np.r_[True, edge[1:] != edge[:-1]])  # runs of points on one edge
        ahead = np.einsum("ij,ij->i", xy, self.edge_dir[edge])  # how far along its edge's direction
        span = float(np.ptp(ahead)) + 1.0
        key = ahead + run * span  # one rising scale over the runs: a running maximum per run
        before = np.r_[-np.inf, np.maximum.accumulate(key)[:-1]]
        keep = key > before
        pts, seg, edge = xy[keep], seg[keep], edge[keep]
        cum = metres_along(pts)
        last = np.searchsorted(seg, np.arange(n_segments), side="right") - 1  # the last point of each segment
        offsets = np.r_[0.0, np.where(last >= 0, cum[np.maximum(last, 0)], 0.0)]
        change = np.r_[True, edge[1:] != edge[:-1]]
        edges = list(zip(self.edge_segment[edge[change]].tolist(), self.edge_reversed[edge[change]].tolist()))
        return _joined([pts]), offsets, edges


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) of each run of True."""
    d = np.diff(np.r_[0, mask.astype(np.int8), 0])
    return list(zip(np.flatnonzero(d == 1).tolist(), (np.flatnonzero(d == -1) - 1).tolist()))


def _joined(pieces: list[np.ndarray]) -> np.ndarray:
    """The pieces end to end, a point repeated where one ends and the next begins dropped."""
    pts = np.concatenate([p for p in pieces if len(p)]) if any(len(p) for p in pieces) else np.zeros((0, 2))
    if len(pts) < 2:
        return pts
    keep = np.r_[True, np.any(np.abs(np.diff(pts, axis=0)) > 1e-6, axis=1)]
    return pts[keep]


def _length(pts: np.ndarray) -> float:
    return float(np.hypot(*np.diff(pts, axis=0).T).sum()) if len(pts) >= 2 else 0.0


@dataclass(frozen=True, eq=False)
class OnTheMap:
    """A network snapped to an extract's roads (``on_the_map``): its routes and pattern stops with the snapped
    paths; ``off_map``: the stretches kept as recorded, (route, pattern, x_m, y_m of their start, length_m);
    ``segments``: the road segments each pattern runs along, in order ((segment, reversed), ``Extract``);
    ``names``: {stop index: (name, "stop" | "street")} of the stops named from the map."""

    routes: list
    pattern_stops: dict
    off_map: list[tuple[int, int, float, float, float]]
    segments: dict[tuple[int, int], list[tuple[int, bool]]]
    names: dict[int, tuple[str, str]]


def on_the_map(routes: list, pattern_stops: dict, stops: list, extract: Extract,
               config: OsmConfig = OsmConfig()) -> OnTheMap:
    """Each pattern's path snapped to the extract's roads (``Matcher``), its stops at the same places along
    the new path (a stop between two points of the old path lies between their places on the new one), and
    names for the stops nobody named (``place_names``)."""
    if not len(extract.way):  # no road: every path stays as recorded
        off_map = [(r, p, float(pattern.xy[0, 0]), float(pattern.xy[0, 1]), _length(pattern.xy))
                   for r, route in enumerate(routes) for p, pattern in enumerate(route.patterns)]
        return OnTheMap(list(routes), dict(pattern_stops), off_map, {}, place_names(stops, extract, config))
    matcher = Matcher(extract, config)
    out_routes, out_stops, off_map, segments = [], {}, [], {}
    for r, route in enumerate(routes):
        patterns = []
        for p, pattern in enumerate(route.patterns):
            old = metres_along(pattern.xy)
            ps = pattern_stops[(r, p)]
            path, at, along, kept = matcher.match(pattern.xy)
            # a stop the vehicles drive off the road to (a rank, a station yard) keeps the recorded path
            # around it: on the road it would be far from its shape, and two of its stops at one place
            where = np.array([(stops[k].x_m, stops[k].y_m) for k in ps.stop_index], float).reshape(-1, 2)
            far = (shapely.distance(shapely.points(where), shapely.linestrings(path)) > config.stop_off_road_m
                   if len(path) >= 2 else np.zeros(len(where), bool))
            yard = np.zeros(len(old), bool)
            if far.any():
                for s in ps.s_m[far]:
                    yard |= np.abs(old - s) <= config.yard_m
                path, at, along, kept = matcher.match(pattern.xy, yard)
            if len(path) < 2:  # nothing on the map: the recorded path
                path, at, along = pattern.xy, old, []
            at = np.maximum.accumulate(at)
            out_stops[(r, p)] = replace(ps, s_m=_apart(np.interp(ps.s_m, old, at), _length(path)))
            for first, last in kept:
                if yard[first:last + 1].any():  # kept for a stop off the road, not for want of one
                    continue
                piece = pattern.xy[first:last + 1]
                off_map.append((r, p, float(piece[0, 0]), float(piece[0, 1]), _length(piece)))
            segments[(r, p)] = along
            patterns.append(replace(pattern, xy=path))
        out_routes.append(replace(route, patterns=tuple(patterns)))
    on_ways = frozenset(int(extract.way[k]) for along in segments.values() for k, _ in along)
    names = place_names(stops, extract, config, on_ways)
    # a street that would name more than two stops of one trip ("Spintex" four times in a row tells a rider
    # nothing) names them after the nearest bus stop of the map within ``street_near_stop_m`` ("Spintex near
    # Trade Fair"); where that still repeats, they are named as stops nobody named are
    sequences = [list(dict.fromkeys(ps.stop_index)) for ps in out_stops.values()]
    over = _streets_overused(names, sequences)
    if over and len(extract.stop_xy):
        dist, j = nearest(np.array([(stops[k].x_m, stops[k].y_m) for k in over], float), extract.stop_xy)
        for k, d, jj in zip(over, dist, j):
            if d <= config.street_near_stop_m:
                names[k] = (f"{names[k][0]} near {extract.stop_names[jj]}", "street")
            else:
                del names[k]
    for k in _streets_overused(names, sequences):
        del names[k]
    return OnTheMap(out_routes, out_stops, off_map, segments, names)


def _streets_overused(names: dict[int, tuple[str, str]], sequences: list[list[int]]) -> list[int]:
    """The stops named after a street (``place_names``) whose name more than two stops of one trip have."""
    out: set[int] = set()
    for seq in sequences:
        street = [k for k in seq if k in names and names[k][1] == "street"]
        count = Counter(names[k][0] for k in street)
        out.update(k for k in street if count[names[k][0]] > 2)
    return sorted(out)


def _apart(s_m: np.ndarray, length_m: float, step_m: float = 0.5) -> np.ndarray:
    """Stop distances along a path in order and at least ``step_m`` apart within its length: stops that the
    snapped path brings to one place (a station's boarding points beside the road) keep their order, as
    GTFS asks (``shape_dist_traveled`` increasing)."""
    s = np.clip(np.asarray(s_m, float).copy(), 0.0, length_m)
    for i in range(1, len(s)):  # a pattern's stops: tens
        s[i] = max(s[i], s[i - 1] + step_m)
    return np.minimum(s, length_m - step_m * np.arange(len(s) - 1, -1, -1)) if len(s) and s[-1] > length_m else s


def place_names(stops: list, extract: Extract, config: OsmConfig = OsmConfig(),
                on_ways: frozenset[int] = frozenset()) -> dict[int, tuple[str, str]]:
    """{stop index: (name, "stop" | "street")} for the stops without a name (``NetworkStop``): the nearest
    named bus stop or platform of the extract within ``stop_name_m``, else the named street within
    ``street_m`` (one of ``on_ways``, the roads the routes run along, before any other), with the nearest other
    named street within ``crossing_m``: "Ring Road at Kojo Thompson Road"."""
    unnamed = [k for k, s in enumerate(stops) if not s.name]
    if not unnamed:
        return {}
    xy = np.array([(stops[k].x_m, stops[k].y_m) for k in unnamed], float).reshape(-1, 2)
    out: dict[int, tuple[str, str]] = {}
    if len(extract.stop_xy):
        dist, j = nearest(xy, extract.stop_xy)
        out.update({k: (extract.stop_names[jj], "stop") for k, d, jj in zip(unnamed, dist, j)
                    if d <= config.stop_name_m})
    named_way = np.array([bool(extract.way_tags[w].get("name")) for w in extract.way.tolist()], bool)
    if not named_way.any():
        return out
    seg_idx = np.flatnonzero(named_way)
    lines = shapely.linestrings(extract.xy[seg_idx].reshape(-1, 2), indices=np.repeat(np.arange(len(seg_idx)), 2))
    tree = shapely.STRtree(lines)
    rest = [i for i, k in enumerate(unnamed) if k not in out]
    if not rest:
        return out
    pts = shapely.points(xy[rest])
    def candidates(within_m: float):  # (stop, distance, way, street name) of the named roads within reach
        i, j = tree.query(pts, predicate="dwithin", distance=within_m)
        way = extract.way[seg_idx[j]]
        return zip(i.tolist(), shapely.distance(pts[i], lines[j]).tolist(), way.tolist(),
                   (extract.way_tags[w]["name"].strip() for w in way.tolist()))

    best: dict[int, tuple[bool, float, str]] = {}  # the street a route runs along first, then the nearest
    for i, dist, way, name in candidates(config.street_m):
        best[i] = min(best.get(i, (True, np.inf, "")), (way not in on_ways, dist, name))
    street = {i: key[2] for i, key in best.items()}
    crossing: dict[int, tuple[float, str]] = {}
    for i, dist, _, name in candidates(config.crossing_m):
        if i in street and name != street[i]:
            crossing[i] = min(crossing.get(i, (np.inf, "")), (dist, name))
    for i, name in street.items():
        k = unnamed[rest[i]]
        out[k] = (f"{name} at {crossing[i][1]}" if i in crossing else name, "street")
    return out


#: OSM's route=* for transitmap's modes (``names.MODE_WORDS``); bus for the others
ROUTE_TAGS = {"minibus": "minibus", "shared_taxi": "share_taxi", "bus": "bus", "rail": "train", "tram": "tram",
              "ferry": "ferry", "trolleybus": "trolleybus"}


def routes_osm(extract: Extract, lines: list[dict], config: OsmConfig = OsmConfig()) -> bytes:
    """The routes as OpenStreetMap maps them (public transport version 2), an OSM XML file for JOSM: a route
    relation per pattern (``type=route``, ``route=`` by mode, ``ref``, ``name``, ``from``, ``to``, ``interval``,
    ``opening_hours``, ``duration``; members: its stops as platforms in order, then the extract's ways it runs
    along, in order) and a ``route_master`` per route. A stop within ``stop_name_m`` of a bus stop or platform
    of the extract is that node; the others are new nodes (negative ids). Where a route leaves or joins a way
    midway the way is split there, as JOSM splits it: the first part keeps the way's id, the others are new
    ways, and the extract's relations that hold the way get its parts in its place. An extract without object
    versions (an Overpass download without metadata) cannot be edited: its ways and stops are members as they
    are, not in the file.

    ``lines``: one dict per route: route_id, ref, name, mode, and patterns: a list of dicts with segments
    (``OnTheMap.segments``), stops ((stop_id, name, lat, lon) in order), from, to, interval_s, hours ((start_s,
    end_s) of service), duration_s."""
    from xml.sax.saxutils import quoteattr

    ids = iter(range(-1, -10**9, -1))
    runs = {(r, p): _way_runs(extract, pattern["segments"]) for r, line in enumerate(lines)
            for p, pattern in enumerate(line["patterns"])}
    cuts: dict[int, set[int]] = {}
    for way_runs in runs.values():
        for way, lo, hi, _ in way_runs:
            last = len(extract.way_nodes[way]) - 1
            cuts.setdefault(way, set()).update(k for k in (lo, hi) if 0 < k < last)
    # an extract without versions (Overpass without metadata) cannot be edited: its ways are members as they
    # are (whole where a route uses part of one), and neither they nor its stops are in the file (JOSM loads
    # them as members not downloaded)
    editable = any(v > 0 for v in extract.versions.values())
    pieces: dict[int, list[tuple[int, int, int]]] = {}  # way: (id, first node index, last node index)
    for way in sorted(w for w, at in cuts.items() if at and editable):
        bounds = [0, *sorted(cuts[way]), len(extract.way_nodes[way]) - 1]
        pieces[way] = [(way if j == 0 else next(ids), a, b) for j, (a, b) in enumerate(zip(bounds, bounds[1:]))]
    # stops: the extract's own where one is near, else new nodes
    stop_node: dict[str, int] = {}
    new_stops: dict[int, tuple[str, float, float]] = {}
    used_osm_stops: set[int] = set()
    every_stop = sorted({s for line in lines for pattern in line["patterns"] for s in pattern["stops"]})
    if every_stop:
        xy = np.column_stack(project(np.array([s[2] for s in every_stop]), np.array([s[3] for s in every_stop]),
                                     extract.epsg))
        dist, j = nearest(xy, extract.stop_xy) if len(extract.stop_xy) else (np.full(len(xy), np.inf), None)
        for k, (stop_id, name, lat, lon) in enumerate(every_stop):
            if stop_id in stop_node:
                continue
            if dist[k] <= config.stop_name_m:
                stop_node[stop_id] = int(extract.stop_ids[j[k]])
                used_osm_stops.add(int(j[k]))
            else:
                stop_node[stop_id] = next(ids)
                new_stops[stop_node[stop_id]] = (name, lat, lon)
    # relations
    out_rel: list[tuple[int, dict[str, str], list[tuple[str, int, str]], bool]] = []
    def members_of_way(way: int, lo: int, hi: int, rev: bool) -> list[int]:
        """The way, or its parts that nodes ``lo`` to ``hi`` of it run along, in the route's direction."""
        if way not in pieces:
            return [way]
        parts = [pid for pid, a, b in pieces[way] if a < hi and b > lo]
        return parts[::-1] if rev else parts
    for r, line in enumerate(lines):
        kind = ROUTE_TAGS.get(line["mode"], "bus")
        label = kind.replace("_", " ").capitalize()
        ref = line["ref"] or line["route_id"]
        masters = []
        for p, pattern in enumerate(line["patterns"]):
            members = [("n", stop_node[s[0]], "platform") for s in pattern["stops"]]
            for way, lo, hi, rev in runs[(r, p)]:
                for pid in members_of_way(way, lo, hi, rev):
                    if not members or members[-1][:2] != ("w", pid):
                        members.append(("w", pid, ""))
            tags = {"type": "route", "route": kind, "public_transport:version": "2", "ref": ref,
                    "name": f"{label} {ref}: {pattern['from']} => {pattern['to']}", "from": pattern["from"],
                    "to": pattern["to"], "duration": _hhmm(pattern["duration_s"])}
            if pattern["interval_s"]:
                tags["interval"] = _hhmm(pattern["interval_s"])
            if pattern["hours"]:
                tags["opening_hours"] = f"Mo-Su {_hhmm(pattern['hours'][0])}-{_hhmm(pattern['hours'][1])}"
            rid = next(ids)
            masters.append(rid)
            out_rel.append((rid, tags, members, False))
        master = {"type": "route_master", "route_master": kind, "ref": ref,
                  "name": f"{label} {ref}" + (f": {line['name']}" if line["name"] else "")}
        out_rel.append((next(ids), master, [("r", rid, "") for rid in masters], False))
    # the extract's relations that hold a way now split
    for rel_id, (_, tags, members) in sorted(extract.relations.items()):
        if not any(t == "w" and ref in pieces for t, ref, _ in members):
            continue
        out: list[tuple[str, int, str]] = []
        for i, (t, ref, role) in enumerate(members):
            if t != "w" or ref not in pieces:
                out.append((t, ref, role))
                continue
            nodes = extract.way_nodes[ref]
            before = members[i - 1] if i else None
            rev = bool(before and before[0] == "w" and before[1] in extract.way_nodes
                       and nodes[-1] in (extract.way_nodes[before[1]][0], extract.way_nodes[before[1]][-1]))
            out += [("w", pid, role) for pid, _, _ in (pieces[ref][::-1] if rev else pieces[ref])]
        out_rel.append((rel_id, tags, out, True))
    # the file
    ways_out = sorted({ref for _, _, members, _ in out_rel for t, ref, _ in members if t == "w" and ref > 0}
                      | set(pieces)) if editable else []
    way_rows: list[tuple[int, np.ndarray, dict[str, str], bool]] = []
    for way in ways_out:
        nodes = extract.way_nodes[way]
        if way in pieces:
            way_rows += [(pid, nodes[a:b + 1], extract.way_tags[way], True) for pid, a, b in pieces[way]]
        else:
            way_rows.append((way, nodes, extract.way_tags[way], False))
    road_nodes = sorted({int(n) for _, nodes, _, _ in way_rows for n in nodes})
    version = lambda kind, k: (f' version="{extract.versions[(kind, k)]}"'  # noqa: E731
                               if extract.versions.get((kind, k)) else "")
    tag_lines = lambda tags: "".join(f"\n    <tag k={quoteattr(k)} v={quoteattr(str(v))}/>"  # noqa: E731
                                     for k, v in sorted(tags.items()))
    text = ["<?xml version='1.0' encoding='UTF-8'?>",
            "<osm version=\"0.6\" generator=\"transitmap\">",
            f"  <!-- routes of a transitmap build; roads and stops {ATTRIBUTION} -->"]
    for n in road_nodes:
        lat, lon = extract.node_latlon[n]
        text.append(f'  <node id="{n}"{version("n", n)} lat="{lat:.7f}" lon="{lon:.7f}"/>')
    for j in sorted(used_osm_stops if editable else (), key=lambda j: int(extract.stop_ids[j])):
        n = int(extract.stop_ids[j])
        if n in extract.node_latlon:
            continue
        lat, lon = extract.stop_latlon[j]
        text.append(f'  <node id="{n}"{version("n", n)} lat="{lat:.7f}" lon="{lon:.7f}">'
                    + tag_lines(extract.stop_tags[j]) + "\n  </node>")
    for n, (name, lat, lon) in sorted(new_stops.items(), reverse=True):
        tags = {"highway": "bus_stop", "public_transport": "platform", "bus": "yes", "name": name}
        text.append(f'  <node id="{n}" action="modify" lat="{lat:.7f}" lon="{lon:.7f}">' + tag_lines(tags)
                    + "\n  </node>")
    for wid, nodes, tags, changed in way_rows:
        text.append(f'  <way id="{wid}"{version("w", wid) if wid > 0 else ""}'
                    + (' action="modify"' if changed else "") + ">"
                    + "".join(f'\n    <nd ref="{int(n)}"/>' for n in nodes) + tag_lines(tags) + "\n  </way>")
    for rid, tags, members, existing in out_rel:
        known = extract.relations[rid][0] if existing else 0
        text.append(f'  <relation id="{rid}"' + (f' version="{known}"' if known else "") + ' action="modify">'
                    + "".join(f'\n    <member type="{dict(n="node", w="way", r="relation")[t]}" ref="{ref}" '
                              f"role={quoteattr(role)}/>" for t, ref, role in members)
                    + tag_lines(tags) + "\n  </relation>")
    text.append("</osm>")
    return ("\n".join(text) + "\n").encode("utf-8")


def _hhmm(seconds: float) -> str:
    minutes = int(round(float(seconds) / 60))
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _way_runs(extract: Extract, segments: list[tuple[int, bool]]) -> list[tuple[int, int, int, bool]]:
    """The ways a pattern runs along, in order: (way, first node index, last node index, against the way's
    direction), from the road segments it runs along (``OnTheMap.segments``)."""
    runs: list[list] = []
    for seg, rev in segments:
        way, k = int(extract.way[seg]), int(extract.index[seg])
        if runs and runs[-1][0] == way and runs[-1][3] == rev and k == runs[-1][4] + (-1 if rev else 1):
            runs[-1][1], runs[-1][2] = min(runs[-1][1], k), max(runs[-1][2], k + 1)
            runs[-1][4] = k
        else:
            runs.append([way, k, k + 1, rev, k])
    return [(w, lo, hi, rev) for w, lo, hi, rev, _ in runs]

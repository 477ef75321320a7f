"""The survey's network, region by region: routes (``match``), stops (``stops``) and the times of each
pattern (``timing``, ``fares``) of the rides.

Rides that no test of matching can join, and that share no stop, form a region (``regions``): each region
is built on its own (``region_network``), in a worker process of its own where there are several, and the
regions are merged (``merge``) into the same ``RegionNetwork`` as a build of all the rides at once. A region
is also the unit of work that a cluster takes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from . import notices as N
from .engine import map_local
from .fares import fares_between_stops
from .geo import distinct, simplified, unproject
from .match import MatchConfig, along_all, match_rides, merged_routes
from .model import NetworkStop, PatternStops, PatternTimes, Ride, Route, route_mode
from .stops import infer_stops, merged_stops
from .timing import band_offsets, route_headways, stop_offsets

if TYPE_CHECKING:
    from .config import BuildConfig
    from .engine import DaskEngine

#: the feed's shapes leave out the vertices of a pattern's path (10 m apart) that lie within this of the line
#: through the others (Douglas-Peucker): straight roads need no vertex every 10 m. The path is the median of
#: rides recorded with GPS noise of 3-12 m: at 1 m the shapes kept the noise's wiggles, 1.9 times the points
#: (the scale benchmark's 1/8 part: 331,146 shape points, a zip of 4.5 MB, 13.6 s in the GTFS validator; at 3 m
#: 174,350, 2.6 MB, 8.7 s), and the shapes lay 0.03 m nearer the truth (median, the accuracy survey). A path
#: snapped to the roads of an extract (``--osm``) the same: where the extract has no road, it is the recorded one
SHAPE_TOLERANCE_M = 3.0


@dataclass
class RegionNetwork:
    """The network of some rides: its routes, the notices of matching, its stops, and per (route index,
    pattern index) the pattern's stops and its times."""

    routes: list[Route]
    notices: list[N.Notice]
    stops: list[NetworkStop]
    pattern_stops: dict[tuple[int, int], PatternStops]
    timed: dict[tuple[int, int], PatternTimes]


def survey_network(rides: list[Ride], tz: str, epsg: int, workers: int, config: BuildConfig,
                   engine: DaskEngine | None = None) -> RegionNetwork:
    """The network of the survey's rides: each region (``regions``) in a process of its own when ``workers``
    > 1, or as a task of the cluster of a Dask ``engine`` (a region's rides travel to a worker, its network
    back), with the same result as all at once (the rides in UTM zone ``epsg``, times in time zone ``tz``)."""
    if engine is not None:
        found = regions(rides, config.match) if len(rides) > 1 else [list(range(len(rides)))]
        networks = engine.map_calls(region_network, [([rides[i] for i in r], tz, epsg, config) for r in found])
        parts = list(zip(found, networks))
    else:
        parts = in_regions(region_network, rides, config.match, workers, tz, epsg, config)
    return parts[0][1] if len(parts) == 1 else merge(parts)


def region_network(rides: list[Ride], tz: str, epsg: int, config: BuildConfig, workers: int = 1) -> RegionNetwork:
    """The network of the rides of one region: here, or with ``workers`` > 1, its patterns' stops and times in
    that many processes forked from this one (the same network)."""
    routes, notices = match_rides(rides, config.match, workers=workers)
    stops, pattern_stops = infer_stops(rides, routes, config.stops, workers=workers)
    timed = {}
    for found in map_local(_route_times, range(len(routes)), workers,
                           shared=(rides, routes, pattern_stops, tz, epsg, config)):
        timed.update(found)
    for route in routes:
        for pattern in route.patterns:
            pattern.__dict__.pop("path", None)  # made again where needed, not sent back to the calling process
    return RegionNetwork(routes, notices, stops, pattern_stops, timed)


def _route_times(shared: tuple, r: int) -> dict[tuple[int, int], PatternTimes]:
    """The times of each pattern of route ``r``: from its first stop to each, per band, its shape and fares."""
    rides, routes, pattern_stops, tz, epsg, config = shared
    route = routes[r]
    bands = route_headways(route, rides, tz, config.timing, route_mode(route, rides))
    timed = {}
    for p, pattern in enumerate(route.patterns):
        ps = pattern_stops[(r, p)]
        offsets, source, n_timed = stop_offsets(pattern, ps.s_m, rides, config.timing)
        timed[(r, p)] = PatternTimes(offsets, bands[p], *pattern_shape(pattern, epsg),
                                     fares_between_stops(pattern, ps, rides), source, n_timed,
                                     band_offsets(pattern, ps.s_m, rides, tz, offsets, config.timing))
    return timed


def pattern_shape(pattern, epsg: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A pattern's GTFS shape: (metres along the pattern, latitudes, longitudes) of the vertices of its path
    kept (``SHAPE_TOLERANCE_M``), no two at one distance."""
    dist = pattern.path.cum  # metres along the pattern at each vertex
    advance = np.flatnonzero(np.concatenate([[True], np.diff(np.round(dist, 1)) > 0]))
    shape = advance[simplified(pattern.xy[advance], SHAPE_TOLERANCE_M)]
    return (dist[shape], *unproject(pattern.xy[shape, 0], pattern.xy[shape, 1], epsg))


def merge(parts: list[tuple[list[int], RegionNetwork]]) -> RegionNetwork:
    """The networks of the regions (region: the numbers of its rides in the survey) as one, numbered and
    ordered as ``region_network`` of all the rides would number and order them."""
    order = merged_routes([(region, found.routes) for region, found in parts])
    stops, where = merged_stops([found.stops for _, found in parts])
    pattern_stops, timed = {}, {}
    for r, (k, local, route) in enumerate(order):
        region, found = parts[k]
        for p in range(len(route.patterns)):
            ps, t = found.pattern_stops[(local, p)], found.timed[(local, p)]
            pattern_stops[(r, p)] = PatternStops(tuple(where[k][i] for i in ps.stop_index), ps.s_m)
            timed[(r, p)] = replace(t, paid=[(where[k][a], where[k][b], region[i], f) for a, b, i, f in t.paid])
    notices = [n for _, found in parts for n in found.notices]
    return RegionNetwork([route for _, _, route in order], notices, stops, pattern_stops, timed)


_CHUNK_RIDES = 500  # regions: the cells of this many rides at a time


def regions(rides: list[Ride], config: MatchConfig) -> list[list[int]]:
    """The rides in groups that matching cannot join: no ride of one group comes within twice the terminal
    radius of a ride of another (the widest reach of any test of matching), largest group first. Rides are linked
    through the grid cells (of that size) they pass: two rides are linked when cells they pass lie at most two
    cells apart (both touch a cell between them). A connected-components pass over numpy arrays, cheap however
    dense the network."""
    from scipy.sparse import coo_matrix  # here: scipy takes 0.2 s to import (see geo.Path)
    from scipy.sparse.csgraph import connected_components

    cell = 2 * config.terminal_radius_m + 10.0
    # the cells each ride passes, a few hundred rides at a time: arrays of all the survey's points at once would
    # be new memory of hundreds of MB, whose first use costs more than the work (1.4 s instead of 0.5 on the
    # scale benchmark's full survey)
    passed = [_cells_passed(rides[lo : lo + _CHUNK_RIDES], lo, cell) for lo in range(0, len(rides), _CHUNK_RIDES)]
    owner, xy = np.concatenate([o for o, _ in passed]), np.concatenate([c for _, c in passed])
    xy -= xy.min(axis=0) - 2  # numbered from 2: the cells two off stay positive
    width = int(xy[:, 1].max()) + 3
    key = xy[:, 0] * width + xy[:, 1]
    cells = distinct(key)
    cell_of = np.searchsorted(cells, key)
    a, b = [], []  # cells at most two apart, each pair once
    for dx, dy in [(dx, dy) for dx in range(3) for dy in range(-2, 3) if (dx, dy) > (0, 0)]:
        other = cells + dx * width + dy
        at = np.minimum(np.searchsorted(cells, other), len(cells) - 1)
        hit = cells[at] == other
        a.append(np.flatnonzero(hit))
        b.append(at[hit])
    n = len(rides) + len(cells)
    rows = np.concatenate([owner, len(rides) + np.concatenate(a)])
    cols = np.concatenate([len(rides) + cell_of, len(rides) + np.concatenate(b)])
    graph = coo_matrix((np.ones(len(rows), np.int8), (rows, cols)), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    by_label: dict[int, list[int]] = {}
    for i, lab in enumerate(label[: len(rides)].tolist()):
        by_label.setdefault(lab, []).append(i)
    return sorted(by_label.values(), key=lambda g: (-len(g), g[0]))


def _cells_passed(rides: list[Ride], first: int, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """(ride number, from ``first``; cell (column, row) of ``cell`` metres) of the cells each ride passes, a
    point every quarter of a cell along its moving part; a cell met again at once not repeated."""
    dense, owner = along_all([r.moving_xy for r in rides], cell / 4)
    xy = np.floor(dense / cell).astype(np.int64)
    again = np.r_[False, (owner[1:] == owner[:-1]) & (xy[1:] == xy[:-1]).all(axis=1)]
    return owner[~again] + first, xy[~again]


def in_regions(fn: Callable[..., Any], rides: list[Ride], config: MatchConfig, workers: int, *args: Any
               ) -> list[tuple[list[int], Any]]:
    """(region, ``fn(the region's rides, *args)``) for each region of the rides (``regions``), each in a
    worker process (``engine.map_local``: the workers find the rides in the memory they inherited, only the
    regions' numbers and the results travel); a single region, or a single worker: all the rides, here, and
    ``fn`` is given the workers (``workers=``) for its own parts."""
    import scipy.spatial  # noqa: F401  (imported here once, before the workers are forked, not in each)

    found = regions(rides, config) if workers > 1 and len(rides) > 1 else []
    if len(found) <= 1:  # one region: it has the workers to itself
        return [(list(range(len(rides))), fn(rides, *args, workers=workers))]
    return list(zip(found, map_local(partial(_in_region, fn, args), found, workers, shared=rides)))


def _in_region(fn: Callable[..., Any], args: tuple, rides: list[Ride], region: list[int]) -> Any:
    return fn([rides[i] for i in region], *args)

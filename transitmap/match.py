"""Deduplicate rides into route patterns, and pair opposite directions into routes.

1. Rides that follow each other's path in the same direction (each lies >= ``share`` within ``corridor_m`` of
   the other) form a cluster. Candidate pairs come from a spatial index (KD-trees of the rides' vertices), so
   the cost grows with the number of overlapping rides, not with the square of all rides. A pair whose probe
   points (a dozen along one ride) only go back along the other runs the other way, and is not measured.
2. A cluster lying inside a longer one is either a route of its own (a short route along a corridor) or rides
   of the longer route that boarded late / got off early. It stays a route when the evidence says so: its
   rides carry a different route name (route numbers decide), or they waited at a rank where the longer
   route does not start, or several of them start with a wait at the same rank and end at the same place.
   Otherwise its rides become partial rides of the longer pattern.
3. A pattern's geometry is the median of all its full rides around a reference ride, more accurate than any
   single ride.
4. Patterns that run the same corridor in opposite directions form one route (directions 0 and 1).
5. Patterns whose riders name the same route (``a - b`` and ``b - a`` alike) and that share a terminal or run
   along each other for half their length are one route: its branches and short turns stay patterns of their
   own (each its own trip and shape) under one route_id.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache

import numpy as np

from . import notices as N
from .engine import map_local
from .geo import Path, along, distinct, group_stats, groups, pairs_within
from .model import (
    Pattern,
    Ride,
    Route,
    canonical_mode,
    code_key,
    display_code,
    majority_label,
    normalise_name,
    route_code,
    split_route_name,
)


@dataclass(frozen=True)
class MatchConfig:
    corridor_m: float = 50.0
    share: float = 0.8  # of a ride within the corridor of another, to be the same path
    rank_wait_s: float = 120.0  # a wait this long at the start is a wait at a rank
    terminal_radius_m: float = 250.0
    opposite_share: float = 0.6  # of a pattern along another one backwards, to be its other direction
    variant_share: float = 0.5  # of a pattern along another of the same name, to be a variant of its route
    dense_step_m: float = 10.0  # rides and patterns are compared as points this far apart
    gap_s: float = 20.0  # a step between fixes this long in time ...
    gap_m: float = 150.0  # ... and in distance is a signal gap: the straight line across it is not the road


def match_rides(rides: list[Ride], config: MatchConfig = MatchConfig(), *, workers: int = 1
                ) -> tuple[list[Route], list[N.Notice]]:
    """Routes made of the rides, sorted deterministically, and the notices of matching. Rides further apart
    than any test of matching reaches never meet: ``network`` matches a survey region by region. ``workers``
    > 1: the paths' first meeting test and the patterns' median paths in that many processes forked from this
    one (the same routes)."""
    if not rides:
        return [], []
    parts = _by_mode(rides, config)
    if len(parts) > 1:  # rides of different modes (a train, a bus on the road beside it) are never one route
        found = [match_rides([rides[i] for i in part], config, workers=workers) for _, part in parts]
        order = merged_routes([(part, routes) for (_, part), (routes, _) in zip(parts, found)])
        return [route for _, _, route in order], [n for _, notes in found for n in notes]
    paths = [_ride_path(r, config) for r in rides]
    clusters = _clusters(rides, Covers(paths, config, workers=workers), config, workers=workers)
    patterns = _resolve_containment(rides, paths, clusters, config, workers=workers)
    out = map_local(_pattern_of, patterns, workers, shared=(rides, paths, config))
    notices = [N.PatternSingleRideNotice(file=r.source, trace_id=r.trace_id) for p in out if len(p.rides) == 1
               for r in [rides[p.rides[0]]]]
    return _group_variants(_pair_directions(out, config), config), notices


def merged_routes(parts: list[tuple[list[int], list[Route]]]) -> list[tuple[int, int, Route]]:
    """The routes of all regions (region, routes found on its rides) as (part, index in the part, route with
    the rides' numbers in the whole survey), sorted as ``match_rides`` sorts them."""
    found = [(k, r, _renumbered(route, region)) for k, (region, routes) in enumerate(parts)
             for r, route in enumerate(routes)]
    return sorted(found, key=lambda e: _route_key(e[2]))


def _renumbered(route: Route, region: list[int]) -> Route:
    """A route matched on a region's rides, with the rides' numbers in the whole survey."""
    at = lambda ks: tuple(region[k] for k in ks)  # noqa: E731
    return Route(tuple(Pattern(at(p.rides), at(p.partial), p.xy, p.name, p.hand_route) for p in route.patterns),
                 route.directions,
                 route.name)


def along_all(lines: list[np.ndarray], step: float) -> tuple[np.ndarray, np.ndarray]:
    """``along`` of each polyline, all in one pass (no numpy call per line): (the points, line after line,
    and the index of the line of each). A line of one vertex gives that vertex, an empty one nothing."""
    size = np.array([len(a) for a in lines], np.int64)
    has = size > 0
    if not has.any():
        return np.zeros((0, 2)), np.zeros(0, np.int64)
    xy = np.concatenate(lines)
    first, last = np.cumsum(size) - size, np.cumsum(size) - 1
    seg = np.hypot(*np.diff(xy, axis=0).T)
    seg[last[has][:-1]] = step  # from one line to the next: no point falls in between
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    start = np.where(has, cum[np.minimum(first, len(xy) - 1)], 0.0)
    inner = np.where(has, np.ceil((cum[last] - start) / step), 0).astype(np.int64)  # 0, step, ... before the end
    owner = np.repeat(np.arange(len(size)), inner)
    s = start[owner] + (np.arange(len(owner)) - np.repeat(np.cumsum(inner) - inner, inner)) * step
    count = inner + has  # the inner points, then the end
    end = np.cumsum(count)[has] - 1
    out = np.empty((int(count.sum()), 2))
    inside = np.ones(len(out), bool)
    inside[end] = False
    out[inside] = np.column_stack([np.interp(s, cum, xy[:, 0]), np.interp(s, cum, xy[:, 1])])
    out[end] = xy[last[has]]
    return out, np.repeat(np.arange(len(size)), count)


def _ride_path(ride: Ride, config: MatchConfig) -> Path:
    """The moving part of a ride as a Path; points on the straight line across a signal gap are marked
    unknown (the vehicle took a road somewhere else)."""
    xy, t = ride.moving_xy, ride.t_s[ride.start : ride.end + 1]
    dense = along(xy, config.dense_step_m)
    seg = np.hypot(*np.diff(xy, axis=0).T)
    chord = (np.diff(t) > config.gap_s) & (seg > config.gap_m)
    if not chord.any():
        return Path(dense)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    s = np.append(np.arange(0.0, cum[-1], config.dense_step_m), cum[-1])
    k = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(seg) - 1)
    inside = (s > cum[k] + 1e-6) & (s < cum[k + 1] - 1e-6)
    return Path(dense, known=~(chord[k] & inside))


def _probes(path: Path) -> np.ndarray:
    """A dozen of the path's observed vertices, evenly spread: most pairs of rides only cross, and a dozen
    points tell."""
    pts = path.observed
    return pts[:: max(len(pts) // 12, 1)]


def _cover(a: Path, b: Path, corridor: float, step: int = 2, *, probed: bool = False) -> tuple[float, float]:
    """(share of a within the corridor of b, share of that advancing along b), from every ``step``-th
    vertex of a. Where a or b crossed a signal gap, the unknown stretch counts neither way. ``probed``: the
    pair passed the probe test already (``_probe_pairs``)."""
    pts = a.observed
    if len(pts) == 0:
        return 0.0, 0.0
    if not probed and (b.nearest(_probes(a), corridor)[1] <= corridor).mean() < 0.5:
        return 0.0, 0.0
    idx, dist = b.nearest(pts[::step], corridor)
    return _shares(pts[::step], b, idx, dist <= corridor)


def _shares(sample: np.ndarray, b: Path, idx: np.ndarray, near: np.ndarray) -> tuple[float, float]:
    """``_cover`` from the nearest vertex of b to each sample point (``idx``; ``near``: within the corridor)."""
    if len(sample) == 0:
        return 0.0, 0.0
    if b.known is not None and not near.all():  # far from b where b's line crosses a gap: unknown
        far = np.flatnonzero(~near)
        in_gap = ~b.known[b.nearest(sample[far])[0]]
        keep = np.ones(len(near), bool)
        keep[far[in_gap]] = False
        idx, near = idx[keep], near[keep]
        if len(near) == 0:
            return 0.0, 0.0
    share = float(near.mean())
    if near.sum() < 3:
        return share, 0.0
    steps = np.diff(idx[near])
    steps = steps[steps != 0]
    return share, float((steps > 0).mean()) if len(steps) else 0.0


class Covers:
    """cover(i, j) = (share of ride i along ride j, share of that advancing), as ``_cover`` gives it, for
    every pair of rides, computed when first asked for. A pair that fails the probe test (``_probe_pairs``:
    fewer than half of i's probe points within the corridor of j) only crosses or touches, and counts as
    (0, 0). ``mutual``: the pairs (i, j), i < j, that pass it both ways, the only ones that can be the same
    path; ``backward``: the pairs (i, j) where i's probes only go back along j (it runs the other way)."""

    def __init__(self, paths: list[Path], config: MatchConfig, *, workers: int = 1):
        self.paths, self.corridor, self.share = paths, config.corridor_m, config.share
        a, b, way = _probe_pairs(paths, config.corridor_m, workers=workers)
        self.probed = set(zip(a.tolist(), b.tolist()))
        self.backward = set(zip(a[way < 0].tolist(), b[way < 0].tolist()))  # i's probes run back along j
        n = max(len(paths), 1)
        both = (a < b) & np.isin(a * n + b, b * n + a)
        self.mutual = sorted(zip(a[both].tolist(), b[both].tolist()))
        self.size = [len(p.observed) for p in paths]
        self.values: dict[tuple[int, int], tuple[float, float]] = {}

    def other_way(self, i: int, j: int) -> bool:
        """Whether one of the two rides runs back along the other (``backward``)."""
        return (i, j) in self.backward or (j, i) in self.backward

    def __call__(self, i: int, j: int) -> tuple[float, float]:
        if (i, j) not in self.values:
            self.values[i, j] = (_cover(self.paths[i], self.paths[j], self.corridor, probed=True)
                                 if (i, j) in self.probed else (0.0, 0.0))
        return self.values[i, j]


def _by_mode(rides: list[Ride], config: MatchConfig) -> list[tuple[str | None, list[int]]]:
    """The rides parted by mode (as ``names.canonical_mode`` names it): [(mode, ride indices)], one part when
    the rides name at most one mode. A ride that names none is of no mode of its own: it joins the mode of the
    rides its path runs along most (``Covers``), else, along none, a part of such rides."""
    mode = [canonical_mode(r.mode) if r.mode else None for r in rides]
    known = sorted({m for m in mode if m})
    if len(known) <= 1:
        return [(known[0] if known else None, list(range(len(rides))))]
    unknown = [i for i, m in enumerate(mode) if m is None]
    if unknown:
        covers = Covers([_ride_path(r, config) for r in rides], config)
        near: dict[int, list[int]] = {}
        for a, b in covers.probed:
            if mode[a] is None and mode[b] is not None:
                near.setdefault(a, []).append(b)
        for i in unknown:
            best = max(near.get(i, []), key=lambda j: (covers(i, j)[0], mode[j] == known[0], -j), default=None)
            if best is not None and covers(i, best)[0] > 0:
                mode[i] = mode[best]
    return [(m, [i for i, x in enumerate(mode) if x == m]) for m in [*known, None] if m in mode]


def _probe_pairs(paths: list[Path], corridor: float, every: int = 8, *, workers: int = 1
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairs of paths (a[k], b[k]), a != b, where at least half of a's probe points (``_probes``) lie
    within ``corridor`` of a vertex of b: the first test of ``_cover`` for all pairs at once (most pairs of
    rides near each other only cross). Candidates come from one KD-tree of every ``every``-th vertex of each
    path (and its last), searched that much wider (``margin``: the farthest any vertex lies from the nearest
    of those); each candidate path then checks its probes against all its vertices (its own KD-tree).

    Also each pair's ``way``: +1 when a's probes, in order, advance along b (their nearest vertices of b: at
    least two steps forward, none back), -1 when they only go back (a runs the other way), else 0. Sorted by a,
    then b. With ``workers`` > 1, the paths a in runs, in that many processes forked from this one."""
    from scipy.spatial import cKDTree

    probes = [_probes(p) for p in paths]
    n_probes = np.array([len(q) for q in probes], np.int64)
    if not n_probes.sum():
        return np.array([], np.int64), np.array([], np.int64), np.array([], np.int64)
    size = np.array([len(p.xy) for p in paths])
    xy = np.concatenate([p.xy for p in paths])
    first = np.cumsum(size) - size
    # every vertex lies within half ``every`` steps along its path of a coarse vertex, so no farther than
    # that many of its path's longest steps (a bound, cheaper than each vertex's distance: the search only
    # finds candidates, each checked against all the vertices of its path below)
    margin = every // 2 * max((float(np.diff(p.cum).max()) for p in paths if len(p.cum) > 1), default=0.0)
    coarse = np.concatenate([first[k] + np.r_[np.arange(0, size[k], every), size[k] - 1]
                             for k in range(len(paths)) if size[k]])  # in order; a path's last may come twice
    coarse = coarse[np.r_[True, coarse[1:] != coarse[:-1]]]
    shared = (paths, np.concatenate(probes), n_probes, np.repeat(np.arange(len(paths)), size)[coarse],
              cKDTree(xy[coarse]), corridor + margin + 1e-6, corridor)
    # runs of paths a with about as many probes each (a few per worker: the candidates are not spread evenly)
    cut = np.searchsorted(np.cumsum(n_probes), np.linspace(0, n_probes.sum(), 2 * workers + 1)[1:-1], side="right")
    runs = [(lo, hi) for lo, hi in zip([0, *cut.tolist()], [*cut.tolist(), len(paths)]) if hi > lo]
    found = map_local(_probe_pairs_from, runs, workers, shared=shared)
    return tuple(np.concatenate([f[k] for f in found]) for k in range(3))  # type: ignore[return-value]


def _probe_pairs_from(shared: tuple, run: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_probe_pairs`` of the paths a of ``run`` (lo, hi): (a, b, way), sorted by a, then b."""
    paths, all_probes, n_probes, vertex_path, coarse_tree, reach, corridor = shared
    n = len(paths)
    lo, hi = run
    before = int(n_probes[:lo].sum())
    owner = np.repeat(np.arange(lo, hi), n_probes[lo:hi])
    q, v = pairs_within(all_probes[before : before + len(owner)], coarse_tree.data, reach, b_tree=coarse_tree)
    maybe = distinct((q + before) * n + vertex_path[v])  # (probe, path) that may be near, each once
    by_path = maybe[np.argsort(maybe % n, kind="stable")]  # by path, then probe: a pair's probes together, in order
    cut = np.flatnonzero(np.diff(by_path % n)) + 1
    # each path's candidate probes against all its vertices
    vertex = np.concatenate([paths[int(g[0] % n)].nearest(all_probes[g // n], corridor)[0]
                             for g in np.split(by_path, cut)]) if len(by_path) else np.zeros(0, np.int64)
    near = vertex >= 0
    probe_near, vertex = by_path[near], vertex[near]  # (probe, path it is near), each once; its nearest vertex
    pair_of = owner[probe_near // n - before] * n + probe_near % n
    # by path b, then probe: a pair's probes lie together, in order (no sort needed to group them)
    start = np.r_[True, pair_of[1:] != pair_of[:-1]]
    pair, where = pair_of[start], np.cumsum(start) - 1
    count = np.diff(np.r_[np.flatnonzero(start), len(pair_of)])
    step, same = np.diff(vertex), pair_of[1:] == pair_of[:-1]
    ahead = np.bincount(where[1:][same & (step > 0)], minlength=len(pair))
    back = np.bincount(where[1:][same & (step < 0)], minlength=len(pair))
    way = np.where((ahead >= 2) & (back == 0), 1, np.where((back >= 2) & (ahead == 0), -1, 0))
    a, b = pair // n, pair % n
    keep = (a != b) & (count / np.maximum(n_probes[a], 1) >= 0.5)
    order = np.argsort(pair[keep], kind="stable")  # by a, then b
    return a[keep][order], b[keep][order], way[keep][order]


def _same_path(cover: Covers, i: int, j: int) -> bool:
    same = lambda share, forward: share >= cover.share and forward >= 0.7  # noqa: E731
    # the cheaper way first (the shorter ride's points): when it fails, the other way is never computed
    first, then = ((i, j), (j, i)) if cover.size[i] <= cover.size[j] else ((j, i), (i, j))
    return same(*cover(*first)) and same(*cover(*then))


def _turns_off(a: Path, b: Path, config: MatchConfig) -> bool:
    """Whether path ``a`` leaves ``b``'s road where ``b`` goes on (or joins it where ``b`` came from farther):
    two services that share a road and part for their own terminals (``A to B``, ``A to C``), not a ride that
    boarded late or got off early (it leaves the other's road only where that one ends, or never)."""
    reach = 2 * config.corridor_m

    def off_road(k) -> np.ndarray:  # a's vertices k far from b's road (a line across a signal gap is not a's way)
        off = b.nearest(a.xy[k], reach)[1] > reach
        return off if a.known is None else off & a.known[k]

    # Only where a is first and last on b's road counts: when a is on it within a terminal's reach of both its
    # ends, a turns off nowhere, whatever its middle does (the usual answer, from a few dozen of its vertices)
    k = math.ceil(config.terminal_radius_m / config.dense_step_m)
    if len(a.xy) > 2 * k:
        off = off_road(np.r_[0:k, len(a.xy) - k : len(a.xy)])
        if not off[:k].all() and not off[k:].all():
            return False
    off = off_road(slice(None))
    if not off.any() or off.all():
        return False
    on = np.flatnonzero(~off)
    k_b = b.nearest(a.xy[[on[0], on[-1]]])[0]  # where a joins b's road, and where it leaves it
    tail = off[on[-1] + 1:].sum() * config.dense_step_m >= config.terminal_radius_m  # a goes on elsewhere ...
    head = off[: on[0]].sum() * config.dense_step_m >= config.terminal_radius_m
    return bool((tail and b.length - b.cum[k_b[1]] >= config.terminal_radius_m)  # ... while b goes on
                or (head and b.cum[k_b[0]] >= config.terminal_radius_m))


def _clusters(rides: list[Ride], cover: Covers, config: MatchConfig, *, workers: int = 1) -> list[list[int]]:
    """Rides on the same path in the same direction, unless both name their route and the names clearly
    differ (a partial ride of a long route can trace exactly the path of a short one, two route numbers can
    share a road). A cluster joined through unnamed rides is split by name again, and each part by terminals
    (full rides from ranks or to terminals far apart); every other ride goes to the part it overlaps most.

    Rides that no chain of ``cover.mutual`` pairs joins never meet in a cluster: with ``workers`` > 1, such parts
    of the rides (``_separate_parts``) are clustered in that many processes forked from this one (the same clusters)."""
    parts = _separate_parts(len(rides), cover.mutual, workers)
    return sorted(c for found in map_local(_clusters_among, parts, workers, shared=(rides, cover, config))
                  for c in found)


def _separate_parts(n: int, pairs: list[tuple[int, int]], parts: int) -> list[list[int]]:
    """``0..n-1`` in at most ``parts`` parts that no pair joins (whole connected groups), of about as many pairs
    each: the groups, most pairs first, each to the part with fewest so far."""
    if parts <= 1 or not pairs:
        return [list(range(n))]
    found = groups(n, pairs)
    group_of = np.empty(n, np.int64)
    for g, members in enumerate(found):
        group_of[members] = g
    weight = np.bincount(group_of[np.array(pairs, np.int64)[:, 0]], minlength=len(found)) + 1
    load, out = [0] * parts, [[] for _ in range(parts)]
    for g in sorted(range(len(found)), key=lambda g: (-weight[g], g)):
        k = min(range(parts), key=lambda k: (load[k], k))
        load[k] += int(weight[g])
        out[k] += found[g]
    return [sorted(part) for part in out if part]


def _clusters_among(shared: tuple[list[Ride], Covers, MatchConfig], among) -> list[list[int]]:
    """``_clusters`` of the rides ``among`` (numbers in ``rides``; no ``cover.mutual`` pair joins them to others)."""
    rides, cover, config = shared
    among = set(among)
    # a pair that runs the other way is not measured, nor are its names compared; rides put in different routes
    # by hand are never linked
    hand = [r.hand_route for r in rides]
    hand_differ = lambda i, j: bool(hand[i] and hand[j] and hand[i] != hand[j])  # noqa: E731
    pairs = cover.mutual if len(among) == len(rides) else [(i, j) for i, j in cover.mutual if i in among]
    linked = groups(len(rides), pairs, lambda i, j: not cover.other_way(i, j) and not hand_differ(i, j) and
                    _name_agreement(rides[i].route_name, rides[j].route_name) >= 0 and _same_path(cover, i, j)
                    and not _turns_off(cover.paths[i], cover.paths[j], config)
                    and not _turns_off(cover.paths[j], cover.paths[i], config))
    linked = [g for g in linked if g[0] in among]
    names_differ = lambda i, j: _name_agreement(rides[i].route_name, rides[j].route_name) < 0  # noqa: E731
    coded = [bool(r.route_name) and route_code(r.route_name) is not None for r in rides]
    # a group joined through rides nobody put anywhere is split first by the routes others were put in by hand
    linked = [part for group in linked for part in _split(group, lambda i: hand[i] is not None, hand_differ, cover)]
    out = []
    for group in linked:
        # split by route number, then by name, then each part by terminals: two full rides that start or end at
        # places further apart than a rank are different routes, whatever their names (100 and 100A share a
        # road between ranks). Numbers first: a ride named by its terminals ("Kayole to Town") agrees with
        # both 44G and 44Z running between them, and must not join them into one
        for numbered in _split(group, lambda i: coded[i], names_differ, cover):
            # where route numbers decided, the other names are weaker words: they split only unnumbered parts
            by_name = any(coded[i] for i in numbered)
            for part in _split(numbered, lambda i, by_name=by_name: rides[i].route_name is not None
                               and (coded[i] or not by_name),
                               names_differ, cover):
                out += _split(part, lambda i: _full(rides[i], config),
                              lambda i, j: _terminals_differ(rides[i], rides[j], config), cover)
    return sorted(out)


def _split(group: list[int], anchor, conflict, cover: Covers) -> list[list[int]]:
    """Split a group of rides into the parts its anchor rides form (anchors linked unless in conflict);
    every other ride joins the part whose rides it overlaps most."""
    anchors = [i for i in group if anchor(i)]
    parts = [[anchors[k] for k in part] for part in groups(len(anchors), (
        (a, b) for a in range(len(anchors)) for b in range(a + 1, len(anchors)) if
        not conflict(anchors[a], anchors[b])))]
    if len(parts) < 2:
        return [group]
    for i in group:
        if not anchor(i):
            best = max(range(len(parts)), key=lambda p: (np.mean([cover(i, j)[0] for j in parts[p]]), -p))
            parts[best].append(i)
    return [sorted(p) for p in parts]


def _full(ride: Ride, config: MatchConfig) -> bool:
    """A ride from terminal to terminal: it started with a wait at a rank, and its collector named the
    terminal it ended at (the collector schema asks for ``destination`` only when the ride went to the end)."""
    return ride.start_wait_s >= config.rank_wait_s and bool(ride.destination)


def _terminals_differ(a: Ride, b: Ride, config: MatchConfig) -> bool:
    far = lambda p, q: np.hypot(*(p - q)) > config.terminal_radius_m  # noqa: E731
    xa, xb = a.moving_xy, b.moving_xy
    return bool(far(xa[0], xb[0]) or far(xa[-1], xb[-1]))


def _resolve_containment(rides, paths, clusters, config: MatchConfig, *, workers: int = 1
                         ) -> list[tuple[list[int], list[int]]]:
    """Clusters inside a longer one: a route of their own, or partial rides of the longer one. The covers of the
    candidates are measured first, with ``workers`` > 1 in that many processes forked from this one."""
    length = np.array([p.length for p in paths])
    reps = [max(c, key=lambda i: (length[i], -i)) for c in clusters]
    order = sorted(range(len(clusters)), key=lambda k: (length[reps[k]], k))
    members = {k: list(clusters[k]) for k in range(len(clusters))}
    partial: dict[int, list[int]] = {k: [] for k in range(len(clusters))}
    alive = set(range(len(clusters)))
    # the pairs that can lie along each other the same way
    pa, pb, way = _probe_pairs([paths[r] for r in reps], config.corridor_m, workers=workers)
    along_of: dict[int, set[int]] = {}
    for k, m in zip(pa[way >= 0].tolist(), pb[way >= 0].tolist()):
        along_of.setdefault(k, set()).add(m)
    # a cluster is only put into a longer one, and the clusters are taken shortest first: every longer candidate
    # is still there when a cluster's turn comes, so these are the covers the loop asks for, no more
    asked = [(reps[k], reps[m]) for k in order for m in sorted(along_of.get(k, ()))
             if m != k and length[reps[m]] > length[reps[k]]]
    parts = [asked[lo:hi] for lo, hi in _even_bounds(len(asked), workers)]
    measured = dict(zip(asked, (c for part in map_local(_covers_of, parts, workers, shared=(paths, config.corridor_m))
                                for c in part)))
    for k in order:
        a = reps[k]
        best = None
        for m in sorted(alive & along_of.get(k, set())):
            if m == k or length[reps[m]] <= length[a]:
                continue
            share, forward = measured[a, reps[m]]
            put = {rides[i].hand_route for i in members[k] + members[m] if rides[i].hand_route}
            if share >= config.share and forward >= 0.7 and len(put) < 2:  # not across routes made by hand
                agree = _name_agreement(_majority_name([rides[i] for i in members[k]]),
                                        _majority_name([rides[i] for i in members[m]]))
                if best is None or (agree, share) > best[0]:
                    best = ((agree, share), m)
        if best is None or _own_route([rides[i] for i in members[k]], [rides[i] for i in members[best[1]]], config):
            continue
        m = best[1]
        partial[m] += members[k] + partial[k]
        alive.discard(k)
    return [(sorted(members[k]), sorted(partial[k])) for k in sorted(alive, key=lambda k: min(members[k]))]


def _even_bounds(n: int, parts: int) -> list[tuple[int, int]]:
    """``0..n`` in ``parts`` runs of (nearly) equal length, as (lo, hi); none empty."""
    cut = np.linspace(0, n, max(min(parts, n), 1) + 1).round().astype(int).tolist()
    return [(lo, hi) for lo, hi in zip(cut[:-1], cut[1:]) if hi > lo]


def _covers_of(shared: tuple[list[Path], float], pairs: list[tuple[int, int]]) -> list[tuple[float, float]]:
    """``_cover`` of each pair of paths (a pair that passed the probe test)."""
    paths, corridor = shared
    return [_cover(paths[a], paths[b], corridor, probed=True) for a, b in pairs]


def _own_route(inner: list[Ride], outer: list[Ride], config: MatchConfig) -> bool:
    """Whether rides lying inside a longer pattern are a route of their own (see the module docstring)."""
    a, b = _majority_name(inner), _majority_name(outer)
    if a and b and _name_similarity(a, b) < 0.6:
        return True
    # A ride that went from terminal to terminal inside a longer path: a shorter route or a short turn.
    if any(_full(r, config) for r in inner):
        return True
    # A wait at a rank that is not where the longer route starts: the rank of another route (riders who
    # board a route late do not wait long; those who get off early start at its rank).
    outer_start = np.median([r.moving_xy[0] for r in outer], axis=0)
    ranked = [r for r in inner if r.start_wait_s >= config.rank_wait_s]
    if ranked and len(ranked) * 2 > len(inner) and all(
            np.hypot(*(r.moving_xy[0] - outer_start)) > config.terminal_radius_m for r in ranked):
        return True
    if len(inner) < 2:
        return False
    waited = np.median([r.start_wait_s for r in inner]) >= config.rank_wait_s
    starts = np.array([r.moving_xy[0] for r in inner])
    ends = np.array([r.moving_xy[-1] for r in inner])
    together = lambda p: np.hypot(*(p - np.median(p, axis=0)).T).max() <= config.terminal_radius_m  # noqa: E731
    return bool(waited and together(starts) and together(ends))


def _name_agreement(a: str | None, b: str | None) -> int:
    """1 when two reported route names agree, -1 when they clearly differ, 0 when one is missing."""
    if not a or not b:
        return 0
    sim = _name_similarity(a, b)
    return 1 if sim >= 0.8 else (-1 if sim < 0.6 else 0)


def _name_similarity(a: str, b: str) -> float:
    """1 = the same route name, 0 = clearly different. Route numbers (``45K``, ``QX012``, ``Ruta 8``:
    ``model.split_route_name``) decide when both names carry one, whoever added the terminals: routes that
    share most of their stop names differ by their number. A number changed by a typo (characters transposed,
    a space moved: "33d pmuthurwa" for "33DP Muthurwa") is as likely as another route (0.7: neither agree nor
    conflict). Names of two terminals without numbers ("Bree to Soweto", "soweto - bree") are the same route
    when both places match (in any order, case or spelling; one written longer: "Madina" and "Madina
    Station"), and different routes when only one does (another service from the same rank)."""
    (wa, ra), (wb, rb) = split_route_name(a), split_route_name(b)
    return _similarity(code_key(wa), ra, code_key(wb), rb)


@lru_cache(maxsize=65536)  # a survey has few distinct names, compared again and again
def _similarity(ca: str | None, raw_a: str, cb: str | None, raw_b: str) -> float:
    """``_name_similarity`` of two names as (number key, the rest of the name as written)."""
    ra, rb = normalise_name(raw_a), normalise_name(raw_b)
    if ca and cb:
        if ca == cb:
            # one number, whoever added the terminals; but two services of one number between other places
            # (numbers repeat across a city's operators: "Ruta 7 Circuito Lomas Verdes", "Ruta 7 Estación")
            ta, tb = _terminals(raw_a), _terminals(raw_b)
            if ta and tb and not any(_same_place(x, y) for x in ta for y in tb):
                return 0.3
            return 1.0
        # a typo: characters transposed, or a space moved into the number ("33d pmuthurwa" for "33dp muthurwa":
        # one number is the other with letters added, the names alike); not one letter for another (33B, 33C)
        short, long_ = sorted((ca, cb), key=len)
        typo = (sorted(ca) == sorted(cb)
                or (long_.startswith(short) and long_[len(short):].isalpha()
                    and _alike((ca + ra).replace(" ", "").lower(), (cb + rb).replace(" ", "").lower(), 0.95)))
        return 0.7 if typo else 0.0
    if ca or cb:  # a route number beside a name without one ("kayole to town"): riders who name the
        # terminals may ride that number or another between them; agreeing when the number's name holds them
        plain, numbered = (set(rb.split()), set(ra.split())) if ca else (set(ra.split()), set(rb.split()))
        plain.discard("to")
        return 0.85 if len(plain) >= 2 and plain <= numbered else 0.7
    ta, tb = _terminals(raw_a), _terminals(raw_b)
    if ta and tb:
        if (_same_place(ta[0], tb[0]) and _same_place(ta[1], tb[1])) or \
                (_same_place(ta[0], tb[1]) and _same_place(ta[1], tb[0])):
            return 1.0
        if any(_same_place(x, y) for x in ta for y in tb):
            return 0.3
    sort = lambda s: " ".join(sorted(s.split()))  # noqa: E731  (the other direction names the ends reversed)
    return max(SequenceMatcher(None, ra, rb).ratio(), SequenceMatcher(None, sort(ra), sort(rb)).ratio())


@lru_cache(maxsize=65536)
def _same_place(x: str, y: str) -> bool:
    """Two folded place names of one place: alike but for a typo, or one the other written longer ("madina",
    "madina station")."""
    if x == y or _alike(x, y, 0.8):
        return True
    wx, wy = set(x.split()), set(y.split())
    shorter = min(wx, wy, key=len)
    return bool(shorter) and (wx <= wy or wy <= wx) and max(map(len, shorter)) >= 4


def _alike(x: str, y: str, at_least: float) -> bool:
    """``SequenceMatcher(None, x, y).ratio() >= at_least``, its cheap upper bounds tried first."""
    m = SequenceMatcher(None, x, y)
    return m.real_quick_ratio() >= at_least and m.quick_ratio() >= at_least and m.ratio() >= at_least


@lru_cache(maxsize=65536)
def _terminals(name: str) -> tuple[str, str] | None:
    """The two places of a name of terminals (``Bree to Soweto``, ``Bree - Soweto``), folded; else None."""
    parts = [normalise_name(p) for p in re.split(r"\s+to\s+|\s*[-–—>]+\s*", name.strip(), flags=re.IGNORECASE)]
    parts = [p for p in parts if p]
    return (parts[0], parts[-1]) if len(parts) >= 2 and parts[0] != parts[-1] else None


def _majority_name(rides: list[Ride]) -> str | None:
    """The route name the rides give, made of what most riders agree on: the route number most of those who
    gave one wrote (as written most often, a compact one in capitals: ``46k`` -> ``46K``), whoever added the
    terminals, and the rest of the name most often given (the terminals, with or without the number); None
    when no ride has a name. Misspellings count towards the name they are closest to."""
    names = sorted(r.route_name for r in rides if r.route_name)
    if not names:
        return None
    split = [split_route_name(n) for n in names]
    keys = Counter(code_key(c) for c, _ in split if c)
    code, key = None, None
    if keys:
        key = max(keys, key=lambda k: (keys[k], k))
        written = Counter(c for c, _ in split if c and code_key(c) == key)
        code = display_code(max(written, key=lambda c: (written[c], any(ch.isupper() for ch in c), c)))
    # the rest of the names that go with that number (or give none), grouped as names that agree
    rests = [r for c, r in split if r and (not c or code_key(c) == key)]
    groups: list[list[str]] = []
    for r in rests:
        for g in groups:
            if _similarity(None, g[0], None, r) >= 0.8:
                g.append(r)
                break
        else:
            groups.append([r])
    rest = ""
    if groups:
        best = max(groups, key=lambda g: (len(g), -len(min(g))))
        written = Counter(best)
        rest = max(written, key=lambda r: (written[r], any(ch.isupper() for ch in r), r))
    return " ".join(filter(None, [code, rest])) or None


def _pattern_of(shared: tuple[list[Ride], list[Path], MatchConfig], found: tuple[list[int], list[int]]) -> Pattern:
    """The pattern of a cluster's rides and the partial rides put in it: the median path of the first
    (``_median_geometry``), the name and the route put by hand of most of them."""
    rides, paths, config = shared
    members, partial_rides = found
    return Pattern(tuple(members), tuple(partial_rides), _median_geometry([paths[i] for i in members], config),
                   _majority_name([rides[i] for i in members + partial_rides]),
                   majority_label([(rides[i].hand_route, 1) for i in members + partial_rides]))


def _median_geometry(paths: list[Path], config: MatchConfig) -> np.ndarray:
    """The path of several rides: the ride of median length as reference, each vertex (every 10 m) moved
    sideways by the median offset of all the rides there."""
    whole = [p for p in paths if p.known is None] or paths  # a ride without signal gaps as reference
    ref = sorted(whole, key=lambda p: p.length)[len(whole) // 2]
    grid = ref.xy
    if len(paths) == 1 or len(grid) < 3:
        return grid
    tangent = np.gradient(grid, axis=0)
    tangent /= np.maximum(np.hypot(*tangent.T), 1e-9)[:, None]
    normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])
    ks, offs = [], []
    for p in paths:
        k, dist = ref.nearest(p.xy, config.corridor_m)
        near = dist <= config.corridor_m
        if p.known is not None:
            near &= p.known
        ks.append(k[near])
        offs.append(np.einsum("ij,ij->i", p.xy[near] - grid[k[near]], normal[k[near]]))
    # the median offset at each vertex of the reference (0 where no ride came near)
    at, _, median, _ = group_stats(np.concatenate(ks), np.concatenate(offs))
    med = np.zeros(len(grid))
    med[at] = median
    # smoothed over five vertices (50 m): GPS noise is correlated over tens of metres
    smooth = np.convolve(np.pad(med, 2, mode="edge"), np.ones(5) / 5, mode="valid")
    return grid + normal * smooth[:, None]


def _pair_directions(patterns: list[Pattern], config: MatchConfig) -> list[Route]:
    """Pair each pattern with the one running its corridor the other way round: never two whose riders name
    different routes (17A and 17Aky share a corridor), those whose names agree first, then best overlap."""
    paths = [p.path for p in patterns]  # made once: stops and times use them too
    # candidates: the pairs that pass the probe test both ways (a pair that fails it either way has a cover
    # of 0 that way: not the other direction)
    pa, pb, way = _probe_pairs(paths, config.corridor_m * 1.5)
    probed = set(zip(pa.tolist(), pb.tolist()))
    ahead = set(zip(pa[way > 0].tolist(), pb[way > 0].tolist()))  # runs the same way: not the other direction
    candidates = []
    for i, j in sorted(probed):
        if i < j and (j, i) in probed and (i, j) not in ahead and (j, i) not in ahead:
            si, fi = _cover(paths[i], paths[j], config.corridor_m * 1.5, step=5, probed=True)
            sj, fj = _cover(paths[j], paths[i], config.corridor_m * 1.5, step=5, probed=True)
            agree = _name_agreement(patterns[i].name, patterns[j].name)
            hi, hj = patterns[i].hand_route, patterns[j].hand_route
            agree = -1 if hi and hj and hi != hj else (2 if hi and hi == hj else agree)
            if si >= config.opposite_share and sj >= config.opposite_share and fi <= 0.3 and fj <= 0.3 and agree >= 0:
                # the other direction of a service starts where this one ends and ends where it starts: of two
                # services on one road, the one whose terminals are this one's, whatever the overlap
                ends = _both_ends(patterns[i].xy, patterns[j].xy, config.terminal_radius_m)
                candidates.append((-agree, -ends, -(si + sj), i, j))
    used: set[int] = set()
    routes = []
    for _, _, _, i, j in sorted(candidates):
        if i not in used and j not in used:
            used |= {i, j}
            routes.append(_route((patterns[i], patterns[j])))
    routes += [_route((p,)) for k, p in enumerate(patterns) if k not in used]
    return sorted(routes, key=_route_key)


def _route(patterns: tuple[Pattern, ...]) -> Route:
    # direction 0 starts at the end that is further west (then south): stable whatever the input order
    ordered = tuple(sorted(patterns, key=lambda p: (round(p.xy[0][0], -2), round(p.xy[0][1], -2))))
    return Route(ordered, tuple(range(len(ordered))), route_name(ordered))


def route_name(patterns) -> str | None:
    """A route's name from its patterns' (``_majority_name``): the route number the patterns of most rides
    carry (a rider of one direction may give it where those of the other gave only terminals), and the rest of
    the first pattern's name that has one."""
    keys: Counter = Counter()
    shown: dict[str, str] = {}
    for p in patterns:
        code = split_route_name(p.name)[0] if p.name else None
        if code:
            keys[code_key(code)] += len(p.rides) + len(p.partial)
            shown.setdefault(code_key(code), code)
    rest = next((r for p in patterns if p.name for r in [split_route_name(p.name)[1]] if r), "")
    code = shown[max(keys, key=lambda k: (keys[k], k))] if keys else None
    return " ".join(filter(None, [code, rest])) or None


def _both_ends(a: np.ndarray, b: np.ndarray, radius_m: float) -> int:
    """How many of a path's ends lie near the other way's: a's start by b's end, a's end by b's start."""
    return int(np.hypot(*(a[0] - b[-1])) <= radius_m) + int(np.hypot(*(a[-1] - b[0])) <= radius_m)


def _group_variants(routes: list[Route], config: MatchConfig) -> list[Route]:
    """Routes of the same name (route code, else the normalised name) that share a terminal become one
    route; each pattern keeps its own direction relative to the route's main patterns."""
    near = lambda p, q: np.hypot(*(p - q)) <= config.terminal_radius_m  # noqa: E731
    by_name: dict[str, list[int]] = {}
    for k, r in enumerate(routes):
        if r.hand_route:  # put in one route by hand: one route, whatever the names and the geometry
            by_name.setdefault("\0" + r.hand_route, []).append(k)
        elif r.name:
            folded = normalise_name(r.name)  # the other direction names the ends reversed: "a - b", "b - a"
            by_name.setdefault(route_code(r.name) or " ".join(sorted(folded.split())), []).append(k)

    def same_way(p: Pattern, q: Pattern) -> bool | None:
        """Whether two patterns of one name run the same way: by a terminal they share, else along each other
        (None: neither tells)."""
        if near(p.xy[0], q.xy[0]) or near(p.xy[-1], q.xy[-1]):
            return True
        if near(p.xy[0], q.xy[-1]) or near(p.xy[-1], q.xy[0]):
            return False
        share, forward = _cover(p.path, q.path, config.corridor_m)
        return None if share < config.variant_share else forward >= 0.5

    def linked(a: Route, b: Route) -> bool:  # a shared terminal, or one runs along the other for long
        if a.name and b.name and _name_similarity(a.name, b.name) < 0.8:
            return False  # one number, but between other places: two services
        return any(near(p.xy[e], q.xy[f]) for p in a.patterns for q in b.patterns for e in (0, -1) for f in (0, -1)) \
            or any(_cover(p.path, q.path, config.corridor_m)[0] >= config.variant_share
                   for p, q in ((a.patterns[0], b.patterns[0]), (b.patterns[0], a.patterns[0])))

    merged: list[list[int]] = []
    for key, members in by_name.items():
        links = [(a, b) for a in range(len(members)) for b in range(a + 1, len(members))
                 if key.startswith("\0") or linked(routes[members[a]], routes[members[b]])]
        merged += [[members[k] for k in g] for g in groups(len(members), links) if len(g) > 1]
    if not merged:
        return routes
    out = [r for k, r in enumerate(routes) if k not in {m for g in merged for m in g}]
    for group in merged:
        group.sort(key=lambda k: (-sum(len(p.rides) for p in routes[k].patterns), _route_key(routes[k])))
        placed: list[tuple[int, Pattern]] = []
        for k in group:
            r = routes[k]
            # whether this route's direction 0 is the group's direction 1: from the first of its patterns
            # that shares a terminal with one already placed (the same end: same direction)
            flip = next((d != d0 if same else d == d0 for d, p in zip(r.directions, r.patterns) for d0, q in placed
                         for same in [same_way(p, q)] if same is not None), False)
            placed += [(d ^ int(flip), p) for d, p in zip(r.directions, r.patterns)]
        main = lambda dp: (-len(dp[1].rides), -len(dp[1].partial), round(dp[1].xy[0][0], -1),  # noqa: E731
                           round(dp[1].xy[0][1], -1), len(dp[1].xy))
        placed.sort(key=lambda dp: (dp[0], *main(dp)))
        first = [min((dp for dp in placed if dp[0] == d), key=main, default=None) for d in (0, 1)]
        west = lambda dp: (round(dp[1].xy[0][0], -2), round(dp[1].xy[0][1], -2))  # noqa: E731  (as in _route)
        if first[1] is not None and west(first[1]) < west(first[0]):
            placed = sorted(((1 - d, p) for d, p in placed), key=lambda dp: (dp[0], *main(dp)))
        out.append(Route(tuple(p for _, p in placed), tuple(d for d, _ in placed),
                         route_name([p for _, p in placed])))
    return sorted(out, key=_route_key)


def _route_key(r: Route) -> tuple:
    p = r.patterns[0]
    return (normalise_name(r.name) if r.name else "~", round(p.xy[0][0], -1), round(p.xy[0][1], -1), len(p.xy))

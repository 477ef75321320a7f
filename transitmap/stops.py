"""Infer stops: where vehicles of a pattern stop for passengers, shared across patterns and routes.

Evidence per ride: the stops the collector marked, the dwells found in the trace (slower than
``dwell_speed_mps`` for at least ``dwell_s``), and the two ends of a full ride (its terminals). Events are
placed on the pattern (nearest vertex, 10 m apart) and clustered along it; a cluster is a stop when a
collector marked it, when vehicles stopped there on enough of the rides, or when it is a terminal. Stops of
different patterns closer than ``merge_m`` and served in the same direction of travel are one stop (a stop
served by ten routes is one stop); the other side of the road is another stop.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import shapely

from .clean import Ride
from .match import Path, Route, groups


@dataclass(frozen=True)
class StopConfig:
    dwell_speed_mps: float = 1.5
    dwell_s: float = 10.0
    on_pattern_m: float = 40.0  # events farther from the pattern are not its stops
    cluster_gap_m: float = 40.0  # events closer than this along the pattern are one stop
    min_share: float = 0.3  # of the rides that must dwell at an unmarked place to make it a stop
    merge_m: float = 15.0


@dataclass(frozen=True)
class Stop:
    """A stop of the network; ``x_m``/``y_m`` in the survey CRS."""

    x_m: float
    y_m: float
    name: str | None
    observations: int  # marks and dwells seen there, over all rides


@dataclass(frozen=True, eq=False)
class PatternStops:
    """The stops of one pattern in order: indexes into the stop list and distances along the pattern."""

    stop_index: tuple[int, ...]
    s_m: np.ndarray


@dataclass
class _Candidate:
    pattern: tuple[int, int]  # (route index, pattern index in the route)
    s_m: float
    x_m: float
    y_m: float
    bearing: float
    names: list[str]
    observations: int
    terminal: bool


def infer_stops(rides: list[Ride], routes: list[Route], config: StopConfig = StopConfig()
                ) -> tuple[list[Stop], dict[tuple[int, int], PatternStops]]:
    """The network's stops and, per (route index, pattern index), the pattern's stops in order."""
    candidates: list[_Candidate] = []
    for r, route in enumerate(routes):
        for k, pattern in enumerate(route.patterns):
            candidates += _pattern_candidates((r, k), pattern, rides, config)
    stops, assignment = _merge(candidates, config)
    per_pattern: dict[tuple[int, int], list[tuple[float, int]]] = {}
    for cand, k in zip(candidates, assignment):
        per_pattern.setdefault(cand.pattern, []).append((cand.s_m, k))
    out = {}
    for key, items in per_pattern.items():
        items.sort()
        seq, s = [], []
        for s_m, k in items:
            if not seq or seq[-1] != k:  # a merged stop met twice in a row is one stop
                seq.append(k)
                s.append(s_m)
        out[key] = PatternStops(tuple(seq), np.array(s))
    return stops, out


def _pattern_candidates(key, pattern, rides: list[Ride], config: StopConfig) -> list[_Candidate]:
    path = Path(pattern.xy)
    s_all, names, ride_of, marked, ends = [], [], [], [], []
    members = list(pattern.rides) + list(pattern.partial)
    for i in members:
        ride = rides[i]
        xy, kinds = _events(ride, config, full=i in pattern.rides)
        if not len(xy):
            continue
        k, dist = path.nearest(xy, config.on_pattern_m)
        near = dist <= config.on_pattern_m
        for kk, (kind, name), ok in zip(k, kinds, near):
            if ok:
                s_all.append(path.cum[kk])
                names.append(name)
                ride_of.append(i)
                marked.append(kind == "mark")
                ends.append(kind == "end")
    length = path.length
    out = []
    n_rides = len(members)
    if s_all:
        order = np.argsort(s_all, kind="stable")
        s_sorted = np.asarray(s_all)[order]
        cuts = np.flatnonzero(np.diff(s_sorted) > config.cluster_gap_m) + 1
        for group in np.split(order, cuts):
            s_med = float(np.median(np.asarray(s_all)[group]))
            marks = sum(marked[g] for g in group)
            dwell_rides = len({ride_of[g] for g in group if not marked[g] and not ends[g]})
            terminal = s_med <= config.cluster_gap_m or s_med >= length - config.cluster_gap_m
            if marks or terminal or dwell_rides >= max(2, config.min_share * n_rides):
                out.append(_candidate(key, path, s_med, [names[g] for g in group if names[g]], len(group), terminal))
    # The ends of the pattern are always stops (the ranks where its vehicles start and end).
    for s_end in (0.0, length):
        if not any(abs(c.s_m - s_end) <= config.cluster_gap_m for c in out):
            out.append(_candidate(key, path, s_end, [], 0, True))
    return sorted(out, key=lambda c: c.s_m)


def _candidate(key, path: Path, s_m: float, names: list[str], observations: int, terminal: bool) -> _Candidate:
    k = int(np.clip(np.searchsorted(path.cum, s_m), 0, len(path.xy) - 1))
    a, b = path.xy[max(k - 1, 0)], path.xy[min(k + 1, len(path.xy) - 1)]
    return _Candidate(key, float(path.cum[k]), float(path.xy[k][0]), float(path.xy[k][1]),
                      float(np.arctan2(b[1] - a[1], b[0] - a[0])), names, observations, terminal)


def _events(ride: Ride, config: StopConfig, *, full: bool) -> tuple[np.ndarray, list[tuple[str, str | None]]]:
    """Stop evidence of one ride: marked stops, dwells in the moving part, the ends of a full ride."""
    xy, kinds = [], []
    for _, x, y, _, name in ride.stops:
        xy.append((x, y))
        kinds.append(("mark", name))
    lo, hi = ride.start, ride.end
    t, x, y = ride.t_s[lo : hi + 1], ride.x_m[lo : hi + 1], ride.y_m[lo : hi + 1]
    if len(t) > 2:
        slow = np.hypot(np.diff(x), np.diff(y)) / np.maximum(np.diff(t), 1e-3) < config.dwell_speed_mps
        edges = np.flatnonzero(np.diff(np.concatenate([[0], slow.astype(np.int8), [0]])))
        for a, b in zip(edges[::2], edges[1::2]):  # runs of slow steps a..b-1 cover fixes a..b
            if t[b] - t[a] >= config.dwell_s:
                xy.append((float(x[a : b + 1].mean()), float(y[a : b + 1].mean())))
                kinds.append(("dwell", None))
    if full:
        xy += [(ride.x_m[lo], ride.y_m[lo]), (ride.x_m[hi], ride.y_m[hi])]
        kinds += [("end", ride.origin), ("end", ride.destination)]
    return np.array(xy, dtype=float).reshape(-1, 2), kinds


def _merge(cands: list[_Candidate], config: StopConfig) -> tuple[list[Stop], list[int]]:
    """Candidates closer than ``merge_m`` and served in the same direction of travel become one stop."""
    n = len(cands)
    pts = shapely.points([(c.x_m, c.y_m) for c in cands])
    a, b = shapely.STRtree(pts).query(pts, predicate="dwithin", distance=config.merge_m)

    def same_place(i: int, j: int) -> bool:
        if i >= j or cands[i].pattern == cands[j].pattern:
            return False
        turn = abs((cands[i].bearing - cands[j].bearing + np.pi) % (2 * np.pi) - np.pi)
        # a rank is one place whichever way its vehicles leave; elsewhere the other side of the road is
        # another stop
        return turn < np.pi / 3 or (cands[i].terminal and cands[j].terminal)

    found = groups(n, ((i, j) for i, j in zip(a.tolist(), b.tolist()) if same_place(i, j)))
    ordered = sorted(found, key=lambda g: (round(np.mean([cands[i].x_m for i in g]), 1),
                                                      round(np.mean([cands[i].y_m for i in g]), 1)))
    stops, assignment = [], [0] * n
    for k, g in enumerate(ordered):
        names = [nm for i in g for nm in cands[i].names]
        stops.append(Stop(float(np.mean([cands[i].x_m for i in g])), float(np.mean([cands[i].y_m for i in g])),
                          _majority(names), sum(cands[i].observations for i in g)))
        for i in g:
            assignment[i] = k
    return stops, assignment


def _majority(names: list[str]) -> str | None:
    """The name most collectors gave, after folding case and spacing; shown as most often written."""
    if not names:
        return None
    folded = Counter(" ".join(re.sub(r"[^\w]+", " ", n.lower()).split()) for n in names)
    best = max(folded, key=lambda k: (folded[k], k))
    written = Counter(n for n in names if " ".join(re.sub(r"[^\w]+", " ", n.lower()).split()) == best)
    return max(written, key=lambda n: (written[n], n))

"""Infer stops: where vehicles of a pattern stop for passengers, shared across patterns and routes.

Evidence per ride: the stops the collector marked, the dwells found in the trace (slower than
``dwell_speed_mps`` for at least ``dwell_s``), and the two ends of a full ride (its terminals). Events are
placed on the pattern (nearest vertex, 10 m apart) and clustered along it; a cluster is a stop when a
collector marked it (a lone unnamed mark of one ride among three or more full ones, where no other ride
stood, is a stop for one passenger: not), when vehicles stopped there on enough of the rides (where the
pattern's collectors mark stops, nearly all: else it is a junction or traffic), or when it is a terminal. Stops of
different patterns closer than ``merge_m`` and served in the same direction of travel are one stop (a stop
served by ten routes is one stop); the other side of the road is another stop.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import numpy as np

from .engine import map_local
from .geo import Path, distinct, groups, pairs_within
from .model import NetworkStop, PatternStops, Ride, Route, normalise_name, place_name, stop_word


@dataclass(frozen=True)
class StopConfig:
    dwell_speed_mps: float = 1.5
    dwell_s: float = 10.0
    on_pattern_m: float = 40.0  # events farther from the pattern are not its stops
    cluster_gap_m: float = 40.0  # events closer than this along the pattern are one stop
    min_share: float = 0.3  # of the rides that must dwell at an unmarked place to make it a stop ...
    kept_share: float = 0.8  # ... where the pattern's collectors mark stops (else a junction, traffic)
    weak_mark_rides: int = 2  # full rides of a pattern from which a lone unnamed mark is a stop for one passenger
    stop_apart_m: float = 60.0  # evidence closer than this along a pattern is of one stop
    mark_before_s: float = 10.0  # a mark tapped this long before the vehicle stood, ...
    mark_after_s: float = 30.0  # ... or this long after it moved off, is a mark of that stand ...
    mark_stand_m: float = 150.0  # ... when it stood within this distance of where the mark was tapped
    merge_m: float = 15.0


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


def infer_stops(rides: list[Ride], routes: list[Route], config: StopConfig = StopConfig(), *, workers: int = 1
                ) -> tuple[list[NetworkStop], dict[tuple[int, int], PatternStops]]:
    """The network's stops and, per (route index, pattern index), the pattern's stops in order. ``workers`` > 1:
    each pattern's evidence is read in that many processes forked from this one (the same stops)."""
    keys = [(r, k) for r, route in enumerate(routes) for k in range(len(route.patterns))]
    found = map_local(_candidates_of, keys, workers, shared=(rides, routes, config))
    candidates: list[_Candidate] = [c for part in found for c in part]
    stops, assignment = _merge(candidates, config)
    per_pattern: dict[tuple[int, int], list[tuple[float, int]]] = {}
    for cand, k in zip(candidates, assignment):
        per_pattern.setdefault(cand.pattern, []).append((cand.s_m, k))
    out = {}
    for key, items in per_pattern.items():
        items.sort()
        seq, s = [], []
        for s_m, k in items:
            # a merged stop met twice in a row is one stop, unless the pattern went round and came back to it
            # (a loop from a rank back to it: two stops, so that the trip has the two GTFS needs)
            if not seq or seq[-1] != k or s_m - s[-1] > 2 * config.cluster_gap_m:
                seq.append(k)
                s.append(s_m)
        out[key] = PatternStops(tuple(seq), np.array(s))
    return stops, out


def _candidates_of(shared: tuple[list[Ride], list[Route], StopConfig], key: tuple[int, int]) -> list[_Candidate]:
    rides, routes, config = shared
    return _pattern_candidates(key, routes[key[0]].patterns[key[1]], rides, config)


def _pattern_candidates(key, pattern, rides: list[Ride], config: StopConfig) -> list[_Candidate]:
    path = pattern.path
    members = list(pattern.rides) + list(pattern.partial)
    events = [(i, *_events(rides[i], config, full=i in pattern.rides)) for i in members]
    xy = np.concatenate([e[1] for e in events]) if events else np.empty((0, 2))
    kinds = [kind for e in events for kind in e[2]]
    ride_of = np.repeat([e[0] for e in events], [len(e[1]) for e in events]) if events else np.empty(0, int)
    k, dist = path.nearest(xy, config.on_pattern_m)
    near = np.flatnonzero(dist <= config.on_pattern_m)  # events off the pattern are not its stops
    s_all = path.cum[k[near]]
    names = [kinds[j][1] for j in near]
    marked = np.array([kinds[j][0] == "mark" for j in near], bool)
    loose = np.array([kinds[j][0] == "loose" for j in near], bool)
    dwell = np.array([kinds[j][0] == "dwell" for j in near], bool)
    ride_of = ride_of[near]
    length = path.length
    out = []
    n_rides = len(members)
    n_full = len(pattern.rides)
    marking = len(distinct(ride_of[marked])) > 0  # the collectors of this pattern mark its stops
    if len(s_all):
        order = np.argsort(s_all, kind="stable")
        s_sorted = s_all[order]
        cuts = np.flatnonzero(np.diff(s_sorted) > config.cluster_gap_m) + 1
        # runs whose middles lie closer than stop_apart_m are one stop's evidence, spread (vehicles stand a
        # little before or after it, collectors tap late); a run, and runs merged, are spans of the sorted
        # evidence, whose median is its middle
        def middle(lo: int, hi: int) -> float:
            m = lo + (hi - lo - 1) // 2
            return float(s_sorted[m] if (hi - lo) % 2 else (s_sorted[m] + s_sorted[m + 1]) / 2)

        spans: list[list[int]] = []
        for lo, hi in zip(np.r_[0, cuts].tolist(), np.r_[cuts, len(order)].tolist()):
            if spans and middle(lo, hi) - middle(*spans[-1]) < config.stop_apart_m:
                spans[-1][1] = hi
            else:
                spans.append([lo, hi])
        named = np.array([bool(n) for n in names], bool)
        kept, s_med, terminal = _judged_spans(s_sorted, np.array(spans, np.int64), ride_of[order], marked[order],
                                              loose[order], dwell[order], named[order], length, n_rides, n_full,
                                              marking, config)
        for g in kept.tolist():
            group = order[spans[g][0] : spans[g][1]]
            out.append(_candidate(key, path, float(s_med[g]), [names[j] for j in group if names[j]], len(group),
                                  bool(terminal[g])))
    # The ends of the pattern are always stops (the ranks where its vehicles start and end).
    for s_end in (0.0, length):
        if not any(abs(c.s_m - s_end) <= config.cluster_gap_m for c in out):
            out.append(_candidate(key, path, s_end, [], 0, True))
    return sorted(out, key=lambda c: c.s_m)


def _judged_spans(s_m: np.ndarray, spans: np.ndarray, ride: np.ndarray, marked: np.ndarray, loose: np.ndarray,
                  dwell: np.ndarray, named: np.ndarray, length: float, n_rides: int, n_full: int, marking: bool,
                  config: StopConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which spans of a pattern's stop evidence are stops: (their indices, each span's place along the pattern,
    whether it is at a terminal). The evidence is sorted by its place ``s_m``; ``spans`` are [lo, hi) of it, in
    order, covering it; per piece of evidence, its ride and kind (a mark placed at a stand, a loose mark, a
    dwell) and whether it has a name. All spans at once (numpy): distinct rides per span from one sort of
    (span, ride) pairs, medians read from the sorted evidence."""
    size = spans[:, 1] - spans[:, 0]
    span_of = np.repeat(np.arange(len(spans)), size)
    rides = np.unique(ride, return_inverse=True)[1].ravel()
    n_ids = int(rides.max()) + 1
    pair = span_of * n_ids + rides

    def rides_per_span(mask: np.ndarray) -> np.ndarray:
        return np.bincount(distinct(pair[mask]) // n_ids, minlength=len(spans))

    n_marks = rides_per_span(marked)
    n_marks_loose = rides_per_span(loose | marked)
    n_dwells = rides_per_span(dwell)
    n_dwells_or_marks = rides_per_span(dwell | marked)
    # marks the vehicles did not stop for count from two rides on
    n_mark_rides = np.where(n_marks_loose >= 2, n_marks_loose, n_marks)
    any_name = np.add.reduceat(named.astype(np.int64), spans[:, 0]) > 0
    # placed where the vehicles stood for it (marks moved to their stands, dwells), else where tapped: the
    # median of the span's evidence of that kind
    stood = marked | dwell
    n_stood = np.add.reduceat(stood.astype(np.int64), spans[:, 0])
    at = np.flatnonzero(np.where(n_stood[span_of] > 0, stood, True))
    n_used = np.where(n_stood > 0, n_stood, size)
    first = np.r_[0, np.cumsum(n_used)[:-1]]
    s_med = (s_m[at[first + (n_used - 1) // 2]] + s_m[at[first + n_used // 2]]) / 2
    terminal = (s_med <= config.cluster_gap_m) | (s_med >= length - config.cluster_gap_m)
    # where collectors mark stops, a place where vehicles stood unmarked is a junction or traffic, unless they
    # stand there nearly every ride; a mark of one ride of many, unnamed, that no other ride stood at, is a stop
    # for one passenger
    needed = max(3, config.kept_share * n_rides) if marking else max(2, config.min_share * n_rides)
    weak = (n_mark_rides == 1) & (n_full >= config.weak_mark_rides) & ~any_name & (n_dwells_or_marks == n_marks)
    return np.flatnonzero(((n_mark_rides > 0) & ~weak) | terminal | (n_dwells >= needed)), s_med, terminal


def _candidate(key, path: Path, s_m: float, names: list[str], observations: int, terminal: bool) -> _Candidate:
    last = len(path.xy) - 1
    k = min(int(np.searchsorted(path.cum, s_m)), last)
    (ax, ay), (x, y), (bx, by) = (path.xy[i].tolist() for i in (max(k - 1, 0), k, min(k + 1, last)))
    return _Candidate(key, float(path.cum[k]), x, y, math.atan2(by - ay, bx - ax), names, observations, terminal)


def _events(ride: Ride, config: StopConfig, *, full: bool) -> tuple[np.ndarray, list[tuple[str, str | None]]]:
    """Stop evidence of one ride: marked stops, dwells in the moving part, the ends of a full ride.

    A mark is where the collector tapped, which is often not where the vehicle stood: tapped a little after it
    moved off, or while it stood. A mark tapped while the vehicle stood, or up to ``mark_after_s`` after, is
    placed where it stood (``mark``); one tapped where the vehicle was not seen standing keeps its place, and
    counts less (``loose``) when what was typed into it is a note (about the GPS, a photo), not a place."""
    xy, kinds = [], []
    lo, hi = ride.start, ride.end
    t, x, y = ride.t_s[lo : hi + 1], ride.x_m[lo : hi + 1], ride.y_m[lo : hi + 1]
    # each time the vehicle stood, however briefly: its start and end (s) and where (the mean of its fixes)
    stood = np.zeros((0, 4))
    if len(t) > 2:
        slow = np.hypot(np.diff(x), np.diff(y)) / np.maximum(np.diff(t), 1e-3) < config.dwell_speed_mps
        edges = np.flatnonzero(np.diff(np.concatenate([[0], slow.astype(np.int8), [0]])))
        a, b = edges[::2], edges[1::2]  # runs of slow steps a..b-1 cover fixes a..b
        if len(a):
            # the sums of the runs' fixes, each as np.add.reduce takes it (runs do not overlap: a step that is
            # not slow lies between two)
            cut = np.column_stack([a, b + 1]).ravel()
            n = b + 1 - a
            sx = np.add.reduceat(np.r_[x, 0.0], cut)[::2]
            sy = np.add.reduceat(np.r_[y, 0.0], cut)[::2]
            stood = np.column_stack([t[a], t[b], sx / n, sy / n])
            dwell = stood[t[b] - t[a] >= config.dwell_s]
            xy += map(tuple, dwell[:, 2:].tolist())
            kinds += [("dwell", None)] * len(dwell)
    timed = ride.clock and len(stood) > 0
    # the stand each mark was tapped at, or just after (the nearest in time, then the first); -1: none
    at = [-1] * len(ride.stops)
    if timed and ride.stops:
        tm, mx, my = (np.array([m[k] for m in ride.stops], float) for k in range(3))
        near = ((stood[None, :, 0] - config.mark_before_s <= tm[:, None])
                & (tm[:, None] <= stood[None, :, 1] + config.mark_after_s)
                & (np.hypot(stood[None, :, 2] - mx[:, None], stood[None, :, 3] - my[:, None]) <= config.mark_stand_m))
        gap = np.maximum(np.maximum(stood[None, :, 0] - tm[:, None], 0.0), tm[:, None] - stood[None, :, 1])
        best = np.argmin(np.where(near, gap, np.inf), axis=1)  # the first of the nearest in time
        at = np.where(near.any(axis=1), best, -1).tolist()
    for (_, x_m, y_m, _, label), k in zip(ride.stops, at):
        name = place_name(label)  # a note typed into the mark names no stop
        if k >= 0:  # the stand the mark was tapped at, or just after
            xy.append((float(stood[k, 2]), float(stood[k, 3])))
            kinds.append(("mark", name))
        else:  # a mark where the vehicle was not seen standing (a short stop between fixes): a stop, unless what
            xy.append((x_m, y_m))  # the collector typed into it is a note (a photo, the GPS): then only as one of
            note = label and not name and not stop_word(label)  # several rides' marks
            kinds.append(("loose" if timed and note else "mark", name))
    if full:
        xy += [(ride.x_m[lo], ride.y_m[lo]), (ride.x_m[hi], ride.y_m[hi])]
        kinds += [("end", place_name(ride.origin)), ("end", place_name(ride.destination))]
    return np.array(xy, dtype=float).reshape(-1, 2), kinds


def _merge(cands: list[_Candidate], config: StopConfig) -> tuple[list[NetworkStop], list[int]]:
    """Candidates closer than ``merge_m`` and served in the same direction of travel become one stop."""
    n = len(cands)
    xy = np.array([(c.x_m, c.y_m) for c in cands], float).reshape(-1, 2)
    a, b = pairs_within(xy, xy, config.merge_m)
    pattern = np.unique([c.pattern for c in cands], axis=0, return_inverse=True)[1].ravel() if n else np.empty(0, int)
    bearing = np.array([c.bearing for c in cands])
    terminal = np.array([c.terminal for c in cands], bool)
    turn = np.abs((bearing[a] - bearing[b] + np.pi) % (2 * np.pi) - np.pi)
    # a rank is one place whichever way its vehicles leave; elsewhere the other side of the road is another stop
    same = (a < b) & (pattern[a] != pattern[b]) & ((turn < np.pi / 3) | (terminal[a] & terminal[b]))
    found = groups(n, zip(a[same].tolist(), b[same].tolist()))
    centre = [(float(np.mean(xy[g, 0])), float(np.mean(xy[g, 1]))) for g in found]
    ordered = sorted(range(len(found)), key=lambda k: _place(*centre[k]))
    stops, assignment = [], [0] * n
    for k, f in enumerate(ordered):
        g = found[f]
        names = [nm for i in g for nm in cands[i].names]
        stops.append(NetworkStop(*centre[f], _majority(names), sum(cands[i].observations for i in g)))
        for i in g:
            assignment[i] = k
    return stops, assignment


def _place(x_m: float, y_m: float) -> tuple[float, float]:
    """The order of the network's stops: west to east, then south to north (to 10 cm)."""
    return round(x_m, 1), round(y_m, 1)


def merged_stops(parts: list[list[NetworkStop]]) -> tuple[list[NetworkStop], list[list[int]]]:
    """The stops of regions that share none, in one list in the order ``infer_stops`` gives (stops of
    different regions are far apart, so never in the same place), and for each part where each of its stops
    went."""
    order = sorted(((k, i) for k, stops in enumerate(parts) for i in range(len(stops))),
                   key=lambda e: _place(parts[e[0]][e[1]].x_m, parts[e[0]][e[1]].y_m))
    where = [[0] * len(stops) for stops in parts]
    for n, (k, i) in enumerate(order):
        where[k][i] = n
    return [parts[k][i] for k, i in order], where


def _majority(names: list[str]) -> str | None:
    """The name most collectors gave, after folding case and spacing; shown as most often written."""
    if not names:
        return None
    folded = Counter(map(normalise_name, names))
    best = max(folded, key=lambda k: (folded[k], k))
    written = Counter(n for n in names if normalise_name(n) == best)
    return max(written, key=lambda n: (written[n], n))

"""Clean accepted traces into rides: usable fixes only, in the survey's metric CRS, the moving part found.

The wait at the rank before departure and the time after arrival are kept (they are evidence of terminals and
dwell) but marked apart from the moving part, which alone makes shapes. The GPS spikes, duplicate fixes and
other points left out by validation are dropped here (they were counted in its notices).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .geo import project
from .model import Ride, Trace


@dataclass(frozen=True)
class CleanConfig:
    leave_radius_m: float = 100.0  # the ride starts once the vehicle is this far from where recording began
    wait_radius_m: float = 40.0  # ... and the wait ends at the last fix this close to the start
    min_moving_m: float = 300.0
    # before boarding and after alighting: fixes farther than wait_radius_m from where the vehicle first (last)
    # ran at vehicle_kph, sustained over vehicle_window_s, are the collector on foot; they are dropped
    vehicle_kph: float = 10.0
    vehicle_window_s: float = 60.0
    walk_s: float = 30.0  # ... over at least this long, spanning walk_radius_m (GPS noise strays 40 m briefly,
    walk_radius_m: float = 100.0  # and a vehicle stands at a stop near the rank before it drives off)


def clean_ride(trace: Trace, keep: np.ndarray, stop_keep: np.ndarray, fare_keep: np.ndarray, epsg: int,
               config: CleanConfig = CleanConfig()) -> Ride | None:
    """The ride of one checked trace, or None when too little of it moves."""
    idx = np.flatnonzero(keep)
    if len(idx) < 2:
        return None
    t = trace.t_s[idx]
    x, y = project(trace.lat[idx], trace.lon[idx], epsg)
    # never keep what the collector recorded on foot before boarding or after alighting (privacy): it is
    # neither route nor rank, and may show where they live or work. The collector's own time on board comes
    # from motion: a stop's ``kind`` says what passengers did there (they board and alight all along a
    # route), not when the collector got on or off
    lo, hi = _on_board(t, x, y, config)
    if hi - lo < 1:
        return None
    t, x, y = t[lo : hi + 1], x[lo : hi + 1], y[lo : hi + 1]
    start = _leave(x, y, config)
    end = len(x) - 1 - _leave(x[::-1], y[::-1], config)
    if end <= start:
        return None
    seg = np.hypot(np.diff(x[start : end + 1]), np.diff(y[start : end + 1]))
    if seg.sum() < config.min_moving_m:
        return None
    stops = []
    new_index = {}  # trace stop index -> ride stop index
    if trace.stops:
        kept = [k for k, ok in enumerate(stop_keep) if ok]
        new_index = {k: n for n, k in enumerate(kept)}
        if kept:
            sx, sy = project(np.array([trace.stops[k].lat for k in kept]), np.array([trace.stops[k].lon for k in kept]),
                             epsg)
            stops = [(trace.stops[k].time_s, float(a), float(b), trace.stops[k].kind, trace.stops[k].name)
                     for k, a, b in zip(kept, sx, sy)]
    # fares between two stops refer to the ride's stops; one whose stop was left out (its notice says why)
    # cannot be placed and is left out with it
    fares = []
    for f, ok in zip(trace.fares, fare_keep):
        ends = [e for e in (f.from_stop, f.to_stop) if e is not None]
        if ok and all(e in new_index for e in ends):
            fares.append(replace(f, from_stop=new_index.get(f.from_stop), to_stop=new_index.get(f.to_stop)))
    return Ride(
        trace_id=trace.trace_id, source=trace.source, collector_id=trace.collector_id,
        route_name=trace.route_name, operator=trace.operator, origin=trace.origin, destination=trace.destination,
        t_s=t, x_m=x, y_m=y, start=int(start), end=int(end),
        start_wait_s=float(t[start] - t[0]), end_wait_s=float(t[-1] - t[end]),
        stops=tuple(stops), fares=tuple(fares),
        departures_s=np.asarray(trace.departures_s, dtype=float), mode=trace.mode, timing=trace.timing,
        reported_headways=trace.reported_headways, noted_hours=trace.noted_hours,
    )


def _on_board(t: np.ndarray, x: np.ndarray, y: np.ndarray, config: CleanConfig) -> tuple[int, int]:
    """First and last fix of the ride: without the fixes before boarding (after alighting) that lie farther than
    ``wait_radius_m`` from where the collector boarded (alighted): a walk to the rank, or home. Boarding is the
    first fix from which the vehicle ran at ``vehicle_kph`` over the next ``vehicle_window_s``; alighting
    likewise, backwards. The wait at the rank is kept."""
    n = len(t)
    ahead = np.minimum(np.searchsorted(t, t + config.vehicle_window_s), n - 1)
    behind = np.maximum(np.searchsorted(t, t - config.vehicle_window_s, side="right") - 1, 0)

    def fast(j):  # the vehicle ran at vehicle_kph between each fix and fix j
        dt = np.abs(t[j] - t)
        return (dt > 0) & (np.hypot(x[j] - x, y[j] - y) > config.vehicle_kph / 3.6 * np.maximum(dt, 1))

    first, last = np.flatnonzero(fast(ahead)), np.flatnonzero(fast(behind))
    a = int(first[0]) if len(first) else 0
    b = int(last[-1]) if len(last) else n - 1
    if b <= a:
        return 0, n - 1
    # where the collector boarded: the median of the fixes over the minute before (GPS noise, correlated over
    # tens of seconds, moves a single fix 40 m off while the vehicle waits)
    xy = np.column_stack([x, y])
    board = np.median(xy[int(np.searchsorted(t, t[a] - config.vehicle_window_s)) : a + 1], axis=0)
    alight = np.median(xy[b : int(np.searchsorted(t, t[b] + config.vehicle_window_s, side="right"))], axis=0)
    lo = _after_walk(t[:a], np.hypot(x[:a] - board[0], y[:a] - board[1]), xy[:a], config)
    hi = n - 1 - _after_walk(-t[b + 1 :][::-1], np.hypot(x[b + 1 :] - alight[0], y[b + 1 :] - alight[1])[::-1],
                             xy[b + 1 :][::-1], config)
    return lo, hi


def _after_walk(t: np.ndarray, d: np.ndarray, xy: np.ndarray, config: CleanConfig) -> int:
    """The first fix after the last walk before boarding; 0 when there was none. A walk: fixes farther than
    ``wait_radius_m`` from the boarding place (distances ``d``) for ``walk_s`` or more, which themselves span
    ``walk_radius_m`` or more before their last minute. Shorter excursions are GPS noise around a waiting
    vehicle; fixes far from the boarding place that stay put, then run to it within a minute, are the vehicle
    at the rank driving off to a stop near it."""
    far = np.r_[0, (d > config.wait_radius_m).astype(np.int8), 0]
    starts, ends = np.flatnonzero(np.diff(far) == 1), np.flatnonzero(np.diff(far) == -1) - 1
    if not len(starts):
        return 0
    # each run without its last minute (a vehicle leaving the rank for the stop where the collector's ride
    # seems to begin): reduceat over [start, cut)
    cut = np.maximum(np.searchsorted(t, t[ends] - config.vehicle_window_s, side="right"), starts + 1)
    bounds = np.ravel(np.column_stack([starts, cut]))
    padded = np.vstack([xy, xy[-1:]])  # an index may be len(xy)
    span = np.hypot(*(np.maximum.reduceat(padded, bounds)[::2] - np.minimum.reduceat(padded, bounds)[::2]).T)
    walks = ends[(t[ends] - t[starts] >= config.walk_s) & (span >= config.walk_radius_m)]
    return int(walks[-1]) + 1 if len(walks) else 0


def _leave(x: np.ndarray, y: np.ndarray, config: CleanConfig) -> int:
    """Index of the last fix near where recording began, before the vehicle first gets far from it."""
    d = np.hypot(x - x[0], y - y[0])
    away = np.flatnonzero(d > config.leave_radius_m)
    if len(away) == 0:
        return 0
    near = np.flatnonzero(d[: away[0]] <= config.wait_radius_m)
    return int(near[-1]) if len(near) else 0

"""Travel times between stops and headways by time band, from the observed rides.

Times: every ride of a pattern (full or partial) is placed along the pattern over time; the time it passed
each stop is interpolated, and the time between consecutive stops is the median over the rides that passed
both. Headways: the gaps between the departures a collector saw while waiting at the rank (gaps are only
taken within one collector's wait: between two waits nobody was watching). Where no departure was observed in
a band, the headway is estimated and its provenance says how; nothing is invented silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from .clean import Ride
from .match import Path, Pattern

BANDS_H = ((0, 6), (6, 9), (9, 16), (16, 19), (19, 24), (24, 30))  # local hours; past 24 = after midnight


@dataclass(frozen=True)
class TimingConfig:
    max_speed_kph: float = 80.0  # stop-to-stop times are never shorter than at this speed
    assumed_headway_s: float = 900.0  # only where nothing at all was observed (said in the provenance)
    # a shorter wait at the rank is boarding a vehicle about to leave, not waiting for one: no headway evidence
    min_rank_wait_s: float = 60.0


@dataclass(frozen=True)
class Headway:
    start_s: int  # seconds after local midnight of the service day (may pass 24 h)
    end_s: int
    headway_s: int
    provenance: str  # observed | observed_other_band | estimated_from_rank_waits | assumed
    samples: int  # gaps or waits it rests on


def stop_offsets(pattern: Pattern, s_stops: np.ndarray, rides: list[Ride], config: TimingConfig = TimingConfig()) -> np.ndarray:
    """Seconds from the first stop to each stop (int, non-decreasing, never faster than
    ``max_speed_kph``)."""
    path = Path(pattern.xy)
    passes = []
    for i in list(pattern.rides) + list(pattern.partial):
        r = rides[i]
        lo, hi = r.start, r.end
        k, dist = path.nearest(np.column_stack([r.x_m[lo : hi + 1], r.y_m[lo : hi + 1]]), 60.0)
        s = np.maximum.accumulate(np.where(dist <= 60, path.cum[np.maximum(k, 0)], 0.0))
        t = r.t_s[lo : hi + 1]
        s_u, first = np.unique(s, return_index=True)
        covered = (s_stops >= s_u[0] - 30) & (s_stops <= s_u[-1] + 30)
        passes.append(np.where(covered, np.interp(s_stops, s_u, t[first]), np.nan))
    times = np.array(passes)
    legs = np.diff(times, axis=1)  # per ride, per leg
    gap = np.diff(s_stops)
    median_speed = _median_speed(times, s_stops)
    leg = np.array([np.nanmedian(col) if np.isfinite(col).any() else g / median_speed for col, g in zip(legs.T, gap)])
    leg = np.maximum(leg, gap / (config.max_speed_kph / 3.6))
    return np.concatenate([[0], np.cumsum(np.ceil(leg))]).astype(int)


def _median_speed(times: np.ndarray, s: np.ndarray) -> float:
    speeds = []
    for row in times:
        ok = np.isfinite(row)
        if ok.sum() >= 2:
            dt = row[ok][-1] - row[ok][0]
            if dt > 0:
                speeds.append((s[ok][-1] - s[ok][0]) / dt)
    return float(np.median(speeds)) if speeds else 20 / 3.6


def local_seconds(t_s: np.ndarray, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """(local date as 'YYYY-MM-DD', seconds after local midnight) of UTC epoch seconds."""
    idx = pd.to_datetime(np.asarray(t_s, dtype=float), unit="s", utc=True).tz_convert(ZoneInfo(tz))
    midnight = idx.normalize()
    return np.asarray(idx.strftime("%Y-%m-%d")), np.asarray((idx - midnight).total_seconds())


def headways(pattern: Pattern, rides: list[Ride], span_s: tuple[int, int], tz: str,
             config: TimingConfig = TimingConfig()) -> list[Headway]:
    """Headways by time band over the service span (local seconds) of one pattern."""
    gaps = []  # (local second of the gap's start, gap seconds)
    for i in pattern.rides:
        deps = np.sort(rides[i].departures_s)
        if len(deps) >= 2:
            _, sec = local_seconds(deps, tz)
            gaps += [(a, b - a) for a, b in zip(sec[:-1], sec[1:]) if b > a]
    waits = [rides[i].start_wait_s for i in pattern.rides if rides[i].start_wait_s >= config.min_rank_wait_s]
    out = []
    for lo_h, hi_h in BANDS_H:
        lo, hi = max(lo_h * 3600, span_s[0]), min(hi_h * 3600, span_s[1])
        if hi <= lo:
            continue
        inside = [g for a, g in gaps if lo_h * 3600 <= a < hi_h * 3600]
        if inside:
            out.append(Headway(lo, hi, int(round(np.median(inside))), "observed", len(inside)))
        elif gaps:
            out.append(Headway(lo, hi, int(round(np.median([g for _, g in gaps]))), "observed_other_band", len(gaps)))
        elif waits:
            # A collector boards the vehicle that is loading: the wait is a share of the headway, half of
            # it on average for arrivals at random.
            out.append(Headway(lo, hi, int(round(2 * np.median(waits))), "estimated_from_rank_waits", len(waits)))
        else:
            out.append(Headway(lo, hi, int(config.assumed_headway_s), "assumed", 0))
    return out

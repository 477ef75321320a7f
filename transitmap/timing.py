"""Travel times between stops and headways by time band, from the observed rides.

Times: every ride of a pattern (full or partial) is placed along the pattern over time; the time it passed
each stop is interpolated, and the time between consecutive stops is the median over the rides that passed
both. Headways: the gaps between the departures a collector saw while waiting at the rank (gaps are only
taken within one collector's wait: between two waits nobody was watching). Where no departure was observed in
a band, the headway is estimated and its provenance says how; nothing is invented silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from . import notices as N
from .errors import SettingsError
from .model import TIME_BANDS, Headway, Pattern, Ride, time_band



#: the speed on board of rides without times where no ride of the survey has times to measure it by
FALLBACK_SPEED_KPH = 20.0


def declared_span_s(hours: str) -> tuple[int, int]:
    """Seconds after local midnight of a declared span "HH:MM-HH:MM" (the end after the start, up to 30:00)."""
    m = re.fullmatch(r"\s*(\d{1,2}):(\d\d)\s*-\s*(\d{1,2}):(\d\d)\s*", str(hours))
    lo, hi = (int(m.group(1)) * 3600 + int(m.group(2)) * 60, int(m.group(3)) * 3600 + int(m.group(4)) * 60) if m else (0, 0)
    if not m or not 0 <= lo < hi <= 30 * 3600:
        raise SettingsError(f"service_hours {hours!r} is not a span of the day such as 05:00-21:00 (an end past "
                            "24:00, up to 30:00, is after midnight)")
    return lo, hi


@dataclass(frozen=True)
class TimingConfig:
    max_speed_kph: float = 80.0  # stop-to-stop times are never shorter than at this speed
    assumed_headway_s: float = 900.0  # only where nothing at all was observed (said in the provenance)
    # a shorter wait at the rank is boarding a vehicle about to leave, not waiting for one: no headway evidence
    min_rank_wait_s: float = 60.0
    # the speed of a pattern only rides without times show; default (None): the median speed of the survey's
    # rides with times (20 km/h when it has none)
    untimed_speed_kph: float | None = None
    # the hours the survey's vehicles run (HH:MM-HH:MM, local; past 24:00 for service after midnight): every
    # pattern runs at least then, and longer where its rides show it (its first and last departures seen)
    service_hours: str = "05:00-21:00"
    # a time band whose rides (at least band_min_rides of them) take longer or shorter than the pattern's rides
    # together by more than this share gets stop times of its own (a trip of its own for the band)
    band_difference: float = 0.2
    band_min_rides: int = 2

    def __post_init__(self) -> None:
        declared_span_s(self.service_hours)  # refused here, with what would do, not deep in a build


def band_offsets(pattern: Pattern, s_stops: np.ndarray, rides: list[Ride], tz: str, offsets: np.ndarray,
                 config: TimingConfig = TimingConfig()) -> dict[str, tuple[np.ndarray, int]]:
    """{band: (seconds from the first stop to each stop, rides)} of the time bands whose rides show travel times
    of their own: at least ``band_min_rides`` rides with times of day started in the band, and their time from
    the first stop to the last differs from ``offsets``' (all rides together) by more than ``band_difference``.
    A leg no ride of the band covered keeps the time of all rides."""
    timed = [i for i in list(pattern.rides) + list(pattern.partial) if rides[i].clock]
    if len(timed) < 2 * config.band_min_rides or len(s_stops) < 2:
        return {}
    _, sec = local_seconds(np.array([rides[i].t_s[rides[i].start] for i in timed]), tz)
    band_of = [time_band(x) for x in sec]
    legs = np.diff(_passes(pattern, s_stops, rides, timed), axis=1)
    gap = np.diff(s_stops)
    out = {}
    for band in sorted(set(band_of)):
        rows = [k for k, b in enumerate(band_of) if b == band]
        if len(rows) < config.band_min_rides:
            continue
        mine = legs[rows]
        own = _cumulative(np.where(np.isfinite(mine).any(axis=0), nan_median(mine), np.diff(offsets)), gap, config)
        if offsets[-1] > 0 and abs(own[-1] / offsets[-1] - 1) > config.band_difference:
            out[band] = (own, len(rows))
    return out


def _passes(pattern: Pattern, s_stops: np.ndarray, rides: list[Ride], which: list[int]) -> np.ndarray:
    """When each of the rides ``which`` passed each stop (rides x stops, NaN where it did not cover the stop)."""
    path = pattern.path
    passes = []
    for i in which:
        r = rides[i]
        lo, hi = r.start, r.end
        k, dist = path.nearest(np.column_stack([r.x_m[lo : hi + 1], r.y_m[lo : hi + 1]]), 60.0)
        s = np.maximum.accumulate(np.where(dist <= 60, path.cum[np.maximum(k, 0)], 0.0))
        t = r.t_s[lo : hi + 1]
        s_u, first = np.unique(s, return_index=True)
        covered = (s_stops >= s_u[0] - 30) & (s_stops <= s_u[-1] + 30)
        passes.append(np.where(covered, np.interp(s_stops, s_u, t[first]), np.nan))
    return np.array(passes)


def stop_offsets(pattern: Pattern, s_stops: np.ndarray, rides: list[Ride],
                 config: TimingConfig = TimingConfig()) -> tuple[np.ndarray, str, int]:
    """Seconds from the first stop to each stop (int, non-decreasing, never faster than ``max_speed_kph``),
    where they come from (``recorded``, ``stop_times`` or ``survey_speed``: see ``PatternTimes``) and on how
    many rides they rest. Rides whose times are made up (``Ride.timing`` estimated) count only where the
    pattern has no other: then every leg is run at ``untimed_speed_kph``."""
    members = list(pattern.rides) + list(pattern.partial)
    timed = [i for i in members if rides[i].travel_timed]
    gap = np.diff(s_stops)
    if not timed:
        return _cumulative(gap / ((config.untimed_speed_kph or FALLBACK_SPEED_KPH) / 3.6), gap, config), "survey_speed", 0
    times = _passes(pattern, s_stops, rides, timed)
    legs = np.diff(times, axis=1)  # per ride, per leg
    median_speed = _median_speed(times, s_stops)
    leg = np.where(np.isfinite(legs).any(axis=0), nan_median(legs), gap / median_speed)
    source = "recorded" if any(rides[i].clock for i in timed) else "stop_times"
    return _cumulative(leg, gap, config), source, len(timed)


def _cumulative(leg: np.ndarray, gap: np.ndarray, config: TimingConfig) -> np.ndarray:
    """Seconds from the first stop to each stop of legs (seconds) over gaps (metres), no leg faster than
    ``max_speed_kph``, each rounded up to the second."""
    leg = np.maximum(leg, gap / (config.max_speed_kph / 3.6))
    return np.concatenate([[0], np.cumsum(np.ceil(leg))]).astype(int)


def survey_speed_kph(rides: list[Ride]) -> float:
    """The median speed on board of the rides whose times tell travel times (20 km/h when none does)."""
    speeds = []
    for r in rides:
        if r.travel_timed and r.end > r.start:
            dt = r.t_s[r.end] - r.t_s[r.start]
            if dt > 0:
                speeds.append(float(np.hypot(np.diff(r.x_m[r.start:r.end + 1]), np.diff(r.y_m[r.start:r.end + 1])).sum() / dt))
    return round(float(np.median(speeds)) * 3.6, 1) if speeds else FALLBACK_SPEED_KPH


def uniform_reported_headways(rides: list[Ride]) -> list:
    """``reported_headways_uniform`` when five or more rides report headways and all report one value in every
    band (an app's default, most likely)."""
    reporting = sorted((r for r in rides if r.reported_headways), key=lambda r: (r.trace_id, r.source))
    values = {h for r in reporting for _, h in r.reported_headways}
    if len(reporting) >= 5 and len(values) == 1 and all(len(r.reported_headways) > 1 for r in reporting):
        return [N.ReportedHeadwaysUniformNotice(file=reporting[0].source, trace_id=reporting[0].trace_id,
                                                count=len(reporting), headway_s=float(values.pop()))]
    return []


def nan_median(values: np.ndarray) -> np.ndarray:
    """The median of each column of a 2-D array, NaN left out (NaN for a column of NaN only): what
    ``np.nanmedian`` gives column by column, from one sort (NaN sort last)."""
    values = np.sort(np.asarray(values, float), axis=0)
    n = np.isfinite(values).sum(axis=0)
    cols = np.arange(values.shape[1])
    lo, hi = values[np.maximum(n - 1, 0) // 2, cols], values[np.maximum(n, 1) // 2 - (n == 0), cols]
    out = np.where(n % 2 == 1, lo, (lo + hi) / 2)
    return np.where(n > 0, out, np.nan)


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
    t_s = np.asarray(t_s, dtype=float)
    offset = _fixed_offset_s(t_s, tz)
    if offset is not None:  # one UTC offset throughout (most of the world, most days): numpy only
        local = t_s + offset
        day = np.floor(local / 86400.0)
        return day.astype("datetime64[D]").astype(str), local - day * 86400.0
    idx = pd.to_datetime(t_s, unit="s", utc=True).tz_convert(ZoneInfo(tz))
    midnight = idx.normalize()
    return np.asarray(idx.strftime("%Y-%m-%d")), np.asarray((idx - midnight).total_seconds())


def _fixed_offset_s(t_s: np.ndarray, tz: str, longest_s: float = 62 * 86400.0) -> float | None:
    """The zone's UTC offset in seconds when it is the same from a day before the first of ``t_s`` (so at
    the local midnight before each) to the last: sampled every 6 hours, and a zone never changes its offset
    and back within 6 hours. None when it changes, or when the times span more than ``longest_s``."""
    if not len(t_s) or not np.isfinite(t_s).all() or t_s.max() - t_s.min() > longest_s:
        return None
    zone = ZoneInfo(tz)
    at = np.append(np.arange(t_s.min() - 86400.0, t_s.max(), 6 * 3600.0), t_s.max())
    offsets = {datetime.fromtimestamp(float(t), timezone.utc).astimezone(zone).utcoffset() for t in at}
    return offsets.pop().total_seconds() if len(offsets) == 1 else None


def observed_span(pattern: Pattern, rides: list[Ride], tz: str) -> tuple[int, int] | None:
    """The hours (local seconds) a pattern's rides show it running: from the hour its first ride with a time of
    day started to the hour after its last; without such a ride, the bands its recordings report headways for;
    else None."""
    starts = np.array([rides[i].t_s[rides[i].start] for i in pattern.rides + pattern.partial if rides[i].clock])
    if len(starts):
        _, sec = local_seconds(starts, tz)
        return int(sec.min() // 3600 * 3600), int(-(-(sec.max() + 1) // 3600) * 3600)
    reported = {band for i in pattern.rides + pattern.partial for band, _ in rides[i].reported_headways}
    hours = [(lo, hi) for name, lo, hi in TIME_BANDS if name in reported]
    return (min(h[0] for h in hours) * 3600, max(h[1] for h in hours) * 3600) if hours else None


def headways(pattern: Pattern, rides: list[Ride], tz: str, config: TimingConfig = TimingConfig()) -> list[Headway]:
    """Headways by time band over the hours one pattern runs: the survey's declared ``service_hours`` (or the
    first and last departures its rides' notes name: "first vehicle 5:30", ``Ride.noted_hours``) and the hours
    its rides show (``observed_span``). Bands the rides show get headways from them (see the module
    docstring); bands only the declaration adds are ``extrapolated`` from the nearest band that has one."""
    declared = declared_span_s(config.service_hours)
    firsts = [rides[i].noted_hours[0] for i in pattern.rides + pattern.partial if rides[i].noted_hours[0] is not None]
    lasts = [rides[i].noted_hours[1] for i in pattern.rides + pattern.partial if rides[i].noted_hours[1] is not None]
    noted = (int(np.median(firsts)) if firsts else declared[0], int(np.median(lasts)) if lasts else declared[1])
    if noted[0] < noted[1]:  # the route's own first and last departures, as its riders' notes name them
        declared = noted
    seen = observed_span(pattern, rides, tz)
    shown = _band_headways(pattern, rides, seen or declared, tz, config)
    if seen is None:
        return shown
    span = (min(declared[0], seen[0]), max(declared[1], seen[1]))
    out = []
    for band, lo_h, hi_h in TIME_BANDS:
        lo, hi = max(lo_h * 3600, span[0]), min(hi_h * 3600, span[1])
        if hi <= lo:
            continue
        own = [h for h in shown if time_band(h.start_s) == band]
        if own:  # the rides show the band (in part: it runs over the whole band the service covers)
            out.append(Headway(lo, hi, own[0].headway_s, own[0].provenance, own[0].samples))
            continue
        near = min(shown, key=lambda h: (abs((h.start_s + h.end_s) / 2 - (lo + hi) / 2), h.start_s))
        provenance = "assumed" if near.provenance == "assumed" else "extrapolated"
        out.append(Headway(lo, hi, near.headway_s, provenance, near.samples))
    return out


def _band_headways(pattern: Pattern, rides: list[Ride], span_s: tuple[int, int], tz: str,
                   config: TimingConfig) -> list[Headway]:
    """Headways by time band over the hours ``span_s`` (local seconds) the pattern's rides show."""
    gaps = []  # (local second of the gap's start, gap seconds)
    clocked = [i for i in pattern.rides if rides[i].clock]
    for i in clocked:
        deps = np.sort(rides[i].departures_s)
        if len(deps) >= 2:
            _, sec = local_seconds(deps, tz)
            gaps += [(a, b - a) for a, b in zip(sec[:-1], sec[1:]) if b > a]
    waits = [rides[i].start_wait_s for i in clocked if rides[i].start_wait_s >= config.min_rank_wait_s]
    reported: dict[str, list[float]] = {}
    for i in pattern.rides + pattern.partial:
        for band, h in rides[i].reported_headways:
            reported.setdefault(band, []).append(h)
    out = []
    for band, lo_h, hi_h in TIME_BANDS:
        lo, hi = max(lo_h * 3600, span_s[0]), min(hi_h * 3600, span_s[1])
        if hi <= lo:
            continue
        inside = [g for a, g in gaps if lo_h * 3600 <= a < hi_h * 3600]
        if inside:
            out.append(Headway(lo, hi, int(round(np.median(inside))), "observed", len(inside)))
        elif band in reported:  # what the recording app's user reported for the band: not counted departures
            out.append(Headway(lo, hi, int(round(np.median(reported[band]))), "reported", len(reported[band])))
        elif gaps:
            out.append(Headway(lo, hi, int(round(np.median([g for _, g in gaps]))), "observed_other_band", len(gaps)))
        elif waits:
            # A collector boards the vehicle that is loading: the wait is a share of the headway, half of
            # it on average for arrivals at random.
            out.append(Headway(lo, hi, int(round(2 * np.median(waits))), "estimated_from_rank_waits", len(waits)))
        else:
            out.append(Headway(lo, hi, int(config.assumed_headway_s), "assumed", 0))
    return out

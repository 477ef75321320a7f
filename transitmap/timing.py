"""Travel times between stops and headways by time band, from the observed rides.

Times: every ride of a pattern (full or partial) is placed along the pattern over time; the time it passed
each stop is interpolated, and the time between consecutive stops is the median over the rides that passed
both. Headways: the gaps between the departures a collector saw while waiting at the rank (gaps are only
taken within one collector's wait: between two waits nobody was watching). Where no departure was observed in
a band, the headway is estimated and its provenance says how; nothing is invented silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from . import notices as N
from .errors import SettingsError
from .model import TIME_BANDS, Headway, Pattern, Ride, Route, time_band

#: the speed on board of rides without times where no ride of the survey has times to measure it by
FALLBACK_SPEED_KPH = 20.0


def declared_span_s(hours: str) -> tuple[int, int]:
    """Seconds after local midnight of a declared span "HH:MM-HH:MM" (the end after the start, up to 30:00)."""
    m = re.fullmatch(r"\s*(\d{1,2}):(\d\d)\s*-\s*(\d{1,2}):(\d\d)\s*", str(hours))
    lo, hi = (int(m.group(1)) * 3600 + int(m.group(2)) * 60, int(m.group(3)) * 3600 + int(m.group(4))
              * 60) if m else (0, 0)
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
    # departures a band needs to be observed (its intervals: two or more), and rides whose waits at the rank
    # estimate it (three or more)
    min_observed_gaps: int = 2
    min_wait_rides: int = 3
    # the survey's headway for each mode, in minutes, where no ride of a route direction gives evidence
    # ("minibus=8 rail=45": what is given replaces the default of that mode)
    mode_headways: str = ""
    # what is plausible for each mode, in minutes ("rail=10-240"): a headway outside is a notice, not published
    plausible_headways: str = ""

    def __post_init__(self) -> None:
        declared_span_s(self.service_hours)  # refused here, with what would do, not deep in a build
        mode_table(self.mode_headways, "mode_headways")
        mode_table(self.plausible_headways, "plausible_headways", ranges=True)


#: the headway of a mode where nothing of a route direction tells it, minutes (``TimingConfig.mode_headways``):
#: minibus taxis leave when full, every few minutes at busy ranks and far less often elsewhere; trains keep a
#: timetable of their own
MODE_HEADWAYS_MIN = {"minibus": 10, "shared_taxi": 10, "motorbike_taxi": 5, "bus": 15, "rail": 60, "metro": 10,
                     "tram": 15, "ferry": 60, "cable_car": 5, "funicular": 15}
#: the headways believable of a mode, minutes (``TimingConfig.plausible_headways``)
PLAUSIBLE_HEADWAYS_MIN = {"minibus": (2, 120), "shared_taxi": (2, 120), "motorbike_taxi": (1, 60),
                          "bus": (3, 180), "rail": (15, 240), "metro": (2, 30), "tram": (3, 60),
                          "ferry": (10, 360), "cable_car": (1, 30), "funicular": (5, 60)}


def mode_table(text: str, name: str, *, ranges: bool = False) -> dict:
    """The modes a setting gives ("minibus=8 rail=45", or with ``ranges`` "rail=10-240", minutes);
    ``SettingsError`` on what is not one."""
    out = {}
    for item in str(text or "").replace(",", " ").split():
        m = re.fullmatch(r"([a-z_]+)=(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?", item.strip().lower())
        if not m or ranges != (m.group(3) is not None):
            raise SettingsError(f"timing.{name} {text!r}: write MODE=MINUTES per mode, such as "
                                f"{'rail=10-240' if ranges else 'rail=45'}")
        out[m.group(1)] = (float(m.group(2)), float(m.group(3))) if ranges else float(m.group(2))
    return out


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
        return _cumulative(gap / ((config.untimed_speed_kph or FALLBACK_SPEED_KPH) / 3.6), gap,
                           config), "survey_speed", 0
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
                speeds.append(float(np.hypot(np.diff(r.x_m[r.start:r.end + 1]),
                                             np.diff(r.y_m[r.start:r.end + 1])).sum() / dt))
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


def observed_span(patterns, rides: list[Ride], tz: str) -> tuple[int, int] | None:
    """The hours (local seconds) patterns' rides show them running: from the hour their first ride with a time
    of day started to the hour after their last; without such a ride, the bands their recordings report
    headways for; else None."""
    members = [i for p in patterns for i in p.rides + p.partial]
    starts = np.array([rides[i].t_s[rides[i].start] for i in members if rides[i].clock])
    if len(starts):
        _, sec = local_seconds(starts, tz)
        return int(sec.min() // 3600 * 3600), int(-(-(sec.max() + 1) // 3600) * 3600)
    reported = {band for i in members for band, _ in rides[i].reported_headways}
    hours = [(lo, hi) for name, lo, hi in TIME_BANDS if name in reported]
    return (min(h[0] for h in hours) * 3600, max(h[1] for h in hours) * 3600) if hours else None


def route_headways(route: Route, rides: list[Ride], tz: str, config: TimingConfig = TimingConfig(),
                   mode: str = "minibus") -> list[list[Headway]]:
    """Headways by time band of each pattern of a route, over the hours its direction runs: the declared
    ``service_hours`` (or the first and last departures its rides' notes name: "first vehicle 5:30") and the
    hours its rides show. A band's headway is the evidence of the route direction's rides together:
    ``observed`` (the departures its collectors saw at the rank, ``min_observed_gaps`` intervals or more in
    the band), else ``estimated_from_rank_waits`` (twice the median wait of ``min_wait_rides`` or more rides
    in the band: a collector boards the vehicle that is loading, half a headway on average), else ``reported``
    (by the recording app). A band without evidence, or whose evidence lies outside what is plausible for the
    ``mode`` (``implausible_s``), is ``pending``: ``fill_headways`` gives it the survey's. The departures of a
    direction are shared among its patterns as its rides are (``share``): a variant ridden once adds no service
    of its own."""
    out: list[list[Headway]] = [[] for _ in route.patterns]
    for d in sorted(set(route.directions)):
        which = [p for p, dd in enumerate(route.directions) if dd == d]
        bands = _direction_headways([route.patterns[p] for p in which], rides, tz, config, mode)
        weight = [len(route.patterns[p].rides) + len(route.patterns[p].partial) for p in which]
        for p, w in zip(which, weight):
            share = sum(weight) / max(w, 1)
            out[p] = [Headway(h.start_s, h.end_s, _in_band(h, h.headway_s * share), h.provenance, h.samples,
                              h.implausible_s, share) for h in bands]
    return out


def _in_band(h: Headway, headway_s: float) -> int:
    """A pattern's headway in a band, at most the band's length: its share of its direction's departures is at
    least one departure in the band (GTFS runs a frequency from its start time), never a headway of a day."""
    return int(min(round(headway_s), max(h.end_s - h.start_s, 1)))


def fill_headways(bands: dict, modes: dict, config: TimingConfig = TimingConfig()) -> dict:
    """The ``pending`` bands of every pattern (``bands``: key -> its Headways; ``modes``: key -> the mode of
    its route; a key's first element names its route and direction) given the survey's headway: ``extrapolated``
    from the nearest band of its route direction that has evidence (in proportion as the survey's headways of
    the mode differ between the two bands), else ``assumed``: the headway declared for the mode
    (``mode_headways``), else the survey's own for the mode in that band (the median of its observed and
    estimated bands: three or more), else in any band, else the documented default (``MODE_HEADWAYS_MIN``).
    Returns the bands, filled."""
    declared = {m: v * 60 for m, v in mode_table(config.mode_headways, "mode_headways").items()}
    seen: dict[tuple[str, str], list[float]] = {}
    for key, hs in bands.items():
        for h in hs:
            if h.provenance in ("observed", "estimated_from_rank_waits"):
                seen.setdefault((modes[key], time_band(h.start_s)), []).append(h.headway_s / h.share)
    survey = {k: float(np.median(v)) for k, v in seen.items() if len(v) >= 3}
    per_mode: dict[str, list[float]] = {}
    for (mode, _), v in seen.items():
        per_mode.setdefault(mode, []).extend(v)
    overall = {m: float(np.median(v)) for m, v in per_mode.items() if len(v) >= 3}

    def assumed(mode: str, band: str) -> float:
        if mode in declared:
            return declared[mode]
        return survey.get((mode, band)) or overall.get(mode) or \
            MODE_HEADWAYS_MIN.get(mode, config.assumed_headway_s / 60) * 60

    out = {}
    for key, hs in bands.items():
        mode = modes[key]
        known = [h for h in hs if h.provenance != "pending"]
        filled = []
        for h in hs:
            if h.provenance != "pending":
                filled.append(h)
                continue
            band = time_band(h.start_s)
            if known:  # the route direction's own nearest band, in the survey's proportion between the bands
                near = min(known, key=lambda k: (abs((k.start_s + k.end_s) / 2 - (h.start_s + h.end_s) / 2), k.start_s))
                ratio = assumed(mode, band) / assumed(mode, time_band(near.start_s))
                filled.append(replace(h, headway_s=_in_band(h, near.headway_s * ratio), provenance="extrapolated",
                                      samples=near.samples))
            else:
                filled.append(replace(h, headway_s=_in_band(h, assumed(mode, band) * h.share), provenance="assumed"))
        out[key] = filled
    return out


def headways(pattern: Pattern, rides: list[Ride], tz: str, config: TimingConfig = TimingConfig(),
             mode: str = "minibus") -> list[Headway]:
    """The headways of one pattern as the only one of its route direction (``route_headways``), its pending
    bands filled from it alone (``fill_headways``)."""
    return fill_headways({0: _direction_headways([pattern], rides, tz, config, mode)}, {0: mode}, config)[0]


def _direction_headways(patterns: list[Pattern], rides: list[Ride], tz: str, config: TimingConfig,
                        mode: str) -> list[Headway]:
    members = [i for p in patterns for i in p.rides + p.partial]
    declared = declared_span_s(config.service_hours)
    firsts = [rides[i].noted_hours[0] for i in members if rides[i].noted_hours[0] is not None]
    lasts = [rides[i].noted_hours[1] for i in members if rides[i].noted_hours[1] is not None]
    noted = (int(np.median(firsts)) if firsts else declared[0], int(np.median(lasts)) if lasts else declared[1])
    if noted[0] < noted[1]:  # the route's own first and last departures, as its riders' notes name them
        declared = noted
    seen = observed_span(patterns, rides, tz)
    span = (min(declared[0], seen[0]), max(declared[1], seen[1])) if seen else declared
    evidence = _band_evidence(patterns, rides, tz, config)
    low, high = {**PLAUSIBLE_HEADWAYS_MIN, **mode_table(config.plausible_headways, "plausible_headways",
                                                           ranges=True)}.get(mode, (1, 240))
    out = []
    for band, lo_h, hi_h in TIME_BANDS:
        lo, hi = max(lo_h * 3600, span[0]), min(hi_h * 3600, span[1])
        if hi <= lo:
            continue
        h = evidence.get(band)
        if h is not None and (low * 60 <= h.headway_s <= high * 60 or h.provenance == "observed" and h.headway_s > high
                              * 60):
            out.append(Headway(lo, hi, h.headway_s, h.provenance, h.samples))
        else:  # no evidence, or none to believe: the survey's, when all its routes are known (fill_headways)
            out.append(Headway(lo, hi, 0, "pending", 0, h.headway_s if h is not None else 0))
    return out


def _band_evidence(patterns: list[Pattern], rides: list[Ride], tz: str, config: TimingConfig) -> dict[str, Headway]:
    """{band: headway} of the bands the rides of patterns give evidence for (see ``route_headways``); each
    Headway spans its whole band."""
    gaps = []  # (local second of the gap's start, gap seconds)
    waits = []  # (local second the ride started, wait seconds)
    clocked = [i for p in patterns for i in p.rides if rides[i].clock]
    for i in clocked:
        deps = np.sort(rides[i].departures_s)
        if len(deps) >= 2:
            _, sec = local_seconds(deps, tz)
            gaps += [(a, b - a) for a, b in zip(sec[:-1], sec[1:]) if b > a]
        if rides[i].start_wait_s >= config.min_rank_wait_s:
            _, sec = local_seconds(np.array([rides[i].t_s[rides[i].start]]), tz)
            waits.append((float(sec[0]), rides[i].start_wait_s))
    reported: dict[str, list[float]] = {}
    for p in patterns:
        for i in p.rides + p.partial:
            for band, h in rides[i].reported_headways:
                reported.setdefault(band, []).append(h)
    out = {}
    for band, lo_h, hi_h in TIME_BANDS:
        lo, hi = lo_h * 3600, hi_h * 3600
        inside = [g for a, g in gaps if lo <= a < hi]
        waited = [w for a, w in waits if lo <= a < hi]
        if len(inside) >= config.min_observed_gaps:
            out[band] = Headway(lo, hi, int(round(np.median(inside))), "observed", len(inside))
        elif len(waited) >= config.min_wait_rides:
            out[band] = Headway(lo, hi, int(round(2 * np.median(waited))), "estimated_from_rank_waits", len(waited))
        elif band in reported:  # what the recording app's user reported for the band: not counted departures
            out[band] = Headway(lo, hi, int(round(np.median(reported[band]))), "reported", len(reported[band]))
    return out

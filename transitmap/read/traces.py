"""Columns to a :class:`~transitmap.model.Trace`, whatever the format: numbers and times (any script's digits,
time zones), stops and fares, times made up for recordings without any (``build_trace``, where every reader
ends).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from datetime import date, datetime
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import numpy as np
import pandas as pd
from timezonefinder import TimezoneFinder

from .. import notices as N
from ..geo import WGS84
from ..model import STOP_KINDS, Fare, Stop, Trace
from .base import NUMBER, ascii_digits
from .notes import service_times


class StrList(list):
    """A list known to hold only strings (typed by msgspec): no need to check each element again."""


def float_column(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Float array from numbers (NaN elsewhere) and the mask of elements that were not numbers."""
    if set(map(type, values)) <= NUMBER:
        return np.array(values, dtype=np.float64), np.zeros(len(values), bool)
    bad = np.fromiter((type(v) not in NUMBER for v in values), bool, len(values))
    arr = np.array([float(v) if type(v) in NUMBER else np.nan for v in values], dtype=np.float64)
    return arr, bad


def optional_float_column(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`float_column`, but None/absent is fine (NaN, not bad)."""
    types = set(map(type, values))
    if types <= {type(None)}:
        return np.full(len(values), np.nan), np.zeros(len(values), bool)
    if types <= NUMBER:
        return np.array(values, dtype=np.float64), np.zeros(len(values), bool)
    arr, bad = float_column([np.nan if v is None else v for v in values])
    return arr, bad


_OFFSET_RE = re.compile(r"(Z|z|[+-]\d\d(:?\d\d)?)$")


_ISO_RE = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d")


_CLOCK_ONLY = re.compile(r"^\s*\d{1,2}[:h]\d\d(:\d\d([.,]\d+)?)?\s*([aApP]\.?\s*[mM]\.?)?\s*$")


def parse_times(values: Sequence[Any], lat: float = np.nan, lon: float = np.nan, *,
                all_str: bool | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """ISO 8601 strings to UTC epoch seconds, vectorised.

    Returns (t_s with NaN where unparseable, mask of unparseable, mask of times without UTC offset, the
    time zone used for those: the IANA zone at (lat, lon), or UTC when unknown). ``all_str``: whether
    every value is known to be a string already (None: find out).
    """
    n = len(values)
    if n < 64:
        return _parse_few_times([ascii_digits(v) if type(v) is str else v for v in values], lat, lon)
    if all_str is None:
        all_str = set(map(type, values)) == {str}
    strs = values if all_str else [v if type(v) is str else "" for v in values]
    if all_str:  # real traces write every time alike: the fast path
        fast = _parse_uniform_iso(strs)
        if fast is not None:
            return fast, np.zeros(n, bool), np.zeros(n, bool), "UTC"
    if not all(map(str.isascii, strs)):  # digits of another script: phones set to Arabic, Persian ...
        converted = list(map(ascii_digits, strs))
        if converted != strs:
            return parse_times(converted, lat, lon, all_str=True)
    # Otherwise classify the few distinct separators and suffixes (C-level map over the strings) and
    # look at single strings only when the trace mixes formats.
    seps = set(map(_SEP, strs))
    suffixes = set(map(_SUFFIX, strs))
    if seps <= {"T", " "} and all(_OFFSET_RE.search(suf) for suf in suffixes):
        bad_shape = np.zeros(n, bool)
        naive = np.zeros(n, bool)
        series = pd.Series(strs, dtype=object)
    else:
        bad_shape = np.fromiter((_ISO_RE.match(s) is None for s in strs), bool, n)
        naive = np.fromiter((_OFFSET_RE.search(s[-6:]) is None for s in strs), bool, n) & ~bad_shape
        series = pd.Series(strs, dtype=object).where(~bad_shape, None)
    parsed = pd.to_datetime(series, utc=True, format="ISO8601", errors="coerce")
    dt = parsed.to_numpy(dtype="datetime64[ns]", na_value=np.datetime64("NaT"))
    t = dt.astype("int64")
    bad = np.isnat(dt) | bad_shape
    t_s = np.where(bad, np.nan, t / 1e9)
    tzname = "UTC"
    if naive.any():
        tzname = timezone_at(lat, lon)
        if tzname != "UTC":
            local = pd.Series(np.where(naive & ~bad, t, 0).astype("datetime64[ns]"))
            try:
                utc = local.dt.tz_localize(tzname, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
                shifted = utc.to_numpy(dtype="datetime64[ns]", na_value=np.datetime64("NaT"))
                fix = naive & ~bad
                gone = np.isnat(shifted) & fix  # inside a DST change: ambiguous or nonexistent
                t_s = np.where(fix & ~gone, shifted.astype("int64") / 1e9, t_s)
                t_s[gone] = np.nan
                bad = bad | gone
            except Exception:
                tzname = "UTC"
    return t_s, bad, naive, tzname


def _parse_uniform_iso(strs: list[str]) -> np.ndarray | None:
    """UTC epoch seconds of ISO 8601 times that all share one layout and one UTC offset
    (``YYYY-MM-DDTHH:MM:SS[.f]`` + ``Z``/``+HH:MM``/``+HHMM``), by integer arithmetic on the characters
    (one ASCII buffer viewed as an n x width byte matrix); None when the times do not all fit that layout
    (the general parser then takes over)."""
    width = len(strs[0])
    try:
        buf = "".join(strs).encode("ascii")
    except UnicodeEncodeError:
        return None
    if len(buf) != width * len(strs) or width < 20:
        return None  # not all of one length
    u = np.frombuffer(buf, np.uint8).reshape(len(strs), width)
    m = re.search(r"(Z|z|[+-](\d\d):?(\d\d))$", strs[0])
    if m is None:
        return None
    sign = 1 if m.group(1)[0] == "+" else -1
    offset_s = 0 if m.group(1) in "Zz" else sign * (int(m.group(2)) * 3600 + int(m.group(3)) * 60)
    body = width - len(m.group(1))
    if body != 19 and not (21 <= body <= 29):
        return None
    first = u[0]
    # Column by column (each a vectorised pass over all the points; no n x width temporaries):
    # the offset, the separators and the date are those of the first string; time digits are digits.
    same = [*range(body, width), 4, 7, 13, 16, *((19,) if body > 19 else ())]
    same_date = all((u[:, k] == first[k]).all() for k in (0, 1, 2, 3, 5, 6, 8, 9))
    if not all((u[:, k] == first[k]).all() for k in same) or first[10] not in (84, 32) \
            or not (u[:, 10] == first[10]).all() or not same_date and not _digits(u, (0, 1, 2, 3, 5, 6, 8, 9)):
        return None
    if bytes(first[[4, 7, 13, 16]]) != b"--::" or (body > 19 and first[19] != 46):
        return None
    time_cols = (11, 12, 14, 15, 17, 18, *range(20, body))
    if not _digits(u, time_cols) or (u[:, 14] > 53).any() or (u[:, 17] > 54).any():  # minutes < 60, seconds <= 60
        return None
    hours = (u[:, 11] - 48).astype(np.int32) * 10 + (u[:, 12] - 48)
    if (hours > 23).any():
        return None
    seconds = hours * 3600.0
    for k, w in ((14, 600), (15, 60), (17, 10), (18, 1)):
        seconds += (u[:, k] - 48) * float(w)
    for j, k in enumerate(range(20, body)):
        seconds += (u[:, k] - 48) * 10.0 ** -(j + 1)
    if same_date:  # one date for the whole trace: compute it once

        try:
            days: Any = (date.fromisoformat(strs[0][:10]) - date(1970, 1, 1)).days
        except ValueError:
            return None
    else:  # a ride across midnight has two dates; anything else takes the vectorised calendar
        days = _days_from_civil(u[:, [0, 1, 2, 3, 5, 6, 8, 9]].astype(np.int32) - 48)
        if days is None:
            return None
    return days * 86400.0 + seconds - offset_s


def _digits(u: np.ndarray, cols) -> bool:
    """Whether the given columns of the byte matrix hold ASCII digits only."""
    return all(((u[:, k] - np.uint8(48)) <= 9).all() for k in cols)


def _days_from_civil(d: np.ndarray) -> np.ndarray | None:
    """Days since 1970-01-01 of dates given as 8 digit columns YYYYMMDD (H. Hinnant's days_from_civil,
    vectorised); None when a date is impossible (Feb 30)."""
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month, day = d[:, 4] * 10 + d[:, 5], d[:, 6] * 10 + d[:, 7]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    if (month < 1).any() or (month > 12).any() or (day < 1).any() or (day > _MONTH_DAYS[month]
                                                                      + (leap & (month == 2))).any():
        return None
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


_SEP = itemgetter(slice(10, 11))


_SUFFIX = itemgetter(slice(-6, None))


def _parse_few_times(values: Sequence[Any], lat: float, lon: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """:func:`parse_times` for short lists (stops, departures): the standard library, without pandas'
    fixed cost per call."""
    n = len(values)
    t_s = np.full(n, np.nan)
    bad = np.zeros(n, bool)
    naive = np.zeros(n, bool)
    tz = None
    for i, v in enumerate(values):
        if type(v) is not str or _ISO_RE.match(v) is None:
            bad[i] = True
            continue
        try:
            d = datetime.fromisoformat(v.replace("z", "Z"))
        except ValueError:
            bad[i] = True
            continue
        if d.tzinfo is None:
            naive[i] = True
            if tz is None:

                tz = ZoneInfo(timezone_at(lat, lon))
            d = d.replace(tzinfo=tz)
        t_s[i] = d.timestamp()
    return t_s, bad, naive, (str(tz) if tz is not None else "UTC")


_TF = None


def timezone_at(lat: float, lon: float) -> str:
    """IANA time zone at a position (offline, timezonefinder), or "UTC" when unknown."""
    global _TF
    if not (np.isfinite(lat) and np.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return "UTC"
    if _TF is None:

        _TF = TimezoneFinder()
    return _TF.timezone_at(lng=float(lon), lat=float(lat)) or "UTC"


def first_finite(lat: np.ndarray, lon: np.ndarray) -> tuple[float, float]:
    ok = np.flatnonzero(np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180))
    return (float(lat[ok[0]]), float(lon[ok[0]])) if len(ok) else (np.nan, np.nan)


#: the speed at which the points of a recording without times are spaced in time: a placeholder so that
#: cleaning and matching can run; no travel time is taken from it (timing rescales it to the survey's speed)
NOMINAL_SPEED_MPS = 20 / 3.6


MADE_UP_START_S = 946_857_600.0


_LEG_SPEED_MPS = (0.3, 120 / 3.6)  # a stop-to-stop leg slower or faster than these is a broken time


_MAX_LEG_S = 3 * 3600.0


def made_up_times(lat: np.ndarray, lon: np.ndarray, stops: tuple[Stop, ...], legs: Sequence[tuple[str, Any, Any]],
                  source: str, trace_id: str, notices: list[N.Notice]) -> tuple[np.ndarray, str, tuple[Stop, ...]]:
    """Times for a recording that has none: (times, timing, stops with their times).

    With ``legs`` (one per stop, in the order of ``stops``: location, seconds from the stop before, seconds
    stood at the stop), each stop is placed at its point of the path (in order along it) and the points between
    two stops are timed by distance: timing ``stop_times``. A leg that is missing or implausible (faster than
    120 km/h, slower than walking, over 3 hours) is timed at the median speed of the others, with a notice.
    Without legs, or with fewer than two usable ones, every point is spaced at ``NOMINAL_SPEED_MPS``:
    timing ``estimated``. Times always increase (by 10 ms at least) so no point reads as a repeat."""
    n = len(lat)
    ok = np.isfinite(lat) & np.isfinite(lon)
    step = np.zeros(n)
    k = np.flatnonzero(ok)
    if len(k) > 1:
        step[k[1:]] = WGS84.inv(lon[k[:-1]], lat[k[:-1]], lon[k[1:]], lat[k[1:]])[2]
    cum = np.cumsum(step)
    nominal = cum / NOMINAL_SPEED_MPS
    timing, t_rel = "estimated", nominal
    anchors = _stop_points(lat, lon, ok, stops) if len(legs) == len(stops) and len(stops) >= 2 else None
    if anchors is not None:
        travel = np.array([number_or_none(str(a)) if a is not None else None for _, a, _ in legs], dtype=float)
        dwell = np.array([number_or_none(str(b)) if b is not None else None for _, _, b in legs], dtype=float)
        dwell = np.where(np.isfinite(dwell) & (dwell >= 0) & (dwell <= _MAX_LEG_S), dwell, 0.0)
        gap_m = np.diff(cum[anchors])
        leg = travel[1:]  # the first stop's travel time is from wherever the app started: not a leg
        speed = np.divide(gap_m, leg, out=np.full(len(leg), np.nan), where=np.isfinite(leg) & (leg > 0))
        good = np.isfinite(speed) & (speed >= _LEG_SPEED_MPS[0]) & (speed <= _LEG_SPEED_MPS[1]) & (leg <= _MAX_LEG_S)
        good |= np.isfinite(leg) & (gap_m < 1) & (leg >= 0) & (leg <= 600)  # two stops at one point
        if good.sum() >= max(1, len(leg) // 2):
            median = float(np.median(gap_m[good] / np.maximum(leg[good], 1)))
            median = median if median > 0 else NOMINAL_SPEED_MPS
            if not good.all():
                i = int(np.flatnonzero(~good)[0]) + 1
                notices.append(N.InvalidFieldNotice(
                    file=source, trace_id=trace_id, location=legs[i][0],
                    message=f"{int((~good).sum())} of {len(leg)} stop-to-stop times implausible (first: "
                            f"{str(legs[i][1])[:20]} s for {gap_m[i - 1]:.0f} m); timed at the others' median speed"))
            leg = np.where(good, leg, gap_m / median)
            # the time it arrived at each stop; between two stops by distance (the stand at a stop is spread
            # over the leg after it: a point has one time, a stop two)
            arrive = np.concatenate([[0.0], np.cumsum(leg + dwell[:-1])])
            t_rel = np.interp(cum, cum[anchors], arrive)
            t_rel = np.where(cum < cum[anchors[0]], (cum - cum[anchors[0]]) / median, t_rel)
            t_rel = np.where(cum > cum[anchors[-1]], arrive[-1] + (cum - cum[anchors[-1]]) / median, t_rel)
            shift = t_rel.min()
            t_rel -= shift
            timing = "stop_times"
    t = MADE_UP_START_S + np.maximum.accumulate(t_rel) + 0.01 * np.arange(n)
    t = np.where(ok, t, np.nan)
    if stops:
        at = anchors if anchors is not None else _stop_points(lat, lon, ok, stops)
        if timing == "stop_times":  # a stop's time is when the vehicle arrived there
            stops = tuple(dataclasses.replace(st, time_s=float(MADE_UP_START_S + a - shift)) for st, a
                          in zip(stops, arrive))
        elif at is not None:
            stops = tuple(dataclasses.replace(st, time_s=float(t[i])) for st, i in zip(stops, at))
    return t, timing, stops


def _stop_points(lat: np.ndarray, lon: np.ndarray, ok: np.ndarray, stops: tuple[Stop, ...]) -> np.ndarray | None:
    """The point of the path each stop is at, the stops in order along the path: the order-keeping assignment
    with the least total distance (dynamic programming over stops x points; a loop's first stop is not put at
    its end). None when the path has no point."""
    k = np.flatnonzero(ok)
    if not len(k):
        return None
    coslat = np.cos(np.radians(np.nanmean(lat[k])))
    slat, slon = np.array([st.lat for st in stops]), np.array([st.lon for st in stops])
    d = np.hypot((lon[k][None, :] - slon[:, None]) * coslat, lat[k][None, :] - slat[:, None])
    total = d[0].copy()
    back = np.zeros(d.shape, dtype=np.int64)
    for i in range(1, len(stops)):  # best total of stops 0..i with stop i at point j (at or after stop i-1's)
        best_before = np.minimum.accumulate(total)
        back[i] = _running_argmin(total)
        total = d[i] + best_before
    at = np.empty(len(stops), dtype=np.int64)
    at[-1] = int(np.argmin(total))
    for i in range(len(stops) - 1, 0, -1):
        at[i - 1] = back[i, at[i]]
    return k[at]


def _running_argmin(v: np.ndarray) -> np.ndarray:
    """For each j, the index of the smallest of v[:j + 1] (the first of equal ones)."""
    best = np.minimum.accumulate(v)
    idx = np.where(v == best, np.arange(len(v)), 0)
    return np.maximum.accumulate(idx * (np.r_[True, best[1:] < best[:-1]]))


def build_trace(
    *,
    source: str,
    trace_id: str,
    meta: dict[str, Any],
    times: list[Any],
    lat: Sequence[Any] | np.ndarray,
    lon: Sequence[Any] | np.ndarray,
    accuracy: Sequence[Any] | np.ndarray | None,
    speed: Sequence[Any] | np.ndarray | None,
    stops: list[tuple[str, dict]],
    fares: list[tuple[str, dict]],
    departures: list[Any],
    locate: Callable[..., str],
    notices: list[N.Notice],
    explain: Callable[[int], str] | None = None,
    stop_legs: Sequence[tuple[str, Any, Any]] = (),
    reported_headways: Sequence[tuple[str, float]] = (),
) -> Trace:
    """A :class:`Trace` from columns, whatever the format; appends the notices of reading them.

    ``lat``/``lon``/``accuracy``/``speed`` are Python values (checked for type) or float arrays (NaN where
    a value could not be read); ``stops``/``fares`` are (location, dict of the schema's fields) pairs. A
    recording without any time gets times made up (``made_up_times``): from ``stop_legs`` (per stop: location,
    seconds travelled from the stop before, seconds stood there) where they are given, else at a nominal speed.
    """
    n = len(times)
    lat_a, lat_bad = (lat, ~np.isfinite(lat)) if isinstance(lat, np.ndarray) else float_column(lat)
    lon_a, lon_bad = (lon, ~np.isfinite(lon)) if isinstance(lon, np.ndarray) else float_column(lon)
    acc_a, acc_bad = column_or_nan(accuracy, n)
    spd_a, spd_bad = column_or_nan(speed, n)
    all_str = isinstance(times, StrList) or set(map(type, times)) == {str}
    time_missing = np.zeros(n, bool) if all_str else np.fromiter((type(v) is not str for v in times), bool, n)
    ref_lat, ref_lon = first_finite(lat_a, lon_a)
    t_s, t_bad, naive, tzname = parse_times(times, ref_lat, ref_lon, all_str=all_str)

    timeless = bool(n and (time_missing.all() or (all_str and not any(times))))
    if timeless:
        # a recording without times (a drawn route, a GPX without <time>): said once, not point by point
        time_missing = np.zeros(n, bool)
        t_bad = np.zeros(n, bool)
    bad = lat_bad | lon_bad | time_missing
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        msg = explain(i) if explain else "missing or invalid time, lat or lon"
        notices.append(N.InvalidPointNotice(file=source, trace_id=trace_id, location=locate(i), point_index=i,
                                            count=int(bad.sum()), message=msg))
        lat_a, lon_a = np.where(bad, np.nan, lat_a), np.where(bad, np.nan, lon_a)
        t_s = np.where(bad, np.nan, t_s)
    unparsed = t_bad & ~bad
    unreadable = False
    if unparsed.any():
        i = int(np.flatnonzero(unparsed)[0])
        value = str(times[i])[:60]
        if np.count_nonzero(~t_bad & ~bad) < 2:  # the times are why the trace cannot be used: say so, as the ERROR
            unreadable = True
            why = ("a time of day without a date: give the date in a column (date, fecha, data ...) or in the "
                   "file name" if _CLOCK_ONLY.match(value) else
                   "not a date and time that transitmap reads (2024-03-05T07:10:00, 05/03/2024 07:10, "
                   "3/5/2024 7:10 PM ...)")
            notices.append(N.UnreadableTimesNotice(file=source, trace_id=trace_id, location=locate(i, "time"),
                                                   point_index=i, count=int(unparsed.sum()), value=value, message=why))
        else:
            notices.append(N.UnparseableTimeNotice(file=source, trace_id=trace_id, location=locate(i, "time"),
                                                   point_index=i, count=int(unparsed.sum()), value=value))
    if naive.any():
        i = int(np.flatnonzero(naive)[0])
        notices.append(N.TimeWithoutOffsetNotice(file=source, trace_id=trace_id, location=locate(i, "time"),
                                                 count=int(naive.sum()), timezone=tzname))
    for col, badm in (("accuracy", acc_bad), ("speed", spd_bad)):
        if badm.any():
            i = int(np.flatnonzero(badm)[0])
            notices.append(N.InvalidFieldNotice(file=source, trace_id=trace_id, location=locate(i, col),
                                                message=f"{col} must be a non-negative number; ignored"))

    stop_objs = stops_of(stops, source, trace_id, ref_lat, ref_lon, notices, timeless)
    timing = "unreadable" if unreadable else "recorded"
    if timeless:
        t_s, timing, stop_objs = made_up_times(np.where(bad, np.nan, lat_a), np.where(bad, np.nan, lon_a),
                                               stop_objs, stop_legs, source, trace_id, notices)
        notices.append(N.NoTimestampsNotice(file=source, trace_id=trace_id, count=n, timing=timing))
    fare_objs = tuple(fare_of(d) for _, d in fares)
    dep_t, dep_bad, _, _ = parse_times(departures, ref_lat, ref_lon)
    if dep_bad.any():
        i = int(np.flatnonzero(dep_bad)[0])
        notices.append(N.InvalidFieldNotice(file=source, trace_id=trace_id, location=f"/departures/{i}",
                                            message=f"unreadable departure time {str(departures[i])[:40]!r}; ignored"))
    trace = Trace(
        trace_id=trace_id,
        source=source,
        t_s=t_s,
        lat=np.asarray(lat_a, dtype=np.float64),
        lon=np.asarray(lon_a, dtype=np.float64),
        accuracy_m=acc_a,
        speed_mps=spd_a,
        collector_id=text_or_none(meta.get("collector_id")),
        mode=text_or_none(meta.get("mode")),
        route_name=text_or_none(meta.get("route_name")),
        operator=text_or_none(meta.get("operator")),
        origin=text_or_none(meta.get("origin")),
        destination=text_or_none(meta.get("destination")),
        notes=text_or_none(meta.get("notes")),
        stops=stop_objs,
        fares=fare_objs,
        departures_s=dep_t[~dep_bad],
        timing=timing,
        reported_headways=tuple(reported_headways),
        noted_hours=service_times(" \n ".join(filter(None, [text_or_none(meta.get("notes")),
                                                            *(st.note for st in stop_objs)]))),
    )
    if not trace_id:
        trace = trace.replace(trace_id="x-" + trace.points_digest()[:12])
        notices.append(N.MissingTraceIdNotice(file=source, trace_id=trace.trace_id))
    return trace


def column_or_nan(values, n: int) -> tuple[np.ndarray, np.ndarray]:
    if values is None:
        return np.full(n, np.nan), np.zeros(n, bool)
    if isinstance(values, np.ndarray):
        arr, bad = values.astype(np.float64, copy=False), np.zeros(n, bool)
    else:
        arr, bad = optional_float_column(values)
    neg = arr < 0  # NaN compares False
    return np.where(bad | neg, np.nan, arr), bad | neg


def text_or_none(v: Any) -> str | None:
    if v is None:
        return None
    s = " ".join(str(v).split())
    return s or None


#: a stop's fields, in the order of the schema's (and of ``canonical``'s typed stop)
STOP_FIELDS = ("time", "lat", "lon", "kind", "name", "boarded", "alighted", "wait_s", "note")


def _stop_values(s: Any) -> tuple:
    """A stop's fields in the order of ``STOP_FIELDS`` (None where absent): of a dict, or of a typed stop."""
    return tuple(map(s.get, STOP_FIELDS)) if type(s) is dict else msgspec.structs.astuple(s)


def stops_of(stops: list[tuple[str, Any]], source: str, trace_id: str, lat: float, lon: float,
           notices: list[N.Notice], timeless: bool = False) -> tuple[Stop, ...]:
    """The stops read; in a recording without times (``timeless``) a stop without a time is kept (its time is
    made up with the points')."""
    if not stops:
        return ()
    rows = [_stop_values(d) for _, d in stops]
    t_s, bad, _, _ = parse_times([r[0] for r in rows], lat, lon)
    out = []
    for (loc, _), (time, y, x, kind, name, boarded, alighted, wait_s, note), t, b in zip(stops, rows, t_s, bad):
        if b and timeless and time is None:
            t = np.nan
        elif b:
            notices.append(N.InvalidFieldNotice(file=source, trace_id=trace_id, location=loc + "/time",
                                                message=f"unreadable stop time {str(time)[:40]!r}; stop ignored"))
            continue
        out.append(Stop(float(t), float(y), float(x), kind if kind in STOP_KINDS else "stop", text_or_none(name),
                        boarded,
                        alighted, wait_s, text_or_none(note)))
    return tuple(out)


def fare_of(d: dict) -> Fare:
    return Fare(amount=float(d["amount"]), currency=str(d.get("currency") or "").strip().upper(),
                from_stop=d.get("from_stop"), to_stop=d.get("to_stop"))


def number_or_none(s: str) -> float | None:
    try:
        v = float(s)
        return v if np.isfinite(v) else None
    except (TypeError, ValueError):
        return None


def int_or_none(s: str) -> int | None:
    v = number_or_none(s)
    return int(v) if v is not None and v == int(v) and v >= 0 else None

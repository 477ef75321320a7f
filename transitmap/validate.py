"""Validate traces: what in each trace is usable, and what is wrong with it.

:func:`check_trace` looks at one trace alone (fast, vectorised, no Python loop over points) and returns a
:class:`TraceCheck`: the notices, and masks of the points, stops and fares that are usable. It never edits
the trace: repairs are expressed as masks, or as a new trace (swapped coordinates, sorted departures).
:func:`check_survey` then looks across traces: duplicate uploads, conflicting ids, traces far from the rest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import notices as N
from .geo import geodesic_m, project, segment_distance, utm_epsg
from .model import WITHDRAWN_CURRENCIES, Trace, known_currency

T_MIN_S = 946_684_800.0  # 2000-01-01T00:00Z: GPS cold starts report 1970 or 1980
T_MAX_S = 4_102_444_800.0  # 2100-01-01T00:00Z
EXCURSION_M = 100.0  # an out-and-back excursion this far from both neighbours is a spike


@dataclass(frozen=True)
class ValidationConfig:
    """Thresholds of the checks, with their units."""

    max_speed_kph: float = 130.0  # beyond: a GPS spike, not a minibus
    spike_slack_m: float = 30.0  # plus the points' own accuracies
    gap_s: float = 60.0  # longer without a fix: a recording gap
    min_ride_m: float = 500.0
    min_ride_s: float = 120.0
    walking_kph: float = 10.0  # never this fast over any 30 s (net of GPS jitter): walking, not riding. A minibus
    walking_window_s: float = 30.0  # crawling through town still speeds up between stops
    poor_accuracy_m: float = 50.0
    stop_max_distance_m: float = 100.0
    stop_time_margin_s: float = 300.0
    far_from_survey_m: float = 150_000.0


@dataclass(frozen=True, eq=False)
class TraceCheck:
    """The verdict on one trace.

    ``keep`` marks the points usable for geometry (in input order); ``stop_keep``/``fare_keep`` the
    usable stops and fares. ``length_m``/``duration_s`` are measured over the kept points.
    """

    trace: Trace
    notices: tuple[N.Notice, ...]
    keep: np.ndarray
    stop_keep: np.ndarray
    fare_keep: np.ndarray
    length_m: float = 0.0
    duration_s: float = 0.0
    centroid: tuple[float, float] = (np.nan, np.nan)  # (lat, lon) of the kept points

    @property
    def usable(self) -> bool:
        return not N.any_error(self.notices) and np.count_nonzero(self.keep) >= 2


def check_trace_safely(trace: Trace, config: ValidationConfig = ValidationConfig()) -> TraceCheck | N.Notice:
    """``check_trace``, or a ``system_error`` notice if the check itself failed: a bug of ours quarantines
    the trace, it does not take the survey down with it."""
    try:
        return check_trace(trace, config)
    except Exception as e:
        return N.SystemErrorNotice(file=trace.source, trace_id=trace.trace_id, message=f"{type(e).__name__}: {e}"[:300])


def check_trace(trace: Trace, config: ValidationConfig = ValidationConfig()) -> TraceCheck:
    """Check one trace on its own. Returns the notices and the masks of what is usable."""
    notes: list[N.Notice] = []
    ident = {"file": trace.source, "trace_id": trace.trace_id}
    lat, lon, t = trace.lat, trace.lon, trace.t_s
    # One cheap mask first (NaN fails every comparison); the detailed masks that explain a notice are
    # computed only when some point fails it.
    alat, alon = np.abs(lat), np.abs(lon)
    ok = (alat <= 90) & (alon <= 180) & (t >= T_MIN_S) & (t <= T_MAX_S) & ((alat >= 1e-5) | (alon >= 1e-5))
    if not ok.all():
        finite = np.isfinite(lat) & np.isfinite(lon) & np.isfinite(t)
        # Latitude beyond +-90 while the longitude would make a latitude: the columns are swapped.
        if finite.any() and (alat[finite] > 90).mean() > 0.5 and (alon[finite] <= 90).all():
            i = int(np.flatnonzero(finite)[0])
            notes.append(N.LatLonSwappedNotice(**ident, value=f"lat={lat[i]:.6f}, lon={lon[i]:.6f}"))
            trace = trace.replace(lat=lon, lon=lat)
            lat, lon, alat, alon = trace.lat, trace.lon, alon, alat
        oor = finite & ((alat > 90) | (alon > 180))
        _point_notice(notes, N.CoordinatesOutOfRangeNotice, ident, oor,
                      value=lambda i: f"lat={lat[i]:.6g}, lon={lon[i]:.6g}")
        null = finite & ~oor & (alat < 1e-5) & (alon < 1e-5)
        _point_notice(notes, N.NullIslandNotice, ident, null)
        implausible = finite & ((t < T_MIN_S) | (t > T_MAX_S))
        _point_notice(notes, N.ImplausibleTimeNotice, ident, implausible, time=lambda i: _iso(t[i]))
        ok = finite & ~oor & ~null & ~implausible

    # Time order: drop what goes back in time or repeats the time of the point before.
    idx = np.flatnonzero(ok)
    if len(idx) > 1 and not (np.diff(t[idx]) > 0).all():
        tt = t[idx]
        before = np.maximum.accumulate(tt)[:-1]
        back = np.zeros(len(idx), bool)
        dup = np.zeros(len(idx), bool)
        back[1:] = tt[1:] < before
        dup[1:] = tt[1:] == before
        if back.any():
            mask = np.zeros_like(ok)
            mask[idx[back]] = True
            _point_notice(notes, N.TimeGoingBackwardsNotice, ident, mask,
                          gap_s=lambda i: float(np.max(before[back[1:]] - tt[1:][back[1:]])))
        if dup.any():
            mask = np.zeros_like(ok)
            mask[idx[dup]] = True
            _point_notice(notes, N.DuplicateTimestampNotice, ident, mask)
        ok[idx[back | dup]] = False

    acc = trace.accuracy_m
    poor = ok & (acc > config.poor_accuracy_m)  # NaN (not reported) compares False
    if poor.any():
        _point_notice(notes, N.PoorAccuracyNotice, ident, poor, share=lambda i: float(poor.sum() / max(ok.sum(), 1)),
                      accuracy_m=lambda i: float(np.median(acc[poor])))
        ok &= ~poor

    stop_keep = np.ones(len(trace.stops), bool)
    fare_keep = np.ones(len(trace.fares), bool)
    idx = np.flatnonzero(ok)
    if len(idx) < 2:
        if trace.timing != "unreadable":  # else the reader's unreadable_times says why: one cause, one ERROR
            notes.append(N.TooFewPointsNotice(**ident, count=int(len(idx))))
        return TraceCheck(trace, tuple(notes), ok, stop_keep, fare_keep)

    epsg = utm_epsg(float(lat[idx[0]]), float(lon[idx[0]]))
    # The stops are projected with the points: one call to PROJ per trace.
    slat, slon, stop_valid = _stop_coords(trace)
    xs, ys = project(np.concatenate([lat[idx], slat]), np.concatenate([lon[idx], slon]), epsg)
    x, y = xs[: len(idx)], ys[: len(idx)]
    stop_xy = (xs[len(idx):], ys[len(idx):])
    tt = t[idx]
    slack = config.spike_slack_m + np.fmax(acc[idx], 0.0)  # fmax: NaN -> 0
    spike, worst = _spikes(x, y, tt, slack, config.max_speed_kph / 3.6)
    if spike.any():
        mask = np.zeros_like(ok)
        mask[idx[spike]] = True
        _point_notice(notes, N.GpsSpikeNotice, ident, mask, distance_m=lambda i: worst[0], speed_kph=lambda i: worst[1])
        ok[idx[spike]] = False
        idx, x, y, tt = idx[~spike], x[~spike], y[~spike], tt[~spike]
        if len(idx) < 2:
            notes.append(N.TooFewPointsNotice(**ident, count=int(len(idx))))
            return TraceCheck(trace, tuple(notes), ok, stop_keep, fare_keep)

    step = np.hypot(np.diff(x), np.diff(y))
    dt = np.diff(tt)
    gaps = np.flatnonzero(dt > config.gap_s)
    if len(gaps):
        g = gaps[np.argmax(dt[gaps])]
        notes.append(N.RecordingGapNotice(**ident, point_index=int(idx[g + 1]), count=len(gaps),
                                          gap_s=float(dt[g]), distance_m=float(step[g])))
    length_m = float(step.sum())
    duration_s = float(tt[-1] - tt[0])
    centroid = (float(np.mean(lat[idx])), float(np.mean(lon[idx])))
    if length_m < config.min_ride_m or duration_s < config.min_ride_s:
        notes.append(N.RideTooShortNotice(**ident, length_m=length_m, duration_s=duration_s))
    else:
        fastest = _fastest_sustained_mps(x, y, tt, np.nan_to_num(acc[idx]), config.walking_window_s)
        if fastest * 3.6 < config.walking_kph:
            notes.append(N.TooSlowForVehicleNotice(**ident, speed_kph=fastest * 3.6))

    if trace.stops:
        stop_keep = _check_stops(trace, stop_valid, stop_xy, x, y, tt, config, notes, ident)
    if trace.fares:
        fare_keep = _check_fares(trace, notes, ident)
    deps = trace.departures_s
    if len(deps) > 1 and (np.diff(deps) < 0).any():
        notes.append(N.UnorderedDeparturesNotice(**ident, count=int((np.diff(deps) < 0).sum())))
        trace = trace.replace(departures_s=np.sort(deps))
    return TraceCheck(trace, tuple(notes), ok, stop_keep, fare_keep, length_m, duration_s, centroid)


def _point_notice(notes: list, cls, ident: dict, mask: np.ndarray, **figures) -> None:
    """One notice for all the points in ``mask``: their count, the first one, figures computed lazily."""
    if not mask.any():
        return
    i = int(np.flatnonzero(mask)[0])
    notes.append(cls(**ident, point_index=i, count=int(mask.sum()), **{k: f(i) for k, f in figures.items()}))


def _spikes(x, y, t, slack, vmax_mps) -> tuple[np.ndarray, tuple[float, float]]:
    """GPS spikes: short excursions (1 to 3 fixes) entered and left by jumps that no vehicle makes at
    ``vmax_mps``, while going straight from the fix before to the fix after is possible. Returns the
    mask and the worst spike's (distance from the fix before, speed km/h)."""
    m = len(x)
    spike = np.zeros(m, bool)
    d1 = np.hypot(np.diff(x), np.diff(y))
    dt1 = np.maximum(np.diff(t), 1e-3)
    jump = np.flatnonzero(d1 > vmax_mps * dt1 + slack[1:] + slack[:-1])  # pair (j, j+1) unreachable
    # Out and back: a fix far from both neighbours while they are close to each other. No vehicle turns
    # round on the spot, whatever the time between fixes (with fixes 10 s apart a 300 m spike is
    # "reachable" at 130 km/h).
    if m > 2:
        d_skip = np.hypot(x[2:] - x[:-2], y[2:] - y[:-2])
        near = np.minimum(d1[:-1], d1[1:])
        spike[1:-1] = (near > EXCURSION_M) & (d_skip < 0.25 * near)
        # A detour through one fix that no vehicle drives in the time of both legs (each leg alone may be
        # possible: 446 m then 425 m at 10 s fixes), while the fixes either side are reachable directly.
        both = vmax_mps * (t[2:] - t[:-2])
        spike[1:-1] |= ((near > EXCURSION_M) & (d1[:-1] + d1[1:] > both + slack[:-2] + 2 * slack[1:-1] + slack[2:])
                        & (d_skip <= both + slack[:-2] + slack[2:]))
    if len(jump) == 0:
        return spike, _worst(spike, d1, dt1)
    # An excursion: fixes a+1 .. b between two jumps at most 3 fixes apart (other jumps may lie between:
    # two spikes in a row are far from each other too)
    pairs = [(jump[:0], jump[:0])] + [(jump[:-k], jump[k:]) for k in (1, 2, 3) if len(jump) > k]
    a, b = np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])
    a, b = a[(b - a <= 3) & (b + 1 < m)], b[(b - a <= 3) & (b + 1 < m)]
    skip = np.hypot(x[b + 1] - x[a], y[b + 1] - y[a]) <= vmax_mps * np.maximum(t[b + 1] - t[a],
                                                                               1e-3) + slack[a] + slack[b + 1]
    marks = np.zeros(m + 1, np.int32)
    np.add.at(marks, a[skip] + 1, 1)
    np.add.at(marks, b[skip] + 1, -1)
    spike |= np.cumsum(marks[:m]) > 0
    # The first and last fix have one neighbour: a spike there is unreachable from both the next two.
    if m > 2:
        for end, n1, n2 in ((0, 1, 2), (m - 1, m - 2, m - 3)):
            far = [np.hypot(x[n] - x[end], y[n] - y[end]) > vmax_mps * abs(t[n] - t[end]) + slack[n] + slack[end]
                   for n in (n1, n2)]
            spike[end] |= bool(far[0] and far[1])
    return spike, _worst(spike, d1, dt1)


def _worst(spike: np.ndarray, d1: np.ndarray, dt1: np.ndarray) -> tuple[float, float]:
    """(distance from the fix before, speed km/h) of the spike reached at the highest speed."""
    if not spike.any():
        return 0.0, 0.0
    speed_in = np.concatenate([[d1[0] / dt1[0]], d1 / dt1])
    j = int(np.argmax(np.where(spike, speed_in, -1)))
    return float(np.concatenate([[d1[0]], d1])[j]), float(speed_in[j] * 3.6)


def _fastest_sustained_mps(x, y, t, acc, window_s: float) -> float:
    """Highest net (straight-line) speed over any window of ``window_s``, counting only the displacement
    beyond the two fixes' reported accuracy: GPS jitter inflates path length and, over short windows,
    displacement, but not beyond the accuracy the phone reports."""
    if t[-1] - t[0] <= window_s:
        i, j = np.array([0]), np.array([len(t) - 1])
    else:
        j = np.searchsorted(t, t + window_s)
        i = np.flatnonzero(j < len(t))
        j = j[i]
    d = np.maximum(np.hypot(x[j] - x[i], y[j] - y[i]) - acc[i] - acc[j], 0.0)
    return float((d / np.maximum(t[j] - t[i], 1.0)).max())


def _stop_coords(trace: Trace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stop latitudes and longitudes (unusable ones replaced by 0) and the mask of usable ones."""
    slat = np.array([s.lat for s in trace.stops], dtype=float)
    slon = np.array([s.lon for s in trace.stops], dtype=float)
    valid = np.isfinite(slat) & np.isfinite(slon) & (np.abs(slat) <= 90) & (np.abs(slon) <= 180)
    return np.where(valid, slat, 0.0), np.where(valid, slon, 0.0), valid


def _check_stops(trace: Trace, valid: np.ndarray, stop_xy, x, y, t, config: ValidationConfig, notes: list,
                 ident: dict) -> np.ndarray:
    stime = np.array([s.time_s for s in trace.stops], dtype=float)
    keep = np.ones(len(valid), bool)
    dist = np.full(len(valid), np.inf)
    timed = valid & np.isfinite(stime)
    if timed.any():  # near its own time first: 60 segments around the moment the stop was marked
        w = np.clip(np.searchsorted(t, stime[timed])[:, None] + np.arange(-30, 31), 0, len(t) - 1)
        dist[timed] = segment_distance(stop_xy[0][timed, None], stop_xy[1][timed, None], x[w[:, :-1]], y[w[:, :-1]],
                                       x[w[:, 1:]], y[w[:, 1:]]).min(axis=1)
    again = valid & (dist > config.stop_max_distance_m)  # untimed, or far near its time: the whole path
    if again.any():
        dist[again] = _distance_to_path(stop_xy[0][again], stop_xy[1][again], x, y)
    for i in np.flatnonzero(dist > config.stop_max_distance_m):
        notes.append(N.StopFarFromTraceNotice(**ident, stop_index=int(i),
                                              distance_m=float(dist[i]) if np.isfinite(dist[i]) else -1.0))
        keep[i] = False
    outside = keep & np.isfinite(stime) & ((stime < t[0] - config.stop_time_margin_s)
                                           | (stime > t[-1] + config.stop_time_margin_s))
    for i in np.flatnonzero(outside):
        notes.append(N.StopOutsideTraceTimeNotice(**ident, stop_index=int(i), time=_iso(stime[i])))
        keep[i] = False
    return keep


def _distance_to_path(px: np.ndarray, py: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Distance (m) from each point (px, py) to the polyline (x, y)."""
    return segment_distance(px[:, None], py[:, None], x[:-1], y[:-1], x[1:], y[1:]).min(axis=1)


def _check_fares(trace: Trace, notes: list, ident: dict) -> np.ndarray:
    """Which fares are usable. A withdrawn currency code is kept (with a WARNING); a fare that names no currency
    ("") is kept for the build to give it the survey's."""
    keep = np.ones(len(trace.fares), bool)
    for i, f in enumerate(trace.fares):
        loc = f"/fares/{i}"
        bad = [s for s in (f.from_stop, f.to_stop) if s is not None and not 0 <= s < len(trace.stops)]
        if not f.amount > 0:
            notes.append(N.NonPositiveFareNotice(**ident, location=loc, amount=float(f.amount)))
        elif f.currency and not known_currency(f.currency):
            notes.append(N.UnknownCurrencyNotice(**ident, location=loc, currency=f.currency[:20]))
        elif bad:
            notes.append(N.FareStopNotFoundNotice(**ident, location=loc, stop_index=int(bad[0])))
        else:
            if f.currency in WITHDRAWN_CURRENCIES:
                successor, old_per_new = WITHDRAWN_CURRENCIES[f.currency]
                notes.append(N.WithdrawnCurrencyNotice(**ident, location=loc, currency=f.currency,
                                                       successor=successor, old_per_new=old_per_new))
            continue
        keep[i] = False
    return keep


def _iso(t_s: float) -> str:
    return str(np.datetime64(int(t_s), "s")) + "Z" if np.isfinite(t_s) and abs(t_s) < 1e11 else str(t_s)


# --------------------------------------------------------------------------------------------------
# Across the survey


@dataclass(frozen=True)
class TraceSummary:
    """What the survey-level checks need of a checked trace (no points: memory stays small)."""

    key: int  # position in the run, to hand verdicts back
    trace_id: str
    source: str
    content: str
    points: str
    centroid: tuple[float, float]
    usable: bool


@dataclass
class SurveyVerdict:
    """Survey-level notices per summary key, and the keys recognised as duplicates or to be swapped."""

    notices: dict[int, list[N.Notice]] = field(default_factory=dict)
    duplicates: set[int] = field(default_factory=set)
    swapped: set[int] = field(default_factory=set)

    def add(self, key: int, notice: N.Notice) -> None:
        self.notices.setdefault(key, []).append(notice)


def digests(check: TraceCheck) -> tuple[str, str]:
    """(content digest, points digest) of a checked trace, for ``summarize`` (computed where the trace was
    checked, so that workers do the hashing)."""
    points = check.trace.points_digest()
    return check.trace.content_digest(points), points


def summarize(key: int, check: TraceCheck, digest: tuple[str, str] | None = None) -> TraceSummary:
    tr = check.trace
    content, points = digest or digests(check)
    return TraceSummary(key, tr.trace_id, tr.source, content, points, check.centroid, check.usable)


def check_survey(summaries: list[TraceSummary], config: ValidationConfig = ValidationConfig()) -> SurveyVerdict:
    """Duplicate uploads, conflicting trace ids, duplicate content under other ids, traces far away.

    The outcome does not depend on the order of ``summaries``: ties are broken by source file name.
    """
    out = SurveyVerdict()
    by_id: dict[str, list[TraceSummary]] = {}
    for s in summaries:
        by_id.setdefault(s.trace_id, []).append(s)
    conflicted: set[int] = set()
    for same in by_id.values():
        if len(same) < 2:
            continue
        same = sorted(same, key=lambda s: (s.source, s.content))
        if len({s.content for s in same}) > 1:
            for s in same:
                other = next(o for o in same if o is not s and o.content != s.content)
                out.add(s.key, N.ConflictingTraceIdNotice(file=s.source, trace_id=s.trace_id, other_file=other.source))
                conflicted.add(s.key)
        else:
            for s in same[1:]:
                out.add(s.key, N.DuplicateUploadNotice(file=s.source, trace_id=s.trace_id, other_file=same[0].source))
                out.duplicates.add(s.key)
    by_points: dict[str, list[TraceSummary]] = {}
    for s in summaries:
        if s.key not in out.duplicates and s.key not in conflicted:
            by_points.setdefault(s.points, []).append(s)
    for same in by_points.values():
        if len({s.trace_id for s in same}) < 2:
            continue
        same = sorted(same, key=lambda s: (s.trace_id, s.source))
        for s in same[1:]:
            out.add(s.key, N.DuplicateContentNotice(file=s.source, trace_id=s.trace_id, other_file=same[0].source,
                                                    kept_trace_id=same[0].trace_id))
            out.duplicates.add(s.key)

    live = [s for s in summaries if s.usable and s.key not in out.duplicates and s.key not in conflicted
            and np.isfinite(s.centroid[0])]
    if not live:
        return out
    c = np.array([s.centroid for s in live])
    center = (float(np.median(c[:, 0])), float(np.median(c[:, 1])))
    d = geodesic_m(c[:, 0], c[:, 1], center[0], center[1])
    for s, dist in zip(live, d):
        if dist <= config.far_from_survey_m:
            continue
        lat, lon = s.centroid
        if abs(lon) <= 90 and geodesic_m(lon, lat, *center) <= config.far_from_survey_m:
            out.add(s.key,
                    N.LatLonSwappedNotice(file=s.source, trace_id=s.trace_id, value=f"lat={lat:.5f}, lon={lon:.5f}"))
            out.swapped.add(s.key)
        else:
            out.add(s.key, N.TraceFarFromSurveyNotice(file=s.source, trace_id=s.trace_id, distance_m=float(dist),
                                                      limit=int(config.far_from_survey_m)))
    return out

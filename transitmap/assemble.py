"""The network as GTFS rows: agencies, routes with their names and fares, trips with their stops, times,
shapes and headways, stops with their names, the calendar and the feed's version.

``feed_rows`` takes what the stages made (routes and their patterns, stops, each pattern's ``PatternTimes``,
the ids ``compare.stable_ids`` gave, each route's fares and ``route_type``) and returns the rows ``gtfs.py``
writes, each trace's route and trip (for the ledger), the headway sidecar's rows and the notices of the
network (headways estimated, directions missing, stops seen once). Names are only those riders and collectors
gave: a headsign is the last stop's marked name, a route's long name its terminals' (``route_names``).
"""

from __future__ import annotations

import datetime
import hashlib
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import notices as N
from .geo import groups, nearest, pairs_within, unproject
from .gtfs import PLACEHOLDER_URL, FeedHeadway, FeedMeta, FeedRoute, FeedStop, FeedTrip, trip_id
from .model import (
    DAYS,
    HeadwayRow,
    NetworkStop,
    PatternStops,
    PatternTimes,
    Ride,
    Route,
    display_code,
    gtfs_time,
    split_route_name,
    time_band,
)
from .model import weekdays as weekdays_of

if TYPE_CHECKING:
    from .compare import StableIds
    from .config import BuildConfig


@dataclass
class FeedRows:
    """The feed's rows (``gtfs.network_tables`` makes the tables), each trace's (route_id, direction_id,
    trip_id, "full" | "partial") by (trace_id, source), the headway sidecar's rows and the network's notices."""

    routes: list[FeedRoute]
    stops: list[FeedStop]
    meta: FeedMeta
    headway_rows: list[HeadwayRow]
    assignment: dict[tuple[str, str], tuple]
    notices: list[N.Notice]


def feed_rows(rides: list[Ride], routes: list[Route], stops: list[NetworkStop],
              pattern_stops: dict[tuple[int, int], PatternStops], timed: dict[tuple[int, int], PatternTimes],
              ids: StableIds, fares: list[tuple], route_types: list[int], service_days: np.ndarray, tz: str,
              epsg: int, config: BuildConfig, hail_and_ride: list[bool] | None = None,
              modes: list[str] | None = None) -> FeedRows:
    """The GTFS rows of the network (see the module docstring). ``fares``: (RouteFare | None, [ODFare]) of
    each route; ``service_days``: the local date each ride started on; ``config``: the agency, calendar and
    feed settings."""
    notices: list[N.Notice] = []
    stop_ids = ids.stop_ids
    sequences: list[list[int]] = []  # each trip's stops in order, for the names of the stops nobody named
    feed_routes, headway_rows, assignment = [], [], {}
    def operator_of(route) -> str | None:  # the operator most of a route's rides name
        named = Counter(rides[i].operator for p in route.patterns for i in p.rides + p.partial if rides[i].operator)
        return named.most_common(1)[0][0] if named else None

    operators = sorted({op for op in map(operator_of, routes) if op})
    agency_of = {name: f"A{k + 1}" for k, name in enumerate(operators)}
    agencies = [(agency_of[name], name) for name in operators]
    default_agency = "A0"
    for r, route in enumerate(routes):
        route_id = ids.route_ids[r]
        operator = operator_of(route)
        agency_id = agency_of[operator] if operator else default_agency
        trips = []
        directions = [1 - d if ids.flipped[r] else d for d in route.directions]  # as the previous build ran them
        for p, (d, pattern) in enumerate(zip(directions, route.patterns)):
            variant = directions[:p].count(d)  # 0 for the direction's main pattern
            tid = trip_id(route_id, d, variant)
            for i in pattern.rides:
                assignment[rides[i].trace_id, rides[i].source] = (route_id, d, tid, "full")
            for i in pattern.partial:
                assignment[rides[i].trace_id, rides[i].source] = (route_id, d, tid, "partial")
            ps, times = pattern_stops[(r, p)], timed[(r, p)]
            sequences.append(list(ps.stop_index))
            bands = times.bands
            band_of = {h: time_band(h.start_s) for h in bands}
            for h in bands:
                own = times.band_offsets.get(band_of[h])  # the band's rides take their own time: a trip of its own
                headway_rows.append(HeadwayRow(route_id, d, trip_id(route_id, d, variant, band_of[h] if own else ""),
                                               h.start_s, h.end_s, h.headway_s, h.provenance, h.samples,
                                               "recorded_in_band" if own else times.travel_times,
                                               own[1] if own else times.timed_rides))
                if h.provenance != "observed":
                    first = rides[pattern.rides[0]]
                    notices.append(N.HeadwayEstimatedNotice(
                        file=first.source, trace_id=first.trace_id, route_id=route_id, trip_id=tid,
                        start_time=gtfs_time(h.start_s), headway_s=float(h.headway_s), provenance=h.provenance))
                if h.implausible_s:
                    first = rides[pattern.rides[0]]
                    notices.append(N.HeadwayImplausibleNotice(
                        file=first.source, trace_id=first.trace_id, route_id=route_id, trip_id=tid,
                        start_time=gtfs_time(h.start_s), headway_s=float(h.implausible_s),
                        mode=modes[r] if modes else ""))
            if times.travel_times == "survey_speed":
                first = rides[pattern.rides[0]]
                notices.append(N.TravelTimesEstimatedNotice(file=first.source, trace_id=first.trace_id,
                                                            route_id=route_id, trip_id=tid,
                                                            speed_kph=float(config.timing.untimed_speed_kph or 20.0)))
            lat, lon, dist = times.shape_lat, times.shape_lon, times.shape_dist_m
            for band, offsets in [("", times.offsets_s), *((b, o) for b, (o, _) in sorted(times.band_offsets.items()))]:
                runs = [h for h in bands if (band_of[h] if band_of[h] in times.band_offsets else "") == band]
                if runs:  # the pattern's trip in the bands without times of their own, and one a band with
                    trips.append(FeedTrip(
                        direction_id=d, variant=variant, headsign="",
                        stop_ids=tuple(stop_ids[k] for k in ps.stop_index),
                        offsets_s=offsets, stop_dist_m=np.minimum(ps.s_m, dist[-1]), shape_lat=lat, shape_lon=lon,
                        shape_dist_m=dist, headways=tuple(FeedHeadway(h.start_s, h.end_s, h.headway_s) for h in runs),
                        band=band))
        if set(directions) != {0, 1}:
            first = rides[route.patterns[0].rides[0]]
            notices.append(N.DirectionMissingNotice(file=first.source, trace_id=first.trace_id, route_id=route_id))
        fare, od = fares[r]
        feed_routes.append((route_id, agency_id, route, trips, fare, od, route_types[r],
                            bool(hail_and_ride and hail_and_ride[r])))
    given = unnamed_stop_names(stops, sequences, epsg)
    names = {stop_ids[k]: stops[k].name or given[k] for k in range(len(stops))}  # by stop_id
    marked = {stop_ids[k]: stops[k].name for k in range(len(stops)) if stops[k].name}  # names collectors gave
    final_routes = []
    for route_id, agency_id, route, trips, fare, od, kind, hail in feed_routes:
        # a headsign and a route's terminals only from names collectors gave, never made up
        trips = [FeedTrip(**{**t.__dict__, "headsign": marked.get(t.stop_ids[-1], "")}) for t in trips]
        main = min(trips, key=lambda t: (t.direction_id, t.variant))  # the route is named after its direction 0
        short, long = route_names(route.name, marked.get(main.stop_ids[0]), marked.get(main.stop_ids[-1]), route_id)
        final_routes.append(FeedRoute(route_id, agency_id, long, tuple(trips),
                                      fare.price if fare else None, (fare.currency if fare else config.currency),
                                      tuple((o.origin, o.destination, o.price) for o in od), short, kind, hail))
    if any(r.agency_id == default_agency for r in final_routes):
        agencies.insert(0, (default_agency, config.agency_name))
    slat, slon = unproject(np.array([s.x_m for s in stops]), np.array([s.y_m for s in stops]), epsg)
    parents = _stations(stops, stop_ids, STATION_M)
    feed_stops = [FeedStop(stop_ids[k], names[stop_ids[k]], float(slat[k]), float(slon[k]),
                           parent_station=parents.get(k, ("",))[0]) for k in range(len(stops))]
    children: dict[str, list[int]] = {}
    for k, (station_id,) in sorted(parents.items()):
        children.setdefault(station_id, []).append(k)
    for station_id, members in sorted(children.items()):
        feed_stops.append(FeedStop(station_id, stops[members[0]].name, float(np.mean(slat[members])),
                                   float(np.mean(slon[members])), location_type=1))
    notices += [N.StopSeenOnceNotice(stop_id=stop_ids[k]) for k, s in enumerate(stops) if s.observations <= 1]
    declared = weekdays_of(config.service_days)
    if len(service_days):  # the days declared, and any other day a collector rode on
        days = pd.to_datetime(pd.Series(service_days))
        seen = set(days.dt.day_of_week.tolist())
        weekdays = tuple(sorted(seen | set(declared)))
        unseen = [DAYS[d] for d in weekdays if d not in seen]
        if unseen:
            notices.append(N.ServiceDaysNotObservedNotice(days=",".join(unseen),
                                                          observed=",".join(DAYS[d] for d in sorted(seen))))
    else:  # no ride tells when vehicles run: the days declared, from the day set (or of the build)
        days = pd.to_datetime(pd.Series([config.first_service_date or datetime.date.today().isoformat()]))
        weekdays = declared
        notices.append(N.NoServiceDatesNotice(start_date=days.min().strftime("%Y-%m-%d")))
    end = (days.max() + pd.Timedelta(days=config.validity_days)).strftime("%Y%m%d")
    # the feed's version names its content (the rides), not the files they came in
    version = hashlib.sha256("".join(sorted(f"{r.trace_id}:{len(r.t_s)}:{r.t_s[0]}" for r
                                            in rides)).encode()).hexdigest()[:12]
    meta = FeedMeta(tuple(agencies), config.agency_url, tz, config.lang, weekdays,
                    days.min().strftime("%Y%m%d"), end, config.publisher, version, config.contact_email or "",
                    config.contact_url or "")
    if config.agency_url == PLACEHOLDER_URL:
        notices.append(N.PlaceholderAgencyUrlNotice(agency_url=PLACEHOLDER_URL))
    return FeedRows(final_routes, feed_stops, meta, headway_rows, assignment, notices)


#: stops collectors gave one name within this distance of each other are the boarding points of one station
#: (a rank: the bays of its routes, the two sides of a road)
STATION_M = 200.0


def _stations(stops: list[NetworkStop], stop_ids: list[str], within_m: float) -> dict[int, tuple[str]]:
    """{stop index: (station id,)} of the stops grouped under a station: two or more stops of one name (as
    collectors gave it, case and spacing folded) each within ``within_m`` of another. The station's id is its
    first stop's id with ``_station``: it follows the stops' stable ids."""
    named = np.array([k for k, s in enumerate(stops) if s.name], np.int64)
    if len(named) < 2:
        return {}
    codes = pd.factorize(np.array([" ".join(stops[k].name.lower().split()) for k in named], object))[0]
    xy = np.array([(stops[k].x_m, stops[k].y_m) for k in named])
    ii, jj = pairs_within(xy, xy, within_m)
    keep = (ii < jj) & (codes[ii] == codes[jj])  # of one name
    out: dict[int, tuple[str]] = {}
    for group in groups(len(named), zip(ii[keep].tolist(), jj[keep].tolist())):
        if len(group) >= 2:
            ks = sorted((int(named[i]) for i in group), key=lambda k: stop_ids[k])
            out.update({k: (f"{stop_ids[ks[0]]}_station",) for k in ks})
    return out


#: an unnamed stop is named after the nearest stop collectors named within this walk ("near Bree Rank")
NEAR_NAMED_M = 300.0
#: ... and told by how far and which way it lies from one within this distance ("600 m NE of Bree Rank")
FAR_NAMED_M = 2000.0
_COMPASS = ("E", "NE", "N", "NW", "W", "SW", "S", "SE")


def unnamed_stop_names(stops: list[NetworkStop], sequences: list[list[int]], epsg: int) -> dict[int, str]:
    """Names a rider can tell apart for the stops nobody named, never a route's name nor made up: "near X"
    (the nearest stop collectors named, within a short walk, ``NEAR_NAMED_M``), else "between X and Y" (the
    named stops before and after it on a trip that serves it), else how far and which way from the nearest
    named stop ("600 m NE of X"), else where it is (its coordinates, where the survey named no stop at all).
    Where more than two stops of one trip would share a name, they are named by how far and which way they lie
    from their stop instead. Returns {stop index: name} of every unnamed stop."""
    named = np.array([k for k, s in enumerate(stops) if s.name], np.int64)
    unnamed = [k for k, s in enumerate(stops) if not s.name]
    if not unnamed:
        return {}
    xy = np.array([(s.x_m, s.y_m) for s in stops], float).reshape(-1, 2)
    out: dict[int, str] = {}
    anchor: dict[int, int] = {}  # the named stop each unnamed one is named after
    if len(named):
        dist, j = nearest(xy[unnamed], xy[named])
        for k, d, jj in zip(unnamed, dist, j):
            anchor[k] = int(named[jj])
            if d <= NEAR_NAMED_M:
                out[k] = f"near {stops[anchor[k]].name}"
        for seq in sequences:  # between the named stops before and after, on a trip
            for pos, k in enumerate(seq):
                if k in out or stops[k].name:
                    continue
                before = next((stops[q].name for q in reversed(seq[:pos]) if stops[q].name), None)
                after = next((stops[q].name for q in seq[pos + 1:] if stops[q].name), None)
                if before and after and before != after:
                    out[k] = f"between {before} and {after}"
    for k in unnamed:
        if k not in out:
            out[k] = _from_anchor(stops, xy, k, anchor.get(k), epsg)
    for seq in sequences:  # no more than two stops of one name on a trip
        counts = Counter(out.get(k) for k in dict.fromkeys(seq) if k in out)
        for k in dict.fromkeys(seq):
            if k in out and counts[out[k]] > 2:
                out[k] = _from_anchor(stops, xy, k, anchor.get(k), epsg)
    return out


def _from_anchor(stops: list[NetworkStop], xy: np.ndarray, k: int, a: int | None, epsg: int) -> str:
    """ "600 m NE of X": how far and which way stop ``k`` lies from the named stop ``a``; its coordinates
    without one."""
    dx, dy = (xy[k] - xy[a]) if a is not None else (0.0, 0.0)
    d = float(np.hypot(dx, dy))
    if a is None or d > FAR_NAMED_M:  # no named stop near enough to tell where it is by
        lat, lon = unproject(xy[k:k + 1, 0], xy[k:k + 1, 1], epsg)
        return f"stop at {float(lat[0]):.5f} {float(lon[0]):.5f}"
    way = _COMPASS[int(((np.degrees(np.arctan2(dy, dx)) + 22.5) % 360) // 45)]
    far = f"{d / 1000:.1f} km" if d >= 1000 else f"{max(10, int(round(d, -1)))} m"
    return f"{far} {way} of {stops[a].name}"


def route_names(name: str | None, first: str | None, last: str | None, route_id: str) -> tuple[str, str]:
    """(route_short_name, route_long_name) of a route: the route number riders name (``45K``, ``QX012``, ``JBL
    13``: ``model.split_route_name``) as the short name; the rest of its name, else its terminals' names
    (``Bree - Soweto``), as the long name. A route without a name or named terminals gets its id as short
    name: GTFS needs one of the two, and a made-up name (``R008 km 0.0 - R008 km 19.9``) would be worse than
    none."""
    terminals = f"{first} - {last}" if first and last and first != last else ""
    if name:
        code, rest = split_route_name(name.strip())
        if code:
            return display_code(code), rest or terminals
        return "", rest
    return ("", terminals) if terminals else (route_id, "")

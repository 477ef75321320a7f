"""Corrections a survey team makes by hand, applied by every build (the review stage).

No automatic grouping is right every time, and a survey team knows what recordings do not: this is route 45K,
these two routes are one, this ride was the wrong taxi, the stop is called "Bree Rank". A coordinator records
such a fact once, as a :class:`Correction` (with ``transitmap review`` or by editing the workspace's layers in
QGIS), and every later build applies it, keyed by the ids the workspace keeps stable:

==========  =====================================================================================================
kind        actions (``field`` = ``value``)
==========  =====================================================================================================
route       ``set`` short_name, long_name, mode (``minibus``, ``bus``, ``train`` ...: its route_type, and
            whether it stops on request), route_type (a GTFS number), operator, fare (a price),
            service_hours (``05:00-20:00``), service_days (``mon-sat``), headway_<band> (minutes, e.g.
            headway_am_peak); ``reviewed`` (checked: its rides as they are now); ``drop``; ``merge`` into the
            route ``value``; ``split`` (by the route names its riders give: one route a name)
pattern     (target: a trip id, R003_0) ``set`` headsign; ``partial_of`` the pattern ``value`` (its rides are
            partial rides of that one); ``branch_of`` the route ``value`` (it moves there as a branch)
stop        ``set`` name, station (a station or stop id: the stop joins that station; empty: none);
            ``move`` to ``value`` = "lat,lon"; ``drop``; ``merge`` into the stop ``value``
ride        ``exclude`` (the trace: ``reason`` says why); ``assign`` to the route ``value`` (an id, or
            ``new:LABEL``: the rides given one label make a new route); ``wrong_direction`` (the collector
            swapped origin and destination: they are swapped back; which way the ride ran in its route is
            what its fixes show, never a label)
fare        ``set`` price of a pair of stops (target ``S0001>S0005``)
==========  =====================================================================================================

Rides are corrected before matching (an excluded ride is left out, an assigned one joins its route and no
other), the rest on the feed's rows. A correction whose target this build does not have (its route changed when
new rides came in, a stop moved) is *stale*: a ``correction_stale`` notice says which and why, and the
correction stays for the coordinator to re-aim or undo. Corrections are data: with none, the build is what it
was; the same corrections in any order give the same feed (one correction per target and field: setting it again
replaces it).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from . import notices as N
from .assemble import STATION_M
from .errors import SettingsError
from .geo import geodesic_m
from .gtfs import FeedHeadway, FeedRoute, FeedStop, trip_id
from .model import TIME_BANDS, HeadwayRow, Ride, Route, normalise_name, weekdays
from .names import canonical_mode, route_type
from .timing import declared_span_s

ROUTE_FIELDS = ("short_name", "long_name", "mode", "route_type", "operator", "fare", "service_hours", "service_days",
                *(f"headway_{band}" for band, _, _ in TIME_BANDS))
ACTIONS = {
    "route": {"set": ROUTE_FIELDS, "reviewed": (), "drop": (), "merge": (), "split": ()},
    "pattern": {"set": ("headsign",), "partial_of": (), "branch_of": ()},
    "stop": {"set": ("name", "station"), "move": (), "drop": (), "merge": ()},
    "ride": {"exclude": (), "assign": (), "wrong_direction": ()},
    "fare": {"set": ("price",)},
}
_ORDER = {"ride": 0, "route": 1, "pattern": 2, "stop": 3, "fare": 4}
#: what changes which routes and stops there are, applied after names and values, in this order
_STRUCTURE = {"partial_of": 1, "branch_of": 1, "merge": 2, "split": 2, "drop": 3}


@dataclass(frozen=True)
class Correction:
    """One fact a coordinator recorded (see the module docstring)."""

    kind: str
    target: str
    action: str
    field: str = ""
    value: str = ""
    reason: str = ""
    correction_id: int = 0  # the workspace's number for it
    source: str = "command"  # command | layer (an edit in QGIS)
    basis: str = ""  # ``reviewed``: the digest of the route's rides when it was reviewed

    @property
    def key(self) -> tuple[str, str, str, str]:
        """One correction per key: a new one with the same key replaces the old."""
        return (self.kind, self.target, "structure" if self.action in _STRUCTURE else self.action, self.field)

    def sort_key(self) -> tuple:
        """Names, values and moves first, then merges, then drops (a route named and then merged keeps the name
        in the route it joins); by kind, target and content within each."""
        return (_STRUCTURE.get(self.action, 0), _ORDER[self.kind], self.target, self.action, self.field,
                self.value, self.reason)


def check(c: Correction) -> str | None:
    """What is wrong with a correction as given (None: it can be recorded)."""
    actions = ACTIONS.get(c.kind)
    if actions is None:
        return f"kind must be one of {', '.join(ACTIONS)}"
    if c.action not in actions:
        return f"a {c.kind} correction is one of: {', '.join(actions)}"
    if actions[c.action] and c.field not in actions[c.action]:
        return f"{c.kind} {c.action} sets one of: {', '.join(actions[c.action])}"
    if not c.target:
        return "a correction names its target"
    if c.action in ("merge", "assign", "partial_of", "branch_of") and not c.value:
        return f"{c.action} names where to (a {'route' if c.kind != 'stop' else 'stop'} id)"
    if c.action == "move" and _latlon(c.value) is None:
        return "move takes 'lat,lon' in degrees"
    if c.field == "route_type" and not c.value.isdigit():
        return "route_type is a GTFS number (3 bus, 2 rail ...)"
    if c.field in ("fare", "price") and _number(c.value) is None:
        return "a fare is a number"
    if c.field.startswith("headway_") and (_number(c.value) is None or not 0 < _number(c.value) <= 240):
        return "a headway is in minutes, 1 to 240"
    try:
        if c.field == "service_hours":
            declared_span_s(c.value)
        elif c.field == "service_days":
            weekdays(c.value)
    except SettingsError as e:
        return str(e)
    if c.kind == "fare" and ">" not in c.target:
        return "a fare correction's target is a pair of stops: S0001>S0005 (a route's fare: route set fare)"
    return None


def canonical(corrections: list[Correction]) -> list[Correction]:
    """The corrections in force: the latest of each key (by correction_id), in an order of their content."""
    latest: dict[tuple, Correction] = {}
    for c in sorted(corrections, key=lambda c: c.correction_id):
        latest[c.key] = c
    return sorted(latest.values(), key=Correction.sort_key)


def rides_digest(rides: list[Ride], route: Route) -> str:
    """What a route is made of, for ``reviewed``: its rides (trace ids), as 12 hex digits."""
    ids = sorted(rides[i].trace_id for p in route.patterns for i in (*p.rides, *p.partial))
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()[:12]


@dataclass
class Review:
    """What the build did with each correction: applied, or stale with the reason."""

    applied: list[Correction] = field(default_factory=list)
    stale: list[tuple[Correction, str]] = field(default_factory=list)
    excluded: dict[tuple[str, str], str] = field(default_factory=dict)  # (trace_id, source): reason
    assigned: dict[tuple[str, str], str] = field(default_factory=dict)  # (trace_id, source): route label
    dropped: dict[tuple[str, str], str] = field(default_factory=dict)  # rides of a dropped route: the route id
    reviewed: dict[str, bool] = field(default_factory=dict)  # route id: changed since its review

    def notices(self) -> list[N.Notice]:
        return [N.CorrectionStaleNotice(correction_id=c.correction_id, kind=c.kind, target=c.target, action=c.action,
                                        reason=reason) for c, reason in self.stale]

    def outcomes(self) -> dict[int, tuple[str, str]]:
        """{correction_id: (applied | changed | stale, reason)}: ``changed`` is a route reviewed whose rides
        changed since."""
        out = {c.correction_id: ("applied", "") for c in self.applied}
        for c in self.applied:
            if (c.kind, c.action) == ("route", "reviewed") and self.reviewed.get(c.target):
                out[c.correction_id] = ("changed", "its rides changed since the review")
        out.update({c.correction_id: ("stale", reason) for c, reason in self.stale})
        return out

    def summary(self) -> dict[str, Any]:
        return {"corrections": len(self.applied) + len(self.stale), "applied": len(self.applied),
                "stale": len(self.stale), "routes_reviewed": len(self.reviewed),
                "routes_changed_since_review": sorted(r for r, changed in self.reviewed.items() if changed),
                "rides_excluded": len(self.excluded), "rides_assigned": len(self.assigned),
                "rides_of_dropped_routes": len(self.dropped)}


def redacted(text: str, collectors: set[str]) -> str:
    """A coordinator's words with any collector's id in them replaced (a reason is published in the report)."""
    for name in sorted((c for c in collectors if len(c) >= 3), key=len, reverse=True):
        text = re.sub(re.escape(name), "(a collector)", text, flags=re.IGNORECASE)
    return text


def prepare_rides(rides: list[Ride], corrections: list[Correction], review: Review,
                  previous_routes: dict[str, str] | None = None, known_routes: set[str] = frozenset()) -> list[Ride]:
    """The rides to match: those excluded by hand left out (``review.excluded``), those assigned by hand
    labelled with their route (``Ride.hand_route``).

    ``previous_routes`` ({trace_id: route_id} of the previous build) and ``known_routes`` (its route ids): a
    ride assigned to a route joins the rides that route had, and leaves those of the route it was in; so the
    rides of both routes keep their route as a label too (only those: elsewhere matching decides afresh). An
    assignment to a route id the previous build does not have is stale."""
    previous_routes = previous_routes or {}
    by_trace: dict[str, list[int]] = {}
    for i, r in enumerate(rides):
        by_trace.setdefault(r.trace_id, []).append(i)
    labels: dict[int, str] = {}
    swapped: set[int] = set()
    drop: set[int] = set()
    touched: set[str] = set()
    for c in corrections:
        if (c.kind, c.action) == ("route", "split"):
            reason = _split_labels(c, rides, previous_routes, known_routes, labels)
            review.stale.append((c, reason)) if reason else review.applied.append(c)
            continue
        if c.kind != "ride":
            continue
        found = by_trace.get(c.target)
        if not found:
            review.stale.append((c, f"no usable ride {c.target} in this build"))
            continue
        if c.action == "assign" and not c.value.startswith("new:") and c.value not in known_routes:
            review.stale.append((c, f"route {c.value} is not in the previous build"))
            continue
        for i in found:
            key = (rides[i].trace_id, rides[i].source)
            if c.action == "exclude":
                drop.add(i)
                review.excluded[key] = c.reason or "excluded by hand"
            elif c.action == "wrong_direction":
                swapped.add(i)
            else:
                labels[i] = c.value
                review.assigned[key] = c.value
                touched |= {c.value, previous_routes.get(c.target, c.value)}
        review.applied.append(c)
    for i, r in enumerate(rides):
        if i not in labels and previous_routes.get(r.trace_id) in touched:
            labels[i] = previous_routes[r.trace_id]
    out = [replace(r, origin=r.destination, destination=r.origin) if i in swapped else r for i, r in enumerate(rides)]
    return [replace(r, hand_route=labels[i]) if i in labels else r for i, r in enumerate(out) if i not in drop]


def _split_labels(c: Correction, rides: list[Ride], previous_routes: dict[str, str], known_routes: set[str],
                  labels: dict[int, str]) -> str | None:
    """Label the rides the route ``c.target`` had by the route names they give: the most common name keeps the
    route's id, every other name makes a new route (rides that name none: matching decides). The reason it
    cannot, or None."""
    if c.target not in known_routes:
        return f"route {c.target} is not in the previous build"
    by_name: dict[str, list[int]] = {}
    for i, r in enumerate(rides):
        if previous_routes.get(r.trace_id) == c.target and r.route_name and i not in labels:
            by_name.setdefault(normalise_name(r.route_name), []).append(i)
    if len(by_name) < 2:
        return f"the rides of route {c.target} name {'one route' if by_name else 'no route'}: nothing to split by"
    order = sorted(by_name, key=lambda n: (-len(by_name[n]), n))
    for k, name in enumerate(order):
        for i in by_name[name]:
            labels[i] = c.target if k == 0 else f"new:{c.target}/{name}"
    return None


def forced_route_ids(routes: list[Route]) -> dict[int, str]:
    """The ids routes take from the rides put in them by hand (an id; ``new:`` labels get fresh ids)."""
    return {r: route.hand_route for r, route in enumerate(routes)
            if route.hand_route and not route.hand_route.startswith("new:")}


def apply_to_rows(feed_routes: list[FeedRoute], feed_stops: list[FeedStop], assignment: dict[tuple, tuple],
                  headway_rows: list[HeadwayRow], corrections: list[Correction], review: Review,
                  digests: dict[str, str], agencies: list[tuple[str, str]],
                  hail_modes: tuple[str, ...] = ()) -> tuple[list[FeedRoute], list[FeedStop]]:
    """The feed's routes and stops with the route, pattern, stop and fare corrections applied (``assignment``,
    ``headway_rows`` and ``agencies`` are updated in place). ``digests``: each route's ``rides_digest``;
    ``hail_modes``: the modes that stop on request (``BuildConfig.hail_and_ride_modes``)."""
    by_id: dict[str, list[FeedRoute]] = {}
    for r in feed_routes:  # routes put under one id by hand (matched apart) are one route
        by_id.setdefault(r.route_id, []).append(r)
    routes = {route_id: same[0] if len(same) == 1 else _merged(same[0], same[1:])[0]
              for route_id, same in by_id.items()}
    stops = {s.stop_id: s for s in feed_stops}
    merges = {(c.kind, c.target): c.value for c in corrections if c.action == "merge"}
    for c in corrections:
        if c.kind == "ride" or c.action == "split":  # applied to the rides, before matching
            continue
        if c.action == "merge":  # A into B and B into C: A into C, whichever comes first
            into, seen = c.value, {c.target}
            while (c.kind, into) in merges and into not in seen:
                seen.add(into)
                into = merges[(c.kind, into)]
            if into in seen:
                review.stale.append((c, f"merges of {', '.join(sorted(seen))} run in a circle"))
                continue
            c_applied = replace(c, value=into)
        else:
            c_applied = c
        reason = _apply(c_applied, routes, stops, assignment, headway_rows, review, digests, agencies, hail_modes)
        if reason:
            review.stale.append((c, reason))
        else:
            review.applied.append(c)
    _settle_stations(stops, {c.target for c in review.applied if c.kind == "stop" and c.action == "move"})
    used = {s for r in routes.values() for t in r.trips for s in t.stop_ids}
    kept = [s for s in stops.values() if s.location_type == 1 or s.stop_id in used]
    parents = {s.parent_station for s in kept if s.location_type == 0 and s.parent_station}
    kept = [s for s in kept if s.location_type == 0 or s.stop_id in parents]
    return sorted(routes.values(), key=lambda r: r.route_id), sorted(kept, key=lambda s: s.stop_id)


def _apply(c: Correction, routes: dict[str, FeedRoute], stops: dict[str, FeedStop], assignment, headway_rows,
           review: Review, digests, agencies, hail_modes: tuple[str, ...] = ()) -> str | None:
    """Apply one correction; the reason it cannot be applied (stale), or None."""
    if c.kind == "route":
        route = routes.get(c.target)
        if route is None:
            return f"route {c.target} is not in this build (its rides changed or went to other routes)"
        if c.action == "reviewed":
            review.reviewed[c.target] = bool(c.basis) and digests.get(c.target) != c.basis
            return None
        if c.action == "drop":
            del routes[c.target]
            for key, (route_id, *_rest) in list(assignment.items()):
                if route_id == c.target:
                    review.dropped[key] = c.target
                    del assignment[key]
            return None
        if c.action == "merge":
            into = routes.get(c.value)
            if into is None or c.value == c.target:
                return f"route {c.value} to merge into is not in this build"
            routes[c.value], renamed = _merged(into, [route])
            del routes[c.target]
            _reassign(assignment, headway_rows, c.target, renamed, None)
            return None
        return _set_route(c, route, routes, headway_rows, agencies, hail_modes)
    if c.kind == "pattern":
        route_id = c.target.split("_")[0]
        route = routes.get(route_id)
        trips = [t for t in (route.trips if route else ()) if trip_id(route_id, t.direction_id, t.variant) == c.target]
        if not trips:
            return f"pattern {c.target} is not in this build"
        if c.action == "set":
            routes[route_id] = replace(route, trips=tuple(replace(t, headsign=c.value) if t in trips else t
                                                          for t in route.trips))
            return None
        rest = tuple(t for t in route.trips if t not in trips)
        if c.action == "partial_of":
            into_route = routes.get(c.value.split("_")[0])
            into = [t for t in (into_route.trips if into_route else ())
                    if trip_id(into_route.route_id, t.direction_id, t.variant) == c.value]
            if not into or c.value == c.target:
                return f"pattern {c.value} is not in this build"
            renamed = {trip_id(route_id, t.direction_id, t.variant, t.band): c.value for t in trips}
            target = (into_route.route_id, into[0].direction_id, c.value)
            _reassign(assignment, headway_rows, route_id, renamed, target, drop_rows=True)
        else:  # branch_of
            if c.value not in routes or c.value == route_id:
                return f"route {c.value} is not in this build"
            routes[c.value], renamed = _merged(routes[c.value], [replace(route, trips=tuple(trips))])
            _reassign(assignment, headway_rows, route_id, renamed, None)
        if rest:
            routes[route_id] = replace(route, trips=rest)
        else:
            del routes[route_id]
        return None
    if c.kind == "stop":
        stop = stops.get(c.target)
        if stop is None or stop.location_type != 0:
            return f"stop {c.target} is not in this build"
        if c.action == "set" and c.field == "station":
            return _join_station(stops, c.target, c.value)
        if c.action == "set":
            stops[c.target] = replace(stop, name=c.value)
        elif c.action == "move":
            lat, lon = _latlon(c.value)
            stops[c.target] = replace(stop, lat=lat, lon=lon)
        elif c.action == "merge":
            if c.value not in stops or c.value == c.target:
                return f"stop {c.value} to merge into is not in this build"
            return _replace_stop(routes, c.target, c.value)
        else:  # drop
            return _replace_stop(routes, c.target, None)
        return None
    # a fare between two stops
    origin, _, destination = c.target.partition(">")
    price = _number(c.value)
    runs = lambda ids: origin in ids and destination in ids[ids.index(origin) + 1:]  # noqa: E731  (in that order)
    served = [r for r in routes.values() if any(runs(t.stop_ids) for t in r.trips)]
    if not served:
        return f"no route runs from {origin} to {destination} in this build"
    for r in served:
        od = tuple(x for x in r.od_fares if (x[0], x[1]) != (origin, destination)) + ((origin, destination, price),)
        routes[r.route_id] = replace(r, od_fares=tuple(sorted(od)))
    return None


def _set_route(c: Correction, route: FeedRoute, routes, headway_rows, agencies, hail_modes) -> str | None:
    f, v = c.field, c.value
    if f == "mode":
        mode = canonical_mode(v)
        routes[c.target] = replace(route, route_type=route_type(mode), hail_and_ride=mode in hail_modes)
    elif f in ("short_name", "long_name"):
        routes[c.target] = replace(route, **{f: v})
    elif f == "route_type":
        routes[c.target] = replace(route, route_type=int(v))
    elif f == "fare":
        routes[c.target] = replace(route, fare_price=_number(v))
    elif f == "operator":
        agency = next((a for a, name in agencies if name == v), None)
        if agency is None:
            agency = f"A{1 + max((int(a[1:]) for a, _ in agencies if a[1:].isdigit()), default=0)}"
            agencies.append((agency, v))
        routes[c.target] = replace(route, agency_id=agency)
    elif f == "service_days":
        routes[c.target] = replace(route, weekdays=weekdays(v))
    elif f == "service_hours":
        lo, hi = declared_span_s(v)
        trips = tuple(replace(t, headways=tuple(FeedHeadway(*span, h.headway_s) for h, span in zip(
            t.headways, _within([(h.start_s, h.end_s) for h in t.headways], lo, hi)) if span)) for t in route.trips)
        if not all(t.headways for t in trips):
            return f"no headway of route {c.target} falls within {v}"
        routes[c.target] = replace(route, trips=trips)
        rows = sorted((k for k, r in enumerate(headway_rows) if r.route_id == c.target),
                      key=lambda k: (headway_rows[k].trip_id, headway_rows[k].start_time))
        for _, same in itertools.groupby(rows, key=lambda k: headway_rows[k].trip_id):  # what the feed runs
            same = list(same)
            spans = _within([(headway_rows[k].start_time, headway_rows[k].end_time) for k in same], lo, hi)
            for k, span in zip(same, spans):
                headway_rows[k] = replace(headway_rows[k], start_time=(span or (0, 0))[0], end_time=(span or (0, 0))[1])
        headway_rows[:] = [r for r in headway_rows if r.start_time < r.end_time]
    else:  # headway_<band>, minutes
        band = f.removeprefix("headway_")
        lo, hi = next((a * 3600, b * 3600) for name, a, b in TIME_BANDS if name == band)
        seconds = int(round(_number(v) * 60))
        if not any(lo <= h.start_s < hi for t in route.trips for h in t.headways):
            return f"route {c.target} does not run in the {band} band"
        routes[c.target] = replace(route, trips=tuple(replace(t, headways=tuple(
            replace(h, headway_s=seconds) if lo <= h.start_s < hi else h for h in t.headways)) for t in route.trips))
        headway_rows[:] = [replace(r, headway_s=seconds, provenance="corrected")
                           if r.route_id == c.target and lo <= r.start_time < hi else r for r in headway_rows]
    return None


def _reassign(assignment: dict, headway_rows: list[HeadwayRow], route_id: str, renamed: dict[str, str],
              partial_of: tuple[str, int, str] | None, drop_rows: bool = False) -> None:
    """The rides and headway rows of the trips ``renamed`` ({old trip id: new}) of ``route_id`` follow them to
    their new route (the route of the new trip id); ``partial_of`` (route, direction, trip): they become
    partial rides of that trip, whose headways stay its own (``drop_rows``: the old trips' rows go)."""
    for key, (rid, _, tid, ride) in list(assignment.items()):
        if rid == route_id and tid in renamed:
            route, direction = renamed[tid].split("_")[:2]  # R001_1_2: route R001, direction 1
            assignment[key] = (*partial_of, "partial") if partial_of else (route, int(direction), renamed[tid], ride)
    kept = []
    for row in headway_rows:
        if row.route_id == route_id and row.trip_id in renamed:
            if drop_rows:
                continue
            new_trip = renamed[row.trip_id]
            new_route, direction = new_trip.split("_")[:2]
            row = replace(row, trip_id=new_trip, route_id=new_route, direction_id=int(direction))
        kept.append(row)
    headway_rows[:] = kept


def _join_station(stops: dict[str, FeedStop], stop_id: str, to: str) -> str | None:
    """The stop made a boarding point of the station ``to`` (a station's id, or a stop's: its station, or a new
    one of the two stops, named after that stop); ``to`` empty: of no station."""
    if not to:
        stops[stop_id] = replace(stops[stop_id], parent_station="")
        return None
    other = stops.get(to)
    if other is None or to == stop_id:
        return f"{to} is not a stop or station of this build"
    if other.location_type == 1:
        station = to
    elif other.parent_station:
        station = other.parent_station
    else:
        station = f"{to}_station"
        mine = stops[stop_id]
        stops[station] = FeedStop(station, other.name, (other.lat + mine.lat) / 2, (other.lon + mine.lon) / 2,
                                  location_type=1)
        stops[to] = replace(other, parent_station=station)
    stops[stop_id] = replace(stops[stop_id], parent_station=station)
    return None


def _settle_stations(stops: dict[str, FeedStop], moved: set[str]) -> None:
    """Stations after stops were moved by hand: a moved stop farther than ``assemble.STATION_M`` from every
    other boarding point of its station leaves it; a station stands at the middle of its boarding points, as
    the build places it, and one left with none is gone."""
    children: dict[str, list[str]] = {}
    for s in stops.values():
        if s.location_type == 0 and s.parent_station:
            children.setdefault(s.parent_station, []).append(s.stop_id)
    touched = {stops[m].parent_station for m in moved if m in stops and stops[m].parent_station}
    for station in sorted(touched):
        members = children.get(station, [])
        for m in sorted(set(members) & moved):
            others = [stops[k] for k in members if k != m]
            far = not others or geodesic_m(stops[m].lat, stops[m].lon, [o.lat for o in others],
                                           [o.lon for o in others]).min() > STATION_M
            if far:
                stops[m] = replace(stops[m], parent_station="")
                members = [k for k in members if k != m]
        if station in stops and members:
            stops[station] = replace(stops[station], lat=float(np.mean([stops[k].lat for k in members])),
                                     lon=float(np.mean([stops[k].lon for k in members])))
        elif station in stops:
            del stops[station]


def _merged(into: FeedRoute, others: list[FeedRoute]) -> tuple[FeedRoute, dict[str, str]]:
    """``into`` with the patterns of ``others`` as further patterns (branches) of their directions, and the new
    trip id of each of their trips."""
    trips, renamed = list(into.trips), {}
    for other in others:
        flip = _runs_against(other, into)
        variant_of: dict[tuple[int, int], int] = {}
        for t in other.trips:
            k, d = (t.direction_id, t.variant), t.direction_id ^ flip
            if k not in variant_of:
                variant_of[k] = 1 + max((x.variant for x in trips if x.direction_id == d), default=-1)
            trips.append(replace(t, direction_id=d, variant=variant_of[k]))
            renamed[trip_id(other.route_id, *k, t.band)] = trip_id(into.route_id, d, variant_of[k], t.band)
    od = tuple(sorted(set(into.od_fares) | {x for o in others for x in o.od_fares}))
    return replace(into, trips=tuple(trips), od_fares=od), renamed


def _runs_against(other: FeedRoute, into: FeedRoute) -> bool:
    """Whether ``other``'s direction 0 leaves from nearer ``into``'s direction 1 start than its direction 0 one
    (its directions are then swapped when it joins ``into``)."""
    def start(route: FeedRoute, d: int):
        t = next((t for t in route.trips if t.direction_id == d), None)
        return None if t is None else (float(t.shape_lat[0]), float(t.shape_lon[0]))

    mine, same, back = start(other, 0) or start(other, 1), start(into, 0), start(into, 1)
    if mine is None or same is None or back is None:
        return False
    if start(other, 0) is None:  # only its direction 1: it runs against when it leaves from into's direction 0
        return _degrees(mine, same) < _degrees(mine, back)
    return _degrees(mine, back) < _degrees(mine, same)


def _degrees(a: tuple[float, float], b: tuple[float, float]) -> float:
    """A distance in degrees, scaled for longitude (enough to say which of two points is nearer)."""
    return float(np.hypot(a[0] - b[0], (a[1] - b[1]) * np.cos(np.radians(a[0]))))


def _replace_stop(routes: dict[str, FeedRoute], stop_id: str, by: str | None) -> str | None:
    """Every trip's visit to ``stop_id`` made a visit to ``by`` (None: left out); nothing changed when a trip
    would keep fewer than two stops (the reason is returned)."""
    changed = {}
    for route_id, route in routes.items():
        trips = []
        for t in route.trips:
            if stop_id not in t.stop_ids:
                trips.append(t)
                continue
            kept = [k for k, s in enumerate(t.stop_ids) if s != stop_id or by is not None]
            ids = [by if t.stop_ids[k] == stop_id else t.stop_ids[k] for k in kept]
            keep = [k for j, k in enumerate(kept) if j == 0 or ids[j] != ids[j - 1]]  # no stop twice in a row
            if len(keep) < 2:
                return f"route {route_id} would keep fewer than two stops"
            trips.append(replace(t, stop_ids=tuple(by if t.stop_ids[k] == stop_id else t.stop_ids[k] for k in keep),
                                 offsets_s=t.offsets_s[keep], stop_dist_m=t.stop_dist_m[keep]))
        changed[route_id] = replace(route, trips=tuple(trips))
    routes.update(changed)
    return None


def _within(spans: list[tuple[int, int]], lo: int, hi: int) -> list[tuple[int, int] | None]:
    """Spans of the day (seconds, in order) cut to the hours ``lo``-``hi``, the first and last left stretched
    to them; None for a span outside."""
    cut = [(max(a, lo), min(b, hi)) if b > lo and a < hi else None for a, b in spans]
    inside = [k for k, span in enumerate(cut) if span]
    if inside:
        cut[inside[0]] = (lo, cut[inside[0]][1])
        cut[inside[-1]] = (cut[inside[-1]][0], hi)
    return cut


def _number(text: str) -> float | None:
    try:
        value = float(str(text).replace(",", "."))
    except ValueError:
        return None
    return value if np.isfinite(value) and value >= 0 else None


def _latlon(text: str) -> tuple[float, float] | None:
    try:
        lat, lon = (float(p) for p in text.split(","))
    except ValueError:
        return None
    return (lat, lon) if -90 <= lat <= 90 and -180 <= lon <= 180 else None


# --------------------------------------------------------------------------------------------------
# Edits of the workspace's layers (QGIS): what each means

#: the fields a coordinator edits in QGIS, by layer (what each becomes: ``layer_corrections``)
EDITABLE = {"routes": ("short_name", "long_name", "headsign", "review", "merge_into"),
            "stops": ("name", "review", "merge_into"),
            "traces": ("review", "assign_to", "reason")}
MOVED_M = 1.0  # a stop dragged further than this in QGIS has moved


@dataclass
class LayerEdits:
    """What ``pick_up_edits`` found: the corrections it recorded, and the edits it could not read (each a dict of
    layer, key, field, value and why), which stay in the layer, reported again until mended or emptied."""

    recorded: list[Correction] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)


@dataclass
class LayerReading:
    """What the edits of the layers mean (``layer_corrections``): corrections made, each with the (layer, key,
    field) it came from; (kind, target, actions) whose corrections an emptied field ends; edits that mean
    nothing (dicts of layer, key, field, value and why); stops moved (stop_id, lat, lon)."""

    made: list[tuple[Correction, tuple[str, str, str]]] = field(default_factory=list)
    ended: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)
    moved: list[tuple[str, float, float]] = field(default_factory=list)


def layer_corrections(layers: dict[str, list[tuple]], written: dict[tuple[str, str, str], str]) -> LayerReading:
    """The corrections that edits of the layers make: ``layers`` holds the rows of the routes (trip_id,
    route_id, short_name, long_name, headsign, review, merge_into, rides_digest), stops (stop_id, name, review,
    merge_into, (lat, lon) of the point) and traces (fid, trace_id, review, assign_to, reason) layers as they
    are now; ``written`` the values the build wrote, by (layer, key, field). Routes: short_name, long_name,
    headsign, review 'reviewed' or 'drop', merge_into; stops: name, review 'drop', merge_into, a move of the
    point; traces: review 'exclude' with its reason, assign_to. A field emptied ends the correction it made."""
    out = LayerReading()

    def edited(layer: str, key: str, f: str, value: Any) -> str | None:
        value = "" if value is None else str(value).strip()
        return value if value != written.get((layer, key, f), "") else None

    def refuse(where: tuple[str, str, str], value: str, why: str) -> None:
        out.refused.append({"layer": where[0], "key": where[1], "field": where[2], "value": value, "why": why})

    made, end = out.made, lambda kind, target, actions: out.ended.append((kind, target, actions))
    seen_routes: set[tuple[str, str]] = set()
    for tid, rid, *values, digest in layers["routes"]:
        for f, value in zip(EDITABLE["routes"], values):
            new, where = edited("routes", tid, f, value), ("routes", tid, f)
            if new is None or (rid, f) in seen_routes and f != "headsign":
                continue
            seen_routes.add((rid, f))
            if f == "headsign":
                made.append((Correction("pattern", tid, "set", "headsign", new, source="layer"), where))
            elif f in ("short_name", "long_name"):
                made.append((Correction("route", rid, "set", f, new, source="layer"), where))
            elif f == "review" and new in ("reviewed", "drop"):
                made.append((Correction("route", rid, new, basis=digest if new == "reviewed" else "",
                                        source="layer"), where))
            elif f == "review" and new:
                refuse(where, new, "review is 'reviewed' or 'drop'")
            elif f == "review":
                end("route", rid, ("reviewed", "drop"))
            elif new:  # merge_into
                made.append((Correction("route", rid, "merge", value=new, source="layer"), where))
            else:
                end("route", rid, ("merge",))
    for stop_id, name, review, merge_into, at in layers["stops"]:
        if (new := edited("stops", stop_id, "name", name)) is not None:
            made.append((Correction("stop", stop_id, "set", "name", new, source="layer"), ("stops", stop_id, "name")))
        if (new := edited("stops", stop_id, "review", review)) == "drop":
            made.append((Correction("stop", stop_id, "drop", source="layer"), ("stops", stop_id, "review")))
        elif new:
            refuse(("stops", stop_id, "review"), new, "review is 'drop'")
        elif new == "":
            end("stop", stop_id, ("drop",))
        if (new := edited("stops", stop_id, "merge_into", merge_into)):
            made.append((Correction("stop", stop_id, "merge", value=new, source="layer"),
                         ("stops", stop_id, "merge_into")))
        elif new == "":
            end("stop", stop_id, ("merge",))
        was = written.get(("stops", stop_id, "lat")), written.get(("stops", stop_id, "lon"))
        if at is not None and None not in was and geodesic_m(*at, float(was[0]), float(was[1])) > MOVED_M:
            made.append((Correction("stop", stop_id, "move", value=f"{at[0]:.6f},{at[1]:.6f}", source="layer"),
                         ("stops", stop_id, "geom")))
            out.moved.append((stop_id, at[0], at[1]))
    for fid, trace_id, review, assign_to, reason in layers["traces"]:
        key = str(fid)
        new_review = edited("traces", key, "review", review)
        new_assign = edited("traces", key, "assign_to", assign_to)
        if new_review == "exclude" or (edited("traces", key, "reason", reason) is not None
                                       and (review or "").strip() == "exclude"):
            made.append((Correction("ride", trace_id, "exclude", reason=(reason or "").strip(), source="layer"),
                         ("traces", key, "review")))
        elif new_review:
            refuse(("traces", key, "review"), new_review, "review is 'exclude'")
        elif new_review == "":
            end("ride", trace_id, ("exclude",))
        if new_assign:
            made.append((Correction("ride", trace_id, "assign", value=new_assign, source="layer"),
                         ("traces", key, "assign_to")))
        elif new_assign == "":
            end("ride", trace_id, ("assign",))
    return out


def unknown_target(c: Correction, known: dict[str, set[str]], survey: str) -> str | None:
    """Why a correction names what is not in the latest build of the workspace ``survey`` (``known``: the ids
    there are, by kind; only rides before any build), said with where to list what exists; None: all it names
    exists."""
    if c.kind != "ride" and "route" not in known:
        return (f"there is no build yet, so no {c.kind} to correct: build the survey first (transitmap build "
                f"{survey} --out DIR), then correct what it found")
    where = {"route": f"the routes layer of {survey}/survey.gpkg lists them, as does routes.txt of the build's feed",
             "pattern": f"the routes layer of {survey}/survey.gpkg lists them (trip_id), as does trips.txt",
             "stop": f"the stops layer of {survey}/survey.gpkg lists them, as does stops.txt",
             "ride": f"transitmap status {survey} counts them; the traces layer of {survey}/survey.gpkg and the "
                     "build's traces.csv list them"}

    def missing(kind: str, ident: str, *, also: str = "") -> str | None:
        if ident in known.get(kind, ()) or (also and ident in known.get(also, ())):
            return None
        shown = sorted(known.get(kind, ()))
        few = f" ({', '.join(shown)})" if 0 < len(shown) <= 12 else ""
        return (f"{kind} {ident} is not in the {'survey' if kind == 'ride' else 'latest build'}{few}: "
                f"{where[kind]}")

    if c.kind in ("route", "pattern", "stop", "ride"):
        problem = missing(c.kind, c.target)
        if problem:
            return problem
    if c.kind == "fare":
        for stop in c.target.split(">"):
            if (problem := missing("stop", stop.strip())):
                return problem
    if c.action in ("merge", "branch_of") or (c.kind == "ride" and c.action == "assign"):
        if c.kind == "ride" and c.value.startswith("new:"):
            return None
        return missing("stop" if c.kind == "stop" else "route", c.value)
    if c.action == "partial_of":
        return missing("pattern", c.value)
    if c.kind == "stop" and c.field == "station" and c.value:
        return missing("stop", c.value, also="station")
    return None

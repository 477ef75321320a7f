"""Fares per route from the fares collectors paid, robust to typos.

A route's price is the lower median (a fare someone paid) of the whole-ride fares of its full rides in the
route's most common currency; a fare more than ``outlier_ratio`` times above or below the lower median is reported
(a typo, a special trip)
and left out of the price. Fares paid between two stops (a fare marked from one stop to another, or the
whole fare of a rider who boarded late or got off early) give origin-destination fares the same way, per
pair of stops, where they differ from the route's price.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import numpy as np

from . import notices as N
from .model import WITHDRAWN_CURRENCIES, Fare, Pattern, PatternStops, Ride, Route


@dataclass(frozen=True)
class FareConfig:
    outlier_ratio: float = 3.0  # above or below the route's (lower) median fare


def settle_currencies(rides: list[Ride], currency: str | None) -> tuple[list[Ride], list[N.Notice]]:
    """Every fare in one known currency where it can be: a fare that names none ("", from a note such as ``2k``)
    gets the survey's ``currency``, else the survey's most common one, else it is left out with a notice; a
    fare in a withdrawn code whose successor is the survey's ``currency`` is converted (``SLL 2,000`` ->
    ``SLE 2``). Returns the rides (changed ones replaced) and the notices."""
    named = Counter(f.currency for r in rides for f in r.fares if f.currency)
    fallback = currency or (named.most_common(1)[0][0] if named else None)
    out, notices = [], []
    for ride in rides:
        fares, changed = [], False
        for f in ride.fares:
            if not f.currency:
                changed = True
                if fallback is None:
                    notices.append(N.FareWithoutCurrencyNotice(file=ride.source, trace_id=ride.trace_id,
                                                               amount=f.amount))
                    continue
                f = replace(f, currency=fallback)
            if currency and WITHDRAWN_CURRENCIES.get(f.currency, ("",))[0] == currency:
                changed = True
                f = replace(f, amount=round(f.amount / WITHDRAWN_CURRENCIES[f.currency][1], 2), currency=currency)
            fares.append(f)
        out.append(replace(ride, fares=tuple(fares)) if changed else ride)
    return out, notices


@dataclass(frozen=True)
class RouteFare:
    price: float
    currency: str
    samples: int


def route_fare(route_id: str, rides: list[Ride], partial: list[Ride] = (), config: FareConfig = FareConfig()
               ) -> tuple[RouteFare | None, list[N.Notice]]:
    """The fare of one route from the whole-ride fares of its full rides (riders who board late or get off
    early often pay less: their fares count only when no full ride recorded one). None when no fare was
    recorded."""
    paid = [(r, f) for r in rides for f in r.fares if f.from_stop is None and f.to_stop is None]
    if not paid:
        paid = [(r, f) for r in partial for f in r.fares if f.from_stop is None and f.to_stop is None]
    if not paid:
        return None, []
    currency = Counter(f.currency for _, f in paid).most_common(1)[0][0]
    price, samples, notices = _robust(route_id, [(r, f) for r, f in paid if f.currency == currency], config)
    return RouteFare(price, currency, samples), notices


@dataclass(frozen=True)
class ODFare:
    origin: str  # stop ids
    destination: str
    price: float
    samples: int


def od_fares(route_id: str, paid: list[tuple[str, str, Ride, Fare]], route: RouteFare | None,
             config: FareConfig = FareConfig()) -> tuple[list[ODFare], list[N.Notice]]:
    """Origin-destination fares of one route from fares paid between two of its stops, in the route's
    currency; a pair whose price is the route's own needs no fare of its own."""
    by_pair: dict[tuple[str, str], list[tuple[Ride, Fare]]] = {}
    for origin, destination, r, f in paid:
        if route is None or f.currency == route.currency:
            by_pair.setdefault((origin, destination), []).append((r, f))
    out, notices = [], []
    for (origin, destination), items in sorted(by_pair.items()):
        price, samples, found = _robust(route_id, items, config)
        notices += found
        if route is None or price != route.price:
            out.append(ODFare(origin, destination, price, samples))
    return out, notices


#: a pattern shorter than this share of its route's longest is ridden for less than the whole route (a short
#: turn, or one direction ridden only in part): its fares count as partial rides' fares
WHOLE_ROUTE_SHARE = 2 / 3


def route_fares(route_id: str, route: Route, rides: list[Ride], paid: list[tuple[str, str, Ride, Fare]],
                config: FareConfig = FareConfig()) -> tuple[RouteFare | None, list[ODFare], list[N.Notice]]:
    """A route's fare (``route_fare``) from the rides of its patterns of the whole route, and its
    origin-destination fares (``od_fares``) from ``paid``: (origin stop id, destination stop id, ride, fare)."""
    longest = max(len(p.xy) for p in route.patterns)
    whole = [len(p.xy) >= WHOLE_ROUTE_SHARE * longest for p in route.patterns]
    fare, fare_notes = route_fare(
        route_id, [rides[i] for p, w in zip(route.patterns, whole) if w for i in p.rides],
        [rides[i] for p, w in zip(route.patterns, whole) for i in (p.partial if w else p.rides + p.partial)],
        config)
    od, od_notes = od_fares(route_id, paid, fare, config)
    return fare, od, fare_notes + od_notes


def fares_between_stops(pattern: Pattern, ps: PatternStops, rides: list[Ride], snap_m: float = 100.0
                        ) -> list[tuple[int, int, int, Fare]]:
    """(origin stop index, destination stop index, ride index, fare) of the fares paid on a pattern between two of
    its stops: fares marked from one stop to another, and the whole fare of a partial ride (from where its
    collector boarded to where they got off: the ride's first and last fix, found from motion; board and
    alight marks say what passengers did, not the collector)."""
    if len(ps.stop_index) < 2:
        return []
    path = pattern.path
    out = []
    for i in pattern.rides + pattern.partial:
        r = rides[i]
        board, alight = (r.x_m[0], r.y_m[0]), (r.x_m[-1], r.y_m[-1])
        for f in r.fares:
            if f.from_stop is None and f.to_stop is None and i not in pattern.partial:
                continue  # the whole fare of a full ride: the route's price
            a = r.stops[f.from_stop][1:3] if f.from_stop is not None else board
            b = r.stops[f.to_stop][1:3] if f.to_stop is not None else alight
            (ka, kb), dist = path.nearest(np.array([a, b], dtype=float))
            sa, sb = path.cum[ka], path.cum[kb]
            ia, ib = int(np.argmin(np.abs(ps.s_m - sa))), int(np.argmin(np.abs(ps.s_m - sb)))
            if (dist.max() <= snap_m and abs(ps.s_m[ia] - sa) <= snap_m and abs(ps.s_m[ib] - sb) <= snap_m
                    and ia < ib and (ia, ib) != (0, len(ps.s_m) - 1)):
                out.append((ps.stop_index[ia], ps.stop_index[ib], i, f))
    return out


def _robust(route_id: str, paid: list[tuple[Ride, Fare]], config: FareConfig) -> tuple[float, int, list[N.Notice]]:
    """(price, fares it is made of, notices of the outliers) of fares paid for one thing."""
    amounts = np.array([f.amount for _, f in paid])
    # The lower median as reference: with few fares an extra zero (ten times the fare, the commonest typo)
    # would pull the plain median up to itself.
    reference = float(np.sort(amounts)[(len(amounts) - 1) // 2])
    typical = (amounts <= reference * config.outlier_ratio) & (amounts >= reference / config.outlier_ratio)
    notices = [N.FareOutlierNotice(file=r.source, trace_id=r.trace_id, route_id=route_id, amount=f.amount,
                                   median_amount=reference) for (r, f), ok in zip(paid, typical) if not ok]
    kept = np.sort(amounts[typical])
    # the lower median again: a fare someone paid (1.40 and 1.50 paid, 1.45 would be a price nobody pays)
    return round(float(kept[(len(kept) - 1) // 2]), 2), len(kept), notices

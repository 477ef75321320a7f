"""Journeys in a feed as a rider's trip planner finds them: nigiri, the routing core of MOTIS (through
``pynigiri``, an optional dependency: ``pip install 'transitmap[plan]'``), loads the feed as any consumer
does (``frequencies.txt`` expanded into departures, the stops of a station linked on foot) and plans the
journeys from one stop to another at a time of day. ``transitmap plan`` prints them: a quick way for a
coordinator to see the network as a rider will.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zipfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from .errors import FeedError, SettingsError
from .gtfs import read_feed


@dataclass(frozen=True)
class PlannedLeg:
    """A part of a journey: by vehicle, or on foot between the stops of a station (``walk``)."""

    from_stop: str
    from_name: str
    to_stop: str
    to_name: str
    depart: datetime
    arrive: datetime
    walk: bool


@dataclass(frozen=True)
class PlannedJourney:
    legs: tuple[PlannedLeg, ...]

    @property
    def depart(self) -> datetime:
        return self.legs[0].depart

    @property
    def arrive(self) -> datetime:
        return self.legs[-1].arrive

    @property
    def vehicles(self) -> int:
        return sum(not leg.walk for leg in self.legs)

    def to_dict(self) -> dict:
        return {"depart": self.depart.isoformat(), "arrive": self.arrive.isoformat(), "vehicles": self.vehicles,
                "legs": [{"from_stop": g.from_stop, "from_name": g.from_name, "to_stop": g.to_stop,
                          "to_name": g.to_name, "depart": g.depart.isoformat(), "arrive": g.arrive.isoformat(),
                          "walk": g.walk} for g in self.legs]}


@contextlib.contextmanager
def _quiet():
    """nigiri logs its loading on the process's standard streams: the library prints nothing."""
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "wb") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def stops_named(feed: bytes | str | Path, name_or_id: str) -> list[str]:
    """The boarding stops a rider means by ``name_or_id``: a stop's id, a station's id (its stops), or a stop
    name in any case (every stop of that name); ``SettingsError`` naming a few stops when none is."""
    tables = read_feed(feed, ("stops",))
    stops, stations = tables.stops, tables.stations
    if name_or_id in set(stops["stop_id"]):
        return [name_or_id]
    if name_or_id in set(stations["stop_id"]):
        return sorted(stops.loc[stops.get("parent_station", "") == name_or_id, "stop_id"])
    folded = " ".join(name_or_id.split()).casefold()
    found = sorted(stops.loc[stops["stop_name"].map(lambda n: " ".join(n.split()).casefold()) == folded, "stop_id"])
    if not found:
        few = ", ".join(sorted(set(stops["stop_name"]))[:8])
        raise SettingsError(f"no stop is named or numbered {name_or_id!r} in the feed "
                            f"(stops.txt lists them: {few}, ...)")
    return found


def plan(feed: str | Path, origin: str, destination: str, at: datetime | None = None,
         max_transfers: int = 3) -> list[PlannedJourney]:
    """The journeys from ``origin`` to ``destination`` (stop ids, station ids or stop names) leaving at or
    after ``at`` (time-zone aware, or the feed's local time; default: now), the fastest first as nigiri gives
    them (a journey with fewer changes beside a faster one with more)."""
    try:
        import pynigiri as pn
    except ImportError as e:  # pragma: no cover - an optional dependency
        raise SettingsError("planning needs pynigiri: pip install 'transitmap[plan]' (Python 3.11)") from e
    tables = read_feed(feed, ("agency", "stops"))
    zone = ZoneInfo(tables.table("agency", ("agency_timezone",))["agency_timezone"].iloc[0])
    when = (at or datetime.now(zone))
    when = when.replace(tzinfo=zone) if when.tzinfo is None else when
    origins, targets = stops_named(feed, origin), stops_named(feed, destination)
    all_stops = tables.all_stops
    names = dict(zip(all_stops["stop_id"], all_stops["stop_name"]))
    day = when.astimezone(zone).date()
    with tempfile.TemporaryDirectory() as tmp:
        with zipfile.ZipFile(feed) as z:
            z.extractall(tmp)
        try:
            with _quiet():
                tt = pn.load_timetable([pn.TimetableSource("gtfs", tmp)], str(day - timedelta(days=1)),
                                       str(day + timedelta(days=2)))
        except Exception as e:
            raise FeedError(f"nigiri cannot load the feed: {e}") from e
        index = {int(i): s for s in all_stops["stop_id"] if (i := tt.find_location(s)) is not None}
        q = pn.Query()
        q.start_time = int(when.timestamp()) // 60
        q.start = [pn.Offset(tt.find_location(s), 0, 0) for s in origins]
        q.destination = [pn.Offset(tt.find_location(s), 0, 0) for s in targets]
        q.max_transfers = max_transfers
        with _quiet():
            found = pn.route(tt, q)
    out = []
    for j in found:
        legs = []
        for leg in j.legs:
            a, b = index.get(int(getattr(leg, "from")), "?"), index.get(int(leg.to), "?")
            depart = datetime.fromtimestamp(leg.dep_time * 60, zone)
            arrive = datetime.fromtimestamp(leg.arr_time * 60, zone)
            legs.append(PlannedLeg(a, names.get(a, a), b, names.get(b, b), depart, arrive,
                                   walk=names.get(a) == names.get(b) and a != b))
        if legs:
            out.append(PlannedJourney(tuple(legs)))
    return sorted(out, key=lambda j: (j.arrive, j.vehicles, j.depart))

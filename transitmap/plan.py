"""Journeys in a feed as a rider's trip planner finds them: nigiri, the routing core of MOTIS (through
``pynigiri``, an optional dependency: ``pip install 'transitmap[plan]'``), loads the feed as any consumer
does (``frequencies.txt`` expanded into departures, the stops of a station linked on foot) and plans the
journeys from one stop to another at a time of day. ``transitmap plan`` prints them: a quick way for a
coordinator to see the network as a rider will.
"""

from __future__ import annotations

import tempfile
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from .engine import quiet_streams
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


def feed_zone(feed: bytes | str | Path) -> ZoneInfo:
    """The feed's time zone (its first agency's)."""
    return ZoneInfo(read_feed(feed, ("agency",)).table("agency", ("agency_timezone",))["agency_timezone"].iloc[0])


class Planner:
    """A feed loaded into nigiri for the days around ``day`` (the feed's local date), to plan many journeys."""

    def __init__(self, feed: str | Path, day: date) -> None:
        try:
            import pynigiri as pn
        except ImportError as e:  # pragma: no cover - an optional dependency
            raise SettingsError("planning needs pynigiri: pip install 'transitmap[plan]' (Python 3.11)") from e
        self._pn = pn
        self.zone = feed_zone(feed)
        tables = read_feed(feed, ("stops", "stop_times"))
        self.stops, self.stations, stops = tables.stops, tables.stations, tables.all_stops
        self.names = dict(zip(stops["stop_id"], stops["stop_name"]))
        st = tables.table("stop_times", ("trip_id", "stop_id", "stop_sequence"))
        st = st.assign(seq=st["stop_sequence"].astype(int)).sort_values(["trip_id", "seq"], kind="stable")
        self.trip_stops = {t: list(g) for t, g in st.groupby("trip_id", sort=True)["stop_id"]}
        self._trips_at: dict[str, list[str]] = {}  # stop: the trips that serve it, in the order of their ids
        for t, seq in self.trip_stops.items():
            for stop in dict.fromkeys(seq):
                self._trips_at.setdefault(stop, []).append(t)
        with tempfile.TemporaryDirectory() as tmp:
            with zipfile.ZipFile(feed) as z:
                z.extractall(tmp)
            try:
                with quiet_streams():
                    self.tt = pn.load_timetable([pn.TimetableSource("gtfs", tmp)], str(day - timedelta(days=1)),
                                                str(day + timedelta(days=2)))
            except Exception as e:
                raise FeedError(f"nigiri cannot load the feed: {e}") from e
        self.location = {s: i for s in stops["stop_id"] if (i := self.tt.find_location(s)) is not None}
        self.stop_of = {int(i): s for s, i in self.location.items()}

    def trip_from(self, a: str, b: str) -> str | None:
        """The feed's first trip (by id) that runs from stop ``a`` to stop ``b``; None: none does (a leg between
        them is on foot)."""
        for t in self._trips_at.get(a, ()):
            seq = self.trip_stops[t]
            if b in seq[seq.index(a) + 1:]:
                return t
        return None

    def stops_named(self, name_or_id: str) -> list[str]:
        """The boarding stops a rider means by ``name_or_id``: a stop's id, a station's id (its stops), or a stop
        name in any case (every stop of that name); ``SettingsError`` naming a few stops when none is."""
        stops = self.stops
        if name_or_id in set(stops["stop_id"]):
            return [name_or_id]
        if name_or_id in set(self.stations["stop_id"]):
            return sorted(stops.loc[stops.get("parent_station", "") == name_or_id, "stop_id"])
        folded = " ".join(name_or_id.split()).casefold()
        found = sorted(stops.loc[stops["stop_name"].map(lambda n: " ".join(n.split()).casefold()) == folded,
                                 "stop_id"])
        if not found:
            few = ", ".join(sorted(set(stops["stop_name"]))[:8])
            raise SettingsError(f"no stop is named or numbered {name_or_id!r} in the feed "
                                f"(stops.txt lists them: {few}, ...)")
        return found

    def journeys(self, origins: list[str], targets: list[str], when: datetime,
                 max_transfers: int = 3) -> list[PlannedJourney]:
        """The journeys from any of the stops ``origins`` to any of ``targets`` leaving at or after ``when``
        (time-zone aware, or the feed's local time), the earliest arrival first."""
        pn = self._pn
        when = when.replace(tzinfo=self.zone) if when.tzinfo is None else when
        q = pn.Query()
        q.start_time = int(when.timestamp()) // 60
        q.start = [pn.Offset(self.location[s], 0, 0) for s in origins if s in self.location]
        q.destination = [pn.Offset(self.location[s], 0, 0) for s in targets if s in self.location]
        q.max_transfers = max_transfers
        with quiet_streams():
            found = pn.route(self.tt, q)
        out = []
        for j in found:
            legs = []
            for leg in j.legs:
                a, b = self.stop_of.get(int(getattr(leg, "from")), "?"), self.stop_of.get(int(leg.to), "?")
                legs.append(PlannedLeg(a, self.names.get(a, a), b, self.names.get(b, b),
                                       datetime.fromtimestamp(leg.dep_time * 60, self.zone),
                                       datetime.fromtimestamp(leg.arr_time * 60, self.zone),
                                       walk=self.trip_from(a, b) is None))
            if legs:
                out.append(PlannedJourney(tuple(legs)))
        return sorted(out, key=lambda j: (j.arrive, j.vehicles, j.depart))


def plan(feed: str | Path, origin: str, destination: str, at: datetime | None = None) -> list[PlannedJourney]:
    """The journeys from ``origin`` to ``destination`` (stop ids, station ids or stop names) leaving at or
    after ``at`` (time-zone aware, or the feed's local time; default: now), the earliest arrival first."""
    zone = feed_zone(feed)
    when = at or datetime.now(zone)
    when = when.replace(tzinfo=zone) if when.tzinfo is None else when
    planner = Planner(feed, when.astimezone(zone).date())
    return planner.journeys(planner.stops_named(origin), planner.stops_named(destination), when)

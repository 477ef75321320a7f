"""Journeys planned on a built feed, as a rider's trip planner would plan them.

The router is nigiri, the routing core of MOTIS (``pynigiri``; ``transitmap.plan.Planner`` loads a feed into
it as any consumer does: the day's trips from ``calendar.txt``, every trip of ``frequencies.txt`` expanded into
departures, the stops of a station linked on foot). What is ours here is only the reading of its journeys:
each leg ridden is given the feed's trip that runs from its first stop to its last (``Planner.trip_from``; a leg
no trip runs is on foot, a change, not a leg).

The rides' own times, to compare the planned in-vehicle times with, come from the recordings: the time a ride
took between its points nearest the two stops (``observed_times``).
"""

from __future__ import annotations

import zipfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from transitmap.geo import project, utm_epsg
from transitmap.model import time_band
from transitmap.read import list_inputs, read_file


@dataclass(frozen=True)
class Leg:
    trip_id: str  # the feed's trip (the departure's time is in ``depart_s``)
    from_stop: str
    to_stop: str
    depart_s: int  # seconds after midnight of the service day
    arrive_s: int


@dataclass(frozen=True)
class Journey:
    legs: tuple[Leg, ...]

    @property
    def in_vehicle_s(self) -> int:
        return sum(leg.arrive_s - leg.depart_s for leg in self.legs)

    @property
    def arrive_s(self) -> int:
        return self.legs[-1].arrive_s

    @property
    def depart_s(self) -> int:
        return self.legs[0].depart_s


class Planner:
    """The feed's trips of one service day, as nigiri plans on them."""

    def __init__(self, feed_zip: Path, day: date):
        from transitmap.plan import Planner as Nigiri

        self.day = day
        self.nigiri = Nigiri(feed_zip, day)
        self.named = defaultdict(list)  # stop name: ids of its stops (not stations)
        for stop_id, name in zip(self.nigiri.stops.stop_id, self.nigiri.stops.stop_name):
            self.named[name].append(stop_id)

    def plan(self, from_stops: str | list[str], to_stops: str | list[str], depart_s: int,
             rounds: int = 3) -> Journey | None:
        """The earliest arrival at any of ``to_stops`` leaving any of ``from_stops`` at ``depart_s`` (seconds after
        midnight), with up to ``rounds`` vehicles; None when no journey exists that day."""
        origins = [from_stops] if isinstance(from_stops, str) else list(from_stops)
        targets = [to_stops] if isinstance(to_stops, str) else list(to_stops)
        when = datetime.combine(self.day, datetime.min.time()) + timedelta(seconds=depart_s)
        found = [j for j in self.nigiri.journeys(origins, targets, when, max_transfers=rounds - 1)
                 if j.depart.date() == self.day]
        if not found:
            return None
        midnight = datetime.combine(self.day, datetime.min.time(), self.nigiri.zone)
        seconds = lambda t: int((t - midnight).total_seconds())  # noqa: E731
        return Journey(tuple(Leg(self.nigiri.trip_from(g.from_stop, g.to_stop), g.from_stop, g.to_stop,
                                 seconds(g.depart), seconds(g.arrive)) for g in found[0].legs if not g.walk))


def observed_times(traces_dir: Path, feed_zip: Path, pairs: list[tuple[str, str]],
                   radius_m: float = 75.0) -> dict[tuple[str, str], list[tuple[str, float]]]:
    """For each pair of stops, the (time band, seconds) of every recorded ride that passed within ``radius_m``
    of the first stop and later of the second: from its last point near the first (it leaves; a wait at the
    rank is not riding) to its first point near the second (it arrives). The band is that of leaving."""
    with zipfile.ZipFile(feed_zip) as z, z.open("stops.txt") as f:
        stops = pd.read_csv(f, dtype=str).set_index("stop_id")
    with zipfile.ZipFile(feed_zip) as z, z.open("agency.txt") as f:
        zone = ZoneInfo(pd.read_csv(f, dtype=str)["agency_timezone"].iloc[0])
    lat, lon = stops["stop_lat"].astype(float), stops["stop_lon"].astype(float)
    epsg = utm_epsg(float(lat.mean()), float(lon.mean()))
    sx, sy = project(lat.to_numpy(), lon.to_numpy(), epsg)
    where = {s: (x, y) for s, x, y in zip(stops.index, sx, sy)}
    out: dict[tuple[str, str], list[tuple[str, float]]] = {p: [] for p in pairs}
    files, _ = list_inputs([traces_dir])
    seen = set()  # the same ride uploaded twice counts once
    for f in files:
        for result in read_file(f):
            trace = result.trace
            if trace is None or trace.timing != "recorded" or trace.n_points < 2 or trace.points_digest() in seen:
                continue
            seen.add(trace.points_digest())
            x, y = project(trace.lat, trace.lon, epsg)
            for a, b in pairs:
                near_a = np.flatnonzero(np.hypot(x - where[a][0], y - where[a][1]) <= radius_m)
                near_b = np.flatnonzero(np.hypot(x - where[b][0], y - where[b][1]) <= radius_m)
                if not len(near_a) or not len(near_b) or near_b[-1] <= near_a[0]:
                    continue
                ib = int(near_b[near_b > near_a[0]][0])  # arrives at b
                ia = int(near_a[near_a < ib][-1])  # last seen at a before: leaves a
                local = datetime.fromtimestamp(trace.t_s[ia], zone)
                band = time_band(local.hour * 3600 + local.minute * 60 + local.second)
                out[(a, b)].append((band, float(trace.t_s[ib] - trace.t_s[ia])))
    return out

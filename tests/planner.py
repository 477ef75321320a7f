"""Journeys planned on a built feed, as a rider's trip planner would plan them.

The router is RAPTOR as PyPI's ``pyraptor`` implements it (its round-based earliest-arrival search, with
transfers between the stops of one station). What is ours is only the loading, as a consumer of the feed does
it: gtfs-kit says which trips run on the day (``calendar.txt`` and ``calendar_dates.txt``), and every trip in
``frequencies.txt`` is expanded into departures every ``headway_secs`` from ``start_time`` until before
``end_time``, as OpenTripPlanner expands ``exact_times=0``. pyraptor's own GTFS reader is not used: it reads
only ``calendar_dates.txt`` and stops that have a parent station (the Dutch railways' feed it was written for).

pyraptor pins ``pandas<2`` for that reader alone, so it is installed with ``pip install --no-deps`` (the
README's test command); its algorithm needs only attrs, joblib, loguru and numpy, which ``.[test]`` installs.

The rides' own times, to compare the planned in-vehicle times with, come from the recordings: the time a ride
took between its points nearest the two stops (``observed_times``).
"""

from __future__ import annotations

import zipfile
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import gtfs_kit
import numpy as np
import pandas as pd

from transitmap.geo import project, utm_epsg
from transitmap.model import time_band
from transitmap.read import list_inputs, read_file

try:  # the router; tests skip without it
    from loguru import logger
    from pyraptor.model import structures as rs
    from pyraptor.model.raptor import RaptorAlgorithm, reconstruct_journey
    from pyraptor.util import LARGE_NUMBER, TRANSFER_COST

    logger.disable("pyraptor")
except ImportError:  # pragma: no cover - the README's test command installs it
    rs = None


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


def _seconds(hms: str) -> int:
    h, m, s = (int(x) for x in hms.split(":"))
    return h * 3600 + m * 60 + s


class Planner:
    """The feed's trips of one service day, loaded into pyraptor's timetable."""

    def __init__(self, feed_zip: Path, day: date):
        """The trips of ``feed_zip`` that run on ``day``; stops of one ``parent_station`` are one station, between
        whose stops pyraptor changes vehicles in two minutes."""
        feed = gtfs_kit.read_feed(feed_zip, dist_units="m")
        running = set(feed.get_trips(date=day.strftime("%Y%m%d"))["trip_id"])
        stops = feed.stops.set_index("stop_id")
        parent = stops["parent_station"] if "parent_station" in stops else pd.Series(np.nan, index=stops.index)
        self.stations, self.stops = rs.Stations(), rs.Stops()
        for stop_id, row in stops.iterrows():
            if row.get("location_type", 0) == 1:
                continue
            station = self.stations.add(rs.Station(parent[stop_id] if isinstance(parent[stop_id], str) else stop_id))
            stop = self.stops.add(rs.Stop(stop_id, row["stop_name"], station, None))
            station.add_stop(stop)
        frequencies = defaultdict(list)
        if feed.frequencies is not None:
            for f in feed.frequencies.itertuples():
                frequencies[f.trip_id].append((_seconds(f.start_time), _seconds(f.end_time), int(f.headway_secs)))
        self.trips, self.trip_stop_times, self.routes = rs.Trips(), rs.TripStopTimes(), rs.Routes()
        self.trip_names: dict[int, str] = {}
        st = feed.stop_times[feed.stop_times["trip_id"].isin(running)].sort_values(["trip_id", "stop_sequence"])
        for trip_id, rows in st.groupby("trip_id", sort=True):
            arrive = np.array([_seconds(t) for t in rows["arrival_time"]])
            depart = np.array([_seconds(t) for t in rows["departure_time"]])
            if trip_id in frequencies:
                starts = [s for lo, hi, h in sorted(frequencies[trip_id]) for s in range(lo, hi, h)]
                shifts = [s - depart[0] for s in starts]
            else:
                shifts = [0]
            for shift in shifts:
                trip = rs.Trip()
                for k, stop_id in enumerate(rows["stop_id"]):
                    trip.add_stop_time(rs.TripStopTime(trip, k, self.stops.get(stop_id),
                                                       int(arrive[k] + shift), int(depart[k] + shift)))
                self.trips.add(trip)
                if trip.id is not None:
                    for tst in trip.stop_times:
                        self.trip_stop_times.add(tst)
                    self.routes.add(trip)
                    self.trip_names[trip.id] = trip_id
        self.named = defaultdict(list)  # stop name: ids of its stops (not stations)
        for stop in self.stops:
            self.named[stop.name].append(stop.id)
        self.transfers = rs.Transfers()
        for station in self.stations:
            for a in station.stops:
                for b in station.stops:
                    if a != b:
                        self.transfers.add(rs.Transfer(from_stop=a, to_stop=b, layovertime=TRANSFER_COST))
        self.timetable = rs.Timetable(stations=self.stations, stops=self.stops, trips=self.trips,
                                      trip_stop_times=self.trip_stop_times, routes=self.routes,
                                      transfers=self.transfers)

    def plan(self, from_stops: str | list[str], to_stops: str | list[str], depart_s: int,
             rounds: int = 3) -> Journey | None:
        """The earliest arrival at any of ``to_stops`` leaving any of ``from_stops`` at ``depart_s`` (seconds after
        midnight), with up to ``rounds`` vehicles; None when no journey exists."""
        origins = [self.stops.get(s) for s in ([from_stops] if isinstance(from_stops, str) else from_stops)]
        targets = [self.stops.get(s) for s in ([to_stops] if isinstance(to_stops, str) else to_stops)]
        best = RaptorAlgorithm(self.timetable).run(origins, depart_s, rounds)[rounds]
        target = min(targets, key=lambda s: (best[s].earliest_arrival_time, s.id))
        if best[target].earliest_arrival_time >= LARGE_NUMBER:
            return None
        legs: list[tuple] = []  # [trip, from, to]: pyraptor labels every stop a trip passes; one leg per trip
        for leg in reconstruct_journey(target, best):
            if leg.trip is None:
                continue
            if legs and legs[-1][0] == leg.trip:
                legs[-1][2] = leg.to_stop
            else:
                legs.append([leg.trip, leg.from_stop, leg.to_stop])
        return Journey(tuple(Leg(self.trip_names[trip.id], a.id, b.id, trip.get_stop(a).dts_dep,
                                 trip.get_stop(b).dts_arr) for trip, a, b in legs)) if legs else None


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

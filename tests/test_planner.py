"""Journeys a rider's trip planner plans on the sample survey's feed, in both export profiles.

nigiri, the routing core of MOTIS (see ``planner.py``), plans between the stops of the sample survey at 08:00
and 17:30 on a weekday and on a Saturday. Wherever the declared service runs (05:00-21:00, every day), a journey exists,
leaves within the band's headway, and its in-vehicle time is within 20 % of the median time the recorded rides
took over the same stretch in the same band (over all bands where no ride was recorded in that band: the sample
was ridden mostly at midday, on weekdays).
"""

from __future__ import annotations

import statistics
import zipfile
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from transitmap.config import BuildConfig
from transitmap.model import time_band
from transitmap.pipeline import build_network

pytest.importorskip("pynigiri", reason="the router: pip install 'transitmap[plan]' (Python 3.11)")
from planner import Planner, observed_times  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent / "sample_traces"
WEDNESDAY, SATURDAY = date(2026, 3, 4), date(2026, 3, 7)
AT = {"08:00": 8 * 3600, "17:30": 17 * 3600 + 1800}


def _feed(tmp_path_factory, profile: str) -> Path:
    path = tmp_path_factory.mktemp(profile) / "gtfs.zip"
    path.write_bytes(build_network([SAMPLE], BuildConfig(profile=profile)).feed)
    return path


@pytest.fixture(scope="module")
def frequencies_feed(tmp_path_factory) -> Path:
    return _feed(tmp_path_factory, "frequencies")


@pytest.fixture(scope="module", params=["frequencies", "timetable"])
def feed(request, tmp_path_factory, frequencies_feed) -> Path:
    return frequencies_feed if request.param == "frequencies" else _feed(tmp_path_factory, request.param)


def _table(feed: Path, name: str) -> pd.DataFrame:
    with zipfile.ZipFile(feed) as z:
        return pd.read_csv(z.open(name), dtype={"stop_id": str, "trip_id": str})


@pytest.fixture(scope="module")
def patterns(feed) -> dict[str, tuple[str, str]]:
    """Each pattern's (first stop, last stop), from its first trip."""
    st = _table(feed, "stop_times.txt").sort_values(["trip_id", "stop_sequence"])
    st["pattern"] = st.trip_id.str.extract(r"^(R\d+_\d)")[0]  # R001_0, R001_0_0800 ... (timetable)
    first = st[st.trip_id == st.groupby("pattern").trip_id.transform("min")]
    return {p: (g.stop_id.iloc[0], g.stop_id.iloc[-1]) for p, g in first.groupby("pattern")}


@pytest.fixture(scope="module")
def observed(feed, patterns) -> dict[tuple[str, str], list[tuple[str, float]]]:
    return observed_times(SAMPLE, feed, sorted(set(patterns.values())))


def _median_ride_s(rides: list[tuple[str, float]], band: str) -> float:
    in_band = [s for b, s in rides if b == band]
    return statistics.median(in_band or [s for _, s in rides])


@pytest.mark.parametrize("day", [WEDNESDAY, SATURDAY], ids=["wednesday", "saturday"])
@pytest.mark.parametrize("at", sorted(AT))
def test_every_route_takes_riders_end_to_end_within_20_percent_of_the_rides_time(feed, patterns, observed, day, at):
    planner = Planner(feed, day)
    headway_s = 30 * 60  # at most, in any band of the sample (the frequencies profile says exactly)
    for pattern, (origin, destination) in sorted(patterns.items()):
        journey = planner.plan(origin, destination, AT[at])
        assert journey is not None, f"no journey on {pattern} at {at} on {day:%A}"
        assert len(journey.legs) == 1 and journey.legs[0].trip_id.startswith(pattern)
        assert 0 <= journey.depart_s - AT[at] <= headway_s
        rides = observed[(origin, destination)]
        assert len(rides) >= 2, f"the sample has rides over {pattern}'s stretch"
        expected_s = _median_ride_s(rides, time_band(AT[at]))
        # nigiri plans in whole minutes: a departure and an arrival each a minute apart at most
        assert abs(journey.in_vehicle_s - expected_s) <= 0.2 * expected_s + 60, (pattern, at, journey, sorted(rides))


def test_a_journey_leaves_within_the_bands_headway(frequencies_feed):
    feed = frequencies_feed
    freq = _table(feed, "frequencies.txt")
    planner = Planner(feed, WEDNESDAY)
    for trip_id, rows in freq.groupby("trip_id"):
        stops = _table(feed, "stop_times.txt").query("trip_id == @trip_id").sort_values("stop_sequence").stop_id
        for at_s in AT.values():
            band = rows[(rows.start_time <= f"{at_s // 3600:02d}:00:00")
                        & (rows.end_time > f"{at_s // 3600:02d}:00:00")]
            journey = planner.plan(stops.iloc[0], stops.iloc[-1], at_s)
            assert journey.depart_s - at_s <= int(band.headway_secs.iloc[0]), (trip_id, at_s)


def test_a_change_at_the_rank_takes_riders_across_town_and_no_taxi_runs_after_the_declared_hours(feed):
    """Randburg to Diepkloof: the Randburg taxi to Bree Rank, then the Diepkloof taxi, which boards at another
    stop of the rank's station."""
    for day in (WEDNESDAY, SATURDAY):
        planner = Planner(feed, day)
        randburg, diepkloof = planner.named["Randburg"], planner.named["Diepkloof"]
        for at_s in AT.values():
            journey = planner.plan(randburg, diepkloof, at_s)
            assert journey is not None and [leg.trip_id[:4] for leg in journey.legs] in (["R004", "R002"],
                                                                                       ["R004", "R001"])
            first, then = journey.legs
            assert first.to_stop != then.from_stop and then.depart_s - first.arrive_s >= 120  # a change of stop
            assert {first.to_stop, then.from_stop} <= set(planner.named["Bree Rank"])
        assert planner.plan(randburg, diepkloof, 21 * 3600 + 1800) is None  # service declared until 21:00
        assert planner.plan(randburg, planner.named["Bree Rank"], 4 * 3600) is not None  # the first at 05:00

"""``transitmap plan``: journeys in a built feed as nigiri (the routing core of MOTIS) plans them, in both
export profiles: frequencies expanded into departures, a change between the stops of a station on foot, no
journey outside the declared service hours."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from transitmap.cli import main
from transitmap.config import BuildConfig
from transitmap.pipeline import build_network

pytest.importorskip("pynigiri", reason="the planner: pip install 'transitmap[plan]' (Python 3.11)")
from transitmap.plan import plan  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent / "sample_traces"
WEDNESDAY_8 = datetime(2026, 3, 4, 8, 0)


@pytest.fixture(scope="module", params=["frequencies", "timetable"])
def feed(request, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp(request.param) / "gtfs.zip"
    path.write_bytes(build_network([SAMPLE], BuildConfig(profile=request.param)).feed)
    return path


def _table(feed: Path, name: str) -> pd.DataFrame:
    with zipfile.ZipFile(feed) as z:
        return pd.read_csv(z.open(name), dtype=str)


def test_a_change_at_the_rank_takes_riders_across_town_within_the_declared_hours(feed):
    [journey, *_] = plan(feed, "Randburg", "Diepkloof", WEDNESDAY_8)
    rides = [leg for leg in journey.legs if not leg.walk]
    assert journey.vehicles == 2 and [r.from_name for r in rides] == ["Randburg", "Bree Rank"]
    assert rides[0].to_name == "Bree Rank" and rides[-1].to_name == "Diepkloof"
    walk = [leg for leg in journey.legs if leg.walk]
    assert walk and walk[0].from_stop != walk[0].to_stop  # another stop of the rank's station, on foot
    assert (journey.depart - WEDNESDAY_8.astimezone(journey.depart.tzinfo)).total_seconds() <= 30 * 60
    late = plan(feed, "Randburg", "Diepkloof", datetime(2026, 3, 4, 21, 30))
    assert late and late[0].depart.day == 5 and late[0].depart.hour == 5  # none after 21:00: the first at 05:00


def test_every_pattern_takes_riders_end_to_end_in_one_vehicle_in_the_feeds_time(feed):
    st = _table(feed, "stop_times.txt")
    st["seq"] = st.stop_sequence.astype(int)
    st = st.sort_values(["trip_id", "seq"])
    st["pattern"] = st.trip_id.str.extract(r"^(R\d+_\d)")[0]
    first = st[st.trip_id == st.groupby("pattern").trip_id.transform("min")]
    for pattern, g in first.groupby("pattern"):
        seconds = pd.to_timedelta(g.arrival_time).dt.total_seconds()
        journeys = plan(feed, g.stop_id.iloc[0], g.stop_id.iloc[-1], WEDNESDAY_8)
        assert journeys, pattern
        direct = [j for j in journeys if j.vehicles == 1]
        assert direct, (pattern, journeys)
        took = (direct[0].arrive - direct[0].depart).total_seconds()
        assert abs(took - (seconds.iloc[-1] - seconds.iloc[0])) <= 60, pattern  # nigiri counts in minutes


def test_plan_on_the_command_line(feed):
    runner = CliRunner()
    ok = runner.invoke(main, ["plan", str(feed), "Randburg", "Diepkloof", "--at", "2026-03-04 08:00"])
    assert ok.exit_code == 0 and "1 change" in ok.output and "walk from Bree Rank" in ok.output, ok.output
    js = runner.invoke(main, ["plan", str(feed), "S0009", "Bree Rank", "--at", "2026-03-04 08:00", "--format", "json"])
    journeys = json.loads(js.output)["journeys"]
    assert js.exit_code == 0 and journeys[0]["vehicles"] == 1 and journeys[0]["legs"][0]["from_stop"] == "S0009"
    unknown = runner.invoke(main, ["plan", str(feed), "Randburg", "Nowhere"])
    assert unknown.exit_code == 2 and "no stop is named or numbered 'Nowhere'" in unknown.output


ACCURACY_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "nairobi-2019-gtfs.zip"


@pytest.fixture(scope="module")
def accuracy_survey(tmp_path_factory) -> Path:
    """The accuracy benchmark's hostile survey of 6 of Nairobi's routes, ridden by simulated collectors."""
    if not ACCURACY_DATA.exists():
        pytest.skip("needs ../shared/data (the Nairobi 2019 network)")
    import sys

    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import accuracy

    network, epsg = accuracy.load_network(ACCURACY_DATA, 6)
    network = accuracy.hostile_network(network, epsg, np.random.default_rng(1001))
    folder = tmp_path_factory.mktemp("accuracy") / "survey"
    accuracy.simulate(network, 1, folder, hostile=True)
    return folder


@pytest.mark.parametrize("profile", ["frequencies", "timetable"])
def test_every_pattern_of_the_hostile_accuracy_survey_is_planned_end_to_end(accuracy_survey, tmp_path, profile):
    """A rider's planner takes every pattern of the accuracy survey's feed end to end, in one vehicle, in the
    time of one of the pattern's trips (a band whose rides take longer has a trip of its own times)."""
    feed = tmp_path / "gtfs.zip"
    feed.write_bytes(build_network([accuracy_survey], BuildConfig(currency="SLE", profile=profile)).feed)
    st = _table(feed, "stop_times.txt")
    st["seq"] = st.stop_sequence.astype(int)
    st["s"] = pd.to_timedelta(st.arrival_time).dt.total_seconds()
    st = st.sort_values(["trip_id", "seq"])
    trips = st.groupby("trip_id").agg(first=("stop_id", "first"), last=("stop_id", "last"),
                                      took=("s", lambda s: s.iloc[-1] - s.iloc[0]))
    calendar = _table(feed, "calendar.txt").iloc[0]
    day = datetime.strptime(calendar.start_date, "%Y%m%d").replace(hour=8)
    ends = trips.groupby(["first", "last"]).took.apply(set)
    assert len(ends) >= 6
    for (a, b), times in ends.items():
        direct = [j for j in plan(feed, a, b, day) if j.vehicles == 1]
        assert direct, (a, b)
        took = (direct[0].arrive - direct[0].depart).total_seconds()
        assert min(abs(took - t) for t in times) <= 60, (a, b, took, sorted(times))

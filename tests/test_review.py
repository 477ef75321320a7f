"""Corrections made by hand: each kind applied by the build, made by command and by editing the workspace's
layers as QGIS writes them, stale ones reported, and every rebuild keeping them."""

from __future__ import annotations

import io
import sqlite3
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest
from builders import ride, write_json
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from transitmap import workspace as ws
from transitmap.cli import main
from transitmap.gtfs import validator_summary
from transitmap.model import gtfs_time
from transitmap.pipeline import build_network
from transitmap.review import Correction, check

SAMPLE = Path(__file__).resolve().parent.parent / "sample_traces"
DAY1 = datetime(2026, 3, 2, 18, 0, tzinfo=timezone.utc)


def run(*args) -> tuple[int, str]:
    res = CliRunner().invoke(main, [str(a) for a in args])
    return res.exit_code, res.output


def tables(feed: bytes) -> dict[str, pd.DataFrame]:
    with zipfile.ZipFile(io.BytesIO(feed)) as z:
        return {n.removesuffix(".txt"): pd.read_csv(z.open(n), dtype=str, keep_default_na=False) for n in z.namelist()}


def ledger(result) -> pd.DataFrame:
    return pd.DataFrame(result.ledger_rows).set_index("trace_id")


def codes(result, code: str) -> list[dict]:
    """The notices of a code in the build's report."""
    return [n for g in result.to_report("x")["notices"] if g["code"] == code for n in g["sample_notices"]]


@pytest.fixture(scope="module")
def base():
    return build_network([SAMPLE])


def rebuild(base, *corrections: Correction):
    """A build of the sample after ``base``, as a workspace's next build runs: with its feed and ledger."""
    cs = [c if c.correction_id else Correction(**{**c.__dict__, "correction_id": k + 1})
          for k, c in enumerate(corrections)]
    used = ledger(base)
    used = used[used.status == "used"]
    return build_network([SAMPLE], corrections=cs, previous=base.feed, previous_routes=dict(used.route_id))


def test_without_corrections_a_build_is_byte_for_byte_what_it_was(base):
    again = rebuild(base)
    assert again.feed == base.feed and again.ledger_rows == base.ledger_rows
    assert again.headway_rows == base.headway_rows and again.review is None
    assert "review" not in again.to_report("x")


def test_route_corrections_set_names_type_operator_fare_hours_and_headways(base):
    r = rebuild(base, Correction("route", "R004", "set", "short_name", "45K"),
                Correction("route", "R004", "set", "long_name", "Randburg - Bree Rank"),
                Correction("route", "R003", "set", "route_type", "11"),
                Correction("route", "R003", "set", "operator", "Noord Minibus Co-op"),
                Correction("route", "R004", "set", "fare", "18.5"),
                Correction("route", "R001", "set", "service_hours", "06:00-19:30"),
                Correction("route", "R002", "set", "headway_am_peak", "6"),
                Correction("route", "R001", "set", "mode", "bus"))
    t = tables(r.feed)
    routes = t["routes"].set_index("route_id")
    assert routes.at["R004", "route_short_name"] == "45K" and routes.at["R004",
                                                                        "route_long_name"] == "Randburg - Bree Rank"
    assert routes.at["R003", "route_type"] == "11"
    agency = t["agency"].set_index("agency_id").agency_name
    assert agency[routes.at["R003", "agency_id"]] == "Noord Minibus Co-op"
    assert t["fare_attributes"].set_index("fare_id").at["R004", "price"] == "18.50"
    f = t["frequencies"]
    r001 = f[f.trip_id.str.startswith("R001")]
    assert r001.start_time.min() == "06:00:00" and r001.end_time.max() == "19:30:00"
    hw = pd.DataFrame(r.headway_rows)
    for trip, rows in hw[hw.route_id == "R001"].groupby("trip_id"):  # headways.csv says what the feed runs
        runs = r001[r001.trip_id == trip]
        assert [gtfs_time(t) for t in rows.sort_values("start_time").start_time] == sorted(runs.start_time)
        assert [gtfs_time(t) for t in rows.sort_values("start_time").end_time] == sorted(runs.end_time)
    longer = rebuild(base, Correction("route", "R001", "set", "service_hours", "04:30-22:15"))
    f2 = tables(longer.feed)["frequencies"]
    assert f2[f2.trip_id.str.startswith("R001")].start_time.min() == "04:30:00"
    hw2 = pd.DataFrame(longer.headway_rows)
    assert hw2[hw2.route_id == "R001"].start_time.min() == 4.5 * 3600
    assert hw2[hw2.route_id == "R001"].end_time.max() == 22.25 * 3600
    am = f[f.trip_id.str.startswith("R002") & (f.start_time == "06:00:00")]
    assert set(am.headway_secs) == {"360"}
    hw = pd.DataFrame(r.headway_rows)
    assert set(hw[(hw.route_id == "R002") & (hw.start_time == 6 * 3600)].provenance) == {"corrected"}
    assert routes.at["R001", "route_type"] == "3" and routes.at["R001", "continuous_pickup"] == ""  # a bus: at stops
    assert routes.at["R004", "continuous_pickup"] == "0"  # a minibus taxi: anywhere on request
    assert r.review["applied"] == 8 and r.review["stale"] == 0


def test_a_dropped_route_leaves_the_feed_and_its_rides_are_quarantined_with_the_reason(base):
    r = rebuild(base, Correction("route", "R003", "drop", reason="not a taxi route"))
    assert "R003" not in set(tables(r.feed)["routes"].route_id)
    led, before = ledger(r), ledger(base)
    was = before[before.route_id == "R003"].index
    assert len(was) >= 4 and set(led.loc[was, "status"]) == {"quarantined"}
    assert all("route_dropped" in c for c in led.loc[was, "codes"])
    assert r.review["rides_of_dropped_routes"] == len(was)


def test_merging_a_route_makes_its_patterns_branches_of_the_other(base):
    r = rebuild(base, Correction("route", "R002", "merge", value="R001"))
    t = tables(r.feed)
    assert "R002" not in set(t["routes"].route_id)
    assert sorted(t["trips"][t["trips"].route_id == "R001"].trip_id) == ["R001_0", "R001_0_2", "R001_1", "R001_1_2"]
    led, before = ledger(r), ledger(base)
    moved = before[before.route_id == "R002"].index
    assert set(led.loc[moved, "route_id"]) == {"R001"} and set(led.loc[moved, "trip_id"]) <= {"R001_0_2", "R001_1_2"}
    assert set(pd.DataFrame(r.headway_rows).route_id) == {"R001", "R003", "R004"}


def test_pattern_and_stop_corrections(base):
    before = tables(base.feed)
    st = before["stop_times"]
    r004 = st[st.trip_id == "R004_0"].sort_values("stop_sequence", key=lambda s: s.astype(int)).stop_id.tolist()
    middle, last = r004[2], r004[-1]
    bree = before["stops"]
    other_bree = bree[(bree.stop_name == "Bree Rank") & (bree.location_type == "0")
                      & (bree.stop_id != last)].stop_id.iloc[0]
    r = rebuild(base, Correction("pattern", "R004_0", "set", "headsign", "Town"),
                Correction("stop", r004[1], "set", "name", "Blairgowrie Spar"),
                Correction("stop", r004[1], "move", value="-26.1170,28.0020"),
                Correction("stop", middle, "drop"),
                Correction("stop", last, "merge", value=other_bree))
    t = tables(r.feed)
    assert t["trips"].set_index("trip_id").at["R004_0", "trip_headsign"] == "Town"
    stops = t["stops"].set_index("stop_id")
    assert stops.at[r004[1], "stop_name"] == "Blairgowrie Spar"
    assert (float(stops.at[r004[1], "stop_lat"]), float(stops.at[r004[1], "stop_lon"])) == (-26.117, 28.002)
    after = t["stop_times"][t["stop_times"].trip_id == "R004_0"].sort_values(
        "stop_sequence", key=lambda s: s.astype(int)).stop_id.tolist()
    assert after == [r004[0], r004[1], *r004[3:-1], other_bree]
    assert middle not in set(t["stop_times"].stop_id) and middle not in stops.index and last not in stops.index
    assert r.review["applied"] == 5


def test_a_fare_between_two_stops(base):
    st = tables(base.feed)["stop_times"]
    trip = st[st.trip_id == "R004_0"].sort_values("stop_sequence", key=lambda s: s.astype(int))
    a, b = trip.stop_id.iloc[0], trip.stop_id.iloc[2]
    r = rebuild(base, Correction("fare", f"{a}>{b}", "set", "price", "9"))
    t = tables(r.feed)
    rules = t["fare_rules"].merge(t["fare_attributes"], on="fare_id")
    hit = rules[(rules.origin_id == a) & (rules.destination_id == b) & (rules.route_id == "R004")]
    assert list(hit.price) == ["9.00"]
    back = rebuild(base, Correction("fare", f"{b}>{a}", "set", "price", "9"))  # no trip runs from b to a
    assert [n["target"] for n in codes(back, "correction_stale")] == [f"{b}>{a}"]


def test_rides_excluded_and_assigned_by_hand(base):
    r = rebuild(base, Correction("ride", "le-05-BB-3", "exclude", reason="wrong taxi"),
                Correction("ride", "am-05-BD-2", "assign", value="R004"),
                Correction("ride", "le-06-NA-3", "assign", value="new:express"))
    led, before = ledger(r), ledger(base)
    assert led.at["le-05-BB-3", "status"] == "quarantined" and "ride_excluded" in led.at["le-05-BB-3", "codes"]
    assert [n["reason"] for n in codes(r, "ride_excluded")] == ["wrong taxi"]
    named = rebuild(base, Correction("ride", "le-05-BB-3", "exclude", reason="Lerato took the wrong taxi"))
    assert [n["reason"] for n in codes(named, "ride_excluded")] == ["(a collector) took the wrong taxi"]
    assert led.at["am-05-BD-2", "route_id"] == "R004" and "ride_assigned" in led.at["am-05-BD-2", "codes"]
    # the rides of both routes stay where they were: only the one ride moved
    for route in ("R002", "R004"):
        kept = before[(before.route_id == route) & (before.index != "am-05-BD-2")].index
        assert set(led.loc[kept, "route_id"]) == {route}
    new = led.at["le-06-NA-3", "route_id"]
    assert new not in set(before.route_id) and (led.route_id == new).sum() == 1
    assert r.review["rides_assigned"] == 2 and r.review["rides_excluded"] == 1


def test_corrections_whose_target_is_gone_are_stale_with_the_reason(base):
    r = rebuild(base, Correction("route", "R099", "set", "short_name", "9"),
                Correction("route", "R001", "merge", value="R099"),
                Correction("stop", "S9999", "set", "name", "x"),
                Correction("pattern", "R001_7", "set", "headsign", "x"),
                Correction("ride", "no-such-ride", "exclude", reason="x"),
                Correction("ride", "am-05-BD-2", "assign", value="R099"),
                Correction("fare", "S9998>S9999", "set", "price", "3"))
    stale = codes(r, "correction_stale")
    assert sorted(n["target"] for n in stale) == sorted(["R099", "R001", "S9999", "R001_7", "no-such-ride",
                                                         "am-05-BD-2", "S9998>S9999"])
    assert all(n["severity"] == "WARNING" and n["reason"] for n in stale)
    assert r.review == {**r.review, "stale": 7, "applied": 0}
    assert r.feed == base.feed  # nothing applied: the feed is as it was


def test_the_same_corrections_in_any_order_give_the_same_feed(base):
    made = [Correction("route", "R004", "set", "short_name", "45K"), Correction("route", "R002", "merge", value="R001"),
            Correction("stop", "S0009", "set", "name", "Crown Mines Bridge"),
            Correction("ride", "le-05-BB-3", "exclude", reason="wrong taxi"),
            Correction("ride", "am-05-NAr-2", "assign", value="R003"),
            Correction("route", "R003", "set", "headway_midday", "4")]
    made = [Correction(**{**c.__dict__, "correction_id": k + 1}) for k, c in enumerate(made)]
    first = rebuild(base, *made)

    @settings(max_examples=4, deadline=None, derandomize=True)
    @given(st.permutations(made))
    def same(order):
        again = rebuild(base, *order)
        assert again.feed == first.feed and again.ledger_rows == first.ledger_rows

    same()


def test_a_correction_written_into_the_table_by_hand_that_means_nothing_is_stale_not_a_crash(base):
    r = rebuild(base, Correction("vehicle", "R001", "paint"), Correction("route", "R001", "set", "colour", "red"))
    assert sorted(n["reason"][:17] for n in codes(r, "correction_stale")) == ["not a correction:"] * 2
    assert r.feed == base.feed


def test_a_correction_set_again_replaces_the_first():
    from transitmap.review import canonical

    a = Correction("route", "R004", "set", "short_name", "45", correction_id=1)
    b = Correction("route", "R004", "set", "short_name", "45K", correction_id=2)
    drop = Correction("route", "R004", "drop", correction_id=3)
    merge = Correction("route", "R004", "merge", value="R001", correction_id=4)
    assert canonical([b, a]) == [b] and canonical([merge, drop, a]) == [a, merge]  # names before merges


@pytest.mark.parametrize("c, says", [
    (Correction("route", "R1", "set", "colour", "red"), "sets one of"),
    (Correction("route", "R1", "set", "route_type", "bus"), "GTFS number"),
    (Correction("route", "R1", "set", "headway_am_peak", "0"), "minutes"),
    (Correction("route", "R1", "set", "service_hours", "5am-9pm"), "is not a span of the day such as 05:00-21:00"),
    (Correction("stop", "S1", "move", value="north"), "lat,lon"),
    (Correction("ride", "t1", "assign"), "names where to"),
    (Correction("fare", "R001", "set", "price", "5"), "pair of stops"),
    (Correction("vehicle", "x", "set"), "kind must be"),
])
def test_a_correction_that_cannot_mean_anything_is_refused(c, says):
    assert says in check(c)


# ------------------------------------------------------------------------------------ in the workspace


@pytest.fixture
def survey(tmp_path) -> Path:
    path = tmp_path / "survey"
    ws.init_workspace(path, name="pilot", timezone_name="Africa/Johannesburg", currency="ZAR", now=DAY1)
    ws.import_inputs(path, [SAMPLE], now=DAY1)
    assert run("build", path, "--out", tmp_path / "out1", "--no-validate", "-q")[0] == 0
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A workspace of the sample, built once for the tests that only record corrections."""
    path = tmp_path_factory.mktemp("built") / "survey"
    ws.init_workspace(path, name="pilot", timezone_name="Africa/Johannesburg", currency="ZAR", now=DAY1)
    ws.import_inputs(path, [SAMPLE], now=DAY1)
    assert run("build", path, "--out", path.parent / "out", "--no-validate", "-q")[0] == 0
    return path


def _feed(out: Path) -> dict[str, pd.DataFrame]:
    return tables((out / "gtfs.zip").read_bytes())


def test_review_commands_record_corrections_that_every_build_applies(survey, tmp_path):
    assert run("review", survey, "set", "route", "R004", "short_name", "45K")[0] == 0
    assert run("review", survey, "set", "route", "R001", "reviewed")[0] == 0
    assert run("review", survey, "merge", "route", "R002", "R001", "--reason", "a short turn")[0] == 0
    assert run("review", survey, "exclude", "na-04-BD-1", "--reason", "test ride")[0] == 0
    assert run("review", survey, "assign", "am-05-BD-2", "--route", "R004")[0] == 0
    assert run("review", survey, "set", "stop", "S0009", "name", "Crown Mines Bridge")[0] == 0
    assert run("review", survey, "drop", "route", "R003")[0] == 0
    code, out = run("review", survey, "set", "route", "R004", "route_type", "bus")
    assert code == 2 and "GTFS number" in out
    code, out = run("review", survey, "undo", "7")
    assert code == 0 and "undone: 7" in out  # the drop of R003
    code, out = run("review", survey, "list", "--format", "json")
    import json

    listed = json.loads(out)
    assert [c["correction_id"] for c in listed["corrections"]] == [1, 2, 3, 4, 5, 6]
    assert {c["outcome"] for c in listed["corrections"]} == {""}  # not built yet
    assert listed["progress"]["not built yet"] == 6
    assert run("build", survey, "--out", tmp_path / "out2", "--no-validate", "-q")[0] == 0
    t = _feed(tmp_path / "out2")
    routes = t["routes"].set_index("route_id")
    assert routes.at["R004", "route_short_name"] == "45K" and "R002" not in routes.index and "R003" in routes.index
    assert t["stops"].set_index("stop_id").at["S0009", "stop_name"] == "Crown Mines Bridge"
    led = pd.read_csv(tmp_path / "out2" / "traces.csv", dtype=str, keep_default_na=False).set_index("trace_id")
    assert led.at["na-04-BD-1", "status"] == "quarantined" and led.at["am-05-BD-2", "route_id"] == "R004"
    rows = {r["correction_id"]: r for r in ws.correction_rows(survey)}
    assert {k: r["outcome"] for k, r in rows.items()} == dict.fromkeys(range(1, 7), "applied")
    code, out = run("status", survey)
    assert "review: 1 of 3 routes reviewed; 6 corrections in force: 6 applied, 0 stale" in out
    # a ride of R001 excluded later: its review no longer holds
    assert run("review", survey, "exclude", "le-05-BB-3", "--reason", "wrong taxi")[0] == 0
    assert run("build", survey, "--out", tmp_path / "out3", "--no-validate", "-q")[0] == 0
    rows = {r["correction_id"]: r for r in ws.correction_rows(survey)}
    assert rows[2]["outcome"] == "changed" and rows[2]["outcome_reason"] == "its rides changed since the review"
    assert "1 changed since (R001)" in run("status", survey)[1]
    report = pd.read_json(tmp_path / "out2" / "report.json", typ="series")
    assert report["review"]["applied"] == 6 and report["review"]["rides_assigned"] == 1
    assert "<h2>Review</h2><p>Corrections made by hand: 6, 6 applied, 0 stale" in (tmp_path / "out2"
                                                                                   / "report.html").read_text()


def test_a_rebuild_keeps_every_correction_and_gives_the_same_feed(survey, tmp_path):
    for args in (("set", "route", "R004", "short_name", "45K"), ("merge", "route", "R002", "R001"),
                 ("exclude", "na-04-BD-1", "--reason", "test ride"), ("set", "stop", "S0012", "position", "--",
                                                                      "-26.1170,28.0020")):
        assert run("review", survey, *args)[0] == 0
    assert run("build", survey, "--out", tmp_path / "out2", "--no-validate", "-q")[0] == 0
    assert run("build", survey, "--out", tmp_path / "out3", "--no-validate", "-q")[0] == 0
    assert (tmp_path / "out2" / "gtfs.zip").read_bytes() == (tmp_path / "out3" / "gtfs.zip").read_bytes()
    assert (tmp_path / "out2" / "traces.csv").read_bytes() == (tmp_path / "out3" / "traces.csv").read_bytes()
    assert {r["outcome"] for r in ws.correction_rows(survey)} == {"applied"}


def test_edits_of_the_layers_as_qgis_writes_them_become_corrections(survey, tmp_path):
    import pyogrio

    layers = dict(map(tuple, pyogrio.list_layers(survey / "survey.gpkg")))
    assert layers["stops"] == "Point" and layers["routes"] == "LineString" and "corrections" in layers
    stops = pyogrio.read_dataframe(survey / "survey.gpkg", layer="stops")
    assert {"stop_id", "name", "review", "merge_into", "station"} <= set(stops.columns) and len(stops) > 20
    routes = pyogrio.read_dataframe(survey / "survey.gpkg", layer="routes")
    assert {"short_name", "long_name", "headsign", "review", "merge_into"} <= set(routes.columns)
    con = sqlite3.connect(survey / "survey.gpkg")
    with con:
        con.execute("UPDATE routes SET short_name = 'N1' WHERE trip_id = 'R003_1'")
        con.execute("UPDATE routes SET review = 'drop' WHERE trip_id = 'R002_0'")
        con.execute("UPDATE routes SET headsign = 'Town' WHERE trip_id = 'R004_0'")
        con.execute("UPDATE routes SET review = 'reviewed' WHERE trip_id = 'R001_0'")
        con.execute("UPDATE stops SET name = 'Hillbrow Corner' WHERE stop_id = 'S0028'")
        # QGIS writes a moved point with its envelope
        con.execute("UPDATE stops SET geom = ? WHERE stop_id = 'S0014'", (_qgis_point(-26.1170, 28.0020),))
        con.execute("UPDATE traces SET review = 'exclude', reason = 'test ride' WHERE trace_id = 'na-04-BD-1'")
        con.execute("UPDATE traces SET assign_to = 'R004' WHERE trace_id = 'am-05-BD-2'")
    con.close()
    code, out = run("review", survey, "list")
    assert code == 0 and "recorded 8 edits made in the layers" in out
    made = {(c.kind, c.target, c.action, c.field, c.value) for c in ws.corrections(survey)}
    assert made == {("route", "R003", "set", "short_name", "N1"), ("route", "R002", "drop", "", ""),
                    ("pattern", "R004_0", "set", "headsign", "Town"), ("route", "R001", "reviewed", "", ""),
                    ("stop", "S0028", "set", "name", "Hillbrow Corner"),
                    ("stop", "S0014", "move", "", "-26.117000,28.002000"),
                    ("ride", "na-04-BD-1", "exclude", "", ""), ("ride", "am-05-BD-2", "assign", "", "R004")}
    assert all(c.source == "layer" for c in ws.corrections(survey))
    assert run("review", survey, "list")[1].count("recorded") == 0  # picked up once
    assert run("build", survey, "--out", tmp_path / "out2", "--no-validate", "-q")[0] == 0
    t = _feed(tmp_path / "out2")
    routes = t["routes"].set_index("route_id")
    assert routes.at["R003", "route_short_name"] == "N1" and "R002" not in routes.index
    assert t["trips"].set_index("trip_id").at["R004_0", "trip_headsign"] == "Town"
    stop = t["stops"].set_index("stop_id").loc["S0014"]
    assert (float(stop.stop_lat), float(stop.stop_lon)) == (-26.117, 28.002)
    # the build wrote the layers again with the corrections: an unchanged layer records nothing more
    assert ws.pick_up_edits(survey, now=DAY1) == ws.LayerEdits()
    con = sqlite3.connect(survey / "survey.gpkg")
    with con:  # emptying a field ends what it made
        con.execute("UPDATE traces SET review = '' WHERE trace_id = 'na-04-BD-1'")
    con.close()
    assert ws.pick_up_edits(survey, now=DAY1) == ws.LayerEdits()
    assert ("ride", "na-04-BD-1") not in {(c.kind, c.target) for c in ws.corrections(survey)}


def _qgis_point(lat: float, lon: float) -> bytes:
    import struct

    import shapely

    header = b"GP" + bytes([0, 0b00000011]) + struct.pack("<i4d", 4326, lon, lon, lat, lat)
    return header + shapely.to_wkb(shapely.points(lon, lat), byte_order=1)


def test_a_correction_goes_stale_when_new_rides_change_its_route(tmp_path):
    """Day 1: two short rides make a route of 2.5 km, named by hand. Day 2: rides of the whole 15 km line
    arrive; the short rides are partial rides of it, and the route they made is no more."""
    survey = tmp_path / "s"
    ws.init_workspace(survey, name="s", timezone_name="Africa/Nairobi", now=DAY1)
    day1 = [ride(trace_id=f"ride-{k}", n=60, t0=datetime(2026, 3, 2, 7 + k, 0, tzinfo=timezone(timedelta(hours=3))))
            for k in range(2)]
    ws.import_inputs(survey, [write_json(tmp_path / "d1" / f"{t['trace_id']}.json", t) for t in day1], now=DAY1)
    assert run("build", survey, "--out", tmp_path / "o1", "--no-validate", "-q")[0] == 0
    assert list(_feed(tmp_path / "o1")["routes"].route_id) == ["R001"]
    assert run("review", survey, "set", "route", "R001", "short_name", "11")[0] == 0
    day2 = [ride(trace_id=f"ride-{k + 2}", n=360,
                 t0=datetime(2026, 3, 3, 7 + k, 0, tzinfo=timezone(timedelta(hours=3))))
            for k in range(3)]
    ws.import_inputs(survey, [write_json(tmp_path / "d2" / f"{t['trace_id']}.json", t) for t in day2],
                     now=DAY1 + timedelta(days=1))
    assert run("build", survey, "--out", tmp_path / "o2", "--no-validate", "-q")[0] == 0
    routes = _feed(tmp_path / "o2")["routes"]
    assert "R001" not in set(routes.route_id) and "11" not in set(routes.route_short_name)
    (row,) = ws.correction_rows(survey)
    assert row["outcome"] == "stale" and "R001 is not in this build" in row["outcome_reason"]
    report = pd.read_json(tmp_path / "o2" / "report.json", typ="series")
    assert [n["code"] for n in report["notices"] if n["code"] == "correction_stale"] == ["correction_stale"]
    code, out = run("status", survey)
    assert "1 stale" in out


def test_merges_in_a_chain_end_in_the_last_route_and_merges_in_a_circle_are_stale(base):
    r = rebuild(base, Correction("route", "R004", "merge", value="R001"),
                Correction("route", "R002", "merge", value="R004"))
    assert list(tables(r.feed)["routes"].route_id) == ["R001", "R003"]
    assert set(ledger(r).loc[ledger(base).route_id.isin(["R002", "R004"])].route_id) == {"R001"}
    r = rebuild(base, Correction("route", "R004", "merge", value="R002"),
                Correction("route", "R002", "merge", value="R004"))
    assert [n["reason"] for n in codes(r, "correction_stale")] == ["merges of R002, R004 run in a circle"] * 2
    assert r.feed == base.feed


def test_a_routes_own_days_a_pattern_made_partial_or_a_branch_and_a_stop_put_in_a_station(base):
    before = tables(base.feed)
    stops = before["stops"].set_index("stop_id")
    # S0009 (Randburg) and S0020 (Braamfontein) are of no station; S0010 and S0011 (Blairgowrie) of one
    assert stops.loc[["S0009", "S0020"], "parent_station"].tolist() == ["", ""]
    assert stops.at["S0010", "parent_station"] == stops.at["S0011", "parent_station"] == "S0010_station"
    r = rebuild(base, Correction("route", "R004", "set", "service_days", "mon-fri"),
                Correction("pattern", "R002_0", "partial_of", value="R001_0"),
                Correction("pattern", "R002_1", "branch_of", value="R001"),
                Correction("stop", "S0014", "set", "station", "S0010"),
                Correction("stop", "S0011", "set", "station", ""),
                Correction("stop", "S0009", "set", "station", "S0020"))
    t = tables(r.feed)
    cal = t["calendar"].set_index("service_id")
    assert list(cal.loc["days_01234", ["friday", "saturday"]]) == ["1", "0"] and cal.at["observed", "sunday"] == "1"
    assert set(t["trips"][t["trips"].route_id == "R004"].service_id) == {"days_01234"}
    assert set(t["trips"][t["trips"].route_id != "R004"].service_id) == {"observed"}
    assert "R002" not in set(t["routes"].route_id)  # both its patterns went
    assert sorted(t["trips"][t["trips"].route_id == "R001"].trip_id) == ["R001_0", "R001_1", "R001_1_2"]
    led, was = ledger(r), ledger(base)
    r002_0 = was[was.trip_id == "R002_0"].index
    assert set(led.loc[r002_0, "trip_id"]) == {"R001_0"} and set(led.loc[r002_0, "ride"]) == {"partial"}
    assert set(led.loc[was[was.trip_id == "R002_1"].index, "trip_id"]) == {"R001_1_2"}
    assert "R002_0" not in set(pd.DataFrame(r.headway_rows).trip_id)
    s = t["stops"].set_index("stop_id")
    assert s.at["S0014", "parent_station"] == s.at["S0010", "parent_station"] == "S0010_station"
    assert s.at["S0011", "parent_station"] == ""
    assert s.at["S0009", "parent_station"] == s.at["S0020", "parent_station"] == "S0020_station"
    assert s.at["S0020_station", "location_type"] == "1" and s.at["S0020_station", "stop_name"] == stops.at["S0020",
                                                                                                            "stop_name"]
    assert r.review["applied"] == 6
    v = validator_summary(r.feed, r.service_start)
    assert v["ran"] and v["errors"] == 0, v


def test_a_route_split_by_the_names_its_riders_give(tmp_path):
    """Riders of one road name two routes that matching joins ("Kayole" and "Kayole Express" are alike enough):
    split by hand, each name is a route, the commoner keeping the id."""
    docs = [ride(trace_id=f"k{k}", route_name=name,
                 t0=datetime(2026, 3, 2, 7 + k, 0, tzinfo=timezone(timedelta(hours=3))))
            for k, name in enumerate(["Kayole", "Kayole", "Kayole", "Kayole Express", "Kayole Express"])]
    files = [write_json(tmp_path / "in" / f"r{k}.json", d) for k, d in enumerate(docs)]
    first = build_network(files)
    assert list(tables(first.feed)["routes"].route_id) == ["R001"]
    used = ledger(first)
    split = build_network(files, corrections=[Correction("route", "R001", "split", correction_id=1)],
                          previous=first.feed, previous_routes=dict(used.route_id))
    led = ledger(split)
    assert set(led.loc[["k0", "k1", "k2"], "route_id"]) == {"R001"}
    other = set(led.loc[["k3", "k4"], "route_id"])
    assert len(other) == 1 and other != {"R001"}
    assert split.review["applied"] == 1
    one_name = build_network(files[:3], corrections=[Correction("route", "R001", "split", correction_id=1)],
                             previous=first.feed, previous_routes=dict(used.route_id))
    assert one_name.review["stale"] == 1


def test_a_ride_whose_collector_swapped_origin_and_destination(tmp_path):
    """The collector typed the ride's ends the wrong way round: its stops were named after them. Corrected, the
    names follow the ride's movement; its direction in the route was never a label's."""
    doc = ride(trace_id="swapped", origin="Town", destination="Kayole")  # it ran from Kayole to town
    files = [write_json(tmp_path / "in" / "r.json", doc)]
    first = build_network(files)
    st, stops = tables(first.feed)["stop_times"], tables(first.feed)["stops"].set_index("stop_id")
    ends = st.sort_values("stop_sequence", key=lambda s: s.astype(int)).stop_id
    assert [stops.at[ends.iloc[0], "stop_name"], stops.at[ends.iloc[-1], "stop_name"]] == ["Town", "Kayole"]
    fixed = build_network(files, corrections=[Correction("ride", "swapped", "wrong_direction", correction_id=1)],
                          previous=first.feed)
    st, stops = tables(fixed.feed)["stop_times"], tables(fixed.feed)["stops"].set_index("stop_id")
    ends = st.sort_values("stop_sequence", key=lambda s: s.astype(int)).stop_id
    assert [stops.at[ends.iloc[0], "stop_name"], stops.at[ends.iloc[-1], "stop_name"]] == ["Kayole", "Town"]
    assert tables(fixed.feed)["trips"].trip_headsign.tolist() == ["Town"]


@pytest.mark.parametrize("args, made", [
    (("set", "route", "R001", "long_name", "Bara - Town"), ("route", "R001", "set", "long_name", "Bara - Town")),
    (("set", "route", "R001", "route_type", "11"), ("route", "R001", "set", "route_type", "11")),
    (("set", "route", "R001", "mode", "bus"), ("route", "R001", "set", "mode", "bus")),
    (("set", "route", "R001", "operator", "Soweto Taxi"), ("route", "R001", "set", "operator", "Soweto Taxi")),
    (("set", "route", "R001", "fare", "15"), ("route", "R001", "set", "fare", "15")),
    (("set", "route", "R001", "service_hours", "05:30-20:00"),
     ("route", "R001", "set", "service_hours", "05:30-20:00")),
    (("set", "route", "R001", "service_days", "mon-sat"), ("route", "R001", "set", "service_days", "mon-sat")),
    (("set", "route", "R001", "headway_pm_peak", "5"), ("route", "R001", "set", "headway_pm_peak", "5")),
    (("set", "route", "R001", "split"), ("route", "R001", "split", "", "")),
    (("set", "pattern", "R002_0", "headsign", "Town"), ("pattern", "R002_0", "set", "headsign", "Town")),
    (("set", "pattern", "R002_0", "partial_of", "R001_0"), ("pattern", "R002_0", "partial_of", "", "R001_0")),
    (("set", "pattern", "R002_1", "branch_of", "R001"), ("pattern", "R002_1", "branch_of", "", "R001")),
    (("set", "stop", "S0010", "station", "S0011"), ("stop", "S0010", "set", "station", "S0011")),
    (("set", "ride", "le-05-BB-3", "wrong_direction"), ("ride", "le-05-BB-3", "wrong_direction", "", "")),
    (("set", "fare", "S0010>S0025", "price", "9"), ("fare", "S0010>S0025", "set", "price", "9")),
    (("merge", "stop", "S0025", "S0024"), ("stop", "S0025", "merge", "", "S0024")),
    (("drop", "stop", "S0012"), ("stop", "S0012", "drop", "", "")),
    (("assign", "am-03-BBr-3", "na-04-BD-1", "--route", "new:express"),
     ("ride", "na-04-BD-1", "assign", "", "new:express")),
])
def test_every_kind_of_correction_by_command(built, args, made):
    survey = built
    code, out = run("review", survey, *args, "--format", "json")
    assert code == 0, out
    recorded = ws.corrections(survey)[-1]
    assert (recorded.kind, recorded.target, recorded.action, recorded.field, recorded.value) == made
    assert recorded.source == "command"


def test_more_edits_of_the_layers_merges_and_drops(survey):
    con = sqlite3.connect(survey / "survey.gpkg")
    with con:
        con.execute("UPDATE routes SET long_name = 'Bara - Town' WHERE trip_id = 'R001_1'")
        con.execute("UPDATE routes SET merge_into = 'R001' WHERE route_id = 'R002'")  # both its rows, alike
        con.execute("UPDATE stops SET review = 'drop' WHERE stop_id = 'S0012'")
        con.execute("UPDATE stops SET merge_into = 'S0024' WHERE stop_id = 'S0025'")
    con.close()
    made = {(c.kind, c.target, c.action, c.field, c.value) for c in ws.pick_up_edits(survey, now=DAY1).recorded}
    assert made == {("route", "R001", "set", "long_name", "Bara - Town"), ("route", "R002", "merge", "", "R001"),
                    ("stop", "S0012", "drop", "", ""), ("stop", "S0025", "merge", "", "S0024")}
    con = sqlite3.connect(survey / "survey.gpkg")
    with con:
        con.execute("UPDATE routes SET merge_into = '' WHERE route_id = 'R002'")
    con.close()
    assert ws.pick_up_edits(survey, now=DAY1) == ws.LayerEdits()
    assert ("route", "R002", "merge") not in {(c.kind, c.target, c.action) for c in ws.corrections(survey)}


def test_a_route_merged_the_other_way_round_has_its_directions_swapped():
    import numpy as np

    from transitmap.gtfs import FeedHeadway, FeedRoute, FeedTrip
    from transitmap.review import _merged

    def trip(d: int, lat0: float, lat1: float) -> FeedTrip:
        return FeedTrip(direction_id=d, variant=0, headsign="", stop_ids=("a", "b"), offsets_s=np.array([0, 60]),
                        stop_dist_m=np.array([0.0, 100.0]), shape_lat=np.array([lat0, lat1]),
                        shape_lon=np.array([36.8, 36.8]), shape_dist_m=np.array([0.0, 100.0]),
                        headways=(FeedHeadway(0, 3600, 600),))

    into = FeedRoute("R001", "A0", "", (trip(0, -1.30, -1.20), trip(1, -1.20, -1.30)))
    other = FeedRoute("R002", "A0", "", (trip(0, -1.21, -1.29), trip(1, -1.29, -1.21)))  # its 0 is R001's 1
    merged, renamed = _merged(into, [other])
    assert [(t.direction_id, t.variant) for t in merged.trips] == [(0, 0), (1, 0), (1, 1), (0, 1)]
    assert renamed == {"R002_0": "R001_1_2", "R002_1": "R001_0_2"}


def test_a_stop_drop_that_would_leave_a_trip_one_stop_changes_nothing(tmp_path):
    doc = ride(trace_id="t", n=40)  # a short ride: two stops, its ends
    files = [write_json(tmp_path / "in" / "r.json", doc)]
    first = build_network(files)
    st = tables(first.feed)["stop_times"]
    assert len(st) == 2
    r = build_network(files, corrections=[Correction("stop", st.stop_id.iloc[0], "drop", correction_id=1)],
                      previous=first.feed)
    assert [n["reason"] for n in codes(r, "correction_stale")] == ["route R001 would keep fewer than two stops"]
    assert r.feed == first.feed


def test_an_edit_of_a_layer_that_means_nothing_is_refused_and_stays_until_mended(survey):
    con = sqlite3.connect(survey / "survey.gpkg")
    with con:
        con.execute("UPDATE routes SET review = 'dropp' WHERE trip_id = 'R002_0'")
        con.execute("UPDATE traces SET review = 'skip' WHERE trace_id = 'na-04-BD-1'")
    con.close()
    res = CliRunner().invoke(main, ["review", str(survey), "list"])
    assert res.exit_code == 0
    assert ("warning: layer routes, R002_0, review = 'dropp' is not recorded: review is 'reviewed' or 'drop'"
            in res.stderr)
    edits = ws.pick_up_edits(survey, now=DAY1)  # reported again, nothing recorded
    assert edits.recorded == [] and [(r["layer"], r["field"], r["value"]) for r in edits.refused] == [
        ("routes", "review", "dropp"), ("traces", "review", "skip")]
    con = sqlite3.connect(survey / "survey.gpkg")
    with con:
        con.execute("UPDATE routes SET review = 'drop' WHERE trip_id = 'R002_0'")
    con.close()
    edits = ws.pick_up_edits(survey, now=DAY1)
    assert [(c.kind, c.target, c.action) for c in edits.recorded] == [("route", "R002", "drop")]
    assert [r["value"] for r in edits.refused] == ["skip"]


@pytest.mark.parametrize("args, says", [
    (("set", "stop", "S9999", "name", "Nowhere"), "stop S9999 is not in the latest build: the stops layer of"),
    (("assign", "nosuchride", "--route", "R001"), "ride nosuchride is not in the survey: transitmap status"),
    (("assign", "am-03-BBr-3", "--route", "R099"), "route R099 is not in the latest build (R001, R002, R003, R004)"),
    (("merge", "route", "R001", "R099"), "route R099 is not in the latest build"),
    (("set", "pattern", "R001_7", "headsign", "Town"), "pattern R001_7 is not in the latest build"),
    (("set", "pattern", "R002_0", "partial_of", "R001_9"), "pattern R001_9 is not in the latest build"),
    (("set", "fare", "S0010>S9999", "price", "9"), "stop S9999 is not in the latest build"),
    (("set", "stop", "S0010", "station", "S9999_station"), "stop S9999_station is not in the latest build"),
    (("exclude", "am-03-BBr-3", "ghost", "--reason", "test"), "ride ghost is not in the survey"),
])
def test_a_correction_naming_what_is_not_there_is_refused_and_nothing_recorded(built, args, says):
    before = ws.correction_rows(built, all_=True)
    res = CliRunner().invoke(main, ["review", str(built), *args])
    assert res.exit_code == 2 and says in res.output, res.output
    assert len(res.output.strip().splitlines()) == 1 and "Usage" not in res.output
    assert ws.correction_rows(built, all_=True) == before


def test_before_any_build_only_rides_can_be_corrected(tmp_path):
    survey = tmp_path / "s"
    ws.init_workspace(survey, name="s", now=DAY1)
    ws.import_inputs(survey, [SAMPLE / "amara"], now=DAY1)
    code, out = run("review", survey, "set", "route", "R001", "short_name", "45K")
    assert code == 2 and "there is no build yet" in out and f"transitmap build {survey} --out DIR" in out
    assert run("review", survey, "exclude", "am-03-BBr-3", "--reason", "test ride")[0] == 0
    assert run("review", survey, "assign", "am-04-NAr-3", "--route", "new:express")[0] == 0


def test_a_moved_stop_takes_its_station_along_or_leaves_it(base):
    """The station stands at the middle of its boarding points after a move; a stop moved farther than
    STATION_M from the others leaves its station, and a station left without boarding points is gone."""
    from transitmap.geo import geodesic_m

    stops = tables(base.feed)["stops"].set_index("stop_id")
    assert stops.at["S0001", "parent_station"] == "S0001_station" and stops.at["S0002",
                                                                               "parent_station"] == "S0001_station"
    lat, lon = float(stops.at["S0001", "stop_lat"]) - 0.00108, float(stops.at["S0001", "stop_lon"])  # 120 m south
    near = tables(rebuild(base, Correction("stop", "S0001", "move", value=f"{lat:.6f},{lon:.6f}")).feed)["stops"]
    near = near.set_index("stop_id")
    assert near.at["S0001", "parent_station"] == "S0001_station"
    mid = [(float(near.at["S0001", "stop_lat"]) + float(near.at["S0002", "stop_lat"])) / 2,
           (float(near.at["S0001", "stop_lon"]) + float(near.at["S0002", "stop_lon"])) / 2]
    assert geodesic_m(float(near.at["S0001_station", "stop_lat"]), float(near.at["S0001_station", "stop_lon"]),
                      *mid) < 1.0
    far = tables(rebuild(base, Correction("stop", "S0001", "move", value=f"{lat - 0.003:.6f},{lon:.6f}")).feed)["stops"]
    far = far.set_index("stop_id")
    assert far.at["S0001", "parent_station"] == "" and far.at["S0002", "parent_station"] == "S0001_station"
    assert geodesic_m(float(far.at["S0001_station", "stop_lat"]), float(far.at["S0001_station", "stop_lon"]),
                      float(far.at["S0002", "stop_lat"]), float(far.at["S0002", "stop_lon"])) < 1.0
    both = tables(rebuild(base, Correction("stop", "S0001", "move", value=f"{lat - 0.003:.6f},{lon:.6f}"),
                          Correction("stop", "S0002", "move", value=f"{lat + 0.003:.6f},{lon:.6f}")).feed)["stops"]
    assert "S0001_station" not in set(both.stop_id)
    assert not set(both.parent_station) & {"S0001_station"}

"""Route building and the GTFS feed: stage by stage on small simulated surveys, then the whole pipeline."""

from __future__ import annotations

import dataclasses
import io
import random
import shutil
import zipfile
from pathlib import Path

import msgspec
import numpy as np
import pandas as pd
import pytest
import shapely

from transitmap.clean import clean_ride
from transitmap.config import BuildConfig
from transitmap.errors import SettingsError
from transitmap.geo import project, utm_epsg
from transitmap.gtfs import gtfs_time, run_validator
from transitmap.match import match_rides
from transitmap.pipeline import build_network, validate_inputs
from transitmap.simulate import RideProfile, RouteSpec, at, ride

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_traces"
EPSG = utm_epsg(-1.29, 36.82)

A = (-1.2864, 36.8172)
B = (-1.2700, 36.8400)  # ~3 km north-east of A
C = (-1.2500, 36.8600)  # on past B
D = (-1.2900, 36.8700)  # B then east-south-east: a branch
E = (-1.2864, 36.8134)  # 420 m west of A: another rank on the same road
QUIET = RideProfile(spike_rate=0.0, gap_probability=0.0, partial_probability=0.0, fix_interval_s=(3.0, 5.0))


def spec(key, name, *pts, stops=(0, 0.5, 1)) -> RouteSpec:
    """A route whose end stops are the ranks its name gives ("45K Odeon - Githurai": Odeon, Githurai)."""
    ends = [e.split(" ", 1)[-1] if e[:1].isdigit() else e for e in name.split(" - ")]
    names = (ends[0], *(f"{key} stop {k}" for k in range(1, len(stops) - 1)), ends[-1])
    return RouteSpec(key, name, tuple(pts), names, stop_fraction=stops, currency="KES", fare=70)


def reverse(r: RouteSpec) -> RouteSpec:
    return RouteSpec(r.route_id + "r", " - ".join(reversed(r.name.split(" - "))), tuple(reversed(r.path)),
                     tuple(reversed(r.stop_names)), tuple(1 - f for f in reversed(r.stop_fraction)), r.fare, r.currency)


def rides_of(plan, seed=1):
    """plan: list of (RouteSpec, count, kwargs) -> cleaned rides."""
    rng = np.random.default_rng(seed)
    docs = []
    for route, count, kw in plan:
        for k in range(count):
            docs.append(ride(route, at(2026, 3, 2, 7 + k, 10 * k, 3), rng, trace_id=f"{route.route_id}-{k}",
                             collector_id=f"c{k}", profile=QUIET, **kw))
    from transitmap.read import trace_from_dict
    from transitmap.validate import check_trace

    out = []
    for doc in docs:
        c = check_trace(trace_from_dict(doc, f"{doc['trace_id']}.json").trace)
        assert c.usable, c.notices
        out.append(clean_ride(c.trace, c.keep, c.stop_keep, c.fare_keep, EPSG))
    return out


def grouping(rides, routes):
    return sorted(sorted(sorted(rides[i].trace_id for i in p.rides) for p in r.patterns) for r in routes)


def test_two_rides_of_one_route_make_one_pattern():
    route = spec("R", "Town - Kibera", A, B, C)
    rides = rides_of([(route, 2, {})])
    routes, notices = match_rides(rides)
    assert grouping(rides, routes) == [[["R-0", "R-1"]]]
    assert notices == []


def test_opposite_directions_make_one_route_with_two_directions():
    route = spec("R", "Town - Kibera", A, B, C)
    rides = rides_of([(route, 2, {}), (reverse(route), 2, {})])
    routes, _ = match_rides(rides)
    assert grouping(rides, routes) == [[["R-0", "R-1"], ["Rr-0", "Rr-1"]]]


def test_rides_the_other_way_along_a_road_are_never_measured_against_each_other():
    """Their probe points only go back along each other (``_probe_pairs``' way): clustering neither measures
    their covers nor compares their names (the reversed name agrees), and they stay two patterns."""
    from transitmap.match import Covers, MatchConfig, _clusters, _ride_path

    route = spec("R", "Town - Kibera", A, B, C)
    rides = rides_of([(route, 2, {}), (reverse(route), 2, {})])
    config = MatchConfig()
    cover = Covers([_ride_path(r, config) for r in rides], config)
    way = {i: rides[i].trace_id.split("-")[0] for i in range(len(rides))}
    across = {(i, j) for i, j in cover.mutual if way[i] != way[j]}
    assert len(across) == 4 and all(cover.other_way(i, j) for i, j in across)
    clusters = _clusters(rides, cover, config)
    assert sorted(sorted(rides[i].trace_id for i in c) for c in clusters) == [["R-0", "R-1"], ["Rr-0", "Rr-1"]]
    assert cover.values and not any(way[i] != way[j] for i, j in cover.values)


def test_a_partial_ride_joins_its_route_as_partial():
    route = spec("R", "Town - Kibera", A, B, C, stops=(0, 0.25, 0.5, 0.75, 1))
    rides = rides_of([(route, 2, {}), (spec("P", "Town - Kibera", A, B, C, stops=(0, 0.25, 0.5, 0.75, 1)), 1,
                                        {"partial": True})], seed=4)
    routes, _ = match_rides(rides)
    [r] = routes
    [p] = r.patterns
    assert sorted(rides[i].trace_id for i in p.rides) == ["R-0", "R-1"]
    assert [rides[i].trace_id for i in p.partial] == ["P-0"]


def test_a_short_route_along_a_long_one_stays_a_route():
    long = spec("L", "Town - Ruaka", A, B, C)
    short = spec("S", "Town - Parklands", A, B)  # the first half of the long route, its own terminal at B
    rides = rides_of([(long, 2, {}), (short, 2, {"name_variant": None})])  # no names: terminals decide
    routes, _ = match_rides(rides)
    assert grouping(rides, routes) == [[["L-0", "L-1"]], [["S-0", "S-1"]]]


def test_unnamed_rides_from_other_ranks_along_one_road_are_two_patterns():
    # X starts 420 m before Y on the same road and both end at C: they share 94 % of the path, no rider
    # named the route, but each ride waited at its rank and named the terminal it went to
    x = spec("X", "Ngara - Ruaka", E, A, B, C)
    y = spec("Y", "Odeon - Ruaka", A, B, C)
    rides = rides_of([(x, 2, {"name_variant": None}), (y, 2, {"name_variant": None})])
    routes, _ = match_rides(rides)
    assert grouping(rides, routes) == [[["X-0", "X-1"]], [["Y-0", "Y-1"]]]


def test_one_ride_from_terminal_to_terminal_inside_a_longer_route_is_its_own_route():
    long = spec("L", "Town - Ruaka", A, B, C)
    short = spec("S", "Town - Parklands", A, B)
    rides = rides_of([(long, 2, {}), (short, 1, {"name_variant": None})])
    routes, _ = match_rides(rides)
    assert grouping(rides, routes) == [[["L-0", "L-1"]], [["S-0"]]]
    # the same ride without a named destination (the rider got off early) is a partial ride of the long route
    early = rides_of([(long, 2, {}), (short, 1, {"name_variant": None})])
    early[2] = dataclasses.replace(early[2], destination=None)
    routes, _ = match_rides(early)
    [[pattern]] = [r.patterns for r in routes]
    assert [early[i].trace_id for i in pattern.partial] == ["S-0"]


def test_a_signal_gap_across_a_corner_neither_splits_the_route_nor_bends_its_shape():
    route = spec("R", "Town - Eastleigh", A, B, D)  # a corner at B
    rng = np.random.default_rng(3)
    from transitmap.read import trace_from_dict
    from transitmap.validate import check_trace

    bx, by = project(np.array([B[0]]), np.array([B[1]]), EPSG)
    rides = []
    for k in range(3):
        doc = ride(route, at(2026, 3, 2, 7 + k, 0, 3), rng, trace_id=f"R-{k}", collector_id="c", profile=QUIET)
        if k == 0:  # no signal for 1.2 km around the corner: the straight line cuts it by ~400 m
            px, py = project(np.array([p["lat"] for p in doc["points"]]), np.array([p["lon"] for p in doc["points"]]),
                             EPSG)
            doc["points"] = [p for p, d in zip(doc["points"], np.hypot(px - bx, py - by)) if d > 600]
        c = check_trace(trace_from_dict(doc, "a.json").trace)
        rides.append(clean_ride(c.trace, c.keep, c.stop_keep, c.fare_keep, EPSG))
    [r], _ = match_rides(rides)
    [p] = r.patterns
    assert sorted(rides[i].trace_id for i in p.rides) == ["R-0", "R-1", "R-2"]
    assert float(shapely.distance(shapely.points(bx[0], by[0]), shapely.linestrings(p.xy))) < 20


def test_corridor_then_split_and_branches_are_separate_patterns():
    main = spec("M", "Town - Ruaka", A, B, C)
    branch = spec("X", "Town - Eastleigh", A, B, D)
    rides = rides_of([(main, 2, {}), (branch, 2, {})])
    routes, _ = match_rides(rides)
    assert grouping(rides, routes) == [[["M-0", "M-1"]], [["X-0", "X-1"]]]


def test_branches_and_short_turns_of_one_named_route_are_patterns_of_one_route(tmp_path):
    main = spec("M", "46 Town - Ruaka", A, B, C)
    branch = spec("X", "46 Town - Eastleigh", A, B, D)  # same number, same rank, another end
    turn = spec("T", "46 Parklands - Town", B, A)  # a short turn, the other way
    rides = rides_of([(main, 2, {}), (branch, 2, {}), (turn, 2, {})])
    routes, _ = match_rides(rides)
    [r] = routes
    got = sorted((d, sorted(rides[i].trace_id for i in p.rides)) for d, p in zip(r.directions, r.patterns))
    assert got == [(0, ["M-0", "M-1"]), (0, ["X-0", "X-1"]), (1, ["T-0", "T-1"])]
    # in the feed: one route, a trip and a shape per pattern, each ride's pattern in the ledger
    docs = [d for route in (main, branch, turn) for d in _docs(route, 2)]
    result = build_network([_write_rides(tmp_path / "in", docs)])
    t = _tables(result.feed)
    assert list(t["routes.txt"].route_id) == ["R001"]
    assert sorted(zip(t["trips.txt"].trip_id, t["trips.txt"].direction_id)) == [
        ("R001_0", "0"), ("R001_0_2", "0"), ("R001_1", "1")]
    assert sorted(t["shapes.txt"].shape_id.unique()) == ["R001_0", "R001_0_2", "R001_1"]
    ledger = {r.trace_id[0]: r.trip_id for r in result.ledger_rows}
    assert ledger["T"] == "R001_1" and {ledger["M"], ledger["X"]} == {"R001_0", "R001_0_2"}
    assert "direction_missing" not in _codes(result)


def test_pattern_geometry_is_more_accurate_than_single_rides():
    route = spec("R", "Town - Kibera", A, B, C)
    rng = np.random.default_rng(5)
    noisy = RideProfile(spike_rate=0.0, gap_probability=0.0, noise_m=(8.0, 12.0), fix_interval_s=(2.0, 4.0))
    from transitmap.read import trace_from_dict
    from transitmap.validate import check_trace

    rides = []
    for k in range(6):
        doc = ride(route, at(2026, 3, 2, 7, 0, 3), rng, trace_id=f"r{k}", collector_id="c", profile=noisy,
                   partial=False)
        c = check_trace(trace_from_dict(doc, "a.json").trace)
        rides.append(clean_ride(c.trace, c.keep, c.stop_keep, c.fare_keep, EPSG))
    [r], _ = match_rides(rides)
    x, y = project(np.array([p[0] for p in route.path]), np.array([p[1] for p in route.path]), EPSG)
    truth = shapely.linestrings(np.column_stack([x, y]))
    error = lambda xy: float(np.median(shapely.distance(shapely.points(xy), truth)))  # noqa: E731
    single = np.median([error(rd.moving_xy) for rd in rides])
    assert error(r.patterns[0].xy) < 0.7 * single  # measured: 3.4 m against 5.5 m for single rides
    assert error(r.patterns[0].xy) < 5.0


def test_gtfs_time_passes_midnight():
    assert gtfs_time(0) == "00:00:00" and gtfs_time(25 * 3600 + 61) == "25:01:01"


# ------------------------------------------------------------------------------------ whole pipeline


@pytest.fixture(scope="module")
def sample_build():
    return build_network([SAMPLE])


def _tables(feed: bytes) -> dict[str, pd.DataFrame]:
    with zipfile.ZipFile(io.BytesIO(feed)) as z:
        return {n: pd.read_csv(z.open(n), dtype=str, keep_default_na=False) for n in z.namelist()}


def test_sample_feed_has_the_routes_directions_and_stops(sample_build):
    t = _tables(sample_build.feed)
    assert set(t["routes.txt"].route_long_name) == {"Baragwanath - Bree", "Diepkloof - Bree", "Noord - Alexandra",
                                                     "Randburg - Bree"}
    assert len(t["trips.txt"]) == 8 and set(t["trips.txt"].direction_id) == {"0", "1"}
    named = set(t["stops.txt"].stop_name)
    assert {"Bree Rank", "Westgate", "Crown Mines", "Diepkloof", "Baragwanath", "Noord Rank", "Hillbrow",
            "Alexandra", "Randburg"} <= named
    assert (t["stop_times.txt"].timepoint == "0").all()
    assert set(t["fare_attributes.txt"].currency_type) == {"ZAR"}
    assert t["agency.txt"].agency_timezone.unique().tolist() == ["Africa/Johannesburg"]
    text = "".join(t[n].to_csv() for n in t).lower()  # the tables: the zip itself is compressed
    assert "collector" not in text
    for cid in ("amara", "sipho", "thabo", "lerato", "kagiso", "naledi"):
        assert cid not in text


def test_no_two_stops_within_15_m_on_the_same_side(sample_build):
    """Stops this close are the two sides of one road: no trip serves both, and they are the two directions
    of one route."""
    t = _tables(sample_build.feed)
    lat, lon = t["stops.txt"].stop_lat.astype(float).to_numpy(), t["stops.txt"].stop_lon.astype(float).to_numpy()
    x, y = project(lat, lon, utm_epsg(-26.2, 28.0))
    d = np.hypot(x[:, None] - x, y[:, None] - y) + np.eye(len(x)) * 1e9
    st = t["stop_times.txt"]
    for i, j in np.argwhere(d < 15):
        ti = set(st[st.stop_id == t["stops.txt"].stop_id[i]].trip_id)
        tj = set(st[st.stop_id == t["stops.txt"].stop_id[j]].trip_id)
        assert not ti & tj, (i, j)
        assert {x[:-2] for x in ti} & {x[:-2] for x in tj} or {x[-1] for x in ti} != {x[-1] for x in tj}


def test_sample_feed_passes_the_gtfs_validator(sample_build):
    findings = run_validator(sample_build.feed, "2026-03-04")
    assert findings is not None, "gtfs-validator is a test dependency"
    bad = {"stop_too_far_from_shape", "fast_travel_between_consecutive_stops", "fast_travel_between_far_stops",
           "expired_calendar"}
    assert [f for f in findings if f["severity"] == "ERROR" or f["code"] in bad] == []


def test_sample_feed_passes_gtfs_guru(sample_build, tmp_path):
    gtfs_guru = pytest.importorskip("gtfs_guru")
    path = tmp_path / "gtfs.zip"
    path.write_bytes(sample_build.feed)
    report = gtfs_guru.validate(str(path), date="2026-03-04")
    assert report.error_count == 0, sorted({f"{n.severity}:{n.code}" for n in report.notices})


def test_every_trace_is_in_the_ledger_with_its_route(sample_build):
    rows = sample_build.ledger_rows
    run = validate_inputs([SAMPLE])
    assert len(rows) == len(run.ledger)
    used = [r for r in rows if r.status == "used"]
    assert len(used) == 21 and all(r.route_id.startswith("R") and r.direction_id in (0, 1) for r in used)
    assert {r.ride for r in used} == {"full", "partial"}
    assert {r.status for r in rows} == {"used", "quarantined", "duplicate"}


def test_same_input_in_any_order_and_names_gives_the_same_feed(tmp_path, sample_build):
    files = sorted(p for p in SAMPLE.rglob("*") if p.is_file() and p.suffix in (".json", ".gpx", ".gz", ".zip"))
    random.Random(3).shuffle(files)
    copy = tmp_path / "renamed"
    for k, f in enumerate(files):  # other folders and file names; a GPX file's name is data (a route name)
        name = f.name if f.suffix == ".gpx" else f"upload{k:03d}{''.join(f.suffixes)}"
        dest = copy / f"u{k:03d}" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(f, dest)
    shutil.copytree(SAMPLE / "kagiso_export", copy / "zz_csv")
    again = build_network([copy])
    assert again.feed == sample_build.feed


GOLDEN = Path(__file__).parent / "golden" / "sample_gtfs"


def test_sample_feed_matches_golden_tables(sample_build):
    """The whole pipeline on the sample, table by table (update: TRANSITMAP_UPDATE_GOLDEN=1)."""
    import os

    with zipfile.ZipFile(io.BytesIO(sample_build.feed)) as z:
        tables = {n: z.read(n).decode() for n in z.namelist()}
    if os.environ.get("TRANSITMAP_UPDATE_GOLDEN"):
        shutil.rmtree(GOLDEN, ignore_errors=True)
        GOLDEN.mkdir(parents=True)
        for n, text in tables.items():
            (GOLDEN / n).write_text(text)
    golden = {p.name: p.read_text() for p in GOLDEN.iterdir()}
    assert sorted(tables) == sorted(golden)
    for name in sorted(golden):
        assert tables[name].splitlines() == golden[name].splitlines(), name


def test_both_validators_find_the_same_in_the_sample_feed(sample_build, monkeypatch):
    """The build runs gtfs-guru where it is installed, else gtfs-validator (``gtfs.VALIDATORS``): on the sample's
    feed, and on it a week after its service ends, the same codes, severities and counts."""
    pytest.importorskip("gtfs_guru")
    pytest.importorskip("gtfs_validator")
    from transitmap import gtfs

    found = {}
    for k in range(len(gtfs.VALIDATORS)):
        monkeypatch.setattr(gtfs, "VALIDATORS", gtfs.VALIDATORS[k:])
        for day in ("2026-03-02", "2027-06-01"):
            name, findings = gtfs.validated(sample_build.feed, day)
            found[name, day] = sorted((f["code"], f["severity"], f["count"]) for f in findings)
        monkeypatch.undo()
    for day in ("2026-03-02", "2027-06-01"):
        assert found["gtfs-guru", day] == found["gtfs-validator", day]
    assert {c for c, *_ in found["gtfs-guru", "2027-06-01"]} - {c for c, *_ in found["gtfs-guru", "2026-03-02"]} \
        >= {"expired_calendar"}  # the day is the validator's: the feed's service is over
    # a validator that gives no report: the next one runs
    monkeypatch.setattr(gtfs, "VALIDATORS", (("gtfs_guru", "import sys; sys.exit(3)"), *gtfs.VALIDATORS[1:]))
    assert gtfs.validated(sample_build.feed, "2026-03-02")[0] == "gtfs-validator"


def test_regions_built_in_processes_of_their_own_give_the_same_feed(tmp_path):
    """Two towns 40 km apart, with fares between stops and departures seen at the rank: built in one process
    or a process per region (routes, stops, stop times, headways, fares), the same feed, ledger and headways."""
    far = lambda p: (p[0] + 0.36, p[1])  # noqa: E731 - 40 km north
    near_town = spec("N", "Town - Kibera", A, B, C, stops=(0, 0.25, 0.5, 0.75, 1))
    far_town = spec("F", "Thika - Juja", far(A), far(B), far(C), stops=(0, 0.3, 0.6, 1))
    docs = (_docs(near_town, 3) + _docs(reverse(near_town), 2, seed=3) + _docs(far_town, 3, seed=4)
            + _docs(reverse(far_town), 2, seed=5) + _docs(far_town, 1, seed=6, partial=True))
    for d in docs[:2] + docs[5:7]:  # a fare between two marked stops
        d["fares"] = [{"amount": 30, "currency": "KES", "from_stop": 1, "to_stop": 2}]
    folder = _write_rides(tmp_path / "in", docs)
    one = build_network([folder], dataclasses.replace(BuildConfig(), workers=1, pseudonym_key="k"))
    two = build_network([folder], dataclasses.replace(BuildConfig(), workers=2, pseudonym_key="k"))
    assert one.routes == two.routes == 2 and one.stops == two.stops >= 8
    assert one.feed == two.feed
    assert one.ledger_rows == two.ledger_rows and one.headway_rows == two.headway_rows
    assert one.run.notices.to_list() == two.run.notices.to_list()
    with zipfile.ZipFile(io.BytesIO(two.feed)) as z:
        rules = pd.read_csv(z.open("fare_rules.txt"), dtype=str)
    # each town's fare between two of its stops, numbered back into the survey's stops
    assert sorted(rules.dropna(subset=["origin_id"])["route_id"]) == ["R001", "R002"]
    # the hours not ridden extrapolated; a direction with no evidence at all at the survey's headway
    assert "observed" in {h.provenance for h in two.headway_rows} <= {"observed", "extrapolated", "assumed"}


def test_the_rides_are_let_go_before_the_tables_are_written(tmp_path, monkeypatch):
    """Writing the tables takes memory of its own (the feed's CSV text, its workers): by then no ride is
    held any more (they are in the feed's rows), so a build's memory peaks while it matches, not after."""
    import gc

    import transitmap.pipeline as pipeline
    from transitmap.model import Ride

    alive = []
    real = pipeline.feed_bytes

    def count_rides(*a, **kw):
        gc.collect()
        alive.append(sum(isinstance(o, Ride) for o in gc.get_objects()))
        return real(*a, **kw)

    monkeypatch.setattr(pipeline, "feed_bytes", count_rides)
    towns = spec("N", "Town - Kibera", A, B, C, stops=(0, 0.25, 0.5, 0.75, 1))
    result = build_network([_write_rides(tmp_path / "in", _docs(towns, 3) + _docs(reverse(towns), 2, seed=3))],
                           dataclasses.replace(BuildConfig(), workers=1, pseudonym_key="k"))
    assert result.routes == 1 and alive == [0]


def test_one_region_uses_the_workers_for_its_patterns_and_gives_the_same_feed(tmp_path, monkeypatch):
    """A survey that is one region (a town's routes sharing its roads): with two workers its patterns' stops,
    times, median paths and first meeting test are made in forked processes; the feed, ledger and headways are
    those of one process, and the work did go to the workers."""
    import transitmap.engine as engine

    towns = spec("N", "Town - Kibera", A, B, C, stops=(0, 0.25, 0.5, 0.75, 1))
    short = spec("S", "Town - Junction", A, B, stops=(0, 0.5, 1))
    docs = (_docs(towns, 3) + _docs(reverse(towns), 2, seed=3) + _docs(short, 3, seed=4)
            + _docs(towns, 1, seed=6, partial=True))
    for d in docs[:2]:
        d["fares"] = [{"amount": 30, "currency": "KES", "from_stop": 1, "to_stop": 2}]
    folder = _write_rides(tmp_path / "in", docs)
    one = build_network([folder], dataclasses.replace(BuildConfig(), workers=1, pseudonym_key="k"))
    forked = []
    real = engine.imap_local

    def spy(fn, args, workers=None, **kw):
        if workers and workers > 1 and len(args) > 1:
            forked.append(getattr(fn, "__name__", ""))
        return real(fn, args, workers, **kw)

    monkeypatch.setattr(engine, "imap_local", spy)
    two = build_network([folder], dataclasses.replace(BuildConfig(), workers=2, pseudonym_key="k"))
    assert {"_candidates_of", "_route_times", "_pattern_of", "_probe_pairs_from", "_covers_of"} <= set(forked)
    assert one.routes == two.routes == 2 and one.stops == two.stops >= 5
    assert one.feed == two.feed
    assert one.ledger_rows == two.ledger_rows and one.headway_rows == two.headway_rows
    assert one.run.notices.to_list() == two.run.notices.to_list()


def test_routes_that_only_cross_are_clustered_in_separate_workers_with_the_same_routes(tmp_path, monkeypatch):
    """One region, two services that only cross (no pair of their rides lies along each other): with two
    workers each is clustered in a forked process of its own, and the routes are those of one process."""
    import transitmap.engine as engine

    towns = spec("N", "Town - Kibera", A, B, C, stops=(0, 0.25, 0.5, 0.75, 1))
    cross = spec("X", "Westlands - Kilimani", (-1.2620, 36.8480), (-1.2780, 36.8320))
    docs = _docs(towns, 3) + _docs(reverse(towns), 2, seed=3) + _docs(cross, 3, seed=5)
    folder = _write_rides(tmp_path / "in", docs)
    one = build_network([folder], dataclasses.replace(BuildConfig(), workers=1, pseudonym_key="k"))
    parts = []
    real = engine.imap_local

    def spy(fn, args, workers=None, **kw):
        if getattr(fn, "__name__", "") == "_clusters_among" and workers and workers > 1:
            parts.extend(sorted(a) for a in args)
        return real(fn, args, workers, **kw)

    monkeypatch.setattr(engine, "imap_local", spy)
    two = build_network([folder], dataclasses.replace(BuildConfig(), workers=2, pseudonym_key="k"))
    assert one.routes == two.routes == 2
    assert one.feed == two.feed and one.ledger_rows == two.ledger_rows
    # the rides in two parts, each a whole service: the towns' five rides (both ways), the crossing one's three
    assert sorted(map(len, parts)) == [3, 5]


def test_separate_parts_keep_every_joined_pair_together():
    from transitmap.match import _separate_parts

    rng = np.random.default_rng(3)
    pairs = [tuple(sorted(p)) for p in rng.integers(0, 60, (40, 2)).tolist() if p[0] != p[1]]
    parts = _separate_parts(60, pairs, 3)
    assert sorted(i for p in parts for i in p) == list(range(60)) and len(parts) == 3
    part_of = {i: k for k, p in enumerate(parts) for i in p}
    assert all(part_of[i] == part_of[j] for i, j in pairs)
    assert _separate_parts(5, pairs[:0], 3) == [[0, 1, 2, 3, 4]]


def _part_sum(shared: np.ndarray, bounds: tuple[int, int]) -> tuple[int, int]:
    import os

    return int(shared[bounds[0] : bounds[1]].sum()), os.getpid()


def test_forked_workers_use_the_shared_object_they_inherit():
    """``map_local``: the same results, in order, as in this process; the work ran in other processes."""
    import os

    from transitmap.engine import map_local

    data = np.arange(1_000_000, dtype=np.int64)
    parts = [(k, k + 250_000) for k in range(0, 1_000_000, 250_000)]
    here = map_local(_part_sum, parts, workers=1, shared=data)
    there = map_local(_part_sum, parts, workers=2, shared=data)
    assert [s for s, _ in there] == [s for s, _ in here] == [int(data[a:b].sum()) for a, b in parts]
    assert {p for _, p in here} == {os.getpid()} and os.getpid() not in {p for _, p in there}



def test_workers_that_finished_early_end_when_their_results_are_let_go():
    """``imap_local`` closed before its last result (the build takes exactly its batches): its worker processes,
    each holding a copy of the shared traces, end then, not when the build ends (the full scale survey held
    1 GB more through matching while they lived)."""
    import multiprocessing

    from transitmap.engine import imap_local

    data = np.arange(100_000, dtype=np.int64)
    parts = [(k, k + 25_000) for k in range(0, 100_000, 25_000)]
    results = imap_local(_part_sum, parts, workers=2, shared=data)
    taken = [next(results) for _ in parts]
    assert [s for s, _ in taken] == [int(data[a:b].sum()) for a, b in parts] and multiprocessing.active_children()
    results.close()
    assert not multiprocessing.active_children()

def test_a_build_makes_full_garbage_collections_rare_and_then_restores_them(monkeypatch, tmp_path):
    """Inside a build, Python's full collections wait for a thousand middle ones (the build's millions of
    objects are not gone through again and again); after it, even one that fails, the thresholds are back."""
    import gc

    from transitmap import pipeline

    seen = []

    def fail(*args, **kwargs):
        seen.append(gc.get_threshold())
        raise RuntimeError("stop here")

    before = gc.get_threshold()
    monkeypatch.setattr(pipeline, "validate_inputs", fail)
    with pytest.raises(RuntimeError, match="stop here"):
        pipeline.build_network([str(tmp_path)])
    assert seen == [(before[0], before[1], max(before[2], 1000))]
    assert gc.get_threshold() == before


def test_a_feed_written_in_chunks_by_workers_is_the_same_zip():
    """``feed_bytes``: chunks of rows formatted by two worker processes give the zip one process gives, and
    each table is the CSV pandas writes (quotes where a name needs them)."""
    import io
    import zipfile
    import zlib

    import pandas as pd

    from transitmap.gtfs import COMPRESS_LEVEL, feed_bytes

    shapes = pd.DataFrame({"shape_id": [f"R{k % 3}_0" for k in range(20)],
                           "shape_pt_lat": np.round(np.linspace(-1.3, -1.2, 20), 6),
                           "shape_pt_lon": np.round(np.linspace(36.8, 36.9, 20), 6), "shape_pt_sequence": np.arange(20),
                           "shape_dist_traveled": np.round(np.linspace(0, 5000, 20), 1)})
    stops = pd.DataFrame({"stop_id": ["S2", "S1"], "stop_name": ['Bree, "the rank"', "Bara"], "stop_lat": [-1.3, -1.2],
                          "stop_lon": [36.8, 36.9], "location_type": [0, 0]})
    tables = {"shapes.txt": shapes, "stops.txt": stops}
    one = feed_bytes(tables)
    assert feed_bytes(tables, chunk_rows=3, workers=2) == feed_bytes(tables, chunk_rows=3) == one
    z = zipfile.ZipFile(io.BytesIO(one))
    sorted_shapes = shapes.sort_values(["shape_id", "shape_pt_sequence"], kind="stable")
    assert z.read("shapes.txt").decode() == sorted_shapes.to_csv(index=False, lineterminator="\n")
    assert z.read("stops.txt").decode().splitlines()[1] == 'S1,Bara,-1.2,36.9,0'
    assert '"Bree, ""the rank"""' in z.read("stops.txt").decode()
    # every member deflated at COMPRESS_LEVEL, dated 1980-01-01: nothing of the moment it was written
    assert {(i.compress_type, i.date_time) for i in z.infolist()} == {(zipfile.ZIP_DEFLATED, (1980, 1, 1, 0, 0, 0))}
    rng = np.random.default_rng(1)
    big = pd.DataFrame({"shape_id": [f"R{k // 500}_0" for k in range(20_000)],
                        "shape_pt_lat": np.round(-1.3 + rng.random(20_000) / 10, 6),
                        "shape_pt_lon": np.round(36.8 + rng.random(20_000) / 10, 6),
                        "shape_pt_sequence": np.arange(20_000) % 500,
                        "shape_dist_traveled": np.round(np.arange(20_000) % 500 * 10.3, 1)})
    written = zipfile.ZipFile(io.BytesIO(feed_bytes({"shapes.txt": big}, chunk_rows=7_000)))
    info, text = written.getinfo("shapes.txt"), written.read("shapes.txt")
    size = {level: len(zlib.compress(text, level)) - 6 for level
            in (COMPRESS_LEVEL, 6)}  # raw deflate: no zlib header and checksum
    assert info.compress_size == size[COMPRESS_LEVEL] != size[6]


# ------------------------------------------------------------------------------------ build notices


def _write_rides(folder: Path, docs: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for d in docs:
        (folder / f"{d['trace_id']}.json").write_bytes(msgspec.json.encode(d))
    return folder


def _docs(route: RouteSpec, n: int, seed: int = 2, **kw) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [ride(route, at(2026, 3, 2, 7 + k, 0, 3), rng, trace_id=f"{route.route_id}-{k}", collector_id="c",
                 profile=QUIET, **kw) for k in range(n)]


def _codes(result) -> set[str]:
    return set(result.run.notices.counts)


ROUTE = spec("R", "Town - Kibera", A, B, C)


def test_build_notices_single_ride_and_missing_direction(tmp_path):
    one = build_network([_write_rides(tmp_path / "a", _docs(ROUTE, 1))])
    assert {"pattern_single_ride", "direction_missing"} <= _codes(one)
    both = build_network([_write_rides(tmp_path / "b", _docs(ROUTE, 2) + _docs(reverse(ROUTE), 2, seed=3))])
    assert not {"pattern_single_ride", "direction_missing"} & _codes(both)


def test_build_notice_fare_outlier(tmp_path):
    docs = _docs(ROUTE, 3)
    docs[2]["fares"] = [{"amount": 700, "currency": "KES"}]  # a zero too many
    result = build_network([_write_rides(tmp_path / "a", docs)])
    [n] = [n for n in result.run.notices.to_list() if n["code"] == "fare_outlier"][0]["sample_notices"]
    assert n["amount"] == 700 and n["median_amount"] == 70
    t = _tables(result.feed)
    assert t["fare_attributes.txt"].price.tolist() == ["70.00"]
    assert "fare_outlier" not in _codes(build_network([_write_rides(tmp_path / "b", _docs(ROUTE, 3))]))


def test_origin_destination_fares_from_fares_between_stops_and_partial_riders(tmp_path):
    route = spec("R", "Town - Kibera", A, B, C, stops=(0, 0.25, 0.5, 0.75, 1))
    docs = _docs(route, 3)
    assert [s["kind"] for s in docs[0]["stops"]] == ["board", "both", "both", "both", "alight"]
    for d, amount in zip(docs, (30, 30, 300)):  # the third a typo
        d["fares"] = [{"amount": 70, "currency": "KES"},
                      {"amount": amount, "currency": "KES", "from_stop": 1, "to_stop": 3}]
    partial = _docs(spec("R", "Town - Kibera", A, B, C, stops=(0, 0.25, 0.5, 0.75, 1)), 6, seed=7, partial=True)
    late = [d for d in partial if "origin" not in d][:1]  # boarded at an inner stop, paid less
    late[0]["fares"] = [{"amount": 50, "currency": "KES"}]
    late[0]["trace_id"] = "late"
    result = build_network([_write_rides(tmp_path / "a", docs + late)])
    t = _tables(result.feed)
    trip = t["stop_times.txt"][t["stop_times.txt"].trip_id == "R001_0"].stop_id.tolist()
    rules = t["fare_rules.txt"].fillna("")
    prices = dict(zip(t["fare_attributes.txt"].fare_id, t["fare_attributes.txt"].price))
    od = {(r.origin_id, r.destination_id): prices[r.fare_id] for r in rules.itertuples() if r.origin_id}
    assert od[(trip[1], trip[3])] == "30.00"  # the median of 30 and 30; 300 is an outlier
    assert any(o != trip[0] and d == trip[-1] and p == "50.00" for (o, d), p in od.items())  # the late rider
    assert prices["R001"] == "70.00" and list(rules[rules.fare_id == "R001"].origin_id) == [""]
    boarding = t["stops.txt"][t["stops.txt"].location_type.astype(str) == "0"]
    assert set(boarding.zone_id) == set(boarding.stop_id)  # each stop its own fare zone (stations have none)
    [n] = [n for n in result.run.notices.to_list() if n["code"] == "fare_outlier"][0]["sample_notices"]
    assert n["amount"] == 300 and n["median_amount"] == 30


def test_build_notice_headway_estimated_and_its_provenance(tmp_path):
    """Three rides in one band without departures seen: estimated from their waits there, extrapolated to the
    other hours; with the departures seen, observed."""
    rng = np.random.default_rng(2)
    docs = [ride(ROUTE, at(2026, 3, 2 + k, 7, 0, 3), rng, trace_id=f"R-{k}", collector_id="c", profile=QUIET)
            for k in range(3)]
    for d in docs:
        d.pop("departures", None)
    result = build_network([_write_rides(tmp_path / "a", docs)])
    assert "headway_estimated" in _codes(result)
    assert {h.provenance for h in result.headway_rows} == {"estimated_from_rank_waits", "extrapolated"}
    observed = build_network([_write_rides(tmp_path / "b", _docs(ROUTE, 2))])
    assert {h.provenance for h in observed.headway_rows} <= {"observed", "extrapolated", "assumed"}
    # one notice per trip and band, naming both and saying what headways.csv says
    for run, rows in ((result, result.headway_rows), (observed, observed.headway_rows)):
        notices = next((e["sample_notices"] for e in run.run.notices.to_list() if e["code"] == "headway_estimated"), [])
        keys = [(n["trip_id"], n["start_time"]) for n in notices]
        assert len(keys) == len(set(keys))
        csv = {(h.trip_id, h.start_time): h.provenance for h in rows if h.provenance != "observed"}
        assert {(n["trip_id"], int(n["start_time"][:2]) * 3600 + int(n["start_time"][3:5]) * 60): n["provenance"]
                for n in notices} == csv


def test_boarding_a_leaving_vehicle_is_no_evidence_of_the_headway(tmp_path):
    """Rides that moved off within seconds of the recording's start (the rider got on a vehicle about to leave)
    say nothing of the headway: not 2 x 9 s = 18 s, as an early version published."""
    from dataclasses import replace

    rng = np.random.default_rng(2)
    hurried = replace(QUIET, rank_wait_s=(5.0, 20.0))
    docs = [ride(ROUTE, at(2026, 3, 2, 7 + k, 0, 3), rng, trace_id=f"R-{k}", collector_id="c", profile=hurried)
            for k in range(2)]
    for d in docs:
        d.pop("departures", None)
    result = build_network([_write_rides(tmp_path / "a", docs)])
    assert {h.provenance for h in result.headway_rows} == {"assumed"}
    assert {h.headway_s for h in result.headway_rows} == {600}  # the survey's for minibuses: its default


def test_build_notice_stop_seen_once(tmp_path):
    docs = _docs(ROUTE, 1)
    del docs[0]["stops"]  # no marks: the terminals rest on this one ride's ends
    assert "stop_seen_once" in _codes(build_network([_write_rides(tmp_path / "a", docs)]))
    assert "stop_seen_once" not in _codes(build_network([_write_rides(tmp_path / "b", _docs(ROUTE, 3))]))


def test_build_notice_ride_without_movement(tmp_path):
    from transitmap.clean import CleanConfig

    assert "ride_without_movement" not in _codes(build_network([_write_rides(tmp_path / "b", _docs(ROUTE, 1))]))
    # the cleaning stage's setting, from the build's: a ride must move 10,000 km
    result = build_network([_write_rides(tmp_path / "a", _docs(ROUTE, 1))],
                           BuildConfig(clean=CleanConfig(min_moving_m=1e7)))
    assert "ride_without_movement" in _codes(result) and result.feed is None
    assert [r.status for r in result.ledger_rows] == ["quarantined"]
    assert "ride_without_movement" in result.ledger_rows[0].codes  # traces.csv says why
    assert result.to_report("x")["summary"]["quarantined"] == 1 and result.has_errors


@pytest.mark.parametrize("amounts, price, outliers", [
    ([70, 700], 70.0, [700]),  # two fares, one with an extra zero: the lower median is the reference
    ([70, 70, 700], 70.0, [700]),
    ([10, 70, 70, 70], 70.0, [10]),
    ([50, 70], 50.0, []),  # a fare someone paid, not 60
    ([1.4, 1.5], 1.4, []),  # Accra: one direction 1.40, the other 1.50; nobody pays 1.45
    ([70], 70.0, []),
])
def test_route_fare_is_robust_to_typos(amounts, price, outliers):
    from transitmap.fares import route_fare
    from transitmap.model import Fare

    class _Ride:
        def __init__(self, amount):
            self.fares, self.source, self.trace_id = (Fare(amount, "KES"),), "a.json", "t"

    fare, notices = route_fare("R1", [_Ride(a) for a in amounts])
    assert (fare.price, fare.currency) == (price, "KES")
    assert [n.amount for n in notices] == outliers


def test_partial_riders_fares_count_only_without_full_ones():
    from transitmap.fares import route_fare
    from transitmap.model import Fare

    class _Ride:
        def __init__(self, amount):
            self.fares, self.source, self.trace_id = (Fare(amount, "KES"),), "a.json", "t"

    assert route_fare("R1", [_Ride(70), _Ride(70)], [_Ride(50)])[0].price == 70
    assert route_fare("R1", [], [_Ride(50)])[0].price == 50


def test_clean_trims_the_wait_at_the_rank_and_keeps_it_as_evidence():
    from datetime import timedelta

    from builders import START
    from builders import ride as straight

    from transitmap.read import trace_from_dict
    from transitmap.validate import check_trace

    wait = straight(n=60, dt_s=10, speed_kph=0.0)  # ten minutes at the rank, phone jitter aside
    drive = straight(n=120, dt_s=5, t0=START + timedelta(minutes=10))
    doc = {**drive, "points": wait["points"] + drive["points"][1:]}
    c = check_trace(trace_from_dict(doc, "a.json").trace)
    r = clean_ride(c.trace, c.keep, c.stop_keep, c.fare_keep, EPSG)
    assert r.start_wait_s == pytest.approx(600, abs=10)
    assert r.start >= 59 and r.end == len(r.t_s) - 1
    length = np.hypot(*np.diff(r.moving_xy, axis=0).T).sum()
    assert length == pytest.approx(119 * 30 / 3.6 * 5, rel=0.01)


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_SMALL = [d for route in (spec("R", "Town - Kibera", A, B, C), spec("X", "Town - Eastleigh", A, B, D))
          for d in _docs(route, 2) + _docs(reverse(route), 1, seed=7)]


@pytest.fixture(scope="module")
def small_feed(tmp_path_factory):
    return build_network([_write_rides(tmp_path_factory.mktemp("base"), _SMALL)]).feed


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(len(_SMALL))), names=st.lists(st.text("abcdefgh", min_size=1, max_size=6),
                                                                    min_size=len(_SMALL), max_size=len(_SMALL),
                                                                 unique=True),
       bundle=st.booleans())
def test_build_is_independent_of_order_and_file_names(tmp_path_factory, small_feed, order, names, bundle):
    folder = tmp_path_factory.mktemp("perm")
    if bundle:  # the same rides as JSON Lines in one file, in another order
        (folder / f"{names[0]}.jsonl").write_bytes(b"".join(msgspec.json.encode(_SMALL[i]) + b"\n" for i in order))
    else:
        for k, i in enumerate(order):
            (folder / names[k] / "ride.json").parent.mkdir(parents=True)
            (folder / names[k] / "ride.json").write_bytes(msgspec.json.encode(_SMALL[i]))
    assert build_network([folder]).feed == small_feed


def test_two_route_numbers_on_one_road_stay_two_patterns_even_through_unnamed_rides():
    a = spec("A", "45K Odeon - Githurai", A, B, C)
    b = spec("B", "237 Odeon - Githurai", A, B, C)  # the same road, another route number
    rides = rides_of([(a, 2, {}), (b, 2, {}), (spec("U", "45K Odeon - Githurai", A, B, C), 1, {"name_variant": None})])
    routes, _ = match_rides(rides)
    got = grouping(rides, routes)
    assert len(got) == 2, got
    assert [["A-0", "A-1"]] in got or [["A-0", "A-1", "U-0"]] in got
    assert [["B-0", "B-1"]] in got or [["B-0", "B-1", "U-0"]] in got


def test_rides_crossing_midnight_run_past_24_00_on_their_service_day(tmp_path):
    """Rides leaving at 23:40 and 23:55 and arriving after midnight: the trips belong to the day they left, with
    times past 24:00:00 (GTFS), never wrapped to 00:xx."""
    rng = np.random.default_rng(5)
    docs = [ride(ROUTE, at(2026, 3, 2, 23, m, 3), rng, trace_id=f"late-{m}", collector_id="c", profile=QUIET)
            for m in (40, 55)]
    result = build_network([_write_rides(tmp_path / "a", docs)])
    t = _tables(result.feed)
    freq = t["frequencies.txt"]
    # the declared 05:00-21:00, widened to the hour after the last departure seen (23:55): the evening band to 24:00
    assert freq.groupby("trip_id").end_time.max().eq("24:00:00").all()
    assert freq.groupby("trip_id").start_time.min().eq("05:00:00").all()
    assert not freq.start_time.str.startswith("00:").any()  # never wrapped
    from transitmap.stats import feed_stats

    ends = feed_stats(result.feed).routes["service_end"]
    assert (ends > "24:00:00").all() and (ends < "25:00:00").all()  # the last trips arrive after midnight
    assert t["calendar.txt"]["start_date"].tolist() == ["20260302"]
    findings = run_validator(result.feed, "2026-03-02")
    if findings is not None:
        assert not [f for f in findings if f["severity"] == "ERROR"], findings


def test_regions_matched_in_processes_of_their_own_give_the_same_routes():
    """Two towns 40 km apart (one route each, both directions, a partial ride) and a route on the edge of
    a third: matched in one process or a process per region, the same routes."""
    far = lambda p: (p[0] + 0.36, p[1])  # noqa: E731 - 40 km north
    near_town = spec("N", "Town - Kibera", A, B, C, stops=(0, 0.25, 0.5, 0.75, 1))
    far_town = spec("F", "Thika - Juja", far(A), far(B), far(C))
    rides = rides_of([(near_town, 2, {}), (reverse(near_town), 2, {}), (far_town, 3, {}), (reverse(far_town), 1, {}),
                      (spec("P", "Town - Kibera", A, B, C, stops=(0, 0.25, 0.5, 0.75, 1)), 1, {"partial": True})],
                     seed=4)
    from transitmap.config import BuildConfig
    from transitmap.match import MatchConfig
    from transitmap.network import regions as regions_of
    from transitmap.network import survey_network

    regions = regions_of(rides, MatchConfig())
    assert [sorted(rides[i].trace_id for i in r) for r in regions] == [
        ["N-0", "N-1", "Nr-0", "Nr-1", "P-0"], ["F-0", "F-1", "F-2", "Fr-0"]]
    whole = survey_network(rides, "Africa/Nairobi", EPSG, 1, BuildConfig())
    apart = survey_network(rides, "Africa/Nairobi", EPSG, 2, BuildConfig())
    one, notes_one, two, notes_two = whole.routes, whole.notices, apart.routes, apart.notices
    assert grouping(rides, two) == grouping(rides, one) and len(one) == 2
    assert [[(p.rides, p.partial, p.xy.tobytes()) for p in r.patterns] for r in two] == \
        [[(p.rides, p.partial, p.xy.tobytes()) for p in r.patterns] for r in one]
    assert sorted(n.trace_id for n in notes_two) == sorted(n.trace_id for n in notes_one)


# ------------------------------------------------------------------------ feeds trip planners serve well


def test_a_placeholder_agency_url_is_said_and_the_contact_written_only_when_given(sample_build):
    [found] = [n for n in sample_build.run.notices.to_list() if n["code"] == "placeholder_agency_url"]
    assert found["severity"] == "WARNING" and found["sample_notices"][0]["agency_url"] == "https://example.com/"
    info = _tables(sample_build.feed)["feed_info.txt"]
    assert "feed_contact_url" not in info.columns and "feed_contact_email" not in info.columns
    own = build_network([SAMPLE], BuildConfig(agency_url="https://taxi.example.org/", contact_email="data@example.org"))
    assert "placeholder_agency_url" not in own.run.notices.counts
    info = _tables(own.feed)["feed_info.txt"]
    assert info[["feed_publisher_url", "feed_contact_email"]].values.tolist() == [
        ["https://taxi.example.org/", "data@example.org"]]
    with pytest.raises(SettingsError):
        BuildConfig(contact_email="not an address")


def test_minibus_taxis_stop_anywhere_on_request_and_formal_buses_do_not(sample_build):
    """continuous_pickup / continuous_drop_off 0 for the informal modes (minibus, matatu, trotro, shared and
    motorbike taxis: hail_and_ride_modes); empty (no continuous stopping) for the others, or when set to none."""
    routes = _tables(sample_build.feed)["routes.txt"]
    assert set(routes.continuous_pickup) == {"0"} and set(routes.continuous_drop_off) == {"0"}
    none = build_network([SAMPLE], BuildConfig(hail_and_ride_modes=""))
    assert "continuous_pickup" not in _tables(none.feed)["routes.txt"].columns
    from transitmap.names import canonical_mode

    assert [canonical_mode(m) for m in ("Matatu", "trotro", "boda", "bus", "Tren")] == [
        "minibus", "minibus", "motorbike_taxi", "bus", "rail"]


def test_stops_are_named_by_collectors_or_after_the_nearest_named_stop_never_made_up(sample_build):
    stops = _tables(sample_build.feed)["stops.txt"]
    assert not stops.stop_name.str.contains(r" km \d", regex=True).any()  # "Diepkloof-Bree km 1.8" was made up
    assert (stops.stop_name != "").all()  # stops.txt needs a name for a stop and a station
    assert not stops.stop_name.str.startswith("on ").any()  # never the route's name
    assert not stops.stop_name.str.contains("Bree - ", regex=False).any()


def test_the_boarding_points_of_a_rank_are_grouped_under_one_station(sample_build):
    """Stops collectors gave one name, within 200 m of each other (the bays of a rank, the two sides of a road),
    are children (parent_station) of a station (location_type 1) of that name at their centre."""
    stops = _tables(sample_build.feed)["stops.txt"]
    stations = stops[stops.location_type == "1"]
    assert len(stations) >= 3 and (stations.stop_id.str.endswith("_station")).all()
    for station in stations.itertuples():
        children = stops[stops.parent_station == station.stop_id]
        assert len(children) >= 2 and set(children.stop_name) == {station.stop_name}
        assert (children.location_type == "0").all()
        assert float(station.stop_lat) == pytest.approx(children.stop_lat.astype(float).mean(), abs=1e-6)
    served = set(_tables(sample_build.feed)["stop_times.txt"].stop_id)
    assert not served & set(stations.stop_id)  # trips stop at boarding points, never at a station


def test_service_runs_over_the_declared_hours_and_days_with_the_bands_nobody_rode_extrapolated(sample_build):
    """The sample was ridden on weekdays between noon and 16:00: its feed runs 05:00-21:00 every day (the
    default declaration), each band nobody rode at the headway of the nearest band ridden (``extrapolated``,
    with a notice), and the days nobody rode are said."""
    rows = pd.DataFrame(sample_build.headway_rows)
    for trip, g in rows.groupby("trip_id"):
        assert (g.start_time.min(), g.end_time.max()) == (5 * 3600, 21 * 3600), trip
        assert (g.end_time.iloc[:-1].to_numpy() == g.start_time.iloc[1:].to_numpy()).all()  # no hole
        ridden = g[g.provenance != "extrapolated"]
        assert len(ridden) >= 1
        for h in g[g.provenance == "extrapolated"].itertuples():
            nearest = ridden.iloc[((ridden.start_time + ridden.end_time) / 2 - (h.start_time + h.end_time)
                                   / 2).abs().argmin()]
            assert h.headway_s == nearest.headway_s
    notices = sample_build.run.notices.to_list()
    said = {s["provenance"] for n in notices if n["code"] == "headway_estimated" for s in n["sample_notices"]}
    assert "extrapolated" in said
    [days] = [s for n in notices if n["code"] == "service_days_not_observed" for s in n["sample_notices"]]
    assert days["days"] == "sat,sun" and days["observed"] == "mon,tue,wed,thu,fri"
    calendar = _tables(sample_build.feed)["calendar.txt"].iloc[0]
    assert calendar[["monday", "saturday", "sunday"]].tolist() == ["1", "1", "1"]


def test_a_declaration_narrower_than_the_rides_is_widened_by_them():
    """Declared 13:00-14:00 on weekdays: each pattern runs at least then, and over every hour its rides show; the
    calendar is Monday to Friday and no day is said to be missing."""
    result = build_network([SAMPLE], BuildConfig.from_settings({"service_days": "mon-fri",
                                                               "timing": {"service_hours": "13:00-14:00"}}))
    rows = pd.DataFrame(result.headway_rows)
    assert rows.start_time.min() <= 12 * 3600 and (rows.groupby("trip_id").start_time.min() <= 13 * 3600).all()
    assert (rows.groupby("trip_id").end_time.max() >= 14 * 3600).all()
    assert not (set(rows.provenance) - {"observed", "extrapolated", "assumed", "estimated_from_rank_waits"})
    assert (rows.groupby("trip_id").start_time.min() >= 5 * 3600).all()  # nothing before the first ride's hour
    calendar = _tables(result.feed)["calendar.txt"].iloc[0]
    assert calendar[["friday", "saturday", "sunday"]].tolist() == ["1", "0", "0"]
    assert "service_days_not_observed" not in result.run.notices.counts


@pytest.mark.parametrize("settings", [{"service_days": "weekdays"}, {"timing": {"service_hours": "21:00-05:00"}},
                                      {"timing": {"service_hours": "5-21"}}])
def test_a_service_declaration_that_cannot_work_is_refused(settings):
    with pytest.raises(SettingsError):
        BuildConfig.from_settings(settings)


def test_the_timetable_profile_writes_every_departure_as_a_trip_of_its_own(sample_build):
    """For consumers that do not read frequencies.txt: each band's departures (its start, then every headway) are
    trips with their own stop_times, on the pattern's shape; the same departures as the frequencies describe."""
    timetable = build_network([SAMPLE], BuildConfig(profile="timetable"))
    t, f = _tables(timetable.feed), _tables(sample_build.feed)
    assert "frequencies.txt" not in t
    freq = f["frequencies.txt"].assign(start=lambda d: d.start_time.map(_seconds),
                                       end=lambda d: d.end_time.map(_seconds),
                                       h=lambda d: d.headway_secs.astype(int))
    expected = {(row.trip_id, dep) for row in freq.itertuples() for dep in range(row.start, row.end, row.h)}
    first = t["stop_times.txt"][t["stop_times.txt"].stop_sequence == "1"].merge(t["trips.txt"], on="trip_id")
    got = {(shape, _seconds(time)) for shape, time in zip(first.shape_id, first.departure_time)}
    assert got == expected
    template = f["stop_times.txt"].groupby("trip_id")
    for run in t["trips.txt"].sample(20, random_state=1).itertuples():
        mine = t["stop_times.txt"][t["stop_times.txt"].trip_id == run.trip_id]
        base = template.get_group(run.shape_id)
        assert mine.stop_id.tolist() == base.stop_id.tolist()
        offsets = lambda d: [_seconds(x) - _seconds(d.arrival_time.iloc[0]) for x in d.arrival_time]  # noqa: E731
        assert offsets(mine) == offsets(base)
    findings = run_validator(timetable.feed, "2026-03-04")
    if findings is not None:
        assert not [x for x in findings if x["severity"] == "ERROR"], findings


def _seconds(hms: str) -> int:
    h, m, s = map(int, hms.split(":"))
    return h * 3600 + m * 60 + s


def test_virtual_stops_cut_the_stretches_of_hail_and_ride_routes_for_planners_that_ignore_continuous_stopping():
    result = build_network([SAMPLE], BuildConfig(virtual_stop_m=300))
    t = _tables(result.feed)
    virtual = t["stops.txt"][t["stops.txt"].stop_desc.str.startswith("virtual stop")]
    assert len(virtual) > 20 and virtual.stop_name.str.startswith("between ").all()
    st = t["stop_times.txt"].assign(d=lambda x: x.shape_dist_traveled.astype(float),
                                    s=lambda x: x.arrival_time.map(_seconds), seq=lambda x: x.stop_sequence.astype(int))
    for _, g in st.sort_values(["trip_id", "seq"]).groupby("trip_id"):
        assert (g.d.diff().dropna() <= 300 * 1.5 + 1).all()  # no stretch much longer than asked
        assert (g.s.diff().dropna() >= 0).all()
    none = build_network([SAMPLE], BuildConfig(virtual_stop_m=300, hail_and_ride_modes=""))
    assert "stop_desc" not in _tables(none.feed)["stops.txt"].columns  # only along hail-and-ride routes
    findings = run_validator(result.feed, "2026-03-04")
    if findings is not None:
        assert not [x for x in findings if x["severity"] == "ERROR"], findings
    with pytest.raises(SettingsError):
        BuildConfig(virtual_stop_m=10)


def test_a_band_whose_rides_take_longer_gets_a_trip_with_its_own_times(tmp_path):
    """Three rides at 07:00-08:00 in peak traffic (18 km/h) and three at midday (40 km/h) on one route: the
    peak and the midday each get a trip of the pattern with their own stop times (R001_0_am_peak, on the
    pattern's shape), headways.csv says so and on how many rides; the other bands keep the pattern's trip."""
    rng = np.random.default_rng(7)
    slow, fast = (dataclasses.replace(QUIET, cruise_kph=(k, k)) for k in (18.0, 40.0))
    docs = [ride(ROUTE, at(2026, 3, 2, h, m, 3), rng, trace_id=f"r-{h}-{m}", collector_id="c", profile=p)
            for h, p in ((7, slow), (12, fast)) for m in (0, 15, 30)]
    result = build_network([_write_rides(tmp_path / "a", docs)])
    t = _tables(result.feed)
    trips = t["trips.txt"].set_index("trip_id")
    assert {"R001_0_am_peak", "R001_0_midday"} <= set(trips.index)
    assert set(trips.shape_id) == {"R001_0"} and set(t["shapes.txt"].shape_id) == {"R001_0"}
    st = t["stop_times.txt"].assign(s=lambda d: d.arrival_time.map(_seconds))
    took = st.groupby("trip_id").s.agg(lambda s: s.max() - s.min())
    assert took["R001_0_am_peak"] > 1.6 * took["R001_0_midday"]  # 40 / 18 = 2.2 on the road, less at stops
    rows = pd.DataFrame(result.headway_rows)
    peak = rows[rows.trip_id == "R001_0_am_peak"]
    assert set(peak.travel_times) == {"recorded_in_band"} and set(peak.timed_rides) == {3}
    assert (peak.start_time.min(), peak.end_time.max()) == (6 * 3600, 9 * 3600)
    assert set(rows[rows.trip_id == "R001_0"].travel_times) == {"recorded"}  # 05-06, 16-21: all rides' times
    freq = t["frequencies.txt"]
    assert set(freq[freq.trip_id == "R001_0_am_peak"].start_time) == {"06:00:00"}
    findings = run_validator(result.feed, "2026-03-02")
    if findings is not None:
        assert not [x for x in findings if x["severity"] == "ERROR"], findings


def test_rides_that_take_the_same_time_all_day_give_one_trip(tmp_path):
    rng = np.random.default_rng(7)
    docs = [ride(ROUTE, at(2026, 3, 2, h, m, 3), rng, trace_id=f"r-{h}-{m}", collector_id="c",
                 profile=dataclasses.replace(QUIET, cruise_kph=(30.0, 30.0))) for h in (7, 12) for m in (0, 15, 30)]
    result = build_network([_write_rides(tmp_path / "a", docs)])
    assert set(_tables(result.feed)["trips.txt"].trip_id) == {"R001_0"}


def test_the_first_and_last_departures_riders_note_set_a_routes_hours(tmp_path):
    """"first vehicle 5:30, last one 19h00" in the rides' notes: the route runs 05:30-19:00 instead of the
    declared 05:00-21:00 (widened still by the hours its rides show)."""
    docs = _docs(ROUTE, 2)
    for d in docs:
        d["notes"] = "first vehicle 5:30, last one 19h00 (the rank marshal)"
    result = build_network([_write_rides(tmp_path / "a", docs)])
    rows = pd.DataFrame(result.headway_rows)
    assert (rows.start_time.min(), rows.end_time.max()) == (5 * 3600 + 1800, 19 * 3600)
    plain = build_network([_write_rides(tmp_path / "b", _docs(ROUTE, 2))])
    rows = pd.DataFrame(plain.headway_rows)
    assert (rows.start_time.min(), rows.end_time.max()) == (5 * 3600, 21 * 3600)


@pytest.mark.parametrize("text, first, last", [
    ("first vehicle 5:00, last taxi 19h30", 5 * 3600, 19 * 3600 + 1800), ("premier départ 5h", 5 * 3600, None),
    ("último 9 pm", None, 21 * 3600), ("earliest matatu 4.45am", 4 * 3600 + 2700, None),
    ("first 5", None, None), ("First stop Bree 2k", None, None), ("Terminus 40", None, None)])
def test_service_notes_are_read_in_the_ways_riders_write_them(text, first, last):
    from transitmap.read.notes import service_times

    assert service_times(text) == (first, last)

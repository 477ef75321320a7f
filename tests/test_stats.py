"""Network statistics on hand-made feeds whose figures are known by construction, and on the real feeds."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from builders import gtfs_feed, gtfs_route
from click.testing import CliRunner

from transitmap.cli import main
from transitmap.stats import feed_stats

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
EVERY_10_MIN = [("06:00:00", "20:00:00", 600)]


def straight_10km(**kw):
    """10 km due east, stops every 500 m, 20 km/h, every 10 minutes from 06:00 to 20:00, both directions."""
    return gtfs_route("R1", [(0, 0), (0, 10_000)], headways=EVERY_10_MIN, **kw)


@pytest.fixture(scope="module")
def straight():
    return feed_stats(gtfs_feed(straight_10km(fare=50)))


def test_a_straight_route_measures_what_it_was_built_with(straight):
    [r] = straight.routes.to_dict("records")
    assert r["length_km_0"] == pytest.approx(10.0, rel=0.005) and r["length_km_1"] == pytest.approx(10.0, rel=0.005)
    assert r["length_km"] == pytest.approx(10.0, rel=0.005)
    assert (r["stops_0"], r["stops_1"], r["directions"], r["patterns"]) == (21, 21, 2, 2)
    assert r["stop_spacing_m"] == pytest.approx(500, rel=0.005)
    assert r["travel_time_min_0"] == pytest.approx(30, abs=0.02) and r["travel_time_min_1"] == pytest.approx(30,
                                                                                                             abs=0.02)
    assert r["speed_kph"] == pytest.approx(20, rel=0.005)
    assert r["departures"] == 2 * 84  # 06:00 ... 19:50, both ways
    assert (r["headway_min_min"], r["headway_mean_min"], r["headway_max_min"]) == (10, 10, 10)  # gtfs-kit
    assert r["headway_peak_min"] == 10
    assert (r["service_start"], r["service_end"]) == ("06:00:00", "20:20:00")
    assert r["service_span_h"] == pytest.approx(14 + 1 / 3)
    assert r["cycle_time_min"] == pytest.approx(60, abs=0.05)
    assert r["vehicles_needed"] in (6, 7)  # gtfs-kit: trips running at once, both ways (6, 7 at the turns)
    assert math.ceil(r["cycle_time_min"] / r["headway_peak_min"]) == 6
    assert (r["fare"], r["currency"]) == (50, "KES")
    assert r["fare_per_km"] == pytest.approx(5.0, rel=0.005)


def test_network_figures_of_the_straight_route(straight):
    n = straight.network
    assert (n["routes"], n["patterns"], n["directions"], n["stops"], n["operators"]) == (1, 2, 2, 21, 1)
    assert n["route_km"] == pytest.approx(10, rel=0.005)
    assert n["route_km_both_directions"] == pytest.approx(20, rel=0.005)
    assert n["unique_road_km"] == pytest.approx(10, abs=0.15)  # both directions on one road
    # 500 m around 21 stops 500 m apart: nearly a 10 km x 1 km stadium (10.785 km2), scalloped at the sides
    assert 10.3 < n["area_served_km2"] < 10.79
    assert n["departures"] == 168 and n["vehicles_needed"] in (6, 7)
    lon0, lat0, lon1, lat1 = n["bbox"]
    assert (lon1 - lon0) * 111.32 * math.cos(math.radians(lat0)) == pytest.approx(10, rel=0.005)
    assert lat1 - lat0 < 1e-6


def test_headways_by_time_band(straight):
    bands = straight.headways[straight.headways["direction_id"] == 0].set_index("band")
    assert list(bands.index) == ["am_peak", "midday", "pm_peak", "evening"]
    assert bands.loc["am_peak", "departures"] == 18  # 06:00 ... 08:50
    assert bands.loc["evening", "departures"] == 6  # 19:00 ... 19:50
    assert (bands["headway_median_min"] == 10).all()
    assert (bands["headway_min_min"] == 10).all() and (bands["headway_max_min"] == 10).all()


def test_a_peak_and_a_slow_midday():
    s = feed_stats(gtfs_feed(gtfs_route("P", [(0, 0), (0, 6_000)],
                                        headways=[("06:00:00", "09:00:00", 300), ("09:00:00", "16:00:00", 1200)])))
    bands = s.headways[s.headways["direction_id"] == 0].set_index("band")["headway_median_min"]
    assert bands.to_dict() == {"am_peak": 5, "midday": 20}
    [r] = s.routes.to_dict("records")
    assert r["headway_peak_min"] == 5 and (r["headway_min_min"], r["headway_max_min"]) == (5, 20)
    assert r["vehicles_needed"] in (math.ceil(2 * 18 / 5), math.ceil(2 * 18 / 5) + 1)  # 6 km at 20 km/h: 18 min


def test_trips_without_frequencies_give_headways_from_their_departures():
    s = feed_stats(gtfs_feed(gtfs_route("D", [(0, 0), (0, 5_000)],
                                        departures=["07:00:00", "07:15:00", "07:30:00", "07:45:00"])))
    [r] = s.routes.to_dict("records")
    assert r["departures"] == 8 and r["headway_peak_min"] == 15 and r["vehicles_needed"] in (2, 3)
    assert r["patterns"] == 2  # four trips each way, one pattern


def test_one_way_route_has_a_cycle_of_twice_its_travel_time():
    s = feed_stats(gtfs_feed(gtfs_route("O", [(0, 0), (0, 10_000)], headways=EVERY_10_MIN, both_directions=False)))
    [r] = s.routes.to_dict("records")
    assert r["directions"] == 1 and np.isnan(r["length_km_1"])
    assert r["cycle_time_min"] == pytest.approx(60, abs=0.05) and r["vehicles_needed"] == 3  # one way only


@pytest.mark.parametrize("shape", ["round_trip", "reversed"])
def test_a_direction_measures_its_own_half_of_an_out_and_back_shape(shape):
    """One shape for both directions, out and back on one road (Nairobi's 2014 feed), or a shape drawn against
    the stops: each direction still measures 10 km, not the whole 20 km shape (gtfs-kit's reading) or 0."""
    s = feed_stats(gtfs_feed(gtfs_route("L", [(0, 0), (0, 10_000)], headways=EVERY_10_MIN, shape=shape)))
    [r] = s.routes.to_dict("records")
    assert r["length_km_0"] == pytest.approx(10, rel=0.005) and r["length_km_1"] == pytest.approx(10, rel=0.005)
    assert r["stop_spacing_m"] == pytest.approx(500, rel=0.005)
    assert s.network["unique_road_km"] == pytest.approx(10, abs=0.15)  # the way back is the same road
    if shape == "round_trip":
        assert s.network["patterns_on_self_crossing_shapes"] == 2
        assert s.shapes["gk_distance_m"].to_numpy() == pytest.approx(20_000, rel=0.005)  # gtfs-kit: the whole


def test_stops_are_placed_where_the_feeds_distances_put_them_when_those_check_out():
    from transitmap.stats import _placed

    line = np.array([[0.0, 0.0], [1000.0, 0.0], [1000.0, 1000.0]])
    shape_km = np.array([0.0, 1.0, 2.0])
    stops = np.array([[250.0, 5.0], [1000.0, 400.0]])
    assert _placed(line, stops, np.array([0.25, 1.4]), shape_km, 30.0) == pytest.approx([250, 1400])
    assert _placed(line, stops, np.array([0.25, 1.9]), shape_km, 30.0) is None  # the second stop 500 m off
    assert _placed(line, stops, np.array([1.4, 0.25]), shape_km, 30.0) is None  # out of order
    assert _placed(line, stops, np.array([250.0, 1400.0]), shape_km, 30.0) is None  # other units: far beyond the end
    assert _placed(line, stops, None, shape_km, 30.0) is None


def test_a_feed_with_fitting_stop_distances_is_measured_from_them(monkeypatch):
    """Stop distances that fit the shapes (as transitmap writes them): no stop is placed by the dynamic
    programme, and the figures are those of the route."""
    import transitmap.stats as stats

    def placed_again(*_):
        raise AssertionError("stops placed again although the feed's distances fit")

    monkeypatch.setattr(stats, "_positions", placed_again)
    [r] = feed_stats(gtfs_feed(straight_10km())).routes.to_dict("records")
    assert r["length_km_0"] == pytest.approx(10.0, rel=0.005) and r["length_km_1"] == pytest.approx(10.0, rel=0.005)
    assert r["stop_spacing_m"] == pytest.approx(500, rel=0.005)


def test_stop_distances_that_do_not_fit_the_shape_are_measured_again():
    """Stop distances in km against a shape in metres (a feed's mistake): the stops are placed on the shape
    as if the feed had none, and the route still measures 10 km with stops 500 m apart."""
    import zipfile

    good = gtfs_feed(straight_10km())
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(buf, "w") as out:
        for name in src.namelist():
            text = src.read(name).decode()
            if name == "stop_times.txt":
                t = pd.read_csv(io.StringIO(text), dtype=str)
                t["shape_dist_traveled"] = (t["shape_dist_traveled"].astype(float) / 1000).round(3).astype(str)
                text = t.to_csv(index=False)
            out.writestr(name, text)
    [r] = feed_stats(buf.getvalue()).routes.to_dict("records")
    assert r["length_km_0"] == pytest.approx(10.0, rel=0.005) and r["length_km_1"] == pytest.approx(10.0, rel=0.005)
    assert r["stop_spacing_m"] == pytest.approx(500, rel=0.005)


def test_road_km_count_only_the_patterns_of_trips_described():
    """A trip without stop times, and a trip of a route routes.txt does not list, have no figures (gtfs-kit
    leaves them out): their shapes add no road-km and no corridor, like their routes add no route-km."""
    import zipfile

    far = gtfs_route("R2", [(20_000, 0), (20_000, 6_000)], headways=EVERY_10_MIN)
    other = gtfs_route("R3", [(-20_000, 0), (-20_000, 6_000)], headways=EVERY_10_MIN)
    good = gtfs_feed(straight_10km(), far, other)
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(buf, "w") as out:
        for name in src.namelist():
            t = pd.read_csv(io.BytesIO(src.read(name)), dtype=str)
            if name == "stop_times.txt":  # R2's trips lose their stop times
                t = t[~t["trip_id"].str.startswith("R2")]
            if name == "routes.txt":  # R3 is not listed
                t = t[t["route_id"] != "R3"]
            out.writestr(name, t.to_csv(index=False))
    whole, cut = feed_stats(good).network, feed_stats(buf.getvalue()).network
    assert whole["unique_road_km"] == pytest.approx(10 + 6 + 6, abs=0.3)
    assert cut["routes"] == 1 and cut["patterns"] == 2
    assert cut["route_km"] == pytest.approx(10, rel=0.005)
    assert cut["unique_road_km"] == pytest.approx(10, abs=0.15)


@pytest.fixture(scope="module")
def shared_corridor():
    r1 = straight_10km()
    r2 = gtfs_route("R2", [(0, 0), (0, 4_000), (6_000, 4_000)], headways=EVERY_10_MIN)  # 4 km on R1's road
    r3 = gtfs_route("R3", [(-3_000, 2_000), (3_000, 2_000)], headways=EVERY_10_MIN)  # crosses R1 and R2
    return feed_stats(gtfs_feed(r1, r2, r3))


def test_road_km_count_a_shared_road_once(shared_corridor):
    n = shared_corridor.network
    assert n["route_km"] == pytest.approx(10 + 10 + 6, rel=0.005)
    assert n["unique_road_km"] == pytest.approx(10 + 6 + 6, abs=0.3)


def test_a_road_shared_with_pieces_half_a_piece_apart_counts_once():
    """Pieces of 100 m along the same road, but starting 50 m apart: the middle of one is 51 m from the middle of
    the other, and 10 m from the other piece itself. The KD-tree's candidates must reach that far."""
    r1 = straight_10km()
    r2 = gtfs_route("R2", [(10, 50), (10, 6_050)], headways=EVERY_10_MIN)  # along R1, 10 m to its side
    n = feed_stats(gtfs_feed(r1, r2)).network
    assert n["route_km"] == pytest.approx(10 + 6, rel=0.005)
    assert n["unique_road_km"] == pytest.approx(10, abs=0.15)


def test_the_shared_stretch_is_the_corridor_and_a_crossing_is_not(shared_corridor):
    c = shared_corridor.corridors
    assert len(c) == 1
    [row] = c.to_dict("records")
    assert row["routes"] == 2 and row["route_ids"] == ["R1", "R2"]
    assert row["length_m"] == pytest.approx(4_000, abs=150)
    [geom] = shared_corridor.corridor_geometry
    assert geom.length == pytest.approx(row["length_m"])


def test_distributions_are_quantiles_of_the_route_table(shared_corridor):
    d = shared_corridor.distributions.set_index("metric")
    lengths = shared_corridor.routes["length_km"]
    assert d.loc["route_length", "n"] == 3
    assert d.loc["route_length", "median"] == pytest.approx(lengths.median())
    assert d.loc["route_length", "max"] == pytest.approx(10, rel=0.005)
    assert d.loc["stop_spacing", "median"] == pytest.approx(500, rel=0.01)
    assert d.loc["headway", "unit"] == "min" and d.loc["headway", "median"] == 10
    assert d.loc["fare_per_km", "n"] == 0


def test_survey_coverage_and_route_support_from_a_ledger():
    feed = gtfs_feed(straight_10km(), gtfs_route("R2", [(3_000, 0), (3_000, 5_000)], headways=EVERY_10_MIN,
                                                 both_directions=False))
    rows = [
        ("t1", "used", "", "R1", "0", "full", "cA"), ("t2", "used", "", "R1", "1", "full", "cB"),
        ("t3", "used", "gps_spike", "R1", "0", "full", "cA"), ("t4", "used", "", "R1", "1", "partial", "cB"),
        ("t5", "used", "", "R2", "0", "full", "cC"),
        ("t6", "quarantined", "invalid_json", "", "", "", ""),
        ("t7", "quarantined", "gps_spike;too_slow_for_vehicle", "", "", "", ""),
        ("t8", "duplicate", "duplicate_upload", "", "", "", ""), ("", "quarantined", "empty_file", "", "", "", ""),
    ]
    ledger = pd.DataFrame(rows,
                          columns=["trace_id", "status", "codes", "route_id", "direction_id", "ride", "collector"])
    s = feed_stats(feed, ledger=ledger)
    r = s.routes.set_index("route_id")
    assert r.loc["R1", ["rides", "rides_full", "rides_partial", "collectors"]].tolist() == [4, 3, 1, 2]
    assert r.loc["R2", ["rides", "rides_full", "rides_partial", "collectors"]].tolist() == [1, 1, 0, 1]
    assert r.loc["R1", "confidence"] == "high" and r.loc["R2", "confidence"] == "low"
    c = s.coverage
    assert (c["inputs"], c["used"], c["quarantined"], c["duplicate"], c["unreadable_files"]) == (9, 5, 3, 1, 1)
    assert c["quarantined_share"] == pytest.approx(3 / 9, abs=1e-4)
    # warnings are not why a trace was quarantined
    assert c["quarantine_reasons"] == {"empty_file": 1, "invalid_json": 1, "too_slow_for_vehicle": 1}
    assert c["routes_seen_once"] == ["R2"] and c["routes_one_direction"] == ["R2"] and c["collectors"] == 3


def test_every_figure_agrees_with_gtfs_kit_on_hand_made_feeds(straight, shared_corridor):
    for s in (straight, shared_corridor):
        assert s.agreement and all(a["agree"] for a in s.agreement), s.agreement


@pytest.mark.parametrize("name", ["nairobi-2019", "nairobi-2014", "accra-2016"])
def test_real_feeds_agree_with_gtfs_kit(name):
    path = SHARED / f"{name}-gtfs.zip"
    if not path.exists():
        pytest.skip("../shared/data is not here")
    import gtfs_kit as gk

    s = feed_stats(path)
    assert all(a["agree"] for a in s.agreement), s.agreement
    gfeed = gk.read_feed(path, dist_units="km")
    assert s.network["routes"] + len(s.network["routes_without_service"]) == gfeed.routes["route_id"].nunique()
    if name == "nairobi-2014":
        assert s.network["routes_without_service"] == ["0700033C11"]  # in routes.txt without a trip
    assert s.network["route_km"] > 0 and s.network["unique_road_km"] < s.network["route_km_both_directions"]
    if name == "nairobi-2019":  # our departures are gtfs-kit's frequencies expanded into trips
        expanded = gk.expand_frequencies(gfeed).trips
        assert s.network["departures"] == len(expanded)
        per_route = expanded.groupby("route_id").size()
        assert (s.routes.set_index("route_id")["departures"]
                == per_route.reindex(s.routes["route_id"]).to_numpy()).all()
        assert s.network["routes_with_headway"] >= 130 and s.network["vehicles_needed"] > 1000
    if name == "accra-2016":  # one trip a route: no headway; fares from fare_rules
        assert s.network["routes_with_headway"] == 0 and s.network["routes_with_fare"] == 608


def _gk_reference(feed):
    """gtfs-kit's own trip and route stats of a feed's typical day, as feed_stats prepares the feed, next to
    ours: (theirs, ours) for the trips, then for the routes."""
    import gtfs_kit as gk

    from transitmap import service
    from transitmap import stats as S
    from transitmap.geo import utm_epsg
    from transitmap.model import gtfs_times

    gfeed = S._read(feed)
    date = S._typical_date(gfeed)
    gfeed = gk.restrict_to_trips(gfeed, sorted(set(gk.get_trips(gfeed, date)["trip_id"])))
    gfeed.shapes = S._in_order(gfeed.shapes)
    epsg = utm_epsg(float(gfeed.stops["stop_lat"].median()), float(gfeed.stops["stop_lon"].median()))
    ours = service.trip_stats(gfeed, S._pattern_lines(gfeed, epsg), epsg)
    theirs = service.sorted_trip_stats(gk.compute_trip_stats(gfeed, compute_dist_from_shapes=True))[ours.columns]
    # route stats over the departures, each frequency band's departures as trips of their own
    departures = service.departures(gfeed, ours)
    departures = departures[departures.groupby("route_id")["dep_s"].transform("size") >= 2]
    base = ours.drop(columns=["start_time", "end_time"]).rename(columns={"trip_id": "template"})
    ex = departures[["trip_id", "dep_s", "duration_s"]].rename(columns={"trip_id": "template"}).merge(base)
    ex["trip_id"] = ex["template"] + "#" + ex.groupby("template").cumcount().astype(str)
    ex["start_time"] = gtfs_times(ex["dep_s"].to_numpy(float))
    ex["end_time"] = gtfs_times(np.round((ex["dep_s"] + ex["duration_s"]).to_numpy(float)))
    ex["stop_pattern_name"], ex["is_loop"] = ex["shape_id"], 0
    ex["route_short_name"], ex["route_type"] = "", 3
    route_ours = service.route_stats(service.departures(gfeed, ours), ours, ("07:00:00", "19:00:00"))
    route_theirs = gk.compute_route_stats_0(ex, "07:00:00", "19:00:00", split_directions=False)
    return (theirs, ours), (route_theirs[route_ours.columns] if len(route_ours) else route_theirs, route_ours)


def _same(theirs: pd.DataFrame, ours: pd.DataFrame) -> None:
    """The same rows (none for none), the same values: to the last bit, but distances within a millimetre
    (gtfs-kit projects with PROJ's exact transverse Mercator, transitmap with its series, ``geo.utm_crs``: 3
    micrometres apart)."""
    if ours.empty:
        assert theirs.empty
        return
    assert list(theirs["trip_id" if "trip_id" in ours else "route_id"]) == list(
        ours["trip_id" if "trip_id" in ours else "route_id"])
    for c in ours.columns:
        a, b = theirs[c].to_numpy(), ours[c].to_numpy()
        if c == "distance":
            assert np.allclose(a.astype(float), b.astype(float), rtol=0, atol=1e-6, equal_nan=True)
        elif c in ("duration", "min_headway", "mean_headway", "max_headway"):
            assert np.array_equal(a.astype(float), b.astype(float), equal_nan=True), c
        else:
            assert [None if pd.isna(x) else str(x) for x in a] == [None if pd.isna(x) else str(x) for x in b], c


def test_trip_and_route_figures_are_gtfs_kits_on_hand_made_feeds():
    """Trip stats and route stats computed at once for all trips are gtfs-kit's: on
    frequencies that meet, explicit departures, a single departure, a shape drawn against its stops (gtfs-kit
    takes the whole shape), a round trip's shape (it crosses itself) and a stop off its shape."""
    feed = gtfs_feed(
        gtfs_route("R1", [(0, 0), (0, 10_000)], headways=[("06:00:00", "09:00:00", 284), ("09:00:00", "20:00:00",
                                                                                                600)]),
        gtfs_route("R2", [(0, 0), (0, 4_000), (6_000, 4_000)], departures=["07:00:00", "07:20:00", "08:05:00"]),
        gtfs_route("R3", [(1_000, 0), (1_000, 3_000)], departures=["12:00:00"], both_directions=False),
        gtfs_route("R4", [(2_000, 0), (2_000, 5_000), (4_000, 5_000)], headways=EVERY_10_MIN, shape="reversed"),
        gtfs_route("R5", [(3_000, 0), (3_000, 2_000), (5_000, 2_000)], headways=EVERY_10_MIN, shape="round_trip"))
    (trips_theirs, trips_ours), (routes_theirs, routes_ours) = _gk_reference(feed)
    assert len(trips_ours) == 13 and set(routes_ours["route_id"]) == {"R1", "R2", "R4", "R5"}
    _same(trips_theirs, trips_ours)
    _same(routes_theirs, routes_ours)


@pytest.mark.parametrize("name", ["nairobi-2019", "nairobi-2014", "accra-2016"])
def test_trip_and_route_figures_are_gtfs_kits_on_real_feeds(name):
    path = SHARED / f"{name}-gtfs.zip"
    if not path.exists():
        pytest.skip("../shared/data is not here")
    (trips_theirs, trips_ours), (routes_theirs, routes_ours) = _gk_reference(path)
    assert len(trips_ours) > 100
    _same(trips_theirs, trips_ours)
    _same(routes_theirs, routes_ours)
    if name == "nairobi-2019":
        assert routes_ours["min_headway"].notna().sum() > 100 and (routes_ours["peak_num_trips"] > 1).sum() > 100


# ---------------------------------------------------------------------------------------------- CLI


@pytest.fixture()
def feed_file(tmp_path):
    path = tmp_path / "gtfs.zip"
    path.write_bytes(gtfs_feed(straight_10km(fare=50),
                               gtfs_route("R2", [(0, 0), (0, 4_000), (6_000, 4_000)], headways=EVERY_10_MIN)))
    return path


def test_stats_command_prints_a_summary(feed_file):
    res = CliRunner().invoke(main, ["stats", str(feed_file)])
    assert res.exit_code == 0, res.output
    assert "2 routes, 4 patterns, 4 directions" in res.output
    assert "route-km 20.0 one direction, 40.0 both" in res.output
    assert "C01: 2 routes over" in res.output and "checks against gtfs-kit: all agree" in res.output


def test_stats_command_json_and_csv(feed_file):
    res = CliRunner().invoke(main, ["stats", str(feed_file), "--format", "json"])
    data = json.loads(res.output)
    assert data["network"]["routes"] == 2 and len(data["routes"]) == 2 and data["coverage"] is None
    assert "routes" in {a["figure"] for a in data["agreement"]} and any("cycle time" in a["figure"] for a
                                                                        in data["agreement"])
    res = CliRunner().invoke(main, ["stats", str(feed_file), "--format", "csv"])
    table = pd.read_csv(io.StringIO(res.output))
    assert list(table["route_id"]) == ["R1", "R2"] and table.loc[0, "fare_per_km"] == pytest.approx(5, rel=0.005)


def test_stats_command_writes_report_figures_and_layers(feed_file, tmp_path):
    import pyogrio

    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["stats", str(feed_file), "--out", str(out), "-q"])
    assert res.exit_code == 0, res.output
    for name in ("stats/stats.json", "stats/routes.csv", "stats/headways.csv", "stats/distributions.csv",
                 "stats/corridors.csv", "report.html", "network.gpkg", "figures/network_map.png",
                 "figures/route_length_km.png", "figures/headway_min.png", "figures/fare_per_km.png",
                 "figures/stop_spacing_m.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "figures/network_map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "report.html").read_text()
    assert html.count('class="route"') == 4 and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in html  # self-contained: nothing fetched
    layers = dict(pyogrio.list_layers(out / "network.gpkg"))
    assert set(layers) == {"routes", "stops", "corridors"}
    routes = pyogrio.read_dataframe(out / "network.gpkg", layer="routes")
    assert len(routes) == 4 and routes.crs.to_epsg() == 4326
    assert sorted(routes["route_id"].unique()) == ["R1", "R2"]
    corridors = pyogrio.read_dataframe(out / "network.gpkg", layer="corridors")
    assert len(corridors) == 1 and corridors.loc[0, "route_ids"] == "R1;R2"


def test_stats_output_is_byte_identical_when_run_twice(feed_file, tmp_path):
    for name in ("a", "b"):
        assert CliRunner().invoke(main, ["stats", str(feed_file), "--out", str(tmp_path / name), "-q"]).exit_code == 0
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 13  # with the marker that says transitmap wrote the folder
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_stats_on_something_that_is_not_a_feed_exits_1(tmp_path):
    bad = tmp_path / "notes.zip"
    import zipfile

    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("readme.txt", "hello")
    res = CliRunner().invoke(main, ["stats", str(bad)])
    assert res.exit_code == 1 and "not a usable GTFS feed" in res.output


def test_frequency_bands_that_meet_give_no_headway_shorter_than_their_own(tmp_path):
    """06:00-09:00 every 284 s ends at 08:59:52; the 09:00 band continues a headway after it (not 8 s after)."""
    from transitmap.service import _continued

    fr = pd.DataFrame({"trip_id": ["t", "t", "t", "u"], "s": [21600, 32400, 57600, 32400],
                       "e": [32400, 57600, 68400, 36000], "h": [284, 600, 600, 300]})
    assert _continued(fr).tolist() == [21600, 32392 + 600, 57592 + 600, 32400]
    feed = gtfs_feed(gtfs_route("A", [(0, 0), (0, 5000)], headways=[("06:00:00", "09:00:00", 284),
                                                                      ("09:00:00", "16:00:00", 600)]))
    (tmp_path / "f.zip").write_bytes(feed)
    stats = feed_stats(tmp_path / "f.zip")
    assert stats.headways["headway_min_min"].min() >= 284 / 60 - 1e-9
    assert stats.routes["headway_min_min"].min() >= 284 / 60 - 1e-9

"""Comparing networks: `transitmap diff` on hand-made pairs whose answer is known, on the Nairobi 2014 and
2019 releases, and the stable ids of a rebuild."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import shapely
from builders import gtfs_feed, gtfs_route
from click.testing import CliRunner

from transitmap.cli import main
from transitmap.compare import CompareConfig, diff_feeds, match_points, shares, stable_ids
from transitmap.gtfs import FeedHeadway, FeedMeta, FeedRoute, FeedStop, FeedTrip, feed_bytes, network_tables

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
EVERY_10 = [("06:00:00", "20:00:00", 600)]
EVERY_20 = [("06:00:00", "20:00:00", 1200)]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """Old and new feeds of one area:
    A: same path, new id X1, headway 10 -> 20 min, fare 50 -> 60 (kept, with changes);
    B: same path and id, stops every 500 m -> every 250 m (kept, stops added);
    C: gone (removed); E: new (added);
    D: 10 km east; in the new feed a 2 km stretch runs 600 m further north (re-routed)."""
    old = gtfs_feed(
        gtfs_route("A", [(0, 0), (0, 10_000)], headways=EVERY_10, fare=50),
        gtfs_route("B", [(1000, 0), (9000, 0)], headways=EVERY_10),
        gtfs_route("C", [(-3000, 0), (-3000, 6000)], headways=EVERY_10),
        gtfs_route("D", [(5000, 5000), (5000, 15_000)], headways=EVERY_10))
    new = gtfs_feed(
        gtfs_route("X1", [(0, 0), (0, 10_000)], headways=EVERY_20, fare=60),
        gtfs_route("B", [(1000, 0), (9000, 0)], headways=EVERY_10, stop_every_m=250),
        gtfs_route("D", [(5000, 5000), (5000, 9000), (5600, 9000), (5600, 11_000), (5000, 11_000), (5000, 15_000)],
                   headways=EVERY_10),
        gtfs_route("E", [(-6000, 0), (-6000, 5000)], headways=EVERY_10))
    folder = tmp_path_factory.mktemp("pair")
    (folder / "old.zip").write_bytes(old)
    (folder / "new.zip").write_bytes(new)
    return folder, diff_feeds(old, new)


def by_status(diff) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list] = {}
    for r in diff.routes.itertuples():
        out.setdefault(r.status, []).append((r.old_id, r.new_id))
    return {k: sorted(v) for k, v in out.items()}


def test_a_hand_made_pair_gives_the_known_answer(pair):
    _, d = pair
    assert by_status(d) == {"kept": [("A", "X1"), ("B", "B")], "rerouted": [("D", "D")], "added": [("", "E")],
                            "removed": [("C", "")]}
    rows = d.routes.set_index("old_id")
    a = rows.loc["A"]
    assert set(a["changes"].split(";")) == {"headway", "fare", "name"}
    assert (a["headway_old_min"], a["headway_new_min"], a["fare_old"], a["fare_new"]) == (10, 20, 50, 60)
    b = rows.loc["B"]
    assert b["changes"] == "stops" and b["stops_removed"] == 0
    assert b["stops_added"] == 16  # 8 km: 17 stop places every 500 m, 33 every 250 m: the 16 between are new
    dd = rows.loc["D"]
    assert dd["changes"] == "path;stops"  # the stops of the detour are new places
    # 2 km of the old path left the road (less the 100 m near each end of the detour)
    assert dd["moved_km"] == pytest.approx(1.8, abs=0.15)
    assert dd["new_path_km"] == pytest.approx(1.8 + 2 * 0.5, abs=0.2)  # and the two 600 m legs
    s = d.summary
    assert s["routes"] == {"rerouted": 1, "added": 1, "removed": 1, "kept": 2}
    assert s["matched_with_same_id"] == 2
    assert s["changes"]["path"] == 1 and s["changes"]["headway"] == 1 and s["changes"]["fare"] == 1


def test_a_feed_compared_with_itself_has_no_changes(pair):
    folder, _ = pair
    d = diff_feeds(folder / "new.zip", folder / "new.zip")
    assert set(d.routes["status"]) == {"kept"} and (d.routes["changes"] == "").all()
    assert d.summary["stops"]["added"] == d.summary["stops"]["removed"] == 0
    assert (d.routes["old_id"] == d.routes["new_id"]).all()


def test_the_moved_threshold_is_the_users(pair):
    folder, _ = pair
    d = diff_feeds(folder / "old.zip", folder / "new.zip", CompareConfig(moved_km=3.0))
    assert d.routes.set_index("old_id").loc["D", "status"] == "kept"


def test_diff_cli_text_json_and_html(pair, tmp_path):
    folder, _ = pair
    old, new = str(folder / "old.zip"), str(folder / "new.zip")
    res = CliRunner().invoke(main, ["diff", old, new])
    assert res.exit_code == 0, res.output
    assert "routes: 2 kept, 1 re-routed, 1 added, 1 removed" in res.output
    assert "rerouted  D  D Route D: path" in res.output and "removed   C -> -" in res.output
    res = CliRunner().invoke(main, ["diff", old, new, "--format", "json"])
    doc = json.loads(res.output)
    res = CliRunner().invoke(main, ["diff", old, new, "--format", "json", "--out", str(tmp_path / "d.json")])
    assert res.output == f"json written to {tmp_path / 'd.json'}\n"
    assert doc == json.loads((tmp_path / "d.json").read_text())
    assert {r["status"] for r in doc["routes"]} == {"kept", "rerouted", "added", "removed"}
    res = CliRunner().invoke(main, ["diff", old, new, "--format", "html"])
    page = res.output
    assert page.startswith("<!DOCTYPE html>") and page.count('class="route rerouted"') == 2  # both directions
    assert page.count('class="route removed"') == 2 and page.count('class="route added"') == 2
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")  # self-contained
    res = CliRunner().invoke(main, ["diff", old, str(tmp_path / "d.json")])
    assert res.exit_code == 1 and "not a usable GTFS feed" in res.output


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/data (real feeds) is not present")
def test_nairobi_2014_to_2019_is_plausible():
    d = diff_feeds(SHARED / "nairobi-2014-gtfs.zip", SHARED / "nairobi-2019-gtfs.zip")
    s = d.summary
    r = s["routes"]
    assert r["kept"] + r["rerouted"] == 114 and r["kept"] > 2 * r["rerouted"]  # most routes kept
    assert 15 <= r["added"] <= 30 and 1 <= r["removed"] <= 10  # 136 routes now, 117 run then
    assert 10 <= r["rerouted"] <= 45
    # the paths agree with the feeds' own ids: nearly every matched route kept its id
    assert s["matched_with_same_id"] >= 105
    # 2019 re-surveyed the stops (4,273 against 1,380); most old stop places are still there
    assert s["stops"]["kept"] > 0.7 * s["old"]["stops"] and s["stops"]["added"] > 2000


# --------------------------------------------------------------------------------------------------
# Stable ids


def line(*xy):
    return shapely.linestrings(np.array(xy, float))


def previous_feed(routes: dict[str, list], stops: dict[str, tuple[float, float]], epsg: int) -> bytes:
    """A feed as a build writes it, from lines and stops in metres (UTM ``epsg``)."""
    from pyproj import Transformer

    from transitmap.geo import utm_crs

    tr = Transformer.from_crs(utm_crs(epsg), "EPSG:4326", always_xy=True)

    def latlon(xy):
        lon, lat = tr.transform(*np.asarray(xy, float).T)
        return np.asarray(lat), np.asarray(lon)

    stop_list = [FeedStop(sid, sid, *(float(v[0]) for v in latlon(np.array([xy])))) for sid, xy in stops.items()]
    feed_routes = []
    first = stop_list[0].stop_id
    for rid, dirs in routes.items():
        trips = []
        for d, g in enumerate(dirs):
            lat, lon = latlon(np.asarray(g.coords))
            dist = np.r_[0, np.cumsum(np.hypot(*np.diff(np.asarray(g.coords), axis=0).T))]
            trips.append(FeedTrip(d, 0, "", (first, first), np.array([0, 60]), np.array([0, dist[-1]]), lat, lon, dist,
                                  (FeedHeadway(7 * 3600, 8 * 3600, 600),)))
        feed_routes.append(FeedRoute(rid, "A0", rid, tuple(trips)))
    meta = FeedMeta((("A0", "x"),), "https://example.com/", "Africa/Nairobi", "en", (0,), "20260302", "20270302", "t",
                    "1")
    return feed_bytes(network_tables(feed_routes, stop_list, meta))


EPSG = 32737


def test_stable_ids_keep_what_is_the_same_and_number_what_is_new():
    north = line((500_000, 9_850_000), (500_000, 9_860_000))
    east = line((490_000, 9_855_000), (499_000, 9_855_000))
    old = previous_feed({"R001": [north, north.reverse()], "R007": [east, east.reverse()]},
                        {"S0001": (500_000, 9_850_000), "S0002": (500_000, 9_860_000), "S0009": (490_000, 9_855_000)},
                        EPSG)
    far = line((520_000, 9_850_000), (520_000, 9_855_000))
    new_routes = [
        {0: [far]},  # a new route
        {0: [east.reverse()], 1: [east]},  # R007, now found running west first: its directions are swapped
        # R001, 40 m off
        {0: [shapely.affinity.translate(north, 40, 0)], 1: [shapely.affinity.translate(north.reverse(), 40, 0)]},
    ]
    stops = np.array([[500_010, 9_850_005], [520_000, 9_850_000], [490_000, 9_855_020], [500_000, 9_860_100]])
    ids = stable_ids(old, new_routes, stops, EPSG, reserved=frozenset({"R012", "S0040"}))
    assert ids.route_ids == ["R013", "R007", "R001"]  # numbered after every id published, retired ones too
    assert ids.flipped == [False, True, False]
    assert ids.stop_ids == ["S0001", "S0041", "S0009", "S0042"]  # 100 m off is another stop place
    assert (ids.kept_routes, ids.kept_stops) == (2, 2)


def test_a_first_build_numbers_from_one():
    ids = stable_ids(None, [{0: [line((0, 0), (1000, 0))]}] * 2, np.zeros((3, 2)), EPSG)
    assert ids.route_ids == ["R001", "R002"] and ids.stop_ids == ["S0001", "S0002", "S0003"]


def test_shares_and_points_match_what_is_near():
    a = {"a": [line((0, 0), (10_000, 0))]}
    b = {"b": [line((0, 50), (5_000, 50))], "c": [line((0, 500), (10_000, 500))]}
    s = shares(a, b).set_index("b_id")
    assert list(s.index) == ["b"]
    assert s.loc["b", "a_share"] == pytest.approx(0.51, abs=0.01) and s.loc["b", "b_share"] == pytest.approx(1.0)
    assert s.loc["b", "a_km"] == pytest.approx(10.0, abs=0.02)
    assert match_points(np.array([[0, 0], [100, 0]]), np.array([[90, 0], [5, 0], [500, 0]]), 30) == {0: 1, 1: 0}

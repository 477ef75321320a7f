"""A build with an OpenStreetMap extract (``--osm``): shapes on the extract's roads, the recorded path where the
map has no road, unnamed stops named after the map's stops and streets."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import shapely
from click.testing import CliRunner
from test_build import A, B, C, _docs, _write_rides, reverse, spec

from transitmap.cli import main
from transitmap.config import BuildConfig
from transitmap.errors import SettingsError
from transitmap.geo import project, unproject, utm_epsg
from transitmap.gtfs import read_feed
from transitmap.osm import OsmConfig
from transitmap.pipeline import build_network

pytest.importorskip("osmium")
pytest.importorskip("fastmm")

EPSG = utm_epsg(-1.27, 36.84)
ROUTE = spec("R", "Town - Kibera", A, B, C, stops=(0, 0.25, 0.5, 0.75, 1))


def _xy(latlon) -> np.ndarray:
    x, y = project(np.array([latlon[0]]), np.array([latlon[1]]), EPSG)
    return np.array([x[0], y[0]])


def _road(a, b, offset_m: float, step_m: float = 150.0) -> list[np.ndarray]:
    """Points from a to b every ``step_m``, ``offset_m`` to the right of the line (a road mapped a little off
    where the GPS puts the vehicles)."""
    a, b = _xy(a), _xy(b)
    d = b - a
    n = max(int(np.hypot(*d) // step_m), 1)
    right = np.array([d[1], -d[0]]) / np.hypot(*d)
    return [a + d * k / n + right * offset_m for k in range(n + 1)]


def osm_file(path: Path, ways: list[tuple[list[np.ndarray], dict]], stops: list[tuple[np.ndarray, str]]) -> Path:
    """A small .osm file: ways (points in metres of EPSG, tags) and named bus stops."""
    nodes, lines, ids = [], [], iter(range(1, 10_000))
    for pts, tags in ways:
        refs = []
        for p in pts:
            lat, lon = unproject(np.array([p[0]]), np.array([p[1]]), EPSG)
            k = next(ids)
            refs.append(k)
            nodes.append(f'  <node id="{k}" version="1" lat="{lat[0]:.7f}" lon="{lon[0]:.7f}"/>')
        lines.append(f'  <way id="{next(ids) + 100_000}" version="1">' + "".join(f'<nd ref="{r}"/>' for r in refs)
                     + "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items()) + "</way>")
    for p, name in stops:
        lat, lon = unproject(np.array([p[0]]), np.array([p[1]]), EPSG)
        nodes.append(f'  <node id="{next(ids)}" version="1" lat="{lat[0]:.7f}" lon="{lon[0]:.7f}">'
                     f'<tag k="highway" v="bus_stop"/><tag k="public_transport" v="platform"/>'
                     f'<tag k="name" v="{name}"/></node>')
    path.write_text("<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\" generator=\"test\">\n"
                    + "\n".join(nodes + lines) + "\n</osm>\n", encoding="utf-8")
    return path


def _on(a, b, f: float) -> np.ndarray:
    return _xy(a) + (_xy(b) - _xy(a)) * f


@pytest.fixture()
def town(tmp_path):
    """Rides of Town - Kibera both ways (A - B - C, stops at every quarter) marking their stops without names,
    and an extract that maps the road (8 m off the rides' line, as maps and phones disagree) from A to 4/5 of
    the way from B to C, not the rest; a bus stop near the stop half way from A to B, a street crossing at the
    stop half way from B to C."""
    docs = _docs(ROUTE, 3) + _docs(reverse(ROUTE), 2, seed=3)
    for d in docs:
        d["stops"] = [{k: v for k, v in m.items() if k != "name"} for m in d["stops"]]
    folder = _write_rides(tmp_path / "in", docs)
    end = tuple(unproject(*(np.array([v]) for v in _on(B, C, 0.8)), EPSG))
    road = _road(A, B, 8.0) + _road(B, (float(end[0][0]), float(end[1][0])), 8.0)[1:]
    crossing = _on(B, C, 0.5)
    extract = osm_file(tmp_path / "town.osm", [
        (road, {"highway": "primary", "name": "Moi Avenue"}),
        ([crossing + (-300, 300), crossing + (300, -300)], {"highway": "residential", "name": "Kenyatta Lane"}),
        ([_xy(A) + (0, 400), _xy(A) + (2000, 2400)], {"highway": "footway", "name": "Not A Road"}),
    ], [(_on(A, B, 0.5) + (10, -10), "Kencom")])
    return folder, extract


def _build(folder, extract=None):
    return build_network([folder], dataclasses.replace(BuildConfig(), workers=1, pseudonym_key="k",
                                                       osm_extract=str(extract) if extract else None))


def test_shapes_lie_on_the_extracts_roads_and_keep_the_recorded_path_where_it_has_none(town):
    folder, extract = town
    plain, mapped = _build(folder), _build(folder, extract)
    road = shapely.LineString(_road(A, B, 8.0))  # the first half (past B, the road bends)
    beyond = shapely.LineString([_on(B, C, 0.8), _xy(C)])
    for result, on_road in ((plain, False), (mapped, True)):
        shapes = read_feed(result.feed, ("shapes",)).shapes
        for _, shape in shapes.groupby("shape_id"):
            x, y = project(shape["shape_pt_lat"].astype(float).to_numpy(), shape["shape_pt_lon"].astype(float)
                           .to_numpy(), EPSG)
            pts = shapely.points(np.column_stack([x, y]))
            to_road, to_beyond = shapely.distance(pts, road), shapely.distance(pts, beyond)
            first_half = to_road < to_beyond
            if on_road:  # on the mapped road to the metre; past B, where the map has none, as recorded
                assert (to_road[first_half] < 1.0).mean() > 0.95
                assert 0 < np.median(to_beyond[~first_half]) < 10
            else:
                assert np.median(to_road[first_half]) > 5
    [notice] = [n for n in mapped.run.notices.to_list() if n["code"] == "road_missing_from_extract"][:1]
    assert notice["total_notices"] == 2  # the stretch past B, in each direction
    sample = notice["sample_notices"][0]
    beyond_m = 0.2 * float(np.hypot(*(_xy(C) - _xy(B))))
    assert sample["route_id"] == "R001" and 0.8 * beyond_m < sample["length_m"] < 1.2 * beyond_m
    assert mapped.osm["stretches_off_map"] == 2 and mapped.osm["attribution"].endswith("ODbL 1.0")
    assert "road_missing_from_extract" not in plain.run.notices.counts and plain.osm is None


def test_stops_keep_their_places_along_the_snapped_shapes(town):
    folder, extract = town
    plain, mapped = _build(folder), _build(folder, extract)
    for result in (plain, mapped):
        feed = read_feed(result.feed, ("stop_times", "shapes", "trips"))
        st, shapes = feed.tables["stop_times"], feed.shapes
        length = shapes.groupby("shape_id")["shape_dist_traveled"].apply(lambda s: s.astype(float).max())
        for trip_id, times in st.groupby("trip_id"):
            dist = times.sort_values("stop_sequence", key=lambda s: s.astype(int))["shape_dist_traveled"]
            dist = dist.astype(float).to_numpy()
            shape_id = feed.trips.set_index("trip_id").loc[trip_id, "shape_id"]
            assert np.all(np.diff(dist) > 0) and dist[-1] <= length[shape_id] + 1e-6
    # the same stops in the same order, each where its distance along the snapped shape puts it
    feed = read_feed(mapped.feed, ("stop_times", "shapes", "trips", "stops"))
    assert list(read_feed(plain.feed, ("stop_times",)).tables["stop_times"]["stop_id"]) == list(
        feed.tables["stop_times"]["stop_id"])
    where = feed.stops.set_index("stop_id")
    for trip_id, times in feed.tables["stop_times"].groupby("trip_id"):
        shape = feed.shapes[feed.shapes["shape_id"] == feed.trips.set_index("trip_id").loc[trip_id, "shape_id"]]
        line = np.column_stack(project(shape["shape_pt_lat"].astype(float).to_numpy(),
                                       shape["shape_pt_lon"].astype(float).to_numpy(), EPSG))
        dist = shape["shape_dist_traveled"].astype(float).to_numpy()
        at = times["shape_dist_traveled"].astype(float).to_numpy()
        placed = np.column_stack([np.interp(at, dist, line[:, 0]), np.interp(at, dist, line[:, 1])])
        stop = np.column_stack(project(where.loc[times["stop_id"], "stop_lat"].astype(float).to_numpy(),
                                       where.loc[times["stop_id"], "stop_lon"].astype(float).to_numpy(), EPSG))
        assert np.hypot(*(placed - stop).T).max() < 30


def test_unnamed_stops_are_named_after_the_maps_stops_and_streets(town):
    folder, extract = town
    plain, mapped = _build(folder), _build(folder, extract)
    before = set(read_feed(plain.feed, ("stops",)).stops["stop_name"])
    after = set(read_feed(mapped.feed, ("stops",)).stops["stop_name"])
    assert not before & {"Kencom", "Moi Avenue", "Moi Avenue at Kenyatta Lane"}
    assert {"Kencom", "Moi Avenue at Kenyatta Lane"} <= after
    assert "Not A Road" not in " ".join(after)  # a footway is no street of a bus
    assert mapped.osm["stops_named_after_osm_stops"] >= 1 and mapped.osm["stops_named_after_streets"] >= 2


def test_a_name_a_collector_gave_stays(tmp_path, town):
    _, extract = town
    docs = _docs(ROUTE, 3) + _docs(reverse(ROUTE), 2, seed=3)
    places = {"R stop 1": "Archives", "R stop 2": "Ngara", "R stop 3": "Pangani"}
    for d in docs:
        d["stops"] = [{**m, "name": places.get(m.get("name"), m.get("name"))} for m in d["stops"]]
    folder = _write_rides(tmp_path / "named", docs)
    names = set(read_feed(_build(folder, extract).feed, ("stops",)).stops["stop_name"])
    assert names == {"Town", "Archives", "Ngara", "Pangani", "Kibera"}


def test_the_command_takes_an_extract_and_refuses_what_is_not_one(tmp_path, town):
    folder, extract = town
    run = CliRunner().invoke(main, ["build", str(folder), "--out", str(tmp_path / "out"), "--osm", str(extract),
                                    "--no-validate", "--format", "json"])
    assert run.exit_code == 0, run.output
    assert json.loads(run.output)["osm"]["extract"] == "town.osm"
    assert (tmp_path / "out" / "routes.osm").read_bytes().startswith(b"<?xml")
    again = CliRunner().invoke(main, ["build", str(folder), "--out", str(tmp_path / "out"), "--no-validate"])
    assert again.exit_code == 0, again.output  # an earlier output, routes.osm and all: built again without it
    assert not (tmp_path / "out" / "routes.osm").exists()
    bad = tmp_path / "bad.osm"
    bad.write_text("not xml at all", encoding="utf-8")
    run = CliRunner().invoke(main, ["build", str(folder), "--out", str(tmp_path / "out2"), "--osm", str(bad),
                                    "--no-validate"])
    assert run.exit_code == 2 and "cannot be read as an OpenStreetMap extract" in run.output
    with pytest.raises(SettingsError, match="is not a file"):
        BuildConfig(osm_extract=str(tmp_path / "missing.osm.pbf"))


def test_an_extract_without_roads_keeps_every_path_and_says_so(tmp_path, town):
    folder, _ = town
    extract = osm_file(tmp_path / "stops-only.osm", [], [(_on(A, B, 0.5) + (10, -10), "Kencom")])
    plain, mapped = _build(folder), _build(folder, extract)
    assert read_feed(plain.feed, ("shapes",)).shapes.equals(read_feed(mapped.feed, ("shapes",)).shapes)
    assert mapped.osm["stretches_off_map"] == 2 and mapped.run.notices.counts["road_missing_from_extract"] == 2
    assert "Kencom" in set(read_feed(mapped.feed, ("stops",)).stops["stop_name"])


def test_routes_osm_has_a_route_relation_per_pattern_and_a_route_master(tmp_path, town):
    """PTv2: each pattern a route relation (its stops as platforms in order, then the ways), both under a
    route_master; the map's bus stop is a member as it is, the other stops are new nodes."""
    folder, extract = town
    result = _build(folder, extract)
    root = ET.fromstring(result.routes_osm)
    trips = read_feed(result.feed, ("stop_times",)).tables["stop_times"].groupby("trip_id").size()
    tags = {int(r.get("id")): {t.get("k"): t.get("v") for t in r.iter("tag")} for r in root.iter("relation")}
    routes = [i for i, t in tags.items() if t["type"] == "route"]
    [master] = [i for i, t in tags.items() if t["type"] == "route_master"]
    assert len(routes) == 2 and all(i < 0 for i in routes)
    for i in routes:
        t = tags[i]
        assert t["route"] == "minibus" and t["public_transport:version"] == "2" and t["ref"] == "R001"
        assert t["name"] == f"Minibus R001: {t['from']} => {t['to']}" and {t["from"], t["to"]} == {"Town", "Kibera"}
        assert re.fullmatch(r"\d\d:\d\d", t["duration"]) and re.fullmatch(r"\d\d:\d\d", t["interval"])
        assert t["opening_hours"] == "Mo-Su 05:00-21:00"
    members = {int(r.get("id")): [(m.get("type"), int(m.get("ref")), m.get("role")) for m in r.iter("member")]
               for r in root.iter("relation")}
    assert [ref for _, ref, _ in members[master]] == routes
    nodes = {int(n.get("id")): {t.get("k"): t.get("v") for t in n.iter("tag")} for n in root.iter("node")}
    assert sorted(sum(t == "node" for t, _, _ in members[i]) for i in routes) == sorted(trips)
    for i in routes:
        kinds = [t for t, _, _ in members[i]]
        assert kinds == sorted(kinds, key=lambda k: k != "node")  # platforms first, then ways
        stops = [nodes[ref] for t, ref, role in members[i] if t == "node"]
        assert len(stops) >= 4 and all(s["public_transport"] == "platform" for s in stops)
        assert [t for t, _, _ in members[i]].count("way") == 1  # the one road, whole: no way to split
    assert "Kencom" in {s.get("name") for s in nodes.values()}
    kencom = [k for k, s in nodes.items() if s.get("name") == "Kencom"]
    assert kencom and kencom[0] > 0  # the map's own node


def test_a_way_the_route_joins_midway_is_split_and_the_maps_relations_follow(tmp_path, town):
    folder, _ = town
    before = _xy(A) + (_xy(A) - _xy(B)) / np.hypot(*(_xy(A) - _xy(B))) * 450  # the road goes on behind the rank
    road = [before + (_xy(A) - before) * k / 3 for k in range(3)] + _road(A, B, 8.0)
    other = [before + (-400, 0), before + (-5, 0)]  # a road the map's own route relation takes before ours
    relation = ('  <relation id="900" version="3"><member type="way" ref="{other}" role=""/>'
                '<member type="way" ref="{road}" role=""/><tag k="type" v="route"/><tag k="route" v="bus"/>'
                '<tag k="ref" v="9"/></relation>\n')
    extract = osm_file(tmp_path / "split.osm", [(other, {"highway": "residential", "name": "Back Street"}),
                                                (road, {"highway": "primary", "name": "Moi Avenue"})], [])
    way_id = {w.find("tag[@k='name']").get("v"): int(w.get("id")) for w in ET.parse(extract).getroot().iter("way")}
    other_id, road_id = way_id["Back Street"], way_id["Moi Avenue"]
    extract.write_text(extract.read_text().replace("</osm>", relation.format(other=other_id, road=road_id)
                                                   + "</osm>"), encoding="utf-8")
    result = _build(folder, extract)
    root = ET.fromstring(result.routes_osm)
    ways = {int(w.get("id")): [int(n.get("ref")) for n in w.iter("nd")] for w in root.iter("way")}
    [new] = [k for k in ways if k < 0]
    assert ways[road_id][-1] == ways[new][0]  # split where our routes join it: the first part keeps the id
    assert len(ways[road_id]) == 4 and ways[new][-1] == ways[road_id][0] + len(road) - 1
    members = {int(r.get("id")): [int(m.get("ref")) for m in r.iter("member") if m.get("type") == "way"]
               for r in root.iter("relation")}
    assert members[900] == [other_id, road_id, new]  # the map's relation holds both parts, in its order
    ours = [m for i, m in members.items() if i < 0 and m]
    assert ours and all(m == [new] for m in ours)  # ours only the part they run along
    assert all(int(w.get("id")) > 0 or w.get("action") == "modify" for w in root.iter("way"))
    assert root.find("relation[@id='900']").get("version") == "3"
    (tmp_path / "routes.osm").write_bytes(result.routes_osm)
    _josm_finds_no_error(tmp_path)


def test_josm_loads_routes_osm_and_finds_no_error(tmp_path, town):
    """JOSM's validator (Debian's josm, run headless; CI installs it: .ci/run) on the routes of the town."""
    folder, extract = town
    (tmp_path / "routes.osm").write_bytes(_build(folder, extract).routes_osm)
    if not Path(JOSM).exists() or not shutil.which("java"):
        pytest.skip("JOSM is not installed (apt-get install josm)")
    _josm_finds_no_error(tmp_path)


JOSM = "/usr/share/josm/josm.jar"


def _josm_finds_no_error(tmp_path) -> None:
    """JOSM's validator on tmp_path/routes.osm, where Debian's josm is installed: it loads, no error."""
    if not Path(JOSM).exists() or not shutil.which("java"):
        return
    jar = JOSM
    run = subprocess.run(["java", "-jar", str(jar), "validate", "-i", "routes.osm", "-o", "found.geojson"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    text = (tmp_path / "found.geojson").read_text(encoding="utf-8")
    found = [f["properties"] for chunk in text.split("\x1e") if chunk.strip() for f in json.loads(chunk)["features"]]
    assert not [f for f in found if f.get("severity") == "Errors"], [(f.get("message"), f.get("@id")) for f in found]


def test_a_street_names_at_most_two_stops_of_a_trip(tmp_path, town):
    """Three stops in a row on Moi Avenue, with no bus stop or crossing street near: "Moi Avenue" three times
    would tell a rider nothing, so they are named as stops nobody named are."""
    folder, _ = town
    end = tuple(unproject(*(np.array([v]) for v in _on(B, C, 0.8)), EPSG))
    road = _road(A, B, 8.0) + _road(B, (float(end[0][0]), float(end[1][0])), 8.0)[1:]
    extract = osm_file(tmp_path / "street.osm", [(road, {"highway": "primary", "name": "Moi Avenue"})], [])
    result = _build(folder, extract)
    feed = read_feed(result.feed, ("stop_times", "stops"))
    names = feed.tables["stop_times"].merge(feed.stops[["stop_id", "stop_name"]], on="stop_id")
    per_trip = names.groupby("trip_id")["stop_name"].apply(list)
    assert all(list(trip).count("Moi Avenue") <= 2 for trip in per_trip)
    assert result.osm["stops_named_after_streets"] == 2  # the two of the other direction, which has four stops


def test_an_extract_named_in_survey_toml_is_found_beside_it(tmp_path, town, monkeypatch):
    from transitmap.config import load_config

    _, extract = town
    (tmp_path / "survey.toml").write_text('[build]\nosm_extract = "town.osm"\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path.parent)  # elsewhere: the path is the file's, not the current folder's
    assert load_config(str(tmp_path / "survey.toml")).osm_extract == str(extract)


def test_the_feed_attributes_openstreetmap_and_passes_the_validator(town):
    from transitmap.gtfs import validator_summary

    folder, extract = town
    plain, mapped = _build(folder), _build(folder, extract)
    [row] = read_feed(mapped.feed, ("attributions",)).tables["attributions"].to_dict("records")
    assert row["organization_name"] == "OpenStreetMap contributors (ODbL 1.0)" and row["is_producer"] == "1"
    assert row["attribution_url"] == "https://www.openstreetmap.org/copyright"
    assert "attributions" not in read_feed(plain.feed).tables
    found = validator_summary(mapped.feed, mapped.service_start)
    if not found["ran"]:
        pytest.skip("the GTFS validator is not installed (pip install '.[validate]')")
    assert found["errors"] == 0, found


def test_stops_the_snapped_path_brings_to_one_place_keep_their_order():
    from transitmap.osm import _apart

    assert list(_apart(np.array([0.0, 100.0, 100.0, 100.0, 250.0]), 300.0)) == [0.0, 100.0, 100.5, 101.0, 250.0]
    assert list(_apart(np.array([10.0, 299.0, 300.0, 300.0]), 300.0)) == [10.0, 299.0, 299.5, 300.0]


def test_a_street_on_three_stops_of_a_trip_names_them_near_the_maps_bus_stop(tmp_path, town):
    """The same three stops on Moi Avenue with a bus stop of the map 140 m from the first of them (too far to
    name it, near enough to tell it apart): "Moi Avenue near Kencom"; no name three times on a trip."""
    folder, _ = town
    end = tuple(unproject(*(np.array([v]) for v in _on(B, C, 0.8)), EPSG))
    road = _road(A, B, 8.0) + _road(B, (float(end[0][0]), float(end[1][0])), 8.0)[1:]
    extract = osm_file(tmp_path / "street.osm", [(road, {"highway": "primary", "name": "Moi Avenue"})],
                       [(_on(A, B, 0.5) + (100, -100), "Kencom")])
    feed = read_feed(_build(folder, extract).feed, ("stop_times", "stops"))
    names = feed.tables["stop_times"].merge(feed.stops[["stop_id", "stop_name"]], on="stop_id")
    per_trip = names.groupby("trip_id")["stop_name"].apply(list)
    assert "Moi Avenue near Kencom" in set(names["stop_name"]) and "Kencom" not in set(names["stop_name"])
    assert all(max(list(trip).count(n) for n in trip) <= 2 for trip in per_trip)


def test_a_stop_in_a_yard_off_the_road_keeps_the_recorded_path_around_it(tmp_path):
    """Vehicles leave Moi Avenue half way for a yard 35 m beside it (43 m from the mapped road; a rank with no
    road of its own on the map) and stop there: the stretch beyond 40 m of the road is too short to keep for
    want of a road, so FMM's path passes the yard's stop 49 m away. The recorded path stays around that stop,
    and no notice says a road is missing; without the rule (``stop_off_road_m`` out of reach) the stop is far
    from its shape."""
    a, b = _xy(A), _xy(B)
    d = (b - a) / np.hypot(*(b - a))
    mid, yard = (a + b) / 2, (a + b) / 2 + 35 * np.array([-d[1], d[0]])  # left of the road, which is 8 m right
    path = [a, mid - 30 * d, yard, mid + 30 * d, b]
    latlon = [tuple(float(v[0]) for v in unproject(np.array([p[0]]), np.array([p[1]]), EPSG)) for p in path]
    docs = _docs(spec("Y", "Town - Yard End", *latlon, stops=(0, 0.25, 0.5, 0.75, 1)), 3)
    for doc in docs:
        doc["stops"] = [{k: v for k, v in m.items() if k != "name"} for m in doc["stops"]]
    folder = _write_rides(tmp_path / "in", docs)
    extract = osm_file(tmp_path / "yard.osm", [(_road(A, B, 8.0), {"highway": "primary", "name": "Moi Avenue"})],
                       [])
    road = shapely.LineString(_road(A, B, 8.0))
    for osm, stop_to_shape_m in ((OsmConfig(), (0, 5)), (OsmConfig(stop_off_road_m=1e6), (40, 60))):
        result = build_network([folder], dataclasses.replace(BuildConfig(), workers=1, pseudonym_key="k",
                                                             osm_extract=str(extract), osm=osm))
        feed = read_feed(result.feed, ("shapes", "stops"))
        xy = np.column_stack(project(feed.shapes["shape_pt_lat"].astype(float).to_numpy(),
                                     feed.shapes["shape_pt_lon"].astype(float).to_numpy(), EPSG))
        stops = np.column_stack(project(feed.stops["stop_lat"].astype(float).to_numpy(),
                                        feed.stops["stop_lon"].astype(float).to_numpy(), EPSG))
        at_yard = stops[np.argmin(np.hypot(*(stops - yard).T))]
        assert np.hypot(*(at_yard - yard)) < 15  # the stop is the yard's
        assert stop_to_shape_m[0] <= shapely.distance(shapely.Point(at_yard), shapely.LineString(xy)) \
            < stop_to_shape_m[1]
        away = np.hypot(*(xy - yard).T) > 200  # 150 m either side of the yard's stop kept, the rest on the road
        assert (shapely.distance(shapely.points(xy[away]), road) < 1.0).all()
        assert "road_missing_from_extract" not in result.run.notices.counts

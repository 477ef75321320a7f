"""What riders read in the feed is true: each service once (route numbers in every shape riders write them,
services on one road kept apart), stops where the evidence is, names that are places, headways with evidence."""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from builders import write_json
from test_build import EPSG, QUIET, A, B, C, rides_of, spec  # the small surveys of the build's tests

from transitmap.geo import project, unproject
from transitmap.match import match_rides
from transitmap.model import Headway, place_name, route_code, split_route_name
from transitmap.pipeline import build_network
from transitmap.simulate import RideProfile, RouteSpec, at, ride
from transitmap.timing import TimingConfig, fill_headways


def rides_with(route: RouteSpec, count: int, profile: RideProfile, seed: int = 1, **kw) -> list:
    """``count`` cleaned rides of ``route`` with a profile of their own (``test_build.rides_of`` rides QUIET)."""
    from transitmap.clean import clean_ride
    from transitmap.read import trace_from_dict
    from transitmap.validate import check_trace

    rng = np.random.default_rng(seed)
    out = []
    for k in range(count):
        doc = ride(route, at(2026, 3, 2, 7 + k, 10 * k, 3), rng, trace_id=f"{route.route_id}-{k}",
                   collector_id=f"c{k}", profile=profile, **kw)
        c = check_trace(trace_from_dict(doc, f"{doc['trace_id']}.json").trace)
        out.append(clean_ride(c.trace, c.keep, c.stop_keep, c.fare_keep, EPSG))
    return out


def tables(feed: bytes) -> dict[str, pd.DataFrame]:
    with zipfile.ZipFile(io.BytesIO(feed)) as z:
        return {n.removesuffix(".txt"): pd.read_csv(z.open(n), dtype=str, keep_default_na=False) for n in z.namelist()}


# ------------------------------------------------------------------------------------- route numbers in names


@pytest.mark.parametrize("name, code, rest", [
    ("QX012", "QX012", ""),
    ("QX012 Central Park-Zone Stage", "QX012", "Central Park-Zone Stage"),
    ("qx012 central park - zone stage", "qx012", "central park - zone stage"),
    ("45K-Kawangware", "45K", "Kawangware"),
    ("17B", "17B", ""), ("110", "110", ""), ("M12", "M12", ""), ("B-45", "B-45", ""),
    ("Ruta 8", "8", ""), ("Line 12 Town", "12", "Town"), ("Tata 23", "23", ""), ("Bus 7", "7", ""),
    ("ruta 1 y 2 Sefiplan-Lazaro Cardenas", "1 y 2", "Sefiplan-Lazaro Cardenas"),
    ("Ruta 1 y 2: CAMPO DE TIRO - SAYAGO", "1 y 2", "CAMPO DE TIRO - SAYAGO"),
    ("JBL 13", "JBL 13", ""), ("16/62", "16/62", ""),
    ("20 de Noviembre - Pacho Nuevo", None, "20 de Noviembre - Pacho Nuevo"),
    ("28 de Agosto", None, "28 de Agosto"), ("Km 4", None, "Km 4"), ("3rd Avenue", None, "3rd Avenue"),
    ("37 Station to New Town Station", None, "37 Station to New Town Station"),
    ("Kawangware to Town", None, "Kawangware to Town"),
])
def test_route_numbers_in_every_shape_and_numbers_of_places_that_are_none(name, code, rest):
    assert split_route_name(name) == (code, rest)


def test_a_number_written_in_any_case_or_spacing_is_one_number():
    assert route_code("qx012") == route_code("QX012 Central Park") == route_code("Route QX012") == "QX012"
    assert route_code("B-45") == route_code("b45") and route_code("16-62") == route_code("16/62")
    assert route_code("45K") != route_code("45P")


def test_rides_whose_numbers_agree_are_one_route_whoever_added_the_terminals():
    road = spec("Q", "Central Park - Zone Stage", A, B, C)
    names = ["QX012", "QX012 Central Park-Zone Stage", "qx012 central park - zone stage", "Route QX012"]
    rides = rides_of([(replace(road, name=n), 1, {}) for n in names])
    rides = [replace(r, trace_id=f"r{k}") for k, r in enumerate(rides)]
    routes, _ = match_rides(rides)
    assert len(routes) == 1 and len(routes[0].patterns) == 1
    assert split_route_name(routes[0].name) == ("QX012", "Central Park-Zone Stage")


# ------------------------------------------------------------------------------- services on one road, apart


def _branch(frac: float, turn_deg: float, length_m: float):
    """A road along A-B-C for ``frac`` of it, then off to the side for ``length_m``: its points (lat, lon)."""
    lat, lon = np.array([A[0], B[0], C[0]]), np.array([A[1], B[1], C[1]])
    x, y = project(lat, lon, EPSG)
    xy = np.column_stack([x, y])
    seg = np.hypot(*np.diff(xy, axis=0).T)
    cum = np.concatenate([[0], np.cumsum(seg)])
    at_m = frac * cum[-1]
    k = int(np.searchsorted(cum, at_m)) - 1
    p = xy[k] + (xy[k + 1] - xy[k]) * (at_m - cum[k]) / seg[k]
    d = (xy[k + 1] - xy[k]) / seg[k]
    a = np.radians(turn_deg)
    off = p + np.array([d[0] * np.cos(a) - d[1] * np.sin(a), d[0] * np.sin(a) + d[1] * np.cos(a)]) * length_m
    pts = np.vstack([xy[: k + 1], p, off])
    la, lo = unproject(pts[:, 0], pts[:, 1], EPSG)
    return tuple(zip(la, lo))


def test_two_services_sharing_most_of_a_road_stay_two_and_an_unnamed_ride_joins_the_one_it_rides():
    """A-B-C and a service that leaves it at 85 % for a terminal of its own: their paths share more than 80 %
    of each, their riders give other numbers; a ride without a name of each is put with its own service."""
    main = spec("M", "Town - Kibera", A, B, C)
    side = RouteSpec("S", "Town - Zone", _branch(0.85, 60, 900), ("Town", "Mid", "Zone"), (0, 0.5, 1),
                     currency="KES", fare=70)
    rides = rides_of([(replace(main, name="45K Town - Kibera"), 2, {}),
                      (replace(side, name="QX012 Town - Zone"), 2, {}),
                      (main, 1, {"name_variant": None}), (side, 1, {"name_variant": None})])
    rides = [replace(r, trace_id=f"{r.trace_id}-{k}") for k, r in enumerate(rides)]
    routes, _ = match_rides(rides)
    groups = sorted(sorted(rides[i].trace_id.split("-")[0] for i in p.rides + p.partial)
                    for r in routes for p in r.patterns)
    assert groups == [["M", "M", "M"], ["S", "S", "S"]], groups


def test_a_ride_that_boarded_late_is_still_a_partial_ride_not_another_service():
    route = spec("R", "Town - Kibera", A, B, C, stops=(0, 0.25, 0.5, 0.75, 1))
    rides = rides_of([(route, 2, {}), (replace(route, route_id="P"), 1, {"partial": True, "name_variant": None})],
                     seed=4)
    routes, _ = match_rides(rides)
    assert len(routes) == 1 and len(routes[0].patterns) == 1


# ------------------------------------------------------------------------------------------ names riders know


@pytest.mark.parametrize("label, place", [
    ("hay problemas con el gps", None), ("Voice recording", None), ("صورة", None), ("Photo", None),
    ("Estoy en la parada esperando", None), ("Ruta empezada con un leve retraso", None),
    ("Parada de Bus tipo 1", None), ("fin del trayecto", None), ("ultima parada", None), ("parada tipo", None),
    ("Inicio de ruta", None), ("Fin", None), ("13:19:23", None), ("200F", None), ("I am at the stop", None),
    ("Arrivée : gare Lomé", "gare Lomé"), ("parada cootaxa", "parada cootaxa"), ("Bus Station", "Bus Station"),
    ("Kayole 1", "Kayole 1"), ("20 de Noviembre", "20 de Noviembre"), ("Kencom/Ambassadeur", "Kencom/Ambassadeur"),
    ("Inicio de la ruta Alajuela -> Santa Barbara", None),
])
def test_a_stop_is_named_by_a_place_never_by_a_note(label, place):
    assert place_name(label) == place


@pytest.mark.parametrize("label, place", [
    ("Départ : Gare X>Port Y - 300frc - Sur le pont", "Gare X - Port Y"),
    ("Inicio de la ruta Alajuela -> Santa Barbara", "Alajuela - Santa Barbara"),
    ("INICIO Sayago- Calle Nuevo León- Sumidero", "Sayago- Calle Nuevo León- Sumidero"),
    ("inicia Chedrahui Caram segundo punto Ejidal y termina en Chedrahui Caram", None),
    ("Central de Abastos - Campo de Tiro", "Central de Abastos - Campo de Tiro"),
])
def test_a_route_is_named_by_its_places(label, place):
    assert place_name(label, way=True) == place


def test_notes_typed_into_marks_never_name_a_stop_and_unnamed_stops_are_told_apart(tmp_path):
    """Rides whose marks carry notes (the GPS, a photo, a fare, 'Estoy en la parada') and a stretch of stops
    nobody named: no stop, headsign or route name is a note; no stop is named after the route; no trip has
    more than two stops of one name."""
    rng = np.random.default_rng(3)
    route = RouteSpec("N", "46 Kawangware - Town", (A, B, C), ("Kawangware", None, None, None, None, "Town"),
                      (0, 0.2, 0.4, 0.6, 0.8, 1), currency="KES", fare=70)
    profile = replace(QUIET, note_marks=0.5)
    for k in range(3):
        doc = ride(route, at(2026, 3, 2, 7 + k, 0, 3), rng, trace_id=f"n{k}", collector_id=f"c{k}", profile=profile)
        write_json(tmp_path / "in" / f"n{k}.json", doc)
    result = build_network([tmp_path / "in"])
    t = tables(result.feed)
    names = list(t["stops"].stop_name) + list(t["trips"].trip_headsign) + list(t["routes"].route_long_name)
    told = ("near ", "between ", "stop at ")  # or "1.2 km NE of Kawangware": named after a place
    assert all(place_name(n) == n or n.startswith(told) or " of " in n for n in names if n), names
    assert not any(place_name(n.split(" of ", 1)[-1]) is None for n in names if n and " of " in n), names
    assert not any("46" in n and "Kawangware - Town" in n for n in t["stops"].stop_name)
    st = t["stop_times"].merge(t["stops"], on="stop_id")
    assert st.groupby("trip_id").stop_name.agg(lambda v: v.value_counts().max()).max() <= 2


# ---------------------------------------------------------------------------------------- stops with evidence


def test_a_stop_marked_late_stands_where_the_vehicle_stood():
    route = spec("R", "Town - Kibera", A, B, C, stops=(0, 0.25, 0.5, 0.75, 1))
    late = replace(QUIET, mark_late_s=(15.0, 25.0), dwell_s=(20.0, 30.0))
    rng = np.random.default_rng(2)
    docs = [ride(route, at(2026, 3, 2, 7 + k, 0, 3), rng, trace_id=f"r{k}", collector_id="c", profile=late)
            for k in range(3)]
    from transitmap.clean import clean_ride
    from transitmap.read import trace_from_dict
    from transitmap.stops import infer_stops
    from transitmap.validate import check_trace

    rides = []
    for doc in docs:
        c = check_trace(trace_from_dict(doc, f"{doc['trace_id']}.json").trace)
        rides.append(clean_ride(c.trace, c.keep, c.stop_keep, c.fare_keep, EPSG))
    routes, _ = match_rides(rides)
    stops, _ = infer_stops(rides, routes)
    lat, lon = np.array([p[0] for p in route.path]), np.array([p[1] for p in route.path])
    x, y = project(lat, lon, EPSG)
    import shapely

    line = shapely.linestrings(np.column_stack([x, y]))
    truth = shapely.line_interpolate_point(line, np.array(route.stop_fraction) * shapely.length(line))
    ours = shapely.points(np.array([(s.x_m, s.y_m) for s in stops]))
    d = shapely.distance(truth[:, None], ours[None, :]).min(axis=1)
    assert len(stops) == 5 and (d[1:-1] <= 25).all(), (len(stops), d)


def _stops_of(docs):
    from transitmap.clean import clean_ride
    from transitmap.read import trace_from_dict
    from transitmap.stops import infer_stops
    from transitmap.validate import check_trace

    rides = []
    for doc in docs:
        c = check_trace(trace_from_dict(doc, f"{doc['trace_id']}.json").trace)
        rides.append(clean_ride(c.trace, c.keep, c.stop_keep, c.fare_keep, EPSG))
    routes, _ = match_rides(rides)
    return infer_stops(rides, routes)[0]


def test_the_marks_of_a_single_ride_are_stops_even_where_no_fix_saw_the_vehicle_stand():
    # Accra's survey: each route ridden once, stops of a few seconds between fixes ten seconds apart
    route = spec("R", "Town - Kibera", A, B, C, stops=(0, 0.2, 0.4, 0.6, 0.8, 1))
    brief = replace(QUIET, dwell_s=(3.0, 5.0), fix_interval_s=(9.0, 10.0), traffic_stops_per_km=1.5,
                    traffic_stop_s=(20.0, 40.0))
    doc = ride(route, at(2026, 3, 2, 7, 0, 3), np.random.default_rng(5), trace_id="r0", collector_id="c",
               profile=brief)
    stops = _stops_of([doc])
    x, y = project(np.array([p[0] for p in route.path]), np.array([p[1] for p in route.path]), EPSG)
    import shapely

    line = shapely.linestrings(np.column_stack([x, y]))
    truth = shapely.line_interpolate_point(line, np.array(route.stop_fraction) * shapely.length(line))
    ours = shapely.points(np.array([(s.x_m, s.y_m) for s in stops]))
    d = shapely.distance(truth[:, None], ours[None, :]).min(axis=1)
    # each mark a stop, where it was tapped or where the vehicle stood (a queue in the traffic just before a
    # stop can take a mark 30 s late for the stop's stand, never one farther than mark_stand_m)
    assert len(stops) == 6 and np.median(d) <= 15 and (d <= 60).all(), (len(stops), d)


def test_a_note_tapped_where_the_vehicle_did_not_stand_is_no_stop_of_one_ride():
    route = spec("R", "Town - Kibera", A, B, C, stops=(0, 0.5, 1))
    doc = ride(route, at(2026, 3, 2, 7, 0, 3), np.random.default_rng(5), trace_id="r0", collector_id="c",
               profile=QUIET)
    times = sorted(p["time"] for p in doc["points"])
    moving = next(p for p in doc["points"] if p["time"] == times[len(times) // 4])  # on the way, not at a stop
    doc["stops"].append({"time": moving["time"], "lat": moving["lat"], "lon": moving["lon"],
                         "name": "hay problemas con el gps"})
    stops = _stops_of([doc])
    assert len(stops) == 3 and "hay problemas con el gps" not in {s.name for s in stops}


@pytest.mark.parametrize("label, says_stop", [("Stop 4", True), ("Parada de Bus tipo 1", True), ("arrêt type A", True),
                                              ("hay problemas con el gps", False), ("Voice recording", False),
                                              ("7:45", False), ("KSh 50", False), ("Kencom", False)])
def test_a_label_that_only_says_stop_marks_a_stop_a_note_does_not(label, says_stop):
    from transitmap.model import stop_word

    assert stop_word(label) is says_stop


# --------------------------------------------------------------------------------------- headways with evidence


def test_a_train_ridden_twice_is_not_published_every_few_minutes():
    """Two rides of a train with short waits at the station: neither departures seen nor three waits in a
    band; its headway is the survey's for rail (60 min by default), not twice a short wait."""
    route = spec("T", "Alajuela - San Jose", A, B, C)
    rides = rides_with(route, 2, replace(QUIET, rank_wait_s=(60, 90), headway_s=0))
    rides = [replace(r, mode="train") for r in rides]
    from transitmap.model import route_mode
    from transitmap.timing import route_headways

    routes, _ = match_rides(rides)
    [bands] = route_headways(routes[0], rides, "Africa/Nairobi", TimingConfig(), route_mode(routes[0], rides))
    filled = fill_headways({0: bands}, {0: "rail"})[0]
    assert {h.provenance for h in filled} == {"assumed"} and {h.headway_s for h in filled} == {3600}


def test_departures_need_two_intervals_in_a_band_to_be_observed_and_three_waits_to_estimate():
    route = spec("R", "Town - Kibera", A, B, C)
    from transitmap.model import route_mode
    from transitmap.timing import route_headways

    one = rides_with(route, 1, replace(QUIET, rank_wait_s=(700, 800), headway_s=300))
    routes, _ = match_rides(one)
    bands = route_headways(routes[0], one, "Africa/Nairobi")[0]
    assert any(h.provenance == "observed" for h in bands)  # a long wait: three departures, two intervals
    short = rides_with(route, 1, replace(QUIET, rank_wait_s=(400, 450), headway_s=300))
    routes, _ = match_rides(short)
    bands = route_headways(routes[0], short, "Africa/Nairobi", TimingConfig(), route_mode(routes[0], short))[0]
    assert {h.provenance for h in bands} == {"pending"}  # one interval, one wait: no evidence of the band


def test_a_variant_ridden_once_adds_no_service_of_its_own():
    """A route direction's departures shared by its patterns as its rides are: three rides of the main
    pattern and one of a variant run, together, as often as the departures seen."""
    main = [Headway(6 * 3600, 9 * 3600, 300, "observed", 4)]
    import transitmap.timing as T
    from transitmap.model import Route
    from transitmap.timing import route_headways

    class P:
        def __init__(self, n):
            self.rides, self.partial = list(range(n)), []

    route = Route((P(3), P(1)), (0, 0), "45K")
    orig = T._direction_headways
    T._direction_headways = lambda patterns, rides, tz, config, mode: main
    try:
        a, b = route_headways(route, [], "UTC")
    finally:
        T._direction_headways = orig
    assert (a[0].headway_s, b[0].headway_s) == (400, 1200)
    assert 3600 / a[0].headway_s + 3600 / b[0].headway_s == pytest.approx(3600 / 300)


def test_a_variant_of_a_route_with_many_gets_at_least_one_departure_a_band_never_a_headway_of_a_day():
    """On the scale survey a direction of 30 patterns gave one variant a headway of 28 hours, which gtfs-kit
    cannot read (its headway_secs is 16 bits) and no rider can use: at most the band's length."""
    import transitmap.timing as T
    from transitmap.model import Route
    from transitmap.timing import fill_headways, route_headways

    class P:
        def __init__(self, n):
            self.rides, self.partial = list(range(n)), []

    route = Route(tuple(P(30 if k == 0 else 1) for k in range(8)), (0,) * 8, "45K")
    bands = [Headway(6 * 3600, 9 * 3600, 1200, "observed", 4), Headway(9 * 3600, 16 * 3600, 0, "pending", 0)]
    orig = T._direction_headways
    T._direction_headways = lambda patterns, rides, tz, config, mode: bands
    try:
        made = route_headways(route, [], "UTC")
    finally:
        T._direction_headways = orig
    filled = fill_headways({("R", 0, p): hs for p, hs in enumerate(made)}, {("R", 0, p): "minibus" for p in range(8)})
    for hs in filled.values():
        for h in hs:
            assert 0 < h.headway_s <= h.end_s - h.start_s
    assert made[1][0].headway_s == 3 * 3600  # 37 rides' departures every 20 min: a ride's share, one in the band

def test_bands_without_evidence_take_the_surveys_headway_for_the_mode_and_its_declared_one():
    observed = {k: [Headway(6 * 3600, 9 * 3600, 300, "observed", 3), Headway(9 * 3600, 16 * 3600, 900, "observed", 3)]
                for k in range(3)}
    pending = {9: [Headway(6 * 3600, 9 * 3600, 0, "pending", 0), Headway(9 * 3600, 16 * 3600, 0, "pending", 0)]}
    modes = {**{k: "minibus" for k in observed}, 9: "minibus"}
    filled = fill_headways({**observed, **pending}, modes)[9]
    assert [(h.headway_s, h.provenance) for h in filled] == [(300, "assumed"), (900, "assumed")]
    declared = fill_headways({**observed, **pending}, modes, TimingConfig(mode_headways="minibus=12"))[9]
    assert [h.headway_s for h in declared] == [720, 720]
    with pytest.raises(Exception, match="mode_headways"):
        TimingConfig(mode_headways="minibus=often")


def test_the_feed_says_where_each_headway_comes_from(tmp_path):
    route = RouteSpec("H", "Town - Kibera", (A, B, C), ("Town", "Mid", "Kibera"), (0, 0.5, 1), currency="KES")
    rng = np.random.default_rng(5)
    for k in range(4):
        doc = ride(route, at(2026, 3, 2, 7, 5 * k, 3), rng, trace_id=f"h{k}", collector_id="c1",
                   profile=replace(QUIET, rank_wait_s=(900, 1000), headway_s=240))
        write_json(tmp_path / "in" / f"h{k}.json", doc)
    result = build_network([tmp_path / "in"])
    rows = pd.DataFrame(result.headway_rows)
    am = rows[(rows.start_time == 6 * 3600) & (rows.direction_id == 0)]
    assert list(am.provenance) == ["observed"] and abs(int(am.headway_s.iloc[0]) - 240) <= 30
    assert set(rows.provenance) <= {"observed", "extrapolated", "assumed", "estimated_from_rank_waits"}


def test_a_headway_no_mode_runs_at_is_a_notice_not_a_published_fact(tmp_path):
    """Three rides of a train in one band, each after a wait of two minutes at the station: twice the median
    wait, four minutes, is no train's headway: a headway_implausible notice, and the band runs at the
    survey's headway for rail."""
    route = RouteSpec("T", "Alajuela - Heredia", (A, B, C), ("Alajuela", "Mid", "Heredia"), (0, 0.5, 1),
                      currency="KES")
    rng = np.random.default_rng(7)
    for k in range(3):
        doc = ride(route, at(2026, 3, 2 + k, 7, 0, 3), rng, trace_id=f"t{k}", collector_id="c1",
                   profile=replace(QUIET, rank_wait_s=(110, 130), headway_s=0))
        doc["mode"] = "train"
        write_json(tmp_path / "in" / f"t{k}.json", doc)
    result = build_network([tmp_path / "in"])
    found = [s for n in result.run.notices.to_list() if n["code"] == "headway_implausible" for s in n["sample_notices"]]
    assert found and found[0]["mode"] == "rail" and 200 <= found[0]["headway_s"] <= 280, found
    rows = pd.DataFrame(result.headway_rows)
    am = rows[rows.start_time == 6 * 3600]
    assert set(am.provenance) == {"assumed"} and set(am.headway_s) == {3600}

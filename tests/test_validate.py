"""Validation checks: the figures they report and the points, stops and fares they leave out."""

from __future__ import annotations

import numpy as np
import pytest
from builders import moved, ride, stop_at

from transitmap.read import trace_from_dict
from transitmap.simulate import RideProfile, RouteSpec, at
from transitmap.simulate import ride as simulated_ride
from transitmap.validate import ValidationConfig, check_trace


def check(doc: dict, config: ValidationConfig = ValidationConfig()):
    res = trace_from_dict(doc, "a.json")
    assert res.trace is not None, res.notices
    return check_trace(res.trace, config)


def notice(c, code):
    found = [n for n in c.notices if n.code() == code]
    assert len(found) == 1, c.notices
    return found[0]


def test_clean_ride_is_measured():
    c = check(ride(speed_kph=30, n=121, dt_s=5))  # 600 s at 30 km/h = 5 km
    assert c.notices == () and c.usable and c.keep.all()
    assert c.length_m == pytest.approx(5000, rel=0.001)
    assert c.duration_s == 600


def test_gps_spike_figures_and_mask():
    doc = ride()
    doc["points"][50] = moved(doc["points"][50], north_m=600)
    c = check(doc)
    n = notice(c, "gps_spike")
    assert n.point_index == 50 and n.count == 1
    assert n.distance_m == pytest.approx(np.hypot(600, 41.67), abs=0.5)  # from the point before
    assert n.speed_kph == pytest.approx(n.distance_m / 5 * 3.6)
    assert not c.keep[50] and c.keep.sum() == 119
    assert c.length_m == pytest.approx(119 * 41.67, rel=0.01)  # the spike does not lengthen the ride


def test_a_run_of_three_spikes_is_found():
    doc = ride()
    for i in (60, 61, 62):
        doc["points"][i] = moved(doc["points"][i], east_m=-700)
    c = check(doc)
    assert notice(c, "gps_spike").count == 3 and not c.keep[60:63].any()


def test_a_spike_whose_legs_are_each_reachable_but_not_both_is_found():
    # fixes 10 s apart at 36 km/h, one of them written 5 s early: 461 m back in 15 s is possible at
    # 130 km/h plus the slack, 461 m out in 5 s is not, and both legs in 20 s are not either, while the
    # fixes either side are 200 m apart (the legs alone make one jump, not an excursion between two)
    doc = ride(speed_kph=36, dt_s=10, n=60)
    doc["points"][30] = moved(doc["points"][30], north_m=450)
    doc["points"][30]["time"] = doc["points"][29]["time"].replace(":50+", ":55+")
    c = check(doc)
    assert notice(c, "gps_spike").count == 1 and not c.keep[30] and c.keep.sum() == 59


def test_two_spikes_in_a_row_far_from_each_other_are_found():
    doc = ride(dt_s=2, n=300)
    doc["points"][100] = moved(doc["points"][100], north_m=300)
    doc["points"][101] = moved(doc["points"][101], east_m=-450)
    c = check(doc)
    assert notice(c, "gps_spike").count == 2 and not c.keep[100:102].any() and c.keep.sum() == 298


def test_a_fast_but_plausible_ride_is_not_a_spike():
    c = check(ride(speed_kph=110))
    assert c.notices == ()


def test_recording_gap_figures():
    doc = ride()
    del doc["points"][40:70]  # 31 intervals of 5 s without a fix
    n = notice(check(doc), "recording_gap")
    assert n.gap_s == 155 and n.count == 1 and n.point_index == 40
    assert n.distance_m == pytest.approx(155 * 30 / 3.6, rel=0.01)


def test_time_going_backwards_keeps_the_order_of_the_rest():
    doc = ride()
    doc["points"][30]["time"] = doc["points"][10]["time"]
    c = check(doc)
    n = notice(c, "time_going_backwards")
    assert n.point_index == 30 and n.gap_s == 95  # 50 s earlier than the point before (145 s)
    assert not c.keep[30] and c.keep.sum() == 119


def test_lat_lon_swap_out_of_range_is_repaired_in_a_new_trace():
    doc = ride(start=(-6.2, 106.85))  # Jakarta: lon > 90 cannot be a latitude
    for p in doc["points"]:
        p["lat"], p["lon"] = p["lon"], p["lat"]
    res = trace_from_dict(doc, "a.json")
    c = check_trace(res.trace)
    assert [n.code() for n in c.notices] == ["lat_lon_swapped"]
    assert c.usable and c.trace.lat[0] == pytest.approx(-6.2) and res.trace.lat[0] == pytest.approx(106.85)


def test_stop_far_from_trace_reports_distance_and_is_left_out():
    doc = ride()
    doc["stops"] = [stop_at(doc, 10), moved(stop_at(doc, 60), north_m=250), {**stop_at(doc, 90), "time": None}]
    doc["stops"][2] = {k: v for k, v in doc["stops"][2].items() if k != "time"}
    res = trace_from_dict(doc, "a.json")
    assert len(res.trace.stops) == 2  # the stop without a time breaks the schema: ignored, with a notice
    c = check_trace(res.trace)
    n = notice(c, "stop_far_from_trace")
    assert n.stop_index == 1 and n.distance_m == pytest.approx(250, abs=0.5)
    assert list(c.stop_keep) == [True, False]


def test_stop_marked_late_is_measured_against_the_whole_path():
    """A stop marked ten minutes late but at the right place is near the trace (its time is checked
    separately)."""
    doc = ride(n=300)
    s = stop_at(doc, 20)
    s["time"] = doc["points"][140]["time"]
    doc["stops"] = [s]
    c = check(doc)
    assert c.notices == () and c.stop_keep.all()


def test_fares_masks():
    doc = ride(stops=[stop_at(ride(), 5)], fares=[
        {"amount": 70, "currency": "KES"}, {"amount": -5, "currency": "KES"}, {"amount": 70, "currency": "XXQ"},
        {"amount": 70, "currency": "KES", "from_stop": 0, "to_stop": 4}])
    c = check(doc)
    assert list(c.fare_keep) == [True, False, False, False]
    assert {n.code() for n in c.notices} == {"non_positive_fare", "unknown_currency", "fare_stop_not_found"}


def test_walking_is_not_a_ride_even_with_gps_jitter():
    rng = np.random.default_rng(3)
    doc = ride(speed_kph=4.5, n=400, dt_s=3)
    for p in doc["points"]:  # 8 m of jitter at every fix inflates the path length, not the net speed
        p.update(moved(p, north_m=rng.normal(0, 8), east_m=rng.normal(0, 8)))
    c = check(doc)
    assert notice(c, "too_slow_for_vehicle").speed_kph < 12
    assert not c.usable


def test_a_ride_stuck_in_traffic_is_still_a_ride():
    doc = ride(speed_kph=4, n=240, dt_s=5)  # 20 minutes at walking pace...
    fast = ride(speed_kph=40, n=60, dt_s=5, start=(doc["points"][-1]["lat"], doc["points"][-1]["lon"]))
    for i, p in enumerate(fast["points"]):
        p["time"] = (np.datetime64(doc["points"][-1]["time"][:19])
                     + np.timedelta64(5 * (i + 1), "s")).astype(str) + "+03:00"
    doc["points"] += fast["points"]  # ... then 5 minutes at 40 km/h
    assert check(doc).usable


def test_simulated_rides_spikes_are_found_and_good_fixes_kept():
    """On simulated rides with 3-12 m correlated noise and 0.5 % spikes of 100-800 m, fixes every 1-10 s:
    most spikes are found and almost no good fix is lost."""
    route = RouteSpec("r", "x", ((-1.2864, 36.8172), (-1.30, 36.84), (-1.32, 36.88), (-1.33, 36.92)),
                      stop_fraction=(0, 0.5, 1))
    rng = np.random.default_rng(11)
    found = injected = lost = total = 0
    for k in range(30):
        prof = RideProfile(spike_rate=0.01, spike_m=(300.0, 800.0), gap_probability=0.0)
        doc = simulated_ride(route, at(2026, 3, 2, 7, 0, 3), rng, trace_id=f"s{k}", collector_id="c", profile=prof)
        clean = simulated_ride(route, at(2026, 3, 2, 7, 0, 3), np.random.default_rng(1000 + k), trace_id="x",
                               collector_id="c", profile=RideProfile(spike_rate=0.0, gap_probability=0.0))
        c = check(doc)
        # the simulator adds spikes as offsets of 300-800 m: compare to the same ride's path to find them
        res = trace_from_dict(doc, "a.json").trace
        from transitmap.geo import project, utm_epsg

        x, y = project(res.lat, res.lon, utm_epsg(-1.3, 36.8))
        step_in = np.r_[0, np.hypot(np.diff(x), np.diff(y))]
        step_out = np.r_[np.hypot(np.diff(x), np.diff(y)), 0]
        is_spike = (step_in > 250) & (step_out > 250)
        injected += is_spike.sum()
        found += (is_spike & ~c.keep).sum()
        lost += (~is_spike & ~c.keep).sum()
        total += len(c.keep)
        assert check(clean).keep.all()
    assert injected > 50
    assert found / injected >= 0.9
    assert lost / total <= 0.002


def test_validation_in_worker_processes_equals_validation_here():
    """``workers`` > 1 reads and checks the files in local processes (engine.ProcessEngine): the same ledger,
    notices and traces, in the same order, with small chunks so that both workers get several."""
    from pathlib import Path

    from transitmap.engine import ProcessEngine
    from transitmap.pipeline import validate_inputs

    sample = Path(__file__).resolve().parent.parent / "sample_traces"
    here = validate_inputs([sample], keep_traces=True)
    with ProcessEngine(2, chunk_files=2) as engine:
        there = validate_inputs([sample], keep_traces=True, engine=engine)
    default = validate_inputs([sample], keep_traces=True, workers=2)
    for run in (there, default):
        assert run.ledger == here.ledger and run.notices.to_list() == here.notices.to_list()
        assert [(c.trace.trace_id, c.trace.source) for c in run.checks] == [(c.trace.trace_id, c.trace.source)
                                                                            for c in here.checks]
        assert all(np.array_equal(a.keep, b.keep) and np.array_equal(a.trace.lat, b.trace.lat)
                   for a, b in zip(run.checks, here.checks))

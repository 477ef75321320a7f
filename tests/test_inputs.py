"""What field teams' tools write, read without configuration: CSV files of any name and layout (GPS logger
apps, spreadsheet and KoboToolbox exports in any locale). The fixtures in ``tests/fixtures/csv/`` are written
as the tools write them (``make_csv.py`` there)."""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from transitmap.config import BuildConfig
from transitmap.pipeline import build_network, validate_inputs

CSV = Path(__file__).resolve().parent / "fixtures" / "csv"
START_S = datetime(2026, 3, 4, 4, 0, tzinfo=timezone.utc).timestamp()  # 07:00 in Nairobi


def samples(run, code: str) -> list[dict]:
    return [s for n in run.notices.to_list() if n["code"] == code for s in n["sample_notices"]]


@pytest.mark.parametrize("name, trace_ids, accuracy_m, speed_mps, codes", [
    ("gpslogger.csv", ["gpslogger"], 6.0, 8.3, set()),
    ("kobo-export.csv", ["A1", "A2"], 4.5, None, {"decimal_comma"}),
    ("ride_2026-03-04.csv", ["ride_2026-03-04"], 5.0, None, {"decimal_comma"}),
    ("logger-tab.csv", ["logger-tab"], None, 8.3, {"time_without_offset"}),  # local clock times: the zone of the place
    ("beiwe.csv", ["beiwe"], 5.0, None, set()),  # written "UTC time" beside epoch milliseconds
])
def test_a_csv_of_points_is_read_by_its_header_whatever_its_name_separator_and_locale(name, trace_ids, accuracy_m,
                                                                                     speed_mps, codes):
    run = validate_inputs([CSV / name], keep_traces=True)
    assert [row.status.value for row in run.ledger] == ["accepted"] * len(trace_ids)
    traces = {c.trace.trace_id: c.trace for c in run.checks}
    assert sorted(traces) == trace_ids
    for trace in traces.values():
        assert trace.n_points == 40
        assert trace.t_s[0] == START_S and trace.t_s[-1] == START_S + 390
        assert trace.lon[0] == pytest.approx(36.8219) and trace.lon[-1] == pytest.approx(36.8219 + 39 * 0.00075)
        assert trace.lat[0] == pytest.approx(-1.2921) or trace.lat[0] == pytest.approx(-1.3021)
        assert trace.accuracy_m[0] == pytest.approx(accuracy_m) if accuracy_m else pd.isna(trace.accuracy_m[0])
        assert trace.speed_mps[0] == pytest.approx(speed_mps) if speed_mps else pd.isna(trace.speed_mps[0])
    assert codes <= set(run.notices.counts) <= codes | {"missing_collector_id"}


def test_decimal_commas_are_read_and_said():
    [notice] = samples(validate_inputs([CSV / "kobo-export.csv"]), "decimal_comma")
    assert (notice["file"], notice["field"], notice["severity"]) == ("kobo-export.csv", "lat, lon, accuracy", "INFO")


def test_a_gps_loggers_annotation_is_a_mark_and_its_fare_note_a_fare():
    [check] = validate_inputs([CSV / "gpslogger.csv"], keep_traces=True).checks
    assert [(f.amount, f.currency) for f in check.trace.fares] == [(50.0, "KES")]
    [stop] = check.trace.stops
    assert stop.time_s == START_S + 200 and stop.lon == pytest.approx(36.8219 + 20 * 0.00075)


def test_a_table_without_coordinates_is_reported_with_the_names_looked_for():
    run = validate_inputs([CSV / "no-position.csv"])
    assert [row.status.value for row in run.ledger] == ["quarantined"]
    [sample] = samples(run, "invalid_csv")
    assert sample["field"] == "lat" and "latitude" in sample["message"]


def test_problems_in_a_csv_are_reported_by_line(tmp_path):
    rows = (CSV / "kobo-export.csv").read_text(encoding="utf-8").splitlines()
    rows[5] = rows[5].replace("-1,2921", "nord")  # line 6 of the file
    (tmp_path / "export.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    [sample] = samples(validate_inputs([tmp_path / "export.csv"]), "invalid_point")
    assert (sample["trace_id"], sample["location"]) == ("A1", "line 6")


def test_one_ride_written_by_four_tools_is_read_alike_and_used_once():
    """The same fixes in four layouts read into the same points: one ride used, three duplicates reported."""
    result = build_network([CSV / "gpslogger.csv", CSV / "ride_2026-03-04.csv", CSV / "logger-tab.csv",
                            CSV / "beiwe.csv"])
    assert sorted(r.status for r in result.ledger_rows) == ["duplicate", "duplicate", "duplicate", "used"]
    assert all(r.codes == ("duplicate_content",) for r in result.ledger_rows if r.status == "duplicate")
    routes = pd.read_csv(io.BytesIO(zipfile.ZipFile(io.BytesIO(result.feed)).read("routes.txt")))
    assert len(routes) == 1


GEO = Path(__file__).resolve().parent / "fixtures" / "geo"


def test_a_geojson_line_with_its_times_as_converters_write_them_is_a_trace():
    """togeojson / GPSBabel: the times in ``coordTimes``; a waypoint without a time, placed at the nearest fix."""
    run = validate_inputs([GEO / "togeojson.geojson"], keep_traces=True)
    [check] = run.checks
    trace = check.trace
    assert (trace.trace_id, trace.n_points, trace.route_name) == ("togeojson", 40, "45K Kawangware - Town")
    assert trace.t_s[0] == START_S and trace.t_s[-1] == START_S + 390
    assert [(f.amount, f.currency) for f in trace.fares] == [(50.0, "KES")]
    assert [s.time_s for s in trace.stops] == [START_S + 200]
    assert set(run.notices.counts) == {"missing_collector_id"}


def test_geojson_points_with_times_are_a_track():
    [check] = validate_inputs([GEO / "logger-points.geojson"], keep_traces=True).checks
    assert check.trace.n_points == 40 and check.trace.t_s[0] == START_S and check.trace.accuracy_m[0] == 5.0


@pytest.mark.parametrize("name", ["drawn-route.geojson", "no-time.gpx"])
def test_a_recording_without_times_says_so_once_and_is_used(name):
    """A route traced without a clock, or a GPX without <time>: one no_timestamps (a warning) with the count,
    not one invalid_point or unparseable_time per point; the recording is accepted, its times made up at the
    nominal speed and marked ``estimated``."""
    run = validate_inputs([GEO / name], keep_traces=True)
    assert [row.status.value for row in run.ledger] == ["accepted"]
    [sample] = samples(run, "no_timestamps")
    assert (sample["count"], sample["timing"], sample["severity"]) == (40, "estimated", "WARNING")
    assert not {"invalid_point", "unparseable_time", "duplicate_timestamp"} & set(run.notices.counts)
    trace = run.checks[0].trace
    assert trace.timing == "estimated" and (np.diff(trace.t_s) > 0).all()
    assert trace.route_name is None  # "Ruta 10012" is the app's running number, not a route's name


def test_a_transitwand_export_gives_its_stops_the_times_between_them():
    """The route file and its stop files (beside it in stops/, the same stops twice) are one recording: the
    stops are placed along the line, timed by their travelTime (the first stop's is the app's clock; a broken
    leg is timed at the others' speed, with a notice), the name is the description (the app's "Ruta 10001"
    is its running number), and the headways per period become reported headways (0 minutes: a notice)."""
    run = validate_inputs([GEO / "transitwand"], keep_traces=True)
    assert [(row.status.value, row.file) for row in run.ledger] == [("accepted", "route/route.geojson")]
    trace = run.checks[0].trace
    assert (trace.timing, trace.route_name, trace.trace_id) == ("stop_times", "Kawangware - Town", "501")
    assert [round(st.time_s - trace.t_s[0]) for st in trace.stops] == [0, 110, 220, 330, 440]
    assert [st.wait_s for st in trace.stops] == [10] * 5
    assert trace.reported_headways == (("am_peak", 600.0), ("midday", 1200.0))
    messages = sorted(s["message"] for s in samples(run, "invalid_field"))
    assert messages[0].startswith("1 of 4 stop-to-stop times implausible (first: 5 s for 835 m)")
    assert "headway '0' minutes is not between 1 and 180" in messages[1]


def _feed_table(result, name: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(zipfile.ZipFile(io.BytesIO(result.feed)).read(name)), dtype=str)


def test_a_route_known_only_without_times_is_published_with_its_times_marked_estimated():
    """No ride has times: the trip runs at the survey's speed (20 km/h when no ride shows one), every day from the
    date set, 05:00-21:00 (the declared service hours) at the assumed headway; headways.csv, the notices and the
    ledger say so."""
    result = build_network([GEO / "no-time.gpx"], BuildConfig(first_service_date="2026-03-02"))
    [row] = result.ledger_rows
    assert row.status == "used" and "no_timestamps" in row.codes
    calendar = _feed_table(result, "calendar.txt").iloc[0]
    assert calendar.start_date == "20260302" and calendar[["monday", "saturday", "sunday"]].tolist() == ["1"] * 3
    stop_times = _feed_table(result, "stop_times.txt")
    shape = _feed_table(result, "shapes.txt").astype({"shape_dist_traveled": float})
    length_m = shape.shape_dist_traveled.max()
    seconds = pd.to_timedelta(stop_times.arrival_time).dt.total_seconds()
    assert seconds.max() - seconds.min() == pytest.approx(length_m / (20 / 3.6), abs=len(stop_times) + 1)
    assert {(h.travel_times, h.timed_rides, h.provenance) for h in result.headway_rows} == {
        ("survey_speed", 0, "assumed")}
    assert (min(h.start_time for h in result.headway_rows), max(h.end_time for h in result.headway_rows)) \
        == (5 * 3600, 21 * 3600)
    codes = set(result.run.notices.counts)
    assert {"travel_times_estimated", "no_service_dates", "no_timestamps"} <= codes


def test_stop_times_and_reported_headways_make_the_trip_of_a_transitwand_route():
    result = build_network([GEO / "transitwand"], BuildConfig(first_service_date="2026-03-02"))
    rows = result.headway_rows
    assert [(h.start_time // 3600, h.end_time // 3600, h.headway_s, h.provenance) for h in rows] == [
        (5, 6, 600, "extrapolated"), (6, 9, 600, "reported"), (9, 16, 1200, "reported"),
        (16, 19, 1200, "extrapolated"), (19, 21, 1200, "extrapolated")]  # over the declared 05:00-21:00
    assert {(h.travel_times, h.timed_rides) for h in rows} == {("stop_times", 1)}
    seconds = pd.to_timedelta(_feed_table(result, "stop_times.txt").arrival_time).dt.total_seconds()
    assert seconds.max() - seconds.min() == pytest.approx(440, abs=15)
    assert _feed_table(result, "routes.txt").route_long_name.tolist() == ["Kawangware - Town"]


def test_rides_with_times_time_a_route_that_rides_without_times_also_show():
    """A timed ride and a time-less one of the same path: one route; its travel times and days only from the
    timed ride (390 s, a Wednesday), the time-less ride used for the path."""
    result = build_network([GEO / "togeojson.geojson", GEO / "drawn-route.geojson"])
    assert sorted((r.status, r.route_id) for r in result.ledger_rows) == [("used", "R001"), ("used", "R001")]
    assert {(h.travel_times, h.timed_rides) for h in result.headway_rows} == {("recorded", 1)}
    seconds = pd.to_timedelta(_feed_table(result, "stop_times.txt").arrival_time).dt.total_seconds()
    assert seconds.max() - seconds.min() == pytest.approx(390, abs=15)
    calendar = _feed_table(result, "calendar.txt").iloc[0]
    assert calendar.start_date == "20260304"  # the day ridden; every day served, as declared by default
    assert samples(result.run, "service_days_not_observed")[0]["observed"] == "wed"
    assert "travel_times_estimated" not in result.run.notices.counts


@pytest.mark.skipif(not (Path(__file__).resolve().parents[2] / "shared" / "data"
                         / "xalapa-mapaton-geojson.zip").exists(),
                    reason="needs ../shared/data")
def test_the_xalapa_routes_are_read_said_to_have_no_times_and_used():
    run = validate_inputs([Path(__file__).resolve().parents[2] / "shared" / "data" / "xalapa-mapaton-geojson.zip"],
                          keep_traces=True)
    assert len(run.ledger) >= 152
    assert set(run.notices.counts) & {"schema_violation", "unsupported_file", "system_error"} == set()
    assert run.notices.counts["no_timestamps"] >= 152
    assert sum(row.status.value == "accepted" for row in run.ledger) >= 140
    timing = Counter(c.trace.timing for c in run.checks)
    assert timing["stop_times"] >= 90 and timing["estimated"] >= 40  # the routes with stop files, the others
    assert not any(row.file.split("!")[-1].split("/")[-2] == "stops" for row in run.ledger)  # read with their routes


@pytest.mark.parametrize("name", ["track.kml", "track.kmz"])
def test_a_kml_track_is_a_trace_and_its_point_a_mark(name):
    """Google Earth and logger apps: a gx:Track (when + gx:coord); a KMZ is the KML zipped as doc.kml."""
    run = validate_inputs([GEO / name], keep_traces=True)
    [check] = run.checks
    trace = check.trace
    assert (trace.n_points, trace.route_name) == (40, "45K Kawangware - Town")
    assert trace.t_s[0] == START_S and trace.t_s[-1] == START_S + 390
    assert trace.lon[-1] == pytest.approx(36.8219 + 39 * 0.00075)
    assert [(f.amount, f.currency) for f in trace.fares] == [(50.0, "KES")] and len(trace.stops) == 1
    assert set(run.notices.counts) == {"missing_collector_id", "missing_trace_id"}


def test_a_kml_line_without_times_says_so():
    run = validate_inputs([GEO / "line.kml"])
    [sample] = samples(run, "no_timestamps")
    assert sample["count"] == 40


def test_kml_is_parsed_as_safely_as_gpx(tmp_path):
    (tmp_path / "bomb.kml").write_text('<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "aaaa">]>'
                                       '<kml xmlns="http://www.opengis.net/kml/2.2"><Document>&a;</Document></kml>')
    run = validate_inputs([tmp_path / "bomb.kml"])
    assert "unsafe_xml" in run.notices.counts and [r.status.value for r in run.ledger] == ["quarantined"]


def test_one_ride_as_gpx_converters_and_google_earth_write_it_is_one_ride():
    result = build_network([GEO / "togeojson.geojson", GEO / "track.kml", CSV / "gpslogger.csv"])
    assert sorted(r.status for r in result.ledger_rows) == ["duplicate", "duplicate", "used"]


@pytest.mark.parametrize("headways, uniform", [((10, 10, 10, 10), True), ((10, 15, 10, 20), False)])
def test_headways_every_recording_reports_alike_are_said_to_be_an_apps_default(tmp_path, headways, uniform):
    """Five routes of a mapping campaign all reporting 10 minutes in every period (as all 149 of Xalapa's do):
    kept as reported, with one warning; headways that differ by period are taken as given."""
    for k in range(5):
        coords = [[36.80 + 0.00075 * i, -1.30 + 0.01 * k] for i in range(40)]
        props = {"id": f"r{k}", "desc": f"Place {k} - Town",
                 **dict(zip(("peak_am", "midday", "peak_pm", "night"), headways))}
        (tmp_path / f"route{k}.geojson").write_text(json.dumps({"type": "Feature", "properties": props,
                                                                "geometry": {"type": "LineString",
                                                                             "coordinates": coords}}))
    result = build_network([tmp_path], BuildConfig(first_service_date="2026-03-02"))
    assert all(r.status == "used" for r in result.ledger_rows) and len(result.ledger_rows) == 5
    assert {h.provenance for h in result.headway_rows} == {"reported", "extrapolated"}  # 05-06 from 06-09
    assert sorted({h.headway_s for h in result.headway_rows}) == sorted({60 * h for h in headways})
    found = samples(result.run, "reported_headways_uniform")
    assert [(s["count"], s["headway_s"]) for s in found] == ([(5, 600.0)] if uniform else [])


ODK = Path(__file__).resolve().parent / "fixtures" / "odk"


def test_a_kobotoolbox_export_gives_a_trace_per_submission_from_its_geotrace():
    """KoboToolbox, ';'-separated: the geotrace answer in a group is the path (no times: no_timestamps), the
    route number, fare, boarding stop and collector from the form's fields; a submission whose geotrace is empty
    is left out with a notice naming its line."""
    run = validate_inputs([ODK / "kobo-export.csv"], keep_traces=True)
    assert sorted((r.trace_id, r.status.value) for r in run.ledger) == [("", "quarantined"), ("5f1c0a2e-1", "accepted")]
    trace = run.checks[0].trace
    assert (trace.n_points, trace.timing, trace.route_name, trace.collector_id) == (40, "estimated", "45K", "amina_k")
    assert trace.lat[0] == -1.2921 and trace.lon[-1] == pytest.approx(36.8219 + 39 * 0.00075)
    assert trace.accuracy_m[0] == 5.0
    assert [(f.amount, f.currency) for f in trace.fares] == [(50.0, "")]  # the survey's currency
    assert [(round(s.lat, 4), round(s.lon, 4), s.kind) for s in trace.stops] == [(-1.2921, 36.8219, "stop")]
    [left_out] = samples(run, "invalid_field")
    assert left_out["location"] == "line 3" and "no path" in left_out["message"]


def test_an_odk_central_export_and_its_audit_log_are_read_without_configuration():
    run = validate_inputs([ODK], keep_traces=True)
    assert sorted((r.trace_id, r.status.value) for r in run.ledger if r.trace_id) == [
        ("5f1c0a2e-1", "accepted"), ("5f1c0a2e-3", "accepted"), ("uuid-3f2a", "accepted"),
        ("uuid:3f2a", "duplicate")]  # Kobo's ride again (the XLSX's is timed between its stops: other times)
    run = validate_inputs([ODK / "central-export.csv", ODK / "uuid-3f2a"], keep_traces=True)
    traces = {c.trace.trace_id: c.trace for c in run.checks}
    assert set(traces) == {"uuid:3f2a", "audit"}  # given alone, the log is named after its file
    central = traces["uuid:3f2a"]
    assert (central.route_name, central.collector_id) == ("45K Kawangware - Town", "Amina K")
    assert [(f.amount, f.currency) for f in central.fares] == [(50.0, "KES")]  # "KSh 50", as a note is read
    audit = traces["audit"]
    assert (audit.timing, audit.collector_id, audit.n_points) == ("recorded", "amina_k", 41)
    assert audit.t_s[0] == START_S and audit.t_s[39] == START_S + 390


def test_a_survey_names_the_columns_of_its_own_form(tmp_path):
    """A form whose fields the readers do not know (``linea``, ``recorrido`` with a single point: no geotrace to
    find by content): named in [build.read] (or ``import --set read.KEY=VALUE``)."""
    text = (ODK / "central-export.csv").read_text().replace("ride-route", "linea").replace("ride-trace", "recorrido")
    (tmp_path / "form.csv").write_text(text)
    plain = build_network([tmp_path / "form.csv"])
    assert _feed_table(plain, "routes.txt").route_long_name.fillna("").tolist() == [""]
    named = build_network([tmp_path / "form.csv"], BuildConfig.from_settings({"read": {"route_name": "linea"}}))
    assert _feed_table(named, "routes.txt")[["route_short_name", "route_long_name"]].values.tolist() == [
        ["45K", "Kawangware - Town"]]


def test_digits_of_any_script_are_read_in_times_coordinates_and_fares(tmp_path):
    """Persian digits (as phones set to Persian or Dari write them) in a CSV's times, coordinates and notes;
    Arabic-Indic digits in GPX times: tests/test_field_recordings.py."""
    persian = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")
    rows = ["time,lat,lon,note"] + [
        f"2026-03-04T07:{i // 6:02d}:{i % 6 * 10:02d}+03:00,-1.2921,{36.8219 + i * 0.00075:.5f},".translate(persian)
        + ("کرایه ۵۰ KES" if i == 5 else "") for i in range(40)]
    (tmp_path / "ride.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    run = validate_inputs([tmp_path], keep_traces=True)
    [check] = run.checks
    trace = check.trace
    assert (trace.n_points, trace.t_s[0], trace.t_s[-1] - trace.t_s[0]) == (40, START_S, 390)
    assert (trace.lat[0], trace.lon[-1]) == (-1.2921, pytest.approx(36.8219 + 39 * 0.00075))
    assert [(f.amount, f.currency) for f in trace.fares] == [(50.0, "KES")]


def test_a_kobotoolbox_xlsx_export_gives_its_repeat_groups_stops_with_their_times():
    """KoboToolbox's default export: the submissions on one sheet, the repeat group ``stops`` on another (linked by
    ``_parent_index``); the stops' names and times time the path between them (timing ``stop_times``)."""
    run = validate_inputs([ODK / "kobo-export.xlsx"], keep_traces=True)
    assert [(r.trace_id, r.status.value) for r in run.ledger] == [("5f1c0a2e-3", "accepted")]
    trace = run.checks[0].trace
    assert (trace.timing, trace.route_name, trace.n_points) == ("stop_times", "46", 40)
    assert [(s.name, round(s.time_s - trace.t_s[0])) for s in trace.stops] == [
        ("Kawangware", 0), ("Adams Arcade", 200), ("Kencom", 390)]
    assert [(f.amount, f.currency) for f in trace.fares] == [(60.0, "")]


def test_a_broken_workbook_is_unreadable_not_a_crash_and_parsed_safely(tmp_path):
    import openpyxl.xml

    assert openpyxl.xml.DEFUSEDXML  # openpyxl parses the workbook's XML with defusedxml
    (tmp_path / "export.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    run = validate_inputs([tmp_path])
    assert [(r.status.value, r.codes) for r in run.ledger] == [("quarantined", ("unreadable_file",))]


def test_a_loop_known_without_stops_between_still_has_two_stops(tmp_path):
    """A circuit drawn from a rank back to it, nothing marked on the way (the Xalapa campaign's "Circuito"
    routes): its trip starts and ends at the one stop of the rank, twice in stop_times, which planners and
    node-gtfs need (a trip of one stop is unusable)."""
    import math
    ring = [[36.8219 + 0.01 * math.sin(2 * math.pi * k / 80), -1.2921 + 0.01 * (1 - math.cos(2 * math.pi * k / 80))]
            for k in range(81)]
    west = [[36.8219 - 0.00075 * k, -1.2921] for k in range(40)]  # another route from the same rank
    for name, coords in (("Circuito", ring), ("Rank - West", west)):
        (tmp_path / f"{name}.geojson").write_text(json.dumps({"type": "Feature", "properties": {"desc": name},
                                                              "geometry": {"type": "LineString",
                                                                           "coordinates": coords}}))
    result = build_network([tmp_path], BuildConfig(first_service_date="2026-03-02"))
    stop_times = _feed_table(result, "stop_times.txt")
    loop = stop_times[stop_times.trip_id
                      == stop_times.groupby("trip_id").shape_dist_traveled.max().astype(float).idxmax()]
    assert len(loop) == 2 and loop.stop_id.nunique() == 1  # the rank, twice
    assert pd.to_timedelta(loop.arrival_time).dt.total_seconds().diff().iloc[1] > 600  # 6.3 km at 20 km/h
    assert stop_times.groupby("trip_id").size().min() >= 2


# ------------------------------------------------------------------ spreadsheets: dates, clocks and languages


@pytest.mark.parametrize("name, codes", [
    ("planilla-es.csv", {"decimal_comma", "ambiguous_date_order"}),  # 04/03/2026: no day above 12
    ("hoja-12h.csv", {"decimal_comma", "ambiguous_date_order"}),  # two-digit years, 7:00:00 a. m.
    ("releve-fr.csv", {"decimal_comma", "ambiguous_date_order"}),  # latitude;longitude;date;heure, 04.03.2026
    ("viagem-pt.csv", {"decimal_comma", "ambiguous_date_order"}),  # data;hora
    ("marca-temporal.csv", {"ambiguous_date_order"}),  # one column: 4/3/2026 7:00:00
    ("2026-03-04_moto.csv", set()),  # the date in the file's name, clocks in the rows
])
def test_a_spreadsheet_in_the_surveys_language_and_locale_is_read(name, codes):
    run = validate_inputs([CSV / name], keep_traces=True)
    assert [row.status.value for row in run.ledger] == ["accepted"]
    [check] = run.checks
    assert check.trace.n_points == 40
    assert check.trace.t_s[0] == START_S and check.trace.t_s[-1] == START_S + 390  # local times, Nairobi's zone
    assert set(run.notices.counts) == codes | {"missing_collector_id", "time_without_offset"}


def test_month_first_dates_are_told_from_a_day_above_12_in_the_file():
    run = validate_inputs([CSV / "us-export.csv"], keep_traces=True)
    traces = {c.trace.trace_id: c.trace for c in run.checks}
    assert sorted(traces) == ["1", "2"]
    assert traces["1"].t_s[0] == START_S and traces["2"].t_s[0] == START_S + 9 * 86400  # 3/13/2026
    assert "ambiguous_date_order" not in run.notices.counts


def test_an_ambiguous_file_is_reported_and_its_order_can_be_declared(tmp_path):
    rows = (CSV / "us-export.csv").read_text().splitlines()
    (tmp_path / "us.csv").write_text("\n".join(r for r in rows if not r.startswith("2,")) + "\n")  # 3/4 only
    run = validate_inputs([tmp_path / "us.csv"], keep_traces=True)
    [sample] = samples(run, "ambiguous_date_order")
    assert (sample["severity"], sample["value"], sample["location"], sample["order"]) == \
        ("WARNING", "3/4", "line 2", "day first")
    assert run.checks[0].trace.t_s[0] == START_S + 30 * 86400  # read as 3 April
    from transitmap.read import ReadColumns, ReadLimits

    for declared in ("mm/dd/yyyy", "%m/%d/%Y", "mdy"):
        run = validate_inputs([tmp_path / "us.csv"], keep_traces=True,
                              limits=ReadLimits(columns=ReadColumns(date_format=declared)))
        assert run.checks[0].trace.t_s[0] == START_S and "ambiguous_date_order" not in run.notices.counts


def test_a_date_format_that_is_none_is_refused_in_one_line(tmp_path):
    from click.testing import CliRunner

    from transitmap.cli import main

    r = CliRunner().invoke(main, ["build", str(CSV / "us-export.csv"), "--out", str(tmp_path / "o"),
                                  "--set", "read.date_format=banana"])
    assert r.exit_code == 2 and "read.date_format 'banana' is not a date format" in r.output
    r = CliRunner().invoke(main, ["build", str(CSV / "us-export.csv"), "--out", str(tmp_path / "o"), "-q",
                                  "--no-validate", "--set", "read.date_format=mm/dd/yyyy"])
    assert r.exit_code == 0, r.output


def test_times_that_cannot_be_read_are_the_error_with_the_value_and_the_line(tmp_path):
    """Every time unread: the ERROR is unreadable_times, naming the value and its line, not too_few_points."""
    rows = (CSV / "2026-03-04_moto.csv").read_text().splitlines()
    (tmp_path / "moto.csv").write_text("\n".join(rows) + "\n")  # clocks, and no date anywhere
    (tmp_path / "weird.csv").write_text("\n".join([rows[0]] + [f"{r.split(',')[0]} o'clock,{r.split(',', 1)[1]}"
                                                                for r in rows[1:]]) + "\n")
    by_file = {}
    for name in ("moto.csv", "weird.csv"):
        run = validate_inputs([tmp_path / name])
        assert [row.status.value for row in run.ledger] == ["quarantined"]
        assert "too_few_points" not in run.notices.counts and "unparseable_time" not in run.notices.counts
        by_file.update({s["file"]: s for s in samples(run, "unreadable_times")})
    assert by_file["moto.csv"]["severity"] == "ERROR"
    assert (by_file["moto.csv"]["value"], by_file["moto.csv"]["location"]) == ("07:00:00", "line 2")
    assert "a time of day without a date" in by_file["moto.csv"]["message"]
    assert by_file["weird.csv"]["value"] == "07:00:00 o'clock"
    assert "not a date and time" in by_file["weird.csv"]["message"]


def test_one_unreadable_time_among_many_is_a_warning_and_the_ride_is_used(tmp_path):
    rows = (CSV / "planilla-es.csv").read_text().splitlines()
    rows[7] = rows[7].replace("07:01:00", "7 y 1")
    (tmp_path / "p.csv").write_text("\n".join(rows) + "\n")
    run = validate_inputs([tmp_path / "p.csv"])
    assert [row.status.value for row in run.ledger] == ["accepted"]
    [sample] = samples(run, "unparseable_time")
    assert (sample["severity"], sample["location"], sample["value"]) == ("WARNING", "line 8", "7 y 1")


@pytest.mark.parametrize("written, iso", [
    (("05/03/2024 07:10:00",), "2024-03-05T07:10:00"),
    (("13/03/2024 7:10 PM",), "2024-03-13T19:10:00"),
    (("03/13/2024 7:10 p. m.",), "2024-03-13T19:10:00"),
    (("5.3.24 19h10",), "2024-03-05T19:10:00"),
    (("2024/03/05 07:10:00.5",), "2024-03-05T07:10:00.5"),
    (("05/03/2024 12:05 AM",), "2024-03-05T00:05:00"),
    (("05/03/2024 12:05 PM",), "2024-03-05T12:05:00"),
    (("05-03-2024 07:10:00+02:00",), "2024-03-05T07:10:00+02:00"),
    (("05/03/2024 07:10 UTC",), "2024-03-05T07:10:00Z"),
])
def test_dates_and_clocks_as_people_write_them(written, iso):
    from transitmap.read.dates import spreadsheet_times

    assert spreadsheet_times(pd.Series(written)).iso == [iso]


def test_a_ride_past_midnight_dated_by_its_file_name_goes_on_the_next_day():
    from transitmap.read.dates import spreadsheet_times

    got = spreadsheet_times(pd.Series(["23:59:50", "00:00:10", "23:00:00"]), name="x/2024-12-31_r.csv",
                            groups=pd.Series(["a", "a", "b"]))
    assert got.iso == ["2024-12-31T23:59:50", "2025-01-01T00:00:10", "2024-12-31T23:00:00"]


# ------------------------------------------------------------------------ fares written without a currency


def _fare_rows(feed: bytes) -> list[tuple[str, str]]:
    z = zipfile.ZipFile(io.BytesIO(feed))
    rows = pd.read_csv(z.open("fare_attributes.txt"), dtype=str) if "fare_attributes.txt" in z.namelist() else []
    return sorted(zip(rows["price"], rows["currency_type"])) if len(rows) else []


def test_currency_is_the_currency_of_fares_that_name_none_in_every_format(tmp_path):
    """A fare without a currency in the collector JSON, in JSON Lines, in a fares.csv without the column and
    in a Kobo form: priced in ``--currency``; without it, left out with fare_without_currency."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from builders import ride, write_json

    a = ride()
    a["fares"] = [{"amount": 70}]
    write_json(tmp_path / "json" / "a.json", a)
    (tmp_path / "jsonl").mkdir()
    (tmp_path / "jsonl" / "rides.jsonl").write_text(json.dumps(a) + "\n")
    csv_dir = tmp_path / "tables" / "export"
    csv_dir.mkdir(parents=True)
    (csv_dir / "points.csv").write_text("trace_id,time,lat,lon\n" + "".join(
        f'{a["trace_id"]},{p["time"]},{p["lat"]},{p["lon"]}\n' for p in a["points"]))
    (csv_dir / "traces.csv").write_text(f"trace_id,collector_id\n{a['trace_id']},c1\n")
    (csv_dir / "fares.csv").write_text(f"trace_id,amount\n{a['trace_id']},70\n")
    for inputs, price in ((tmp_path / "json", "70.00"), (tmp_path / "jsonl", "70.00"), (tmp_path / "tables", "70.00"),
                          (Path(__file__).resolve().parent / "fixtures" / "odk" / "kobo-export.csv", "50.00")):
        result = build_network([inputs], BuildConfig(currency="KES"))
        assert _fare_rows(result.feed) == [(price, "KES")], inputs
        assert "fare_without_currency" not in result.run.notices.counts
        result = build_network([inputs])
        assert _fare_rows(result.feed) == [] and "fare_without_currency" in result.run.notices.counts, inputs

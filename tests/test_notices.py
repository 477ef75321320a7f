"""Every notice code: a minimal input that triggers it, and the clean input that does not.

Each case writes files into a fresh folder and validates the folder, as a survey team would. The
meta-test at the end keeps this table and the catalogue in step: a new notice class needs a case here.
"""

from __future__ import annotations

import gzip
import io
import os
import zipfile
from pathlib import Path

import msgspec
import pytest
from builders import NAIROBI, edited, moved, ride, stop_at, write_json

from transitmap import notices as N
from transitmap.model import Status
from transitmap.pipeline import validate_inputs
from transitmap.read import InputFile, ReadLimits, read_file

MOMBASA = (-4.0435, 39.6682)


def _gpx(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx version="1.1" creator="OSMTracker for Android" xmlns="http://www.topografix.com/GPX/1/1">'
        f"{body}</gpx>\n"
    ).encode()


def _gpx_track(trace: dict, waypoints: str = "") -> bytes:
    pts = "".join(f'<trkpt lat="{p["lat"]}" lon="{p["lon"]}"><time>{p["time"]}</time></trkpt>' for p in trace["points"])
    return _gpx(f"{waypoints}<trk><name>Tracked with OSMTracker</name><trkseg>{pts}</trkseg></trk>")


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _csv_points(trace: dict, drop: str | None = None) -> str:
    cols = [c for c in ("trace_id", "time", "lat", "lon") if c != drop]
    rows = [",".join(cols)]
    for p in trace["points"]:
        values = {"trace_id": trace["trace_id"], **p}
        rows.append(",".join(str(values[c]) for c in cols))
    return "\n".join(rows) + "\n"


def _points(trace: dict, edit) -> dict:
    pts = [dict(p) for p in trace["points"]]
    edit(pts)
    return edited(trace, points=pts)


GOOD = ride()

# code -> (files when triggered, files when clean); a file is (relative name, bytes or a JSON-able object)
CASES: dict[str, tuple[dict, dict]] = {
    "empty_file": ({"a.json": b"  \n"}, {"a.json": GOOD}),
    "unsupported_file": ({"notes.txt": b"hello", "a.json": GOOD}, {"a.json": GOOD}),
    "invalid_json": ({"a.json": msgspec.json.encode(GOOD)[:500]}, {"a.json": GOOD}),
    "invalid_encoding": (
        {"a.json": msgspec.json.encode(edited(GOOD, route_name="Kariobangi")).replace(b"Kariobangi", b"Kari\xf6bangi")},
        {"a.json": edited(GOOD, route_name="Kariöbangi")},
    ),
    "invalid_xml": ({"a.gpx": _gpx_track(GOOD)[:300]}, {"a.gpx": _gpx_track(GOOD)}),
    "unsafe_xml": (
        {"a.gpx": b'<?xml version="1.0"?><!DOCTYPE gpx [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
                  b'<gpx version="1.1"><trk><name>&b;</name></trk></gpx>'},
        {"a.gpx": _gpx_track(GOOD)},
    ),
    "invalid_csv": ({"s/points.csv": _csv_points(GOOD, drop="lat").encode()},
                    {"s/points.csv": _csv_points(GOOD).encode()}),
    "invalid_archive": ({"a.zip": _zip({"a.json": msgspec.json.encode(GOOD)})[:200]},
                        {"a.zip": _zip({"a.json": msgspec.json.encode(GOOD)})}),
    "unsafe_archive_member": ({"a.zip": _zip({"../../evil.json": msgspec.json.encode(GOOD)})},
                              {"a.zip": _zip({"ok/a.json": msgspec.json.encode(GOOD)})}),
    "archive_bomb": ({"a.zip": _zip({"a.json": b" " * 5_000_000})},
                     {"a.zip": _zip({"a.json": msgspec.json.encode(GOOD)})}),
    "unsupported_schema_version": ({"a.json": edited(GOOD, schema_version="2.0")}, {"a.json": GOOD}),
    "missing_schema_version": ({"a.json": {k: v for k, v in GOOD.items() if k != "schema_version"}}, {"a.json": GOOD}),
    "schema_violation": ({"a.json": edited(GOOD, points="none")}, {"a.json": GOOD}),
    "invalid_field": ({"a.json": edited(GOOD, route_name=46)}, {"a.json": edited(GOOD, route_name="46")}),
    "missing_trace_id": ({"a.json": {k: v for k, v in GOOD.items() if k != "trace_id"}}, {"a.json": GOOD}),
    "missing_collector_id": ({"a.json": ride(collector_id=None)}, {"a.json": GOOD}),
    "invalid_point": ({"a.json": _points(GOOD, lambda p: p[3].update(lat="-1.28"))}, {"a.json": GOOD}),
    "too_few_points": ({"a.json": _points(GOOD, lambda p: p.__setitem__(slice(1, None), []))}, {"a.json": GOOD}),
    "coordinates_out_of_range": ({"a.json": _points(GOOD, lambda p: p[5].update(lat=95.0))}, {"a.json": GOOD}),
    "null_island": ({"a.json": _points(GOOD, lambda p: p[5].update(lat=0.0, lon=0.0))}, {"a.json": GOOD}),
    "lat_lon_swapped": (  # a collector app that writes lon into lat: only the survey around it tells
        {"a.json": _points(GOOD, lambda p: [q.update(lat=q["lon"], lon=q["lat"]) for q in p]),
         "b.json": ride(trace_id="t2", heading_deg=0), "c.json": ride(trace_id="t3", heading_deg=45)},
        {"a.json": GOOD, "b.json": ride(trace_id="t2", heading_deg=0), "c.json": ride(trace_id="t3", heading_deg=45)},
    ),
    "trace_far_from_survey": (
        {"a.json": GOOD, "b.json": ride(trace_id="t2"), "c.json": ride(trace_id="t3", start=MOMBASA)},
        {"a.json": GOOD, "b.json": ride(trace_id="t2"), "c.json": ride(trace_id="t3", heading_deg=0)},
    ),
    "unparseable_time": ({"a.json": _points(GOOD, lambda p: p[4].update(time="yesterday 7am"))}, {"a.json": GOOD}),
    "time_without_offset": ({"a.json": _points(GOOD, lambda p: [q.update(time=q["time"][:19]) for q in p])},
                            {"a.json": GOOD}),
    "implausible_time": ({"a.json": _points(GOOD, lambda p: p[4].update(time="1970-01-01T00:00:00Z"))},
                         {"a.json": GOOD}),
    "time_going_backwards": ({"a.json": _points(GOOD, lambda p: p[10].update(time=p[2]["time"]))}, {"a.json": GOOD}),
    "duplicate_timestamp": ({"a.json": _points(GOOD, lambda p: p[10].update(time=p[9]["time"]))}, {"a.json": GOOD}),
    "gps_spike": ({"a.json": _points(GOOD, lambda p: p.__setitem__(50, moved(p[50], north_m=600)))},
                  {"a.json": _points(GOOD, lambda p: p.__setitem__(50, moved(p[50], north_m=15)))}),
    "recording_gap": ({"a.json": _points(GOOD, lambda p: p.__delitem__(slice(40, 70)))}, {"a.json": GOOD}),
    "poor_accuracy": ({"a.json": _points(GOOD, lambda p: [q.update(accuracy=80.0) for q in p[:10]])}, {"a.json": GOOD}),
    "ride_too_short": ({"a.json": ride(n=20)}, {"a.json": GOOD}),
    "too_slow_for_vehicle": ({"a.json": ride(speed_kph=5, n=300)}, {"a.json": ride(speed_kph=15, n=300)}),
    "stop_far_from_trace": ({"a.json": edited(GOOD, stops=[moved(stop_at(GOOD, 30), north_m=400)])},
                            {"a.json": edited(GOOD, stops=[moved(stop_at(GOOD, 30), north_m=20)])}),
    "stop_outside_trace_time": (
        {"a.json": edited(GOOD, stops=[{**stop_at(GOOD, 30), "time": "2026-03-02T12:00:00+03:00"}])},
        {"a.json": edited(GOOD, stops=[stop_at(GOOD, 30)])},
    ),
    "non_positive_fare": ({"a.json": edited(GOOD, fares=[{"amount": 0, "currency": "KES"}])},
                          {"a.json": edited(GOOD, fares=[{"amount": 70, "currency": "KES"}])}),
    "withdrawn_currency": ({"a.json": edited(GOOD, fares=[{"amount": 2000, "currency": "SLL"}])}, {"a.json": GOOD}),
    "unknown_currency": ({"a.json": edited(GOOD, fares=[{"amount": 70, "currency": "KSH"}])},
                         {"a.json": edited(GOOD, fares=[{"amount": 70, "currency": "kes"}])}),
    "fare_stop_not_found": (
        {"a.json": edited(GOOD, stops=[stop_at(GOOD, 10)],
                          fares=[{"amount": 50, "currency": "KES", "from_stop": 0, "to_stop": 3}])},
        {"a.json": edited(GOOD, stops=[stop_at(GOOD, 10), stop_at(GOOD, 90)],
                          fares=[{"amount": 50, "currency": "KES", "from_stop": 0, "to_stop": 1}])},
    ),
    "unordered_departures": (
        {"a.json": edited(GOOD, departures=["2026-03-02T06:50:00+03:00", "2026-03-02T06:40:00+03:00"])},
        {"a.json": edited(GOOD, departures=["2026-03-02T06:40:00+03:00", "2026-03-02T06:50:00+03:00"])},
    ),
    "unparsed_note": ({"a.gpx": _gpx_track(GOOD,
                                           f'<wpt lat="{NAIROBI[0]}" lon="{NAIROBI[1]}">'
                                           '<name>paid fifteen bob, 2 kids</name></wpt>')},
                      {"a.gpx": _gpx_track(GOOD,
                                           f'<wpt lat="{NAIROBI[0]}" lon="{NAIROBI[1]}"><name>KES 70</name></wpt>')}),
    "duplicate_upload": ({"day1/a.json": GOOD, "day2/a.json": GOOD}, {"day1/a.json": GOOD}),
    "duplicate_content": ({"a.json": GOOD, "b.json": edited(GOOD, trace_id="t1-again")}, {"a.json": GOOD}),
    "conflicting_trace_id": ({"a.json": GOOD, "b.json": ride(heading_deg=0)},
                             {"a.json": GOOD, "b.json": ride(trace_id="t2", heading_deg=0)}),
}


def _write(folder: Path, files: dict) -> Path:
    for name, content in files.items():
        path = folder / name
        if isinstance(content, (bytes, bytearray)):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        else:
            write_json(path, content)
    return folder


def _codes(run) -> set[str]:
    return set(run.notices.counts)


@pytest.mark.parametrize("code", sorted(CASES))
def test_notice_is_raised_by_its_case_and_not_by_the_clean_input(tmp_path, code):
    bad, clean = CASES[code]
    run = validate_inputs([_write(tmp_path / "bad", bad)])
    assert code in _codes(run), run.notices.to_list()
    run = validate_inputs([_write(tmp_path / "clean", clean)])
    assert code not in _codes(run), run.notices.to_list()


@pytest.mark.parametrize("code", sorted(CASES))
def test_severity_decides_the_status(tmp_path, code):
    """An ERROR quarantines what it concerns; the good trace beside it is still accepted."""
    bad, _ = CASES[code]
    files = {**bad, "zz_good/good.json": ride(trace_id="good-neighbour", heading_deg=180)}
    run = validate_inputs([_write(tmp_path, files)])
    rows = {(r.file, r.trace_id): r for r in run.ledger}
    assert rows[("zz_good/good.json", "good-neighbour")].status == Status.ACCEPTED
    severity = next(c.severity for c in N.catalogue() if c.code() == code)
    flagged = [r for r in run.ledger if code in r.codes]
    assert flagged
    if severity == N.ERROR:
        assert all(r.status == Status.QUARANTINED for r in flagged)
        assert run.has_errors
    elif code in ("duplicate_upload", "duplicate_content"):
        assert all(r.status == Status.DUPLICATE for r in flagged)
    elif code != "unsupported_file":
        assert any(r.status == Status.ACCEPTED for r in flagged)


def test_every_code_in_the_catalogue_has_a_case():
    covered = set(CASES) | {"unreadable_file", "file_too_large", "unsafe_path", "system_error"}  # tested below
    covered |= {"pattern_single_ride", "direction_missing", "fare_outlier", "headway_estimated", "stop_seen_once",
                "ride_without_movement"}  # build notices: tests/test_build.py
    covered |= {"trace_changed"}  # workspace imports: tests/test_workspace.py
    covered |= {"fare_without_currency", "path_convention_mismatch"}  # build: tests/test_field_recordings.py
    covered |= {"decimal_comma", "no_timestamps", "travel_times_estimated", "no_service_dates",
                "reported_headways_uniform", "ambiguous_date_order",
                "unreadable_times"}  # other tools' files: tests/test_inputs.py
    covered |= {"placeholder_agency_url", "service_days_not_observed"}  # planner-ready feeds: tests/test_build.py
    covered |= {"headway_implausible"}  # tests/test_rider_truth.py
    covered |= {"correction_stale", "ride_excluded", "ride_assigned", "route_dropped"}  # tests/test_review.py
    covered |= {"road_missing_from_extract"}  # tests/test_osm.py
    assert {c.code() for c in N.catalogue()} == covered


def test_unreadable_file_and_missing_path(tmp_path):
    def broken():
        raise PermissionError("permission denied")

    [res] = read_file(InputFile("a.json", broken))
    assert [n.code() for n in res.notices] == ["unreadable_file"]
    run = validate_inputs([tmp_path / "nope"])
    assert [r.status for r in run.ledger] == [Status.QUARANTINED] and "unreadable_file" in _codes(run)


def test_file_too_large(tmp_path):
    path = write_json(tmp_path / "a.json", GOOD)
    [res] = read_file(InputFile("a.json", lambda: open(path, "rb")), ReadLimits(max_file_bytes=1000))
    [n] = res.notices
    assert n.code() == "file_too_large" and n.limit == 1000 and n.size_bytes > 1000
    assert read_file(InputFile("a.json", lambda: open(path, "rb")))[0].trace is not None


def test_symlink_leaving_the_input_is_not_followed(tmp_path):
    outside = write_json(tmp_path / "secret" / "x.json", GOOD)
    survey = tmp_path / "survey"
    write_json(survey / "a.json", ride(trace_id="t9"))
    os.symlink(outside, survey / "link.json")
    os.symlink(survey / "a.json", survey / "inside.json")
    run = validate_inputs([survey])
    by_file = {r.file: r for r in run.ledger}
    assert by_file["link.json"].codes == ("unsafe_path",) and by_file["link.json"].status == Status.QUARANTINED
    assert by_file["inside.json"].status == Status.DUPLICATE  # a link inside the input: the same upload again


def test_system_error_quarantines_only_that_trace(tmp_path, monkeypatch):
    import transitmap.validate as V

    real = V.check_trace

    def flaky(trace, config):
        if trace.trace_id == "t1":
            raise ZeroDivisionError("boom")
        return real(trace, config)

    monkeypatch.setattr(V, "check_trace", flaky)  # what check_trace_safely calls
    run = validate_inputs([_write(tmp_path, {"a.json": GOOD, "b.json": ride(trace_id="t2", heading_deg=0)})])
    status = {r.trace_id: (r.status, r.codes) for r in run.ledger}
    assert status["t1"] == (Status.QUARANTINED, ("system_error",))
    assert status["t2"][0] == Status.ACCEPTED


def test_gzip_truncated_jsonl_keeps_the_lines_before_the_damage(tmp_path):
    lines = b"".join(msgspec.json.encode(ride(trace_id=f"t{i}", heading_deg=30 * i)) + b"\n" for i in range(3))
    data = gzip.compress(lines, mtime=0)
    (tmp_path / "a.jsonl.gz").write_bytes(data[: len(data) - 40])
    run = validate_inputs([tmp_path])
    assert "invalid_archive" in _codes(run)
    assert sum(r.status == Status.ACCEPTED for r in run.ledger) >= 1

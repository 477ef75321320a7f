"""Importers: every format, its quirks, and broken files of every format (notices, never a traceback)."""

from __future__ import annotations

import gzip
import io
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec
import numpy as np
import pytest
from builders import osmtracker_gpx, ride, stop_at, write_json
from hypothesis import example, given, settings
from hypothesis import strategies as st

from transitmap.model import Status
from transitmap.pipeline import validate_inputs
from transitmap.read import list_inputs, parse_note, parse_times, read_file, trace_from_dict

MALFORMED = Path(__file__).parent / "fixtures" / "malformed"

# fixture -> (codes that must be reported, traces that must be accepted)
EXPECTED = {
    "truncated.json": ({"invalid_json"}, 0),
    "list_of_numbers.json": ({"schema_violation"}, 0),
    "not_json.json": ({"invalid_json"}, 0),
    "nan_coordinate.json": ({"invalid_json"}, 0),
    "huge_number.json": ({"invalid_json"}, 0),
    "bom.json": (set(), 1),
    "utf16.json": ({"invalid_encoding"}, 1),
    "wrong_types.json": ({"unsupported_schema_version"}, 0),
    "points_null.json": ({"schema_violation"}, 0),
    "duplicate_keys.json": (set(), 1),
    "empty.json": ({"empty_file"}, 0),
    "whitespace.jsonl": ({"empty_file"}, 0),
    "crlf.jsonl": (set(), 1),
    "one_bad_line.jsonl": ({"invalid_json"}, 2),
    "truncated.json.gz": ({"invalid_archive"}, 0),
    "not_gzip.jsonl.gz": ({"invalid_archive"}, 0),
    "truncated.gpx": ({"invalid_xml"}, 0),
    "html.gpx": ({"invalid_xml"}, 0),
    "route_only.gpx": ({"schema_violation"}, 0),
    "xxe.gpx": ({"unsafe_xml"}, 0),
    "billion_laughs.gpx": ({"unsafe_xml"}, 0),
    "bad_coordinates.gpx": ({"invalid_xml"}, 0),
    "random.zip": ({"invalid_archive"}, 0),
    "csv_missing_column": ({"invalid_csv"}, 0),
    "csv_bad_rows": ({"invalid_point", "unparseable_time"}, 1),
    "csv_ragged": ({"invalid_csv"}, 0),
    "csv_latin1": ({"invalid_encoding"}, 1),
}


def test_every_fixture_is_expected():
    assert {p.name for p in MALFORMED.iterdir()} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_file_gives_notices_not_a_traceback(name):
    codes, accepted = EXPECTED[name]
    run = validate_inputs([MALFORMED / name])
    found = set(run.notices.counts) - {"missing_collector_id", "missing_trace_id", "missing_schema_version"}
    assert codes <= found, run.notices.to_list()
    assert "system_error" not in found
    assert sum(r.status == Status.ACCEPTED for r in run.ledger) == accepted
    assert run.ledger, "every input appears in the ledger"


def test_the_whole_corpus_at_once_keeps_the_good_traces(tmp_path):
    """Together, the good traces cut from the same ride are recognised as one (same points)."""
    run = validate_inputs([MALFORMED])
    kept = [r for r in run.ledger if r.status in (Status.ACCEPTED, Status.DUPLICATE)]
    assert len(kept) == sum(a for _, a in EXPECTED.values())
    assert "system_error" not in run.notices.counts
    assert {r.trace_id for r in run.ledger if r.status == Status.ACCEPTED} >= {"m-l3", "m-csv"}


# ---------------------------------------------------------------------------------------------- JSON


def test_json_list_jsonl_and_gzip_give_the_same_traces(tmp_path):
    traces = [ride(trace_id=f"t{i}", heading_deg=40 * i) for i in range(3)]
    write_json(tmp_path / "list" / "all.json", traces)
    lines = b"".join(msgspec.json.encode(t) + b"\n" for t in traces)
    (tmp_path / "jl").mkdir()
    (tmp_path / "jl" / "all.jsonl").write_bytes(lines)
    (tmp_path / "gz").mkdir()
    (tmp_path / "gz" / "all.jsonl.gz").write_bytes(gzip.compress(lines))
    results = {}
    for kind in ("list", "jl", "gz"):
        files, _ = list_inputs([tmp_path / kind])
        results[kind] = [r.trace for f in files for r in read_file(f)]
    for kind in ("jl", "gz"):
        for a, b in zip(results["list"], results[kind]):
            assert a.trace_id == b.trace_id and np.array_equal(a.t_s, b.t_s) and np.array_equal(a.lat, b.lat)


def test_fast_and_lenient_paths_read_alike():
    """A trace that fits the typed fast path and the same trace read through the dict path agree."""
    doc = ride(route_name="Kawangware 46", stops=[stop_at(ride(), 10, name="Odeon")],
               fares=[{"amount": 70, "currency": "KES"}], departures=["2026-03-02T06:50:00+03:00"])
    from transitmap.read.canonical import read_json

    [fast] = read_json("a.json", msgspec.json.encode(doc))
    lenient = trace_from_dict(doc, "a.json")
    a, b = fast.trace, lenient.trace
    assert a.content_digest() == b.content_digest()
    assert fast.notices == lenient.notices == ()


_STOP_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-200, 200), st.floats(-200, 200, allow_nan=False),
                         st.text(max_size=3), st.sampled_from(["board", "alight", "both", "stop", "jump"]),
                         st.just("x" * 501), st.just("\U0001f68c" * 500), st.just("2026-03-02T06:50:00+03:00"))


_STOP_KEYS = ["time", "lat", "lon", "kind", "name", "boarded", "alighted", "note"]


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(_STOP_KEYS), _STOP_VALUES, max_size=2),
       st.sets(st.sampled_from(_STOP_KEYS), max_size=1))
@example({"lat": 90.5}, set())
@example({"lon": -181}, set())
@example({"name": "x" * 501}, set())
@example({"name": "\U0001f68c" * 500}, set())  # 500 characters, 2,000 bytes: allowed
@example({"boarded": -1}, set())
@example({"alighted": 3.0}, set())  # an integer to the schema; the lenient path
@example({"kind": "jump"}, set())
@example({}, {"kind"})
def test_typed_stops_accept_nothing_the_schema_rejects(changes, removed):
    """A stop decoded as ``_FastStop`` (checked in C, not by the schema) is one the schema allows (its time
    only a string there too: the time parser reads it); and a trace reads alike through the fast path and
    the dict path, whatever its stop."""
    from transitmap.read.canonical import _FastStop, _validators, read_json

    good = stop_at(ride(), 9)
    stop = {k: v for k, v in {**good, **changes}.items() if k not in removed}
    try:
        msgspec.json.decode(msgspec.json.encode(stop), type=_FastStop)
        typed = True
    except msgspec.ValidationError:
        typed = False
    lenient_schema = _validators()[0][False][1]
    if typed:
        assert lenient_schema.is_valid({**ride(), "stops": [stop]})
    doc = ride(stops=[stop_at(ride(), 5), stop])
    [fast] = read_json("a.json", msgspec.json.encode(doc))
    lenient = trace_from_dict(doc, "a.json")
    assert fast.notices == lenient.notices
    assert fast.trace.content_digest() == lenient.trace.content_digest()


def test_invalid_point_points_at_the_field():
    doc = ride()
    doc["points"][7]["lat"] = "-1.28"
    res = trace_from_dict(doc, "a.json")
    [n] = [n for n in res.notices if n.code() == "invalid_point"]
    assert n.location == "/points/7" and n.point_index == 7 and n.count == 1 and "number" in n.message
    assert np.isnan(res.trace.lat[7]) and np.isfinite(res.trace.lat[8])


def test_invalid_stop_is_dropped_the_rest_kept():
    doc = ride(stops=[stop_at(ride(), 5), {**stop_at(ride(), 9), "kind": "jump"}])
    res = trace_from_dict(doc, "a.json")
    assert len(res.trace.stops) == 1
    [n] = res.notices
    assert n.code() == "invalid_field" and n.location == "/stops/1/kind"


def test_times_without_offset_are_read_in_the_local_time_zone():
    doc = ride()
    for p in doc["points"]:
        p["time"] = p["time"][:19]  # 07:00 local in Nairobi = 04:00 UTC
    res = trace_from_dict(doc, "a.json")
    [n] = res.notices
    assert n.code() == "time_without_offset" and n.timezone == "Africa/Nairobi" and n.count == 120
    assert res.trace.t_s[0] == datetime(2026, 3, 2, 4, 0, tzinfo=timezone.utc).timestamp()


@given(st.lists(st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 1, 1)), min_size=1, max_size=200),
       st.sampled_from([0, 3, -5, 5.5, -3.5]), st.sampled_from(["seconds", "milliseconds", "microseconds"]),
       st.booleans())
@settings(max_examples=200, deadline=None)
def test_parse_times_agrees_with_the_standard_library(moments, offset_h, spec, zulu):
    tz = timezone(timedelta(hours=offset_h))
    strs = [m.replace(tzinfo=tz).isoformat(timespec=spec) for m in moments]
    if zulu and offset_h == 0:
        strs = [s.replace("+00:00", "Z") for s in strs]
    t, bad, naive, _ = parse_times(strs)
    expected = np.array([datetime.fromisoformat(s).timestamp() for s in strs])
    assert not bad.any() and not naive.any()
    np.testing.assert_allclose(t, expected, rtol=0, atol=1e-5)


def test_parse_times_rejects_impossible_dates_and_garbage():
    strs = ["2026-03-02T07:00:00+03:00"] * 100
    strs[10] = "2026-02-30T07:00:00+03:00"
    strs[20] = "2026-03-02T25:00:00+03:00"
    strs[30] = "07:00"
    strs[40] = "2026-03-02"  # a date is not a time
    t, bad, _, _ = parse_times(strs)
    assert list(np.flatnonzero(bad)) == [10, 20, 30, 40]
    assert np.isfinite(t[~bad]).all()


# ---------------------------------------------------------------------------------------------- GPX


def test_osmtracker_gpx_waypoints_become_stops_and_notes_fares(tmp_path):
    trace = ride()
    data = osmtracker_gpx(trace, [(5, "Odeon"), (40, "KES 70"), (80, "wait 12 min"), (100, "200 FCFA")])
    (tmp_path / "2026-03-02_0700_Kawangware-46.gpx").write_bytes(data)
    files, _ = list_inputs([tmp_path])
    [res] = read_file(files[0])
    tr = res.trace
    assert tr.route_name is None  # the app's track name is none; the build reads the file's path (names.py)
    assert tr.n_points == 120 and tr.trace_id.startswith("x-")
    assert [s.name for s in tr.stops] == ["Odeon", None, None, None]
    assert [s.note for s in tr.stops][1:] == ["KES 70", "wait 12 min", "200 FCFA"]
    assert tr.stops[2].wait_s == 720
    assert [(f.amount, f.currency) for f in tr.fares] == [(70.0, "KES"), (200.0, "XAF")]  # Nairobi lies east of 6 E
    assert {n.code() for n in res.notices} == {"missing_trace_id", "missing_collector_id"}


@pytest.mark.parametrize("text, fare, wait", [
    ("R15", ("ZAR", 15.0), None), ("r 15", ("ZAR", 15.0), None), ("KES 70", ("KES", 70.0), None),
    ("Ksh 50", ("KES", 50.0), None), ("70 kes", ("KES", 70.0), None), ("GH₵ 2.50", ("GHS", 2.5), None),
    ("2,50 cedis", ("GHS", 2.5), None), ("200 FCFA", ("XOF", 200.0), None),
    ("fare R15, waited 20 min", ("ZAR", 15.0), 1200.0),
    ("20 min", None, 1200.0), ("1 h", None, 3600.0), ("Bree rank", None, None), ("15", None, None),
    # as real recordings write them (issue: fare and wait notes)
    ("200F", ("XOF", 200.0), None), ("200 F", ("XOF", 200.0), None), ("200 frs", ("XOF", 200.0), None),
    ("200FCFA", ("XOF", 200.0), None), ("150cfa", ("XOF", 150.0), None), ("2000/=", ("KES", 2000.0), None),
    ("Sh 2,000", ("KES", 2000.0), None), ("Le 2,000", ("SLL", 2000.0), None), ("Le2000", ("SLL", 2000.0), None),
    ("KSh 50", ("KES", 50.0), None), ("Ksh.50", ("KES", 50.0), None), ("R 15.50", ("ZAR", 15.5), None),
    ("GH₵5", ("GHS", 5.0), None), ("GHS 5", ("GHS", 5.0), None), ("₦200", ("NGN", 200.0), None),
    ("N200", ("NGN", 200.0), None), ("UGX 2,000", ("UGX", 2000.0), None), ("2k", ("", 2000.0), None),
    ("Départ - 200F - 30min", ("XOF", 200.0), 1800.0), ("Départ-300f-20 minutes", ("XOF", 300.0), 1200.0),
    ("Départ 300 fcfa 15 min", ("XOF", 300.0), 900.0), ("20min", None, 1200.0), ("20 mn", None, 1200.0),
    ("1h", None, 3600.0), ("1h30", None, 5400.0), ("20 minuites", None, 1200.0),
    ("Terminus 40", None, None), ("Rue 12", None, None), ("43 ème BIMA", None, None), ("Riviera 2", None, None),
    ("9 kilos", None, None), ("all 5 stops", None, None), ("Parada de Bus tipo 1", None, None), ("2 km", None, None),
])
def test_parse_note(text, fare, wait):
    f, w = parse_note(text, lon=-0.2)  # Accra: the West African franc
    assert (None if f is None else (f.currency, f.amount)) == fare
    assert w == wait


def test_gpx_with_two_tracks_is_two_traces_and_gpx_10_is_read(tmp_path):
    a, b = ride(), ride(heading_deg=0, t0=datetime(2026, 3, 2, 9, 0, tzinfo=timezone(timedelta(hours=3))))
    def seg(t):
        return "".join(f'<trkpt lat="{p["lat"]}" lon="{p["lon"]}"><time>{p["time"]}</time></trkpt>'
                       for p in t["points"])

    gpx = ('<?xml version="1.0"?><gpx version="1.0" creator="GPSLogger" xmlns="http://www.topografix.com/GPX/1/0">'
           f"<trk><name>Kibera - Town</name><trkseg>{seg(a)}</trkseg></trk><trk><trkseg>{seg(b)}</trkseg></trk></gpx>")
    (tmp_path / "day.gpx").write_text(gpx)
    run = validate_inputs([tmp_path])
    assert [r.status for r in run.ledger] == [Status.ACCEPTED, Status.ACCEPTED]
    files, _ = list_inputs([tmp_path])
    names = sorted(str(r.trace.route_name) for r in read_file(files[0]))
    assert names == ["Kibera - Town", "None"]  # a track without a name: the build reads the file's path


# ---------------------------------------------------------------------------------------------- CSV


def _csv_survey(folder: Path, traces: list[dict]) -> None:
    folder.mkdir(parents=True)
    pts = ["trace_id,time,lat,lon,accuracy"] + [
        f'{t["trace_id"]},{p["time"]},{p["lat"]},{p["lon"]},{p.get("accuracy", "")}'
        for t in traces for p in t["points"]]
    (folder / "points.csv").write_text("\n".join(pts) + "\n")
    (folder / "traces.csv").write_text("trace_id,collector_id,route_name,operator\n"
                                       + "".join(f'{t["trace_id"]},{t["collector_id"]},Route {t["trace_id"]},'
                                                 '"Sacco, Ltd"\n' for t in traces)
                                       + "ghost,c9,Nowhere,\n")
    (folder / "stops.csv").write_text("trace_id,time,lat,lon,kind,name\n"
                                      + "".join(f'{t["trace_id"]},{t["points"][10]["time"]},{t["points"][10]["lat"]},'
                                                f'{t["points"][10]["lon"]},board,Odeon\n' for t in traces))
    (folder / "fares.csv").write_text("trace_id,amount,currency\n"
                                      + "".join(f'{t["trace_id"]},70,KES\n' for t in traces))
    (folder / "departures.csv").write_text("trace_id,time\n"
                                           + "".join(f'{t["trace_id"]},2026-03-02T06:55:00+03:00\n' for t in traces))


def test_csv_survey_with_all_tables(tmp_path):
    traces = [ride(trace_id="a"), ride(trace_id="b", heading_deg=0)]
    _csv_survey(tmp_path / "export", traces)
    run = validate_inputs([tmp_path])
    assert [(r.trace_id, r.status) for r in run.ledger] == [("a", Status.ACCEPTED), ("b", Status.ACCEPTED)]
    [orphan] = run.notices.to_list()[0]["sample_notices"]
    assert orphan["code"] == "invalid_field" and orphan["file"] == "export/traces.csv"
    assert orphan["location"] == "line 4"
    files, _ = list_inputs([tmp_path])
    [a, b] = [r.trace for r in read_file(files[0])]
    assert a.route_name == "Route a" and a.operator == "Sacco, Ltd" and a.collector_id == "c1"
    assert [(s.kind, s.name) for s in a.stops] == [("board", "Odeon")]
    assert [(f.amount, f.currency) for f in a.fares] == [(70.0, "KES")] and len(a.departures_s) == 1
    np.testing.assert_array_equal(a.lat, [p["lat"] for p in traces[0]["points"]])


def test_csv_bad_row_is_located_by_line(tmp_path):
    run = validate_inputs([MALFORMED / "csv_bad_rows"])
    samples = {n["code"]: n["sample_notices"][0] for n in run.notices.to_list()}
    assert samples["invalid_point"]["location"] == "line 5"
    assert samples["unparseable_time"]["location"] == "line 9" and samples["unparseable_time"]["value"] == "not a time"


# ---------------------------------------------------------------------------------------------- archives


def test_zip_with_folders_csv_and_nested_zip(tmp_path):
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("deep/c.json", msgspec.json.encode(ride(trace_id="c", heading_deg=200)))
    _csv_survey(tmp_path / "csv", [ride(trace_id="b", heading_deg=100)])
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("phone1/a.json", msgspec.json.encode(ride(trace_id="a")))
        for table in ("points.csv", "traces.csv", "stops.csv", "fares.csv", "departures.csv"):
            z.write(tmp_path / "csv" / table, f"phone2/{table}")
        z.writestr("inner.zip", inner.getvalue())
        z.writestr("__MACOSX/phone1/._a.json", b"\x00\x05\x16\x07")
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "upload.zip").write_bytes(buf.getvalue())
    run = validate_inputs([tmp_path / "up"])
    accepted = {r.trace_id: r.file for r in run.ledger if r.status == Status.ACCEPTED}
    assert accepted == {"a": "upload.zip!phone1/a.json", "b": "upload.zip!phone2/points.csv",
                        "c": "upload.zip!inner.zip!deep/c.json"}


def test_inputs_are_listed_in_name_order_whatever_the_argument_order(tmp_path):
    for name in ("b.json", "a.json", "sub/c.json"):
        write_json(tmp_path / name, ride(trace_id=name))
    files1, _ = list_inputs([tmp_path / "b.json", tmp_path / "sub", tmp_path / "a.json"])
    files2, _ = list_inputs([tmp_path / "a.json", tmp_path / "b.json", tmp_path / "sub"])
    assert [f.name for f in files1] == [f.name for f in files2] == ["a.json", "b.json", "c.json"]

"""Hostile and broken input: each case sits in one batch with a good trace; it gives a clear notice (never a
traceback: no ``system_error``), the good trace is still used, and every input appears in the ledger.

The corpus: the files in ``tests/fixtures/malformed/``, the inputs made below (archives, encodings, numbers,
times, sizes, special files) and a wrong type in every field of the collector format."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec
import pytest
from builders import START, ride, stop_at, write_json

from transitmap.model import Status
from transitmap.pipeline import validate_inputs

MALFORMED = Path(__file__).parent / "fixtures" / "malformed"
GOOD = ride(trace_id="good-ride", collector_id="c-good", t0=START + timedelta(hours=5))
TRACE = ride(trace_id="hostile", t0=START + timedelta(hours=2))
TRACE_BYTES = msgspec.json.encode(TRACE)
LONDON = (51.5072, -0.1276)


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def _gpx(trace: dict) -> bytes:
    pts = "".join(f'<trkpt lat="{p["lat"]}" lon="{p["lon"]}"><time>{p["time"]}</time></trkpt>' for p in trace["points"])
    return (f'<?xml version="1.0" encoding="UTF-8"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">'
            f"<trk><name>{trace['trace_id']}</name><trkseg>{pts}</trkseg></trk></gpx>").encode()


def _csv(trace: dict, newline: str = "\n") -> bytes:
    rows = ["trace_id,time,lat,lon"] + [f"{trace['trace_id']},{p['time']},{p['lat']},{p['lon']}" for p
                                        in trace["points"]]
    return newline.join(rows).encode() + newline.encode()


def _naive_local(name: str, t0_utc: datetime) -> dict:
    """A ride in London with local times written without offset, around a daylight-saving change."""
    doc = ride(trace_id=name, start=LONDON, t0=t0_utc, n=120, dt_s=20)
    for p in doc["points"]:
        p["time"] = p["time"][:19]
    return doc


def _number(token: bytes) -> bytes:
    return TRACE_BYTES.replace(b'"lat":' + str(TRACE["points"][3]["lat"]).encode(), b'"lat":' + token, 1)


def _files(folder: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


# name -> (make the input in a folder, notice codes expected (one of them, at least), traces accepted from it)
MADE = {
    "deeply_nested.json": (lambda d: _files(d, {"a.json": b"[" * 200_000 + b"]" * 200_000}), {"invalid_json"}, 0),
    "deeply_nested.jsonl": (lambda d: _files(d, {"a.jsonl": b'{"a":' * 100_000 + b"1" + b"}" * 100_000 + b"\n"}),
                            {"invalid_json"}, 0),
    "infinity_literal.json": (lambda d: _files(d, {"a.json": _number(b"Infinity")}), {"invalid_json"}, 0),
    "nan_literal.json": (lambda d: _files(d, {"a.json": _number(b"NaN")}), {"invalid_json"}, 0),
    "huge_exponent.json": (lambda d: _files(d, {"a.json": _number(b"1e999")}), {"invalid_json"}, 0),
    "huge_integer.json": (lambda d: _files(d, {"a.json": _number(b"9" * 5000)}), {"invalid_json"}, 0),
    "year_1970.json": (lambda d: write_json(d / "a.json",
                                            ride(trace_id="old", t0=datetime(1970, 1, 1, tzinfo=timezone.utc))),
                       {"implausible_time"}, 0),
    "year_2100.json": (lambda d: write_json(d / "a.json",
                                            ride(trace_id="new", t0=datetime(2100, 3, 2, tzinfo=timezone.utc))),
                       {"implausible_time"}, 0),
    "100000_points_in_one_second.json": (
        lambda d: write_json(d / "a.json",
                             {**TRACE, "points": [{**TRACE["points"][0], "lat": TRACE["points"][0]["lat"] + k * 1e-7}
                                                                for k in range(100_000)]}),
        {"duplicate_timestamp"}, 0),
    "dst_spring_forward_without_offsets.json": (
        lambda d: write_json(d / "a.json", _naive_local("spring", datetime(2026, 3, 29, 0, 20, tzinfo=timezone.utc))),
        {"time_without_offset", "unparseable_time"}, 1),
    "dst_fall_back_without_offsets.json": (
        lambda d: write_json(d / "a.json", _naive_local("autumn", datetime(2026, 10, 25, 0, 20, tzinfo=timezone.utc))),
        {"time_without_offset", "unparseable_time"}, 1),
    "crossing_midnight.json": (
        lambda d: write_json(d / "a.json",
                             ride(trace_id="late",
                                  t0=datetime(2026, 3, 2, 23, 55, tzinfo=timezone(timedelta(hours=3))))),
        set(), 1),
    "bom.gpx": (lambda d: _files(d, {"a.gpx": b"\xef\xbb\xbf" + _gpx(TRACE)}), set(), 1),
    "crlf.gpx": (lambda d: _files(d, {"a.gpx": _gpx(TRACE).replace(b"><", b">\r\n<")}), set(), 1),
    "bom_crlf.csv": (lambda d: _files(d, {"s/points.csv": b"\xef\xbb\xbf" + _csv(TRACE, "\r\n")}), set(), 1),
    "mixed_encodings.csv": (
        lambda d: _files(d,
                         {"s/points.csv": _csv(TRACE),
                          "s/traces.csv": "trace_id,route_name\nhostile,Kariöbangi\n".encode()
                             + "x,Kariöbangi\n".encode("latin-1")}),
        {"invalid_encoding", "invalid_csv"}, None),
    "truncated.csv": (lambda d: _files(d, {"s/points.csv": _csv(TRACE)[:-25]}), {"invalid_point", "invalid_csv"}, 1),
    "truncated.jsonl": (lambda d: _files(d,
                                         {"a.jsonl": TRACE_BYTES + b"\n"
                                          + msgspec.json.encode(ride(trace_id="h2"))[:300]}),
                        {"invalid_json"}, 1),
    "truncated.zip": (lambda d: _files(d, {"a.zip": _zip({"a.json": TRACE_BYTES})[:-30]}), {"invalid_archive"}, 0),
    "truncated.gpx.gz": (lambda d: _files(d, {"a.gpx.gz": gzip.compress(_gpx(TRACE))[:-40]}), {"invalid_archive"}, 0),
    "truncated.jsonl.gz": (lambda d: _files(d,
                                            {"a.jsonl.gz": gzip.compress(TRACE_BYTES + b"\n" + TRACE_BYTES + b"\n")[:
                                                                                                                    -40]}),
                           {"invalid_archive", "invalid_json"}, None),
    "truncated.gpx": (lambda d: _files(d, {"a.gpx": _gpx(TRACE)[:-200]}), {"invalid_xml"}, 0),
    "zip_member_escaping.zip": (lambda d: _files(d, {"a.zip": _zip({"../../../etc/evil.json": TRACE_BYTES})}),
                                {"unsafe_archive_member"}, 0),
    "zip_member_absolute.zip": (lambda d: _files(d, {"a.zip": _zip({"/tmp/evil.json": TRACE_BYTES})}),
                                {"unsafe_archive_member"}, 0),
    "zip_bomb.zip": (lambda d: _files(d, {"a.zip": _zip({"a.json": b" " * 50_000_000})}), {"archive_bomb"}, 0),
    "zips_nested_too_deep.zip": (lambda d: _files(d, {"a.zip": _zip({"b.zip": _zip({"c.zip": _zip({
                                                      "a.json": TRACE_BYTES})})})}),
                                 {"archive_bomb"}, 0),
    "empty.zip": (lambda d: _files(d, {"a.zip": _zip({})}), {"empty_file"}, 0),
    "whitespace_only.gpx": (lambda d: _files(d, {"a.gpx": b" \n\t\r\n"}), {"empty_file"}, 0),
    "named_pipe.json": (lambda d: os.mkfifo(d / "pipe.json"), {"unreadable_file"}, 0),
    "symlink_outside.json": (lambda d: os.symlink("/etc/hostname", d / "link.json"), {"unsafe_path"}, 0),
    "multi_gb_sparse.json": (lambda d: os.truncate(_touch(d / "big.json"), 3 * 2**30), {"file_too_large"}, 0),
}


def _touch(path: Path) -> Path:
    path.touch()
    return path


# a wrong type in every field of the collector format (top level, point, stop, fare)
TOP = {"schema_version": 1.0, "trace_id": 17, "collector_id": ["c"], "mode": 3, "route_name": {"n": 46}, "operator": 5,
       "origin": [], "destination": 7, "notes": {"x": 1}, "points": "many", "stops": {"a": 1}, "fares": "70 bob",
       "departures": 900}
POINT = {"time": 1772430000, "lat": "-1.28", "lon": None, "accuracy": "good", "speed": [3]}
STOP = {"time": True, "lat": "x", "lon": {}, "kind": 4, "name": 46, "boarded": "two", "alighted": -1.5}
FARE = {"amount": "seventy", "currency": 404, "from_stop": "first", "to_stop": 1.5}
WITH_STOP = {**TRACE, "stops": [stop_at(TRACE, 30)], "fares": [{"amount": 70, "currency": "KES"}]}


def _wrong(where: str, field: str, value) -> dict:
    doc = json.loads(msgspec.json.encode(WITH_STOP))
    if where == "trace":
        doc[field] = value
    elif where == "point":
        doc["points"][5][field] = value
    elif where == "stop":
        doc["stops"][0][field] = value
    else:
        doc["fares"][0][field] = value
    return doc


WRONG = {f"wrong_type_{where}.{k}": (where, k, v) for where, fields in
         (("trace", TOP), ("point", POINT), ("stop", STOP), ("fare", FARE)) for k, v in fields.items()}


def test_the_corpus_holds_over_40_hostile_inputs():
    assert len(list(MALFORMED.iterdir())) + len(MADE) + len(WRONG) >= 40


def _batch(tmp_path: Path, make, good: dict = GOOD) -> tuple:
    folder = tmp_path / "in"
    folder.mkdir()
    write_json(folder / "0-good.json", good)
    make(folder)
    run = validate_inputs([folder])
    return run, {r.file: r for r in run.ledger}


def _check(run, by_file, codes: set[str], accepted: int | None):
    found = set(run.notices.counts)
    assert "system_error" not in found, run.notices.to_list()
    assert by_file["0-good.json"].status == Status.ACCEPTED, "the good trace in the batch is used"
    if codes:
        assert codes & found, (codes, run.notices.to_list())
    others = [r for f, r in by_file.items() if f != "0-good.json"]
    assert others, "the hostile input appears in the ledger"
    if accepted is not None:
        assert sum(r.status == Status.ACCEPTED for r in others) == accepted, [(r.file, r.status, r.codes) for r
                                                                              in others]


@pytest.mark.parametrize("name", sorted(p.name for p in MALFORMED.iterdir()))
def test_malformed_fixture_beside_a_good_trace(tmp_path, name):
    def make(folder):
        src = MALFORMED / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, folder / name)

    run, by_file = _batch(tmp_path, make)
    assert "system_error" not in run.notices.counts and by_file["0-good.json"].status == Status.ACCEPTED


@pytest.mark.parametrize("name", sorted(MADE))
def test_hostile_input_beside_a_good_trace(tmp_path, name):
    make, codes, accepted = MADE[name]
    # the good trace rides where the hostile one does (a survey in one city)
    good = ride(trace_id="good-ride", start=LONDON,
                t0=datetime(2026, 3, 30, 7, tzinfo=timezone.utc)) if "dst" in name else GOOD
    run, by_file = _batch(tmp_path, make, good)
    _check(run, by_file, codes, accepted)


@pytest.mark.parametrize("name", sorted(WRONG))
def test_a_wrong_type_in_any_field_beside_a_good_trace(tmp_path, name):
    where, field, value = WRONG[name]
    run, by_file = _batch(tmp_path, lambda d: write_json(d / "a.json", _wrong(where, field, value)))
    _check(run, by_file, {"schema_violation", "invalid_field", "invalid_point", "unparseable_time", "missing_trace_id",
                          "missing_collector_id", "unsupported_schema_version", "missing_schema_version",
                          "invalid_stop", "invalid_fare"}, None)


def test_a_file_vanishing_or_failing_while_read_is_reported(tmp_path, monkeypatch):
    """Listed, then gone (or failing half-way) when its turn comes: a notice, the rest of the batch used."""
    import transitmap.pipeline as P
    from transitmap.read import InputFile

    write_json(tmp_path / "0-good.json", GOOD)
    write_json(tmp_path / "gone.json", TRACE)
    real = P.list_inputs

    class Failing(io.BytesIO):
        def read(self, *a):
            raise OSError("I/O error (the card was pulled out)")

    def listing(paths):
        files, problems = real(paths)
        (tmp_path / "gone.json").unlink()
        return files + [InputFile("failing.json", lambda: Failing(b"{}"), 2)], problems

    monkeypatch.setattr(P, "list_inputs", listing)
    run = validate_inputs([tmp_path])
    by_file = {r.file: r for r in run.ledger}
    assert by_file["0-good.json"].status == Status.ACCEPTED
    assert by_file["gone.json"].codes == ("unreadable_file",) and by_file["failing.json"].codes == ("unreadable_file",)


def test_a_multi_gigabyte_json_lines_file_is_streamed_in_bounded_memory(tmp_path):
    """2 GiB without a line end (made sparse, on the fly): read line by line up to the line limit, refused,
    in a child process whose peak memory stays far below the file's size."""
    big = tmp_path / "in" / "big.jsonl"
    big.parent.mkdir()
    write_json(tmp_path / "in" / "0-good.json", GOOD)
    with open(big, "wb") as fh:
        fh.truncate(2 * 2**30)
    # the peak of this process's own memory: VmHWM (ru_maxrss would count the test process it was forked from)
    code = ("import json, resource, sys; from transitmap.pipeline import validate_inputs; "
            "peak_kib = lambda: next((int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')), "
            "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); "
            "run = validate_inputs([sys.argv[1]]); "
            "print(json.dumps({'ledger': [[r.file, r.status.value, list(r.codes)] for r in run.ledger], "
            "'rss_kib': peak_kib()}))")
    out = json.loads(subprocess.run([sys.executable, "-c", code, str(tmp_path / "in")], capture_output=True, text=True,
                                    check=True, timeout=300).stdout)
    assert ["0-good.json", "accepted", []] in out["ledger"]
    [big_row] = [row for row in out["ledger"] if row[0] == "big.jsonl"]
    assert big_row[1] == "quarantined" and big_row[2] == ["file_too_large"]
    assert out["rss_kib"] < 600 * 1024  # MiB, against a 2,048 MiB file

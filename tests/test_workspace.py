"""The survey workspace: init, import (validated, idempotent, atomic), status, builds from it, stable ids."""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from datetime import date, datetime, timezone
from pathlib import Path

import pandas as pd
import pyogrio
import pytest
from builders import edited, moved, ride, write_json
from click.testing import CliRunner

from transitmap import workspace as ws
from transitmap.cli import main

SAMPLE = Path(__file__).resolve().parent.parent / "sample_traces"
DAY1 = datetime(2026, 3, 2, 18, 0, tzinfo=timezone.utc)  # 20:00 in Johannesburg
DAY2 = datetime(2026, 3, 3, 18, 0, tzinfo=timezone.utc)
OUTPUTS = ["gtfs.zip", "traces.csv", "headways.csv", "report.json", "report.html", "network.gpkg",
           "stats/routes.csv", "figures/network_map.png"]


def run(*args) -> tuple[int, str]:
    res = CliRunner().invoke(main, [str(a) for a in args])
    return res.exit_code, res.output


def counts(survey: Path) -> dict[str, int]:
    con = sqlite3.connect(survey / "survey.gpkg")
    try:
        return {t: con.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("traces", "files", "imports", "builds", "issued_ids", "routes")}
    finally:
        con.close()


def dump(survey: Path) -> list:
    """Everything the workspace holds, for comparing before and after."""
    con = sqlite3.connect(survey / "survey.gpkg")
    try:
        return [(t, con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall())
                for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    finally:
        con.close()


@pytest.fixture
def survey(tmp_path) -> Path:
    path = tmp_path / "survey"
    ws.init_workspace(path, name="Soweto pilot", timezone_name="Africa/Johannesburg", currency="ZAR", now=DAY1)
    return path


def test_init_makes_a_geopackage_that_gdal_opens(tmp_path):
    code, out = run("init", tmp_path / "s", "--timezone", "Africa/Johannesburg", "--currency", "zar")
    assert code == 0 and "survey.gpkg" in out
    layers = dict(map(tuple, pyogrio.list_layers(tmp_path / "s" / "survey.gpkg")))
    assert layers["traces"] == "LineString" and layers["routes"] == "LineString"
    assert {"files", "imports", "builds", "issued_ids", "survey"} <= set(layers)
    assert ws.settings(tmp_path / "s")["currency"] == "ZAR" and ws.settings(tmp_path / "s")["name"] == "s"
    code, out = run("init", tmp_path / "s")
    assert code == 2 and "already" in out
    assert run("init", tmp_path / "t", "--timezone", "Mars/Olympus")[0] == 2
    assert run("init", tmp_path / "t", "--currency", "XYZ")[0] == 2
    assert run("import", tmp_path, SAMPLE)[0] == 2  # not a workspace
    assert run("status", tmp_path)[0] == 2


def test_import_validates_and_a_second_import_adds_nothing(survey):
    r = ws.import_inputs(survey, [SAMPLE], now=DAY1)
    assert (r.files, r.added, r.accepted, r.quarantined, r.unreadable) == (21, 24, 23, 1, 3)
    assert r.points == 8123 and r.has_errors
    rows = {(x["file"], x["trace_id"]): x for x in r.rows}
    assert rows[("lerato/le-04-walk.json", "le-04-walk")]["codes"] == ["too_slow_for_vehicle"]
    assert rows[("thabo/evil.gpx", "")]["codes"] == ["unsafe_xml"]
    before = dump(survey)
    again = ws.import_inputs(survey, [SAMPLE], now=DAY2)
    assert (again.files_unchanged, again.added, again.unchanged, again.changed) == (21, 0, 0, 0)
    assert not again.has_errors
    def but_imports(tables):  # the import itself is on record, and its table's time of change
        return [(t, [r for r in rows if r[0] != "imports"]) for t, rows in tables if t not
                in ("imports", "sqlite_sequence")]

    assert but_imports(dump(survey)) == but_imports(before)
    assert counts(survey)["imports"] == 2  # the import itself is on record
    traces = pyogrio.read_dataframe(survey / "survey.gpkg", layer="traces", columns=["trace_id", "status", "day"])
    assert len(traces) == 24 and traces.crs.to_epsg() == 4326 and traces.geometry.notna().sum() >= 23
    assert set(traces["day"]) == {"2026-03-02"}


def test_a_changed_trace_is_reported_not_replaced(survey, tmp_path):
    first = ride(trace_id="t1")
    write_json(tmp_path / "day1" / "t1.json", first)
    assert ws.import_inputs(survey, [tmp_path / "day1"], now=DAY1).added == 1
    changed = edited(first, points=[moved(p, north_m=30) for p in first["points"]])
    write_json(tmp_path / "day2" / "t1-fixed.json", changed)
    # the same ride in a file of other bytes (another export): a second upload
    (tmp_path / "day2" / "t1-again.json").write_text(json.dumps(first, indent=1))
    code, out = run("import", survey, tmp_path / "day2")
    assert code == 1 and "1 refused as changed" in out and "trace_changed" in out
    con = sqlite3.connect(survey / "survey.gpkg")
    held = con.execute("SELECT file FROM traces WHERE trace_id = 't1' ORDER BY fid").fetchall()
    con.close()
    assert held == [("t1.json",), ("t1-again.json",)]
    # the build sees the second upload as the duplicate it is, and never the changed version
    out_dir = tmp_path / "out"
    assert run("build", survey, "--out", out_dir, "--no-validate", "-q")[0] == 0
    ledger = pd.read_csv(out_dir / "traces.csv", dtype=str, keep_default_na=False)
    assert sorted(ledger["status"]) == ["duplicate", "used"] and set(ledger["file"]) == {"t1.json", "t1-again.json"}


def test_a_build_from_the_workspace_equals_a_build_from_the_files(survey, tmp_path):
    code, _ = run("import", survey, SAMPLE)
    assert code == 1  # the sample has broken files on purpose
    assert run("build", survey, "--out", tmp_path / "ws", "--no-validate", "-q")[0] == 0
    assert run("build", SAMPLE, "--out", tmp_path / "files", "--no-validate", "-q")[0] == 0
    for name in OUTPUTS:
        assert (tmp_path / "ws" / name).read_bytes() == (tmp_path / "files" / name).read_bytes(), name
    c = counts(survey)
    assert c["builds"] == 1 and c["routes"] == 8 and c["issued_ids"] == 4 + 33
    routes = pyogrio.read_dataframe(survey / "survey.gpkg", layer="routes")
    assert set(routes["confidence"]) <= {"high", "medium", "low"} and routes["rides"].min() >= 1
    # each feature is its trip's shape: the same first and last point (WGS84)
    shapes = feed_table(tmp_path / "ws" / "gtfs.zip", "shapes.txt")
    shapes["seq"] = shapes["shape_pt_sequence"].astype(int)
    for trip_id, geom in zip(routes["trip_id"], routes.geometry):
        pts = shapes[shapes["shape_id"] == trip_id].sort_values("seq")
        ends = [float(pts[c].iloc[k]) for k in (0, -1) for c in ("shape_pt_lon", "shape_pt_lat")]
        assert [*geom.coords[0], *geom.coords[-1]] == pytest.approx(ends, abs=1e-9)


def sample_part(tmp_path: Path, keep) -> Path:
    """A copy of the sample with only some of each collector's files."""
    part = tmp_path / "part"
    for f in sorted(SAMPLE.rglob("*")):
        rel = f.relative_to(SAMPLE)
        if f.is_file() and keep(rel):
            (part / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, part / rel)
    return part


def feed_table(path: Path, name: str) -> pd.DataFrame:
    with zipfile.ZipFile(path) as z:
        return pd.read_csv(z.open(name), dtype=str, keep_default_na=False)


def test_a_rebuild_with_more_rides_keeps_the_ids(survey, tmp_path):
    run("build", SAMPLE, "--out", tmp_path / "fresh", "--no-validate", "-q")
    fresh = feed_table(tmp_path / "fresh" / "gtfs.zip", "routes.txt")
    randburg = fresh.loc[fresh["route_long_name"].str.contains("Randburg"), "route_id"].item()
    ledger = pd.read_csv(tmp_path / "fresh" / "traces.csv", dtype=str, keep_default_na=False)
    holding = {f.split("!")[0] for f in ledger.loc[ledger["route_id"] == randburg, "file"]}
    # day 1: every file without a ride of Randburg - Bree (the CSV export is one input: its folder goes)
    ws.import_inputs(survey, [sample_part(tmp_path, lambda rel: str(rel) not in holding and not any(
        h.startswith(rel.parts[0] + "/points.csv") for h in holding))], now=DAY1)
    run("build", survey, "--out", tmp_path / "b1", "--no-validate", "-q")
    ws.import_inputs(survey, [SAMPLE], now=DAY2)  # the rest comes in: the same files add nothing
    assert ws.survey_status(survey, today=date(2026, 3, 3))["build"]["traces_since"] > 0
    run("build", survey, "--out", tmp_path / "b2", "--no-validate", "-q")
    r1 = feed_table(tmp_path / "b1" / "gtfs.zip", "routes.txt")
    r2 = feed_table(tmp_path / "b2" / "gtfs.zip", "routes.txt")
    assert len(r1) == 3 and len(r2) == 4  # day 2 brings a route of its own
    # each route of the first build keeps its id: the same route name (as the collectors spell it most,
    # "Noord-Alexandra" or "Noord - Alexandra", "Bree - Diepkloof" or "Diepkloof - Bree"), the same end stops
    # in direction 0
    def words(name: str) -> str:
        return " ".join(sorted(name.replace("-", " ").split()))

    names1 = dict(zip(r1["route_id"], r1["route_long_name"].map(words)))
    names2 = dict(zip(r2["route_id"], r2["route_long_name"].map(words)))
    assert all(names2[rid] == name for rid, name in names1.items())
    assert set(names2) - set(names1) == {"R004"} and "Randburg" in names2["R004"]  # numbered after the others
    # stops at the same place keep their ids: an old and a new stop within 30 m (the radius of stable ids:
    # a stop moves as rides come in), each the other's nearest (two stops that merged into one keep one id)
    s1, s2 = (feed_table(tmp_path / b / "gtfs.zip", "stops.txt") for b in ("b1", "b2"))
    s1, s2 = (s[s["location_type"] == "0"].reset_index(drop=True) for s in (s1, s2))  # the boarding points
    s2 = s2.set_index("stop_id")
    from transitmap.geo import geodesic_m

    lat1, lon1 = s1["stop_lat"].astype(float).to_numpy(), s1["stop_lon"].astype(float).to_numpy()
    lat2, lon2 = s2["stop_lat"].astype(float).to_numpy(), s2["stop_lon"].astype(float).to_numpy()
    d = geodesic_m(lat1[:, None], lon1[:, None], lat2[None, :], lon2[None, :])
    mutual = [(i, j) for i, j in enumerate(d.argmin(axis=1)) if d.argmin(axis=0)[j] == i and d[i, j] <= 30]
    # (a stop marked on the one ride of day 1 that day 2's rides show to be a stop for one passenger goes)
    assert len(mutual) >= 0.75 * len(s1)
    assert [s1["stop_id"][i] for i, _ in mutual] == [s2.index[j] for _, j in mutual]
    # trips keep their ids and directions: R001_0 still starts where it did
    t1, t2 = (feed_table(tmp_path / b / "gtfs.zip", "stop_times.txt") for b in ("b1", "b2"))
    for rid in names1:
        first1 = t1[(t1["trip_id"] == f"{rid}_0") & (t1["stop_sequence"] == "1")]["stop_id"].item()
        first2 = t2[(t2["trip_id"] == f"{rid}_0") & (t2["stop_sequence"] == "1")]["stop_id"].item()
        p1 = s1.set_index("stop_id").loc[first1]
        p2 = s2.loc[first2]
        assert geodesic_m(float(p1.stop_lat), float(p1.stop_lon), float(p2.stop_lat), float(p2.stop_lon)) < 150
    issued = counts(survey)["issued_ids"]
    assert issued == len(r2) + len(s2) + len(set(s1["stop_id"]) - set(s2.index))  # retired ids stay on record


def test_an_interrupted_import_leaves_the_workspace_as_it_was(survey, tmp_path, monkeypatch):
    ws.import_inputs(survey, [SAMPLE / "amara"], now=DAY1)
    before = dump(survey)
    real = ws._import_file
    calls = []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) > 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(ws, "_import_file", dying)
    with pytest.raises(KeyboardInterrupt):
        ws.import_inputs(survey, [SAMPLE], now=DAY2)
    assert dump(survey) == before


# An import that stops inside its transaction at the N-th file it stores: it says so in a file, then waits to be
# killed. The kill lands at a counted step, whatever the machine's speed.
_PAUSED_IMPORT = """
import sys, time
from pathlib import Path
import transitmap.workspace as ws
from transitmap.cli import main
stop_at, ready = int(sys.argv[1]), Path(sys.argv[2])
real, calls = ws._import_file, [0]
def counted(*args, **kwargs):
    calls[0] += 1
    if calls[0] == stop_at:
        ready.write_text("in the transaction")
        time.sleep(600)
    return real(*args, **kwargs)
ws._import_file = counted
main(sys.argv[3:])
"""


def test_an_import_killed_at_any_moment_is_all_or_nothing(survey, tmp_path):
    """SIGKILL during a long import, at files spread over it: the workspace holds exactly what it held before."""
    many = tmp_path / "many"
    src = json.loads((SAMPLE / "amara" / "am-03-BBr-3.json").read_text())
    for k in range(400):
        write_json(many / f"r{k:03d}.json", edited(src, trace_id=f"r{k:03d}"))
    ws.import_inputs(survey, [SAMPLE / "amara"], now=DAY1)
    before = dump(survey)
    script = tmp_path / "paused_import.py"
    script.write_text(_PAUSED_IMPORT)
    for stop_at in (1, 80, 200, 320, 400):  # the 400th file: all stored, the transaction not yet committed
        ready = tmp_path / f"ready-{stop_at}"
        proc = subprocess.Popen([sys.executable, str(script), str(stop_at), str(ready), "import", str(survey),
                                 str(many), "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), f"the import never reached file {stop_at}"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        con = sqlite3.connect(survey / "survey.gpkg")
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        con.close()
        assert counts(survey)["traces"] == 3 and dump(survey) == before, stop_at
    ws.import_inputs(survey, [many], now=DAY2)  # and the import, let run, stores them all
    assert counts(survey)["traces"] == 403


def test_status_per_collector_today_and_in_total(survey, tmp_path):
    ws.import_inputs(survey, [SAMPLE / "lerato", SAMPLE / "amara"], now=DAY1)
    ws.import_inputs(survey, [SAMPLE / "naledi", SAMPLE / "thabo"], now=DAY2)
    st = ws.survey_status(survey, today=date(2026, 3, 3))
    assert st["total"]["traces"] == 17 and st["total"]["unreadable_files"] == 3 and st["total"]["imports"] == 2
    assert st["today_imports"]["traces"] == 9 and st["today_imports"]["unreadable_files"] == 1
    per = {c["collector"]: c for c in st["collectors"]}
    assert per["lerato"]["total"]["quarantine_reasons"] == {"too_slow_for_vehicle": 1}
    assert per["lerato"]["today"]["traces"] == 0 and per["naledi"]["today"]["traces"] == 5
    assert per["naledi"]["total"]["duplicates"] == 1  # the zip holds a ride uploaded before
    assert st["build"] is None
    code, out = run("status", survey, "--day", "2026-03-03")
    assert code == 0 and "lerato: 0 in today (0 quarantined) | 5 in total, 4 accepted, 1 quarantined" in out
    assert "2026-03-03 evil.gpx: unsafe_xml" in out and "no build yet" in out  # named as in the folder given
    code, out = run("status", survey, "--day", "2026-03-03", "--pseudonyms", "--format", "json")
    shared = json.loads(out)
    assert "lerato" not in out and "naledi" not in out
    assert sorted(c["collector"][:1] for c in shared["collectors"] if c["collector"] != "(not given)") == ["c"] * 3
    before = ws.survey_status(survey, today=date(2026, 3, 3))["total"]
    assert "trace_far_from_survey" not in before["quarantine_reasons"]  # a survey-wide check: the build makes it
    run("build", survey, "--out", tmp_path / "out", "--no-validate", "-q")
    after = ws.survey_status(survey, today=date(2026, 3, 3))
    # status agrees with the build: the trace it quarantined is quarantined for its collector too
    assert after["total"]["quarantined"] == before["quarantined"] + 1
    assert after["total"]["quarantine_reasons"]["trace_far_from_survey"] == 1
    assert sum(c["total"]["quarantine_reasons"].get("trace_far_from_survey", 0) for c in after["collectors"]) == 1
    b = after["build"]
    assert b["traces_since"] == 0 and b["routes"] == 4
    ledger = pd.read_csv(tmp_path / "out" / "traces.csv", dtype=str, keep_default_na=False)
    used = ledger[ledger["status"] == "used"]
    once = sorted(r for r, n in used.groupby("route_id").size().items() if n == 1)
    assert b["routes_one_ride"] == once
    one_way = sorted(r for r, g in used.groupby("route_id") if g["direction_id"].nunique() < 2)
    assert b["routes_one_direction"] == one_way


def test_the_report_shows_where_the_survey_is_thin(survey, tmp_path):
    ws.import_inputs(survey, [SAMPLE / "amara"], now=DAY1)  # three rides
    run("build", survey, "--out", tmp_path / "out", "--no-validate", "-q")
    ledger = pd.read_csv(tmp_path / "out" / "traces.csv", dtype=str, keep_default_na=False)
    rides = ledger.groupby("route_id").size()
    # Noord - Alexandra once; a ride to Baragwanath and one from Diepkloof on one road: two routes, as their
    # riders name them (Bree - Baragwanath, Diepkloof - Bree: one place shared), not one route's two directions
    assert list(rides) == [1, 1, 1]
    b = ws.survey_status(survey, today=date(2026, 3, 2))["build"]
    assert b["routes_one_ride"] == b["routes_one_direction"] == ["R001", "R002", "R003"]
    html = (tmp_path / "out" / "report.html").read_text()
    thin = html[html.index('<g class="thin"'):]
    assert thin[:thin.index("</g>")].count("<path") == 3 and "thin survey: one ride or one direction" in html
    routes = pyogrio.read_dataframe(survey / "survey.gpkg", layer="routes")
    assert list(routes["rides"]) == [1, 1, 1] and list(routes["confidence"]) == ["low", "low", "low"]


def test_traces_survive_the_workspace_bit_for_bit(survey):
    ws.import_inputs(survey, [SAMPLE], now=DAY1)
    from transitmap.pipeline import validate_inputs

    direct = {(c.trace.trace_id, c.trace.source): c.trace for c in validate_inputs([SAMPLE], keep_traces=True).checks}
    stored = {(c.trace.trace_id, c.trace.source): c.trace
              for c in validate_inputs(ws.workspace_inputs(survey), keep_traces=True).checks}
    assert direct.keys() == stored.keys()
    for key, a in direct.items():
        b = stored[key]
        for name in ("t_s", "lat", "lon", "accuracy_m", "speed_mps", "departures_s"):
            assert getattr(a, name).tobytes() == getattr(b, name).tobytes(), (key, name)
        assert (a.stops, a.fares, a.collector_id, a.route_name, a.operator) == (b.stops, b.fares, b.collector_id,
                                                                               b.route_name, b.operator)


def test_import_and_status_read_as_words(survey):
    code, out = run("import", survey, SAMPLE / "lerato")
    assert out.startswith("7 files (0 imported before): 5 traces added (4 accepted, 1 quarantined)")
    code, out = run("status", survey)
    first, _, total = out.splitlines()[:3]
    assert first.startswith('survey "Soweto pilot" (')  # the name quoted: never "survey survey"
    assert total.endswith("; 2 unreadable files, 1 import")

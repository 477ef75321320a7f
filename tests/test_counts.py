"""Counts and words people can trust: totals that add up, a breakdown that covers what it breaks down,
progress counted in recordings, a workspace validated as a workspace, a mode not given that is no mode."""

from __future__ import annotations

import io
import re
import zipfile
from datetime import timedelta
from pathlib import Path

import msgspec
import pandas as pd
from builders import START, osmtracker_gpx, ride, write_json
from click.testing import CliRunner

from transitmap.cli import main
from transitmap.pipeline import build_network, validate_inputs

SAMPLE = Path(__file__).resolve().parent.parent / "sample_traces"


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_the_reports_sentence_adds_up(tmp_path):
    assert invoke("build", SAMPLE, "--out", tmp_path / "out", "--no-validate", "-q").exit_code == 0
    page = (tmp_path / "out" / "report.html").read_text()
    said = re.search(r"(\d+) traces in (\d+) files: (\d+) used, (\d+) quarantined, (\d+) duplicate; "
                     r"(\d+) files yielded no trace", page)
    assert said, re.search(r"<h2>Validation</h2><p>[^<]*", page).group(0)
    traces, _files, used, quarantined, duplicate, empty = map(int, said.groups())
    assert (traces, used, quarantined, duplicate, empty) == (24, 21, 2, 1, 3)
    assert used + quarantined + duplicate == traces


def test_status_breaks_down_every_quarantined_trace_once(tmp_path):
    survey = tmp_path / "survey"
    assert invoke("init", survey, "--timezone", "Africa/Johannesburg").exit_code == 0
    assert invoke("import", survey, SAMPLE, "-q").exit_code == 1  # the broken files, quarantined
    assert invoke("build", survey, "--out", tmp_path / "out", "--no-validate", "-q").exit_code == 0
    for ride_id in ("am-03-BBr-3", "na-04-BD-1", "le-05-BB-3"):  # the build quarantines them: ride_excluded
        assert invoke("review", survey, "exclude", ride_id, "--reason", "wrong taxi", "-q").exit_code == 0
    assert invoke("build", survey, "--out", tmp_path / "out", "--no-validate", "-q").exit_code == 0
    status = msgspec.json.decode(invoke("status", survey, "--format", "json").stdout)
    total = status["total"]
    assert total["quarantined"] == 5 and sum(total["quarantine_reasons"].values()) == 5, total
    assert total["quarantine_reasons"]["ride_excluded"] == 3, total["quarantine_reasons"]
    for c in status["collectors"]:
        assert sum(c["total"]["quarantine_reasons"].values()) == c["total"]["quarantined"], c
    text = invoke("status", survey).output
    assert "5 quarantined (ride_excluded 3, too_slow_for_vehicle 1, trace_far_from_survey 1)" in text, text


def test_a_collector_read_from_the_path_is_not_missing(tmp_path):
    """GPX files name no collector; their folder does (thabo/): validation says the id is missing, the build,
    which reads the folder, does not."""
    run = validate_inputs([SAMPLE / "thabo"])
    assert run.notices.counts["missing_collector_id"] == 4
    result = build_network([SAMPLE])
    gpx = [r for r in result.ledger_rows if r.file.startswith("thabo/") and r.status == "used"]
    assert len(gpx) == 4 and not any("missing_collector_id" in r.codes for r in gpx)
    assert all(r.collector for r in gpx)
    assert "missing_collector_id" not in result.run.notices.counts  # every other ride names its collector


def test_a_workspace_is_validated_as_its_imported_traces(tmp_path):
    survey = tmp_path / "survey"
    assert invoke("init", survey).exit_code == 0
    assert invoke("import", survey, SAMPLE, "-q").exit_code == 1  # the broken files, quarantined
    r = invoke("validate", survey)
    assert r.exit_code == 1  # the sample's broken files, as imported
    assert r.output.startswith("21 files, 24 traces, 8,123 points: 21 accepted, 2 quarantined, 1 duplicate"), r.output
    assert "no recording found" not in r.output


def test_progress_counts_the_recordings_in_an_archive(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for k in range(5):
            z.writestr(f"phone/r{k}.json", msgspec.json.encode(ride(trace_id=f"r{k}", heading_deg=10 * k)))
        z.writestr("../evil.json", b"{}")
    (tmp_path / "upload.zip").write_bytes(buf.getvalue())
    seen = []
    run = validate_inputs([tmp_path / "upload.zip"], progress=lambda done, total: seen.append((done, total)),
                          batch_points=100)
    assert seen[0] == (0, 5) and seen[-1] == (5, 5) and len(seen) == 6  # one step a recording
    assert run.files == 1 and run.count(run.ledger[0].status.__class__("accepted")) == 5
    assert {r.file for r in run.ledger if r.status.value == "quarantined"} == {"upload.zip!../evil.json"}


def test_a_mode_given_on_some_rides_only_does_not_split_a_route(tmp_path):
    """One road ridden four times: two rides say nothing of the vehicle, one says trotro (a Kobo
    vehicle_type), one minibus: one route."""
    for k, mode in enumerate([None, None, "trotro", "minibus"]):
        fields = {"mode": mode} if mode else {}
        write_json(tmp_path / "in" / f"r{k}.json", ride(trace_id=f"r{k}", collector_id=f"c{k}",
                                                        t0=START + timedelta(minutes=20 * k), **fields))
    result = build_network([tmp_path / "in"])
    assert [r.route_id for r in result.ledger_rows] == ["R001"] * 4


def test_a_ride_without_a_mode_joins_the_mode_of_the_road_it_rides(tmp_path):
    """A train and a bus on roads apart, each ridden twice with their mode said; a ride that says nothing,
    on the bus's road, joins the bus: two routes, the train's rail."""
    for k in range(2):
        later = START + timedelta(minutes=20 * k)
        write_json(tmp_path / "in" / f"train{k}.json", ride(trace_id=f"train{k}", collector_id="c1", mode="train",
                                                            heading_deg=0, t0=later))
        write_json(tmp_path / "in" / f"bus{k}.json", ride(trace_id=f"bus{k}", collector_id="c2", mode="bus", t0=later))
    write_json(tmp_path / "in" / "quiet.json", ride(trace_id="quiet", collector_id="c3", t0=START + timedelta(hours=1)))
    result = build_network([tmp_path / "in"])
    route_of = {r.trace_id: r.route_id for r in result.ledger_rows}
    assert route_of["quiet"] == route_of["bus0"] == route_of["bus1"] != route_of["train0"] == route_of["train1"]
    routes = pd.read_csv(zipfile.ZipFile(io.BytesIO(result.feed)).open("routes.txt"), dtype=str).set_index("route_id")
    assert routes.at[route_of["train0"], "route_type"] == "2" and routes.at[route_of["bus0"], "route_type"] == "3"


def test_a_gpx_ride_and_a_form_ride_of_one_road_are_one_route(tmp_path):
    a = ride(trace_id="a", collector_id="c1")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.gpx").write_bytes(osmtracker_gpx(a))
    write_json(tmp_path / "in" / "b.json", ride(trace_id="b", collector_id="c2", mode="trotro",
                                                t0=START + timedelta(minutes=30)))
    result = build_network([tmp_path / "in"])
    assert len({r.route_id for r in result.ledger_rows if r.status == "used"}) == 1

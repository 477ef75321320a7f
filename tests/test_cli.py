"""The command line: exit codes, output formats, atomic report, the catalogue."""

from __future__ import annotations

import json
import os
import re

import click
import pytest
from builders import output_blobs, ride, write_json
from click.testing import CliRunner

from transitmap import __version__
from transitmap.cli import main


def invoke(*args):
    return CliRunner().invoke(main, list(map(str, args)), catch_exceptions=False)


def test_exit_0_when_nothing_is_quarantined(tmp_path):
    write_json(tmp_path / "a.json", ride())
    r = invoke("validate", tmp_path)
    assert r.exit_code == 0, r.output
    assert r.output.startswith("1 file, 1 trace, 120 points: 1 accepted, 0 quarantined, 0 duplicate")


def test_exit_1_when_a_trace_is_quarantined_and_the_table_names_it(tmp_path):
    write_json(tmp_path / "a.json", ride())
    (tmp_path / "b.json").write_text("{")
    r = invoke("validate", tmp_path)
    assert r.exit_code == 1
    assert re.search(r"^ERROR\s+invalid_json\s+1$", r.output, re.MULTILINE), r.output
    assert "b.json: no trace" in r.output  # a file that held no trace says so


def test_exit_2_on_usage_errors(tmp_path):
    assert invoke("validate").exit_code == 2
    assert invoke("validate", tmp_path / "missing").exit_code == 2
    assert invoke("validate", "--format", "xml", tmp_path).exit_code == 2


def test_json_format_and_out_file_hold_the_same_report(tmp_path):
    write_json(tmp_path / "in" / "a.json", ride())
    out = tmp_path / "out" / "report.json"
    r = invoke("validate", "--format", "json", "--out", out, tmp_path / "in")
    assert r.exit_code == 0
    report = json.loads(r.output)
    assert report == json.loads(out.read_text())
    assert report["transitmap_version"] == __version__ and report["summary"]["accepted"] == 1
    assert [t["trace_id"] for t in report["traces"]] == ["t1"]
    assert not list(out.parent.glob(".*tmp")), "no temporary file left behind"


def test_verbosity_options_before_or_after_the_command(tmp_path):
    write_json(tmp_path / "a.json", ride())
    assert "a.json: 1 accepted" in invoke("validate", "-v", tmp_path).output
    assert "a.json: 1 accepted" in invoke("-v", "validate", tmp_path).output
    assert invoke("-q", "validate", tmp_path).output == ""


def test_notices_command_lists_the_catalogue():
    r = invoke("notices")
    assert r.exit_code == 0 and "gps_spike" in r.output and "ERROR" in r.output
    items = json.loads(invoke("notices", "--format", "json").output)
    assert {"code", "severity", "description", "fields"} <= set(items[0])
    assert invoke("notices", "--format", "markdown").output.startswith("# Notice catalogue")


def test_version():
    assert __version__ in invoke("--version").output


def test_build_writes_the_outputs_and_replaces_the_folder_atomically(tmp_path, monkeypatch):
    from pathlib import Path

    sample = Path(__file__).resolve().parent.parent / "sample_traces"
    out = tmp_path / "out"
    r = invoke("build", sample, "--out", out)
    assert r.exit_code == 0, r.output  # the sample holds broken files on purpose: reported, and a feed is written
    assert sorted(p.name for p in out.iterdir()) == [".transitmap-output", "figures", "gtfs.zip", "headways.csv",
                                                     "network.gpkg",
                                                     "report.html", "report.json", "stats", "traces.csv"]
    assert "feed: 4 routes" in r.output and "GTFS validator: 0 errors" in r.output
    report = json.loads((out / "report.json").read_text())
    assert report["summary"]["used"] == 21 and report["gtfs_validator"]["errors"] == 0
    ledger = (out / "traces.csv").read_text().splitlines()
    assert ledger[0] == "trace_id,file,status,codes,route_id,direction_id,trip_id,ride,collector,points,points_kept"
    assert len(ledger) == 1 + len(report["traces"])
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}

    import transitmap.cli as P  # where the command finds it

    def broken(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(P, "build_network", broken)
    r = invoke("build", sample, "--out", out)
    assert r.exit_code == 3 and "disk full" in r.output
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before, "a failed run leaves the old output"
    # no temporary folder left behind; the failure is written beside the output, which is as it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out.failed"]
    assert json.loads((tmp_path / "out.failed" / "report.json").read_text())["failure"]["message"] == "disk full"


def test_build_writes_statistics_report_and_layers_without_collector_ids(tmp_path):
    from pathlib import Path

    import pandas as pd
    import pyogrio

    sample = Path(__file__).resolve().parent.parent / "sample_traces"
    out = tmp_path / "out"
    assert invoke("build", sample, "--out", out, "--no-validate").exit_code == 0
    ledger = pd.read_csv(out / "traces.csv", dtype=str, keep_default_na=False)
    used = ledger[ledger["status"] == "used"]
    assert used["collector"].str.fullmatch(r"c[0-9a-f]{10}").all() and used["collector"].nunique() == 6
    assert not used["codes"].str.contains("missing_collector_id").any()  # read from the path: not missing
    # the GPX files name no collector: their folder does (thabo/), and its rides part ways (no route's folder)
    thabo = used.loc[used["file"].str.startswith("thabo/"), "collector"]
    assert len(thabo) == 4 and thabo.nunique() == 1 and thabo.iloc[0] not in set(used.loc[~used.index.isin(thabo.index),
                                                                                           "collector"])
    assert (ledger.loc[ledger["status"] != "used", "collector"] == "").all()
    stats = json.loads((out / "stats" / "stats.json").read_text())
    assert stats["network"]["routes"] == 4 and stats["coverage"]["used"] == 21
    assert stats["coverage"]["quarantine_reasons"] == {"empty_file": 1, "invalid_json": 1, "too_slow_for_vehicle": 1,
                                                       "trace_far_from_survey": 1, "unsafe_xml": 1}
    routes = pd.read_csv(out / "stats" / "routes.csv")
    assert routes["rides"].sum() == 21 and set(routes["confidence"]) <= {"high", "medium", "low"}
    html = (out / "report.html").read_text()
    assert "<h2>Validation</h2>" in html and "too_slow_for_vehicle" in html and "quarantined le-04-walk" in html
    traces = pyogrio.read_dataframe(out / "network.gpkg", layer="traces")
    assert sorted(traces["status"].unique()) == ["quarantined", "used"]
    assert (traces["status"] == "used").sum() == 21
    # in longitude and latitude (WGS84), where the network is: the used rides within its stops' box, give or take
    # a few hundred metres
    lon0, lat0, lon1, lat1 = stats["network"]["bbox"]
    x0, y0, x1, y1 = traces[traces["status"] == "used"].total_bounds
    assert traces.crs.to_epsg() == 4326
    assert lon0 - 0.01 < x0 < x1 < lon1 + 0.01 and lat0 - 0.01 < y0 < y1 < lat1 + 0.01
    # pseudonyms only: no collector id in the feed, the statistics or the layers
    scanned = [(p, b) for p, b in output_blobs(out) if p.name in ("gtfs.zip", "network.gpkg") or p.parent.name
               == "stats"]
    assert len(scanned) >= 15  # the feed's tables, the layers, five statistics files
    for path, data in scanned:
        for collector in (b"amara", b"lerato", b"naledi", b"thabo"):
            assert collector not in data, (path.name, collector)


def test_build_options_and_config_file(tmp_path):
    write_json(tmp_path / "in" / "a.json", ride())
    write_json(tmp_path / "in" / "b.json", ride(trace_id="t2", heading_deg=270, start=(-1.2864, 36.8622)))
    (tmp_path
     / "survey.toml").write_text('[build]\nagency_name = "Matatu owners"\nagency-url = "https://matatu.example"\n')
    r = invoke("build", tmp_path / "in", "--out", tmp_path / "out", "--config", tmp_path / "survey.toml",
               "--timezone", "Africa/Nairobi", "--no-validate", "--format", "json")
    assert r.exit_code == 0, r.output
    import io
    import zipfile

    agency = zipfile.ZipFile(io.BytesIO((tmp_path / "out" / "gtfs.zip").read_bytes())).read("agency.txt").decode()
    assert "Matatu owners,https://matatu.example,Africa/Nairobi" in agency
    assert "gtfs_validator" not in json.loads(r.output)
    bad = tmp_path / "bad.toml"
    bad.write_text("[build]\nfrobnicate = 1\n")
    assert invoke("build", tmp_path / "in", "--out", tmp_path / "o2", "--config", bad).exit_code == 2


def test_a_feed_written_is_success_strict_fails_on_quarantine_and_a_rejected_feed_fails(tmp_path, monkeypatch):
    write_json(tmp_path / "in" / "a.json", ride())
    (tmp_path / "in" / "b.json").write_text("{")
    r = invoke("build", tmp_path / "in", "--out", tmp_path / "o1", "--no-validate")
    assert r.exit_code == 0 and "invalid_json" in r.output and (tmp_path / "o1" / "gtfs.zip").is_file()
    r = invoke("build", tmp_path / "in", "--out", tmp_path / "o2", "--no-validate", "--strict")
    assert r.exit_code == 1 and (tmp_path / "o2" / "gtfs.zip").is_file()
    import transitmap.pipeline as pipeline

    rejected = {"ran": True, "errors": 4, "warnings": 0, "notices": [
        {"code": "invalid_url", "severity": "ERROR", "count": 4}]}
    monkeypatch.setattr(pipeline, "validator_summary", lambda feed, start: rejected)
    r = invoke("build", tmp_path / "in" / "a.json", "--out", tmp_path / "o3")
    assert r.exit_code == 1, r.output
    assert "  ERROR invalid_url: 4 (fix the settings or inputs that cause it)" in r.output
    assert not (tmp_path / "o3").exists() and (tmp_path / "o3.failed" / "gtfs.zip").is_file()  # for inspection
    (tmp_path / "empty").mkdir()
    assert invoke("build", tmp_path / "in" / "b.json", "--out", tmp_path / "o4", "--no-validate").exit_code == 1


def test_settings_mistakes_are_usage_errors_in_one_line(tmp_path):
    write_json(tmp_path / "in" / "a.json", ride())
    cases = [(("--timezone", "Africa/Nairob"), "timezone 'Africa/Nairob' is not an IANA time zone"),
             (("--currency", "KSH"), "currency 'KSH' is not an ISO 4217 code"),
             (("--agency-url", "notaurl"), "agency_url 'notaurl' is not a web address"),
             (("--path-names", "{line}_{who}"), "path_names '{line}_{who}' names no part")]
    for k, (option, message) in enumerate(cases):
        r = invoke("build", tmp_path / "in", "--out", tmp_path / f"o{k}", *option)
        assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output, r.output
        assert not (tmp_path / f"o{k}").exists()
    toml = tmp_path / "survey.toml"
    toml.write_text('[build]\nlanguage = "fr"\n')
    r = invoke("build", tmp_path / "in", "--out", tmp_path / "o9", "--config", toml)
    assert r.exit_code == 2 and "unknown setting 'language'; the settings are: timezone, currency" in r.output


def test_errors_a_user_can_cause_share_one_base_and_map_to_exit_codes_by_type():
    import inspect

    from transitmap import cli, errors

    classes = [c for _, c in inspect.getmembers(errors, inspect.isclass) if c.__module__ == errors.__name__]
    assert {c.__name__ for c in classes} >= {"SettingsError", "UnsafeOutputError", "FeedError", "WorkspaceError"}
    assert all(issubclass(c, errors.TransitmapError) for c in classes)
    for error, code in [(errors.SettingsError, 2), (errors.WorkspaceError, 2), (errors.FeedError, 1),
                        (RuntimeError, 3)]:
        with pytest.raises((SystemExit, cli.Refused)) as caught:
            with cli.failures_exit(lambda: None):
                raise error("what went wrong")
        assert (caught.value.exit_code if isinstance(caught.value, cli.Refused) else caught.value.code) == code, error


def test_every_stage_setting_is_reachable_from_survey_toml_and_the_command_line(tmp_path):
    from transitmap.config import BuildConfig

    config = BuildConfig.from_settings({"currency": "KES", "match": {"corridor_m": 40}, "stops": {"merge_m": 20},
                                        "fares": {"outlier_ratio": 2}, "clean": {"min_moving_m": 500}})
    assert (config.match.corridor_m, config.stops.merge_m, config.fares.outlier_ratio, config.clean.min_moving_m) \
        == (40.0, 20.0, 2.0, 500.0)
    assert config.match.share == BuildConfig().match.share  # the others keep their defaults
    inputs = tmp_path / "in"
    write_json(inputs / "a.json", ride(trace_id="a", route_name="14"))
    toml = tmp_path / "survey.toml"
    toml.write_text('[build]\ncurrency = "KES"\n[build.clean]\nmin-moving-m = 10000000\n')
    # the cleaning stage's setting reaches it: a ride must move 10,000 km, so none is left
    result = CliRunner().invoke(main, ["build", str(inputs), "--out", str(tmp_path / "o1"), "--config", str(toml),
                                       "--format", "json", "--no-validate"])
    assert result.exit_code == 1 and "ride_without_movement" in result.output
    result = CliRunner().invoke(main, ["build", str(inputs), "--out", str(tmp_path / "o2"), "--no-validate",
                                       "--set", "clean.min_moving_m=1e7", "--format", "json"])
    assert result.exit_code == 1 and "ride_without_movement" in result.output
    for wrong, says in [("match.corridr_m=40", "unknown setting 'match.corridr_m'"),
                        ("match.corridor_m=wide", "match.corridor_m = 'wide': a number"),
                        ("corridor_m=40", "write STAGE.KEY=VALUE"), ("timezone.x=1", "not a stage")]:
        result = CliRunner().invoke(main, ["build", str(inputs), "--out", str(tmp_path / "o3"), "--set", wrong])
        assert result.exit_code == 2 and says in result.output, (wrong, result.output)
        assert not (tmp_path / "o3").exists()


def test_the_readme_lists_every_stage_setting_with_its_default():
    import dataclasses
    from pathlib import Path

    from transitmap.config import BuildConfig

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    for f in dataclasses.fields(BuildConfig):
        stage = getattr(BuildConfig(), f.name)
        if dataclasses.is_dataclass(stage):
            row = next(line for line in readme.splitlines() if line.startswith(f"| `[build.{f.name}]` |"))
            for g in dataclasses.fields(stage):
                assert f"`{g.name}` {getattr(stage, g.name)!r}" in row, (f.name, g.name)


def test_a_library_caller_gets_the_files_of_transitmap_build(tmp_path):
    from transitmap.pipeline import build_network, build_outputs

    inputs = tmp_path / "in"
    for k in range(2):
        write_json(inputs / f"r{k}.json", ride(trace_id=f"r{k}", route_name="14", collector_id=f"c{k}",
                                               fares=[{"amount": 50, "currency": "KES"}]))
    result = CliRunner().invoke(main, ["build", str(inputs), "--out", str(tmp_path / "out"), "--no-validate"])
    assert result.exit_code == 0, result.output
    made = build_outputs(build_network([inputs]), __version__, validate_feed=False)
    written = {p.relative_to(tmp_path / "out").as_posix(): p.read_bytes()
               for p in (tmp_path / "out").rglob("*") if p.is_file() and p.name != ".transitmap-output"}
    assert {"gtfs.zip", "traces.csv", "headways.csv", "report.json", "report.html", "network.gpkg"} <= set(made.files)
    assert written == made.files


def test_validate_counts_add_up_and_read_as_words(tmp_path):
    from pathlib import Path

    sample = Path(__file__).resolve().parent.parent / "sample_traces"
    r = CliRunner().invoke(main, ["validate", str(sample)])
    first = r.output.splitlines()[0]
    # traces: 21 + 2 + 1 = 24; the three files that held none are said apart
    assert first == ("21 files, 24 traces, 8,123 points: 21 accepted, 2 quarantined, 1 duplicate; "
                     "3 files yielded no trace")
    assert "  lerato/empty.json: no trace" in r.output
    write_json(tmp_path / "one" / "a.json", ride(trace_id="a"))
    r = CliRunner().invoke(main, ["validate", str(tmp_path / "one")])
    assert r.output.startswith("1 file, 1 trace, 120 points: 1 accepted, 0 quarantined, 0 duplicate\n")


def test_validate_a_photo_beside_good_rides_is_no_error_and_nothing_found_is_one(tmp_path):
    write_json(tmp_path / "rides" / "a.json", ride(trace_id="a"))
    (tmp_path / "rides" / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    r = CliRunner().invoke(main, ["validate", str(tmp_path / "rides")])
    assert r.exit_code == 0 and "unsupported_file" in r.output
    for folder in ("empty", "photos"):
        (tmp_path / folder).mkdir()
    (tmp_path / "photos" / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    for folder in ("empty", "photos"):
        r = CliRunner().invoke(main, ["validate", str(tmp_path / folder)])
        assert r.exit_code == 1 and f"no recording found in {tmp_path / folder}" in r.output, r.output


def test_the_build_log_names_each_stage_once_without_repeating_the_total(tmp_path):
    from pathlib import Path

    sample = Path(__file__).resolve().parent.parent / "sample_traces"
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "transitmap.cli", "-v", "build", str(sample), "--out",
                        str(tmp_path / "o"),
                        "--no-validate"], capture_output=True, text=True)
    stages = [line.split(": ", 1)[1].rsplit(" in ", 1)[0] for line in r.stderr.splitlines()
              if line.startswith("INFO transitmap.build: ")]
    assert len(stages) >= 7 and len(set(stages)) == len(stages), stages
    assert "since the start" not in r.stderr


def test_figures_for_people_are_never_in_exponent_notation(tmp_path):
    from pathlib import Path

    from transitmap.report import figure

    assert [figure(v) for v in (1210.0, 45.25, 0.1333, 100.0)] == ["1,210", "45.2", "0.133", "100"]
    sample = Path(__file__).resolve().parent.parent / "sample_traces"
    assert CliRunner().invoke(main,
                              ["build", str(sample), "--out", str(tmp_path / "o"), "--no-validate"]).exit_code == 0
    r = CliRunner().invoke(main, ["stats", str(tmp_path / "o" / "gtfs.zip")])
    assert r.exit_code == 0 and not re.search(r"\de[+-]\d", r.output), r.output


def _in_a_terminal(*args: str, interrupt_on: str | None = None) -> tuple[int, str]:
    """Run ``transitmap ARGS`` with its output on a pseudo-terminal of 100 columns: (exit code, what it showed).
    With ``interrupt_on``, Ctrl-C as soon as that text shows (SIGINT to the terminal's process group: the command
    and its worker processes, as a terminal does)."""
    import fcntl
    import pty
    import select
    import signal
    import struct
    import sys
    import termios
    import time

    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of a real size (a new pty has none, and progress bars fit 0 columns)
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
        os.execv(sys.executable, [sys.executable, "-m", "transitmap.cli", *args])
    shown, start = b"", time.monotonic()
    while time.monotonic() - start < 120:
        if select.select([fd], [], [], 0.05)[0]:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            shown += data
        if interrupt_on is not None and interrupt_on.encode() in shown:
            os.killpg(pid, signal.SIGINT)
            interrupt_on = None
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), shown.decode("utf-8", "replace")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="pseudo-terminals need POSIX")
def test_long_work_shows_its_progress_in_a_terminal_and_not_in_a_pipe(tmp_path):
    from pathlib import Path

    sample = str(Path(__file__).resolve().parent.parent / "sample_traces")
    code, shown = _in_a_terminal("build", sample, "--out", str(tmp_path / "a"), "--no-validate")
    assert code == 0
    # the zip's two recordings are counted one by one
    assert "\rbuilding: read 22 of 22 recordings" in shown and "\rbuilding: matched them into 4 routes" in shown
    assert "\rwriting the outputs: network statistics" in shown
    code, shown = _in_a_terminal("stats", str(tmp_path / "a" / "gtfs.zip"))
    assert code == 0 and "\rcomputing the statistics" in shown
    code, shown = _in_a_terminal("diff", str(tmp_path / "a" / "gtfs.zip"), str(tmp_path / "a" / "gtfs.zip"))
    assert code == 0 and "\rcomparing the feeds" in shown
    code, shown = _in_a_terminal("-q", "stats", str(tmp_path / "a" / "gtfs.zip"))
    assert code == 0 and "\rcomputing" not in shown  # -q: no progress
    r = CliRunner().invoke(main, ["build", sample, "--out", str(tmp_path / "b"), "--no-validate"])
    assert r.exit_code == 0 and "\r" not in r.output  # not a terminal: no bar


@pytest.mark.skipif(not hasattr(os, "fork"), reason="pseudo-terminals need POSIX")
@pytest.mark.parametrize("when", ["read 16 of", "cleaned", "matched", "writing the outputs: network statistics"])
def test_ctrl_c_exits_130_with_one_line_and_the_previous_output_intact(tmp_path, when):
    """Ctrl-C (SIGINT to the terminal's process group: the command and its worker processes) at each stage."""
    from datetime import datetime, timedelta, timezone

    for k in range(200):
        write_json(tmp_path / "in" / f"r{k:03d}.json",
                   ride(trace_id=f"r{k}", n=300, dt_s=2.0,
                        t0=datetime(2026, 3, 2, 5, tzinfo=timezone.utc) + timedelta(minutes=7 * k)))
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["build", str(tmp_path / "in"), "--out", str(out), "--no-validate"]).exit_code == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code, text = _in_a_terminal("build", str(tmp_path / "in"), "--out", str(out), "--no-validate", interrupt_on=when)
    assert when in text and code == 130, text[-500:]
    assert text.count("interrupted: outputs are written whole or not at all") == 1 and "Traceback" not in text
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_help_lists_commands_in_survey_order_each_with_an_example_and_its_exit_codes():
    r = CliRunner().invoke(main, ["--help"])
    listed = [line.split()[0] for line in r.output.split("Commands:")[1].splitlines() if line.strip()]
    assert listed == ["init", "import", "status", "validate", "build", "review", "stats", "diff", "plan", "notices"]
    for name in listed:
        text = CliRunner().invoke(main, [name, "--help"]).output
        assert "Example:" in text and "Exit code" in text and "``" not in text, name
        command = main.get_command(None, name)
        undocumented = [o.name for o in command.params if isinstance(o, click.Option) and not o.help]
        assert not undocumented, (name, undocumented)


def test_the_gtfs_validator_checks_the_feed_while_the_statistics_are_made(tmp_path, monkeypatch):
    """The validator runs beside the statistics (it takes longer than the rest of a build of a large survey);
    the report and its page carry its findings all the same."""
    import threading

    from transitmap import pipeline
    from transitmap.pipeline import build_network, build_outputs

    inputs = tmp_path / "in"
    for k in range(2):
        write_json(inputs / f"r{k}.json", ride(trace_id=f"r{k}", route_name="14", collector_id=f"c{k}"))
    result = build_network([inputs])
    running, stats_began, seen = threading.Event(), threading.Event(), []

    def slow_validator(feed, start):  # runs until the statistics begin (at most 10 s)
        running.set()
        stats_began.wait(10.0)
        running.clear()
        return {"ran": True, "date": start, "errors": 0, "warnings": 7, "notices": []}

    def stats(feed, **kw):
        seen.append(running.wait(10.0) and running.is_set())
        stats_began.set()
        return real_stats(feed, **kw)

    real_stats = pipeline.feed_stats
    monkeypatch.setattr(pipeline, "validator_summary", slow_validator)
    monkeypatch.setattr(pipeline, "feed_stats", stats)
    made = build_outputs(result, __version__)
    assert seen == [True]  # the statistics began while the validator ran
    assert made.report["gtfs_validator"]["warnings"] == 7
    assert b"GTFS validator on the feed: 0 errors, 7 warnings." in made.files["report.html"]

"""The command line: exit codes, output formats, atomic report, the catalogue."""

from __future__ import annotations

import json

from click.testing import CliRunner

from transitmap import __version__
from transitmap.cli import main

from builders import ride, write_json


def invoke(*args):
    return CliRunner().invoke(main, list(map(str, args)), catch_exceptions=False)


def test_exit_0_when_nothing_is_quarantined(tmp_path):
    write_json(tmp_path / "a.json", ride())
    r = invoke("validate", tmp_path)
    assert r.exit_code == 0, r.output
    assert r.output.startswith("1 files, 1 traces, 120 points: 1 accepted, 0 quarantined, 0 duplicate")


def test_exit_1_when_a_trace_is_quarantined_and_the_table_names_it(tmp_path):
    write_json(tmp_path / "a.json", ride())
    (tmp_path / "b.json").write_text("{")
    r = invoke("validate", tmp_path)
    assert r.exit_code == 1
    assert "ERROR     invalid_json        1" in r.output.replace("  ", " ").replace(" ", " ") or "invalid_json" in r.output
    assert "b.json: 0 accepted, 1 quarantined" in r.output


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

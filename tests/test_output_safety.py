"""Nothing of the user's is ever destroyed: a command that writes a folder replaces only one that is new,
empty or written by transitmap, and never an input, a folder holding an input, a workspace or the current
folder (exit 2 and a message that says what to do)."""

from __future__ import annotations

import os
from contextlib import closing
from pathlib import Path

import msgspec
import pytest
from builders import ride, write_json
from click.testing import CliRunner

from transitmap.cli import main
from transitmap.errors import UnsafeOutputError
from transitmap.report import OUTPUT_MARKER, write_dir_atomic


def invoke(*args):
    return CliRunner().invoke(main, list(map(str, args)), catch_exceptions=False)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def uploads(tmp_path) -> Path:
    write_json(tmp_path / "uploads" / "a.json", ride())
    write_json(tmp_path / "uploads" / "b.json", ride(trace_id="t2", collector_id="c2"))
    return tmp_path / "uploads"


def build(inputs, out):
    return invoke("build", *([inputs] if isinstance(inputs, (str, Path)) else inputs), "--out", out,
                  "--no-validate", "-q")


def test_a_folder_of_the_users_own_files_is_refused_and_kept(uploads, tmp_path):
    mine = tmp_path / "myfiles"
    (mine / "sub").mkdir(parents=True)
    (mine / "thesis.docx").write_bytes(b"three years of work")
    (mine / "sub" / "budget.xlsx").write_bytes(b"numbers")
    before = snapshot(mine)
    r = build(uploads, mine)
    assert r.exit_code == 2, r.output
    assert "holds files transitmap did not write (sub/budget.xlsx, thesis.docx)" in r.output
    assert "name a new or empty folder" in r.output
    assert snapshot(mine) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["myfiles", "uploads"], "nothing left beside it"


def test_the_input_folder_and_a_folder_holding_it_are_refused(uploads, tmp_path):
    before = snapshot(tmp_path)
    for out in (uploads, tmp_path):
        r = build(uploads, out)
        assert r.exit_code == 2 and "holds the input" in r.output, r.output
    r = build(uploads, uploads / "out")
    assert r.exit_code == 2 and "inside the input folder" in r.output, r.output
    r = build(uploads / "a.json", uploads / "a.json")
    assert r.exit_code == 2, r.output
    assert snapshot(tmp_path) == before


def test_a_survey_workspace_is_refused_as_output(uploads, tmp_path):
    survey = tmp_path / "survey"
    assert invoke("init", survey, "--timezone", "Africa/Nairobi").exit_code == 0
    assert invoke("import", survey, uploads, "-q").exit_code == 0
    before = snapshot(survey)
    r = build(survey, survey)
    assert r.exit_code == 2 and "holds the input" in r.output, r.output
    # a workspace that is not the input is refused too, marker or not
    (survey / OUTPUT_MARKER).write_text("transitmap output folder: each build replaces it whole. Files written:\n"
                                        "survey.gpkg\n")
    r = build(uploads, survey)
    assert r.exit_code == 2 and "is a survey workspace" in r.output, r.output
    (survey / OUTPUT_MARKER).unlink()
    assert snapshot(survey) == before
    assert build(survey, survey / "out").exit_code == 0, "a folder inside the workspace is fine"


def test_the_current_folder_and_its_parents_are_refused(uploads, tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for out in (".", "..", work):
        r = build(uploads, out)
        assert r.exit_code == 2 and "is the current folder or holds it" in r.output, r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["uploads", "work"], "no stray ..old-* folder"
    assert not list(work.iterdir())


def test_a_new_an_empty_and_an_earlier_output_folder_are_replaced(uploads, tmp_path):
    out = tmp_path / "out"
    assert build(uploads, out).exit_code == 0
    first = snapshot(out)
    assert OUTPUT_MARKER in first and "gtfs.zip" in first
    listed = first[OUTPUT_MARKER].decode().splitlines()[1:]
    assert sorted(listed) == sorted(k for k in first if k != OUTPUT_MARKER)
    assert build(uploads, out).exit_code == 0
    assert snapshot(out) == first, "a rebuild replaces its own folder with the same bytes"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert build(uploads, empty).exit_code == 0 and (empty / "gtfs.zip").is_file()


def test_a_file_saved_into_an_output_folder_since_the_build_stops_the_next_one(uploads, tmp_path):
    out = tmp_path / "out"
    assert build(uploads, out).exit_code == 0
    (out / "figures" / "my_edit.png").write_bytes(b"made by hand")
    r = build(uploads, out)
    assert r.exit_code == 2 and "figures/my_edit.png" in r.output, r.output
    assert (out / "figures" / "my_edit.png").read_bytes() == b"made by hand"


def test_stats_never_replaces_the_folder_of_the_feed_it_reads(uploads, tmp_path):
    out = tmp_path / "out"
    assert build(uploads, out).exit_code == 0
    before = snapshot(out)
    r = invoke("stats", out / "gtfs.zip", "--out", out, "-q")
    assert r.exit_code == 2 and "holds the input" in r.output, r.output
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    r = invoke("stats", out / "gtfs.zip", "--out", mine, "-q")
    assert r.exit_code == 2 and "notes.txt" in r.output
    assert snapshot(out) == before and (mine / "notes.txt").read_text() == "keep"
    r = invoke("stats", out / "gtfs.zip", "--out", tmp_path / "stats_out", "-q")
    assert r.exit_code == 0 and (tmp_path / "stats_out" / "stats" / "stats.json").is_file()
    assert invoke("stats", out / "gtfs.zip", "--out", tmp_path / "stats_out", "-q").exit_code == 0


def test_diff_and_validate_never_write_over_an_input(uploads, tmp_path):
    out = tmp_path / "out"
    assert build(uploads, out).exit_code == 0
    feed = out / "gtfs.zip"
    before = feed.read_bytes()
    r = invoke("diff", feed, feed, "--format", "json", "--out", feed)
    assert r.exit_code == 2 and "is the input" in r.output
    r = invoke("validate", uploads / "a.json", "--out", uploads / "a.json")
    assert r.exit_code == 2 and "is the input" in r.output
    assert feed.read_bytes() == before and b"points" in (uploads / "a.json").read_bytes()


def test_diff_out_writes_the_page_and_prints_one_line(uploads, tmp_path):
    out = tmp_path / "out"
    assert build(uploads, out).exit_code == 0
    r = invoke("diff", out / "gtfs.zip", out / "gtfs.zip", "--format", "html", "--out", tmp_path / "d.html")
    assert r.exit_code == 0
    assert r.output == f"html written to {tmp_path / 'd.html'}\n"
    assert (tmp_path / "d.html").read_text().lstrip().lower().startswith("<!doctype html")


def test_the_library_refuses_too(tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.docx").write_bytes(b"x")
    with pytest.raises(UnsafeOutputError, match="thesis.docx"):
        write_dir_atomic(mine, {"a.txt": b"a"})
    with pytest.raises(UnsafeOutputError, match="holds the input"):
        write_dir_atomic(tmp_path, {"a.txt": b"a"}, inputs=[mine / "thesis.docx"])
    assert os.listdir(mine) == ["thesis.docx"]


def test_a_workspace_with_other_inputs_is_refused_not_read_as_files(uploads, tmp_path):
    survey = tmp_path / "survey"
    assert invoke("init", survey, "--timezone", "Africa/Nairobi").exit_code == 0
    r = build([survey, uploads], tmp_path / "out")
    assert r.exit_code == 2 and "is a survey workspace: a build takes it alone" in r.output, r.output
    assert f"transitmap import {survey} FILES..." in r.output and not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------- a build that fails


def failing_inputs(tmp_path: Path) -> dict[str, Path]:
    """Inputs of builds that fail: an empty folder, a corrupt zip, a folder of broken recordings."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "corrupt.zip").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "a.json").write_text("{")
    return {"empty": tmp_path / "empty", "corrupt": tmp_path / "corrupt.zip", "broken": tmp_path / "broken"}


def test_a_failed_build_leaves_the_last_good_output_byte_for_byte_and_reports_beside_it(uploads, tmp_path):
    out = tmp_path / "out"
    assert build(uploads, out).exit_code == 0
    good = snapshot(out)
    assert {"gtfs.zip", "report.html", "report.json", "network.gpkg"} <= set(good)
    for name, inputs in failing_inputs(tmp_path).items():
        r = invoke("build", inputs, "--out", out, "--no-validate")
        assert r.exit_code == 1, (name, r.output)
        assert snapshot(out) == good, f"{name}: the good output was touched"
        failed = tmp_path / "out.failed"
        report = msgspec.json.decode((failed / "report.json").read_bytes())
        assert report["summary"]["used"] == 0 and "gtfs.zip" not in snapshot(failed)
        assert f"no usable trace: no feed built; {out} is as it was. This build's report: " \
               f"{failed / 'report.json'}" in r.output, r.output
    # the reason is on the terminal too, and in the JSON on stdout
    r = invoke("build", tmp_path / "broken", "--out", out, "--no-validate", "--format", "json")
    assert r.exit_code == 1 and snapshot(out) == good
    assert "invalid_json" in {n["code"] for n in msgspec.json.decode(r.stdout)["notices"]}
    # the next good build replaces the output and removes the failed report
    assert build(uploads, out).exit_code == 0 and snapshot(out) == good
    assert not (tmp_path / "out.failed").exists()


def test_a_feed_the_validator_rejects_does_not_replace_the_good_one(uploads, tmp_path, monkeypatch):
    import transitmap.pipeline as pipeline

    out = tmp_path / "out"
    assert build(uploads, out).exit_code == 0
    good = snapshot(out)
    rejected = {"ran": True, "errors": 2, "warnings": 0,
                "notices": [{"code": "invalid_url", "severity": "ERROR", "count": 2}]}
    monkeypatch.setattr(pipeline, "validator_summary", lambda feed, start: rejected)
    r = invoke("build", uploads, "--out", out)
    assert r.exit_code == 1 and "the GTFS validator rejected the feed" in r.output, r.output
    assert snapshot(out) == good
    kept = snapshot(tmp_path / "out.failed")
    assert kept["gtfs.zip"] == good["gtfs.zip"], "the rejected feed is kept beside, for inspection"


def test_a_failure_of_transitmap_itself_leaves_the_output_and_says_why_beside_it(uploads, tmp_path, monkeypatch):
    import transitmap.cli as cli

    out = tmp_path / "out"
    assert build(uploads, out).exit_code == 0
    good = snapshot(out)

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cli, "build_network", boom)
    r = invoke("build", uploads, "--out", out, "--no-validate")
    assert r.exit_code == 3 and "transitmap failed: RuntimeError: disk on fire" in r.output
    assert snapshot(out) == good
    report = msgspec.json.decode((tmp_path / "out.failed" / "report.json").read_bytes())
    assert report["failure"] == {"error": "RuntimeError", "message": "disk on fire"}


def test_a_failed_report_never_writes_over_the_users_files(uploads, tmp_path):
    out = tmp_path / "out"
    assert build(uploads, out).exit_code == 0
    mine = tmp_path / "out.failed"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    r = invoke("build", failing_inputs(tmp_path)["broken"], "--out", out, "--no-validate")
    assert r.exit_code == 1 and "This build's report was not written" in r.output and "--format json" in r.output
    assert snapshot(mine) == {"notes.txt": b"mine"}
    assert build(uploads, out).exit_code == 0 and snapshot(mine) == {"notes.txt": b"mine"}, "not ours: kept"


def test_a_failed_workspace_build_keeps_the_latest_good_build(uploads, tmp_path, monkeypatch):
    import transitmap.cli as cli
    import transitmap.workspace as ws

    survey = tmp_path / "survey"
    assert invoke("init", survey, "--timezone", "Africa/Nairobi").exit_code == 0
    assert invoke("import", survey, uploads, "-q").exit_code == 0
    assert build(survey, tmp_path / "out").exit_code == 0
    feed, ids = ws.previous_build(survey)
    with closing(ws.connect(survey)) as con:
        layers = con.execute("SELECT COUNT(*), (SELECT COUNT(*) FROM stops) FROM routes").fetchone()
    assert layers[0] > 0 and layers[1] > 0

    def boom(*args, **kwargs):
        raise RuntimeError("no")

    monkeypatch.setattr(cli, "build_network", boom)
    assert build(survey, tmp_path / "out").exit_code == 3
    assert ws.previous_build(survey) == (feed, ids)
    with closing(ws.connect(survey)) as con:
        assert con.execute("SELECT COUNT(*), (SELECT COUNT(*) FROM stops) FROM routes").fetchone() == layers


# ------------------------------------------------------------------- --out of validate, diff and stats


def test_validate_diff_and_stats_never_write_over_a_file_transitmap_did_not_write(uploads, tmp_path):
    out = tmp_path / "out"
    assert build(uploads, out).exit_code == 0
    feed = out / "gtfs.zip"
    (tmp_path / "mydocs").mkdir()
    notes = tmp_path / "mydocs" / "notes.txt"
    notes.write_text("my notes")
    raw = (uploads / "a.json").read_bytes()
    before = snapshot(tmp_path)
    refusals = [
        (("validate", tmp_path / "uploads", "--out", uploads / "a.json"), "is inside the input folder"),
        (("validate", uploads / "a.json", "--out", uploads / "a.json"), "is the input"),
        (("validate", tmp_path / "uploads", "--out", uploads / "report.json"), "inside the input folder"),
        (("validate", uploads, "--out", notes), "exists and transitmap did not write it"),
        (("diff", feed, feed, "--format", "html", "--out", notes), "exists and transitmap did not write it"),
        (("stats", feed, "--out", tmp_path / "mydocs"), "holds files transitmap did not write (notes.txt)"),
    ]
    for args, message in refusals:
        r = invoke(*args)
        assert r.exit_code == 2 and message in r.output, (args, r.output)
        assert len(r.output.strip().splitlines()) == 1, r.output
    assert snapshot(tmp_path) == before and (uploads / "a.json").read_bytes() == raw
    # files transitmap wrote are written again, each kind of them
    for args in (("validate", uploads, "--out", tmp_path / "v.json"),
                 ("diff", feed, feed, "--format", "json", "--out", tmp_path / "d.json"),
                 ("diff", feed, feed, "--format", "html", "--out", tmp_path / "d.html"),
                 ("diff", feed, feed, "--out", tmp_path / "d.txt")):
        for _ in range(2):
            r = invoke(*args, "-q")
            assert r.exit_code == 0, (args, r.output)
    assert (tmp_path / "d.txt").read_text().startswith("old: ")

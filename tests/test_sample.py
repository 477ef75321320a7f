"""The sample survey: made by its documented generator, and validated exactly as the golden report says.

Update the golden file after an intended change with:
    TRANSITMAP_UPDATE_GOLDEN=1 python -m pytest tests/test_sample.py
"""

from __future__ import annotations

import json
import os
import runpy
from pathlib import Path

from transitmap.pipeline import validate_inputs
from transitmap.report import to_json

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_traces"
GOLDEN = Path(__file__).parent / "golden" / "sample_report.json"


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_generator_makes_the_committed_sample(tmp_path):
    make = runpy.run_path(str(ROOT / "scripts" / "make_sample_traces.py"))["make"]
    make(tmp_path / "sample")
    made, committed = _tree(tmp_path / "sample"), _tree(SAMPLE)
    assert sorted(made) == sorted(committed)
    changed = [name for name in made if made[name] != committed[name]]
    assert not changed, f"sample_traces/ is stale: run python scripts/make_sample_traces.py ({changed[:3]})"


def test_sample_report_matches_golden():
    report = validate_inputs([SAMPLE]).to_report("golden")
    text = to_json(report).decode()
    if os.environ.get("TRANSITMAP_UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    golden = json.loads(GOLDEN.read_text())
    assert report["summary"] == golden["summary"]
    assert report["traces"] == golden["traces"]
    assert report["notices"] == golden["notices"]
    assert text == GOLDEN.read_text()


def test_sample_is_a_survey_worth_demonstrating():
    """At least 3 routes in both directions with several riders, a partial ride and broken files."""
    report = validate_inputs([SAMPLE]).to_report("x")
    s = report["summary"]
    assert s["accepted"] >= 18 and s["quarantined"] >= 4 and s["duplicate"] >= 1
    codes = {n["code"] for n in report["notices"]}
    assert {"invalid_json", "empty_file", "unsafe_xml", "too_slow_for_vehicle", "trace_far_from_survey",
            "duplicate_upload", "time_without_offset", "gps_spike", "recording_gap"} <= codes

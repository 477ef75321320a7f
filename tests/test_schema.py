"""The collector schema and its examples: valid ones pass the schema and are accepted, invalid ones do not."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from transitmap.model import Status
from transitmap.pipeline import validate_inputs
from transitmap.read import trace_schema

EXAMPLES = Path(__file__).resolve().parent.parent / "collector_schema" / "examples"
VALIDATOR = jsonschema.Draft202012Validator(trace_schema())


def _traces(path: Path) -> list:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return doc if isinstance(doc, list) else [doc]


def test_schema_is_valid_json_schema_2020_12():
    jsonschema.Draft202012Validator.check_schema(trace_schema())


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("valid-*.json")), ids=lambda p: p.name)
def test_valid_examples_pass_the_schema_and_are_read_cleanly(path):
    for doc in _traces(path):
        assert not list(VALIDATOR.iter_errors(doc))
    run = validate_inputs([path])
    assert run.notices.counts.get("schema_violation", 0) == 0
    assert run.notices.counts.get("invalid_field", 0) == 0 and run.notices.counts.get("invalid_point", 0) == 0


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("invalid-*.json")), ids=lambda p: p.name)
def test_invalid_examples_fail_the_schema_and_transitmap_says_why(path):
    for doc in _traces(path):
        assert list(VALIDATOR.iter_errors(doc))
    run = validate_inputs([path])
    assert run.notices.counts, "a notice explains what is wrong"


def test_full_example_is_read_field_by_field():
    from transitmap.read import list_inputs, read_file

    files, _ = list_inputs([EXAMPLES / "valid-full.json"])
    [res] = read_file(files[0])
    tr = res.trace
    assert (tr.route_name, tr.operator, tr.origin, tr.destination) == (
        "Bree - Baragwanath", "Soweto Taxi Association", "Bree Rank", "Baragwanath")
    assert [s.kind for s in tr.stops] == ["board", "both", "alight"] and tr.stops[1].alighted == 1
    assert [(f.amount, f.from_stop, f.to_stop) for f in tr.fares] == [(15.0, None, None), (12.0, 1, 2)]
    assert len(tr.departures_s) == 3 and tr.speed_mps[3] == 11.8 and tr.accuracy_m[0] == 8.0
    run = validate_inputs([EXAMPLES / "valid-full.json"])
    assert [r.status for r in run.ledger] == [Status.ACCEPTED]

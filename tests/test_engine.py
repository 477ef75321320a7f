"""The per-trace stages on a Dask cluster (a local one here): the same output as in one process."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from transitmap.cli import main

pytest.importorskip("distributed")

SAMPLE = Path(__file__).resolve().parent.parent / "sample_traces"
OUTPUTS = ["gtfs.zip", "traces.csv", "headways.csv", "report.json", "report.html", "network.gpkg"]


@pytest.fixture(scope="module")
def engine():
    from transitmap.engine import DaskEngine

    with DaskEngine(n_workers=2, chunk_files=3) as e:  # small chunks: several tasks on both workers
        yield e


def test_validation_on_a_cluster_equals_validation_here(engine):
    from transitmap.pipeline import validate_inputs

    here = validate_inputs([SAMPLE])
    there = validate_inputs([SAMPLE], engine=engine)
    assert there.ledger == here.ledger and there.summary() == here.summary()
    assert there.notices.to_list() == here.notices.to_list()
    from transitmap.engine import chunks
    from transitmap.read import list_inputs

    assert len(chunks(list_inputs([SAMPLE])[0], engine.chunk_files, engine.chunk_bytes)) == 7  # 21 files in chunks of 3


def test_build_with_engine_dask_writes_the_same_bytes(tmp_path):
    runner = CliRunner()
    here = runner.invoke(main, ["build", str(SAMPLE), "--out", str(tmp_path / "here"), "--no-validate", "-q"])
    there = runner.invoke(main, ["build", str(SAMPLE), "--out", str(tmp_path / "there"), "--no-validate", "-q",
                                 "--engine", "dask"])
    assert here.exit_code == there.exit_code == 0, there.output  # broken uploads on purpose: reported
    for name in OUTPUTS:
        assert (tmp_path / "here" / name).read_bytes() == (tmp_path / "there" / name).read_bytes(), name


def test_a_workspace_builds_on_a_cluster_too(engine, tmp_path):
    from datetime import datetime, timezone

    from transitmap import workspace as ws
    from transitmap.pipeline import build_network

    now = datetime(2026, 3, 2, 18, tzinfo=timezone.utc)
    ws.init_workspace(tmp_path / "s", now=now)
    ws.import_inputs(tmp_path / "s", [SAMPLE], now=now)
    here = build_network(ws.workspace_inputs(tmp_path / "s"))
    there = build_network(ws.workspace_inputs(tmp_path / "s"), engine=engine)
    assert there.feed == here.feed and there.ledger_rows == here.ledger_rows


def test_an_unreachable_scheduler_is_a_failure_not_a_hang(tmp_path):
    res = CliRunner().invoke(main, ["validate", str(SAMPLE / "amara"), "--engine", "dask",
                                    "--dask-scheduler", "tcp://127.0.0.1:9"])
    assert res.exit_code == 3 and "transitmap failed" in res.output


def test_the_network_is_built_on_the_workers_region_by_region(engine, tmp_path):
    """Cleaning (where the traces were read) and each region's matching, stops and times are tasks of the
    cluster; the feed is the one built here. Two towns 40 km apart are two regions: two tasks."""
    import numpy as np
    from builders import write_json
    from distributed import get_task_stream
    from test_build import A, B, C, reverse, spec

    from transitmap.pipeline import build_network
    from transitmap.simulate import at, ride

    far = lambda p: (p[0] + 0.36, p[1])  # noqa: E731 - 40 km north
    rng = np.random.default_rng(3)
    for route in (spec("N", "Town - Kibera", A, B, C), spec("F", "Thika - Juja", far(A), far(B), far(C))):
        for k, r in enumerate((route, reverse(route), route)):
            doc = ride(r, at(2026, 3, 2, 7 + k, 0, 3), rng, trace_id=f"{r.route_id}-{k}", collector_id="c1")
            write_json(tmp_path / f"{r.route_id}-{k}.json", doc)
    here = build_network([tmp_path])
    with get_task_stream(client=engine.client) as stream:
        there = build_network([tmp_path], engine=engine)
    names = [t["key"].split("-")[0] for t in stream.data]
    assert names.count("region_network") == 2 and names.count("_cleaned_where_read") >= 1
    assert there.feed == here.feed and there.ledger_rows == here.ledger_rows
    assert there.headway_rows == here.headway_rows


def test_a_scheduler_and_workers_started_by_hand_build_the_same_feed(tmp_path):
    """``dask scheduler`` and two ``dask worker ADDRESS`` in processes of their own, as a survey team starts
    them on its machines: the build through ``--dask-scheduler`` writes the same bytes as one here."""
    from transitmap.engine import hand_started_cluster

    with hand_started_cluster(2) as (address, _):
        runner = CliRunner()
        here = runner.invoke(main, ["build", str(SAMPLE), "--out", str(tmp_path / "here"), "--no-validate", "-q"])
        there = runner.invoke(main, ["build", str(SAMPLE), "--out", str(tmp_path / "there"), "--no-validate", "-q",
                                     "--engine", "dask", "--dask-scheduler", address])
    assert here.exit_code == there.exit_code == 0, there.output
    for name in OUTPUTS:
        assert (tmp_path / "here" / name).read_bytes() == (tmp_path / "there" / name).read_bytes(), name


def test_a_trace_repaired_here_is_cleaned_on_the_cluster_like_the_others(engine, tmp_path):
    """The workers clean the traces where they read them; a trace whose latitudes and longitudes the survey
    swapped back is checked and cleaned again here: the same feed and ledger as a build here."""
    from builders import ride, write_json

    from transitmap.pipeline import build_network, validate_inputs

    swapped = ride(trace_id="t1")
    swapped["points"] = [{**p, "lat": p["lon"], "lon": p["lat"]} for p in swapped["points"]]
    for k, doc in enumerate([swapped, ride(trace_id="t2", heading_deg=0), ride(trace_id="t3", heading_deg=45),
                             ride(trace_id="t4")]):
        write_json(tmp_path / f"{k}.json", doc)
    here = build_network([tmp_path])
    there = build_network([tmp_path], engine=engine)
    assert "lat_lon_swapped" in here.run.notices.counts
    assert [r.status for r in here.ledger_rows].count("used") == 4
    assert there.feed == here.feed and there.ledger_rows == here.ledger_rows
    run = validate_inputs([tmp_path], keep_traces=True, engine=engine)
    assert run.origins.count(None) == 1 and len(run.origins) == 4  # the repaired trace only here
    engine.release_kept()


def test_dasks_own_log_stays_out_of_a_quiet_build(tmp_path):
    """The scheduler starting, workers joining and clients leaving are Dask's business: shown with -vv, not
    with -q or by default."""
    import subprocess
    import sys

    def stderr(*flags):
        return subprocess.run([sys.executable, "-m", "transitmap.cli", "build", str(SAMPLE / "amara"), "--out",
                               str(tmp_path / "out"), "--no-validate", "--engine", "dask", *flags],
                              capture_output=True, text=True, timeout=300).stderr

    assert stderr("-q").strip() == ""
    assert "distributed.scheduler" in stderr("-vv")

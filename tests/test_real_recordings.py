"""Real recordings as collectors uploaded them (../shared/data; skipped where it is absent): the labels they
carry are the truth. The figures are `python benchmarks/real.py`'s; these tests hold the line."""

from __future__ import annotations

import re
import zipfile
from itertools import combinations
from pathlib import Path

import pandas as pd
import pytest
from builders import output_blobs
from click.testing import CliRunner

from transitmap.cli import main

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="../shared/data (real recordings) is not present")


def build(name: str, out: Path) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    res = CliRunner().invoke(main, ["build", str(DATA / name), "--out", str(out), "--no-validate", "-q"])
    assert res.exit_code == 0, res.output
    with zipfile.ZipFile(out / "gtfs.zip") as z:
        feed = {n: pd.read_csv(z.open(n), dtype=str, keep_default_na=False) for n in z.namelist()}
    return pd.read_csv(out / "traces.csv", dtype=str, keep_default_na=False), feed


def test_alajuela_rides_go_to_their_folders_route_and_no_collector_is_named(tmp_path):
    ledger, feed = build("costa-rica-alajuela-2017-gpx.zip", tmp_path / "out")
    used = ledger[ledger.status == "used"]
    folder = used.file.str.extract(r"!alajuela-2017/([^/]+)/")[0]
    found = list(zip(used.route_id, used.direction_id))
    tp = fp = fn = 0
    for (ta, fa), (tb, fb) in combinations(zip(folder, found), 2):
        tp += ta == tb and fa == fb
        fp += ta != tb and fa == fb
        fn += ta == tb and fa != fb
    assert tp / (tp + fp) >= 0.98 and tp / (tp + fn) >= 0.98, (tp, fp, fn)
    routes = feed["routes.txt"].set_index("route_id")
    train = set(used[folder.str.startswith("tren_")].route_id)
    assert set(routes.loc[sorted(train), "route_type"]) == {"2"}
    assert "alajuela-santabarbara" in set(routes.route_long_name)
    # a collector read from the path (asistentes/<name>_<date>.gpx) is not missing: said only of the others
    said = used.codes.str.contains("missing_collector_id")
    assert (said == (used.collector == "")).all() and (~said).sum() >= 170, said.value_counts()
    with zipfile.ZipFile(DATA / "costa-rica-alajuela-2017-gpx.zip") as z:
        names = {m.group(1).lower().encode() for n in z.namelist() for m in [re.search(r"asistentes/([a-zA-Z]+)_", n)]
                 if m}
    assert {b"fernando", b"jonathan", b"joan"} <= names
    as_word = re.compile(rb"(?i)(?<![a-z])(" + b"|".join(sorted(names)) + rb")(?![a-z])")  # "fran", not "francisco"
    for path, blob in output_blobs(tmp_path / "out"):
        if path.name not in ("traces.csv", "report.json"):  # the coordinator's own, naming the files
            assert not as_word.search(blob), (path, as_word.search(blob))


def test_khartoum_uses_every_distinct_ride_finds_the_copies_and_keeps_route_numbers(tmp_path):
    ledger, feed = build("khartoum-2023-gpx.zip", tmp_path / "out")
    assert (ledger.status == "used").sum() == 58 and (ledger.status == "duplicate").sum() == 6
    routes = feed["routes.txt"].set_index("route_id")
    used = ledger[ledger.status == "used"]
    number = used.file.str.extract(r"!([A-Za-z]+)_(\d+)")
    for rid, group in used.assign(district=number[0], num=number[1]).groupby("route_id"):
        name = routes.loc[rid, "route_short_name"]
        assert any(re.fullmatch(rf"(?i){d}\W*0*{int(n)}", name) for d, n in zip(group.district, group.num)), (rid, name)

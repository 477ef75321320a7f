"""Collector privacy: what a collector recorded on foot before boarding and after alighting is never published,
not even as shape geometry, and no output file names a collector."""

from __future__ import annotations

import io
import math
import zipfile
from datetime import timedelta

import numpy as np
import pandas as pd
import pytest
from builders import M_PER_DEG_LAT, M_PER_DEG_LON_EQ, NAIROBI, START, moved, output_blobs, ride, write_json
from click.testing import CliRunner

from transitmap.cli import main

COLLECTOR = "wanjiru.kamau@example.org"  # an id a survey might really use


def walk_ride(trace_id: str, *, board_mark: bool, hour: int = 0) -> dict:
    """From home, 600 m north of the rank, on foot (5 km/h); three minutes at the rank; 5 km east by matatu;
    then 400 m south on foot."""
    rank = NAIROBI
    home = moved({"lat": rank[0], "lon": rank[1]}, north_m=600)
    t0 = START + timedelta(hours=hour)
    walk_to = ride(start=(home["lat"], home["lon"]), heading_deg=180, speed_kph=5, n=87, dt_s=5, t0=t0)["points"]
    t = t0 + timedelta(seconds=87 * 5)
    wait = [{"time": (t + timedelta(seconds=10 * k)).isoformat(), "lat": rank[0], "lon": rank[1], "accuracy": 5.0}
            for k in range(18)]
    t += timedelta(seconds=180)
    drive = ride(start=rank, heading_deg=90, speed_kph=30, n=120, dt_s=5, t0=t)["points"]
    end = drive[-1]
    t += timedelta(seconds=120 * 5)
    walk_from = ride(start=(end["lat"], end["lon"]), heading_deg=180, speed_kph=5, n=58, dt_s=5, t0=t)["points"][1:]
    points = walk_to + wait + drive + walk_from
    doc = {"schema_version": "1.0", "trace_id": trace_id, "collector_id": COLLECTOR, "route_name": "46",
           "points": points}
    if board_mark:
        doc["stops"] = [{**wait[-1], "kind": "board"}, {**drive[-1], "kind": "alight"}]
    return doc


def on_foot(doc: dict) -> np.ndarray:
    """(lat, lon) of the walks' fixes more than 150 m from the rank and from where the ride ended."""
    pts = np.array([(p["lat"], p["lon"]) for p in doc["points"]])
    walking = (np.arange(len(pts)) < 87) | (np.arange(len(pts)) > 87 + 18 + 119)
    rank, end = np.array(NAIROBI), pts[87 + 18 + 119]

    def metres(b):
        return np.hypot((pts[:, 0] - b[0]) * M_PER_DEG_LAT,
                        (pts[:, 1] - b[1]) * M_PER_DEG_LON_EQ * math.cos(math.radians(b[0])))

    return pts[walking & (metres(rank) > 150) & (metres(end) > 150)]


def published_points(out) -> np.ndarray:
    """Every coordinate in the published outputs: the feed's shapes and stops, and the GeoPackage's layers."""
    import pandas as pd
    import pyogrio
    import shapely

    with zipfile.ZipFile(out / "gtfs.zip") as z:
        shapes = pd.read_csv(io.BytesIO(z.read("shapes.txt")))
        stops = pd.read_csv(io.BytesIO(z.read("stops.txt")))
    pts = [shapes[["shape_pt_lat", "shape_pt_lon"]].to_numpy(), stops[["stop_lat", "stop_lon"]].to_numpy()]
    for layer, _ in pyogrio.list_layers(out / "network.gpkg"):
        geoms = pyogrio.read_dataframe(out / "network.gpkg", layer=layer).geometry.to_numpy()
        xy = shapely.get_coordinates(np.asarray(geoms, dtype=object))
        pts.append(xy[:, ::-1])
    return np.vstack(pts)


@pytest.mark.parametrize("board_mark", [False, True], ids=["unmarked", "board-and-alight-marked"])
def test_nothing_recorded_on_foot_is_published(tmp_path, board_mark):
    docs = [walk_ride(f"w{k}", board_mark=board_mark, hour=k) for k in range(3)]
    for k, d in enumerate(docs):
        write_json(tmp_path / "in" / f"ride{k}.json", d)
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["build", str(tmp_path / "in"), "--out", str(out), "--no-validate", "-q"])
    assert res.exit_code == 0, res.output
    assert (pd.read_csv(out / "traces.csv")["status"] == "used").sum() == 3
    walked = np.vstack([on_foot(d) for d in docs])
    assert len(walked) > 100
    published = published_points(out)
    lat0 = math.radians(NAIROBI[0])
    d = np.hypot((published[:, None, 0] - walked[None, :, 0]) * M_PER_DEG_LAT,
                 (published[:, None, 1] - walked[None, :, 1]) * M_PER_DEG_LON_EQ * math.cos(lat0))
    assert d.min() > 50, "a published point lies on the collector's walk"
    # and no text output (CSV, JSON, HTML, the feed's tables) holds a latitude of the walks (the route runs due
    # east: its latitudes are the rank's)
    lats = {f"{lat:.4f}".encode() for lat in walked[:, 0]}
    for path, blob in output_blobs(out, (".csv", ".json", ".html", ".zip")):
        assert not [x for x in lats if x in blob], path.name
    # the route itself is there: 5 km east of the rank
    assert published[:, 1].max() - NAIROBI[1] > 4_500 / (M_PER_DEG_LON_EQ * math.cos(lat0))


def test_no_output_file_names_a_collector(tmp_path):
    for k in range(3):
        write_json(tmp_path / "in" / f"ride{k}.json", walk_ride(f"w{k}", board_mark=False, hour=k))
    out = tmp_path / "out"
    assert CliRunner().invoke(main,
                              ["build", str(tmp_path / "in"), "--out", str(out), "--no-validate", "-q"]).exit_code == 0
    assert len([p for p in out.rglob("*") if p.is_file()]) >= 12
    for path, blob in output_blobs(out):
        for needle in (COLLECTOR.encode(), b"wanjiru", b"kamau"):
            assert needle not in blob.lower(), (path.name, needle)


def test_pseudonyms_are_keyed_by_a_machine_key_kept_away_from_the_output(tmp_path, monkeypatch):
    import os
    from pathlib import Path

    import pandas as pd

    from transitmap.privacy import pseudonym_key_file

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("TRANSITMAP_PSEUDONYM_KEY", raising=False)
    for k in range(3):
        write_json(tmp_path / "in" / f"ride{k}.json", walk_ride(f"w{k}", board_mark=False, hour=k))

    def pseudonyms(out: str) -> set[str]:
        assert CliRunner().invoke(main, ["build", str(tmp_path / "in"), "--out", str(tmp_path / out), "--no-validate",
                                         "-q"]).exit_code == 0
        return set(pd.read_csv(tmp_path / out / "traces.csv", dtype=str)["collector"].dropna())

    first = pseudonyms("a")
    key = pseudonym_key_file()
    assert key.startswith(str(tmp_path / "config")) and oct(os.stat(key).st_mode & 0o777) == "0o600"
    assert len(Path(key).read_text().strip()) == 64
    assert pseudonyms("b") == first and len(first) == 1  # the same key: the same pseudonym, build after build
    monkeypatch.setenv("TRANSITMAP_PSEUDONYM_KEY", "the survey's own secret")
    assert pseudonyms("c") != first
    secret = b"the survey's own secret"
    assert all(secret not in p.read_bytes() for p in (tmp_path / "c").rglob("*") if p.is_file())

"""Recordings as collectors really upload them: passengers' marks all along, notes in local notations,
withdrawn currencies, Arabic-Indic digits, zip names in UTF-8 without the flag, names and collectors in paths,
waypoint templates, modes."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from builders import EAT, NAIROBI, START, moved, osmtracker_gpx, output_blobs, ride, stop_at, write_json

from transitmap.assemble import route_names
from transitmap.config import BuildConfig
from transitmap.names import NamingConfig, mark_templates, route_type
from transitmap.pipeline import build_network, validate_inputs

ARABIC = "٠١٢٣٤٥٦٧٨٩"


def tables(feed: bytes) -> dict[str, pd.DataFrame]:
    with zipfile.ZipFile(io.BytesIO(feed)) as z:
        return {n: pd.read_csv(z.open(n), dtype=str, keep_default_na=False) for n in z.namelist()}


def notices_of(container, code: str) -> list[dict]:
    """The stored notices of one code, as the report holds them."""
    return next((e["sample_notices"] for e in container.to_list() if e["code"] == code), [])


def ledger(result) -> pd.DataFrame:
    return pd.DataFrame(result.ledger_rows)


def at(k: int, hour: int = 7) -> datetime:
    """A distinct start for the k-th ride (no two rides are one recording)."""
    return datetime(2026, 3, 2, hour, 0, tzinfo=EAT) + timedelta(days=k // 4, minutes=37 * (k % 4))


def east(k: int, **kw) -> dict:  # a route 5 km east from the centre, and back
    return ride(trace_id=f"e{k}", t0=at(k), collector_id=None, **kw)


def west(k: int, **kw) -> dict:
    end = moved({"lat": NAIROBI[0], "lon": NAIROBI[1]}, east_m=30 / 3.6 * 5 * 119)
    return ride(trace_id=f"w{k}", t0=at(k, 9), collector_id=None, start=(end["lat"], end["lon"]), heading_deg=270, **kw)


def north(k: int, **kw) -> dict:  # another route, 5 km north
    return ride(trace_id=f"n{k}", t0=at(k, 11), collector_id=None, heading_deg=0, **kw)


def gpx(path: Path, trace: dict, waypoints=(), **kw) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(osmtracker_gpx(trace, list(waypoints), **kw))


# ---------------------------------------------------------------------------------------------- stop kinds


def test_passengers_boarding_and_alighting_all_along_do_not_cut_the_ride(tmp_path):
    """A stop's kind is what passengers did there: the last `board` mark near the end is not where the
    collector boarded."""
    doc = ride()
    doc["stops"] = [stop_at(doc, i, kind) for i, kind in ((10, "board"), (30, "alight"), (50, "board"),
                                                           (80, "alight"), (110, "board"), (115, "alight"))]
    write_json(tmp_path / "a.json", doc)
    result = build_network([tmp_path])
    [row] = result.ledger_rows
    assert row.status == "used", row
    shape = tables(result.feed)["shapes.txt"]
    assert float(shape.shape_dist_traveled.astype(float).max()) > 4500  # the whole 5 km, not 110..115


# ---------------------------------------------------------------------------------------------- currencies


def test_a_withdrawn_currency_is_kept_with_a_warning_and_converted_for_its_successor(tmp_path):
    doc = ride(fares=[{"amount": 2000, "currency": "SLL"}])
    write_json(tmp_path / "a.json", doc)
    run = validate_inputs([tmp_path])
    [notice] = notices_of(run.notices, "withdrawn_currency")
    assert (notice["currency"], notice["successor"], notice["old_per_new"]) == ("SLL", "SLE", 1000.0)
    assert run.ledger[0].status.value == "accepted"
    kept = tables(build_network([tmp_path]).feed)["fare_attributes.txt"]
    assert kept[["price", "currency_type"]].values.tolist() == [["2000.00", "SLL"]]
    converted = tables(build_network([tmp_path], BuildConfig(currency="SLE")).feed)["fare_attributes.txt"]
    assert converted[["price", "currency_type"]].values.tolist() == [["2.00", "SLE"]]


def test_a_fare_note_without_currency_takes_the_surveys(tmp_path):
    trace = ride(trace_id="t1")
    gpx(tmp_path / "a.gpx", trace, [(60, "2k")])
    fare = tables(build_network([tmp_path], BuildConfig(currency="UGX")).feed)["fare_attributes.txt"]
    assert fare[["price", "currency_type"]].values.tolist() == [["2000.00", "UGX"]]
    result = build_network([tmp_path])
    assert "fare_attributes.txt" not in tables(result.feed) or tables(result.feed)["fare_attributes.txt"].empty
    assert [n["amount"] for n in notices_of(result.run.notices, "fare_without_currency")] == [2000.0]


def test_notes_in_west_african_notation_become_fares_and_waits(tmp_path):
    trace = ride(start=(5.35, -4.02))  # Abidjan: the West African franc
    gpx(tmp_path / "a.gpx", trace, [(0, "Départ - 200F - 30min"), (60, "Terminus 40"), (119, "Rue 12")])
    [res] = [c for c in validate_inputs([tmp_path], keep_traces=True).checks]
    tr = res.trace
    assert [(f.amount, f.currency) for f in tr.fares] == [(200.0, "XOF")]
    assert [s.wait_s for s in tr.stops] == [1800.0, None, None]
    assert [s.name for s in tr.stops] == [None, "Terminus 40", "Rue 12"]


# ---------------------------------------------------------------------------------------------- digits, zip names


def test_times_in_arabic_indic_digits_are_read(tmp_path):
    gpx(tmp_path / "JBL_13.gpx", ride(), digits=ARABIC)
    run = validate_inputs([tmp_path], keep_traces=True)
    assert run.ledger[0].status.value == "accepted", [n.code() for n in run.notices]
    [check] = run.checks
    assert check.trace.n_points == 120
    assert check.trace.t_s[0] == START.timestamp()
    assert abs(check.trace.t_s[1] - check.trace.t_s[0] - 5.0) < 1e-9
    assert not {"invalid_time", "too_few_points"} & {e["code"] for e in run.notices.to_list()}


def test_zip_member_names_in_utf8_without_the_flag_are_read_as_utf8(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("tren_atlántico-alajuela/2546297.gpx")
        z.writestr(info, osmtracker_gpx(ride()))
    data = bytearray(buf.getvalue())
    # what many zip tools write: the UTF-8 bytes of the name, the UTF-8 flag (bit 11) not set
    for sig, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        k = data.find(sig)
        data[k + flag_at + 1] &= ~0x08 & 0xFF  # bit 11 of the little-endian flags
    (tmp_path / "survey.zip").write_bytes(bytes(data))
    with zipfile.ZipFile(tmp_path / "survey.zip") as z:
        assert z.namelist() != ["tren_atlántico-alajuela/2546297.gpx"]  # zipfile alone reads it as CP437
    run = validate_inputs([tmp_path])
    assert [r.file for r in run.ledger] == ["survey.zip!tren_atlántico-alajuela/2546297.gpx"]


# ---------------------------------------------------------------------------------------------- names from paths


def alajuela_like(root: Path) -> None:
    """Two bus lines in one folder per direction, collectors' first names in the file names, who rode both
    lines; single rides at the folder's top; a train on the road of one of the lines."""
    k = 0
    for who in ("fernando", "Joan", "jonathan"):
        for folder, make in (("bus_centro-este", east), ("bus_este-centro", west), ("bus_centro-norte", north)):
            for day in (4, 11):
                gpx(root / folder / "asistentes" / f"{who}_2017_09_{day:02d}.gpx", make(k),
                    [(30, "Parada de Bus tipo 1"), (60, "Parada de Bus tipo 1"), (90, "1")])
                k += 1
    gpx(root / "bus_centro-este" / "2489506.gpx", east(k))
    gpx(root / "tren_centro-norte" / "2546297.gpx", north(k + 1, speed_kph=45.0))


def test_names_from_folders_collectors_from_file_names_never_published(tmp_path):
    alajuela_like(tmp_path / "in")
    result = build_network([tmp_path / "in"])
    t = tables(result.feed)
    routes = t["routes.txt"].set_index("route_id")
    assert sorted(routes.route_long_name) == ["centro-este", "centro-norte", "centro-norte"]
    assert sorted(routes.route_type) == ["2", "3", "3"]  # the train is a train, and not one route with the bus
    rows = ledger(result)
    rows["folder"] = rows.file.str.split("/").str[0]
    per_folder = rows.groupby("folder")[["route_id", "direction_id"]].nunique()
    assert (per_folder == 1).all().all(), rows[["folder", "route_id", "direction_id"]]
    assert rows.groupby(["route_id", "direction_id"]).folder.nunique().max() == 1
    east_west = rows[rows.folder.isin(["bus_centro-este", "bus_este-centro"])]
    assert east_west.route_id.nunique() == 1 and east_west.direction_id.nunique() == 2
    # the collectors: read from the file names, pseudonymised in the ledger, one each; never in the feed
    named = rows[rows.file.str.contains("asistentes")]
    assert named.collector.str.fullmatch(r"c[0-9a-f]{10}").all() and named.collector.nunique() == 3
    assert "Parada" not in "".join(t["stops.txt"].stop_name) + "".join(t["trips.txt"].trip_headsign)
    out = tmp_path / "out"
    from click.testing import CliRunner

    from transitmap.cli import main

    assert CliRunner().invoke(main,
                              ["build", str(tmp_path / "in"), "--out", str(out), "--no-validate", "-q"]).exit_code == 0
    for path, blob in output_blobs(out):
        if path.name in ("traces.csv", "report.json"):  # the coordinator's own: they name the files
            continue
        for name in (b"fernando", b"joan", b"jonathan", b"Joan"):
            assert name not in blob.lower(), (path, name)


def test_a_route_number_with_an_underscore_keeps_it_beside_the_number_without(tmp_path):
    """17B and 17B_2 are two routes (Nairobi numbers them so): a file named by the convention keeps the "_2"."""
    gpx(tmp_path / "17B_2___A___KD___HP_2019-03-05_07-12.gpx", east(0))
    gpx(tmp_path / "17B___A___AB___HP_2019-03-05_09-12.gpx", north(1))
    for convention in (None, "{route}___{direction}___{collector}___{*}"):
        routes = tables(build_network([tmp_path], BuildConfig(path_names=convention)).feed)["routes.txt"]
        assert sorted(routes.route_short_name) == ["17B", "17B_2"], convention


def test_route_numbers_in_file_names_are_kept_with_their_prefix(tmp_path):
    gpx(tmp_path / "JBL_13.gpx", east(0))
    gpx(tmp_path / "JBL_25.gpx", north(1))
    far = (NAIROBI[0] - 0.05, NAIROBI[1])
    gpx(tmp_path / "omd_45_start.gpx", ride(trace_id="s", t0=at(2), start=far, heading_deg=90))
    back = moved({"lat": far[0], "lon": far[1]}, east_m=30 / 3.6 * 5 * 119)
    gpx(tmp_path / "omd_45_back.gpx", ride(trace_id="b", t0=at(3), start=(back["lat"], back["lon"]), heading_deg=270))
    result = build_network([tmp_path])
    routes = tables(result.feed)["routes.txt"]
    assert sorted(routes.route_short_name) == ["JBL 13", "JBL 25", "omd 45"]
    assert (routes.route_long_name == "").all()
    trips = tables(result.feed)["trips.txt"]
    omd = routes[routes.route_short_name == "omd 45"].route_id.item()
    assert sorted(trips[trips.route_id == omd].direction_id) == ["0", "1"]


def test_a_declared_path_convention_names_route_and_collector(tmp_path):
    convention = "{route}___{direction}___{collector}___{*}"
    for k, (line, make, who) in enumerate([("14", east, "KD"), ("14", west, "AB"), ("27", north, "KD")]):
        gpx(tmp_path / f"{line}___{'AB'[k % 2]}___{who}___HP_2019-03-0{k + 1}_07-12.gpx", make(k))
    gpx(tmp_path / "stray.gpx", north(9))
    result = build_network([tmp_path], BuildConfig(path_names=convention))
    routes = tables(result.feed)["routes.txt"]
    assert {"14", "27"} <= set(routes.route_short_name)
    feed_text = "".join(t.to_csv() for t in tables(result.feed).values())  # the tables, not the compressed zip
    assert "KD" not in feed_text and "AB" not in feed_text
    rows = ledger(result)
    assert rows[rows.file.str.startswith("14")].collector.nunique() == 2
    [mismatch] = notices_of(result.run.notices, "path_convention_mismatch")
    assert mismatch["file"] == "stray.gpx"


def test_mark_labels_used_all_over_the_survey_name_no_stop():
    import numpy as np

    from transitmap.model import Ride

    def r(stops):
        return Ride("t", "f", None, None, None, None, None, np.zeros(2), np.zeros(2), np.zeros(2), 0, 1, 0.0, 0.0,
                    tuple(stops), (), np.empty(0))

    template = [(0.0, 2000.0 * k, 0.0, "stop", "Parada de Bus tipo 1") for k in range(5)]
    rank = [(0.0, 10.0 * k, 5.0, "stop", "Bree Rank") for k in range(5)]
    counts = [(0.0, 2000.0 * k, 0.0, "stop", "3") for k in range(2)]
    assert mark_templates([r(template + rank + counts)], NamingConfig()) == {"parada de bus tipo 1", "3"}


def test_rides_of_different_modes_on_one_road_are_never_one_route(tmp_path):
    write_json(tmp_path / "bus.json", ride(trace_id="bus", mode="bus"))
    write_json(tmp_path / "train.json", ride(trace_id="train", mode="train", t0=at(1)))
    t = tables(build_network([tmp_path]).feed)
    assert sorted(t["routes.txt"].route_type) == ["2", "3"]


@pytest.mark.parametrize("name, first, last, expected", [
    ("45K Kawangware - Town", None, None, ("45K", "Kawangware - Town")),
    ("JBL 13", "Souq", "Jabra", ("JBL 13", "Souq - Jabra")),
    ("17B_2", None, None, ("17B_2", "")),
    ("16/62 Bus Station-Kayole", None, None, ("16/62", "Bus Station-Kayole")),  # a route beside 16, not 16
    ("16-62", None, None, ("16-62", "")),
    ("16 - Bus Station", None, None, ("16", "Bus Station")),
    ("19C2 Donholm-Komarocks", None, None, ("19C2", "Donholm-Komarocks")),
    ("3rd Avenue - Town", None, None, ("", "3rd Avenue - Town")),  # an ordinal is no route number
    ("alajuela-santabarbara", None, None, ("", "alajuela-santabarbara")),
    (None, "Bree Rank", "Soweto", ("", "Bree Rank - Soweto")),
    (None, None, "Soweto", ("R008", "")),  # never "R008 km 0.0 - Soweto"
])
def test_route_names(name, first, last, expected):
    assert route_names(name, first, last, "R008") == expected


def test_route_types_of_modes():
    assert [route_type(m) for m in ("minibus", "bus", "tren", "train", "ferry", "metro", None)] == [3, 3, 2, 2, 4, 1, 3]



def test_a_short_route_named_by_its_terminals_inside_a_longer_one_is_a_route_of_its_own(tmp_path):
    """Riders name routes by their terminals (no numbers): three rides of the short route, named alike in any
    case, order or spelling, lie along the long route's road but are not partial rides of it."""
    long_names = ["Centre to Far East", "centre - far east", "Centre to Far East"]
    short_names = ["Centre to Market", "centre - market", "CENTRE TO MARKET"]
    for k, name in enumerate(long_names):
        write_json(tmp_path / f"long{k}.json", ride(trace_id=f"long{k}", t0=at(k), route_name=name))
    for k, name in enumerate(short_names):
        write_json(tmp_path / f"short{k}.json", ride(trace_id=f"short{k}", t0=at(k + 4), n=60, route_name=name))
    result = build_network([tmp_path])
    rows = ledger(result).set_index("trace_id")
    assert rows.loc[[f"short{k}" for k in range(3)], "route_id"].nunique() == 1
    assert rows.loc["short0", "route_id"] != rows.loc["long0", "route_id"]
    assert (rows.loc[[f"short{k}" for k in range(3)], "ride"] == "full").all()
    assert sorted(tables(result.feed)["routes.txt"].route_long_name) == ["Centre to Far East", "Centre to Market"]


def test_a_route_numbered_16_62_is_not_route_16_on_the_same_road(tmp_path):
    """Nairobi's 16 and 16/62 leave from one stage along one road: the slash joins two numbers into one."""
    for k in range(2):
        write_json(tmp_path / f"a{k}.json", east(k, route_name="16 Bus Station-Kayole"))
        write_json(tmp_path / f"b{k}.json", east(k + 2, route_name="16/62 Bus Station-Kayole"))
    routes = tables(build_network([tmp_path]).feed)["routes.txt"]
    assert sorted(routes.route_short_name) == ["16", "16/62"]


def test_a_route_number_names_the_pattern_and_keeps_other_numbers_from_pairing_with_it(tmp_path):
    """One rider names the route "33C ...", another only its terminals: the pattern is 33C, and the rides the
    other way, all named 33B, are another route (not the other direction of "Commercial to Cabanas")."""
    write_json(tmp_path / "a.json", east(0, route_name="33C Commercial-Cabanas"))
    write_json(tmp_path / "b.json", east(1, route_name="Commercial to Cabanas"))
    for k in range(2):
        write_json(tmp_path / f"w{k}.json", west(k, route_name="33B Commercial-Cabanas"))
    result = build_network([tmp_path])
    routes = tables(result.feed)["routes.txt"].set_index("route_short_name")
    assert sorted(routes.index) == ["33B", "33C"]
    rows = ledger(result).set_index("trace_id")
    assert rows.loc["e0", "route_id"] == rows.loc["e1", "route_id"] == routes.loc["33C", "route_id"]


def test_a_route_fare_comes_from_rides_of_the_whole_route_not_a_direction_ridden_in_part(tmp_path):
    """Route 42 was ridden end to end one way (fare 10); the other way only its first half was ridden, twice,
    for 7: those are fares of part of the route."""
    write_json(tmp_path / "e.json", east(0, route_name="42 Town-Kayole", fares=[{"amount": 10, "currency": "KES"}]))
    for k in range(2):
        write_json(tmp_path / f"w{k}.json", west(k, n=50, route_name="42", fares=[{"amount": 7, "currency": "KES"}]))
    t = tables(build_network([tmp_path]).feed)
    assert len(t["routes.txt"]) == 1
    route_id = t["routes.txt"].route_id[0]
    fares = t["fare_attributes.txt"].set_index("fare_id")
    assert fares.loc[route_id, "price"] == "10.00"


def test_a_route_number_with_a_digit_after_its_letter_is_one_number(tmp_path):
    """Nairobi's 19C2: a rider writes the number and the terminals, a file name only the number."""
    write_json(tmp_path / "a.json", east(0, route_name="19C2 Donholm-Komarocks"))
    gpx(tmp_path / "19C2___A___k1___HP_2026-03-03_07-43-00.gpx", east(1))
    result = build_network([tmp_path])
    assert ledger(result).route_id.nunique() == 1
    assert tables(result.feed)["routes.txt"].route_short_name.tolist() == ["19C2"]


def test_two_numbers_of_a_route_in_a_file_name_are_not_a_time(tmp_path):
    """Nairobi's 29/30 written in a file name as 29-30 (no hour 29); 16-62 (no minute 62) likewise."""
    gpx(tmp_path / "29-30___B___k1___HP_2026-03-03_16-12-00.gpx", east(0))
    gpx(tmp_path / "16-62___A___k2___HP_2026-03-03_15-39-00.gpx", north(1))
    routes = tables(build_network([tmp_path]).feed)["routes.txt"]
    assert sorted(routes.route_short_name) == ["16-62", "29-30"]
    assert (routes.route_long_name == "").all()  # never "k1": on one ride, a word may be its collector's


def test_words_of_one_file_name_name_no_route_words_of_several_on_one_path_do(tmp_path):
    gpx(tmp_path / "fernando.gpx", north(0))  # one ride: its collector's name, or a route's? never published
    for k in range(2):
        gpx(tmp_path / f"45K_Kayole-Town_{k + 1}.gpx", east(k + 1))
    routes = tables(build_network([tmp_path]).feed)["routes.txt"]
    assert "fernando" not in routes.to_csv().lower()
    assert ["45K", "Kayole-Town"] in routes[["route_short_name", "route_long_name"]].values.tolist()

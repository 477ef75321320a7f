"""Properties that must hold for any input: importers never raise, every trace is accounted for, and the
outcome does not depend on the order of the inputs."""

from __future__ import annotations

import dataclasses
import io
import os
import pickle
from datetime import timedelta

import msgspec
import numpy as np
import pytest
from builders import START, ride
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transitmap.geo import along
from transitmap.match import along_all
from transitmap.model import STOP_KINDS, Fare, Stop
from transitmap.pipeline import validate_inputs
from transitmap.read import InputFile, read_file
from transitmap.report import to_json
from transitmap.validate import check_trace

# TRANSITMAP_FUZZ_EXAMPLES=10000 python -m pytest tests/test_properties.py  runs the long fuzz
EXAMPLES = int(os.environ.get("TRANSITMAP_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


IMPORTERS = ["a.json", "a.jsonl", "a.gpx", "points.csv", "a.zip", "a.json.gz", "a.jsonl.gz", "a.gpx.gz"]


@pytest.mark.parametrize("name", IMPORTERS)
@FUZZ
@given(data=st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(data, name):
    results = read_file(InputFile(name, lambda: io.BytesIO(data)))
    assert results
    for r in results:
        assert all(n.code() != "system_error" for n in r.notices), r.notices
        if r.trace is not None:
            check_trace(r.trace)


json_values = st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers()
                           | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=20)


@FUZZ
@given(st.dictionaries(st.sampled_from(["schema_version", "trace_id", "collector_id", "route_name", "points", "stops",
                                        "fares", "departures", "mode"]), json_values, max_size=9),
       st.lists(st.dictionaries(st.sampled_from(["time", "lat", "lon", "accuracy", "speed"]), json_values), max_size=5))
def test_arbitrary_json_documents_never_raise(doc, points):
    if points:
        doc = {**doc, "points": points}
    data = msgspec.json.encode(doc)
    for r in read_file(InputFile("a.json", lambda: io.BytesIO(data))):
        assert all(n.code() != "system_error" for n in r.notices), r.notices
        if r.trace is not None:
            check_trace(r.trace)


@st.composite
def noisy_rides(draw):
    """Structurally valid rides with faults: spikes, duplicated and reordered fixes, nulls, far points."""
    n = draw(st.integers(2, 80))
    doc = ride(trace_id=draw(st.sampled_from(["a", "b", "c"])), n=n, dt_s=draw(st.sampled_from([1.0, 5.0, 10.0])),
               heading_deg=draw(st.floats(0, 360)), speed_kph=draw(st.floats(0, 140)),
               t0=START + timedelta(minutes=draw(st.integers(0, 600))))
    pts = doc["points"]
    for _ in range(draw(st.integers(0, 5))):
        i = draw(st.integers(0, n - 1))
        fault = draw(st.sampled_from(["spike", "dup", "swap_time", "zero", "far", "drop_time"]))
        if fault == "spike":
            pts[i]["lat"] += draw(st.floats(-0.01, 0.01))
        elif fault == "dup":
            pts.insert(i, dict(pts[i]))
        elif fault == "swap_time" and i + 1 < len(pts):
            pts[i]["time"], pts[i + 1]["time"] = pts[i + 1]["time"], pts[i]["time"]
        elif fault == "zero":
            pts[i].update(lat=0.0, lon=0.0)
        elif fault == "far":
            pts[i]["lat"] = 89.9
        elif fault == "drop_time":
            pts[i]["time"] = None
    return doc


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(noisy_rides(), min_size=1, max_size=6), st.randoms(use_true_random=False))
def test_every_trace_is_accounted_for_and_order_does_not_matter(tmp_path_factory, rides, rnd):
    folder = tmp_path_factory.mktemp("survey")
    for k, doc in enumerate(rides):
        (folder / f"r{k}.json").write_bytes(msgspec.json.encode(doc))
    run = validate_inputs([folder])
    s = run.summary()
    assert s["accepted"] + s["quarantined"] + s["duplicate"] == len(rides) == len(run.ledger)
    for row in run.ledger:
        assert row.points_kept <= row.points
    paths = [folder / f"r{k}.json" for k in range(len(rides))]
    rnd.shuffle(paths)
    assert to_json(validate_inputs(paths).to_report("x")) == to_json(validate_inputs([folder]).to_report("x"))


def _render(doc: dict, fmt: str) -> tuple[str, bytes]:
    """A ride written in one of the importers' formats (some of its faults may make it unreadable there)."""
    import gzip
    import zipfile

    pts = doc["points"]
    if fmt == "json":
        return "a.json", msgspec.json.encode(doc)
    if fmt == "jsonl":
        return "a.jsonl", msgspec.json.encode(doc) + b"\n"
    if fmt == "gpx":
        trkpts = "".join(f'<trkpt lat="{p["lat"]}" lon="{p["lon"]}"><time>{p["time"] or ""}</time></trkpt>' for p
                         in pts)
        return "a.gpx", (f'<?xml version="1.0"?><gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1">'
                         f'<trk><name>{doc["trace_id"]}</name><trkseg>{trkpts}</trkseg></trk></gpx>').encode()
    if fmt == "csv":
        rows = ["trace_id,time,lat,lon"] + [f'{doc["trace_id"]},{p["time"] or ""},{p["lat"]},{p["lon"]}' for p in pts]
        return "points.csv", ("\n".join(rows) + "\n").encode()
    if fmt == "json.gz":
        return "a.json.gz", gzip.compress(msgspec.json.encode(doc), mtime=0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("ride/a.json", msgspec.json.encode(doc))
    return "a.zip", buf.getvalue()


@pytest.mark.parametrize("fmt", ["json", "jsonl", "gpx", "csv", "json.gz", "zip"])
@FUZZ
@given(rides=st.lists(noisy_rides(), min_size=1, max_size=3))
def test_structurally_valid_traces_in_every_format_are_accounted_for(tmp_path_factory, rides, fmt):
    """Arbitrary rides with faults, in each importer's format: never an unhandled error, and accepted +
    quarantined + duplicate = the traces given (a file that yields none is one quarantined row)."""
    folder = tmp_path_factory.mktemp("fmt")
    for k, doc in enumerate(rides):
        name, data = _render(doc, fmt)
        (folder / f"r{k}" / name).parent.mkdir()
        (folder / f"r{k}" / name).write_bytes(data)
    run = validate_inputs([folder])
    s = run.summary()
    assert "system_error" not in run.notices.counts, run.notices.to_list()
    assert s["accepted"] + s["quarantined"] + s["duplicate"] == len(run.ledger) == len(rides)


@settings(max_examples=max(60, EXAMPLES // 3), deadline=None)
@given(noisy_rides())
def test_kept_points_are_in_time_order_and_within_range(doc):
    from transitmap.read import trace_from_dict

    res = trace_from_dict(doc, "a.json")
    if res.trace is None:
        return
    c = check_trace(res.trace)
    t = c.trace.t_s[c.keep]
    assert (np.diff(t) > 0).all()
    assert (np.abs(c.trace.lat[c.keep]) <= 90).all() and (np.abs(c.trace.lon[c.keep]) <= 180).all()
    if c.usable:
        assert c.keep.sum() >= 2


@settings(max_examples=200, deadline=None)
@given(zone=st.sampled_from(["Africa/Johannesburg", "Africa/Nairobi", "Europe/London", "America/New_York",
                             "Australia/Lord_Howe", "UTC"]),
       start=st.floats(1.6e9, 1.8e9), spans=st.lists(st.floats(0, 70 * 86400), min_size=1, max_size=20))
def test_local_seconds_equal_pandas_time_zone_conversion(zone, start, spans):
    """The numpy path of ``local_seconds`` (one UTC offset throughout) gives what pandas' conversion gives,
    across daylight-saving changes too."""
    from zoneinfo import ZoneInfo

    import pandas as pd

    from transitmap.timing import local_seconds

    t = start + np.sort(np.array(spans))
    day, sec = local_seconds(t, zone)
    idx = pd.to_datetime(t, unit="s", utc=True).tz_convert(ZoneInfo(zone))
    assert list(day) == list(idx.strftime("%Y-%m-%d"))
    assert np.allclose(sec, (idx - idx.normalize()).total_seconds(), rtol=0, atol=1e-3)


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.tuples(st.floats(1, 30), st.floats(0, 6.3)), min_size=1, max_size=80),
       tolerance=st.sampled_from([0.5, 1.0, 5.0]))
def test_a_simplified_shape_keeps_its_ends_and_leaves_out_only_vertices_near_it(steps, tolerance):
    """``geo.simplified``: increasing indices of original vertices, both ends kept, and every vertex left out
    within the tolerance of the line through those kept (steps of 1-30 m in any direction, as a path's)."""
    import shapely

    from transitmap.geo import simplified

    length, angle = np.array(steps).T
    xy = np.cumsum(np.vstack([[0.0, 0.0], np.column_stack([length * np.cos(angle), length * np.sin(angle)])]), axis=0)
    keep = simplified(xy, tolerance)
    assert keep[0] == 0 and keep[-1] == len(xy) - 1 and (np.diff(keep) > 0).all()
    line = shapely.linestrings(xy[keep]) if len(keep) > 1 else shapely.points(xy[0])
    assert (shapely.distance(shapely.points(xy), line) <= tolerance + 1e-6).all()


@settings(max_examples=200, deadline=None)
@given(rows=st.integers(1, 8), cols=st.integers(0, 12), seed=st.integers(0, 2**31))
def test_nan_median_is_numpy_nanmedian_column_by_column(rows, cols, seed):
    import warnings

    from transitmap.timing import nan_median

    rng = np.random.default_rng(seed)
    values = rng.uniform(0, 600, (rows, cols)).round(rng.integers(0, 3))  # ties too
    values[rng.uniform(size=values.shape) < 0.4] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column of NaN only
        expected = np.array([np.nanmedian(c) for c in values.T]) if cols else np.empty(0)
    np.testing.assert_array_equal(nan_median(values), expected)


_FIELDS = {
    "int": st.integers(-2**63, 2**63 - 1),
    "float": st.one_of(st.floats(allow_nan=False), st.sampled_from([0.0, -0.0, 1e-5, 1e-4, 1e16, 123456.7, -1.283456])),
    "float_nan": st.one_of(st.floats(), st.just(float("nan"))),
    "text": st.text(st.sampled_from(list('ab ,"\n\r;é0')), max_size=6),
    "plain": st.text(st.sampled_from(list("Rab_0 -é")), max_size=6),
    "mixed": st.one_of(st.none(), st.integers(0, 9), st.text(max_size=3)),
}


@settings(max_examples=max(300, EXAMPLES), deadline=None)
@given(kinds=st.lists(st.sampled_from(sorted(_FIELDS)), min_size=1, max_size=5), rows=st.integers(0, 6),
       data=st.data(), header=st.booleans())
def test_fast_csv_text_is_what_pandas_writes(kinds, rows, data, header):
    import pandas as pd

    from transitmap.gtfs import csv_text

    columns = {f"c{k}_{kind}": data.draw(st.lists(_FIELDS[kind], min_size=rows, max_size=rows))
               for k, kind in enumerate(kinds)}
    df = pd.DataFrame(columns)
    for name, kind in zip(columns, kinds):
        if kind.startswith("float"):
            df[name] = df[name].astype(float)
    assert csv_text(df, header=header) == df.to_csv(index=False, header=header, lineterminator="\n")


def test_fast_csv_text_writes_numbers_and_plain_strings_itself(monkeypatch):
    import pandas as pd

    from transitmap.gtfs import csv_text

    df = pd.DataFrame({"shape_id": ["R1_0", "R1_0"], "shape_pt_lat": [-1.283456, 1e-05],
                       "shape_pt_sequence": [1, 2], "shape_dist_traveled": [0.0, 12345.6]})
    expected = df.to_csv(index=False, lineterminator="\n")
    monkeypatch.setattr(pd.DataFrame, "to_csv", lambda *a, **k: pytest.fail("went through pandas"))
    assert csv_text(df) == expected == ("shape_id,shape_pt_lat,shape_pt_sequence,shape_dist_traveled\n"
                                        "R1_0,-1.283456,1,0.0\nR1_0,1e-05,2,12345.6\n")


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 12), corridor=st.sampled_from([30.0, 50.0, 75.0]),
       every=st.sampled_from([2, 8, 16]))
def test_probe_pairs_are_those_whose_probes_lie_near(seed, n, corridor, every):
    """``match._probe_pairs`` (coarse KD-tree, then each candidate checked) gives exactly the pairs of the
    definition: at least half of a's probe points within the corridor of a vertex of b; and the way a's probes
    go along b. Paths here wander and are spaced irregularly (as median geometries are), some along each other,
    some the other way."""
    from scipy.spatial.distance import cdist

    from transitmap.geo import Path
    from transitmap.match import _probe_pairs, _probes

    rng = np.random.default_rng(seed)
    base = np.cumsum(rng.normal(0, 12, (rng.integers(2, 200), 2)) + [8.0, 3.0], axis=0)
    paths = []
    for _ in range(n):
        if rng.random() < 0.6:  # along the base, shifted and jittered, from a random part of it
            lo = int(rng.integers(0, max(len(base) - 1, 1)))
            xy = base[lo:] + rng.normal(0, 15, 2) + rng.normal(0, 5, (len(base) - lo, 2))
            xy = xy[::-1] if rng.random() < 0.3 else xy
        else:
            xy = np.cumsum(rng.normal(0, 20, (rng.integers(1, 120), 2)), axis=0) + rng.normal(0, 300, 2)
        paths.append(Path(np.asarray(xy, float).reshape(-1, 2)))
    a, b, way = _probe_pairs(paths, corridor, every)
    want = sorted((i, j) for i in range(n) for j in range(n) if i != j and len(_probes(paths[i]))
                  and (cdist(_probes(paths[i]), paths[j].xy).min(axis=1) <= corridor).mean() >= 0.5)
    assert sorted(zip(a.tolist(), b.tolist())) == want

    def way_of(i, j):  # a's near probes, in order: their nearest vertices of b only advance (+1), only go back (-1)
        d = cdist(_probes(paths[i]), paths[j].xy)
        steps = np.diff(d.argmin(axis=1)[d.min(axis=1) <= corridor])
        ahead, back = int((steps > 0).sum()), int((steps < 0).sum())
        return 1 if ahead >= 2 and back == 0 else -1 if back >= 2 and ahead == 0 else 0

    assert way.tolist() == [way_of(i, j) for i, j in zip(a.tolist(), b.tolist())]


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**31), gaps=st.booleans())
def test_turns_off_is_decided_by_where_a_path_is_first_and_last_on_the_other(seed, gaps):
    """``match._turns_off`` tests a path's ends first and answers from them where it can: the same answer as its
    definition over every vertex, for paths that share a road and part for their own ends, one inside the other,
    or that cross signal gaps."""
    from transitmap.geo import Path
    from transitmap.match import MatchConfig, _turns_off

    config = MatchConfig()
    rng = np.random.default_rng(seed)
    step = config.dense_step_m

    def road(n, start, heading):
        turns = np.cumsum(rng.normal(0, 0.05, n))
        return start + np.cumsum(step * np.column_stack([np.cos(heading + turns), np.sin(heading + turns)]), axis=0)

    shared = road(int(rng.integers(5, 200)), np.zeros(2), 0.0)
    leaves = int(rng.integers(len(shared) // 4, 3 * len(shared) // 4 + 2))  # where a leaves the road (b goes on)
    a = shared[int(rng.integers(0, max(leaves // 2, 1))) : max(leaves, 2)]
    b = shared[: len(shared) - int(rng.integers(0, len(shared) // 4 + 1))]
    if rng.random() < 0.6:  # a goes on to its own terminal
        a = np.vstack([a, road(int(rng.integers(1, 120)), a[-1], float(rng.uniform(0.8, 2.5)))])
    if rng.random() < 0.4:  # a comes from elsewhere
        a = np.vstack([road(int(rng.integers(1, 120)), a[0], float(rng.uniform(2.0, 4.0)))[::-1], a])
    a = a + rng.normal(0, 8, a.shape)
    known = rng.random(len(a)) > 0.2 if gaps else None
    pa, pb = Path(a, known=known), Path(b)

    def by_definition():
        off = pb.nearest(pa.xy, 2 * config.corridor_m)[1] > 2 * config.corridor_m
        if pa.known is not None:
            off &= pa.known
        if not off.any() or off.all():
            return False
        on = np.flatnonzero(~off)
        k_b = pb.nearest(pa.xy[[on[0], on[-1]]])[0]
        tail = off[on[-1] + 1:].sum() * step >= config.terminal_radius_m
        head = off[: on[0]].sum() * step >= config.terminal_radius_m
        return bool((tail and pb.length - pb.cum[k_b[1]] >= config.terminal_radius_m)
                    or (head and pb.cum[k_b[0]] >= config.terminal_radius_m))

    assert _turns_off(pa, pb, config) == by_definition()


def test_probe_pairs_in_workers_are_the_same():
    """``_probe_pairs`` with its candidates checked in two forked workers: the same pairs and ways."""
    from transitmap.geo import Path
    from transitmap.match import _probe_pairs

    rng = np.random.default_rng(7)
    base = np.cumsum(rng.normal(0, 12, (300, 2)) + [8.0, 3.0], axis=0)
    paths = [Path(base[lo:] + rng.normal(0, 10, (len(base) - lo, 2))) for lo in rng.integers(0, 250, 40)]
    paths += [Path(p.xy[::-1]) for p in paths[:10]]
    one = _probe_pairs(paths, 50.0)
    two = _probe_pairs(paths, 50.0, workers=2)
    assert len(one[0]) > 100
    assert all(np.array_equal(x, y) for x, y in zip(one, two))


def test_groups_asks_only_about_pairs_not_yet_joined():
    from transitmap.geo import groups

    asked = []

    def linked(i, j):
        asked.append((i, j))
        return (i, j) != (3, 4)

    pairs = [(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5)]
    assert groups(6, pairs, linked) == [[0, 1, 2], [3, 4, 5]] == groups(6, [p for p in pairs if p != (3, 4)])
    assert asked == [(0, 1), (1, 2), (3, 4), (4, 5), (3, 5)]  # (0, 2) was joined through 1 already


@pytest.mark.parametrize("ys, expected", [([0.0, 2.0, 10.0], 2.0), ([0.0, 2.0, 4.0, 10.0], 3.0),
                                          ([5.0, -1.0, 5.0, -1.0, 30.0], 5.0)])
def test_median_geometry_takes_the_median_offset_of_the_rides(ys, expected):
    """Parallel rides along a straight road: the pattern runs at the median of their offsets (the middle
    one, or the mean of the two middle ones), whichever ride is the reference."""
    from transitmap.geo import Path
    from transitmap.match import MatchConfig, _median_geometry

    paths = [Path(along(np.array([[0.0, y], [1000.0, y]]), 10.0)) for y in ys]
    xy = _median_geometry(paths, MatchConfig())
    assert np.allclose(xy[:, 1], expected, atol=1e-6)
    assert np.allclose(xy[:, 0], np.arange(0.0, 1001.0, 10.0))


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 300), groups=st.integers(1, 40))
def test_group_stats_are_the_least_median_and_greatest_of_each_group(seed, n, groups):
    import pandas as pd

    from transitmap.geo import group_stats

    rng = np.random.default_rng(seed)
    keys, values = rng.integers(0, groups, n), np.round(rng.normal(0, 10, n), int(rng.integers(0, 4)))
    at, least, median, most = group_stats(keys, values)
    want = pd.Series(values).groupby(keys).agg(["min", "median", "max"])
    assert at.tolist() == want.index.tolist()
    assert least.tolist() == want["min"].tolist() and most.tolist() == want["max"].tolist()
    assert median.tolist() == want["median"].tolist()


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.integers(-2**62, 2**62), max_size=300), shape=st.sampled_from(["flat", "column"]))
def test_distinct_is_numpys_unique(values, shape):
    from transitmap.geo import distinct

    a = np.array(values, dtype=np.int64)
    a = a.reshape(-1, 1) if shape == "column" else a
    got = distinct(a)
    assert got.dtype == np.int64 and got.tolist() == np.unique(a).tolist()


_OPT_FLOAT = st.none() | st.floats(allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(stop=st.builds(Stop, st.floats(), st.floats(), st.floats(), st.sampled_from(STOP_KINDS), st.none() | st.text(),
                      st.none() | st.integers(0, 99), st.none() | st.integers(0, 99), _OPT_FLOAT, st.none()
                      | st.text()),
       fare=st.builds(Fare, st.floats(0, 1e6), st.text(max_size=3), st.none() | st.integers(0, 50),
                      st.none() | st.integers(0, 50)))
def test_stops_and_fares_come_back_from_a_worker_process_unchanged(stop, fare):
    """Stops and fares cross to the calling process pickled as constructor calls (``model._pickled_as_call``)."""
    for value in (stop, fare):
        assert value.__reduce__() == (type(value), tuple(getattr(value, f.name) for f in dataclasses.fields(value)))
        back = pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        assert type(back) is type(value) and repr(back) == repr(value)
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(back, dataclasses.fields(back)[0].name, 0.0)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**31), sizes=st.lists(st.integers(0, 40), min_size=1, max_size=8),
       step=st.sampled_from([5.0, 37.0, 127.5]))
def test_points_along_many_lines_are_those_along_each(seed, sizes, step):
    rng = np.random.default_rng(seed)
    lines = [np.cumsum(rng.normal(0, 60, (n, 2)), axis=0) * (rng.random() > 0.1) for n in sizes]  # some stand still
    points, line = along_all(lines, step)
    for k, xy in enumerate(lines):
        expected = along(xy, step) if len(xy) > 1 else xy
        assert points[line == k] == pytest.approx(expected, abs=1e-6)
    assert (np.diff(line) >= 0).all()


@given(st.lists(st.integers(-3 * 3600, 120 * 3600), max_size=200))
def test_gtfs_times_write_each_time_as_gtfs_time_does(seconds):
    """The vectorised HH:MM:SS of many times, for times of the service day, after midnight (24:xx and on),
    past 99 hours and before midnight of the day before: one string each, as ``gtfs_time`` writes it."""
    from transitmap.gtfs import gtfs_time, gtfs_times

    out = gtfs_times(np.array(seconds, np.int64))
    assert out.dtype == object and list(out) == [gtfs_time(s) for s in seconds]


def _judged_one_by_one(s_m, spans, ride, marked, loose, dwell, named, length, n_rides, n_full, marking, config):
    """``stops._judged_spans`` as it was written before, span by span: the reference."""
    kept, s_med, terminal = [], [], []
    needed = max(3, config.kept_share * n_rides) if marking else max(2, config.min_share * n_rides)
    for g, (lo, hi) in enumerate(spans):
        group = np.arange(lo, hi)
        where = group[(marked | dwell)[group]] if (marked | dwell)[group].any() else group
        med = float(np.median(s_m[where]))
        mark_rides = np.unique(ride[group][marked[group]])
        if len(np.unique(ride[group][loose[group] | marked[group]])) >= 2:
            mark_rides = np.unique(ride[group][loose[group] | marked[group]])
        dwell_rides = np.unique(ride[group][dwell[group]])
        term = med <= config.cluster_gap_m or med >= length - config.cluster_gap_m
        weak = (len(mark_rides) == 1 and n_full >= config.weak_mark_rides and not named[group].any()
                and not len(np.setdiff1d(dwell_rides, mark_rides)))
        if (len(mark_rides) and not weak) or term or len(dwell_rides) >= needed:
            kept.append(g)
        s_med.append(med)
        terminal.append(term)
    return kept, s_med, terminal


@FUZZ
@given(data=st.data())
def test_stop_evidence_judged_all_at_once_as_span_by_span(data):
    """Which spans of a pattern's evidence are stops, where and whether at a terminal: the same, to the bit, as
    judging the spans one at a time, for any evidence (kinds, rides, names, even and odd counts)."""
    from transitmap.stops import StopConfig, _judged_spans

    n = data.draw(st.integers(1, 40))
    s_m = np.sort(np.array(data.draw(st.lists(st.floats(0, 2000, allow_nan=False), min_size=n, max_size=n))))
    cuts = sorted(set(data.draw(st.lists(st.integers(1, n - 1), max_size=8)) if n > 1 else []))
    bounds = [0, *cuts, n]
    spans = np.array(list(zip(bounds[:-1], bounds[1:])), np.int64)
    ride = np.array(data.draw(st.lists(st.sampled_from([3, 7, 8, 20, 41]), min_size=n, max_size=n)))
    kind = np.array(data.draw(st.lists(st.sampled_from(["mark", "loose", "dwell", "end"]), min_size=n, max_size=n)))
    named = np.array(data.draw(st.lists(st.sampled_from([False] * 6 + [True]), min_size=n, max_size=n)))
    marked, loose, dwell = kind == "mark", kind == "loose", kind == "dwell"
    args = (s_m, spans, ride, marked, loose, dwell, named, 2000.0, data.draw(st.integers(1, 12)),
            data.draw(st.integers(0, 6)), data.draw(st.booleans()), StopConfig())
    kept, s_med, terminal = _judged_spans(*args)
    want_kept, want_s_med, want_terminal = _judged_one_by_one(*args)
    assert kept.tolist() == want_kept
    assert s_med.tolist() == want_s_med and terminal.tolist() == want_terminal


class _Moving:
    def __init__(self, xy):
        self.moving_xy = xy


@FUZZ
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 12), chunk=st.sampled_from([1, 3, 500]))
def test_regions_keep_apart_only_rides_that_never_come_near(seed, n, chunk):
    """``network.regions``: rides of two regions never come within twice the terminal radius of each other, and
    the regions are those of linking each ride to the cells around the cells it passes (the definition before
    the cells were taken a few hundred rides at a time)."""
    import shapely
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    import transitmap.network as network
    from transitmap.geo import groups
    from transitmap.match import MatchConfig

    rng = np.random.default_rng(seed)
    rides = [_Moving(np.cumsum(rng.normal(0, 300, (int(rng.integers(1, 30)), 2)), axis=0)
                     + rng.uniform(0, 6000, 2)) for _ in range(n)]
    config = MatchConfig()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(network, "_CHUNK_RIDES", chunk)
        found = network.regions(rides, config)
    assert sorted(i for g in found for i in g) == list(range(n))
    region = {i: k for k, g in enumerate(found) for i in g}
    lines = [shapely.linestrings(r.moving_xy) if len(r.moving_xy) > 1 else shapely.points(r.moving_xy[0])
             for r in rides]
    for i in range(n):
        for j in range(i + 1, n):
            if region[i] != region[j]:
                assert shapely.distance(lines[i], lines[j]) > 2 * config.terminal_radius_m
    # the definition: each ride linked to the cells around the cells it passes
    cell = 2 * config.terminal_radius_m + 10.0
    dense, owner = along_all([r.moving_xy for r in rides], cell / 4)
    xy = np.floor(dense / cell).astype(np.int64)
    around = np.array([(dx, dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)])
    keys = [tuple(c) for c in (xy[:, None, :] + around[None]).reshape(-1, 2).tolist()]
    index = {k: m for m, k in enumerate(sorted(set(keys)))}
    ride_id = np.repeat(owner, len(around))
    cells = np.array([index[k] for k in keys], np.int64)
    graph = coo_matrix((np.ones(len(cells), np.int8), (ride_id, n + cells)), shape=(n + len(index),) * 2)
    label = connected_components(graph, directed=False)[1][:n]
    expected = groups(n, [(i, j) for i in range(n) for j in range(i + 1, n) if label[i] == label[j]])
    assert sorted(found) == expected

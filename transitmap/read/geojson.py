"""GeoJSON: lines with per-point times (``coordTimes``), tracks of timed points, routes without times with their
TransitWand stop files and headways per period.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import PurePosixPath
from typing import IO

import numpy as np

from .. import notices as N
from .base import (
    GENERIC,
    NUMBER,
    InputFile,
    Reader,
    ReadLimits,
    ReadResult,
    failed_read,
    parse_json,
    read_all,
    with_file_notices,
)
from .notes import APP_NAME, marks_of, timed_marks
from .traces import build_trace, float_column, number_or_none, text_or_none

GEOJSON_TYPES = frozenset({"FeatureCollection", "Feature", "LineString", "MultiLineString"})


_TIME_LISTS = ("coordTimes", "coordinateTimes", "times", "timestamps")  # what GPX/KML converters write


_POINT_TIMES = ("time", "timestamp", "datetime", "when")


def stop_docs_beside(siblings: dict[str, InputFile], limits: ReadLimits) -> list[tuple[str, dict]]:
    """The GeoJSON stop files beside a GeoJSON route file (``_group``), parsed; unreadable ones are left to
    nobody: they hold no trace, and their stops are only used where they can be read."""
    out = []
    for sname, sf in sorted(siblings.items()):
        if not sname.lower().endswith((".geojson", ".json")):
            continue
        data = read_all(sname, sf.open, limits)
        if isinstance(data, bytes):
            doc, _ = parse_json(sname, data, "", GENERIC)
            if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
                out.append((sname, doc))
    return out


_ROUTE_REF = ("routeId", "route_id", "routeID", "route")


_TRAVEL = ("travelTime", "travel_time_s", "travel_time")  # seconds from the stop before (TransitWand)


_DWELL = ("dwellTime", "dwell_time_s", "dwell_s", "wait_s")  # seconds stood at the stop


_HEADWAY_BANDS = {"peak_am": "am_peak", "am_peak": "am_peak", "midday": "midday", "peak_pm": "pm_peak",
                  "pm_peak": "pm_peak", "night": "evening", "evening": "evening", "early": "early"}


_PLAUSIBLE_HEADWAY_MIN = (1, 180)


def _route_stops(trace_id: str, lines: int, stop_docs: list[tuple[str, dict]]) -> list[tuple[str, dict, list]]:
    """(location, properties, coordinates) of the stops of one route in the stop files beside it: the stop
    features naming the route's id (``routeId`` ...), or all of a file that names no route when the route
    file holds one line; from the file with the most of them (TransitWand writes the same stops twice), in
    their ``sequence``."""
    best: list = []
    for sname, doc in stop_docs:
        found = []
        for k, feat in enumerate(doc.get("features") or []):
            geom, props = (feat or {}).get("geometry") or {}, (feat or {}).get("properties") or {}
            coords = geom.get("coordinates") or []
            if geom.get("type") != "Point" or len(coords) < 2 or not all(type(v) in NUMBER for v in coords[:2]):
                continue
            ref = next((props[r] for r in _ROUTE_REF if props.get(r) is not None), None)
            if (ref is None and lines == 1) or (ref is not None and str(ref) == trace_id):
                found.append((f"{sname}#/features/{k}", props, coords))
        if len(found) > len(best):
            best = found
    seq = lambda e: e[1].get("sequence") if type(e[1].get("sequence")) in NUMBER else float("inf")  # noqa: E731
    return sorted(best, key=seq)


def _reported_headways(props: dict, name: str, trace_id: str, pointer: str,
                       notes: list[N.Notice]) -> list[tuple[str, float]]:
    """Headways per band a route's properties report (minutes), where plausible; a notice for the others."""
    out = []
    for key, band in _HEADWAY_BANDS.items():
        if key not in props or props[key] is None:
            continue
        v = props[key]
        v = number_or_none(str(v)) if type(v) is not bool else None
        if v is not None and _PLAUSIBLE_HEADWAY_MIN[0] <= v <= _PLAUSIBLE_HEADWAY_MIN[1]:
            out.append((band, v * 60.0))
        else:
            notes.append(N.InvalidFieldNotice(
                file=name, trace_id=trace_id, location=f"{pointer}/properties/{key}",
                message=f"headway {str(props[key])[:20]!r} minutes is not between {_PLAUSIBLE_HEADWAY_MIN[0]} and "
                        f"{_PLAUSIBLE_HEADWAY_MIN[1]}; ignored"))
    return out


def read_geojson(name: str, doc: dict, stop_docs: list[tuple[str, dict]] = ()) -> list[ReadResult]:
    """The traces of a GeoJSON document: each ``LineString``/``MultiLineString`` feature is a trace, its times
    from a per-point list in its properties (``coordTimes``: togeojson, GPSBabel ...); ``Point`` features with
    a time are one trace in file order; ``Point`` features without one are marks of the file's trace. Route
    name, collector and mode come from the properties the schema names (and ``name``)."""
    features = (doc.get("features") or []) if doc["type"] == "FeatureCollection" else \
        [doc] if doc["type"] == "Feature" else [{"type": "Feature", "geometry": doc, "properties": {}}]
    stem = PurePosixPath(name.replace("\\", "/")).name.rsplit(".", 1)[0]
    lines, fixes, marks = [], [], []
    for k, feat in enumerate(features):
        geom = (feat or {}).get("geometry") or {}
        props = (feat or {}).get("properties") or {}
        kind, coords = geom.get("type"), geom.get("coordinates") or []
        if kind in ("LineString", "MultiLineString"):
            lines.append((k, props, coords if kind == "MultiLineString" else [coords]))
        elif kind == "Point" and len(coords) >= 2:
            when = next((props[t] for t in _POINT_TIMES if props.get(t)), None)
            (fixes if when is not None else marks).append((k, props, coords, when))
    results = []
    for k, props, parts in lines:
        pts = [c for part in parts for c in part if isinstance(c, (list, tuple)) and len(c) >= 2]
        listed = next((props[t] for t in _TIME_LISTS if props.get(t)), None)
        if isinstance(listed, list) and listed and isinstance(listed[0], list):  # one list per part
            listed = [t for part in listed for t in part]
        times = list(listed) if isinstance(listed, list) and len(listed) == len(pts) else [None] * len(pts)
        trace_id = str(props.get("trace_id") or props.get("id") or (stem if len(lines) == 1 else f"{stem}-{k}"))
        results.append(_geojson_trace(name, trace_id, props, pts, times, [m for m in marks], f"/features/{k}",
                                      route_stops=_route_stops(trace_id, len(lines), stop_docs) if stop_docs else ()))
    if fixes:
        results.append(_geojson_trace(name, stem, fixes[0][1], [c for _, _, c, _ in fixes],
                                      [w for _, _, _, w in fixes], marks, "/features", [p for _, p, _, _ in fixes]))
    if not results:  # no line, no timed point: nothing recorded (or points without times, such as stops)
        return [failed_read(name, N.NoTimestampsNotice(file=name, count=len(marks)) if marks
                            else N.EmptyFileNotice(file=name))]
    return results


def _geojson_trace(name: str, trace_id: str, props: dict, pts: list, times: list, marks: list,
                   pointer: str, point_props: list[dict] | None = None, route_stops=()) -> ReadResult:
    notes: list[N.Notice] = []
    headways = _reported_headways(props, name, trace_id, pointer, notes)
    meta = {k: props.get(k) for k in ("collector_id", "mode", "route_name", "operator", "origin", "destination",
                                      "notes")}
    # the name, unless an app made it up; else the description (TransitWand keeps the route's places there)
    given = text_or_none(props.get("name"))
    meta["route_name"] = meta["route_name"] or (given if given and not APP_NAME.search(given) else None) \
        or text_or_none(props.get("route")) or text_or_none(props.get("desc")) or text_or_none(props.get("description"))
    if not meta["collector_id"]:
        notes.append(N.MissingCollectorIdNotice(file=name, trace_id=trace_id))
    lon, _ = float_column([c[0] for c in pts])
    lat, _ = float_column([c[1] for c in pts])
    xy = np.column_stack([lon, lat])
    stops, fares = marks_of(timed_marks([(f"/features/{k}", p.get("name"),
                                         [p.get("name"), p.get("desc"), p.get("description")], str(w) if w else None,
                                         c[1], c[0]) for k, p, c, w in marks if all(type(v) in NUMBER for v in c[:2])],
                                       xy, times), name, notes, lon)
    legs = []
    if route_stops and not stops:  # the stops of a stop file: places, and the times between them
        stops = [(loc, {"lat": c[1], "lon": c[0], "kind": "stop", "name": text_or_none(p.get("name")),
                        "wait_s": next((p[d] for d in _DWELL if type(p.get(d)) in NUMBER and p[d] >= 0), None)})
                 for loc, p, c in route_stops]
        legs = [(loc + "/properties", next((p[a] for a in _TRAVEL if p.get(a) is not None), None),
                 next((p[d] for d in _DWELL if p.get(d) is not None), None)) for loc, p, _ in route_stops]
    accuracy = [p.get("accuracy") for p in point_props] if point_props else None
    trace = build_trace(source=name, trace_id=trace_id, meta=meta, times=times, lat=lat, lon=lon, accuracy=accuracy,
                        speed=None, stops=stops, fares=fares, departures=[],
                        locate=lambda i, fld="": f"{pointer}/geometry/coordinates/{i}", notices=notes,
                        stop_legs=legs, reported_headways=headways)
    return ReadResult(name, trace, tuple(notes))


def _read_geojson_file(f: InputFile, opener: Callable[[], IO[bytes]], limits: ReadLimits) -> list[ReadResult]:
    data = read_all(f.name, opener, limits)
    if isinstance(data, ReadResult):
        return [data]
    doc, note = parse_json(f.name, data, "", GENERIC)
    if not (isinstance(doc, dict) and doc.get("type") in GEOJSON_TYPES):
        return [failed_read(f.name, note or N.InvalidJsonNotice(
            file=f.name, location="", message="not GeoJSON: no FeatureCollection, Feature or line at the top"))]
    return with_file_notices(read_geojson(f.name, doc, stop_docs_beside(f.siblings, limits)), note)


READER = Reader("geojson", (".geojson",), _read_geojson_file)

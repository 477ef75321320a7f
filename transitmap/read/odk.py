"""ODK Collect and KoboToolbox: a form's CSV export, one submission a row (the ride's path a ``geotrace``
answer, ``lat lon alt acc;lat lon alt acc;...`` without any time; the route, fare and collector as form fields;
stops as ``geopoint`` answers), and the audit log of a form that tracks the device's location (``audit.csv``:
``event,node,start,end,latitude,longitude,accuracy``, times in epoch milliseconds).

Column names come from the form: the common ones are recognised (``FORM_COLUMNS``, by the last part of a
grouped name such as ``ride/route`` or ``ride-route``), a survey names its own in ``[build.read]``
(``geotrace = "recorrido"``). KoboToolbox writes ``;`` or ``,``; ODK Central ``,``; both are sniffed.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from .. import notices as N
from .base import InputFile, Reader, ReadLimits, ReadResult, failed_read, normal_column, read_all, read_table
from .notes import parse_note
from .traces import build_trace, number_or_none, parse_times, text_or_none

_POINT = r"-?\d{1,3}(?:\.\d+)? -?\d{1,3}(?:\.\d+)?(?: -?[\d.]+(?: [\d.]+)?)?"
GEOTRACE = re.compile(rf"^\s*{_POINT}\s*(?:;\s*{_POINT}\s*)+;?\s*$")  # two points or more
GEOPOINT = re.compile(r"^\s*(-?\d{1,3}(?:\.\d+)?) (-?\d{1,3}(?:\.\d+)?)(?: (-?[\d.]+))?(?: ([\d.]+))?\s*$")
_SNIFF_TRACE = re.compile(rb"-?\d{1,3}\.\d+ -?\d{1,3}\.\d+ -?[\d.]+ [\d.]+ ?;\s*-?\d{1,3}\.\d+ -?\d{1,3}\.\d+")
_AUDIT_HEAD = re.compile(rb"^(\xef\xbb\xbf)?event,node,start,end,[^\n]*latitude,longitude")

#: form fields by the names forms give them (compared with the last part of a grouped name)
FORM_COLUMNS = {
    "trace_id": ("instanceid", "meta_instanceid", "_uuid", "uuid", "key", "_id"),
    "collector_id": ("_submitted_by", "username", "enumerator", "collector", "collector_id", "surveyor",
                     "submittername", "submitter_name"),
    "route_name": ("route_name", "route_number", "route_no", "route", "line", "ruta", "route_id"),
    "mode": ("mode", "vehicle", "vehicle_type", "transport_mode"),
    "operator": ("operator", "association", "sacco", "company"),
    "origin": ("origin", "from", "boarding_point", "start_point"),
    "destination": ("destination", "to", "alighting_point", "end_point"),
    "notes": ("notes", "note", "comment", "comments", "remarks"),
    "fare": ("fare", "fare_amount", "fare_paid", "price"),
    "currency": ("currency", "fare_currency"),
}


def _last(column: str) -> str:
    return re.split(r"[/.]", column)[-1]


def _find(columns: list[str], names: tuple[str, ...]) -> str | None:
    """The first column whose name (or the last part of its grouped name) is one of ``names``."""
    for n in names:
        for c in columns:
            if c == n or _last(c) == n or (c.endswith("_" + n) and c.startswith(("meta_", "ride_", "group_"))):
                return c
    return None


def read_form(f: InputFile, limits: ReadLimits) -> list[ReadResult]:
    """The submissions of a form's CSV export (``form_traces``)."""
    notes: list[N.Notice] = []
    df = read_table(f, limits, notes)
    return [failed_read(f.name, *notes)] if df is None else form_traces(df, f.name, limits, notes, {})


def read_workbook(f: InputFile, limits: ReadLimits) -> list[ReadResult]:
    """A form's XLSX export (KoboToolbox's default): the sheet holding the geotrace answers is the submissions;
    a repeat group's sheet with geopoint answers (rows linked by ``_parent_index`` to the submission's
    ``_index``, or by ``_submission__uuid``) gives each submission's stops, with their names and times."""
    data = read_all(f.name, f.open, limits)
    if isinstance(data, ReadResult):
        return [data]
    try:  # openpyxl parses the workbook's XML with defusedxml when it is installed (it is a dependency)
        sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, dtype=str, engine="openpyxl")
    except Exception as e:  # a broken workbook: whatever openpyxl raises, the file is unreadable
        return [failed_read(f.name, N.UnreadableFileNotice(file=f.name, message=f"not a readable XLSX workbook: "
                                                                                f"{type(e).__name__}: {e}"[:300]))]
    frames = {}
    for title, df in sheets.items():
        df = df.fillna("").astype(str)
        df.columns = [normal_column(c) for c in df.columns]
        frames[title] = df
    named = limits.columns.named([c for df in frames.values() for c in df.columns])
    main = next((t for t, df in frames.items() if _geotrace_column(df, named)), None)
    if main is None:
        return [failed_read(f.name, N.InvalidCsvNotice(
            file=f.name, message="no sheet with a geotrace column (answers such as 'lat lon alt acc;lat lon alt acc')",
            field="geotrace"))]
    repeats: dict[str, list[tuple[str, dict]]] = {}
    for title, df in frames.items():
        link = next((c for c in ("_parent_index", "_submission__uuid") if c in df.columns), None)
        where = _geopoint_columns(df)
        if title == main or link is None or not where:
            continue
        name_col = next((c for c in df.columns if "name" in _last(c) and not c.startswith("_")), None)
        time_col = next((c for c in df.columns if _last(c) in ("time", "stop_time", "timestamp", "datetime")
                         or _last(c).endswith("_time")), None)
        for k, row in enumerate(df.to_dict("records")):
            m = GEOPOINT.match(row[where[0]] or "")
            if m:
                repeats.setdefault(f"{link}:{row[link].strip()}", []).append(
                    (f"{title} line {k + 2}", {"lat": float(m.group(1)), "lon": float(m.group(2)), "kind": "stop",
                                               "name": text_or_none(row.get(name_col)),
                                               "time": text_or_none(row.get(time_col))}))
    return form_traces(frames[main], f"{f.name}", limits, [], repeats)


def _geotrace_column(df: pd.DataFrame, named: dict[str, str]) -> str | None:
    if named.get("geotrace") in df.columns:
        return named["geotrace"]
    return next((c for c in df.columns if (v := df[c].head(50).str.strip()).ne("").any()
                 and v[v.ne("")].str.match(GEOTRACE).all()), None)


def _geopoint_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if not c.startswith("_") and (v := df[c].head(50).str.strip()).ne("").any()
            and v[v.ne("")].str.match(GEOPOINT).all()]


def form_traces(df: pd.DataFrame, name: str, limits: ReadLimits, file_notes: list[N.Notice],
                repeats: dict[str, list[tuple[str, dict]]]) -> list[ReadResult]:
    """One trace a submission: its geotrace (times made up: ``no_timestamps``; timed between its stops where
    its stops carry times), its fields, its stops (geopoints named ``*stop*``; ``repeats``: the stops of a
    repeat group by ``_parent_index:<_index>`` or ``_submission__uuid:<_uuid>``)."""
    columns = list(df.columns)
    named = limits.columns.named(columns)
    geotrace = _geotrace_column(df, named)
    if geotrace is None or df.empty:
        return [failed_read(name, *file_notes, N.InvalidCsvNotice(
            file=name, message="no geotrace column (answers such as 'lat lon alt acc;lat lon alt acc')",
            field="geotrace"))]
    found = {k: named.get(k) or _find(columns, names) for k, names in FORM_COLUMNS.items()}
    points = [c for c in _geopoint_columns(df) if c != geotrace and "stop" in _last(c)]
    stem = PurePosixPath(name.split("!")[-1].replace("\\", "/")).name.rsplit(".", 1)[0]
    results = []
    for k, row in enumerate(df.to_dict("records")):
        line = k + 2
        notes = list(file_notes) if not results else []
        tid = text_or_none(row.get(found["trace_id"])) if found["trace_id"] else None
        tid = tid or f"{stem}-{line}"
        text = row[geotrace].strip()
        pts = [p.split() for p in text.split(";") if p.strip()]
        bad = [i for i, p in enumerate(pts) if len(p) < 2 or number_or_none(p[0]) is None
               or number_or_none(p[1]) is None]
        if not pts or len(bad) == len(pts):
            notes.append(N.InvalidFieldNotice(file=name, trace_id=tid, location=f"line {line}",
                                              message=f"{geotrace}: no path ({text[:40]!r}); submission left out"))
            results.append(ReadResult(name, None, tuple(notes)))
            continue
        lat = np.array([number_or_none(p[0]) if i not in bad else np.nan for i, p in enumerate(pts)], float)
        lon = np.array([number_or_none(p[1]) if i not in bad else np.nan for i, p in enumerate(pts)], float)
        acc = np.array([number_or_none(p[3]) if len(p) > 3 and i not in bad and number_or_none(p[3]) is not None
                        else np.nan for i, p in enumerate(pts)], float)
        acc = np.where(acc > 0, acc, np.nan)  # ODK writes 0 where the accuracy is unknown
        meta = {key: text_or_none(row.get(found[key])) if found[key] else None
                for key in ("collector_id", "mode", "route_name", "operator", "origin", "destination", "notes")}
        if not meta["collector_id"]:
            notes.append(N.MissingCollectorIdNotice(file=name, trace_id=tid))
        stops = []
        for c in points:
            m = GEOPOINT.match(row[c] or "")
            if m:
                stops.append((f"line {line}, {c}", {"lat": float(m.group(1)), "lon": float(m.group(2)), "kind": "stop",
                                                    "name": text_or_none(row.get(c + "_name"))}))
        for key in (f"_parent_index:{str(row.get('_index', '')).strip()}",
                    f"_submission__uuid:{str(row.get('_uuid', '')).strip()}"):
            stops += repeats.get(key, [])
        legs = _legs(stops)
        fares = _fares(row, found, name, tid, line, lon, notes)
        trace = build_trace(source=name, trace_id=tid, meta=meta, times=[None] * len(pts), lat=lat, lon=lon,
                            accuracy=acc, speed=None, stops=stops, fares=fares, departures=[],
                            locate=lambda i, fld="", line=line: f"line {line}, {geotrace} point {i}", notices=notes,
                            stop_legs=legs)
        results.append(ReadResult(name, trace, tuple(notes)))
    return results


def _legs(stops: list[tuple[str, dict]]) -> list[tuple[str, float | None, float]]:
    """(location, seconds from the stop before, 0) of stops that all carry a time (a repeat group's stops with
    their times): what ``build_trace`` times a path without times by. Empty where one has no time."""
    if len(stops) < 2 or not all(d.get("time") for _, d in stops):
        return []
    t, bad, _, _ = parse_times([d["time"] for _, d in stops], stops[0][1]["lat"], stops[0][1]["lon"])
    if bad.any():
        return []
    return [(loc, None if i == 0 else float(t[i] - t[i - 1]), 0.0) for i, (loc, _) in enumerate(stops)]


def _fares(row: dict, found: dict, name: str, tid: str, line: int, lon: np.ndarray, notes: list) -> list:
    paid = text_or_none(row.get(found["fare"])) if found["fare"] else None
    if not paid:
        return []
    amount = number_or_none(paid)
    currency = (text_or_none(row.get(found["currency"])) if found["currency"] else None) or ""
    fare = None if amount is None else {"amount": amount, "currency": currency.upper()}
    if fare is None:
        parsed, _ = parse_note(paid, float(np.nanmedian(lon)) if np.isfinite(lon).any() else np.nan)
        fare = {"amount": parsed.amount, "currency": parsed.currency} if parsed else None
    if fare is None:
        notes.append(N.InvalidFieldNotice(file=name, trace_id=tid, location=f"line {line}, {found['fare']}",
                                          message=f"fare {paid[:30]!r} is not an amount; ignored"))
        return []
    return [(f"line {line}, {found['fare']}", fare)]


def read_audit(f: InputFile, limits: ReadLimits) -> list[ReadResult]:
    """The positions of an ODK Collect audit log with location tracking: one trace, a fix per event that
    carries a position, at the event's start. Named after the folder the log is in (ODK Central and Briefcase
    keep a submission's audit in a folder named by its instance id), else after the file."""
    notes: list[N.Notice] = []
    df = read_table(f, limits, notes)
    if df is None:
        return [failed_read(f.name, *notes)]
    located = df[(df.get("latitude", pd.Series(dtype=str)).str.strip() != "")]
    parts = PurePosixPath(f.name.split("!")[-1].replace("\\", "/")).parts
    tid = parts[-2] if len(parts) > 1 else parts[-1].rsplit(".", 1)[0]
    if located.empty:
        return [failed_read(f.name, *notes, N.EmptyFileNotice(file=f.name, trace_id=tid))]
    start = pd.to_numeric(located["start"], errors="coerce")
    times = pd.to_datetime(start, unit="ms", utc=True, errors="coerce").map(
        lambda t: None if pd.isna(t) else t.isoformat()).tolist()
    users = located["user"].str.strip() if "user" in located.columns else pd.Series([""])
    collector = next((u for u in users if u), None)
    if not collector:
        notes.append(N.MissingCollectorIdNotice(file=f.name, trace_id=tid))
    lines = (located.index.to_numpy() + 2)
    trace = build_trace(source=f.name, trace_id=tid, meta={"collector_id": collector}, times=times,
                        lat=pd.to_numeric(located["latitude"], errors="coerce").to_numpy(float),
                        lon=pd.to_numeric(located["longitude"], errors="coerce").to_numpy(float),
                        accuracy=pd.to_numeric(located.get("accuracy"), errors="coerce").to_numpy(float)
                        if "accuracy" in located.columns else None,
                        speed=None, stops=[], fares=[], departures=[],
                        locate=lambda i, fld="": f"line {lines[i]}", notices=notes)
    return [ReadResult(f.name, trace, tuple(notes))]


def _opened(read: Callable[[InputFile, ReadLimits], list[ReadResult]]) -> Callable:
    """A registry's read function of a reader that opens ``f`` itself: given the opener that decompresses it."""
    return lambda f, opener, limits: read(replace(f, open=opener), limits)


WORKBOOK_READER = Reader("odk-xlsx", (".xlsx",), _opened(read_workbook))
AUDIT_READER = Reader("odk-audit", (".csv",), _opened(read_audit), sniff=lambda head: bool(_AUDIT_HEAD.match(head)))
FORM_READER = Reader("odk-form", (".csv",), _opened(read_form), sniff=lambda head: bool(_SNIFF_TRACE.search(head)))

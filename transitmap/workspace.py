"""A survey workspace: one GeoPackage file (SQLite) holding the imported traces, their notices and the builds.

A survey runs for weeks; every evening the day's recordings are imported::

    SURVEY_DIR/survey.gpkg
      traces    (layer)  one feature per imported trace: trace_id, file (and the container file it came in),
                         collector, status, codes, points,
                         the day it came in, its usable points as a line (WGS84) and the trace itself
      files              every file imported (by content hash), with the notices of files that held no trace
      imports            when, what and how much each import added
      builds             each build: its time, feed (kept for stable ids), ledger and counts
      issued_ids         every route and stop id ever published, with the builds that first and last had it
      routes    (layer)  the latest build's patterns with their rides, directions and confidence (QGIS:
                         where the survey is thin)
      survey             the survey's name, time zone and currency

Importing is idempotent (a file imported before adds nothing, nor does a trace imported before from the
same file; a trace_id imported before with other content is refused with ``trace_changed``; the same
trace from another file is kept, and the build reports it a duplicate upload) and atomic: one SQLite
transaction, so an interrupted import leaves the workspace as it was. Traces are validated on the way in
and stored as read, so a build from the workspace equals a build from the files.

The workspace holds raw traces and collector ids: it stays with the survey coordinator; builds publish
pseudonyms only.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import struct
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from . import notices as N
from .errors import WorkspaceError
from .geo import geodesic_m
from .model import Fare, Stop, Trace
from .read import InputFile, ReadLimits, ReadResult, list_inputs, read_file
from .review import Correction, check
from .validate import ValidationConfig, check_trace_safely

WORKSPACE_FILE = "survey.gpkg"
SCHEMA_VERSION = 1
_GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"
_GPKG_VERSION = 10300


def workspace_file(path: str | os.PathLike) -> Path:
    return Path(path) / WORKSPACE_FILE


def is_workspace(path: str | os.PathLike) -> bool:
    return Path(path).is_dir() and workspace_file(path).is_file()


# --------------------------------------------------------------------------------------------------
# Creating and opening


def init_workspace(path: str | os.PathLike, *, name: str | None = None, timezone_name: str | None = None,
                   currency: str | None = None, now: datetime) -> Path:
    """Create a workspace in the folder ``path`` (made if missing). Raises WorkspaceError if one is there."""
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    db = workspace_file(folder)
    if db.exists():
        raise WorkspaceError(f"{folder} is a survey workspace already")
    tmp = db.with_name(db.name + ".creating")
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(tmp)
    try:
        con.executescript(_SCHEMA)
        con.execute(f"PRAGMA application_id = {_GPKG_APPLICATION_ID}")
        con.execute(f"PRAGMA user_version = {_GPKG_VERSION}")
        con.executemany("INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)", _srs_rows())
        stamp = _iso(now)
        for table, kind, description in _CONTENTS:
            con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change, "
                        "srs_id) VALUES (?, ?, ?, ?, ?, ?)",
                        (table, kind, table, description, stamp, 4326 if kind == "features" else None))
            if kind == "features":
                con.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', 'LINESTRING', 4326, 0, 0)", (table,))
        settings = {"name": name or folder.resolve().name, "timezone": timezone_name or "", "currency": currency or "",
                    "created": stamp, "schema_version": str(SCHEMA_VERSION)}
        con.executemany("INSERT INTO survey VALUES (?, ?)", sorted(settings.items()))
        con.commit()
        _ensure_review_tables(con)
    finally:
        con.close()
    os.replace(tmp, db)
    return db


def connect(path: str | os.PathLike) -> sqlite3.Connection:
    """An open connection to the workspace in ``path``."""
    db = workspace_file(path)
    if not db.is_file():
        raise WorkspaceError(f"{path} is not a survey workspace (no {WORKSPACE_FILE}; see `transitmap init`)")
    con = sqlite3.connect(db, timeout=60)
    try:
        version = dict(con.execute("SELECT key, value FROM survey")).get("schema_version")
    except sqlite3.DatabaseError as e:
        con.close()
        raise WorkspaceError(f"{db} is not a transitmap workspace: {e}") from e
    if version != str(SCHEMA_VERSION):
        con.close()
        raise WorkspaceError(f"{db} has workspace schema {version}; this transitmap reads {SCHEMA_VERSION}")
    con.execute("PRAGMA foreign_keys = ON")
    _ensure_review_tables(con)
    return con


@contextmanager
def _transaction(path: str | os.PathLike):
    """The workspace's connection in one all-or-nothing transaction: committed when the block ends, rolled
    back if anything fails or interrupts it (SQLite's journal does the same for a killed process)."""
    with closing(connect(path)) as con:
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.rollback()
            raise
        con.commit()


def settings(path: str | os.PathLike) -> dict[str, str]:
    """The survey's settings: name, timezone, currency ('' when not set), created, schema_version."""
    with closing(connect(path)) as con:
        return dict(con.execute("SELECT key, value FROM survey"))


# --------------------------------------------------------------------------------------------------
# Importing


@dataclass
class ImportResult:
    """What one import did. ``rows``: one per trace or file that held none: trace_id, file, outcome
    (added; unchanged: imported before; changed: refused, another version is in the workspace; file
    unchanged: the file was imported before; refused: the path does not exist), status (accepted or
    quarantined at import), codes."""

    files: int = 0
    files_unchanged: int = 0
    added: int = 0
    unchanged: int = 0
    changed: int = 0
    accepted: int = 0
    quarantined: int = 0
    unreadable: int = 0  # files (or paths) that held no trace
    points: int = 0
    seconds: float = 0.0
    notices: N.NoticeContainer = field(default_factory=N.NoticeContainer)
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_errors(self) -> bool:
        return self.quarantined > 0 or self.changed > 0 or self.unreadable > 0

    def summary(self) -> dict[str, Any]:
        return {"files": self.files, "files_unchanged": self.files_unchanged, "traces_added": self.added,
                "traces_unchanged": self.unchanged, "traces_changed": self.changed, "accepted": self.accepted,
                "quarantined": self.quarantined, "unreadable_files": self.unreadable, "points": self.points,
                "seconds": round(self.seconds, 3),
                "traces_per_s": round(self.added / self.seconds, 1) if self.seconds else None,
                "points_per_s": round(self.points / self.seconds) if self.seconds else None,
                "notices": self.notices.severity_counts()}

    def to_report(self, version: str) -> dict[str, Any]:
        return {"transitmap_version": version, "summary": self.summary(), "notices": self.notices.to_list(),
                "traces": self.rows}


def import_inputs(path: str | os.PathLike, inputs: Sequence[str | os.PathLike], *, now: datetime,
                  validation: ValidationConfig = ValidationConfig(), limits: ReadLimits = ReadLimits(),
                  progress: Callable[[int, int], None] | None = None) -> ImportResult:
    """Read, validate and add the recordings under ``inputs`` to the workspace at ``path``, all or nothing.

    ``now`` (time-zone aware) stamps the import: the day a trace came in is its local date in the survey's
    time zone (UTC when none is set)."""
    started = time.perf_counter()
    result = ImportResult()
    with _transaction(path) as con:  # an interrupted import leaves nothing behind
        tz = dict(con.execute("SELECT key, value FROM survey")).get("timezone") or "UTC"
        day = _local_day(now, tz)
        files, failed = list_inputs(inputs)
        result.files = len(files) + len(failed)
        cur = con.execute("INSERT INTO imports (started_utc, day, inputs) VALUES (?, ?, ?)",
                          (_iso(now), day, json.dumps([os.fspath(p) for p in inputs])))
        import_id = cur.lastrowid
        known_files = {h for (h,) in con.execute("SELECT sha256 FROM files")}
        new_files = 0
        known: dict[str, list[tuple[str, str]]] = {}
        for tid, digest, src in con.execute("SELECT trace_id, digest, file FROM traces ORDER BY fid"):
            known.setdefault(tid, []).append((digest, src))
        if progress is not None:
            progress(0, len(files))
        for res in failed:  # paths that do not exist: nothing to keep, reported only
            result.notices.extend(res.notices)
            result.unreadable += 1
            result.rows.append(_row("", res.source, "refused", "quarantined", res.notices))
        for k, f in enumerate(files):
            digest = _file_digest(f, limits)
            if digest is not None and digest in known_files:
                result.files_unchanged += 1
                result.rows.append(_row("", f.name, "file unchanged", "", ()))
            else:
                _import_file(con, f, digest, import_id, day, limits, validation, known, result)
                new_files += 1
                if digest is not None:
                    known_files.add(digest)
            if progress is not None:
                progress(k + 1, len(files))
        result.seconds = time.perf_counter() - started
        con.execute("UPDATE imports SET finished_utc = ?, files = ?, added = ?, unchanged = ?, changed = ?, "
                    "quarantined = ?, points = ?, seconds = ? WHERE import_id = ?",
                    (_iso(now), result.files, result.added, result.unchanged, result.changed, result.quarantined,
                     result.points, round(result.seconds, 3), import_id))
        _touch(con, ["imports"] + (["traces", "files"] if new_files else []), now)
    result.rows.sort(key=lambda r: (r["file"], r["trace_id"], r["outcome"]))
    return result


def _import_file(con, f: InputFile, digest: str | None, import_id: int, day: str, limits, validation, known,
                 result: ImportResult) -> None:
    reads = read_file(f, limits)
    traces = [r for r in reads if r.trace is not None]
    con.execute("INSERT OR IGNORE INTO files (sha256, file, import_id, traces, notices) VALUES (?, ?, ?, ?, ?)",
                (digest or f"unreadable:{f.name}:{import_id}", f.name, import_id, len(traces),
                 _notices_json([n for r in reads if r.trace is None for n in r.notices])))
    for res in reads:
        if res.trace is None:
            result.notices.extend(res.notices)
            result.unreadable += 1
            result.rows.append(_row("", res.source, "added", "quarantined", res.notices))
            continue
        tr = res.trace
        content = tr.content_digest()
        held = known.get(tr.trace_id, [])
        if (content, res.source) in held:
            result.unchanged += 1
            result.rows.append(_row(tr.trace_id, res.source, "unchanged", "", ()))
            continue
        other = next((f for d, f in held if d != content), None)
        if other is not None:
            notice = N.TraceChangedNotice(file=res.source, trace_id=tr.trace_id, other_file=other)
            result.notices.add(notice)
            result.changed += 1
            result.rows.append(_row(tr.trace_id, res.source, "changed", "quarantined", (notice,)))
            continue
        # the same trace from another file is kept as a second upload: the build reports it a duplicate
        check = check_trace_safely(tr, validation)
        if isinstance(check, N.Notice):  # a bug of ours: the trace is kept, quarantined, and the import goes on
            notes, keep = (*res.notices, check), np.zeros(tr.n_points, bool)
        else:
            notes, keep = (*res.notices, *check.notices), check.keep
        status = "quarantined" if N.any_error(notes) else "accepted"
        codes = ";".join(sorted({n.code() for n in notes}))
        finite = np.flatnonzero(keep)
        start = float(tr.t_s[finite[0]]) if len(finite) else None
        con.execute(
            "INSERT INTO traces (geom, trace_id, file, container, collector, status, codes, points, points_kept, "
            "start_utc, day, import_id, digest, points_digest, read_notices, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (_gpkg_line(tr.lat[keep], tr.lon[keep]), tr.trace_id, res.source, f.name, tr.collector_id or "", status,
             codes,
             tr.n_points, int(keep.sum()), _iso_s(start), day, import_id, content, tr.points_digest(),
             _notices_json(res.notices), pack_trace(tr)))
        known.setdefault(tr.trace_id, []).append((content, res.source))
        result.notices.extend(notes)
        result.added += 1
        result.points += tr.n_points
        result.accepted += status == "accepted"
        result.quarantined += status == "quarantined"
        result.rows.append(_row(tr.trace_id, res.source, "added", status, notes))


def _row(trace_id: str, file: str, outcome: str, status: str, notes) -> dict[str, Any]:
    return {"trace_id": trace_id, "file": file, "outcome": outcome, "status": status,
            "codes": sorted({n.code() for n in notes})}


def _file_digest(f: InputFile, limits: ReadLimits) -> str | None:
    """SHA-256 of the file's bytes; None when it cannot be read (it is then reported by the reader)."""
    h = hashlib.sha256()
    try:
        with f.open() as fh:
            while chunk := fh.read(1 << 20):
                h.update(chunk)
    except Exception:  # noqa: BLE001 - the reader says what is wrong with it
        return None
    return h.hexdigest()


# --------------------------------------------------------------------------------------------------
# Building from the workspace


def workspace_inputs(path: str | os.PathLike) -> list[InputFile]:
    """The workspace's traces as inputs for ``pipeline.build_network``: one InputFile per file imported (an
    archive is one file, as when read from disk), yielding its traces as read at import (and the notices of
    files that held none)."""
    with closing(connect(path)) as con:
        by_file: dict[str, list[int]] = {}
        for rowid, file in con.execute("SELECT fid, container FROM traces ORDER BY container, file, trace_id, fid"):
            by_file.setdefault(file, []).append(rowid)
        empty = [(file, notes) for file, notes in con.execute(
            "SELECT file, notices FROM files WHERE traces = 0 ORDER BY file, sha256")]
    db = workspace_file(path)
    out = [InputFile(file, _no_open, None, results=_Loader(db, tuple(ids))) for file, ids in by_file.items()]
    out += [InputFile(file, _no_open, None, results=_Failed(ReadResult(file, None, tuple(_notices_from_json(notes)))))
            for file, notes in empty]
    return sorted(out, key=lambda f: f.name)


def _no_open():
    raise OSError("a workspace trace is not opened as a file")


@dataclass(frozen=True)
class _Loader:
    """Loads a file's stored traces (a value, not a closure: it can be sent to another process)."""

    db: Path
    fids: tuple[int, ...]

    def __call__(self) -> list[ReadResult]:
        with closing(sqlite3.connect(self.db)) as con:
            rows = [con.execute("SELECT file, read_notices, data FROM traces WHERE fid = ?", (i,)).fetchone()
                    for i in self.fids]
        return [ReadResult(file, unpack_trace(data, file), tuple(_notices_from_json(notes)))
                for file, notes, data in rows]


@dataclass(frozen=True)
class _Failed:
    result: ReadResult

    def __call__(self) -> list[ReadResult]:
        return [self.result]


def previous_build(path: str | os.PathLike) -> tuple[bytes | None, frozenset[str]]:
    """The feed of the latest build (None before the first; as matched, before the corrections made by hand,
    where there were any: ids follow what matching found) and every id the workspace ever published."""
    with closing(connect(path)) as con:
        row = con.execute("SELECT COALESCE(id_feed, feed) FROM builds WHERE feed IS NOT NULL "
                          "ORDER BY build_id DESC LIMIT 1").fetchone()
        ids = frozenset(i for (i,) in con.execute("SELECT id FROM issued_ids"))
    return (row[0] if row else None), ids


def previous_routes(path: str | os.PathLike) -> dict[str, str]:
    """{trace_id: route_id} of the rides the latest build used (for rides put in a route by hand)."""
    with closing(connect(path)) as con:
        row = con.execute("SELECT ledger FROM builds WHERE feed IS NOT NULL ORDER BY build_id DESC LIMIT 1").fetchone()
    if row is None:
        return {}
    led = pd.read_csv(io.BytesIO(row[0]), dtype=str, keep_default_na=False)
    used = led[led["status"] == "used"]
    return dict(zip(used["trace_id"], used["route_id"]))


def record_build(path: str | os.PathLike, *, now: datetime, out: str, feed: bytes | None, ledger_csv: bytes,
                 routes: int, stops: int, route_lines: list[dict[str, Any]] | None = None,
                 review_outcomes: dict[int, tuple[str, str]] | None = None,
                 route_digests: dict[str, str] | None = None, id_feed: bytes | None = None) -> int:
    """Keep a build in the workspace: its feed, ledger and ids, the routes layer (``route_lines``: per
    pattern route_id, direction_id, trip_id, rides, directions, confidence, lat, lon), the stops layer, what
    became of each correction (``review_outcomes``: {correction_id: (applied | changed | stale, reason)}) and
    the layers' editable fields as written (``route_digests``: each route's rides, for ``reviewed``). Returns
    the build id."""
    with _transaction(path) as con:
        cur = con.execute("INSERT INTO builds (time_utc, out, feed, ledger, routes, stops, id_feed) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)", (_iso(now), out, feed, ledger_csv, routes, stops, id_feed))
        build_id = cur.lastrowid
        if feed is not None:
            with zipfile.ZipFile(io.BytesIO(feed)) as z:
                for kind, table, column in (("route", "routes.txt", "route_id"), ("stop", "stops.txt", "stop_id")):
                    rows = pd.read_csv(z.open(table), dtype=str, keep_default_na=False)
                    if "location_type" in rows:  # a station's id is its first stop's with _station: not issued
                        rows = rows[rows["location_type"].isin(["", "0"])]
                    for i in rows[column]:
                        con.execute("INSERT INTO issued_ids (id, kind, first_build, last_build) VALUES (?, ?, ?, ?) "
                                    "ON CONFLICT(id) DO UPDATE SET last_build = excluded.last_build",
                                    (i, kind, build_id, build_id))
        con.execute("DELETE FROM routes")
        for r in route_lines or []:
            con.execute("INSERT INTO routes (geom, route_id, direction_id, trip_id, route_name, rides, directions, "
                        "confidence, build_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (_gpkg_line(r["lat"], r["lon"]), r["route_id"], r["direction_id"], r["trip_id"],
                         r["route_name"], r["rides"], r["directions"], r["confidence"], build_id))
        for cid, (outcome, reason) in sorted((review_outcomes or {}).items()):
            con.execute("UPDATE corrections SET outcome = ?, outcome_reason = ?, outcome_build = ? "
                        "WHERE correction_id = ?", (outcome, reason, build_id, cid))
        _write_layers(con, feed, route_digests or {}, build_id)
        _touch(con, ["builds", "issued_ids", "routes", "stops", "corrections"], now)
    return build_id


def route_layer(feed: bytes, routes) -> list[dict[str, Any]]:
    """The feed's patterns (WGS84 shapes) with their route's long name, rides, directions and confidence
    (``routes``: the route table of ``stats.feed_stats`` with a ledger), for ``record_build``."""
    with zipfile.ZipFile(io.BytesIO(feed)) as z:
        trips = pd.read_csv(z.open("trips.txt"), dtype=str, keep_default_na=False)
        shapes = pd.read_csv(z.open("shapes.txt"), dtype={"shape_id": str}).sort_values(
            ["shape_id", "shape_pt_sequence"], kind="stable")
    points = shapes.groupby("shape_id", sort=False).indices  # one pass, not one scan per trip
    lat, lon = shapes["shape_pt_lat"].to_numpy(float), shapes["shape_pt_lon"].to_numpy(float)
    info = routes.set_index("route_id")
    value = lambda rid, col, default: info.at[rid, col] if rid in info.index and col in info else default  # noqa: E731
    return [{"route_id": t.route_id, "direction_id": int(t.direction_id), "trip_id": t.trip_id,
             "route_name": str(value(t.route_id, "route_long_name", "")), "rides": int(value(t.route_id, "rides", 0)),
             "directions": int(value(t.route_id, "directions", 0)),
             "confidence": str(value(t.route_id, "confidence", "")),
             "lat": lat[points[t.shape_id]], "lon": lon[points[t.shape_id]]}
            for t in trips.sort_values("trip_id").itertuples(index=False)]


# --------------------------------------------------------------------------------------------------
# Status


def survey_status(path: str | os.PathLike, *, today: date, pseudonyms: dict[str, str] | None = None) -> dict[str, Any]:
    """What the workspace holds: totals and ``today``'s imports, per collector (accepted, quarantined with
    their ERROR codes; a trace the latest build quarantined counts as quarantined, with the build's codes), the
    routes of the latest build seen on one ride or in one direction only, and the traces imported since. With
    ``pseudonyms`` ({collector id: pseudonym}) collectors are shown by those."""
    with closing(connect(path)) as con:
        info = dict(con.execute("SELECT key, value FROM survey"))
        tr = pd.read_sql_query("SELECT trace_id, file, collector, status, codes, points, day, import_id, "
                               "points_digest FROM traces ORDER BY fid", con)
        unreadable = pd.read_sql_query("SELECT f.file, f.notices, i.day FROM files f JOIN imports i USING (import_id) "
                                       "WHERE f.traces = 0 ORDER BY f.file", con)
        imports = pd.read_sql_query("SELECT import_id, started_utc, day, files, added, unchanged, changed, "
                                    "quarantined, points, seconds FROM imports ORDER BY import_id", con)
        build = con.execute("SELECT build_id, time_utc, ledger, routes, stops FROM builds ORDER BY build_id DESC "
                            "LIMIT 1").fetchone()
        built_ids = con.execute("SELECT COUNT(*) FROM issued_ids").fetchone()[0]
    day = today.isoformat()
    led = pd.read_csv(io.BytesIO(build[2]), dtype=str, keep_default_na=False) if build is not None else None
    if led is not None:  # what the latest build found beyond the import's checks (trace_far_from_survey ...)
        later = {(t, f): c for t, f, st, c in zip(led["trace_id"], led["file"], led["status"], led["codes"])
                 if st == "quarantined"}
        hit = [(t, f) in later for t, f in zip(tr["trace_id"], tr["file"])]
        tr.loc[hit, "status"] = "quarantined"
        tr.loc[hit, "codes"] = [later[k] for k, h in zip(zip(tr["trace_id"], tr["file"]), hit) if h]
    severity = {c.code(): c.severity for c in N.catalogue()}
    errors = lambda codes: [c for c in codes.split(";") if c and severity.get(c) == N.ERROR]  # noqa: E731
    tr["duplicate"] = tr.duplicated("points_digest", keep="first")
    name = (lambda c: pseudonyms.get(c, c) if c else "") if pseudonyms is not None else (lambda c: c)
    tr["who"] = tr["collector"].map(name)

    by_hand = (N.RideExcludedNotice.code(), N.RouteDroppedNotice.code())  # quarantined by a correction (INFO)

    def reason(codes: str) -> str:  # each quarantined trace once: its first ERROR, else the correction's code
        said = errors(codes) or [c for c in codes.split(";") if c in by_hand] or [c for c in codes.split(";") if c]
        return said[0] if said else "no_reason_given"

    def counts(df) -> dict[str, Any]:
        reasons = Counter(reason(codes) for codes in df.loc[df["status"] == "quarantined", "codes"])
        return {"traces": int(len(df)), "accepted": int(((df["status"] == "accepted") & ~df["duplicate"]).sum()),
                "quarantined": int((df["status"] == "quarantined").sum()),
                "duplicates": int(((df["status"] == "accepted") & df["duplicate"]).sum()),
                "points": int(df["points"].sum()),
                "quarantine_reasons": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0])))}

    collectors = []
    for who, df in tr.groupby("who", sort=True):
        collectors.append({"collector": who or "(not given)", "total": counts(df),
                           "today": counts(df[df["day"] == day])})
    status: dict[str, Any] = {
        "survey": {k: info.get(k, "") for k in ("name", "timezone", "currency", "created")},
        "today": day,
        "total": {**counts(tr), "unreadable_files": int(len(unreadable)), "imports": int(len(imports))},
        "today_imports": {**counts(tr[tr["day"] == day]),
                          "unreadable_files": int((unreadable["day"] == day).sum()),
                          "imports": int((imports["day"] == day).sum())},
        "collectors": collectors,
        "unreadable_files": [{"file": f, "day": d, "codes": sorted({n["code"] for n in json.loads(notes)})}
                             for f, notes, d in unreadable.itertuples(index=False)],
        "imports": imports.to_dict("records"),
        "build": None,
        "review": review_progress(path),
    }
    if build is not None:
        build_id, when, _, n_routes, n_stops = build
        used = led[led["status"] == "used"]
        per_route = used.groupby("route_id").agg(rides=("trace_id", "size"),
                                                 directions=("direction_id", "nunique")).reset_index()
        in_build = set(zip(led["trace_id"], led["file"]))
        since = tr[[(t, f) not in in_build for t, f in zip(tr["trace_id"], tr["file"])]]
        status["build"] = {
            "build_id": int(build_id), "time_utc": when, "routes": int(n_routes), "stops": int(n_stops),
            "ids_published": int(built_ids),
            "routes_one_ride": sorted(per_route.loc[per_route["rides"] <= 1, "route_id"]),
            "routes_one_direction": sorted(per_route.loc[per_route["directions"] < 2, "route_id"]),
            "traces_since": int(len(since)),
        }
    return status


# --------------------------------------------------------------------------------------------------
# Storage of traces, notices and geometry


def pack_trace(tr: Trace) -> bytes:
    """A trace as bytes, exactly (float64 arrays bit for bit), for the workspace."""
    meta = {"trace_id": tr.trace_id, "collector_id": tr.collector_id, "mode": tr.mode, "route_name": tr.route_name,
            "operator": tr.operator, "origin": tr.origin, "destination": tr.destination, "notes": tr.notes,
            "stops": [[s.time_s, s.lat, s.lon, s.kind, s.name, s.boarded, s.alighted, s.wait_s, s.note] for s
                      in tr.stops],
            "fares": [[f.amount, f.currency, f.from_stop, f.to_stop] for f in tr.fares],
            "n": tr.n_points, "departures": len(tr.departures_s)}
    head = json.dumps(meta, separators=(",", ":")).encode()
    arrays = [np.ascontiguousarray(a, dtype="<f8").tobytes()
              for a in (tr.t_s, tr.lat, tr.lon, tr.accuracy_m, tr.speed_mps, tr.departures_s)]
    return zlib.compress(struct.pack("<I", len(head)) + head + b"".join(arrays), 1)


def unpack_trace(data: bytes, source: str) -> Trace:
    raw = zlib.decompress(data)
    (n_head,) = struct.unpack_from("<I", raw)
    meta = json.loads(raw[4:4 + n_head])
    n, nd = meta["n"], meta["departures"]
    values = np.frombuffer(raw, dtype="<f8", offset=4 + n_head).astype(np.float64)
    t, lat, lon, acc, speed = (values[k * n:(k + 1) * n] for k in range(5))
    return Trace(meta["trace_id"], source, t, lat, lon, acc, speed, meta["collector_id"], meta["mode"],
                 meta["route_name"], meta["operator"], meta["origin"], meta["destination"], meta["notes"],
                 tuple(Stop(*s) for s in meta["stops"]), tuple(Fare(*f) for f in meta["fares"]),
                 values[5 * n:5 * n + nd])


def _notices_json(notes) -> str:
    return json.dumps([n.to_dict() for n in notes], sort_keys=True)


def _notices_from_json(text: str) -> list[N.Notice]:
    classes = {c.code(): c for c in N.catalogue()}
    out = []
    for d in json.loads(text or "[]"):
        cls = classes.get(d.pop("code"))
        d.pop("severity", None)
        if cls is not None:
            out.append(cls(**d))
    return out


def _gpkg_line(lat: np.ndarray, lon: np.ndarray) -> bytes | None:
    """A GeoPackage geometry blob (WGS84 line, at most 500 points) of the points; None for fewer than two."""
    if len(lat) < 2:
        return None
    k = np.unique(np.linspace(0, len(lat) - 1, min(len(lat), 500)).round().astype(int))
    line = shapely.linestrings(np.column_stack([np.asarray(lon)[k], np.asarray(lat)[k]]))
    x0, y0, x1, y1 = shapely.bounds(line)
    header = b"GP" + bytes([0, 0b00000011]) + struct.pack("<i4d", 4326, x0, x1, y0, y1)  # LE, xy envelope
    return header + shapely.to_wkb(line, byte_order=1)


def _touch(con, tables: list[str], now: datetime) -> None:
    con.executemany("UPDATE gpkg_contents SET last_change = ? WHERE table_name = ?", [(_iso(now), t) for t in tables])


def _iso(now: datetime) -> str:
    if now.tzinfo is None:
        raise ValueError("timestamps must be time-zone aware")
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def _iso_s(t: float | None) -> str | None:
    return None if t is None or not np.isfinite(t) else datetime.fromtimestamp(t,
                                                                               timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _local_day(now: datetime, tz: str) -> str:
    return now.astimezone(ZoneInfo(tz)).date().isoformat()


def _srs_rows():
    return [("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate reference system"),
            ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate reference system"),
            ("WGS 84 geodetic", 4326, "EPSG", 4326, CRS.from_epsg(4326).to_wkt("WKT1_GDAL"),
             "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid")]


_CONTENTS = [
    ("traces", "features", "imported traces: status, notice codes, usable points"),
    ("routes", "features", "the latest build's patterns with their rides and confidence"),
    ("files", "attributes", "files imported, by content hash"),
    ("imports", "attributes", "imports: when and how much"),
    ("builds", "attributes", "builds: feed, ledger, counts"),
    ("issued_ids", "attributes", "every route and stop id published"),
    ("survey", "attributes", "name, time zone, currency"),
]
_REVIEW_CONTENTS = [
    ("stops", "features", "the latest build's stops: edit name, review (drop) and merge_into, or move them"),
    ("corrections", "attributes", "corrections made by hand, applied by every build"),
]

_SCHEMA = """
CREATE TABLE gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
  geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
  CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
CREATE TABLE survey (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE imports (import_id INTEGER PRIMARY KEY AUTOINCREMENT, started_utc TEXT NOT NULL, finished_utc TEXT,
  day TEXT NOT NULL, inputs TEXT NOT NULL, files INTEGER, added INTEGER, unchanged INTEGER, changed INTEGER,
  quarantined INTEGER, points INTEGER, seconds REAL);
CREATE TABLE files (sha256 TEXT PRIMARY KEY, file TEXT NOT NULL, import_id INTEGER NOT NULL REFERENCES imports,
  traces INTEGER NOT NULL, notices TEXT NOT NULL);
CREATE TABLE traces (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom BLOB, trace_id TEXT NOT NULL,
  file TEXT NOT NULL, container TEXT NOT NULL, collector TEXT NOT NULL, status TEXT NOT NULL, codes TEXT NOT NULL,
  points INTEGER NOT NULL,
  points_kept INTEGER NOT NULL, start_utc TEXT, day TEXT NOT NULL, import_id INTEGER NOT NULL REFERENCES imports,
  digest TEXT NOT NULL, points_digest TEXT NOT NULL, read_notices TEXT NOT NULL, data BLOB NOT NULL);
CREATE INDEX traces_day ON traces (day);
CREATE INDEX traces_trace_id ON traces (trace_id);
CREATE TABLE builds (build_id INTEGER PRIMARY KEY AUTOINCREMENT, time_utc TEXT NOT NULL, out TEXT NOT NULL,
  feed BLOB, ledger BLOB NOT NULL, routes INTEGER NOT NULL, stops INTEGER NOT NULL);
CREATE TABLE issued_ids (id TEXT PRIMARY KEY, kind TEXT NOT NULL, first_build INTEGER NOT NULL,
  last_build INTEGER NOT NULL);
CREATE TABLE routes (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom BLOB, route_id TEXT NOT NULL,
  direction_id INTEGER NOT NULL, trip_id TEXT NOT NULL, route_name TEXT NOT NULL, rides INTEGER NOT NULL,
  directions INTEGER NOT NULL, confidence TEXT NOT NULL, build_id INTEGER NOT NULL);
"""


def collector_ids(path: str | os.PathLike) -> list[str]:
    """The collector ids of the workspace's traces."""
    with closing(connect(path)) as con:
        return [c for (c,) in con.execute("SELECT DISTINCT collector FROM traces WHERE collector != '' ORDER BY 1")]


# --------------------------------------------------------------------------------------------------
# Review: corrections made by hand (``transitmap review`` or edits of the layers in QGIS)

#: the fields a coordinator edits in QGIS, by layer (what each becomes: ``pick_up_edits``)
EDITABLE = {"routes": ("short_name", "long_name", "headsign", "review", "merge_into"),
            "stops": ("name", "review", "merge_into"),
            "traces": ("review", "assign_to", "reason")}
_MOVED_M = 1.0  # a stop dragged further than this in QGIS has moved


def _ensure_review_tables(con: sqlite3.Connection) -> None:
    """The review's tables and editable columns, in a workspace made before they existed too (idempotent)."""
    tables = {t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    columns = lambda t: {c[1] for c in con.execute(f"PRAGMA table_info({t})")}  # noqa: E731
    wanted = {"routes": [*EDITABLE["routes"], "rides_digest"], "traces": list(EDITABLE["traces"])}
    if {"corrections", "stops", "layer_values"} <= tables and all(set(v) <= columns(t) for t, v in wanted.items()) \
            and "id_feed" in columns("builds"):
        return
    with con:
        con.executescript(_REVIEW_SCHEMA)
        for table, cols in wanted.items():
            for col in cols:
                if col not in columns(table):
                    con.execute(f"ALTER TABLE {table} ADD COLUMN {col} TEXT NOT NULL DEFAULT ''")
        if "id_feed" not in columns("builds"):  # the feed before the corrections, for the ids (previous_build)
            con.execute("ALTER TABLE builds ADD COLUMN id_feed BLOB")
        for table, kind, description in _REVIEW_CONTENTS:
            con.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (table, kind, table, description, 4326 if kind == "features" else None))
        con.execute("INSERT OR IGNORE INTO gpkg_geometry_columns VALUES ('stops', 'geom', 'POINT', 4326, 0, 0)")
        stamp = con.execute("SELECT value FROM survey WHERE key = 'created'").fetchone()
        if stamp:
            con.execute("UPDATE gpkg_contents SET last_change = ? WHERE table_name IN ('stops', 'corrections')",
                        (stamp[0],))


_REVIEW_SCHEMA = """
CREATE TABLE IF NOT EXISTS corrections (correction_id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
  target TEXT NOT NULL, action TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL, reason TEXT NOT NULL,
  source TEXT NOT NULL, basis TEXT NOT NULL, made_utc TEXT NOT NULL, active INTEGER NOT NULL DEFAULT 1,
  ended TEXT NOT NULL DEFAULT '', outcome TEXT NOT NULL DEFAULT '', outcome_reason TEXT NOT NULL DEFAULT '',
  outcome_build INTEGER);
CREATE TABLE IF NOT EXISTS stops (fid INTEGER PRIMARY KEY AUTOINCREMENT, geom BLOB, stop_id TEXT NOT NULL,
  name TEXT NOT NULL DEFAULT '', review TEXT NOT NULL DEFAULT '', merge_into TEXT NOT NULL DEFAULT '',
  station TEXT NOT NULL DEFAULT '', build_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS layer_values (layer TEXT NOT NULL, key TEXT NOT NULL, field TEXT NOT NULL,
  value TEXT NOT NULL, PRIMARY KEY (layer, key, field));
"""


def _gpkg_point(lat: float, lon: float) -> bytes:
    header = b"GP" + bytes([0, 0b00000001]) + struct.pack("<i", 4326)  # LE, no envelope
    return header + shapely.to_wkb(shapely.points(lon, lat), byte_order=1)


def _point_of(blob: bytes | None) -> tuple[float, float] | None:
    """(lat, lon) of a GeoPackage point blob as QGIS writes it (any envelope), or None."""
    if not blob or blob[:2] != b"GP":
        return None
    envelope = (0, 32, 48, 48, 64)[(blob[3] >> 1) & 0b111]
    p = shapely.from_wkb(blob[8 + envelope:])
    return (p.y, p.x) if isinstance(p, shapely.Point) else None


def _write_layers(con: sqlite3.Connection, feed: bytes | None, digests: dict[str, str], build_id: int) -> None:
    """The routes and stops layers' editable fields as this build made them (after the corrections), the
    stops layer itself, and the traces' review fields from the corrections in force; each remembered as
    written, so that an edit in QGIS is told from what the build wrote."""
    con.execute("DELETE FROM stops")
    con.execute("DELETE FROM layer_values")
    if feed is not None:
        with zipfile.ZipFile(io.BytesIO(feed)) as z:
            routes = pd.read_csv(z.open("routes.txt"), dtype=str, keep_default_na=False).set_index("route_id")
            trips = pd.read_csv(z.open("trips.txt"), dtype=str, keep_default_na=False).set_index("trip_id")
            stops = pd.read_csv(z.open("stops.txt"), dtype=str, keep_default_na=False)
        if "location_type" in stops:
            stops = stops[stops["location_type"].isin(["", "0"])]
        for fid, route_id, tid in con.execute("SELECT fid, route_id, trip_id FROM routes").fetchall():
            r = routes.loc[route_id] if route_id in routes.index else None
            values = {"short_name": r["route_short_name"] if r is not None else "",
                      "long_name": r["route_long_name"] if r is not None else "",
                      "headsign": trips.at[tid, "trip_headsign"] if tid in trips.index and "trip_headsign" in trips
                      else "",
                      "review": "", "merge_into": "", "rides_digest": digests.get(route_id, "")}
            con.execute("UPDATE routes SET short_name = ?, long_name = ?, headsign = ?, review = ?, merge_into = ?, "
                        "rides_digest = ? WHERE fid = ?", (*values.values(), fid))
            _remember(con, "routes", tid, values)
        for s in stops.itertuples(index=False):
            con.execute("INSERT INTO stops (geom, stop_id, name, station, build_id) VALUES (?, ?, ?, ?, ?)",
                        (_gpkg_point(float(s.stop_lat), float(s.stop_lon)), s.stop_id, s.stop_name,
                         getattr(s, "parent_station", ""), build_id))
            _remember(con, "stops", s.stop_id, {"name": s.stop_name, "review": "", "merge_into": "",
                                                "lat": s.stop_lat, "lon": s.stop_lon})
    active = {(c.target, c.action): c for c in _active(con) if c.kind == "ride"}
    rows = []
    for fid, trace_id in con.execute("SELECT fid, trace_id FROM traces").fetchall():
        excluded, assigned = active.get((trace_id, "exclude")), active.get((trace_id, "assign"))
        rows.append(("exclude" if excluded else "", assigned.value if assigned else "",
                     excluded.reason if excluded else "", fid))
    con.executemany("UPDATE traces SET review = ?, assign_to = ?, reason = ? WHERE fid = ?", rows)
    con.executemany("INSERT OR REPLACE INTO layer_values VALUES ('traces', ?, ?, ?)",
                    [(str(r[3]), f, v) for r in rows for f, v in zip(EDITABLE["traces"], r[:3])])


def _remember(con, layer: str, key: str, values: dict[str, str]) -> None:
    con.executemany("INSERT OR REPLACE INTO layer_values VALUES (?, ?, ?, ?)",
                    [(layer, key, f, str(v)) for f, v in values.items()])


def _active(con) -> list[Correction]:
    rows = con.execute("SELECT correction_id, kind, target, action, field, value, reason, source, basis "
                       "FROM corrections WHERE active = 1 ORDER BY correction_id").fetchall()
    return [Correction(kind, target, action, field_, value, reason, cid, source, basis)
            for cid, kind, target, action, field_, value, reason, source, basis in rows]


def corrections(path: str | os.PathLike) -> list[Correction]:
    """The corrections in force (as recorded; a build applies ``review.canonical`` of them)."""
    with closing(connect(path)) as con:
        return _active(con)


def correction_rows(path: str | os.PathLike, *, all_: bool = False) -> list[dict[str, Any]]:
    """The corrections for ``review list``: each with when and how it was made and what the latest build did
    with it (applied, changed since its review, stale with the reason, or not built yet)."""
    with closing(connect(path)) as con:
        rows = pd.read_sql_query("SELECT * FROM corrections" + ("" if all_ else " WHERE active = 1") +
                                 " ORDER BY correction_id", con)
    return [{k: (None if pd.isna(v) else v.item() if hasattr(v, "item") else v) for k, v in r.items()}
            for r in rows.to_dict("records")]


def add_corrections(path: str | os.PathLike, made: Sequence[Correction], *, now: datetime) -> list[Correction]:
    """Record corrections (checked with ``review.check``, and their routes, patterns, stops and rides looked up
    in the latest build and the workspace: a WorkspaceError names the first wrong one and where to find what
    exists), all or none. Each replaces the one in force with its key (the same target and field). A route's
    ``reviewed`` without a basis gets the digest of its rides in the latest build."""
    for c in made:
        problem = check(c)
        if problem:
            raise WorkspaceError(f"{c.kind} {c.action} {c.target}: {problem}")
    out = []
    with _transaction(path) as con:
        known = _known_ids(con)
        for c in made:
            problem = _unknown(c, known, path)
            if problem:
                raise WorkspaceError(f"{c.kind} {c.action} {c.target}: {problem}")
        out = [_add(con, c, now) for c in made]
        _touch(con, ["corrections"], now)
    return out


def _known_ids(con: sqlite3.Connection) -> dict[str, set[str]] | None:
    """The ids a correction may name: the routes, patterns (trip ids), stops and stations of the latest build
    (as published and as matched), and the rides the workspace holds; None (routes ...) before any build."""
    rides = {t for (t,) in con.execute("SELECT DISTINCT trace_id FROM traces")}
    row = con.execute("SELECT feed, id_feed FROM builds WHERE feed IS NOT NULL ORDER BY build_id DESC LIMIT 1"
                      ).fetchone()
    if row is None:
        return {"ride": rides}
    known: dict[str, set[str]] = {"ride": rides, "route": set(), "pattern": set(), "stop": set(), "station": set()}
    for feed in filter(None, row):
        with zipfile.ZipFile(io.BytesIO(feed)) as z:
            known["route"] |= set(pd.read_csv(z.open("routes.txt"), dtype=str, usecols=["route_id"])["route_id"])
            known["pattern"] |= set(pd.read_csv(z.open("trips.txt"), dtype=str, usecols=["trip_id"])["trip_id"])
            stops = pd.read_csv(z.open("stops.txt"), dtype=str, keep_default_na=False)
        station = stops["location_type"].eq("1") if "location_type" in stops else pd.Series(False, index=stops.index)
        known["stop"] |= set(stops.loc[~station, "stop_id"])
        known["station"] |= set(stops.loc[station, "stop_id"])
    return known


def _unknown(c: Correction, known: dict[str, set[str]] | None, path) -> str | None:
    """Why a correction names what is not there (None: all it names exists)."""
    survey = os.fspath(path)
    if c.kind != "ride" and "route" not in known:
        return (f"there is no build yet, so no {c.kind} to correct: build the survey first (transitmap build "
                f"{survey} --out DIR), then correct what it found")
    where = {"route": f"the routes layer of {survey}/survey.gpkg lists them, as does routes.txt of the build's feed",
             "pattern": f"the routes layer of {survey}/survey.gpkg lists them (trip_id), as does trips.txt",
             "stop": f"the stops layer of {survey}/survey.gpkg lists them, as does stops.txt",
             "ride": f"transitmap status {survey} counts them; the traces layer of {survey}/survey.gpkg and the "
                     "build's traces.csv list them"}

    def missing(kind: str, ident: str, *, also: str = "") -> str | None:
        if ident in known.get(kind, ()) or (also and ident in known.get(also, ())):
            return None
        shown = sorted(known.get(kind, ()))
        few = f" ({', '.join(shown)})" if 0 < len(shown) <= 12 else ""
        return (f"{kind} {ident} is not in the {'survey' if kind == 'ride' else 'latest build'}{few}: "
                f"{where[kind]}")

    if c.kind in ("route", "pattern", "stop", "ride"):
        problem = missing(c.kind, c.target)
        if problem:
            return problem
    if c.kind == "fare":
        for stop in c.target.split(">"):
            if (problem := missing("stop", stop.strip())):
                return problem
    if c.action in ("merge", "branch_of") or (c.kind == "ride" and c.action == "assign"):
        if c.kind == "ride" and c.value.startswith("new:"):
            return None
        return missing("stop" if c.kind == "stop" else "route", c.value)
    if c.action == "partial_of":
        return missing("pattern", c.value)
    if c.kind == "stop" and c.field == "station" and c.value:
        return missing("stop", c.value, also="station")
    return None


def _add(con, c: Correction, now: datetime) -> Correction:
    if c.action == "reviewed" and not c.basis:
        row = con.execute("SELECT rides_digest FROM routes WHERE route_id = ? AND rides_digest != '' LIMIT 1",
                          (c.target,)).fetchone()
        c = replace(c, basis=row[0] if row else "")
    for old in _active(con):
        if old.key == c.key:
            con.execute("UPDATE corrections SET active = 0, ended = ? WHERE correction_id = ?",
                        (f"replaced {_iso(now)}", old.correction_id))
    cur = con.execute("INSERT INTO corrections (kind, target, action, field, value, reason, source, basis, made_utc) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (c.kind, c.target, c.action, c.field, c.value, c.reason, c.source, c.basis, _iso(now)))
    return replace(c, correction_id=cur.lastrowid)


def undo_corrections(path: str | os.PathLike, ids: Sequence[int], *, now: datetime) -> list[int]:
    """End the corrections ``ids`` (the next build no longer applies them). Returns those that were in force."""
    with _transaction(path) as con:
        live = {c.correction_id for c in _active(con)}
        done = [i for i in ids if i in live]
        con.executemany("UPDATE corrections SET active = 0, ended = ? WHERE correction_id = ?",
                        [(f"undone {_iso(now)}", i) for i in done])
        _touch(con, ["corrections"], now)
    return done


@dataclass
class LayerEdits:
    """What ``pick_up_edits`` found: the corrections it recorded, and the edits it could not read (each a dict of
    layer, key, field, value and why), which stay in the layer, reported again until mended or emptied."""

    recorded: list[Correction] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)


def pick_up_edits(path: str | os.PathLike, *, now: datetime) -> LayerEdits:
    """Record as corrections what a coordinator edited in the layers (QGIS) since the build wrote them:
    routes (short_name, long_name, headsign, review 'reviewed' or 'drop', merge_into), stops (name, review
    'drop', merge_into, a move of the point) and traces (review 'exclude' with its reason, assign_to). A field
    emptied ends the correction it had made; an edit that means nothing (review 'dropp') is refused."""
    out = LayerEdits()
    with _transaction(path) as con:
        written = {(layer, key, f): v for layer, key, f, v in con.execute("SELECT * FROM layer_values")}
        live = _active(con)
        made: list[tuple[Correction, tuple[str, str, str]]] = []  # with the field of the layer it came from
        ended: list[int] = []

        def edited(layer: str, key: str, f: str, value: Any) -> str | None:
            value = "" if value is None else str(value).strip()
            return value if value != written.get((layer, key, f), "") else None

        def end(kind: str, target: str, actions: tuple[str, ...]) -> None:
            ended.extend(c.correction_id for c in live if (c.kind, c.target) == (kind, target) and c.action in actions)

        def refuse(where: tuple[str, str, str], value: str, why: str) -> None:
            out.refused.append({"layer": where[0], "key": where[1], "field": where[2], "value": value, "why": why})

        seen_routes: set[tuple[str, str]] = set()
        for row in con.execute("SELECT trip_id, route_id, short_name, long_name, headsign, review, merge_into, "
                               "rides_digest FROM routes ORDER BY trip_id").fetchall():
            tid, rid, *values, digest = row
            for f, value in zip(EDITABLE["routes"], values):
                new, where = edited("routes", tid, f, value), ("routes", tid, f)
                if new is None or (rid, f) in seen_routes and f != "headsign":
                    continue
                seen_routes.add((rid, f))
                if f == "headsign":
                    made.append((Correction("pattern", tid, "set", "headsign", new, source="layer"), where))
                elif f in ("short_name", "long_name"):
                    made.append((Correction("route", rid, "set", f, new, source="layer"), where))
                elif f == "review" and new in ("reviewed", "drop"):
                    made.append((Correction("route", rid, new, basis=digest if new == "reviewed" else "",
                                            source="layer"), where))
                elif f == "review" and new:
                    refuse(where, new, "review is 'reviewed' or 'drop'")
                elif f == "review":
                    end("route", rid, ("reviewed", "drop"))
                elif new:  # merge_into
                    made.append((Correction("route", rid, "merge", value=new, source="layer"), where))
                else:
                    end("route", rid, ("merge",))
        for stop_id, name, review, merge_into, geom in con.execute(
                "SELECT stop_id, name, review, merge_into, geom FROM stops ORDER BY stop_id").fetchall():
            if (new := edited("stops", stop_id, "name", name)) is not None:
                made.append((Correction("stop", stop_id, "set", "name", new, source="layer"),
                             ("stops", stop_id, "name")))
            if (new := edited("stops", stop_id, "review", review)) == "drop":
                made.append((Correction("stop", stop_id, "drop", source="layer"), ("stops", stop_id, "review")))
            elif new:
                refuse(("stops", stop_id, "review"), new, "review is 'drop'")
            elif new == "":
                end("stop", stop_id, ("drop",))
            if (new := edited("stops", stop_id, "merge_into", merge_into)):
                made.append((Correction("stop", stop_id, "merge", value=new, source="layer"),
                             ("stops", stop_id, "merge_into")))
            elif new == "":
                end("stop", stop_id, ("merge",))
            at = _point_of(geom)
            was = written.get(("stops", stop_id, "lat")), written.get(("stops", stop_id, "lon"))
            if at is not None and None not in was and geodesic_m(*at, float(was[0]), float(was[1])) > _MOVED_M:
                made.append((Correction("stop", stop_id, "move", value=f"{at[0]:.6f},{at[1]:.6f}", source="layer"),
                             ("stops", stop_id, "geom")))
                _remember(con, "stops", stop_id, {"lat": f"{at[0]:.6f}", "lon": f"{at[1]:.6f}"})
        for fid, trace_id, review, assign_to, reason in con.execute(
                "SELECT fid, trace_id, review, assign_to, reason FROM traces ORDER BY fid").fetchall():
            key = str(fid)
            new_review, new_assign = edited("traces", key, "review", review), edited("traces", key, "assign_to",
                                                                                     assign_to)
            if new_review == "exclude" or (edited("traces", key, "reason", reason) is not None and
                                           (review or "").strip() == "exclude"):
                made.append((Correction("ride", trace_id, "exclude", reason=(reason or "").strip(), source="layer"),
                             ("traces", key, "review")))
            elif new_review:
                refuse(("traces", key, "review"), new_review, "review is 'exclude'")
            elif new_review == "":
                end("ride", trace_id, ("exclude",))
            if new_assign:
                made.append((Correction("ride", trace_id, "assign", value=new_assign, source="layer"),
                             ("traces", key, "assign_to")))
            elif new_assign == "":
                end("ride", trace_id, ("assign",))
        known = _known_ids(con)
        for c, where in made:
            if (why := check(c) or _unknown(c, known, path)) is None:
                out.recorded.append(_add(con, c, now))
            else:
                refuse(where, c.value, why)
        con.executemany("UPDATE corrections SET active = 0, ended = ? WHERE correction_id = ?",
                        [(f"emptied in the layer {_iso(now)}", i) for i in sorted(set(ended))])
        keep = {(r["layer"], r["key"], r["field"]) for r in out.refused}  # still edits, until mended
        for layer, table, key_col in (("routes", "routes", "trip_id"), ("stops", "stops", "stop_id"),
                                      ("traces", "traces", "fid")):
            for row in con.execute(f"SELECT {key_col}, {', '.join(EDITABLE[layer])} FROM {table}").fetchall():
                _remember(con, layer, str(row[0]), {f: "" if v is None else str(v).strip()
                                                    for f, v in zip(EDITABLE[layer], row[1:])
                                                    if (layer, str(row[0]), f) not in keep})
        if out.recorded or ended:
            _touch(con, ["corrections"], now)
    return out


def review_progress(path: str | os.PathLike) -> dict[str, Any]:
    """Review progress for ``status`` and ``review list``: corrections in force by what the latest build did
    with them, the routes reviewed and those changed since, and the rides assigned or excluded by hand."""
    with closing(connect(path)) as con:
        rows = con.execute("SELECT kind, action, target, outcome FROM corrections WHERE active = 1").fetchall()
        routes = {r for (r,) in con.execute("SELECT DISTINCT route_id FROM routes")}
    outcome = Counter(o or "not built yet" for *_, o in rows)
    reviewed = {t for k, a, t, _ in rows if (k, a) == ("route", "reviewed")}
    return {"corrections": len(rows), "applied": outcome.get("applied", 0) + outcome.get("changed", 0),
            **{k: outcome.get(k, 0) for k in ("stale", "not built yet")},
            "routes": len(routes), "routes_reviewed": len(reviewed & routes),
            "routes_changed_since_review": sorted(t for k, a, t, o in rows if (k, a) == ("route", "reviewed")
                                                  and o == "changed"),
            "rides_excluded": sum(1 for k, a, *_ in rows if (k, a) == ("ride", "exclude")),
            "rides_assigned": sum(1 for k, a, *_ in rows if (k, a) == ("ride", "assign"))}

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

from . import notices as N
from .errors import WorkspaceError
from .gpkg import (
    CONTENTS,
    GPKG_APPLICATION_ID,
    GPKG_VERSION,
    SCHEMA,
    ensure_review_tables,
    line_blob,
    point_blob,
    point_of,
    srs_rows,
)
from .gtfs import read_feed
from .model import Fare, Stop, Trace
from .read import InputFile, ReadLimits, ReadResult, list_inputs, read_file
from .review import EDITABLE, Correction, LayerEdits, check, layer_corrections, unknown_target
from .validate import ValidationConfig, check_trace_safely

WORKSPACE_FILE = "survey.gpkg"
SCHEMA_VERSION = 1


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
        con.executescript(SCHEMA)
        con.execute(f"PRAGMA application_id = {GPKG_APPLICATION_ID}")
        con.execute(f"PRAGMA user_version = {GPKG_VERSION}")
        con.executemany("INSERT INTO gpkg_spatial_ref_sys VALUES (?, ?, ?, ?, ?, ?)", srs_rows())
        stamp = _iso(now)
        for table, kind, description in CONTENTS:
            con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier, description, last_change, "
                        "srs_id) VALUES (?, ?, ?, ?, ?, ?)",
                        (table, kind, table, description, stamp, 4326 if kind == "features" else None))
            if kind == "features":
                con.execute("INSERT INTO gpkg_geometry_columns VALUES (?, 'geom', 'LINESTRING', 4326, 0, 0)", (table,))
        settings = {"name": name or folder.resolve().name, "timezone": timezone_name or "", "currency": currency or "",
                    "created": stamp, "schema_version": str(SCHEMA_VERSION)}
        con.executemany("INSERT INTO survey VALUES (?, ?)", sorted(settings.items()))
        con.commit()
        ensure_review_tables(con)
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
    ensure_review_tables(con)
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
            (line_blob(tr.lat[keep], tr.lon[keep]), tr.trace_id, res.source, f.name, tr.collector_id or "", status,
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
            tables = read_feed(feed, ("routes", "stops"))  # a station's id is its first stop's: not issued
            for kind, rows, column in (("route", tables.routes, "route_id"), ("stop", tables.stops, "stop_id")):
                for i in rows[column]:
                    con.execute("INSERT INTO issued_ids (id, kind, first_build, last_build) VALUES (?, ?, ?, ?) "
                                "ON CONFLICT(id) DO UPDATE SET last_build = excluded.last_build",
                                (i, kind, build_id, build_id))
        con.execute("DELETE FROM routes")
        for r in route_lines or []:
            con.execute("INSERT INTO routes (geom, route_id, direction_id, trip_id, route_name, rides, directions, "
                        "confidence, build_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (line_blob(r["lat"], r["lon"]), r["route_id"], r["direction_id"], r["trip_id"],
                         r["route_name"], r["rides"], r["directions"], r["confidence"], build_id))
        for cid, (outcome, reason) in sorted((review_outcomes or {}).items()):
            con.execute("UPDATE corrections SET outcome = ?, outcome_reason = ?, outcome_build = ? "
                        "WHERE correction_id = ?", (outcome, reason, build_id, cid))
        _write_layers(con, feed, route_digests or {}, build_id)
        _touch(con, ["builds", "issued_ids", "routes", "stops", "corrections"], now)
    return build_id




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







def collector_ids(path: str | os.PathLike) -> list[str]:
    """The collector ids of the workspace's traces."""
    with closing(connect(path)) as con:
        return [c for (c,) in con.execute("SELECT DISTINCT collector FROM traces WHERE collector != '' ORDER BY 1")]


# --------------------------------------------------------------------------------------------------
# Review: corrections made by hand (``transitmap review`` or edits of the layers in QGIS)











def _write_layers(con: sqlite3.Connection, feed: bytes | None, digests: dict[str, str], build_id: int) -> None:
    """The routes and stops layers' editable fields as this build made them (after the corrections), the
    stops layer itself, and the traces' review fields from the corrections in force; each remembered as
    written, so that an edit in QGIS is told from what the build wrote."""
    con.execute("DELETE FROM stops")
    con.execute("DELETE FROM layer_values")
    if feed is not None:
        tables = read_feed(feed, ("routes", "trips", "stops"))
        routes, trips, stops = tables.routes.set_index("route_id"), tables.trips.set_index("trip_id"), tables.stops
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
                        (point_blob(float(s.stop_lat), float(s.stop_lon)), s.stop_id, s.stop_name,
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
            problem = unknown_target(c, known, os.fspath(path))
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
        tables = read_feed(feed, ("routes", "trips", "stops"))
        known["route"] |= set(tables.routes["route_id"])
        known["pattern"] |= set(tables.trips["trip_id"])
        known["stop"] |= set(tables.stops["stop_id"])
        known["station"] |= set(tables.stations["stop_id"])
    return known


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


def pick_up_edits(path: str | os.PathLike, *, now: datetime) -> LayerEdits:
    """Record as corrections what a coordinator edited in the layers (QGIS) since the build wrote them
    (``review.layer_corrections`` says what each edit means); a field emptied ends the correction it had
    made; an edit that means nothing stays in the layer, refused, until mended."""
    with _transaction(path) as con:
        written = {(layer, key, f): v for layer, key, f, v in con.execute("SELECT * FROM layer_values")}
        live = _active(con)
        layers = {
            "routes": con.execute("SELECT trip_id, route_id, short_name, long_name, headsign, review, merge_into, "
                                  "rides_digest FROM routes ORDER BY trip_id").fetchall(),
            "stops": [(stop_id, name, review, merge_into, point_of(geom)) for stop_id, name, review, merge_into, geom
                      in con.execute("SELECT stop_id, name, review, merge_into, geom FROM stops ORDER BY stop_id")],
            "traces": con.execute("SELECT fid, trace_id, review, assign_to, reason FROM traces ORDER BY fid"
                                  ).fetchall()}
        reading = layer_corrections(layers, written)
        out = LayerEdits(refused=list(reading.refused))
        for stop_id, lat, lon in reading.moved:
            _remember(con, "stops", stop_id, {"lat": f"{lat:.6f}", "lon": f"{lon:.6f}"})
        ended = sorted({c.correction_id for kind, target, actions in reading.ended for c in live
                        if (c.kind, c.target) == (kind, target) and c.action in actions})
        known = _known_ids(con)
        for c, where in reading.made:
            if (why := check(c) or unknown_target(c, known, os.fspath(path))) is None:
                out.recorded.append(_add(con, c, now))
            else:
                out.refused.append({"layer": where[0], "key": where[1], "field": where[2], "value": c.value,
                                    "why": why})
        con.executemany("UPDATE corrections SET active = 0, ended = ? WHERE correction_id = ?",
                        [(f"emptied in the layer {_iso(now)}", i) for i in ended])
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

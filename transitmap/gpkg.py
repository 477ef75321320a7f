"""The survey workspace's GeoPackage: its tables, the layers QGIS opens (traces, routes, stops) and their
geometry blobs (GeoPackage's binary header, then WKB, WGS84)."""

from __future__ import annotations

import sqlite3
import struct
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from .gtfs import read_feed
from .review import EDITABLE

GPKG_APPLICATION_ID = 0x47504B47  # "GPKG"


GPKG_VERSION = 10300


def route_layer(feed: bytes, routes) -> list[dict[str, Any]]:
    """The feed's patterns (WGS84 shapes) with their route's long name, rides, directions and confidence
    (``routes``: the route table of ``stats.feed_stats`` with a ledger), for ``record_build``."""
    tables = read_feed(feed, ("trips", "shapes"))
    trips, shapes = tables.trips, tables.shapes
    shapes = shapes.assign(seq=shapes["shape_pt_sequence"].astype(int)).sort_values(["shape_id", "seq"], kind="stable")
    points = shapes.groupby("shape_id", sort=False).indices  # one pass, not one scan per trip
    lat, lon = (pd.to_numeric(shapes[c]).to_numpy(float) for c in ("shape_pt_lat", "shape_pt_lon"))
    info = routes.set_index("route_id")
    value = lambda rid, col, default: info.at[rid, col] if rid in info.index and col in info else default  # noqa: E731
    return [{"route_id": t.route_id, "direction_id": int(t.direction_id), "trip_id": t.trip_id,
             "route_name": str(value(t.route_id, "route_long_name", "")), "rides": int(value(t.route_id, "rides", 0)),
             "directions": int(value(t.route_id, "directions", 0)),
             "confidence": str(value(t.route_id, "confidence", "")),
             "lat": lat[points[t.shape_id]], "lon": lon[points[t.shape_id]]}
            for t in trips.sort_values("trip_id").itertuples(index=False)]


def line_blob(lat: np.ndarray, lon: np.ndarray) -> bytes | None:
    """A GeoPackage geometry blob (WGS84 line, at most 500 points) of the points; None for fewer than two."""
    if len(lat) < 2:
        return None
    k = np.unique(np.linspace(0, len(lat) - 1, min(len(lat), 500)).round().astype(int))
    line = shapely.linestrings(np.column_stack([np.asarray(lon)[k], np.asarray(lat)[k]]))
    x0, y0, x1, y1 = shapely.bounds(line)
    header = b"GP" + bytes([0, 0b00000011]) + struct.pack("<i4d", 4326, x0, x1, y0, y1)  # LE, xy envelope
    return header + shapely.to_wkb(line, byte_order=1)


def srs_rows():
    return [("Undefined cartesian SRS", -1, "NONE", -1, "undefined", "undefined cartesian coordinate reference system"),
            ("Undefined geographic SRS", 0, "NONE", 0, "undefined", "undefined geographic coordinate reference system"),
            ("WGS 84 geodetic", 4326, "EPSG", 4326, CRS.from_epsg(4326).to_wkt("WKT1_GDAL"),
             "longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid")]


CONTENTS = [
    ("traces", "features", "imported traces: status, notice codes, usable points"),
    ("routes", "features", "the latest build's patterns with their rides and confidence"),
    ("files", "attributes", "files imported, by content hash"),
    ("imports", "attributes", "imports: when and how much"),
    ("builds", "attributes", "builds: feed, ledger, counts"),
    ("issued_ids", "attributes", "every route and stop id published"),
    ("survey", "attributes", "name, time zone, currency"),
]


REVIEW_CONTENTS = [
    ("stops", "features", "the latest build's stops: edit name, review (drop) and merge_into, or move them"),
    ("corrections", "attributes", "corrections made by hand, applied by every build"),
]


SCHEMA = """
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


def ensure_review_tables(con: sqlite3.Connection) -> None:
    """The review's tables and editable columns, in a workspace made before they existed too (idempotent)."""
    tables = {t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    columns = lambda t: {c[1] for c in con.execute(f"PRAGMA table_info({t})")}  # noqa: E731
    wanted = {"routes": [*EDITABLE["routes"], "rides_digest"], "traces": list(EDITABLE["traces"])}
    if {"corrections", "stops", "layer_values"} <= tables and all(set(v) <= columns(t) for t, v in wanted.items()) \
            and "id_feed" in columns("builds"):
        return
    with con:
        con.executescript(REVIEW_SCHEMA)
        for table, cols in wanted.items():
            for col in cols:
                if col not in columns(table):
                    con.execute(f"ALTER TABLE {table} ADD COLUMN {col} TEXT NOT NULL DEFAULT ''")
        if "id_feed" not in columns("builds"):  # the feed before the corrections, for the ids (previous_build)
            con.execute("ALTER TABLE builds ADD COLUMN id_feed BLOB")
        for table, kind, description in REVIEW_CONTENTS:
            con.execute("INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description, srs_id) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (table, kind, table, description, 4326 if kind == "features" else None))
        con.execute("INSERT OR IGNORE INTO gpkg_geometry_columns VALUES ('stops', 'geom', 'POINT', 4326, 0, 0)")
        stamp = con.execute("SELECT value FROM survey WHERE key = 'created'").fetchone()
        if stamp:
            con.execute("UPDATE gpkg_contents SET last_change = ? WHERE table_name IN ('stops', 'corrections')",
                        (stamp[0],))


REVIEW_SCHEMA = """
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


def point_blob(lat: float, lon: float) -> bytes:
    header = b"GP" + bytes([0, 0b00000001]) + struct.pack("<i", 4326)  # LE, no envelope
    return header + shapely.to_wkb(shapely.points(lon, lat), byte_order=1)


def point_of(blob: bytes | None) -> tuple[float, float] | None:
    """(lat, lon) of a GeoPackage point blob as QGIS writes it (any envelope), or None."""
    if not blob or blob[:2] != b"GP":
        return None
    envelope = (0, 32, 48, 48, 64)[(blob[3] >> 1) & 0b111]
    p = shapely.from_wkb(blob[8 + envelope:])
    return (p.y, p.x) if isinstance(p, shapely.Point) else None

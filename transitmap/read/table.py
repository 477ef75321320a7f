"""CSV of points by its header, whatever its name, separator or locale (GPS logger apps, spreadsheets,
KoboToolbox point exports), with ``traces.csv``, ``stops.csv``, ``fares.csv``, ``departures.csv`` beside
``points.csv``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from pathlib import PurePosixPath
from typing import IO

import numpy as np
import pandas as pd

from .. import notices as N
from ..model import STOP_KINDS
from .base import CSV_TABLES, InputFile, Reader, ReadLimits, ReadResult, failed_read, read_table
from .dates import date_order, looks_iso, spreadsheet_times
from .notes import marks_of
from .traces import build_trace, int_or_none, number_or_none

#: Column names that GPS logger apps, spreadsheets and survey tools write, by the schema field they hold (the
#: first found is used; names are compared lower-cased, spaces and dashes as underscores)
CSV_COLUMNS = {
    "trace_id": ("trace_id", "track_id", "track", "trace", "ride_id", "ride", "trip_id", "trip", "segment", "viaje",
                 "id_viaje", "trayecto", "trajet", "id_trajet", "viagem", "id_viagem"),
    "lat": ("lat", "latitude", "lat_deg", "latitude_deg", "latitud", "y"),
    "lon": ("lon", "lng", "long", "longitude", "lon_deg", "longitude_deg", "longitud", "x"),
    "time": ("time", "timestamp", "datetime", "date_time", "time_utc", "utc_time", "gps_time", "fix_time",
             "recorded_at", "fecha_hora", "fecha_y_hora", "marca_temporal", "date_heure", "date_et_heure",
             "horodatage", "data_hora", "data_e_hora", "carimbo_de_data/hora", "hora", "heure", "horario",
             "hora_local", "heure_locale"),
    "date": ("date", "fecha", "jour", "data", "dia"),
    "accuracy": ("accuracy", "accuracy_m", "horizontal_accuracy", "acc", "precision", "hacc", "exactitud",
                 "precisao", "exactitude"),
    "speed": ("speed", "speed_mps", "speed_m_s", "velocidad", "vitesse", "velocidade"),
}


_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")


def _read_csv_table(f: InputFile, limits: ReadLimits, required: tuple[str, ...],
                    notes: list[N.Notice], aliases: bool = False) -> pd.DataFrame | None:
    df = read_table(f, limits, notes)
    if df is None:
        return None
    if aliases:  # any CSV of points: its columns by the names tools give them
        found = {field: next((c for c in names if c in df.columns), None) for field, names in CSV_COLUMNS.items()}
        found.update({field: c for field, c in limits.columns.named(df.columns).items() if field in found})
        # the time: the first column of written times; else one of epoch seconds or milliseconds
        stamps = [c for c in (found["time"], *CSV_COLUMNS["time"]) if c in df.columns]
        written = [c for c in stamps if not df[c].head(20).str.fullmatch(r"\s*\d{9,13}(\.\d+)?\s*").all()]
        found["time"] = written[0] if written else (stamps[0] if stamps else None)
        if found["time"] and "utc" in found["time"] and written:  # named UTC, written without a zone
            naive = ~df[found["time"]].str.strip().str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True)
            df.loc[naive, found["time"]] = df.loc[naive, found["time"]].str.strip() + "Z"
        if found["time"] and not written and len(df):
            epoch = pd.to_numeric(df[found["time"]], errors="coerce")
            unit = "ms" if epoch.median() > 1e11 else "s"
            df[found["time"]] = pd.to_datetime(epoch, unit=unit, utc=True, errors="coerce").map(
                lambda t: "" if pd.isna(t) else t.isoformat())
        df = df.rename(columns={c: field for field, c in found.items() if c and c != field and field not in df.columns})
        if "time" in df.columns and written and not looks_iso(df["time"]):  # as spreadsheets and apps write them
            got = spreadsheet_times(df["time"], df["date"] if "date" in df.columns else None, name=f.name,
                                    order=date_order(limits.columns.date_format),
                                    groups=df["trace_id"] if "trace_id" in df.columns else None)
            df["time"] = got.iso
            if got.ambiguous:
                notes.append(N.AmbiguousDateOrderNotice(
                    file=f.name, location=f"line {got.example_row + 2}" if got.example_row >= 0 else "file name",
                    value=got.example, order="day first" if got.order != "mdy" else "month first"))
    missing = [c for c in required if c not in df.columns]
    if missing:
        names = ", ".join(CSV_COLUMNS.get(missing[0], (missing[0],))) if aliases else repr(missing[0])
        notes.append(N.InvalidCsvNotice(file=f.name, message=f"missing column {missing[0]!r}"
                                        + (f" (read from any of: {names})" if aliases else ""), field=missing[0]))
        return None
    if "trace_id" in df.columns:
        df["trace_id"] = df["trace_id"].str.strip()
    df["_line"] = np.arange(len(df)) + 2
    return df


def read_csv(f: InputFile, limits: ReadLimits) -> list[ReadResult]:
    """The traces of a CSV of points: grouped by a trace id column, else one trace named after the file; the
    columns by their names (``CSV_COLUMNS``), the separator sniffed, decimal commas read (``-1,2921``)."""
    file_notes: list[N.Notice] = []
    pts = _read_csv_table(f, limits, ("lat", "lon", "time"), file_notes, aliases=True)
    if pts is None:
        return [failed_read(f.name, *file_notes)]
    if pts.empty:
        return [failed_read(f.name, N.EmptyFileNotice(file=f.name), *file_notes)]
    if "trace_id" not in pts.columns:  # one trace a file (GPS logger apps)
        pts["trace_id"] = PurePosixPath(f.name.replace("\\", "/")).name.rsplit(".", 1)[0]
    commas = [c for c in ("lat", "lon", "accuracy", "speed") if c in pts.columns
              and pts[c].str.match(_DECIMAL_COMMA).any() and not pts[c].str.contains(r"\.", regex=True).any()]
    for c in commas:
        pts[c] = pts[c].str.replace(",", ".", regex=False)
    if commas:
        file_notes.append(N.DecimalCommaNotice(file=f.name, field=", ".join(commas)))
    tables: dict[str, pd.DataFrame | None] = {}
    required = {"traces.csv": ("trace_id",), "stops.csv": ("trace_id", "time", "lat", "lon"),
                "fares.csv": ("trace_id", "amount"), "departures.csv": ("trace_id", "time")}
    for tname, sib in sorted(f.siblings.items()):
        tables[tname] = _read_csv_table(sib, limits, required.get(tname, ("trace_id",)), file_notes)
    for col in ("lat", "lon", "accuracy", "speed"):
        if col in pts.columns:
            pts[col + "_f"] = pd.to_numeric(pts[col].str.strip().replace("", np.nan), errors="coerce")
    known = set(pts["trace_id"])
    for tname, df in tables.items():
        if df is not None:
            orphans = df[~df["trace_id"].isin(known)]
            if len(orphans):
                row = orphans.iloc[0]
                file_notes.append(N.InvalidFieldNotice(
                    file=_sibling_name(f, tname), trace_id=str(row["trace_id"]), location=f"line {row['_line']}",
                    message=f"{len(orphans)} row(s) name a trace_id that is not in points.csv; ignored"))
    groups = {tid: g for tid, g in pts.groupby("trace_id", sort=True)}
    results = []
    for tid, g in groups.items():
        notes = list(file_notes) if not results else []
        lines = g["_line"].to_numpy()
        meta_row = _rows_for(tables.get("traces.csv"), tid)
        meta = {k: (meta_row[0].get(k) or None) if meta_row else None
                for k in ("collector_id", "mode", "route_name", "operator", "origin", "destination", "notes")}
        if meta_row and len(meta_row) > 1:
            notes.append(N.InvalidFieldNotice(file=_sibling_name(f, "traces.csv"), trace_id=tid,
                                              location=f"line {meta_row[1]['_line']}",
                                              message="trace_id listed more than once in traces.csv; first row used"))
        if not meta["collector_id"]:
            notes.append(N.MissingCollectorIdNotice(file=f.name, trace_id=tid))
        stop_rows = _rows_for(tables.get("stops.csv"), tid)
        stops = []
        for r in stop_rows:
            d = _csv_stop(r)
            if d is None:
                notes.append(N.InvalidFieldNotice(file=_sibling_name(f, "stops.csv"), trace_id=tid,
                                                  location=f"line {r['_line']}",
                                                  message="stop without valid lat/lon; ignored"))
            else:
                stops.append((f"{_sibling_name(f, 'stops.csv')} line {r['_line']}", d))
        fares = []
        for r in _rows_for(tables.get("fares.csv"), tid):
            d = _csv_fare(r)
            loc = f"{_sibling_name(f, 'fares.csv')} line {r['_line']}"
            if d is None:
                notes.append(N.InvalidFieldNotice(file=_sibling_name(f, "fares.csv"), trace_id=tid,
                                                  location=f"line {r['_line']}",
                                                  message="fare amount is not a number; ignored"))
            else:
                fares.append((loc, d))
        deps = [r["time"] for r in _rows_for(tables.get("departures.csv"), tid)]
        col = lambda c, g=g: g[c + "_f"].to_numpy() if c + "_f" in g.columns else None  # noqa: E731
        note_col = next((c for c in ("annotation", "annotations", "note", "comment", "description") if c in g.columns),
                        None)
        if note_col is not None:  # a GPS logger's annotations: marks at the rows that carry one
            marked = g[g[note_col].str.strip() != ""]
            more_stops, more_fares = marks_of(
                [(f"line {r['_line']}", r[note_col], [r[note_col]], r["time"].strip() or None, r.get("lat_f"),
                  r.get("lon_f")) for r in marked.to_dict("records")], f.name, notes,
                g["lon_f"].to_numpy() if "lon_f" in g.columns else np.array([np.nan]))
            stops += [m for m in more_stops if m[1]["lat"] is not None and np.isfinite(m[1]["lat"])]
            fares += more_fares
        trace = build_trace(
            source=f.name, trace_id=tid, meta=meta, times=[s.strip() for s in g["time"].tolist()],
            lat=col("lat"), lon=col("lon"), accuracy=col("accuracy"), speed=col("speed"),
            stops=stops, fares=fares, departures=deps,
            locate=lambda i, fld="", lines=lines: f"line {lines[i]}", notices=notes,
        )
        results.append(ReadResult(f.name, trace, tuple(notes)))
    return results


def _sibling_name(f: InputFile, table: str) -> str:
    sib = f.siblings.get(table)
    return sib.name if sib else table


def _rows_for(df: pd.DataFrame | None, tid: str) -> list[dict]:
    if df is None:
        return []
    return df[df["trace_id"] == tid].to_dict("records")


def _csv_stop(r: dict) -> dict | None:
    lat, lon = number_or_none(r.get("lat")), number_or_none(r.get("lon"))
    if lat is None or lon is None:
        return None
    kind = (r.get("kind") or "stop").strip().lower()
    return {"time": r.get("time", "").strip(), "lat": lat, "lon": lon, "kind": kind if kind in STOP_KINDS else "stop",
            "name": r.get("name") or None, "boarded": int_or_none(r.get("boarded")),
            "alighted": int_or_none(r.get("alighted"))}


def _csv_fare(r: dict) -> dict | None:
    amount = number_or_none(r.get("amount"))
    if amount is None:
        return None  # a fare without a currency is in the survey's (fares.settle_currencies)
    return {"amount": amount, "currency": (r.get("currency") or "").strip(),
            "from_stop": int_or_none(r.get("from_stop")),
            "to_stop": int_or_none(r.get("to_stop"))}


def _read_csv_file(f: InputFile, opener: Callable[[], IO[bytes]], limits: ReadLimits) -> list[ReadResult]:
    if PurePosixPath(f.name.lower().removesuffix(".gz")).name in CSV_TABLES[1:]:
        return [failed_read(f.name, N.UnsupportedFileNotice(file=f.name))]  # a stops.csv ... without its points.csv
    return read_csv(replace(f, open=opener), limits)  # any CSV of points, by its header


READER = Reader("csv", (".csv",), _read_csv_file)

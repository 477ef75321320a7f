"""Read collector recordings into :class:`~transitmap.model.Trace` objects plus notices.

Formats: canonical JSON (one trace or a list), JSON Lines, GPX 1.0/1.1 (OSMTracker and other loggers), CSV
(``points.csv`` with optional ``traces.csv``, ``stops.csv``, ``fares.csv``, ``departures.csv``), each of them
gzip-compressed, and directories or ``.zip`` archives of any of them.

Reading is lenient: a file it can partly understand yields what it can, and every problem it sees (syntax,
types, the schema) becomes a notice. Semantic checks (ranges, speeds, gaps ...) belong to
:mod:`transitmap.validate`. Nothing here raises on bad input.
"""

from __future__ import annotations

import copy
import dataclasses
import gzip
import io
import json
import os
import re
import stat
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import lru_cache
from importlib import resources
from itertools import repeat
from operator import attrgetter, itemgetter
from pathlib import Path, PurePosixPath
from typing import IO, Annotated, Any, Callable, Iterator, Literal, Optional, Sequence
from zoneinfo import ZoneInfo

import defusedxml.ElementTree as DET
import fastjsonschema
import gpxpy
import gpxpy.gpx
import jsonschema
import msgspec
import numpy as np
import pandas as pd
from defusedxml import DefusedXmlException
from referencing import Registry, Resource
from timezonefinder import TimezoneFinder

from . import notices as N
from .geo import WGS84
from .model import STOP_KINDS, Fare, Stop, Trace, known_currency

SCHEMA_MAJOR = "1"
CSV_TABLES = ("points.csv", "traces.csv", "stops.csv", "fares.csv", "departures.csv")
_NUMBER = frozenset({int, float})  # JSON numbers; bool is not one


@dataclass(frozen=True)
class ReadLimits:
    """Sizes beyond which input is refused rather than read."""

    max_file_bytes: int = 512 * 2**20  # a JSON, GPX or CSV file read in one piece
    max_line_bytes: int = 64 * 2**20  # one JSON Lines line
    max_archive_ratio: float = 200.0  # uncompressed / compressed, for members over 1 MiB
    max_archive_depth: int = 2  # zips within zips


@dataclass(frozen=True)
class ReadResult:
    """What one trace (or one file that yielded no trace) became when read."""

    source: str
    trace: Trace | None
    notices: tuple[N.Notice, ...] = ()


@dataclass(frozen=True)
class InputFile:
    """One file to read: its display name and a way to open it."""

    name: str
    open: Callable[[], IO[bytes]]
    size: int | None = None
    siblings: dict[str, "InputFile"] = field(default_factory=dict)  # CSV tables beside points.csv
    #: what the file was read as already (a survey workspace keeps traces read on import): no re-reading
    results: Callable[[], list["ReadResult"]] | None = None


# --------------------------------------------------------------------------------------------------
# Discovering files


def list_inputs(paths: Sequence[str | os.PathLike | InputFile]) -> tuple[list[InputFile], list[ReadResult]]:
    """The readable files under ``paths`` (files, directories read recursively; ``InputFile`` as given),
    sorted by name, and results for what cannot be read at all (missing paths, links leaving the input)."""
    files: list[InputFile] = []
    problems: list[ReadResult] = []
    for raw in paths:
        if isinstance(raw, InputFile):
            files.append(raw)
            continue
        p = Path(raw)
        if p.is_dir():
            root = p.resolve()
            found = []
            for dirpath, dirnames, filenames in os.walk(p, followlinks=False):
                dirnames.sort()
                for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
                    fp = Path(dirpath) / name
                    rel = fp.relative_to(p).as_posix()
                    if fp.is_symlink():
                        target = fp.resolve()
                        if not target.is_relative_to(root):
                            problems.append(_failed(rel, N.UnsafePathNotice(file=rel, value=str(os.readlink(fp)))))
                            continue
                        if target.is_dir():
                            continue  # a link to a folder inside the input is read there already
                    found.append((rel, fp))
            files.extend(_group([(rel, _fs_file(rel, fp)) for rel, fp in found]))
        elif p.exists():
            files.append(_fs_file(p.name, p))
        else:
            problems.append(_failed(str(raw), N.UnreadableFileNotice(file=str(raw), message="no such file or directory")))
    files.sort(key=lambda f: f.name)
    return files, problems


def _fs_file(name: str, path: Path) -> InputFile:
    try:
        size = path.stat().st_size
    except OSError:
        size = None
    return InputFile(name, _Opener(path), size)


@dataclass(frozen=True)
class _Opener:
    """Opens one file on disk (a value, not a closure: input files can be sent to other processes)."""

    path: Path

    def __call__(self) -> IO[bytes]:
        return _open_regular(self.path)


def _open_regular(path: Path) -> IO[bytes]:
    """Open a regular file for reading; a pipe, socket or device (which could block the run for ever, or never
    end) raises OSError, also when the file was swapped for one after it was listed."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError("not a regular file (a pipe, socket or device)")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


_GEOJSON_STOPS = re.compile(r"(?i)(^|[/_\- ])stops?(/|[_\- ]?\w*\.(geo)?json$)")


def _group(entries: list[tuple[str, InputFile]]) -> list[InputFile]:
    """Attach ``traces.csv``, ``stops.csv`` ... to the ``points.csv`` of the same folder, and GeoJSON stop files
    (in a ``stops/`` folder, or named ``*stops.geojson``) to the GeoJSON routes beside them: the routes of the
    folder that holds the ``stops/`` folder (or the file), and of its subfolders, as TransitWand-style apps
    export them (``<route>/route/route.geojson`` + ``<route>/stops/route_<id>_stops.geojson``)."""
    by_dir: dict[str, dict[str, InputFile]] = {}
    stop_files: dict[str, dict[str, InputFile]] = {}
    out = []
    for rel, f in entries:
        pp = PurePosixPath(rel)
        if pp.name.lower() in CSV_TABLES:
            by_dir.setdefault(str(pp.parent), {})[pp.name.lower()] = f
        elif pp.suffix.lower() in (".geojson", ".json") and _GEOJSON_STOPS.search(rel):
            parts = pp.parent.parts
            owner = parts[: max(i for i, p in enumerate(parts) if p.lower() == "stops")] if any(
                p.lower() == "stops" for p in parts) else parts
            stop_files.setdefault(owner, {})[f.name] = f
        else:
            out.append(f)
    if stop_files:
        used = set()
        for k, f in enumerate(out):
            if not f.name.lower().endswith((".geojson", ".json")):
                continue
            folder = PurePosixPath(f.name.split("!")[-1]).parent.parts
            mine = {name: sf for owner, group in stop_files.items() if folder[: len(owner)] == owner
                    for name, sf in group.items()}
            if mine:
                out[k] = replace(f, siblings={**f.siblings, **mine})
                used |= set(mine)
        out.extend(sf for group in stop_files.values() for name, sf in group.items() if name not in used)
    for tables in by_dir.values():
        points = tables.pop("points.csv", None)
        if points is None:
            out.extend(tables.values())  # tables without points.csv: reported as unsupported
        else:
            out.append(InputFile(points.name, points.open, points.size, tables))
    return out


def _failed(source: str, *notices: N.Notice) -> ReadResult:
    return ReadResult(source, None, tuple(notices))


# --------------------------------------------------------------------------------------------------
# Reading one file


def read_file(f: InputFile, limits: ReadLimits = ReadLimits(), _depth: int = 0) -> list[ReadResult]:
    """Every trace in one input file, or one failed result naming what is wrong. Never raises."""
    try:
        return _read_file(f, limits, _depth)
    except (OSError, EOFError) as e:
        return [_failed(f.name, N.UnreadableFileNotice(file=f.name, message=str(e) or type(e).__name__))]
    except Exception as e:  # a bug of ours must not take the survey down with it
        return [_failed(f.name, N.SystemErrorNotice(file=f.name, message=f"{type(e).__name__}: {e}"))]


def _read_file(f: InputFile, limits: ReadLimits, depth: int) -> list[ReadResult]:
    if f.results is not None:
        return list(f.results())
    name = f.name.lower()
    if f.size is not None and f.size > limits.max_file_bytes and not name.removesuffix(".gz").endswith((".jsonl", ".ndjson")):
        # refused unread (JSON Lines are read line by line, whatever their size)
        return [_failed(f.name, N.FileTooLargeNotice(file=f.name, size_bytes=f.size, limit=limits.max_file_bytes))]
    if name.endswith((".zip", ".kmz")):  # a KMZ is a zip holding doc.kml
        return _read_zip(f, limits, depth)
    gz = name.endswith(".gz")
    base = name[:-3] if gz else name
    opener = f.open
    if gz:
        def opener():  # noqa: E306 - decompress on the fly, bounded by the readers' size limits
            raw = f.open()
            g = gzip.GzipFile(fileobj=raw, mode="rb")
            g.myfileobj = raw  # closing the gzip stream closes the file too
            return g
    if base.endswith((".jsonl", ".ndjson")):
        return _read_jsonl(f.name, opener, limits)
    if base.endswith((".json", ".geojson")):
        return _read_json(f.name, _read_all(f.name, opener, limits), f.siblings, limits)
    if base.endswith(".gpx"):
        return _read_gpx(f.name, _read_all(f.name, opener, limits))
    if base.endswith(".kml"):
        return _read_kml(f.name, _read_all(f.name, opener, limits))
    if base.endswith(".csv") and PurePosixPath(base).name not in CSV_TABLES[1:]:
        return _read_csv(f, limits)  # any CSV of points, by its header (a lone stops.csv ... is unsupported)
    return [_failed(f.name, N.UnsupportedFileNotice(file=f.name))]


def _read_all(name: str, opener: Callable[[], IO[bytes]], limits: ReadLimits) -> bytes | ReadResult:
    try:
        with opener() as fh:
            data = fh.read(limits.max_file_bytes + 1)
    except (gzip.BadGzipFile, zlib.error, EOFError, zipfile.BadZipFile) as e:
        return _failed(name, N.InvalidArchiveNotice(file=name, message=str(e) or type(e).__name__))
    if len(data) > limits.max_file_bytes:
        return _failed(name, N.FileTooLargeNotice(file=name, size_bytes=len(data), limit=limits.max_file_bytes))
    if not data.strip():
        return _failed(name, N.EmptyFileNotice(file=name))
    return data


def _read_zip(f: InputFile, limits: ReadLimits, depth: int) -> list[ReadResult]:
    if depth >= limits.max_archive_depth:
        return [_failed(f.name, N.ArchiveBombNotice(file=f.name, size_bytes=f.size or 0, ratio=0.0,
                                                    limit=limits.max_archive_depth))]
    try:
        with f.open() as fh:
            zf = zipfile.ZipFile(io.BytesIO(fh.read(limits.max_file_bytes + 1)))
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as e:
        return [_failed(f.name, N.InvalidArchiveNotice(file=f.name, message=str(e) or "not a zip file"))]
    results: list[ReadResult] = []
    entries = []
    for info in zf.infolist():
        if info.is_dir():
            continue
        if not info.flag_bits & 0x800:  # no UTF-8 flag: zipfile read the name as CP437, but many tools write
            try:  # UTF-8 without saying so; a name that is valid UTF-8 is taken as such
                info.filename = info.filename.encode("cp437").decode("utf-8")
            except (UnicodeEncodeError, UnicodeDecodeError):
                pass
        member = f"{f.name}!{info.filename}"
        parts = PurePosixPath(info.filename.replace("\\", "/")).parts
        if info.filename.startswith(("/", "\\")) or ".." in parts or re.match(r"^[A-Za-z]:", info.filename):
            results.append(_failed(member, N.UnsafeArchiveMemberNotice(file=member, value=info.filename)))
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > limits.max_file_bytes or (info.file_size > 2**20 and ratio > limits.max_archive_ratio):
            results.append(_failed(member, N.ArchiveBombNotice(file=member, size_bytes=info.file_size,
                                                               ratio=round(ratio, 1), limit=limits.max_file_bytes)))
            continue
        if PurePosixPath(info.filename).name.startswith("._"):  # macOS resource forks beside real files
            results.append(_failed(member, N.UnsupportedFileNotice(file=member)))
            continue
        entries.append((info.filename, InputFile(member, _bounded_member(zf, info, limits), info.file_size)))
    for inner in sorted(_group(entries), key=lambda x: x.name):
        results.extend(read_file(inner, limits, depth + 1))
    return results or [_failed(f.name, N.EmptyFileNotice(file=f.name))]  # an archive of nothing (or of folders)


def _bounded_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ReadLimits) -> Callable[[], IO[bytes]]:
    # The declared size can lie: read at most what it declares (zipfile checks the CRC at the end).
    def opener() -> IO[bytes]:
        with zf.open(info) as m:
            data = m.read(info.file_size + 1)
        if len(data) > info.file_size:
            raise zipfile.BadZipFile("member larger than its header declares")
        return io.BytesIO(data)

    return opener


# --------------------------------------------------------------------------------------------------
# JSON


@lru_cache(maxsize=1)
def trace_schema() -> dict:
    """The collector trace schema v1 (``collector_schema/trace-v1.schema.json``)."""
    return json.loads(resources.files("transitmap").joinpath("schemas/trace-v1.schema.json").read_text("utf-8"))


@lru_cache(maxsize=1)
def _validators():
    """Validators of the trace without its points (the points are checked column-wise, fast), by whether
    its stops were decoded as ``_FastStop`` (checked already): a compiled one as a quick gate, and
    jsonschema's, which lists every error with its path, for traces that fail the gate; and validators of
    single items, used only to explain a bad one."""
    lenient = copy.deepcopy(trace_schema())
    lenient["properties"]["points"] = {"type": "array"}  # items: checked column-wise
    lenient["$defs"]["time"] = {"type": "string"}  # time syntax: checked by the time parser
    typed = copy.deepcopy(lenient)
    typed["properties"]["stops"] = {"type": ["array", "null"]}  # items: decoded as _FastStop

    cls = jsonschema.Draft202012Validator
    full = trace_schema()
    registry = Registry().with_resource(full["$id"], Resource.from_contents(full))
    items = {k: cls({"$ref": f"{full['$id']}#/$defs/{k}"}, registry=registry) for k in ("point", "stop", "fare", "time")}
    return {False: (fastjsonschema.compile(lenient), cls(lenient)), True: (fastjsonschema.compile(typed), cls(typed))}, items


class _FastPoint(msgspec.Struct, gc=False):  # only str and float fields: no cycles to track
    time: str
    lat: float
    lon: float
    accuracy: Optional[float] = None  # noqa: UP007 - msgspec reads the annotation at run time
    speed: Optional[float] = None  # noqa: UP007


class _FastStop(msgspec.Struct, gc=False):
    """A stop as the schema's ``$defs/stop`` allows it (its time only a string: the time parser reads it),
    decoded and checked in C. It accepts nothing the schema rejects; what it rejects (even what the schema
    allows, such as ``"boarded": 3.0``) takes the lenient path, where the schema explains it."""

    time: str
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    kind: Literal["board", "alight", "both", "stop"]
    name: Optional[Annotated[str, msgspec.Meta(max_length=500)]] = None  # noqa: UP007
    boarded: Optional[Annotated[int, msgspec.Meta(ge=0)]] = None  # noqa: UP007
    alighted: Optional[Annotated[int, msgspec.Meta(ge=0)]] = None  # noqa: UP007
    wait_s: Any = None  # not in the schema, kept as read (as from a CSV export)
    note: Any = None


# A trace whose points and stops have the schema's types: decoded and type-checked in C, no dict per point
# or stop. The other fields (named by the schema) are checked by the schema afterwards; what does not fit
# takes the lenient path.
_FastTrace = msgspec.defstruct(
    "_FastTrace",
    [("points", list[_FastPoint]), ("stops", Optional[list[_FastStop]], msgspec.UNSET)]  # noqa: UP007
    + [(k, Any, msgspec.UNSET) for k in trace_schema()["properties"] if k not in ("points", "stops")],
)


_FAST_ONE = msgspec.json.Decoder(_FastTrace)
_FAST_MANY = msgspec.json.Decoder(list[_FastTrace])
_GENERIC = msgspec.json.Decoder()


def _parse_json(name: str, data: bytes, location: str, fast: msgspec.json.Decoder) -> tuple[Any, N.Notice | None]:
    """Decode JSON: typed when it fits ``fast``, else generic. Returns (document, encoding notice) or
    (None, the notice saying why not)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return fast.decode(data), None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        pass  # not the fast shape, or not JSON at all: find out which on the lenient path
    text, enc = _decode(name, data)
    try:
        return _GENERIC.decode(text.encode("utf-8") if isinstance(text, str) else text), enc
    except (msgspec.DecodeError, UnicodeDecodeError) as e:
        return None, N.InvalidJsonNotice(file=name, location=location, message=str(e)[:300])
    except RecursionError:
        return None, N.InvalidJsonNotice(file=name, location=location, message="nested too deeply")


def _read_json(name: str, data: bytes | ReadResult, siblings: dict[str, InputFile] | None = None,
               limits: ReadLimits = ReadLimits()) -> list[ReadResult]:
    if isinstance(data, ReadResult):
        return [data]
    doc, note = _parse_json(name, data, "", _FAST_MANY if re.match(rb"(\xef\xbb\xbf)?\s*\[", data) else _FAST_ONE)
    if doc is None:
        return [_failed(name, note)]
    if isinstance(doc, dict) and doc.get("type") in _GEOJSON_TYPES and "points" not in doc:
        return _with_file_notices(_read_geojson(name, doc, _stop_docs(siblings or {}, limits)), note)
    if isinstance(doc, list):
        results = [_trace_from_any(d, name, f"/{i}") for i, d in enumerate(doc)]
        if not results:
            results = [_failed(name, N.EmptyFileNotice(file=name))]
    else:
        results = [_trace_from_any(doc, name, "")]
    return _with_file_notices(results, note)


_GEOJSON_TYPES = frozenset({"FeatureCollection", "Feature", "LineString", "MultiLineString"})
_TIME_LISTS = ("coordTimes", "coordinateTimes", "times", "timestamps")  # what GPX/KML converters write
_POINT_TIMES = ("time", "timestamp", "datetime", "when")


def _stop_docs(siblings: dict[str, InputFile], limits: ReadLimits) -> list[tuple[str, dict]]:
    """The GeoJSON stop files beside a GeoJSON route file (``_group``), parsed; unreadable ones are left to
    nobody: they hold no trace, and their stops are only used where they can be read."""
    out = []
    for sname, sf in sorted(siblings.items()):
        if not sname.lower().endswith((".geojson", ".json")):
            continue
        data = _read_all(sname, sf.open, limits)
        if isinstance(data, bytes):
            doc, _ = _parse_json(sname, data, "", _GENERIC)
            if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
                out.append((sname, doc))
    return out


_ROUTE_REF = ("routeId", "route_id", "routeID", "route")
_TRAVEL = ("travelTime", "travel_time_s", "travel_time")  # seconds from the stop before (TransitWand)
_DWELL = ("dwellTime", "dwell_time_s", "dwell_s", "wait_s")  # seconds stood at the stop
#: headways an app reports per period of the day, in minutes (TransitWand: peak_am, midday, peak_pm, night)
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
            if geom.get("type") != "Point" or len(coords) < 2 or not all(type(v) in _NUMBER for v in coords[:2]):
                continue
            ref = next((props[r] for r in _ROUTE_REF if props.get(r) is not None), None)
            if (ref is None and lines == 1) or (ref is not None and str(ref) == trace_id):
                found.append((f"{sname}#/features/{k}", props, coords))
        if len(found) > len(best):
            best = found
    seq = lambda e: e[1].get("sequence") if type(e[1].get("sequence")) in _NUMBER else float("inf")  # noqa: E731
    return sorted(best, key=seq)


def _reported_headways(props: dict, name: str, trace_id: str, pointer: str,
                       notes: list[N.Notice]) -> list[tuple[str, float]]:
    """Headways per band a route's properties report (minutes), where plausible; a notice for the others."""
    out = []
    for key, band in _HEADWAY_BANDS.items():
        if key not in props or props[key] is None:
            continue
        v = props[key]
        v = _num(str(v)) if type(v) is not bool else None
        if v is not None and _PLAUSIBLE_HEADWAY_MIN[0] <= v <= _PLAUSIBLE_HEADWAY_MIN[1]:
            out.append((band, v * 60.0))
        else:
            notes.append(N.InvalidFieldNotice(
                file=name, trace_id=trace_id, location=f"{pointer}/properties/{key}",
                message=f"headway {str(props[key])[:20]!r} minutes is not between {_PLAUSIBLE_HEADWAY_MIN[0]} and "
                        f"{_PLAUSIBLE_HEADWAY_MIN[1]}; ignored"))
    return out


def _read_geojson(name: str, doc: dict, stop_docs: list[tuple[str, dict]] = ()) -> list[ReadResult]:
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
        return [_failed(name, N.NoTimestampsNotice(file=name, count=len(marks)) if marks else N.EmptyFileNotice(file=name))]
    return results


def _timed_marks(marks: list[tuple], xy: np.ndarray, times: list) -> list[tuple]:
    """Marks (``_marks`` entries) without a time (a converted waypoint, a KML point) take the time of the nearest
    fix of the trace (``xy``: lon, lat), where the trace has times."""
    if not any(times) or not np.isfinite(xy).any():
        return marks
    nearest = lambda lat, lon: times[int(np.nanargmin(np.hypot(xy[:, 0] - lon, xy[:, 1] - lat)))]  # noqa: E731
    return [(loc, label, texts, when or nearest(lat, lon), lat, lon) for loc, label, texts, when, lat, lon in marks]


def _geojson_trace(name: str, trace_id: str, props: dict, pts: list, times: list, marks: list,
                   pointer: str, point_props: list[dict] | None = None, route_stops=()) -> ReadResult:
    notes: list[N.Notice] = []
    headways = _reported_headways(props, name, trace_id, pointer, notes)
    meta = {k: props.get(k) for k in ("collector_id", "mode", "route_name", "operator", "origin", "destination",
                                      "notes")}
    # the name, unless an app made it up; else the description (TransitWand keeps the route's places there)
    given = _text(props.get("name"))
    meta["route_name"] = meta["route_name"] or (given if given and not _APP_NAME.search(given) else None) \
        or _text(props.get("route")) or _text(props.get("desc")) or _text(props.get("description"))
    if not meta["collector_id"]:
        notes.append(N.MissingCollectorIdNotice(file=name, trace_id=trace_id))
    lon, _ = _floats([c[0] for c in pts])
    lat, _ = _floats([c[1] for c in pts])
    xy = np.column_stack([lon, lat])
    stops, fares = _marks(_timed_marks([(f"/features/{k}", p.get("name"),
                                         [p.get("name"), p.get("desc"), p.get("description")], str(w) if w else None,
                                         c[1], c[0]) for k, p, c, w in marks if all(type(v) in _NUMBER for v in c[:2])],
                                       xy, times), name, notes, lon)
    legs = []
    if route_stops and not stops:  # the stops of a stop file: places, and the times between them
        stops = [(loc, {"lat": c[1], "lon": c[0], "kind": "stop", "name": _text(p.get("name")),
                        "wait_s": next((p[d] for d in _DWELL if type(p.get(d)) in _NUMBER and p[d] >= 0), None)})
                 for loc, p, c in route_stops]
        legs = [(loc + "/properties", next((p[a] for a in _TRAVEL if p.get(a) is not None), None),
                 next((p[d] for d in _DWELL if p.get(d) is not None), None)) for loc, p, _ in route_stops]
    accuracy = [p.get("accuracy") for p in point_props] if point_props else None
    trace = build_trace(source=name, trace_id=trace_id, meta=meta, times=times, lat=lat, lon=lon, accuracy=accuracy,
                        speed=None, stops=stops, fares=fares, departures=[],
                        locate=lambda i, fld="": f"{pointer}/geometry/coordinates/{i}", notices=notes,
                        stop_legs=legs, reported_headways=headways)
    return ReadResult(name, trace, tuple(notes))


def _read_jsonl(name: str, opener: Callable[[], IO[bytes]], limits: ReadLimits) -> list[ReadResult]:
    results: list[ReadResult] = []
    try:
        with opener() as fh:
            for lineno, line in enumerate(_bounded_lines(fh, limits.max_line_bytes), start=1):
                if isinstance(line, int):
                    results.append(_failed(name, N.FileTooLargeNotice(file=name, size_bytes=line,
                                                                      limit=limits.max_line_bytes)))
                    continue
                if not line.strip():
                    continue
                doc, note = _parse_json(name, line, f"line {lineno}", _FAST_ONE)
                if doc is None:
                    results.append(_failed(name, note))
                    continue
                results.extend(_with_file_notices([_trace_from_any(doc, name, f"line {lineno}")], note))
    except (gzip.BadGzipFile, zlib.error, EOFError) as e:
        results.append(_failed(name, N.InvalidArchiveNotice(file=name, message=str(e) or type(e).__name__)))
    if not results:
        results = [_failed(name, N.EmptyFileNotice(file=name))]
    return results


def _trace_from_any(doc: Any, source: str, pointer: str) -> ReadResult:
    if isinstance(doc, _FastTrace):
        return _trace_from_fast(doc, source, pointer)
    return trace_from_dict(doc, source, pointer)


def _bounded_lines(fh: IO[bytes], max_bytes: int) -> Iterator[bytes | int]:
    """Lines of a stream; a line over ``max_bytes`` is skipped and yields its length instead."""
    while True:
        line = fh.readline(max_bytes + 1)
        if not line:
            return
        if len(line) > max_bytes and not line.endswith(b"\n"):
            size = len(line)
            del line  # skipped in small pieces: no second buffer of the line limit's size
            piece = b"-"
            while piece and not piece.endswith(b"\n"):
                piece = fh.readline(1 << 20)
                size += len(piece)
            yield size
            continue
        yield line


def _decode(name: str, data: bytes) -> tuple[str | bytes, N.Notice | None]:
    """Bytes as UTF-8 (a BOM dropped); invalid UTF-8 is decoded with replacement and reported. Digits of other
    scripts (Arabic-Indic ``٢٠٢٣``, Persian ``۲۰۲۳``, Devanagari ...) become ASCII digits, as phones set to
    those languages write times and numbers."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if data.isascii():
        return data, None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            try:
                return ascii_digits(data.decode("utf-16")), N.InvalidEncodingNotice(file=name, message="UTF-16 text, read as such")
            except UnicodeDecodeError:
                pass
        return ascii_digits(data.decode("utf-8", errors="replace")), N.InvalidEncodingNotice(file=name, message=str(e))
    return (data, None) if not _OTHER_DIGIT.search(text) else (ascii_digits(text), None)


_OTHER_DIGIT = re.compile(r"(?![0-9])\d")  # a decimal digit of any script but ASCII


def ascii_digits(text: str) -> str:
    """``text`` with every decimal digit of another script written as its ASCII digit."""
    found = set(_OTHER_DIGIT.findall(text))
    return text.translate({ord(c): str(unicodedata.digit(c)) for c in found}) if found else text


def _with_file_notices(results: list[ReadResult], notice: N.Notice | None) -> list[ReadResult]:
    if notice is None:
        return results
    return [ReadResult(r.source, r.trace, (notice,) + r.notices) for r in results]


def trace_from_dict(doc: Any, source: str, pointer: str = "") -> ReadResult:
    """A trace from a parsed JSON document of the collector schema, with the notices of reading it."""
    return _trace(doc, source, pointer, None)


_FAST_FIELDS = tuple(f for f in _FastTrace.__struct_fields__ if f != "points")
_time, _lat, _lon, _acc, _spd = (attrgetter(k) for k in ("time", "lat", "lon", "accuracy", "speed"))


def _trace_from_fast(ft: _FastTrace, source: str, pointer: str) -> ReadResult:
    envelope = {k: v for k in _FAST_FIELDS if (v := getattr(ft, k)) is not msgspec.UNSET}
    envelope["points"] = []  # checked by type already; the schema checks the rest
    pts = ft.points
    n = len(pts)
    columns = {"times": _StrList(map(_time, pts)), "lat": np.fromiter(map(_lat, pts), np.float64, n),
               "lon": np.fromiter(map(_lon, pts), np.float64, n), "accuracy": _optional_array(pts, _acc),
               "speed": _optional_array(pts, _spd)}
    return _trace(envelope, source, pointer, columns, typed=True)


class _StrList(list):
    """A list known to hold only strings (typed by msgspec): no need to check each element again."""


def _optional_array(pts: list[_FastPoint], getter) -> np.ndarray | list:
    """A float array of an optional point field (types already checked by msgspec); a list when some
    values are null, for the general path."""
    try:
        return np.fromiter(map(getter, pts), np.float64, len(pts))
    except TypeError:  # None somewhere
        return list(map(getter, pts))


def _trace(doc: Any, source: str, pointer: str, columns: dict[str, list] | None, typed: bool = False) -> ReadResult:
    """``typed``: ``doc`` came from a ``_FastTrace``, its stops ``_FastStop``."""
    if not isinstance(doc, dict):
        return _failed(source, N.SchemaViolationNotice(file=source, location=pointer or "/",
                                                       message=f"a trace is a JSON object, not {type(doc).__name__}"))
    tid = doc.get("trace_id") if isinstance(doc.get("trace_id"), str) and doc.get("trace_id") else ""
    notes: list[N.Notice] = []

    def at(*parts) -> str:
        return pointer + "".join(f"/{p}" for p in parts)

    version = doc.get("schema_version")
    if version is None:
        notes.append(N.MissingSchemaVersionNotice(file=source, trace_id=tid))
    elif not isinstance(version, str) or version.split(".")[0] != SCHEMA_MAJOR:
        return _failed(source, N.UnsupportedSchemaVersionNotice(file=source, trace_id=tid, schema_version=str(version)[:40]))

    gates, items = _validators()
    gate, envelope = gates[typed]
    drop_items: dict[str, set[int]] = {"stops": set(), "fares": set(), "departures": set()}
    ignored: set[str] = set()
    try:
        gate(doc)
        errors = []
    except Exception:  # fastjsonschema.JsonSchemaException: let jsonschema list every error
        errors = sorted(envelope.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    for err in errors:
        path = list(err.absolute_path)
        if err.validator == "required" and not path:  # a top-level field is missing
            missing = err.message.split("'")[1] if "'" in err.message else ""
            if missing == "points":
                notes.append(N.SchemaViolationNotice(file=source, trace_id=tid, location=at(), message=err.message))
            elif missing == "collector_id":
                notes.append(N.MissingCollectorIdNotice(file=source, trace_id=tid))
            # trace_id: a MissingTraceIdNotice follows; schema_version: reported above
            continue
        head = path[0] if path else ""
        if head == "schema_version":
            continue
        if head in ("points", "trace_id"):
            notes.append(N.SchemaViolationNotice(file=source, trace_id=tid, location=at(*path), message=err.message))
        elif head in drop_items and len(path) >= 2:
            drop_items[head].add(path[1])
            notes.append(N.InvalidFieldNotice(file=source, trace_id=tid, location=at(*path), message=err.message[:300]))
        else:
            ignored.add(str(head))
            notes.append(N.InvalidFieldNotice(file=source, trace_id=tid, location=at(*path), message=err.message[:300]))
    if N.any_error(notes):
        return ReadResult(source, None, tuple(notes))

    def opt(key: str) -> Any:
        return None if key in ignored else doc.get(key)

    pts = doc["points"]
    if columns is None:
        dicts = pts if set(map(type, pts)) == {dict} else [p if type(p) is dict else {} for p in pts]
        columns = {"times": _column(dicts, "time"), "lat": _column(dicts, "lat"), "lon": _column(dicts, "lon"),
                   "accuracy": _column(dicts, "accuracy"), "speed": _column(dicts, "speed")}
    meta = {k: opt(k) for k in ("collector_id", "mode", "route_name", "operator", "origin", "destination", "notes")}
    stops = [s for i, s in enumerate(opt("stops") or ()) if i not in drop_items["stops"]]
    stop_ptr = [at("stops", i) for i, _ in enumerate(opt("stops") or ()) if i not in drop_items["stops"]]
    fares = [(at("fares", i), x) for i, x in enumerate(opt("fares") or ()) if i not in drop_items["fares"]]
    deps = [x for i, x in enumerate(opt("departures") or ()) if i not in drop_items["departures"]]
    trace = build_trace(
        source=source,
        trace_id=tid,
        meta=meta,
        **columns,
        stops=list(zip(stop_ptr, stops)),
        fares=fares,
        departures=deps,
        locate=lambda i, fld="": at("points", i, *([fld] if fld else [])),
        notices=notes,
        explain=lambda i: _first_error(items["point"], pts[i]) if pts else "invalid point",
    )
    return ReadResult(source, trace, tuple(notes))


def _column(dicts: list[dict], key: str) -> list[Any]:
    return list(map(dict.get, dicts, repeat(key)))  # C-level loop: no Python frame per point


def _first_error(validator, instance) -> str:
    err = next(iter(validator.iter_errors(instance)), None)
    return err.message[:300] if err is not None else "invalid point"


# --------------------------------------------------------------------------------------------------
# Building a trace from columns (shared by every format)


def _floats(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Float array from numbers (NaN elsewhere) and the mask of elements that were not numbers."""
    if set(map(type, values)) <= _NUMBER:
        return np.array(values, dtype=np.float64), np.zeros(len(values), bool)
    bad = np.fromiter((type(v) not in _NUMBER for v in values), bool, len(values))
    arr = np.array([float(v) if type(v) in _NUMBER else np.nan for v in values], dtype=np.float64)
    return arr, bad


def _optional_floats(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`_floats`, but None/absent is fine (NaN, not bad)."""
    types = set(map(type, values))
    if types <= {type(None)}:
        return np.full(len(values), np.nan), np.zeros(len(values), bool)
    if types <= _NUMBER:
        return np.array(values, dtype=np.float64), np.zeros(len(values), bool)
    arr, bad = _floats([np.nan if v is None else v for v in values])
    return arr, bad


_OFFSET_RE = re.compile(r"(Z|z|[+-]\d\d(:?\d\d)?)$")
_ISO_RE = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d")


def parse_times(values: Sequence[Any], lat: float = np.nan, lon: float = np.nan, *,
                all_str: bool | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """ISO 8601 strings to UTC epoch seconds, vectorised.

    Returns (t_s with NaN where unparseable, mask of unparseable, mask of times without UTC offset, the
    time zone used for those: the IANA zone at (lat, lon), or UTC when unknown). ``all_str``: whether
    every value is known to be a string already (None: find out).
    """
    n = len(values)
    if n < 64:
        return _parse_few_times([ascii_digits(v) if type(v) is str else v for v in values], lat, lon)
    if all_str is None:
        all_str = set(map(type, values)) == {str}
    strs = values if all_str else [v if type(v) is str else "" for v in values]
    if all_str:  # real traces write every time alike: the fast path
        fast = _parse_uniform_iso(strs)
        if fast is not None:
            return fast, np.zeros(n, bool), np.zeros(n, bool), "UTC"
    if not all(map(str.isascii, strs)):  # digits of another script: phones set to Arabic, Persian ...
        converted = list(map(ascii_digits, strs))
        if converted != strs:
            return parse_times(converted, lat, lon, all_str=True)
    # Otherwise classify the few distinct separators and suffixes (C-level map over the strings) and
    # look at single strings only when the trace mixes formats.
    seps = set(map(_SEP, strs))
    suffixes = set(map(_SUFFIX, strs))
    if seps <= {"T", " "} and all(_OFFSET_RE.search(suf) for suf in suffixes):
        bad_shape = np.zeros(n, bool)
        naive = np.zeros(n, bool)
        series = pd.Series(strs, dtype=object)
    else:
        bad_shape = np.fromiter((_ISO_RE.match(s) is None for s in strs), bool, n)
        naive = np.fromiter((_OFFSET_RE.search(s[-6:]) is None for s in strs), bool, n) & ~bad_shape
        series = pd.Series(strs, dtype=object).where(~bad_shape, None)
    parsed = pd.to_datetime(series, utc=True, format="ISO8601", errors="coerce")
    dt = parsed.to_numpy(dtype="datetime64[ns]", na_value=np.datetime64("NaT"))
    t = dt.astype("int64")
    bad = np.isnat(dt) | bad_shape
    t_s = np.where(bad, np.nan, t / 1e9)
    tzname = "UTC"
    if naive.any():
        tzname = timezone_at(lat, lon)
        if tzname != "UTC":
            local = pd.Series(np.where(naive & ~bad, t, 0).astype("datetime64[ns]"))
            try:
                utc = local.dt.tz_localize(tzname, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")
                shifted = utc.to_numpy(dtype="datetime64[ns]", na_value=np.datetime64("NaT"))
                fix = naive & ~bad
                gone = np.isnat(shifted) & fix  # inside a DST change: ambiguous or nonexistent
                t_s = np.where(fix & ~gone, shifted.astype("int64") / 1e9, t_s)
                t_s[gone] = np.nan
                bad = bad | gone
            except Exception:
                tzname = "UTC"
    return t_s, bad, naive, tzname


def _parse_uniform_iso(strs: list[str]) -> np.ndarray | None:
    """UTC epoch seconds of ISO 8601 times that all share one layout and one UTC offset
    (``YYYY-MM-DDTHH:MM:SS[.f]`` + ``Z``/``+HH:MM``/``+HHMM``), by integer arithmetic on the characters
    (one ASCII buffer viewed as an n x width byte matrix); None when the times do not all fit that layout
    (the general parser then takes over)."""
    width = len(strs[0])
    try:
        buf = "".join(strs).encode("ascii")
    except UnicodeEncodeError:
        return None
    if len(buf) != width * len(strs) or width < 20:
        return None  # not all of one length
    u = np.frombuffer(buf, np.uint8).reshape(len(strs), width)
    m = re.search(r"(Z|z|[+-](\d\d):?(\d\d))$", strs[0])
    if m is None:
        return None
    sign = 1 if m.group(1)[0] == "+" else -1
    offset_s = 0 if m.group(1) in "Zz" else sign * (int(m.group(2)) * 3600 + int(m.group(3)) * 60)
    body = width - len(m.group(1))
    if body != 19 and not (21 <= body <= 29):
        return None
    first = u[0]
    # Column by column (each a vectorised pass over all the points; no n x width temporaries):
    # the offset, the separators and the date are those of the first string; time digits are digits.
    same = [*range(body, width), 4, 7, 13, 16, *((19,) if body > 19 else ())]
    same_date = all((u[:, k] == first[k]).all() for k in (0, 1, 2, 3, 5, 6, 8, 9))
    if not all((u[:, k] == first[k]).all() for k in same) or first[10] not in (84, 32) \
            or not (u[:, 10] == first[10]).all() or not same_date and not _digits(u, (0, 1, 2, 3, 5, 6, 8, 9)):
        return None
    if bytes(first[[4, 7, 13, 16]]) != b"--::" or (body > 19 and first[19] != 46):
        return None
    time_cols = (11, 12, 14, 15, 17, 18, *range(20, body))
    if not _digits(u, time_cols) or (u[:, 14] > 53).any() or (u[:, 17] > 54).any():  # minutes < 60, seconds <= 60
        return None
    hours = (u[:, 11] - 48).astype(np.int32) * 10 + (u[:, 12] - 48)
    if (hours > 23).any():
        return None
    seconds = hours * 3600.0
    for k, w in ((14, 600), (15, 60), (17, 10), (18, 1)):
        seconds += (u[:, k] - 48) * float(w)
    for j, k in enumerate(range(20, body)):
        seconds += (u[:, k] - 48) * 10.0 ** -(j + 1)
    if same_date:  # one date for the whole trace: compute it once

        try:
            days: Any = (date.fromisoformat(strs[0][:10]) - date(1970, 1, 1)).days
        except ValueError:
            return None
    else:  # a ride across midnight has two dates; anything else takes the vectorised calendar
        days = _days_from_civil(u[:, [0, 1, 2, 3, 5, 6, 8, 9]].astype(np.int32) - 48)
        if days is None:
            return None
    return days * 86400.0 + seconds - offset_s


def _digits(u: np.ndarray, cols) -> bool:
    """Whether the given columns of the byte matrix hold ASCII digits only."""
    return all(((u[:, k] - np.uint8(48)) <= 9).all() for k in cols)


def _days_from_civil(d: np.ndarray) -> np.ndarray | None:
    """Days since 1970-01-01 of dates given as 8 digit columns YYYYMMDD (H. Hinnant's days_from_civil,
    vectorised); None when a date is impossible (Feb 30)."""
    year = d[:, 0] * 1000 + d[:, 1] * 100 + d[:, 2] * 10 + d[:, 3]
    month, day = d[:, 4] * 10 + d[:, 5], d[:, 6] * 10 + d[:, 7]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    if (month < 1).any() or (month > 12).any() or (day < 1).any() or (day > _MONTH_DAYS[month] + (leap & (month == 2))).any():
        return None
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_SEP = itemgetter(slice(10, 11))
_SUFFIX = itemgetter(slice(-6, None))


def _parse_few_times(values: Sequence[Any], lat: float, lon: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """:func:`parse_times` for short lists (stops, departures): the standard library, without pandas'
    fixed cost per call."""
    n = len(values)
    t_s = np.full(n, np.nan)
    bad = np.zeros(n, bool)
    naive = np.zeros(n, bool)
    tz = None
    for i, v in enumerate(values):
        if type(v) is not str or _ISO_RE.match(v) is None:
            bad[i] = True
            continue
        try:
            d = datetime.fromisoformat(v.replace("z", "Z"))
        except ValueError:
            bad[i] = True
            continue
        if d.tzinfo is None:
            naive[i] = True
            if tz is None:

                tz = ZoneInfo(timezone_at(lat, lon))
            d = d.replace(tzinfo=tz)
        t_s[i] = d.timestamp()
    return t_s, bad, naive, (str(tz) if tz is not None else "UTC")


_TF = None


def timezone_at(lat: float, lon: float) -> str:
    """IANA time zone at a position (offline, timezonefinder), or "UTC" when unknown."""
    global _TF
    if not (np.isfinite(lat) and np.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return "UTC"
    if _TF is None:

        _TF = TimezoneFinder()
    return _TF.timezone_at(lng=float(lon), lat=float(lat)) or "UTC"


def _first_finite(lat: np.ndarray, lon: np.ndarray) -> tuple[float, float]:
    ok = np.flatnonzero(np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180))
    return (float(lat[ok[0]]), float(lon[ok[0]])) if len(ok) else (np.nan, np.nan)


#: the speed at which the points of a recording without times are spaced in time: a placeholder so that
#: cleaning and matching can run; no travel time is taken from it (timing rescales it to the survey's speed)
NOMINAL_SPEED_MPS = 20 / 3.6
#: the made-up times start here (2000-01-03T00:00Z, a Monday); no time of day or date is taken from them
MADE_UP_START_S = 946_857_600.0
_LEG_SPEED_MPS = (0.3, 120 / 3.6)  # a stop-to-stop leg slower or faster than these is a broken time
_MAX_LEG_S = 3 * 3600.0


def made_up_times(lat: np.ndarray, lon: np.ndarray, stops: tuple[Stop, ...], legs: Sequence[tuple[str, Any, Any]],
                  source: str, trace_id: str, notices: list[N.Notice]) -> tuple[np.ndarray, str, tuple[Stop, ...]]:
    """Times for a recording that has none: (times, timing, stops with their times).

    With ``legs`` (one per stop, in the order of ``stops``: location, seconds from the stop before, seconds
    stood at the stop), each stop is placed at its point of the path (in order along it) and the points between
    two stops are timed by distance: timing ``stop_times``. A leg that is missing or implausible (faster than
    120 km/h, slower than walking, over 3 hours) is timed at the median speed of the others, with a notice.
    Without legs, or with fewer than two usable ones, every point is spaced at ``NOMINAL_SPEED_MPS``:
    timing ``estimated``. Times always increase (by 10 ms at least) so no point reads as a repeat."""
    n = len(lat)
    ok = np.isfinite(lat) & np.isfinite(lon)
    step = np.zeros(n)
    k = np.flatnonzero(ok)
    if len(k) > 1:
        step[k[1:]] = WGS84.inv(lon[k[:-1]], lat[k[:-1]], lon[k[1:]], lat[k[1:]])[2]
    cum = np.cumsum(step)
    nominal = cum / NOMINAL_SPEED_MPS
    timing, t_rel = "estimated", nominal
    anchors = _stop_points(lat, lon, ok, stops) if len(legs) == len(stops) and len(stops) >= 2 else None
    if anchors is not None:
        travel = np.array([_num(str(a)) if a is not None else None for _, a, _ in legs], dtype=float)
        dwell = np.array([_num(str(b)) if b is not None else None for _, _, b in legs], dtype=float)
        dwell = np.where(np.isfinite(dwell) & (dwell >= 0) & (dwell <= _MAX_LEG_S), dwell, 0.0)
        gap_m = np.diff(cum[anchors])
        leg = travel[1:]  # the first stop's travel time is from wherever the app started: not a leg
        speed = np.divide(gap_m, leg, out=np.full(len(leg), np.nan), where=np.isfinite(leg) & (leg > 0))
        good = np.isfinite(speed) & (speed >= _LEG_SPEED_MPS[0]) & (speed <= _LEG_SPEED_MPS[1]) & (leg <= _MAX_LEG_S)
        good |= np.isfinite(leg) & (gap_m < 1) & (leg >= 0) & (leg <= 600)  # two stops at one point
        if good.sum() >= max(1, len(leg) // 2):
            median = float(np.median(gap_m[good] / np.maximum(leg[good], 1)))
            median = median if median > 0 else NOMINAL_SPEED_MPS
            if not good.all():
                i = int(np.flatnonzero(~good)[0]) + 1
                notices.append(N.InvalidFieldNotice(
                    file=source, trace_id=trace_id, location=legs[i][0],
                    message=f"{int((~good).sum())} of {len(leg)} stop-to-stop times implausible (first: "
                            f"{str(legs[i][1])[:20]} s for {gap_m[i - 1]:.0f} m); timed at the others' median speed"))
            leg = np.where(good, leg, gap_m / median)
            # the time it arrived at each stop; between two stops by distance (the stand at a stop is spread
            # over the leg after it: a point has one time, a stop two)
            arrive = np.concatenate([[0.0], np.cumsum(leg + dwell[:-1])])
            t_rel = np.interp(cum, cum[anchors], arrive)
            t_rel = np.where(cum < cum[anchors[0]], (cum - cum[anchors[0]]) / median, t_rel)
            t_rel = np.where(cum > cum[anchors[-1]], arrive[-1] + (cum - cum[anchors[-1]]) / median, t_rel)
            shift = t_rel.min()
            t_rel -= shift
            timing = "stop_times"
    t = MADE_UP_START_S + np.maximum.accumulate(t_rel) + 0.01 * np.arange(n)
    t = np.where(ok, t, np.nan)
    if stops:
        at = anchors if anchors is not None else _stop_points(lat, lon, ok, stops)
        if timing == "stop_times":  # a stop's time is when the vehicle arrived there
            stops = tuple(dataclasses.replace(st, time_s=float(MADE_UP_START_S + a - shift)) for st, a in zip(stops, arrive))
        elif at is not None:
            stops = tuple(dataclasses.replace(st, time_s=float(t[i])) for st, i in zip(stops, at))
    return t, timing, stops


def _stop_points(lat: np.ndarray, lon: np.ndarray, ok: np.ndarray, stops: tuple[Stop, ...]) -> np.ndarray | None:
    """The point of the path each stop is at, the stops in order along the path: the order-keeping assignment
    with the least total distance (dynamic programming over stops x points; a loop's first stop is not put at
    its end). None when the path has no point."""
    k = np.flatnonzero(ok)
    if not len(k):
        return None
    coslat = np.cos(np.radians(np.nanmean(lat[k])))
    slat, slon = np.array([st.lat for st in stops]), np.array([st.lon for st in stops])
    d = np.hypot((lon[k][None, :] - slon[:, None]) * coslat, lat[k][None, :] - slat[:, None])
    total = d[0].copy()
    back = np.zeros(d.shape, dtype=np.int64)
    for i in range(1, len(stops)):  # best total of stops 0..i with stop i at point j (at or after stop i-1's)
        best_before = np.minimum.accumulate(total)
        back[i] = _running_argmin(total)
        total = d[i] + best_before
    at = np.empty(len(stops), dtype=np.int64)
    at[-1] = int(np.argmin(total))
    for i in range(len(stops) - 1, 0, -1):
        at[i - 1] = back[i, at[i]]
    return k[at]


def _running_argmin(v: np.ndarray) -> np.ndarray:
    """For each j, the index of the smallest of v[:j + 1] (the first of equal ones)."""
    best = np.minimum.accumulate(v)
    idx = np.where(v == best, np.arange(len(v)), 0)
    return np.maximum.accumulate(idx * (np.r_[True, best[1:] < best[:-1]]))


def build_trace(
    *,
    source: str,
    trace_id: str,
    meta: dict[str, Any],
    times: list[Any],
    lat: Sequence[Any] | np.ndarray,
    lon: Sequence[Any] | np.ndarray,
    accuracy: Sequence[Any] | np.ndarray | None,
    speed: Sequence[Any] | np.ndarray | None,
    stops: list[tuple[str, dict]],
    fares: list[tuple[str, dict]],
    departures: list[Any],
    locate: Callable[..., str],
    notices: list[N.Notice],
    explain: Callable[[int], str] | None = None,
    stop_legs: Sequence[tuple[str, Any, Any]] = (),
    reported_headways: Sequence[tuple[str, float]] = (),
) -> Trace:
    """A :class:`Trace` from columns, whatever the format; appends the notices of reading them.

    ``lat``/``lon``/``accuracy``/``speed`` are Python values (checked for type) or float arrays (NaN where
    a value could not be read); ``stops``/``fares`` are (location, dict of the schema's fields) pairs. A
    recording without any time gets times made up (``made_up_times``): from ``stop_legs`` (per stop: location,
    seconds travelled from the stop before, seconds stood there) where they are given, else at a nominal speed.
    """
    n = len(times)
    lat_a, lat_bad = (lat, ~np.isfinite(lat)) if isinstance(lat, np.ndarray) else _floats(lat)
    lon_a, lon_bad = (lon, ~np.isfinite(lon)) if isinstance(lon, np.ndarray) else _floats(lon)
    acc_a, acc_bad = _column_or_nan(accuracy, n)
    spd_a, spd_bad = _column_or_nan(speed, n)
    all_str = isinstance(times, _StrList) or set(map(type, times)) == {str}
    time_missing = np.zeros(n, bool) if all_str else np.fromiter((type(v) is not str for v in times), bool, n)
    ref_lat, ref_lon = _first_finite(lat_a, lon_a)
    t_s, t_bad, naive, tzname = parse_times(times, ref_lat, ref_lon, all_str=all_str)

    timeless = bool(n and (time_missing.all() or (all_str and not any(times))))
    if timeless:
        # a recording without times (a drawn route, a GPX without <time>): said once, not point by point
        time_missing = np.zeros(n, bool)
        t_bad = np.zeros(n, bool)
    bad = lat_bad | lon_bad | time_missing
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        msg = explain(i) if explain else "missing or invalid time, lat or lon"
        notices.append(N.InvalidPointNotice(file=source, trace_id=trace_id, location=locate(i), point_index=i,
                                            count=int(bad.sum()), message=msg))
        lat_a, lon_a = np.where(bad, np.nan, lat_a), np.where(bad, np.nan, lon_a)
        t_s = np.where(bad, np.nan, t_s)
    unparsed = t_bad & ~bad
    if unparsed.any():
        i = int(np.flatnonzero(unparsed)[0])
        notices.append(N.UnparseableTimeNotice(file=source, trace_id=trace_id, location=locate(i, "time"),
                                               point_index=i, count=int(unparsed.sum()), value=str(times[i])[:60]))
    if naive.any():
        i = int(np.flatnonzero(naive)[0])
        notices.append(N.TimeWithoutOffsetNotice(file=source, trace_id=trace_id, location=locate(i, "time"),
                                                 count=int(naive.sum()), timezone=tzname))
    for col, badm in (("accuracy", acc_bad), ("speed", spd_bad)):
        if badm.any():
            i = int(np.flatnonzero(badm)[0])
            notices.append(N.InvalidFieldNotice(file=source, trace_id=trace_id, location=locate(i, col),
                                                message=f"{col} must be a non-negative number; ignored"))

    stop_objs = _stops(stops, source, trace_id, ref_lat, ref_lon, notices, timeless)
    timing = "recorded"
    if timeless:
        t_s, timing, stop_objs = made_up_times(np.where(bad, np.nan, lat_a), np.where(bad, np.nan, lon_a),
                                               stop_objs, stop_legs, source, trace_id, notices)
        notices.append(N.NoTimestampsNotice(file=source, trace_id=trace_id, count=n, timing=timing))
    fare_objs = tuple(_fare(d) for _, d in fares)
    dep_t, dep_bad, _, _ = parse_times(departures, ref_lat, ref_lon)
    if dep_bad.any():
        i = int(np.flatnonzero(dep_bad)[0])
        notices.append(N.InvalidFieldNotice(file=source, trace_id=trace_id, location=f"/departures/{i}",
                                            message=f"unreadable departure time {str(departures[i])[:40]!r}; ignored"))
    trace = Trace(
        trace_id=trace_id,
        source=source,
        t_s=t_s,
        lat=np.asarray(lat_a, dtype=np.float64),
        lon=np.asarray(lon_a, dtype=np.float64),
        accuracy_m=acc_a,
        speed_mps=spd_a,
        collector_id=_text(meta.get("collector_id")),
        mode=_text(meta.get("mode")) or "minibus",
        route_name=_text(meta.get("route_name")),
        operator=_text(meta.get("operator")),
        origin=_text(meta.get("origin")),
        destination=_text(meta.get("destination")),
        notes=_text(meta.get("notes")),
        stops=stop_objs,
        fares=fare_objs,
        departures_s=dep_t[~dep_bad],
        timing=timing,
        reported_headways=tuple(reported_headways),
    )
    if not trace_id:
        trace = trace.replace(trace_id="x-" + trace.points_digest()[:12])
        notices.append(N.MissingTraceIdNotice(file=source, trace_id=trace.trace_id))
    return trace


def _column_or_nan(values, n: int) -> tuple[np.ndarray, np.ndarray]:
    if values is None:
        return np.full(n, np.nan), np.zeros(n, bool)
    if isinstance(values, np.ndarray):
        arr, bad = values.astype(np.float64, copy=False), np.zeros(n, bool)
    else:
        arr, bad = _optional_floats(values)
    neg = arr < 0  # NaN compares False
    return np.where(bad | neg, np.nan, arr), bad | neg


def _text(v: Any) -> str | None:
    if v is None:
        return None
    s = " ".join(str(v).split())
    return s or None


_STOP_FIELDS = _FastStop.__struct_fields__  # time, lat, lon, kind, name, boarded, alighted, wait_s, note


def _stop_values(s: dict | _FastStop) -> tuple:
    """A stop's fields in the order of ``_STOP_FIELDS`` (None where absent)."""
    return msgspec.structs.astuple(s) if type(s) is _FastStop else tuple(map(s.get, _STOP_FIELDS))


def _stops(stops: list[tuple[str, dict | _FastStop]], source: str, trace_id: str, lat: float, lon: float,
           notices: list[N.Notice], timeless: bool = False) -> tuple[Stop, ...]:
    """The stops read; in a recording without times (``timeless``) a stop without a time is kept (its time is
    made up with the points')."""
    if not stops:
        return ()
    rows = [_stop_values(d) for _, d in stops]
    t_s, bad, _, _ = parse_times([r[0] for r in rows], lat, lon)
    out = []
    for (loc, _), (time, y, x, kind, name, boarded, alighted, wait_s, note), t, b in zip(stops, rows, t_s, bad):
        if b and timeless and time is None:
            t = np.nan
        elif b:
            notices.append(N.InvalidFieldNotice(file=source, trace_id=trace_id, location=loc + "/time",
                                                message=f"unreadable stop time {str(time)[:40]!r}; stop ignored"))
            continue
        out.append(Stop(float(t), float(y), float(x), kind if kind in STOP_KINDS else "stop", _text(name), boarded,
                        alighted, wait_s, _text(note)))
    return tuple(out)


def _fare(d: dict) -> Fare:
    return Fare(amount=float(d["amount"]), currency=str(d["currency"]).strip().upper(),
                from_stop=d.get("from_stop"), to_stop=d.get("to_stop"))


# --------------------------------------------------------------------------------------------------
# GPX

# Names that apps and servers give tracks and files ("Tracked with OSMTracker", "upload004", "2026-03-02"),
# not route names.
_APP_NAME = re.compile(r"(?i)osmtracker|gpslogger|active log|untitled|unnamed|^[\d\-_: T.]+$|"
                       r"^((upload|track|trace|ride|recording|log|gps|file|export|data|new|img|test|tmp|copy|"
                       r"download|gpx)[\s\d]*)+$|"
                       # an app's running number, not a route's (TransitWand names routes "Ruta 10012")
                       r"^(ruta|route|rota|route|line|l[ií]nea|ligne|track)\s*#?\d{5,}$")


def _read_gpx(name: str, data: bytes | ReadResult) -> list[ReadResult]:
    if isinstance(data, ReadResult):
        return [data]

    try:  # refuse DTDs and entities before gpxpy's own parser sees the text
        root = DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        return [_failed(name, N.UnsafeXmlNotice(file=name, message=f"{type(e).__name__}: {e}"[:300]))]
    except Exception as e:  # ParseError
        return [_failed(name, N.InvalidXmlNotice(file=name, message=str(e)[:300]))]
    if root.tag.rsplit("}", 1)[-1] != "gpx":
        return [_failed(name, N.InvalidXmlNotice(file=name, message=f"not GPX: the root element is <{root.tag}>"[:300]))]
    text, enc = _decode(name, data)
    try:
        gpx = gpxpy.parse(text.decode("utf-8") if isinstance(text, bytes) else text)
    except (gpxpy.gpx.GPXException, ValueError) as e:
        return [_failed(name, N.InvalidXmlNotice(file=name, message=str(e)[:300]))]

    tracks = [t for t in gpx.tracks if any(s.points for s in t.segments)]
    if not tracks:
        if gpx.routes and any(r.points for r in gpx.routes):
            msg = "a GPX route (planned, no times) is not a recorded ride"
        else:
            msg = "no track points"
        return _with_file_notices([_failed(name, N.SchemaViolationNotice(file=name, location="/gpx/trk", message=msg))], enc)
    author = gpx.author_name or (gpx.author_email if gpx.author_email else None)
    spans = []
    for trk in tracks:
        times = [p.time for s in trk.segments for p in s.points if p.time is not None]
        spans.append((min(times).timestamp(), max(times).timestamp()) if times and all(t.tzinfo for t in times) else None)
    results = []
    for k, trk in enumerate(tracks):
        notes: list[N.Notice] = []
        pts = [p for s in trk.segments for p in s.points]
        # the track's own name; a name in the file's path is read by the build, survey-wide (``names``)
        route = trk.name if trk.name and not _APP_NAME.search(trk.name.strip()) else None
        lat = np.array([p.latitude for p in pts], dtype=np.float64)
        lon = np.array([p.longitude for p in pts], dtype=np.float64)
        wpts = [w for w in gpx.waypoints if len(tracks) == 1 or _within(w, spans[k])]
        stops, fares = _waypoints(wpts, name, notes, lon)
        trace = build_trace(
            source=name, trace_id="", meta={"route_name": route, "collector_id": author, "notes": trk.description},
            times=[_gpx_time(p.time) for p in pts], lat=lat, lon=lon,
            accuracy=np.array([_gpx_accuracy(p) for p in pts], dtype=np.float64),
            speed=np.array([p.speed if p.speed is not None and p.speed >= 0 else np.nan for p in pts], dtype=np.float64),
            stops=stops, fares=fares, departures=[],
            locate=lambda i, fld="", k=k: f"/trk/{k}/trkpt/{i}" + (f"/{fld}" if fld else ""),
            notices=notes,
        )
        notes = [_retag(n, trace.trace_id) for n in notes]
        if author is None:
            notes.append(N.MissingCollectorIdNotice(file=name, trace_id=trace.trace_id))
        results.append(ReadResult(name, trace, tuple(notes)))
    return _with_file_notices(results, enc)


def _read_kml(name: str, data: bytes | ReadResult) -> list[ReadResult]:
    """The traces of a KML file (parsed as safely as GPX): a ``gx:Track`` (``when`` and ``gx:coord``, as Google
    Earth and logger apps write recorded tracks) or a ``gx:MultiTrack`` is a trace; a ``LineString`` is a path
    without times (``no_timestamps``); ``Point`` placemarks are marks (their name and description read as GPX
    waypoints are). A placemark's name is the route's name."""
    if isinstance(data, ReadResult):
        return [data]
    try:
        root = DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        return [_failed(name, N.UnsafeXmlNotice(file=name, message=f"{type(e).__name__}: {e}"[:300]))]
    except Exception as e:  # ParseError
        return [_failed(name, N.InvalidXmlNotice(file=name, message=str(e)[:300]))]
    local = lambda el: el.tag.rsplit("}", 1)[-1]  # noqa: E731  (KML 2.2, 2.1 and gx namespaces alike)
    child = lambda el, tag: next((c for c in el.iter() if local(c) == tag), None)  # noqa: E731
    text = lambda el, tag: (child(el, tag).text or "").strip() if child(el, tag) is not None else ""  # noqa: E731
    tracks, marks = [], []
    for k, pm in enumerate(el for el in root.iter() if local(el) == "Placemark"):
        label = text(pm, "name") or None
        when = [(w.text or "").strip() for w in pm.iter() if local(w) == "when"]
        coords = [(c.text or "").split() for c in pm.iter() if local(c) == "coord"]  # gx:coord "lon lat alt"
        if coords:
            pts = [(float(c[0]), float(c[1])) if len(c) >= 2 and _num(c[0]) is not None and _num(c[1]) is not None else (np.nan, np.nan)
                   for c in coords]
            tracks.append((k, label, pts, when if len(when) == len(pts) else [None] * len(pts), text(pm, "description")))
            continue
        line = next((el for el in pm.iter() if local(el) == "LineString"), None)
        if line is not None:
            pts = [tuple(float(v) for v in c.split(",")[:2]) for c in text(line, "coordinates").split()
                   if len(c.split(",")) >= 2 and all(_num(v) is not None for v in c.split(",")[:2])]
            tracks.append((k, label, pts, [None] * len(pts), text(pm, "description")))
            continue
        point = next((el for el in pm.iter() if local(el) == "Point"), None)
        if point is not None:
            c = text(point, "coordinates").split(",")
            if len(c) >= 2 and _num(c[0]) is not None and _num(c[1]) is not None:
                marks.append((f"/Placemark/{k}", label, [label, text(pm, "description")], when[0] if when else None,
                              float(c[1]), float(c[0])))
    if not tracks:
        return [_failed(name, N.NoTimestampsNotice(file=name, count=len(marks)) if marks else
                        N.SchemaViolationNotice(file=name, location="/kml", message="no track, line or point"))]
    results = []
    for k, label, pts, times, description in tracks:
        notes: list[N.Notice] = []
        lon = np.array([p[0] for p in pts], dtype=np.float64)
        xy = np.array(pts, dtype=np.float64).reshape(-1, 2)
        stops, fares = _marks(_timed_marks(marks, xy, times) if len(tracks) == 1 else [], name, notes, lon)
        trace = build_trace(
            source=name, trace_id="", meta={"route_name": label if label and not _APP_NAME.search(label) else None,
                                            "notes": description or None},
            times=times, lat=np.array([p[1] for p in pts], dtype=np.float64), lon=lon, accuracy=None, speed=None,
            stops=stops, fares=fares, departures=[], locate=lambda i, fld="", k=k: f"/Placemark/{k}/coord/{i}",
            notices=notes)
        notes = [_retag(n, trace.trace_id) for n in notes]
        notes.append(N.MissingCollectorIdNotice(file=name, trace_id=trace.trace_id))
        results.append(ReadResult(name, trace, tuple(notes)))
    return results


def _retag(n: N.Notice, trace_id: str) -> N.Notice:
    return n if n.trace_id else dataclasses.replace(n, trace_id=trace_id)


def _within(w, span) -> bool:
    if span is None or w.time is None or w.time.tzinfo is None:
        return False
    return span[0] - 600 <= w.time.timestamp() <= span[1] + 600


def _gpx_time(t) -> str | None:
    return None if t is None else t.isoformat()


def _gpx_accuracy(p) -> float:
    """Accuracy in metres where a logger writes it as an extension (OSMTracker, GPSLogger: ``accuracy``)."""
    for ext in p.extensions or ():
        for el in ext.iter():
            if el.tag.split("}")[-1].lower() in ("accuracy", "hacc") and el.text:
                try:
                    v = float(el.text)
                    return v if v >= 0 else np.nan
                except ValueError:
                    return np.nan
    return np.nan


# Local ways of writing currencies, beside ISO codes: before the amount (``KSh 50``, ``Le2000``, ``₦200``) and
# after it (``200F``, ``150cfa``, ``2000/=``). FCFA is resolved by place (see _currency); an amount with a
# thousands ``k`` and no currency (``2k``) is the survey's currency ("").
_BEFORE = {
    "r": "ZAR", "zar": "ZAR", "ksh": "KES", "kshs": "KES", "sh": "KES", "shs": "KES",
    "gh₵": "GHS", "ghc": "GHS", "gh¢": "GHS", "₵": "GHS", "¢": "GHS",
    "₦": "NGN", "n": "NGN", "tsh": "TZS", "tshs": "TZS", "ush": "UGX", "ushs": "UGX",
    "le": "SLL", "nle": "SLE", "mk": "MWK", "k": "ZMW", "fc": "CDF", "frw": "RWF",
    "$": "USD", "us$": "USD", "€": "EUR", "₡": "CRC", "birr": "ETB", "br": "ETB",
}
_AFTER = {
    "f": "FCFA", "fr": "FCFA", "frs": "FCFA", "frcs": "FCFA", "francs": "FCFA", "cfa": "FCFA", "fcfa": "FCFA",
    "f cfa": "FCFA", "cfa francs": "FCFA", "/=": "KES", "/-": "KES", "ksh": "KES", "kshs": "KES", "sh": "KES",
    "shs": "KES", "shillings": "KES", "cedi": "GHS", "cedis": "GHS", "gh₵": "GHS", "₵": "GHS", "naira": "NGN",
    "leones": "SLL", "le": "SLL", "rand": "ZAR", "birr": "ETB", "frw": "RWF", "colones": "CRC", "k": "",
    "€": "EUR", "$": "USD",
}
# an amount: 2,000 / 2 000 / 2.000 (thousands), or 15 / 15.50 / 2,50
_AMOUNT = r"(\d{1,3}(?:[,.\u00a0 ]\d{3})+(?![\d.,]\d)|\d+(?:[.,]\d{1,2})?)"
_WORD_BEFORE = "|".join(sorted(map(re.escape, _BEFORE), key=len, reverse=True))
_WORD_AFTER = "|".join(sorted(map(re.escape, _AFTER), key=len, reverse=True))
_FARE_BEFORE = re.compile(rf"(?i)(?<![^\W\d_])({_WORD_BEFORE}|[a-z]{{3}})\.?\s?{_AMOUNT}(?![\w.,]?\d)(?![^\W\d_])")
_FARE_AFTER = re.compile(rf"(?i)(?<![\w.,]){_AMOUNT}\s?({_WORD_AFTER}|[a-z]{{3}})(?![^\W\d_])")
_WAIT_RE = re.compile(r"(?i)(?<![\w.,])(\d+(?:[.,]\d+)?)\s*(h|hrs?|hours?|heures?|min|mins|minutes?|minuites?|"
                      r"minutos?|mn|mnt|mns)(?:\s*(\d{1,2})(?!\d))?(?![^\W\d_])")


def _amount(text: str) -> float:
    """``2,000`` -> 2000; ``15.50`` -> 15.5; ``2,50`` -> 2.5."""
    if re.fullmatch(r"\d{1,3}(?:[,.\u00a0 ]\d{3})+", text):
        return float(re.sub(r"\D", "", text))
    return float(text.replace(",", "."))


def parse_note(text: str, lon: float = np.nan) -> tuple[Fare | None, float | None]:
    """A fare and/or a waiting time read from a free-text note: ``R15``, ``KSh 50``, ``200F``, ``Départ - 200F -
    30min``, ``2000/=``, ``Le2000``, ``2k`` (thousands, in the survey's currency: ``currency`` ""), ``20 mn``,
    ``1h30``. A number inside a place name (``Terminus 40``, ``Rue 12``, ``Riviera 2``) is neither."""
    wait = None
    w = _WAIT_RE.search(text)
    if w:
        v = float(w.group(1).replace(",", "."))
        if w.group(2).lower().startswith("h"):
            wait = v * 3600 + (float(w.group(3)) * 60 if w.group(3) else 0.0)
        else:
            wait = v * 60
        text = text[: w.start()] + " " + text[w.end():]
    found = []
    for m in _FARE_BEFORE.finditer(text):
        code = _currency(m.group(1), lon, _BEFORE)
        if code is not None:
            found.append((m.start(), code, _amount(m.group(2))))
    for m in _FARE_AFTER.finditer(text):
        code = _currency(m.group(2), lon, _AFTER)
        if code is not None:
            amount = _amount(m.group(1)) * (1000 if m.group(2).lower() == "k" else 1)
            found.append((m.start(), code, amount))
    if not found:
        return None, wait
    _, code, amount = min(found)
    return Fare(amount=amount, currency=code), wait


def _currency(token: str, lon: float, words: dict[str, str]) -> str | None:
    """The ISO code a currency word or symbol stands for (FCFA by place: the West African (XOF) and Central
    African (XAF) francs meet near 6 E, Nigeria between); None for a word that is not a currency."""
    t = " ".join(token.strip().lower().rstrip(".").split())
    code = words.get(t)
    if code == "FCFA":
        return "XAF" if np.isfinite(lon) and lon > 6.0 else "XOF"
    if code is not None:
        return code
    if len(t) == 3 and t.isalpha() and known_currency(t.upper()) and (token.strip().isupper() or t in _LOWER_CASE_CODES):
        return t.upper()  # a lower-case three-letter word is a code only where it is a common fare currency
    return None


_LOWER_CASE_CODES = frozenset("kes zar ghs ngn ugx tzs xof xaf etb rwf sll sle usd eur mwk zmw crc sdg mzn aoa cdf "
                              "gnf bif mga".split())


def _waypoints(wpts, name: str, notes: list[N.Notice], lon: np.ndarray) -> tuple[list, list]:
    return _marks([(f"/wpt/{i}", w.name, [w.name, w.description, w.comment],
                    w.time.isoformat() if w.time is not None else None, w.latitude, w.longitude)
                   for i, w in enumerate(wpts)], name, notes, lon)


def _marks(entries: list[tuple], name: str, notes: list[N.Notice], lon: np.ndarray) -> tuple[list, list]:
    """Stop marks and fares of a recording app's marks (GPX waypoints, GPS loggers' annotations): ``entries``
    of (location, label, texts, ISO time or None, lat, lon); a label that is a note (a fare, a wait) names no
    stop."""
    stops, fares = [], []
    ref_lon = float(np.nanmedian(lon)) if np.isfinite(lon).any() else np.nan
    for location, label, texts, time, lat, lon_ in entries:
        texts = [t.strip() for t in texts if t and t.strip()]
        text = " — ".join(texts)
        fare, wait = parse_note(text, ref_lon) if text else (None, None)
        stop_name = label.strip() if label and label.strip() else None
        if fare is not None or wait is not None:
            stop_name = None  # the name was a note, not the stop's name
        elif text and re.search(r"\d", text) and re.search(r"(?i)fare|paid|pay|wait|min|cost|price", text):
            notes.append(N.UnparsedNoteNotice(file=name, location=location, value=text[:80]))
        stops.append((location, {"time": time, "lat": lat, "lon": lon_, "kind": "stop",
                                 "name": stop_name, "wait_s": wait, "note": text or None}))
        if fare is not None:
            fares.append((location, {"amount": fare.amount, "currency": fare.currency}))
    return stops, fares


# --------------------------------------------------------------------------------------------------
# CSV


#: Column names that GPS logger apps, spreadsheets and survey tools write, by the schema field they hold (the
#: first found is used; names are compared lower-cased, spaces and dashes as underscores)
CSV_COLUMNS = {
    "trace_id": ("trace_id", "track_id", "track", "trace", "ride_id", "ride", "trip_id", "segment"),
    "lat": ("lat", "latitude", "lat_deg", "latitude_deg", "y"),
    "lon": ("lon", "lng", "long", "longitude", "lon_deg", "longitude_deg", "x"),
    "time": ("time", "timestamp", "datetime", "date_time", "time_utc", "utc_time", "gps_time", "fix_time",
             "recorded_at", "fecha_hora", "fecha_y_hora", "date_heure", "date_et_heure", "horodatage", "hora"),
    "date": ("date", "fecha", "jour"),
    "accuracy": ("accuracy", "accuracy_m", "horizontal_accuracy", "acc", "precision", "hacc"),
    "speed": ("speed", "speed_mps", "speed_m_s"),
}
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")
_CLOCK = re.compile(r"^\s*\d{1,2}:\d\d(:\d\d(\.\d+)?)?\s*(Z|[+-]\d\d:?\d\d)?\s*$")


def _delimiter(text: str | bytes) -> str:
    """The field separator of a CSV from its header line: ``,``, ``;`` or a tab, whichever it holds most of
    outside quotes (spreadsheets in many locales, and KoboToolbox, write ``;``)."""
    head = text[: 4096].decode("utf-8", "replace") if isinstance(text, bytes) else text[:4096]
    line = re.sub(r'"[^"]*"', "", head.splitlines()[0] if head else "")
    counts = {d: line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ","))


def _read_csv_table(f: InputFile, limits: ReadLimits, required: tuple[str, ...],
                    notes: list[N.Notice], aliases: bool = False) -> pd.DataFrame | None:
    data = _read_all(f.name, f.open, limits)
    if isinstance(data, ReadResult):
        notes.extend(data.notices)
        return None
    text, enc = _decode(f.name, data)
    if enc:
        notes.append(enc)
    try:
        df = pd.read_csv(io.BytesIO(text) if isinstance(text, bytes) else io.StringIO(text), dtype=str,
                         keep_default_na=False, skipinitialspace=True, encoding="utf-8", sep=_delimiter(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        notes.append(N.InvalidCsvNotice(file=f.name, message=str(e).strip()[:300]))
        return None
    df.columns = [re.sub(r"[\s\-]+", "_", "".join(ch for ch in unicodedata.normalize("NFKD", str(c).strip().lower())
                                                   if not unicodedata.combining(ch))) for c in df.columns]
    if aliases:  # any CSV of points: its columns by the names tools give them
        found = {field: next((c for c in names if c in df.columns), None) for field, names in CSV_COLUMNS.items()}
        # the time: the first column of written times; else one of epoch seconds or milliseconds
        stamps = [c for c in CSV_COLUMNS["time"] if c in df.columns]
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
        if "date" in df.columns and "time" in df.columns and df["time"].str.match(_CLOCK).all():
            df["time"] = df["date"].str.strip() + "T" + df["time"].str.strip()  # a date column and a clock column
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


def _read_csv(f: InputFile, limits: ReadLimits) -> list[ReadResult]:
    """The traces of a CSV of points: grouped by a trace id column, else one trace named after the file; the
    columns by their names (``CSV_COLUMNS``), the separator sniffed, decimal commas read (``-1,2921``)."""
    file_notes: list[N.Notice] = []
    pts = _read_csv_table(f, limits, ("lat", "lon", "time"), file_notes, aliases=True)
    if pts is None:
        return [_failed(f.name, *file_notes)]
    if pts.empty:
        return [_failed(f.name, N.EmptyFileNotice(file=f.name), *file_notes)]
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
                "fares.csv": ("trace_id", "amount", "currency"), "departures.csv": ("trace_id", "time")}
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
                                                  location=f"line {r['_line']}", message="stop without valid lat/lon; ignored"))
            else:
                stops.append((f"{_sibling_name(f, 'stops.csv')} line {r['_line']}", d))
        fares = []
        for r in _rows_for(tables.get("fares.csv"), tid):
            d = _csv_fare(r)
            loc = f"{_sibling_name(f, 'fares.csv')} line {r['_line']}"
            if d is None:
                notes.append(N.InvalidFieldNotice(file=_sibling_name(f, "fares.csv"), trace_id=tid, location=f"line {r['_line']}",
                                                  message="fare amount is not a number or currency missing; ignored"))
            else:
                fares.append((loc, d))
        deps = [r["time"] for r in _rows_for(tables.get("departures.csv"), tid)]
        col = lambda c, g=g: g[c + "_f"].to_numpy() if c + "_f" in g.columns else None  # noqa: E731
        note_col = next((c for c in ("annotation", "annotations", "note", "comment", "description") if c in g.columns),
                        None)
        if note_col is not None:  # a GPS logger's annotations: marks at the rows that carry one
            marked = g[g[note_col].str.strip() != ""]
            more_stops, more_fares = _marks(
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


def _num(s: str) -> float | None:
    try:
        v = float(s)
        return v if np.isfinite(v) else None
    except (TypeError, ValueError):
        return None


def _int(s: str) -> int | None:
    v = _num(s)
    return int(v) if v is not None and v == int(v) and v >= 0 else None


def _csv_stop(r: dict) -> dict | None:
    lat, lon = _num(r.get("lat")), _num(r.get("lon"))
    if lat is None or lon is None:
        return None
    kind = (r.get("kind") or "stop").strip().lower()
    return {"time": r.get("time", "").strip(), "lat": lat, "lon": lon, "kind": kind if kind in STOP_KINDS else "stop",
            "name": r.get("name") or None, "boarded": _int(r.get("boarded")), "alighted": _int(r.get("alighted"))}


def _csv_fare(r: dict) -> dict | None:
    amount = _num(r.get("amount"))
    if amount is None or not (r.get("currency") or "").strip():
        return None
    return {"amount": amount, "currency": r["currency"].strip(), "from_stop": _int(r.get("from_stop")),
            "to_stop": _int(r.get("to_stop"))}

"""Read collector recordings into :class:`~transitmap.model.Trace` objects plus notices.

Formats: canonical JSON (one trace or a list), JSON Lines, GPX 1.0/1.1 (OSMTracker and other loggers), CSV
(``points.csv`` with optional ``traces.csv``, ``stops.csv``, ``fares.csv``, ``departures.csv``), each of them
gzip-compressed, and directories or ``.zip`` archives of any of them.

Reading is lenient: a file it can partly understand yields what it can, and every problem it sees (syntax,
types, the schema) becomes a notice. Semantic checks (ranges, speeds, gaps ...) belong to
:mod:`transitmap.validate`. Nothing here raises on bad input.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import IO, Any, Callable, Iterator, Sequence

import numpy as np
import orjson
import pandas as pd

from . import notices as N
from .model import STOP_KINDS, Fare, Stop, Trace, iso_currencies

SCHEMA_MAJOR = "1"
CSV_TABLES = ("points.csv", "traces.csv", "stops.csv", "fares.csv", "departures.csv")
_NUMBER = (int, float)


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


# --------------------------------------------------------------------------------------------------
# Discovering files


def list_inputs(paths: Sequence[str | os.PathLike]) -> tuple[list[InputFile], list[ReadResult]]:
    """The readable files under ``paths`` (files, directories read recursively), sorted by name, and
    results for what cannot be read at all (missing paths, links leaving the input)."""
    files: list[InputFile] = []
    problems: list[ReadResult] = []
    for raw in paths:
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
            files.extend(_group_csv([(rel, _fs_file(rel, fp)) for rel, fp in found]))
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
    return InputFile(name, lambda: open(path, "rb"), size)


def _group_csv(entries: list[tuple[str, InputFile]]) -> list[InputFile]:
    """Attach ``traces.csv``, ``stops.csv`` ... to the ``points.csv`` of the same folder."""
    by_dir: dict[str, dict[str, InputFile]] = {}
    out = []
    for rel, f in entries:
        pp = PurePosixPath(rel)
        if pp.name.lower() in CSV_TABLES:
            by_dir.setdefault(str(pp.parent), {})[pp.name.lower()] = f
        else:
            out.append(f)
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
    name = f.name.lower()
    if name.endswith(".zip"):
        return _read_zip(f, limits, depth)
    gz = name.endswith(".gz")
    base = name[:-3] if gz else name
    opener = f.open
    if gz:
        def opener():  # noqa: E306 - decompress on the fly, bounded by the readers' size limits
            return gzip.GzipFile(fileobj=f.open(), mode="rb")
    if base.endswith((".jsonl", ".ndjson")):
        return _read_jsonl(f.name, opener, limits)
    if base.endswith(".json"):
        return _read_json(f.name, _read_all(f.name, opener, limits))
    if base.endswith(".gpx"):
        return _read_gpx(f.name, _read_all(f.name, opener, limits))
    if PurePosixPath(base).name == "points.csv":
        return _read_csv(f, limits)
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
    for inner in sorted(_group_csv(entries), key=lambda x: x.name):
        results.extend(read_file(inner, limits, depth + 1))
    return results


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
    """A validator for the trace without its points (the points are checked column-wise, fast), and
    validators for single items, used only to explain a bad one."""
    import copy

    import jsonschema

    lenient = copy.deepcopy(trace_schema())
    lenient["properties"]["points"] = {"type": "array"}  # items: checked column-wise
    lenient["$defs"]["time"] = {"type": "string"}  # time syntax: checked by the time parser
    cls = jsonschema.Draft202012Validator
    defs = {"$defs": lenient["$defs"]}
    items = {k: cls({**defs, "$ref": f"#/$defs/{k}"}) for k in ("point", "stop", "fare", "time")}
    return cls(lenient), items


def _read_json(name: str, data: bytes | ReadResult) -> list[ReadResult]:
    if isinstance(data, ReadResult):
        return [data]
    text, enc_notice = _decode(name, data)
    try:
        doc = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        return [_failed(name, N.InvalidJsonNotice(file=name, location="", message=str(e)))]
    if isinstance(doc, list):
        results = [trace_from_dict(d, name, f"/{i}") for i, d in enumerate(doc)]
        if not results:
            results = [_failed(name, N.EmptyFileNotice(file=name))]
    else:
        results = [trace_from_dict(doc, name, "")]
    return _with_file_notices(results, enc_notice)


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
                text, enc = _decode(name, line)
                try:
                    doc = orjson.loads(text)
                except orjson.JSONDecodeError as e:
                    results.append(_failed(name, N.InvalidJsonNotice(file=name, location=f"line {lineno}",
                                                                     message=str(e))))
                    continue
                results.extend(_with_file_notices([trace_from_dict(doc, name, f"line {lineno}")], enc))
    except (gzip.BadGzipFile, zlib.error, EOFError) as e:
        results.append(_failed(name, N.InvalidArchiveNotice(file=name, message=str(e) or type(e).__name__)))
    if not results:
        results = [_failed(name, N.EmptyFileNotice(file=name))]
    return results


def _bounded_lines(fh: IO[bytes], max_bytes: int) -> Iterator[bytes | int]:
    """Lines of a stream; a line over ``max_bytes`` is skipped and yields its length instead."""
    while True:
        line = fh.readline(max_bytes + 1)
        if not line:
            return
        if len(line) > max_bytes and not line.endswith(b"\n"):
            size = len(line)
            while line and not line.endswith(b"\n"):
                line = fh.readline(max_bytes)
                size += len(line)
            yield size
            continue
        yield line


def _decode(name: str, data: bytes) -> tuple[str | bytes, N.Notice | None]:
    """Bytes as UTF-8 (a BOM dropped); invalid UTF-8 is decoded with replacement and reported."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        data.decode("utf-8")
        return data, None
    except UnicodeDecodeError as e:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            try:
                return data.decode("utf-16"), N.InvalidEncodingNotice(file=name, message="UTF-16 text, read as such")
            except UnicodeDecodeError:
                pass
        return data.decode("utf-8", errors="replace"), N.InvalidEncodingNotice(file=name, message=str(e))


def _with_file_notices(results: list[ReadResult], notice: N.Notice | None) -> list[ReadResult]:
    if notice is None:
        return results
    return [ReadResult(r.source, r.trace, (notice,) + r.notices) for r in results]


def trace_from_dict(doc: Any, source: str, pointer: str = "") -> ReadResult:
    """A trace from a parsed JSON document of the collector schema, with the notices of reading it."""
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

    envelope, items = _validators()
    drop_items: dict[str, set[int]] = {"stops": set(), "fares": set(), "departures": set()}
    ignored: set[str] = set()
    for err in sorted(envelope.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        path = list(err.absolute_path)
        if err.validator == "required":
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
    if any(n.severity == N.ERROR for n in notes):
        return ReadResult(source, None, tuple(notes))

    def opt(key: str) -> Any:
        return None if key in ignored else doc.get(key)

    pts = doc["points"]
    dicts = [p if type(p) is dict else {} for p in pts]
    meta = {k: opt(k) for k in ("collector_id", "mode", "route_name", "operator", "origin", "destination", "notes")}
    stops = [s for i, s in enumerate(opt("stops") or ()) if i not in drop_items["stops"]]
    stop_ptr = [at("stops", i) for i, _ in enumerate(opt("stops") or ()) if i not in drop_items["stops"]]
    fares = [(at("fares", i), x) for i, x in enumerate(opt("fares") or ()) if i not in drop_items["fares"]]
    deps = [x for i, x in enumerate(opt("departures") or ()) if i not in drop_items["departures"]]
    trace = build_trace(
        source=source,
        trace_id=tid,
        meta=meta,
        times=[p.get("time") for p in dicts],
        lat=[p.get("lat") for p in dicts],
        lon=[p.get("lon") for p in dicts],
        accuracy=[p.get("accuracy") for p in dicts],
        speed=[p.get("speed") for p in dicts],
        stops=list(zip(stop_ptr, stops)),
        fares=fares,
        departures=deps,
        locate=lambda i, fld="": at("points", i, *([fld] if fld else [])),
        notices=notes,
        explain=lambda i: _first_error(items["point"], pts[i]),
    )
    return ReadResult(source, trace, tuple(notes))


def _first_error(validator, instance) -> str:
    err = next(iter(validator.iter_errors(instance)), None)
    return err.message[:300] if err is not None else "invalid point"


# --------------------------------------------------------------------------------------------------
# Building a trace from columns (shared by every format)


def _floats(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Float array from numbers (NaN elsewhere) and the mask of elements that were not numbers."""
    if all(type(v) in _NUMBER for v in values):
        return np.array(values, dtype=np.float64), np.zeros(len(values), bool)
    bad = np.fromiter((type(v) not in _NUMBER for v in values), bool, len(values))
    arr = np.array([float(v) if type(v) in _NUMBER else np.nan for v in values], dtype=np.float64)
    return arr, bad


def _optional_floats(values: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`_floats`, but None/absent is fine (NaN, not bad)."""
    if all(v is None for v in values):
        return np.full(len(values), np.nan), np.zeros(len(values), bool)
    arr, bad = _floats([np.nan if v is None else v for v in values])
    return arr, bad


_OFFSET_RE = re.compile(r"(Z|z|[+-]\d\d(:?\d\d)?)$")
_ISO_RE = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d")


def parse_times(values: Sequence[Any], lat: float = np.nan, lon: float = np.nan) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """ISO 8601 strings to UTC epoch seconds, vectorised.

    Returns (t_s with NaN where unparseable, mask of unparseable, mask of times without UTC offset, the
    time zone used for those: the IANA zone at (lat, lon), or UTC when unknown).
    """
    n = len(values)
    strs = [v if type(v) is str else "" for v in values]
    # Real traces write every time the same way: classify the few distinct (separator, suffix) pairs
    # instead of every string, and look at single strings only when the trace mixes formats.
    kinds = {(s[10:11], s[-6:]) for s in strs}
    if all(sep in ("T", " ") and _OFFSET_RE.search(suf) for sep, suf in kinds):
        bad_shape = np.zeros(n, bool)
        naive = np.zeros(n, bool)
    else:
        bad_shape = np.fromiter((_ISO_RE.match(s) is None for s in strs), bool, n)
        naive = np.fromiter((_OFFSET_RE.search(s[-6:]) is None for s in strs), bool, n) & ~bad_shape
    parsed = pd.to_datetime(pd.Series(strs, dtype=object).where(~bad_shape, None), utc=True, format="ISO8601",
                            errors="coerce")
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


_TF = None


def timezone_at(lat: float, lon: float) -> str:
    """IANA time zone at a position (offline, timezonefinder), or "UTC" when unknown."""
    global _TF
    if not (np.isfinite(lat) and np.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        return "UTC"
    if _TF is None:
        from timezonefinder import TimezoneFinder

        _TF = TimezoneFinder()
    return _TF.timezone_at(lng=float(lon), lat=float(lat)) or "UTC"


def _first_finite(lat: np.ndarray, lon: np.ndarray) -> tuple[float, float]:
    ok = np.flatnonzero(np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180))
    return (float(lat[ok[0]]), float(lon[ok[0]])) if len(ok) else (np.nan, np.nan)


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
) -> Trace:
    """A :class:`Trace` from columns, whatever the format; appends the notices of reading them.

    ``lat``/``lon``/``accuracy``/``speed`` are Python values (checked for type) or float arrays (NaN where
    a value could not be read); ``stops``/``fares`` are (location, dict of the schema's fields) pairs.
    """
    n = len(times)
    lat_a, lat_bad = (lat, ~np.isfinite(lat)) if isinstance(lat, np.ndarray) else _floats(lat)
    lon_a, lon_bad = (lon, ~np.isfinite(lon)) if isinstance(lon, np.ndarray) else _floats(lon)
    acc_a, acc_bad = _column_or_nan(accuracy, n)
    spd_a, spd_bad = _column_or_nan(speed, n)
    time_missing = np.fromiter((type(v) is not str for v in times), bool, n)
    ref_lat, ref_lon = _first_finite(lat_a, lon_a)
    t_s, t_bad, naive, tzname = parse_times(times, ref_lat, ref_lon)

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

    stop_objs = _stops(stops, source, trace_id, ref_lat, ref_lon, notices)
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
    )
    if not trace_id:
        trace = trace.replace(trace_id="x-" + trace.points_digest()[:12])
        notices.append(N.MissingTraceIdNotice(file=source, trace_id=trace.trace_id))
    return trace


def _column_or_nan(values, n: int) -> tuple[np.ndarray, np.ndarray]:
    if values is None:
        return np.full(n, np.nan), np.zeros(n, bool)
    if isinstance(values, np.ndarray):
        return values.astype(np.float64), np.zeros(n, bool)
    arr, bad = _optional_floats(values)
    neg = np.nan_to_num(arr, nan=0.0) < 0
    return np.where(bad | neg, np.nan, arr), bad | neg


def _text(v: Any) -> str | None:
    if v is None:
        return None
    s = " ".join(str(v).split())
    return s or None


def _stops(stops: list[tuple[str, dict]], source: str, trace_id: str, lat: float, lon: float,
           notices: list[N.Notice]) -> tuple[Stop, ...]:
    if not stops:
        return ()
    t_s, bad, _, _ = parse_times([d.get("time") for _, d in stops], lat, lon)
    out = []
    for (loc, d), t, b in zip(stops, t_s, bad):
        if b:
            notices.append(N.InvalidFieldNotice(file=source, trace_id=trace_id, location=loc + "/time",
                                                message=f"unreadable stop time {str(d.get('time'))[:40]!r}; stop ignored"))
            continue
        out.append(Stop(time_s=float(t), lat=float(d["lat"]), lon=float(d["lon"]),
                        kind=d.get("kind") if d.get("kind") in STOP_KINDS else "stop",
                        name=_text(d.get("name")), boarded=d.get("boarded"), alighted=d.get("alighted"),
                        wait_s=d.get("wait_s"), note=_text(d.get("note"))))
    return tuple(out)


def _fare(d: dict) -> Fare:
    return Fare(amount=float(d["amount"]), currency=str(d["currency"]).strip().upper(),
                from_stop=d.get("from_stop"), to_stop=d.get("to_stop"))


# --------------------------------------------------------------------------------------------------
# GPX

_GENERIC_NAME = re.compile(r"osmtracker|^(track|trace|ride|recording|log)\s*\d*$|^\d[\d\-_: T.]*$|^untitled|^active log|^gpslogger",
                           re.IGNORECASE)


def _read_gpx(name: str, data: bytes | ReadResult) -> list[ReadResult]:
    if isinstance(data, ReadResult):
        return [data]
    import defusedxml.ElementTree as DET
    import gpxpy
    import gpxpy.gpx
    from defusedxml import DefusedXmlException

    try:  # refuse DTDs and entities before gpxpy's own parser sees the text
        DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        return [_failed(name, N.UnsafeXmlNotice(file=name, message=f"{type(e).__name__}: {e}"[:300]))]
    except Exception as e:  # ParseError
        return [_failed(name, N.InvalidXmlNotice(file=name, message=str(e)[:300]))]
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
    stem = re.sub(r"\.gpx(\.gz)?$", "", PurePosixPath(name.split("!")[-1]).name, flags=re.IGNORECASE)
    file_route = _route_from_name(stem)
    spans = []
    for trk in tracks:
        times = [p.time for s in trk.segments for p in s.points if p.time is not None]
        spans.append((min(times).timestamp(), max(times).timestamp()) if times and all(t.tzinfo for t in times) else None)
    results = []
    for k, trk in enumerate(tracks):
        notes: list[N.Notice] = []
        pts = [p for s in trk.segments for p in s.points]
        route = trk.name if trk.name and not _GENERIC_NAME.search(trk.name.strip()) else file_route
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


def _retag(n: N.Notice, trace_id: str) -> N.Notice:
    import dataclasses

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


def _route_from_name(stem: str) -> str | None:
    """A route name carried in a file name: ``2026-03-02_0712_Bree-Soweto`` -> ``Bree-Soweto``."""
    words = [w for w in re.split(r"[_\s]+", stem) if w and not re.fullmatch(r"[\d\-:.T]+", w)]
    text = " ".join(words).strip(" -")
    if not text or _GENERIC_NAME.search(text) or not re.search(r"[^\W\d_]{2}", text):
        return None
    return text


# Local ways of writing currencies, beside ISO codes. FCFA is resolved by place (see _currency).
_CURRENCY_WORDS = {
    "r": "ZAR", "rand": "ZAR", "ksh": "KES", "kshs": "KES", "ksh.": "KES", "sh": "KES", "/=": "KES",
    "gh₵": "GHS", "ghc": "GHS", "gh¢": "GHS", "₵": "GHS", "cedi": "GHS", "cedis": "GHS",
    "₦": "NGN", "naira": "NGN", "n": "NGN", "tsh": "TZS", "tshs": "TZS", "ush": "UGX", "ushs": "UGX",
    "le": "SLE", "leones": "SLE", "birr": "ETB", "mk": "MWK", "k": "ZMW", "fc": "CDF", "frw": "RWF", "rwf": "RWF",
    "cfa": "FCFA", "fcfa": "FCFA", "f cfa": "FCFA", "$": "USD", "us$": "USD", "€": "EUR",
}
_AMOUNT = r"(\d+(?:[.,]\d{1,2})?)"
_CUR = r"([A-Za-z₵₦$€¢][A-Za-z₵₦$€¢.]{0,4}(?:\s?CFA)?)"
_FARE_RES = (re.compile(rf"(?:^|[\s:(]){_CUR}\s?{_AMOUNT}(?:$|[\s),;/])"), re.compile(rf"(?:^|[\s:(]){_AMOUNT}\s?{_CUR}(?:$|[\s),;])"))
_WAIT_RE = re.compile(r"(\d+(?:[.,]\d+)?)\s*(h|hrs?|hours?|min|mins|minutes?|m)\b", re.IGNORECASE)


def parse_note(text: str, lon: float = np.nan) -> tuple[Fare | None, float | None]:
    """A fare and/or a waiting time read from a free-text note ("R15", "KES 70", "200 FCFA", "20 min")."""
    fare = None
    wait = None
    for rx, order in ((_FARE_RES[0], "ca"), (_FARE_RES[1], "ac")):
        m = rx.search(text)
        if not m:
            continue
        cur, amt = (m.group(1), m.group(2)) if order == "ca" else (m.group(2), m.group(1))
        code = _currency(cur, lon)
        if code and not re.fullmatch(r"(?i)h|hrs?|hours?|min|mins|minutes?|m", cur.strip()):
            fare = Fare(amount=float(amt.replace(",", ".")), currency=code)
            break
    w = _WAIT_RE.search(text)
    if w:
        v = float(w.group(1).replace(",", "."))
        wait = v * 3600 if w.group(2).lower().startswith("h") else v * 60
    return fare, wait


def _currency(token: str, lon: float) -> str | None:
    t = token.strip().lower()
    code = _CURRENCY_WORDS.get(t)
    if code == "FCFA":  # the West African (XOF) and Central African (XAF) francs meet near 6 E (Nigeria between)
        return "XAF" if np.isfinite(lon) and lon > 6.0 else "XOF"
    if code:
        return code
    if len(t) == 3 and t.isalpha() and t.upper() in iso_currencies():
        return t.upper()
    return None


def _waypoints(wpts, name: str, notes: list[N.Notice], lon: np.ndarray) -> tuple[list, list]:
    stops, fares = [], []
    ref_lon = float(np.nanmedian(lon)) if np.isfinite(lon).any() else np.nan
    for i, w in enumerate(wpts):
        texts = [t.strip() for t in (w.name, w.description, w.comment) if t and t.strip()]
        text = " — ".join(texts)
        fare, wait = parse_note(text, ref_lon) if text else (None, None)
        stop_name = w.name.strip() if w.name and w.name.strip() else None
        if fare is not None or wait is not None:
            stop_name = None  # the name was a note, not the stop's name
        elif text and re.search(r"\d", text) and re.search(r"(?i)fare|paid|pay|wait|min|cost|price", text):
            notes.append(N.UnparsedNoteNotice(file=name, location=f"/wpt/{i}", value=text[:80]))
        time = w.time.isoformat() if w.time is not None else None
        stops.append((f"/wpt/{i}", {"time": time, "lat": w.latitude, "lon": w.longitude, "kind": "stop",
                                    "name": stop_name, "wait_s": wait, "note": text or None}))
        if fare is not None:
            fares.append((f"/wpt/{i}", {"amount": fare.amount, "currency": fare.currency}))
    return stops, fares


# --------------------------------------------------------------------------------------------------
# CSV


def _read_csv_table(f: InputFile, limits: ReadLimits, required: tuple[str, ...],
                    notes: list[N.Notice]) -> pd.DataFrame | None:
    data = _read_all(f.name, f.open, limits)
    if isinstance(data, ReadResult):
        notes.extend(data.notices)
        return None
    text, enc = _decode(f.name, data)
    if enc:
        notes.append(enc)
    try:
        df = pd.read_csv(io.BytesIO(text) if isinstance(text, bytes) else io.StringIO(text), dtype=str,
                         keep_default_na=False, skipinitialspace=True, encoding="utf-8")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as e:
        notes.append(N.InvalidCsvNotice(file=f.name, message=str(e).strip()[:300]))
        return None
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        notes.append(N.InvalidCsvNotice(file=f.name, message=f"missing column {missing[0]!r}", field=missing[0]))
        return None
    df["trace_id"] = df["trace_id"].str.strip()
    df["_line"] = np.arange(len(df)) + 2
    return df


def _read_csv(f: InputFile, limits: ReadLimits) -> list[ReadResult]:
    file_notes: list[N.Notice] = []
    pts = _read_csv_table(f, limits, ("trace_id", "time", "lat", "lon"), file_notes)
    if pts is None:
        return [_failed(f.name, *file_notes)]
    if pts.empty:
        return [_failed(f.name, N.EmptyFileNotice(file=f.name), *file_notes)]
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
        col = lambda c: g[c + "_f"].to_numpy() if c + "_f" in g.columns else None  # noqa: E731
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

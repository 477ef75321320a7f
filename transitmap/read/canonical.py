"""The collector trace schema v1 (``collector_schema/``): JSON (one trace or a list) and JSON Lines, checked
against the schema.
"""

from __future__ import annotations

import copy
import gzip
import json
import re
import zlib
from collections.abc import Callable, Iterator
from functools import lru_cache
from importlib import resources
from itertools import repeat
from operator import attrgetter
from typing import IO, Annotated, Any, Literal, Optional

import fastjsonschema
import jsonschema
import msgspec
import numpy as np
from referencing import Registry, Resource

from .. import notices as N
from .base import (
    SCHEMA_MAJOR,
    InputFile,
    Reader,
    ReadLimits,
    ReadResult,
    failed_read,
    parse_json,
    read_all,
    with_file_notices,
)
from .geojson import GEOJSON_TYPES, read_geojson, stop_docs_beside
from .traces import StrList, build_trace


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
    items = {k: cls({"$ref": f"{full['$id']}#/$defs/{k}"}, registry=registry) for k
             in ("point", "stop", "fare", "time")}
    return {False: (fastjsonschema.compile(lenient), cls(lenient)),
            True: (fastjsonschema.compile(typed), cls(typed))}, items


class _FastPoint(msgspec.Struct, gc=False):  # only str and float fields: no cycles to track
    time: str
    lat: float
    lon: float
    accuracy: float | None = None  # noqa: UP007 - msgspec reads the annotation at run time
    speed: float | None = None  # noqa: UP007


class _FastStop(msgspec.Struct, gc=False):  # fields in the order of traces.STOP_FIELDS
    """A stop as the schema's ``$defs/stop`` allows it (its time only a string: the time parser reads it),
    decoded and checked in C. It accepts nothing the schema rejects; what it rejects (even what the schema
    allows, such as ``"boarded": 3.0``) takes the lenient path, where the schema explains it."""

    time: str
    lat: Annotated[float, msgspec.Meta(ge=-90, le=90)]
    lon: Annotated[float, msgspec.Meta(ge=-180, le=180)]
    kind: Literal["board", "alight", "both", "stop"]
    name: Annotated[str, msgspec.Meta(max_length=500)] | None = None  # noqa: UP007
    boarded: Annotated[int, msgspec.Meta(ge=0)] | None = None  # noqa: UP007
    alighted: Annotated[int, msgspec.Meta(ge=0)] | None = None  # noqa: UP007
    wait_s: Any = None  # not in the schema, kept as read (as from a CSV export)
    note: Any = None


# A trace whose points and stops have the schema's types: decoded and type-checked in C, no dict per point
# or stop. The other fields (named by the schema) are checked by the schema afterwards; what does not fit
# takes the lenient path.
_FastTrace = msgspec.defstruct(
    "_FastTrace",
    [("points", list[_FastPoint]), ("stops", Optional[list[_FastStop]], msgspec.UNSET)]  # noqa: UP045
    + [(k, Any, msgspec.UNSET) for k in trace_schema()["properties"] if k not in ("points", "stops")],
)


_FAST_ONE = msgspec.json.Decoder(_FastTrace)


_FAST_MANY = msgspec.json.Decoder(list[_FastTrace])


def read_json(name: str, data: bytes | ReadResult, siblings: dict[str, InputFile] | None = None,
               limits: ReadLimits = ReadLimits()) -> list[ReadResult]:
    if isinstance(data, ReadResult):
        return [data]
    doc, note = parse_json(name, data, "", _FAST_MANY if re.match(rb"(\xef\xbb\xbf)?\s*\[", data) else _FAST_ONE)
    if doc is None:
        return [failed_read(name, note)]
    if isinstance(doc, dict) and doc.get("type") in GEOJSON_TYPES and "points" not in doc:
        return with_file_notices(read_geojson(name, doc, stop_docs_beside(siblings or {}, limits)), note)
    if isinstance(doc, list):
        results = [_trace_from_any(d, name, f"/{i}") for i, d in enumerate(doc)]
        if not results:
            results = [failed_read(name, N.EmptyFileNotice(file=name))]
    else:
        results = [_trace_from_any(doc, name, "")]
    return with_file_notices(results, note)


def read_jsonl(name: str, opener: Callable[[], IO[bytes]], limits: ReadLimits) -> list[ReadResult]:
    results: list[ReadResult] = []
    try:
        with opener() as fh:
            for lineno, line in enumerate(_bounded_lines(fh, limits.max_line_bytes), start=1):
                if isinstance(line, int):
                    results.append(failed_read(name, N.FileTooLargeNotice(file=name, size_bytes=line,
                                                                      limit=limits.max_line_bytes)))
                    continue
                if not line.strip():
                    continue
                doc, note = parse_json(name, line, f"line {lineno}", _FAST_ONE)
                if doc is None:
                    results.append(failed_read(name, note))
                    continue
                results.extend(with_file_notices([_trace_from_any(doc, name, f"line {lineno}")], note))
    except (gzip.BadGzipFile, zlib.error, EOFError) as e:
        results.append(failed_read(name, N.InvalidArchiveNotice(file=name, message=str(e) or type(e).__name__)))
    if not results:
        results = [failed_read(name, N.EmptyFileNotice(file=name))]
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
    columns = {"times": StrList(map(_time, pts)), "lat": np.fromiter(map(_lat, pts), np.float64, n),
               "lon": np.fromiter(map(_lon, pts), np.float64, n), "accuracy": _optional_array(pts, _acc),
               "speed": _optional_array(pts, _spd)}
    return _trace(envelope, source, pointer, columns, typed=True)


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
        return failed_read(source, N.SchemaViolationNotice(file=source, location=pointer or "/",
                                                       message=f"a trace is a JSON object, not {type(doc).__name__}"))
    tid = doc.get("trace_id") if isinstance(doc.get("trace_id"), str) and doc.get("trace_id") else ""
    notes: list[N.Notice] = []

    def at(*parts) -> str:
        return pointer + "".join(f"/{p}" for p in parts)

    version = doc.get("schema_version")
    if version is None:
        notes.append(N.MissingSchemaVersionNotice(file=source, trace_id=tid))
    elif not isinstance(version, str) or version.split(".")[0] != SCHEMA_MAJOR:
        return failed_read(source,
                           N.UnsupportedSchemaVersionNotice(file=source, trace_id=tid,
                                                            schema_version=str(version)[:40]))

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


def _read_json_file(f: InputFile, opener: Callable[[], IO[bytes]], limits: ReadLimits) -> list[ReadResult]:
    return read_json(f.name, read_all(f.name, opener, limits), f.siblings, limits)


def _read_jsonl_file(f: InputFile, opener: Callable[[], IO[bytes]], limits: ReadLimits) -> list[ReadResult]:
    return read_jsonl(f.name, opener, limits)


JSON_READER = Reader("json", (".json",), _read_json_file)  # a GeoJSON document inside goes to geojson
JSONL_READER = Reader("json-lines", (".jsonl", ".ndjson"), _read_jsonl_file)

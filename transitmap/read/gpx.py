"""GPX 1.0/1.1 (OSMTracker and other loggers), parsed safely (defusedxml): tracks, waypoints as marks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

import defusedxml.ElementTree as DET
import gpxpy
import gpxpy.gpx
import numpy as np
from defusedxml import DefusedXmlException

from .. import notices as N
from .base import (
    InputFile,
    Reader,
    ReadLimits,
    ReadResult,
    decode_text,
    failed_read,
    read_all,
    retag,
    with_file_notices,
)
from .notes import APP_NAME, waypoints_of
from .traces import build_trace


def read_gpx(name: str, data: bytes | ReadResult) -> list[ReadResult]:
    if isinstance(data, ReadResult):
        return [data]

    try:  # refuse DTDs and entities before gpxpy's own parser sees the text
        root = DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        return [failed_read(name, N.UnsafeXmlNotice(file=name, message=f"{type(e).__name__}: {e}"[:300]))]
    except Exception as e:  # ParseError
        return [failed_read(name, N.InvalidXmlNotice(file=name, message=str(e)[:300]))]
    if root.tag.rsplit("}", 1)[-1] != "gpx":
        return [failed_read(name,
                            N.InvalidXmlNotice(file=name, message=f"not GPX: the root element is <{root.tag}>"[:300]))]
    text, enc = decode_text(name, data)
    try:
        gpx = gpxpy.parse(text.decode("utf-8") if isinstance(text, bytes) else text)
    except (gpxpy.gpx.GPXException, ValueError) as e:
        return [failed_read(name, N.InvalidXmlNotice(file=name, message=str(e)[:300]))]

    tracks = [t for t in gpx.tracks if any(s.points for s in t.segments)]
    if not tracks:
        if gpx.routes and any(r.points for r in gpx.routes):
            msg = "a GPX route (planned, no times) is not a recorded ride"
        else:
            msg = "no track points"
        return with_file_notices([failed_read(name,
                                              N.SchemaViolationNotice(file=name, location="/gpx/trk", message=msg))],
                                 enc)
    author = gpx.author_name or (gpx.author_email if gpx.author_email else None)
    spans = []
    for trk in tracks:
        times = [p.time for s in trk.segments for p in s.points if p.time is not None]
        spans.append((min(times).timestamp(), max(times).timestamp()) if times and all(t.tzinfo for t in times)
                     else None)
    results = []
    for k, trk in enumerate(tracks):
        notes: list[N.Notice] = []
        pts = [p for s in trk.segments for p in s.points]
        # the track's own name; a name in the file's path is read by the build, survey-wide (``names``)
        route = trk.name if trk.name and not APP_NAME.search(trk.name.strip()) else None
        lat = np.array([p.latitude for p in pts], dtype=np.float64)
        lon = np.array([p.longitude for p in pts], dtype=np.float64)
        wpts = [w for w in gpx.waypoints if len(tracks) == 1 or _within(w, spans[k])]
        stops, fares = waypoints_of(wpts, name, notes, lon)
        trace = build_trace(
            source=name, trace_id="", meta={"route_name": route, "collector_id": author, "notes": trk.description},
            times=[_gpx_time(p.time) for p in pts], lat=lat, lon=lon,
            accuracy=np.array([_gpx_accuracy(p) for p in pts], dtype=np.float64),
            speed=np.array([p.speed if p.speed is not None and p.speed >= 0 else np.nan for p in pts],
                           dtype=np.float64),
            stops=stops, fares=fares, departures=[],
            locate=lambda i, fld="", k=k: f"/trk/{k}/trkpt/{i}" + (f"/{fld}" if fld else ""),
            notices=notes,
        )
        notes = [retag(n, trace.trace_id) for n in notes]
        if author is None:
            notes.append(N.MissingCollectorIdNotice(file=name, trace_id=trace.trace_id))
        results.append(ReadResult(name, trace, tuple(notes)))
    return with_file_notices(results, enc)




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


def _read_gpx_file(f: InputFile, opener: Callable[[], IO[bytes]], limits: ReadLimits) -> list[ReadResult]:
    return read_gpx(f.name, read_all(f.name, opener, limits))


READER = Reader("gpx", (".gpx",), _read_gpx_file)

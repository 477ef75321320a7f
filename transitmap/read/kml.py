"""KML and KMZ (Google Earth, logger apps): ``gx:Track`` (``when`` + ``gx:coord``), ``LineString`` without times,
``Placemark`` points as marks; parsed as safely as GPX.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO

import defusedxml.ElementTree as DET
import numpy as np
from defusedxml import DefusedXmlException

from .. import notices as N
from .base import InputFile, Reader, ReadLimits, ReadResult, failed_read, read_all, retag
from .notes import APP_NAME, marks_of, timed_marks
from .traces import build_trace, number_or_none


def read_kml(name: str, data: bytes | ReadResult) -> list[ReadResult]:
    """The traces of a KML file (parsed as safely as GPX): a ``gx:Track`` (``when`` and ``gx:coord``, as Google
    Earth and logger apps write recorded tracks) or a ``gx:MultiTrack`` is a trace; a ``LineString`` is a path
    without times (``no_timestamps``); ``Point`` placemarks are marks (their name and description read as GPX
    waypoints are). A placemark's name is the route's name."""
    if isinstance(data, ReadResult):
        return [data]
    try:
        root = DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as e:
        return [failed_read(name, N.UnsafeXmlNotice(file=name, message=f"{type(e).__name__}: {e}"[:300]))]
    except Exception as e:  # ParseError
        return [failed_read(name, N.InvalidXmlNotice(file=name, message=str(e)[:300]))]
    local = lambda el: el.tag.rsplit("}", 1)[-1]  # noqa: E731  (KML 2.2, 2.1 and gx namespaces alike)
    child = lambda el, tag: next((c for c in el.iter() if local(c) == tag), None)  # noqa: E731
    text = lambda el, tag: (child(el, tag).text or "").strip() if child(el, tag) is not None else ""  # noqa: E731
    tracks, marks = [], []
    for k, pm in enumerate(el for el in root.iter() if local(el) == "Placemark"):
        label = text(pm, "name") or None
        when = [(w.text or "").strip() for w in pm.iter() if local(w) == "when"]
        coords = [(c.text or "").split() for c in pm.iter() if local(c) == "coord"]  # gx:coord "lon lat alt"
        if coords:
            pts = [(float(c[0]), float(c[1])) if len(c) >= 2 and number_or_none(c[0]) is not None
                   and number_or_none(c[1]) is not None else (np.nan, np.nan)
                   for c in coords]
            tracks.append((k, label, pts, when if len(when) == len(pts) else [None] * len(pts),
                           text(pm, "description")))
            continue
        line = next((el for el in pm.iter() if local(el) == "LineString"), None)
        if line is not None:
            pts = [tuple(float(v) for v in c.split(",")[:2]) for c in text(line, "coordinates").split()
                   if len(c.split(",")) >= 2 and all(number_or_none(v) is not None for v in c.split(",")[:2])]
            tracks.append((k, label, pts, [None] * len(pts), text(pm, "description")))
            continue
        point = next((el for el in pm.iter() if local(el) == "Point"), None)
        if point is not None:
            c = text(point, "coordinates").split(",")
            if len(c) >= 2 and number_or_none(c[0]) is not None and number_or_none(c[1]) is not None:
                marks.append((f"/Placemark/{k}", label, [label, text(pm, "description")], when[0] if when else None,
                              float(c[1]), float(c[0])))
    if not tracks:
        return [failed_read(name, N.NoTimestampsNotice(file=name, count=len(marks)) if marks else
                        N.SchemaViolationNotice(file=name, location="/kml", message="no track, line or point"))]
    results = []
    for k, label, pts, times, description in tracks:
        notes: list[N.Notice] = []
        lon = np.array([p[0] for p in pts], dtype=np.float64)
        xy = np.array(pts, dtype=np.float64).reshape(-1, 2)
        stops, fares = marks_of(timed_marks(marks, xy, times) if len(tracks) == 1 else [], name, notes, lon)
        trace = build_trace(
            source=name, trace_id="", meta={"route_name": label if label and not APP_NAME.search(label) else None,
                                            "notes": description or None},
            times=times, lat=np.array([p[1] for p in pts], dtype=np.float64), lon=lon, accuracy=None, speed=None,
            stops=stops, fares=fares, departures=[], locate=lambda i, fld="", k=k: f"/Placemark/{k}/coord/{i}",
            notices=notes)
        notes = [retag(n, trace.trace_id) for n in notes]
        notes.append(N.MissingCollectorIdNotice(file=name, trace_id=trace.trace_id))
        results.append(ReadResult(name, trace, tuple(notes)))
    return results


def _read_kml_file(f: InputFile, opener: Callable[[], IO[bytes]], limits: ReadLimits) -> list[ReadResult]:
    return read_kml(f.name, read_all(f.name, opener, limits))


READER = Reader("kml", (".kml",), _read_kml_file)  # a KMZ is a zip holding doc.kml: read as an archive

"""Read collector recordings into :class:`~transitmap.model.Trace` objects plus notices.

One module per format, each with the files it takes (a :class:`~transitmap.read.base.Reader` in
``files.READERS``: by the end of the name and, where that does not decide, by the first bytes):

- ``canonical``: the collector trace schema v1 as JSON (one trace or a list) and JSON Lines;
- ``geojson``: lines with per-point times, tracks of timed points, routes without times (TransitWand exports
  with their stop files);
- ``gpx``: GPX 1.0/1.1 (OSMTracker and other loggers);
- ``kml``: KML and KMZ (``gx:Track``, lines, placemarks);
- ``odk``: ODK Collect / KoboToolbox exports (geotrace answers, the audit log's positions);
- ``table``: any CSV of points by its header (``points.csv`` with its ``traces.csv``, ``stops.csv`` ...).

Each of them gzip-compressed, and folders or ``.zip`` archives of any of them (``files``). Every reader ends in
``traces.build_trace``, which turns columns into a trace (times, numbers, stops, fares; times made up for a
recording without any). ``notes`` reads fares and waits from free text. Adding a format is adding a module
with its ``READER``, listing it in ``files.READERS``, and its tests.

Reading is lenient: a file it can partly understand yields what it can, and every problem it sees (syntax,
types, the schema) becomes a notice. Semantic checks (ranges, speeds, gaps ...) belong to
:mod:`transitmap.validate`. Nothing here raises on bad input.
"""

from .base import CSV_TABLES, SCHEMA_MAJOR, InputFile, ReadColumns, Reader, ReadLimits, ReadResult, ascii_digits
from .canonical import trace_from_dict, trace_schema
from .files import READERS, expand_archives, list_inputs, read_file
from .notes import parse_note
from .odk import FORM_COLUMNS
from .table import CSV_COLUMNS
from .traces import MADE_UP_START_S, NOMINAL_SPEED_MPS, build_trace, made_up_times, parse_times, timezone_at

__all__ = ["CSV_COLUMNS", "CSV_TABLES", "FORM_COLUMNS", "MADE_UP_START_S", "NOMINAL_SPEED_MPS", "READERS",
           "SCHEMA_MAJOR", "InputFile",
           "ReadColumns", "ReadLimits", "ReadResult", "Reader", "ascii_digits", "build_trace", "expand_archives",
           "list_inputs", "made_up_times",
           "parse_note", "parse_times", "read_file", "timezone_at", "trace_from_dict", "trace_schema"]

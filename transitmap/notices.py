"""The notice catalogue: every finding about the input data is a typed value.

Modelled after the MobilityData GTFS validator: a notice's **code** is derived from its class name
(``GpsSpikeNotice`` -> ``gps_spike``), its **severity** is fixed per class, and its docstring is its
documentation. The catalogue page (``docs/notices.md``, ``transitmap notices``) is generated from this module.

Severities:
- ``ERROR``: the trace (or file) cannot be used and is quarantined;
- ``WARNING``: the trace is used; the problem is repaired (the offending part is left out) or tolerated;
- ``INFO``: worth knowing, nothing is wrong with the data.

Point-level problems are reported once per trace and code, with the number of affected points (``count``)
and the location of the first or worst one, so a noisy trace gives a handful of notices, not thousands.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar


class Severity(enum.IntEnum):
    INFO = 0
    WARNING = 1
    ERROR = 2


INFO, WARNING, ERROR = Severity.INFO, Severity.WARNING, Severity.ERROR

#: Every field a notice may carry, with its meaning. A meta-test checks that notices use only these.
FIELD_DOCS: dict[str, str] = {
    "file": "input file, relative to the input argument; `archive.zip!member` inside an archive",
    "trace_id": "trace_id of the trace concerned (empty when the file yielded no trace)",
    "location": "where in the trace: a JSON pointer into the trace (`/points/17/time`), "
    "or `line N` of a CSV file",
    "point_index": "index of the (first or worst) point concerned, 0-based, in input order",
    "count": "number of points, stops or items concerned in this trace",
    "message": "the parser's or schema validator's own words",
    "field": "name of the field concerned",
    "value": "the offending value, as text (shortened)",
    "order": "the order in which day and month were read: `day first` or `month first`",
    "mode": "a route's mode (`minibus`, `bus`, `rail` ...: `transitmap.model.MODE_WORDS`)",
    "expected": "what was expected instead",
    "schema_version": "the schema version found",
    "other_file": "the other file holding the same trace_id or content",
    "other_trace_id": "trace_id of the other trace with the same content",
    "distance_m": "a distance, metres",
    "speed_kph": "a speed, km/h",
    "gap_s": "a time gap, seconds",
    "duration_s": "a duration, seconds",
    "length_m": "a path length, metres",
    "accuracy_m": "reported horizontal accuracy, metres (median over the points concerned)",
    "share": "fraction of the trace's points concerned, 0..1",
    "time": "a timestamp, ISO 8601 as found",
    "timezone": "IANA time zone used to interpret local times",
    "amount": "fare amount as found",
    "currency": "currency code or symbol as found",
    "size_bytes": "size of the file or archive member, bytes",
    "ratio": "uncompressed / compressed size of an archive member",
    "limit": "the limit that was exceeded",
    "stop_index": "index of the stop concerned in the trace's `stops`",
    "kept_trace_id": "trace_id of the copy that is used",
    "route_id": "route_id in the feed written",
    "stop_id": "stop_id in the feed written",
    "median_amount": "the route's (lower) median fare, same currency",
    "headway_s": "a headway, seconds",
    "successor": "the ISO 4217 code that replaced a withdrawn one",
    "old_per_new": "how many units of a withdrawn currency make one unit of its successor",
    "convention": "the survey's declared path naming (`path_names`)",
    "trip_id": "trip_id in the feed written",
    "start_time": "start of a time band, HH:MM:SS as GTFS writes it (past midnight: 24:xx:xx)",
    "provenance": "where a figure comes from, as `headways.csv` says it",
    "start_date": "the first day of the feed's calendar, YYYY-MM-DD",
    "agency_url": "the agencies' web address in the feed",
    "days": "days of the week, as mon,tue ... sun",
    "observed": "what was observed, in the same terms",
    "timing": "where a trace's times come from: `recorded`, `stop_times` (times between its stops) or `estimated`",
    "correction_id": "the number of a correction made by hand (`transitmap review SURVEY list`)",
    "kind": "what a correction is about: route, pattern, stop, ride or fare",
    "target": "the route, pattern (trip), stop or trace id (a fare: two stop ids, `S0001>S0005`) a correction names",
    "action": "what a correction does: set, reviewed, merge, split, drop, move, partial_of, branch_of, exclude, assign",
    "reason": "why, in the words of the coordinator or of the build",
    "route": "the route a ride was put in by hand: an id, or `new:LABEL`",
    "lat": "latitude of where it is, WGS84 degrees",
    "lon": "longitude of where it is, WGS84 degrees",
}


@cache
def _snake(name: str) -> str:
    """CamelCase -> snake_case (a notice class name -> its code), once per class."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True, kw_only=True)
class Notice:
    """Base class of all notices; not itself in the catalogue."""

    severity: ClassVar[Severity]
    file: str = ""
    trace_id: str = ""

    @classmethod
    def code(cls) -> str:
        return _snake(cls.__name__.removesuffix("Notice"))

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready dict: code, severity, then the notice's own fields."""
        out: dict[str, Any] = {"code": self.code(), "severity": self.severity.name}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, float):
                v = round(v, 3)
            out[f.name] = v
        return out

    def sort_key(self) -> tuple:
        d = self.to_dict()
        return (self.file, self.trace_id, self.code(), str(d.get("location", "")), str(d))


# --------------------------------------------------------------------------------------------------
# Files and archives


@dataclass(frozen=True, kw_only=True)
class UnreadableFileNotice(Notice):
    """The file could not be read (permission, I/O error, vanished while reading)."""

    severity = ERROR
    message: str


@dataclass(frozen=True, kw_only=True)
class EmptyFileNotice(Notice):
    """The file is empty or holds only white space."""

    severity = ERROR


@dataclass(frozen=True, kw_only=True)
class UnsupportedFileNotice(Notice):
    """The file is not of a format transitmap reads (by its name); it is listed and otherwise ignored."""

    severity = INFO


@dataclass(frozen=True, kw_only=True)
class FileTooLargeNotice(Notice):
    """The file (or its decompressed content) exceeds the size transitmap reads in one piece."""

    severity = ERROR
    size_bytes: int
    limit: int


@dataclass(frozen=True, kw_only=True)
class InvalidEncodingNotice(Notice):
    """The text is not valid UTF-8; undecodable bytes were replaced (names may show `\ufffd`)."""

    severity = WARNING
    message: str


@dataclass(frozen=True, kw_only=True)
class InvalidArchiveNotice(Notice):
    """A `.zip` or `.gz` file is corrupt or truncated; what could be read before the damage is used."""

    severity = ERROR
    message: str


@dataclass(frozen=True, kw_only=True)
class UnsafeArchiveMemberNotice(Notice):
    """An archive member's path is absolute or escapes the archive (`../`); it is not read."""

    severity = ERROR
    value: str


@dataclass(frozen=True, kw_only=True)
class ArchiveBombNotice(Notice):
    """An archive member decompresses to an absurd size or ratio (a zip bomb); it is not read."""

    severity = ERROR
    size_bytes: int
    ratio: float
    limit: int


@dataclass(frozen=True, kw_only=True)
class UnsafePathNotice(Notice):
    """A symbolic link in the input points outside the input directory; it is not followed."""

    severity = ERROR
    value: str


# --------------------------------------------------------------------------------------------------
# Syntax and schema


@dataclass(frozen=True, kw_only=True)
class InvalidJsonNotice(Notice):
    """The file (or a JSON Lines line) is not valid JSON."""

    severity = ERROR
    location: str
    message: str


@dataclass(frozen=True, kw_only=True)
class InvalidXmlNotice(Notice):
    """The GPX file is not well-formed XML, or not GPX."""

    severity = ERROR
    message: str


@dataclass(frozen=True, kw_only=True)
class UnsafeXmlNotice(Notice):
    """The GPX file declares a DTD, entities or external references; it is not parsed (XXE and
    entity-expansion attacks)."""

    severity = ERROR
    message: str


@dataclass(frozen=True, kw_only=True)
class InvalidCsvNotice(Notice):
    """The CSV file cannot be parsed, or lacks a required column."""

    severity = ERROR
    message: str
    field: str = ""


@dataclass(frozen=True, kw_only=True)
class UnsupportedSchemaVersionNotice(Notice):
    """`schema_version` names a major version this release does not read."""

    severity = ERROR
    schema_version: str


@dataclass(frozen=True, kw_only=True)
class MissingSchemaVersionNotice(Notice):
    """`schema_version` is absent; the trace is read as version 1.0."""

    severity = WARNING


@dataclass(frozen=True, kw_only=True)
class SchemaViolationNotice(Notice):
    """A required part of the trace breaks the collector schema (e.g. `points` is not a list); the trace
    cannot be used."""

    severity = ERROR
    location: str
    message: str


@dataclass(frozen=True, kw_only=True)
class InvalidFieldNotice(Notice):
    """An optional field, stop, fare or departure breaks the collector schema; it is ignored and the rest
    of the trace is used."""

    severity = WARNING
    location: str
    message: str


@dataclass(frozen=True, kw_only=True)
class MissingTraceIdNotice(Notice):
    """The trace has no `trace_id`; a stable one is derived from its content (`x-` + hash)."""

    severity = WARNING


@dataclass(frozen=True, kw_only=True)
class MissingCollectorIdNotice(Notice):
    """The trace has no `collector_id`; it cannot count towards a collector's coverage."""

    severity = WARNING


@dataclass(frozen=True, kw_only=True)
class DecimalCommaNotice(Notice):
    """Numbers in the CSV are written with a decimal comma (``-1,2921``, as spreadsheets in many locales write
    them); they are read as ``-1.2921``. ``field``: the columns read so."""

    severity = INFO
    field: str


@dataclass(frozen=True, kw_only=True)
class NoTimestampsNotice(Notice):
    """The recording has no time on any of its points (a route drawn or traced without a clock, a GPX without
    ``<time>``, a time-less GeoJSON line): ``count`` points. The recording is used for what it shows (its
    path, the shape, its stops and names); ``timing`` says where its travel times come from: ``stop_times``
    (the times its stops carry, as TransitWand-style apps export them) or ``estimated`` (none: its pattern's
    travel times come from rides with times, else from the survey's median speed, said as
    ``travel_times_estimated``). It never tells when vehicles run (service hours, days, headways)."""

    severity = WARNING
    count: int
    timing: str = "estimated"


@dataclass(frozen=True, kw_only=True)
class InvalidPointNotice(Notice):
    """Points lack `time`, `lat` or `lon` or have the wrong type; they are left out."""

    severity = WARNING
    location: str
    point_index: int
    count: int
    message: str


# --------------------------------------------------------------------------------------------------
# Points


@dataclass(frozen=True, kw_only=True)
class TooFewPointsNotice(Notice):
    """Fewer than 2 usable points remain; the trace cannot be used."""

    severity = ERROR
    count: int


@dataclass(frozen=True, kw_only=True)
class CoordinatesOutOfRangeNotice(Notice):
    """Points have a latitude outside [-90, 90] or a longitude outside [-180, 180]; they are left out."""

    severity = WARNING
    point_index: int
    count: int
    value: str


@dataclass(frozen=True, kw_only=True)
class NullIslandNotice(Notice):
    """Points lie at (0, 0), the position phones report without a fix; they are left out."""

    severity = WARNING
    point_index: int
    count: int


@dataclass(frozen=True, kw_only=True)
class LatLonSwappedNotice(Notice):
    """Latitude and longitude appear swapped (out of range, or far from the survey only the other way
    round); they are swapped back."""

    severity = WARNING
    value: str


@dataclass(frozen=True, kw_only=True)
class TraceFarFromSurveyNotice(Notice):
    """The trace lies far from the rest of the survey (a test recording, a wrong upload); quarantined."""

    severity = ERROR
    distance_m: float
    limit: int


@dataclass(frozen=True, kw_only=True)
class UnparseableTimeNotice(Notice):
    """Point times that are not ISO 8601; those points are left out."""

    severity = WARNING
    location: str
    point_index: int
    count: int
    value: str


@dataclass(frozen=True, kw_only=True)
class UnreadableTimesNotice(Notice):
    """The points' times cannot be read, and too few points are left to use the trace: quarantined.
    ``value`` is the first time that could not be read (at ``location``), ``count`` how many could not,
    ``message`` why (a time of day without a date, a layout transitmap does not know)."""

    severity = ERROR
    location: str
    point_index: int
    count: int
    value: str
    message: str


@dataclass(frozen=True, kw_only=True)
class AmbiguousDateOrderNotice(Notice):
    """No date of the file shows whether it is written day first or month first (no number above 12, as in
    ``05/03/2024``): they are read in ``order`` (day first unless declared). Declare the order with
    ``read.date_format`` (``dd/mm/yyyy`` or ``mm/dd/yyyy``) when it is the other."""

    severity = WARNING
    location: str
    value: str
    order: str


@dataclass(frozen=True, kw_only=True)
class TimeWithoutOffsetNotice(Notice):
    """Times carry no UTC offset; they are read as local times of the time zone at the trace."""

    severity = WARNING
    location: str
    count: int
    timezone: str


@dataclass(frozen=True, kw_only=True)
class ImplausibleTimeNotice(Notice):
    """Point times before 2000 or after 2100 (a GPS cold start, a reset clock); those points are left out."""

    severity = WARNING
    point_index: int
    count: int
    time: str


@dataclass(frozen=True, kw_only=True)
class TimeGoingBackwardsNotice(Notice):
    """Points are earlier than a point before them; they are left out."""

    severity = WARNING
    point_index: int
    count: int
    gap_s: float


@dataclass(frozen=True, kw_only=True)
class DuplicateTimestampNotice(Notice):
    """Consecutive points share a timestamp; only the first of each run is kept."""

    severity = WARNING
    point_index: int
    count: int


@dataclass(frozen=True, kw_only=True)
class GpsSpikeNotice(Notice):
    """Points jump away from their neighbours at an implausible speed (GPS spikes); they are left out.
    The figures are those of the worst spike."""

    severity = WARNING
    point_index: int
    count: int
    distance_m: float
    speed_kph: float


@dataclass(frozen=True, kw_only=True)
class RecordingGapNotice(Notice):
    """The recording has gaps without fixes (signal loss, app in the background). The figures are those
    of the longest gap; `count` is the number of gaps."""

    severity = WARNING
    point_index: int
    count: int
    gap_s: float
    distance_m: float


@dataclass(frozen=True, kw_only=True)
class PoorAccuracyNotice(Notice):
    """Points report an accuracy worse than the limit; they are left out of the geometry."""

    severity = WARNING
    point_index: int
    count: int
    share: float
    accuracy_m: float


@dataclass(frozen=True, kw_only=True)
class RideTooShortNotice(Notice):
    """The trace covers too little distance or time to be a ride; quarantined."""

    severity = ERROR
    length_m: float
    duration_s: float


@dataclass(frozen=True, kw_only=True)
class TooSlowForVehicleNotice(Notice):
    """The trace never moves at vehicle speed (even its fastest 30 seconds are at walking pace); quarantined."""

    severity = ERROR
    speed_kph: float


# --------------------------------------------------------------------------------------------------
# Stops, fares, departures


@dataclass(frozen=True, kw_only=True)
class StopFarFromTraceNotice(Notice):
    """A marked stop lies far from the recorded path; it is left out."""

    severity = WARNING
    stop_index: int
    distance_m: float


@dataclass(frozen=True, kw_only=True)
class StopOutsideTraceTimeNotice(Notice):
    """A marked stop's time lies outside the trace's time span (with a margin); it is left out."""

    severity = WARNING
    stop_index: int
    time: str


@dataclass(frozen=True, kw_only=True)
class NonPositiveFareNotice(Notice):
    """A fare amount is zero or negative; it is left out."""

    severity = WARNING
    location: str
    amount: float


@dataclass(frozen=True, kw_only=True)
class UnknownCurrencyNotice(Notice):
    """A fare's currency is not an ISO 4217 code (and not a known local symbol); the fare is left out."""

    severity = WARNING
    location: str
    currency: str


@dataclass(frozen=True, kw_only=True)
class PathConventionMismatchNotice(Notice):
    """A file's path does not fit the survey's declared path naming (`path_names`); its route, collector and
    mode are read from the path by the default rules instead."""

    severity = INFO
    convention: str


@dataclass(frozen=True, kw_only=True)
class WithdrawnCurrencyNotice(Notice):
    """A fare is in a withdrawn ISO 4217 code that people still write (`SLL`, replaced by `SLE` at 1,000 to 1 in
    2022). It is kept as written; a survey whose currency is the successor gets the amount converted."""

    severity = WARNING
    location: str
    currency: str
    successor: str
    old_per_new: float


@dataclass(frozen=True, kw_only=True)
class FareWithoutCurrencyNotice(Notice):
    """A fare read from a note names no currency (`2k`), and neither the survey (`--currency`) nor the other
    fares of the survey give one; the fare is left out."""

    severity = WARNING
    amount: float


@dataclass(frozen=True, kw_only=True)
class FareStopNotFoundNotice(Notice):
    """A fare's `from_stop`/`to_stop` is not an index into the trace's stops; the fare is left out."""

    severity = WARNING
    location: str
    stop_index: int


@dataclass(frozen=True, kw_only=True)
class UnorderedDeparturesNotice(Notice):
    """Observed departures are not in time order; they are sorted."""

    severity = WARNING
    count: int


@dataclass(frozen=True, kw_only=True)
class UnparsedNoteNotice(Notice):
    """A free-text note could not be read as a fare or a waiting time; it is kept verbatim."""

    severity = INFO
    location: str
    value: str


# --------------------------------------------------------------------------------------------------
# Survey level


@dataclass(frozen=True, kw_only=True)
class DuplicateUploadNotice(Notice):
    """The same trace (same trace_id, identical content) was uploaded more than once; one copy is used."""

    severity = INFO
    other_file: str


@dataclass(frozen=True, kw_only=True)
class DuplicateContentNotice(Notice):
    """The trace's points are identical to those of a trace with another trace_id (a re-export); one copy
    is used."""

    severity = INFO
    other_file: str
    kept_trace_id: str


@dataclass(frozen=True, kw_only=True)
class TraceChangedNotice(Notice):
    """A survey workspace holds a different trace with this trace_id already (imported from
    ``other_file``); the new version is not imported and the one imported first stays. Remove the
    workspace's copy, or give the new recording its own trace_id, to use it."""

    severity = ERROR
    other_file: str


@dataclass(frozen=True, kw_only=True)
class ConflictingTraceIdNotice(Notice):
    """Different traces carry the same trace_id; none of them can be trusted, all are quarantined."""

    severity = ERROR
    other_file: str


# --------------------------------------------------------------------------------------------------
# Building routes and the feed


@dataclass(frozen=True, kw_only=True)
class RideWithoutMovementNotice(Notice):
    """The trace passed validation but its moving part (after the wait at the start and the end) is too short
    to shape a route; it is not used."""

    severity = ERROR
    length_m: float


@dataclass(frozen=True, kw_only=True)
class PatternSingleRideNotice(Notice):
    """A route pattern rests on a single full ride: its shape, stops and times are those of one ride.
    Ride it again."""

    severity = WARNING
    route_id: str = ""


@dataclass(frozen=True, kw_only=True)
class CorrectionStaleNotice(Notice):
    """A correction recorded by hand (`transitmap review`, or an edit of the workspace's layers) could not be
    applied: its route, pattern, stop or ride is not in this build (new rides changed it, or it was merged).
    Re-aim it at what the build has now, or undo it (`transitmap review SURVEY undo ID`)."""

    severity = WARNING
    correction_id: int
    kind: str
    target: str
    action: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class RideExcludedNotice(Notice):
    """A coordinator excluded this ride by hand (`transitmap review exclude`): it is left out of the routes,
    and the ledger says quarantined with this code and the reason given."""

    severity = INFO
    reason: str


@dataclass(frozen=True, kw_only=True)
class RideAssignedNotice(Notice):
    """A coordinator put this ride in a route by hand (`transitmap review assign`): it joins that route and
    no other."""

    severity = INFO
    route: str


@dataclass(frozen=True, kw_only=True)
class RouteDroppedNotice(Notice):
    """A coordinator dropped this ride's route by hand (`transitmap review drop`): the route is not in the
    feed, and its rides are quarantined with this code."""

    severity = INFO
    route_id: str


@dataclass(frozen=True, kw_only=True)
class DirectionMissingNotice(Notice):
    """A route was observed in one direction only; the feed has no trip for the other."""

    severity = INFO
    route_id: str


@dataclass(frozen=True, kw_only=True)
class RoadMissingFromExtractNotice(Notice):
    """A stretch of a route's path runs where the OpenStreetMap extract has no road the map matcher could
    follow (a road missing from the map, or one mapped too far from where vehicles drive): the feed keeps the
    recorded path there. The trace is one of the rides of that path; lat/lon is where the stretch begins."""

    severity = INFO
    route_id: str
    lat: float
    lon: float
    length_m: float


@dataclass(frozen=True, kw_only=True)
class FareOutlierNotice(Notice):
    """A fare far from the others of its route (a typo, a special trip); it is not used for the price."""

    severity = WARNING
    route_id: str
    amount: float
    median_amount: float


@dataclass(frozen=True, kw_only=True)
class StopSeenOnceNotice(Notice):
    """A stop rests on one observation (one mark or one dwell of one ride)."""

    severity = INFO
    stop_id: str


@dataclass(frozen=True, kw_only=True)
class HeadwayEstimatedNotice(Notice):
    """Departures were not observed for this trip (route, direction, pattern) in a time band (two intervals or
    more); its headway comes from elsewhere, which ``provenance`` says as ``headways.csv`` does:
    `estimated_from_rank_waits` (twice the median wait at the rank of three rides or more in the band),
    `reported`, `extrapolated` (the route direction's nearest band with evidence) or `assumed` (the survey's
    headway for the mode, ``timing.mode_headways``)."""

    severity = WARNING
    route_id: str
    trip_id: str
    start_time: str
    headway_s: float
    provenance: str


@dataclass(frozen=True, kw_only=True)
class HeadwayImplausibleNotice(Notice):
    """The evidence of a time band gives a headway outside what is plausible for the route's mode
    (``timing.plausible_headways``: a train every two minutes from two rides' waits): it is not published,
    the band runs at the survey's headway for the mode (``provenance`` `assumed`) instead."""

    severity = WARNING
    route_id: str
    trip_id: str
    start_time: str
    headway_s: float
    mode: str


@dataclass(frozen=True, kw_only=True)
class TravelTimesEstimatedNotice(Notice):
    """Only rides without any time (``no_timestamps``, timing ``estimated``) show this trip: its stop_times run
    at the survey's median speed on board (``speed_kph``, from the rides with times; `--set
    timing.untimed_speed_kph=...` sets it), as ``headways.csv`` says (``travel_times`` = `survey_speed`)."""

    severity = WARNING
    route_id: str
    trip_id: str
    speed_kph: float


@dataclass(frozen=True, kw_only=True)
class ReportedHeadwaysUniformNotice(Notice):
    """Every recording that reports headways reports the same one for every band (``count`` recordings,
    ``headway_s``): most likely the collection app's default rather than what its users saw. The headways
    are kept as ``reported`` in ``headways.csv``; check them before publishing."""

    severity = WARNING
    count: int
    headway_s: float


@dataclass(frozen=True, kw_only=True)
class NoServiceDatesNotice(Notice):
    """No ride used has a time of day (all lack timestamps), so nothing tells on which days vehicles run: the
    calendar runs every day from ``start_date`` (`--set first_service_date=YYYY-MM-DD`; default the day of
    the build)."""

    severity = WARNING
    start_date: str


@dataclass(frozen=True, kw_only=True)
class ServiceDaysNotObservedNotice(Notice):
    """The calendar serves days the survey declares (``service_days``, default every day) on which no collector
    rode (``days``; ``observed``: the days ridden): their service is the days ridden, extended as declared.
    Ride a weekend day to know it, or declare only the days vehicles run (`--set service_days=mon-sat`)."""

    severity = WARNING
    days: str
    observed: str


@dataclass(frozen=True, kw_only=True)
class PlaceholderAgencyUrlNotice(Notice):
    """The feed's agencies and publisher have the placeholder web address (``agency_url``): GTFS requires one, and
    a trip planner shows it to riders. Set the survey's own: `--agency-url https://...` or ``agency_url`` in
    survey.toml. The feed's contact (``contact_email``, ``contact_url``) is written only when given."""

    severity = WARNING
    agency_url: str


@dataclass(frozen=True, kw_only=True)
class SystemErrorNotice(Notice):
    """transitmap itself failed on this input (a bug: please report it with the file). The input is
    quarantined; the rest of the run is unaffected."""

    severity = ERROR
    message: str


# --------------------------------------------------------------------------------------------------


def any_error(notices) -> bool:
    """Whether any of the notices is an ERROR: the one rule that quarantines a trace."""
    return any(n.severity == ERROR for n in notices)


def any_error_code(codes) -> bool:
    """Whether any of the notice codes is an ERROR's (a code not in the catalogue counts as one)."""
    severity = {c.code(): c.severity for c in catalogue()}
    return any(severity.get(code, ERROR) == ERROR for code in codes)


def catalogue() -> list[type[Notice]]:
    """Every notice class, sorted by code."""
    found: list[type[Notice]] = []
    stack = list(Notice.__subclasses__())
    while stack:
        cls = stack.pop()
        found.append(cls)
        stack.extend(cls.__subclasses__())
    return sorted(found, key=lambda c: c.code())


def notice_fields(cls: type[Notice]) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def catalogue_markdown() -> str:
    """The catalogue as a Markdown page (what `docs/notices.md` holds)."""
    lines = [
        "# Notice catalogue",
        "",
        "Generated by `transitmap notices --format markdown` from `transitmap/notices.py`; do not edit.",
        "",
        "ERROR: the trace or file is quarantined. WARNING: the trace is used; the problem is repaired or "
        "tolerated. INFO: worth knowing.",
        "",
        "| code | severity | description | fields |",
        "|---|---|---|---|",
    ]
    for cls in catalogue():
        doc = " ".join((cls.__doc__ or "").split())
        fields = ", ".join(f"`{f}`" for f in notice_fields(cls))
        lines.append(f"| `{cls.code()}` | {cls.severity.name} | {doc} | {fields} |")
    lines += ["", "## Fields", "", "| field | meaning |", "|---|---|"]
    lines += [f"| `{k}` | {v} |" for k, v in FIELD_DOCS.items()]
    return "\n".join(lines) + "\n"


class NoticeContainer:
    """Collects notices; counts every notice, keeps at most ``max_per_code`` samples of each code."""

    def __init__(self, max_per_code: int = 100) -> None:
        self.max_per_code = max_per_code
        self.counts: Counter[str] = Counter()
        self._samples: dict[str, list[Notice]] = {}
        self._severity: dict[str, Severity] = {}

    def add(self, notice: Notice) -> None:
        code = notice.code()
        self.counts[code] += 1
        self._severity[code] = notice.severity
        samples = self._samples.setdefault(code, [])
        samples.append(notice)
        if len(samples) > 2 * self.max_per_code:  # keep the first by sort key: bounded and order-free
            samples.sort(key=Notice.sort_key)
            del samples[self.max_per_code :]

    def extend(self, notices: Iterable[Notice]) -> None:
        for n in notices:
            self.add(n)

    def withdraw(self, code: str, keys: set[tuple[str, str]], count: int) -> None:
        """Take back ``count`` notices of ``code`` about the traces ``keys`` ((trace_id, file)): a later stage
        found what they said was missing."""
        if code not in self.counts or count <= 0:
            return
        self.counts[code] -= count
        self._samples[code] = [n for n in self._samples[code]
                               if (getattr(n, "trace_id", ""), getattr(n, "file", "")) not in keys]
        if self.counts[code] <= 0:
            del self.counts[code], self._samples[code], self._severity[code]

    def severity_counts(self) -> dict[str, int]:
        out = {s.name: 0 for s in (ERROR, WARNING, INFO)}
        for code, n in self.counts.items():
            out[self._severity[code].name] += n
        return out

    def to_list(self) -> list[dict[str, Any]]:
        """Notices grouped by code, most severe first: code, severity, total_notices, sample_notices.
        Samples are sorted by file, trace and location, so the output does not depend on input order."""
        out = []
        for code in sorted(self.counts, key=lambda c: (-self._severity[c], c)):
            samples = sorted(self._samples[code], key=Notice.sort_key)[: self.max_per_code]
            out.append(
                {
                    "code": code,
                    "severity": self._severity[code].name,
                    "total_notices": self.counts[code],
                    "sample_notices": [n.to_dict() for n in samples],
                }
            )
        return out

"""Plain data containers exchanged by the stages.

A :class:`Trace` is one collector riding one vehicle, as read: a "not-necessarily-valid" trace. Points are
columnar numpy arrays (one array per field, one element per GPS fix), never a Python object per fix.
Times are seconds since the Unix epoch in UTC (``float64``), so they are unambiguous; values that could
not be read are ``NaN``. Validation never edits a trace in place; repairs return new objects.

After validation the stages exchange, in the order they make them: a :class:`Ride` (clean: a usable ride
in the survey's UTM metres), :class:`Pattern` and :class:`Route` (match: rides deduplicated into paths and
lines), :class:`NetworkStop` and :class:`PatternStops` (stops), :class:`Headway` and :class:`PatternTimes` (timing,
with each pattern's shape and the fares paid along it). Stage modules import
these from here and never each other (``tests/test_catalogue.py`` checks).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from operator import attrgetter
from typing import Any

import numpy as np
import pycountry

from .errors import SettingsError
from .geo import Path

STOP_KINDS = ("board", "alight", "both", "stop")

#: Time bands of the service day: (name, first hour, end hour), local time; past 24 is after midnight on the
#: same service day. Headways are inferred per band (timing) and the statistics report by band (stats).
TIME_BANDS = (("early", 0, 6), ("am_peak", 6, 9), ("midday", 9, 16), ("pm_peak", 16, 19), ("evening", 19, 24),
              ("night", 24, 30))


DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def weekdays(days: str) -> tuple[int, ...]:
    """The days (0 = Monday) of a declaration such as "mon-sun", "mon-fri", "sat,sun" or "mon-fri,sun"."""
    out: set[int] = set()
    for part in str(days).lower().replace(" ", "").split(","):
        ends = part.split("-")
        if not part or len(ends) > 2 or any(e[:3] not in DAYS for e in ends):
            raise SettingsError(f"service_days {days!r} is not a list of days such as mon-sun, mon-sat or sat,sun")
        a, b = DAYS.index(ends[0][:3]), DAYS.index(ends[-1][:3])
        out.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return tuple(sorted(out))


def time_band(seconds: float) -> str:
    """The name of the time band (``TIME_BANDS``) holding a time of the service day, seconds after local midnight
    (from 30:00 on, the last band)."""
    return next((name for name, lo, hi in TIME_BANDS if lo * 3600 <= seconds < hi * 3600), TIME_BANDS[-1][0])


def gtfs_time(seconds: int) -> str:
    """HH:MM:SS; hours go past 24 for service after midnight (25:10:00)."""
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


_TWO_DIGITS = np.array([f"{k:02d}" for k in range(100)])


def gtfs_times(seconds: np.ndarray) -> np.ndarray:
    """``gtfs_time`` of many seconds at once (an object array of strings)."""
    v = np.asarray(seconds, np.int64).reshape(-1)
    h = v // 3600
    if len(v) == 0 or v.min() < 0 or h.max() > 99:
        return np.array([gtfs_time(x) for x in v.tolist()], object)
    add = np.char.add
    return add(add(add(add(_TWO_DIGITS[h], ":"), _TWO_DIGITS[v // 60 % 60]), ":"), _TWO_DIGITS[v % 60]).astype(object)


def _pickled_as_call(cls):
    """Pickle a frozen dataclass with slots as a call of its constructor. The dataclass's own
    ``__setstate__`` looks up the fields of every object it restores: for the hundreds of thousands of
    stops a survey's traces carry from the worker processes, restoring them took 2.4 times as long."""
    values = attrgetter(*(f.name for f in dataclasses.fields(cls)))
    cls.__reduce__ = lambda self: (cls, values(self))
    return cls


@_pickled_as_call
@dataclass(frozen=True, slots=True)
class Stop:
    """A place where the vehicle stopped for passengers, marked by the collector."""

    time_s: float  # UTC epoch seconds, NaN when unknown
    lat: float
    lon: float
    kind: str = "stop"  # one of STOP_KINDS
    name: str | None = None
    boarded: int | None = None
    alighted: int | None = None
    wait_s: float | None = None  # waiting time read from a free-text note
    note: str | None = None  # free text kept verbatim


@_pickled_as_call
@dataclass(frozen=True, slots=True)
class Fare:
    """A fare paid; without from_stop/to_stop it is the fare of the whole ride."""

    amount: float
    currency: str  # ISO 4217 after reading; as found when unknown
    from_stop: int | None = None
    to_stop: int | None = None


@dataclass(frozen=True, eq=False)
class Trace:
    """One ride as recorded. Arrays all have one element per point, in input order."""

    trace_id: str
    source: str  # file relative to the input root (``archive.zip!member`` inside archives)
    t_s: np.ndarray  # float64 UTC epoch seconds
    lat: np.ndarray  # float64 degrees WGS84
    lon: np.ndarray  # float64 degrees WGS84
    accuracy_m: np.ndarray  # float64, NaN when not reported
    speed_mps: np.ndarray  # float64, NaN when not reported
    collector_id: str | None = None
    mode: str | None = None  # the vehicle as the recording names it (None: not said, which is no mode of its own)
    route_name: str | None = None
    operator: str | None = None
    origin: str | None = None
    destination: str | None = None
    notes: str | None = None
    stops: tuple[Stop, ...] = ()
    fares: tuple[Fare, ...] = ()
    departures_s: np.ndarray = field(default_factory=lambda: np.empty(0))  # UTC epoch seconds
    #: where ``t_s`` comes from: ``recorded`` per point; ``stop_times`` (none per point, but travel times between
    #: the stops, as TransitWand-style apps export them; the time of day unknown); ``estimated`` (no time at
    #: all: ``t_s`` is made up at a nominal speed so the stages can run, and no figure is taken from it);
    #: ``unreadable`` (its times could not be read, ``unreadable_times``: the trace is quarantined)
    timing: str = "recorded"
    #: headways the recording's app reports per time band (band of ``TIME_BANDS``, seconds), not observed
    reported_headways: tuple[tuple[str, float], ...] = ()
    #: the first and last departures the recording's notes name ("first vehicle 5:00"), seconds after local
    #: midnight (None where not named); read.notes.service_times
    noted_hours: tuple[float | None, float | None] = (None, None)

    @property
    def n_points(self) -> int:
        return len(self.t_s)

    def replace(self, **changes) -> Trace:
        return dataclasses.replace(self, **changes)

    def points_digest(self) -> str:
        """Hash of the points alone: equal for re-exports of the same recording under another id."""
        h = hashlib.sha256()
        for a in (self.t_s, self.lat, self.lon):
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
        return h.hexdigest()[:32]

    def content_digest(self, points_digest: str | None = None) -> str:
        """Hash of everything but the source file: equal for identical uploads of the same trace."""
        h = hashlib.sha256()
        h.update((points_digest or self.points_digest()).encode())
        for a in (self.accuracy_m, self.speed_mps, self.departures_s):
            h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
        meta = (self.trace_id, self.collector_id, self.mode or "minibus", self.route_name, self.operator, self.origin,
                self.destination, self.notes, self.stops, self.fares)
        h.update(repr(meta).encode())
        return h.hexdigest()[:32]


class Status(str, enum.Enum):
    """What became of an input trace (or of a file that yielded none)."""

    ACCEPTED = "accepted"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"


#: ISO 4217 codes withdrawn since, still written by people (and missing from current lists): the code that
#: replaced each, and how many old units make one new one. A fare in a withdrawn code is kept as written (a
#: WARNING names the successor); a survey whose currency is the successor gets the amount converted.
WITHDRAWN_CURRENCIES: dict[str, tuple[str, float]] = {
    "SLL": ("SLE", 1000.0),  # Sierra Leone, 2022
    "GHC": ("GHS", 10000.0),  # Ghana, 2007
    "ZMK": ("ZMW", 1000.0),  # Zambia, 2013
    "MZM": ("MZN", 1000.0),  # Mozambique, 2006
    "MRO": ("MRU", 10.0),  # Mauritania, 2018
    "STD": ("STN", 1000.0),  # Sao Tome and Principe, 2018
    "SDD": ("SDG", 100.0),  # Sudan, 2007
    "ZWL": ("ZWG", 2498.7242),  # Zimbabwe, 2024 (the official conversion rate of 5 April 2024)
}


def known_currency(code: str) -> bool:
    """Whether ``code`` is an ISO 4217 currency code, current or withdrawn (``WITHDRAWN_CURRENCIES``)."""
    return code in iso_currencies() or code in WITHDRAWN_CURRENCIES


@lru_cache(maxsize=1)
def iso_currencies() -> frozenset[str]:
    """ISO 4217 currency codes (from pycountry)."""
    return frozenset(c.alpha_3 for c in pycountry.currencies)


# ------------------------------------------------------------------ what the stages after validation exchange


@dataclass(frozen=True, eq=False)
class Ride:
    """A usable ride in the survey CRS. Arrays hold the kept fixes, in time order; ``start``..``end``
    (inclusive) is the moving part. ``collector_id`` stays inside transitmap: it is never exported."""

    trace_id: str
    source: str
    collector_id: str | None
    route_name: str | None
    operator: str | None
    origin: str | None
    destination: str | None
    t_s: np.ndarray
    x_m: np.ndarray
    y_m: np.ndarray
    start: int
    end: int
    start_wait_s: float  # waited at the start before moving (a rank, when long)
    end_wait_s: float  # recorded after arriving
    stops: tuple[tuple[float, float, float, str, str | None], ...]  # (t_s, x_m, y_m, kind, name)
    fares: tuple[Fare, ...]
    departures_s: np.ndarray
    mode: str | None = None  # the vehicle (None: not said): rides of different modes are never one route
    timing: str = "recorded"  # as ``Trace.timing``: times of day only from ``recorded`` rides
    reported_headways: tuple[tuple[str, float], ...] = ()  # as ``Trace.reported_headways``
    noted_hours: tuple[float | None, float | None] = (None, None)  # as ``Trace.noted_hours``
    #: the route a coordinator put this ride in by hand (``review``: a route id, or ``new:LABEL`` for a new one)
    hand_route: str | None = None

    @property
    def clock(self) -> bool:
        """Whether the ride's times are times of day (it tells when vehicles run)."""
        return self.timing == "recorded"

    @property
    def travel_timed(self) -> bool:
        """Whether the ride's times tell how long the vehicle took (recorded, or from its stops' times)."""
        return self.timing != "estimated"

    @property
    def moving_xy(self) -> np.ndarray:
        return np.column_stack([self.x_m[self.start : self.end + 1], self.y_m[self.start : self.end + 1]])


@dataclass(frozen=True, eq=False)
class Pattern:
    """A route pattern: one path in one direction. ``rides``/``partial`` index the input rides."""

    rides: tuple[int, ...]
    partial: tuple[int, ...]
    xy: np.ndarray  # (n, 2) metres, survey CRS, a vertex every ``dense_step_m``
    name: str | None
    hand_route: str | None = None  # the route most of its rides were put in by hand (``Ride.hand_route``)

    @cached_property
    def path(self) -> Path:
        """The pattern's path with its KD-tree, made once for the stages that place things on it."""
        return Path(self.xy)


@dataclass(frozen=True, eq=False)
class Route:
    """The patterns of one line: its two directions (when both were observed) and its branches and short
    turns, the main pattern of each direction (most rides) first."""

    patterns: tuple[Pattern, ...]
    directions: tuple[int, ...]  # the direction_id of each pattern
    name: str | None

    @property
    def hand_route(self) -> str | None:
        """The route its patterns' rides were put in by hand (that of the most rides), or None."""
        return majority_label([(p.hand_route, len(p.rides) + len(p.partial)) for p in self.patterns])


def majority_label(labels: list[tuple[str | None, int]]) -> str | None:
    """The label of the largest weight (ties: the smallest label), ignoring None; None when none is labelled."""
    count: dict[str, int] = {}
    for label, weight in labels:
        if label:
            count[label] = count.get(label, 0) + weight
    return min(count, key=lambda k: (-count[k], k)) if count else None


@dataclass(frozen=True)
class NetworkStop:
    """A stop of the network; ``x_m``/``y_m`` in the survey CRS."""

    x_m: float
    y_m: float
    name: str | None
    observations: int  # marks and dwells seen there, over all rides


@dataclass(frozen=True, eq=False)
class PatternStops:
    """The stops of one pattern in order: indexes into the stop list and distances along the pattern."""

    stop_index: tuple[int, ...]
    s_m: np.ndarray


@dataclass(frozen=True)
class Headway:
    start_s: int  # seconds after local midnight of the service day (may pass 24 h)
    end_s: int
    headway_s: int
    # observed (departures seen at the rank, two intervals or more in the band) | estimated_from_rank_waits
    # (three waits or more in the band) | reported (by the recording app's user) | extrapolated (from the
    # route direction's nearest band with evidence) | assumed (the survey's headway for the mode)
    provenance: str
    samples: int  # gaps or waits it rests on
    implausible_s: int = 0  # the headway the evidence gave where it lies outside its mode's plausible range
    share: float = 1.0  # the route direction's departures over this pattern's (its rides' share of them)


@dataclass(frozen=True, eq=False)
class PatternTimes:
    """What the rides of one pattern give, beside its stops: the time from its first stop to each stop, its
    headways by time band, its GTFS shape (the pattern's vertices kept: metres along the pattern, latitudes and
    longitudes) and the fares paid between two of its stops (stop index, stop index, ride index, fare)."""

    offsets_s: np.ndarray
    bands: list[Headway]
    shape_dist_m: np.ndarray
    shape_lat: np.ndarray
    shape_lon: np.ndarray
    paid: list[tuple[int, int, int, Fare]]
    #: where ``offsets_s`` come from: ``recorded`` (rides with times), ``stop_times`` (the travel times of
    #: rides' stops, no time per point), ``survey_speed`` (rides without times, at the survey's median speed)
    travel_times: str = "recorded"
    timed_rides: int = 0  # rides the offsets rest on
    #: the time bands whose rides show travel times of their own: band -> (offsets, rides) (timing.band_offsets)
    band_offsets: dict[str, tuple[np.ndarray, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class TraceRow:
    """A line of ``traces.csv`` (and of report.json's ``traces``): an input trace and what the build did with it,
    used (its route, direction, trip, ``full`` or ``partial`` ride, and its collector's pseudonym), quarantined
    (``codes`` say why) or a duplicate."""

    trace_id: str
    file: str
    status: str
    codes: tuple[str, ...]
    points: int
    points_kept: int
    route_id: str = ""
    direction_id: int | str = ""
    trip_id: str = ""
    ride: str = ""
    collector: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The row as report.json holds it."""
        return {**dataclasses.asdict(self), "codes": list(self.codes)}


@dataclass(frozen=True)
class HeadwayRow:
    """A line of ``headways.csv``: a trip's headway in a time band (seconds of the service day), its provenance
    and evidence, and where the trip's travel times come from and on how many rides."""

    route_id: str
    direction_id: int
    trip_id: str
    start_time: int
    end_time: int
    headway_s: int
    provenance: str
    samples: int
    travel_times: str
    timed_rides: int


@dataclass(frozen=True)
class Outline:
    """A trace on the map and in the traces layer: its status, notice codes, route and line (WGS84)."""

    trace_id: str
    status: str
    codes: tuple[str, ...]
    route_id: str
    lat: np.ndarray
    lon: np.ndarray


@lru_cache(maxsize=65536)
def normalise_name(name: str) -> str:
    """Route names as heard: case, punctuation and spacing folded ("Bree-Bara" ~ "bree - bara")."""
    return " ".join(re.sub(r"[^\w]+", " ", name.lower()).split())


#: The words of a mode, in a folder or file name, and the mode they stand for (``Trace.mode``).
MODE_WORDS = {
    "bus": "bus", "buses": "bus", "autobus": "bus", "omnibus": "bus", "micro": "bus", "colectivo": "bus",
    "minibus": "minibus", "matatu": "minibus", "trotro": "minibus", "daladala": "minibus", "kombi": "minibus",
    "combi": "minibus", "taxi": "shared_taxi", "poda": "minibus", "muwasalat": "minibus",
    "tren": "rail", "train": "rail", "trem": "rail", "treno": "rail", "rail": "rail", "railway": "rail",
    "metro": "metro", "subway": "metro", "tram": "tram", "tranvia": "tram", "ferry": "ferry", "boat": "ferry",
    "lancha": "ferry", "bateau": "ferry", "pinasse": "ferry", "moto": "motorbike_taxi", "boda": "motorbike_taxi",
    "okada": "motorbike_taxi", "bajaj": "motorbike_taxi", "tuktuk": "motorbike_taxi", "cable": "cable_car",
    "teleferico": "cable_car", "funicular": "funicular",
}
#: GTFS route_type of each mode; every other mode is a bus (3).
ROUTE_TYPES = {"tram": 0, "metro": 1, "rail": 2, "ferry": 4, "cable_car": 6, "funicular": 7}


def route_type(mode: str | None) -> int:
    """The GTFS route_type of a ride's mode (3, a bus, for every road vehicle)."""
    return ROUTE_TYPES.get(canonical_mode(mode), 3)


def canonical_mode(mode: str | None) -> str:
    """A mode as ``MODE_WORDS`` names it (``matatu``, ``trotro`` -> ``minibus``; ``boda`` -> ``motorbike_taxi``)."""
    return MODE_WORDS.get(_fold_mode(mode or ""), _fold_mode(mode or "").replace(" ", "_"))


def _fold_mode(text: str) -> str:
    """Case and accents folded, spacing normalised (as ``names`` folds the words of paths)."""
    text = unicodedata.normalize("NFKD", text.lower())
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).split())


# --------------------------------------------------------------------------------------------------
# Route numbers in the names riders give

#: Words before a number that say it is a route's number ("Ruta 8", "Line 12", "Bus 7", "Tata 23", "No. 7")
ROUTE_WORDS = frozenset("""
    route routes rte ruta rutas rota rotas line lines linea lineas linha linhas ligne lignes
    bus buses autobus omnibus micro colectivo tata trotro matatu no nr nro num numero number n
""".split())
#: Words after a plain number that make it part of a place's name ("20 de Noviembre", "37 Station", "Km 4")
_IN_PLACE = frozenset("""
    de del da do das dos des du la le el los las y e et and of
    station stage street st avenue ave av road rd junction jct market hospital hosp barracks
    calle avenida rue estacion gare carrefour marche mercado km kms
""".split())
_UNITS = frozenset("km kms mi mile miles min mins h hr hrs kg".split())
_ORDINAL = re.compile(r"(?i)^\d{1,4}(st|nd|rd|th|er|eme|ème|ra|ro|º|°|ª)$")  # not 11A, 6E: route numbers
#: one token of a route number: digits first (45K, 110ATH, 19C2, 17B_2, 16/62, 16-62) or letters first
#: (QX012, M12, B-45)
_CODE_TOKEN = re.compile(r"(?i)^(?:\d{1,4}(?:[a-z]{1,5}\d{0,2})?(?:_\d{1,2})?(?:[/-]\d{1,4}[a-z]?)?"
                         r"|[a-z]{1,3}-?\d{1,4}[a-z]?)$")
_AND = frozenset("y e et and & +".split())


@lru_cache(maxsize=65536)
def split_route_name(name: str) -> tuple[str | None, str]:
    """(the route's number as written, or None; the rest of the name: its terminals or words) of a route name
    as riders write it: the number alone (``QX012``, ``45K``), before its terminals (``QX012 Central
    Park-Zone Stage``, ``45K-Kawangware``), after a route word (``Ruta 8``, ``Line 12``, ``Tata 23``), two
    numbers of one service (``ruta 1 y 2 Sefiplan``, ``16/62``), a short prefix and a number as a whole name
    (``JBL 13``, ``Omd 40``). A number that is part of a place's name is none: ``20 de Noviembre``, ``37
    Station``, ``Km 4``, ``3rd Avenue``."""
    tokens = name.split()
    if not tokens:
        return None, ""
    # a number glued to its terminals by a dash: "45K-Kawangware", "QX012-Central Park"
    first = re.match(r"(?i)^([a-z]{0,3}\d{1,4}[a-z]{0,3})-([^\d\W].*)$", tokens[0])
    if first and _is_code(first.group(1)):
        tokens = [first.group(1), "-", first.group(2), *tokens[1:]]
    i, labelled = 0, False
    word = tokens[0].strip(".:#°º").casefold()
    if len(tokens) > 1 and word in ROUTE_WORDS and _is_code(tokens[1].lstrip("#").rstrip(".,:;")):
        i, labelled = 1, True
    code = tokens[i].lstrip("#").rstrip(".,:;") if i < len(tokens) else ""
    if not _is_code(code):
        # a short prefix and a number, the whole name: "JBL 13", "krt 03"
        if len(tokens) == 2 and re.fullmatch(r"[^\W\d_]{2,4}", tokens[0]) and tokens[0].casefold() not in _UNITS \
                and tokens[0].casefold() not in ROUTE_WORDS and re.fullmatch(r"\d{1,4}[^\W\d_]{0,2}", tokens[1]):
            return f"{tokens[0]} {tokens[1]}", ""
        return None, name.strip()
    j = i + 1
    nxt = tokens[j].casefold() if j < len(tokens) else ""
    if nxt in _AND and j + 1 < len(tokens) and re.fullmatch(r"\d{1,4}[^\W\d_]?", tokens[j + 1].rstrip(".,:;")):
        code, j = f"{code} {tokens[j]} {tokens[j + 1].rstrip('.,:;')}", j + 2  # "1 y 2": one service, two numbers
    elif code.isdigit() and not labelled and nxt.strip(".,") in _IN_PLACE:
        return None, name.strip()  # "20 de Noviembre", "37 Station": a place
    rest = " ".join(tokens[j:]).strip(" -–—:|/,")
    return code, rest


def _is_code(token: str) -> bool:
    if not token or not _CODE_TOKEN.fullmatch(token) or _ORDINAL.fullmatch(token):
        return False
    letters = re.match(r"(?i)^([a-z]+)", token)
    return not (letters and letters.group(1).casefold() in _UNITS)


def code_key(code: str | None) -> str | None:
    """A route number as compared: case and spacing folded, the two numbers of one service in order
    (``qx012`` = ``QX012``, ``B-45`` = ``B45``, ``1 y 2`` = ``1/2``)."""
    if not code:
        return None
    folded = re.sub(r"(?<=\d)-(?=\d)", "/", _fold_mode(code).upper())  # 16-62 is 16/62
    parts = re.split(r"\s*(?:\bY\b|\bE\b|\bET\b|\bAND\b|&|\+|/)\s*", folded)
    parts = [re.sub(r"[\s-]+", "", p) for p in parts if p.strip()]
    return "/".join(parts) if parts else None


def route_code(name: str | None) -> str | None:
    """The compared key (``code_key``) of the route number in a name, or None."""
    return code_key(split_route_name(name)[0]) if name else None


def display_code(code: str) -> str:
    """A route number as shown: a compact one in capitals (``46k`` -> ``46K``, ``qx012`` -> ``QX012``); one of
    several words as written (``Omd 40``, ``1 y 2``)."""
    return code.upper() if " " not in code else code


# --------------------------------------------------------------------------------------------------
# Names riders know: a stop, headsign or route name is a place, never a note

#: Words of transit and of a ride's events, in the languages of surveys: a label made of these alone (``Parada
#: de Bus tipo 1``, ``Fin de la ruta``, ``ultima parada``, ``Bus stop``) names no place
_EVENT_WORDS = frozenset("""
    final finale ultima ultimo last first primera primer primero premier premiere dernier derniere
    fin end start inicio debut depart departure arrivee arrival llegada salida partida chegada
    ruta rutas route routes rota ligne line linea trayecto recorrido viaje trip ride journey
    completa complete completed terminada terminado finished done here aqui ici point punto
""".split()) | frozenset("de del la el las los da do das dos du des le les of the a al en et y e".split())
#: words that say a label is about the ride or the route, not a place where it stops
_RIDE_WORDS = frozenset("""
    ruta rutas route routes rota trayecto recorrido viaje trip ride journey inicio fin
    llegada salida arrival departure depart arrivee partida chegada
""".split())
_EVENT_CORE = frozenset("""
    final finale ultima ultimo last first primera primer primero premier premiere dernier derniere
    fin end start inicio debut depart departure arrivee arrival llegada salida partida chegada
""".split())
_GENERIC_WORDS = _EVENT_WORDS | frozenset("""
    stop stops busstop bus buses autobus autobuses micro parada paradas paradero arret arrets paragem ponto
    kituo stage tipo type typ kind clase classe nuevo nueva new otro otra other
""".split())
#: Words of the recording itself (the device, its GPS and battery, photos, voice notes, tests) and of how the
#: ride went (traffic, waiting, a full vehicle), in the languages of surveys: a label with one is a note
_DEVICE_WORDS = frozenset("""
    gps signal senal señal signale sinal battery bateria batería batterie phone telefono teléfono telephone app
    photo foto fotografia picture image imagen voice voz voix audio recording grabacion grabación grabando
    enregistrement gravacao gravação video note nota test prueba essai teste
    traffic trafico tráfico trafic transito trânsito jam embouteillage foleni waiting esperando attente
    espera kusubiri full lleno llena plein pleine cheio
    صورة صوت تسجيل صوتي
""".split())
#: Words of a sentence in the first person, or of one about how things are: a note, not a place
_SENTENCE_WORDS = frozenset("""
    i im me my we our us estoy estamos estoi soy somos mi nos je suis nous sommes mon ma eu estou sou nos
    hay there is are was were am esta estan been está están ni niko tuko not pas nao não
""".split())
#: Small words of sentences; a long label with several is a sentence ("Ruta empezada con un leve retraso")
_FUNCTION_WORDS = frozenset("de la el en con para por un una the of with and to a y que le les du des et un une "
                            "sur avec pour em com para um uma no na".split())
_CLOCK_IN = re.compile(r"(?<!\d)\d{1,2}\s*[:h]\s*\d{2}(?!\d)|(?<!\d)\d{1,2}\s*(?:am|pm|a\.m\.|p\.m\.)(?![a-z])",
                       re.IGNORECASE)
_LABEL = re.compile(r"^\s*([^\W\d_][^:]{0,24}?)\s*:\s*(?!\d)")  # "Départ : ", "Arrivée: " (not a clock's colon)
_AMOUNT_PART = re.compile(r"^\W*\d[\d.,]*\s*[^\W\d_]{1,5}\W*$|^\W*[^\W\d_]{1,3}\.?\s*\d[\d.,]{2,}\W*$")
#: an amount of money as fares are written (``KSh 50``, ``Le 2,000``, ``200F``, ``50/=``, ``GH₵5``)
_MONEY = re.compile(r"(?i)(?<![^\W\d_])(?:kshs?|shs?|tshs?|ushs?|le|r|gh[₵c¢]|[₵₦$€£]|fcfa|cfa|frs?|kes|zar|ghs|ngn|"
                    r"ugx|tzs|sle|sll|xof|xaf|usd|eur)\.?\s?\d[\d.,]*(?![^\W\d_])|"
                    r"\d[\d.,]*\s?(?:/=|/-|kshs?|shs?|fcfa|cfa|frs?|f|cedis?|naira|leones|rand|shillings?)(?![^\W\d_])")


def _words_of(text: str) -> list[str]:
    return _fold_mode(re.sub(r"[^\w\s]", " ", text)).split()


def note_words(text: str) -> bool:
    """Whether a label is a note rather than a place's name, from what notes look like in any language: a
    time of day, an amount of money, a sentence (the first person, a verb of being, or six words and more of
    which several small words), or only words of transit and of a ride's events (``Parada de Bus tipo 1``,
    ``fin del trayecto``), numbers and single letters."""
    words = _words_of(text)
    if not words or not any(ch.isalpha() for ch in text):
        return True
    return _said(text, words) or _transit_words_only(words)


def stop_word(text: str | None) -> bool:
    """Whether a label says only that here is a stop, naming none (``Stop 4``, ``Parada de Bus tipo 1``): words
    of transit, numbers and single letters, nothing said (``note_words``) about the device, a time or money."""
    words = _words_of(text or "")
    return bool(words) and not _said(text or "", words) and _transit_words_only(words)


def _said(text: str, words: list[str]) -> bool:
    """A note in the form of something said: a time, money, a sentence, the device."""
    return bool(_CLOCK_IN.search(text) or _AMOUNT_PART.match(text) or _MONEY.search(text)
                or any(w in _SENTENCE_WORDS or w in _DEVICE_WORDS for w in words)
                or (len(words) >= 6 and sum(w in _FUNCTION_WORDS for w in words) >= 2))


def _transit_words_only(words: list[str]) -> bool:
    return all(w in _GENERIC_WORDS or w.isdigit() or len(w) == 1 for w in words)


@lru_cache(maxsize=65536)
def place_name(label: str | None, *, way: bool = False) -> str | None:
    """The place a label names, or None when it names none (``note_words``): a label's prefix goes
    (``Arrivée : gare Lomé`` -> ``gare Lomé``), and of a label of parts (``Départ : Gare X>Port Y - 300frc - Sur
    le pont``) the parts that are notes. A part that names a way from one place to another (``Gare X>Port Y``,
    ``Inicio de la ruta Alajuela -> Santa Barbara``) names no stop; with ``way`` (a route's name) it is kept
    alone, as its two places (``Gare X - Port Y``)."""
    if not label or not label.strip():
        return None
    text = " ".join(label.split())
    m = _LABEL.match(text)
    if m and not _CLOCK_IN.match(text):
        text = text[m.end():]
    if not way and any(w in _RIDE_WORDS for w in _words_of(text)):
        return None  # "Ruta completa Sta Barbara-Alajuela", "Inicio de Ruta X - Y": about the ride, not a stop
    if re.search(r"(?:->|=>|→|>)", text):
        if not way:
            return None
        part = next(p for p in re.split(r"\s+[-–—|]\s+|\s*[|;]\s*", text) if re.search(r"(?:->|=>|→|>)", p))
        ends = [_after_event(e.strip(" -")) for e in re.split(r"\s*(?:->|=>|→|>)\s*", part) if e.strip(" -")]
        ends = [e for e in ends if e and not note_words(e)]
        return " - ".join(ends) if len(ends) >= 2 else None
    # the parts of a label (places between separators), each without the words of a ride's event before it;
    # the parts that are notes go, with the separator before them
    pieces = re.split(r"(\s*[-–—|;,/]\s*)", text)
    kept: list[str] = []
    for k in range(0, len(pieces), 2):
        part = _after_event(pieces[k].strip())
        if part and not note_words(part):
            kept += ([pieces[k - 1]] if kept and k else []) + [part]
    out = "".join(kept).strip(" -–—|;,/")
    return out if out and not all(w in _GENERIC_WORDS or w.isdigit() for w in _words_of(out)) else None


def _after_event(text: str) -> str:
    """A place without the words of a ride's event before it: ``INICIO Sayago`` -> ``Sayago``, ``Llegada a la
    parada de Targuases`` -> ``Targuases``."""
    words = text.split()
    if len(words) > 1 and _words_of(words[0]) and all(w in _EVENT_CORE for w in _words_of(words[0])):
        words = words[1:]
        while len(words) > 1 and _words_of(words[0]) and all(w in _GENERIC_WORDS for w in _words_of(words[0])):
            words = words[1:]  # "Llegada a la parada de Targuases": "parada cootaxa" keeps its own name
    return " ".join(words)


def route_mode(route: Route, rides: list[Ride]) -> str:
    """The mode most of a route's rides that name one name (``canonical_mode``); minibus where none does."""
    modes: dict[str, int] = {}
    for p in route.patterns:
        for i in p.rides + p.partial:
            if rides[i].mode:
                modes[rides[i].mode] = modes.get(rides[i].mode, 0) + 1
    return canonical_mode(min(modes, key=lambda m: (-modes[m], m)) if modes else "minibus")

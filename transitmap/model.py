"""Plain data containers exchanged by the stages.

A :class:`Trace` is one collector riding one vehicle, as read: a "not-necessarily-valid" trace. Points are
columnar numpy arrays (one array per field, one element per GPS fix), never a Python object per fix.
Times are seconds since the Unix epoch in UTC (``float64``), so they are unambiguous; values that could
not be read are ``NaN``. Validation never edits a trace in place; repairs return new objects.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter

import numpy as np

STOP_KINDS = ("board", "alight", "both", "stop")


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
    mode: str = "minibus"
    route_name: str | None = None
    operator: str | None = None
    origin: str | None = None
    destination: str | None = None
    notes: str | None = None
    stops: tuple[Stop, ...] = ()
    fares: tuple[Fare, ...] = ()
    departures_s: np.ndarray = field(default_factory=lambda: np.empty(0))  # UTC epoch seconds

    @property
    def n_points(self) -> int:
        return len(self.t_s)

    def replace(self, **changes) -> "Trace":
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
        meta = (self.trace_id, self.collector_id, self.mode, self.route_name, self.operator, self.origin,
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
    import pycountry

    return frozenset(c.alpha_3 for c in pycountry.currencies)

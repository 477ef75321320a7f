"""Write a GTFS feed: plain tables in, a deterministic zip out.

Rows are sorted and columns fixed, the zip's entries are written in name order with a fixed timestamp: the
same network gives a byte-identical ``gtfs.zip``. Times past midnight are written as 24:xx:xx and beyond.
"""

from __future__ import annotations

import importlib.util
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from .engine import imap_local
from .errors import FeedError
from .model import gtfs_time, gtfs_times  # noqa: F401  (gtfs.gtfs_time: where readers of GTFS look for it)

#: Column order of every table written (GTFS Schedule reference).
COLUMNS = {
    "agency.txt": ["agency_id", "agency_name", "agency_url", "agency_timezone", "agency_lang"],
    "stops.txt": ["stop_id", "stop_name", "stop_desc", "stop_lat", "stop_lon", "zone_id", "location_type",
                  "parent_station"],
    "routes.txt": ["route_id", "agency_id", "route_short_name", "route_long_name", "route_type", "continuous_pickup",
                   "continuous_drop_off"],
    "trips.txt": ["route_id", "service_id", "trip_id", "trip_headsign", "direction_id", "shape_id"],
    "stop_times.txt": ["trip_id", "arrival_time", "departure_time", "stop_id", "stop_sequence", "timepoint",
                       "shape_dist_traveled"],
    "frequencies.txt": ["trip_id", "start_time", "end_time", "headway_secs", "exact_times"],
    "shapes.txt": ["shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence", "shape_dist_traveled"],
    "calendar.txt": ["service_id", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
                     "start_date", "end_date"],
    "feed_info.txt": ["feed_publisher_name", "feed_publisher_url", "feed_lang", "feed_start_date", "feed_end_date",
                      "feed_version", "feed_contact_email", "feed_contact_url"],
    "fare_attributes.txt": ["fare_id", "price", "currency_type", "payment_method", "transfers", "agency_id"],
    "fare_rules.txt": ["fare_id", "route_id", "origin_id", "destination_id"],
    "attributions.txt": ["attribution_id", "organization_name", "is_producer", "is_operator", "is_authority",
                         "attribution_url"],
}
#: Optional columns left out of a table when no row uses them
OPTIONAL = {"stops.txt": ["stop_desc", "zone_id", "parent_station"],
            "routes.txt": ["continuous_pickup", "continuous_drop_off"],
            "fare_rules.txt": ["origin_id", "destination_id"],
            "feed_info.txt": ["feed_contact_email", "feed_contact_url"]}
#: the agency_url of a survey that set none (GTFS requires one): said as placeholder_agency_url
PLACEHOLDER_URL = "https://example.com/"
SORT = {
    "agency.txt": ["agency_id"], "stops.txt": ["stop_id"], "routes.txt": ["route_id"], "trips.txt": ["trip_id"],
    "stop_times.txt": ["trip_id", "stop_sequence"], "frequencies.txt": ["trip_id", "start_time"],
    "shapes.txt": ["shape_id", "shape_pt_sequence"], "calendar.txt": ["service_id"], "feed_info.txt": [],
    "fare_attributes.txt": ["fare_id"], "fare_rules.txt": ["fare_id"], "attributions.txt": ["attribution_id"],
}


#: zlib's level for the feed's files: 4, the fastest level that still looks ahead for longer matches. On the
#: scale benchmark's shapes.txt (100 MB) it takes 3.9 s instead of the default level's 8.0 s, for 3.4 % more bytes.
COMPRESS_LEVEL = 4


@dataclass(frozen=True)
class FeedTables:
    """The tables of a GTFS feed as text (every value a str, "" where blank), by file name without ``.txt``,
    as gtfs-kit's ``Feed`` holds them; ``stops`` are the boarding points, ``stations`` the stations."""

    tables: dict[str, pd.DataFrame]

    def table(self, name: str, columns: tuple[str, ...] = ()) -> pd.DataFrame:
        """A table, or an empty one with ``columns`` where the feed has none."""
        return self.tables[name] if name in self.tables else pd.DataFrame(columns=list(columns), dtype=str)

    @property
    def routes(self) -> pd.DataFrame:
        return self.table("routes", ("route_id",))

    @property
    def trips(self) -> pd.DataFrame:
        return self.table("trips", ("trip_id", "route_id", "shape_id"))

    @property
    def shapes(self) -> pd.DataFrame:
        return self.table("shapes", ("shape_id", "shape_pt_lat", "shape_pt_lon", "shape_pt_sequence"))

    @property
    def all_stops(self) -> pd.DataFrame:
        return self.table("stops", ("stop_id", "stop_name", "stop_lat", "stop_lon"))

    @property
    def stops(self) -> pd.DataFrame:
        s = self.all_stops
        return s[s["location_type"].isin(["", "0"])] if "location_type" in s else s

    @property
    def stations(self) -> pd.DataFrame:
        s = self.all_stops
        return s[s["location_type"].eq("1")] if "location_type" in s else s.iloc[:0]


def read_feed(feed: bytes | str | Path, names: tuple[str, ...] | None = None) -> FeedTables:
    """The tables of a feed (a zip, as bytes or a path), all of them or those ``names`` (without ``.txt``) that
    it has; a file that is no zip of CSV tables is a ``FeedError``."""
    try:
        with zipfile.ZipFile(io.BytesIO(feed) if isinstance(feed, bytes) else feed) as z:
            files = {n.removesuffix(".txt"): n for n in z.namelist() if n.endswith(".txt") and "/" not in n}
            return FeedTables({name: pd.read_csv(z.open(f), dtype=str, keep_default_na=False)
                               for name, f in sorted(files.items()) if names is None or name in names})
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as e:
        raise FeedError(str(e)) from e


def feed_bytes(tables: dict[str, pd.DataFrame], chunk_rows: int = 250_000, *, workers: int = 1) -> bytes:
    """The zip of the tables, byte-identical for identical tables. A large table is written in chunks of
    rows: ``workers`` processes format the next chunks as CSV while this one compresses (zlib lets go of the
    interpreter, so with one worker a thread compresses while the next chunk is formatted)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL) as z, \
            ThreadPoolExecutor(1) as compress:
        for name in sorted(tables):
            df = tables[name]
            if df.empty and name not in ("agency.txt", "stops.txt", "routes.txt", "trips.txt", "stop_times.txt"):
                continue
            df = df[[c for c in COLUMNS[name] if c in df.columns]]
            if SORT[name]:
                df = df.sort_values(SORT[name], kind="stable")
            with z.open(name, "w") as out:  # dated 1980-01-01 00:00 (ZipInfo's default): the same bytes every time
                pending = None
                starts = range(0, max(len(df), 1), chunk_rows)
                for text in imap_local(partial(_csv_rows, rows=chunk_rows), starts, workers, shared=df):
                    if pending is not None:
                        pending.result()
                    pending = compress.submit(out.write, text)
                pending.result()
    return buf.getvalue()


def _csv_rows(df: pd.DataFrame, start: int, rows: int) -> bytes:
    """The CSV text of ``rows`` rows of a table from ``start`` (the header with the first)."""
    return csv_text(df.iloc[start : start + rows], header=start == 0).encode("utf-8")


def csv_text(df: pd.DataFrame, *, header: bool = True) -> str:
    """``df.to_csv(index=False, lineterminator="\\n")``, the same text, three times as fast for tables of
    numbers and plain strings (as ``shapes.txt``): numbers are written as Python writes them (the shortest
    text that reads back the same number, what pandas writes too) and the rows joined at once, instead of
    field by field through the csv module. A table with anything else (missing values, text that needs
    quotes, other types) goes through pandas."""
    names = [str(c) for c in df.columns]
    plain_names = len(names) > 1 and all(names) and _plain_text("".join(names))  # one field alone: quoted if empty
    cols = [_plain_texts(df[c]) for c in df.columns] if plain_names else [None]
    if any(c is None for c in cols):
        return df.to_csv(index=False, header=header, lineterminator="\n")
    head = ",".join(names) + "\n" if header else ""
    return head + "".join(line + "\n" for line in map(",".join, zip(*cols)))


def _plain_texts(column: pd.Series) -> list[str] | None:
    """The column's values as CSV fields that need no quotes, or None when it has other values."""
    values = column.to_numpy()
    if values.dtype.kind == "i":
        return list(map(str, values.tolist()))
    if values.dtype.kind == "f":
        return list(map(repr, values.tolist())) if not np.isnan(values).any() else None
    if values.dtype == object:
        distinct = pd.unique(values)
        if all(type(v) is str for v in distinct) and _plain_text("".join(distinct)):
            return values.tolist()
    return None


def _plain_text(value: str) -> bool:
    """A string the csv module writes as it is in a row of several fields: no comma, quote or line break."""
    return not any(ch in value for ch in ',"\r\n')


@dataclass(frozen=True)
class FeedStop:
    stop_id: str
    name: str
    lat: float
    lon: float
    location_type: int = 0  # 0 a stop (a boarding point), 1 a station (a rank: its boarding points grouped)
    parent_station: str = ""
    desc: str = ""


@dataclass(frozen=True)
class FeedHeadway:
    start_s: int
    end_s: int
    headway_s: int


@dataclass(frozen=True, eq=False)
class FeedTrip:
    """One pattern of a route: a trip template run at the given headways."""

    direction_id: int
    variant: int  # 0: the direction's main pattern; 1, 2...: its branches and short turns
    headsign: str
    stop_ids: tuple[str, ...]
    offsets_s: np.ndarray  # seconds from the first stop, per stop
    stop_dist_m: np.ndarray  # along the shape, per stop
    shape_lat: np.ndarray
    shape_lon: np.ndarray
    shape_dist_m: np.ndarray
    headways: tuple[FeedHeadway, ...]
    band: str = ""  # a time band whose rides take their own time: the pattern's trip for that band (its own times)


@dataclass(frozen=True, eq=False)
class FeedRoute:
    route_id: str
    agency_id: str
    long_name: str
    trips: tuple[FeedTrip, ...]
    fare_price: float | None = None
    fare_currency: str | None = None
    od_fares: tuple[tuple[str, str, float], ...] = ()  # (origin stop_id, destination stop_id, price)
    short_name: str = ""  # the route number riders use (45K, JBL 13)
    route_type: int = 3  # GTFS: 3 bus (minibus taxis too), 2 rail, 4 ferry ...
    hail_and_ride: bool = False  # vehicles stop anywhere along the route on request (continuous_pickup 0)
    weekdays: tuple[int, ...] = ()  # its own days of service (0 = Monday), set by hand; () the feed's


@dataclass(frozen=True)
class FeedMeta:
    agencies: tuple[tuple[str, str], ...]  # (agency_id, name)
    agency_url: str
    timezone: str
    lang: str
    weekdays: tuple[int, ...]  # 0 = Monday, the days service was observed
    start_date: str  # YYYYMMDD
    end_date: str
    publisher: str
    version: str
    contact_email: str = ""
    contact_url: str = ""
    #: (attribution_id, organization_name, attribution_url) of those who produced some of the data (the
    #: OpenStreetMap contributors of an extract the shapes and stop names come from): attributions.txt
    attributions: tuple[tuple[str, str, str], ...] = ()


def trip_id(route_id: str, direction_id: int, variant: int, band: str = "") -> str:
    """The trip (and shape) id of a route's pattern: R012_0, R012_1, a branch R012_0_2; with a time band whose
    rides take their own time, that band's trip of the pattern: R012_0_am_peak (on the pattern's shape)."""
    return f"{route_id}_{direction_id}" + (f"_{variant + 1}" if variant else "") + (f"_{band}" if band else "")


#: the feed's layouts: ``frequencies`` (a trip a pattern, run at its headways: frequencies.txt, exact_times 0),
#: ``timetable`` (every departure a trip of its own with its stop_times, for consumers that do not read
#: frequencies.txt: the departures at each band's start and every headway after it)
PROFILES = ("frequencies", "timetable")
VIRTUAL_STOP_DESC = "virtual stop: vehicles stop anywhere on this stretch on request (hail and ride)"


def with_virtual_stops(routes: list[FeedRoute], stops: list[FeedStop], every_m: float
                       ) -> tuple[list[FeedRoute], list[FeedStop]]:
    """The network with virtual stops every ``every_m`` metres between the stops of hail-and-ride routes more than
    ``every_m`` apart, for trip planners that ignore continuous stopping (GTFS ``continuous_pickup``): each on
    the shape, timed in proportion to its distance between its two stops, named after them, ``stop_desc`` saying
    what it is. Ids: the trip's and a count (``R001_0_v3``)."""
    if every_m <= 0:
        return routes, stops
    names = {s.stop_id: s.name for s in stops}
    new_stops = list(stops)
    out = []
    for r in routes:
        if not r.hail_and_ride:
            out.append(r)
            continue
        trips = []
        for trip in r.trips:
            tid = trip_id(r.route_id, trip.direction_id, trip.variant, trip.band)
            ids, offsets, dists = [trip.stop_ids[0]], [int(trip.offsets_s[0])], [float(trip.stop_dist_m[0])]
            for k in range(1, len(trip.stop_ids)):
                a, b = float(trip.stop_dist_m[k - 1]), float(trip.stop_dist_m[k])
                n = int((b - a) // every_m) - (1 if (b - a) % every_m < every_m / 2 else 0)
                for j in range(1, n + 1):
                    d = a + j * (b - a) / (n + 1)
                    vid = f"{tid}_v{len(ids)}"
                    lat = float(np.interp(d, trip.shape_dist_m, trip.shape_lat))
                    lon = float(np.interp(d, trip.shape_dist_m, trip.shape_lon))
                    new_stops.append(FeedStop(vid,
                                              f"between {names[trip.stop_ids[k - 1]]} and {names[trip.stop_ids[k]]}",
                                              lat, lon, desc=VIRTUAL_STOP_DESC))
                    t0, t1 = int(trip.offsets_s[k - 1]), int(trip.offsets_s[k])
                    ids.append(vid)
                    offsets.append(int(round(t0 + (t1 - t0) * j / (n + 1))))
                    dists.append(d)
                ids.append(trip.stop_ids[k])
                offsets.append(int(trip.offsets_s[k]))
                dists.append(b)
            trips.append(FeedTrip(**{**trip.__dict__, "stop_ids": tuple(ids), "offsets_s": np.array(offsets),
                                     "stop_dist_m": np.array(dists)}))
        out.append(FeedRoute(**{**r.__dict__, "trips": tuple(trips)}))
    return out, new_stops


def network_tables(routes: list[FeedRoute], stops: list[FeedStop], meta: FeedMeta,
                   profile: str = "frequencies") -> dict[str, pd.DataFrame]:
    """The GTFS tables of a network (one service: the observed weekdays over the feed's validity), in one of the
    ``PROFILES``."""
    t: dict[str, list[dict]] = {name: [] for name in COLUMNS}
    for agency_id, name in meta.agencies:
        t["agency.txt"].append({"agency_id": agency_id, "agency_name": name, "agency_url": meta.agency_url,
                                "agency_timezone": meta.timezone, "agency_lang": meta.lang})
    zones = any(r.od_fares for r in routes)  # origin-destination fares: each stop is its own fare zone
    for s in stops:
        t["stops.txt"].append({"stop_id": s.stop_id, "stop_name": s.name, "stop_desc": s.desc,
                               "stop_lat": round(s.lat, 6),
                               "stop_lon": round(s.lon, 6), "zone_id": s.stop_id if zones and not s.location_type
                               else "",
                               "location_type": s.location_type, "parent_station": s.parent_station})
    stop_times, shapes = [], []  # per trip, as columns: numpy, not a dict per row
    written: set[str] = set()  # the shapes written
    for r in routes:
        # continuous stopping: 0 (anywhere on request) for hail-and-ride routes, else left empty (1: none, the default)
        hail = 0 if r.hail_and_ride else ""
        t["routes.txt"].append({"route_id": r.route_id, "agency_id": r.agency_id, "route_short_name": r.short_name,
                                "route_long_name": r.long_name, "route_type": r.route_type, "continuous_pickup": hail,
                                "continuous_drop_off": hail})
        if r.fare_price is not None:
            t["fare_attributes.txt"].append({"fare_id": r.route_id, "price": f"{r.fare_price:.2f}",
                                             "currency_type": r.fare_currency, "payment_method": 0, "transfers": 0,
                                             "agency_id": r.agency_id})
            t["fare_rules.txt"].append({"fare_id": r.route_id, "route_id": r.route_id})
        # Riders between two stops: the fare rule of that origin and destination on this route (a trip
        # planner takes the cheapest fare that applies; these are the fares observed below the route's own)
        for origin, destination, price in r.od_fares:
            fare_id = f"{r.route_id}_{origin}_{destination}"
            t["fare_attributes.txt"].append({"fare_id": fare_id, "price": f"{price:.2f}",
                                             "currency_type": r.fare_currency, "payment_method": 0, "transfers": 0,
                                             "agency_id": r.agency_id})
            t["fare_rules.txt"].append({"fare_id": fare_id, "route_id": r.route_id, "origin_id": origin,
                                        "destination_id": destination})
        for trip in r.trips:
            tid = trip_id(r.route_id, trip.direction_id, trip.variant, trip.band)
            shape = trip_id(r.route_id, trip.direction_id, trip.variant)
            n = len(trip.stop_ids)
            if profile == "timetable":  # every departure its own trip: R001_0 leaving at 05:10:00 is R001_0_051000
                departures = [d for h in trip.headways for d in range(h.start_s, h.end_s, max(h.headway_s, 1))]
            else:
                departures = [trip.headways[0].start_s]
            for dep in departures:
                run = f"{tid}_{gtfs_time(dep).replace(':', '')}" if profile == "timetable" else tid
                t["trips.txt"].append({"route_id": r.route_id, "service_id": _service_id(r.weekdays), "trip_id": run,
                                       "trip_headsign": trip.headsign, "direction_id": trip.direction_id,
                                       "shape_id": shape})
                seconds = dep + np.asarray(trip.offsets_s, np.int64)
                stop_times.append({"trip_id": np.full(n, run, object), "arrival_time": seconds,
                                   "departure_time": seconds, "stop_id": np.array(trip.stop_ids, object),
                                   "stop_sequence": np.arange(1, n + 1), "timepoint": np.zeros(n, np.int64),
                                   "shape_dist_traveled": np.round(np.asarray(trip.stop_dist_m, float), 1)})
            for h in trip.headways if profile == "frequencies" else ():
                t["frequencies.txt"].append({"trip_id": tid, "start_time": gtfs_time(h.start_s),
                                             "end_time": gtfs_time(h.end_s), "headway_secs": h.headway_s,
                                             "exact_times": 0})
            if shape in written:  # a band's trip of the pattern runs on the pattern's shape
                continue
            written.add(shape)
            m = len(trip.shape_lat)
            shapes.append({"shape_id": np.full(m, shape, object),
                           "shape_pt_lat": np.round(np.asarray(trip.shape_lat, float), 6),
                           "shape_pt_lon": np.round(np.asarray(trip.shape_lon, float), 6),
                           "shape_pt_sequence": np.arange(1, m + 1),
                           "shape_dist_traveled": np.round(np.asarray(trip.shape_dist_m, float), 1)})
    days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
    for own in sorted({r.weekdays for r in routes}):
        t["calendar.txt"].append({"service_id": _service_id(own),
                                  **{d: int(k in (own or meta.weekdays)) for k, d in enumerate(days)},
                                  "start_date": meta.start_date, "end_date": meta.end_date})
    t["feed_info.txt"].append({"feed_publisher_name": meta.publisher, "feed_publisher_url": meta.agency_url,
                               "feed_lang": meta.lang, "feed_start_date": meta.start_date,
                               "feed_end_date": meta.end_date, "feed_version": meta.version,
                               "feed_contact_email": meta.contact_email, "feed_contact_url": meta.contact_url})
    for attribution_id, name, url in meta.attributions:
        t["attributions.txt"].append({"attribution_id": attribution_id, "organization_name": name, "is_producer": 1,
                                      "is_operator": 0, "is_authority": 0, "attribution_url": url})
    tables = {name: pd.DataFrame(rows, columns=COLUMNS[name]) for name, rows in t.items()}
    for name, parts in (("stop_times.txt", stop_times), ("shapes.txt", shapes)):
        if parts:
            tables[name] = pd.DataFrame({c: np.concatenate([p[c] for p in parts]) for c in COLUMNS[name]})
    for column in ("arrival_time", "departure_time"):
        tables["stop_times.txt"][column] = gtfs_times(tables["stop_times.txt"][column].to_numpy())
    for name, columns in OPTIONAL.items():
        unused = [c for c in columns if not (tables[name][c].notna() & (tables[name][c] != "")).any()]
        tables[name] = tables[name].drop(columns=unused)
    return tables


def _service_id(weekdays: tuple[int, ...]) -> str:
    """``observed`` (the feed's days), or the days a route runs on by hand: ``days_01234`` (Monday-Friday)."""
    return "days_" + "".join(map(str, weekdays)) if weekdays else "observed"


#: the validators of the MobilityData rules the build runs on its feed, the first installed: (module, the
#: Python code that validates the feed at argv[1] for the day argv[2] and writes the report JSON to standard
#: output). gtfs-guru (Rust) gives the same findings as gtfs-validator (pure Python, where gtfs-guru has no
#: wheel) in a fraction of the time: 1.4 s instead of 72 s on the scale benchmark's full feed (0 errors and
#: the same 15,774 warnings of five codes).
VALIDATORS = (
    ("gtfs_guru", "import sys, gtfs_guru; "
                  "sys.stdout.write(gtfs_guru.validate(sys.argv[1], date=sys.argv[2]).to_json())"),
    ("gtfs_validator", "import sys; from gtfs_validator.cli import main; "
                       "sys.argv[1:] = ['-i', sys.argv[1], '-d', sys.argv[2], '--stdout']; sys.exit(main())"),
)


def run_validator(feed: bytes, date: str) -> list[dict] | None:
    """Findings of the MobilityData rules on a feed, {code, severity, count, sample} each (``validated``); None
    when no validator is installed or none gave a report."""
    found = validated(feed, date)
    return None if found is None else found[1]


def validated(feed: bytes, date: str) -> tuple[str, list[dict]] | None:
    """(the validator's package, its findings) of the MobilityData rules on a feed: the first validator of
    ``VALIDATORS`` installed (an optional extra) that gives a report, in a process of its own; each finding
    {code, severity, count, sample}. None when none is installed or none gave a report."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gtfs.zip"
        path.write_bytes(feed)
        for module, code in VALIDATORS:
            if importlib.util.find_spec(module) is None:
                continue
            proc = subprocess.run([sys.executable, "-c", code, str(path), date],
                                  capture_output=True, text=True, timeout=600, cwd=tmp)
            try:
                report = json.loads(proc.stdout)
            except json.JSONDecodeError:
                continue  # it failed: the next one
            return module.replace("_", "-"), [
                {"code": n["code"], "severity": n["severity"], "count": n.get("totalNotices", 0),
                 "sample": (n.get("sampleNotices") or [{}])[0]} for n in report.get("notices", [])]
    return None


def validator_summary(feed: bytes, start: str) -> dict:
    """The report's ``gtfs_validator`` section for a feed whose service starts on ``start`` (YYYYMMDD, the day
    it is validated for): {ran, validator (its package), date, errors, warnings, notices}; ``ran`` False without
    a validator."""
    found = validated(feed, f"{start[:4]}-{start[4:6]}-{start[6:]}")
    if found is None:
        return {"ran": False, "errors": 0, "warnings": 0, "notices": []}
    validator, findings = found
    return {"ran": True, "validator": validator, "date": start,
            "errors": sum(f["count"] for f in findings if f["severity"] == "ERROR"),
            "warnings": sum(f["count"] for f in findings if f["severity"] == "WARNING"), "notices": findings}

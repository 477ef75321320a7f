"""The settings of a build, in one place: ``BuildConfig`` (what the survey does not say by itself, and each
stage's own settings), and ``load_config``, which reads them from where a survey team writes them.

A setting's way from the user to its stage: ``survey.toml``'s ``[build]`` table (``[build.match]`` for a stage),
a workspace's survey settings, the command's options (``--timezone`` ...) and ``--set STAGE.KEY=VALUE``, later
ones winning, merged by ``load_config`` into a ``BuildConfig`` whose stage fields (``config.match``,
``config.stops`` ...) are the stages' own frozen dataclasses, which ``pipeline`` hands to each stage.
"""

from __future__ import annotations

import dataclasses
import os
import re
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .clean import CleanConfig
from .errors import SettingsError
from .fares import FareConfig
from .gtfs import PLACEHOLDER_URL, PROFILES
from .match import MatchConfig
from .model import known_currency, weekdays
from .names import NamingConfig
from .osm import OsmConfig
from .read import ReadColumns
from .stops import StopConfig
from .timing import TimingConfig
from .validate import ValidationConfig

_WEB_ADDRESS = re.compile(r"https?://[^\s/]+\.[^\s]+")


@dataclass(frozen=True)
class BuildConfig:
    """What the survey does not say by itself. Defaults work for a survey like ``sample_traces/``."""

    timezone: str | None = None  # IANA; default: the zone at the survey's centre (timezonefinder, offline)
    currency: str | None = None  # for routes whose fares name none; default: the traces' own
    agency_name: str = "Informal transit operators"  # for routes whose rides name no operator
    agency_url: str = PLACEHOLDER_URL  # GTFS requires one; set the survey's own (else placeholder_agency_url)
    # the feed's layout (gtfs.PROFILES): "frequencies" (a trip a pattern, run at its headways) or "timetable"
    # (every departure a trip with its stop_times, for consumers that do not read frequencies.txt)
    profile: str = "frequencies"
    # > 0: also write virtual stops every so many metres between the stops of hail-and-ride routes, for trip
    # planners that ignore continuous stopping (stop_desc says what they are)
    virtual_stop_m: float = 0.0
    # modes whose vehicles stop anywhere on request (continuous_pickup / continuous_drop_off 0 in routes.txt),
    # as transitmap.names.MODE_WORDS names them, separated by spaces ("" for none)
    hail_and_ride_modes: str = "minibus shared_taxi motorbike_taxi"
    # the feed's contact (feed_info.txt), written only when given
    contact_email: str | None = None
    contact_url: str | None = None
    publisher: str = "transitmap"
    lang: str = "en"
    validity_days: int = 365  # the calendar runs this long after the last surveyed day
    # YYYY-MM-DD: the calendar's first day when no ride has a time of day (all without timestamps); default:
    # the day of the build
    first_service_date: str | None = None
    # the days the survey's vehicles run ("mon-sun", "mon-sat", "mon,wed,fri"): served whether or not a
    # collector rode on them (days nobody rode are said as service_days_not_observed)
    service_days: str = "mon-sun"
    # key of the collector pseudonyms in the ledger; default: TRANSITMAP_PSEUDONYM_KEY, else a random key made
    # once per machine and kept in pseudonym_key_file() (never beside the output)
    pseudonym_key: str | None = None
    # processes for reading and checking the inputs, and for matching (one region of the survey each: regions
    # no test of matching joins); default: one per core. The output does not depend on it.
    workers: int | None = None
    # how the survey names its files, e.g. "{mode}_{route}/{*}/{collector}_{date}" (see transitmap.names);
    # default: read from the paths by the rules of transitmap.names
    path_names: str | None = None
    # an OpenStreetMap extract (.osm.pbf or .osm) of the survey's area: patterns snapped to its roads, stops
    # nobody named named after its stops and streets, routes.osm written beside the feed (needs transitmap[osm])
    osm_extract: str | None = None
    # each stage's own settings (survey.toml: a table per stage, [build.match] ...; options: --set match.corridor_m=40)
    read: ReadColumns = ReadColumns()
    validate: ValidationConfig = ValidationConfig()
    clean: CleanConfig = CleanConfig()
    names: NamingConfig = NamingConfig()
    match: MatchConfig = MatchConfig()
    stops: StopConfig = StopConfig()
    timing: TimingConfig = TimingConfig()
    fares: FareConfig = FareConfig()
    osm: OsmConfig = OsmConfig()

    def __post_init__(self) -> None:
        """Settings that cannot work are refused here, with what would (``SettingsError``), not deep in a build."""
        if self.timezone is not None:
            try:
                zoneinfo.ZoneInfo(self.timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise SettingsError(f"timezone {self.timezone!r} is not an IANA time zone, such as Africa/Nairobi"
                                    ) from None
        if self.currency is not None and not known_currency(self.currency):
            raise SettingsError(f"currency {self.currency!r} is not an ISO 4217 code, such as KES, ZAR, GHS or XOF")
        if not _WEB_ADDRESS.fullmatch(self.agency_url or ""):
            raise SettingsError(f"agency_url {self.agency_url!r} is not a web address (https://...): GTFS needs one")
        if self.contact_url is not None and not _WEB_ADDRESS.fullmatch(self.contact_url):
            raise SettingsError(f"contact_url {self.contact_url!r} is not a web address (https://...)")
        if self.contact_email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", self.contact_email):
            raise SettingsError(f"contact_email {self.contact_email!r} is not an email address")
        if not isinstance(self.validity_days, int) or self.validity_days < 1:
            raise SettingsError(f"validity_days {self.validity_days!r} is not a whole number of days, 1 or more")
        if self.first_service_date is not None and not re.fullmatch(r"\d{4}-\d\d-\d\d", str(self.first_service_date)):
            raise SettingsError(f"first_service_date {self.first_service_date!r} is not a date as YYYY-MM-DD")
        weekdays(self.service_days)  # a SettingsError names what would do
        if self.osm_extract is not None and not os.path.isfile(self.osm_extract):
            raise SettingsError(f"osm_extract {self.osm_extract!r} is not a file: give an OpenStreetMap extract "
                                "(.osm.pbf or .osm) of the survey's area")
        if self.profile not in PROFILES:
            raise SettingsError(f"profile {self.profile!r} is not one of {', '.join(PROFILES)}")
        if not isinstance(self.virtual_stop_m, (int, float)) or self.virtual_stop_m < 0 or 0 < self.virtual_stop_m < 50:
            raise SettingsError(f"virtual_stop_m {self.virtual_stop_m!r} is not 0 (none) or a distance of 50 m or more")
        if self.path_names is not None and not re.search(r"\{route\}|\{collector\}|\{mode\}", self.path_names):
            raise SettingsError(f"path_names {self.path_names!r} names no part: use {{route}}, {{collector}}, "
                                "{mode}, {direction}, {date} and {*}, e.g. {route}___{direction}___{collector}___{*}")

    @classmethod
    def from_settings(cls, settings: dict) -> BuildConfig:
        """A config from a survey.toml's ``[build]`` table (or options): an unknown key is a ``SettingsError``
        that lists the known ones."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - set(fields))
        if unknown:
            raise SettingsError(f"unknown setting {unknown[0]!r}; the settings are: {', '.join(fields)}")
        values = dict(settings)
        stages = [n for n, f in fields.items() if dataclasses.is_dataclass(f.default)]
        for name, value in settings.items():
            stage = fields[name].default
            if isinstance(value, dict) and name not in stages:
                raise SettingsError(f"{name!r} is not a stage; the stages are: {', '.join(stages)}")
            if dataclasses.is_dataclass(stage):
                if not isinstance(value, dict):
                    raise SettingsError(f"{name} is a table of settings ([build.{name}]), not {value!r}")
                known = [f.name for f in dataclasses.fields(stage)]
                wrong = sorted(set(value) - set(known))
                if wrong:
                    raise SettingsError(f"unknown setting '{name}.{wrong[0]}'; the {name} settings are: "
                                        f"{', '.join(known)}")
                for key, v in value.items():
                    want = type(getattr(stage, key))
                    if want in (int, float) and (isinstance(v, bool) or not isinstance(v, (int, float))
                                                 or (want is int and v != int(v))):
                        raise SettingsError(f"{name}.{key} = {v!r}: a {'whole ' if want is int else ''}number")
                values[name] = dataclasses.replace(stage, **{k: want(v) if want in (int, float) else v
                                                             for k, v in value.items()})
        return cls(**values)


def toml():
    """The TOML reader: the standard library's, or tomli on Python 3.10."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib


def file_settings(path: str | None) -> dict:
    """The ``[build]`` table of a survey.toml (or the whole file when it has none), keys with ``-`` read as
    ``_``; a file that is not TOML is a ``SettingsError`` naming the line."""
    if not path:
        return {}
    tomllib = toml()
    with open(path, "rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as e:
            raise SettingsError(f"{path}: {e}") from e

    def fold(table: dict) -> dict:
        return {k.replace("-", "_"): fold(v) if isinstance(v, dict) else v for k, v in table.items()}

    return fold(data.get("build", data))


def stage_setting(item: str) -> tuple[str, str, Any]:
    """(stage, key, value) of a ``--set stage.key=value``; the value read as in TOML (40, 0.5, "text")."""
    m = re.fullmatch(r"\s*([A-Za-z_]+)\.([A-Za-z_-]+)\s*=\s*(.+?)\s*", item)
    if not m:
        raise SettingsError(f"--set {item}: write STAGE.KEY=VALUE, e.g. --set match.corridor_m=40")
    try:
        value = toml().loads(f"v = {m.group(3)}")["v"]
    except toml().TOMLDecodeError:
        value = m.group(3)  # a word: a text
    return m.group(1), m.group(2).replace("-", "_"), value


def load_config(file: str | None = None, options: Mapping[str, Any] | None = None, sets: Sequence[str] = (),
                survey: Mapping[str, Any] | None = None) -> BuildConfig:
    """The build's settings from, weakest first: a workspace's ``survey`` settings (its time zone and
    currency), the survey.toml ``file``, the command's ``options`` (None: not given) and ``--set`` items
    (``sets``). Anything that cannot work is a ``SettingsError`` that says what would (prefixed with the
    file's name where the file is at fault)."""
    settings = file_settings(file)
    if file and isinstance(settings.get("osm_extract"), str):  # a path in the file is the file's own
        settings["osm_extract"] = os.path.join(os.path.dirname(os.path.abspath(file)), settings["osm_extract"])
    if survey:
        settings = {**{k: survey[k] for k in ("timezone", "currency") if survey.get(k)}, **settings}
    settings.update({k: v for k, v in (options or {}).items() if v is not None})
    for item in sets:
        stage, key, value = stage_setting(item)
        settings[stage] = {**(settings.get(stage) if isinstance(settings.get(stage), dict) else {}), key: value}
    try:
        return BuildConfig.from_settings(settings)
    except SettingsError as e:
        raise SettingsError(f"{file + ': ' if file else ''}{e}") from e

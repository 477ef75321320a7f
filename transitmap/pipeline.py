"""Chain the stages: read -> check each trace -> check the survey -> ledger and report.

Every input ends in the ledger: each trace read is ``accepted``, ``quarantined`` (with its codes) or a
``duplicate``; a file that yields no trace at all is a ``quarantined`` row with an empty trace_id. Nothing
is dropped silently. The outcome does not depend on the order in which the inputs are given.
"""

from __future__ import annotations

import io
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
import shapely

from . import notices as N
from .assemble import feed_rows
from .clean import CleanConfig, clean_ride
from .compare import stable_ids
from .config import BuildConfig
from .engine import Clock, DaskEngine, ProcessEngine, imap_local, rare_full_collections
from .fares import route_fares, settle_currencies
from .geo import unproject, utm_epsg
from .gtfs import feed_bytes, network_tables, read_feed, validator_summary, with_virtual_stops
from .model import HeadwayRow, Outline, Status, TraceRow, route_mode
from .names import name_rides, route_type
from .network import pattern_shape, survey_network
from .osm import ATTRIBUTION, on_the_map, read_extract, routes_osm
from .privacy import pseudonyms, thinned, trimmed_outline
from .read import ReadColumns, ReadLimits, ReadResult, expand_archives, list_inputs, read_file, timezone_at
from .report import headways_csv, ledger_csv, stats_files, to_json
from .review import (
    Correction,
    Review,
    apply_to_rows,
    canonical,
    check,
    forced_route_ids,
    prepare_rides,
    redacted,
    rides_digest,
)
from .stats import NetworkStats, feed_stats
from .timing import (
    fill_headways,
    local_seconds,
    survey_speed_kph,
    uniform_reported_headways,
)
from .validate import TraceCheck, ValidationConfig, check_survey, check_trace, check_trace_safely, digests, summarize

REPORT_VERSION = 1
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LedgerRow:
    """One input trace (or unreadable file) and what became of it."""

    trace_id: str
    file: str
    status: Status
    codes: tuple[str, ...]  # notice codes, sorted, each once
    points: int  # points read
    points_kept: int  # points usable for geometry

    def to_dict(self) -> dict[str, Any]:
        return {"trace_id": self.trace_id, "file": self.file, "status": self.status.value,
                "codes": list(self.codes), "points": self.points, "points_kept": self.points_kept}


@dataclass
class ValidationRun:
    """The outcome of validating a set of inputs.

    ``checks`` holds the checked traces (accepted ones only) when asked to keep them, for later stages.
    """

    files: int
    ledger: list[LedgerRow]
    notices: N.NoticeContainer
    checks: list[TraceCheck] = field(default_factory=list)
    # with a Dask engine, where each of ``checks`` also lies on the cluster: (the chunk of files read, its place
    # in the chunk's results; ``DaskEngine.kept``), or None (checked again here)
    origins: list[tuple[int, int] | None] = field(default_factory=list)
    outlines: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # quarantined

    def count(self, status: Status) -> int:
        return sum(1 for r in self.ledger if r.status == status)

    def withdraw(self, code: str, keys: set[tuple[str, str]]) -> None:
        """Take back the notices of ``code`` (one a trace) about the traces ``keys`` ((trace_id, file)), from
        the ledger and the notices: a later stage found what they said was missing."""
        hit = {(r.trace_id, r.file) for r in self.ledger if code in r.codes and (r.trace_id, r.file) in keys}
        if hit:
            self.ledger = [replace(r, codes=tuple(c for c in r.codes if c != code)) if (r.trace_id, r.file) in hit
                           else r for r in self.ledger]
            self.notices.withdraw(code, hit, len(hit))

    @property
    def has_errors(self) -> bool:
        """Some trace quarantined, or some file unusable for an ERROR (a file that is not a recording, such as a
        photo, is listed with an INFO and is no error)."""
        return any(r.status == Status.QUARANTINED and (r.trace_id or N.any_error_code(r.codes)) for r in self.ledger)

    def summary(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "traces": sum(1 for r in self.ledger if r.trace_id),
            "unreadable_files": sum(1 for r in self.ledger if not r.trace_id),
            "accepted": self.count(Status.ACCEPTED),
            "quarantined": self.count(Status.QUARANTINED),
            "duplicate": self.count(Status.DUPLICATE),
            "points": sum(r.points for r in self.ledger),
            "points_kept": sum(r.points_kept for r in self.ledger if r.status == Status.ACCEPTED),
            "notices": self.notices.severity_counts(),
        }

    def to_report(self, version: str) -> dict[str, Any]:
        """The report model (``report.json``): summary, notices by code with samples, the ledger."""
        return {
            "report_version": REPORT_VERSION,
            "transitmap_version": version,
            "summary": self.summary(),
            "notices": self.notices.to_list(),
            "traces": [r.to_dict() for r in self.ledger],
        }


def validate_inputs(
    paths: Sequence[str | os.PathLike],
    config: ValidationConfig = ValidationConfig(),
    limits: ReadLimits = ReadLimits(),
    *,
    keep_traces: bool = False,
    progress: Callable[[int, int], None] | None = None,
    max_samples_per_code: int = 100,
    batch_points: int = 200_000,
    engine: DaskEngine | ProcessEngine | None = None,
    workers: int = 1,
) -> ValidationRun:
    """Read and validate every trace under ``paths``.

    Files are read in batches of about ``batch_points`` points, then checked: memory is bounded by the
    batch (or the largest input file) unless ``keep_traces`` asks to keep the accepted traces.
    ``progress(done, total)`` is called after each batch. With an ``engine`` (``engine.DaskEngine``), the
    per-trace stages (reading and checking each trace) run on its workers; the survey-level checks and
    everything after run here. Without an engine, ``workers`` > 1 runs them in that many local processes
    (``engine.ProcessEngine``). The result is the same either way.
    """
    files, failed = list_inputs(paths)
    n_files = len(files) + len(failed)  # as given: an archive is one file
    files, refused = expand_archives(files, limits)  # read (and counted) recording by recording
    failed = failed + refused
    if engine is None and workers > 1 and len(files) > 1:
        with ProcessEngine(workers) as local:
            return validate_inputs(paths, config, limits, keep_traces=keep_traces, progress=progress,
                                   max_samples_per_code=max_samples_per_code, batch_points=batch_points, engine=local)
    entries: list[_Entry] = [_Entry(r.source, "", r.notices) for r in failed]
    summaries = []
    held: dict[int, TraceCheck] = {}
    origin: dict[int, tuple[int, int]] = {}  # where a held check lies on a cluster
    outlines: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    if progress is not None:
        progress(0, len(files))
    # on a cluster, the traces kept stay where they were read too: the rides are made there (``_cleaned_by``)
    on_cluster = keep_traces and isinstance(engine, DaskEngine)
    batches = (_batches(files, limits, batch_points, config) if engine is None
               else engine.map_files(_read_and_check, files, limits, config, keep=True) if on_cluster
               else engine.map_files(_read_and_check, files, limits, config))
    for chunk, (done, batch) in enumerate(batches):
        for place, (res, checked, digest) in enumerate(batch):
            key = len(entries)
            if res.trace is None:
                entries.append(_Entry(res.source, "", res.notices))
                continue
            if isinstance(checked, N.Notice):  # a bug of ours: the trace is quarantined, the run goes on
                entries.append(_Entry(res.source, res.trace.trace_id, res.notices + (checked,), (), res.trace.n_points))
                continue
            summaries.append(summarize(key, checked, digest))
            if keep_traces and checked.usable:
                held[key] = checked
                origin[key] = (chunk, place)
            elif keep_traces:
                outlines[key] = trimmed_outline(res.trace.lat[checked.keep], res.trace.lon[checked.keep])
            entries.append(_Entry(res.source, res.trace.trace_id, res.notices, checked.notices,
                                  res.trace.n_points, int(checked.keep.sum()), readable=True))
        if progress is not None:
            progress(done, len(files))
    verdict = check_survey(summaries, config)
    for key in verdict.swapped:
        if key in held:  # re-check the repaired trace: its speeds and distances change with the swap
            tr = held[key].trace
            held[key] = check_trace(tr.replace(lat=tr.lon, lon=tr.lat), config)
            origin.pop(key, None)
            entries[key] = replace(entries[key], check_notices=held[key].notices,
                                   points_kept=int(held[key].keep.sum()))

    container = N.NoticeContainer(max_per_code=max_samples_per_code)
    run_outlines: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    ledger: list[LedgerRow] = []
    kept: list[tuple[TraceCheck, tuple[int, int] | None]] = []
    for key, e in enumerate(entries):
        survey_notes = verdict.notices.get(key, [])
        # A duplicate reports only that it is one: the copy that is used reports the trace's findings.
        notes = list(survey_notes) if key in verdict.duplicates else [*e.read_notices, *e.check_notices, *survey_notes]
        container.extend(notes)
        if key in verdict.duplicates:
            status = Status.DUPLICATE
        elif not e.readable or N.any_error(notes):
            status = Status.QUARANTINED
        else:
            status = Status.ACCEPTED
            if key in held:
                kept.append((held[key], origin.get(key)))
        ledger.append(LedgerRow(e.trace_id, e.source, status, tuple(sorted({n.code() for n in notes})), e.points,
                                e.points_kept if status == Status.ACCEPTED else 0))
        if key in outlines and status == Status.QUARANTINED:
            run_outlines[(e.trace_id, e.source)] = outlines[key]
    ledger.sort(key=lambda r: (r.file, r.trace_id, r.status.value, r.codes))
    kept.sort(key=lambda c: (c[0].trace.trace_id, c[0].trace.source))
    return ValidationRun(files=n_files, ledger=ledger, notices=container, checks=[c for c, _ in kept],
                         origins=[o for _, o in kept] if on_cluster else [], outlines=run_outlines)


def _batches(files, limits: ReadLimits, batch_points: int, config: ValidationConfig):
    """(files read so far, [(read result, its check)]) in batches of about ``batch_points`` points: reading a
    batch and then checking it runs markedly faster than alternating file by file (allocator and cache
    reuse)."""
    batch: list[ReadResult] = []
    points = 0
    for k, f in enumerate(files):
        for res in read_file(f, limits):
            batch.append(res)
            points += res.trace.n_points if res.trace is not None else 0
        if points >= batch_points or k == len(files) - 1:
            yield k + 1, [_check_one(res, config) for res in batch]
            batch, points = [], 0


def _check_one(res: ReadResult, config: ValidationConfig) -> tuple[ReadResult, Any, tuple[str, str] | None]:
    """(the trace read, its check, its digests): the check is None for a file that held none, a system_error
    notice if the check itself failed."""
    check = None if res.trace is None else check_trace_safely(res.trace, config)
    return res, check, digests(check) if isinstance(check, TraceCheck) else None


def _read_and_check(files, limits: ReadLimits, config: ValidationConfig) -> list[tuple[ReadResult, Any, Any]]:
    """Read and check some input files: the per-trace stages, as one task for an engine."""
    return [_check_one(res, config) for f in files for res in read_file(f, limits)]


@dataclass(frozen=True)
class _Entry:
    """What the ledger needs of one read result; the points themselves are not kept."""

    source: str
    trace_id: str
    read_notices: tuple[N.Notice, ...]
    check_notices: tuple[N.Notice, ...] = ()
    points: int = 0
    points_kept: int = 0
    readable: bool = False



# --------------------------------------------------------------------------------------------------
# Building the network and the feed


@dataclass
class BuildResult:
    """Everything ``build`` writes, as values: the feed (None when no route could be built), the ledger
    with each trace's route, the headway sidecar, and the report."""

    run: ValidationRun
    feed: bytes | None
    ledger_rows: list[TraceRow]
    headway_rows: list[HeadwayRow]
    timezone: str
    routes: int = 0
    stops: int = 0
    #: (trace_id, status, codes, route_id, lat, lon) of each trace with a geometry, for maps and layers: the
    #: moving part of a used ride, the usable points of a quarantined trace less its first and last 500 m
    #: (thinned to at most 300 fixes)
    outlines: list[Outline] = field(default_factory=list)
    service_start: str = ""  # YYYYMMDD, the feed's first day of service (the day its validation is for)
    review: dict[str, Any] | None = None  # the corrections made by hand: applied, stale (None: there were none)
    review_outcomes: dict[int, tuple[str, str]] = field(default_factory=dict)  # review.Review.outcomes
    route_digests: dict[str, str] = field(default_factory=dict)  # each route's rides (review.rides_digest)
    #: with corrections: the feed as matched before them, which the next build takes its ids from (``previous``)
    id_feed: bytes | None = None
    osm: dict[str, Any] | None = None  # with an OpenStreetMap extract: what was snapped and named from it
    routes_osm: bytes | None = None  # ... and the routes as OpenStreetMap maps them (``osm.routes_osm``)

    @property
    def has_errors(self) -> bool:
        """Some input quarantined, or no feed at all."""
        return self.feed is None or any(r.status == "quarantined" for r in self.ledger_rows)

    def to_report(self, version: str) -> dict[str, Any]:
        report = self.run.to_report(version)
        count = lambda status: sum(1 for r in self.ledger_rows if r.status == status)  # noqa: E731
        report["summary"].update({"routes": self.routes, "stops": self.stops, "timezone": self.timezone,
                                  "used": count("used"), "quarantined": count("quarantined")})
        report["summary"].pop("accepted", None)
        bands = Counter(h.provenance for h in self.headway_rows)
        report["summary"]["headway_bands"] = dict(sorted(bands.items()))
        own = [h for h in self.headway_rows if h.travel_times == "recorded_in_band"]
        if own:  # said only where it happens: bands whose rides take their own time, and on how many rides
            report["summary"]["bands_with_own_times"] = len(own)
            report["summary"]["rides_timing_bands"] = int(sum({h.trip_id: h.timed_rides for h in own}.values()))
        untimed = sum(1 for r in self.ledger_rows if r.status == "used" and "no_timestamps" in r.codes)
        if untimed:  # said only where it happens: where the times of rides without any come from
            trips = {h.trip_id: h.travel_times for h in self.headway_rows}
            report["summary"].update({"used_without_timestamps": untimed,
                                      "trips_by_travel_times": dict(sorted(Counter(trips.values()).items()))})
        if self.review is not None:  # said only where corrections were made
            report["review"] = self.review
        if self.osm is not None:  # said only with an extract
            report["osm"] = self.osm
        report["traces"] = [r.to_dict() for r in self.ledger_rows]
        return report


@rare_full_collections()
def build_network(
    paths: Sequence[str | os.PathLike],
    config: BuildConfig = BuildConfig(),
    validation: ValidationConfig | None = None,
    limits: ReadLimits = ReadLimits(),
    *,
    progress: Callable[[int, int], None] | None = None,
    previous: bytes | None = None,
    reserved_ids: frozenset[str] = frozenset(),
    engine: DaskEngine | ProcessEngine | None = None,
    stage: Callable[[str], None] | None = None,
    corrections: Sequence[Correction] = (),
    previous_routes: dict[str, str] | None = None,
) -> BuildResult:
    """Validate the inputs, build routes, stops, times, headways and fares, and make the GTFS feed.

    ``previous``: the feed of an earlier build of the same survey; routes and stops that are still the
    same keep its ids (``compare.stable_ids``), new ones are numbered after its ids and ``reserved_ids``.
    ``engine``: where the per-trace stages run (see ``validate_inputs``). ``stage(name)`` is told of each stage
    as it ends (``progress(done, total)`` of the files read). ``corrections``: what a coordinator corrected by
    hand (``review``), each applied or reported stale; ``previous_routes``: {trace_id: route_id} of the
    ``previous`` build (its ledger), for rides put in a route by hand."""
    clock = Clock(stage)
    review = Review()
    problems = [check(c) for c in corrections]
    review.stale += [(c, f"not a correction: {why}") for c, why in zip(corrections, problems) if why]
    corrections = canonical([c for c, why in zip(corrections, problems) if not why])
    workers = config.workers or os.cpu_count() or 1
    if config.read != ReadColumns():  # the columns the survey's forms name their own way
        limits = replace(limits, columns=config.read)
    run = validate_inputs(paths, validation or config.validate, limits, keep_traces=True, progress=progress,
                          engine=engine,
                          workers=workers)
    checks = run.checks
    if not checks:
        if isinstance(engine, DaskEngine):
            engine.release_kept()  # the traces read there: none to clean
        return BuildResult(run, None, _ledger_rows(run, {}), [], config.timezone or "UTC")
    cen = np.median(np.array([c.centroid for c in checks]), axis=0)
    epsg = utm_epsg(float(cen[0]), float(cen[1]))
    tz = config.timezone or timezone_at(float(cen[0]), float(cen[1]))
    clock.lap(f"read and checked {len(run.ledger):,} traces")
    rides, dropped, moving = [], [], {}
    # cleaned in batches on all cores; a build keeps the cleaned rides only: each batch of traces is let go
    # once cleaned (memory holds one copy)
    run.checks = []
    batches = [(k, min(k + 256, len(checks))) for k in range(0, len(checks), 256)]
    on_cluster = isinstance(engine, DaskEngine)  # the batches travel to its workers, the rides come back
    cleaned_batches = (_cleaned_by(engine, checks, run.origins, batches, epsg, config.clean) if on_cluster
                       else imap_local(partial(_cleaned, epsg=epsg, config=config.clean), batches, workers,
                                       shared=checks))
    for (lo, hi), cleaned in zip(batches, cleaned_batches):
        for k, (ride, outline) in zip(range(lo, hi), cleaned):
            c, checks[k] = checks[k], None
            if ride is None:
                dropped.append(N.RideWithoutMovementNotice(file=c.trace.source, trace_id=c.trace.trace_id,
                                                           length_m=c.length_m))
            else:
                rides.append(ride)
                moving[(ride.trace_id, ride.source)] = outline
    cleaned = ride = None  # the last batch's: nothing holds a ride but ``rides``
    cleaned_batches.close()  # its workers go now (they hold a copy of the traces), not at the end of the build
    del checks
    if not rides:
        run.notices.extend(dropped)
        quarantined = {(n.trace_id, n.file): n.code() for n in dropped}
        return BuildResult(run, None, _ledger_rows(run, {}, quarantined), [], tz)
    clock.lap(f"cleaned {len(rides):,} rides")
    rides, currency_notices = settle_currencies(rides, config.currency)
    unknown = {(r.trace_id, r.source) for r in rides if not r.collector_id}
    rides, name_notices = name_rides(rides,
                                     replace(config.names, convention=config.path_names or config.names.convention))
    run.withdraw(N.MissingCollectorIdNotice.code(),  # a collector read from the path is not missing
                 unknown & {(r.trace_id, r.source) for r in rides if r.collector_id})
    currency_notices += name_notices + uniform_reported_headways(rides)
    who = {r.collector_id for r in rides if r.collector_id}  # never named in a reason published
    rides = prepare_rides(rides, corrections, review, previous_routes, _route_ids(previous))
    currency_notices += [N.RideExcludedNotice(file=f, trace_id=t, reason=redacted(why, who))
                         for (t, f), why in review.excluded.items()]
    currency_notices += [N.RideAssignedNotice(file=f, trace_id=t, route=to) for (t, f), to in review.assigned.items()]
    clock.lap("settled the fares' currencies, read names from the paths")
    if not rides:  # every ride excluded by hand
        review.stale += [(c, "no route in this build") for c in corrections if c.kind != "ride"]
        run.notices.extend(dropped + currency_notices + review.notices())
        quarantined = {(n.trace_id, n.file): n.code() for n in dropped}
        quarantined.update({key: N.RideExcludedNotice.code() for key in review.excluded})
        return BuildResult(run, None, _ledger_rows(run, {}, quarantined), [], tz, review=review.summary(),
                           review_outcomes=review.outcomes())
    if config.timing.untimed_speed_kph is None and not all(r.travel_timed for r in rides):
        config = replace(config, timing=replace(config.timing, untimed_speed_kph=survey_speed_kph(rides)))
    net = survey_network(rides, tz, epsg, workers, config, engine if on_cluster else None)
    routes, notices, stops, pattern_stops, timed = net.routes, net.notices, net.stops, net.pattern_stops, net.timed
    # bands nobody's evidence covers take the survey's headway for the mode: known once every route is
    modes = {key: route_mode(routes[key[0]], rides) for key in timed}
    filled = fill_headways({key: t.bands for key, t in timed.items()}, modes, config.timing)
    timed = {key: replace(t, bands=filled[key]) for key, t in timed.items()}
    clock.lap(f"matched them into {len(routes):,} routes, inferred {len(stops):,} stops, timed the patterns")
    mapped = extract = None
    if config.osm_extract:
        extract = read_extract(config.osm_extract, epsg)
        mapped = on_the_map(routes, pattern_stops, stops, extract, config.osm)
        routes, pattern_stops = mapped.routes, mapped.pattern_stops
        stops = [replace(s, name=mapped.names[k][0]) if k in mapped.names else s for k, s in enumerate(stops)]
        timed = {key: _on_shape(t, pattern_shape(routes[key[0]].patterns[key[1]], epsg)) for key, t in timed.items()}
        clock.lap(f"snapped the patterns to the roads of {os.path.basename(config.osm_extract)}, named "
                  f"{len(mapped.names):,} stops from it")
    notices += dropped + currency_notices
    ids = stable_ids(previous, [_route_lines(route) for route in routes],
                     np.array([[s.x_m, s.y_m] for s in stops], float).reshape(-1, 2), epsg, reserved=reserved_ids,
                     forced=forced_route_ids(routes))
    fares, fare_notices = [], []
    for r, route in enumerate(routes):
        paid = [(ids.stop_ids[a], ids.stop_ids[b], rides[i], f) for p in range(len(route.patterns))
                for a, b, i, f in timed[(r, p)].paid]
        fare, od, found = route_fares(ids.route_ids[r], route, rides, paid, config.fares)
        fares.append((fare, od))
        fare_notices += found
    majority = [route_mode(route, rides) for route in routes]
    types = [route_type(mode) for mode in majority]
    hail = [mode in config.hail_and_ride_modes.split() for mode in majority]
    service_days, _ = local_seconds(np.array([r.t_s[r.start] for r in rides if r.clock]), tz)
    rows = feed_rows(rides, routes, stops, pattern_stops, timed, ids, fares, types, service_days, tz, epsg, config,
                     hail, majority)
    notices += rows.notices + fare_notices
    if mapped is not None:  # ODbL: the feed says where its shapes and stop names come from
        rows.meta = replace(rows.meta, attributions=(("osm", "OpenStreetMap contributors (ODbL 1.0)",
                                                      "https://www.openstreetmap.org/copyright"),))
    osm_routes = routes_osm(extract, _osm_lines(rows, routes, mapped, majority), config.osm) if mapped else None
    digests = {ids.route_ids[r]: rides_digest(rides, route) for r, route in enumerate(routes)}
    id_feed = None
    if corrections:
        # the network as matched, before the corrections: the next build keeps its ids from this (a route
        # merged or dropped by hand is still recognised, and the correction still finds it)
        id_feed = feed_bytes(network_tables(rows.routes, rows.stops, rows.meta, "frequencies"), workers=workers)
        agencies = list(rows.meta.agencies)
        rows.routes, rows.stops = apply_to_rows(rows.routes, rows.stops, rows.assignment, rows.headway_rows,
                                                corrections, review, digests, agencies,
                                                tuple(config.hail_and_ride_modes.split()))
        rows.meta = replace(rows.meta,
                            agencies=tuple(a for a in agencies if any(r.agency_id == a[0] for r in rows.routes)))
        notices += [N.RouteDroppedNotice(file=f, trace_id=t, route_id=r) for (t, f), r in review.dropped.items()]
    notices += review.notices()
    osm = None
    if mapped is not None:
        kinds = Counter(kind for _, kind in mapped.names.values())
        osm = {"extract": os.path.basename(config.osm_extract), "attribution": ATTRIBUTION,
               "patterns": sum(len(route.patterns) for route in routes), "stretches_off_map": len(mapped.off_map),
               "off_map_km": round(sum(o[4] for o in mapped.off_map) / 1000, 3),
               "stops_named_after_osm_stops": kinds["stop"], "stops_named_after_streets": kinds["street"]}
        lats, lons = unproject(np.array([o[2] for o in mapped.off_map], float),
                               np.array([o[3] for o in mapped.off_map], float), epsg)
        for (r, p, _, _, length_m), lat, lon in zip(mapped.off_map, lats.tolist(), lons.tolist()):
            first = rides[(routes[r].patterns[p].rides + routes[r].patterns[p].partial)[0]]
            notices.append(N.RoadMissingFromExtractNotice(file=first.source, trace_id=first.trace_id,
                                                          route_id=ids.route_ids[r], lat=round(lat, 6),
                                                          lon=round(lon, 6), length_m=length_m))
    pseudonym = pseudonyms({r.collector_id for r in rides if r.collector_id}, config.pseudonym_key)
    collectors = {(r.trace_id, r.source): pseudonym.get(r.collector_id, "") for r in rides}
    # the rides and the matched network are in the rows now: let them go before the tables are written
    # (the lap gives the memory back: 600 MiB on the scale benchmark's full survey)
    del rides, net, routes, stops, pattern_stops, timed, mapped, extract
    clock.lap("kept the ids of the previous build, set the fares, assembled the GTFS rows")
    feed_routes, feed_stops = with_virtual_stops(rows.routes, rows.stops, config.virtual_stop_m)
    feed = feed_bytes(network_tables(feed_routes, feed_stops, rows.meta, config.profile), workers=workers)
    clock.lap("wrote the GTFS tables")
    run.notices.extend(notices)
    quarantined = {(n.trace_id, n.file): n.code() for n in dropped}
    quarantined.update({key: N.RideExcludedNotice.code() for key in review.excluded})
    quarantined.update({key: N.RouteDroppedNotice.code() for key in review.dropped})
    ledger = _ledger_rows(run, rows.assignment, quarantined, collectors,
                          {key: N.RideAssignedNotice.code() for key in review.assigned})
    outlines = _outlines(run, moving, ledger)
    return BuildResult(run, feed, ledger, rows.headway_rows, tz, routes=len(rows.routes), stops=len(rows.stops),
                       outlines=outlines, service_start=rows.meta.start_date,
                       review=review.summary() if corrections or review.stale else None,
                       review_outcomes=review.outcomes(),
                       route_digests=digests, id_feed=id_feed, osm=osm, routes_osm=osm_routes)


@dataclass
class BuildOutputs:
    """Every file ``transitmap build`` writes into its folder, by relative path (``gtfs.zip``, ``traces.csv``,
    ``headways.csv``, ``report.json``, and the statistics' ``report.html``, ``stats/``, ``figures/``,
    ``network.gpkg`` when a feed was built), the report they hold, and the feed's statistics."""

    files: dict[str, bytes]
    report: dict[str, Any]
    network: NetworkStats | None  # None when no feed was built


def build_outputs(result: BuildResult, version: str, *, validate_feed: bool = True,
                  stage: Callable[[str], None] | None = None) -> BuildOutputs:
    """What ``transitmap build`` writes for a build's ``result`` (``build_network``): the report (with the GTFS
    validator's findings unless ``validate_feed`` is False), the ledger and headway files, and the network
    statistics as ``transitmap stats`` writes them. A library caller gets the command line's files."""
    report = result.to_report(version)
    files = {"report.json": b"", "traces.csv": ledger_csv(result.ledger_rows),
             "headways.csv": headways_csv(result.headway_rows)}
    network = None
    if result.feed is not None:
        files["gtfs.zip"] = result.feed
        clock = Clock(stage)
        # the GTFS validator (a process of its own, on one core) checks the feed while the statistics are made:
        # the report's page shows its findings, so the page waits for it (gtfs-guru takes 1.4 s on the scale
        # benchmark's full feed, gtfs-validator, where gtfs-guru has no wheel, 72 s)
        with ThreadPoolExecutor(1) as pool:
            validated = pool.submit(validator_summary, result.feed, result.service_start) if validate_feed else None
            # the ledger as stats reads a build's traces.csv
            ledger = pd.read_csv(io.BytesIO(files["traces.csv"]), dtype=str, keep_default_na=False)
            network = feed_stats(result.feed, ledger=ledger)
            clock.lap("network statistics")
            if validated is not None:
                report["gtfs_validator"] = validated.result()
                clock.lap("the GTFS validator's findings")
        files.update(stats_files(network, report=report, traces=result.outlines))
        clock.lap("report, figures and layers")
    if result.routes_osm is not None:
        files["routes.osm"] = result.routes_osm
    files["report.json"] = to_json(report)
    return BuildOutputs(files, report, network)


def _route_ids(feed: bytes | None) -> set[str]:
    """The route ids of a feed (none without one)."""
    if feed is None:
        return set()
    return set(read_feed(feed, ("routes",)).routes["route_id"])


def _cleaned(checks: list, bounds: tuple[int, int], epsg: int, config: CleanConfig) -> list[tuple]:
    """(ride, its outline: the latitudes and longitudes of its moving part, thinned) of each checked trace of
    ``checks[lo:hi]``; (None, None) for a trace without movement."""
    to_latlon = partial(unproject, epsg=epsg)
    out: list[tuple] = []
    for c in checks[bounds[0] : bounds[1]]:
        ride = clean_ride(c.trace, c.keep, c.stop_keep, c.fare_keep, epsg, config)
        if ride is None:
            out.append((None, None))
            continue
        k = thinned(np.arange(ride.start, ride.end + 1))
        out.append((ride, to_latlon(ride.x_m[k], ride.y_m[k])))
    return out


def _cleaned_by(engine: DaskEngine, checks: list, origins: list, batches: list[tuple[int, int]], epsg: int,
                config: CleanConfig) -> Iterator[list[tuple]]:
    """``_cleaned`` of each batch of ``checks``, made by a Dask cluster's workers where the traces were read
    (``origins``): the traces do not travel there again, only the rides come back. A check made again here (a
    trace with its latitudes and longitudes swapped back: rare) is cleaned here."""
    chunks: dict[int, list[int]] = {}
    for k, o in enumerate(origins):
        if o is not None:
            chunks.setdefault(o[0], []).append(k)
    out: list = [None] * len(checks)
    for k in (k for k, o in enumerate(origins) if o is None):
        [out[k]] = _cleaned(checks, (k, k + 1), epsg, config)
    calls = [(engine.kept[g], [origins[k][1] for k in chunks[g]], epsg, config) for g in sorted(chunks)]
    for g, cleaned in zip(sorted(chunks), engine.map_calls(_cleaned_where_read, calls)):
        for k, one in zip(chunks[g], cleaned):
            out[k] = one
    engine.release_kept()
    for lo, hi in batches:
        yield out[lo:hi]
        out[lo:hi] = [None] * (hi - lo)


def _cleaned_where_read(read: list, places: list[int], epsg: int, config: CleanConfig) -> list[tuple]:
    """``_cleaned`` of the checks at ``places`` of a chunk's results (``_read_and_check``)."""
    checks = [read[p][1] for p in places]
    return _cleaned(checks, (0, len(checks)), epsg, config)


def _on_shape(times, shape: tuple[np.ndarray, np.ndarray, np.ndarray]):
    """A pattern's times on a new shape (metres along it, latitudes, longitudes: ``network.pattern_shape``)."""
    dist, lat, lon = shape
    return replace(times, shape_dist_m=dist, shape_lat=lat, shape_lon=lon)


def _osm_lines(rows, routes, mapped, modes: list[str]) -> list[dict]:
    """``osm.routes_osm``'s routes: each pattern's trip in the feed's rows (as matched: before corrections made
    by hand), its stops, service hours, headway (the median of its bands) and the road segments it runs along."""
    stops = {s.stop_id: s for s in rows.stops}
    lines = []
    for r, (route, feed_route) in enumerate(zip(routes, rows.routes)):
        trips = {(t.direction_id, t.variant): t for t in feed_route.trips if not t.band}
        patterns = []
        for p, d in enumerate(route.directions):
            trip = trips.get((d, route.directions[:p].count(d)))
            if trip is None:
                continue
            names = [stops[k].name for k in trip.stop_ids]
            patterns.append({"segments": mapped.segments.get((r, p), []),
                             "stops": [(k, stops[k].name, stops[k].lat, stops[k].lon) for k in trip.stop_ids],
                             "from": names[0], "to": names[-1], "duration_s": float(trip.offsets_s[-1]),
                             "interval_s": float(np.median([h.headway_s for h in trip.headways]))
                             if trip.headways else 0.0,
                             "hours": (min(h.start_s for h in trip.headways), max(h.end_s for h in trip.headways))
                             if trip.headways else None})
        lines.append({"route_id": feed_route.route_id, "ref": feed_route.short_name, "name": feed_route.long_name,
                      "mode": modes[r], "patterns": patterns})
    return lines


def _route_lines(route) -> dict[int, list]:
    """A route's pattern paths (shapely lines, metres) by direction."""
    lines: dict[int, list] = {}
    for d, pattern in zip(route.directions, route.patterns):
        lines.setdefault(d, []).append(shapely.linestrings(pattern.xy))
    return lines


def _outlines(run: ValidationRun, moving: dict, ledger: list[TraceRow]) -> list[Outline]:
    """(trace_id, status, codes, route_id, lat, lon) for the traces layer and the map. ``moving``: the outline
    of each ride, by (trace_id, source) (``_cleaned``)."""
    out = []
    for row in ledger:
        key = (row.trace_id, row.file)
        geom = moving.get(key) if row.status == "used" else run.outlines.get(key, moving.get(key))
        if geom is not None and len(geom[0]) >= 2:
            out.append(Outline(row.trace_id, row.status, tuple(row.codes), row.route_id, geom[0], geom[1]))
    # in the order of what they hold, not of the files they came in (file names must not change the outputs)
    return sorted(out, key=lambda o: (o.trace_id, o.status, o.route_id, o.codes, len(o.lat), o.lat.tobytes(),
                                      o.lon.tobytes()))


def _ledger_rows(run: ValidationRun, assignment: dict, quarantined: dict | None = None,
                 collectors: dict | None = None, marked: dict | None = None) -> list[TraceRow]:
    """The ledger of a build: each input trace used (with its route and direction, and its collector's
    pseudonym), quarantined or a duplicate. ``quarantined``: (trace_id, file) -> the code of why the build
    left an accepted trace out; ``marked``: the code a used trace carries besides (put in its route by hand)."""
    quarantined = quarantined or {}
    rows = []
    for row in run.ledger:
        key = (row.trace_id, row.file)
        route = assignment.get(key)
        status, codes = row.status.value, tuple(row.codes)
        if row.status == Status.ACCEPTED:
            status = "used" if route and key not in quarantined else "quarantined"
            if key in quarantined and quarantined[key] not in codes:
                codes = tuple(sorted([*codes, quarantined[key]]))
            elif marked and key in marked and route and marked[key] not in codes:
                codes = tuple(sorted([*codes, marked[key]]))
        route_id, direction_id, trip, ride = route if route else ("", "", "", "")
        collector = (collectors or {}).get(key, "") if status == "used" else ""
        rows.append(TraceRow(row.trace_id, row.file, status, codes, row.points, row.points_kept, route_id,
                             direction_id, trip, ride, collector))
    return rows

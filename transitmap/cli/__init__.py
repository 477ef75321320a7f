"""The ``transitmap`` command line: parses options, calls one library function, renders the result.

Exit codes: 0 = no ERROR; 1 = some input was quarantined (an ERROR notice); 2 = usage error;
3 = transitmap itself failed (a bug: please report it); 130 = interrupted (Ctrl-C).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import zoneinfo
from datetime import datetime
from datetime import timezone as tz

import click
import msgspec

from .. import __version__
from .. import notices as N
from .. import workspace as ws
from ..compare import CompareConfig, diff_feeds
from ..config import load_config
from ..errors import FeedError, SettingsError, TransitmapError, UnsafeOutputError
from ..gpkg import route_layer
from ..model import iso_currencies
from ..pipeline import REPORT_VERSION, build_network, build_outputs, validate_inputs
from ..plan import plan as plan_journeys
from ..privacy import pseudonyms as pseudonyms_of
from ..read import ReadLimits
from ..report import (
    build_beside,
    clear_failed,
    diff_html,
    failed_dir,
    frame_csv,
    stats_files,
    to_json,
    write_atomic,
    write_dir_atomic,
)
from ..stats import feed_stats
from .options import (
    EXIT_ERRORS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    INTERRUPTED,
    Refused,
    SurveyOrder,
    engine_for,
    engine_options,
    failures_exit,
    format_option,
    log,
    progress_bar,
    safe_out_dir,
    safe_out_file,
    verbosity,
    working,
    workspace_call,
)
from .render import (
    count,
    render_diff,
    render_journeys,
    render_stats,
    render_status,
    render_text,
)
from .review import refused, review_cmd


@click.group(cls=SurveyOrder, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="transitmap")
@verbosity
def main() -> None:
    """Turn field recordings of informal transit into validated traces, GTFS and network statistics.

    Exit codes: 0 ok; 1 some input was quarantined (an ERROR notice); 2 usage error; 3 transitmap failed;
    130 interrupted (Ctrl-C).
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Summary on stdout as a text table or as the JSON report.")
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Also write the JSON report to this file.")
@engine_options
@verbosity
@click.pass_context
def validate(ctx: click.Context, paths: tuple[str, ...], fmt: str, out: str | None, engine: str,
             dask_scheduler: str | None) -> None:
    """Check collector recordings (files, folders, .zip) and say, trace by trace, what is usable.

    Exit code 0 when no trace is quarantined, 1 when some is or when no recording was found at all, 2 on
    usage errors, 3 on a failure of transitmap itself.

    Example:

    \b
      transitmap validate uploads/ --out report.json
    """
    if out:
        safe_out_file(out, paths)
    progress, close = progress_bar(ctx, "validating", "recording")
    # a survey workspace is validated as its traces were imported, not as a folder of files
    sources = [x for p in paths for x in (ws.workspace_inputs(p) if ws.is_workspace(p) else [p])]
    with failures_exit(close), engine_for(engine, dask_scheduler) as runner:
        run = validate_inputs(sources, progress=progress, engine=runner)
    report = run.to_report(__version__)
    if out:
        write_atomic(out, to_json(report))
    if fmt == "json":
        click.echo(to_json(report).decode(), nl=False)
    elif not ctx.meta.get("quiet"):
        click.echo(render_text(report, verbose=ctx.meta.get("verbose", 0)))
    nothing = not any(row.trace_id for row in run.ledger)
    if nothing:  # an empty folder, or one of other files only: say so, and fail (nothing to build from)
        click.echo(f"no recording found in {', '.join(paths)} (files read: .json, .jsonl, .gpx, .kml, .kmz, "
                   ".geojson, .csv, and .zip or .gz of them)", err=True)
    sys.exit(EXIT_ERRORS if run.has_errors or nothing else EXIT_OK)


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False),
              help="Output folder: gtfs.zip, traces.csv, headways.csv, report.json, report.html, stats/, figures/, "
                   "network.gpkg (replaced atomically).")
@click.option("--timezone", help="IANA time zone of the feed [default: the survey's, else the zone at its centre].")
@click.option("--currency",
              help="ISO 4217 currency for fares that name none [default: the survey's, else the traces' own].")
@click.option("--agency-name", help="Agency for routes whose rides name no operator.")
@click.option("--agency-url", help="URL of the agency / survey (GTFS requires one).")
@click.option("--profile", type=click.Choice(["frequencies", "timetable"]),
              help="The feed's layout: 'frequencies' (a trip a pattern, run at its headways) or 'timetable' (every "
                   "departure a trip of its own, for apps that do not read frequencies.txt) [default: frequencies].")
@click.option("--virtual-stops", "virtual_stop_m", type=float, metavar="METRES",
              help="Also write virtual stops every METRES between the stops of hail-and-ride routes, for trip "
                   "planners that ignore continuous stopping [default: none].")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
              help="A survey.toml with the same settings (options given here win).")
@click.option("--previous", type=click.Path(exists=True, dir_okay=False),
              help="The gtfs.zip of an earlier build: routes and stops that are still the same keep its ids "
                   "[default for a workspace: its latest build].")
@click.option("--osm", "osm_extract", type=click.Path(exists=True, dir_okay=False), metavar="EXTRACT",
              help="An OpenStreetMap extract of the survey's area (.osm.pbf or .osm): shapes snapped to its "
                   "roads, unnamed stops named after its stops and streets, routes.osm written beside the feed "
                   "[default: none].")
@click.option("--path-names", metavar="CONVENTION",
              help="How the survey names its files, e.g. '{route}___{direction}___{collector}___{*}' or "
                   "'{mode}_{route}/{*}/{collector}_{date}' [default: read from the paths].")
@click.option("--set", "stage_settings", multiple=True, metavar="STAGE.KEY=VALUE",
              help="A setting of one stage, as in survey.toml's [build.STAGE] table, e.g. --set match.corridor_m=40 "
                   "(repeatable; see the README for the stages and their keys).")
@click.option("--no-validate", is_flag=True, help="Do not run the GTFS validator on the feed written.")
@click.option("--strict", is_flag=True,
              help="Exit 1 when any input was quarantined (an ERROR notice), as validate does.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="On stdout: a text summary, or the whole report.json.")
@engine_options
@verbosity
@click.pass_context
def build(ctx, inputs, out, timezone, currency, agency_name, agency_url, profile, virtual_stop_m, config_file, previous,
          osm_extract, path_names, stage_settings, no_validate, strict, fmt, engine, dask_scheduler):
    """Build a GTFS feed from collector recordings (files, folders, .zip) or from a survey workspace
    (see transitmap init).

    Writes into OUT: gtfs.zip, traces.csv (the ledger: every input trace used with its route and its
    collector's pseudonym, quarantined or duplicate), headways.csv (with the provenance of each headway),
    report.json (validation and build notices, and the GTFS validator's findings), and the network
    statistics as transitmap stats writes them (report.html, stats/, figures/, network.gpkg). A
    workspace keeps the build, and its next build keeps the ids of what is still the same. OUT must be
    new, empty or an earlier output of transitmap: a folder holding other files, an input, a workspace
    or the current folder is refused. A build that fails leaves OUT as it was and writes its report
    beside it, in OUT.failed/ (with the feed, when the GTFS validator rejected it); the next build that
    succeeds removes OUT.failed/.

    Exit codes: 0 a feed was written (quarantined inputs are reported, not failures); 1 no feed could be
    built, the GTFS validator found errors in it, or with --strict some input was quarantined; 2 usage
    error or refused output folder; 3 failure of transitmap itself.

    Example:

    \b
      transitmap build sample_traces/ --out out/
      transitmap build gauteng-2026 --out feeds/2026-03-06/ --set match.corridor_m=40
    """
    safe_out_dir(out, inputs)
    workspaces = [i for i in inputs if ws.is_workspace(i)]
    if workspaces and len(inputs) > 1:
        raise Refused(f"{workspaces[0]} is a survey workspace: a build takes it alone. Import the other inputs "
                      f"into it first (transitmap import {workspaces[0]} FILES...), then build it")
    survey = inputs[0] if len(inputs) == 1 and ws.is_workspace(inputs[0]) else None
    options = {"timezone": timezone, "currency": currency, "agency_name": agency_name, "agency_url": agency_url,
               "profile": profile, "virtual_stop_m": virtual_stop_m, "path_names": path_names,
               "osm_extract": osm_extract}
    try:
        config = load_config(config_file, options, stage_settings,
                             workspace_call(ws.settings, survey) if survey is not None else None)
    except SettingsError as e:
        raise Refused(str(e)) from e
    reserved: frozenset[str] = frozenset()
    previous_feed = None
    corrections: list = []
    before: dict[str, str] = {}
    if survey is not None:
        previous_feed, reserved = workspace_call(ws.previous_build, survey)
        refused(workspace_call(ws.pick_up_edits, survey, now=datetime.now(tz.utc)))  # edits made in QGIS since
        corrections = ws.corrections(survey)
        before = ws.previous_routes(survey)
    if previous:
        with open(previous, "rb") as fh:
            previous_feed = fh.read()
    with failures_exit(lambda: None), engine_for(engine, dask_scheduler) as runner, _failure_kept(out, inputs):
        sources = ws.workspace_inputs(survey) if survey is not None else inputs
        try:
            with working(ctx, "building") as stage:
                progress = (lambda done, total: stage(f"read {done:,} of {total:,} recordings")) if stage else None
                result = build_network(sources, config, progress=progress, previous=previous_feed,
                                       reserved_ids=reserved, engine=runner, stage=stage, corrections=corrections,
                                       previous_routes=before)
        except FeedError as e:  # the --previous feed: a usage error
            raise click.UsageError(str(e)) from e
        with working(ctx, "writing the outputs") as stage:
            made = build_outputs(result, __version__, validate_feed=not no_validate, stage=stage)
        report, files = made.report, made.files
        rejected = (report.get("gtfs_validator") or {}).get("errors", 0) > 0
        failed = result.feed is None or rejected
        if failed:  # the last good output stays as it was: what this build has goes beside it
            kept = _write_failed(out, files, inputs)
        else:
            try:
                write_dir_atomic(out, files, inputs=inputs)
            except UnsafeOutputError as e:  # the folder changed during the build: still refused, nothing lost
                raise Refused(str(e)) from e
            clear_failed(out)
            if survey is not None:
                ws.record_build(survey, now=datetime.now(tz.utc), out=os.path.abspath(out), feed=result.feed,
                                ledger_csv=files["traces.csv"], routes=result.routes, stops=result.stops,
                                route_lines=route_layer(result.feed, made.network.routes),
                                review_outcomes=result.review_outcomes, route_digests=result.route_digests,
                                id_feed=result.id_feed)
    if fmt == "json":
        click.echo(to_json(report).decode(), nl=False)
    elif not ctx.meta.get("quiet"):
        s = report["summary"]
        click.echo(render_text(report, verbose=ctx.meta.get("verbose", 0)).rstrip())
        if not failed:
            click.echo(f"\nfeed: {s['routes']} routes, {s['stops']} stops, time zone {s['timezone']}: "
                       f"{os.path.join(out, 'gtfs.zip')}; report: {os.path.join(out, 'report.html')}")
        else:
            click.echo("\n" + ("the GTFS validator rejected the feed" if rejected else "no usable trace: no feed built")
                       + f"; {out} is as it was. {kept}")
        r = report.get("review")
        if r:
            click.echo(f"review: {r['applied']} of {count(r['corrections'], 'correction')} applied, {r['stale']} stale"
                       + (" (transitmap review SURVEY_DIR list says why)" if r["stale"] else ""))
        v = report.get("gtfs_validator")
        if v is not None:
            click.echo(f"GTFS validator: {v['errors']} errors, {v['warnings']} warnings" if v["ran"]
                       else "GTFS validator: not installed (pip install 'transitmap[validate]')")
            for f in (f for f in v["notices"] if f["severity"] == "ERROR"):
                click.echo(f"  ERROR {f['code']}: {f['count']} (fix the settings or inputs that cause it)")
    sys.exit(build_exit_code(result.feed is not None, report, strict=strict))


def _write_failed(out: str, files: dict[str, bytes], inputs) -> str:
    """Write what a failed build has beside ``out`` (``report.failed_dir``); the sentence that says where, or why
    it was not written."""
    where = failed_dir(out)
    try:
        write_dir_atomic(where, files, inputs=inputs)
    except (UnsafeOutputError, OSError) as e:
        return f"This build's report was not written ({e}); --format json prints it."
    return f"This build's report: {where / 'report.json'}" + (
        f"; its feed, for inspection: {where / 'gtfs.zip'}" if "gtfs.zip" in files else "")


@contextlib.contextmanager
def _failure_kept(out: str, inputs):
    """A failure of transitmap itself during a build: the output folder is left as it was and the failure
    is written in a report beside it (``report.failed_dir``) before the command exits 3."""
    try:
        yield
    except (click.ClickException, TransitmapError, KeyboardInterrupt, SystemExit):
        raise
    except Exception as e:
        report = {"report_version": REPORT_VERSION, "transitmap_version": __version__,
                  "failure": {"error": type(e).__name__, "message": str(e)}}
        with contextlib.suppress(Exception):  # the failure itself is what the user must hear of
            write_dir_atomic(failed_dir(out), {"report.json": to_json(report)}, inputs=inputs)
        raise


def build_exit_code(feed_written: bool, report: dict, *, strict: bool) -> int:
    """0 when a feed was written that the GTFS validator does not reject; 1 otherwise, or with ``strict``
    when any input was quarantined."""
    rejected = (report.get("gtfs_validator") or {}).get("errors", 0) > 0
    if not feed_written or rejected or (strict and report["summary"].get("quarantined", 0) > 0):
        return EXIT_ERRORS
    return EXIT_OK


@main.command("init")
@click.argument("survey_dir", type=click.Path(file_okay=False))
@click.option("--name", help="The survey's name [default: the folder's name].")
@click.option("--timezone", help="IANA time zone of the survey, e.g. Africa/Johannesburg [default: found from "
                                 "the traces at build].")
@click.option("--currency", help="ISO 4217 currency of fares that name none, e.g. ZAR.")
@verbosity
@click.pass_context
def init_cmd(ctx, survey_dir, name, timezone, currency):
    """Create a survey workspace: one GeoPackage file, SURVEY_DIR/survey.gpkg, that holds the imported
    traces, their notices and the builds (QGIS opens it). No server.

    Exit code 0 on success, 2 when SURVEY_DIR is a workspace already or a setting is invalid.

    Example:

    \b
      transitmap init gauteng-2026 --timezone Africa/Johannesburg --currency ZAR
    """
    if timezone:
        try:
            zoneinfo.ZoneInfo(timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
            raise click.BadParameter(f"unknown time zone {timezone!r}", param_hint="--timezone") from e
    if currency and currency.upper() not in iso_currencies():
        raise click.BadParameter(f"not an ISO 4217 currency: {currency!r}", param_hint="--currency")
    path = workspace_call(ws.init_workspace, survey_dir, name=name, timezone_name=timezone,
                           currency=currency.upper() if currency else None, now=datetime.now(tz.utc))
    if not ctx.meta.get("quiet"):
        click.echo(f"survey workspace created: {path}")


@main.command("import")
@click.argument("survey_dir", type=click.Path(exists=True, file_okay=False))
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="On stdout: a summary per file, or the import's rows as JSON.")
@click.option("--set", "read_settings", multiple=True, metavar="read.KEY=VALUE",
              help="A column the survey's forms name their own way (repeatable), e.g. read.geotrace=recorrido "
                   "or read.route_name=linea; the keys are those of [build.read] in the README.")
@verbosity
@click.pass_context
def import_cmd(ctx, survey_dir, inputs, fmt, read_settings):
    """Add recordings (files, folders, .zip) to a survey workspace, validating them on the way in.

    Importing is idempotent (files and traces imported before add nothing) and atomic (an interrupted
    import leaves the workspace as it was). A trace whose trace_id is in the workspace with other
    content is not imported: trace_changed. Exit code 0 when everything was accepted or imported before,
    1 when some input was quarantined or refused, 2 on usage errors, 3 on a failure of transitmap itself.

    Example:

    \b
      transitmap import gauteng-2026 uploads/2026-03-04/ phones/thabo.zip
    """
    workspace_call(ws.settings, survey_dir)  # a folder that is not a workspace: a usage error
    if any(not item.strip().startswith("read.") for item in read_settings):
        bad = next(item for item in read_settings if not item.strip().startswith("read."))
        raise Refused(f"--set {bad}: import takes only read.KEY=VALUE (the columns of the survey's forms)")
    try:
        limits = ReadLimits(columns=load_config(sets=read_settings).read)
    except SettingsError as e:
        raise Refused(str(e)) from e
    progress, close = progress_bar(ctx, "importing")
    with failures_exit(close):
        result = ws.import_inputs(survey_dir, inputs, now=datetime.now(tz.utc), progress=progress, limits=limits)
    report = result.to_report(__version__)
    if fmt == "json":
        click.echo(to_json(report).decode(), nl=False)
    elif not ctx.meta.get("quiet"):
        s = result.summary()
        click.echo(f"{count(s['files'], 'file')} ({s['files_unchanged']} imported before): "
                   f"{count(s['traces_added'], 'trace')} added "
                   f"({s['accepted']} accepted, {s['quarantined']} quarantined), {s['traces_unchanged']} imported "
                   f"before, {s['traces_changed']} refused as changed, "
                   f"{count(s['unreadable_files'], 'file')} with no trace; "
                   f"{s['points']:,} points in {s['seconds']:.1f} s")
        for n in report["notices"]:
            if n["severity"] == "ERROR" or ctx.meta.get("verbose"):
                click.echo(f"  {n['severity']:<8} {n['code']}: {n['total_notices']}")
        bad = [r for r in result.rows if r["status"] == "quarantined"]
        for r in bad[: None if ctx.meta.get("verbose") else 20]:
            click.echo(f"  {r['file']} {r['trace_id']}: {r['outcome']}, {', '.join(r['codes'])}")
        if len(bad) > 20 and not ctx.meta.get("verbose"):
            click.echo(f"  ... and {len(bad) - 20} more (-v lists all)")
    sys.exit(EXIT_ERRORS if result.has_errors else EXIT_OK)


@main.command("status")
@click.argument("survey_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--pseudonyms", is_flag=True, help="Show collectors by their pseudonyms (as builds publish them), "
                                                 "for status shared beyond the coordinator.")
@click.option("--day", type=click.DateTime(["%Y-%m-%d"]), help="The day to report as 'today' [default: today in "
                                                               "the survey's time zone].")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="On stdout: tables per collector, or all of it as JSON.")
@verbosity
def status_cmd(survey_dir, pseudonyms, day, fmt):
    """What a survey workspace holds: today's and all imports per collector (accepted, quarantined and
    why), unreadable files, and from the latest build the routes seen on one ride or in one direction only.

    Exit code 0 on success, 2 when SURVEY_DIR is not a workspace or on usage errors.

    Example:

    \b
      transitmap status gauteng-2026 --day 2026-03-04
    """
    info = workspace_call(ws.settings, survey_dir)
    today = day.date() if day else datetime.now(tz.utc).astimezone(zoneinfo.ZoneInfo(info.get("timezone")
                                                                                     or "UTC")).date()
    names = None
    if pseudonyms:
        names = pseudonyms_of(set(ws.collector_ids(survey_dir)), None)
    result = ws.survey_status(survey_dir, today=today, pseudonyms=names)
    if fmt == "json":
        click.echo(to_json(result).decode(), nl=False)
    else:
        click.echo(render_status(result))


@main.command("diff")
@click.argument("old", type=click.Path(exists=True))
@click.argument("new", type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True,
              help="On stdout: a text summary, the whole diff as JSON, or an HTML page with a map.")
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Also write the output to this file.")
@click.option("--near-m", type=float, default=100.0, show_default=True,
              help="Paths within this distance run on the same road; a path moved when farther.")
@click.option("--moved-km", type=float, default=1.0, show_default=True,
              help="A route is re-routed when at least this much of its path moved.")
@click.option("--stop-m", type=float, default=30.0, show_default=True,
              help="Stops within this distance are the same stop place.")
@verbosity
def diff_cmd(old, new, fmt, out, near_m, moved_km, stop_m):
    """What changed from the OLD to the NEW GTFS feed (.zip or folder) of one area: routes added,
    removed, re-routed (path moved, extended or shortened), kept; and on kept routes, stops, headway,
    fare and name changes. Routes are matched by their paths, not their ids.

    Exit code 0 on success, 1 when a feed is not usable, 2 on usage errors, 3 on a failure of transitmap.

    Example:

    \b
      transitmap diff feeds/2026-03-05/gtfs.zip feeds/2026-03-06/gtfs.zip --format html --out diff.html
    """
    config = CompareConfig(near_m=near_m, moved_km=moved_km, same_stop_m=stop_m)
    if out:
        safe_out_file(out, (old, new))
    with failures_exit(lambda: None):
        try:
            with working(click.get_current_context(), "comparing the feeds"):
                result = diff_feeds(old, new, config)
        except FeedError as e:
            log.debug("unusable feed", exc_info=True)
            click.echo(f"not a usable GTFS feed: {e}", err=True)
            sys.exit(EXIT_ERRORS)
        if fmt == "json":
            data = to_json({"transitmap_version": __version__, **result.to_dict()})
        elif fmt == "html":
            data = diff_html(result, title=f"{os.path.basename(old)} -> {os.path.basename(new)}").encode()
        else:
            data = render_diff(result).encode() + b"\n"
        if out:
            write_atomic(out, data)
    if out and fmt != "text":  # the file holds it; the terminal gets one line, not a 240 kB page
        click.echo(f"{fmt} written to {out}")
    else:
        click.echo(data.decode(), nl=False)


@main.command()
@click.argument("feed", type=click.Path(exists=True))
@click.option("--out", "out", type=click.Path(file_okay=False),
              help="Write stats/ (JSON and CSV tables), figures/ (PNG), report.html and network.gpkg into this folder.")
@click.option("--ledger", type=click.Path(exists=True, dir_okay=False),
              help="A build's traces.csv, for survey coverage [default: traces.csv beside FEED, if there].")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True,
              help="On stdout: a text summary, all statistics as JSON, or the route table as CSV.")
@verbosity
@click.pass_context
def stats(ctx: click.Context, feed: str, out: str | None, ledger: str | None, fmt: str) -> None:
    """Network statistics of any GTFS feed (a .zip or a folder): routes, route-km, road-km, headways,
    fares, vehicles, corridors, area served, and with a build ledger the survey's coverage.

    Exit code 0 on success, 1 when FEED is not a usable GTFS feed, 2 on usage errors, 3 on a failure of
    transitmap itself.

    Example:

    \b
      transitmap stats out/gtfs.zip --out out-stats/
    """
    beside = build_beside(feed, ledger)
    read_from = (feed, *([beside.ledger_path] if beside.ledger_path else []))
    if out:
        safe_out_dir(out, read_from)
    with failures_exit(lambda: None):
        table = beside.ledger()
        try:
            with working(ctx, "computing the statistics"):
                result = feed_stats(feed, ledger=table)
        except FeedError as e:
            log.debug("unusable feed", exc_info=True)
            click.echo(f"{feed}: not a usable GTFS feed: {e}", err=True)
            sys.exit(EXIT_ERRORS)
        if out:
            try:
                write_dir_atomic(out, stats_files(result, report=beside.report()), inputs=read_from)
            except UnsafeOutputError as e:
                raise Refused(str(e)) from e
    if fmt == "json":
        click.echo(to_json(result.to_dict()).decode(), nl=False)
    elif fmt == "csv":
        click.echo(frame_csv(result.routes).decode(), nl=False)
    elif not ctx.meta.get("quiet"):
        click.echo(render_stats(result))


@main.command("plan")
@click.argument("feed", type=click.Path(exists=True, dir_okay=False))
@click.argument("origin")
@click.argument("destination")
@click.option("--at", "at", type=click.DateTime(["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%H:%M"]),
              help="Leave at or after this local time: 'YYYY-MM-DD HH:MM', or HH:MM today [default: now].")
@format_option
@verbosity
def plan_cmd(feed, origin, destination, at, fmt):
    """The journeys a rider's trip planner finds in FEED from ORIGIN to DESTINATION (stop ids, station ids or
    stop names, e.g. "Bree Rank"): nigiri, the routing core of MOTIS (pip install 'transitmap[plan]').

    Exit codes: 0 journeys found; 1 none (or FEED is not a usable feed); 2 a stop that is not in the feed.

    Example:

    \b
      transitmap plan out/gtfs.zip Randburg Diepkloof --at "2026-03-04 08:00"
    """
    if at is not None and at.year == 1900:  # HH:MM: today
        at = datetime.combine(datetime.now().date(), at.time())
    with failures_exit(lambda: None):
        journeys = plan_journeys(feed, origin, destination, at)
    if fmt == "json":
        click.echo(to_json({"journeys": [j.to_dict() for j in journeys]}).decode(), nl=False)
    else:
        click.echo(render_journeys(journeys, origin, destination))
    sys.exit(EXIT_OK if journeys else EXIT_ERRORS)


@main.command("notices")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True,
              help="A table, the Markdown page of docs/notices.md, or JSON.")
def notices_cmd(fmt: str) -> None:
    """List every notice code transitmap can report, with its severity and meaning.

    Exit code 0.

    Example:

    \b
      transitmap notices --format markdown > notices.md
    """
    if fmt == "markdown":
        click.echo(N.catalogue_markdown(), nl=False)
    elif fmt == "json":
        items = [{"code": c.code(), "severity": c.severity.name, "description": " ".join((c.__doc__ or "").split()),
                  "fields": N.notice_fields(c)} for c in N.catalogue()]
        click.echo(msgspec.json.format(msgspec.json.encode(items), indent=2).decode())
    else:
        cat = N.catalogue()
        w = max(len(c.code()) for c in cat)
        for c in cat:
            click.echo(f"{c.severity.name:<8} {c.code():<{w}}  {' '.join((c.__doc__ or '').split())}")


main.add_command(review_cmd)


def entry() -> None:
    """The ``transitmap`` command: ``main`` with Ctrl-C ending it at once, exit 130 and one line. Outputs are
    written atomically and a workspace import is one transaction, so stopping anywhere loses nothing (as a
    kill does: tests/test_reliability.py); unwinding instead could wait on worker processes that are gone.
    The workers leave quietly on the same Ctrl-C (``engine``)."""
    def interrupted(signum, frame) -> None:
        sys.stderr.write(f"\n{INTERRUPTED}\n")
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)

    signal.signal(signal.SIGINT, interrupted)
    main()

"""The ``transitmap`` command line: parses options, calls one library function, renders the result.

Exit codes: 0 = no ERROR; 1 = some input was quarantined (an ERROR notice); 2 = usage error;
3 = transitmap itself failed (a bug: please report it); 130 = interrupted (Ctrl-C).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import sys
import threading
import zoneinfo
from collections import Counter, defaultdict
from datetime import datetime
from datetime import timezone as tz
from typing import Any

import click
import msgspec
import pandas as pd
from tqdm import tqdm

from . import __version__
from . import notices as N
from . import workspace as ws
from .compare import CompareConfig, diff_feeds
from .engine import DaskEngine
from .errors import FeedError, SettingsError, TransitmapError, UnsafeOutputError, WorkspaceError
from .model import iso_currencies
from .pipeline import REPORT_VERSION, BuildConfig, build_network, build_outputs, validate_inputs
from .privacy import pseudonyms as pseudonyms_of
from .read import ReadLimits
from .report import (
    check_output_dir,
    check_output_file,
    clear_failed,
    diff_html,
    failed_dir,
    figure,
    frame_csv,
    stats_files,
    to_json,
    write_atomic,
    write_dir_atomic,
)
from .review import Correction
from .stats import feed_stats

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
INTERRUPTED = "interrupted: outputs are written whole or not at all; what was there before is as it was"
log = logging.getLogger("transitmap")


def _remember(key: str):
    def callback(ctx: click.Context, _param, value):
        if value:  # -v/-q may stand before or after the command name; either counts
            ctx.meta[key] = ctx.meta.get(key, 0) + value if key == "verbose" else True
            level = (logging.ERROR if ctx.meta.get("quiet") else
                     logging.DEBUG if ctx.meta.get("verbose", 0) > 1 else
                     logging.INFO if ctx.meta.get("verbose") else logging.WARNING)
            logging.getLogger("transitmap").setLevel(level)
        return value

    return callback


def verbosity(f):
    """The -v/-q options, defined once, accepted by the group and by every command."""
    f = click.option("-v", "--verbose", count=True, expose_value=False, callback=_remember("verbose"),
                     help="More detail (repeatable).")(f)
    return click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=_remember("quiet"),
                        help="Only errors; no progress bar.")(f)


class _SurveyOrder(click.Group):
    """Commands listed in the order a survey uses them, not alphabetically."""

    ORDER = ("init", "import", "status", "validate", "build", "review", "stats", "diff", "notices",
             "list", "set", "merge", "drop", "assign", "exclude", "undo")

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: (self.ORDER.index(n) if n in self.ORDER else len(self.ORDER), n))


@click.group(cls=_SurveyOrder, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="transitmap")
@verbosity
def main() -> None:
    """Turn field recordings of informal transit into validated traces, GTFS and network statistics.

    Exit codes: 0 ok; 1 some input was quarantined (an ERROR notice); 2 usage error; 3 transitmap failed;
    130 interrupted (Ctrl-C).
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)



def _progress(ctx: click.Context, desc: str, unit: str = "file"):
    """A progress callback drawing a bar on stderr, or None when quiet or stderr is not a terminal."""
    if ctx.meta.get("quiet") or not sys.stderr.isatty():
        return None, lambda: None
    bar = tqdm(desc=desc, unit=unit, file=sys.stderr, leave=False)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return update, bar.close


@contextlib.contextmanager
def _working(ctx: click.Context, desc: str):
    """A status line on stderr while long work runs (its stage and the time so far), when stderr is a terminal
    and not -q; yields a callback that says what was just done (``None`` when nothing is shown)."""
    if ctx.meta.get("quiet") or not sys.stderr.isatty():
        yield None
        return
    bar = tqdm(desc=desc, bar_format="{desc} {elapsed}", file=sys.stderr, leave=False)
    done = threading.Event()

    def tick() -> None:  # the elapsed time moves while a stage runs
        while not done.wait(0.5):
            bar.refresh()

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield lambda done: bar.set_description_str(f"{desc}: {done}", refresh=True)
    finally:
        done.set()
        ticker.join()
        bar.close()


def engine_options(f):
    """--engine/--dask-scheduler, defined once for the commands that read traces."""
    f = click.option("--dask-scheduler", metavar="ADDRESS",
                     help="With --engine dask: the scheduler to use (tcp://host:8786) [default: a local cluster, "
                          "one worker per core].")(f)
    return click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
                        help="Where reading and checking each trace run: here, or on a Dask cluster "
                             "(pip install 'transitmap[dask]'). The output is the same.")(f)


@contextlib.contextmanager
def _engine(name: str, address: str | None):
    """The engine to run the per-trace stages on (None: this process)."""
    if name != "dask":
        yield None
        return
    try:
        import distributed  # noqa: F401  (Dask is an optional extra: imported only when asked for)
    except ImportError as e:
        raise click.UsageError("--engine dask needs Dask: pip install 'transitmap[dask]'") from e
    with DaskEngine(address) as engine:
        yield engine


@contextlib.contextmanager
def _failures_exit(close):
    """Close the progress bar; turn a failure of transitmap itself into exit code 3 and one line (the
    traceback with -vv), never a raw traceback."""
    try:
        yield
    except KeyboardInterrupt:  # Ctrl-C where ``entry`` did not take it (the library's caller ran ``main``)
        close()
        click.echo(INTERRUPTED, err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException:  # usage errors keep their exit code 2
        raise
    except FeedError as e:  # an input that is not a usable feed: the data's fault, exit 1
        click.echo(f"not a usable GTFS feed: {e}", err=True)
        sys.exit(EXIT_ERRORS)
    except TransitmapError as e:  # settings, outputs, workspaces: what the user asked for, exit 2
        raise Refused(str(e)) from e
    except Exception as e:
        log.debug("failure", exc_info=True)
        click.echo(f"transitmap failed: {type(e).__name__}: {e} (run with -vv for the traceback)", err=True)
        sys.exit(EXIT_FAILURE)
    finally:
        close()


class Refused(click.ClickException):
    """A request transitmap will not carry out as given: exit 2 and one line saying what to do (no usage
    text: the options were well formed)."""

    exit_code = EXIT_USAGE


def _safe_out_dir(out: str, inputs) -> None:
    """Refuse (exit 2, one line that says what to do) an output folder that would destroy something."""
    try:
        check_output_dir(out, inputs=inputs)
    except UnsafeOutputError as e:
        raise Refused(str(e)) from e


def _safe_out_file(out: str, inputs) -> None:
    """Refuse (exit 2) an output file that is an input, inside an input folder, a folder, or a file transitmap
    did not write (``report.check_output_file``)."""
    try:
        check_output_file(out, inputs=inputs)
    except UnsafeOutputError as e:
        raise Refused(str(e)) from e


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
        _safe_out_file(out, paths)
    progress, close = _progress(ctx, "validating", "recording")
    # a survey workspace is validated as its traces were imported, not as a folder of files
    sources = [x for p in paths for x in (ws.workspace_inputs(p) if ws.is_workspace(p) else [p])]
    with _failures_exit(close), _engine(engine, dask_scheduler) as runner:
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


def _count(n: int, noun: str) -> str:
    """``1 file``, ``21 files``, ``8,123 points``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def render_text(report: dict, *, verbose: int = 0) -> str:
    """The validation report as text tables: totals, notices per severity and code, files with problems."""
    s = report["summary"]
    ok = "used" if "used" in s else "accepted"  # a build uses what validation accepts
    empty = s["unreadable_files"]  # files that yielded no trace: quarantined rows without a trace
    lines = [
        f"{_count(s['files'], 'file')}, {_count(s['traces'], 'trace')}, {_count(s['points'], 'point')}: "
        f"{s[ok]:,} {ok}, {s['quarantined'] - empty:,} quarantined, {s['duplicate']:,} duplicate"
        + (f"; {_count(empty, 'file')} yielded no trace" if empty else ""),
        "",
    ]
    if report["notices"]:
        w = max(len(n["code"]) for n in report["notices"])
        lines.append(f"{'severity':<8}  {'code':<{w}}  {'count':>7}")
        for n in report["notices"]:
            lines.append(f"{n['severity']:<8}  {n['code']:<{w}}  {n['total_notices']:>7}")
        lines.append("")
    per_file: dict[str, Counter] = defaultdict(Counter)
    no_trace = {row["file"] for row in report["traces"] if not row["trace_id"]}
    for row in report["traces"]:
        per_file[row["file"]][row["status"]] += 1
        if verbose:
            per_file[row["file"]].update(f"  {c}" for c in row["codes"])
    shown = {f: c for f, c in per_file.items() if verbose or c["quarantined"] or c["duplicate"]}
    if shown:
        lines.append("files" + ("" if verbose else " with quarantined or duplicate traces, or with none") + ":")
        limit = None if verbose else 30
        for f in sorted(shown)[:limit]:
            c = shown[f]
            codes = sorted(k.strip() for k in c if k.startswith("  "))
            counts = ("no trace" if f in no_trace else
                      f"{c[ok]} {ok}, {c['quarantined']} quarantined, {c['duplicate']} duplicate")
            lines.append(f"  {f}: {counts}" + (f"  [{', '.join(codes)}]" if codes else ""))
        if limit and len(shown) > limit:
            lines.append(f"  ... and {len(shown) - limit} more (-v lists all)")
    return "\n".join(lines).rstrip() + "\n"


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
          path_names, stage_settings, no_validate, strict, fmt, engine, dask_scheduler):
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
    _safe_out_dir(out, inputs)
    workspaces = [i for i in inputs if ws.is_workspace(i)]
    if workspaces and len(inputs) > 1:
        raise Refused(f"{workspaces[0]} is a survey workspace: a build takes it alone. Import the other inputs "
                      f"into it first (transitmap import {workspaces[0]} FILES...), then build it")
    survey = inputs[0] if len(inputs) == 1 and ws.is_workspace(inputs[0]) else None
    settings = _settings(config_file)
    if survey is not None:
        found = _workspace_call(ws.settings, survey)
        settings = {**{k: found[k] for k in ("timezone", "currency") if found.get(k)}, **settings}
    for key, value in (("timezone", timezone), ("currency", currency), ("agency_name", agency_name),
                       ("agency_url", agency_url), ("profile", profile), ("virtual_stop_m", virtual_stop_m)):
        if value is not None:
            settings[key] = value
    if path_names is not None:
        settings["path_names"] = path_names
    for item in stage_settings:
        stage, key, value = _stage_setting(item)
        settings[stage] = {**(settings.get(stage) if isinstance(settings.get(stage), dict) else {}), key: value}
    try:
        config = BuildConfig.from_settings(settings)
    except SettingsError as e:
        raise Refused(f"{config_file + ': ' if config_file else ''}{e}") from e
    reserved: frozenset[str] = frozenset()
    previous_feed = None
    corrections: list = []
    before: dict[str, str] = {}
    if survey is not None:
        previous_feed, reserved = _workspace_call(ws.previous_build, survey)
        _refused(_workspace_call(ws.pick_up_edits, survey, now=datetime.now(tz.utc)))  # edits made in QGIS since
        corrections = ws.corrections(survey)
        before = ws.previous_routes(survey)
    if previous:
        with open(previous, "rb") as fh:
            previous_feed = fh.read()
    with _failures_exit(lambda: None), _engine(engine, dask_scheduler) as runner, _failure_kept(out, inputs):
        sources = ws.workspace_inputs(survey) if survey is not None else inputs
        try:
            with _working(ctx, "building") as stage:
                progress = (lambda done, total: stage(f"read {done:,} of {total:,} recordings")) if stage else None
                result = build_network(sources, config, progress=progress, previous=previous_feed,
                                       reserved_ids=reserved, engine=runner, stage=stage, corrections=corrections,
                                       previous_routes=before)
        except FeedError as e:  # the --previous feed: a usage error
            raise click.UsageError(str(e)) from e
        with _working(ctx, "writing the outputs") as stage:
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
                                route_lines=ws.route_layer(result.feed, made.network.routes),
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
            click.echo(f"review: {r['applied']} of {_count(r['corrections'], 'correction')} applied, {r['stale']} stale"
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


def _workspace_call(fn, *args, **kwargs):
    """Call a workspace function; a folder that is not a workspace is a usage error (exit 2)."""
    try:
        return fn(*args, **kwargs)
    except WorkspaceError as e:
        raise click.UsageError(str(e)) from e


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
    path = _workspace_call(ws.init_workspace, survey_dir, name=name, timezone_name=timezone,
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
    _workspace_call(ws.settings, survey_dir)  # a folder that is not a workspace: a usage error
    columns: dict[str, str] = {}
    for item in read_settings:
        stage, key, value = _stage_setting(item)
        if stage != "read":
            raise Refused(f"--set {item}: import takes only read.KEY=VALUE (the columns of the survey's forms)")
        columns[key] = value
    try:
        limits = ReadLimits(columns=BuildConfig.from_settings({"read": columns}).read)
    except SettingsError as e:
        raise Refused(str(e)) from e
    progress, close = _progress(ctx, "importing")
    with _failures_exit(close):
        result = ws.import_inputs(survey_dir, inputs, now=datetime.now(tz.utc), progress=progress, limits=limits)
    report = result.to_report(__version__)
    if fmt == "json":
        click.echo(to_json(report).decode(), nl=False)
    elif not ctx.meta.get("quiet"):
        s = result.summary()
        click.echo(f"{_count(s['files'], 'file')} ({s['files_unchanged']} imported before): "
                   f"{_count(s['traces_added'], 'trace')} added "
                   f"({s['accepted']} accepted, {s['quarantined']} quarantined), {s['traces_unchanged']} imported "
                   f"before, {s['traces_changed']} refused as changed, "
                   f"{_count(s['unreadable_files'], 'file')} with no trace; "
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
    info = _workspace_call(ws.settings, survey_dir)
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


def render_status(st: dict) -> str:
    """A survey's status as text."""
    def line(label: str, c: dict) -> str:
        why = ", ".join(f"{k} {v}" for k, v in c["quarantine_reasons"].items())
        return (f"{label}: {_count(c['traces'], 'trace')}, {c['accepted']:,} accepted, {c['quarantined']:,} quarantined"
                + (f" ({why})" if why else "") + f", {_count(c['duplicates'], 'duplicate')}, "
                f"{_count(c['points'], 'point')}")

    sv = st["survey"]
    out = [f"survey \"{sv['name']}\" (time zone {sv['timezone'] or 'from the traces'}, currency "
           f"{sv['currency'] or 'from the traces'})",
           line(f"today {st['today']}", st["today_imports"])
           + f"; {_count(st['today_imports']['unreadable_files'], 'unreadable file')}",
           line("total", st["total"]) + f"; {_count(st['total']['unreadable_files'], 'unreadable file')}, "
                                        f"{_count(st['total']['imports'], 'import')}", "",
           "per collector (today | total):"]
    for c in st["collectors"]:
        t, a = c["today"], c["total"]
        why = ", ".join(f"{k} {v}" for k, v in a["quarantine_reasons"].items())
        out.append(f"  {c['collector']}: {t['traces']} in today ({t['quarantined']} quarantined) | {a['traces']} in "
                   f"total, {a['accepted']} accepted, {a['quarantined']} quarantined" + (f" ({why})" if why else "")
                   + (f", {a['duplicates']} duplicates" if a["duplicates"] else ""))
    if st["unreadable_files"]:
        out += ["", "files with no usable trace:"]
        out += [f"  {f['day']} {f['file']}: {', '.join(f['codes'])}" for f in st["unreadable_files"][:30]]
    b = st["build"]
    if b is None:
        out += ["", "no build yet: transitmap build SURVEY_DIR --out DIR"]
    else:
        out += ["", f"latest build {b['build_id']} ({b['time_utc']}): {b['routes']} routes, {b['stops']} stops; "
                    f"{b['traces_since']} traces imported since",
                f"  routes seen on one ride only ({len(b['routes_one_ride'])}): "
                f"{', '.join(b['routes_one_ride']) or '-'}",
                f"  routes seen in one direction only ({len(b['routes_one_direction'])}): "
                f"{', '.join(b['routes_one_direction']) or '-'}"]
    if st.get("review", {}).get("corrections"):
        out += ["", render_review_progress(st["review"])]
    return "\n".join(out)


def render_review_progress(r: dict) -> str:
    changed = r["routes_changed_since_review"]
    return (f"review: {r['routes_reviewed']} of {r['routes']} routes reviewed"
            + (f", {len(changed)} changed since ({', '.join(changed)})" if changed else "")
            + f"; {_count(r['corrections'], 'correction')} in force: {r['applied']} applied, {r['stale']} stale"
            + (f", {r['not built yet']} not built yet" if r["not built yet"] else "")
            + f"; rides assigned by hand {r['rides_assigned']}, excluded {r['rides_excluded']}")


@main.group("review", cls=_SurveyOrder)
@click.argument("survey_dir", type=click.Path(exists=True, file_okay=False))
@verbosity
@click.pass_context
def review_cmd(ctx, survey_dir):
    """Corrections made by hand, kept in the survey workspace and applied by every build: route names and
    numbers, routes merged or dropped, rides excluded or put in a route, stop names, merges and moves, fares.
    The same corrections can be made by editing the workspace's routes, stops and traces layers in QGIS (the
    fields short_name, long_name, headsign, review, merge_into, name, assign_to, reason); the next build or
    review list records those edits.

    Exit codes: 0 done; 2 SURVEY_DIR is not a workspace, or the correction is not valid (nothing recorded).

    Example:

    \b
      transitmap review gauteng-2026 set route R003 short_name 45K
      transitmap review gauteng-2026 set route R003 reviewed
      transitmap review gauteng-2026 merge route R007 R003
      transitmap review gauteng-2026 exclude na-04-BD-1 --reason "wrong taxi"
      transitmap review gauteng-2026 assign am-03-BBr-3 le-05-BB-3 --route R001
      transitmap review gauteng-2026 list --format json
    """
    _workspace_call(ws.settings, survey_dir)
    ctx.obj = survey_dir


_FMT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                    help="On stdout: text, or JSON.")


def _record(survey_dir: str, made: list, fmt: str) -> None:
    try:
        done = ws.add_corrections(survey_dir, made, now=datetime.now(tz.utc))
    except WorkspaceError as e:  # nothing recorded: one line that says what is wrong and where to look
        raise Refused(str(e)) from e
    if fmt == "json":
        click.echo(to_json([{**c.__dict__} for c in done]).decode(), nl=False)
    elif not click.get_current_context().meta.get("quiet"):
        for c in done:
            click.echo(f"correction {c.correction_id}: {_describe(c.__dict__)} (applied by the next build)")


def _refused(edits: ws.LayerEdits) -> None:
    """Say on stderr which edits of the layers mean nothing (they stay there until mended or emptied)."""
    for r in edits.refused:
        click.echo(f"warning: layer {r['layer']}, {r['key']}, {r['field']} = {r['value']!r} is not recorded: "
                   f"{r['why']}", err=True)


def _describe(c: dict) -> str:
    what = {"set": f"{c['field']} = {c['value']!r}", "merge": f"merge into {c['value']}",
            "assign": f"into {c['value']}",
            "move": f"move to {c['value']}", "exclude": f"exclude ({c['reason'] or 'no reason given'})",
            "partial_of": f"partial of {c['value']}", "branch_of": f"a branch of {c['value']}"}
    return f"{c['kind']} {c['target']}: {what.get(c['action'], c['action'])}"


@review_cmd.command("list")
@verbosity
@click.option("--all", "all_", is_flag=True, help="Also the corrections undone or replaced.")
@_FMT
@click.pass_obj
def review_list(survey_dir, all_, fmt):
    """The corrections in force, with what the latest build did with each (applied, stale and why), and the
    review's progress. Edits made in QGIS since the last build are recorded first."""
    picked = ws.pick_up_edits(survey_dir, now=datetime.now(tz.utc))
    rows, progress = ws.correction_rows(survey_dir, all_=all_), ws.review_progress(survey_dir)
    if fmt == "json":
        click.echo(to_json({"progress": progress, "picked_up_from_layers": len(picked.recorded),
                            "refused_in_layers": picked.refused, "corrections": rows}).decode(), nl=False)
        return
    _refused(picked)
    if picked.recorded:
        click.echo(f"recorded {_count(len(picked.recorded), 'edit')} made in the layers")
    for r in rows:
        state = r["outcome"] or "not built yet"
        click.echo(f"{r['correction_id']:>4}  {_describe(r)}  [{r['source']}, {r['made_utc'][:16]}]  {state}"
                   + (f": {r['outcome_reason']}" if r["outcome_reason"] else "")
                   + ("" if r["active"] else f"  ({r['ended']})"))
    click.echo(render_review_progress(progress))


@review_cmd.command("set")
@verbosity
@click.argument("kind", type=click.Choice(["route", "pattern", "stop", "ride", "fare"]))
@click.argument("target")
@click.argument("field")
@click.argument("value", required=False, default="")
@click.option("--reason", default="", help="Why (kept with the correction).")
@_FMT
@click.pass_obj
def review_set(survey_dir, kind, target, field, value, reason, fmt):
    """Set a field of a route (short_name, long_name, mode, route_type, operator, fare, service_hours, service_days,
    headway_<band> in minutes; 'reviewed' marks it checked, 'split' splits it by the route names its riders
    give), of a pattern (TARGET a trip id: headsign; partial_of a trip id; branch_of a route id), of a stop
    (name; station: a station or stop id; position 'lat,lon' moves it: write -- before a negative latitude), of
    a ride ('wrong_direction': its collector swapped origin and destination) or a fare between two stops
    (TARGET S0001>S0005, FIELD price)."""
    actions = {"reviewed": "reviewed", "split": "split", "position": "move", "partial_of": "partial_of",
               "branch_of": "branch_of", "wrong_direction": "wrong_direction"}
    if field in actions:
        made = Correction(kind, target, actions[field], value=value, reason=reason)
    else:
        made = Correction(kind, target, "set", field, value, reason)
    _record(survey_dir, [made], fmt)


@review_cmd.command("merge")
@verbosity
@click.argument("kind", type=click.Choice(["route", "stop"]))
@click.argument("target")
@click.argument("into")
@click.option("--reason", default="", help="Why (kept with the correction).")
@_FMT
@click.pass_obj
def review_merge(survey_dir, kind, target, into, reason, fmt):
    """Merge a route into another (its patterns become the other's) or a stop into another."""
    _record(survey_dir, [Correction(kind, target, "merge", value=into, reason=reason)], fmt)


@review_cmd.command("drop")
@verbosity
@click.argument("kind", type=click.Choice(["route", "stop"]))
@click.argument("target")
@click.option("--reason", default="", help="Why (kept with the correction).")
@_FMT
@click.pass_obj
def review_drop(survey_dir, kind, target, reason, fmt):
    """Leave a route out of the feed (its rides are quarantined as route_dropped), or a stop out of its trips."""
    _record(survey_dir, [Correction(kind, target, "drop", reason=reason)], fmt)


@review_cmd.command("assign")
@verbosity
@click.argument("trace_ids", nargs=-1, required=True)
@click.option("--route", "route", required=True,
              help="The route (an id such as R003, or new:LABEL: the rides given one label make a new route).")
@click.option("--reason", default="", help="Why (kept with the correction).")
@_FMT
@click.pass_obj
def review_assign(survey_dir, trace_ids, route, reason, fmt):
    """Put rides in a route by hand: they join it and no other, whatever their paths and names."""
    _record(survey_dir, [Correction("ride", t, "assign", value=route, reason=reason) for t in trace_ids], fmt)


@review_cmd.command("exclude")
@verbosity
@click.argument("trace_ids", nargs=-1, required=True)
@click.option("--reason", required=True, help="Why (the ledger and report say it).")
@_FMT
@click.pass_obj
def review_exclude(survey_dir, trace_ids, reason, fmt):
    """Leave rides out of the build (the wrong taxi, a test ride): quarantined as ride_excluded with the reason."""
    _record(survey_dir, [Correction("ride", t, "exclude", reason=reason) for t in trace_ids], fmt)


@review_cmd.command("undo")
@verbosity
@click.argument("correction_ids", nargs=-1, required=True, type=int)
@_FMT
@click.pass_obj
def review_undo(survey_dir, correction_ids, fmt):
    """End corrections (by the numbers review list shows): the next build no longer applies them."""
    done = ws.undo_corrections(survey_dir, correction_ids, now=datetime.now(tz.utc))
    missing = sorted(set(correction_ids) - set(done))
    if fmt == "json":
        click.echo(to_json({"undone": done, "not_in_force": missing}).decode(), nl=False)
    else:
        click.echo(f"undone: {', '.join(map(str, done)) or '-'}"
                   + (f"; not in force: {', '.join(map(str, missing))}" if missing else ""))
    if missing and not done:
        sys.exit(EXIT_USAGE)


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
        _safe_out_file(out, (old, new))
    with _failures_exit(lambda: None):
        try:
            with _working(click.get_current_context(), "comparing the feeds"):
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


def render_diff(d) -> str:
    """A diff as text: counts, then the routes re-routed, added and removed, and the kept ones that changed."""
    s = d.summary
    r = s["routes"]
    ch = s["changes"]
    lines = [f"old: {s['old']['routes']} routes, {s['old']['stops']} stops, {s['old']['route_km']:,.0f} route-km; "
             f"new: {s['new']['routes']} routes, {s['new']['stops']} stops, {s['new']['route_km']:,.0f} route-km",
             f"routes: {r['kept']} kept, {r['rerouted']} re-routed, {r['added']} added, {r['removed']} removed "
             f"({s['matched_with_same_id']} matched routes keep their id)",
             f"re-routes: {ch['path']} moved, {ch['extended']} extended, {ch['shortened']} shortened; "
             "on matched routes "
             f"{ch['stops']} with stops added or removed, {ch['headway']} headway, {ch['fare']} fare and {ch['name']} "
             "name changes",
             f"stop places: {s['stops']['kept']} kept, {s['stops']['added']} added, {s['stops']['removed']} removed "
             f"(within {s['settings']['same_stop_m']:.0f} m)", ""]
    fmt_km = lambda v: f"{v:.1f}" if v == v else "-"  # noqa: E731
    for row in d.routes.itertuples(index=False):
        if row.status == "kept" and not row.changes:
            continue
        ident = row.old_id if row.old_id == row.new_id else f"{row.old_id or '-'} -> {row.new_id or '-'}"
        name = row.new_name or row.old_name
        detail = {"added": f"{fmt_km(row.new_km)} km", "removed": f"{fmt_km(row.old_km)} km"}.get(
            row.status, f"{row.changes}; moved {fmt_km(row.moved_km)} km, new path {fmt_km(row.new_path_km)} km, "
                        f"stops +{row.stops_added:.0f} -{row.stops_removed:.0f}")
        lines.append(f"{row.status:<9} {ident}  {name}: {detail}")
    return "\n".join(lines).rstrip()


def _stage_setting(item: str) -> tuple[str, str, Any]:
    """(stage, key, value) of a ``--set stage.key=value``; the value read as in TOML (40, 0.5, "text")."""
    m = re.fullmatch(r"\s*([A-Za-z_]+)\.([A-Za-z_-]+)\s*=\s*(.+?)\s*", item)
    if not m:
        raise Refused(f"--set {item}: write STAGE.KEY=VALUE, e.g. --set match.corridor_m=40")
    try:
        value = _toml().loads(f"v = {m.group(3)}")["v"]
    except _toml().TOMLDecodeError:
        value = m.group(3)  # a word: a text
    return m.group(1), m.group(2).replace("-", "_"), value


def _toml():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib


def _settings(config_file: str | None) -> dict:
    if not config_file:
        return {}
    tomllib = _toml()
    with open(config_file, "rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as e:
            raise click.UsageError(f"{config_file}: {e}") from e
    fold = lambda table: {k.replace("-", "_"): fold(v) if isinstance(v, dict) else v  # noqa: E731
                          for k, v in table.items()}
    return fold(data.get("build", data))


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
    if ledger is None and os.path.isfile(os.path.join(os.path.dirname(os.path.abspath(feed)), "traces.csv")):
        ledger = os.path.join(os.path.dirname(os.path.abspath(feed)), "traces.csv")
    read_from = (feed, *([ledger] if ledger else []))
    if out:
        _safe_out_dir(out, read_from)
    with _failures_exit(lambda: None):
        table = pd.read_csv(ledger, dtype=str, keep_default_na=False) if ledger else None
        try:
            with _working(ctx, "computing the statistics"):
                result = feed_stats(feed, ledger=table)
        except FeedError as e:
            log.debug("unusable feed", exc_info=True)
            click.echo(f"{feed}: not a usable GTFS feed: {e}", err=True)
            sys.exit(EXIT_ERRORS)
        if out:
            report = None
            path = os.path.join(os.path.dirname(os.path.abspath(feed)), "report.json")
            if ledger and os.path.isfile(path):
                with open(path, "rb") as fh:
                    report = msgspec.json.decode(fh.read())
            try:
                write_dir_atomic(out, stats_files(result, report=report), inputs=read_from)
            except UnsafeOutputError as e:
                raise Refused(str(e)) from e
    if fmt == "json":
        click.echo(to_json(result.to_dict()).decode(), nl=False)
    elif fmt == "csv":
        click.echo(frame_csv(result.routes).decode(), nl=False)
    elif not ctx.meta.get("quiet"):
        click.echo(render_stats(result))


def render_stats(result) -> str:
    """The statistics as a short text summary."""
    n = result.network
    lines = [
        f"service day {n['date'] or '(no calendar)'}: {n['routes']:,} routes, {n['patterns']:,} patterns, "
        f"{n['directions']:,} directions, {n['stops']:,} stops, {n['operators']:,} operators",
        f"route-km {n['route_km']:,.1f} one direction, {n['route_km_both_directions']:,.1f} both; "
        f"road-km covered {n['unique_road_km']:,.1f}; area within {n['served_radius_m']:.0f} m of a stop "
        f"{n['area_served_km2']:,.1f} km2",
        f"departures a day {n['departures']:,}; vehicles needed "
        + (f"{n['vehicles_needed']:,}" if n["vehicles_needed"] is not None else "- (no headways)")
        + f"; routes with a fare {n['routes_with_fare']:,}, with a headway {n['routes_with_headway']:,}",
        *([f"routes listed but not run that day: {', '.join(n['routes_without_service'])}"]
          if n["routes_without_service"] else []),
        "",
        f"{'distribution':<22}{'n':>6}{'min':>9}{'p10':>9}{'median':>9}{'p90':>9}{'max':>9}",
    ]
    for r in result.distributions.itertuples():
        label = f"{r.metric} ({r.unit})"
        vals = "".join(f"{figure(v):>9}" if v == v else f"{'-':>9}" for v in (r.min, r.p10, r.median, r.p90, r.max))
        lines.append(f"{label:<22}{r.n:>6}{vals}")
    if len(result.corridors):
        lines += ["", "corridors shared by most routes:"]
        for c in result.corridors.head(5).itertuples():
            ids = ", ".join(c.route_ids[:6]) + (", ..." if len(c.route_ids) > 6 else "")
            lines.append(f"  {c.corridor_id}: {c.routes} routes over {c.length_m:,.0f} m ({ids})")
    if result.coverage is not None:
        c = result.coverage
        lines += ["", f"survey: {c['inputs']:,} inputs, {c['used']:,} used, {c['quarantined']:,} quarantined "
                      f"({c['quarantined_share']:.1%}), {c['duplicate']:,} duplicate; {c['collectors']} collectors; "
                      f"{len(c['routes_seen_once'])} routes seen once, {len(c['routes_one_direction'])} in one "
                      "direction only"]
        if c["quarantine_reasons"]:
            lines.append("  quarantined because: " + ", ".join(f"{k} {v}" for k, v in c["quarantine_reasons"].items()))
    bad = [a for a in result.agreement if not a["agree"]]
    lines += ["", "checks against gtfs-kit: " + ("all agree" if not bad else
              "; ".join(f"{a['figure']}: {a['transitmap']} vs {a['gtfs_kit']}" for a in bad))]
    return "\n".join(lines)


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


if __name__ == "__main__":  # pragma: no cover
    entry()

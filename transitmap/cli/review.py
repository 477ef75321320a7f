"""``transitmap review``: corrections made by hand, kept in the survey workspace."""

from __future__ import annotations

import sys
from datetime import datetime
from datetime import timezone as tz

import click

from .. import workspace as ws
from ..errors import WorkspaceError
from ..report import (
    to_json,
)
from ..review import Correction
from .options import (
    EXIT_USAGE,
    Refused,
    SurveyOrder,
    format_option,
    verbosity,
    workspace_call,
)
from .render import (
    count,
    describe,
    render_review_progress,
)


@click.group("review", cls=SurveyOrder)
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
    workspace_call(ws.settings, survey_dir)
    ctx.obj = survey_dir


def _record(survey_dir: str, made: list, fmt: str) -> None:
    try:
        done = ws.add_corrections(survey_dir, made, now=datetime.now(tz.utc))
    except WorkspaceError as e:  # nothing recorded: one line that says what is wrong and where to look
        raise Refused(str(e)) from e
    if fmt == "json":
        click.echo(to_json([{**c.__dict__} for c in done]).decode(), nl=False)
    elif not click.get_current_context().meta.get("quiet"):
        for c in done:
            click.echo(f"correction {c.correction_id}: {describe(c.__dict__)} (applied by the next build)")


def refused(edits: ws.LayerEdits) -> None:
    """Say on stderr which edits of the layers mean nothing (they stay there until mended or emptied)."""
    for r in edits.refused:
        click.echo(f"warning: layer {r['layer']}, {r['key']}, {r['field']} = {r['value']!r} is not recorded: "
                   f"{r['why']}", err=True)


@review_cmd.command("list")
@verbosity
@click.option("--all", "all_", is_flag=True, help="Also the corrections undone or replaced.")
@format_option
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
    refused(picked)
    if picked.recorded:
        click.echo(f"recorded {count(len(picked.recorded), 'edit')} made in the layers")
    for r in rows:
        state = r["outcome"] or "not built yet"
        click.echo(f"{r['correction_id']:>4}  {describe(r)}  [{r['source']}, {r['made_utc'][:16]}]  {state}"
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
@format_option
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
@format_option
@click.pass_obj
def review_merge(survey_dir, kind, target, into, reason, fmt):
    """Merge a route into another (its patterns become the other's) or a stop into another."""
    _record(survey_dir, [Correction(kind, target, "merge", value=into, reason=reason)], fmt)


@review_cmd.command("drop")
@verbosity
@click.argument("kind", type=click.Choice(["route", "stop"]))
@click.argument("target")
@click.option("--reason", default="", help="Why (kept with the correction).")
@format_option
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
@format_option
@click.pass_obj
def review_assign(survey_dir, trace_ids, route, reason, fmt):
    """Put rides in a route by hand: they join it and no other, whatever their paths and names."""
    _record(survey_dir, [Correction("ride", t, "assign", value=route, reason=reason) for t in trace_ids], fmt)


@review_cmd.command("exclude")
@verbosity
@click.argument("trace_ids", nargs=-1, required=True)
@click.option("--reason", required=True, help="Why (the ledger and report say it).")
@format_option
@click.pass_obj
def review_exclude(survey_dir, trace_ids, reason, fmt):
    """Leave rides out of the build (the wrong taxi, a test ride): quarantined as ride_excluded with the reason."""
    _record(survey_dir, [Correction("ride", t, "exclude", reason=reason) for t in trace_ids], fmt)


@review_cmd.command("undo")
@verbosity
@click.argument("correction_ids", nargs=-1, required=True, type=int)
@format_option
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

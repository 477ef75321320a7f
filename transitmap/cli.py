"""The ``transitmap`` command line: parses options, calls one library function, renders the result.

Exit codes: 0 = no ERROR; 1 = some input was quarantined (an ERROR notice); 2 = usage error;
3 = transitmap itself failed (a bug: please report it).
"""

from __future__ import annotations

import logging
import sys
from collections import Counter, defaultdict

import click

from . import __version__
from . import notices as N
from .pipeline import validate_inputs
from .report import to_json, write_atomic

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_FAILURE = 0, 1, 2, 3
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="transitmap")
@verbosity
def main() -> None:
    """Turn field recordings of informal transit into validated traces, GTFS and network statistics.

    Exit codes: 0 ok; 1 some input was quarantined (an ERROR notice); 2 usage error; 3 transitmap failed.
    """
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def _progress(ctx: click.Context, desc: str):
    """A progress callback drawing a bar on stderr, or None when quiet or stderr is not a terminal."""
    if ctx.meta.get("quiet") or not sys.stderr.isatty():
        return None, lambda: None
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit="file", file=sys.stderr, leave=False)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return update, bar.close


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Summary on stdout as a text table or as the JSON report.")
@click.option("--out", "out", type=click.Path(dir_okay=False), help="Also write the JSON report to this file.")
@verbosity
@click.pass_context
def validate(ctx: click.Context, paths: tuple[str, ...], fmt: str, out: str | None) -> None:
    """Check collector recordings (files, folders, .zip) and say, trace by trace, what is usable.

    Exit code 0 when no trace is quarantined, 1 when some is, 2 on usage errors, 3 on a failure of
    transitmap itself.
    """
    progress, close = _progress(ctx, "validating")
    try:
        run = validate_inputs(paths, progress=progress)
    except Exception as e:  # pragma: no cover - a bug: say so and exit 3, never a raw traceback
        close()
        log.debug("failure", exc_info=True)
        click.echo(f"transitmap failed: {type(e).__name__}: {e} (run with -vv for the traceback)", err=True)
        sys.exit(EXIT_FAILURE)
    close()
    report = run.to_report(__version__)
    if out:
        write_atomic(out, to_json(report))
    if fmt == "json":
        click.echo(to_json(report).decode(), nl=False)
    elif not ctx.meta.get("quiet"):
        click.echo(render_text(report, verbose=ctx.meta.get("verbose", 0)))
    sys.exit(EXIT_ERRORS if run.has_errors else EXIT_OK)


def render_text(report: dict, *, verbose: int = 0) -> str:
    """The validation report as text tables: totals, notices per severity and code, files with problems."""
    s = report["summary"]
    lines = [
        f"{s['files']} files, {s['traces']} traces, {s['points']:,} points: "
        f"{s['accepted']} accepted, {s['quarantined']} quarantined, {s['duplicate']} duplicate"
        + (f" ({s['unreadable_files']} files yielded no trace)" if s["unreadable_files"] else ""),
        "",
    ]
    if report["notices"]:
        w = max(len(n["code"]) for n in report["notices"])
        lines.append(f"{'severity':<8}  {'code':<{w}}  {'count':>7}")
        for n in report["notices"]:
            lines.append(f"{n['severity']:<8}  {n['code']:<{w}}  {n['total_notices']:>7}")
        lines.append("")
    per_file: dict[str, Counter] = defaultdict(Counter)
    for row in report["traces"]:
        per_file[row["file"]][row["status"]] += 1
        if verbose:
            per_file[row["file"]].update(f"  {c}" for c in row["codes"])
    shown = {f: c for f, c in per_file.items() if verbose or c["quarantined"] or c["duplicate"]}
    if shown:
        lines.append("files" + ("" if verbose else " with quarantined or duplicate traces") + ":")
        limit = None if verbose else 30
        for f in sorted(shown)[:limit]:
            c = shown[f]
            codes = sorted(k.strip() for k in c if k.startswith("  "))
            lines.append(f"  {f}: {c['accepted']} accepted, {c['quarantined']} quarantined, {c['duplicate']} duplicate"
                         + (f"  [{', '.join(codes)}]" if codes else ""))
        if limit and len(shown) > limit:
            lines.append(f"  ... and {len(shown) - limit} more (-v lists all)")
    return "\n".join(lines).rstrip() + "\n"


@main.command("notices")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text", show_default=True)
def notices_cmd(fmt: str) -> None:
    """List every notice code transitmap can report, with its severity and meaning."""
    if fmt == "markdown":
        click.echo(N.catalogue_markdown(), nl=False)
    elif fmt == "json":
        import msgspec

        items = [{"code": c.code(), "severity": c.severity.name, "description": " ".join((c.__doc__ or "").split()),
                  "fields": N.notice_fields(c)} for c in N.catalogue()]
        click.echo(msgspec.json.format(msgspec.json.encode(items), indent=2).decode())
    else:
        cat = N.catalogue()
        w = max(len(c.code()) for c in cat)
        for c in cat:
            click.echo(f"{c.severity.name:<8} {c.code():<{w}}  {' '.join((c.__doc__ or '').split())}")


if __name__ == "__main__":  # pragma: no cover
    main()

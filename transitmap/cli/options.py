"""What the commands share: options, progress, refusals, exit codes and the turning of failures into them."""

from __future__ import annotations

import contextlib
import logging
import sys
import threading

import click
from tqdm import tqdm

from ..engine import DaskEngine
from ..errors import FeedError, TransitmapError, UnsafeOutputError, WorkspaceError
from ..report import (
    check_output_dir,
    check_output_file,
)

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
INTERRUPTED = "interrupted: outputs are written whole or not at all; what was there before is as it was"


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


class SurveyOrder(click.Group):
    """Commands listed in the order a survey uses them, not alphabetically."""

    ORDER = ("init", "import", "status", "validate", "build", "review", "stats", "diff", "plan", "notices",
             "list", "set", "merge", "drop", "assign", "exclude", "undo")

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: (self.ORDER.index(n) if n in self.ORDER else len(self.ORDER), n))



def progress_bar(ctx: click.Context, desc: str, unit: str = "file"):
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
def working(ctx: click.Context, desc: str):
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
                        help="Where reading, checking and cleaning each trace, and matching each region, run: on "
                             "this machine's cores, or on a Dask cluster (pip install 'transitmap[dask]'). The "
                             "output is the same.")(f)


@contextlib.contextmanager
def engine_for(name: str, address: str | None):
    """The engine to run the per-trace stages on (None: this process)."""
    if name != "dask":
        yield None
        return
    try:
        import distributed  # noqa: F401  (Dask is an optional extra: imported only when asked for)
    except ImportError as e:
        raise click.UsageError("--engine dask needs Dask: pip install 'transitmap[dask]'") from e
    # Dask's own log (the scheduler starting, workers joining, clients leaving) only with -vv; its warnings
    # unless -q
    level = logging.getLogger("transitmap").getEffectiveLevel()
    logging.getLogger("distributed").setLevel(logging.INFO if level <= logging.DEBUG else max(level, logging.WARNING))
    with DaskEngine(address) as engine:
        yield engine


@contextlib.contextmanager
def failures_exit(close):
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


def safe_out_dir(out: str, inputs) -> None:
    """Refuse (exit 2, one line that says what to do) an output folder that would destroy something."""
    try:
        check_output_dir(out, inputs=inputs)
    except UnsafeOutputError as e:
        raise Refused(str(e)) from e


def safe_out_file(out: str, inputs) -> None:
    """Refuse (exit 2) an output file that is an input, inside an input folder, a folder, or a file transitmap
    did not write (``report.check_output_file``)."""
    try:
        check_output_file(out, inputs=inputs)
    except UnsafeOutputError as e:
        raise Refused(str(e)) from e


def workspace_call(fn, *args, **kwargs):
    """Call a workspace function; a folder that is not a workspace is a usage error (exit 2)."""
    try:
        return fn(*args, **kwargs)
    except WorkspaceError as e:
        raise click.UsageError(str(e)) from e


format_option = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                    help="On stdout: text, or JSON.")
log = logging.getLogger("transitmap")

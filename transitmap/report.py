"""Render the report model and write outputs atomically."""

from __future__ import annotations

import base64
import csv
import ctypes
import html
import io
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import msgspec
import numpy as np
import pandas as pd
import pyogrio
import shapely

from .engine import map_local
from .errors import UnsafeOutputError
from .geo import project, utm_crs
from .model import HeadwayRow, TraceRow, gtfs_time


def figure(v: float) -> str:
    """A figure for people: three significant digits, never in exponent notation (``1,210``, ``45.3``, ``0.133``)."""
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


def to_json(report: dict[str, Any]) -> bytes:
    """Stable JSON: sorted keys, two-space indent, a final newline (byte-identical for equal reports)."""
    return msgspec.json.format(msgspec.json.encode(report, order="sorted"), indent=2) + b"\n"


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # as a plain open() would create it, not mkstemp's 0600
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False where that is not available."""

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: The file every output folder holds: it says transitmap wrote the folder, and lists what it wrote. A folder
#: is replaced only when it is empty or holds this file and nothing else than the files it lists.
OUTPUT_MARKER = ".transitmap-output"
_MARKER_HEADER = "transitmap output folder: each build replaces it whole. Files written:\n"


def _inside(path: Path, folder: Path) -> bool:
    """True when ``path`` is ``folder`` or lies below it (both resolved)."""
    return path == folder or folder in path.parents


def _written_by_us(folder: Path) -> list[str]:
    """The entries of an existing folder that transitmap did not write there (empty: it may be replaced)."""
    try:
        marker = (folder / OUTPUT_MARKER).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        marker = ""
    listed = set(marker[len(_MARKER_HEADER):].splitlines()) if marker.startswith(_MARKER_HEADER) else set()
    foreign = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            rel = (Path(root) / name).relative_to(folder).as_posix()
            if rel != OUTPUT_MARKER and rel not in listed:
                foreign.append(rel)
    return sorted(foreign)


def check_output_dir(path: str | os.PathLike, *, inputs=(), workspace_file: str = "survey.gpkg") -> None:
    """Raise :class:`UnsafeOutputError` unless ``path`` may be replaced by an output folder.

    Allowed: a folder that does not exist, an empty one, or one transitmap wrote (its marker file lists every
    file in it). Refused: the current folder or one holding it; an input, a folder holding an input or one
    inside an input folder; a survey workspace (a folder with ``workspace_file``); a file; a folder holding
    anything transitmap did not write there."""

    shown = os.fspath(path)
    real = Path(os.path.realpath(path))
    if _inside(Path(os.getcwd()).resolve(), real):
        raise UnsafeOutputError(f"{shown} is the current folder or holds it: name a new folder for the outputs, "
                                "such as out/")
    for given in inputs:
        inp = Path(os.path.realpath(given))
        if _inside(inp, real):
            raise UnsafeOutputError(f"{shown} holds the input {given}: name a folder outside the inputs, such as "
                                    "out/")
        if inp.is_dir() and not (inp / workspace_file).is_file() and _inside(real, inp):  # a workspace reads
            # only its own file, so out/ inside it is fine
            raise UnsafeOutputError(f"{shown} is inside the input folder {given}, where the next run would read "
                                    "its outputs as recordings: name a folder outside the inputs")
    if not real.exists():
        return
    if not real.is_dir():
        raise UnsafeOutputError(f"{shown} is a file, not a folder: name a folder for the outputs")
    if (real / workspace_file).exists():
        raise UnsafeOutputError(f"{shown} is a survey workspace (it holds {workspace_file}): write the outputs "
                                f"to another folder, such as {os.path.join(shown, 'out')}")
    foreign = _written_by_us(real)
    if foreign:
        listed = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise UnsafeOutputError(f"{shown} holds files transitmap did not write ({listed}), and every run "
                                "replaces its output folder whole: name a new or empty folder")


#: How the pages and text diffs transitmap writes with ``--out`` begin (JSON reports name the version that
#: wrote them): an existing file is replaced only when it is one of them.
_OWN_PAGE = re.compile(rb'\A(?:<!DOCTYPE html>\s*<html[^>]*><head>[^<]*(?:<meta [^>]*>\s*)*'
                       rb'<meta name="generator" content="transitmap">|old: \d+ routes, \d+ stops, )')


def written_by_transitmap(path: str | os.PathLike) -> bool:
    """True when the file at ``path`` is one transitmap wrote with ``--out``: a JSON report (an object with
    ``transitmap_version``), an HTML page (its ``generator``) or a text diff of its own."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
            if head.lstrip().startswith(b"{"):
                doc = msgspec.json.decode(head + fh.read())
                return isinstance(doc, dict) and "transitmap_version" in doc
    except (OSError, msgspec.DecodeError):
        return False
    return bool(_OWN_PAGE.match(head))


def check_output_file(path: str | os.PathLike, *, inputs=()) -> None:
    """Raise :class:`UnsafeOutputError` unless ``path`` may be written by a command's ``--out``: a new file
    outside the inputs, or one transitmap wrote before (:func:`written_by_transitmap`). Refused: an input, a
    file inside an input folder (the next run would read it), a folder, any other existing file."""

    shown = os.fspath(path)
    real = Path(os.path.realpath(path))
    if real.is_dir():
        raise UnsafeOutputError(f"--out {shown} is a folder: name a file")
    for given in inputs:
        inp = Path(os.path.realpath(given))
        if real == inp:
            raise UnsafeOutputError(f"--out {shown} is the input {given}: name another file")
        if inp.is_dir() and _inside(real, inp):
            raise UnsafeOutputError(f"--out {shown} is inside the input folder {given}, where the next run would "
                                    "read it as a recording: name a file outside the inputs")
    if real.exists() and not written_by_transitmap(real):
        raise UnsafeOutputError(f"--out {shown} exists and transitmap did not write it: name a new file, or move "
                                "that one away first")


def write_dir_atomic(path: str | os.PathLike, files: dict[str, bytes], *, inputs=()) -> None:
    """Write a folder of files so that ``path`` holds the complete old output or the complete new one: the
    new folder is written beside it, then swapped in; a run that fails before leaves the old one untouched.

    The folder gets a marker file listing what was written; an existing ``path`` is replaced only where
    :func:`check_output_dir` allows it (else :class:`~transitmap.errors.UnsafeOutputError`)."""

    path = Path(path)
    check_output_dir(path, inputs=inputs)
    files = {**files, OUTPUT_MARKER: (_MARKER_HEADER + "".join(f"{n}\n" for n in sorted(files))).encode()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.new-", dir=path.parent))
    os.chmod(tmp, 0o777 & ~_umask())  # as mkdir would make it, not mkdtemp's 0700
    try:
        for name, data in files.items():
            target = tmp / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        if path.exists() and _exchange(tmp, path):  # one step: no moment without a complete output
            shutil.rmtree(tmp, ignore_errors=True)
        elif path.exists():  # no renameat2 (not Linux): two renames, the old folder kept until the second
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.rename(path, old / "x")
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def failed_dir(path: str | os.PathLike) -> Path:
    """Where a failed build writes what it has (its report, ledger and any feed the validator rejected):
    beside the output folder, never in it, so the last good output stays as it was (``out`` ->
    ``out.failed``)."""
    path = Path(os.path.abspath(path))
    return path.with_name(path.name + ".failed")


def clear_failed(path: str | os.PathLike) -> bool:
    """Remove the ``failed_dir`` of ``path`` after a build that succeeded, where transitmap wrote all of it
    (else it is left alone). True when it was removed."""
    failed = failed_dir(path)
    if not (failed / OUTPUT_MARKER).is_file() or _written_by_us(failed):
        return False
    shutil.rmtree(failed, ignore_errors=True)
    return True


def to_csv(rows: list, columns: list[str]) -> bytes:
    """Rows (dicts, or the rows of ``model``: ``TraceRow``, ``HeadwayRow``) as CSV (fixed columns, lists joined
    with ';'), UTF-8, LF line ends."""

    buf = io.StringIO()
    w = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        values = row if isinstance(row, dict) else {k: getattr(row, k) for k in columns}
        w.writerow({k: ";".join(v) if isinstance(v, (list, tuple)) else v for k, v in values.items()})
    return buf.getvalue().encode("utf-8")


@dataclass(frozen=True)
class BuildBeside:
    """What a build wrote beside its feed, for ``transitmap stats``: the ledger (``traces.csv``, or the one
    given) and, with a ledger, the build's report.json (its validation findings for the page)."""

    ledger_path: str | None
    report_path: str | None

    def ledger(self) -> pd.DataFrame | None:
        return pd.read_csv(self.ledger_path, dtype=str, keep_default_na=False) if self.ledger_path else None

    def report(self) -> dict[str, Any] | None:
        return msgspec.json.decode(Path(self.report_path).read_bytes()) if self.report_path else None


def build_beside(feed: str | os.PathLike, ledger: str | None = None) -> BuildBeside:
    """The ledger and report a build wrote beside ``feed`` (``ledger``: one given instead)."""
    folder = Path(os.path.abspath(feed)).parent
    if ledger is None and (folder / "traces.csv").is_file():
        ledger = str(folder / "traces.csv")
    report = folder / "report.json"
    return BuildBeside(ledger, str(report) if ledger and report.is_file() else None)


def ledger_csv(rows: list[TraceRow]) -> bytes:
    """``traces.csv``: the ledger of a build, a row per input trace."""
    return to_csv(rows, ["trace_id", "file", "status", "codes", "route_id", "direction_id", "trip_id", "ride",
                         "collector", "points", "points_kept"])


def headways_csv(rows: list[HeadwayRow]) -> bytes:
    """``headways.csv``: the headway of each trip by time band, with its provenance, and where the trip's
    travel times come from (``PatternTimes.travel_times``) and on how many rides."""

    rows = [replace(r, start_time=gtfs_time(r.start_time), end_time=gtfs_time(r.end_time)) for r in rows]
    return to_csv(rows, ["route_id", "direction_id", "trip_id", "start_time", "end_time", "headway_s", "provenance",
                         "samples", "travel_times", "timed_rides"])


# --------------------------------------------------------------------------- statistics, report, figures, layers

#: Colours of the map and the legend: a route's shortest headway of the day (band median), in minutes
HEADWAY_CLASSES = ((5, "up to 5 min", "#1a9850"), (10, "5-10 min", "#91cf60"), (15, "10-15 min", "#fee08b"),
                   (30, "15-30 min", "#fc8d59"), (float("inf"), "over 30 min", "#d73027"))
NO_HEADWAY = ("no headway", "#7570b3")


def headway_colour(minutes: float | None) -> str:
    if minutes is None or not np.isfinite(minutes):
        return NO_HEADWAY[1]
    return next(c for limit, _, c in HEADWAY_CLASSES if minutes <= limit)


def stats_files(stats, *, report: dict[str, Any] | None = None, traces: list | None = None,
                title: str = "transitmap network report", workers: int | None = None) -> dict[str, bytes]:
    """The files of a statistics run, by relative path: ``stats/`` (stats.json and CSV tables),
    ``figures/`` (PNG), ``report.html`` (self-contained) and ``network.gpkg`` (layers for QGIS).

    ``report`` is a build's report model (validation findings); ``traces`` the build's trace outlines
    ``(trace_id, status, codes, route_id, lat, lon)``, for the map and the traces layer. The page (with its
    figures) and the layers are made side by side on ``workers`` processes (default: one per core)."""

    (figures, page), layers = map_local(_report_part, ["page", "layers"], workers,
                                        shared=(stats, report, traces or [], title))
    files = {
        "stats/stats.json": to_json(stats.to_dict()),
        "stats/routes.csv": frame_csv(stats.routes),
        "stats/headways.csv": frame_csv(stats.headways),
        "stats/distributions.csv": frame_csv(stats.distributions),
        "stats/corridors.csv": frame_csv(stats.corridors),
        **{f"figures/{name}": data for name, data in figures.items()},
        "report.html": page,
        "network.gpkg": layers,
    }
    return files


def _report_part(inputs: tuple, part: str):
    """The layers (``network.gpkg``), or the figures and the page that shows them (its map in the statistics'
    UTM zone)."""

    stats, report, traces, title = inputs
    if part == "layers":
        return geopackage(stats, traces)
    traces = [(t.trace_id, t.status, t.codes, t.route_id, *project(t.lat, t.lon, stats.epsg)) for t in traces]
    figures = figure_files(stats)
    return figures, report_html(stats, figures, report=report, traces=traces, title=title).encode("utf-8")


def frame_csv(df) -> bytes:
    df = df.copy()
    for c in df.columns:
        if df[c].map(lambda v: isinstance(v, (list, tuple))).any():
            df[c] = df[c].map(lambda v: ";".join(map(str, v)) if isinstance(v, (list, tuple)) else v)
        elif df[c].dtype.kind == "f":
            df[c] = df[c].round(4)
    return df.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _matplotlib():
    # imported when a figure is drawn: matplotlib takes 0.33 s to import, every command would pay it
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.hashsalt": "transitmap", "figure.dpi": 100, "font.size": 10})
    return plt


def _png(fig) -> bytes:

    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None}, bbox_inches="tight")
    fig.clf()
    return buf.getvalue()


def figure_files(stats) -> dict[str, bytes]:
    """PNG figures for slides: the network map and the distributions (route length, headway, fare per km,
    stop spacing)."""
    from matplotlib.collections import LineCollection

    plt = _matplotlib()
    out = {}
    fig, ax = plt.subplots(figsize=(8, 8))
    lines = _map_lines(stats)
    if lines:  # one artist for all lines, each simplified to a tenth of a pixel of the 800-pixel map
        geoms = np.array([g for g, _, _ in lines], dtype=object)
        xmin, ymin, xmax, ymax = shapely.total_bounds(geoms)
        simple = shapely.simplify(geoms, max(xmax - xmin, ymax - ymin, 1.0) / 8000, preserve_topology=False)
        ax.add_collection(LineCollection([np.asarray(g.coords) for g in simple], linewidths=1.2,
                                         colors=[headway_colour(minutes) for _, minutes, _ in lines]))
        ax.autoscale_view()
    ax.set_aspect("equal")
    ax.set_axis_off()
    handles = [plt.Line2D([], [], color=c, label=label) for _, label, c in HEADWAY_CLASSES]
    handles.append(plt.Line2D([], [], color=NO_HEADWAY[1], label=NO_HEADWAY[0]))
    ax.legend(handles=handles, title="shortest headway", loc="lower left", fontsize=8)
    ax.set_title(f"{stats.network['routes']} routes, {stats.network['route_km']:.0f} route-km")
    out["network_map.png"] = _png(fig)
    plt.close(fig)
    sources = {
        "route_length_km.png": (stats.routes["length_km"], "route length (km, one direction)"),
        "headway_min.png": (stats.headways["headway_median_min"],
                            "headway (min, median per route, direction and band)"),
        "fare_per_km.png": (stats.routes["fare_per_km"], "fare per km"),
        "stop_spacing_m.png": (stats.routes["stop_spacing_m"], "mean stop spacing of a route (m)"),
    }
    for name, (series, label) in sources.items():
        v = np.asarray(series.dropna(), dtype=float)
        v = v[np.isfinite(v)]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        if len(v):
            ax.hist(v, bins=min(30, max(5, len(v) // 3)), color="#4575b4", edgecolor="white")
            ax.axvline(float(np.median(v)), color="#d73027", linestyle="--",
                       label=f"median {figure(float(np.median(v)))}")
            ax.legend()
        else:
            ax.text(0.5, 0.5, "no data in this feed", ha="center", va="center", transform=ax.transAxes)
        ax.set_xlabel(label)
        ax.set_ylabel("count")
        out[name] = _png(fig)
        plt.close(fig)
    return out


def _map_lines(stats):
    """(UTM line, shortest headway in min, route_id) of every pattern, main patterns last (drawn on top)."""
    peak = stats.routes.set_index("route_id")["headway_peak_min"]
    shapes = stats.shapes.sort_values(["main", "route_id", "direction_id", "shape_id"], kind="stable")
    return [(g, peak.get(r), r) for g, r in zip(shapes["geometry"], shapes["route_id"]) if g is not None]


def report_html(stats, figures: dict[str, bytes], *, report: dict | None = None, traces: list | None = None,
                title: str = "transitmap network report") -> str:
    """One self-contained HTML page: summary, validation findings, the network map, distributions,
    corridors, survey coverage and the route table. No external resources."""

    e = html.escape
    net = stats.network
    cards = [("routes", f"{net['routes']:,}"), ("route-km (one direction)", f"{net['route_km']:,.0f}"),
             ("route-km (both)", f"{net['route_km_both_directions']:,.0f}"),
             ("road-km covered", f"{net['unique_road_km']:,.0f}"), ("stops", f"{net['stops']:,}"),
             (f"area within {net['served_radius_m']:.0f} m of a stop", f"{net['area_served_km2']:,.0f} km²"),
             ("departures a day", f"{net['departures']:,}"),
             ("vehicles needed", f"{net['vehicles_needed']:,}" if net["vehicles_needed"] else "-"),
             ("operators", f"{net['operators']:,}")]
    parts = [f"<h1>{e(title)}</h1>",
             f"<p class=note>Service day {e(str(net['date'] or 'not given'))}; bounding box "
             f"{', '.join(f'{v:.4f}' for v in net['bbox'])} (lon/lat).</p>",
             '<div class="cards">' + "".join(f"<div><b>{v}</b><span>{e(k)}</span></div>" for k, v in cards) + "</div>"]
    if report is not None:
        parts.append(_findings_html(report))
    if report is not None and report.get("review"):
        r = report["review"]
        changed = r["routes_changed_since_review"]
        parts.append("<h2>Review</h2><p>Corrections made by hand: "
                     f"{r['corrections']:,}, {r['applied']:,} applied, {r['stale']:,} stale (see "
                     "<code>correction_stale</code>); routes reviewed: "
                     f"{r['routes_reviewed']:,}" + (f", changed since their review: {e(', '.join(changed))}" if changed
                                                    else "") +
                     f"; rides put in a route by hand: {r['rides_assigned']:,}, excluded: {r['rides_excluded']:,}, "
                     f"of routes dropped: {r['rides_of_dropped_routes']:,}.</p>")
    parts.append("<h2>Map</h2>" + _map_svg(stats, traces))
    parts.append("<h2>Distributions</h2>" + _table(stats.distributions, digits=2))
    parts.append('<div class="figs">' + "".join(
        f'<img alt="{e(name)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'
        for name, data in figures.items() if name != "network_map.png") + "</div>")
    parts.append(f"<h2>Corridors shared by most routes</h2><p class=note>Stretches of at least "
                 f"{net['corridor_min_m']:.0f} m where the same routes run within {net['corridor_tolerance_m']:.0f} m "
                 "of each other, side by side.</p>"
                 + _table(stats.corridors.assign(route_ids=stats.corridors["route_ids"].map(", ".join)), digits=0))
    if stats.coverage is not None:
        parts.append(_coverage_html(stats.coverage))
    cols = ["route_id", "route_short_name", "route_long_name", "length_km", "stops_0", "stops_1", "stop_spacing_m",
            "travel_time_min_0", "speed_kph", "departures", "headway_peak_min", "headway_max_min", "service_start",
            "service_end", "fare", "fare_per_km", "vehicles_needed", "rides", "collectors", "confidence"]
    parts.append("<h2>Routes</h2>" + _table(stats.routes[[c for c in cols if c in stats.routes]], digits=1))
    parts.append("<h2>Checks against gtfs-kit</h2>" + _table(pd.DataFrame(stats.agreement), digits=1))
    parts.append("<p class=note>Vehicles needed: the most trips running at once (gtfs-kit), layovers at the "
                 "terminals not counted. Headways: gaps between departures of a direction, by the band where "
                 "they start.</p>")
    return _PAGE.replace("{title}", e(title)).replace("{body}", "\n".join(parts))


def _table(df, digits: int = 1) -> str:

    if df is None or len(df) == 0:
        return "<p class=note>None.</p>"
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, float):
                v = "" if not np.isfinite(v) else f"{v:,.{digits}f}"
            elif v is None or v is pd.NA:
                v = ""
            cells.append(f"<td>{html.escape(str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _findings_html(report: dict) -> str:

    e = html.escape
    s = report.get("summary", {})
    empty = s.get("unreadable_files", 0)  # files that yielded no trace: quarantined rows without a trace
    ok = "used" if "used" in s else "accepted"
    out = [f"<h2>Validation</h2><p>{s.get('traces', 0):,} traces in {s.get('files', 0):,} files: "
           f"{s.get(ok, 0):,} {ok}, {s.get('quarantined', 0) - empty:,} quarantined, {s.get('duplicate', 0):,} "
           f"duplicate" + (f"; {empty:,} file{'' if empty == 1 else 's'} yielded no trace" if empty else "") + ".</p>"]
    if s.get("headway_bands"):
        bands = s["headway_bands"]
        said = ", ".join(f"{n:,} {p.replace('_', ' ')}" for p, n in sorted(bands.items(), key=lambda kv: -kv[1]))
        out.append(f"<p>Headways of {sum(bands.values()):,} trip-bands over the service hours ({e(said)}): "
                   "<em>extrapolated</em> bands lie beyond the hours collectors rode, their headway that of the "
                   "nearest band ridden (<code>headways.csv</code>, <code>headway_estimated</code>).</p>")
    if s.get("bands_with_own_times"):
        out.append(f"<p>{s['bands_with_own_times']:,} trip-bands run with travel times of their own (peak or off-peak "
                   f"rides took over 20 % longer or shorter than the pattern's rides together; from "
                   f"{s['rides_timing_bands']:,} rides): <code>headways.csv</code> says <em>recorded_in_band</em>, "
                   "their trips are the pattern's with the band's name (<code>R001_0_am_peak</code>).</p>")
    if s.get("used_without_timestamps"):
        trips = s.get("trips_by_travel_times", {})
        out.append(f"<p>{s['used_without_timestamps']:,} of the rides used have no timestamps (<code>no_timestamps"
                   "</code>): their paths, stops and names are used, never the hours or days of service. Travel "
                   f"times: {trips.get('recorded', 0):,} trips from rides with times, {trips.get('stop_times', 0):,} "
                   f"from the times between their stops, {trips.get('survey_speed', 0):,} estimated at the survey's "
                   "median speed (<code>headways.csv</code>, column <code>travel_times</code>).</p>")
    rows = []
    for n in report.get("notices", []):
        # no file names: they often carry a collector's name (they are in report.json and traces.csv); the
        # examples in the order of what they say, so that renaming files changes nothing here
        examples = sorted(", ".join(f"{k}={v}" for k, v in sample.items()
                                    if k not in ("code", "severity", "file", "other_file") and v not in ("", None))
                          for sample in n.get("sample_notices", []))[:3]
        rows.append(f"<tr><td class={e(n['severity'].lower())}>{e(n['severity'])}</td><td>{e(n['code'])}</td>"
                    f"<td>{n['total_notices']:,}</td><td>{'<br>'.join(e(x) for x in examples)}</td></tr>")
    if rows:
        out.append("<table><thead><tr><th>severity</th><th>code</th><th>count</th><th>examples</th></tr></thead>"
                   f"<tbody>{''.join(rows)}</tbody></table>")
    v = report.get("gtfs_validator")
    if v and v.get("ran"):
        out.append(f"<p>GTFS validator on the feed: {v['errors']} errors, {v['warnings']} warnings.</p>")
    return "\n".join(out)


def _coverage_html(c: dict) -> str:

    e = html.escape
    reasons = "".join(f"<li>{e(k)}: {v:,}</li>" for k, v in c["quarantine_reasons"].items()) or "<li>none</li>"
    return (f"<h2>Survey coverage</h2><p>{c['inputs']:,} inputs: {c['used']:,} used, {c['quarantined']:,} "
            f"quarantined ({c['quarantined_share']:.1%}), {c['duplicate']:,} duplicate, "
            f"{c['unreadable_files']:,} unreadable files; {c['collectors']:,} collectors.</p>"
            f"<p>Quarantined because:</p><ul>{reasons}</ul>"
            f"<p>Median rides per route: {c['rides_per_route_median']}. Routes seen once "
            f"({len(c['routes_seen_once'])}): {e(', '.join(c['routes_seen_once'])) or '-'}. Routes ridden in one "
            f"direction only ({len(c['routes_one_direction'])}): {e(', '.join(c['routes_one_direction'])) or '-'}.</p>")


def svg_map(groups: list[tuple[str, list[tuple]]], points: list[tuple] = (), width: int = 960) -> str:
    """Inline SVG of lines (UTM, metres) in groups drawn in order: ``groups`` = [(attributes of the <g>,
    [(line, attributes of its <path>, title)])], ``points`` = [(x, y, title)]. Drag to pan, wheel to zoom
    (the page's script)."""

    geoms = [g for _, items in groups for g, _, _ in items if g is not None]
    if not geoms:
        return "<p class=note>No shapes to draw.</p>"
    xmin, ymin, xmax, ymax = shapely.total_bounds(np.array(geoms, dtype=object))
    span = max(xmax - xmin, ymax - ymin, 1.0)
    scale = width / span
    height = int(np.ceil((ymax - ymin) * scale)) + 20
    # each line simplified to half a pixel of the map (topology does not matter for a drawing: the plain,
    # much faster Douglas-Peucker)
    simple = dict(zip(map(id, geoms), shapely.simplify(np.array(geoms, dtype=object), span / 2000,
                                                       preserve_topology=False)))

    def path(g) -> str:
        xy = np.asarray(simple[id(g)].coords)
        px = (xy[:, 0] - xmin) * scale + 10
        py = (ymax - xy[:, 1]) * scale + 10
        return "M" + " L".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py))

    out = [f'<svg id="map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width + 20} {height}" '
           f'width="100%" role="img" aria-label="network map">',
           f'<rect width="{width + 20}" height="{height}" fill="#fbfbf8"/>']
    for attributes, items in groups:
        out.append(f"<g {attributes}>")
        out += [f'<path {attrs} d="{path(g)}"><title>{html.escape(title)}</title></path>'
                for g, attrs, title in items if g is not None]
        out.append("</g>")
    if len(points):
        out.append('<g class="stops" fill="#444" fill-opacity=".7">')
        out += [f'<circle cx="{(x - xmin) * scale + 10:.1f}" cy="{(ymax - y) * scale + 10:.1f}" r="1.1">'
                f"<title>{html.escape(title)}</title></circle>" for x, y, title in points]
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)


def _map_svg(stats, traces: list | None, width: int = 960) -> str:
    """The network as inline SVG: routes coloured by their shortest headway, stops, quarantined traces
    (dashed), and with a build ledger the routes where the survey is thin (seen on one ride, or in one
    direction only) underlaid in a wide pale band; a title on each element names it."""

    lines = _map_lines(stats)
    names = stats.routes.set_index("route_id")
    groups = []
    if traces:
        groups.append(('class="traces" fill="none" stroke="#999" stroke-width="1" stroke-dasharray="4 3"', [
            (shapely.linestrings(np.column_stack([x, y])), "", f"quarantined {trace_id}: {', '.join(codes)}")
            for trace_id, status, codes, _route, x, y in traces if status == "quarantined" and len(x) >= 2]))
    thin = set()
    if "rides" in names:
        thin = set(names.index[(names["rides"] <= 1) | (names["directions"] < 2)])
        groups.append(('class="thin" fill="none" stroke="#f4a6a6" stroke-opacity=".6" stroke-width="9" '
                       'stroke-linecap="round"',
                       [(g, "", f"thin survey: {r} ({names.loc[r, 'rides']} rides, "
                                f"{names.loc[r, 'directions']} directions)")
                        for g, _, r in lines if r in thin]))
    items = []
    for g, minutes, route_id in lines:
        r = names.loc[route_id]
        label = f"{route_id} {r['route_short_name']} {r['route_long_name']}".strip()
        hw = f"{minutes:.0f} min" if minutes is not None and np.isfinite(minutes) else "no headway"
        items.append((g, f'class="route" stroke="{headway_colour(minutes)}"', f"{label} ({hw})"))
    groups.append(('class="routes" fill="none" stroke-width="2" stroke-linejoin="round"', items))
    pts = stats.stop_points
    points = [(p.x, p.y, f"{sid} {name}") for sid, name, p in zip(pts["stop_id"], pts["stop_name"], pts["geometry"])]
    svg = svg_map(groups, points, width)
    legend = "".join(f'<span><i style="background:{c}"></i>{label}</span>' for _, label, c in HEADWAY_CLASSES)
    legend += f'<span><i style="background:{NO_HEADWAY[1]}"></i>{NO_HEADWAY[0]}</span>'
    if traces:
        legend += '<span><i style="background:#999"></i>quarantined trace</span>'
    if thin:
        legend += '<span><i style="background:#f4a6a6;height:8px"></i>thin survey: one ride or one direction</span>'
    return (svg + f'<div class="legend">Shortest headway of the day: {legend}</div>'
            '<p class=note>Drag to pan, scroll to zoom, hover for names.</p>')


def diff_html(diff, *, title: str = "transitmap diff") -> str:
    """One self-contained page of a feed diff: the counts, a map (removed red dashed, added green, re-routed:
    old path grey dashed under the new one in orange, kept grey) and the route table."""

    e = html.escape
    s = diff.summary
    r = diff.routes
    style = {"kept": ('class="route kept" stroke="#bbb"', "#bbb"),
             "rerouted": ('class="route rerouted" stroke="#e67e00"', "#e67e00"),
             "added": ('class="route added" stroke="#1a9850"', "#1a9850"),
             "removed": ('class="route removed" stroke="#d73027" stroke-dasharray="5 3"', "#d73027")}

    def items(status: str, side: str, attrs: str):
        rows = r[r["status"] == status]
        lines = diff.old_lines if side == "old" else diff.new_lines
        return [(g, attrs, f"{status}: {row[side + '_id']} {row[side + '_name']} {row['changes']}".strip())
                for _, row in rows.iterrows() for g in lines.get(row[side + "_id"], [])]

    groups = [('fill="none" stroke-width="1.5"', items("kept", "new", style["kept"][0])),
              ('fill="none" stroke-width="1.5"',
               items("rerouted", "old", 'class="old" stroke="#777" stroke-dasharray="3 3"')),
              ('fill="none" stroke-width="2.5"', items("rerouted", "new", style["rerouted"][0])),
              ('fill="none" stroke-width="2.5"', items("removed", "old", style["removed"][0])),
              ('fill="none" stroke-width="2.5"', items("added", "new", style["added"][0]))]
    cards = [(k, v) for k, v in s["routes"].items()] + [(f"stops {k}", v) for k, v in s["stops"].items()]
    legend = "".join(f'<span><i style="background:{c}"></i>{k}</span>' for k, (_, c) in style.items())
    legend += '<span><i style="background:#777"></i>old path of a re-routed route</span>'
    parts = [f"<h1>{e(title)}</h1>",
             f"<p class=note>Old: {s['old']['routes']} routes, {s['old']['stops']} stops, {s['old']['route_km']:,.0f} "
             f"route-km. New: {s['new']['routes']} routes, {s['new']['stops']} stops, {s['new']['route_km']:,.0f} "
             f"route-km. Routes matched by path (within {s['settings']['near_m']:.0f} m, sharing "
             f"{s['settings']['same_route_share']:.0%} of their length); {s['matched_with_same_id']} keep their id. "
             f"Re-routed: at least {s['settings']['moved_km']:g} km of path moved.</p>",
             '<div class="cards">' + "".join(f"<div><b>{v:,}</b><span>{e(k)}</span></div>" for k, v in cards)
             + "</div>",
             "<h2>Map</h2>" + svg_map(groups) + f'<div class="legend">{legend}</div>'
             "<p class=note>Drag to pan, scroll to zoom, hover for names.</p>",
             "<h2>Routes</h2>" + _table(r, digits=2)]
    return _PAGE.replace("{title}", e(title)).replace("{body}", "\n".join(parts))


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="transitmap">
<title>{title}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;padding:0 1em;color:#222}
h2{margin-top:2em;border-bottom:1px solid #ddd}
.cards{display:flex;flex-wrap:wrap;gap:.6em}.cards div{border:1px solid #ddd;border-radius:6px;padding:.5em .8em}
.cards b{display:block;font-size:1.4em}.cards span{color:#666;font-size:.9em}
table{border-collapse:collapse;font-size:12px;margin:.5em 0;display:block;overflow-x:auto}
th,td{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}th{background:#f3f3f3}
td.error{color:#b00}td.warning{color:#a60}.note{color:#666}
#map{border:1px solid #ccc;cursor:grab;touch-action:none}.route:hover{stroke-width:5}
.legend span{margin-right:1em;white-space:nowrap}\
.legend i{display:inline-block;width:14px;height:4px;margin-right:4px;vertical-align:middle}
.figs img{max-width:49%}
</style></head><body>
{body}
<script>
(function () {
  var svg = document.getElementById("map");
  if (!svg) return;
  var vb = svg.viewBox.baseVal, drag = null;
  function point(ev) {
    var r = svg.getBoundingClientRect();
    return [vb.x + (ev.clientX - r.left) / r.width * vb.width, vb.y + (ev.clientY - r.top) / r.height * vb.height];
  }
  svg.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var p = point(ev), k = ev.deltaY < 0 ? 0.8 : 1.25;
    vb.x = p[0] - (p[0] - vb.x) * k; vb.y = p[1] - (p[1] - vb.y) * k; vb.width *= k; vb.height *= k;
  }, {passive: false});
  svg.addEventListener("pointerdown", function (ev) { drag = point(ev); svg.setPointerCapture(ev.pointerId); });
  svg.addEventListener("pointermove", function (ev) {
    if (!drag) return;
    var p = point(ev); vb.x -= p[0] - drag[0]; vb.y -= p[1] - drag[1];
  });
  svg.addEventListener("pointerup", function () { drag = null; });
  document.body.setAttribute("data-map-routes", String(svg.querySelectorAll("path.route").length));
})();
</script>
</body></html>
"""


def geopackage(stats, traces: list | None = None) -> bytes:
    """Layers for QGIS in one GeoPackage (WGS84): routes (one feature per pattern), stops, corridors and,
    from a build, traces with their status (``traces``: (trace_id, status, codes, route_id, lat, lon)).
    Timestamps inside are fixed so equal inputs give equal bytes."""



    crs = utm_crs(stats.epsg)
    r = stats.routes.set_index("route_id")
    sh = stats.shapes
    routes = gpd.GeoDataFrame({
        "route_id": sh["route_id"], "direction_id": sh["direction_id"], "shape_id": sh["shape_id"],
        "main_pattern": sh["main"], "route_short_name": sh["route_id"].map(r["route_short_name"]),
        "route_long_name": sh["route_id"].map(r["route_long_name"]), "length_km": sh["distance_m"] / 1000,
        "departures": sh["departures"], "headway_peak_min": sh["route_id"].map(r["headway_peak_min"]),
        "fare": sh["route_id"].map(r["fare"]),
        **({"confidence": sh["route_id"].map(r["confidence"])} if "confidence" in r else {}),
    }, geometry=list(sh["geometry"]), crs=crs).to_crs(4326)
    stops = gpd.GeoDataFrame(stats.stop_points.drop(columns="geometry"),
                             geometry=list(stats.stop_points["geometry"]), crs=crs).to_crs(4326)
    corr = stats.corridors.assign(route_ids=stats.corridors["route_ids"].map(";".join))
    corridors = gpd.GeoDataFrame(corr, geometry=gpd.GeoSeries(list(stats.corridor_geometry), index=corr.index, crs=crs)
                                 ).to_crs(4326)
    layers = [("routes", routes), ("stops", stops), ("corridors", corridors)]
    if traces:
        keep = [t for t in traces if len(t.lat) >= 2]
        layers.append(("traces", gpd.GeoDataFrame(
            {"trace_id": [t.trace_id for t in keep], "status": [t.status for t in keep],
             "codes": [";".join(t.codes) for t in keep], "route_id": [t.route_id for t in keep]},
            geometry=[shapely.linestrings(np.column_stack([t.lon, t.lat])) for t in keep], crs=4326)))
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2000-01-01T00:00:00Z"})
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "network.gpkg")
        for name, layer in layers:
            layer.to_file(path, layer=name, driver="GPKG", engine="pyogrio")
        with open(path, "rb") as fh:
            return fh.read()

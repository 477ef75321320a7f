"""Results as text for the terminal: reports, status, diffs and statistics (the commands print them)."""

from __future__ import annotations

from collections import Counter, defaultdict

from ..report import (
    figure,
)


def count(n: int, noun: str) -> str:
    """``1 file``, ``21 files``, ``8,123 points``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def render_text(report: dict, *, verbose: int = 0) -> str:
    """The validation report as text tables: totals, notices per severity and code, files with problems."""
    s = report["summary"]
    ok = "used" if "used" in s else "accepted"  # a build uses what validation accepts
    empty = s["unreadable_files"]  # files that yielded no trace: quarantined rows without a trace
    lines = [
        f"{count(s['files'], 'file')}, {count(s['traces'], 'trace')}, {count(s['points'], 'point')}: "
        f"{s[ok]:,} {ok}, {s['quarantined'] - empty:,} quarantined, {s['duplicate']:,} duplicate"
        + (f"; {count(empty, 'file')} yielded no trace" if empty else ""),
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


def render_status(st: dict) -> str:
    """A survey's status as text."""
    def line(label: str, c: dict) -> str:
        why = ", ".join(f"{k} {v}" for k, v in c["quarantine_reasons"].items())
        return (f"{label}: {count(c['traces'], 'trace')}, {c['accepted']:,} accepted, {c['quarantined']:,} quarantined"
                + (f" ({why})" if why else "") + f", {count(c['duplicates'], 'duplicate')}, "
                f"{count(c['points'], 'point')}")

    sv = st["survey"]
    out = [f"survey \"{sv['name']}\" (time zone {sv['timezone'] or 'from the traces'}, currency "
           f"{sv['currency'] or 'from the traces'})",
           line(f"today {st['today']}", st["today_imports"])
           + f"; {count(st['today_imports']['unreadable_files'], 'unreadable file')}",
           line("total", st["total"]) + f"; {count(st['total']['unreadable_files'], 'unreadable file')}, "
                                        f"{count(st['total']['imports'], 'import')}", "",
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
            + f"; {count(r['corrections'], 'correction')} in force: {r['applied']} applied, {r['stale']} stale"
            + (f", {r['not built yet']} not built yet" if r["not built yet"] else "")
            + f"; rides assigned by hand {r['rides_assigned']}, excluded {r['rides_excluded']}")


def describe(c: dict) -> str:
    what = {"set": f"{c['field']} = {c['value']!r}", "merge": f"merge into {c['value']}",
            "assign": f"into {c['value']}",
            "move": f"move to {c['value']}", "exclude": f"exclude ({c['reason'] or 'no reason given'})",
            "partial_of": f"partial of {c['value']}", "branch_of": f"a branch of {c['value']}"}
    return f"{c['kind']} {c['target']}: {what.get(c['action'], c['action'])}"


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


def render_journeys(journeys, origin: str, destination: str) -> str:
    """Planned journeys as a rider reads them: leave, arrive, each vehicle and each change of stop."""
    if not journeys:
        return f"no journey from {origin} to {destination} then (the feed's service, its days and hours)"
    out = []
    for j in journeys:
        minutes = round((j.arrive - j.depart).total_seconds() / 60)
        changes = j.vehicles - 1
        out.append(f"{j.depart:%a %H:%M} -> {j.arrive:%H:%M}, {minutes} min, "
                   f"{'no change' if not changes else count(changes, 'change')}")
        for leg in j.legs:
            how = "walk" if leg.walk else "ride"
            out.append(f"  {leg.depart:%H:%M} {how} from {leg.from_name} ({leg.from_stop}) to {leg.to_name} "
                       f"({leg.to_stop}), {leg.arrive:%H:%M}")
    return "\n".join(out)


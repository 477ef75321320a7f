"""``transitmap stats`` on the real feeds in ../shared/data: wall time and the headline figures, and the
HTML report of each checked in headless Chromium (rendered, routes drawn, no console message).

    python benchmarks/stats_feeds.py [--runs 3] [--no-browser]

Each run is a fresh ``transitmap stats FEED`` process (imports included), timed with and without
``--out`` (which adds report.html, figures/, network.gpkg and stats/). Best and median of the runs.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FEEDS = ["nairobi-2019", "nairobi-2014", "accra-2016"]
EXE = str(Path(sys.executable).with_name("transitmap"))


def timed(args: list[str]) -> tuple[float, str]:
    t = time.perf_counter()
    run = subprocess.run([EXE, *args], capture_output=True, text=True, check=True)
    return time.perf_counter() - t, run.stdout


def browser(report: Path) -> str:
    chromium = shutil.which("chromium")
    if chromium is None:
        return "no chromium"
    run = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
                          "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=300)
    drawn = run.stdout.split('data-map-routes="')[1].split('"')[0] if 'data-map-routes="' in run.stdout else "?"
    console = sum(":CONSOLE" in line for line in run.stderr.splitlines())
    return f"{drawn} patterns drawn, {console} console messages"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    if not SHARED.exists():
        sys.exit(f"{SHARED} is not here")
    print(f"{'feed':<14}{'routes':>7}{'route-km':>10}{'road-km':>9}{'stops':>7}{'km2':>7}{'departures':>11}"
          f"{'vehicles':>9}  {'summary s (best/median)':>24}  {'with --out s':>14}  report in Chromium")
    for name in FEEDS:
        feed = SHARED / f"{name}-gtfs.zip"
        plain = sorted(timed(["stats", str(feed)])[0] for _ in range(args.runs))
        with tempfile.TemporaryDirectory() as tmp:
            out = sorted(timed(["stats", str(feed), "--out", tmp, "-q"])[0] for _ in range(args.runs))
            n = json.loads(timed(["stats", str(feed), "--format", "json"])[1])["network"]
            seen = "skipped" if args.no_browser else browser(Path(tmp) / "report.html")
        print(f"{name:<14}{n['routes']:>7}{n['route_km']:>10.0f}{n['unique_road_km']:>9.0f}{n['stops']:>7}"
              f"{n['area_served_km2']:>7.0f}{n['departures']:>11}{n['vehicles_needed'] or '-':>9}  "
              f"{plain[0]:>11.1f} / {plain[len(plain) // 2]:<10.1f}  "
              f"{out[0]:>6.1f} / {out[len(out) // 2]:<5.1f}  {seen}")


if __name__ == "__main__":
    main()

"""The HTML report in a real headless browser (Chromium): it renders, the map draws the routes, and the page
logs nothing to the console. Skips when no Chromium is installed (CI installs Debian's)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from builders import gtfs_feed, gtfs_route

from transitmap.report import HEADWAY_CLASSES, stats_files
from transitmap.stats import feed_stats

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")


def chromium(*args: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr",
           "--v=0", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    every_10 = [("06:00:00", "20:00:00", 600)]
    feed = gtfs_feed(gtfs_route("R1", [(0, 0), (0, 10_000)], headways=every_10),
                     gtfs_route("R2", [(0, 0), (0, 4_000), (6_000, 4_000)], headways=[("06:00:00", "20:00:00", 1500)]))
    out = tmp_path_factory.mktemp("report")
    for name, data in stats_files(feed_stats(feed)).items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    return out / "report.html"


def test_report_renders_with_its_script_run_and_no_console_message(report):
    run = chromium("--dump-dom", report.as_uri())
    assert run.returncode == 0, run.stderr[-2000:]
    assert 'data-map-routes="4"' in run.stdout  # the page's script ran and found the four patterns drawn
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []


def test_the_map_shows_the_routes_in_their_headway_colours(report, tmp_path):
    import matplotlib.image

    shot = tmp_path / "shot.png"
    run = chromium("--window-size=1200,1800", f"--screenshot={shot}", report.as_uri())
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    pixels = (matplotlib.image.imread(shot)[..., :3] * 255).round().astype(int)

    def count(colour: str) -> int:
        rgb = np.array([int(colour[k : k + 2], 16) for k in (1, 3, 5)])
        return int((np.abs(pixels - rgb).sum(axis=-1) <= 30).sum())

    every_10, every_25 = HEADWAY_CLASSES[1][2], HEADWAY_CLASSES[3][2]
    # R1 runs every 10 minutes, R2 every 25: each drawn as lines hundreds of pixels long
    assert count(every_10) > 500 and count(every_25) > 500

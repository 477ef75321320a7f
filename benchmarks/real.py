"""`transitmap build` on real recordings as collectors upload them (../shared/data), scored against the labels
they carry.

    python benchmarks/real.py [--out benchmarks/_work/real]      # needs ../shared/data

- **Alajuela** (`costa-rica-alajuela-2017-gpx.zip`): OSMTracker GPX in one folder per service and direction
  (`bus_alajuela-santabarbara/`, `tren_atlántico-alajuela/` ...), most under `asistentes/<first name>_<date>.gpx`.
  Pairwise ride assignment: over all pairs of rides used, two rides are "the same route and direction" in the
  truth when their service folders are the same, in the output when the ledger gives them the same route and
  direction; precision and recall of the output's "same" pairs. Also: routes, the train's route_type, and a
  scan of every output meant for others (all but the ledger `traces.csv` and `report.json`, which stay with
  the coordinator) for the collectors' first names from the file names.
- **Khartoum** (`khartoum-2023-gpx.zip`): 64 OSMTracker GPX, one ride of one route each, named by district and
  route number (`JBL_13.gpx`); 6 are byte copies of others; 11 write their times in Arabic-Indic digits.
  Rides used, copies found as duplicates, routes whose name carries the route number of their rides' files.

Prints one JSON document of figures.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import sys
import time
import unicodedata
import zipfile
from itertools import combinations
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from transitmap.cli import main

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
PRIVATE_OUTPUTS = {"traces.csv", "report.json", ".transitmap-output"}


def build(source: Path, out: Path) -> tuple[int, float]:
    if out.exists():
        shutil.rmtree(out)
    t = time.perf_counter()
    res = CliRunner().invoke(main, ["build", str(source), "--out", str(out), "--no-validate", "-q"])
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, time.perf_counter() - t


def fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c))


def public_text(out: Path) -> list[tuple[str, str]]:
    """(name, text) of every output meant for others, zip members one by one, folded."""
    found = []
    for p in sorted(out.rglob("*")):
        if not p.is_file() or p.name in PRIVATE_OUTPUTS:
            continue
        if p.suffix == ".zip":
            with zipfile.ZipFile(p) as z:
                found += [(f"{p.name}!{n}", fold(z.read(n).decode("utf-8", "replace"))) for n in z.namelist()]
        else:
            found.append((str(p.relative_to(out)), fold(p.read_bytes().decode("utf-8", "replace"))))
    return found


def pairwise(truth: list[str], found: list[tuple]) -> dict:
    tp = fp = fn = 0
    for (ta, fa), (tb, fb) in combinations(zip(truth, found), 2):
        same_t, same_f = ta == tb, fa == fb
        tp += same_t and same_f
        fp += same_f and not same_t
        fn += same_t and not same_f
    return {"pairs": len(truth) * (len(truth) - 1) // 2, "precision": round(tp / max(tp + fp, 1), 4),
            "recall": round(tp / max(tp + fn, 1), 4)}


def alajuela(out: Path) -> dict:
    src = DATA / "costa-rica-alajuela-2017-gpx.zip"
    code, seconds = build(src, out)
    ledger = pd.read_csv(out / "traces.csv", dtype=str, keep_default_na=False)
    used = ledger[ledger.status == "used"]
    folder = used.file.str.extract(r"!alajuela-2017/([^/]+)/")[0]
    figures = pairwise(list(folder), list(zip(used.route_id, used.direction_id)))
    with zipfile.ZipFile(out / "gtfs.zip") as z:
        routes = pd.read_csv(z.open("routes.txt"), dtype=str, keep_default_na=False)
    train = set(used[folder.str.startswith("tren_")].route_id)
    with zipfile.ZipFile(src) as z:
        names = {fold(m.group(1)) for n in z.namelist()
                 for m in [re.search(r"asistentes/([^\W\d_]+)_", n.encode("cp437").decode("utf-8", "replace"))] if m}
    leaks = sorted({(name, f) for f, text in public_text(out) for name in names
                    if re.search(rf"(?<![^\W\d_]){re.escape(name)}(?![^\W\d_])", text)})
    return {"exit_code": code, "build_s": round(seconds, 1), "traces": len(ledger), "used": len(used),
            "duplicates": int((ledger.status == "duplicate").sum()), "services": int(folder.nunique()),
            "routes": len(routes), "route_directions": int(used[["route_id", "direction_id"]].drop_duplicates().shape[0]),
            "pairwise": figures, "train_route_types": sorted(set(routes[routes.route_id.isin(train)].route_type)),
            "route_names": sorted(set(routes.route_short_name + " | " + routes.route_long_name)),
            "collector_names_in_public_outputs": [f"{n} in {f}" for n, f in leaks]}


def khartoum(out: Path) -> dict:
    src = DATA / "khartoum-2023-gpx.zip"
    code, seconds = build(src, out)
    ledger = pd.read_csv(out / "traces.csv", dtype=str, keep_default_na=False)
    with zipfile.ZipFile(out / "gtfs.zip") as z:
        routes = pd.read_csv(z.open("routes.txt"), dtype=str, keep_default_na=False).set_index("route_id")
    used = ledger[ledger.status == "used"]
    number = used.file.str.extract(r"!([A-Za-z]+)_(\d+)")
    carries = []
    for rid, group in used.assign(district=number[0].str.lower(), num=number[1]).groupby("route_id"):
        name = fold(f"{routes.loc[rid, 'route_short_name']} {routes.loc[rid, 'route_long_name']}")
        carries.append(any(re.search(rf"\b{d}\W*0*{int(n)}\b", name) for d, n in zip(group.district, group.num)))
    return {"exit_code": code, "build_s": round(seconds, 1), "files": len(ledger), "used": len(used),
            "duplicates": int((ledger.status == "duplicate").sum()),
            "quarantined": sorted(set(";".join(ledger[ledger.status == "quarantined"].codes).split(";")) - {""}),
            "routes": len(routes), "routes_named_with_their_number": int(sum(carries)),
            "examples": sorted(set(routes.route_short_name + " | " + routes.route_long_name))[:8]}


def run(out: Path) -> dict:
    return {"alajuela": alajuela(out / "alajuela"), "khartoum": khartoum(out / "khartoum")}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "_work" / "real")
    args = ap.parse_args()
    if not DATA.is_dir():
        sys.exit(f"{DATA} is not there: the real recordings are in ../shared/data")
    print(json.dumps(run(args.out), indent=2, ensure_ascii=False))

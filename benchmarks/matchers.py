"""Map matchers for ``build --osm``, measured side by side: FMM (``fastmm``, what transitmap uses) and
leuvenmapmatching, on the first 20 shapes of the Accra 2016 feed (a point every 10 m) against the roads of the
Accra 2017 OpenStreetMap extract (../shared/data, OpenStreetMap contributors, ODbL 1.0).

    pip install leuvenmapmatching     # not a dependency of transitmap
    python benchmarks/matchers.py

Reports seconds per shape and the share of a shape's points each places on a road (leuvenmapmatching stops
where it finds no way on; FMM goes on from the next point it can place). Valhalla's Meili (``pyvalhalla``)
is not measured: its wheels need Python 3.12.
"""

from __future__ import annotations

import time
import zipfile

import numpy as np
import pandas as pd
from accra import DATA

from transitmap.geo import along, project
from transitmap.osm import Matcher, read_extract

EPSG = 32630  # UTM 30N: Accra


def main(n: int = 20) -> None:
    from leuvenmapmatching.map.inmem import InMemMap
    from leuvenmapmatching.matcher.distance import DistanceMatcher

    extract = read_extract(DATA / "accra-2017-osm-trotro.osm.pbf", EPSG)
    roads = InMemMap("accra", use_latlon=False, use_rtree=True, index_edges=True)
    for node, xy in extract.node_xy.items():
        roads.add_node(int(node), xy)
    for a, b, one in zip(extract.a.tolist(), extract.b.tolist(), extract.oneway.tolist()):
        if one >= 0:
            roads.add_edge(a, b)
        if one <= 0:
            roads.add_edge(b, a)
    fmm = Matcher(extract)
    with zipfile.ZipFile(DATA / "accra-2016-gtfs.zip") as z:
        shapes = pd.read_csv(z.open("shapes.txt")).sort_values(["shape_id", "shape_pt_sequence"])
    seconds, placed = {"fmm": 0.0, "leuvenmapmatching": 0.0}, {"fmm": [], "leuvenmapmatching": []}
    for _, s in list(shapes.groupby("shape_id"))[:n]:
        xy = along(np.column_stack(project(s.shape_pt_lat.to_numpy(), s.shape_pt_lon.to_numpy(), EPSG)), 10.0)
        t = time.perf_counter()
        matcher = DistanceMatcher(roads, max_dist=40, obs_noise=15, obs_noise_ne=30, dist_noise=15,
                                  non_emitting_states=True, max_lattice_width=8)
        states, _ = matcher.match([tuple(p) for p in xy])
        seconds["leuvenmapmatching"] += time.perf_counter() - t
        placed["leuvenmapmatching"].append(len(states) / len(xy))
        t = time.perf_counter()
        _, _, _, kept = fmm.match(xy)
        seconds["fmm"] += time.perf_counter() - t
        placed["fmm"].append(1 - sum(b - a + 1 for a, b in kept) / len(xy))
    for name in seconds:
        print(f"{name}: {seconds[name] / n:.3f} s a shape, {np.mean(placed[name]):.3f} of its points on a road")


if __name__ == "__main__":
    main()

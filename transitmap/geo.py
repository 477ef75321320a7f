"""Local metric projections: every distance in transitmap is measured in metres in a UTM zone."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
import shapely
from pyproj import CRS, Geod, Transformer

WGS84 = Geod(ellps="WGS84")


def utm_epsg(lat: float, lon: float) -> int:
    """EPSG code of the UTM zone holding (lat, lon)."""
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return (32700 if lat < 0 else 32600) + zone


def utm_crs(epsg: int) -> CRS:
    """The UTM zone of an EPSG code (326xx north, 327xx south), computed with PROJ's fast transverse
    Mercator series (``+approx``: Evenden/Snyder, well under a millimetre inside the zone)."""
    zone, south = epsg % 100, epsg // 100 == 327
    return CRS.from_proj4(f"+proj=utm +zone={zone}{' +south' if south else ''} +datum=WGS84 +units=m +approx +no_defs")


@lru_cache(maxsize=64)
def _to_utm(epsg: int) -> Transformer:
    return Transformer.from_crs(CRS.from_epsg(4326), utm_crs(epsg), always_xy=True)


def project(lat: np.ndarray, lon: np.ndarray, epsg: int) -> tuple[np.ndarray, np.ndarray]:
    """(x_m, y_m) of WGS84 degrees in the given UTM zone."""
    x, y = _to_utm(epsg).transform(np.asarray(lon, dtype=np.float64), np.asarray(lat, dtype=np.float64))
    return np.asarray(x), np.asarray(y)


@lru_cache(maxsize=64)
def _from_utm(epsg: int) -> Transformer:
    return Transformer.from_crs(utm_crs(epsg), CRS.from_epsg(4326), always_xy=True)


def unproject(x: np.ndarray, y: np.ndarray, epsg: int) -> tuple[np.ndarray, np.ndarray]:
    """(latitudes, longitudes) in WGS84 degrees of UTM metres of the given zone."""
    lon, lat = _from_utm(epsg).transform(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64))
    return np.asarray(lat), np.asarray(lon)


def reproject(geoms: np.ndarray, src: int, dst: int) -> np.ndarray:
    """Shapely geometries in UTM zone ``src`` moved to UTM zone ``dst``."""
    tr = Transformer.from_crs(utm_crs(src), utm_crs(dst), always_xy=True)
    return shapely.transform(geoms, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def geodesic_m(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Geodesic distance in metres (vectorised)."""
    lon1, lat1, lon2, lat2 = np.broadcast_arrays(*(np.asarray(v, float) for v in (lon1, lat1, lon2, lat2)))
    _, _, d = WGS84.inv(lon1.ravel(), lat1.ravel(), lon2.ravel(), lat2.ravel())
    return np.asarray(d).reshape(lon1.shape)


def points_at(geoms: np.ndarray, which: np.ndarray, at_m: np.ndarray) -> np.ndarray:
    """(n, 2) coordinates of the points ``at_m[k]`` metres along the line ``geoms[which[k]]`` (clamped to
    the line), for many lines at once. numpy over all vertices, O(n log n): shapely's
    ``line_interpolate_point`` walks each line from its start for every point."""
    coords, line = shapely.get_coordinates(np.asarray(geoms, dtype=object), return_index=True)
    if not len(coords):
        return np.empty((0, 2))
    step = np.hypot(*np.diff(coords, axis=0).T) * (line[1:] == line[:-1])  # no step from one line to the next
    cum = np.r_[0.0, np.cumsum(step)]  # distance along all lines, one after another
    first = np.searchsorted(line, np.arange(len(geoms)))
    last = np.searchsorted(line, np.arange(len(geoms)), side="right") - 1
    which = np.asarray(which)
    length = cum[last] - cum[first]
    at = cum[first][which] + np.clip(np.asarray(at_m, float), 0.0, length[which])
    # the segment holding each point (within its own line), and where along it
    j = np.clip(np.searchsorted(cum, at, side="right") - 1, first[which], np.maximum(last[which] - 1, first[which]))
    seg = np.append(step, 0.0)[j]
    t = np.clip(np.divide(at - cum[j], seg, out=np.zeros_like(at), where=seg > 0), 0.0, 1.0)
    nxt = np.minimum(j + 1, last[which])
    return coords[j] + t[:, None] * (coords[nxt] - coords[j])


def metres_along(xy: np.ndarray) -> np.ndarray:
    """Metres along a polyline ((n, 2) metres) at each of its vertices, 0 at the first."""
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])


def along(xy: np.ndarray, step: float) -> np.ndarray:
    """Points every ``step`` metres along a polyline, its end included (numpy, O(n))."""
    cum = metres_along(xy)
    s = np.append(np.arange(0.0, cum[-1], step), cum[-1])
    return np.column_stack([np.interp(s, cum, xy[:, 0]), np.interp(s, cum, xy[:, 1])])


def simplified(xy: np.ndarray, tolerance_m: float) -> np.ndarray:
    """Indices of the vertices of the line ``xy`` that Douglas-Peucker simplification (shapely) keeps: every
    vertex left out lies within ``tolerance_m`` of the simplified line. The ends are always kept."""
    xy = np.asarray(xy, float).reshape(-1, 2)
    if len(xy) <= 2 or tolerance_m <= 0:
        return np.arange(len(xy))
    kept = shapely.get_coordinates(shapely.simplify(shapely.linestrings(xy), tolerance_m, preserve_topology=False))
    # simplification keeps original vertices exactly: find them by value (a vertex at the same place twice
    # is kept both times, which changes nothing)
    index = np.flatnonzero(np.isin(xy[:, 0] + 1j * xy[:, 1], kept[:, 0] + 1j * kept[:, 1]))
    return distinct(np.r_[0, index, len(xy) - 1])


def segment_distance(px, py, ax, ay, bx, by) -> np.ndarray:
    """Distance (m) from points to segments a-b, broadcast (numpy; cheaper than shapely geometries for
    a trace's few stops, or for millions of pairs of points and segments at once)."""
    dx, dy = bx - ax, by - ay
    u = np.clip(((px - ax) * dx + (py - ay) * dy) / np.maximum(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
    return np.hypot(ax + u * dx - px, ay + u * dy - py)


def pairs_within(a_xy: np.ndarray, b_xy: np.ndarray, radius_m: float, *, b_tree=None) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) of every pair of points with ``a_xy[i]`` within ``radius_m`` of ``b_xy[j]`` (inclusive), from two
    KD-trees, as numpy arrays (no Python object per pair). ``b_tree``: the KD-tree of ``b_xy``, made once by a
    caller that takes ``a_xy`` in chunks."""
    from scipy.spatial import cKDTree  # here, not at the top: scipy takes 0.2 s to import, every command would pay it

    a_xy, b_xy = np.asarray(a_xy, float).reshape(-1, 2), np.asarray(b_xy, float).reshape(-1, 2)
    if not len(a_xy) or not len(b_xy):
        return np.array([], np.int64), np.array([], np.int64)
    b_tree = cKDTree(b_xy) if b_tree is None else b_tree
    found = cKDTree(a_xy).sparse_distance_matrix(b_tree, radius_m, output_type="ndarray")
    return found["i"].astype(np.int64), found["j"].astype(np.int64)


def nearest(a_xy: np.ndarray, b_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distance, index into ``b_xy``) of the point of ``b_xy`` nearest each point of ``a_xy`` (a KD-tree)."""
    from scipy.spatial import cKDTree  # here: scipy takes 0.2 s to import

    dist, j = cKDTree(np.asarray(b_xy, float).reshape(-1, 2)).query(np.asarray(a_xy, float).reshape(-1, 2))
    return np.asarray(dist, float), np.asarray(j, np.int64)


def distinct(values) -> np.ndarray:
    """The sorted distinct values of an integer array, as ``np.unique(values)`` gives them, by a sort: for this,
    numpy 2.3 and later take a hash table, 10 to 50 times slower on the keys here (up to a million pairs of
    numbers packed in one integer)."""
    s = np.sort(np.asarray(values).ravel())
    return s[np.r_[True, s[1:] != s[:-1]]] if len(s) else s


def group_stats(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each distinct key (in order): the least, the median and the greatest of its values, from one sort
    (numpy, no group-by). The median of an even count is the mean of its two middle values."""
    order = np.lexsort((values, keys))
    keys, values = np.asarray(keys)[order], np.asarray(values, float)[order]
    at, lo, n = np.unique(keys, return_index=True, return_counts=True)
    return at, values[lo], (values[lo + n // 2] + values[lo + (n - 1) // 2]) / 2, values[lo + n - 1]


class Path:
    """A path densified to regular steps, with a KD-tree of its vertices: a point's distance to the path
    and its position along it come from the nearest vertex, in O(log n) (shapely's exact point-to-line
    distance costs the number of vertices). Vertices are numpy coordinates, not a Python object each."""

    def __init__(self, xy: np.ndarray, known: np.ndarray | None = None):
        from scipy.spatial import cKDTree

        self.xy = xy
        self.known = known  # None: every point was observed; else False on lines across signal gaps
        self.tree = cKDTree(xy)
        self.cum = metres_along(xy)
        self.length = float(self.cum[-1])

    @property
    def observed(self) -> np.ndarray:
        """The vertices where the ride was observed (not on a line across a signal gap)."""
        return self.xy if self.known is None else self.xy[self.known]

    def nearest(self, pts, max_distance: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(index of the nearest vertex, distance to it) of each point ((n, 2) coordinates); with
        ``max_distance``, points farther than that get index -1 and distance inf (a bounded search is
        much faster)."""
        pts = np.asarray(pts, dtype=float).reshape(-1, 2)
        if max_distance is None:
            dist, idx = self.tree.query(pts)
            return np.asarray(idx, np.int64), np.asarray(dist)
        # the bound is exclusive in scipy: a hair more keeps a vertex at exactly max_distance
        dist, idx = self.tree.query(pts, distance_upper_bound=np.nextafter(max_distance, np.inf))
        idx = np.where(np.isfinite(dist), idx, -1).astype(np.int64)
        return idx, np.asarray(dist)


def groups(n: int, links, linked: Callable[[int, int], bool] | None = None) -> list[list[int]]:
    """Connected groups of ``0..n-1`` given linked pairs (union-find), each sorted, in order of their first.
    With ``linked``, ``links`` are candidate pairs, linked when ``linked(i, j)``; a pair already in one group
    is not asked about (the answer would change nothing)."""
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in links:
        a, b = find(i), find(j)
        if a != b and (linked is None or linked(i, j)):
            parent[a] = b
    out: dict[int, list[int]] = {}
    for i in range(n):
        out.setdefault(find(i), []).append(i)
    return sorted(out.values())

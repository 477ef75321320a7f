"""Local metric projections: every distance in transitmap is measured in metres in a UTM zone."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
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


def geodesic_m(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Geodesic distance in metres (vectorised)."""
    lon1, lat1, lon2, lat2 = np.broadcast_arrays(*(np.asarray(v, float) for v in (lon1, lat1, lon2, lat2)))
    _, _, d = WGS84.inv(lon1.ravel(), lat1.ravel(), lon2.ravel(), lat2.ravel())
    return np.asarray(d).reshape(lon1.shape)

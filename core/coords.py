"""Coordinate systems phones report in, converted to WGS84 (EPSG:4326).

Chinese map SDKs report GCJ-02 (AMap, Tencent, WeChat) or BD-09 (Baidu).  Both are
published as forward transforms from WGS84 only; the inverse is computed here by
fixed-point iteration on the forward transform, which converges to well under a
centimetre in a few steps (the distortion's derivative is ~1e-5).  CGCS2000 equals
WGS84 within centimetres for this purpose and passes through unchanged.

Every function is vectorised over numpy arrays; scalars work too.  This is the one
module that knows these formulas: every endpoint that takes a point calls
:func:`to_wgs84`.  Why not a PyPI package: see ``docs/decisions.md``.
"""
from __future__ import annotations

import math

import numpy as np

CRS_CHOICES = ("wgs84", "cgcs2000", "gcj02", "bd09")

# Krasovsky 1940 ellipsoid, as used by the published GCJ-02 algorithm.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0


def _out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _transform_lat(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * math.pi) + 320.0 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lon, lat):
    """Forward GCJ-02 obfuscation (the published algorithm)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    d_lat = _transform_lat(lon - 105.0, lat - 35.0)
    d_lon = _transform_lon(lon - 105.0, lat - 35.0)
    rad_lat = lat / 180.0 * math.pi
    magic = 1 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * math.pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * math.pi)
    outside = _out_of_china(lon, lat)
    return np.where(outside, lon, lon + d_lon), np.where(outside, lat, lat + d_lat)


def gcj02_to_bd09(lon, lat):
    """Forward BD-09 transform from GCJ-02 (Baidu's published formula)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    z = np.sqrt(lon * lon + lat * lat) + 0.00002 * np.sin(lat * _X_PI)
    theta = np.arctan2(lat, lon) + 0.000003 * np.cos(lon * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def wgs84_to_bd09(lon, lat):
    """WGS84 to BD-09 (through GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def _invert(forward, lon, lat, tolerance_deg: float = 1e-9, max_iterations: int = 30):
    """Solve ``forward(x) == target`` for x by fixed-point iteration."""
    target_lon = np.asarray(lon, dtype=float)
    target_lat = np.asarray(lat, dtype=float)
    x_lon, x_lat = target_lon.copy(), target_lat.copy()
    for _ in range(max_iterations):
        f_lon, f_lat = forward(x_lon, x_lat)
        d_lon, d_lat = f_lon - target_lon, f_lat - target_lat
        x_lon, x_lat = x_lon - d_lon, x_lat - d_lat
        if np.all(np.abs(d_lon) < tolerance_deg) and np.all(np.abs(d_lat) < tolerance_deg):
            break
    return x_lon, x_lat


def gcj02_to_wgs84(lon, lat):
    """Inverse GCJ-02 by iteration (error well under 1 m)."""
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_wgs84(lon, lat):
    """Inverse BD-09 to WGS84 by iteration on the composed forward transform."""
    return _invert(wgs84_to_bd09, lon, lat)


def bd09_to_gcj02(lon, lat):
    """Inverse BD-09 to GCJ-02 by iteration."""
    return _invert(gcj02_to_bd09, lon, lat)


def to_wgs84(lon, lat, crs: str = "wgs84"):
    """Convert coordinates given in ``crs`` (one of :data:`CRS_CHOICES`) to WGS84.

    Returns floats for scalar input and arrays for array input.
    """
    if crs in ("wgs84", "cgcs2000"):
        x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    elif crs == "gcj02":
        x, y = gcj02_to_wgs84(lon, lat)
    elif crs == "bd09":
        x, y = bd09_to_wgs84(lon, lat)
    else:
        raise ValueError(f"unknown crs {crs!r}")
    if x.ndim == 0:
        return float(x), float(y)
    return x, y


def to_wgs84_mixed(lon, lat, crs) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised :func:`to_wgs84` where every point carries its own crs."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    crs = np.asarray(crs)
    unknown = set(np.unique(crs).tolist()) - set(CRS_CHOICES)
    if unknown:
        raise ValueError(f"unknown crs {sorted(unknown)!r}")
    out_lon, out_lat = lon.copy(), lat.copy()
    for name in ("gcj02", "bd09"):
        mask = crs == name
        if mask.any():
            out_lon[mask], out_lat[mask] = to_wgs84(lon[mask], lat[mask], name)
    return out_lon, out_lat


def from_wgs84(lon, lat, crs: str = "wgs84") -> tuple[np.ndarray, np.ndarray]:
    """Convert WGS84 coordinates (arrays) to ``crs``, for clients that draw on GCJ-02 or BD-09 maps."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    if crs in ("wgs84", "cgcs2000"):
        return lon, lat
    if crs == "gcj02":
        return wgs84_to_gcj02(lon, lat)
    if crs == "bd09":
        return wgs84_to_bd09(lon, lat)
    raise ValueError(f"unknown crs {crs!r}")


def geojson_from_wgs84(geometries: list[dict | None], crs: str, digits: int = 7) -> list[dict | None]:
    """GeoJSON geometries (WGS84) with every position converted to ``crs``, all in one vectorised pass."""
    if crs in ("wgs84", "cgcs2000"):
        return geometries
    positions: list[list[float]] = []

    def collect(coordinates):
        if coordinates and isinstance(coordinates[0], int | float):
            positions.append(coordinates)
        else:
            for part in coordinates:
                collect(part)

    for geometry in geometries:
        if geometry is not None:
            collect(geometry["coordinates"])
    if not positions:
        return geometries
    lon, lat = from_wgs84([p[0] for p in positions], [p[1] for p in positions], crs)
    converted = iter(zip(np.round(lon, digits).tolist(), np.round(lat, digits).tolist(), strict=True))

    def rebuild(coordinates):
        if coordinates and isinstance(coordinates[0], int | float):
            x, y = next(converted)
            return [x, y, *coordinates[2:]]
        return [rebuild(part) for part in coordinates]

    return [None if g is None else {**g, "coordinates": rebuild(g["coordinates"])} for g in geometries]

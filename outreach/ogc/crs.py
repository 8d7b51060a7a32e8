"""Coordinate reference systems of the OGC API (Part 2): what ``crs``, ``bbox-crs`` and ``filter-crs`` accept.

Geometry is stored in SRID 4326 with longitude first, which is OGC's CRS84. The other systems
are produced by PostGIS (``ST_Transform``) on the way out, and bounding boxes and filter
geometries given in them are transformed back on the way in:

- EPSG:4326 (WGS 84) and EPSG:4490 (CGCS2000, China's national datum) have latitude first, as
  the EPSG register defines them, so their coordinates are swapped (``ST_FlipCoordinates``).
  CGCS2000 and WGS 84 agree to a few centimetres, below the data's precision; PROJ's
  transformation between them is the identity, which is the honest answer here.
- EPSG:3857 (Web Mercator) is in metres, easting first.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func


@dataclass(frozen=True)
class Crs:
    """One supported coordinate reference system."""

    uri: str
    srid: int
    lat_first: bool  # the first axis is latitude (EPSG:4326, EPSG:4490)
    decimals: int  # of GeoJSON output: about 0.1 m either way
    # (minx, miny, maxx, maxy) of valid coordinates in the CRS's own axis order (for bbox checks).
    bounds: tuple[float, float, float, float]

    @property
    def geographic(self) -> bool:
        """Degrees, not metres."""
        return self.srid != 3857

    @property
    def header(self) -> str:
        """The ``Content-Crs`` header value."""
        return f"<{self.uri}>"


_MERCATOR = 20037508.342789244
CRS84 = Crs("http://www.opengis.net/def/crs/OGC/1.3/CRS84", 4326, False, 6, (-180.0, -90.0, 180.0, 90.0))
EPSG_4326 = Crs("http://www.opengis.net/def/crs/EPSG/0/4326", 4326, True, 6, (-90.0, -180.0, 90.0, 180.0))
EPSG_4490 = Crs("http://www.opengis.net/def/crs/EPSG/0/4490", 4490, True, 6, (-90.0, -180.0, 90.0, 180.0))
EPSG_3857 = Crs("http://www.opengis.net/def/crs/EPSG/0/3857", 3857, False, 2,
                (-_MERCATOR, -_MERCATOR, _MERCATOR, _MERCATOR))
SUPPORTED = (CRS84, EPSG_4326, EPSG_4490, EPSG_3857)
STORAGE = CRS84
_BY_URI = {crs.uri: crs for crs in SUPPORTED}
# Also taken: the https form of the URIs and the safe CURIEs ``[EPSG:4490]`` / ``EPSG:4490`` / ``OGC:CRS84``.
_SHORT = re.compile(r"^\[?(EPSG|OGC):([0-9A-Z]+)\]?$", re.IGNORECASE)


def parse(value: str) -> Crs:
    """The supported CRS a parameter names; ValueError when it is none of them."""
    value = value.strip()
    if value.startswith("https://"):
        value = "http://" + value[len("https://"):]
    crs = _BY_URI.get(value)
    match = _SHORT.match(value)
    if crs is None and match:
        authority, code = match.group(1).upper(), match.group(2).upper()
        crs = _BY_URI.get(f"http://www.opengis.net/def/crs/{authority}/{'1.3' if authority == 'OGC' else '0'}/{code}")
    if crs is None:
        raise ValueError(value)
    return crs


def geojson(column: ColumnElement, crs: Crs) -> ColumnElement:
    """GeoJSON text of a stored geometry in ``crs`` (axis order as the CRS defines it)."""
    geometry = column if crs.srid == STORAGE.srid else func.ST_Transform(column, crs.srid)
    if crs.lat_first:
        geometry = func.ST_FlipCoordinates(geometry)
    return func.ST_AsGeoJSON(geometry, crs.decimals)


def to_storage(geometry: ColumnElement, crs: Crs) -> ColumnElement:
    """A geometry given in ``crs`` (axes in its order, SRID already set to ``crs.srid``) as stored: CRS84."""
    if crs.lat_first:
        geometry = func.ST_FlipCoordinates(geometry)
    return geometry if crs.srid == STORAGE.srid else func.ST_Transform(geometry, STORAGE.srid)


def check_bbox(values: tuple[float, ...], crs: Crs) -> tuple[float, float, float, float]:
    """A 4-number bbox in ``crs``'s axis order, checked for range and order; ValueError with the reason."""
    if len(values) != 4 or not all(math.isfinite(v) for v in values):
        raise ValueError("bbox must be 4 finite numbers (or 6 with heights).")
    low_x, low_y, high_x, high_y = crs.bounds
    x1, y1, x2, y2 = values
    if not (low_x <= x1 <= high_x and low_x <= x2 <= high_x and low_y <= y1 <= high_y and low_y <= y2 <= high_y):
        raise ValueError("bbox coordinates are out of range for its CRS.")
    if x1 > x2 or y1 > y2:
        raise ValueError("bbox minimum must not exceed maximum.")
    return x1, y1, x2, y2


def envelope(values: tuple[float, float, float, float], crs: Crs) -> ColumnElement:
    """A bbox given in ``crs`` as a stored-CRS polygon (bound parameters, transformed by PostGIS)."""
    return to_storage(func.ST_MakeEnvelope(*values, crs.srid), crs)

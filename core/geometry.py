"""Geometry crosses the API boundary here and only here.

GeoJSON (RFC 7946, lon/lat WGS84) on the wire, shapely geometries in services,
EWKB with SRID 4326 in the database.  :class:`GeometryField` does the first
conversion, :func:`to_db` / :func:`from_db` the second.
"""
from __future__ import annotations

import math
from typing import Any

import shapely
from flask import current_app
from geoalchemy2.elements import WKBElement, WKTElement
from geoalchemy2.shape import from_shape, to_shape
from marshmallow import ValidationError, fields
from shapely.geometry import MultiPolygon, Point, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from core.coords import CRS_CHOICES, to_wgs84

SRID = 4326


def from_db(value: Any) -> BaseGeometry | None:
    """A database geometry (WKB/WKT element) or shapely geometry as shapely."""
    if value is None or isinstance(value, BaseGeometry):
        return value
    if isinstance(value, WKBElement | WKTElement):
        return to_shape(value)
    if isinstance(value, bytes | memoryview):
        return shapely.from_wkb(bytes(value))
    if isinstance(value, str):
        return shapely.from_wkb(value) if all(c in "0123456789abcdefABCDEF" for c in value[:16]) \
            else shapely.from_wkt(value)
    raise TypeError(f"cannot read geometry from {type(value).__name__}")


def to_db(geometry: BaseGeometry | None) -> WKBElement | None:
    """A shapely geometry as a WKB element with SRID 4326, for a model column."""
    if geometry is None:
        return None
    return from_shape(geometry, srid=SRID)


def as_multipolygon(geometry: BaseGeometry) -> MultiPolygon:
    """Promote a Polygon to a one-part MultiPolygon (columns are MultiPolygon)."""
    if isinstance(geometry, Polygon):
        return MultiPolygon([geometry])
    return geometry


def coordinates_in_range(geometry: BaseGeometry) -> bool:
    """True when every coordinate is a valid longitude/latitude."""
    coords = shapely.get_coordinates(geometry)
    if coords.size == 0:
        return True
    return bool(((coords[:, 0] >= -180) & (coords[:, 0] <= 180)
                 & (coords[:, 1] >= -90) & (coords[:, 1] <= 90)).all())


def parse_geojson_geometry(value: Any, allowed_types: tuple[str, ...] | None = None,
                           require_valid: bool = True) -> BaseGeometry:
    """Parse a GeoJSON geometry object; raise ``ValidationError`` with a clear reason."""
    if not isinstance(value, dict) or "type" not in value:
        raise ValidationError("Not a GeoJSON geometry object.")
    if allowed_types and value.get("type") not in allowed_types:
        raise ValidationError(f"Geometry type must be one of: {', '.join(allowed_types)}.")
    try:
        geometry = shape(value)
    except Exception as exc:  # shapely raises several types for malformed coordinates
        raise ValidationError("Malformed GeoJSON coordinates.") from exc
    if geometry.is_empty:
        raise ValidationError("Geometry is empty.")
    if not coordinates_in_range(geometry):
        raise ValidationError("Coordinates out of range (lon -180..180, lat -90..90).")
    if require_valid and not geometry.is_valid:
        raise ValidationError(f"Invalid geometry: {shapely.is_valid_reason(geometry)}.")
    return geometry


class GeometryField(fields.Field):
    """A GeoJSON geometry in JSON, a shapely geometry in Python.

    Serialises database values (WKB elements) and shapely objects alike.
    """

    def __init__(self, *, allowed_types: tuple[str, ...] | None = None, require_valid: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.allowed_types = allowed_types
        self.require_valid = require_valid

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any):
        geometry = from_db(value)
        return None if geometry is None else mapping(geometry)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> BaseGeometry:
        return parse_geojson_geometry(value, self.allowed_types, self.require_valid)


def city_bbox() -> tuple[float, float, float, float]:
    """The configured bounding box of the city (lon/lat)."""
    return current_app.config["GRIDS_CITY_BBOX"]


def inside_city(lon: float, lat: float) -> bool:
    """Whether a WGS84 point falls inside the city's bounding box."""
    min_lon, min_lat, max_lon, max_lat = city_bbox()
    return min_lon <= lon <= max_lon and min_lat <= lat <= max_lat


def parse_located_point(value: Any, require_in_city: bool = True) -> Point:
    """A point given by a phone, in any supported crs, as a WGS84 shapely Point.

    Accepts GeoJSON (``{"type": "Point", "coordinates": [lon, lat], "crs": "gcj02"}``)
    or ``{"lon", "lat", "crs"}``.  ``crs`` defaults to ``wgs84``.
    """
    if not isinstance(value, dict):
        raise ValidationError("A point must be an object.")
    crs = value.get("crs", "wgs84")
    if crs not in CRS_CHOICES:
        raise ValidationError(f"crs must be one of: {', '.join(CRS_CHOICES)}.")
    if "coordinates" in value or value.get("type") == "Point":
        if value.get("type") != "Point":
            raise ValidationError("Geometry type must be Point.")
        coordinates = value.get("coordinates")
        if not isinstance(coordinates, list | tuple) or len(coordinates) < 2:
            raise ValidationError("Point coordinates must be [lon, lat].")
        lon, lat = coordinates[0], coordinates[1]
    else:
        lon, lat = value.get("lon"), value.get("lat")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lon, lat)) \
            or not all(math.isfinite(v) for v in (lon, lat)):
        raise ValidationError("lon and lat must be numbers.")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValidationError("Coordinates out of range (lon -180..180, lat -90..90).")
    wgs_lon, wgs_lat = to_wgs84(lon, lat, crs)
    if require_in_city and not inside_city(wgs_lon, wgs_lat):
        raise ValidationError("The point is outside the city.")
    return Point(wgs_lon, wgs_lat)


class LocatedPointField(fields.Field):
    """A point from a phone or a form (any crs in, WGS84 shapely Point out, GeoJSON out)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("metadata", {}).setdefault(
            "description", f"GeoJSON Point (or {{lon, lat}}) with optional crs: {', '.join(CRS_CHOICES)}")
        super().__init__(**kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any):
        geometry = from_db(value)
        return None if geometry is None else mapping(geometry)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Point:
        return parse_located_point(value)

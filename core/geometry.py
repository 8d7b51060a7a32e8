"""Geometry crosses the API boundary here and only here.

GeoJSON (RFC 7946, lon/lat WGS84) on the wire, shapely geometries in services,
EWKB with SRID 4326 in the database.  :class:`GeometryField` does the first
conversion, :func:`to_db` / :func:`from_db` the second.
"""
from __future__ import annotations

from typing import Any

import shapely
from geoalchemy2.elements import WKBElement, WKTElement
from geoalchemy2.shape import from_shape, to_shape
from marshmallow import ValidationError, fields
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

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

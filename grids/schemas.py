"""Marshmallow schemas of the territory API (requests and responses)."""
from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate, validates

from core.coords import CRS_CHOICES
from core.openapi import NOT_BLANK_PATTERN, TEXT_PATTERN, geometry
from grids.hierarchy import REGION_LEVELS

REGION_CODE = re.compile(r"^[0-9]{12}$")
GRID_CODE = re.compile(r"^([0-9]{12})-([0-9]{2})-([0-9]{2})$")


class FormatArgs(Schema):
    """``?f=`` output format of a collection."""

    f = fields.String(validate=validate.OneOf(["json", "geojson"]),
                      metadata={"description": "json (default) or geojson"})


class RegionQueryArgs(FormatArgs):
    """Filters of the region list."""

    level = fields.String(validate=validate.OneOf(REGION_LEVELS))
    parent = fields.String(validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit region code."))


class RegionSchema(Schema):
    """An administrative region with its rollups."""

    code = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    level = fields.String(dump_only=True)
    parent_code = fields.String(dump_only=True, allow_none=True)
    households = fields.Integer(dump_only=True)
    grids = fields.Integer(dump_only=True)


def parse_bbox(value: str) -> tuple[float, float, float, float]:
    """Parse ``minlon,minlat,maxlon,maxlat`` and check ranges and order."""
    parts = value.split(",")
    if len(parts) != 4:
        raise ValidationError("bbox must be minlon,minlat,maxlon,maxlat.")
    try:
        min_lon, min_lat, max_lon, max_lat = (float(p) for p in parts)
    except ValueError as exc:
        raise ValidationError("bbox values must be numbers.") from exc
    if not (-180 <= min_lon <= 180 and -180 <= max_lon <= 180 and -90 <= min_lat <= 90 and -90 <= max_lat <= 90):
        raise ValidationError("bbox coordinates out of range.")
    if min_lon > max_lon or min_lat > max_lat:
        raise ValidationError("bbox minimum must not exceed maximum.")
    return min_lon, min_lat, max_lon, max_lat


# Four decimal numbers, longitudes within ±180 and latitudes within ±90 (that a minimum does not exceed its
# maximum is said in words: a pattern cannot compare two numbers).
_LON = r"-?(?:180(?:\.0+)?|(?:1[0-7][0-9]|[0-9]{1,2})(?:\.[0-9]+)?)"
_LAT = r"-?(?:90(?:\.0+)?|[0-8]?[0-9](?:\.[0-9]+)?)"
BBOX_PATTERN = f"^{_LON},{_LAT},{_LON},{_LAT}$"


class BBoxField(fields.Field):
    """A bounding box given as ``minlon,minlat,maxlon,maxlat``."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("bbox must be a string.")
        return parse_bbox(value)


class GridQueryArgs(FormatArgs):
    """Filters of the grid list."""

    region = fields.String(validate=validate.Regexp(REGION_CODE, error="Must be a 12-digit region code."))
    tier = fields.Integer(validate=validate.Range(1, 3))
    bbox = BBoxField(metadata={"description": "minlon,minlat,maxlon,maxlat (WGS84; minimum ≤ maximum)",
                               "type": "string", "pattern": BBOX_PATTERN})


class MemberSummarySchema(Schema):
    """A member assigned to a cell (filled in once assignments exist)."""

    id = fields.Integer()
    name = fields.String()
    role = fields.String()


class GridSchema(Schema):
    """A grid cell."""

    code = fields.String(dump_only=True)
    tier = fields.Integer(dump_only=True)
    parent_code = fields.String(dump_only=True, allow_none=True)
    village_code = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    households = fields.Integer(dump_only=True)
    members = fields.List(fields.Nested(MemberSummarySchema), dump_default=list, dump_only=True)


class LocateArgs(Schema):
    """A point to locate, in any supported crs."""

    lon = fields.Float(required=True, validate=validate.Range(-180, 180))
    lat = fields.Float(required=True, validate=validate.Range(-90, 90))
    crs = fields.String(load_default="wgs84", validate=validate.OneOf(CRS_CHOICES))


class LocateResultSchema(Schema):
    """The village and the cells (tier 1, 2, 3) containing a point."""

    village = fields.Nested(RegionSchema)
    grids = fields.List(fields.Nested(GridSchema))
    point = fields.Dict(metadata={"description": "The point as WGS84 GeoJSON after conversion"})


class ImportArgs(Schema):
    """Options of a grid import."""

    dry_run = fields.Boolean(load_default=False)
    partial = fields.Boolean(load_default=False)


# A cell as the import reads it (each feature is checked on its own and rejected alone, so the body's
# schema takes any object; the document describes the feature that is accepted).
GRID_FEATURE = {
    "type": "object", "required": ["type", "properties", "geometry"], "additionalProperties": False,
    "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "id": {"oneOf": [{"type": "string", "pattern": TEXT_PATTERN}, {"type": "integer"}]},
        "properties": {
            "type": "object", "required": ["code", "tier", "name"], "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "pattern": GRID_CODE.pattern,
                         "description": "village code-NN-NN: -00-00 tier 1, -NN-00 tier 2, -NN-NN tier 3"},
                "tier": {"type": "integer", "enum": [1, 2, 3]},
                "name": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": NOT_BLANK_PATTERN},
            }},
        "geometry": geometry(("Polygon", "MultiPolygon"), closed=True),
    },
}


class FeatureCollectionSchema(Schema):
    """A GeoJSON FeatureCollection of grid cells (properties: code, tier, name)."""

    type = fields.String(required=True, validate=validate.Equal("FeatureCollection"))
    features = fields.List(fields.Dict(metadata=GRID_FEATURE), required=True, metadata={"maxItems": 50_000})

    @validates("features")
    def _not_too_many(self, value, **kwargs):
        if len(value) > 50_000:
            raise ValidationError("At most 50,000 features per import.")


class ImportRejectionSchema(Schema):
    """Why one feature was rejected."""

    index = fields.Integer()
    code = fields.String(allow_none=True)
    reason = fields.String(metadata={"description": "stable reason code"})
    message = fields.String(metadata={"description": "human-readable explanation"})


class ImportResultSchema(Schema):
    """Outcome of a grid import."""

    accepted = fields.Integer()
    rejected = fields.List(fields.Nested(ImportRejectionSchema))
    written = fields.Integer(metadata={"description": "cells inserted or updated (0 on dry run)"})
    dry_run = fields.Boolean()

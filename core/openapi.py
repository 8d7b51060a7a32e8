"""The OpenAPI document describes what the server accepts and answers: the custom fields (free text,
GeoJSON geometries, points from phones) get their JSON Schema here, and collections that also answer
GeoJSON say so (``geojson_alternative``)."""
from __future__ import annotations

from typing import Any

from core.coords import CRS_CHOICES
from core.fields import Text
from core.formats import GEOJSON_MIMETYPE
from core.geometry import GeometryField, LocatedPointField

# No C0 control character but tab and line breaks (what ``Text`` accepts).
TEXT_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f]*$"
CRS_PROPERTY = {"type": "string", "enum": list(CRS_CHOICES), "default": "wgs84",
                "description": "datum of the coordinates (GCJ-02 and BD-09 as Chinese map SDKs report them)"}
LON = {"type": "number", "minimum": -180, "maximum": 180}
LAT = {"type": "number", "minimum": -90, "maximum": 90}
POINT = {"type": "object", "required": ["type", "coordinates"], "additionalProperties": False,
         "properties": {"type": {"type": "string", "enum": ["Point"]},
                        "coordinates": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2,
                                        "description": "[lon, lat], WGS84 unless said otherwise"}}}
GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")


def located_point() -> dict[str, Any]:
    """A point as a phone or a form sends it: ``{"lon", "lat", "crs"}`` or a GeoJSON Point with ``crs``."""
    return {"description": "A point inside the city: {lon, lat, crs} or a GeoJSON Point with an optional crs.",
            "oneOf": [
                {"type": "object", "required": ["lon", "lat"], "additionalProperties": False,
                 "properties": {"lon": LON, "lat": LAT, "crs": CRS_PROPERTY}},
                {"type": "object", "required": ["type", "coordinates"], "additionalProperties": False,
                 "properties": {"type": {"type": "string", "enum": ["Point"]},
                                "coordinates": {"type": "array", "items": {"type": "number"}, "minItems": 2,
                                                "maxItems": 2, "description": "[lon, lat]"},
                                "crs": CRS_PROPERTY}},
            ]}


def geometry(types: tuple[str, ...] | None = None) -> dict[str, Any]:
    """A GeoJSON geometry (RFC 7946, WGS84) of the given types."""
    return {"type": "object", "required": ["type", "coordinates"],
            "properties": {"type": {"type": "string", "enum": list(types or GEOMETRY_TYPES)},
                           "coordinates": {"type": "array"}}}


# "null" in OpenAPI 3.0 (apispec writes ``{"type": "object", "nullable": true}``, which any object matches).
NULL = {"type": "object", "nullable": True, "enum": [None]}


def field_properties(self, field, ret: dict[str, Any] | None = None, **kwargs) -> dict[str, Any]:
    """apispec attribute function: JSON Schema of the project's own marshmallow fields, and null as null
    only (not any object) for nullable nested schemas."""
    if ret and "anyOf" in ret:
        return {"anyOf": [NULL if branch == {"type": "object", "nullable": True} else branch
                          for branch in ret["anyOf"]]}
    if isinstance(field, LocatedPointField):
        schema = located_point()
    elif isinstance(field, GeometryField):
        schema = geometry(field.allowed_types)
    elif isinstance(field, Text):
        return {"pattern": TEXT_PATTERN}
    else:
        return {}
    if field.allow_none:
        return {"anyOf": [schema, NULL]}
    return schema


FEATURE_COLLECTION = {
    "type": "object", "required": ["type", "features"],
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {"type": "array", "items": {"$ref": "#/components/schemas/GeoJSONFeature"}},
    },
}
FEATURE = {
    "type": "object", "required": ["type", "geometry", "properties"],
    "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "id": {"oneOf": [{"type": "string"}, {"type": "integer"}], "nullable": True},
        "geometry": {"anyOf": [geometry(), NULL]},
        "properties": {"type": "object"},
    },
}


def register(api) -> None:
    """Add the field documentation and the GeoJSON components to ``api``'s spec (before blueprints)."""
    api.ma_plugin.converter.add_attribute_function(field_properties)
    api.spec.components.schema("GeoJSONFeature", FEATURE)
    api.spec.components.schema("GeoJSONFeatureCollection", FEATURE_COLLECTION)
    api.spec.components.schema("TextFile", {"type": "string"})
    api.spec.components.schema("BinaryFile", {"type": "string", "format": "binary"})


XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def also_answers(blp, *, geojson: str | None = "collection", csv: bool = False, xlsx: bool = False):
    """Document the other content types the operation's 200 answers (``?f=`` or ``Accept``): a GeoJSON
    FeatureCollection or Feature, CSV, XLSX."""
    alternatives = []
    if geojson:
        name = "GeoJSONFeatureCollection" if geojson == "collection" else "GeoJSONFeature"
        alternatives.append((GEOJSON_MIMETYPE, name, "GeoJSON, with ?f=geojson or Accept: application/geo+json"))
    if csv:
        alternatives.append(("text/csv", "TextFile", "CSV (UTF-8 with BOM), with ?f=csv"))
    if xlsx:
        alternatives.append((XLSX_MIMETYPE, "BinaryFile", "an Excel workbook, with ?f=xlsx"))

    def decorator(view):
        for content_type, schema, description in alternatives:
            view = blp.alt_response(200, schema=schema, content_type=content_type, description=description)(view)
        return view

    return decorator

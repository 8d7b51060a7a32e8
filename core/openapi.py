"""The OpenAPI document describes what the server accepts and answers, as strictly as the server checks it:
the custom fields (free text, GeoJSON geometries, points from phones, phone numbers) get their JSON Schema
here, every string of a request carries the rule on characters that ``core.input`` enforces on every JSON
body, dictionaries keyed by a fixed set of names list them, schemas may add rules across their fields
(``OPENAPI_RULES``), and collections that also answer GeoJSON say so (``geojson_alternative``)."""
from __future__ import annotations

from typing import Any

from apispec.ext.marshmallow import MarshmallowPlugin, OpenAPIConverter
from marshmallow import fields, validate

from config import CITY_BBOX
from core.coords import CRS_CHOICES
from core.fields import NotBlank, PhoneNumber
from core.formats import GEOJSON_MIMETYPE
from core.geometry import GeometryField, LocatedPointField
from core.input import FORBIDDEN_RANGES


def _character_class(ranges) -> str:
    return "".join(f"\\u{low:04x}" if low == high else f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges)


# What every JSON string may not hold (core.input refuses it in any body): controls, bidi and zero-width
# characters.  (Lone surrogates are not Unicode text, so no schema string holds one; naming their range
# would also forbid every character beyond the BMP to an ECMAScript regex, which sees UTF-16 code units.)
FORBIDDEN_CLASS = _character_class(FORBIDDEN_RANGES)
TEXT_PATTERN = f"^[^{FORBIDDEN_CLASS}]*$"
# ... and at least one character that is not white space.
NOT_BLANK_PATTERN = f"^[^{FORBIDDEN_CLASS}]*[^\\s{FORBIDDEN_CLASS}][^{FORBIDDEN_CLASS}]*$"
CRS_PROPERTY = {"type": "string", "enum": list(CRS_CHOICES), "default": "wgs84",
                "description": "datum of the coordinates (GCJ-02 and BD-09 as Chinese map SDKs report them)"}
LON = {"type": "number", "minimum": -180, "maximum": 180}
LAT = {"type": "number", "minimum": -90, "maximum": 90}
POINT = {"type": "object", "required": ["type", "coordinates"], "additionalProperties": False,
         "properties": {"type": {"type": "string", "enum": ["Point"]},
                        "coordinates": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2,
                                        "description": "[lon, lat], WGS84 unless said otherwise"}}}
GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
# The datums differ by at most ~0.015 degrees over China: a point this far inside the city's box (WGS84)
# is inside it in any accepted crs.
DATUM_MARGIN = 0.05


def located_point(bbox: tuple[float, float, float, float] = CITY_BBOX) -> dict[str, Any]:
    """A point as a phone or a form sends it: ``{"lon", "lat", "crs"}`` or a GeoJSON Point with ``crs``,
    inside the city's bounding box ``bbox`` (WGS84 min lon, min lat, max lon, max lat)."""
    min_lon, min_lat, max_lon, max_lat = bbox
    lon = {"type": "number", "minimum": round(min_lon + DATUM_MARGIN, 6), "maximum": round(max_lon - DATUM_MARGIN, 6)}
    lat = {"type": "number", "minimum": round(min_lat + DATUM_MARGIN, 6), "maximum": round(max_lat - DATUM_MARGIN, 6)}
    # OpenAPI 3.0 cannot give each position of an array its own range: the GeoJSON form's coordinates are
    # bounded by the smallest and largest of the box (the server answers points in this form, anywhere in
    # it), and the lon/lat ranges are said in words.
    both = {"type": "number", "minimum": min_lat, "maximum": max_lon}
    inside = (f"lon {lon['minimum']}..{lon['maximum']}, lat {lat['minimum']}..{lat['maximum']} (the city; a point "
              "outside is refused)")
    return {"description": "A point inside the city: {lon, lat, crs} or a GeoJSON Point with an optional crs; "
                           + inside + ".",
            "oneOf": [
                {"type": "object", "required": ["lon", "lat"], "additionalProperties": False,
                 "properties": {"lon": lon, "lat": lat, "crs": CRS_PROPERTY}},
                {"type": "object", "required": ["type", "coordinates"], "additionalProperties": False,
                 "properties": {"type": {"type": "string", "enum": ["Point"]},
                                "coordinates": {"type": "array", "items": both, "minItems": 2,
                                                "maxItems": 2, "description": f"[lon, lat]: {inside}"},
                                "crs": CRS_PROPERTY}},
            ]}


POSITION = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 3}


def _nested(depth: int) -> dict[str, Any]:
    schema = POSITION
    for _ in range(depth):
        schema = {"type": "array", "items": schema}
    return schema


# How deep each geometry type nests its positions (RFC 7946, 3.1).
GEOMETRY_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2,
                  "MultiPolygon": 3}


def geometry(types: tuple[str, ...] | None = None, closed: bool = False) -> dict[str, Any]:
    """A GeoJSON geometry (RFC 7946, WGS84) of the given types, its coordinates nested as the type says
    (``closed``: no other member)."""
    branches = [{"type": "object", "required": ["type", "coordinates"],
                 "properties": {"type": {"type": "string", "enum": [kind]},
                                "coordinates": _nested(GEOMETRY_DEPTH[kind])},
                 **({"additionalProperties": False} if closed else {})}
                for kind in types or GEOMETRY_TYPES]
    return branches[0] if len(branches) == 1 else {"oneOf": branches}


# "null" in OpenAPI 3.0 (apispec writes ``{"type": "object", "nullable": true}``, which any object matches).
NULL = {"type": "object", "nullable": True, "enum": [None]}
# Validators that already say which strings are allowed (an enum, a pattern of their own).
_CLOSED = (validate.OneOf, validate.Equal, validate.Regexp)


def _validators(field) -> list:
    """The field's validators, those inside ``validate.And`` included."""
    found = []
    for validator in field.validators:
        found.extend(validator.validators if isinstance(validator, validate.And) else [validator])
    return found


def _string_properties(field) -> dict[str, Any]:
    """Length, and the pattern a string must match: a phone number, non-blank text, or any text without the
    characters every JSON body is refused for."""
    validators = _validators(field)
    found: dict[str, Any] = {}
    for validator in validators:
        if isinstance(validator, validate.Length) and validator.equal is None:
            if validator.min is not None:
                found["minLength"] = max(found.get("minLength", 0), validator.min)
            if validator.max is not None:
                found["maxLength"] = min(found.get("maxLength", validator.max), validator.max)
    if any(isinstance(validator, PhoneNumber) for validator in validators):
        found["pattern"] = PhoneNumber.PATTERN
    elif "pattern" in field.metadata or any(isinstance(validator, _CLOSED) for validator in validators):
        pass
    elif any(isinstance(validator, NotBlank) for validator in validators):
        found["pattern"] = NOT_BLANK_PATTERN
    else:
        found["pattern"] = TEXT_PATTERN
    return found


def _dictionary(field, ret: dict[str, Any]) -> dict[str, Any]:
    """A dictionary: its length in properties, and when its keys are one of a few names, those names as its
    properties, nothing else."""
    found: dict[str, Any] = {}
    for validator in _validators(field):
        if isinstance(validator, validate.Length):
            # apispec writes a string's minLength/maxLength, which say nothing of an object: drop them
            ret.pop("minLength", None), ret.pop("maxLength", None)
            if validator.min is not None:
                found["minProperties"] = validator.min
            if validator.max is not None:
                found["maxProperties"] = validator.max
    choices = next((validator.choices for validator in _validators(field.key_field)
                    if isinstance(validator, validate.OneOf)), None) if field.key_field is not None else None
    if choices is not None:
        values = ret.get("additionalProperties", {})
        found.update({"properties": {name: values for name in choices}, "additionalProperties": False})
    return found


def field_properties(self, field, ret: dict[str, Any] | None = None, **kwargs) -> dict[str, Any]:
    """apispec attribute function: JSON Schema of the project's own marshmallow fields and validators, strings
    as strict as ``core.input`` and their validators, and null as null only (not any object) for nullable
    nested schemas."""
    ret = ret or {}
    if {"type": "object", "nullable": True} in ret.get("anyOf", ()):
        return {"anyOf": [NULL if branch == {"type": "object", "nullable": True} else branch
                          for branch in ret["anyOf"]]}
    if isinstance(field, LocatedPointField):
        schema = located_point(getattr(self, "city_bbox", CITY_BBOX))
    elif isinstance(field, GeometryField):
        schema = geometry(field.allowed_types)
    elif field.dump_only or isinstance(field, fields.UUID):
        return {}  # (what the server answers is described by its own validators, if any)
    elif isinstance(field, fields.String):
        return _string_properties(field)
    elif isinstance(field, fields.Dict):
        return _dictionary(field, ret)
    else:
        return {}
    if field.allow_none:
        return {"anyOf": [schema, NULL]}
    return schema


def _given(types: dict[str, str]) -> list[dict[str, Any]]:
    return [{"required": [name], "properties": {name: {"type": kind}}} for name, kind in types.items()]


def any_given(**types: str) -> dict[str, Any]:
    """``OPENAPI_RULES`` of a schema that needs at least one of these fields, not null (name=JSON type)."""
    return {"anyOf": _given(types)}


def one_given(**types: str) -> dict[str, Any]:
    """``OPENAPI_RULES`` of a schema that needs exactly one of these fields, not null (name=JSON type)."""
    return {"oneOf": _given(types)}


class GridsConverter(OpenAPIConverter):
    """apispec's converter, adding the rules a schema states across its fields (``OPENAPI_RULES``: JSON
    Schema keywords such as ``oneOf``) that field-by-field conversion cannot see."""

    city_bbox: tuple[float, float, float, float] = CITY_BBOX

    def schema2jsonschema(self, schema):
        jsonschema = super().schema2jsonschema(schema)
        jsonschema.update(getattr(schema, "OPENAPI_RULES", None) or {})
        return jsonschema


class GridsMarshmallowPlugin(MarshmallowPlugin):
    """The marshmallow plugin with :class:`GridsConverter`."""

    Converter = GridsConverter


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


def register(api, city_bbox: tuple[float, float, float, float] | None = None) -> None:
    """Add the field documentation and the GeoJSON components to ``api``'s spec (before blueprints); points
    are documented inside ``city_bbox``."""
    if city_bbox:
        api.ma_plugin.converter.city_bbox = tuple(city_bbox)
    api.ma_plugin.converter.add_attribute_function(field_properties)
    api.spec.components.schema("GeoJSONFeature", FEATURE)
    api.spec.components.schema("GeoJSONFeatureCollection", FEATURE_COLLECTION)
    api.spec.components.schema("TextFile", {"type": "string"})
    api.spec.components.schema("BinaryFile", {"type": "string", "format": "binary"})


XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def also_answers(blp, *, geojson: str | None = "collection", csv: bool = False, xlsx: bool = False,
                 pdf: bool = False):
    """Document the other content types the operation's 200 answers (``?f=`` or ``Accept``): a GeoJSON
    FeatureCollection or Feature, CSV, XLSX, PDF."""
    alternatives = []
    if geojson:
        name = "GeoJSONFeatureCollection" if geojson == "collection" else "GeoJSONFeature"
        alternatives.append((GEOJSON_MIMETYPE, name, "GeoJSON, with ?f=geojson or Accept: application/geo+json"))
    if csv:
        alternatives.append(("text/csv", "TextFile", "CSV (UTF-8 with BOM), with ?f=csv"))
    if xlsx:
        alternatives.append((XLSX_MIMETYPE, "BinaryFile", "an Excel workbook, with ?f=xlsx"))
    if pdf:
        alternatives.append(("application/pdf", "BinaryFile", "a PDF document, with ?f=pdf"))

    def decorator(view):
        for content_type, schema, description in alternatives:
            view = blp.alt_response(200, schema=schema, content_type=content_type, description=description)(view)
        return view

    return decorator
